#!/usr/bin/env bats
# Every input accounted for (issue 13): signals acted on whatever the loop
# is doing, a record for every record read and not finished, operands that
# name files, limits on input lines, and records that used to vanish.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/wait

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
}

# logged: the requests dalle-serve has logged so far.
logged() {
	wc -l <"$SERVE_DIR/serve.log"
}

# read_all PID FILE: PID has read its stdin, FILE, to its end.
read_all() {
	[ "$(awk '$1 == "pos:" { print $2 }' "/proc/$1/fdinfo/0")" = \
	    "$(stat -c %s "$2")" ]
}

# read_wait PID FILE: wait until PID has read its stdin, FILE, to its end.
read_wait() {
	for _ in $(seq "$(slow 200)"); do
		read_all "$1" "$2" && return 0
		sleep 0.05
	done
	read_all "$1" "$2"
}

# gone PID: the process has ended (waited for at most 10 s).
gone() {
	timeout 10 tail --pid="$1" -f /dev/null
	! kill -0 "$1" 2>/dev/null
}

@test "SIGTERM with requests in flight and lines read: one record per line, exit 143" {
	serve_start --latency 60
	use_azure
	mkfifo in
	# 30 lines, then the writer holds the pipe open: no EOF.
	{ seq 1 30 | sed 's/^/prompt /'; exec sleep 30; } >in 3>&- &
	writer=$!
	dalle-submit --deployment gpt-image-2 -j 2 <in >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 2
	kill -TERM "$pid"
	# The first lets the 2 sent finish (payonce.bats); a second stops them.
	wait_for grep -q 'a second signal' err
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	kill "$writer" 2>/dev/null || true
	assert_equal "$status" 143
	assert_equal "$(wc -l <out)" 30
	assert_equal "$(jq -s 'map(select(.error.kind == "interrupted")) | length' out)" 30
	assert_equal "$(jq -s 'map(select(.error.sent)) | length' out)" 2
	assert_equal "$(jq -r .prompt out | sort -V | head -1)" "prompt 1"
	grep -q 'interrupted by SIGTERM: 0 done, 0 failed, 30 unfinished' err
	# What it gives back resumes as it is.
	run dalle-submit --dry-run --deployment gpt-image-2 < <(jq -c 'select(.error.kind == "interrupted") | del(.error)' out)
	assert_success
	assert_equal "$(grep -c '"request"' <<<"$output")" 30
}

@test "SIGTERM while input keeps arriving: it ends at once, every line read accounted for" {
	serve_start --latency 60
	use_azure
	{ while :; do echo "prompt $RANDOM"; sleep 0.005; done; } |
	    dalle-submit --deployment gpt-image-2 -j 2 >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 2
	kill -TERM "$pid"
	wait_for grep -q 'a second signal' err
	kill -TERM "$pid"
	gone "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 143
	n=$(sed -n 's/.*: \([0-9]*\) done, \([0-9]*\) failed, \([0-9]*\) unfinished.*/\1 \2 \3/p' err)
	[ -n "$n" ]
	assert [ "$(wc -l <out)" -ge 2 ]
	assert_equal "$(wc -l <out)" "$(awk '{print $1 + $2 + $3}' <<<"$n")"
	assert_equal "$(jq -s 'map(select(.error.kind != "interrupted")) | length' out)" 0
}

@test "SIGTERM while stdout is blocked: the write gives way and it exits 143" {
	serve_start
	use_azure
	mkfifo o
	# A reader that never reads: the pipe fills, then every write blocks.
	{ exec 3<o; exec sleep 30; } &
	reader=$!
	yes 'a prompt' | dalle-submit --dry-run --deployment gpt-image-2 >o 2>err 3>&- &
	pid=$!
	# Blocked in a write to the full pipe (the kernel says where).
	for _ in $(seq "$(slow 200)"); do
		[[ "$(cat "/proc/$pid/wchan" 2>/dev/null)" == *pipe_write ]] && break
		sleep 0.05
	done
	[[ "$(cat "/proc/$pid/wchan")" == *pipe_write ]]
	kill -TERM "$pid"
	gone "$pid" || { kill -KILL "$pid"; false; }
	status=0
	wait "$pid" || status=$?
	kill "$reader" 2>/dev/null || true
	assert_equal "$status" 143
	grep -q 'interrupted by SIGTERM' err
}

