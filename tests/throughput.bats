#!/usr/bin/env bats
# Concurrency on curl multi: output order, -j 1 against -j 8, a request
# budget that several processes share, and stdin that arrives slowly.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# What a record means, without what differs from run to run.
essence() {
	jq -cS '{prompt, status, api: .request.api, n: (.data | length),
	    files: [.files[] | {width, height, format}]}' | sort
}

@test "--keep-order writes records in input order; without it, as they complete" {
	serve_start --latency 0.3 --jitter 0.25 --seed 3
	use_azure
	seq 1 12 | sed 's/^/prompt /' >in.txt
	run --separate-stderr bash -c 'dalle-submit --deployment dalle3 -j 12 --keep-order <in.txt | jq -r .prompt'
	assert_success
	assert_output "$(cat in.txt)"
	run --separate-stderr bash -c 'dalle-submit --deployment dalle3 -j 12 <in.txt | jq -r .prompt'
	assert_success
	# Every record is there; with jittered latency they finish out of order.
	[ "$(sort <<<"$output")" = "$(sort in.txt)" ]
	[ "$output" != "$(cat in.txt)" ]
	# Through the whole pipeline, errors included.
	printf '%s\n' 'a' '{"bad' 'b' '{"prompt":"c","size":"1x1"}' 'd' >mixed.txt
	run --separate-stderr bash -c 'dalle-submit --keep-order -j 8 <mixed.txt |
	    dalle-poll --keep-order | dalle-fetch --keep-order -d out |
	    jq -c "[.prompt, .error.kind]"'
	assert_output "$(printf '%s\n' '["a",null]' '[null,"input"]' '["b",null]' '["c","invalid_request"]' '["d",null]')"
}

@test "-j 1 and -j 8 give the same records" {
	serve_start --latency 0.2
	use_azure
	printf '%s\n' one two three four five six '{"prompt":"g","deployment":"gpt-image-1","quality":"low"}' >in.txt
	dalle-submit -j 1 <in.txt | dalle-poll -j 1 | dalle-fetch -j 1 --no-provenance -d a | essence >one.txt
	dalle-submit -j 8 <in.txt | dalle-poll -j 8 | dalle-fetch -j 8 --no-provenance -d b | essence >eight.txt
	[ "$(wc -l <one.txt)" -eq 7 ]
	diff one.txt eight.txt
	# The same pictures, as served (the names hold operation ids, which
	# differ, and so would the provenance written into them).
	diff <(cksum a/* | cut -d' ' -f1,2 | sort) <(cksum b/* | cut -d' ' -f1,2 | sort)
}

# Requests a second, by the request log's timestamps: "max count".
busiest_second() {
	jq -r 'select(.route == "azure_generate") | .time[0:19]' "$SERVE_DIR/serve.log" |
	    uniq -c | sort -rn | head -n 1 | awk '{print $1}'
}

@test "--rate holds across four processes under xargs -P4: no 429, the quota kept" {
	# Under make asan or valgrind, requests the budget let go in one
	# second may reach the server in the next: a request of slack a unit
	# of DALLE_TEST_SLOW beyond the first.
	serve_start --rpm $((300 + 60 * ($(slow 1) - 1))) --rate-window 1
	use_azure
	seq 1 20 | sed 's/^/p/' >in.txt
	run --separate-stderr bash -c "xargs -P4 -n5 dalle-submit --deployment dalle3 --rate 300/min --rate-file '$BATS_TEST_TMPDIR/budget' <in.txt"
	assert_success
	[ "${#lines[@]}" -eq 20 ]
	[ "$(curl -s "${SERVE_URL}_serve/stats" | jq .rate_limited)" = 0 ]
	[ "$(busiest_second)" -le $((4 + $(slow 1))) ]
}

@test "without --rate, four processes learn the quota together and lose nothing" {
	serve_start --rpm 300 --rate-window 1
	use_azure
	seq 1 20 | sed 's/^/p/' >in.txt
	run --separate-stderr bash -c "xargs -P4 -n5 dalle-submit -j 5 --deployment dalle3 --rate-file '$BATS_TEST_TMPDIR/budget' <in.txt"
	assert_success
	[ "${#lines[@]}" -eq 20 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .status | sort -u)" = succeeded ]
	# The burst met 429s (the server was not idle), yet every prompt was drawn.
	[ "$(curl -s "${SERVE_URL}_serve/stats" | jq '.rate_limited > 0')" = true ]
}

@test "stdin that arrives slowly: each record leaves before the next line arrives" {
	serve_start
	use_azure
	# The second line is written only once the first record is out (or
	# after 20 s without it): an order of events, no stopwatch.
	run --separate-stderr bash -c '
	    { echo first
	      for _ in $(seq 200); do [ -s out ] && break; sleep 0.1; done
	      [ -s out ] && echo "out before second" >order
	      echo second; } | dalle-submit --deployment dalle3 >out
	    cat out'
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	assert_equal "$(jq -r .prompt <<<"${lines[0]}")" first
	assert_equal "$(jq -r .prompt <<<"${lines[1]}")" second
	assert_equal "$(cat order)" "out before second"
}

@test "a poll cap: --poll-rate allows so many polls in any one second, no more" {
	serve_start --latency 0.2
	use_azure
	dalle-submit $(seq -f 'p%g' 1 12) >recs.jsonl
	start=$(date +%s%N)
	run --separate-stderr dalle-poll --poll-rate 5/s <recs.jsonl
	assert_success
	[ "${#lines[@]}" -eq 12 ]
	# 12 polls, 5 in any second: at least 2 s; uncapped they take 0.2 s.
	[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 2000 ]
	# In the server's log, any 6 polls in a row span about a second or more
	# (logged as they end, so a loaded machine blurs it by some ms); an
	# operation found still running is polled again, so 12 or more.
	# The blur grows with DALLE_TEST_SLOW, to half a second at most.
	min=$((1000 - $(slow 100)))
	[ "$min" -ge 500 ] || min=500
	jq -r 'select(.route == "operation_get") | .time[11:23]' "$SERVE_DIR/serve.log" | sort | tee polls.txt |
	    awk -F'[:.]' -v min="$min" '{ t[NR] = (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }
	        END { if (NR < 12) exit 1
	              for (i = 6; i <= NR; i++) if (t[i] - t[i - 5] < min) exit 1 }' ||
	    fail "polls at: $(tr '\n' ' ' <polls.txt)"
}

@test "-t bounds the time however many operations wait behind the poll cap" {
	serve_start --latency 60
	use_azure
	dalle-submit -j 16 $(seq -f 'p%g' 1 100) >recs.jsonl
	run --separate-stderr dalle-poll -q --poll-rate 5/s -t 2 <recs.jsonl
	assert_equal "$status" 75
	[ "${#lines[@]}" -eq 100 ]
	# 100 polls at 5 a second would take 20 s; the timeout says 2.  In the
	# server's log (no process start-up in it) the polls span 3 s at most.
	jq -r 'select(.route == "operation_get") | .time[11:23]' "$SERVE_DIR/serve.log" | sort >polls.txt
	[ -s polls.txt ]
	span=$(sed -n '1p;$p' polls.txt | awk -F'[:.]' '{ t[NR] = (($1 * 60 + $2) * 60 + $3) * 1000 + $4 } END { print t[NR] - t[1] }')
	echo "# polls over $span ms" >&3
	[ "$span" -le 3000 ]
}
