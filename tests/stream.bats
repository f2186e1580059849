#!/usr/bin/env bats
# Streamed generations: dalle-submit --partial-images / --partial-dir against
# dalle-serve's server-sent events, and the event parser against a server
# that splits its events byte by byte.

bats_require_minimum_version 1.5.0

load helpers/common

setup_file() {
	serve_start_file --latency 0.2 --image-bytes 1500000
}

setup() {
	_common_setup
	use_openai
	umask 022
}

# b64 REC_FILE: the first image of a record, decoded, to stdout.
b64() {
	jq -r '.data[0].b64_json' "$1" | base64 -d
}

# logged FILTER: dalle-serve's log lines, through jq -c FILTER.
logged() {
	jq -c "$1" "$SERVE_DIR/serve.log"
}

@test "partial images are saved as they come; the final image is the unstreamed one" {
	run --separate-stderr dalle-submit -m gpt-image-2 -s 1024x1536 \
	    --partial-images 2 --partial-dir pd 'a lighthouse at dusk'
	assert_success
	echo "$output" >rec
	hash=$(jq -r .request.hash rec)
	assert_equal "$(jq -c .partials rec)" \
	    "[\"pd/1-$hash.partial0.png\",\"pd/1-$hash.partial1.png\"]"
	assert_equal "$(jq -r .partial_images rec)" null
	assert_equal "$(jq -r .status rec)" succeeded
	assert_equal "$(jq -r '.data | length' rec)" 1
	assert_equal "$(jq -r .size rec)" 1024x1536
	assert_equal "$(jq -r .output_format rec)" png
	assert_equal "$(jq -r '.usage.output_tokens' rec)" $((2651 + 200))
	assert_equal "$(find pd -type f | wc -l)" 2
	assert_equal "$(png_size "pd/1-$hash.partial0.png")" 1024x1536
	assert_equal "$(png_size "pd/1-$hash.partial1.png")" 1024x1536
	assert_equal "$(stat -c %a "pd/1-$hash.partial0.png")" 644
	b64 rec >final.png
	assert_equal "$(png_size final.png)" 1024x1536
	# Each partial is a step of its own, and none is the final image.
	run ! cmp -s "pd/1-$hash.partial0.png" "pd/1-$hash.partial1.png"
	run ! cmp -s "pd/1-$hash.partial1.png" final.png
	# The same prompt unstreamed: the same image, byte for byte.
	dalle-submit -m gpt-image-2 -s 1024x1536 'a lighthouse at dusk' >plain
	b64 plain >plain.png
	cmp final.png plain.png
	# What was sent and what was streamed back.
	assert_equal "$(logged 'select(.body.prompt == "a lighthouse at dusk") | [.body.stream, .body.partial_images, .events]' | head -n 1)" \
	    '[true,2,3]'
	assert_equal "$(logged 'select(.body.prompt == "a lighthouse at dusk") | [.body.stream, .events]' | tail -n 1)" \
	    '[null,null]'
	# The events were spread over the latency: the stream took it whole.
	ms=$(logged 'select(.body.prompt == "a lighthouse at dusk") | .ms' | head -n 1)
	[ "$ms" -ge 200 ]
}

@test "--partial-images 0 streams the final image alone" {
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 0 \
	    --partial-dir pd 'a paper boat'
	assert_success
	echo "$output" >rec
	assert_equal "$(jq -r .partials rec)" null
	assert_equal "$(jq -r .status rec)" succeeded
	assert_equal "$(find pd -type f 2>/dev/null | wc -l)" 0
	assert_equal "$(logged 'select(.body.prompt == "a paper boat") | [.body.stream, .body.partial_images, .events]')" \
	    '[true,0,1]'
	dalle-submit -m gpt-image-2 'a paper boat' >plain
	b64 rec >a.png
	b64 plain >b.png
	cmp a.png b.png
}

@test "gpt-image-2 streams its free sizes" {
	run --separate-stderr dalle-submit -m gpt-image-2 -s 1280x720 \
	    --partial-images 1 --partial-dir pd 'a harbour at noon'
	assert_success
	assert_equal "$(jq -r .size <<<"$output")" 1280x720
	assert_equal "$(png_size "$(jq -r '.partials[0]' <<<"$output")")" 1280x720
	jq -r '.data[0].b64_json' <<<"$output" | base64 -d >final.png
	assert_equal "$(png_size final.png)" 1280x720
	assert_equal "$(logged 'select(.body.prompt == "a harbour at noon") | [.body.model, .events]')" \
	    '["gpt-image-2",2]'
}

