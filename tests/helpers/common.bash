# Shared by every tests/*.bats file: load bats-assert, put the freshly built
# programs first on PATH, clear the caller's service configuration, and start
# dalle-serve on a free loopback port.
# shellcheck shell=bash

_common_setup() {
	_load_library bats-support
	_load_library bats-assert
	ROOT=${BATS_TEST_DIRNAME%/*}
	# make valgrind: wrappers (tests/wrap) that run these under the tool.
	PATH="${DALLE_WRAP_DIR:+$DALLE_WRAP_DIR:}$ROOT:$PATH"
	export ROOT PATH
	# Nothing of the developer's own configuration may leak into a test.
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY AZURE_OPENAI_AD_TOKEN \
	    OPENAI_API_VERSION AZURE_OPENAI_DEPLOYMENT OPENAI_API_KEY \
	    OPENAI_BASE_URL OPENAI_ORG_ID OPENAI_PROJECT_ID \
	    AZURE_OAI_ENDPOINT AZURE_OAI_KEY AZURE_OAI_DEPLOYMENT \
	    XDG_RUNTIME_DIR
	cd "$BATS_TEST_TMPDIR" || return 1
}

# _load_library NAME: what bats_load_library NAME loads, without its
# fifteen dirname processes in every test (a third of a trivial test's
# CPU): the library's src/*.bash, which only define functions, sourced
# from the first directory of BATS_LIB_PATH that has it.
_load_library() {
	local d f
	local -a dirs
	IFS=: read -ra dirs <<<"${BATS_LIB_PATH:-/usr/lib/bats}"
	for d in "${dirs[@]}"; do
		[ -f "$d/$1/load.bash" ] || continue
		[ -d "$d/$1/src" ] || break
		for f in "$d/$1"/src/*.bash; do
			# shellcheck disable=SC1090
			source "$f" || return 1
		done
		return 0
	done
	bats_load_library "$1"
}

# poll_pause: the pause before the next look at a server's state, 50 ms,
# then 100, 150 and 250 ms from then on: each look is a few processes,
# which cost a loaded machine more than the wait.  A caller declares
# "local _pause=''" before its first look.
poll_pause() {
	sleep "${_pause:=0.05}"
	case $_pause in
	0.05) _pause=0.1 ;;
	0.1) _pause=0.15 ;;
	*) _pause=0.25 ;;
	esac
}

# serve_start [dalle-serve options...]: start a server for this test (or,
# from setup_file, for the file); sets SERVE_URL (ends in /), SERVE_PID and
# SERVE_DIR, whose serve.log is the request log.
serve_start() {
	SERVE_DIR=$(mktemp -d "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/serve.XXXXXX")
	"${DALLE_WRAP_DIR:-${ROOT:-$BATS_TEST_DIRNAME/..}}/dalle-serve" \
	    --listen 127.0.0.1:0 --log "$SERVE_DIR/serve.log" "$@" \
	    >"$SERVE_DIR/out" 2>"$SERVE_DIR/err" 3>&- &
	SERVE_PID=$!
	SERVE_URL=$(first_line "$SERVE_DIR/out" "$SERVE_PID")
	if [ -z "$SERVE_URL" ]; then
		echo "dalle-serve did not start:" >&2
		cat "$SERVE_DIR/err" >&2
		return 1
	fi
	export SERVE_URL SERVE_PID SERVE_DIR
}

serve_stop() {
	stop_pid "${SERVE_PID:-}"
	SERVE_PID=
}

# first_line FILE PID: the first line that PID writes to FILE (its URL),
# waited for up to 10 seconds while PID runs; empty if none came.
first_line() {
	local i line=
	for ((i = 0; i < 200; i++)); do
		# read, not $(head): no process in the 250 tests that start
		# one.  A whole line only (read fails on one not ended yet).
		IFS= read -r line <"$1" 2>/dev/null && [ -n "$line" ] && break
		line=
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "$line"
}

# stop_pid PID: end a server this shell started, and wait for it.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# From setup_file: one server for the whole file, which tests share.
serve_start_file() {
	ROOT=${BATS_TEST_DIRNAME%/*}
	export ROOT
	serve_start "$@" || return 1
	FILE_SERVE_PID=$SERVE_PID
	export FILE_SERVE_PID
}

# From teardown_file: stop the file's server.
serve_stop_file() {
	SERVE_PID=${FILE_SERVE_PID:-} serve_stop
}

# From teardown: the file's server survives the test; servers a test
# started for itself (serve_start with options of its own) do not.
stop_test_server() {
	if [ -n "${SERVE_PID:-}" ] && [ "$SERVE_PID" != "${FILE_SERVE_PID:-}" ]; then
		serve_stop
	fi
}

# The hooks most test files want: a file that needs others defines its own
# after "load helpers/common", which replaces these.
teardown_file() {
	serve_stop_file
}

teardown() {
	stop_test_server
}

# Point the pipeline at the running server: Azure endpoint and a key.
use_azure() {
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY=test-key
}

use_openai() {
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY=test-key
}

# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk, read with od alone.
png_size() {
	local w h
	[ "$(od -An -c -j1 -N3 "$1" | tr -d ' ')" = PNG ] || return 1
	w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
	h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
	echo "${w}x${h}"
}

# The programs, for the tests that hold usage, pages and completions
# together.
programs() {
	echo dalle-submit dalle-poll dalle-fetch dalle-serve dalle-gallery
}

# Long and short options as PROG -h prints them, one per line.
usage_longs() {
	"$1" -h | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}
usage_shorts() {
	"$1" -h | grep -oE '\[-[a-zA-Z]+[] ]' | tr -d '[] -' | fold -w1 |
	    sed 's/^/-/' | sort -u
}

# slow SECONDS: SECONDS times DALLE_TEST_SLOW (default 1), which make asan
# and make valgrind set: a server latency or a wait that must outlast a
# program's own work, which the tool makes that many times slower.
slow() {
	case ${DALLE_TEST_SLOW:-1} in
	1) echo "$1" ;;         # no process to start in a plain run
	*) awk -v s="$1" -v f="$DALLE_TEST_SLOW" 'BEGIN { print s * f }' ;;
	esac
}

# lean CMD...: CMD with what make asan's and make valgrind's tools hold of
# their own (freed blocks kept back to catch a use after free) turned off,
# for a test of a program's peak RSS.
lean() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
	    VALGRIND_OPTS="${VALGRIND_OPTS:+$VALGRIND_OPTS }--freelist-vol=0" \
	    "$@"
}

# rss_idle: the peak RSS (KiB) of "dalle-submit -h" as the tests run it
# (under make asan's or make valgrind's tool too): the start-up's share of
# a peak RSS, so that a limit holds for the work alone.
rss_idle() {
	lean /usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss-idle" \
	    dalle-submit -h >/dev/null 2>&1
	cat "$BATS_TEST_TMPDIR/rss-idle"
}

# under_tool: whether the programs run under make valgrind's wrappers or
# are make asan's build.
under_tool() {
	[ -n "${DALLE_WRAP_DIR:-}" ] || grep -q __asan_init "$ROOT/dalle-submit"
}

# rss_limit KIB: a bound on a program's peak RSS in KiB: KIB itself in a
# plain run, where the promise is checked as made; under make asan's or
# make valgrind's tool, which alone take 50 to 60 MB at start-up and
# shadow every byte, half as much again plus the tool's start-up
# (rss_idle), so that a program whose memory grows with its input still
# fails there too.
rss_limit() {
	if under_tool; then echo $(($1 * 3 / 2 + $(rss_idle))); else echo "$1"; fi
}
