#!/usr/bin/env bats
# The Batch API: dalle-serve's Files API and batches (upload, create,
# retrieve, list, cancel, expiry, per-line failures) seen with curl.
bats_require_minimum_version 1.5.0
load helpers/common
load helpers/batch

KEY=sk-batch-secret-4242

setup() {
	_common_setup
}

teardown() {
	serve_stop
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
	# The create's answer: the state the server made it in (a GET after
	# it may come too late on a loaded machine).
	output=$(cat "$BATS_TEST_TMPDIR/body")
	assert_equal "$(jq -r .status <<<"$output")" validating
	assert_equal "$(jq -r .request_counts.total <<<"$output")" 0
	assert_equal "$(jq -r .metadata.job <<<"$output")" t
	assert_equal "$(jq -r '.expires_at - .created_at' <<<"$output")" 86400
	until_status "$bid" completed
	run api GET "/v1/batches/$bid"
	# Each state it went through, as the server recorded it: a time
	# each, in order (not a poll that a loaded machine may make too late
	# for the 0.4 s of finalizing).
	assert_equal "$(jq -r '[.in_progress_at, .finalizing_at, .completed_at] | map(type) | join(" ")' <<<"$output")" 'number number number'
	assert_equal "$(jq -r '[.created_at, .in_progress_at, .finalizing_at, .completed_at] | . == sort' <<<"$output")" true
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
	# Cancelled once a line has run, as the server counts them (a sleep
	# may outrun the six seconds in which its ten lines run).
	until_done "$bid" 1
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

@test "serve: 50,000 lines validated without comparing each custom_id with every other" {
	# Validated as it expires, its lines never run.
	serve_start --api-key "$KEY" --batch-latency 600 --batch-expire 0.5
	jq -nc 'range(50000) | {custom_id: ("r" + tostring), method: "POST",
	    url: "/v1/images/generations", body: {model: "gpt-image-2", prompt: "a"}}' >in.jsonl
	bid=$(create "$(upload in.jsonl)")
	# The server's CPU for the poll that validated the file, in ms, as
	# the kernel counts it (its wall time in the log, ms, a loaded
	# machine stretched past 12 s): utime + stime, in clock ticks.
	cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$SERVE_PID/stat"; }
	before=$(cpu)
	until_status "$bid" expired
	ms=$(($(cpu) - before))
	assert [ "$ms" -lt "$(slow 8000)" ]
}
