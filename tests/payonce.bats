#!/usr/bin/env bats
# Pay once (issue 13, leftovers): what a signal finds sent is let finish
# and journaled; two processes sharing a journal send one request once;
# -t ends every stage with records and a summary; unknown statuses end.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/wait

setup() {
	_common_setup
}

# stat_of FILTER: jq FILTER on dalle-serve's counters.
stat_of() {
	curl -s "${SERVE_URL}_serve/stats" | jq -r "$1"
}

# same N [options]: dalle-submit of 'the same prompt' with journal J in
# the background, its records in oN, stderr in eN, its pid in $pid.
same() {
	local n=$1
	shift
	dalle-submit --deployment gpt-image-2 --journal J "$@" 'the same prompt' \
	    >"o$n" 2>"e$n" 3>&- &
	pid=$!
}

@test "a signal lets the 4 paid requests in flight finish; the re-run pays for 20 images in all" {
	serve_start --latency "$(slow 2)"
	use_azure
	seq 1 20 | sed 's/^/prompt /' >prompts
	dalle-submit --deployment gpt-image-2 -j 4 --journal J <prompts >out 2>err 3>&- &
	pid=$!
	term_at 3 "$pid"
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

@test "two processes sharing a journal, the same prompt at the same time: one generation, two records" {
	serve_start --latency "$(slow 2)"
	use_azure
	same 1
	a=$pid
	same 2
	b=$pid
	sa=0
	wait "$a" || sa=$?
	sb=0
	wait "$b" || sb=$?
	assert_equal "$sa" 0
	assert_equal "$sb" 0
	assert_equal "$(stat_of .generations)" 1
	assert_equal "$(cat o1 o2 | jq -s 'map(select(.data[0] and (.error == null))) | length')" 2
	assert_equal "$(cat o1 o2 | jq -s 'map(select(.resumed)) | length')" 1
}

@test "the process sending a shared request dies: the one waiting for it sends it itself" {
	# The first request must outlast the second process's start and
	# its look at the journal: under a tool on a loaded machine that
	# is many times a plain run's.
	if under_tool; then
		serve_start --latency "$(slow 6)"
	else
		serve_start --latency 2
	fi
	use_azure
	same 1
	a=$pid
	wait_for in_flight 1
	same 2
	b=$pid
	wait_for grep -q 'waiting for its answer' e2
	# It waits: one request at the server (and the one asking).
	assert_equal "$(stat_of .in_flight.requests)" 2
	kill -KILL "$a"
	sb=0
	wait "$b" || sb=$?
	assert_equal "$sb" 0
	assert_equal "$(jq -s 'map(select(.data[0] and (.error == null) and (.resumed | not))) | length' o2)" 1
	assert_equal "$(grep -c '"route":"azure_generate"' "$SERVE_DIR/serve.log")" 2
}

@test "a background response whose status nobody documents: a protocol record after one poll, not a wait" {
	serve_start --hostile unknown-status:response
	use_openai
	dalle-submit --api responses --quality low 'A boat' >ops
	run --separate-stderr dalle-poll -t 5 <ops
	assert_equal "$status" 76
	assert_equal "$(jq -r .error.kind <<<"$output")" protocol
	assert_equal "$(jq -r .error.message <<<"$output")" 'the response'"'"'s status "pendingReview" is not one the service documents'
	assert_equal "$(jq -r .operation.id <<<"$output")" "$(jq -r .operation.id ops)"
	assert_equal "$(grep -c '"fault":"unknown-status"' "$SERVE_DIR/serve.log")" 1
}

@test "a batch whose status nobody documents: a protocol record for each of its lines, not a wait" {
	serve_start --hostile unknown-status:batch
	use_openai
	printf 'a fox\na owl\n' | dalle-submit --batch -m gpt-image-2 >ops
	run --separate-stderr dalle-poll -t 5 --interval 1 <ops
	assert_equal "$status" 76
	assert_equal "$(jq -r .error.kind <<<"$output" | sort | uniq -c | tr -s ' ')" ' 2 protocol'
	assert_equal "$(jq -r .error.message <<<"$output" | sort -u)" 'the batch'"'"'s status "pendingReview" is not one the service documents'
	assert_equal "$(grep -c '"fault":"unknown-status"' "$SERVE_DIR/serve.log")" 1
}

@test "dalle-poll -t: timeout records and one summary line that says how to resume" {
	serve_start --hostile never-ends
	use_azure
	dalle-submit -s 256x256 one two >ops
	run --separate-stderr dalle-poll -t 1 <ops
	assert_equal "$status" 75
	assert_equal "$(jq -r .error.kind <<<"$output" | sort | uniq -c | tr -s ' ')" ' 2 timeout'
	assert_equal "$stderr" "dalle-poll: the timeout came: 0 done, 0 failed, 2 unfinished; to resume, give the unfinished records (error kind \"timeout\") back to dalle-poll: jq -c 'select(.error.kind == \"timeout\") | del(.error)'"
	# What it says to do resumes each operation where it was.
	run --separate-stderr dalle-poll -t 1 < <(jq -c 'select(.error.kind == "timeout") | del(.error)' <<<"$output")
	assert_equal "$(jq -r .operation.id <<<"$output" | sort)" "$(jq -r .operation.id ops | sort)"
}

@test "dalle-submit: a request another process is still sending ends as timeout, with the summary" {
	serve_start --latency "$(slow 4)"
	use_azure
	same 1
	a=$pid
	wait_for in_flight 1
	run --separate-stderr dalle-submit --deployment gpt-image-2 --journal J --request-timeout 1 'the same prompt'
	wait "$a"
	assert_equal "$status" 75
	assert_equal "$(jq -r .error.kind <<<"$output")" timeout
	assert_equal "$(jq -r .prompt <<<"$output")" 'the same prompt'
	[[ "$stderr" == *"dalle-submit: the timeout came: 0 done, 0 failed, 1 unfinished; to resume"* ]]
	assert_equal "$(stat_of .generations)" 1
}
