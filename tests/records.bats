#!/usr/bin/env bats
# One way in for records: dalle-submit, dalle-poll and dalle-fetch read a
# JSON record line the same way, word a bad one the same way, and pass an
# error record from an earlier stage through unchanged.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# bad_line COMMAND...: the error record and warning for the line {"oops.
bad_line() {
	printf '%s\n' '{"oops' >oops.txt
	run --separate-stderr "$@" <oops.txt
}

# same_bad_line FILTER: {"oops through FILTER gives what it gives through
# dalle-submit, but for the stage.
same_bad_line() {
	bad_line dalle-submit --dry-run
	want=$(jq -c 'del(.error.stage)' <<<"$output")
	bad_line "$1"
	assert_equal "$status" 65
	assert_equal "$(jq -c 'del(.error.stage)' <<<"$output")" "$want"
	assert_equal "$(jq -r .error.stage <<<"$output")" "${1#dalle-}"
	assert_equal "${stderr#"$1: "}" "$(jq -r '"stdin:1: " + .error.message' <<<"$want")"
}

@test "dalle-submit: {\"oops is an input error record with the parser's message, exit 65" {
	bad_line dalle-submit --dry-run
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.kind <<<"$output")" input
	assert_equal "$(jq -r .error.message <<<"$output")" "invalid JSON: Unfinished string at EOF at line 1, column 6 (while parsing '{\"oops')"
	assert_equal "$(jq -r .error.input <<<"$output")" '{"oops'
	assert_equal "$stderr" "dalle-submit: stdin:1: invalid JSON: Unfinished string at EOF at line 1, column 6 (while parsing '{\"oops')"
}

@test "dalle-poll: {\"oops gives the same record and words as dalle-submit, exit 65" {
	same_bad_line dalle-poll
}

@test "dalle-fetch: {\"oops gives the same record and words as dalle-submit, exit 65" {
	same_bad_line dalle-fetch
}

# An error record as an earlier stage wrote it, spaced as no stage of
# ours would write it: passing through must keep every byte.
ERR='{ "prompt":"a cat", "error": {"stage":"submit","kind":"server","message":"boom"}, "n":1.50 }'

@test "an error record passes through dalle-submit unchanged" {
	run --separate-stderr dalle-submit --dry-run <<<"$ERR"
	assert_success
	assert_equal "$output" "$ERR"
}

@test "an error record passes through dalle-poll unchanged" {
	run --separate-stderr dalle-poll <<<"$ERR"
	assert_success
	assert_equal "$output" "$ERR"
}

@test "an error record passes through dalle-fetch unchanged" {
	run --separate-stderr dalle-fetch <<<"$ERR"
	assert_success
	assert_equal "$output" "$ERR"
}

# The checks of a record's text skip its megabyte strings (found plain
# ASCII when lifted), not what comes after them.
@test "a key twice or a byte not UTF-8 after a megabyte string is still found, by both stages" {
	big=$(head -c 300000 /dev/zero | tr '\0' A)
	printf '{"prompt":"x","status":"succeeded","data":[{"b64_json":"%s"}],"status":"running"}\n' "$big" >twice
	printf '{"prompt":"x","status":"succeeded","data":[{"b64_json":"%s"}],"note":"\xff"}\n' "$big" >notutf8
	for stage in dalle-poll 'dalle-fetch -d out'; do
		run -65 --separate-stderr $stage <twice
		assert_equal "$(jq -r .error.kind <<<"$output")" input
		assert_regex "$(jq -r .error.message <<<"$output")" 'a key appears twice'
		run -65 --separate-stderr $stage <notutf8
		assert_equal "$(jq -r .error.kind <<<"$output")" input
		assert_regex "$(jq -r .error.message <<<"$output")" "^not UTF-8 text: byte $((300000 + 69)) "
	done
}
