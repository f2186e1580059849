#!/usr/bin/env bats
# dalle-poll's progress on a terminal: while it waits on batches and
# stderr is a terminal (and not -q), a line per batch with its status and
# request_counts under the pipeline's status (see progress.bats), redrawn
# in place and erased at the end; nothing when stderr is not a terminal.
# The terminal is script(1)'s pseudo-terminal.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/tty

KEY=sk-progress-secret-4242

setup() {
	_common_setup
	serve_start --api-key "$KEY" --batch-latency "$(slow 3)"
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY="$KEY"
	export TERM=xterm
}

teardown() {
	serve_stop
}

@test "on a terminal: a line per batch with its counts, redrawn in place, erased at the end" {
	printf 'a fox\na owl\n' | dalle-submit --batch -m gpt-image-2 >recs
	bid=$(jq -r .operation.batch recs | head -n 1)
	on_tty 'dalle-poll --interval 1 <recs >done'
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	run grep -ac "$bid: in_progress, [0-2] of 2 completed, 0 failed" tty.out
	assert [ "$output" -ge 1 ]
	run grep -ac "$bid: completed, 2 of 2 completed, 0 failed" tty.out
	assert [ "$output" -ge 1 ]
	# Redrawn, not scrolled: every line written is gone back over.
	ups=$(ups)
	assert [ "$ups" -ge 6 ]
	assert_equal "$(newlines)" "$ups"
	# Erased at the end: the last thing written clears the lines (the
	# pipeline's and poll's, once the batch's has gone).
	assert_equal "$(tail -c 8 tty.out | hex)" 1b5b32410d1b5b4a
}

@test "on a terminal: two batches, two lines, each with its own counts" {
	printf 'a fox\na owl\n' | dalle-submit --batch -m gpt-image-2 >recs
	echo 'a yak' | dalle-submit --batch -m gpt-image-2 >>recs
	one=$(jq -r .operation.batch recs | head -n 1)
	two=$(jq -r .operation.batch recs | tail -n 1)
	on_tty 'dalle-poll --interval 1 <recs >done'
	assert_equal "$(wc -l <done)" 3
	run grep -ac "$one: in_progress, [0-2] of 2 completed" tty.out
	assert [ "$output" -ge 1 ]
	run grep -ac "$two: in_progress, [01] of 1 completed" tty.out
	assert [ "$output" -ge 1 ]
	# The pipeline's line, poll's and one for each batch.
	assert [ "$(count "${ESC}[4A")" -ge 2 ]
	assert_equal "$(tail -c 4 tty.out | hex)" 0d1b5b4a
}

@test "stderr a file, -q, or TERM=dumb: no progress at all" {
	printf 'a fox\na owl\n' | dalle-submit --batch -m gpt-image-2 >recs
	on_tty 'dalle-poll --interval 1 <recs >done 2>err'
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	assert_equal "$(wc -c <err)" 0
	assert_equal "$(wc -c <tty.out)" 0
	on_tty 'dalle-poll -q --interval 1 <recs >done'
	assert_equal "$(wc -c <tty.out)" 0
	TERM=dumb on_tty 'dalle-poll --interval 1 <recs >done'
	assert_equal "$(wc -c <tty.out)" 0
	assert_equal "$(jq -r .status done | sort -u)" succeeded
}
