#!/usr/bin/env bats
# Provenance: --version on every program; what dalle-fetch writes into the
# images it saves (PNG iTXt, JPEG COM) without changing a pixel, --sidecar,
# --no-provenance, and files[].sha256 and bytes.
bats_require_minimum_version 1.5.0
load helpers/common

# A prompt that needs UTF-8 and JSON quoting.
PROMPT='a "quoted" café ☕ at dusk'

setup_file() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	[ -x "$ROOT/tests/imgcheck" ] || make -s -C "$ROOT" tests/imgcheck
	serve_start_file
}

setup() {
	_common_setup
	use_azure
}

# imgcheck ARG...: libpng and libjpeg decode the files whole.
imgcheck() {
	"$ROOT/tests/imgcheck" "$@"
}

# pixels FILE: the hash of FILE's decoded pixels.
pixels() {
	imgcheck -p "$1" | awk '$1 == "ok" { print $3 }'
}

# text FILE KEY: the text of FILE's chunks named KEY, one a line, as
# libpng reads them.
text() {
	imgcheck -t "$1" | awk -F '\t' -v k="$2" '$1 == k { print $2 }'
}

# different FILE FILE: fails when the two are the same bytes.
different() {
	! cmp -s "$1" "$2"
}

@test "--version: name, version, libcurl and libjq, on stdout, exit 0" {
	for p in $(programs); do
		run -0 --separate-stderr "$p" --version
		assert_line --index 0 --regexp "^$p [0-9]+\.[0-9]+\.[0-9]+ "
		assert_line --index 1 --regexp '^libcurl [0-9]+\.[0-9]+'
		assert_line --index 2 --regexp '^libjq [0-9a-z]'
		assert_equal "$stderr" ''
	done
}

@test "PNG: iTXt chunks with the prompt, model and parameters; pixels unchanged" {
	rec=$(dalle-submit -m gpt-image-1 --quality low "$PROMPT")
	run -0 --separate-stderr dalle-fetch -d with <<<"$rec"
	with=$(jq -r '.files[0].path' <<<"$output")
	run -0 --separate-stderr dalle-fetch -d without --no-provenance <<<"$rec"
	without=$(jq -r '.files[0].path' <<<"$output")
	run -0 imgcheck "$with" "$without"
	assert_equal "$(text "$with" prompt)" "$PROMPT"
	assert_equal "$(text "$with" deployment)" gpt-image-1
	assert_equal "$(text "$with" provider)" azure
	assert_equal "$(text "$with" parameters | jq -r .quality)" low
	assert_regex "$(text "$with" created)" '^20[0-9-]+T[0-9:]+Z$'
	assert_regex "$(text "$with" software)" '^dalle-tools [0-9.]+$'
	assert_equal "$(text "$without" prompt)" ''
	assert_equal "$(pixels "$with")" "$(pixels "$without")"
	different "$with" "$without"
}

@test "--no-provenance writes the service's very bytes" {
	rec=$(dalle-submit -m gpt-image-1 "$PROMPT")
	jq -r '.data[0].b64_json' <<<"$rec" | base64 -d >sent.png
	run -0 --separate-stderr dalle-fetch -o got.png --no-provenance <<<"$rec"
	cmp sent.png got.png
}

@test "a downloaded PNG: the operation id, pixels unchanged, sha256 and bytes of the file" {
	rec=$(dalle-submit "$PROMPT" | dalle-poll)
	run -0 --separate-stderr dalle-fetch -d with <<<"$rec"
	f=$(jq -c '.files[0]' <<<"$output")
	with=$(jq -r .path <<<"$f")
	run -0 --separate-stderr dalle-fetch -d without --no-provenance <<<"$rec"
	without=$(jq -r '.files[0].path' <<<"$output")
	run -0 imgcheck "$with"
	assert_equal "$(text "$with" id)" "$(jq -r .operation.id <<<"$rec")"
	assert_equal "$(text "$with" provider)" azure-async
	assert_equal "$(pixels "$with")" "$(pixels "$without")"
	assert_equal "$(jq -r .sha256 <<<"$f")" "$(sha256sum "$with" | cut -d' ' -f1)"
	assert_equal "$(jq -r .bytes <<<"$f")" "$(stat -c %s "$with")"
}

