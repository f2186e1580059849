#!/usr/bin/env bats
# Man pages against the programs: the SYNOPSIS is the usage, every option
# is described, the pages lint clean, and the contract pages agree with
# the code (environment variables, error kinds and their exit statuses).
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# render PAGE: the page as plain text.
render() {
	if command -v mandoc >/dev/null; then
		mandoc -Tascii "$1" | sed 's/.\x08//g'
	elif command -v man >/dev/null; then
		MANWIDTH=80 man -l "$1" 2>/dev/null | sed 's/.\x08//g'
	else
		skip "neither mandoc nor man is installed"
	fi
}

# section PAGE NAME: one section of the rendered page, blanks squeezed.
section() {
	render "$1" | awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on' |
	    tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'
}

@test "-h prints the usage on stdout and exits 0" {
	for p in $(programs); do
		run -0 --separate-stderr "$p" -h
		assert_output --regexp "^usage: $p "
		assert_equal "$stderr" ''
	done
}

@test "a bad option exits 64 with the usage on stderr alone" {
	for p in $(programs); do
		run -64 --separate-stderr "$p" --no-such-option </dev/null
		assert_output ''
		[[ $stderr == *"usage: $p "* ]] || fail "$p: no usage on stderr"
	done
}

@test "each man page's SYNOPSIS is its program's usage" {
	for p in $(programs); do
		[ -e "$ROOT/man/$p.1" ] || fail "no man/$p.1"
		want=$("$p" -h | sed '1s/^usage: //' | tr -s ' \t\n' '   ' |
		    sed 's/ $//')
		run -0 section "$ROOT/man/$p.1" SYNOPSIS
		assert_output "$want"
	done
}

@test "every option in the usage is described in the man page" {
	local p o bad=
	for p in $(programs); do
		# The .It lines of the page, with "\-" read as "-".
		items=$(grep '^\.It ' "$ROOT/man/$p.1" | sed 's/\\-/-/g')
		for o in $(usage_longs "$p"); do
			grep -qE -- "^\.It .*Fl ${o#-}( |$)" <<<"$items" ||
			    bad+="$p: $o"$'\n'
		done
		for o in $(usage_shorts "$p"); do
			grep -qE -- "^\.It Fl ${o#-}( |$)" <<<"$items" ||
			    bad+="$p: $o"$'\n'
		done
	done
	[ -z "$bad" ] || fail "not described: $bad"
}

@test "mandoc -Tlint -Wwarning is clean" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run -0 --separate-stderr mandoc -Tlint -Wwarning "$ROOT"/man/*.[17]
	assert_output ''
	assert_equal "$stderr" ''
}

@test "groff -ww finds nothing to warn about" {
	command -v groff >/dev/null || skip "groff is not installed"
	run -0 --separate-stderr groff -mandoc -ww -z "$ROOT"/man/*.[17]
	assert_equal "$stderr" ''
}

@test "every page the Makefile installs exists" {
	local bad=
	for f in $(sed -n '/^MAN[17] *=/,/[^\\]$/p' "$ROOT/Makefile" |
	    grep -oE 'man/[a-z-]+\.[17]'); do
		[ -e "$ROOT/$f" ] || bad+="$f "
	done
	[ -z "$bad" ] || fail "in the Makefile, but missing: $bad"
}

@test "every page a man page refers to exists" {
	local bad=
	for x in $(grep -ho '^\.Xr dalle[a-z-]* [0-9]' "$ROOT"/man/* |
	    awk '{ print $2 "." $3 }' | sort -u); do
		[ -e "$ROOT/man/$x" ] || bad+="$x "
	done
	[ -z "$bad" ] || fail "referred to, but missing: $bad"
}

@test "dalle-submit(1) documents every variable the configuration reads" {
	local v bad=
	vars=$(grep -oE 'conf_dup\("[A-Z_]+"(, "[A-Z_]+")?' "$ROOT/lib/conf.c" |
	    grep -oE '[A-Z][A-Z_]+')
	[ -n "$vars" ] || fail "no variables found in lib/conf.c"
	env=$(section "$ROOT/man/dalle-submit.1" ENVIRONMENT)
	for v in $vars; do
		[[ " $env " == *[\ ,]"$v"[\ ,]* ]] || bad+="$v "
	done
	[ -z "$bad" ] || fail "not in ENVIRONMENT: $bad"
	[[ $(section "$ROOT/man/dalle-submit.1" FILES) == *.env* ]]
}

@test "dalle(7) lists every error kind with the exit status the code gives" {
	local kind macro code num bad=
	kinds=$(grep -E '^#define DALLE_KIND_[A-Z_]+ "' "$ROOT/lib/record.h")
	[ -n "$kinds" ] || fail "no kinds in lib/record.h"
	while read -r _ macro kind; do
		kind=${kind//\"/}
		# The kind's status from lib/record.c's table, else 1.
		code=$(grep -oE "\{ $macro, DALLE_EX_[A-Z]+ \}" "$ROOT/lib/record.c" |
		    grep -oE 'DALLE_EX_[A-Z]+ ' | tr -d ' ')
		if [ -n "$code" ]; then
			num=$(grep -oE "$code = [0-9]+" "$ROOT/lib/util.h" |
			    grep -oE '[0-9]+$')
		else
			num=1
		fi
		# The page's paragraph for the kind: .It Qq kind up to the next .It.
		para=$(awk -v k="$kind" '/^\.It / { on = ($0 == ".It Qq " k); next }
		    /^\.El/ { on = 0 } on' "$ROOT/man/dalle.7")
		if [ -z "$para" ]; then
			bad+="$kind: not listed"$'\n'
		elif ! grep -qw "$num" <<<"$para"; then
			bad+="$kind: exit $num not said"$'\n'
		fi
	done <<<"$kinds"
	[ -z "$bad" ] || fail "$bad"
}
