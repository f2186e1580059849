#!/usr/bin/env bats
# Edits: dalle-submit --image/--mask and the record's "image" and "mask"
# fields, read and checked before any request, sent to /images/edits as
# OpenAI's JSON body or a multipart form, and answered by dalle-serve with
# a picture made from the inputs.
bats_require_minimum_version 1.5.0
load helpers/common

KEY=sk-edit-secret-4242

# The inputs, painted by dalle-serve itself: two landscapes, a third, a
# mask (a transparent background: the sky is transparent), a mask of
# another size and a JPEG.
setup_file() {
	serve_start_file --api-key "$KEY" || return 1
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY="$KEY"
	IMG="$BATS_FILE_TMPDIR/img"
	export IMG
	mkdir -p "$IMG"
	paint 'a quiet harbour' >"$IMG/a.png"
	paint 'a desert road' >"$IMG/b.png"
	paint 'a snowy field' >"$IMG/c.png"
	paint 'the mask' --background transparent >"$IMG/mask.png"
	paint 'the wide mask' --background transparent -s 1536x1024 \
	    >"$IMG/wide.png"
	paint 'a jpeg' --output-format jpeg >"$IMG/a.jpg"
	echo 'not a picture' >"$IMG/text.png"
}

# paint PROMPT [options]: a gpt-image-2 picture's bytes on stdout.
paint() {
	local p=$1
	shift
	"$ROOT/dalle-submit" -m gpt-image-2 "$@" "$p" |
	    jq -r '.data[0].b64_json' | base64 -d
}

setup() {
	_common_setup
	export AZURE_OPENAI_API_KEY="$KEY"
}

use_az() {
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL"
}

use_oai() {
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY="$KEY"
}

# How many edit requests dalle-serve has logged so far.
edits_logged() {
	grep -c '/images/edits' "$SERVE_DIR/serve.log" || true
}

# The last logged request, as JSON.
last_logged() {
	tail -n 1 "$SERVE_DIR/serve.log"
}

# differ FILE FILE: fails when the two are the same bytes.  (A "!" line
# would not fail a test: errexit ignores it.)
differ() {
	! cmp -s "$1" "$2"
}

# The first image of the record in $1, decoded into file $2.
image_of() {
	jq -r '.data[0].b64_json' <<<"$1" | base64 -d >"$2"
}

@test "the test images are what the tests take them for" {
	[ "$(png_size "$IMG/a.png")" = 1024x1024 ]
	[ "$(png_size "$IMG/wide.png")" = 1536x1024 ]
	[ "$(head -c 3 "$IMG/a.jpg" | od -An -tx1 | tr -d ' ')" = ffd8ff ]
}

@test "OpenAI, one image and a mask: the JSON body with data URLs, a PNG of the input's size" {
	use_oai
	run --separate-stderr dalle-submit -m gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	assert_success
	[ "$(jq -r .status <<<"$output")" = succeeded ]
	[ "$(jq -r .request.encoding <<<"$output")" = json ]
	image_of "$output" out.png
	[ "$(png_size out.png)" = 1024x1024 ]
	differ out.png "$IMG/a.png"
	[ "$(jq -r '.usage.input_tokens_details.image_tokens > 0' <<<"$output")" = true ]
	last_logged >log.json
	[ "$(jq -r .path log.json)" = /v1/images/edits ]
	[ "$(jq -r .route log.json)" = openai_edit ]
	[ "$(jq -r .headers[\"content-type\"] log.json)" = application/json ]
	[ "$(jq '.body.images | length' log.json)" = 1 ]
	[[ "$(jq -r '.body.images[0].image_url' log.json)" == "data:image/png;base64,["*" base64 characters]" ]]
	[[ "$(jq -r '.body.mask.image_url' log.json)" == "data:image/png;base64,["* ]]
}