@test "the revised prompt the service gave, the deployment from the URL" {
	rec=$(dalle-submit -m dall-e-3 "$PROMPT")
	run -0 --separate-stderr dalle-fetch -d out <<<"$rec"
	path=$(jq -r '.files[0].path' <<<"$output")
	assert_equal "$(text "$path" revised_prompt)" \
	    "$(jq -r '.data[0].revised_prompt' <<<"$rec")"
	assert_equal "$(text "$path" deployment)" dall-e-3
}

@test "OpenAI, -m: the model asked for and the service's request id, in the image and the gallery" {
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	use_openai
	rec=$(dalle-submit -m gpt-image-2 --quality low "$PROMPT")
	# The id the service gave the request (x-request-id), in the record.
	assert_regex "$(jq -r .request.id <<<"$rec")" '^[0-9a-f-]{36}$'
	run -0 --separate-stderr dalle-fetch -d out <<<"$rec"
	path=$(jq -r '.files[0].path' <<<"$output")
	assert_equal "$(text "$path" model)" gpt-image-2
	assert_equal "$(text "$path" id)" "$(jq -r .request.id <<<"$rec")"
	run -0 --separate-stderr dalle-gallery <<<"$output"
	assert_output --partial '<dd>gpt-image-2</dd>'
}

@test "JPEG: fields past one COM segment are split between characters, each segment UTF-8" {
	long=$(printf '☕%.0s' $(seq 25000))
	rec=$(dalle-submit -m gpt-image-2 --quality low --output-format jpeg "$long")
	run -0 --separate-stderr dalle-fetch -d out <<<"$rec"
	path=$(jq -r '.files[0].path' <<<"$output")
	text "$path" COM >segs
	assert_equal "$(wc -l <segs)" 2
	# Each segment is whole UTF-8 (iconv stops at a cut character).
	while IFS= read -r seg; do
		printf '%s' "$seg" | iconv -f UTF-8 -t UTF-8 >/dev/null
	done <segs
	assert_equal "$(tr -d '\n' <segs | jq -r .prompt)" "$long"
	# The request it answers, read back from the segments joined: under
	# a name of the user's, not bought again.
	run -0 --separate-stderr dalle-submit -m gpt-image-2 --quality low --output-format jpeg -o "$path" "$long"
	assert_equal "$(jq -r .skipped <<<"$output")" true
}

@test "JPEG: a COM segment holds the fields as JSON; pixels unchanged" {
	rec=$(dalle-submit -m gpt-image-1 --output-format jpeg "$PROMPT")
	run -0 --separate-stderr dalle-fetch -d with <<<"$rec"
	f=$(jq -c '.files[0]' <<<"$output")
	with=$(jq -r .path <<<"$f")
	run -0 --separate-stderr dalle-fetch -d without --no-provenance <<<"$rec"
	without=$(jq -r '.files[0].path' <<<"$output")
	run -0 imgcheck "$with" "$without"
	assert_equal "$(text "$with" COM | jq -r .prompt)" "$PROMPT"
	assert_equal "$(text "$with" COM | jq -r .parameters.output_format)" jpeg
	assert_equal "$(text "$without" COM)" ''
	assert_equal "$(pixels "$with")" "$(pixels "$without")"
	assert_equal "$(jq -r .sha256 <<<"$f")" "$(sha256sum "$with" | cut -d' ' -f1)"
	assert_equal "$(jq -r .bytes <<<"$f")" "$(stat -c %s "$with")"
	# A COM segment of the service's own before ours: the request is
	# still read back, and the image not bought again.
	{ head -c 2 "$with"; printf '\xff\xfe\x00\x07hello'; tail -c +3 "$with"; } >svc.jpg
	run -0 --separate-stderr dalle-submit -m gpt-image-1 --output-format jpeg -o svc.jpg "$PROMPT"
	assert_equal "$(jq -r .skipped <<<"$output")" true
}

