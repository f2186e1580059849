# Helpers for the dalle-serve tests: one HTTP call with curl whose status,
# body and headers land in variables and files.
# shellcheck shell=bash

# call METHOD URL [curl args...]: sets CODE and BODY; headers in $HDRS.
# shellcheck disable=SC2034
call() {
	local m=$1 u=$2
	shift 2
	HDRS="$BATS_TEST_TMPDIR/headers"
	# Read with builtins: a process costs a loaded machine more CPU
	# than the request.  BODY as $(cat) gave it, for text bodies.
	CODE='' BODY=''
	curl -s -X "$m" -o "$BATS_TEST_TMPDIR/body" -D "$HDRS" \
	    -w '%{http_code}' "$@" "$u" >"$BATS_TEST_TMPDIR/code"
	read -r CODE <"$BATS_TEST_TMPDIR/code" || true
	IFS= read -r -d '' BODY <"$BATS_TEST_TMPDIR/body" || true
	while [[ $BODY == *$'\n' ]]; do
		BODY=${BODY%$'\n'}
	done
}

# hdr NAME: value of a response header of the last call (any case).
hdr() {
	local line name
	while IFS= read -r line; do
		name=${line%%:*}
		if [[ $line == *:* && ${name,,} == "${1,,}" ]]; then
			line=${line%$'\r'}
			echo "${line#* }"
			return 0
		fi
	done <"$HDRS"
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

# await URL FILTER OP VALUE: GET URL (with a key), for 60 s at most, until
# test "$(jqb FILTER)" OP VALUE holds: a state the server reports, not a
# sleep that a loaded machine outruns; asked again after poll_pause.  The
# caller asserts on the last answer.
await() {
	local url=$1 filter=$2 op=$3 want=$4 _pause='' end=$((SECONDS + $(slow 60)))
	while [ "$SECONDS" -lt "$end" ]; do
		call GET "$url" -H 'api-key: k'
		test "$(jqb "$filter")" "$op" "$want" && return 0
		poll_pause
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

# same_json FILE: the last body equals FILE as JSON.
same_json() {
	assert_equal "$(jq -cS . "$BATS_TEST_TMPDIR/body")" "$(jq -cS . "$1")"
}
