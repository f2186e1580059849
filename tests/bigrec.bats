#!/usr/bin/env bats
# Records of real images are megabytes of base64 in one line.  The filters
# lift such strings out of a line before jq's parser sees it (lib/big.c) and
# write them back as the very bytes they came as: these tests hold them to
# jq's output, byte for byte, and to the image bytes.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	make -s -C "$BATS_TEST_DIRNAME/.." tests/jsoncheck >&2
}

setup() {
	_common_setup
}

# b64 BYTES: that many random bytes as base64, on one line.
b64() {
	head -c "$1" /dev/urandom | base64 -w 0
}

# png W H: a PNG of random pixels in stored (uncompressed) deflate blocks,
# on stdout: as incompressible as a photograph.  Checksums are zero: our
# probe reads only the header.
png() {
	perl -e '
	    my ($w, $h) = @ARGV;
	    open(my $r, "<", "/dev/urandom") or die;
	    binmode STDOUT;
	    sub chunk { print pack("N", length $_[1]), $_[0], $_[1], pack("N", 0) }
	    my $row = 1 + 3 * $w;
	    my $z = "\x78\x01";
	    for my $y (1 .. $h) {
	        read($r, my $px, 3 * $w);
	        $z .= pack("Cvv", $y == $h ? 1 : 0, $row, $row ^ 0xffff) . "\0" . $px;
	    }
	    print "\x89PNG\r\n\x1a\n";
	    chunk("IHDR", pack("NNCCCCC", $w, $h, 8, 2, 0, 0, 0));
	    chunk("IDAT", $z . pack("N", 1));
	    chunk("IEND", "");
	' "$1" "$2"
}

@test "lifted strings are written back as jq writes them, and only plain long strings are lifted" {
	local b a65535 a65536
	b=$(b64 60000)
	a65535=$(head -c 65535 /dev/zero | tr '\0' A)
	a65536=$(head -c 65536 /dev/zero | tr '\0' A)
	{
		printf '{"data":[{"b64_json":"%s"}],"k":1}\n' "$b"
		printf '{"a":"%s","b":["%s","%s"],"c":{"d":"%s"}}\n' "$b" "$b" "$b" "$b"
		printf '{"%s":1}\n' "$b"
		printf '{"p":"%s %s"}\n' "$b" "$b"
		printf '{"p":"%s\\/%s"}\n' "$b" "$b"
		printf '{"p":"%s\xc3\xa9"}\n' "$b"
		printf '{"p":"%s!%s"}\n' "$b" "$b"
		printf '{"s":"%s"}\n' "$a65535"
		printf '{"s":"%s"}\n' "$a65536"
		printf '{"p":"%s\\"","q":"%s"}\n' "$b" "$b"
		printf '{"p":"x\\\\\\\\","q":"%s"}\n' "$b"
		printf '{"p":"\\u0000dalle:0000000000000001:0","q":"%s"}\n' "$b"
		printf '"%s"\n' "$b"
		printf '{"a":"%s"\n' "$b"
		printf '{"a":"%s"} x\n' "$b"
	} >corpus.jsonl
	run "$BATS_TEST_DIRNAME/jsoncheck" <corpus.jsonl
	assert_success
	# 13 values; lifted: 1 + 4 + the 65536 + q + q + q + the string
	# (not the one with '!', which is left to jq).
	assert_output "13 values checked, 0 differ, 10 strings lifted, 2 lines no JSON"
}

@test "dalle-poll passes megabyte records through byte for byte" {
	local i
	for i in 1 2 3; do
		printf '{"prompt":"p %d","status":"succeeded","data":[{"b64_json":"%s"}],"mine":[1,2]}\n' \
		    "$i" "$(b64 2000000)"
	done >in.jsonl
	run --separate-stderr dalle-poll <in.jsonl
	assert_success
	printf '%s\n' "$output" >out.jsonl
	cmp in.jsonl out.jsonl
}

