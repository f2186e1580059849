#!/usr/bin/env bats
# Records are written by dalle_json_put, not by jq's slower writer: it must
# write the very bytes jq would, for every value, or hashes, diffs and
# users' tools would see changes.  tests/jsoncheck compares the two.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	make -s -C "$BATS_TEST_DIRNAME/.." tests/jsoncheck >&2
	serve_start_file --latency 0.1
}

setup() {
	_common_setup
	use_azure
}

@test "the JSON writer agrees with jq on escapes, unicode, numbers, nesting and key order" {
	run "$BATS_TEST_DIRNAME/jsoncheck" <"$BATS_TEST_DIRNAME/fixtures/json-corpus.jsonl"
	assert_success
	assert_output --partial "13 values checked, 0 differ"
}

@test "records from a whole pipeline, with odd user fields, are written as jq writes them" {
	printf '%s\n' '{"prompt":"tab\there, \"quoted\" and é 😀","mine":{"f":0.1,"big":1e17,"neg":-0,"ctl":"\u0001\u007f","list":[1.5,true,null,"\\"]}}' \
	    '{"prompt":"second","z":1,"a":2}' >in.jsonl
	run --separate-stderr bash -c 'dalle-submit <in.jsonl | tee sub.jsonl | dalle-poll | tee polled.jsonl | dalle-fetch -d out >fetched.jsonl'
	assert_success
	[ "$(wc -l <fetched.jsonl)" -eq 2 ]
	# Fields come through untouched, in their order.
	assert_equal "$(jq -c 'select(.prompt == "second") | keys_unsorted[0:3]' fetched.jsonl)" '["prompt","z","a"]'
	assert_equal "$(jq -c 'select(.mine) | .mine' fetched.jsonl)" "$(jq -c .mine <in.jsonl | head -n 1)"
	run "$BATS_TEST_DIRNAME/jsoncheck" < <(cat sub.jsonl polled.jsonl fetched.jsonl)
	assert_success
	assert_output --partial "6 values checked, 0 differ"
	# And each line is byte for byte what jq -c makes of it.
	for f in sub.jsonl polled.jsonl fetched.jsonl; do
		assert_equal "$(jq -c . "$f")" "$(cat "$f")"
	done
}
