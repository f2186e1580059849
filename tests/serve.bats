#!/usr/bin/env bats
# dalle-serve: routes, bodies, images, auth, filtering, log and stats.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

FIX="$BATS_TEST_DIRNAME/fixtures/serve"
ASYNC="openai/images/generations:submit?api-version=2023-06-01-preview"
DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-15-preview"
GPT="openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview"

setup_file() {
	serve_start_file --blocked-term forbiddenfruit
}

setup() {
	_common_setup
}

# same_json FILE: the last body equals FILE as JSON.
same_json() {
	assert_equal "$(jq -cS . "$BATS_TEST_TMPDIR/body")" "$(jq -cS . "$1")"
}

@test "-h prints the usage, identical to the man page SYNOPSIS, and exits 0" {
	run --separate-stderr dalle-serve -h
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 --regexp '^usage: dalle-serve \[-h\]'
	u=$(printf '%s\n' "$output" | sed 's/^usage: //' | tr -s ' \t\n' ' ')
	m=$(mandoc -Tascii "$ROOT/man/dalle-serve.1" | col -b |
	    awk '/^SYNOPSIS/{f=1;next} /^DESCRIPTION/{f=0} f' | tr -s ' \t\n' ' ')
	assert_equal "${u# }" "${m# }"
}

@test "a bad option prints the usage to stderr and exits 64" {
	run --separate-stderr dalle-serve --no-such-option
	assert_failure 64
	assert_equal "$output" ""
	assert_regex "$stderr" 'usage: dalle-serve'
	run --separate-stderr dalle-serve --fail-rate 2
	assert_failure 64
}

@test "--public-url wants an http(s) URL with a host, and bases the URLs handed out on it" {
	for u in http:// https:// 'http://:8080/' ftp://example.com/ 'http://a b/'; do
		# A server that took it would serve on: timeout ends it.
		run --separate-stderr timeout "$(slow 5)" dalle-serve --listen 127.0.0.1:0 --public-url "$u"
		assert_failure 64
		assert_regex "$stderr" "^dalle-serve: --public-url $u: "
	done
	serve_start --public-url https://images.example.com:8443/twin
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_regex "$(jqb '.data[0].url')" '^https://images\.example\.com:8443/twin/private/images/'
}

@test "the man page passes mandoc -Tlint" {
	run mandoc -Tlint -Wwarning "$ROOT/man/dalle-serve.1"
	assert_success
	assert_output ""
}

@test "the first line of stdout is the loopback base URL ending in /" {
	assert_regex "$SERVE_URL" '^http://127\.0\.0\.1:[0-9]+/$'
	[ "${SERVE_URL##*:}" != "0/" ]
}

# suspended N: wait until the server holds N connections suspended, as its
# stats say (not after a sleep that a loaded machine outruns).
suspended() {
	await "${SERVE_URL}_serve/stats" .in_flight.suspended -ge "$1"
	[ "$(jqb .in_flight.suspended)" -ge "$1" ]
}

# interrupted SIG: send SIG to the server, see it exit 0 within 20 s.
interrupted() {
	local pid=$SERVE_PID rc=0
	kill "-$1" "$pid"
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		echo "dalle-serve still ran 20 s after SIG$1" >&2
		return 1
	fi
	wait "$pid" || rc=$?
	SERVE_PID=
	assert_equal "$rc" 0
}

@test "SIGINT shuts the server down with exit status 0, even with requests waiting" {
	serve_start --latency 30
	curl -s -o /dev/null -X POST -H 'api-key: k' -d '{"prompt":"x"}' "$SERVE_URL$DALLE3" &
	suspended 1
	interrupted INT
}

@test "SIGINT shuts the server down with exit status 0 during a paced download" {
	serve_start --slow-images 500
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","size":"1024x1024"}' -H 'api-key: k'
	curl -s -o /dev/null "$(jqb '.data[0].url')" &
	# The download has begun: its connection was suspended between
	# paced pieces at least once (the gauge itself may be read between
	# two of them on a loaded machine; at 500 bytes/s it runs a minute).
	await "${SERVE_URL}_serve/stats" .in_flight.suspended_peak -ge 1
	[ "$(jqb .in_flight.suspended_peak)" -ge 1 ]
	interrupted INT
}

