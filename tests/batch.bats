#!/usr/bin/env bats
# The Batch API: dalle-serve's Files API and batches (upload, create,
# retrieve, list, cancel, expiry, per-line failures) seen with curl, and
# the pipeline dalle-submit --batch | dalle-poll | dalle-fetch.
bats_require_minimum_version 1.5.0
load helpers/common

KEY=sk-batch-secret-4242

setup() {
	_common_setup
}

teardown() {
	serve_stop
}

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

# part_done BATCH: of its 10 lines, how many completed (checked to be
# some but not all); its output and error files in out.jsonl, err.jsonl.
part_done() {
	local b done
	b=$(api GET "/v1/batches/$1")
	done=$(jq -r .request_counts.completed <<<"$b")
	[ "$done" -gt 0 ] || return 1
	[ "$done" -lt 10 ] || return 1
	api GET "/v1/files/$(jq -r .output_file_id <<<"$b")/content" >out.jsonl
	api GET "/v1/files/$(jq -r .error_file_id <<<"$b")/content" >err.jsonl
	echo "$done"
}

# until_status BATCH STATUS: poll (up to 20 s) until the batch has it.
until_status() {
	local i s
	for ((i = 0; i < 200; i++)); do
		s=$(api GET "/v1/batches/$1" | jq -r .status)
		[ "$s" = "$2" ] && return 0
		sleep 0.1
	done
	echo "batch $1 is $s, not $2" >&2
	return 1
}

@test "serve: a file is uploaded, retrieved and read back" {
	serve_start --api-key "$KEY"
	lines fox owl >in.jsonl
	run upload in.jsonl
	assert_success
	assert_output --regexp '^file-[0-9A-Za-z]{22}$'
	fid=$output
	run api GET "/v1/files/$fid"
	assert_equal "$(jq -r .purpose <<<"$output")" batch
	assert_equal "$(jq -r .filename <<<"$output")" in.jsonl
	assert_equal "$(jq -r .bytes <<<"$output")" "$(wc -c <in.jsonl)"
	run api GET "/v1/files/$fid/content"
	assert_equal "$output" "$(cat in.jsonl)"
	run api GET /v1/files/file-nope
	assert_equal "$(code)" 404
	assert_equal "$(jq -r .error.message <<<"$output")" 'No such File object: file-nope'
}

@test "serve: a batch upload that is not JSONL is refused 400" {
	serve_start --api-key "$KEY"
	echo '{malformed' >bad.jsonl
	run api POST /v1/files -F purpose=batch -F file=@bad.jsonl
	assert_equal "$(code)" 400
	assert_equal "$(jq -r .error.message <<<"$output")" 'Invalid file format for Batch API. Must be .jsonl'
	lines fox >in.txt
	run api POST /v1/files -F purpose=batch -F file=@in.txt
	assert_equal "$(code)" 400
}

@test "serve: the batch routes take the same credentials as /v1" {
	serve_start --api-key "$KEY"
	run curl -s -o /dev/null -w '%{http_code}' "${SERVE_URL}v1/batches"
	assert_output 401
	run curl -s -o /dev/null -w '%{http_code}' -H 'api-key: '"$KEY" \
	    "${SERVE_URL}v1/batches"
	assert_output 401
	run api GET /v1/batches
	assert_equal "$(code)" 200
}

