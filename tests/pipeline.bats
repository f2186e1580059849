#!/usr/bin/env bats
# dalle-submit | dalle-poll | dalle-fetch end to end against dalle-serve:
# every API flavour producing real images, user fields carried through,
# .env and environment precedence.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file --api-key test-key --latency 0.3
}

setup() {
	_common_setup
	use_azure
}

@test "azure-async: the exercise's DALL-E 2 flow makes PNG files of the asked size" {
	run --separate-stderr bash -c "printf '%s\n' 'A giraffe flying a kite' 'An elephant on a skateboard' |
	    dalle-submit -s 512x512 | dalle-poll | dalle-fetch -d out"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	for l in "${lines[@]}"; do
		[ "$(jq -r .status <<<"$l")" = succeeded ]
		[ "$(jq -r .request.api <<<"$l")" = azure-async ]
		[ "$(jq -r .operation.kind <<<"$l")" = azure-image ]
		p=$(jq -r '.files[0].path' <<<"$l")
		[ -f "$p" ]
		[ "$(png_size "$p")" = 512x512 ]
		[ "$(jq -r '.files[0].format' <<<"$l")" = png ]
	done
	# Two different prompts, two different pictures.
	run cmp -s "$(jq -r '.files[0].path' <<<"${lines[0]}")" \
	    "$(jq -r '.files[0].path' <<<"${lines[1]}")"
	assert_failure
}

@test "azure-async: the operation moves through notRunning to succeeded" {
	run dalle-submit 'A quiet harbour'
	assert_success
	[ "$(jq -r .status <<<"$output")" = notRunning ]
	id=$(jq -r .operation.id <<<"$output")
	[[ "$(jq -r .operation.url <<<"$output")" == "${SERVE_URL}openai/operations/images/$id?api-version=2023-06-01-preview" ]]
	run dalle-poll <<<"$output"
	assert_success
	[ "$(jq -r .status <<<"$output")" = succeeded ]
	[ "$(jq '.operation.polls >= 1' <<<"$output")" = true ]
	[ "$(jq '.expires - .created' <<<"$output")" = 86400 ]
	[ "$(jq '.data | length' <<<"$output")" = 1 ]
}

@test "azure (dall-e-3 deployment): a URL result with revised_prompt and filter results" {
	run --separate-stderr bash -c "dalle-submit --deployment dalle3 --quality hd --style natural -s 1792x1024 'A lighthouse in a storm' |
	    dalle-poll | dalle-fetch -d out"
	assert_success
	[ "$(jq -r .request.api <<<"$output")" = azure ]
	[[ "$(jq -r .request.url <<<"$output")" == *"/openai/deployments/dalle3/images/generations?api-version=2025-04-01-preview" ]]
	[ "$(jq -r '.data[0].revised_prompt | type' <<<"$output")" = string ]
	[ "$(jq -r '.data[0].content_filter_results.violence.filtered' <<<"$output")" = false ]
	[[ "$(jq -r '.data[0].url' <<<"$output")" == *"se="* ]]
	[ "$(png_size "$(jq -r '.files[0].path' <<<"$output")")" = 1792x1024 ]
}

@test "azure (gpt-image-1 deployment): base64 results, token usage, JPEG when asked" {
	run --separate-stderr bash -c "printf '%s\n' '{\"prompt\":\"A red fox\",\"name\":\"fox\"}' \
	    '{\"prompt\":\"A paper boat\",\"name\":\"boat\",\"output_format\":\"jpeg\",\"size\":\"1536x1024\"}' |
	    dalle-submit --deployment gpt-image-1 --quality low | dalle-fetch -d out"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	fox=$(grep '"fox"' <<<"$output")
	boat=$(grep '"boat"' <<<"$output")
	[ "$(jq '.usage.total_tokens > 0' <<<"$fox")" = true ]
	[ -f out/fox.png ]
	[ "$(png_size out/fox.png)" = 1024x1024 ]
	[ -f out/boat.jpg ]
	[ "$(od -An -tx1 -N3 out/boat.jpg | tr -d ' ')" = ffd8ff ]
	[ "$(jq -r '.files[0] | "\(.format) \(.width)x\(.height)"' <<<"$boat")" = "jpeg 1536x1024" ]
	# The bytes are in the file now, not in the record.
	[ "$(jq '.data[0] | has("b64_json")' <<<"$fox")" = false ]
}

@test "azure-v1: the model in the body" {
	run --separate-stderr bash -c "dalle-submit --api azure-v1 -m gpt-image-1 'A kite' | dalle-fetch -d out"
	assert_success
	[[ "$(jq -r .request.url <<<"$output")" == "${SERVE_URL}openai/v1/images/generations" ]]
	[ "$(png_size "$(jq -r '.files[0].path' <<<"$output")")" = 1024x1024 ]
}

