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
	# Queued for three seconds, then in_progress for nine: room for a
	# loaded machine's slow polls (one came 3 s late in a loaded run).
	serve_start --latency "$(slow 12)"
	run create "${SERVE_URL}v1/responses"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" queued
	assert_equal "$(jq -r .object <<<"$output")" response
	id=$(jq -r .id <<<"$output")
	[[ $id == resp_* ]]
	# Every status it passes through, in order, once each: the first
	# as the create answered it (a poll may come after the queued second).
	jq -r .status <<<"$output" >seen
	for ((i = 0; i < $(slow 100); i++)); do
		get "${SERVE_URL}v1/responses/$id" >done.json
		s=$(jq -r .status done.json)
		echo "$s" >>seen
		[ "$s" != completed ] || break
		sleep 0.5
	done
	assert_equal "$(uniq seen | tr '\n' ' ')" 'queued in_progress completed '
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
	# The create answered at once, whatever the latency: within the
	# quarter of it that the response is queued, by the server's log.
	assert_equal "$(jq -s '[.[] | select(.method == "POST" and .route == "responses") | .ms < 3000] | all' "$SERVE_DIR/serve.log")" true
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
	# Four seconds: room for a loaded machine's slow poll to see it
	# completed; gone four seconds after that poll, whenever it came.
	serve_start --latency 0.1 --response-ttl "$(slow 4)"
	id=$(create "${SERVE_URL}v1/responses" | jq -r .id)
	sleep 0.3
	assert_equal "$(get "${SERVE_URL}v1/responses/$id" | jq -r .status)" completed
	sleep "$(slow 4.2)"
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

@test "pipeline: submit --api responses | poll | fetch, the synchronous route's bytes" {
	serve_start --latency 1
	use_openai
	# The service's bytes, without provenance (whose ids and times differ
	# between the two routes), to compare them.
	run --separate-stderr bash -c "dalle-submit --api responses --quality low 'A red fox' 'A blue bird' | dalle-poll | dalle-fetch --no-provenance -d out"
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r .status | sort -u)" succeeded
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r '.files[0].width' | sort -u)" 1024
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r '.usage.output_tokens' | sort -u)" 200
	# The mainline model's own tokens, kept beside the image's.
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r '.response_usage.output_tokens' | sort -u)" 20
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r '.quality' | sort -u)" low
	fox=$(printf '%s\n' "${lines[@]}" | jq -r 'select(.prompt == "A red fox") | .files[0].path')
	assert_equal "$(png_size "$fox")" 1024x1024
	dalle-submit -m gpt-image-2 --quality low 'A red fox' | dalle-fetch --no-provenance -d sync >/dev/null
	cmp "$fox" sync/*.png
	# One create and a few polls per record, no more.
	assert_equal "$(jq -s '[.[] | select(.route == "responses" and .method == "POST")] | length' "$SERVE_DIR/serve.log")" 2
	for id in $(printf '%s\n' "${lines[@]}" | jq -r .operation.id); do
		n=$(jq -s --arg id "$id" '[.[] | select(.method == "GET" and (.path | endswith($id)))] | length' "$SERVE_DIR/serve.log")
		[ "$n" -ge 2 ]
		[ "$n" -le 4 ]
	done
}

@test "pipeline: Azure's v1 route end to end" {
	serve_start --latency 0.3
	use_azure
	run --separate-stderr bash -c "dalle-submit --api responses --quality low 'A boat' | dalle-poll | dalle-fetch -d out"
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" succeeded
	assert_equal "$(png_size "$(jq -r '.files[0].path' <<<"$output")")" 1024x1024
	assert_equal "$(jq -s '[.[] | select(.method == "GET") | .path | startswith("/openai/v1/responses/")] | all' "$SERVE_DIR/serve.log")" true
}

@test "poll: a failed response is an error record of its kind" {
	serve_start --latency 0.3 --blocked-term bomb
	use_openai
	run --separate-stderr bash -c "dalle-submit --api responses 'A bomb' | dalle-poll"
	assert_equal "$status" 2
	assert_equal "$(jq -r .error.kind <<<"$output")" content_filter
	assert_equal "$(jq -r .error.code <<<"$output")" moderation_blocked
	assert_equal "$(jq -r .status <<<"$output")" failed
}

@test "poll --cancel: a cancelled error record, after one cancel request" {
	serve_start --latency 3
	use_openai
	run --separate-stderr bash -c "dalle-submit --api responses 'Cancel me' | dalle-poll --cancel"
	assert_equal "$status" 1
	assert_equal "$(jq -r .error.kind <<<"$output")" cancelled
	assert_equal "$(jq -r .error.code <<<"$output")" cancelled
	assert_equal "$(jq -r .status <<<"$output")" cancelled
	assert_equal "$(jq -s '[.[] | select(.path | endswith("/cancel"))] | length' "$SERVE_DIR/serve.log")" 1
	# An azure-image operation cannot be cancelled: said, nothing sent.
	use_azure
	run --separate-stderr dalle-poll --cancel <<<'{"prompt":"p","operation":{"kind":"azure-image","id":"x","url":"'"${SERVE_URL}"'openai/operations/images/x"},"status":"notRunning"}'
	assert_equal "$(jq -r .error.kind <<<"$output")" input
	assert_equal "$(grep -c 'operations/images' "$SERVE_DIR/serve.log")" 0
}

@test "poll: a response collected after --response-ttl is expired" {
	serve_start --latency 0.1 --response-ttl 1
	use_openai
	dalle-submit --api responses 'Too late' >rec.json
	sleep 1.5
	run --separate-stderr dalle-poll <rec.json
	assert_equal "$status" 1
	assert_equal "$(jq -r .error.kind <<<"$output")" expired
	assert_equal "$(jq -r .error.code <<<"$output")" response_expired
	assert_equal "$(jq -r .error.status <<<"$output")" 404
}

@test "poll: the key goes to no other origin" {
	serve_start
	use_openai
	run --separate-stderr dalle-poll <<<'{"prompt":"p","operation":{"kind":"openai-response","id":"resp_x","url":"http://127.0.0.2:1/v1/responses/resp_x"},"status":"queued"}'
	assert_equal "$status" 78
	assert_equal "$(jq -r .error.kind <<<"$output")" config
}