@test "serve: a batch goes validating, in_progress, finalizing, completed" {
	serve_start --api-key "$KEY" --batch-latency "$(slow 2)"
	lines fox owl cat dog >in.jsonl
	fid=$(upload in.jsonl)
	bid=$(create "$fid")
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -r .status <<<"$output")" validating
	assert_equal "$(jq -r .request_counts.total <<<"$output")" 0
	assert_equal "$(jq -r .metadata.job <<<"$output")" t
	assert_equal "$(jq -r '.expires_at - .created_at' <<<"$output")" 86400
	until_status "$bid" in_progress
	until_status "$bid" finalizing
	until_status "$bid" completed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -c .request_counts <<<"$output")" '{"total":4,"completed":4,"failed":0}'
	assert_equal "$(jq -r .error_file_id <<<"$output")" null
	assert_equal "$(jq -r .model <<<"$output")" gpt-image-2
	out=$(jq -r .output_file_id <<<"$output")
	api GET "/v1/files/$out/content" >out.jsonl
	assert_equal "$(wc -l <out.jsonl)" 4
	assert_equal "$(jq -r .custom_id out.jsonl | sort | tr '\n' ' ')" 'cat dog fox owl '
	assert_equal "$(jq -r '.response.status_code' out.jsonl | sort -u)" 200
	assert_equal "$(jq -r '.error' out.jsonl | sort -u)" null
	assert_equal "$(jq -r '.response.request_id' out.jsonl | grep -c '^req_')" 4
	assert_equal "$(jq -r '.id' out.jsonl | grep -c '^batch_req_')" 4
	# The body a synchronous request gets: the same keys, the same image.
	jq -c '.response.body | del(.created)' out.jsonl | head -n 1 >batched
	api POST /v1/images/generations -H 'Content-Type: application/json' \
	    -d "$(head -n 1 in.jsonl | jq -c .body)" | jq -c 'del(.created)' >sync
	assert_equal "$(cat batched)" "$(cat sync)"
	run api GET "/v1/files/$out"
	assert_equal "$(jq -r .purpose <<<"$output")" batch_output
	assert_equal "$(jq -r .filename <<<"$output")" "${bid}_output.jsonl"
}

@test "serve: lines the synchronous route refuses go to the error file" {
	serve_start --api-key "$KEY" --blocked-term bomb
	{
		lines fox
		printf '{"custom_id":"odd","method":"POST","url":"/v1/images/generations","body":{"model":"gpt-image-2","prompt":"x","size":"13x13"}}\n'
		printf '{"custom_id":"bomb","method":"POST","url":"/v1/images/generations","body":{"model":"gpt-image-2","prompt":"a bomb"}}\n'
	} >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" completed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -c .request_counts <<<"$output")" '{"total":3,"completed":1,"failed":2}'
	e=$(jq -r .error_file_id <<<"$output")
	api GET "/v1/files/$e/content" >err.jsonl
	assert_equal "$(jq -r 'select(.custom_id == "odd") | .response.status_code' err.jsonl)" 400
	assert_equal "$(jq -r 'select(.custom_id == "odd") | .response.body.error.code' err.jsonl)" invalid_size
	assert_equal "$(jq -r 'select(.custom_id == "bomb") | .response.body.error.code' err.jsonl)" content_policy_violation
	assert_equal "$(jq -r '.error' err.jsonl | sort -u)" null
}

@test "serve: --batch-fail-rate fails lines with 500 in the error file" {
	serve_start --api-key "$KEY" --batch-fail-rate 1
	lines fox owl >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" completed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -r .output_file_id <<<"$output")" null
	e=$(jq -r .error_file_id <<<"$output")
	run api GET "/v1/files/$e/content"
	assert_equal "$(jq -r .response.status_code <<<"$output" | sort -u)" 500
	assert_equal "$(jq -r .response.body.error.type <<<"$output" | sort -u)" server_error
}

@test "serve: a batch that does not validate fails with errors.data" {
	serve_start --api-key "$KEY"
	{
		lines fox fox
		printf '{not json\n'
		printf '{"custom_id":"d2","method":"POST","url":"/v1/images/generations","body":{"model":"dall-e-3","prompt":"x"}}\n'
		printf '{"custom_id":"u","method":"POST","url":"/v1/images/edits","body":{"model":"gpt-image-2","prompt":"x"}}\n'
	} >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" failed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -r '[.errors.data[].code] | join(" ")' <<<"$output")" 'duplicate_custom_id invalid_json_line model_not_found invalid_url'
	assert_equal "$(jq -r '[.errors.data[].line] | join(" ")' <<<"$output")" '2 3 4 5'
	bid=$(create file-missing)
	until_status "$bid" failed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -r '.errors.data[0].param' <<<"$output")" file_id
}