@test "Azure, one image and a mask: a multipart form with parts image and mask" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	assert_success
	[ "$(jq -r .request.encoding <<<"$output")" = multipart ]
	image_of "$output" az.png
	[ "$(png_size az.png)" = 1024x1024 ]
	last_logged >log.json
	[ "$(jq -r .route log.json)" = azure_edit ]
	[[ "$(jq -r .headers[\"content-type\"] log.json)" == multipart/form-data* ]]
	[ "$(jq -c '[.parts[] | .name]' log.json)" = '["prompt","image","mask"]' ]
	[ "$(jq -r '.parts[1].bytes' log.json)" = "$(stat -c %s "$IMG/a.png")" ]
	[ "$(jq -r .body.prompt log.json)" = 'a red house' ]
}

@test "the same edit in either encoding gives the same picture, and again the same" {
	use_oai
	run --separate-stderr dalle-submit -m gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	assert_success
	image_of "$output" json.png
	unset OPENAI_BASE_URL OPENAI_API_KEY
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	assert_success
	image_of "$output" form.png
	cmp json.png form.png
}

@test "an edit of another input, or without the mask, is another picture" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	image_of "$output" a.png
	h1=$(jq -r .request.hash <<<"$output")
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/b.png" --mask "$IMG/mask.png" 'a red house'
	image_of "$output" b.png
	h2=$(jq -r .request.hash <<<"$output")
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" 'a red house'
	image_of "$output" nomask.png
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/b.png" 'a red house'
	image_of "$output" nomask-b.png
	differ a.png b.png
	differ a.png nomask.png
	differ nomask.png nomask-b.png
	[ "$h1" != "$h2" ]
}

@test "the mask's transparent pixels are repainted, its opaque ones kept" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	image_of "$output" masked.png
	# a.png is opaque all over: as a mask it leaves nothing to repaint.
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/a.png" 'a red house'
	image_of "$output" kept.png
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/a.png" 'another prompt'
	image_of "$output" kept2.png
	differ masked.png kept.png
	cmp kept.png kept2.png
}

@test "three images, on OpenAI (images[]) and on Azure (image[] parts)" {
	use_oai
	run --separate-stderr dalle-submit -m gpt-image-2 --image "$IMG/a.png" --image "$IMG/b.png" --image "$IMG/c.png" 'a collage'
	assert_success
	image_of "$output" three-oai.png
	[ "$(png_size three-oai.png)" = 1024x1024 ]
	[ "$(jq '.inputs | length' <<<"$output")" = 3 ]
	[ "$(last_logged | jq '.body.images | length')" = 3 ]
	unset OPENAI_BASE_URL OPENAI_API_KEY
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --image "$IMG/b.png" --image "$IMG/c.png" 'a collage'
	assert_success
	image_of "$output" three-az.png
	[ "$(last_logged | jq -c '[.parts[] | .name]')" = '["prompt","image[]","image[]","image[]"]' ]
	cmp three-oai.png three-az.png
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --image "$IMG/c.png" --image "$IMG/b.png" 'a collage'
	image_of "$output" three-other.png
	differ three-other.png three-az.png
}

@test "the Azure v1 route takes the form too, the deployment in its model part" {
	use_az
	run --separate-stderr dalle-submit --api azure-v1 -m gpt-image-2 --image "$IMG/a.png" 'a red house'
	assert_success
	last_logged >log.json
	[ "$(jq -r .path log.json)" = /openai/v1/images/edits ]
	[ "$(jq -r .body.model log.json)" = gpt-image-2 ]
}

@test "the record's inputs: path, sha256 as sha256sum has it, type and pixel size" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'a red house'
	assert_success
	[ "$(jq -r '.inputs[0].role' <<<"$output")" = image ]
	[ "$(jq -r '.inputs[0].path' <<<"$output")" = "$IMG/a.png" ]
	[ "$(jq -r '.inputs[0].sha256' <<<"$output")" = "$(sha256sum "$IMG/a.png" | cut -d' ' -f1)" ]
	[ "$(jq -r '.inputs[0].type' <<<"$output")" = image/png ]
	[ "$(jq -r '"\(.inputs[0].width)x\(.inputs[0].height)"' <<<"$output")" = 1024x1024 ]
	[ "$(jq -r '.inputs[1].role' <<<"$output")" = mask ]
	[ "$(jq -r '.inputs[1].sha256' <<<"$output")" = "$(sha256sum "$IMG/mask.png" | cut -d' ' -f1)" ]
}

