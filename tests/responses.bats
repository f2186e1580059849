#!/usr/bin/env bats
# Background responses: dalle-serve's /v1/responses and
# /openai/v1/responses, and dalle-submit --api responses | dalle-poll |
# dalle-fetch against them.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# create URL [tool fields]: POST a background response; its body on stdout.
create() {
	curl -s -H 'Authorization: Bearer k' -H 'Content-Type: application/json' \
	    -d "{\"model\":\"gpt-5\",\"input\":\"${PROMPT:-A red fox}\",\"background\":true,\"tools\":[{\"type\":\"image_generation\",\"model\":\"gpt-image-2\",\"size\":\"1024x1024\",\"quality\":\"low\"${2:+,$2}}]}" "$1"
}

get() {
	curl -s -H 'Authorization: Bearer k' "$1"
}

@test "serve: queued at once, then in_progress, then completed with the image" {
	serve_start --latency 1.2
	run create "${SERVE_URL}v1/responses"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" queued
	assert_equal "$(jq -r .object <<<"$output")" response
	id=$(jq -r .id <<<"$output")
	[[ $id == resp_* ]]
	sleep 0.5
	assert_equal "$(get "${SERVE_URL}v1/responses/$id" | jq -r .status)" in_progress
	sleep 1
	get "${SERVE_URL}v1/responses/$id" >done.json
	assert_equal "$(jq -r .status done.json)" completed
	assert_equal "$(jq -r '.output[0].type' done.json)" image_generation_call
	[[ $(jq -r '.output[0].id' done.json) == ig_* ]]
	assert_equal "$(jq -r '.output[0].size' done.json)" 1024x1024
	assert_equal "$(jq -r '.output[0].quality' done.json)" low
	jq -r '.output[0].result' done.json | base64 -d >img.png
	assert_equal "$(png_size img.png)" 1024x1024
	# The same bytes as the synchronous route gives for the same prompt.
	curl -s -H 'Authorization: Bearer k' -d '{"model":"gpt-image-2","prompt":"A red fox","size":"1024x1024","quality":"low"}' \
	    "${SERVE_URL}v1/images/generations" | jq -r '.data[0].b64_json' | base64 -d >sync.png
	cmp img.png sync.png
	assert_equal "$(jq '.tool_usage.image_gen.output_tokens' done.json)" 200
	# The create answered at once, whatever the latency.
	assert_equal "$(jq -s '[.[] | select(.method == "POST" and .route == "responses") | .ms < 500] | all' "$SERVE_DIR/serve.log")" true
	assert_equal "$(jq -rs '[.[].route] | unique | join(",")' "$SERVE_DIR/serve.log")" openai_generate,responses
}

@test "serve: the Azure v1 route, with api-key" {
	serve_start --latency 0.2
	run curl -s -H 'api-key: k' -d '{"model":"gpt-5","input":"A boat","background":true,"tools":[{"type":"image_generation","model":"gpt-image-2"}]}' \
	    "${SERVE_URL}openai/v1/responses?api-version=preview"
	assert_equal "$(jq -r .status <<<"$output")" queued
	id=$(jq -r .id <<<"$output")
	sleep 0.4
	run curl -s -H 'api-key: k' "${SERVE_URL}openai/v1/responses/$id"
	assert_equal "$(jq -r .status <<<"$output")" completed
	run curl -s -o /dev/null -w '%{http_code}' -d '{}' "${SERVE_URL}openai/v1/responses"
	assert_output 401
}

