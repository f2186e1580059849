#!/usr/bin/env bats
# Files another user could plant: the shared request budget is kept only in
# a directory of ours closed to others, in a regular file of ours opened
# without following a link; anything else is said on stderr and the
# process keeps a budget of its own.  Retries draw their jitter from a seed
# of their own in every process.  The "another user" is nobody, made the
# owner with chown (the suite runs as root in CI).
bats_require_minimum_version 1.5.0
load helpers/common

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
	use_azure
	# The default directory is then $TMPDIR/dalle-tools-UID, this test's.
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir "$TMPDIR"
	DIR="$TMPDIR/dalle-tools-$(id -u)"
	# A file of the victim's that a planted link points at.
	VICTIM="$BATS_TEST_TMPDIR/victim"
	head -c 8192 /dev/zero | tr '\0' v >"$VICTIM"
	cp "$VICTIM" "$BATS_TEST_TMPDIR/victim.orig"
}

# state_name: the name of the state file dalle-submit uses here, learned
# from a first run in a fresh directory, which is then removed.
state_name() {
	local d name
	d=$(mktemp -d "$BATS_TEST_TMPDIR/learn.XXXXXX")
	TMPDIR=$d dalle-submit x >/dev/null
	name=$(cd "$d/dalle-tools-$(id -u)" && ls)
	rm -rf "$d"
	echo "$name"
}

# submit_alone WHY: one request, answered, with the budget kept alone
# because of WHY, and the victim's file as it was.
submit_alone() {
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	assert_equal "$(jq -r '.error // "none"' <<<"$output")" none
	assert_equal "$(jq -r '.request.attempts' <<<"$output")" 1
	[[ "$stderr" == *": $1: the request budget is this process's alone"* ]]
	cmp "$VICTIM" "$BATS_TEST_TMPDIR/victim.orig"
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "chown to another user needs root"
}

@test "the budget directory is made ours and closed, the state file 0600, and nothing is said" {
	run --separate-stderr dalle-submit x
	assert_success
	[ -z "$stderr" ]
	assert_equal "$(stat -c '%a %u' "$DIR")" "700 $(id -u)"
	assert_equal "$(stat -c '%a %u %F' "$DIR"/rate*)" "600 $(id -u) regular file"
}

@test "a link planted as the state file is not followed: the victim's file is untouched" {
	name=$(state_name)
	mkdir -m 700 "$DIR"
	ln -s "$VICTIM" "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "a symbolic link, not followed"
	[ -L "$DIR/$name" ]
}

@test "a world-writable budget directory is not used, even with a link in it" {
	name=$(state_name)
	mkdir "$DIR"
	chmod 1777 "$DIR"
	ln -s "$VICTIM" "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "open to other users"
	assert_equal "$(ls "$DIR")" "$name"
}

@test "a budget directory of another user's is not used" {
	need_root
	name=$(state_name)
	mkdir -m 700 "$DIR"
	ln -s "$VICTIM" "$DIR/$name"
	chown -h nobody "$DIR" "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "owned by another user"
}

@test "a budget directory that is a link to a directory is not used" {
	mkdir -m 700 "$BATS_TEST_TMPDIR/elsewhere"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$DIR"
	run --separate-stderr dalle-submit x
	submit_alone "a symbolic link, not followed"
	assert_equal "$(ls "$BATS_TEST_TMPDIR/elsewhere")" ""
}

@test "a state file of another user's is not written" {
	need_root
	name=$(state_name)
	mkdir -m 700 "$DIR"
	cp "$VICTIM" "$DIR/$name"
	chown nobody "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "owned by another user"
	cmp "$VICTIM" "$DIR/$name"
}

@test "a state file that is not a regular file is not used" {
	name=$(state_name)
	mkdir -m 700 "$DIR"
	mkfifo "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "not a regular file"
}

@test "\$XDG_RUNTIME_DIR/dalle-tools is held to the same rules" {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/xdg"
	mkdir -p "$XDG_RUNTIME_DIR/dalle-tools"
	chmod 777 "$XDG_RUNTIME_DIR/dalle-tools"
	run --separate-stderr dalle-submit x
	submit_alone "open to other users"
	assert_equal "$(ls "$XDG_RUNTIME_DIR/dalle-tools")" ""
	[ ! -e "$DIR" ]
	chmod 700 "$XDG_RUNTIME_DIR/dalle-tools"
	run --separate-stderr dalle-submit x
	assert_success
	[ -z "$stderr" ]
	assert_equal "$(stat -c '%a' "$XDG_RUNTIME_DIR"/dalle-tools/rate*)" 600
}

@test "--rate-file that is a symbolic link is refused, not followed" {
	ln -s "$VICTIM" "$BATS_TEST_TMPDIR/budget"
	run --separate-stderr dalle-submit --rate-file "$BATS_TEST_TMPDIR/budget" x
	submit_alone "a symbolic link, not followed"
}

@test "a hard link to a file of ours planted as the state file is not written" {
	name=$(state_name)
	mkdir -m 700 "$DIR"
	ln "$VICTIM" "$DIR/$name"
	run --separate-stderr dalle-submit x
	submit_alone "a file with other names (hard links)"
}

@test "a relative XDG_RUNTIME_DIR is not used: the budget goes under TMPDIR" {
	mkdir rel
	XDG_RUNTIME_DIR=rel run --separate-stderr dalle-submit x
	assert_success
	[ -z "$stderr" ]
	[ ! -e rel/dalle-tools ]
	assert_equal "$(stat -c '%a' "$DIR")" 700
}

@test "--rate-file of another user's is refused, not written" {
	need_root
	cp "$VICTIM" "$BATS_TEST_TMPDIR/budget"
	chown nobody "$BATS_TEST_TMPDIR/budget"
	run --separate-stderr dalle-submit --rate-file "$BATS_TEST_TMPDIR/budget" x
	submit_alone "owned by another user"
	cmp "$VICTIM" "$BATS_TEST_TMPDIR/budget"
}

@test "--rate-file of ours is made 0600 and used without a word" {
	run --separate-stderr dalle-submit --rate-file "$BATS_TEST_TMPDIR/budget" x
	assert_success
	[ -z "$stderr" ]
	assert_equal "$(stat -c '%a %F' "$BATS_TEST_TMPDIR/budget")" "600 regular file"
}

@test "a .env that others may write, or of another user's, is not read" {
	unset AZURE_OPENAI_ENDPOINT
	# Endpoint and key from one source (tests/secrets.bats).
	printf 'AZURE_OPENAI_ENDPOINT=%s\nAZURE_OPENAI_API_KEY=test-key\n' \
	    "$SERVE_URL" >.env
	chmod 644 .env
	run --separate-stderr dalle-submit --dry-run x
	assert_success
	# Read without a word (the line on stderr is the estimated cost).
	[[ "$stderr" != *".env"* ]]
	chmod 666 .env
	run --separate-stderr dalle-submit --dry-run x
	assert_equal "$status" 78
	[[ "$stderr" == *".env: not a regular file of this user's that only it may write: not read"* ]]
	[[ "$stderr" == *"no API configured"* ]]
	need_root
	chmod 644 .env
	chown nobody .env
	run --separate-stderr dalle-submit --dry-run x
	assert_equal "$status" 78
	[[ "$stderr" == *".env: not a regular file of this user's"* ]]
}
