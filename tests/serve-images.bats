#!/usr/bin/env bats
# dalle-serve: the images it hands out: SAS-like URLs, --url-ttl,
# --image-scale and --image-bytes.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-15-preview"
GPT="openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview"

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
}

@test "image URLs: SAS-like, HEAD works, bad sig, extension or expiry gives 403 XML" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"a tram"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	assert_regex "$url" "^${SERVE_URL}private/images/[0-9a-f-]{36}/generated_00\\.png\\?se=.*&sig=[A-Za-z0-9%]+&"
	call HEAD "$url" -I
	assert_equal "$CODE" 200
	assert_equal "$(hdr Content-Type)" image/png
	[ "$(hdr Content-Length)" -gt 1000 ]
	call GET "${url/generated_00.png/generated_00.jpg}"
	assert_equal "$CODE" 403
	call GET "${url/sig=/sig=AA}"
	assert_equal "$CODE" 403
	assert_regex "$BODY" '^<\?xml version="1\.0" encoding="utf-8"\?><Error><Code>AuthenticationFailed</Code>'
	call GET "${url/generated_00/generated_01}"
	assert_equal "$CODE" 403
	call GET "${url%%\?*}"
	assert_equal "$CODE" 404
}

@test "--url-ttl makes image URLs expire with 403 AuthenticationFailed" {
	# Four seconds of slack for two curl starts on a busy machine.
	serve_start --url-ttl "$(slow 4)"
	post_json "$SERVE_URL$DALLE3" '{"prompt":"a tram"}' -H 'api-key: k'
	url=$(jqb '.data[0].url')
	call GET "$url"
	assert_equal "$CODE" 200
	sleep $(($(slow 4) + 1))
	call GET "$url"
	assert_equal "$CODE" 403
	assert_regex "$BODY" '<Code>AuthenticationFailed</Code>.*Signed expiry time'
}

@test "--image-scale divides image dimensions" {
	serve_start --image-scale 4
	post_json "$SERVE_URL$GPT" '{"prompt":"x","size":"1024x1536"}' -H 'api-key: k'
	b64_to s.png
	assert_equal "$(png_size s.png)" 256x384
}

# jpeg_size FILE: "WIDTHxHEIGHT" from a baseline JPEG's SOF0 segment.
jpeg_size() {
	od -An -v -tu1 "$1" | tr -s ' \n' ' ' |
	    grep -Eo ' 255 192 0 17 8( [0-9]+){4}' | head -n 1 |
	    awk '{print $8 * 256 + $9 "x" $6 * 256 + $7}'
}

@test "--image-bytes: grainy PNGs of about that size, gzip cannot shrink them, the same for the same request" {
	run --separate-stderr dalle-serve --image-bytes 3x
	assert_failure 64
	assert_regex "$stderr" '^dalle-serve: --image-bytes: 3x: want a byte count'
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	b64_to p.png
	assert_equal "$(magic p.png 8)" 89504e470d0a1a0a
	assert_equal "$(png_size p.png)" 1024x1024
	n=$(wc -c <p.png)
	[ "$n" -ge 1800000 ]
	[ "$n" -le 2200000 ]
	z=$(gzip -1 -c p.png | wc -c)
	[ "$z" -gt $((n * 9 / 10)) ]
	# From a fresh server: the cache does not answer it.
	serve_stop
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	b64_to again.png
	run cmp p.png again.png
	assert_success
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dusk","size":"1024x1024"}' -H 'api-key: k'
	b64_to other.png
	assert_equal "$(png_size other.png)" 1024x1024
	run cmp -s p.png other.png
	assert_failure
}

@test "--image-bytes: the same grain in a transparent PNG and in a JPEG of the requested size" {
	serve_start --image-bytes 2000000
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"transparent"}' -H 'api-key: k'
	b64_to t.png
	assert_equal "$(od -An -tu1 -j25 -N1 t.png | tr -d ' ')" 6
	n=$(wc -c <t.png)
	[ "$n" -ge 1800000 ]
	[ "$n" -le 2200000 ]
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"jpeg","size":"1536x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	b64_to k.jpg
	assert_equal "$(magic k.jpg 2)" ffd8
	assert_equal "$(tail -c 2 k.jpg | od -An -tx1 | tr -d ' \n')" ffd9
	assert_equal "$(jpeg_size k.jpg)" 1536x1024
}

@test "--image-bytes: an answer of three 3 MiB images goes out whole; without the option images stay small" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a harbour at dawn","size":"1024x1024"}' -H 'api-key: k'
	b64_to flat.png
	assert_equal "$(png_size flat.png)" 1024x1024
	[ "$(wc -c <flat.png)" -lt 100000 ]
	serve_start --image-bytes 3m
	post_json "$SERVE_URL$GPT" '{"prompt":"a wide bay","size":"1536x1024","n":3}' -H 'api-key: k'
	assert_equal "$CODE" 200
	[ "$(wc -c <"$BATS_TEST_TMPDIR/body")" -gt 8000000 ]
	b64_to last.png '.data[2].b64_json'
	assert_equal "$(png_size last.png)" 1536x1024
	[ "$(wc -c <last.png)" -ge 2831155 ]
}
