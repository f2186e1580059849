#!/usr/bin/env bats
# A hostile server (dalle-serve --hostile): every misbehaviour ends in
# bounded time and memory with a clear error record, and the key never
# goes anywhere but the endpoint.
bats_require_minimum_version 1.5.0
load helpers/common

SYNC="openai/deployments/dalle3/images/generations?api-version=2024-02-01"

setup_file() {
	# Peak RSS of one stage, as make bench measures it.
	cc -O2 -o "$BATS_FILE_TMPDIR/rusage" \
	    "$BATS_TEST_DIRNAME/../bench/rusage.c"
}

setup() {
	_common_setup
	PEER_PID=
}

teardown() {
	stop_pid "${PEER_PID:-}"
	stop_test_server
}

# hostile MODE[,MODE] [dalle-serve options]: a server of its own, used
# with a key.
hostile() {
	local modes=$1
	shift
	serve_start --hostile "$modes" "$@"
	use_azure
}

# A second, well-behaved server: "the other host".  Sets PEER_URL and
# PEER_LOG.
peer_start() {
	local d
	d=$(mktemp -d "$BATS_TEST_TMPDIR/peer.XXXXXX")
	"$ROOT/dalle-serve" --listen 127.0.0.1:0 --log "$d/serve.log" \
	    >"$d/out" 2>"$d/err" 3>&- &
	PEER_PID=$!
	PEER_URL=$(first_line "$d/out" "$PEER_PID")
	PEER_LOG=$d/serve.log
	[ -n "$PEER_URL" ]
}

# kind: the error kind of the record in $output.
kind() {
	jq -r .error.kind <<<"$output"
}

# requests ROUTE: how many requests of that route the server logged.
requests() {
	jq -s --arg r "$1" 'map(select(.route == $r)) | length' \
	    "$SERVE_DIR/serve.log"
}

# work KIB: KIB, and a half more under a tool (ASan's shadow memory and
# red zones; valgrind's shadow of every byte and its copying realloc: the
# gzip-bomb test took 131 MB of work under ASan, 167 MB under valgrind).
work() {
	if under_tool; then echo $(($1 * 3 / 2)); else echo "$1"; fi
}

# maxrss: the peak RSS in KiB of the last command run under rusage.
maxrss() {
	awk 'END { print $3 }' "$BATS_TEST_TMPDIR/ru"
}

# ru CMD...: CMD under rusage, in a shell that may not map more than 2 GiB
# (an unbounded client fails rather than eat the machine) unless the
# programs run under a tool (make asan's terabytes of shadow memory), and
# lean.
ru() {
	(under_tool || ulimit -v 2097152
	lean "$BATS_FILE_TMPDIR/rusage" "$BATS_TEST_TMPDIR/ru" -- \
	    timeout 60 "$@")
}

# limited MODE: a 429 of MODE to a request with --retries 1 and a
# request timeout of 1 s ends as a rate_limited record.
limited() {
	hostile "$1"
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 1 --request-timeout 1 x
	assert_equal "$status" 69
	assert_equal "$(kind)" rate_limited
}

# retried_once MODE: limited, and sent twice (its wait cut to the
# timeout).
retried_once() {
	limited "$1"
	assert_equal "$(requests azure_generate)" 2
}

# held_once MODE: limited by a 429 asking for longer than a minute: sent
# once; its retry, which the service's wait (a minute, clamped) outlasts,
# is not sent into it, and the record says so.
held_once() {
	limited "$1"
	[[ "$(jq -r .error.message <<<"$output")" == *"not sent"* ]]
	assert_equal "$(requests azure_generate)" 1
}

# at ROUTE: the times (s) of the requests of that route, as the server
# logged them, in order.
at() {
	jq -s --arg r "$1" 'map(select(.route == $r) | (.time[0:19] + "Z" |
	    fromdate) + (.time[20:23] | tonumber) / 1000) | sort' \
	    "$SERVE_DIR/serve.log"
}

