#!/usr/bin/env bats
# dalle-serve: the DALL-E 2 asynchronous operations (submit, poll,
# DELETE) on Azure's preview route.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

FIX="$BATS_TEST_DIRNAME/fixtures/serve"
ASYNC="openai/images/generations:submit?api-version=2023-06-01-preview"

setup_file() {
	serve_start_file --blocked-term forbiddenfruit
}

setup() {
	_common_setup
}

@test "submit answers 202 with operation-location, Retry-After and retry-after-ms" {
	post_json "$SERVE_URL$ASYNC" '{"prompt":"a red fox","n":1,"size":"256x256"}' -H 'api-key: k'
	assert_equal "$CODE" 202
	id=$(jqb .id)
	assert_regex "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
	assert_equal "$(jqb .status)" notRunning
	assert_equal "$(hdr operation-location)" \
	    "${SERVE_URL}openai/operations/images/$id?api-version=2023-06-01-preview"
	assert_regex "$(hdr Retry-After)" '^[1-9][0-9]*$'
	assert_regex "$(hdr retry-after-ms)" '^[0-9]+$'
}

@test "submit takes only the preview versions 2023-06-01 to 2023-10-01" {
	for v in 2023-07-01-preview 2023-08-01-preview 2023-09-01-preview 2023-10-01-preview; do
		post_json "${SERVE_URL}openai/images/generations:submit?api-version=$v" \
		    '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 202
		assert_regex "$(hdr operation-location)" "api-version=$v\$"
	done
	for v in 2023-12-01-preview 2024-02-01 2023-05-15 ""; do
		post_json "${SERVE_URL}openai/images/generations:submit?api-version=$v" \
		    '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 404
		same_json "$FIX/azure-404.json"
	done
}

@test "with --latency an operation goes notRunning, running, succeeded, with headers" {
	# notRunning for a quarter of the latency (2 s: room for the poll's
	# curl to start on a busy machine), then running: polled until each
	# state ends, with no sleep that a loaded machine outruns.
	lat=$(slow 8)
	serve_start --latency "$lat"
	post_json "$SERVE_URL$ASYNC" '{"prompt":"a lighthouse","n":3,"size":"512x512"}' -H 'api-key: k'
	loc=$(hdr operation-location)
	call GET "$loc" -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb .status)" notRunning
	ra=$(hdr Retry-After)
	[ "$ra" -ge $((lat - $(slow 1))) ]
	[ "$ra" -le "$lat" ]
	ms=$(hdr retry-after-ms)
	[ "$ms" -gt $((lat * 1000 - $(slow 2000))) ]
	[ "$ms" -le $((lat * 1000)) ]
	await "$loc" .status != notRunning
	assert_equal "$(jqb .status)" running
	assert_regex "$(hdr retry-after-ms)" '^[0-9]+$'
	assert_equal "$(jqb 'has("result")')" false
	await "$loc" .status != running
	assert_equal "$(jqb .status)" succeeded
	assert_equal "$(hdr Retry-After)" ""
	assert_equal "$(jqb '.expires - .created')" 86400
	assert_equal "$(jqb '.result.created == .created')" true
	assert_equal "$(jqb '.result.data | length')" 3
	assert_regex "$(jqb '.result.data[2].url')" \
	    "^${SERVE_URL}private/images/[0-9a-f-]{36}/generated_02\\.png\\?se=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}%3A[0-9]{2}%3A[0-9]{2}Z&sig="
	curl -sf -o img.png "$(jqb '.result.data[0].url')"
	assert_equal "$(png_size img.png)" 512x512
}

@test "DELETE answers 409 while running, 204 once ended, then the id is gone" {
	# Six seconds for the DELETE to come before the operation ends, then
	# polled until it has, as the server reports.
	serve_start --latency 6
	post_json "$SERVE_URL$ASYNC" '{"prompt":"a boat"}' -H 'api-key: k'
	loc=$(hdr operation-location)
	call DELETE "$loc" -H 'api-key: k'
	assert_equal "$CODE" 409
	assert_equal "$(jqb .error.code)" Conflict
	await "$loc" .status = succeeded
	assert_equal "$(jqb .status)" succeeded
	call DELETE "$loc" -H 'api-key: k'
	assert_equal "$CODE" 204
	assert_equal "$BODY" ""
	call GET "$loc" -H 'api-key: k'
	assert_equal "$CODE" 404
	call DELETE "$loc" -H 'api-key: k'
	assert_equal "$CODE" 404
}

@test "DELETE of an operation removes its images: their URLs answer 404 BlobNotFound" {
	post_json "$SERVE_URL$ASYNC" '{"prompt":"a barge","n":2,"size":"256x256"}' -H 'api-key: k'
	loc=$(hdr operation-location)
	await "$loc" .status = succeeded
	assert_equal "$(jqb .status)" succeeded
	u0=$(jqb '.result.data[0].url')
	u1=$(jqb '.result.data[1].url')
	call GET "$u0"
	assert_equal "$CODE" 200
	call DELETE "$loc" -H 'api-key: k'
	assert_equal "$CODE" 204
	for u in "$u0" "$u1"; do
		call GET "$u"
		assert_equal "$CODE" 404
		assert_equal "$(hdr x-ms-error-code)" BlobNotFound
		assert_regex "$BODY" '<Code>BlobNotFound</Code><Message>The specified blob does not exist\.'
	done
}

@test "the lab's DALL-E 2 flow: concatenated URL, Operation-Location in any case, verbatim polls" {
	serve_start --latency 0.3
	endpoint=$SERVE_URL key=lab-key
	[[ $endpoint == */ ]]
	url="${endpoint}openai/images/generations:submit?api-version=2023-06-01-preview"
	curl -s -D h -o /dev/null -X POST "$url" -H "api-key: $key" \
	    -H 'Content-Type: application/json' \
	    -d '{"prompt": "A giraffe wearing a top hat", "n": 1, "size": "512x512"}'
	# Read the header the way python-requests does: any case.
	op=$(awk 'tolower($1) == "operation-location:" {print $2}' h | tr -d '\r')
	[ -n "$op" ]
	status=
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.1
		curl -s -o r.json "$op" -H "api-key: $key" -H 'Content-Type: application/json'
		status=$(jq -r .status r.json)
		[ "$status" = succeeded ] && break
	done
	assert_equal "$status" succeeded
	img=$(jq -r '.result.data[0].url' r.json)
	curl -sf -o out.png "$img"
	assert_equal "$(png_size out.png)" 512x512
}

@test "a content-filtered async prompt ends failed with contentFilter" {
	post_json "$SERVE_URL$ASYNC" '{"prompt":"ForbiddenFruit salad"}' -H 'api-key: k'
	assert_equal "$CODE" 202
	call GET "$(hdr operation-location)" -H 'api-key: k'
	assert_equal "$(jqb .status)" failed
	assert_equal "$(jqb -c .error)" \
	    '{"code":"contentFilter","message":"Your task failed as a result of our safety system."}'
}

@test "dall-e-2 async validation: n 1-10, its sizes, no style" {
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x","n":11}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" n
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x","n":1.5}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" n
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x","size":"1792x1024"}' -H 'api-key: k'
	assert_equal "$(jqb .error.code)" invalid_size
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x","style":"vivid"}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" style
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x","quality":"standard","n":10}' -H 'api-key: k'
	assert_equal "$CODE" 202
}