@test "SIGTERM shuts the server down with exit status 0" {
	serve_start
	pid=$SERVE_PID
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$CODE" 200
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	SERVE_PID=
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

@test "the lab's DALL-E 3 call on deployment dalle3: revised_prompt, filters, a 1024 PNG" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A cat in a hat.","n":1,"size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_regex "$(jqb .created)" '^[0-9]{10}$'
	assert_equal "$(jqb '.data | length')" 1
	rp=$(jqb '.data[0].revised_prompt')
	assert_regex "$rp" 'A cat in a hat'
	assert_equal "$(jqb -c '.data[0].content_filter_results.violence')" '{"filtered":false,"severity":"safe"}'
	assert_equal "$(jqb -c '.data[0].content_filter_results | keys')" '["hate","self_harm","sexual","violence"]'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.jailbreak')" '{"detected":false,"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.profanity')" '{"detected":false,"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.custom_blocklists')" '{"details":[],"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.hate')" '{"filtered":false,"severity":"safe"}'
	url=$(jqb '.data[0].url')
	curl -sf -o a.png "$url"
	assert_equal "$(png_size a.png)" 1024x1024
	# The same prompt gives the same revised prompt and the same picture.
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A cat in a hat.","n":1,"size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$(jqb '.data[0].revised_prompt')" "$rp"
	[ "$(jqb '.data[0].url')" != "$url" ]
	curl -sf -o b.png "$(jqb '.data[0].url')"
	cmp a.png b.png
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A dog in a hat.","size":"1792x1024","quality":"hd","style":"natural"}' -H 'api-key: k'
	curl -sf -o c.png "$(jqb '.data[0].url')"
	assert_equal "$(png_size c.png)" 1792x1024
	run cmp -s a.png c.png
	assert_failure
}

@test "dall-e-3 b64_json gives a PNG in the body" {
	post_json "$SERVE_URL${DALLE3/dalle3/dall-e-3}" '{"prompt":"x","size":"1024x1792","response_format":"b64_json"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0] | has("url")')" false
	b64_to p.png
	assert_equal "$(png_size p.png)" 1024x1792
}

@test "dall-e-3 validation: n, size, quality, style, prompt, types" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","n":2}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.param, .type, .message]')" \
	    '["n","invalid_request_error","You must provide n=1 for this model."]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","size":"512x512"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .message]')" \
	    '["invalid_size","size","The size is not supported by this model."]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","size":1024}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_type","size"]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","quality":"ultra"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","quality"]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","style":"cubist"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","style"]'
	post_json "$SERVE_URL$DALLE3" '{"n":1}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" prompt
	post_json "$SERVE_URL$DALLE3" '{"prompt":""}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" prompt
	post_json "$SERVE_URL$DALLE3" '{"prompt":42}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_type","prompt"]'
	long=$(printf 'a%.0s' $(seq 4001))
	post_json "$SERVE_URL$DALLE3" "{\"prompt\":\"$long\"}" -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" prompt
	assert_regex "$(jqb .error.message)" 'maximum length 4000'
	post_json "$SERVE_URL$DALLE3" "{\"prompt\":\"${long:1}\"}" -H 'api-key: k'
	assert_equal "$CODE" 200
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

@test "malformed JSON and a non-object body answer 400" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.type)" invalid_request_error
	post_json "$SERVE_URL$ASYNC" '["prompt"]' -H 'api-key: k'
	assert_equal "$CODE" 400
}

@test "an unknown deployment answers the real DeploymentNotFound 404" {
	post_json "${SERVE_URL}openai/deployments/nope/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	same_json "$FIX/azure-404-deployment.json"
	assert_equal "$(hdr x-ms-error-code)" DeploymentNotFound
}

@test "deployment route api-versions: from 2023-12-01, dall-e-2 from 2024-05-01" {
	for v in 2023-12-01-preview 2024-02-01 2024-06-01 2024-10-21 2025-04-01-preview; do
		post_json "${SERVE_URL}openai/deployments/dall-e-3/images/generations?api-version=$v" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 200
	done
	for v in 2023-10-01-preview 2024-02-01-beta nope ""; do
		post_json "${SERVE_URL}openai/deployments/dall-e-3/images/generations?api-version=$v" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 404
		same_json "$FIX/azure-404.json"
	done
	post_json "${SERVE_URL}openai/deployments/dall-e-2/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	post_json "${SERVE_URL}openai/deployments/dall-e-2/images/generations?api-version=2024-05-01-preview" '{"prompt":"x","n":2,"size":"256x256"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data | length')" 2
	assert_equal "$(jqb '.data[0] | has("revised_prompt")')" false
}

