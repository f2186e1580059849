#!/usr/bin/env bats
# dalle-submit: input forms, validation before spending a request, error
# records and exit statuses, retries, secrets kept out of every output.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file --api-key test-key --blocked-term forbidden
}

setup() {
	_common_setup
	use_azure
}

# How many requests dalle-serve has logged so far.
logged() {
	wc -l <"$SERVE_DIR/serve.log"
}

@test "-h prints usage on stdout and exits 0" {
	run --separate-stderr dalle-submit -h
	assert_success
	assert_output --partial 'usage: dalle-submit'
	[ -z "$stderr" ]
}

@test "a bad option prints usage on stderr and exits 64" {
	run --separate-stderr dalle-submit --no-such-option x
	assert_equal "$status" 64
	[ -z "$output" ]
	[[ "$stderr" == *"usage: dalle-submit"* ]]
}

@test "a missing endpoint is a configuration error (78) that names what to set" {
	unset AZURE_OPENAI_ENDPOINT
	run --separate-stderr dalle-submit 'x'
	assert_equal "$status" 78
	[[ "$stderr" == "dalle-submit: no endpoint: set AZURE_OPENAI_ENDPOINT"* ]]
}

@test "plain http to a non-loopback host is refused unless --allow-http" {
	AZURE_OPENAI_ENDPOINT=http://example.invalid/ run --separate-stderr dalle-submit --dry-run 'x'
	assert_equal "$status" 78
	[[ "$stderr" == *"plain http only to loopback"* ]]
	# A live endpoint: the dates apply, so a deployment whose name is no
	# model of the table (sent unchecked, whatever the date).
	AZURE_OPENAI_ENDPOINT=http://example.invalid/ run --separate-stderr dalle-submit --allow-http --dry-run --deployment my-images 'x'
	assert_success
}

@test "operands are prompts; each becomes one record" {
	run --separate-stderr dalle-submit 'one' 'two' 'three'
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .prompt | sort | tr '\n' ' ')" = "one three two " ]
}

@test "a JSON line's fields override the command line and the rest pass through" {
	run --separate-stderr bash -c "echo '{\"prompt\":\"p\",\"size\":\"256x256\",\"id\":42}' | dalle-submit --dry-run -s 512x512"
	assert_success
	[ "$(jq -r .request.body.size <<<"$output")" = 256x256 ]
	[ "$(jq -r .id <<<"$output")" = 42 ]
}

@test "--dry-run prints method, URL and body, never the key, and sends nothing" {
	before=$(logged)
	AZURE_OPENAI_API_KEY=sekrit-key-1234 run --separate-stderr dalle-submit --dry-run --deployment dalle3 --quality hd 'A cat'
	assert_success
	[ "$(jq -r .request.method <<<"$output")" = POST ]
	[ "$(jq -c .request.body <<<"$output")" = '{"quality":"hd","prompt":"A cat"}' ]
	[[ "$(jq -r '.request.headers[]' <<<"$output")" == *"api-key: [redacted]"* ]]
	[[ "$output$stderr" != *sekrit-key-1234* ]]
	[ "$(logged)" = "$before" ]
}

@test "the model's rules are checked before a request is spent: size, n, quality" {
	before=$(logged)
	run --separate-stderr dalle-submit --deployment dall-e-3 -s 640x480 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = invalid_request ]
	[ "$(jq -r .error.param <<<"$output")" = size ]
	[[ "$stderr" == "dalle-submit: argument:1: "* ]]
	run --separate-stderr dalle-submit --deployment dalle3 -n 2 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.param <<<"$output")" = n ]
	run --separate-stderr dalle-submit --deployment gpt-image-1 --quality hd 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.param <<<"$output")" = quality ]
	[ "$(logged)" = "$before" ]
}

@test "--no-validate lets the service judge: its 400 becomes an invalid_request record" {
	run --separate-stderr dalle-submit --no-validate --deployment dalle3 -n 2 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = invalid_request ]
	[ "$(jq -r .error.status <<<"$output")" = 400 ]
	[ "$(jq -r .error.param <<<"$output")" = n ]
}

@test "content filter: error kind content_filter, exit 2" {
	run --separate-stderr dalle-submit --deployment dalle3 'something forbidden here'
	assert_equal "$status" 2
	[ "$(jq -r .error.kind <<<"$output")" = content_filter ]
	[ "$(jq -r .error.code <<<"$output")" = content_policy_violation ]
	[ "$(jq -r .error.retryable <<<"$output")" = false ]
}

@test "a wrong key: error kind auth, exit 77, and the key appears nowhere" {
	AZURE_OPENAI_API_KEY=wrong-key-5678 run --separate-stderr dalle-submit -v 'x'
	assert_equal "$status" 77
	[ "$(jq -r .error.kind <<<"$output")" = auth ]
	[ "$(jq -r .error.status <<<"$output")" = 401 ]
	[[ "$stderr" == *"api-key: [redacted]"* ]]
	[[ "$output$stderr" != *wrong-key-5678* ]]
	! grep -q wrong-key-5678 "$SERVE_DIR/serve.log"
}

@test "an unknown deployment: error kind not_found, exit 78" {
	run --separate-stderr dalle-submit --deployment no-such-thing 'x'
	assert_equal "$status" 78
	[ "$(jq -r .error.kind <<<"$output")" = not_found ]
	[ "$(jq -r .error.code <<<"$output")" = DeploymentNotFound ]
}