# span ROUTE: from the first request of that route to the last, in s.
span() {
	jq 'max - min' <<<"$(at "$1")"
}

# refused_image MODE [dalle-fetch options]: an image from a server of MODE
# is a protocol error and leaves no file.
refused_image() {
	hostile "$1"
	shift
	rec=$(image)
	run --separate-stderr timeout 60 dalle-fetch -d out "$@" <<<"$rec"
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(find out -type f | wc -l)" 0
}

# timed_out MODE: an operation polled from a server of MODE with -t 1
# ends in a timeout record.
timed_out() {
	hostile "$1"
	rec=$(op)
	run --separate-stderr timeout 60 dalle-poll -t 1 <<<"$rec"
	assert_equal "$status" 75
	assert_equal "$(kind)" timeout
}

# An operation to poll and an image URL to fetch, from a server that
# behaves until the stage under test.
op() {
	dalle-submit -s 256x256 x
}

image() {
	dalle-submit -s 256x256 x | dalle-poll
}

@test "bad-json: 200 with a broken JSON body is a protocol error" {
	hostile bad-json
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(requests azure_generate)" 1
}

@test "html-500: an HTML error page is a server error, retried and reported" {
	hostile html-500
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 1 --request-timeout 1 x
	assert_equal "$status" 69
	assert_equal "$(kind)" server
	assert_equal "$(jq -r .error.message <<<"$output")" "HTTP 500"
	assert_equal "$(requests azure_generate)" 2
}

@test "html-200: a login page with 200 is a protocol error, not a result" {
	hostile html-200
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'not JSON.*text/html'
}

@test "wrong-type: a JSON answer labelled text/plain is refused" {
	hostile wrong-type:generate
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'text/plain'
}

@test "wrong-type: an image labelled text/html is refused, no file" {
	refused_image wrong-type:image
}

@test "no-location: a 202 without operation-location is a protocol error, nothing polled" {
	hostile no-location
	run --separate-stderr timeout 60 bash -o pipefail -c 'dalle-submit -s 256x256 x | dalle-poll'
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(requests operation_get)" 0
}

@test "foreign-location: an operation on another host is refused; the key never goes there" {
	peer_start
	hostile foreign-location --hostile-peer "$PEER_URL"
	run --separate-stderr timeout 60 bash -o pipefail -c 'dalle-submit -s 256x256 x | dalle-poll'
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(wc -l <"$PEER_LOG")" 0
}

@test "unknown-status: a status the service does not document ends the record at once" {
	hostile unknown-status
	rec=$(op)
	run --separate-stderr timeout 60 dalle-poll <<<"$rec"
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(requests operation_get)" 1
}

@test "never-ends: -t 1 ends the polling near 1 s with a timeout record" {
	timed_out never-ends
	# From the first poll to the last, as the server saw them.
	[ "$(jq -n "$(span operation_get) <= 2.5")" = true ]
}

@test "retry-zero: Retry-After 0 on a running operation is no busy loop" {
	timed_out retry-zero
	# At most one poll a quarter second (and the last look).
	[ "$(requests operation_get)" -le 8 ]
}

@test "stall: a poll whose body stalls ends at -t, not at the request timeout" {
	timed_out stall:poll
	assert_equal "$(jq -r .error.attempts <<<"$output")" 1
}

@test "stall: an image body that stalls ends by the request timeout, no file" {
	hostile stall:image
	rec=$(image)
	run --separate-stderr timeout 60 dalle-fetch -d out --retries 0 \
	    --request-timeout 1 <<<"$rec"
	assert_equal "$status" 69
	assert_equal "$(kind)" network
	assert_equal "$(find out -type f | wc -l)" 0
}

@test "trickle: an answer trickled a byte at a time ends by the request timeout" {
	hostile trickle
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 0 --request-timeout 1 x
	assert_equal "$status" 69
	assert_equal "$(kind)" network
	assert_regex "$(jq -r .error.message <<<"$output")" 'timed out'
}

