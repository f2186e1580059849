#!/usr/bin/env bats
# kill -9 and Ctrl-C at random moments, the pipeline and dalle-fetch
# alone, with trickled downloads: never a partial file at a target,
# temporaries of dead runs removed by the next run, and a re-run with the
# journal pays nothing twice for what the journal holds.  The short run of
# tests/killnine.sh; `make killtest` runs it 100 times.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

@test "kill -9, 6 times, synchronous and asynchronous: nothing lost, duplicated, partial, paid twice or crashed" {
	run --separate-stderr timeout 120 bash "$ROOT/tests/killnine.sh" 6 3
	echo "$output"
	assert_success
	assert_output --regexp 'lost 0 duplicated 0 partial 0 paid_twice 0 temporaries 0 crashes 0'
}

@test "Ctrl-C half way through 20 prompts at -j 4, then a re-run with the journal: 20 operations paid" {
	serve_start --latency 0.3
	use_azure
	for i in $(seq 20); do echo "interrupted prompt $i"; done >prompts
	setsid bash -c 'dalle-submit -j 4 -d out <prompts | dalle-poll -j 4 |
	    dalle-fetch -j 4 -d out >/dev/null' &
	pg=$!
	# Half way: ten images on disk.
	for _ in $(seq 300); do
		[ "$(ls out 2>/dev/null | wc -l)" -ge 10 ] && break
		sleep 0.02
	done
	kill -INT -- "-$pg"
	wait "$pg" || true
	[ "$(ls out | wc -l)" -lt 20 ]
	run --separate-stderr bash -c 'dalle-submit -j 4 -d out <prompts |
	    dalle-poll -j 4 | dalle-fetch -j 4 -d out --paths'
	assert_success
	[ "$(ls out/*.png | wc -l)" -eq 20 ]
	run curl -s "${SERVE_URL}_serve/stats"
	echo "operations $(jq .operations.total <<<"$output")"
	[ "$(jq .operations.total <<<"$output")" -eq 20 ]
}
