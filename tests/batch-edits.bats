#!/usr/bin/env bats
# A batch of edits: records with "image" (and "mask") through
# dalle-submit --batch | dalle-poll | dalle-fetch against dalle-serve, the
# batch's lines on /v1/images/edits with the JSON edit body (data URLs).
bats_require_minimum_version 1.5.0
load helpers/common

KEY=sk-batch-edit-secret-4242

setup() {
	_common_setup
	serve_start --api-key "$KEY" --batch-latency 1
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY="$KEY"
	# The inputs, painted by dalle-serve itself (synchronously).
	paint 'a quiet harbour' >a.png
	paint 'a desert road' -s 1536x1024 >wide.png
	paint 'the mask' --background transparent >mask.png
	: >"$SERVE_DIR/serve.log"
}

teardown() {
	serve_stop
}

# paint PROMPT [options]: a gpt-image-2 picture's bytes on stdout.
paint() {
	local p=$1
	shift
	dalle-submit -m gpt-image-2 "$@" "$p" |
	    jq -r '.data[0].b64_json' | base64 -d
}

# logged ROUTE: how many requests of that route the server logged.
logged() {
	jq -r .route "$SERVE_DIR/serve.log" | grep -cx "$1" || true
}

# differ FILE FILE: fails when the two are the same bytes.
differ() {
	! cmp -s "$1" "$2"
}

# The batch (batch.json) and its input file as dalle-serve holds it
# (lines.jsonl).
batch_lines() {
	local b f
	b=$(curl -s -H "Authorization: Bearer $KEY" \
	    "${SERVE_URL}v1/batches/$(jq -r .operation.batch recs | head -n 1)")
	echo "$b" >batch.json
	f=$(jq -r .input_file_id <<<"$b")
	curl -s -H "Authorization: Bearer $KEY" \
	    "${SERVE_URL}v1/files/$f/content" >lines.jsonl
}

edits_in() {
	printf '%s\n' \
	    '{"prompt":"add a red boat","image":"a.png","mask":"mask.png","id":1}' \
	    '{"prompt":"add a blue car","image":"wide.png","id":2}'
}

@test "a batch of edits: submit --batch | poll | fetch, pictures of the inputs' sizes" {
	edits_in | dalle-submit --batch -m gpt-image-2 --quality low >recs
	assert_equal "$(wc -l <recs)" 2
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	assert_equal "$(jq -r .operation.kind recs | sort -u)" openai-batch
	assert_equal "$(jq -r .request.encoding recs | sort -u)" json
	dalle-poll --interval 1 <recs >done
	assert_equal "$(wc -l <done)" 2
	assert_equal "$(jq -r .status done | sort -u)" succeeded
	assert_equal "$(jq -r .id done | sort | tr '\n' ' ')" '1 2 '
	assert_equal "$(jq -r 'select(.id == 1) | .size' done)" 1024x1024
	assert_equal "$(jq -r 'select(.id == 2) | .size' done)" 1536x1024
	assert_equal "$(jq -r '.usage.input_tokens_details.image_tokens > 0' done | sort -u)" true
	mkdir out
	(cd out && dalle-fetch <../done >../fetched)
	one=$(jq -r 'select(.id == 1) | .files[0].path' fetched)
	two=$(jq -r 'select(.id == 2) | .files[0].path' fetched)
	assert_equal "$(png_size "out/$one")" 1024x1024
	assert_equal "$(png_size "out/$two")" 1536x1024
	differ "out/$one" a.png
	differ "out/$two" wide.png
	assert_equal "$(logged files_upload)" 1
	assert_equal "$(logged batches_create)" 1
	# The edits ran in the batch, never on the synchronous route.
	assert_equal "$(logged openai_edit)" 0
	run curl -s "${SERVE_URL}_serve/stats"
	assert_equal "$(jq -r .edits <<<"$output")" 2
}

@test "a batch of edits: the lines go to /v1/images/edits with data URLs" {
	edits_in | dalle-submit --batch -m gpt-image-2 >recs
	batch_lines
	assert_equal "$(jq -r .url lines.jsonl | sort -u)" /v1/images/edits
	assert_equal "$(jq -r .endpoint batch.json)" /v1/images/edits
	assert_equal "$(jq '.body.images | length' lines.jsonl | sort -u)" 1
	assert_equal "$(jq -r '.body.images[0].image_url[0:22]' lines.jsonl | sort -u)" 'data:image/png;base64,'
	assert_equal "$(jq -r 'select(.body.mask) | .body.mask.image_url[0:22]' lines.jsonl)" 'data:image/png;base64,'
	assert_equal "$(jq -r 'select(.body.mask) | .body.prompt' lines.jsonl)" 'add a red boat'
	# The data URL is the input file itself.
	jq -r 'select(.body.mask) | .body.images[0].image_url[22:]' lines.jsonl |
	    base64 -d >sent.png
	cmp sent.png a.png
	# The records keep the paths, not the bytes.
	assert_equal "$(jq -r '.inputs[0].path' recs | tr '\n' ' ')" 'a.png wide.png '
	assert_equal "$(grep -c base64 recs || true)" 0
}