@test "a record's image and mask fields win over --image and --mask; the rest of the input goes on" {
	use_az
	printf '%s\n' "{\"prompt\":\"p1\",\"image\":[\"$IMG/b.png\",\"$IMG/c.png\"],\"id\":1}" \
	    "{\"prompt\":\"p2\",\"image\":\"$IMG/missing.png\",\"id\":2}" \
	    '{"prompt":"p3","id":3}' >in.jsonl
	run --separate-stderr dalle-submit --keep-order --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" <in.jsonl
	assert_equal "$status" 65
	[ "${#lines[@]}" -eq 3 ]
	[ "$(jq -c '[.inputs[] | .path]' <<<"${lines[0]}")" = "[\"$IMG/b.png\",\"$IMG/c.png\",\"$IMG/mask.png\"]" ]
	[ "$(jq -r .status <<<"${lines[0]}")" = succeeded ]
	[ "$(jq -r .error.kind <<<"${lines[1]}")" = input ]
	[[ "$(jq -r .error.message <<<"${lines[1]}")" == *"$IMG/missing.png: No such file"* ]]
	[ "$(jq -r '.inputs[0].path' <<<"${lines[2]}")" = "$IMG/a.png" ]
}

@test "a mask of another size, or not a PNG, is refused before the request" {
	use_az
	before=$(edits_logged)
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/wide.png" 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = input ]
	[[ "$(jq -r .error.message <<<"$output")" == *"1536x1024, but the image"*"1024x1024"* ]]
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/a.jpg" 'x'
	assert_equal "$status" 65
	[[ "$(jq -r .error.message <<<"$output")" == *"not a PNG"* ]]
	[ "$(edits_logged)" = "$before" ]
}

@test "a missing, non-image or too large file is refused before the request" {
	use_az
	truncate -s 51M big.png
	before=$(edits_logged)
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/nowhere.png" 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = input ]
	[[ "$(jq -r .error.message <<<"$output")" == *"No such file"* ]]
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/text.png" 'x'
	assert_equal "$status" 65
	[[ "$(jq -r .error.message <<<"$output")" == *"not a PNG, JPEG or WebP image"* ]]
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image big.png 'x'
	assert_equal "$status" 65
	[[ "$(jq -r .error.message <<<"$output")" == *"53477376 bytes: an image must be under 50 MB"* ]]
	[ "$(edits_logged)" = "$before" ]
}

@test "dall-e-3 does not edit: refused before the request" {
	use_az
	before=$(edits_logged)
	run --separate-stderr dalle-submit --deployment dall-e-3 --image "$IMG/a.png" 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = invalid_request ]
	[ "$(edits_logged)" = "$before" ]
}

@test "the key never reaches dalle-serve's log of a multipart request" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'x'
	assert_success
	[[ "$(last_logged)" == *multipart/form-data* ]]
	run grep -c -- "$KEY" "$SERVE_DIR/serve.log"
	assert_output 0
	[ "$(last_logged | jq -r '.headers["api-key"]')" = '***' ]
}

@test "--dry-run of an edit describes the parts, never their bytes, and sends nothing" {
	use_az
	before=$(edits_logged)
	run --separate-stderr dalle-submit --dry-run --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'x'
	assert_success
	[[ "$(jq -r .request.url <<<"$output")" == *"/openai/deployments/gpt-image-2/images/edits?api-version="* ]]
	[ "$(jq -c '[.request.body.parts[] | .name]' <<<"$output")" = '["prompt","image","mask"]' ]
	[ "$(jq -r '.request.body.parts[1].bytes' <<<"$output")" = "$(stat -c %s "$IMG/a.png")" ]
	[ "$(jq -r '.request.body.parts[1].sha256' <<<"$output")" = "$(sha256sum "$IMG/a.png" | cut -d' ' -f1)" ]
	[ "$(jq -r '.request.body.parts[1].type' <<<"$output")" = image/png ]
	[ "${#output}" -lt 4000 ]
	unset AZURE_OPENAI_ENDPOINT
	use_oai
	run --separate-stderr dalle-submit --dry-run -m gpt-image-2 --image "$IMG/a.png" 'x'
	assert_success
	[[ "$(jq -r '.request.body.images[0].image_url' <<<"$output")" == "data:image/png;base64,["*" bytes of $IMG/a.png, sha256 "* ]]
	[ "${#output}" -lt 4000 ]
	[ "$(edits_logged)" = "$before" ]
}