@test "huge: an endless API answer stops at the 64 MiB cap, memory bounded" {
	hostile huge
	run --separate-stderr ru dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'larger than 67108864 bytes'
	[ "$(maxrss)" -lt $(($(rss_idle) + $(work 122880))) ]
}

@test "huge: an endless image stops at --max-bytes, no file" {
	refused_image huge:image --max-bytes 1m
	assert_regex "$(jq -r .error.message <<<"$output")" 'larger than 1048576 bytes'
}

@test "huge: -o - streams a 48 MiB image without holding it in memory" {
	hostile huge:image --hostile-bytes 48m
	rec=$(image)
	ru dalle-fetch -o - <<<"$rec" >img
	assert_equal "$(stat -c %s img)" 50331648
	[ "$(maxrss)" -lt $(($(rss_idle) + 24576)) ]
}

@test "gzip-bomb: an image with a Content-Encoding nobody asked for is refused at once" {
	hostile gzip-bomb:image
	rec=$(image)
	run --separate-stderr ru dalle-fetch -d out <<<"$rec"
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'Content-Encoding.*gzip'
	assert_equal "$(find out -type f | wc -l)" 0
	[ "$(maxrss)" -lt $(($(rss_idle) + 24576)) ]
}

@test "gzip-bomb: a compressed API answer is inflated only up to the cap" {
	hostile gzip-bomb:generate
	run --separate-stderr ru dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'larger than'
	[ "$(maxrss)" -lt $(($(rss_idle) + $(work 122880))) ]
}

@test "redirect-loop: an API answer's redirect is never followed with the key" {
	hostile redirect-loop
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(requests azure_generate)" 1
}

@test "redirect-loop: an image's redirects end, no file" {
	refused_image redirect-loop:image
	[ "$(requests image)" -le 6 ]
}

@test "redirect-away: a redirect to another host carries no key there" {
	peer_start
	hostile redirect-away --hostile-peer "$PEER_URL"
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 x
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	run --separate-stderr timeout 60 bash -o pipefail -c 'dalle-submit -s 256x256 x | dalle-poll'
	assert_equal "$(kind)" protocol
	assert_equal "$(jq -s 'map(select(.headers["api-key"] or .headers.authorization)) | length' "$PEER_LOG")" 0
}

@test "bad-base64: invalid b64_json is a protocol error, no file" {
	hostile bad-base64
	run --separate-stderr timeout 60 bash -o pipefail -c 'dalle-submit --deployment gpt-image-2 x | dalle-fetch -d out'
	assert_equal "$status" 76
	assert_equal "$(kind)" protocol
	assert_equal "$(find out -type f | wc -l)" 0
}

@test "html-image: an image URL answering an HTML page with 200 leaves no file" {
	refused_image html-image
}

@test "retry-huge: a 429 asking for 115 days waits at most the request timeout, spends --retries, and sends nothing into the wait" {
	held_once retry-huge
}

@test "retry-huge: a 429's hold of 60 s holds no later request past its own request timeout, and no process shortens it for another" {
	hostile retry-huge:generate
	# The default request timeout: its 429 holds the budget 60 s.
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 0 --rate-file rate x
	assert_equal "$status" 69
	# A request timeout of 1 s: each ends at once as rate_limited,
	# unsent (the service said to wait), none waiting out the hold.
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 0 --request-timeout 1 --rate-file rate <<<$'p1\np2\np3'
	assert_equal "$status" 69
	assert_equal "$(jq -s 'map(select(.error.kind == "rate_limited")) | length' <<<"$output")" 3
	assert_equal "$(jq -s 'map(select(.error.message | test("not sent"))) | length' <<<"$output")" 3
	assert_equal "$(requests azure_generate)" 1
	# The hold is the service's still: a process that may wait 30 s is
	# not sent into it either (the 1 s one did not shorten it).
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 0 --request-timeout 30 --rate-file rate x
	assert_equal "$status" 69
	assert_equal "$(jq -r .error.kind <<<"$output")" rate_limited
	assert_equal "$(requests azure_generate)" 1
}