@test "dalle-poll on SIGHUP: each operation it waits for comes back resumable" {
	serve_start --latency 60
	use_azure
	dalle-submit -s 256x256 'one' 'two' 'three' >ops
	dalle-poll <ops >out 2>err 3>&- &
	pid=$!
	# It has read its input (so its handlers are in place) and waits
	# for the first look the records ask for, a minute from their
	# submission: not polled yet, every operation unfinished.
	read_wait "$pid" ops
	kill -HUP "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 129
	assert_equal "$(jq -s 'map(select(.error.kind == "interrupted" and .operation.url)) | length' out)" 3
	assert_equal "$(jq -r .error.signal out | sort -u)" SIGHUP
	assert_equal "$(grep -c '"operation_get"' "$SERVE_DIR/serve.log")" 0
}

@test "dalle-fetch on SIGTERM: slow downloads stopped, no temporary file left, records out" {
	serve_start --slow-images 100
	use_azure
	dalle-submit -s 256x256 'a' 'b' | dalle-poll >recs
	mkdir d
	dalle-fetch -d d <recs >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 2
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 143
	assert_equal "$(wc -l <out)" 2
	assert_equal "$(find d -name '.dalle-fetch.*' | wc -l)" 0
	assert_equal "$(jq -s 'map(select(.error.kind == "interrupted")) | length' out)" 2
	grep -q 'interrupted by SIGTERM: 0 done, 0 failed, 2 unfinished' err
}

# interrupted_by SIG N: the program $pid, sent SIG, ends as SIG ends it,
# with N records in out, each of kind interrupted naming SIG, and the
# summary line in err.
interrupted_by() {
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" "$((128 + $(kill -l "$1")))"
	assert_equal "$(wc -l <out)" "$2"
	assert_equal "$(jq -s --arg s "SIG$1" 'map(select(.error.kind == "interrupted" and .error.signal == $s)) | length' out)" "$2"
	grep -q "interrupted by SIG$1: 0 done, 0 failed, $2 unfinished" err
}

@test "SIGINT (Ctrl-C) to each of the three: exit 130, a record of kind interrupted for each unfinished, the summary" {
	# A job in the background ignores SIGINT (POSIX), and the programs
	# keep a signal they find ignored: env gives it back, as a terminal
	# would have it.
	serve_start --latency 60
	use_azure
	printf 'prompt %s\n' 1 2 3 >in
	env --default-signal=INT dalle-submit --deployment gpt-image-2 -j 2 <in >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 2
	kill -INT "$pid"
	# The first lets the 2 sent finish (payonce.bats); a second stops them.
	wait_for grep -q 'a second signal' err
	kill -INT "$pid"
	interrupted_by INT 3
	assert_equal "$(jq -s 'map(select(.error.sent)) | length' out)" 2
	# dalle-poll, its operations a minute off (see the SIGHUP test).
	dalle-submit -s 256x256 'one' 'two' 'three' >ops
	env --default-signal=INT dalle-poll <ops >out 2>err 3>&- &
	pid=$!
	read_wait "$pid" ops
	kill -INT "$pid"
	interrupted_by INT 3
	# dalle-fetch, its downloads slow.
	serve_stop
	serve_start --slow-images 100
	use_azure
	dalle-submit -s 256x256 'a' 'b' | dalle-poll >recs
	mkdir d
	env --default-signal=INT dalle-fetch -d d <recs >out 2>err 3>&- &
	pid=$!
	wait_for in_flight 2
	kill -INT "$pid"
	interrupted_by INT 2
}

