#!/usr/bin/env bats
# dalle-fetch: downloads and base64, file name templates, atomic targets,
# existing files, -o -, --paths, expiry.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
}

@test "-h prints usage on stdout and exits 0; a bad option exits 64" {
	run --separate-stderr dalle-fetch -h
	assert_success
	assert_output --partial 'usage: dalle-fetch'
	run --separate-stderr dalle-fetch --bogus
	assert_equal "$status" 64
}

@test "template placeholders: name, index, operation id, request hash, extension" {
	rec=$(echo '{"prompt":"two birds","name":"birds"}' | dalle-submit -n 2 | dalle-poll)
	id=$(jq -r .operation.id <<<"$rec")
	hash=$(jq -r .request.hash <<<"$rec")
	run --separate-stderr dalle-fetch -d out -o '{name}/{i}-{id}-{hash}.{ext}' <<<"$rec"
	assert_success
	[ -f "out/birds/0-$id-$hash.png" ]
	[ -f "out/birds/1-$id-$hash.png" ]
	[ "$(jq -r '[.files[].index] | join(",")' <<<"$output")" = 0,1 ]
}

@test "several images without {i} get -INDEX before the extension" {
	rec=$(echo '{"prompt":"three","name":"three"}' | dalle-submit -n 3 | dalle-poll)
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_success
	[ -f out/three-0.png ]
	[ -f out/three-1.png ]
	[ -f out/three-2.png ]
}

@test "record fields cannot climb out of the directory" {
	rec=$(echo '{"prompt":"escape","name":"../../etc/x"}' | dalle-submit | dalle-poll)
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_success
	p=$(jq -r '.files[0].path' <<<"$output")
	# one path component under out/, whatever the record said
	[ "$(dirname "$p")" = out ]
	[ -f "$p" ]
}

@test "an existing target is left alone unless --force; no temporary files remain" {
	rec=$(echo '{"prompt":"keep me","name":"keep"}' | dalle-submit | dalle-poll)
	dalle-fetch -d out <<<"$rec" >/dev/null
	echo 'precious' >out/keep.png
	# Of unknown origin and not the image: kept, and said so.
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_equal "$status" 73
	[ "$(cat out/keep.png)" = precious ]
	assert_equal "$(jq -r .error.kind <<<"$output")" io
	[[ "$(jq -r .error.message <<<"$output")" == *"holds another image"* ]]
	run --separate-stderr dalle-fetch -d out --force <<<"$rec"
	assert_success
	[ "$(png_size out/keep.png)" = 1024x1024 ]
	[ -z "$(find out -name '.dalle-fetch.*')" ]
}

@test "-o - writes the single image's bytes to stdout" {
	rec=$(dalle-submit --deployment gpt-image-1 --quality low 'stdout please')
	dalle-fetch -o - <<<"$rec" >img.bin
	[ "$(png_size img.bin)" = 1024x1024 ]
	rec=$(dalle-submit -n 2 'two' | dalle-poll)
	run --separate-stderr dalle-fetch -o - <<<"$rec"
	assert_equal "$status" 65
}

@test "--paths prints one path per line, for xargs" {
	run --separate-stderr bash -c "dalle-submit 'p1' 'p2' | dalle-poll | dalle-fetch -d out --paths"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	for p in "${lines[@]}"; do [ "$(png_size "$p")" = 1024x1024 ]; done
}

@test "bare image URLs are fetched, and never get the key" {
	url=$(dalle-submit 'bare' | dalle-poll | jq -r '.data[0].url')
	AZURE_OPENAI_API_KEY=never-send-me run --separate-stderr dalle-fetch -d out "$url"
	assert_success
	[ "$(png_size "$(jq -r '.files[0].path' <<<"$output")")" = 1024x1024 ]
	! grep -q never-send-me "$SERVE_DIR/serve.log"
}

@test "an expired image URL: kind expired, exit 1" {
	serve_start --url-ttl 1
	use_azure
	rec=$(dalle-submit 'short-lived' | dalle-poll)
	sleep 2
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_equal "$status" 1
	[ "$(jq -r .error.kind <<<"$output")" = expired ]
	[ "$(jq -r .error.status <<<"$output")" = 403 ]
	[ -z "$(ls out 2>/dev/null)" ]
}

@test "truncated downloads are retried until whole" {
	# Two images, and a seed that truncates some of their downloads
	# (the server counts them) without a long chain of backoffs.
	serve_start --truncate-rate 0.5 --seed 7
	use_azure
	recs=$(dalle-submit 'a' 'b' | dalle-poll)
	run --separate-stderr dalle-fetch -d out --retries 10 <<<"$recs"
	assert_success
	assert_equal "$(jq -r '.files[0].path' <<<"$output" | wc -l)" 2
	for p in $(jq -r '.files[0].path' <<<"$output"); do
		assert_equal "$(png_size "$p")" 1024x1024
		# a whole PNG ends in its IEND chunk
		assert_equal "$(tail -c 8 "$p" | od -An -c | tr -d ' ')" 'IEND256B`202'
	done
	[ "$(curl -s "${SERVE_URL}_serve/stats" | jq .faults.truncate)" -ge 1 ]
}

@test "a record with no images yet says to poll first" {
	rec=$(dalle-submit 'not polled')
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_equal "$status" 65
	[[ "$(jq -r .error.message <<<"$output")" == *"dalle-poll first"* ]]
}

@test "empty -o or -d is a usage error" {
	run --separate-stderr dalle-fetch -o '' x
	assert_equal "$status" 64
	run --separate-stderr dalle-fetch -d '' x
	assert_equal "$status" 64
}

@test "identical prompts on a synchronous API make two files, not one" {
	run --separate-stderr bash -c "dalle-submit --deployment dalle3 cat cat | dalle-fetch -d out"
	assert_success
	[ "$(ls out | wc -l)" -eq 2 ]
}

@test "SIGTERM in the middle of downloads leaves no temporary files" {
	serve_start --slow-images 20000
	use_azure
	dalle-submit --deployment dalle3 a b c >recs.jsonl
	dalle-fetch -d out <recs.jsonl >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		[ -n "$(find out -name '.dalle-fetch.*' 2>/dev/null)" ] && break
		sleep 0.1
	done
	[ -n "$(find out -name '.dalle-fetch.*')" ]
	kill -TERM "$pid"
	wait "$pid" || true
	[ -z "$(find out -name '.dalle-fetch.*')" ]
}

@test "retry warnings never show an image URL's SAS signature" {
	serve_start --truncate-rate 1
	use_azure
	rec=$(dalle-submit --deployment dalle3 'sig')
	sig=$(jq -r '.data[0].url' <<<"$rec" | sed 's/.*[?&]sig=\([^&]*\).*/\1/')
	[ -n "$sig" ]
	run --separate-stderr dalle-fetch -v --retries 1 -d out <<<"$rec"
	assert_equal "$status" 69
	[[ "$stderr" == *"sig=[redacted]"* ]]
	[[ "$stderr" != *"$sig"* ]]
}
