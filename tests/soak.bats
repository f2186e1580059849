#!/usr/bin/env bats
# The fault soak, small: 500 prompts through submit | poll | fetch against
# a dalle-serve that fails 5 % of requests, drops 2 % of connections,
# truncates 1 % of images, holds a quota over a 1 s window and sends images
# slowly (bench/soak.sh; `make soak` runs 10,000), then a leak pass of 50
# prompts under the same faults, each stage under valgrind (LeakSanitizer
# under make asan).

bats_require_minimum_version 1.5.0

load helpers/common

setup() {
	_common_setup
}

# figure NAME: the value soak printed for NAME (its first word).
figure() {
	sed -n "s/^$1: \([^ ]*\).*/\1/p" <<<"$output"
}

@test "500 prompts under faults: every line once, every file whole, nothing paid twice" {
	SOAK_N=500 SOAK_LEAK_N=50 SOAK_OUT=$BATS_TEST_TMPDIR/soak run bash "$ROOT/bench/soak.sh"
	echo "$output"
	assert_equal "$(figure prompts)" 500
	assert_equal "$(figure records)" 500
	assert_equal "$(figure lost)" 0
	assert_equal "$(figure duplicated)" 0
	assert_equal "$(figure partial)" 0
	assert_equal "$(figure stray)" 0
	assert_equal "$(figure 'paid twice')" 0
	assert_equal "$(figure crashes)" 0
	assert_line --regexp '^statuses: .*\(match: yes\)$'
	assert_line 'leaks: 0 bytes in 0 blocks'
	assert_line --regexp '^leak pass: 50 prompts, .* 0 crashes, 50 records$'
	# The faults happened: the server counted each kind.
	server=$(sed -n 's/^server: //p' <<<"$output")
	[ "$(jq .faults.fail <<<"$server")" -gt 0 ]
	[ "$(jq .faults.drop <<<"$server")" -gt 0 ]
	[ "$(jq .faults.truncate <<<"$server")" -gt 0 ]
	[ "$(jq .rate_limited <<<"$server")" -gt 0 ]
	assert_success
}
