# Waiting on what dalle-serve reports rather than on the clock.
# shellcheck shell=bash

# wait_for CMD...: until CMD succeeds, for at most 10 s (a safety net),
# times DALLE_TEST_SLOW under make asan's or make valgrind's tool.
wait_for() {
	local i
	for ((i = 0; i < 200 * ${DALLE_TEST_SLOW:-1}; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# in_flight N: dalle-serve holds at least N requests (latency, slow
# images), besides the one asking.
in_flight() {
	[ "$(curl -s "${SERVE_URL}_serve/stats" |
	    jq '.in_flight.requests')" -gt "$1" ]
}

# term_at N PID: once dalle-serve holds more than N requests, SIGTERM to
# PID and wait for it; its exit status in $status.
# shellcheck disable=SC2034
term_at() {
	wait_for in_flight "$1"
	kill -TERM "$2"
	status=0
	wait "$2" || status=$?
}