@test "serve: bad create requests are refused 400, unknown batches 404" {
	serve_start --api-key "$KEY"
	run api POST /v1/batches -H 'Content-Type: application/json' \
	    -d '{"input_file_id":"file-x","endpoint":"/v1/embeddings","completion_window":"24h"}'
	assert_equal "$(code)" 400
	assert_equal "$(jq -r .error.param <<<"$output")" endpoint
	run api POST /v1/batches -H 'Content-Type: application/json' \
	    -d '{"input_file_id":"file-x","endpoint":"/v1/images/generations","completion_window":"1h"}'
	assert_equal "$(jq -r .error.param <<<"$output")" completion_window
	run api POST /v1/batches -H 'Content-Type: application/json' \
	    -d '{"input_file_id":"file-x","endpoint":"/v1/images/generations","completion_window":"24h","metadata":{"tags":[1]}}'
	assert_equal "$(jq -r .error.code <<<"$output")" invalid_type
	assert_equal "$(jq -r .error.param <<<"$output")" metadata.tags
	run api GET /v1/batches/batch_nope
	assert_equal "$(code)" 404
	assert_equal "$(jq -r .error.message <<<"$output")" "No batch found with id 'batch_nope'."
}

@test "serve: batches are listed newest first, limit and after" {
	serve_start --api-key "$KEY"
	lines fox >in.jsonl
	fid=$(upload in.jsonl)
	b1=$(create "$fid")
	b2=$(create "$fid")
	b3=$(create "$fid")
	run api GET '/v1/batches?limit=2'
	assert_equal "$(jq -r '[.data[].id] | join(" ")' <<<"$output")" "$b3 $b2"
	assert_equal "$(jq -r .has_more <<<"$output")" true
	assert_equal "$(jq -r .last_id <<<"$output")" "$b2"
	run api GET "/v1/batches?after=$b2"
	assert_equal "$(jq -r '[.data[].id] | join(" ")' <<<"$output")" "$b1"
	assert_equal "$(jq -r .has_more <<<"$output")" false
}

@test "serve: an expired batch keeps its done lines, the rest batch_expired" {
	serve_start --api-key "$KEY" --batch-latency 10 --batch-expire 5
	lines a b c d e f g h i j >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" expired
	done=$(part_done "$bid")
	assert_equal "$(wc -l <out.jsonl)" "$done"
	assert_equal "$(wc -l <err.jsonl)" "$((10 - done))"
	assert_equal "$(jq -r .error.code err.jsonl | sort -u)" batch_expired
	assert_equal "$(jq -r .response err.jsonl | sort -u)" null
	assert_equal "$(jq -r .error.message err.jsonl | sort -u)" 'This request could not be executed before the completion window expired.'
}

@test "serve: cancel goes cancelling, then cancelled, finished lines kept" {
	serve_start --api-key "$KEY" --batch-latency 10
	lines a b c d e f g h i j >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" in_progress
	sleep 3
	run api POST "/v1/batches/$bid/cancel"
	assert_equal "$(code)" 200
	assert_equal "$(jq -r .status <<<"$output")" cancelling
	until_status "$bid" cancelled
	done=$(part_done "$bid")
	assert_equal "$(jq -r .error.code err.jsonl | sort -u)" batch_cancelled
	assert_equal "$(wc -l <err.jsonl)" "$((10 - done))"
	run api POST "/v1/batches/$bid/cancel"
	assert_equal "$(code)" 200
	serve_stop
	serve_start --api-key "$KEY"
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" completed
	run api POST "/v1/batches/$bid/cancel"
	assert_equal "$(code)" 409
	assert_equal "$(jq -r .error.message <<<"$output")" "Cannot cancel a batch with status 'completed'."
}

@test "serve: a batch of JSON edits runs on /v1/images/edits" {
	serve_start --api-key "$KEY"
	img=$(api POST /v1/images/generations -H 'Content-Type: application/json' \
	    -d '{"model":"gpt-image-2","prompt":"a harbour","size":"1024x1024","quality":"low"}' | jq -r '.data[0].b64_json')
	printf '{"custom_id":"e1","method":"POST","url":"/v1/images/edits","body":{"model":"gpt-image-2","prompt":"add a boat","images":[{"image_url":"data:image/png;base64,%s"}]}}\n' "$img" >in.jsonl
	fid=$(upload in.jsonl)
	run api POST /v1/batches -H 'Content-Type: application/json' \
	    -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/images/edits\",\"completion_window\":\"24h\"}"
	bid=$(jq -r .id <<<"$output")
	until_status "$bid" completed
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -c .request_counts <<<"$output")" '{"total":1,"completed":1,"failed":0}'
	run api GET "/v1/files/$(jq -r .output_file_id <<<"$output")/content"
	assert_equal "$(jq -r '.response.body.data[0].b64_json' <<<"$output" | base64 -d | head -c 4 | tail -c 3)" PNG
	run curl -s "${SERVE_URL}_serve/stats"
	assert_equal "$(jq -r .edits <<<"$output")" 1
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