@test "an operand that names a file is refused with a hint, and nothing is sent" {
	printf 'a\nb\n' >prompts.txt
	before=$(logged)
	run --separate-stderr dalle-submit --deployment gpt-image-2 prompts.txt
	assert_equal "$status" 64
	[[ "$stderr" == *"'< prompts.txt' or '-f prompts.txt'"* ]]
	# Mistyped, it names no file: refused all the same.
	run --separate-stderr dalle-submit --deployment gpt-image-2 promts.txt
	assert_equal "$status" 64
	[[ "$stderr" == *"promts.txt: no such file"* ]]
	assert_equal "$(logged)" "$before"
	# A prompt of words is a prompt, whatever it ends in.
	run --separate-stderr dalle-submit --deployment gpt-image-2 'a note.txt'
	assert_success
}

@test "-f FILE reads prompts from the file; - is stdin for all three" {
	printf 'a\nb\n' >prompts.txt
	run dalle-submit --keep-order --deployment gpt-image-2 -f prompts.txt
	assert_success
	assert_equal "$(jq -r .prompt <<<"$output" | tr '\n' ' ')" "a b "
	run dalle-submit --deployment gpt-image-2 - <prompts.txt
	assert_success
	assert_equal "$(wc -l <<<"$output")" 2
	printf '%s\n' "$output" >recs
	run dalle-poll - <recs
	assert_success
	printf '%s\n' "$output" >polled
	run dalle-fetch --paths - <polled
	assert_success
	assert_equal "$(wc -l <<<"$output")" 2
	run dalle-submit --deployment gpt-image-2 -f no-such-file
	assert_equal "$status" 66
}

@test "dalle-poll and dalle-fetch refuse an operand that names a file, with the hint" {
	dalle-submit --deployment gpt-image-2 x >recs.jsonl
	before=$(logged)
	run --separate-stderr dalle-poll recs.jsonl
	assert_equal "$status" 64
	assert_output ""
	[[ "$stderr" == *"recs.jsonl: names a file"*"use '< recs.jsonl'"* ]]
	run --separate-stderr dalle-fetch -d out recs.jsonl
	assert_equal "$status" 64
	assert_output ""
	[[ "$stderr" == *"recs.jsonl: names a file"*"use '< recs.jsonl'"* ]]
	assert_equal "$(logged)" "$before"
	[ ! -e out ]
}

@test "a line over --max-line, or with a NUL byte, is an error record; the rest is processed" {
	{
		echo 'first'
		head -c 3000000 /dev/zero | tr '\0' x
		echo
		printf '\0nul\n'
		echo 'last'
	} >in
	run --separate-stderr dalle-submit --dry-run --max-line 1048576 --deployment gpt-image-2 <in
	assert_equal "$status" 65
	assert_equal "$(wc -l <<<"$output")" 4
	assert_equal "$(jq -r 'select(.error) | .error.kind' <<<"$output" | sort -u)" input
	[[ "$stderr" == *"stdin:2: a line of 3000000 bytes: longer than --max-line 1048576"* ]]
	[[ "$stderr" == *"stdin:3: a NUL byte at byte 1"* ]]
	assert_equal "$(jq -r 'select(.prompt) | .prompt' <<<"$output" | tr '\n' ' ')" "first last "
}

@test "a 64 MB line costs no more memory than --max-line" {
	run lean /usr/bin/time -f %M -o rss dalle-poll --max-line 1048576 \
	    < <(head -c 64000000 /dev/zero | tr "\0" x)
	assert_equal "$status" 65
	[ "$(tail -1 rss)" -lt "$(rss_limit 30000)" ]
}

@test "byte-order marks at any line's start are dropped; CRLF ends a line" {
	printf '\xef\xbb\xbf{"prompt":"a"}\r\n' >a.jsonl
	printf '\xef\xbb\xbf{"prompt":"b"}\r\n' >b.jsonl
	run dalle-submit --keep-order --deployment gpt-image-2 < <(cat a.jsonl b.jsonl)
	assert_success
	assert_equal "$(jq -r .prompt <<<"$output" | tr '\n' ' ')" "a b "
}

