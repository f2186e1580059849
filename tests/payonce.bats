#!/usr/bin/env bats
# Pay once (issue 13, leftovers): what a signal finds sent is let finish
# and journaled; two processes sharing a journal send one request once;
# -t ends every stage with records and a summary; unknown statuses end.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# wait_for CMD...: until CMD succeeds, for at most 20 s (a safety net).
wait_for() {
	local i
	for ((i = 0; i < 400; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# stat_of FILTER: jq FILTER on dalle-serve's counters.
stat_of() {
	curl -s "${SERVE_URL}_serve/stats" | jq -r "$1"
}

# in_flight N: dalle-serve holds at least N requests, besides the asking.
in_flight() {
	[ "$(stat_of .in_flight.requests)" -gt "$1" ]
}

@test "a signal lets the 4 paid requests in flight finish; the re-run pays for 20 images in all" {
	serve_start --latency 2
	use_azure
	seq 1 20 | sed 's/^/prompt /' >prompts
	dalle-submit --deployment gpt-image-2 -j 4 --journal J <prompts >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 3
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 143
	grep -q 'finishing the 4 requests already sent' err
	grep -q 'interrupted by SIGTERM: 4 done, 0 failed, 16 unfinished' err
	assert_equal "$(wc -l <out)" 20
	assert_equal "$(jq -s 'map(select(.data[0] and (.error == null))) | length' out)" 4
	assert_equal "$(jq -s 'map(select(.error.kind == "interrupted" and .error.sent == false)) | length' out)" 16
	assert_equal "$(stat_of .generations)" 4
	# The same input again, with the same journal.
	run --separate-stderr dalle-submit --deployment gpt-image-2 -j 16 --journal J <prompts
	assert_success
	assert_equal "$(jq -s 'map(select(.data[0] and (.error == null))) | length' <<<"$output")" 20
	assert_equal "$(jq -s 'map(select(.resumed)) | length' <<<"$output")" 4
	assert_equal "$(stat_of .generations)" 20
}
