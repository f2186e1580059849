#!/usr/bin/env bats
# dalle-serve: quotas, latency and injected faults.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

ASYNC="openai/images/generations:submit?api-version=2023-06-01-preview"
DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-01"

setup() {
	_common_setup
}

@test "--rpm over a 1 s window: 429 with Retry-After, retry-after-ms and the Azure body" {
	serve_start --rpm 120
	# The three requests from one curl, one after another on one
	# connection: no process start-up on a loaded machine comes between
	# them to push the third out of the first one's window.
	for i in 1 2 3; do
		printf 'next\nurl = "%s"\nrequest = POST\nheader = "api-key: k"\nheader = "Content-Type: application/json"\ndata = "{\\"prompt\\":\\"x\\"}"\noutput = "body%d"\ndump-header = "h%d"\nwrite-out = "%%{http_code}\\n"\n' \
		    "$SERVE_URL$DALLE3" "$i" "$i"
	done | sed 1d >curl.conf
	curl -s -K curl.conf >codes
	assert_equal "$(tr '\n' ' ' <codes)" '200 200 429 '
	HDRS=h1
	assert_equal "$(hdr x-ratelimit-remaining-requests)" 1
	HDRS=h2
	assert_equal "$(hdr x-ratelimit-remaining-requests)" 0
	HDRS=h3
	cp body3 "$BATS_TEST_TMPDIR/body"
	assert_equal "$(hdr Retry-After)" 1
	ms=$(hdr retry-after-ms)
	[ "$ms" -ge 1 ]
	[ "$ms" -le 1000 ]
	assert_equal "$(jqb .error.code)" 429
	assert_regex "$(jqb .error.message)" '^Requests to the ImageGenerations_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded .* Please retry after 1 second\.'
	# Waiting as told is enough.
	sleep "$(awk -v m="$ms" 'BEGIN { print m / 1000 + 0.02 }')"
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb '.rate_limited')" 1
	assert_equal "$(jqb '.status["429"]')" 1
}

@test "--rpm counts async submits, not polls" {
	# Two a 10 s window: room for seven curl starts on a busy machine.
	serve_start --rpm 12 --rate-window 10
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 202
	loc=$(hdr operation-location)
	for _ in 1 2 3 4; do
		call GET "$loc" -H 'api-key: k'
		assert_equal "$CODE" 200
	done
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 202
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 429
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb '.rate_limited')" 1
	assert_equal "$(jqb '.polls')" 4
}

@test "--rpm with --rate-window 10: the window holds rpm/6 requests" {
	serve_start --rpm 6 --rate-window 10
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 429
	# Most of the 10 s window is left, however slowly curl started.
	s=$(hdr Retry-After)
	[ "$s" -ge 5 ]
	[ "$s" -le 10 ]
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'Authorization: Bearer k'
	assert_equal "$CODE" 429
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '["rate_limit_exceeded",null,"requests"]'
}

@test "--concurrency counts running operations and sync generations in progress" {
	# An operation runs 6 s: the second submit comes well within it,
	# and so does the second sync request below within the first's.
	serve_start --concurrency 1 --latency 6
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 202
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 429
	[ "$(hdr Retry-After)" -ge 1 ]
	ms=$(hdr retry-after-ms)
	[ "$ms" -ge 1 ]
	[ "$ms" -le 6000 ]
	assert_regex "$(jqb .error.message)" 'concurrent request limit'
	# Until the operation has ended, as the server counts.
	await "${SERVE_URL}_serve/stats" .in_flight.async_operations -eq 0
	assert_equal "$(jqb .in_flight.async_operations)" 0
	# Two sync requests at once: one waits out its latency, one is refused.
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'api-key: k' \
	    -d '{"prompt":"x"}' "$SERVE_URL$DALLE3" >a &
	bg=$!
	# Once the server holds it (not after a sleep a loaded machine outruns).
	await "${SERVE_URL}_serve/stats" .in_flight.sync_generations -eq 1
	assert_equal "$(jqb .in_flight.sync_generations)" 1
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 429
	# Only the curl: a bare wait would wait for the server too.
	wait "$bg"
	assert_equal "$(cat a)" 200
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb .concurrency_limited)" 2
}

@test "--fail-rate 1: 500 or 503 with an error body on every route, counted" {
	serve_start --fail-rate 1
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	assert_regex "$CODE" '^50[03]$'
	assert_regex "$(jqb .error.code)" '^(InternalServerError|ServiceUnavailable)$'
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'Authorization: Bearer k'
	assert_regex "$CODE" '^50[03]$'
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '[null,null,"server_error"]'
	post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
	assert_regex "$CODE" '^50[03]$'
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$CODE" 200
	assert_equal "$(jqb .faults.fail)" 3
}

