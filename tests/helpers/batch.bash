# Helpers for the Batch API tests (batch-serve.bats, batch-submit.bats,
# batch.bats): curl on dalle-serve's Files API and batches, and what the
# server logged.  KEY is the file's key.
# shellcheck shell=bash

# api METHOD PATH [curl args]: the answer's body; its status in $BATS_TEST_TMPDIR/code.
api() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X "$m" \
	    -H "Authorization: Bearer $KEY" "$@" "$SERVE_URL${p#/}" \
	    >"$BATS_TEST_TMPDIR/code"
	cat "$BATS_TEST_TMPDIR/body"
}

code() {
	cat "$BATS_TEST_TMPDIR/code"
}

# lines PROMPT...: an input file of generations, custom_id the prompt.
lines() {
	local p
	for p in "$@"; do
		printf '{"custom_id":"%s","method":"POST","url":"/v1/images/generations","body":{"model":"gpt-image-2","prompt":"a %s","quality":"low","size":"1024x1024"}}\n' "$p" "$p"
	done
}

# upload FILE: the new file's id.
upload() {
	api POST /v1/files -F purpose=batch -F "file=@$1" | jq -r .id
}

# create FILE_ID: the new batch's id.
create() {
	api POST /v1/batches -H 'Content-Type: application/json' \
	    -d "{\"input_file_id\":\"$1\",\"endpoint\":\"/v1/images/generations\",\"completion_window\":\"24h\",\"metadata\":{\"job\":\"t\"}}" |
	    jq -r .id
}

# until_status BATCH STATUS: poll (up to 60 s) until the batch has it:
# looked at again after poll_pause.
until_status() {
	local s _pause='' end=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$end" ]; do
		s=$(api GET "/v1/batches/$1" | jq -r .status)
		[ "$s" = "$2" ] && return 0
		poll_pause
	done
	echo "batch $1 is $s, not $2" >&2
	return 1
}

# until_done BATCH N: poll (up to 60 s) until N of its lines have run, as
# the server counts them.
until_done() {
	local n _pause='' end=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$end" ]; do
		n=$(api GET "/v1/batches/$1" | jq -r .request_counts.completed)
		[ "$n" -ge "$2" ] && return 0
		poll_pause
	done
	echo "batch $1 has run $n lines, not $2" >&2
	return 1
}

# use_oai: dalle-submit and dalle-poll talk to this test's server.
use_oai() {
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY="$KEY"
}

# logged ROUTE: how many requests of that route the server logged.
logged() {
	jq -r .route "$SERVE_DIR/serve.log" | grep -cx "$1" || true
}

prompts() {
	printf 'a fox\na owl\na cat\na dog\na elk\n'
}