@test "submit --batch: one upload, one batch, a record per line" {
	serve_start --api-key "$KEY"
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 --quality low >recs
	assert_equal "$(wc -l <recs)" 5
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	assert_equal "$(jq -r .operation.kind recs | sort -u)" openai-batch
	assert_equal "$(jq -r .operation.batch recs | sort -u | wc -l)" 1
	assert_equal "$(jq -r .status recs | sort -u)" validating
	assert_equal "$(jq -r .prompt recs | tr '\n' ' ')" 'a fox a owl a cat a dog a elk '
	assert_equal "$(jq -r '.operation.custom_id == .request.hash' recs | sort -u)" true
	bid=$(jq -r .operation.batch recs | head -n 1)
	assert_equal "$(jq -r .operation.url recs | sort -u)" "${SERVE_URL}v1/batches/$bid"
	run api GET "/v1/batches/$bid"
	assert_equal "$(jq -r .metadata.dalle_submit <<<"$output")" 0.1.0
	run api GET "/v1/files/$(jq -r .input_file_id <<<"$output")/content"
	assert_equal "$(jq -r .url <<<"$output" | sort -u)" /v1/images/generations
	assert_equal "$(jq -r .body.model <<<"$output" | sort -u)" gpt-image-2
	assert_equal "$(jq -r .body.quality <<<"$output" | sort -u)" low
}

@test "submit --batch: the same input batched twice makes no second batch" {
	serve_start --api-key "$KEY" --batch-latency 60
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >first
	prompts | dalle-submit --batch -m gpt-image-2 >second
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	assert_equal "$(jq -r .operation.batch second | sort -u)" "$(jq -r .operation.batch first | sort -u)"
	assert_equal "$(jq -c .operation second)" "$(jq -c .operation first)"
	# A new line joins a new batch of its own; repeats get their own ids.
	{ prompts; echo 'a yak'; echo 'a fox'; } |
	    dalle-submit --batch -m gpt-image-2 >third
	assert_equal "$(logged batches_create)" 2
	assert_equal "$(jq -r .operation.batch third | sort -u | wc -l)" 2
	assert_equal "$(jq -r .operation.custom_id third | sort -u | wc -l)" 7
}

@test "submit --batch: --batch-size and models split the files" {
	serve_start --api-key "$KEY"
	use_oai
	prompts | dalle-submit --batch --batch-size 2 -m gpt-image-2 >recs
	assert_equal "$(logged files_upload)" 3
	assert_equal "$(jq -r .operation.batch recs | sort -u | wc -l)" 3
	printf '{"prompt":"a","model":"gpt-image-2"}\n{"prompt":"b","model":"gpt-image-1.5"}\n{"prompt":"c","model":"gpt-image-2"}\n' |
	    dalle-submit --batch --today 2026-11-01 >recs2
	assert_equal "$(logged batches_create)" 5
	assert_equal "$(jq -r .operation.batch recs2 | sort -u | wc -l)" 2
	run dalle-submit --batch --batch-size 0 x
	assert_equal "$status" 64
}

@test "submit --batch --dry-run: the lines and the upload, nothing sent" {
	serve_start --api-key "$KEY"
	use_oai
	prompts | dalle-submit --batch --dry-run -m gpt-image-2 >recs
	assert_equal "$(wc -l <recs)" 5
	assert_equal "$(jq -r .request.batch_line.url recs | sort -u)" /v1/images/generations
	assert_equal "$(jq -r '.request.batch_line.custom_id == .request.hash' recs | sort -u)" true
	assert_equal "$(jq -r .request.upload.cost recs | sort -u)" 'batch: half the synchronous price'
	assert_equal "$(jq -r .request.upload.lines recs | sort -u)" 5
	assert_equal "$(wc -l <"$SERVE_DIR/serve.log")" 0
}

