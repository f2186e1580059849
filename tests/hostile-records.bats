#!/usr/bin/env bats
# A catalogue of bad input lines for dalle-poll and dalle-fetch, whose
# input is records and bare ids and URLs: each line gets an error record
# of a kind a script can branch on (or, where dalle(7) says so, passes
# through), the lines around it are processed, nothing crashes, the key
# goes to no host but the configured endpoint, no file lands outside the
# output directory, and memory stays bounded whatever the input.
# tests/hostile-input.bats does the same for dalle-submit.

bats_require_minimum_version 1.5.0

load helpers/common

setup_file() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	# The other host: a second dalle-serve that would echo any key it
	# got in its error answers, and whose log shows what reached it.
	serve_start --echo-key body || return 1
	export FOREIGN_URL=$SERVE_URL FOREIGN_DIR=$SERVE_DIR \
	    FOREIGN_PID=$SERVE_PID
	serve_start_file
	cc -O2 -o "$BATS_FILE_TMPDIR/rusage" "$BATS_TEST_DIRNAME/../bench/rusage.c"
}

teardown_file() {
	serve_stop_file
	stop_pid "${FOREIGN_PID:-}"
}

setup() {
	_common_setup
	use_azure
	HOSTPORT=${SERVE_URL#http://}
	HOSTPORT=${HOSTPORT%/}
	# A small PNG, and one whose header claims 2^32 - 1 pixels each way.
	PNG=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
	HUGEPNG=$(printf '\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\xff\xff\xff\xff\xff\xff\xff\xff\x08\x06\0\0\0' |
	    base64 -w0)
	LONG=$(many 100000 a)
}

# case_ WANT BYTES: one line of the catalogue; WANT is ok, pass (copied
# through as it came) or the error kind it must get.
case_() {
	printf '%s\n' "$1" >>want
	printf '%b\n' "$2" >>input
}

# The lines both programs get: no record at all, or beyond any limit.
common_cases() {
	case_ input '{'
	case_ input '[1,2]'
	case_ input '"a string"'
	case_ input '\0{"data":[]}'
	case_ input 'ab\0cd'
	case_ input '\xff\xfe'
	case_ input 'javascript:alert(1)'
	case_ input 'file:///etc/passwd'
	case_ input "ftp://$HOSTPORT/x"
	case_ pass '{"error":{"kind":"quota","message":"from an earlier stage"}}'
	case_ pass '{"error":{"kind":42,"message":["of the wrong types"]}}'
	# 100,000 nested brackets, a 16 MB line (--max-line is 1 MiB).
	case_ input "{\"a\":$(many 100000 '[')$(many 100000 ']')}"
	many $((16 << 20)) x >>input
	echo >>input
	echo input >>want
}

# many N C: N bytes C.
many() {
	head -c "$1" /dev/zero | tr '\0' "$2"
}

poll_catalogue() {
	local op=$1
	: >input
	: >want
	case_ ok "$(dalle-submit 'a good one')"
	case_ input '{"operation":{"url":"'"$op"'"'
	case_ input '{"operation": }'
	# The fields dalle-poll reads, of every wrong type.
	case_ input '{"operation":"'"$op"'"}'
	case_ input '{"operation":["'"$op"'"]}'
	case_ input '{"operation":42}'
	case_ input '{"operation":true}'
	case_ input '{"operation":{}}'
	case_ input '{"operation":{"kind":"azure-image"}}'
	case_ input '{"operation":{"url":42}}'
	case_ input '{"operation":{"url":["'"$op"'"]}}'
	case_ input '{"operation":{"url":"'"$op"'","kind":7}}'
	case_ input '{"operation":{"url":"'"$op"'","kind":"dall-e-9"}}'
	case_ input '{"operation":{"url":"'"$op"'","id":{}}}'
	case_ input '{"operation":{"url":"'"$op"'","poll_at":"soon"}}'
	case_ input '{"operation":{"url":"'"$op"'"},"status":5}'
	case_ input '{"operation":{"url":"'"$op"'"},"status":["succeeded"]}'
	case_ input '{"operation":{"url":"'"$op"'"},"error":"boom"}'
	case_ input '{"operation":{"kind":"openai-batch","batch":5,"custom_id":"a","url":"'"$SERVE_URL"'v1/batches/b"}}'
	case_ input '{"operation":{"kind":"openai-batch","batch":"b","custom_id":[],"url":"'"$SERVE_URL"'v1/batches/b"}}'
	case_ input '{"operation":{"url":"'"$op"'"},"operation":{"url":"'"$op"'"}}'
	case_ input '{"operation":{"url":"'"$op"'"},"x":"\xc3\x28"}'
	# A poll_at no service gave: polled at once, not waited for.
	case_ ok '{"operation":{"url":"'"$op"'","poll_at":1e999}}'
	case_ ok '{"operation":{"url":"'"$op"'","poll_at":9e18}}'
	# Operation URLs elsewhere: refused before anything is sent.
	case_ config '{"operation":{"url":"'"$FOREIGN_URL"'openai/operations/images/x"}}'
	case_ config '{"operation":{"url":"file:///etc/passwd"}}'
	case_ config '{"operation":{"url":"ftp://'"$HOSTPORT"'/x"}}'
	case_ config '{"operation":{"url":"data:text/plain,x"}}'
	case_ config '{"operation":{"url":"javascript:alert(1)"}}'
	case_ config '{"operation":{"url":"http://example.com/openai/operations/images/x"}}'
	case_ config '{"operation":{"url":"http://user:pw@'"$HOSTPORT"'/openai/operations/images/x"}}'
	case_ config '{"operation":{"url":"http://'"$HOSTPORT"'@example.com/openai/operations/images/x"}}'
	case_ config '{"operation":{"url":"'"$SERVE_URL"'openai/operations/images/x\\r\\nX-Evil: 1"}}'
	case_ config '{"operation":{"kind":"openai-batch","batch":"b","custom_id":"a","url":"'"$FOREIGN_URL"'v1/batches/b"}}'
	case_ config '{"operation":{"kind":"openai-response","url":"'"$FOREIGN_URL"'v1/responses/r"}}'
	case_ config "${FOREIGN_URL}openai/operations/images/x"
	# On the endpoint, but no operation there.
	case_ not_found '{"operation":{"url":"'"$SERVE_URL"'openai/operations/images/%00x"}}'
	case_ invalid_request '{"operation":{"url":"'"$SERVE_URL"'openai/operations/images/'"$LONG"'"}}'
	case_ not_found 'deadbeef'
	case_ input 'batch_abc'
	# Final records pass on as they came, whatever they hold.
	case_ pass '{"status":"succeeded"}'
	case_ pass '{"status":"succeeded","data":[]}'
	case_ pass '{"operation":null,"note":"no operation"}'
	common_cases
	case_ ok "$(dalle-submit 'crlf')\r"
	case_ ok "\xef\xbb\xbf$(dalle-submit 'a byte-order mark mid-stream')"
	case_ ok "$(dalle-submit 'the last good one')"
}

# outcomes FILE: per record of FILE, ok or its error's kind.
outcomes() {
	jq -r 'if .error then .error.kind else "ok" end' "$1"
}

# compare OUT: the lines of OUT whose outcome is not what want says,
# numbered ("pass" lines must be the input line itself).
compare() {
	local i
	outcomes "$1" | paste -d' ' want - |
	    awk '$1 != "pass" && $1 != $2 { print NR ": want " $1 ", got " $2 }'
	for i in $(grep -n '^pass$' want | cut -d: -f1); do
		[ "$(sed -n "${i}{p;q}" "$1")" = "$(sed -n "${i}{p;q}" input)" ] ||
		    echo "$i: not passed through"
	done
}

# No request reached the other host with a key, nor was any key echoed.
no_key_abroad() {
	assert_equal "$(jq -c 'select(.headers["api-key"] or .headers.authorization)' \
	    "$FOREIGN_DIR/serve.log")" ""
	refute_output --partial test-key
	[[ "$stderr" != *test-key* ]]
}

@test "dalle-poll: 59 hostile records, ids and URLs, one record each, in order, no key abroad, memory bounded" {
	local op
	op=$(dalle-submit 'an operation' | jq -r .operation.url)
	poll_catalogue "$op"
	[ "$(wc -l <want)" -ge 59 ]
	: >"$FOREIGN_DIR/serve.log"
	run --separate-stderr lean "$BATS_FILE_TMPDIR/rusage" ru -- \
	    timeout 120 dalle-poll --keep-order --max-line 1048576 <input

	assert_equal "$status" 65
	echo "$output" >out
	assert_equal "$(wc -l <out)" "$(wc -l <want)"
	assert_equal "$(compare out)" ""
	assert_equal "$(jq -r 'select(.error) | .error.message | length > 0' out | sort -u)" true
	# Nothing went to the other host: not even a request without a key.
	assert_equal "$(wc -l <"$FOREIGN_DIR/serve.log")" 0
	no_key_abroad
	# Only operations on the endpoint were polled.
	assert_equal "$(jq -r 'select(.route != "submit") | .method + " " + .path[:26]' "$SERVE_DIR/serve.log" | sort -u)" "GET /openai/operations/images/"
	read -r _ _ rss _ <ru
	[ "$rss" -lt "$(rss_limit $((64 * 1024)))" ]
}

# rec IMAGE: a record of one image, named for its catalogue line.
rec() {
	printf '{"data":[%s],"name":"l%s"}' "$1" "$(wc -l <want)"
}

# fetch_catalogue IMG: IMG is an image URL on the server.
fetch_catalogue() {
	local img=$1 abs=$BATS_TEST_TMPDIR/absolute
	: >input
	: >want
	case_ ok "$(rec '{"url":"'"$img"'"}')"
	case_ ok "$(rec '{"b64_json":"'"$PNG"'"}')"
	case_ input '{"data":[{"url":"'"$img"'"}'
	case_ input '{"data": }'
	# The fields dalle-fetch reads, of every wrong type.
	case_ input '{"data":"'"$img"'"}'
	case_ input '{"data":{"url":"'"$img"'"}}'
	case_ input '{"data":42}'
	case_ input '{"data":[42]}'
	case_ input '{"data":[null]}'
	case_ input '{"data":[["'"$img"'"]]}'
	case_ input "$(rec '{"url":42}')"
	case_ input "$(rec '{"url":["'"$img"'"]}')"
	case_ input "$(rec '{"b64_json":42}')"
	case_ input "$(rec '{"b64_json":{"a":1}}')"
	case_ input "$(rec '{"url":"'"$img"'","error":"x"}')"
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"error":"boom"}/')"
	case_ input '{"data":[{"url":"'"$img"'"}],"name":{"a":1}}'
	case_ input '{"data":[{"url":"'"$img"'"}],"name":["x"]}'
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"request":"x"}/')"
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"request":{"journal":42}}/')"
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"request":{"key":[1]}}/')"
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"status":7}/')"
	case_ input "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"data":[]}/')"
	case_ input "$(rec '{"b64_json":"'"$PNG"'"}' | sed 's/}$/,"x":"\\xc3\\x28"}/')"
	case_ ok "$(rec '{"url":"'"$img"'"}' | sed 's/}$/,"files":"x"}/')"
	case_ protocol "$(rec '{"url":null,"b64_json":null}')"
	# 10,000 images in one record.
	case_ input "$(rec "$(yes '{"url":"file:///x"}' | head -n 10000 | paste -sd,)")"
	# Image URLs no download may follow.
	case_ config "$(rec '{"url":"file:///etc/passwd"}')"
	case_ config "$(rec '{"url":"ftp://'"$HOSTPORT"'/x.png"}')"
	case_ config "$(rec '{"url":"data:image/png;base64,'"$PNG"'"}')"
	case_ config "$(rec '{"url":"javascript:alert(1)"}')"
	case_ config "$(rec '{"url":"http://example.com/x.png"}')"
	case_ config "$(rec '{"url":"http://user:pw@'"$HOSTPORT"'/x.png"}')"
	case_ config "$(rec '{"url":"'"$img"'\\r\\nX-Evil: 1"}')"
	case_ config "http://user:pw@$HOSTPORT/x.png"
	# On the server, or on the other host, and no image there.
	case_ expired "$(rec '{"url":"'"$SERVE_URL"'private/images/%00x.png"}')"
	case_ expired "$(rec '{"url":"'"$FOREIGN_URL"'private/images/x/generated_00.png"}')"
	case_ invalid_request "$(rec '{"url":"'"$SERVE_URL"'private/images/'"$LONG"'.png"}')"
	# Base64 that is none, or no image.
	case_ protocol "$(rec '{"b64_json":"not base64!"}')"
	case_ protocol "$(rec '{"b64_json":"aGVsbG8gd29ybGQ="}')"
	case_ protocol "$(rec '{"b64_json":"iVBORw0KGgo="}')"
	case_ protocol "$(rec '{"b64_json":"'"$HUGEPNG"'"}')"
	# No images.
	case_ input '{"status":"succeeded"}'
	case_ input '{"status":"succeeded","data":[]}'
	# Names that would leave the directory: kept inside it.
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":"../../escape"}'
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":"'"$abs"'"}'
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":"nul\\u0000../x"}'
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":"ctl\\u0001\\u001b[2J\\n/x"}'
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":".."}'
	case_ ok '{"data":[{"b64_json":"'"$PNG"'"}],"name":1e999}'
	common_cases
	case_ ok "$(rec '{"b64_json":"'"$PNG"'"}' | sed 's/"l[0-9]*"/"crlf"/')\r"
	case_ ok "\xef\xbb\xbf$(rec '{"b64_json":"'"$PNG"'"}' | sed 's/"l[0-9]*"/"bom"/')"
	case_ ok "$img"
}

