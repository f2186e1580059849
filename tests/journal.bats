#!/usr/bin/env bats
# Never pay twice: dalle-submit -d/-o skips requests whose images are on
# disk, --journal resumes what the service accepted, dalle-fetch journals
# what it wrote, the Makefile recipe, temporaries of dead runs.
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
}

# sent ROUTE: how many requests of ROUTE the server has logged.
sent() {
	grep -c "\"route\":\"$1\"" "$SERVE_DIR/serve.log" || true
}

@test "dalle-submit -d: a request whose image is on disk is not sent again" {
	printf 'a cat on a mat\na dog on a log\n' |
	    dalle-submit --deployment dalle3 -d out | dalle-fetch -d out >first
	[ "$(jq -s 'map(.files[0].path) | length' first)" -eq 2 ]
	before=$(sent azure_generate)
	run --separate-stderr bash -c "printf 'a cat on a mat\na dog on a log\n' |
	    dalle-submit --deployment dalle3 -d out"
	assert_success
	[ "$(sent azure_generate)" -eq "$before" ]
	[ "$(jq -s 'map(select(.skipped == true)) | length' <<<"$output")" -eq 2 ]
	[ "$(jq -r '.files[0].path' <<<"${lines[0]}")" = "$(jq -r 'select(.prompt == "a cat on a mat") | .files[0].path' first)" ]
	# Listed as dalle-fetch lists it: its sha256 is the file's.
	path=$(jq -r '.files[0].path' <<<"${lines[0]}")
	assert_equal "$(jq -r '.files[0].sha256' <<<"${lines[0]}")" \
	    "$(sha256sum "$path" | cut -d ' ' -f 1)"
	# dalle-fetch passes a skipped record on, and --paths prints its files.
	run --separate-stderr dalle-fetch -d out --paths <<<"${lines[0]}"
	assert_success
	[ -f "$output" ]
}

@test "-o '{hash}.{ext}': the request's hash names the file, in both programs" {
	dalle-submit --deployment dalle3 -o 'img/{hash}.{ext}' 'a fox in a box' |
	    dalle-fetch -o 'img/{hash}.{ext}' --no-provenance >rec
	hash=$(jq -r .request.hash rec)
	[ "$(jq -r '.files[0].path' rec)" = "img/$hash.png" ]
	[ "$(png_size "img/$hash.png")" = 1024x1024 ]
	# Its name alone says whose it is: no provenance, no journal needed.
	rm img/.dalle-journal
	before=$(sent azure_generate)
	run --separate-stderr dalle-submit --deployment dalle3 -o 'img/{hash}.{ext}' 'a fox in a box'
	assert_success
	[ "$(sent azure_generate)" -eq "$before" ]
	[ "$(jq -r .skipped <<<"$output")" = true ]
	# A file that is not a whole image does not count as done.
	rm "img/$hash.png"
	printf 'not a png' >"img/$hash.png"
	run --separate-stderr dalle-submit --deployment dalle3 -o 'img/{hash}.{ext}' 'a fox in a box'
	assert_success
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
}

# dog ARG...: the review's second line, a blue dog named "cat" (the name
# a red cat had), through dalle-submit ARG....
dog() {
	echo '{"prompt":"a blue dog","name":"cat"}' |
	    dalle-submit --deployment dalle3 "$@"
}

# dog_skipped N: the dog line again into o2 is skipped, N generations
# logged in all.
dog_skipped() {
	run --separate-stderr dog -d o2
	[ "$(jq -r .skipped <<<"$output")" = true ]
	[ "$(sent azure_generate)" -eq "$1" ]
}