@test "submit --batch on Azure is refused before any upload" {
	serve_start --api-key "$KEY"
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY="$KEY"
	run -78 dalle-submit --batch --deployment img 'a fox'
	assert_output --partial "no image model runs in Azure's Global Batch"
	run -78 dalle-submit --batch --api azure-v1 -m gpt-image-2 'a fox'
	assert_output --partial "no image model runs in Azure's Global Batch"
	assert_equal "$(wc -l <"$SERVE_DIR/serve.log")" 0
}

@test "pipeline: 5 prompts through submit --batch | poll | fetch, polls per batch" {
	serve_start --api-key "$KEY" --batch-latency 2
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 --quality low >recs
	dalle-poll --interval 1 <recs >done
	assert_equal "$(wc -l <done)" 5
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	assert_equal "$(jq -r .prompt done | sort | tr '\n' ' ')" 'a cat a dog a elk a fox a owl '
	assert_equal "$(jq -r '.usage.total_tokens > 0' done | sort -u)" true
	assert_equal "$(jq -r .size done | sort -u)" 1024x1024
	assert_equal "$(jq -r .operation.kind done | sort -u)" openai-batch
	mkdir out
	(cd out && dalle-fetch <../done >../fetched)
	assert_equal "$(ls out | grep -c '\.png$')" 5
	assert_equal "$(jq -r '.files[0].format' fetched | sort -u)" png
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	# Polled once per interval for the batch, not once per record.
	polls=$(logged batches_get)
	assert [ "$polls" -ge 1 ]
	assert [ "$polls" -le 4 ]
	assert_equal "$(logged files_content)" 1
}

@test "poll: per-line failures become error records of those lines only" {
	serve_start --api-key "$KEY" --blocked-term bomb
	use_oai
	printf 'a fox\na bomb\na owl\n' | dalle-submit --batch -m gpt-image-2 >recs
	run -2 dalle-poll <recs
	dalle-poll <recs >done || true
	assert_equal "$(jq -r 'select(.prompt == "a bomb") | .error.kind' done)" content_filter
	assert_equal "$(jq -r 'select(.prompt == "a bomb") | .error.status' done)" 400
	# As a synchronous error record: no "status" (not the batch's).
	assert_equal "$(jq -r 'select(.prompt == "a bomb") | .status' done)" null
	assert_equal "$(jq -r 'select(.prompt != "a bomb") | .status' done | sort -u)" succeeded
	assert_equal "$(jq -r 'select(.prompt != "a bomb") | .error' done | sort -u)" null
	# The output and the error file, each read once per poller.
	assert_equal "$(logged files_content)" 4
}

@test "poll: an expired batch: run lines kept, the others batch_expired" {
	serve_start --api-key "$KEY" --batch-latency 10 --batch-expire 5
	use_oai
	printf 'a %s\n' 1 2 3 4 5 6 7 8 9 10 | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll --interval 1 <recs >done || true
	assert_equal "$(wc -l <done)" 10
	ok=$(jq -r 'select(.status == "succeeded") | .prompt' done | wc -l)
	assert [ "$ok" -gt 0 ]
	assert [ "$ok" -lt 10 ]
	assert_equal "$(jq -r 'select(.error) | .error.kind' done | sort -u)" batch_expired
	assert_equal "$(jq -r 'select(.error) | .status' done | sort -u)" expired
}

@test "poll --cancel: one cancel per batch, finished lines kept" {
	serve_start --api-key "$KEY" --batch-latency "$(slow 10)"
	use_oai
	printf 'a %s\n' 1 2 3 4 5 6 7 8 9 10 | dalle-submit --batch --batch-size 5 -m gpt-image-2 >recs
	sleep "$(slow 4)"
	dalle-poll --cancel --interval 1 <recs >done || true
	assert_equal "$(logged batches_cancel)" 2
	assert_equal "$(wc -l <done)" 10
	assert_equal "$(jq -r 'select(.error) | .error.kind' done | sort -u)" cancelled
	assert_equal "$(jq -r .status done | sort -u | tr '\n' ' ')" 'cancelled succeeded '
}

@test "poll: a slow batch does not hold back a quick one's records" {
	serve_start --api-key "$KEY" --batch-latency 4
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >quick
	sleep 3
	echo 'a slow yak' | dalle-submit --batch -m gpt-image-2 >slow
	# The slow batch's record comes first, and its batch ends last.
	cat slow quick | dalle-poll --interval 1 >done
	assert_equal "$(jq -r .operation.batch quick slow | sort -u | wc -l)" 2
	assert_equal "$(sed -n 1,5p done | jq -r .prompt | sort | tr '\n' ' ')" 'a cat a dog a elk a fox a owl '
	assert_equal "$(sed -n 6p done | jq -r .prompt)" 'a slow yak'
	assert_equal "$(jq -r .status done | sort -u)" succeeded
}

