#!/usr/bin/env bats
# The pipeline's live status on a terminal (lib/status.c): one drawing for
# dalle-submit | dalle-fetch, a line for the pipeline (done of total,
# images a minute, spent, time left) and one per live stage, redrawn in
# place (never scrolled), erased at the end and on a signal, its shared
# file removed; warnings and records on the same terminal go where the
# drawing was.  Nothing when stderr is not a terminal, or with -q.  The
# terminal is script(1)'s pseudo-terminal; tty.out is what it was sent.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/tty

KEY=sk-progress-secret-5151

setup() {
	_common_setup
	export TERM=xterm XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	printf 'a fox %s\n' 1 2 3 4 5 6 >prompts
}

teardown() {
	serve_stop
}

serve() {
	serve_start --api-key "$KEY" "$@"
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY="$KEY"
}

# last: what came after the last line moved up over, shown with cat -v.
last() {
	awk -v RS="${ESC}\\\\[[0-9]+A" 'END { printf "%s", $0 }' tty.out |
	    cat -v
}

# files: status files left in the shared directory.
files() {
	find "$XDG_RUNTIME_DIR" -name 'status-*' | wc -l
}

@test "a pipeline on a terminal: one status, counts to 6 of 6, redrawn in place, erased, its file removed" {
	serve --latency 0.4
	on_tty 'dalle-submit -m gpt-image-1 -j 2 <prompts |
	    dalle-fetch -d out >recs'
	assert_equal "$(wc -l <recs)" 6
	# The total is the prompt file's lines; the last drawing has them all.
	assert [ "$(count 'dalle: 6 of 6 done')" -ge 1 ]
	assert [ "$(count 'dalle: 0 of 6 done')" -ge 1 ]
	assert [ "$(grep -acE '^  submit +[0-6] of 6 out, [0-9]+ in flight' tty.out)" -ge 1 ]
	assert [ "$(grep -acE '^  fetch +[0-6] of 6 out, [0-9]+ in flight' tty.out)" -ge 1 ]
	# The records' real cost (the price table's) is summed as spent.
	assert [ "$(grep -acE 'images/min, \$[0-9.]+ spent, about [0-9]+s left' tty.out)" -ge 1 ]
	# One stage draws, the last: its count is the pipeline's, and
	# submit's line is never drawn alone once fetch has drawn.
	assert_equal "$(awk '/dalle: / { d = $2 } /^  fetch/ && $2 != d { n++ }
	    END { print n + 0 }' tty.out)" 0
	assert_equal "$(awk '/^  submit/ { s = 1; next }
	    s && f && !/^  fetch/ { n++ } /^  fetch/ { f = 1 } { s = 0 }
	    END { print n + 0 }' tty.out)" 0
	# Nor before: a stage writing to a pipe gives the next a second to
	# come.  Not under a tool, whose start-up alone may take longer.
	under_tool ||
	    assert_equal "$(awk '/^  submit/ { s = 1; next }
		s && !/^  fetch/ { n++ } { s = 0 } END { print n + 0 }' tty.out)" 0
	# Nothing scrolls: every line drawn is gone back over.
	assert [ "$(ups)" -ge 6 ]
	assert_equal "$(newlines)" "$(ups)"
	# Erased at the end, and nothing after.
	assert_equal "$(last)" '^M^[[J'
	assert_equal "$(files)" 0
}

@test "money: the records' cost.usd summed as spent; no cost, no money; no total from a pipe" {
	serve
	dalle-submit -m gpt-image-1 <prompts | jq -c 'del(.cost)' >sub
	jq -c '.cost = {usd: 0.25}' sub >priced
	on_tty 'dalle-fetch -d out <priced >recs'
	assert_equal "$(wc -l <recs)" 6
	assert [ "$(count 'dalle: 6 of 6 done, $1.50 spent')" -ge 1 ]
	# Input from a pipe: no total, only what is done.
	on_tty 'cat sub | dalle-fetch -d out2 >recs'
	assert [ "$(count 'dalle: 6 done')" -ge 1 ]
	assert_equal "$(count ' of ')" 0
	assert_equal "$(count 'spent')" 0
}