@test "dalle-fetch: 66 hostile records and URLs, one record each, in order, nothing outside -d, no key abroad, memory bounded" {
	local img
	img=$(dalle-submit 'an image' | dalle-poll | jq -r '.data[0].url')
	fetch_catalogue "$img"
	[ "$(wc -l <want)" -ge 66 ]
	: >"$FOREIGN_DIR/serve.log"
	mkdir out
	run --separate-stderr lean "$BATS_FILE_TMPDIR/rusage" ru -- \
	    dalle-fetch --keep-order -d out --max-line 1048576 <input
	assert_equal "$status" 65
	echo "$output" >out.jsonl
	assert_equal "$(wc -l <out.jsonl)" "$(wc -l <want)"
	assert_equal "$(compare out.jsonl)" ""
	assert_equal "$(jq -r 'select(.error) | .error.message | length > 0' out.jsonl | sort -u)" true
	# The one request abroad was the image there, and it had no key.
	assert_equal "$(jq -r .path "$FOREIGN_DIR/serve.log")" /private/images/x/generated_00.png
	no_key_abroad
	# Every file is in out/, and none elsewhere.
	assert_equal "$(find . -newer input -type f ! -path './out/*' ! -name out.jsonl ! -name ru ! -name 'separate-stderr-*')" ""
	assert_equal "$(jq -r '.files[]?.path' out.jsonl | grep -cv '^out/[^/]*$')" 0
	read -r _ _ rss _ <ru
	[ "$rss" -lt "$(rss_limit $((64 * 1024)))" ]
}