@test "retry-huge: dalle-poll -t 10 holds no later record on a 429's hold of 60 s; each ends at once, unsent" {
	hostile retry-huge:poll
	dalle-submit -s 256x256 a b c >ops
	run --separate-stderr timeout 60 bash -c '{
		head -n 1 ops
		# The rest once the first poll has its 429.
		until grep -q operation_get "$SERVE_DIR/serve.log"; do
			sleep 0.05
		done
		sleep '"$(slow 0.3)"'
		tail -n +2 ops
	} | dalle-poll -t 10'
	assert_equal "$status" 75
	assert_equal "$(jq -s 'map(select(.error.kind == "timeout")) | length' <<<"$output")" 3
	assert_equal "$(requests operation_get)" 1
}

@test "retry-missing: a 429 with no Retry-After backs off 1 s, then 2 s, per --retries, and ends rate_limited" {
	hostile retry-missing:generate
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 2 x
	assert_equal "$status" 69
	assert_equal "$(kind)" rate_limited
	assert_equal "$(requests azure_generate)" 3
	# The backoff's waits (75-100 % of 1 s and 2 s), not at once, nor
	# a minute.
	[ "$(jq '.[1] - .[0] >= 0.7' <<<"$(at azure_generate)")" = true ]
	[ "$(jq '.[2] - .[1] >= 1.45' <<<"$(at azure_generate)")" = true ]
	[ "$(jq -n "$(span azure_generate) < $(slow 10)")" = true ]
}

@test "retry-negative: a negative Retry-After is the backoff, and 429s spend --retries" {
	retried_once retry-negative
}

@test "retry-nan: a Retry-After that is no number is the backoff; --retries 0 sends once" {
	hostile retry-nan
	run --separate-stderr timeout 60 dalle-submit --deployment dalle3 \
	    --retries 0 x
	assert_equal "$status" 69
	assert_equal "$(kind)" rate_limited
	assert_equal "$(requests azure_generate)" 1
}

@test "retry-date: a Retry-After date a year ahead is clamped, and -t bounds a poll's 429s" {
	held_once retry-date
	serve_stop
	hostile retry-date:poll
	rec=$(op)
	run --separate-stderr timeout 60 dalle-poll -t 1 <<<"$rec"
	assert_equal "$status" 75
	assert_equal "$(kind)" timeout
}

# no_images CMD: the pipeline CMD against a server of no-images gives one
# protocol record "with no images", exit 76, and dalle-fetch writes nothing.
no_images() {
	run --separate-stderr timeout 60 bash -o pipefail -c "$1 | dalle-fetch -d out"
	assert_equal "$status" 76
	assert_equal "${#lines[@]}" 1
	assert_equal "$(kind)" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" '(no|without an) image'
	assert_equal "$(find out -type f 2>/dev/null | wc -l)" 0
}

@test "no-images: success with no images is a protocol error on every route, and no file" {
	hostile no-images
	# A synchronous 200 with "data": [].
	no_images 'dalle-submit --deployment dalle3 x'
	assert_equal "$(requests azure_generate)" 1
	# An operation that "succeeded" with no result.
	no_images 'dalle-submit -s 256x256 x | dalle-poll'
	assert_equal "$(requests operation_get)" 1
	# A background response "completed" with no output.
	use_openai
	no_images 'dalle-submit --api responses --quality low x | dalle-poll -t 5'
	assert_equal "$(grep -c '"fault":"no-images"' "$SERVE_DIR/serve.log")" 3
	# A batch whose output line has "data": [].
	no_images 'dalle-submit --api openai --batch -m gpt-image-2 x | dalle-poll -t 20 --interval 1'
}