@test "records and warnings on the same terminal: written where the drawing was, it comes back below" {
	serve --latency 0.3
	{ head -n 3 prompts; echo '{"prompt": 5}'; tail -n 3 prompts; } >mixed
	run -65 on_tty 'dalle-submit -m gpt-image-1 -j 2 <mixed'
	# Each record and the warning a line of its own, the status none.
	assert_equal "$(grep -ac '"created"' tty.out)" 6
	assert_equal "$(grep -ac '"kind":"input"' tty.out)" 1
	assert_equal "$(grep -ac 'stdin:4: ' tty.out)" 1
	assert_equal "$(newlines)" "$(($(ups) + 8))"
	# Each is whole on its line, written over an erased drawing.
	assert_equal "$(grep -a '{"' tty.out | grep -cavE "(^|$ESC\[J)\{[^$ESC]*\}$CR\$")" 0
	assert_equal "$(grep -ac "^$CR$ESC\[Jdalle-submit: stdin:4: " tty.out)" 1
	assert_equal "$(last)" '^M^[[J'
}

@test "waiting on the quota and retries are shown" {
	# 2 requests a window: the first 4 at once meet a 429 however slowly
	# a tool (make valgrind) makes the server take them.
	w=$(slow 1)
	serve --rpm "$(awk -v w="$w" 'BEGIN { print int(120 / w) }')" \
	    --rate-window "$w"
	on_tty 'dalle-submit -m gpt-image-1 -j 4 <prompts >recs'
	assert_equal "$(jq -r .status recs | grep -c succeeded)" 6
	# The service said 429, the status said so.
	assert [ "$(grep -c '"status":429' "$SERVE_DIR/serve.log")" -ge 1 ]
	assert [ "$(grep -acE '^  submit .*, [1-6] waiting on quota' tty.out)" -ge 1 ]
	assert [ "$(grep -acE '^  submit .*, [1-9][0-9]* retr(y|ies)' tty.out)" -ge 1 ]
	# The retries' warnings each a line of their own; the status none.
	warned=$(grep -ac 'rate limited, again in' tty.out)
	assert [ "$warned" -ge 1 ]
	assert_equal "$(newlines)" "$(($(ups) + warned))"
}

@test "a signal erases the status before the interrupted line" {
	serve --latency 30
	run -143 on_tty 'dalle-submit -m gpt-image-1 <prompts >recs & p=$!
	    i=0; while ! [ -e "$XDG_RUNTIME_DIR"/dalle-tools/status-* ] &&
	    [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	    sleep 1; kill -TERM $p; wait $p'
	assert [ "$(count 'dalle: 0 of 6 done')" -ge 1 ]
	assert_equal "$(grep -ac 'interrupted by SIGTERM' tty.out)" 1
	assert_equal "$(grep -ac "${ESC}\[Jdalle-submit: interrupted" tty.out)" 1
	# Nothing drawn after it.
	assert_equal "$(sed -n '/interrupted by/,$p' tty.out | grep -ac 'dalle:')" 0
	assert_equal "$(files)" 0
}

@test "stderr a file, -q, or TERM=dumb: nothing drawn, no file" {
	serve
	on_tty 'dalle-submit -m gpt-image-1 <prompts 2>err1 |
	    dalle-fetch -d out >recs 2>err2'
	assert_equal "$(wc -l <recs)" 6
	assert_equal "$(wc -c <tty.out)" 0
	assert_equal "$(cat err1 err2 | wc -c)" 0
	on_tty 'dalle-submit -q -m gpt-image-1 <prompts |
	    dalle-fetch -q -d out3 >recs'
	assert_equal "$(wc -c <tty.out)" 0
	TERM=dumb on_tty 'dalle-submit -m gpt-image-1 <prompts |
	    dalle-fetch -d out4 >recs'
	assert_equal "$(wc -c <tty.out)" 0
	assert_equal "$(files)" 0
}