@test "dalle-fetch decodes megabyte base64 to the very image bytes, and drops it from the record" {
	local i
	for i in 1 2 3; do
		png 600 400 >"img$i.png"
		printf '{"prompt":"p %d","k":%d,"status":"succeeded","data":[{"b64_json":"%s"}],"mine":{"x":"%s"}}\n' \
		    "$i" "$i" "$(base64 -w 0 "img$i.png")" "$(b64 100000)"
	done >in.jsonl
	[ "$(wc -c <img1.png)" -gt 700000 ]
	run --separate-stderr dalle-fetch -d out -o '{k}.{ext}' <in.jsonl
	assert_success
	printf '%s\n' "$output" >out.jsonl
	for i in 1 2 3; do
		cmp "img$i.png" "out/$i.png"
	done
	# The record is what jq makes of the input, less b64_json, plus files;
	# a big string of the user's own comes through untouched.
	assert_equal "$(jq -c 'del(.files)' out.jsonl)" \
	    "$(jq -c 'del(.data[].b64_json)' in.jsonl)"
	assert_equal "$(jq -r '.files[0].path' out.jsonl | tr '\n' ' ')" \
	    "out/1.png out/2.png out/3.png "
	assert_equal "$(jq -r '.files[0].width' out.jsonl | sort -u)" 600
}

@test "dalle-fetch keeps a record's base64 while its other images download" {
	# A download of about a second: the next record comes meanwhile.
	serve_start --latency 0.1 --slow-images 20000
	use_azure
	local url
	url=$(dalle-submit --deployment dalle3 'a url image' | jq -r '.data[0].url')
	png 300 300 >img.png
	# "mine" first: the second record, longer, is read over its bytes.
	printf '{"mine":"%s","k":7,"data":[{"b64_json":"%s"},{"url":"%s"},{"b64_json":"not base64!"}]}\n' \
	    "$(b64 90000)" "$(base64 -w 0 img.png)" "$url" >in.jsonl
	printf '{"k":8,"data":[{"b64_json":"%s"}]}\n' "$(png 400 400 | base64 -w 0)" >in2.jsonl
	[ "$(wc -c <in2.jsonl)" -gt "$(wc -c <in.jsonl)" ]
	run --separate-stderr bash -c '{ cat in.jsonl; sleep 0.3; cat in2.jsonl; } |
	    dalle-fetch -d out -o "{k}-{i}.{ext}" --keep-order'
	assert_failure 76
	head -n 1 <<<"$output" >out.jsonl
	cmp img.png out/7-0.png
	[ -f out/8-0.png ]
	[ -f out/7-1.png ]
	# The image that failed keeps its b64_json; the user's string is intact.
	assert_equal "$(jq -r '.data[2].b64_json' out.jsonl)" "not base64!"
	assert_equal "$(jq -r .mine out.jsonl)" "$(jq -r .mine in.jsonl)"
	assert_equal "$(jq -c '.data | map(has("b64_json"))' out.jsonl)" '[false,false,true]'
}

@test "base64 is read as RFC 4648 says: wrapped lines, padding, the URL-safe alphabet; bad bytes are an error" {
	local i
	png 300 200 >img.png    # over 64 KiB of base64: read where it lies
	for i in 1 2 3 4 5; do
		case $i in
		1) base64 img.png ;;                          # wrapped at 76
		2) base64 -w 0 img.png ;;
		3) base64 -w 0 img.png | tr '+/' '-_' ;;       # URL-safe
		4) base64 -w 0 img.png | tr -d '=' ;;          # no padding
		5) base64 -w 0 img.png | sed 's/^\(.\{40\}\)/\1*/' ;;  # a bad byte
		esac | jq -Rsc --argjson k "$i" '{k: $k, data: [{b64_json: .}]}'
	done >in.jsonl
	run --separate-stderr dalle-fetch -d out -o '{k}.{ext}' <in.jsonl
	assert_failure 76
	for i in 1 2 3 4; do
		cmp img.png "out/$i.png"
	done
	[ ! -e out/5.png ]
	assert_equal "$(jq -r 'select(.k == 5) | .error.message' <<<"$output")" \
	    "b64_json is not valid base64"
}

