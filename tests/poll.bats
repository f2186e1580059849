#!/usr/bin/env bats
# dalle-poll: records, bare ids and URLs in; final records out; timeouts,
# failures and pass-through.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file --latency 0.5 --blocked-term forbidden
}

setup() {
	_common_setup
	use_azure
}

@test "-h prints usage on stdout and exits 0; a bad option exits 64" {
	run --separate-stderr dalle-poll -h
	assert_success
	assert_output --partial 'usage: dalle-poll'
	run --separate-stderr dalle-poll -t nope x
	assert_equal "$status" 64
}

@test "a bare operation id and an operation URL, as operands" {
	id=$(dalle-submit 'by id' | jq -r .operation.id)
	url=$(dalle-submit 'by url' | jq -r .operation.url)
	run --separate-stderr dalle-poll "$id" "$url"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .status | sort -u)" = succeeded ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .operation.id | sort | tr -d '\n')" = "$(printf '%s\n' "$id" "${url##*/}" | sed 's/?.*//' | sort | tr -d '\n')" ]
}

@test "Retry-After is honoured: few polls per operation" {
	run --separate-stderr bash -c "dalle-submit 'patience' | dalle-poll"
	assert_success
	# latency 0.5 s: the server's retry-after says when to come back.
	[ "$(jq '.operation.polls <= 3' <<<"$output")" = true ]
}

@test "synchronous results and final records pass straight through" {
	rec='{"status":"succeeded","data":[{"url":"http://127.0.0.1:1/x.png"}],"mine":true}'
	run --separate-stderr dalle-poll <<<"$rec"
	assert_success
	[ "$(jq -cS . <<<"$output")" = "$(jq -cS . <<<"$rec")" ]
}

@test "a content-filtered operation ends failed: kind content_filter, exit 2" {
	run --separate-stderr bash -c "dalle-submit 'a forbidden thing' | dalle-poll"
	assert_equal "$status" 2
	[ "$(jq -r .status <<<"$output")" = failed ]
	[ "$(jq -r .error.kind <<<"$output")" = content_filter ]
	[ "$(jq -r .error.code <<<"$output")" = contentFilter ]
}

@test "still running at the timeout: kind timeout, retryable, exit 75" {
	serve_start --latency 5
	use_azure
	run --separate-stderr bash -c "dalle-submit 'slow' | dalle-poll -t 1"
	assert_equal "$status" 75
	[ "$(jq -r .error.kind <<<"$output")" = timeout ]
	[ "$(jq -r .error.retryable <<<"$output")" = true ]
	[[ "$(jq -r .status <<<"$output")" =~ ^(notRunning|running)$ ]]
}

@test "an operation that is gone: not_found, exit 1" {
	run --separate-stderr dalle-poll 00000000-0000-0000-0000-000000000000
	assert_equal "$status" 1
	[ "$(jq -r .error.kind <<<"$output")" = not_found ]
}

@test "the key is sent only to the configured endpoint" {
	run --separate-stderr dalle-poll 'http://127.0.0.2:9/openai/operations/images/abc?api-version=2023-06-01-preview'
	assert_equal "$status" 78
	[ "$(jq -r .error.kind <<<"$output")" = config ]
}

@test "an origin is scheme, host and port as libcurl reads them, the default port filled in" {
	export AZURE_OPENAI_ENDPOINT=https://dalle.invalid AZURE_OPENAI_API_KEY=test-key
	# Sent (a .invalid host never resolves: a network error, not config).
	run --separate-stderr dalle-poll --retries 0 'https://Dalle.Invalid:443/openai/operations/images/abc'
	assert_equal "$status" 69
	assert_equal "$(jq -r .error.kind <<<"$output")" network
	run --separate-stderr dalle-poll --retries 0 'https://dalle.invalid:8443/openai/operations/images/abc'
	assert_equal "$status" 78
	assert_equal "$(jq -r .error.message <<<"$output")" "https://dalle.invalid:8443: not the configured endpoint (https://dalle.invalid); the key is not sent there"
}

@test "a malformed line among good ones gets an error record, exit 65" {
	rec=$(dalle-submit 'good')
	run --separate-stderr dalle-poll <<<"$(printf '%s\n' '{"oops' "$rec")"
	assert_equal "$status" 65
	[ "${#lines[@]}" -eq 2 ]
	[[ "$stderr" == *"dalle-poll: stdin:1: "* ]]
}

@test "a closed stdin is empty input, not a hang" {
	run --separate-stderr timeout 10 bash -c 'dalle-poll <&-'
	assert_success
	[ -z "$output" ]
}

@test "a bare id without an endpoint is an error record, and the rest goes on" {
	unset AZURE_OPENAI_ENDPOINT
	run --separate-stderr dalle-poll 0000-1111 '{"status":"succeeded","data":[],"k":1}'
	assert_equal "$status" 78
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r 'select(.error) | .error.kind' <<<"$output")" = config ]
}