@test "--sidecar: NAME.json beside each image, 0644, the fields and the file" {
	rec=$(dalle-submit -m gpt-image-1 -n 2 "$PROMPT")
	run -0 --separate-stderr dalle-fetch -d out --sidecar <<<"$rec"
	out=$output
	for i in 0 1; do
		f=$(jq -c ".files[$i]" <<<"$out")
		path=$(jq -r .path <<<"$f")
		assert_equal "$(stat -c %a "$path.json")" 644
		assert_equal "$(jq -r .prompt "$path.json")" "$PROMPT"
		assert_equal "$(jq -c .file "$path.json")" "$f"
		assert_equal "$(jq -r .file.sha256 "$path.json")" \
		    "$(sha256sum "$path" | cut -d' ' -f1)"
	done
	run -0 ls out
	assert_equal "${#lines[@]}" 4
}

@test "an edit: input_sha256, one chunk an input, in the order sent" {
	dalle-submit -m gpt-image-1 a | jq -r '.data[0].b64_json' | base64 -d >in1.png
	dalle-submit -m gpt-image-1 b | jq -r '.data[0].b64_json' | base64 -d >in2.png
	rec=$(dalle-submit -m gpt-image-1 --image in1.png --image in2.png "$PROMPT")
	run -0 --separate-stderr dalle-fetch -d out <<<"$rec"
	path=$(jq -r '.files[0].path' <<<"$output")
	run -0 text "$path" input_sha256
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 "$(sha256sum in1.png | cut -d' ' -f1)"
	assert_line --index 1 "$(sha256sum in2.png | cut -d' ' -f1)"
}

@test "run again, the image already there is listed with its sha256" {
	rec=$(dalle-submit -m gpt-image-1 "$PROMPT")
	run -0 --separate-stderr dalle-fetch -o same.png <<<"$rec"
	run -0 --separate-stderr dalle-fetch -o same.png <<<"$rec"
	assert_equal "$(jq -r '.files[0].existing' <<<"$output")" true
	assert_equal "$(jq -r '.files[0].sha256' <<<"$output")" \
	    "$(sha256sum same.png | cut -d' ' -f1)"
}

@test "the same image with other provenance is there already; another request's is replaced, one of unknown origin is not" {
	rec=$(dalle-submit -m gpt-image-1 "$PROMPT")
	run -0 --separate-stderr dalle-fetch -o same.png <<<"$rec"
	later=$(jq -c '.created += 3600' <<<"$rec")
	run -0 --separate-stderr dalle-fetch -o same.png <<<"$later"
	assert_equal "$(jq -r '.files[0].existing' <<<"$output")" true
	# Its provenance names the request it answers.
	assert_equal "$(text same.png request_hash)" "$(jq -r .request.hash <<<"$rec")"
	other=$(dalle-submit -m gpt-image-1 'another picture')
	run -0 --separate-stderr dalle-fetch -o same.png <<<"$other"
	assert_equal "$(jq -r '.files[0].existing' <<<"$output")" null
	assert_equal "$(text same.png request_hash)" "$(jq -r .request.hash <<<"$other")"
	# Written with --sidecar only: path.json says whose it is.
	run -0 --separate-stderr dalle-fetch -o side.png --no-provenance --sidecar <<<"$rec"
	run -0 --separate-stderr dalle-fetch -o side.png <<<"$other"
	assert_equal "$(text side.png request_hash)" "$(jq -r .request.hash <<<"$other")"
	# Without either, its origin is unknown: it stays, and says so.
	run -0 --separate-stderr dalle-fetch -o plain.png --no-provenance <<<"$rec"
	run -73 --separate-stderr dalle-fetch -o plain.png <<<"$other"
	assert_equal "$(jq -r .error.kind <<<"$output")" io
}

@test "a long option two programs share takes the same argument in both" {
	local p
	for p in $(programs); do
		"$p" -h | grep -oE -- '\[--[a-z][a-z0-9-]*( [^]|]+)?\]' |
		    tr -d '[]' | awk '{ print $1, ($2 == "" ? "-" : $2) }' | sort -u
	done >all
	# A name whose argument words differ between programs.
	run -0 awk '{ if (($1 in w) && w[$1] != $2) print $1; w[$1] = $2 }' all
	assert_output ''
}

@test "mandoc -Tlint: no note but missing cross-references on any page" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run bash -c 'mandoc -Tlint "$1"/man/*.[17] 2>&1 |
	    grep -v -e "referenced manual not found" -e "mandoc.db lacks"' \
	    _ "$ROOT"
	assert_output ''
}