@test "dalle-serve refuses a mask of another size with an OpenAI-style 400" {
	run curl -s -H "api-key: $KEY" -F prompt=x -F "image=@$IMG/a.png" -F "mask=@$IMG/wide.png" \
	    "${SERVE_URL}openai/deployments/gpt-image-2/images/edits?api-version=2025-04-01-preview"
	assert_success
	[ "$(jq -r .error.param <<<"$output")" = mask ]
	[ "$(jq -r .error.type <<<"$output")" = invalid_request_error ]
	[[ "$(jq -r .error.message <<<"$output")" == *"the mask is 1536x1024 but the image is 1024x1024"* ]]
	[ "$(last_logged | jq -r .status)" = 400 ]
}

@test "dalle-serve refuses an image URL it cannot fetch, and a WebP it cannot decode" {
	run curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
	    -d '{"model":"gpt-image-2","prompt":"x","images":[{"image_url":"https://example.com/a.png"}]}' \
	    "${SERVE_URL}v1/images/edits"
	[[ "$(jq -r .error.message <<<"$output")" == *"does not download image URLs"* ]]
	printf 'RIFF\x24\x00\x00\x00WEBPVP8L\x0a\x00\x00\x00\x2f\x00\x00\x00\x00' >w.webp
	run curl -s -H "api-key: $KEY" -F prompt=x -F "image=@w.webp" \
	    "${SERVE_URL}openai/deployments/gpt-image-2/images/edits?api-version=2025-04-01-preview"
	[[ "$(jq -r .error.message <<<"$output")" == *"does not decode WebP"* ]]
}

