#!/usr/bin/env bats
# The Batch API: dalle-poll of dalle-submit --batch's records (per
# batch, per-line failures, expiry, cancel, restarts) and the pipeline
# dalle-submit --batch | dalle-poll | dalle-fetch.  The server's side:
# batch-serve.bats; dalle-submit's: batch-submit.bats.
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
	# Cancelled once a line of each has run, as the server counts them
	# (a sleep may outrun the six seconds in which their lines run).
	for b in $(jq -r .operation.batch recs | sort -u); do
		until_done "$b" 1
	done
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
	# Five seconds: dalle-poll is killed long before the batch ends.
	serve_start --api-key "$KEY" --batch-latency "$(slow 5)"
	use_oai
	prompts | dalle-submit --batch -m gpt-image-2 >recs
	dalle-poll --interval 1 <recs >first &
	pid=$!
	# Killed once it has polled, as the server logged (20 s at most).
	for _ in $(seq "$(slow 400)"); do
		[ "$(logged batches_get)" -lt 1 ] || break
		sleep 0.05
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
	# Validating for four seconds, room for a loaded machine's slow
	# dalle-submit and dalle-poll to cancel it while it is.
	serve_start --api-key "$KEY" --batch-latency "$(slow 20)"
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

@test "poll: a batch's files stay on disk: peak RSS far below the output file" {
	serve_start --api-key "$KEY" --batch-latency 1 --image-bytes 1500000
	use_oai
	printf 'a %s\n' $(seq 20) | dalle-submit --batch -m gpt-image-2 >recs
	mkdir tmp
	TMPDIR="$PWD/tmp" lean /usr/bin/time -f %M -o rss dalle-poll --interval 1 <recs >done
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	assert_equal "$(wc -l <done)" 20
	# The output file is over 40 MB; dalle-poll's peak RSS (KiB):
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
	# Six seconds: the slow batch runs for more than four after
	# dalle-poll has the quick one's records, however loaded the machine.
	serve_start --api-key "$KEY" --batch-latency "$(slow 6)"
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
