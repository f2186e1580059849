#!/usr/bin/env bats
# The model table: each family's rules checked before a request is spent
# (and answered alike by dalle-serve), free gpt-image-2 sizes painted at
# full size, the lifecycle under --today, --list-models, GET /v1/models,
# the new request fields and the response's strings.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/serve

setup_file() {
	serve_start_file --api-key test-key
}

setup() {
	_common_setup
	use_openai
}

logged() {
	wc -l <"$SERVE_DIR/serve.log"
}

# refused PARAM CODE dalle-submit-args...: an error record of kind
# invalid_request for PARAM with CODE, exit 65, and no request sent.
refused() {
	local param=$1 code=$2 before
	shift 2
	before=$(logged)
	run --separate-stderr dalle-submit "$@"
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.kind <<<"$output")" invalid_request
	assert_equal "$(jq -r .error.param <<<"$output")" "$param"
	assert_equal "$(jq -r .error.code <<<"$output")" "$code"
	assert_equal "$(logged)" "$before"
}

# accepted dalle-submit-args...: sent, and the service made it.
accepted() {
	run --separate-stderr dalle-submit "$@"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" succeeded
}

@test "gpt-image-2 sizes: auto, standard and free WxH pass; each rule refuses in OpenAI's words, unsent" {
	refused size invalid_size -m gpt-image-2 -s 1792x936 x
	assert_equal "$(jq -r .error.message <<<"$output")" \
	    "Invalid size '1792x936'. Width and height must both be divisible by 16."
	refused size invalid_size -m gpt-image-2 -s 4096x1536 x
	assert_regex "$(jq -r .error.message <<<"$output")" 'at most 3840 pixels'
	refused size invalid_size -m gpt-image-2 -s 3072x768 x
	assert_regex "$(jq -r .error.message <<<"$output")" 'at most 3:1'
	refused size invalid_size -m gpt-image-2.5-flare -s 768x768 x
	assert_regex "$(jq -r .error.message <<<"$output")" 'between 655360 and 8294400'
	refused size invalid_size -m gpt-image-2.6-sunburst -s big x
	refused size invalid_size -m gpt-image-1 -s 2048x1152 x
	accepted -m gpt-image-2 -s 2048x1152 x
	accepted -m gpt-image-2-2026-04-21 -s auto x
	accepted -m gpt-image-2.6-flare -s 1024x1536 x
	accepted -m gpt-image-2.5-sunburst -s 1280x720 x
}

@test "quality: xhigh and max from gpt-image-2.5 on" {
	refused quality invalid_value -m gpt-image-2 --quality xhigh x
	refused quality invalid_value -m gpt-image-1-mini --quality max x
	refused quality invalid_value -m gpt-image-2.5-flare --quality ultra x
	accepted -m gpt-image-2.5-flare --quality max x
	accepted -m gpt-image-2.6-sunburst --quality xhigh x
	accepted -m gpt-image-2 --quality high x
}

@test "complexity: gpt-image-2.6 only, low, medium or high" {
	refused complexity unknown_parameter -m gpt-image-2.5-sunburst --complexity low x
	refused complexity unknown_parameter -m gpt-image-2 --complexity low x
	refused complexity unknown_parameter -m dall-e-3 --complexity low x
	refused complexity invalid_value -m gpt-image-2.6-flare --complexity extreme x
	accepted -m gpt-image-2.6-flare --complexity medium x
	accepted -m gpt-image-2.6-sunburst-2026-11-04 --complexity high x
}

@test "moderation low or auto on the gpt-image models; input_fidelity refused on gpt-image-2" {
	refused moderation invalid_value -m gpt-image-2 --moderation strict x
	refused moderation unknown_parameter -m dall-e-3 --moderation low x
	accepted -m gpt-image-2 --moderation low x
	accepted -m gpt-image-1 --moderation auto x
	refused input_fidelity unsupported_parameter -m gpt-image-2 <<<'{"prompt":"x","input_fidelity":"high"}'
	refused input_fidelity unsupported_parameter -m gpt-image-2.6-flare <<<'{"prompt":"x","input_fidelity":"low"}'
	refused input_fidelity invalid_value -m gpt-image-1.5 <<<'{"prompt":"x","input_fidelity":"max"}'
	accepted -m gpt-image-1.5 <<<'{"prompt":"x","input_fidelity":"high"}'
}