@test "serve: a blocked prompt and a bad option fail; bad creates are 400" {
	serve_start --latency 0.2 --blocked-term bomb
	id=$(PROMPT='A bomb' create "${SERVE_URL}v1/responses" | jq -r .id)
	id2=$(create "${SERVE_URL}v1/responses" '"quality":"max"' | jq -r .id)
	sleep 0.4
	get "${SERVE_URL}v1/responses/$id" >f.json
	assert_equal "$(jq -r .status f.json)" failed
	assert_equal "$(jq -r .error.code f.json)" moderation_blocked
	assert_equal "$(get "${SERVE_URL}v1/responses/$id2" | jq -r .status)" failed
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k' \
	    -d '{"model":"gpt-5","input":"x","tools":[{"type":"image_generation"}]}' "${SERVE_URL}v1/responses"
	assert_output 400
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k' \
	    -d '{"model":"gpt-5","input":"x","background":true,"tools":[]}' "${SERVE_URL}v1/responses"
	assert_output 400
}

@test "serve: cancel while queued; cancel of an ended one changes nothing" {
	serve_start --latency 2
	id=$(create "${SERVE_URL}v1/responses" | jq -r .id)
	run curl -s -H 'Authorization: Bearer k' -X POST "${SERVE_URL}v1/responses/$id/cancel"
	assert_equal "$(jq -r .status <<<"$output")" cancelled
	assert_equal "$(get "${SERVE_URL}v1/responses/$id" | jq -r .status)" cancelled
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k' -X POST "${SERVE_URL}v1/responses/resp_nope/cancel"
	assert_output 404
}

@test "serve: a response is gone --response-ttl seconds after it ended" {
	serve_start --latency 0.1 --response-ttl 1
	id=$(create "${SERVE_URL}v1/responses" | jq -r .id)
	sleep 0.3
	assert_equal "$(get "${SERVE_URL}v1/responses/$id" | jq -r .status)" completed
	sleep 1.2
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k' "${SERVE_URL}v1/responses/$id"
	assert_output 404
}

@test "submit --api responses: one POST, the operation and status queued" {
	serve_start --latency 0.5
	use_openai
	run --separate-stderr dalle-submit --api responses --quality low 'A red fox'
	assert_success
	assert_equal "$(jq -r .operation.kind <<<"$output")" openai-response
	assert_equal "$(jq -r .status <<<"$output")" queued
	id=$(jq -r .operation.id <<<"$output")
	assert_equal "$(jq -r .operation.url <<<"$output")" "${SERVE_URL}v1/responses/$id"
	body=$(jq -c 'select(.route == "responses") | .body' "$SERVE_DIR/serve.log")
	assert_equal "$(jq -r .model <<<"$body")" gpt-5
	assert_equal "$(jq -r .background <<<"$body")" true
	assert_equal "$(jq -r .input <<<"$body")" 'A red fox'
	assert_equal "$(jq -c '.tools' <<<"$body")" '[{"type":"image_generation","model":"gpt-image-2","quality":"low","action":"generate"}]'
}

@test "submit --api responses: --responses-model, -m, and Azure's v1 route" {
	serve_start
	use_azure
	run --separate-stderr dalle-submit --api responses --responses-model gpt-5-mini -m gpt-image-2 'A boat'
	assert_success
	assert_equal "$(jq -r .request.url <<<"$output")" "${SERVE_URL}openai/v1/responses"
	[[ $(jq -r .operation.url <<<"$output") == "${SERVE_URL}openai/v1/responses/resp_"* ]]
	assert_equal "$(jq -r 'select(.route == "responses") | .body.model' "$SERVE_DIR/serve.log")" gpt-5-mini
	assert_equal "$(jq -r 'select(.route == "responses") | .headers["api-key"]' "$SERVE_DIR/serve.log")" '***'
}

@test "submit --api responses: bad options and n > 1 are refused before any request" {
	serve_start
	use_openai
	run --separate-stderr dalle-submit --api responses -s 1000x1000 'bad size'
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.kind <<<"$output")" invalid_request
	run --separate-stderr dalle-submit --api responses -n 2 'two'
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.param <<<"$output")" n
	run --separate-stderr dalle-submit --api responses --image "$ROOT/tests/fixtures/nope.png" 'edit'
	assert_equal "$(jq -r .error.kind <<<"$output")" config
	assert_equal "$(grep -c . "$SERVE_DIR/serve.log")" 0
}
