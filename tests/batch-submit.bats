#!/usr/bin/env bats
# The Batch API: dalle-submit --batch (one upload and one batch per
# file, not batched twice, the upload file) against dalle-serve.
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
	# (awk writes the bytes jq -c would, for a hundredth of its CPU.)
	awk 'BEGIN {
		x = "x"; while (length(x) < 1000000) x = x x
		x = substr(x, 1, 1000000)
		for (i = 0; i < 72; i++)
			printf "{\"custom_id\":\"old-%d\",\"method\":\"POST\",\"url\":\"/v1/images/generations\",\"body\":{\"model\":\"gpt-image-2\",\"prompt\":\"%s\"}}\n", i, x
	}' >big.jsonl
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
