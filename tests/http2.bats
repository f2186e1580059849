#!/usr/bin/env bats
# The pipeline through an HTTP/2-only TLS proxy (tests/h2-proxy.mjs) in
# front of dalle-serve: each stage multiplexes its requests over one
# connection, --cacert is what makes a private certificate trusted, and a
# bad --cacert stops a program at start.  The proxy's tests are skipped
# without node or openssl.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	H2_SKIP=
	if ! command -v node >/dev/null || ! command -v openssl >/dev/null; then
		H2_SKIP="node and openssl are needed for an HTTP/2 TLS server"
	else
		# A throwaway certificate for 127.0.0.1, and another one that
		# the server does not use.
		for c in cert other; do
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			    -nodes -days 2 -subj /CN=127.0.0.1 \
			    -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
			    -keyout "$BATS_FILE_TMPDIR/$c.key" \
			    -out "$BATS_FILE_TMPDIR/$c.pem" 2>"$BATS_FILE_TMPDIR/openssl.log" ||
			    H2_SKIP="openssl could not make a certificate: $(tail -n 1 "$BATS_FILE_TMPDIR/openssl.log")"
		done
	fi
	CERT=$BATS_FILE_TMPDIR/cert.pem
	export H2_SKIP CERT
}

# A proxy that a failed teardown left behind still goes with the file
# (and exits by itself after 10 minutes).  Only pids still running
# h2-proxy.mjs: the others may be anyone's by now.
teardown_file() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/h2.pids" ] || return 0
	while read -r pid; do
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
		    grep -q "h2-proxy.mjs $BATS_FILE_TMPDIR/"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done <"$BATS_FILE_TMPDIR/h2.pids"
}

setup() {
	_common_setup
	# Nothing between the clients and 127.0.0.1.
	unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY
}

teardown() {
	# On failure, what the proxy saw and how dalle-serve fared.
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${H2_PID:-}" ]; then
		kill -0 "${SERVE_PID:-0}" 2>/dev/null ||
		    echo "dalle-serve is no longer running" >&2
		h2_stop
		cat "$H2_DIR/stats.json" "$H2_DIR/err" "$SERVE_DIR/err" >&2
	fi
	h2_stop
	stop_test_server
}

# h2_start [dalle-serve options...]: the proxy, then a dalle-serve behind it
# that hands out URLs on the proxy; sets H2_URL (ends in /) and H2_DIR.
h2_start() {
	[ -z "$H2_SKIP" ] || skip "$H2_SKIP"
	H2_DIR=$(mktemp -d "$BATS_TEST_TMPDIR/h2.XXXXXX")
	: >"$H2_DIR/upstream"
	node "$BATS_TEST_DIRNAME/h2-proxy.mjs" "$BATS_FILE_TMPDIR/cert.key" \
	    "$CERT" "$H2_DIR/upstream" "$H2_DIR/stats.json" \
	    >"$H2_DIR/out" 2>"$H2_DIR/err" 3>&- &
	H2_PID=$!
	echo "$H2_PID" >>"$BATS_FILE_TMPDIR/h2.pids"
	H2_URL=$(first_line "$H2_DIR/out" "$H2_PID")
	[ -n "$H2_URL" ] || fail "h2-proxy did not start: $(cat "$H2_DIR/err")"
	serve_start --api-key test-key --public-url "$H2_URL" "$@"
	echo "$SERVE_URL" >"$H2_DIR/upstream.tmp"
	mv "$H2_DIR/upstream.tmp" "$H2_DIR/upstream"
	export AZURE_OPENAI_ENDPOINT=$H2_URL AZURE_OPENAI_API_KEY=test-key
}

# Stop the proxy, which writes its stats.json as it goes.
h2_stop() {
	stop_pid "${H2_PID:-}"
	H2_PID=
}

# h2_stat FILTER: jq FILTER over what the stopped proxy saw.
h2_stat() {
	[ -s "$H2_DIR/stats.json" ] || fail "no stats from h2-proxy: $(cat "$H2_DIR/err")"
	jq -r "$1" "$H2_DIR/stats.json"
}

# run_pipeline [dalle-submit options...]: 16 prompts through all three
# stages, 8 transfers in flight in each, trusting the proxy's certificate.
run_pipeline() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	run --separate-stderr bash -c 'set -o pipefail
	    seq 16 | sed "s/^/A paper kite, take /" |
	    dalle-submit -j 8 --cacert "$CERT" "$@" |
	    dalle-poll -j 8 --cacert "$CERT" |
	    dalle-fetch -j 8 --cacert "$CERT" -d out' pipeline "$@"
}