# at_rename CMD ARGS PROG...: run PROG under gdb with the arguments and
# redirections ARGS, stopped at its first rename(2) or renameat(2), where
# the shell command CMD runs first: the moment between the check of a
# directory and the rename into it, made to last.  No hook in the
# programs, no LD_PRELOAD.
at_rename() {
	command -v gdb >/dev/null || skip "no gdb to stop at the rename"
	# Under make asan: LeakSanitizer cannot work under ptrace, and says
	# so in a report that would fail the run.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    timeout 60 gdb -nx -batch -iex 'set debuginfod enabled off' \
	    -ex 'set breakpoint pending on' -ex 'break rename' \
	    -ex 'break renameat' -ex "run $2" -ex "shell $1" -ex continue \
	    --args "${@:3}" >gdb.out 2>&1
}

# The swap an attacker with write access to the output directory makes
# at that moment: the checked directory moved aside, a link to elsewhere
# in its place, and the temporary file's name copied there.
SWAP='mv DIR DIR.real && ln -s "$PWD/elsewhere" DIR && cp DIR.real/.dalle-fetch.* elsewhere/'

@test "dalle-fetch renames into the directory it checked, not one swapped for a link meanwhile" {
	mkdir -p out/sub elsewhere
	echo victim >elsewhere/swapped.png
	echo '{"data":[{"b64_json":"'"$PNG"'"}],"name":"swapped"}' >in
	at_rename "${SWAP//DIR/out/sub}" '-d out -o "sub/{name}.{ext}" <in >got' \
	    "$ROOT/dalle-fetch"
	grep -q 'Breakpoint.*rename' gdb.out
	# The victim's file is untouched; the image is where it was checked.
	assert_equal "$(cat elsewhere/swapped.png)" victim
	assert_equal "$(png_size out/sub.real/swapped.png)" 1x1
	assert_equal "$(jq -r '.error.kind' got)" null
	# And no temporary file is left behind in it.
	assert_equal "$(ls -A out/sub.real)" swapped.png
}