@test "a name of the user's: an edited prompt is sent, and its image replaces the other request's" {
	echo '{"prompt":"a red cat","name":"cat"}' |
	    dalle-submit --deployment dalle3 -d o2 | dalle-fetch -d o2 >/dev/null
	cp o2/cat.png cat.png
	before=$(sent azure_generate)
	run --separate-stderr dog -d o2
	assert_success
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
	[ "$(jq -r .skipped <<<"$output")" = null ]
	run --separate-stderr dalle-fetch -d o2 <<<"$output"
	assert_success
	[ "$(jq -r '.files[0].path' <<<"$output")" = o2/cat.png ]
	[ "$(jq -r '.files[0].existing' <<<"$output")" = null ]
	# The dog's image, as dalle-serve paints it for that prompt (the
	# service's bytes, then the provenance before IEND).
	dog | dalle-fetch -o dog.png --no-provenance >/dev/null
	run cmp -n $(($(stat -c %s dog.png) - 12)) dog.png o2/cat.png
	assert_success
	run cmp -n $(($(stat -c %s dog.png) - 12)) dog.png cat.png
	assert_failure
	# And now it is the dog's: the same line again is skipped.
	dog_skipped $((before + 2))
}

@test "a name of the user's, no provenance: the journal says whose the image is" {
	echo '{"prompt":"a red cat","name":"cat"}' |
	    dalle-submit --deployment dalle3 -d o2 | dalle-fetch -d o2 --no-provenance >/dev/null
	cp o2/cat.png cat.png
	before=$(sent azure_generate)
	dog -d o2 >rec
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
	run --separate-stderr dalle-fetch -d o2 --no-provenance <rec
	assert_success
	[ "$(jq -r '.files[0].existing' <<<"$output")" = null ]
	run cmp -s cat.png o2/cat.png
	assert_failure
	dog_skipped $((before + 1))
}

@test "a name of the user's: a file of unknown origin there is sent for, left alone, and never counted as the request's" {
	echo '{"prompt":"a red cat","name":"cat"}' |
	    dalle-submit --deployment dalle3 | dalle-fetch -o foreign.png --no-provenance >/dev/null
	mkdir o2
	cp foreign.png o2/cat.png
	before=$(sent azure_generate)
	dog -d o2 >rec
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
	# Another image than the one downloaded: an error, as for base64.
	run --separate-stderr dalle-fetch -d o2 <rec
	assert_equal "$status" 73
	assert_equal "$(jq -r .error.kind <<<"$output")" io
	[[ "$(jq -r .error.message <<<"$output")" == *"holds another image"* ]]
	run cmp foreign.png o2/cat.png
	assert_success
	# Not journaled as written for the dog: the next run does not skip
	# it, but gives back the answer paid for and never written.
	run --separate-stderr dog -d o2
	assert_equal "$(jq -r .skipped <<<"$output")" null
	assert_equal "$(jq -r .resumed <<<"$output")" true
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
}

@test "a name of the user's: a file of unknown origin that is the very image downloaded stays, listed" {
	# dalle-serve paints the same bytes for the same prompt.
	echo '{"prompt":"a red cat","name":"cat"}' >cat.jsonl
	dalle-submit --deployment dalle3 <cat.jsonl | dalle-fetch -o foreign.png --no-provenance >/dev/null
	mkdir o2
	cp foreign.png o2/cat.png
	run --separate-stderr bash -c 'dalle-submit --deployment dalle3 -d o2 <cat.jsonl | dalle-fetch -d o2'
	assert_success
	[ "$(jq -r '.files[0].existing' <<<"$output")" = true ]
	run cmp foreign.png o2/cat.png
	assert_success
}