# assert_images API: 16 records of API without error, 16 PNG files, every
# image fetched through the proxy.
assert_images() {
	local p
	assert_success
	[ "${#lines[@]}" -eq 16 ] || fail "${#lines[@]} records, not 16"
	assert_equal "$(jq -s '[.[] | select(has("error"))] | length' <<<"$output")" 0
	assert_equal "$(jq -r .request.api <<<"$output" | sort -u)" "$1"
	assert_equal "$(jq -r '.data[].url' <<<"$output" |
	    grep -cF "$H2_URL")" 16
	assert_equal "$(find out -name '*.png' | wc -l)" 16
	for p in $(jq -r '.files[].path' <<<"$output"); do
		[ "$(png_size "$p")" = 1024x1024 ] || fail "$p is not a PNG"
	done
}

# assert_multiplexed MIN-STREAMS: at most one session for each of the three
# stages, at least MIN-STREAMS streams (each one logged by dalle-serve), and
# more than one stream at a time on some session.
assert_multiplexed() {
	h2_stop
	echo "# h2-proxy saw: $(cat "$H2_DIR/stats.json")" >&3
	[ "$(h2_stat .sessions)" -ge 1 ]
	[ "$(h2_stat .sessions)" -le 3 ] ||
	    fail "$(h2_stat .sessions) sessions: not one per stage"
	[ "$(h2_stat .streams)" -ge "$1" ] || fail "$(h2_stat .streams) streams"
	# dalle-serve logs a request after answering it: give the last a moment.
	for i in $(seq 20); do
		[ "$(wc -l <"$SERVE_DIR/serve.log")" -ge "$(h2_stat .streams)" ] && break
		sleep 0.05
	done
	assert_equal "$(wc -l <"$SERVE_DIR/serve.log")" "$(h2_stat .streams)"
	assert_equal "$(h2_stat '.alpn | keys | join(" ")')" h2
	assert_equal "$(h2_stat .upstream_errors)" 0
	[ "$(h2_stat '[.per_session[].peak] | max')" -gt 1 ] ||
	    fail "never more than one stream at a time: no multiplexing"
}

@test "http2: azure-async, 16 prompts multiplexed, one connection a stage" {
	h2_start --latency 0.3
	run_pipeline
	assert_images azure-async
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" succeeded
	# 16 submissions, at least 16 polls, 16 downloads.
	assert_multiplexed 48
}

@test "http2: synchronous deployment, 16 prompts multiplexed" {
	h2_start --latency 0.3
	run_pipeline --deployment dalle3
	assert_images azure
	# 16 generations and 16 downloads; dalle-poll has nothing to ask.
	assert_multiplexed 32
}

@test "http2: without --cacert the self-signed certificate is refused" {
	h2_start
	run -69 --separate-stderr dalle-submit --retries 0 'A paper kite'
	assert_equal "$(jq -r .error.kind <<<"$output")" network
	assert_equal "$(jq -r .error.retryable <<<"$output")" false
	assert_regex "$(jq -r .error.message <<<"$output")" 'certificate'
	assert_regex "$stderr" '^dalle-submit: argument:1: .*certificate'
	run -69 --separate-stderr dalle-fetch --retries 0 -d out \
	    "${H2_URL}private/images/none.png"
	assert_equal "$(jq -r .error.kind <<<"$output")" network
	h2_stop
	assert_equal "$(h2_stat .streams)" 0
	# The proxy may stop before it has noted the second refusal.
	[ "$(h2_stat .tls_errors)" -ge 1 ]
}

@test "http2: --cacert with another authority is refused too" {
	h2_start
	run -69 --separate-stderr dalle-submit --retries 0 \
	    --cacert "$BATS_FILE_TMPDIR/other.pem" 'A paper kite'
	assert_equal "$(jq -r .error.kind <<<"$output")" network
	assert_regex "$(jq -r .error.message <<<"$output")" 'certificate'
	h2_stop
	assert_equal "$(h2_stat .streams)" 0
}

@test "--cacert: a missing or certificate-less file stops every client with 78" {
	local p
	export AZURE_OPENAI_ENDPOINT=https://127.0.0.1:9/ AZURE_OPENAI_API_KEY=k
	echo 'not a certificate' >notpem
	for p in dalle-submit dalle-poll dalle-fetch; do
		run -78 --separate-stderr "$p" --cacert /nonexistent x </dev/null
		assert_output ''
		assert_equal "$stderr" \
		    "$p: --cacert: /nonexistent: No such file or directory"
		run -78 --separate-stderr "$p" --cacert notpem x </dev/null
		assert_output ''
		assert_equal "$stderr" \
		    "$p: --cacert: notpem: no PEM certificate in it"
	done
}
