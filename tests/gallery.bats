#!/usr/bin/env bats
# dalle-gallery: the page of a run.  Untrusted text escaped, links that
# are paths or http(s), failed records listed, memory that does not grow
# with the input, and the page of a dalle-serve run in headless Chromium.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
}

# The prompts a page must show as text.
SCRIPT='<script>document.title="pwned"</script>'
ONERR='"><img src=x onerror=alert(1)>'

# hostile: records whose every field tries to be markup or a link.
hostile() {
	jq -nc --arg s "$SCRIPT" --arg o "$ONERR" '
	    {prompt: $s, size: ("1024x1024" + $o),
	     data: [{url: "javascript:alert(2)", revised_prompt: $o}],
	     files: [{path: "javascript:alert(1)", index: 0, width: 64,
	         height: 64}],
	     cost: {usd: 0.04, estimated: true}},
	    {prompt: $o, model: $s, data: [{url: "javascript:alert(3)"}]},
	    {prompt: $o, error: {stage: "submit", kind: "content_filter",
	        message: $s}}'
}

# occurrences TEXT FILE: how often TEXT is in FILE (not lines: a DOM puts
# several elements on one line).
occurrences() {
	grep -oF -- "$1" "$2" | wc -l
}

# chrome ARGS...: headless Chromium on its own profile in the test's
# directory; --no-sandbox only as root, where it will not start without.
chrome() {
	local sandbox=
	[ "$(id -u)" != 0 ] || sandbox=--no-sandbox
	HOME=$BATS_TEST_TMPDIR XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/.config \
	    XDG_CACHE_HOME=$BATS_TEST_TMPDIR/.cache timeout 120 chromium \
	    --headless=new $sandbox --user-data-dir="$BATS_TEST_TMPDIR/chrome" \
	    --no-first-run --disable-gpu --disable-dev-shm-usage \
	    --disable-extensions --hide-scrollbars "$@" 2>chrome.err
}

@test "prompts, revised prompts, models, sizes and messages show as text" {
	hostile >in.jsonl
	run -0 --separate-stderr dalle-gallery --title "$SCRIPT" in.jsonl
	refute_output --partial '<script'
	refute_output --partial '<img src=x'
	assert_output --partial '&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;'
	assert_output --partial '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
	assert_output --partial '<title>&lt;script&gt;'
	# The one image: the file; alt text escaped as an attribute.
	assert_equal "$(grep -oF '<img ' <<<"$output" | wc -l)" 1
	assert_output --partial 'alt="&lt;script&gt;document.title=&quot;pwned&quot;'
}

@test "links are percent-encoded paths, file: URLs or http(s); never javascript:" {
	jq -nc '{prompt: "p", files: [
	    {path: "javascript:alert(1)", index: 0},
	    {path: "out/a b#c?d\"e.png", index: 1},
	    {path: "//evil.example/x.png", index: 2},
	    {path: "/srv/img/ü.png", index: 3}]}' >in.jsonl
	jq -nc '{prompt: "q", data: [{url: "javascript:alert(2)"},
	    {url: "https://h.example/i.png?a=1&sig=x\"y"}]}' >>in.jsonl
	run -0 --separate-stderr dalle-gallery in.jsonl
	refute_output --partial 'href="javascript:'
	refute_output --partial 'src="javascript:'
	assert_output --partial 'href="javascript%3Aalert%281%29"'
	assert_output --partial 'href="out/a%20b%23c%3Fd%22e.png"'
	assert_output --partial 'href="file:///evil.example/x.png"'
	assert_output --partial 'href="file:///srv/img/%C3%BC.png"'
	assert_output --partial 'src="https://h.example/i.png?a=1&amp;sig=x%22y"'
	assert_output --partial 'An image URL that is not http or https: not shown.'
	run -0 --separate-stderr dalle-gallery --base 'https://x.example/r 7' in.jsonl
	assert_output --partial 'href="https://x.example/r%207/out/a%20b%23c%3Fd%22e.png"'
	assert_output --regexp "img-src [^;]* https://x.example;"
	run -64 --separate-stderr dalle-gallery --base 'javascript:alert(1)' in.jsonl
	assert_output ''
}

@test "a strict Content-Security-Policy: no script, the style sheet by its hash" {
	run -0 --separate-stderr dalle-gallery </dev/null
	csp=$(grep -o 'Content-Security-Policy" content="[^"]*' <<<"$output")
	assert_equal "$(grep -c "default-src 'none'" <<<"$csp")" 1
	refute_output --partial 'script-src'
	refute_output --partial 'unsafe-inline'
	# The hash names the style sheet as written.
	css=$(sed -n 's/^<style>\(.*\)<\/style>$/\1/p' <<<"$output")
	want=$(printf '%s' "$css" | openssl dgst -sha256 -binary | base64)
	assert_equal "$(grep -o "style-src '[^']*'" <<<"$csp")" \
	    "style-src 'sha256-$want'"
}

@test "failed records, bad lines and unfinished records are listed" {
	hostile >in.jsonl
	echo 'not json <b>' >>in.jsonl
	echo '{"prompt":"later","status":"running"}' >>in.jsonl
	run -65 --separate-stderr dalle-gallery in.jsonl
	# One warning, naming the line (the rest is jq's message).
	assert_equal "${#stderr_lines[@]}" 1
	assert_equal "${stderr%%: invalid JSON: *}" 'dalle-gallery: in.jsonl:4'
	assert_output --partial '<h2>Failed (3)</h2>'
	assert_output --partial '<tr><td>in.jsonl:3</td><td class="kind">content_filter</td><td>&lt;script&gt;'
	assert_output --partial '<tr><td>in.jsonl:4</td><td class="kind">input</td>'
	assert_output --partial '<td>not json &lt;b&gt;</td>'
	assert_output --partial 'no images in the record (status running; pipe it through dalle-poll)'
	assert_output --partial '<footer>1 image from 5 records; 3 failed; 1 not shown; cost $0.040 (estimated), 1 record without one.</footer>'
	run -65 --separate-stderr dalle-gallery -q in.jsonl
	assert_equal "$stderr" ''
	run -66 --separate-stderr dalle-gallery in.jsonl no-such-file
	assert_output ''
}

