#!/usr/bin/env bats
# dalle-serve: options, start and shutdown, auth, filtering, log and stats.
# Its routes: serve-async.bats, serve-routes.bats, serve-images.bats.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

FIX="$BATS_TEST_DIRNAME/fixtures/serve"
ASYNC="openai/images/generations:submit?api-version=2023-06-01-preview"
DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-15-preview"

setup_file() {
	serve_start_file --blocked-term forbiddenfruit
}

setup() {
	_common_setup
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
	# The URL read before the background curl: in it, $(jqb) would race
	# await's calls, which write the body file it reads.
	url=$(jqb '.data[0].url')
	curl -s -o /dev/null "$url" &
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
