#!/usr/bin/env bats
# Cost, before and after: the price table (share/prices.json), "cost" on
# every record made final by dalle-submit or dalle-poll, --dry-run's
# estimates and total, DALLE_PRICES.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file --batch-latency 1 -d mydep=gpt-image-2
}

setup() {
	_common_setup
	unset DALLE_PRICES
}

# The price of a record's usage at the table's gpt-image-2 prices, in
# hundred-millionths of a dollar (as the records round it).
TOKENS='(.usage.input_tokens_details.text_tokens * 5 +
    .usage.input_tokens_details.image_tokens * 8 +
    .usage.output_tokens_details.image_tokens * 30) / 1e6'

# cents8 FILTER FILE: FILTER's numbers in FILE * 1e8, rounded, one a line.
cents8() {
	jq -r "$1 | . * 1e8 | round" "$2"
}

@test "cost: a synchronous result costs its usage's tokens" {
	use_openai
	dalle-submit -m gpt-image-2 --quality low -s 1024x1024 'A fox' >out
	assert_equal "$(jq -r .cost.basis out)" tokens
	assert_equal "$(jq -r .cost.estimated out)" true
	assert_equal "$(jq -r .cost.table out)" "$(jq -r .date "$ROOT/share/prices.json")"
	assert_equal "$(jq -r .request.model out)" gpt-image-2
	assert_equal "$(cents8 .cost.usd out)" "$(cents8 "$TOKENS" out)"
	assert_equal "$(jq '.usage.output_tokens > 0' out)" true
}

@test "cost: with no price per token, a result costs its images by the table" {
	use_openai
	jq '.models["gpt-image-2"].tokens = null' "$ROOT/share/prices.json" >prices.json
	DALLE_PRICES=$PWD/prices.json dalle-submit -m gpt-image-2 --quality medium -s 1024x1024 -n 2 'A fox' >out
	assert_equal "$(jq '.data | length' out)" 2
	assert_equal "$(jq -r .cost.basis out)" per-image
	assert_equal "$(jq -r .cost.usd out)" 0.106
}

@test "cost: a deployment's answer on Azure, priced by its usage" {
	use_azure
	dalle-submit --deployment gpt-image-2 --quality high 'A fox' >out
	assert_equal "$(jq -r .cost.basis out)" tokens
	assert_equal "$(cents8 .cost.usd out)" "$(cents8 "$TOKENS" out)"
}

@test "cost: dalle-poll adds it to a background response it polled to the end" {
	use_openai
	dalle-submit --api responses -m gpt-image-2 --quality low 'A fox' >queued
	assert_equal "$(jq -r 'has("cost")' queued)" false
	dalle-poll <queued >out
	assert_equal "$(jq -r .status out)" succeeded
	assert_equal "$(jq -r .cost.basis out)" tokens
	assert_equal "$(jq -r .cost.excludes out)" response_usage
	assert_equal "$(cents8 .cost.usd out)" "$(cents8 "$TOKENS" out)"
}

@test "cost: dalle-poll's final azure-image record: dall-e-2 has no price, and says so" {
	use_azure
	dalle-submit -s 512x512 'A fox' | dalle-poll >out
	assert_equal "$(jq -r .status out)" succeeded
	assert_equal "$(jq -r .cost.usd out)" null
	assert_equal "$(jq -r .cost.basis out)" null
	assert_equal "$(jq -r .cost.reason out)" "dall-e-2: no price for dall-e-2 in the table's source (retired)"
}

@test "cost: a batch line costs half its tokens" {
	use_openai
	printf 'a fox\na owl\n' | dalle-submit --batch -m gpt-image-2 --quality low |
	    dalle-poll --interval 1 >out
	assert_equal "$(jq -r .status out | sort -u)" succeeded
	assert_equal "$(jq -r .cost.batch out | sort -u)" true
	assert_equal "$(cents8 .cost.usd out)" "$(cents8 "$TOKENS / 2" out)"
}

@test "cost: a model the table does not know costs null, with the reason" {
	use_azure
	dalle-submit --deployment mydep 'A fox' >out
	assert_equal "$(jq -r .status out)" succeeded
	assert_equal "$(jq -r .cost.usd out)" null
	assert_equal "$(jq -r .cost.reason out)" 'mydep: not in the price table'
	run dalle-submit --dry-run --deployment dalle3 'A fox'
	assert_equal "$(jq -r .cost.reason <<<"$output")" "dalle3: no price for dall-e-3 in the table's source (retired)"
}

@test "cost: --dry-run prints each request with its estimate, and the total on stderr" {
	export OPENAI_BASE_URL=http://127.0.0.1:9/v1
	printf '%s\n' 'A fox' '{"prompt":"An owl","quality":"high"}' \
	    '{"prompt":"A cat","quality":"auto"}' '{"prompt":"A dog","n":3}' >in
	run --separate-stderr dalle-submit --dry-run -m gpt-image-2 --quality low -s 1024x1024 <in
	assert_success
	jq -c .cost <<<"$output" >costs
	assert_equal "$(jq -r .usd costs | tr '\n' ' ')" '0.006 0.211 null 0.018 '
	assert_equal "$(jq -r .basis costs | sort -u | tr '\n' ' ')" 'null per-image '
	assert_equal "$(jq -r 'select(.usd == null) | .reason' costs)" 'gpt-image-2: no price per image of size 1024x1024, quality auto'
	assert_equal "$(jq -r .request.method <<<"$output" | sort -u)" POST
	assert_equal "$stderr" "dalle-submit: estimated cost: \$0.2350 for 3 requests, 1 more with no price (price table of $(jq -r .date "$ROOT/share/prices.json"))"
	run --separate-stderr dalle-submit --dry-run -q -m gpt-image-2 --quality low -s 1024x1024 'A fox'
	assert_equal "$stderr" ''
}