@test "a record's partial_images field streams that record alone" {
	printf '%s\n' '{"prompt":"a red kite","partial_images":1,"mine":7}' \
	    'a blue kite' >in
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-dir pd <in
	assert_success
	assert_equal "$(jq -r 'select(.mine == 7) | .partials | length' <<<"$output")" 1
	assert_equal "$(jq -r 'select(.prompt == "a blue kite") | .partials' <<<"$output")" null
	assert_equal "$(logged 'select(.body.prompt == "a blue kite") | .body.stream')" null
}

@test "a stream cut before its completed event: an error record, no half files" {
	serve_start --latency 0.2 --truncate-rate 1 --image-bytes 1500000
	use_openai
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 2 \
	    --partial-dir pd 'a windmill'
	assert_equal "$status" 76
	assert_equal "$(jq -r .error.kind <<<"$output")" protocol
	assert_regex "$(jq -r .error.message <<<"$output")" 'without a completed event'
	assert_equal "$(jq -r .data <<<"$output")" null
	assert_equal "$(logged '[.fault, .events]')" '["truncate",2]'
	# The partials that came are whole; no temporary file is left.
	assert_equal "$(find pd -name '.*' -type f | wc -l)" 0
	assert_equal "$(find pd -type f | wc -l)" 2
	for f in pd/*.png; do
		assert_equal "$(png_size "$f")" 1024x1024
	done
}

@test "several prompts at -j 4: one record each, every partial named for its line" {
	# Names and counts, not sizes: a server of small images of its own.
	serve_start --latency 0.2
	use_openai
	seq 1 6 | sed 's/^/a castle number /' >in
	run --separate-stderr dalle-submit -j 4 -m gpt-image-2 \
	    --partial-images 1 --partial-dir pd <in
	assert_success
	echo "$output" >recs
	assert_equal "$(wc -l <recs)" 6
	assert_equal "$(jq -r .prompt recs | sort | uniq | wc -l)" 6
	assert_equal "$(find pd -type f | wc -l)" 6
	for n in 1 2 3 4 5 6; do
		hash=$(jq -r "select(.prompt == \"a castle number $n\") | .request.hash" recs)
		assert_equal "$(jq -r "select(.prompt == \"a castle number $n\") | .partials[0]" recs)" \
		    "pd/$n-$hash.partial0.png"
		assert_equal "$(png_size "pd/$n-$hash.partial0.png")" 1024x1024
	done
	assert_equal "$(logged 'select(.body.prompt | startswith("a castle number")) | .events' | sort | uniq -c | awk '{print $1, $2}')" '6 2'
}

@test "streaming is refused for dall-e-2 and dall-e-3 before any request" {
	run --separate-stderr dalle-submit -m dall-e-3 --partial-images 1 'an owl'
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.kind <<<"$output")" invalid_request
	assert_equal "$(jq -r .error.code <<<"$output")" unknown_parameter
	assert_equal "$(jq -r .error.param <<<"$output")" partial_images
	run --separate-stderr dalle-submit -m dall-e-2 <<<'{"prompt":"an owl","partial_images":0}'
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.code <<<"$output")" unknown_parameter
	assert_equal "$(logged 'select(.body.prompt == "an owl")' | wc -l)" 0
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 4 x
	assert_equal "$status" 64
}

@test "dalle-serve refuses stream from dall-e-3 as the service does" {
	run curl -s -H 'Authorization: Bearer k' -H 'Content-Type: application/json' \
	    -d '{"model":"dall-e-3","prompt":"an owl","stream":true}' \
	    "${SERVE_URL}v1/images/generations"
	assert_equal "$(jq -r .error.code <<<"$output")" unknown_parameter
	assert_equal "$(jq -r .error.param <<<"$output")" stream
}

# A server that sends its events one byte a chunk, CRLF line ends, a
# comment, an unknown event, id and retry fields, and the completed
# event's data on two lines; /err/ sends an error event instead, and
# /cut/ breaks its first answer off after the partial.
start_odd_server() {
	command -v node >/dev/null || skip "node is needed for a server that splits events"
	node -e '
	    const http = require("node:http");
	    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
	    let cuts = 0;
	    const s = http.createServer((q, r) => {
	        q.resume();
	        // Each request logged after the port: "POST <url>".
	        console.log(q.method + " " + q.url);
	        q.on("end", () => {
	            let t;
	            // /cut/: the first answer breaks off after its partial.
	            const cut = q.url.startsWith("/cut/") && cuts++ === 0;
	            if (q.url.startsWith("/err/"))
	                t = ": hello\r\n\r\nevent: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"image_generation_user_error\",\"code\":\"moderation_blocked\",\"message\":\"blocked by the safety system\"}}\r\n\r\n";
	            else
	                t = ": keep-alive comment\r\n\r\n" +
	                    "event: image_generation.partial_image\r\nid: 1\r\nretry: 100\r\n" +
	                    "data: {\"type\":\"image_generation.partial_image\",\"b64_json\":\"" + png +
	                    "\",\"partial_image_index\":0,\"output_format\":\"png\"}\r\n\r\n" +
	                    "event: something.else\r\ndata: {\"type\":\"something.else\"}\r\n\r\n" +
	                    "event: image_generation.completed\r\n" +
	                    "data: {\"type\":\"image_generation.completed\",\"created_at\":1700000000,\r\n" +
	                    "data: \"b64_json\":\"" + png + "\",\"size\":\"1x1\",\"quality\":\"low\"," +
	                    "\"usage\":{\"output_tokens\":5}}\r\n\r\n";
	            r.writeHead(200, {"content-type": "text/event-stream"});
	            const b = Buffer.from(t);
	            let i = 0;
	            const stop = cut ? t.indexOf("event: something.else") : b.length;
	            const next = () => {
	                if (i >= stop && cut)
	                    return r.socket.destroy();
	                if (i >= b.length)
	                    return r.end();
	                r.write(b.subarray(i, i + 1));
	                i++;
	                setImmediate(next);
	            };
	            next();
	        });
	    });
	    s.listen(0, "127.0.0.1", () => console.log(s.address().port));
	' >port 2>/dev/null 3>&- &
	ODD_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		ODD_PORT=$(head -n 1 port)
		[ -n "$ODD_PORT" ] && break
		sleep 0.05
	done
}

@test "events split byte by byte with CRLF, comments and two data lines" {
	start_odd_server
	export OPENAI_BASE_URL="http://127.0.0.1:$ODD_PORT/ok/v1"
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 1 \
	    --partial-dir pd 'a dot'
	kill "$ODD_PID"
	assert_success
	echo "$output" >rec
	assert_equal "$(jq -r .created rec)" 1700000000
	assert_equal "$(jq -r .size rec)" 1x1
	assert_equal "$(jq -r .usage.output_tokens rec)" 5
	assert_equal "$(jq -r '.data[0].b64_json' rec)" \
	    iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
	assert_equal "$(jq -r '.partials | length' rec)" 1
	assert_equal "$(png_size "$(jq -r '.partials[0]' rec)")" 1x1
}

@test "an error event is an error record of the service's kind" {
	start_odd_server
	export OPENAI_BASE_URL="http://127.0.0.1:$ODD_PORT/err/v1"
	run --separate-stderr dalle-submit -m gpt-image-2 --partial-images 1 'a dot'
	kill "$ODD_PID"
	assert_equal "$status" 2
	assert_equal "$(jq -r .error.kind <<<"$output")" content_filter
	assert_equal "$(jq -r .error.code <<<"$output")" moderation_blocked
	assert_equal "$(jq -r .error.message <<<"$output")" 'blocked by the safety system'
}

@test "a stream broken off is retried; the record lists the retry's partials once" {
	start_odd_server
	export OPENAI_BASE_URL="http://127.0.0.1:$ODD_PORT/cut/v1"
	run --separate-stderr dalle-submit -m gpt-image-2 --retries 1 \
	    --partial-images 1 --partial-dir pd 'a dot'
	kill "$ODD_PID"
	assert_success
	assert_equal "$(jq -r .request.attempts <<<"$output")" 2
	assert_equal "$(jq -c .partials <<<"$output")" \
	    "[\"pd/1-$(jq -r .request.hash <<<"$output").partial0.png\"]"
	assert_equal "$(jq -r .size <<<"$output")" 1x1
	assert_equal "$(find pd -type f | wc -l)" 1
}

@test "a stream that ends before its last image is not journaled: the re-run sends it" {
	start_odd_server
	export OPENAI_BASE_URL="http://127.0.0.1:$ODD_PORT/ok/v1"
	# Two images asked for, one completed event sent.
	run --separate-stderr dalle-submit -m gpt-image-2 -n 2 \
	    --partial-images 1 --journal j 'two dots'
	assert_equal "$(jq -r '.data | length' <<<"$output")" 1
	run --separate-stderr dalle-submit -m gpt-image-2 -n 2 \
	    --partial-images 1 --journal j 'two dots'
	kill "$ODD_PID"
	assert_equal "$(jq -r .resumed <<<"$output")" null
	assert_equal "$(grep -c '^POST ' port)" 2
	assert_equal "$(jq -s 'map(select(.result)) | length' j)" 0
}