@test "--journal: an answer paid for but never written is re-emitted, not bought again" {
	printf 'a teapot\na kettle\n' |
	    dalle-submit --deployment gpt-image-2 --quality low --journal j >/dev/null
	[ "$(stat -c %a j)" = 600 ]
	[ "$(ls j.d | wc -l)" -eq 2 ]
	before=$(sent azure_generate)
	run --separate-stderr bash -c "printf 'a teapot\na kettle\n' |
	    dalle-submit --deployment gpt-image-2 --quality low --journal j |
	    dalle-fetch -d out"
	assert_success
	[ "$(sent azure_generate)" -eq "$before" ]
	[ "$(jq -s 'map(select(.resumed == true)) | length' <<<"$output")" -eq 2 ]
	[ "$(ls out/*.png | wc -l)" -eq 2 ]
	# Written: the kept answers go, the journal says where the images are.
	[ "$(ls j.d | wc -l)" -eq 0 ]
	[ "$(jq -s 'map(select(.written)) | length' j)" -eq 2 ]
	# And the next run, told nothing of out/, still finds them there.
	run --separate-stderr bash -c "printf 'a teapot\na kettle\n' |
	    dalle-submit --deployment gpt-image-2 --quality low --journal j"
	[ "$(sent azure_generate)" -eq "$before" ]
	[ "$(jq -s 'map(select(.skipped == true)) | length' <<<"$output")" -eq 2 ]
}

@test "--journal: an accepted operation is resumed, not submitted again" {
	dalle-submit --journal j 'a lighthouse at dusk' >/dev/null
	before=$(sent submit)
	[ "$before" -ge 1 ]
	run --separate-stderr bash -c "dalle-submit --journal j 'a lighthouse at dusk' |
	    dalle-poll | dalle-fetch -d out"
	assert_success
	[ "$(sent submit)" -eq "$before" ]
	[ "$(jq -r .resumed <<<"$output")" = true ]
	[ -f "$(jq -r '.files[0].path' <<<"$output")" ]
}

# A streamed request (--partial-images) is journaled as its final image.
@test "--journal: a streamed image paid for, never written, is re-emitted" {
	args=(--deployment gpt-image-2 --quality low --partial-images 2)
	dalle-submit "${args[@]}" --partial-dir pd --journal j 'a heron' >first
	assert_equal "$(jq -r '.partials | length' first)" 2
	# Kept as the unstreamed answer: the final image, no partial.
	assert_equal "$(ls j.d | wc -l)" 1
	assert_equal "$(jq -r '.data | length' j.d/*.json)" 1
	before=$(sent azure_generate)
	run --separate-stderr dalle-submit "${args[@]}" --partial-dir pd \
	    --journal j 'a heron'
	assert_success
	assert_equal "$(sent azure_generate)" "$before"
	assert_equal "$(jq -r .resumed <<<"$output")" true
	assert_equal "$(jq -r .size <<<"$output")" "$(jq -r .size first)"
	jq -r '.data[0].b64_json' <<<"$output" >again
	jq -r '.data[0].b64_json' first >once
	cmp once again
}

@test "-d: a kept streamed image is fetched, journaled written, then skipped" {
	args=(--deployment gpt-image-2 --quality low --partial-images 2 -d out)
	dalle-submit "${args[@]}" 'a stork' >/dev/null
	assert_equal "$(ls out/.dalle-journal.d | wc -l)" 1
	before=$(sent azure_generate)
	dalle-submit "${args[@]}" 'a stork' | dalle-fetch -d out >rec
	assert_equal "$(sent azure_generate)" "$before"
	assert_equal "$(jq -r .resumed rec)" true
	assert_equal "$(png_size "$(jq -r '.files[0].path' rec)")" 1024x1024
	# Written: the journal says so, and the kept answer goes.
	assert_equal "$(ls out/.dalle-journal.d | wc -l)" 0
	assert_equal "$(jq -s 'map(select(.written)) | length' \
	    out/.dalle-journal)" 1
	run --separate-stderr dalle-submit "${args[@]}" 'a stork'
	assert_success
	assert_equal "$(sent azure_generate)" "$before"
	assert_equal "$(jq -r .skipped <<<"$output")" true
}