@test "malformed lines among good ones: an error record each, the rest done, exit 65" {
	printf '%s\n' 'good one' '{"prompt": broken' '' '[1,2]' '{"no":"prompt"}' 'good two' >in.txt
	run --separate-stderr dalle-submit <in.txt
	assert_equal "$status" 65
	[ "${#lines[@]}" -eq 5 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -s '[.[] | select(.error.kind == "input") | .error.line] | sort')" = "$(jq -n '[2,5]')" ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -s '[.[] | select(.status == "notRunning")] | length')" = 3 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r 'select(.prompt == "[1,2]") | .status')" = notRunning ]
	[[ "$stderr" == *"dalle-submit: stdin:2: invalid JSON"* ]]
	[[ "$stderr" == *"dalle-submit: stdin:5: no \"prompt\""* ]]
}

@test "error records from upstream pass through untouched" {
	rec='{"error":{"stage":"x","kind":"input","message":"m"},"keep":1}'
	run --separate-stderr dalle-submit <<<"$rec"
	assert_success
	[ "$(jq -cS . <<<"$output")" = "$(jq -cS . <<<"$rec")" ]
}

@test "| head -1: the reader leaving is not an error worth a word" {
	run --separate-stderr bash -c 'yes "a prompt" | head -n 5000 | dalle-submit --dry-run | head -n 1 >/dev/null; echo "${PIPESTATUS[2]}"'
	assert_success
	[ "$output" = 74 ]
	[ -z "$stderr" ]
}

@test "the key comes from --api-key-file, never argv" {
	echo test-key >keyfile
	AZURE_OPENAI_API_KEY= run --separate-stderr dalle-submit --api-key-file keyfile 'from a file'
	assert_success
	# A key on the command line is refused, and not echoed.
	run --separate-stderr dalle-submit --api-key test-key-in-argv 'x'
	assert_equal "$status" 64
	[[ "$stderr" == *"not taken from the command line"* ]]
	[[ "$output$stderr" != *test-key-in-argv* ]]
}

@test "--token-command supplies an Entra ID token sent as Bearer" {
	serve_start --token tok-abc
	use_azure
	unset AZURE_OPENAI_API_KEY
	run --separate-stderr dalle-submit --token-command 'echo "{\"accessToken\":\"tok-abc\"}"' 'x'
	assert_success
	run --separate-stderr dalle-submit --token-command 'echo tok-wrong' 'x'
	assert_equal "$status" 77
	run --separate-stderr dalle-submit --token-command 'exit 3' 'x'
	assert_equal "$status" 78
}

@test "429 with retry-after: waits as told, then succeeds; attempts recorded" {
	serve_start --rpm 60 --rate-window 1
	use_azure
	run --separate-stderr dalle-submit -j 3 'a' 'b' 'c'
	assert_success
	[ "$(printf '%s\n' "${lines[@]}" | jq -s '[.[].request.attempts] | max > 1')" = true ]
	[[ "$stderr" == *"HTTP 429"*"rate limited, again in"* ]]
}

@test "500 until the retries run out: exit 69, a retryable server error" {
	serve_start --fail-rate 1
	use_azure
	run --separate-stderr dalle-submit --retries 1 'x'
	assert_equal "$status" 69
	[ "$(jq -r .error.kind <<<"$output")" = server ]
	[ "$(jq -r .error.retryable <<<"$output")" = true ]
	[ "$(jq -r .error.attempts <<<"$output")" = 2 ]
}

@test "a request that times out is retried, then reported as a timeout" {
	serve_start --latency 5
	use_azure
	run --separate-stderr dalle-submit --deployment dalle3 --retries 0 --request-timeout 1 'slow'
	assert_equal "$status" 69
	[ "$(jq -r .error.kind <<<"$output")" = network ]
	[[ "$(jq -r .error.message <<<"$output")" == *"timed out"* ]]
}

@test "SIGTERM while waiting: every record already finished is on stdout" {
	( printf '%s\n' 'first' 'second'; sleep "$(slow 5)" ) |
	    dalle-submit --deployment dalle3 >out.jsonl 2>err.txt &
	pid=$!
	for i in $(seq "$(slow 50)"); do
		[ "$(wc -l <out.jsonl)" -ge 2 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 143
	assert_equal "$(jq -r .prompt out.jsonl | sort | tr '\n' ' ')" "first second "
	assert_equal "$(jq -r '.data[0].url | startswith("http")' out.jsonl | sort -u)" true
}

@test "a 2xx answer that is no JSON object: a protocol error record, exit 76" {
	command -v node >/dev/null || skip "node is needed for a server that answers wrongly"
	# A server that answers every request with 200 and HTML, or a 202 with
	# no operation, or JSON without data, by the path it is asked.
	node -e '
	    const http = require("node:http");
	    const s = http.createServer((q, r) => {
	        q.resume();
	        q.on("end", () => {
	            if (q.url.includes("/html/"))
	                r.writeHead(200, {"content-type": "text/html"}).end("<html>oops</html>");
	            else if (q.url.includes("/async/"))
	                r.writeHead(202, {"content-type": "application/json"}).end("{\"status\":\"notRunning\"}");
	            else
	                r.writeHead(200, {"content-type": "application/json"}).end("{\"created\":1}");
	        });
	    });
	    s.listen(0, "127.0.0.1", () => console.log(s.address().port));
	' >port 2>/dev/null 3>&- &
	local pid=$! port= i d
	for ((i = 0; i < 100; i++)); do
		port=$(head -n 1 port)
		[ -n "$port" ] && break
		sleep 0.05
	done
	export AZURE_OPENAI_ENDPOINT="http://127.0.0.1:$port/" AZURE_OPENAI_API_KEY=k
	for d in html async nodata; do
		run --separate-stderr dalle-submit --retries 0 --deployment "$d" '{"mine":1}'
		assert_equal "$status" 76
		assert_equal "$(jq -r .error.kind <<<"$output")" protocol
		assert_equal "$(jq -r .prompt <<<"$output")" '{"mine":1}'
	done
	kill "$pid"
}