@test "poll: killed and restarted, the same final records" {
	serve_start --api-key "$KEY" --batch-latency "$(slow 3)"
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll --interval 1 <recs >first &
	pid=$!
	# Killed once it polled (the server logged it), the batch running.
	for _ in $(seq "$(slow 100)"); do
		[ "$(logged batches_get)" -ge 1 ] && break
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" || true
	# Each record it held comes back unfinished, to be polled again.
	assert_equal "$(jq -r .error.kind first | sort | uniq -c | tr -s ' ')" ' 5 interrupted'
	dalle-poll --interval 1 <recs >second
	dalle-poll --interval 1 <recs >third
	assert_equal "$(wc -l <second)" 5
	assert_equal "$(jq -Sc 'del(.operation.polls)' second | sort)" "$(jq -Sc 'del(.operation.polls)' third | sort)"
}

@test "submit --batch: a line that failed is batched again, one that ran is not" {
	serve_start --api-key "$KEY" --batch-latency 1 --blocked-term bomb
	use_oai
	printf 'a fox\na bomb\n' | dalle-submit --batch -m gpt-image-2 >first
	dalle-poll --interval 1 <first >done || true
	assert_equal "$(jq -r 'select(.prompt == "a bomb") | .error.kind' done)" content_filter
	printf 'a fox\na bomb\n' | dalle-submit --batch -m gpt-image-2 >second
	assert_equal "$(logged batches_create)" 2
	fox1=$(jq -r 'select(.prompt == "a fox") | .operation.batch' first)
	assert_equal "$(jq -r 'select(.prompt == "a fox") | .operation.batch' second)" "$fox1"
	refute [ "$(jq -r 'select(.prompt == "a bomb") | .operation.batch' second)" = "$fox1" ]
	# --rebatch sends even what seems batched.
	echo 'a fox' | dalle-submit --batch --rebatch -m gpt-image-2 >third
	assert_equal "$(logged batches_create)" 3
	refute [ "$(jq -r .operation.batch third)" = "$fox1" ]
}

@test "submit --batch: a past input file over 64 MiB is read streamed, never held" {
	serve_start --api-key "$KEY" --batch-latency 600
	use_oai
	# 72 lines of a megabyte: a past batch of dalle-submit's, running.
	jq -nc '{custom_id: ("old-" + (range(72) | tostring)), method: "POST",
	    url: "/v1/images/generations", body: {model: "gpt-image-2",
	    prompt: ("x" * 1000000)}}' >big.jsonl
	fid=$(upload big.jsonl)
	api POST /v1/batches -H 'Content-Type: application/json' \
	    -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/images/generations\",\"completion_window\":\"24h\",\"metadata\":{\"dalle_submit\":\"0.1.0\"}}" >/dev/null
	prompts | lean /usr/bin/time -f %M -o rss dalle-submit --batch -m gpt-image-2 >recs
	assert_equal "$(jq -r .operation.kind recs | sort -u)" openai-batch
	assert_equal "$(logged batches_create)" 2
	assert_equal "$(logged files_content)" 1
	# Peak RSS in KiB beyond the start-up's: far below the 75 MB file.
	assert [ "$(cat rss)" -lt $(($(rss_idle) + 17000)) ]
}

@test "submit --batch: the upload file is private, in TMPDIR, removed on a signal" {
	# A service that takes the connection and never answers.
	node -e 'require("net").createServer(() => {}).listen(0, "127.0.0.1",
	    function () { console.log(this.address().port) })' >port &
	hold=$!
	until [ -s port ]; do sleep 0.05; done
	mkdir tmp
	export OPENAI_BASE_URL="http://127.0.0.1:$(cat port)/v1" OPENAI_API_KEY="$KEY"
	prompts | TMPDIR="$PWD/tmp" dalle-submit --allow-http --batch --rebatch -m gpt-image-2 >recs &
	pid=$!
	for _ in $(seq 100); do
		ls tmp | grep -q '\.jsonl$' && break
		sleep 0.05
	done
	assert_equal "$(ls tmp | grep -c '^dalle-.*\.jsonl$')" 1
	assert_equal "$(stat -c %a tmp/dalle-*.jsonl)" 600
	assert_equal "$(wc -l <tmp/dalle-*.jsonl)" 5
	kill -TERM "$pid"
	wait "$pid" || true
	kill "$hold"
	assert_equal "$(ls tmp | grep -c '\.jsonl$')" 0
}