@test "--partial-dir: a partial is renamed into the directory checked, not one swapped for a link" {
	use_openai
	mkdir elsewhere
	at_rename "${SWAP//DIR/pd}" '-m gpt-image-2 --partial-images 1 --partial-dir pd "a dot" >got' \
	    "$ROOT/dalle-submit"
	grep -q 'Breakpoint.*rename' gdb.out
	assert_equal "$(ls elsewhere | grep -c partial)" 0
	assert_equal "$(ls pd.real | grep -c 'partial0\.png$')" 1
	assert_equal "$(jq -r '.error.kind' got)" null
}

@test "--partial-dir: a link planted at a partial's name is neither followed nor replaced; files as the umask says" {
	use_openai
	umask 077
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 1 \
	    --partial-dir pd 'a link'
	assert_success
	name=$(jq -r '.partials[0]' <<<"$output")
	assert_equal "$(stat -c %a "$name")" 600
	assert_equal "$(stat -c %a pd)" 700
	echo victim >victim
	rm "$name"
	ln -s "$PWD/victim" "$name"
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 1 \
	    --partial-dir pd 'a link'
	assert_equal "$status" 73
	assert_equal "$(jq -r .error.kind <<<"$output")" io
	[[ "$(jq -r .error.message <<<"$output")" == *"a symbolic link inside --partial-dir: not followed, nor replaced"* ]]
	assert_equal "$(cat victim)" victim
	[ -L "$name" ]
	# -d's rule: the directory itself may be a link of the user's.
	rm "$name"
	mv pd real
	ln -s real pd
	umask 022
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 1 \
	    --partial-dir pd 'a link'
	assert_success
	assert_equal "$(stat -c %a "real/${name#pd/}")" 644
}