@test "gpt-image-1: b64_json PNG, usage, echoed fields, sizes" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a quiet harbour","size":"1536x1024","quality":"low","n":2}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data | length')" 2
	assert_equal "$(jqb '.data[0] | has("url")')" false
	b64_to g.png
	assert_equal "$(png_size g.png)" 1536x1024
	b64_to g2.png '.data[1].b64_json'
	run cmp -s g.png g2.png
	assert_failure
	assert_equal "$(jqb -c '[.background, .output_format, .quality, .size]')" '["opaque","png","low","1536x1024"]'
	assert_equal "$(jqb -c '.usage | keys')" '["input_tokens","input_tokens_details","output_tokens","output_tokens_details","total_tokens"]'
	assert_equal "$(jqb '.usage.total_tokens == .usage.input_tokens + .usage.output_tokens')" true
	assert_equal "$(jqb '.usage.input_tokens == .usage.input_tokens_details.text_tokens + .usage.input_tokens_details.image_tokens')" true
	[ "$(jqb .usage.output_tokens)" -gt 0 ]
	first=$(jqb -c .usage)
	post_json "$SERVE_URL$GPT" '{"prompt":"a quiet harbour","size":"1536x1024","quality":"low","n":2}' -H 'api-key: k'
	assert_equal "$(jqb -c .usage)" "$first"
	post_json "$SERVE_URL$GPT" '{"prompt":"x","size":"auto"}' -H 'api-key: k'
	b64_to auto.png
	assert_equal "$(png_size auto.png)" 1024x1024
	assert_equal "$(jqb .size)" 1024x1024
}

@test "gpt-image-1: transparent background is RGBA, jpeg is JPEG, webp and response_format refused" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"transparent"}' -H 'api-key: k'
	b64_to t.png
	# IHDR colour type 6 = RGBA.
	assert_equal "$(od -An -tu1 -j25 -N1 t.png | tr -d ' ')" 6
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"opaque"}' -H 'api-key: k'
	b64_to o.png
	assert_equal "$(od -An -tu1 -j25 -N1 o.png | tr -d ' ')" 2
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"jpeg","output_compression":50}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb .output_format)" jpeg
	b64_to k.jpg
	assert_equal "$(magic k.jpg 3)" ffd8ff
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"webp"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" output_format
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","response_format":"url"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" response_format
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_compression":101}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" output_compression
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","quality":"hd"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","quality"]'
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","n":11}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" n
}

@test "default deployments include gpt-image-1-mini and gpt-image-1.5; --deployment maps names" {
	for d in gpt-image-1-mini gpt-image-1.5 dall-e-3 dalle3; do
		post_json "${SERVE_URL}openai/deployments/$d/images/generations?api-version=2025-04-01-preview" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 200
	done
	serve_start --deployment my-painter=gpt-image-1 -d artist=dalle3
	post_json "${SERVE_URL}openai/deployments/my-painter/images/generations?api-version=2025-04-01-preview" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.usage | type')" object
	post_json "${SERVE_URL}openai/deployments/artist/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$(jqb '.data[0].revised_prompt | type')" string
	run dalle-serve --deployment bad=no-such-model
	assert_failure 64
}

@test "Azure v1 route: model names a deployment or a model, api-version absent or preview" {
	post_json "${SERVE_URL}openai/v1/images/generations" '{"model":"dalle3","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0].revised_prompt | type')" string
	assert_equal "$(jqb '.data[0].content_filter_results | type')" object
	post_json "${SERVE_URL}openai/v1/images/generations?api-version=preview" '{"model":"gpt-image-1","prompt":"x"}' -H 'Authorization: Bearer tok'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0].b64_json | length > 100')" true
	post_json "${SERVE_URL}openai/v1/images/generations?api-version=2024-02-01" '{"model":"dalle3","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	post_json "${SERVE_URL}openai/v1/images/generations" '{"model":"nope","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	assert_equal "$(jqb .error.code)" DeploymentNotFound
	post_json "${SERVE_URL}openai/v1/images/generations" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" model
}

@test "OpenAI route: Bearer only, dall-e-2 by default with URLs, four-field errors" {
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x","size":"256x256"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0] | keys | join(",")')" url
	curl -sf -o d2.png "$(jqb '.data[0].url')"
	assert_equal "$(png_size d2.png)" 256x256
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-3","prompt":"x"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$(jqb '.data[0] | keys | join(",")')" revised_prompt,url
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 401
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '["invalid_api_key",null,"invalid_request_error"]'
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-3","prompt":"x","size":"1x1"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | keys')" '["code","message","param","type"]'
	assert_equal "$(jqb .error.code)" invalid_size
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '[null,null,"invalid_request_error"]'
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-9","prompt":"x"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 404
	assert_equal "$(jqb .error.code)" model_not_found
	call GET "${SERVE_URL}v1/nothing" -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 404
	assert_equal "$(jqb -c '.error | keys')" '["code","message","param","type"]'
}