@test "poll --cancel: a batch that has ended is asked once (409), not again" {
	serve_start --api-key "$KEY" --batch-latency 1
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll --interval 1 <recs >done
	dalle-poll --cancel --interval 1 <recs >again
	assert_equal "$(logged batches_cancel)" 1
	assert_equal "$(jq -r .status again | sort -u)" succeeded
}

@test "batch: the fault switches strike upload, create, poll and content; all outlived, one batch made" {
	serve_start --api-key "$KEY" --batch-latency 1 --seed 6 --drop-rate 0.3 --fail-rate 0.3
	use_oai
	prompts | dalle-submit -q --retries 20 --batch -m gpt-image-2 >recs
	assert_equal "$(jq -r .operation.batch recs | sort -u | wc -l)" 1
	dalle-poll -q --retries 20 --interval 1 <recs >done
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	jq -r 'select(.fault) | .route' "$SERVE_DIR/serve.log" | sort -u >struck
	assert_equal "$(grep -c -e files_upload -e batches_create -e batches_get -e files_content struck)" 4
	# The create struck after the batch was made: found, not made again.
	for _ in 1 2 3 4 5 6 7 8; do
		api GET /v1/batches >list || true
		[ "$(code)" = 200 ] && break
	done
	assert_equal "$(jq -r '.data | length' list)" 1
}

@test "poll --cancel while validating: each line its own cancelled record" {
	serve_start --api-key "$KEY" --batch-latency "$(slow 5)"
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll --cancel --interval 1 <recs >done || true
	assert_equal "$(wc -l <done)" 5
	assert_equal "$(jq -r .error.kind done | sort -u)" cancelled
	assert_equal "$(jq -r .status done | sort -u)" cancelled
	assert_equal "$(logged files_content)" 1
	# As live: the lines never run are in the error file.
	run api GET "/v1/batches/$(jq -r .operation.batch recs | head -n 1)"
	assert_equal "$(jq -r .in_progress_at <<<"$output")" null
	api GET "/v1/files/$(jq -r .error_file_id <<<"$output")/content" >err.jsonl
	assert_equal "$(jq -r .error.code err.jsonl | sort | uniq -c | tr -s ' ')" ' 5 batch_cancelled'
}

@test "serve: 50,000 lines validated without comparing each custom_id with every other" {
	# Validated as it expires, its lines never run.
	serve_start --api-key "$KEY" --batch-latency 600 --batch-expire 0.5
	jq -nc 'range(50000) | {custom_id: ("r" + tostring), method: "POST",
	    url: "/v1/images/generations", body: {model: "gpt-image-2", prompt: "a"}}' >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	until_status "$bid" expired
	# The poll that validated the file, in dalle-serve's log: its ms.
	ms=$(jq -r 'select(.route == "batches_get") | .ms' "$SERVE_DIR/serve.log" | sort -n | tail -n 1)
	assert [ "$ms" -lt "$(slow 8000)" ]
}

@test "poll: a batch's files stay on disk: peak RSS far below the output file" {
	serve_start --api-key "$KEY" --batch-latency 1 --image-bytes 1500000
	use_oai
	printf 'a %s\n' $(seq 20) | dalle-submit --batch -m gpt-image-2 >recs
	mkdir tmp
	TMPDIR="$PWD/tmp" lean /usr/bin/time -f %M -o rss dalle-poll --interval 1 <recs >done
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	assert_equal "$(wc -l <done)" 20
	# The output file is over 40 MB; dalle-poll's peak RSS (KiB) beyond
	# the start-up's:
	assert [ "$(wc -c <done)" -gt 40000000 ]
	assert [ "$(cat rss)" -lt $(($(rss_idle) + 17000)) ]
	# Nothing left behind in TMPDIR.
	assert_equal "$(ls tmp | grep -c jsonl)" 0
}