@test "cost: --dry-run --batch estimates at half" {
	export OPENAI_BASE_URL=http://127.0.0.1:9/v1 OPENAI_API_KEY=k
	run --separate-stderr dalle-submit --dry-run --batch -m gpt-image-2 --quality medium -s 1024x1024 'A fox' 'An owl'
	assert_success
	assert_equal "$(jq -r .cost.usd <<<"$output" | sort -u)" 0.0265
	assert_equal "$(jq -r .cost.batch <<<"$output" | sort -u)" true
	[[ $stderr == 'dalle-submit: estimated cost: $0.0530 for 2 requests (price table of '* ]]
}

@test "cost: the jq one-liner totals a run to the sum of its records' figures" {
	use_openai
	printf '%s\n' '{"prompt":"a fox","quality":"low"}' \
	    '{"prompt":"an owl","quality":"medium"}' \
	    '{"prompt":"a cat","quality":"high","n":2}' '{"prompt":""}' |
	    dalle-submit -m gpt-image-2 -s 1024x1024 | dalle-poll |
	    dalle-fetch -d img >out || true
	assert_equal "$(jq -s length out)" 4
	assert_equal "$(jq -r 'select(.error) | has("cost")' out)" false
	assert_equal "$(jq -r 'select(.files) | .cost.basis' out | sort -u)" tokens
	total=$(jq -s 'map(.cost.usd // 0) | add | . * 1e8 | round' out)
	sum=$(jq -s "map(select(.usage) | $TOKENS) | add | . * 1e8 | round" out)
	assert_equal "$total" "$sum"
	assert_equal "$(( total > 0 ))" 1
}

@test "cost: a record that has a cost keeps it through dalle-poll; dalle-submit makes its own" {
	use_openai
	echo '{"prompt":"x","status":"succeeded","data":[{"url":"u"}],"cost":{"usd":1.5}}' >in
	dalle-poll <in >out
	assert_equal "$(jq -c .cost out)" '{"usd":1.5}'
	use_azure
	dalle-submit -s 512x512 'A fox' | jq -c '.cost = {"usd": 2.5}' | dalle-poll >out
	assert_equal "$(jq -r .status out)" succeeded
	assert_equal "$(jq -c .cost out)" '{"usd":2.5}'
	echo '{"prompt":"A fox","cost":{"usd":1.5}}' |
	    dalle-submit -m gpt-image-2 --quality low >out
	assert_equal "$(jq -r .cost.basis out)" tokens
}

@test "cost: DALLE_PRICES names the table; a bad one stops the run before a request" {
	use_openai
	jq '.date = "2099-01-01" | .models["gpt-image-2"].tokens.image_out = 60' \
	    "$ROOT/share/prices.json" >prices.json
	DALLE_PRICES=$PWD/prices.json dalle-submit -m gpt-image-2 --quality low 'A fox' >out
	assert_equal "$(jq -r .cost.table out)" 2099-01-01
	assert_equal "$(cents8 .cost.usd out)" "$(cents8 "$TOKENS + .usage.output_tokens_details.image_tokens * 30 / 1e6" out)"
	before=$(grep -c 'images/generations' "$SERVE_DIR/serve.log" || true)
	echo '{"date":"x"}' >bad.json
	DALLE_PRICES=$PWD/bad.json run --separate-stderr dalle-submit -m gpt-image-2 'An owl'
	assert_failure 78
	assert_equal "$stderr" "dalle-submit: $PWD/bad.json: not a price table (a JSON object with \"date\" and \"models\")"
	# Past the 1 MiB a table may take, or a directory: refused as well.
	{ printf '%*s' 2000000 ''; cat prices.json; } >huge.json
	DALLE_PRICES=$PWD/huge.json run --separate-stderr dalle-submit -m gpt-image-2 'An owl'
	assert_failure 78
	assert_equal "$stderr" "dalle-submit: $PWD/huge.json: File too large"
	mkdir dir.json
	DALLE_PRICES=$PWD/dir.json run --separate-stderr dalle-submit -m gpt-image-2 'An owl'
	assert_failure 78
	assert_equal "$stderr" "dalle-submit: $PWD/dir.json: Is a directory"
	DALLE_PRICES=$PWD/none.json run --separate-stderr dalle-poll </dev/null
	assert_failure 78
	assert_equal "$(grep -c 'images/generations' "$SERVE_DIR/serve.log" || true)" "$before"
}

@test "cost: a program copied alone still has its prices, built in" {
	mkdir bin
	cp "$ROOT/dalle-submit" bin/
	export OPENAI_BASE_URL=http://127.0.0.1:9/v1
	run --separate-stderr bin/dalle-submit --dry-run -m gpt-image-2 --quality high -s 1024x1024 'A fox'
	assert_success
	assert_equal "$(jq -r .cost.usd <<<"$output")" 0.211
	assert_equal "$(jq -r .cost.table <<<"$output")" "$(jq -r .date "$ROOT/share/prices.json")"
}