@test "n 1 to 10, output_format png, jpeg or webp, safety_identifier a string" {
	refused n integer_above_max_value -m gpt-image-2 <<<'{"prompt":"x","n":11}'
	refused n integer_below_min_value -m gpt-image-2 <<<'{"prompt":"x","n":0}'
	refused output_format invalid_value -m gpt-image-2 --output-format gif x
	refused safety_identifier invalid_type -m gpt-image-2 <<<'{"prompt":"x","safety_identifier":7}'
	accepted -m gpt-image-2 --output-format jpeg -n 2 --safety-identifier u-1 x
	assert_equal "$(jq '.data | length' <<<"$output")" 2
}

@test "Azure's 4,000-character prompt limit for the gpt-image-1 family, OpenAI's 32,000" {
	long=$(printf 'a%.0s' $(seq 4001))
	use_azure
	refused prompt string_above_max_length --deployment gpt-image-1-mini "$long"
	assert_regex "$(jq -r .error.message <<<"$output")" 'maximum length 4000'
	refused prompt string_above_max_length --deployment gpt-image-1.5 "$long"
	accepted --deployment gpt-image-2 "$long"
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	accepted -m gpt-image-1-mini "$long"
}

@test "dalle-serve answers the same 400s, from the same rules" {
	post_json "${SERVE_URL}v1/images/generations" '{"model":"gpt-image-2","prompt":"x","size":"1792x936"}' -H 'Authorization: Bearer test-key'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '["invalid_size","size","invalid_request_error"]'
	assert_equal "$(jqb .error.message)" "Invalid size '1792x936'. Width and height must both be divisible by 16."
	post_json "${SERVE_URL}openai/deployments/gpt-image-2.6-flare/images/generations?api-version=2025-04-01-preview" '{"prompt":"x","complexity":"huge"}' -H 'api-key: test-key'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" complexity
	post_json "${SERVE_URL}openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview" "{\"prompt\":\"$(printf 'b%.0s' $(seq 4001))\"}" -H 'api-key: test-key'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.code)" string_above_max_length
}

@test "gpt-image-2 at 2048x1152 and 3840x2160: PNGs of exactly that size" {
	run --separate-stderr bash -c 'dalle-submit -m gpt-image-2 -s 2048x1152 "A wide valley" |
	    dalle-fetch -d out --paths'
	assert_success
	assert_equal "$(png_size "$output")" 2048x1152
	run --separate-stderr bash -c 'dalle-submit -m gpt-image-2 -s 3840x2160 "A wider valley" |
	    dalle-fetch -d out --paths'
	assert_success
	assert_equal "$(png_size "$output")" 3840x2160
}

@test "the response's size, quality, output_format and background are kept as strings" {
	run --separate-stderr dalle-submit -m gpt-image-2 -s auto --quality auto x
	assert_success
	assert_equal "$(jq -c '[.size, .quality, .output_format, .background]' <<<"$output")" \
	    '["1024x1024","medium","png","opaque"]'
	assert_equal "$(jq -c '.usage.output_tokens_details | keys' <<<"$output")" '["image_tokens","text_tokens"]'
}

@test "dalle-serve's usage: gpt-image-2 output tokens by quality, scaled with the pixel area" {
	for q in low:200 medium:1767 high:7033; do
		post_json "${SERVE_URL}v1/images/generations" "{\"model\":\"gpt-image-2\",\"prompt\":\"twelve chars\",\"size\":\"1024x1024\",\"quality\":\"${q%:*}\"}" -H 'Authorization: Bearer test-key'
		assert_equal "$(jqb .usage.output_tokens)" "${q#*:}"
		assert_equal "$(jqb .usage.output_tokens_details.image_tokens)" "${q#*:}"
	done
	assert_equal "$(jqb .usage.input_tokens_details.text_tokens)" 3
	assert_equal "$(jqb .usage.total_tokens)" 7036
	post_json "${SERVE_URL}v1/images/generations" '{"model":"gpt-image-2","prompt":"x","size":"2048x1024","quality":"medium","n":2}' -H 'Authorization: Bearer test-key'
	assert_equal "$(jqb .usage.output_tokens)" $((1767 * 2 * 2))
}

@test "the new options reach the request body; record fields override them" {
	run --separate-stderr dalle-submit --dry-run -m gpt-image-2.6-flare --complexity low --moderation low --safety-identifier hash-1 x
	assert_success
	assert_equal "$(jq -cS .request.body <<<"$output")" \
	    '{"complexity":"low","model":"gpt-image-2.6-flare","moderation":"low","prompt":"x","safety_identifier":"hash-1"}'
	run --separate-stderr dalle-submit --dry-run -m gpt-image-1.5 --moderation low <<<'{"prompt":"y","moderation":"auto","input_fidelity":"low","safety_identifier":"h2"}'
	assert_success
	assert_equal "$(jq -c '.request.body | [.moderation, .input_fidelity, .safety_identifier]' <<<"$output")" '["auto","low","h2"]'
}