@test "image URLs: SAS-like, HEAD works, bad sig, extension or expiry gives 403 XML" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"a tram"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	assert_regex "$url" "^${SERVE_URL}private/images/[0-9a-f-]{36}/generated_00\\.png\\?se=.*&sig=[A-Za-z0-9%]+&"
	call HEAD "$url" -I
	assert_equal "$CODE" 200
	assert_equal "$(hdr Content-Type)" image/png
	[ "$(hdr Content-Length)" -gt 1000 ]
	call GET "${url/generated_00.png/generated_00.jpg}"
	assert_equal "$CODE" 403
	call GET "${url/sig=/sig=AA}"
	assert_equal "$CODE" 403
	assert_regex "$BODY" '^<\?xml version="1\.0" encoding="utf-8"\?><Error><Code>AuthenticationFailed</Code>'
	call GET "${url/generated_00/generated_01}"
	assert_equal "$CODE" 403
	call GET "${url%%\?*}"
	assert_equal "$CODE" 404
}

@test "--url-ttl makes image URLs expire with 403 AuthenticationFailed" {
	# Four seconds of slack for two curl starts on a busy machine.
	serve_start --url-ttl "$(slow 4)"
	post_json "$SERVE_URL$DALLE3" '{"prompt":"a tram"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	call GET "$url"
	assert_equal "$CODE" 200
	sleep $(($(slow 4) + 1))
	call GET "$url"
	assert_equal "$CODE" 403
	assert_regex "$BODY" '<Code>AuthenticationFailed</Code>.*Signed expiry time'
}

@test "--image-scale divides image dimensions" {
	serve_start --image-scale 4
	post_json "$SERVE_URL$GPT" '{"prompt":"x","size":"1024x1536"}' -H 'api-key: k'
	b64_to s.png
	assert_equal "$(png_size s.png)" 256x384
}

# jpeg_size FILE: "WIDTHxHEIGHT" from a baseline JPEG's SOF0 segment.
jpeg_size() {
	od -An -v -tu1 "$1" | tr -s ' \n' ' ' |
	    grep -Eo ' 255 192 0 17 8( [0-9]+){4}' | head -n 1 |
	    awk '{print $8 * 256 + $9 "x" $6 * 256 + $7}'
}

@test "--image-bytes: grainy PNGs of about that size, gzip cannot shrink them, the same for the same request" {
	run --separate-stderr dalle-serve --image-bytes 3x
	assert_failure 64
	assert_regex "$stderr" '^dalle-serve: --image-bytes: 3x: want a byte count'
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	b64_to p.png
	assert_equal "$(magic p.png 8)" 89504e470d0a1a0a
	assert_equal "$(png_size p.png)" 1024x1024
	n=$(wc -c <p.png)
	[ "$n" -ge 1800000 ]
	[ "$n" -le 2200000 ]
	z=$(gzip -1 -c p.png | wc -c)
	[ "$z" -gt $((n * 9 / 10)) ]
	# From a fresh server: the cache does not answer it.
	serve_stop
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	b64_to again.png
	run cmp p.png again.png
	assert_success
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dusk","size":"1024x1024"}' -H 'api-key: k'
	b64_to other.png
	assert_equal "$(png_size other.png)" 1024x1024
	run cmp -s p.png other.png
	assert_failure
}

@test "--image-bytes: the same grain in a transparent PNG and in a JPEG of the requested size" {
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"transparent"}' -H 'api-key: k'
	b64_to t.png
	assert_equal "$(od -An -tu1 -j25 -N1 t.png | tr -d ' ')" 6
	n=$(wc -c <t.png)
	[ "$n" -ge 1800000 ]
	[ "$n" -le 2200000 ]
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"jpeg","size":"1536x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	b64_to k.jpg
	assert_equal "$(magic k.jpg 2)" ffd8
	assert_equal "$(tail -c 2 k.jpg | od -An -tx1 | tr -d ' \n')" ffd9
	assert_equal "$(jpeg_size k.jpg)" 1536x1024
}