@test "poll: a batch is polled every 30 s unless --interval; -t bounds it when given" {
	serve_start --api-key "$KEY" --batch-latency 60
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll <recs >done &
	pid=$!
	until [ "$(logged batches_get)" -ge 1 ]; do sleep 0.05; done
	sleep 2.5
	kill "$pid"
	wait "$pid" || true
	assert_equal "$(logged batches_get)" 1
	dalle-poll -q -t 1 --interval 1 <recs >late || true
	assert_equal "$(jq -r .error.kind late | sort -u)" timeout
}

@test "poll: a bare batch id or batch URL is refused with what to give instead" {
	serve_start --api-key "$KEY"
	use_oai
	run -65 dalle-poll batch_6b1138e4bb1dc6749f244d3c8dfcfbec "${SERVE_URL}v1/batches/batch_6b1138e4bb1dc6749f244d3c8dfcfbec"
	assert_output --partial "batches are polled from dalle-submit's records"
	assert_equal "$(wc -l <"$SERVE_DIR/serve.log")" 0
}

@test "pipeline: mixed good and bad lines, submit --batch | poll | fetch, one upload, polls per batch" {
	serve_start --api-key "$KEY" --batch-latency 2 --blocked-term bomb
	use_oai
	{
		printf '{"prompt":"a %s","id":%d}\n' fox 1 owl 2 cat 3 bomb 4 'bomb shelter' 5
		echo '{"prompt":"a tiny fox","size":"7x7","id":6}'
	} | dalle-submit -q --batch -m gpt-image-2 --quality low >recs || true
	assert_equal "$(wc -l <recs)" 6
	# Refused before it was sent: no line of the batch.
	assert_equal "$(jq -r 'select(.id == 6) | .error.stage' recs)" submit
	dalle-poll -q --interval 1 <recs >done || true
	mkdir out
	(cd out && dalle-fetch -q <../done >../fetched) || true
	assert_equal "$(wc -l <fetched)" 6
	assert_equal "$(jq -r 'select(.error == null) | .id' fetched | sort | tr '\n' ' ')" '1 2 3 '
	assert_equal "$(jq -r 'select(.id == 4 or .id == 5) | .error.kind' fetched | sort -u)" content_filter
	assert_equal "$(jq -r '.id' fetched | sort | tr '\n' ' ')" '1 2 3 4 5 6 '
	for f in $(jq -r 'select(.error == null) | .files[0].path' fetched); do
		assert_equal "$(od -An -tx1 -N4 "out/$f" | tr -d ' \n')" 89504e47
	done
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	# Polled per batch: fewer polls than records, whatever the interval.
	assert [ "$(logged batches_get)" -lt 5 ]
}

@test "poll: killed after the quick batch's records, restarted while the slow one runs: the same records" {
	serve_start --api-key "$KEY" --batch-latency "$(slow 3)"
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >quick
	# The slow batch made when the quick one is four fifths done.
	q=$(jq -r .operation.batch quick | head -n 1)
	for _ in $(seq "$(slow 100)"); do
		case $(api GET "/v1/batches/$q" | jq -r .status) in
		finalizing | completed) break ;;
		esac
		sleep 0.1
	done
	echo 'a slow yak' | dalle-submit --batch -m gpt-image-2 >slow
	cat slow quick | dalle-poll --interval 1 >first &
	pid=$!
	for _ in $(seq "$(slow 100)"); do
		[ "$(wc -l <first)" -lt 5 ] || break
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" || true
	# The quick batch's five, and the slow one's record, unfinished.
	assert_equal "$(wc -l <first)" 6
	assert_equal "$(jq -r 'select(.error.kind == "interrupted") | .prompt' first)" 'a slow yak'
	slow_id=$(jq -r .operation.batch slow)
	refute [ "$(api GET "/v1/batches/$slow_id" | jq -r .status)" = completed ]
	cat slow quick | dalle-poll --interval 1 >second
	assert_equal "$(wc -l <second)" 6
	assert_equal "$(jq -r .status second | sort -u)" succeeded
	assert_equal "$(jq -Sc 'select(.error == null) | del(.operation.polls)' first | sort)" \
	    "$(jq -Sc 'select(.prompt != "a slow yak") | del(.operation.polls)' second | sort)"
}
