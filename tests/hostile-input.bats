#!/usr/bin/env bats
# A catalogue of bad input lines for dalle-submit, dalle-poll and
# dalle-fetch: each gets an error record of its own (or, for the few that
# are good after all, its result), the good lines around them are
# processed, nothing crashes, and memory stays bounded whatever the input.

bats_require_minimum_version 1.5.0

load helpers/common

setup_file() {
	serve_start_file
	cc -O2 -o "$BATS_FILE_TMPDIR/rusage" "$BATS_TEST_DIRNAME/../bench/rusage.c"
}

setup() {
	_common_setup
	use_openai
}

# case WANT BYTES: one line of the catalogue; WANT is ok or error.
case_() {
	printf '%s\n' "$1" >>want
	printf '%b\n' "$2" >>input
}

# catalogue: the input file and, line by line, what each must give.
catalogue() {
	: >input
	: >want
	case_ ok '{"prompt":"a good one"}'
	case_ error '{'
	case_ error '{"prompt":"x"'
	case_ error '{"prompt": }'
	case_ error '{"prompt":"x",}'
	case_ error '{prompt:"x"}'
	case_ error "{\"prompt\":'x'}"
	case_ error '{}'
	case_ error '{"prompt":""}'
	case_ error '{"prompt":null}'
	case_ error '{"prompt":42}'
	case_ error '{"prompt":["x"]}'
	case_ error '{"prompt":{"a":1}}'
	case_ error '{"prompt":"x","n":-1}'
	case_ error '{"prompt":"x","n":1e999}'
	case_ error '{"prompt":"x","n":1.5}'
	case_ error '{"prompt":"x","n":"2"}'
	case_ error '{"prompt":"x","n":99999999999999999999}'
	case_ error '{"prompt":"x","n":0}'
	case_ error '{"prompt":"x","n":true}'
	case_ error '{"prompt":"x","size":12}'
	case_ error '{"prompt":"x","size":"huge"}'
	case_ error '{"prompt":"x","size":"1024x1024x2"}'
	case_ error '{"prompt":"x","model":7}'
	case_ error '{"prompt":"x","deployment":[]}'
	case_ error '{"prompt":"x","quality":"ultra"}'
	case_ error '{"prompt":"x","output_compression":101}'
	case_ error '{"prompt":"x","response_format":"gif"}'
	case_ error '{"prompt":"x","image":42}'
	case_ error '{"prompt":"x","image":"/nonexistent/cat.png"}'
	case_ error '{"prompt":"x"} trailing garbage'
	case_ error '{"prompt":"x"}{"prompt":"y"}'
	case_ error '{"prompt":"x","prompt":"y"}'
	case_ error '{"prompt":"a\\u0000b"}'
	case_ error '{"prompt":"\\ud800"}'
	case_ error '\0{"prompt":"x"}'
	case_ error 'ab\0cd'
	case_ error '\xff\xfe not utf-8'
	case_ error '{"prompt":"\xc3\x28"}'
	case_ ok '{"prompt":"crlf"}\r'
	case_ ok '\xef\xbb\xbf{"prompt":"a byte order mark in the middle"}'
	case_ ok '   {"prompt":"leading blanks"}'
	case_ ok 'a plain prompt'
	case_ error "$(head -c 40000 /dev/zero | tr '\0' x)"
	# 100,000 nested brackets, a 16 MB prompt, a 16 MB JSON line.
	echo error >>want
	{ printf '{"prompt":"deep","a":'; head -c 100000 /dev/zero | tr '\0' '['
	  head -c 100000 /dev/zero | tr '\0' ']'; printf '}\n'; } >>input
	echo error >>want
	{ head -c $((16 << 20)) /dev/zero | tr '\0' p; echo; } >>input
	echo error >>want
	{ printf '{"prompt":"'; head -c $((16 << 20)) /dev/zero | tr '\0' q
	  printf '"}\n'; } >>input
	case_ ok '{"prompt":"the last good one"}'
}

# outcomes FILE: ok or error, one line per record of FILE.
outcomes() {
	jq -r 'if .error then "error" else "ok" end' "$1"
}

@test "dalle-submit: 48 bad and good lines, one record each, in order, memory bounded" {
	catalogue
	run --separate-stderr lean "$BATS_FILE_TMPDIR/rusage" ru -- \
	    dalle-submit --keep-order -m gpt-image-2 <input
	assert_equal "$status" 65
	assert_equal "$(wc -l <<<"$output")" "$(wc -l <want)"
	echo "$output" >out
	# Line by line: the ones that came out otherwise, numbered.
	assert_equal "$(outcomes out | paste -d' ' want - | awk '$1 != $2 { print NR ": " $0 }')" ""
	# Every error record says what was wrong.
	assert_equal "$(jq -r 'select(.error) | .error.message | length > 0' out | sort -u)" true
	# Nothing bad was sent: the server saw only the good lines.
	assert_equal "$(jq -r 'select(.body.prompt) | .body.prompt' "$SERVE_DIR/serve.log" | sort | tr '\n' '|')" \
	    'a byte order mark in the middle|a good one|a plain prompt|crlf|leading blanks|the last good one|'
	read -r _ _ rss _ <ru
	[ "$rss" -lt "$(rss_limit $((64 * 1024)))" ]
}
