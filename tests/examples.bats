#!/usr/bin/env bats
# Every example in examples/ and the demo run against dalle-serve, as a
# user would run them.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
	cp -R "$ROOT/examples" ex
	rm -rf ex/out
}

@test "examples/demo.sh (make demo) prints the paths of real images from every API" {
	DEMO_OUT=$BATS_TEST_TMPDIR/demo run --separate-stderr "$ROOT/examples/demo.sh"
	assert_success
	paths=$(grep "^$BATS_TEST_TMPDIR/demo/" <<<"$output")
	[ "$(wc -l <<<"$paths")" -eq 9 ]
	for d in gpt-image-2 edit openai dall-e-2 dall-e-3; do
		grep -q "/demo/$d/" <<<"$paths"
	done
	# Today's models lead; the exercise's flows come after them.
	[ "$(grep -n -m 1 gpt-image-2 <<<"$output" | cut -d: -f1)" -lt "$(grep -n -m 1 dall-e-2 <<<"$output" | cut -d: -f1)" ]
	# The edits are of the free size asked for, and made from their
	# inputs: neither is the picture it edited.
	d=$BATS_TEST_TMPDIR/demo
	[ "$(png_size "$d/edit/fox-aurora.png")" = 1536x864 ]
	[ "$(png_size "$d/openai/teapot-stars.png")" = 1536x864 ]
	run cmp -s "$d/edit/fox-aurora.png" "$d/gpt-image-2/fox.png"
	assert_failure
	run cmp -s "$d/openai/teapot-stars.png" "$d/openai/teapot.png"
	assert_failure
	while read -r p; do
		case $p in
		*.png) png_size "$p" >/dev/null ;;
		*.jpg) [ "$(od -An -tx1 -N3 "$p" | tr -d ' ')" = ffd8ff ] ;;
		*) false ;;
		esac
	done <<<"$paths"
	# Of real size: the 1024x1024 PNGs about 2 MB (dalle-serve
	# --image-bytes 2m), the 512x512 ones all the pixels can hold.
	while read -r p; do
		[ "$(wc -c <"$p")" -gt 700000 ]
	done < <(grep '\.png$' <<<"$paths")
}

@test "examples/xargs.sh: four submit processes feed one poll | fetch" {
	run --separate-stderr ex/xargs.sh "$BATS_TEST_TMPDIR/x"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	for p in "${lines[@]}"; do [ "$(png_size "$p")" = 1024x1024 ]; done
}

@test "examples/catalogue.sh: jq catalogue in, sku-named images out" {
	run --separate-stderr ex/catalogue.sh "$BATS_TEST_TMPDIR/c"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	[ "$(png_size "$BATS_TEST_TMPDIR/c/tee-02.png")" = 1024x1536 ]
	[ "$(png_size "$BATS_TEST_TMPDIR/c/cap-03.png")" = 1536x1024 ]
	[[ "$output" == *$'mug-01\t1024x1024\t'* ]]
}

@test "examples/Makefile: targets appear complete, and a re-run redoes nothing" {
	run --separate-stderr make -C ex -j3
	assert_success
	for t in giraffe elephant lighthouse; do
		[ "$(png_size "ex/out/make/$t.png")" = 1024x1024 ]
	done
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr make -C ex
	assert_success
	[[ "$output" == *"Nothing to be done"* ]]
	[ "$(wc -l <"$SERVE_DIR/serve.log")" = "$before" ]
}

# readme_blocks: the README's code blocks, one per line, each line of a
# block joined to the next with "; ".
readme_blocks() {
	awk '/^    / && (prev == "" || code) { sub(/^    /, ""); b = b (code ? "; " : "") $0; code = 1; prev = $0; next }
	    code { print b; b = ""; code = 0 } { prev = $0 } END { if (code) print b }' "$ROOT/README.md"
}

@test "README: every pipeline that writes images gives dalle-submit its -d or -o, so a re-run pays nothing" {
	readme_blocks | grep 'dalle-fetch' >blocks
	[ "$(wc -l <blocks)" -ge 8 ]
	# Every dalle-submit of those blocks names where the images go.
	assert_equal "$(grep -o 'dalle-submit[^|<>;]*' blocks | grep -cv -e ' -d ' -e ' -o ')" 0
}

@test "README: its first pipeline, run again, sends nothing and lists the same files" {
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	use_openai
	awk '/^    / { sub(/^    /, ""); print; f = 1; next } f { exit }' \
	    "$ROOT/README.md" >first.sh
	grep -q 'dalle-submit' first.sh
	run --separate-stderr bash first.sh
	assert_success
	jq -r '.files[].path' <<<"$output" | sort >files1
	assert_equal "$(wc -l <files1)" 2
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr bash first.sh
	assert_success
	jq -r '.files[].path' <<<"$output" | sort >files2
	assert_equal "$(cat files2)" "$(cat files1)"
	assert_equal "$(wc -l <"$SERVE_DIR/serve.log")" "$before"
}

@test "man pages: every example that writes images gives dalle-submit its -d or -o" {
	# Each EXAMPLES block (.Bd -literal to .Ed) on one line.
	for m in "$ROOT"/man/*.[17]; do
		awk '/^\.Sh / { ex = ($0 == ".Sh EXAMPLES") }
		    ex && /^\.Bd -literal/ { b = ""; inb = 1; next }
		    inb && /^\.Ed/ { print b; inb = 0; next }
		    inb { b = b " ; " $0 }' "$m"
	done | grep 'dalle-fetch' >blocks
	[ "$(wc -l <blocks)" -ge 12 ]
	assert_equal "$(grep -o 'dalle-submit[^|<>;]*' blocks | grep -v -e '--dry-run' | grep -cv -e ' -d ' -e ' -o ')" 0
}