@test "openai: Bearer key, dall-e-3 URLs and gpt-image-1 base64" {
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	use_openai
	run --separate-stderr bash -c "dalle-submit -m dall-e-3 'A teapot on the moon' | dalle-poll | dalle-fetch -d out -o 'd3-{i}.{ext}'"
	assert_success
	[ "$(jq -r .request.api <<<"$output")" = openai ]
	[ "$(png_size out/d3-0.png)" = 1024x1024 ]
	run --separate-stderr bash -c "dalle-submit -m gpt-image-1 -n 2 --quality low 'Two moons' | dalle-fetch -d out -o 'gi-{i}.{ext}'"
	assert_success
	[ "$(jq '.files | length' <<<"$output")" = 2 ]
	[ "$(png_size out/gi-1.png)" = 1024x1024 ]
}

@test "a user's own fields reach the end of the pipeline" {
	run --separate-stderr bash -c "echo '{\"prompt\":\"A barn owl\",\"row\":17,\"tag\":{\"batch\":\"b1\"},\"name\":\"owl\"}' |
	    dalle-submit | dalle-poll | dalle-fetch -d out"
	assert_success
	[ "$(jq -c '[.row, .tag.batch, .name, .prompt]' <<<"$output")" = '[17,"b1","owl","A barn owl"]' ]
	[ "$(jq -r '.files[0].path' <<<"$output")" = out/owl.png ]
}

@test "one record out for every record in, in any mix of APIs and errors" {
	printf '%s\n' 'A fine prompt' '{"prompt":"on dall-e-3","deployment":"dalle3"}' \
	    '{"broken json' '{"prompt":"gpt","deployment":"gpt-image-1","quality":"low"}' \
	    '{"prompt":"bad size","deployment":"dalle3","size":"3x3"}' >in.txt
	run --separate-stderr bash -c "dalle-submit <in.txt | dalle-poll | dalle-fetch -d out"
	assert_equal "$status" 0   # fetch's own status; the failures were upstream
	[ "${#lines[@]}" -eq 5 ]
	[ "$(jq -s '[.[] | select(.error)] | length' <<<"$output")" = 2 ]
	[ "$(jq -s '[.[] | select(.files)] | length' <<<"$output")" = 3 ]
	run --separate-stderr bash -c "set -o pipefail; dalle-submit <in.txt | dalle-poll | dalle-fetch -d out"
	assert_equal "$status" 65
}

@test ".env is read with dotenv rules, the exercise's names work, and the environment wins" {
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	printf '# the exercise'"'"'s names\nAZURE_OAI_ENDPOINT="%s"\nexport AZURE_OAI_KEY=test-key # comment\n' "$SERVE_URL" >.env
	run --separate-stderr dalle-submit 'From dotenv'
	assert_success
	[ "$(jq -r .status <<<"$output")" = notRunning ]
	# .env's endpoint is sent .env's key, not the environment's
	# (tests/secrets.bats).
	AZURE_OAI_KEY=wrong run --separate-stderr dalle-submit 'not sent'
	assert_success
	# With the endpoint in the environment too, the wrong key there
	# beats the right one in .env.
	AZURE_OAI_ENDPOINT=$SERVE_URL AZURE_OAI_KEY=wrong run --separate-stderr dalle-submit 'env wins'
	assert_equal "$status" 77
	[ "$(jq -r .error.kind <<<"$output")" = auth ]
	# AZURE_OPENAI_* beats AZURE_OAI_*.
	AZURE_OAI_ENDPOINT=$SERVE_URL AZURE_OPENAI_API_KEY=test-key AZURE_OAI_KEY=wrong run --separate-stderr dalle-submit 'sdk names first'
	assert_success
}

@test "the exercise's AZURE_OAI_DEPLOYMENT selects the synchronous API" {
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	AZURE_OAI_ENDPOINT=$SERVE_URL AZURE_OAI_KEY=test-key AZURE_OAI_DEPLOYMENT=dall-e-3 \
	    run --separate-stderr dalle-submit 'A dotenv deployment'
	assert_success
	[ "$(jq -r .request.api <<<"$output")" = azure ]
	[ "$(jq -r .status <<<"$output")" = succeeded ]
}

@test "an endpoint works with or without a trailing slash" {
	AZURE_OPENAI_ENDPOINT=${SERVE_URL%/} run --separate-stderr dalle-submit 'no slash'
	assert_success
	AZURE_OPENAI_ENDPOINT=${SERVE_URL}/ run --separate-stderr dalle-submit 'two slashes'
	assert_success
	[[ "$(jq -r .request.url <<<"$output")" == "${SERVE_URL}openai/images/generations:submit?api-version=2023-06-01-preview" ]]
}
