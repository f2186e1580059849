#!/usr/bin/env bats
# Retries: the jitter of every process is its own, so processes that fail
# together do not retry in lockstep.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file --fail-rate 1
}

setup() {
	_common_setup
	use_azure
}

@test "processes failing together draw different retry delays" {
	for i in 1 2 3 4; do
		dalle-submit --retries 2 x >/dev/null 2>"err.$i" &
	done
	wait
	for i in 1 2 3 4; do
		# "...; retry 1 of 2 in 0.8 s": the delays this process drew.
		grep -o 'retry [12] of 2 in [0-9.]* s' "err.$i" |
		    awk '{ printf "%s ", $6 }' >"delays.$i"
		echo >>"delays.$i"
		echo "# process $i: $(cat "delays.$i")" >&3
		[ "$(wc -w <"delays.$i")" -eq 2 ]
	done
	[ "$(sort -u delays.* | wc -l)" -ge 2 ]
}