@test "--journal is never opened through a symbolic link, nor made readable" {
	ln -s "$PWD/elsewhere" j
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr dalle-submit --deployment dalle3 --journal j 'a moth'
	assert_equal "$status" 73
	[ ! -e elsewhere ]
	[ "$(wc -l <"$SERVE_DIR/serve.log")" -eq "$before" ]
	umask 000
	dalle-submit --deployment dalle3 --journal j2 'a moth' >/dev/null
	[ "$(stat -c %a j2)" = 600 ]
	[ "$(stat -c %a j2.d)" = 700 ]
}

@test "--journal's store of answers FILE.d is never used through a symbolic link, nor open to others" {
	mkdir elsewhere
	ln -s "$PWD/elsewhere" j.d
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr dalle-submit --deployment dalle3 --journal j 'a moth'
	assert_equal "$status" 73
	[[ "$stderr" == *"j.d: a symbolic link, not followed"* ]]
	assert_equal "$(ls -A elsewhere)" ""
	[ "$(wc -l <"$SERVE_DIR/serve.log")" -eq "$before" ]
	rm j.d
	mkdir -m 755 j.d
	run --separate-stderr dalle-submit --deployment dalle3 -d out --journal j 'a moth'
	assert_equal "$status" 73
	[[ "$stderr" == *"j.d: open to other users"* ]]
	assert_equal "$(ls -A j.d)" ""
	[ "$(wc -l <"$SERVE_DIR/serve.log")" -eq "$before" ]
}

@test "--journal's store of answers FILE.d of another user's is not used" {
	[ "$(id -u)" = 0 ] || skip "chown to another user needs root"
	mkdir -m 700 j.d
	chown nobody j.d
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr dalle-submit --deployment dalle3 --journal j 'a moth'
	assert_equal "$status" 73
	[[ "$stderr" == *"j.d: owned by another user"* ]]
	[ "$(wc -l <"$SERVE_DIR/serve.log")" -eq "$before" ]
}