@test "a retired model under --today: an error record of kind retired, nothing sent" {
	before=$(logged)
	run --separate-stderr dalle-submit --today 2026-12-03 -m dall-e-3 x
	assert_equal "$status" 65
	assert_equal "$(jq -c '.error | [.kind, .code, .shutdown_date, .replacement]' <<<"$output")" \
	    '["retired","model_not_found","2026-05-12","gpt-image-2"]'
	assert_regex "$(jq -r .error.message <<<"$output")" 'shut down on OpenAI on 2026-05-12; use gpt-image-2 instead'
	# By provider: gpt-image-1-mini runs on Azure until 2027-04-07.
	run --separate-stderr dalle-submit --today 2026-12-03 -m gpt-image-1-mini x
	assert_equal "$(jq -r .error.kind <<<"$output")" retired
	assert_equal "$(logged)" "$before"
	use_azure
	accepted --today 2026-12-03 --deployment gpt-image-1-mini x
	# Loopback without --today: the server answers for itself.
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	accepted -m dall-e-3 x
}

@test "a model that shuts down within 30 days: one warning per model, none with -q" {
	use_azure
	run --separate-stderr dalle-submit --today 2026-12-03 --deployment gpt-image-1.5 a b c
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$(grep -c 'warning: gpt-image-1.5 shuts down on Azure on 2026-12-16 (in 13 days); use gpt-image-2 instead' <<<"$stderr")" 1
	assert_equal "$(grep -c . <<<"$stderr")" 1
	run --separate-stderr dalle-submit -q --today 2026-12-03 --deployment gpt-image-1.5 a
	assert_success
	assert_equal "$stderr" ""
	run --separate-stderr dalle-submit --today 2026-11-01 --deployment gpt-image-1.5 a
	assert_success
	assert_equal "$stderr" ""
}

@test "dalle-serve --today: a model shut down on the route's provider answers 404 model_not_found" {
	serve_start --today 2026-12-03
	use_openai
	run --separate-stderr dalle-submit --no-validate -m dall-e-3 x
	assert_equal "$(jq -c '.error | [.status, .code]' <<<"$output")" '[404,"model_not_found"]'
	assert_regex "$(jq -r .error.message <<<"$output")" "^The model 'dall-e-3' was shut down on 2026-05-12"
	run --separate-stderr dalle-submit --no-validate -m gpt-image-1.5 x
	assert_equal "$(jq -r .error.status <<<"$output")" 404
	use_azure
	run --separate-stderr dalle-submit --no-validate --deployment gpt-image-1 x
	assert_equal "$(jq -c '.error | [.status, .code]' <<<"$output")" '[404,"model_not_found"]'
	accepted --no-validate --deployment gpt-image-1.5 x
	run --separate-stderr dalle-submit --no-validate -s 512x512 x
	assert_equal "$(jq -r .error.status <<<"$output")" 404
	assert_equal "$(grep -c '"status":404' "$SERVE_DIR/serve.log")" 4
}

@test "an unknown model passes through unchecked, with a note under -v" {
	before=$(logged)
	run --separate-stderr dalle-submit -m gpt-image-9 -s 1x1 x
	assert_equal "$(jq -r .error.status <<<"$output")" 404
	[[ "$stderr" != *"not in the model table"* ]]
	run --separate-stderr dalle-submit -v -m gpt-image-9 -s 1x1 x
	[[ "$stderr" == *"dalle-submit: gpt-image-9: not in the model table: sent unchecked"* ]]
	assert_equal "$(logged)" $((before + 2))
}

@test "GET /v1/models and /v1/models/{id}: the table in OpenAI's list shape" {
	call GET "${SERVE_URL}v1/models" -H 'Authorization: Bearer test-key'
	assert_equal "$CODE" 200
	assert_equal "$(jqb .object)" list
	assert_equal "$(jqb '.data | length')" 17
	assert_equal "$(jqb -c '.data[0] | keys')" '["created","id","object","owned_by","shutdown_date"]'
	assert_equal "$(jqb -r '.data[] | select(.id == "gpt-image-1") | .shutdown_date')" 2026-10-23
	assert_equal "$(jqb -r '.data[] | select(.id == "gpt-image-2") | .shutdown_date')" null
	call GET "${SERVE_URL}v1/models/gpt-image-1.5" -H 'Authorization: Bearer test-key'
	assert_equal "$(jqb -c '[.id, .object, .shutdown_date]')" '["gpt-image-1.5","model","2026-12-01"]'
	call GET "${SERVE_URL}v1/models/gpt-image-1.5"
	assert_equal "$CODE" 401
	call GET "${SERVE_URL}v1/models/no-such-model" -H 'Authorization: Bearer test-key'
	assert_equal "$CODE" 404
	assert_equal "$(jqb .error.code)" model_not_found
}