@test "--drop-rate 1 closes the connection without an answer" {
	serve_start --drop-rate 1
	run curl -s -X POST -H 'api-key: k' -d '{"prompt":"x"}' "$SERVE_URL$DALLE3"
	assert_failure 52
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb .faults.drop)" 1
	assert_equal "$(grep -c '"fault":"drop"' "$SERVE_DIR/serve.log")" 1
}

@test "--truncate-rate 1 sends half an image under a full Content-Length" {
	serve_start --truncate-rate 1
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	run curl -s -o part.png -D h "$url"
	assert_failure 18
	len=$(awk 'tolower($1) == "content-length:" { print $2 + 0 }' h)
	got=$(wc -c <part.png)
	[ "$got" -lt "$len" ]
	assert_equal "$(magic part.png 4)" 89504e47
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb .faults.truncate)" 1
}

@test "--slow-images paces the image body" {
	serve_start --slow-images 40000 --image-scale 2
	post_json "$SERVE_URL$DALLE3" '{"prompt":"slow"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	t=$(curl -s -o slow.png -w '%{time_total}' "$url")
	size=$(wc -c <slow.png)
	[ "$size" -gt 8000 ]
	# At 40000 B/s the body needs at least size/40000 s, minus one chunk.
	awk -v t="$t" -v s="$size" 'BEGIN { exit !(t >= (s - 2000) / 40000 - 0.05) }'
	assert_equal "$(png_size slow.png)" 512x512
}

@test "--latency suspends connections: 200 waiting requests on one thread wait together" {
	# 3 s: room for one curl to open 200 connections on a busy machine
	# before the first is due.
	serve_start --latency 3 --threads 1
	# One client that opens 200 connections at once (curl -Z): no process
	# start-up on a loaded machine comes between them.
	for i in $(seq 200); do
		printf 'next\nurl = "%s"\nrequest = POST\nheader = "api-key: k"\ndata = "{\\"prompt\\":\\"p%d\\"}"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\n' \
		    "$SERVE_URL$DALLE3" "$i"
	done | sed 1d >curl.conf
	curl -s -Z --parallel-immediate --parallel-max 200 -K curl.conf >codes
	assert_equal "$(grep -c '^200$' codes)" 200
	# The only thread was free while they waited: all 200 were suspended
	# at once, each for the whole latency, as the server says.
	call GET "${SERVE_URL}_serve/stats"
	assert_equal "$(jqb .in_flight.suspended_peak)" 200
	assert_equal "$(jqb .in_flight.suspended)" 0
	assert_equal "$(jq -s '[.[] | select(.route == "azure_generate")] | length' "$SERVE_DIR/serve.log")" 200
	assert_equal "$(jq -s '[.[] | select(.route == "azure_generate" and .ms < 3000)] | length' "$SERVE_DIR/serve.log")" 0
}

@test "--jitter varies the latency within its bounds" {
	serve_start --latency 0.4 --jitter 0.3 --seed 1
	for _ in 1 2 3 4 5 6; do
		curl -s -o /dev/null -X POST -H 'api-key: k' \
		    -d '{"prompt":"x"}' "$SERVE_URL$DALLE3"
	done
	# The latencies as the server measured them: drawn from 0.1 to 0.7 s
	# (never answered sooner), not all one.  A busy machine may answer
	# later than drawn: 1.5 s of slack above.
	jq -r 'select(.route == "azure_generate") | .ms' "$SERVE_DIR/serve.log" >ms
	echo "# $(tr '\n' ' ' <ms)" >&3
	assert_equal "$(wc -l <ms)" 6
	run awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 }
	    END { exit !(lo >= 100 && hi <= 700 + 1500 && hi - lo > 50) }' ms
	assert_success
}

@test "--seed makes faults and ids reproducible" {
	seq_of() {
		serve_start --seed 42 --fail-rate 0.5
		for _ in $(seq 12); do
			post_json "$SERVE_URL$ASYNC" '{"prompt":"x"}' -H 'api-key: k'
			printf '%s:%s ' "$CODE" "$(jq -r '.id // empty' "$BATS_TEST_TMPDIR/body")"
		done
		serve_stop
	}
	a=$(seq_of)
	b=$(seq_of)
	assert_equal "$a" "$b"
	assert_regex "$a" '202:'
	assert_regex "$a" '50[03]:'
}