@test "--image-bytes: an answer of three 3 MiB images goes out whole; without the option images stay small" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	b64_to flat.png
	assert_equal "$(png_size flat.png)" 1024x1024
	[ "$(wc -c <flat.png)" -lt 100000 ]
	serve_start --image-bytes 3m
	post_json "$SERVE_URL$GPT" '{"prompt":"a wide bay","size":"1536x1024","n":3}' -H 'api-key: k'
	assert_equal "$CODE" 200
	[ "$(wc -c <"$BATS_TEST_TMPDIR/body")" -gt 8000000 ]
	b64_to last.png '.data[2].b64_json'
	assert_equal "$(png_size last.png)" 1536x1024
	[ "$(wc -c <last.png)" -ge 2831155 ]
}

@test "auth: no key at all is 401 with the real body; any key passes by default" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}'
	assert_equal "$CODE" 401
	same_json "$FIX/azure-401.json"
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: '
	assert_equal "$CODE" 401
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'Authorization: Bearer any'
	assert_equal "$CODE" 200
	call GET "${SERVE_URL}openai/operations/images/x?api-version=2023-06-01-preview"
	assert_equal "$CODE" 401
}

@test "auth: --api-key, --token, the files and the environment restrict credentials" {
	printf 'filekey\n\nfilekey2\n' >keys
	printf 'filetok\n' >toks
	DALLE_SERVE_API_KEY=envkey DALLE_SERVE_TOKEN=envtok \
	    serve_start --api-key argkey --token argtok --api-key-file keys --token-file toks
	for k in argkey filekey filekey2 envkey; do
		post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H "api-key: $k"
		assert_equal "$CODE" 202
	done
	for t in argtok filetok envtok; do
		post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H "Authorization: Bearer $t"
		assert_equal "$CODE" 202
	done
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: wrong'
	assert_equal "$CODE" 401
	same_json "$FIX/azure-401.json"
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'Authorization: Bearer argkey'
	assert_equal "$CODE" 401
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'Authorization: Bearer wrong'
	assert_equal "$CODE" 401
	assert_equal "$(jqb .error.code)" invalid_api_key
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'Authorization: Bearer argkey'
	assert_equal "$CODE" 200
}

@test "--blocked-term: the real content_policy_violation on Azure, OpenAI's shape on /v1" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"I want forbiddenFRUIT now"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	same_json "$FIX/azure-400-content-policy.json"
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"forbiddenfruit"}' -H 'Authorization: Bearer k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '["content_policy_violation",null,"invalid_request_error"]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"forbidden fruit"}' -H 'api-key: k'
	assert_equal "$CODE" 200
}

@test "--log writes one JSON line per request with secrets masked" {
	serve_start --api-key s3cr3t-key-value --token t0ken-secret-value
	post_json "$SERVE_URL$DALLE3" '{"prompt":"logged"}' -H 'api-key: s3cr3t-key-value'
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'Authorization: Bearer t0ken-secret-value'
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'Authorization: Bearer s3cr3t-key-value'
	call GET "${SERVE_URL}_serve/stats"
	serve_stop
	log=$SERVE_DIR/serve.log
	assert_equal "$(wc -l <"$log")" 4
	run grep -c -e s3cr3t -e t0ken "$log"
	assert_output 0
	run jq -c -s '.[0] | [.method, .path, .query["api-version"], .status, .headers["api-key"], .body.prompt, .body_bytes > 0, .response_bytes > 0, (.ms | type), (.time | test("^[0-9-]+T[0-9:.]+Z$"))]' "$log"
	assert_output '["POST","/openai/deployments/dalle3/images/generations","2024-02-15-preview",200,"***","logged",true,true,"number",true]'
	run jq -r -s '.[1].headers.authorization, .[2].headers.authorization, .[1].status' "$log"
	assert_output $'Bearer ***\nBearer ***\n202'
}

@test "GET /_serve/stats counts routes, statuses, submits, polls, downloads and operations" {
	# Still unfinished after five curls, however slowly they start.
	serve_start --latency 60
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	loc=$(hdr operation-location)
	call GET "$loc" -H 'api-key: k'
	call GET "$loc" -H 'api-key: k'
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}'
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$CODE" 200
	assert_equal "$(jqb -c '[.submits, .polls, .routes.submit, .routes.operation_get, .status["202"], .status["200"], .status["401"], .auth_failed]')" '[1,2,2,2,1,2,1,1]'
	# notRunning or running by now: how long the curls took decides.
	assert_equal "$(jqb -c '.operations | [.notRunning + .running, .succeeded, .failed, .total]')" '[1,0,0,1]'
	assert_equal "$(jqb '.in_flight.async_operations')" 1
	assert_equal "$(jqb -c '.faults')" '{"fail":0,"drop":0,"truncate":0,"slow":0}'
	assert_equal "$(jqb -c '[.rate_limited, .image_downloads, .generations]')" '[0,0,0]'
}
