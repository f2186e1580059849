# Helpers for the dalle-serve tests: one HTTP call with curl whose status,
# body and headers land in variables and files.
# shellcheck shell=bash

# call METHOD URL [curl args...]: sets CODE and BODY; headers in $HDRS.
# shellcheck disable=SC2034
call() {
	local m=$1 u=$2
	shift 2
	HDRS="$BATS_TEST_TMPDIR/headers"
	CODE=$(curl -s -X "$m" -o "$BATS_TEST_TMPDIR/body" -D "$HDRS" \
	    -w '%{http_code}' "$@" "$u")
	BODY=$(cat "$BATS_TEST_TMPDIR/body")
}

# hdr NAME: value of a response header of the last call (any case).
hdr() {
	grep -i "^$1:" "$HDRS" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# post_json URL JSON [curl args...]
post_json() {
	local u=$1 d=$2
	shift 2
	call POST "$u" -H 'Content-Type: application/json' -d "$d" "$@"
}

# jqb [jq options] FILTER: jq -r on the last body.
jqb() {
	jq -r "$@" "$BATS_TEST_TMPDIR/body"
}

# await URL FILTER OP VALUE: GET URL (with a key) every 50 ms, for 20 s at
# most (times DALLE_TEST_SLOW), until test "$(jqb FILTER)" OP VALUE holds:
# a state the server reports, not a sleep that a loaded machine outruns.
# The caller asserts on the last answer.
await() {
	local url=$1 filter=$2 op=$3 want=$4
	for _ in $(seq "$(slow 400)"); do
		call GET "$url" -H 'api-key: k'
		test "$(jqb "$filter")" "$op" "$want" && return 0
		sleep 0.05
	done
	return 0
}

# b64_to FILE: decode data[0].b64_json of the last body into FILE.
b64_to() {
	jq -r "${2:-.data[0].b64_json}" "$BATS_TEST_TMPDIR/body" | base64 -d >"$1"
}

# magic FILE: the first bytes in hex.
magic() {
	od -An -tx1 -N"${2:-4}" "$1" | tr -d ' \n'
}