@test "--list-models: the table as JSON lines, no request without an OpenAI key" {
	before=$(logged)
	unset OPENAI_API_KEY OPENAI_BASE_URL
	run --separate-stderr dalle-submit --list-models
	assert_success
	assert_equal "${#lines[@]}" 17
	assert_equal "$(jq -sc '[.[].source] | unique' <<<"$output")" '["table"]'
	assert_equal "$(jq -c 'select(.name == "dall-e-3") | [.shutdown_date.openai, .shutdown_date.azure, .replacement]' <<<"$output")" \
	    '["2026-05-12","2026-03-04","gpt-image-2"]'
	assert_equal "$(jq -c 'select(.name == "chatgpt-image-latest") | .providers' <<<"$output")" '["openai"]'
	assert_equal "$(jq -c 'select(.name == "gpt-image-2.6-flare") | .complexity' <<<"$output")" '["low","medium","high"]'
	assert_equal "$(jq -c 'select(.name == "gpt-image-2") | has("complexity")' <<<"$output")" false
	assert_equal "$(logged)" "$before"
}

@test "--list-models with an OpenAI key: GET /v1/models, the service's dates marked as such" {
	before=$(logged)
	run --separate-stderr dalle-submit --list-models
	assert_success
	assert_equal "${#lines[@]}" 17
	assert_equal "$(jq -sc '[.[].source] | unique' <<<"$output")" '["service"]'
	assert_equal "$(logged)" $((before + 1))
	assert_equal "$(tail -n 1 "$SERVE_DIR/serve.log" | jq -c '[.method, .path, .status]')" '["GET","/v1/models",200]'
}

@test "--list-models asks OpenAI whenever its key is configured, an Azure endpoint beside it or not" {
	before=$(logged)
	AZURE_OPENAI_ENDPOINT=$SERVE_URL AZURE_OPENAI_API_KEY=k run --separate-stderr dalle-submit --list-models
	assert_success
	assert_equal "$(jq -sc '[.[].source] | unique' <<<"$output")" '["service"]'
	assert_equal "$(logged)" $((before + 1))
}

@test "--list-models: a service's own date wins over the table's, its extra image models are listed" {
	command -v node >/dev/null || skip "node is needed for a stand-in service"
	node -e '
	const body = JSON.stringify({ object: "list", data: [
	    { id: "gpt-image-2", object: "model", shutdown_date: "2027-06-30" },
	    { id: "gpt-image-3-preview", object: "model", shutdown_date: null },
	    { id: "gpt-5", object: "model", shutdown_date: null } ] });
	const s = require("http").createServer((q, r) => {
	    r.writeHead(q.url === "/v1/models" ? 200 : 404,
	        { "content-type": "application/json" });
	    r.end(body);
	}).listen(0, "127.0.0.1", () => console.log(s.address().port));
	setTimeout(() => process.exit(0), 60000);' >port 3>&- &
	pid=$!
	for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
	OPENAI_BASE_URL="http://127.0.0.1:$(cat port)/v1" run --separate-stderr dalle-submit --list-models
	kill "$pid"
	assert_success
	assert_equal "$(jq -c 'select(.name == "gpt-image-2") | [.shutdown_date.openai, .source]' <<<"$output")" '["2027-06-30","service"]'
	assert_equal "$(jq -c 'select(.name == "dall-e-3") | [.shutdown_date.openai, .source]' <<<"$output")" '["2026-05-12","table"]'
	assert_equal "$(jq -c 'select(.name == "gpt-image-3-preview") | [.family, .source]' <<<"$output")" '[null,"service"]'
	assert_equal "$(jq -c 'select(.name == "gpt-5")' <<<"$output")" ""
	assert_equal "${#lines[@]}" 18
}

@test "dalle-serve's default deployments: every model by its name, the old ones kept" {
	for d in gpt-image-2 gpt-image-2.5-flare gpt-image-2.6-sunburst-2026-11-04 dalle3 gpt-image-1; do
		post_json "${SERVE_URL}openai/deployments/$d/images/generations?api-version=2025-04-01-preview" '{"prompt":"x"}' -H 'api-key: test-key'
		assert_equal "$CODE" 200
	done
}