@test "dalle-fetch removes a kept answer from the journal's store only, not through a link planted there" {
	rec=$(dalle-submit --deployment dalle3 --journal j 'a wren')
	kept=$(jq -r 'select(.result) | .result' j)
	[ -f "$kept" ]
	mv j.d real.d
	mkdir elsewhere
	cp real.d/* elsewhere/
	ln -s "$PWD/elsewhere" j.d
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_success
	[ -f "elsewhere/$(basename "$kept")" ]
}

@test "dalle-fetch appends to a journal only: a record cannot name another file" {
	echo precious >victim
	rec=$(dalle-submit --deployment dalle3 'an owl')
	rec=$(jq -c --arg v "$PWD/victim" '.request.key = "k" | .request.journal = $v' <<<"$rec")
	run --separate-stderr dalle-fetch -d out <<<"$rec"
	assert_success
	[ "$(cat victim)" = precious ]
}

@test "xargs -P4 share one journal: whole lines, and a re-run pays nothing" {
	for i in 1 2 3 4 5 6 7 8; do echo "shared prompt $i"; done >prompts
	before=$(sent azure_generate)
	xargs -P4 -n2 -d '\n' dalle-submit --deployment dalle3 --journal "$PWD/j" <prompts |
	    dalle-fetch -d out >/dev/null
	[ "$(sent azure_generate)" -eq $((before + 8)) ]
	# Every line is one whole JSON value.
	run jq -c . j
	assert_success
	[ "$(jq -s 'map(select(.result)) | length' j)" -eq 8 ]
	run --separate-stderr bash -c "xargs -P4 -n2 -d '\n' dalle-submit --deployment dalle3 --journal '$PWD/j' <prompts"
	assert_success
	[ "$(sent azure_generate)" -eq $((before + 8)) ]
	[ "$(jq -s 'map(select(.skipped == true)) | length' <<<"$output")" -eq 8 ]
}

@test "temporaries of dead runs are removed by the next run, whoever has their PID now; a live run's stay" {
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	mkdir out
	echo half >"out/.dalle-fetch.$dead.AbCdEf"
	# PIDs are reused (a restart gives the same ones): unlocked and not
	# just made, a temporary is a dead run's, whoever has its PID now.
	echo half >"out/.dalle-fetch.$$.AbCdEf"
	touch -d '1 minute ago' "out/.dalle-fetch.$$.AbCdEf"
	# Its writer holds a lock while it lives: it stays.
	echo busy >"out/.dalle-fetch.$$.Locked"
	touch -d '1 minute ago' "out/.dalle-fetch.$$.Locked"
	exec 9<"out/.dalle-fetch.$$.Locked"
	flock -x 9
	# Unlocked but just made (here: a time still to come): its writer
	# may be between making it and locking it.  It stays.
	echo busy >"out/.dalle-fetch.$$.JustMade"
	touch -d '1 minute' "out/.dalle-fetch.$$.JustMade"
	dalle-submit --deployment dalle3 'a crow' | dalle-fetch -d out >/dev/null
	exec 9<&-
	[ ! -e "out/.dalle-fetch.$dead.AbCdEf" ]
	[ ! -e "out/.dalle-fetch.$$.AbCdEf" ]
	[ -e "out/.dalle-fetch.$$.Locked" ]
	[ -e "out/.dalle-fetch.$$.JustMade" ]
	# Named for the sweeper's own PID: a run before the restart.
	rec=$(dalle-submit --deployment dalle3 'a rook')
	run --separate-stderr bash -c 'touch -d "1 minute ago" out/.dalle-fetch.$$.MnOpQr &&
	    exec dalle-fetch -d out' <<<"$rec"
	assert_success
	[ -z "$(find out -name '.dalle-fetch.*.MnOpQr')" ]
	# dalle-submit -d sweeps too, when nothing is left to fetch.
	echo half >"out/.dalle-fetch.$dead.GhIjKl"
	dalle-submit --deployment dalle3 -d out 'a crow' >/dev/null
	[ ! -e "out/.dalle-fetch.$dead.GhIjKl" ]
}

@test "the Makefile recipe: a touched prompt costs nothing, an edited one replaces the image, the next make sends nothing, a failed one is not up to date" {
	serve_start --blocked-term forbidden
	use_azure
	cp -R "$ROOT/examples" ex
	rm -rf ex/out
	run --separate-stderr make -C ex -j3
	assert_success
	cp ex/out/make/giraffe.png old.png
	# touch, git checkout: make runs the recipe, the image is the prompt's.
	touch ex/prompts/giraffe.txt
	before=$(sent azure_generate)
	run --separate-stderr make -C ex
	assert_success
	[ "$(sent azure_generate)" -eq "$before" ]
	run cmp old.png ex/out/make/giraffe.png
	assert_success
	run make -q -C ex
	assert_success
	echo 'A giraffe flying a red kite' >ex/prompts/giraffe.txt
	run --separate-stderr make -C ex
	assert_success
	[ "$(sent azure_generate)" -eq $((before + 1)) ]
	[ "$(png_size ex/out/make/giraffe.png)" = 1024x1024 ]
	run cmp -s old.png ex/out/make/giraffe.png
	assert_failure
	# The new prompt's image: its provenance says so.
	run grep -ac 'A giraffe flying a red kite' ex/out/make/giraffe.png
	assert_output 1
	before=$(wc -l <"$SERVE_DIR/serve.log")
	run --separate-stderr make -C ex
	assert_success
	[ "$(wc -l <"$SERVE_DIR/serve.log")" -eq "$before" ]
	echo 'A forbidden elephant' >ex/prompts/elephant.txt
	run --separate-stderr make -C ex
	assert_failure
	# The old image stays, older than its prompt: the next make tries again.
	run make -q -C ex out/make/elephant.png
	assert_failure
	# The journal came for free: every recipe shared one.
	[ "$(jq -s 'map(select(.result)) | length' ex/out/make/.dalle-journal)" -eq 4 ]
}