@test "a field of the wrong JSON type, or an empty deployment or model, is an error record, never sent elsewhere" {
	before=$(logged)
	run --separate-stderr dalle-submit --deployment gpt-image-2 <<<'{"prompt":"x","deployment":5}
{"prompt":"y","n":"2"}
{"prompt":"z","size":1024}
{"prompt":"w","deployment":""}
{"prompt":"v","model":""}'
	assert_equal "$status" 65
	# Where it goes: an input error; the request's own fields: the
	# model's rules, as the service words them.
	assert_equal "$(jq -r .error.kind <<<"$output" | tr '\n' ' ')" 'input invalid_request invalid_request input input '
	assert_equal "$(jq -r .error.message <<<"$output" | head -1)" '"deployment" is a number, not a string'
	assert_equal "$(jq -r .error.message <<<"$output" | sed -n 4p)" '"deployment" is an empty string'
	assert_equal "$(jq -r .error.message <<<"$output" | sed -n 5p)" '"model" is an empty string'
	assert_equal "$(logged)" "$before"
}

@test "with stdout closed or read-only, nothing is sent and the exit is not 0" {
	before=$(logged)
	run bash -c "dalle-submit --deployment gpt-image-2 x >&-"
	assert_equal "$status" 74
	run bash -c 'dalle-submit --deployment gpt-image-2 x 1</dev/null'
	assert_equal "$status" 74
	assert_equal "$(logged)" "$before"
}

@test "stdout closed mid-run: exit 74 and a line on stderr counts the records lost" {
	serve_start --latency "$(slow 0.3)"
	use_azure
	# -j 1: the first record is written and read before the second is
	# answered, paid for and found nowhere to go.
	run --separate-stderr bash -c 'dalle-submit --deployment dalle3 -j 1 a b c 2>err | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}"'
	assert_equal "$output" 74
	# How many got into the pipe before head left is the scheduler's:
	# what was written and what was lost make the three.
	written=$(sed -n 's/^dalle-submit: stdout was closed: \([0-9]*\) records written, \([0-9]*\) lost (.*)$/\1 \2/p' err)
	[ -n "$written" ]
	assert_equal "$(awk '{ print $1 + $2 }' <<<"$written")" 3
	assert [ "$(awk '{ print $2 }' <<<"$written")" -ge 1 ]
	# The second was made (and paid for) before it was lost.
	assert [ "$(grep -c '"route":"azure_generate"' "$SERVE_DIR/serve.log")" -ge 2 ]
}

@test "an image with another's name is written or refused, never silently dropped" {
	printf '%s\n' '{"prompt":"a","name":"same"}' '{"prompt":"b","name":"same"}' |
	    dalle-submit --keep-order --deployment gpt-image-2 >recs
	run --separate-stderr dalle-fetch <recs
	assert_equal "$status" 65
	assert_equal "$(jq -r 'select(.error) | .error.message' <<<"$output" | grep -c 'another image')" 1
	head -1 recs >r1
	tail -1 recs >r2
	rm -f same.png
	dalle-fetch <r1 >/dev/null
	# A later run, the name holding another request's image (its
	# provenance says whose): replaced, as an edited prompt's.
	run --separate-stderr dalle-fetch <r2
	assert_success
	assert_equal "$(jq -r '.files[0].path' <<<"$output")" same.png
	assert_equal "$("$ROOT/tests/imgcheck" -t same.png | awk -F'\t' '$1 == "prompt" { print $2 }')" b
	# Taken by an image of unknown origin: an error record, left alone.
	dalle-fetch --no-provenance -o other.png <r1 >/dev/null
	mv other.png same.png
	run --separate-stderr dalle-fetch <r2
	assert_equal "$status" 73
	assert_equal "$(jq -r .error.kind <<<"$output")" io
	[[ "$(jq -r .error.message <<<"$output")" == *"holds another image"* ]]
	assert_equal "$("$ROOT/tests/imgcheck" -t same.png | grep -c '^prompt')" 0
}

@test "a FIFO at a target path is an io error record, not a hang" {
	echo '{"prompt":"a","name":"pipe"}' | dalle-submit --deployment gpt-image-2 >recs
	mkfifo pipe.png
	run --separate-stderr timeout 10 dalle-fetch <recs
	assert_equal "$status" 73
	assert_equal "$(jq -r .error.kind <<<"$output")" io
}
