#!/usr/bin/env bats
# The request budget without --rate, against simulated services on a
# simulated clock (tests/ratesim, lib/rate.c linked with its clock calls
# wrapped): minutes of quota in milliseconds, the same figures every run;
# "procs=K" shares one state file between K mappings, as K processes do.
# The service takes in 4 requests a millisecond, so a burst's jobs start
# over several ms, as on a real server.  "after" counts the 429s once the
# first 429's wait is over: what the learned budget still runs into.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	make -s -C "$BATS_TEST_DIRNAME/.." tests/ratesim >&2
}

setup() {
	_common_setup
}

# sim ARGS...: run ratesim; sets done, n429, after, gap.
sim() {
	run "$BATS_TEST_DIRNAME/ratesim" "$@"
	assert_success
	read -r _ done _ n429 _ after _ gap <<<"$output"
	echo "# ratesim $*: $output" >&3
}

@test "64 concurrent jobs of 1 s: every round full once learned, few 429s after the first" {
	sim conc 64 1000 1000 64
	# 1000 requests in rounds of 64: the last starts 15 s in.
	[ "$done" -le 15750 ]
	[ "$after" -le 6 ]
}

@test "2 concurrent jobs of 10 s (the legacy API's default quota): the same" {
	sim conc 2 10000 40 8
	[ "$done" -le 199500 ]
	[ "$after" -le 6 ]
}

@test "a 429 of the first burst that arrives after the budget learned costs no round" {
	sim conc 64 1000 1000 64 late
	[ "$done" -le 15750 ]
	[ "$after" -le 8 ]
}

@test "10 requests in each 1 s window: the quota kept, few 429s after the first" {
	sim window 10 1000 200 64
	# 200 requests, 10 a window: the last window starts 19 s in.
	[ "$done" -le 19950 ]
	[ "$after" -le 6 ]
}

@test "60 requests in each 10 s window" {
	sim window 60 10000 300 64
	[ "$done" -le 42000 ]
	[ "$after" -le 6 ]
}

@test "--rate 600/min: no 429, starts at least 100 ms apart" {
	sim fixed 600 200 64
	[ "$n429" -eq 0 ]
	[ "$gap" -ge 100 ]
}

@test "a long run keeps its pace: 5000 requests, 16 jobs of 1 s" {
	sim conc 16 1000 5000 64
	# 313 rounds: the last starts 312 s in.
	[ "$done" -le 327600 ]
	[ "$after" -le 20 ]
}

@test "a 200 ms round trip to jobs of 10 s: within 5 % of the quota" {
	sim conc 2 10000 40 8 rtt=200
	[ "$done" -le 199500 ]
	[ "$after" -le 6 ]
}

@test "a budget of one with a late 429 from its learning keeps one place" {
	sim conc 1 2000 20 64 late rtt=50
	# 20 jobs of 2 s one at a time: the last starts 38 s in.
	[ "$done" -le 39900 ]
	[ "$after" -le 6 ]
}

@test "four processes on one state file learn one budget: 10 requests a 1 s window" {
	sim window 10 1000 200 64 procs=4
	[ "$done" -le 19950 ]
	[ "$after" -le 6 ]
}

@test "four processes on one state file with --rate 600/min: still 100 ms apart" {
	sim fixed 600 200 64 procs=4
	[ "$n429" -eq 0 ]
	[ "$gap" -ge 100 ]
}