@test "base64 images: a note, or with --inline the image as a data: URL" {
	echo '{"prompt":"a cat"}' | dalle-submit -m gpt-image-1 >b64.jsonl
	run -0 --separate-stderr dalle-gallery b64.jsonl
	assert_output --partial 'The image is in the record as base64'
	refute_output --partial 'data:image'
	run -0 --separate-stderr dalle-gallery --inline b64.jsonl
	assert_output --partial '<img src="data:image/png;base64,iVBORw0KGgo'
	assert_output --regexp '<img src="data:[^"]*" loading="lazy" width="[0-9]+" height="[0-9]+" alt="a cat">'
}

@test "megabyte records stream through in bounded memory; too long lines listed" {
	# One record of 4 MiB of base64, thirty times: 120 MiB of input.
	{
		printf '{"prompt":"big","data":[{"b64_json":"iVBORw0KGgo'
		head -c 3145728 /dev/zero | base64 -w0
		printf '"}]}\n'
	} >one.jsonl
	for i in $(seq 30); do cat one.jsonl; done >big.jsonl
	# Under the sanitizers or valgrind the address space is theirs.
	if [ -n "${DALLE_WRAP_DIR:-}" ] || grep -q __asan_init "$ROOT/dalle-gallery"; then
		run -0 --separate-stderr dalle-gallery big.jsonl
	else
		run -0 --separate-stderr bash -c 'ulimit -v 100000; dalle-gallery big.jsonl'
	fi
	assert_equal "$(grep -c 'The image is in the record as base64 (3073 KiB)' <<<"$output")" 30
	run -65 --separate-stderr dalle-gallery --max-line 1000000 one.jsonl
	assert_output --partial '<td class="kind">input</td><td>a line of 4194356 bytes, longer than --max-line</td>'
}

@test "-o writes the page whole, with paths from the page's directory" {
	echo '{"prompt":"one"}' | dalle-submit | dalle-poll | dalle-fetch -d imgs >run.jsonl
	path=$(jq -r '.files[0].path' run.jsonl)
	run -0 --separate-stderr dalle-gallery -o site/page/index.html run.jsonl
	assert_output ''
	run -0 grep -c "<img src=\"../../$path\"" site/page/index.html
	assert_output 1
	# Nothing but the page in its directory: no temporary file left.
	assert_equal "$(ls -A site/page)" index.html
	# An unreadable input: the old page stays.
	echo old >site/page/index.html
	run -66 --separate-stderr dalle-gallery -o site/page/index.html nope.jsonl
	assert_equal "$(cat site/page/index.html)" old
	assert_equal "$(ls -A site/page)" index.html
}

@test "a dalle-serve run through submit | poll | fetch | gallery" {
	{
		echo 'A giraffe'
		jq -nc --arg p "$ONERR" '{prompt: $p, n: 2}'
	} | dalle-submit | dalle-poll | dalle-fetch -d out |
	    dalle-gallery >gallery.html
	run -0 grep -c '<img src="out/[0-9a-f-]*\.png" loading="lazy" width="1024" height="1024"' gallery.html
	assert_output 3
	run -0 grep -c '<p class="prompt">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>' gallery.html
	assert_output 1
	run -0 grep -c '<time datetime="20[0-9-]*T[0-9:]*Z">' gallery.html
	assert_output 2
}

@test "in Chromium: the DOM has the images and the hostile prompts as text; a screenshot" {
	command -v chromium >/dev/null || skip "chromium is not installed"
	{
		jq -nc --arg p "$SCRIPT" '{prompt: $p}'
		jq -nc --arg p "$ONERR" '{prompt: $p, n: 2}'
		jq -nc --arg p "$ONERR" '{prompt: $p, error: {kind: "input",
		    message: $p}}'
	} | dalle-submit | dalle-poll | dalle-fetch -d out |
	    dalle-gallery -o gallery.html
	chrome --dump-dom "file://$PWD/gallery.html" >dom.html
	# Three images, no other element from a prompt.
	assert_equal "$(occurrences '<img ' dom.html)" 3
	assert_equal "$(occurrences '<script' dom.html)" 0
	# An injected element would have an onerror attribute, quoted.
	assert_equal "$(occurrences 'onerror="' dom.html)" 0
	assert_equal "$(occurrences '<title>dalle-gallery</title>' dom.html)" 1
	assert_equal "$(occurrences '<p class="prompt">&lt;script&gt;document.title="pwned"&lt;/script&gt;</p>' dom.html)" 1
	assert_equal "$(occurrences '<p class="prompt">"&gt;&lt;img src=x onerror=alert(1)&gt;</p>' dom.html)" 1
	assert_equal "$(occurrences '<td>"&gt;&lt;img src=x onerror=alert(1)&gt;</td>' dom.html)" 2
	chrome --window-size=1000,700 --screenshot="$PWD/shot.png" \
	    "file://$PWD/gallery.html"
	[ -s shot.png ]
	assert_equal "$(png_size shot.png)" 1000x700
}