@test "a URL input goes in the JSON form; on a multipart route it is refused before the request" {
	use_az
	before=$(edits_logged)
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image https://example.com/a.png 'x'
	assert_equal "$status" 65
	[ "$(jq -r .error.kind <<<"$output")" = input ]
	[[ "$(jq -r .error.message <<<"$output")" == *"not URLs: download it first"* ]]
	[ "$(edits_logged)" = "$before" ]
	unset AZURE_OPENAI_ENDPOINT
	use_oai
	run --separate-stderr dalle-submit --dry-run -m gpt-image-2 --image https://example.com/a.png 'x'
	assert_success
	[ "$(jq -r '.request.body.images[0].image_url' <<<"$output")" = https://example.com/a.png ]
	[ "$(jq -c '.inputs' <<<"$output")" = '[{"role":"image","url":"https://example.com/a.png"}]' ]
}

@test "a retried multipart edit sends the whole form again, its files read afresh" {
	serve_start --api-key "$KEY" --fail-rate 0.5 --seed 3
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL"
	run --separate-stderr dalle-submit --retries 20 --deployment gpt-image-2 --image "$IMG/a.png" --mask "$IMG/mask.png" 'x'
	assert_success
	[ "$(jq -r .request.attempts <<<"$output")" -gt 1 ]
	[ "$(grep -c azure_edit "$SERVE_DIR/serve.log")" = "$(jq -r .request.attempts <<<"$output")" ]
	[ "$(jq -r '.fault' "$SERVE_DIR/serve.log" | grep -c fail)" -ge 1 ]
	[ "$(jq -r .body_bytes "$SERVE_DIR/serve.log" | sort -u | wc -l)" = 1 ]
	[ "$(jq -r '.parts[1].bytes' "$SERVE_DIR/serve.log" | sort -u)" = "$(stat -c %s "$IMG/a.png")" ]
}

@test "a WebP's pixel size is read from its header; Azure is not sent one" {
	# A lossless (VP8L) header of a 64x16 picture.
	printf 'RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x3f\xc0\x03\x00' >t.webp
	use_oai
	run --separate-stderr dalle-submit --dry-run -m gpt-image-2 --image t.webp 'x'
	assert_success
	[ "$(jq -c '.inputs[0] | [.type, .width, .height]' <<<"$output")" = '["image/webp",64,16]' ]
	unset OPENAI_BASE_URL OPENAI_API_KEY
	use_az
	run --separate-stderr dalle-submit --dry-run --deployment gpt-image-2 --image t.webp 'x'
	assert_equal "$status" 65
	[[ "$(jq -r .error.message <<<"$output")" == *"Azure takes PNG or JPEG images, not WebP"* ]]
}

@test "an edit streams its partial images in either encoding; the final image is the unstreamed edit's" {
	local enc
	for enc in az oai; do
		unset AZURE_OPENAI_ENDPOINT OPENAI_BASE_URL OPENAI_API_KEY
		"use_$enc"
		run --separate-stderr dalle-submit -m gpt-image-2 --deployment gpt-image-2 \
		    --image "$IMG/a.png" --mask "$IMG/mask.png" \
		    --partial-images 2 --partial-dir "pd-$enc" 'a green door'
		assert_success
		echo "$output" >"rec-$enc"
		assert_equal "$(jq -r .status "rec-$enc")" succeeded
		assert_equal "$(jq -r '.partials | length' "rec-$enc")" 2
		assert_equal "$(find "pd-$enc" -type f -name '*.partial*.png' | wc -l)" 2
		assert_equal "$(last_logged | jq -c '[.path, .events]')" \
		    "[\"$(jq -r '.request.url | sub("^http://[^/]*"; "") | sub("\\?.*"; "")' "rec-$enc")\",3]"
		image_of "$output" "streamed-$enc.png"
		run --separate-stderr dalle-submit -m gpt-image-2 --deployment gpt-image-2 \
		    --image "$IMG/a.png" --mask "$IMG/mask.png" 'a green door'
		assert_success
		image_of "$output" "plain-$enc.png"
		cmp "streamed-$enc.png" "plain-$enc.png"
	done
	assert_equal "$(jq -r .request.encoding rec-az)" multipart
	assert_equal "$(jq -r .request.encoding rec-oai)" json
}

@test "a gpt-image-2 edit at a free size, on OpenAI and on Azure: a PNG of exactly that size" {
	use_az
	run --separate-stderr dalle-submit --deployment gpt-image-2 -s 1280x720 \
	    --image "$IMG/a.png" --mask "$IMG/mask.png" 'a harbour at night'
	assert_success
	image_of "$output" az.png
	assert_equal "$(png_size az.png)" 1280x720
	assert_equal "$(jq -r .size <<<"$output")" 1280x720
	unset AZURE_OPENAI_ENDPOINT
	use_oai
	run --separate-stderr dalle-submit -m gpt-image-2 -s 2048x1152 \
	    --image "$IMG/a.png" 'a harbour at night'
	assert_success
	image_of "$output" oai.png
	assert_equal "$(png_size oai.png)" 2048x1152
	# A size the model refuses is refused before any request.
	before=$(edits_logged)
	run --separate-stderr dalle-submit -m gpt-image-2 -s 1000x1000 \
	    --image "$IMG/a.png" 'a harbour at night'
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.code <<<"$output")" invalid_size
	assert_equal "$(edits_logged)" "$before"
}

@test "input_fidelity: refused on a gpt-image-2 edit before the request, sent on gpt-image-1.5's" {
	use_az
	before=$(edits_logged)
	printf '%s\n' '{"prompt":"x","input_fidelity":"high"}' >in
	run --separate-stderr dalle-submit --deployment gpt-image-2 --image "$IMG/a.png" <in
	assert_equal "$status" 65
	assert_equal "$(jq -r .error.param <<<"$output")" input_fidelity
	assert_equal "$(edits_logged)" "$before"
	run --separate-stderr dalle-submit --deployment gpt-image-1.5 --image "$IMG/a.png" <in
	assert_success
	assert_equal "$(edits_logged)" $((before + 1))
	assert_equal "$(last_logged | jq -r '.body.input_fidelity // .parts.input_fidelity // empty' | head -n 1)" high
}