@test "a megabyte field of the user's rides through submit, poll and fetch untouched" {
	serve_start --latency 0.5
	use_azure
	local big
	big=$(b64 1500000)
	printf '{"prompt":"keep my bytes","mine":"%s","k":1}\n' "$big" >in.jsonl
	# A second record while the first is in flight reuses its bytes.
	printf '{"prompt":"another","mine":"%s","k":2}\n' "$(b64 1500000)" >in2.jsonl
	run --separate-stderr bash -c '{ cat in.jsonl; sleep 0.2; cat in2.jsonl; } |
	    dalle-submit --deployment dalle3 --keep-order | tee sub.jsonl |
	    dalle-poll | tee polled.jsonl | dalle-fetch -d out -o "{k}.{ext}" >fetched.jsonl'
	assert_success
	for f in sub.jsonl polled.jsonl fetched.jsonl; do
		assert_equal "$(jq -r 'select(.k == 1) | .mine' "$f")" "$big"
		assert_equal "$(jq -c . "$f")" "$(cat "$f")"
	done
	[ -s out/1.png ]
	[ -s out/2.png ]
}

@test "an answer of megabytes goes through submit, poll and fetch as it came, to the very image" {
	serve_start --image-bytes 2000000 --latency 0.1
	use_azure
	local i
	for i in 1 2 3; do
		printf '{"prompt":"a photograph, %d","k":%d}\n' "$i" "$i"
	done >in.jsonl
	run --separate-stderr bash -c 'dalle-submit -j 2 --deployment gpt-image-1 <in.jsonl | tee sub.jsonl | dalle-poll | tee polled.jsonl | dalle-fetch --no-provenance -d out -o "{k}.{ext}" >fetched.jsonl'
	assert_success
	cmp sub.jsonl polled.jsonl
	for f in sub.jsonl fetched.jsonl; do
		assert_equal "$(jq -c . "$f")" "$(cat "$f")"
	done
	# The base64 in the record is the server's, byte for byte: the same
	# request straight to the server draws the same picture.
	curl -s -H 'api-key: test-key' -H 'Content-Type: application/json' \
	    -d '{"prompt":"a photograph, 2"}' \
	    "${SERVE_URL}openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview" |
	    jq -r '.data[0].b64_json' >served.b64
	assert_equal "$(jq -r 'select(.k == 2) | .data[0].b64_json' sub.jsonl)" "$(cat served.b64)"
	base64 -d served.b64 >served.png
	[ "$(wc -c <served.png)" -gt 1800000 ]
	cmp served.png out/2.png
	assert_equal "$(jq -r 'select(.k == 2) | .files[0].bytes' fetched.jsonl)" "$(wc -c <served.png)"
	assert_equal "$(jq -c '[.data[] | has("b64_json")]' fetched.jsonl | sort -u)" '[false]'
}

@test "a long prompt, however it is written, is checked for its length before a request is spent" {
	serve_start
	use_azure
	head -c 70000 /dev/zero | tr '\0' x | jq -Rc '{prompt: ., k: 1}' >in.jsonl
	run --separate-stderr dalle-submit --deployment dalle3 <in.jsonl
	assert_failure 65
	assert_equal "$(jq -r .error.code <<<"$output")" string_above_max_length
	assert_equal "$(jq -r '.prompt | length' <<<"$output")" 70000
	assert_equal "$(jq '.routes.azure_generate' < <(curl -s "${SERVE_URL}_serve/stats"))" 0
}

@test "-o {FIELD} reads a long field as the text it is" {
	png 50 50 >img.png
	printf '{"mine":"%s","data":[{"b64_json":"%s"}]}\n' "$(b64 70000)" "$(base64 -w 0 img.png)" >in.jsonl
	run --separate-stderr dalle-fetch -d out -o '{mine}.{ext}' <in.jsonl
	assert_failure 73
	assert_regex "$(jq -r .error.message <<<"$output")" 'File name too long$'
	[ ! -e out/_.png ]
}

@test "a pending operation with a megabyte field of the user's is polled and written back whole" {
	serve_start --latency 0.3
	use_azure
	local big
	big=$(b64 1000000)
	printf '{"prompt":"wait for me","mine":"%s"}\n' "$big" >in.jsonl
	run --separate-stderr bash -c 'dalle-submit <in.jsonl | dalle-poll --keep-order'
	assert_success
	assert_equal "$(jq -r .status <<<"$output")" succeeded
	assert_equal "$(jq -r .mine <<<"$output")" "$big"
	assert_equal "$(jq -c . <<<"$output")" "$output"
}
