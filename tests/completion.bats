#!/usr/bin/env bats
# Completions (bash, zsh, fish) against each program's own usage: every
# option it prints is offered for it, every option offered is one it takes,
# and the values of the enumerated options are offered.
bats_require_minimum_version 1.5.0
load helpers/common

setup() {
	_common_setup
}

# bash_complete WORD...: run _dalle on the words, completing the last one;
# prints COMPREPLY one per line.
bash_complete() {
	# shellcheck source=../completions/dalle.bash
	source "$ROOT/completions/dalle.bash"
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_dalle
	if [ "${#COMPREPLY[@]}" -gt 0 ]; then printf '%s\n' "${COMPREPLY[@]}"; fi
}

# missing WANTED GOT: the lines of WANTED that are not lines of GOT.
missing() {
	comm -23 <(sort -u <<<"$1") <(sort -u <<<"$2") | sed '/^$/d'
}

@test "bash: every option in each program's usage is completed for it" {
	local p bad=
	for p in $(programs); do
		m=$(missing "$(usage_longs "$p")
$(usage_shorts "$p")" "$(bash_complete "$p" -)")
		[ -z "$m" ] || bad+="$p: "$m$'\n'
	done
	[ -z "$bad" ] || fail "not completed: $bad"
}

@test "bash: every option completed is one the program takes" {
	local p o bad=
	for p in $(programs); do
		# Short options: each is in the usage.
		m=$(missing "$(bash_complete "$p" - | grep -v -- '^--')" \
		    "$(usage_shorts "$p")")
		[ -z "$m" ] || bad+="$p: "$m$'\n'
		# Long options, some spelled out only in the man page (--jobs):
		# getopt_long must know them.  "-h" last ends the run at once.
		for o in $(bash_complete "$p" --); do
			run --separate-stderr timeout 10 "$p" "$o=x" -h </dev/null
			case $stderr in
			*unrecognized*) bad+="$p: $o"$'\n' ;;
			esac
		done
	done
	[ -z "$bad" ] || fail "not taken: $bad"
}

@test "bash: options are offered per program" {
	run -0 bash_complete dalle-poll --
	refute_line --size
	refute_line --paths
	assert_line --interval
	run -0 bash_complete dalle-fetch --
	refute_line --api
	refute_line --size
	assert_line --paths
	run -0 bash_complete dalle-submit --
	refute_line --paths
	assert_line --dry-run
}

@test "bash: --size values for dalle-submit, also after -s and --size=" {
	run -0 bash_complete dalle-submit --size ''
	assert_line 256x256
	assert_line 1792x1024
	assert_line 1536x1024
	assert_line auto
	run -0 bash_complete dalle-submit --size 10
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
	    '1024x1024 1024x1536 1024x1792 '
	run -0 bash_complete dalle-submit -s 51
	assert_output 512x512
	run -0 bash_complete dalle-submit --size = 17
	assert_output 1792x1024
	run -0 bash_complete dalle-submit --size =
	assert_line 1024x1024
}

@test "bash: values of the enumerated options" {
	run -0 bash_complete dalle-submit --api ''
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
	    'azure azure-async azure-v1 openai responses '
	run -0 bash_complete dalle-submit --response-format ''
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" 'b64_json url '
	run -0 bash_complete dalle-submit --output-format ''
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" 'jpeg png webp '
	run -0 bash_complete dalle-submit --background ''
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
	    'auto opaque transparent '
	run -0 bash_complete dalle-submit --quality h
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" 'hd high '
	run -0 bash_complete dalle-submit --style ''
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" 'natural vivid '
}

@test "bash: a free-form value or a prompt gets no options offered" {
	run -0 bash_complete dalle-submit --user ''
	assert_output ''
	run -0 bash_complete dalle-submit --endpoint -
	assert_output ''
	run -0 bash_complete dalle-submit 'A gir'
	assert_output ''
	run -0 bash_complete dalle-poll ''
	assert_output ''
}

@test "bash: -d completes directories, --api-key-file and --cacert files" {
	local p
	mkdir adir
	: >afile
	run -0 bash_complete dalle-fetch -d a
	assert_output adir
	run -0 bash_complete dalle-fetch --directory a
	assert_output adir
	run -0 bash_complete dalle-submit --api-key-file a
	assert_line adir
	assert_line afile
	run -0 bash_complete dalle-poll --api-key-file af
	assert_output afile
	for p in dalle-submit dalle-poll dalle-fetch; do
		run -0 bash_complete "$p" --cacert af
		assert_output afile
	done
}

@test "bash, zsh, fish: --image and --mask complete file names" {
	: >apic.png
	run -0 bash_complete dalle-submit --image ap
	assert_output apic.png
	run -0 bash_complete dalle-submit --mask ap
	assert_output apic.png
	grep -q -- "--image=.*:_files'" "$ROOT/completions/_dalle"
	grep -q -- "--mask=.*:_files'" "$ROOT/completions/_dalle"
	grep -q -- '-l image -r -F ' "$ROOT/completions/dalle-submit.fish"
	grep -q -- '-l mask -r -F ' "$ROOT/completions/dalle-submit.fish"
}

@test "bash: _dalle is registered for every program" {
	# shellcheck source=../completions/dalle.bash
	source "$ROOT/completions/dalle.bash"
	for p in $(programs); do
		run -0 complete -p "$p"
		assert_output "complete -F _dalle $p"
	done
}

@test "zsh: every option in each program's usage is in its function" {
	local p body bad=
	for p in $(programs); do
		body=$(sed -n "/^_$p() {/,/^}/p" "$ROOT/completions/_dalle")
		[ -n "$body" ] || { bad+="$p: no function _$p"$'\n'; continue; }
		for o in $(usage_longs "$p") $(usage_shorts "$p"); do
			grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$body" ||
			    bad+="$p: $o"$'\n'
		done
	done
	[ -z "$bad" ] || fail "missing from _dalle: $bad"
	head -n 1 "$ROOT/completions/_dalle" | grep -q \
	    "^#compdef $(programs | tr '\n' ' ' | sed 's/ $//')"
}

@test "zsh: _dalle parses and completes --size values" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run -0 zsh -n "$ROOT/completions/_dalle"
	# Type "dalle-submit --size <TAB><TAB>" into an interactive zsh.
	cat >zcomp.zsh <<-'EOF'
	zmodload zsh/zpty
	zpty z 'zsh -f -i'
	zpty -w z "PROMPT='> '; fpath=($1 \$fpath); autoload -U compinit"
	zpty -w z "compinit -u -D; zstyle ':completion:*' list-prompt ''"
	zpty -n -w z "$2"$'\t\t'
	out= deadline=$((SECONDS + 10))
	while ((SECONDS < deadline)) &&
	    [[ $out != *1792x1024* || $out != *256x256* ]]; do
		zpty -r -t z line && out+=$line || sleep 0.1
	done
	zpty -d z
	print -r -- "$out"
	EOF
	run -0 zsh -f zcomp.zsh "$ROOT/completions" 'dalle-submit --size '
	assert_output --partial 1792x1024
	assert_output --partial 256x256
}

@test "fish: every option in each program's usage is in its file" {
	local p f comps bad=
	for p in $(programs); do
		f="$ROOT/completions/$p.fish"
		[ -e "$f" ] || { bad+="$p: no $p.fish"$'\n'; continue; }
		for o in $(usage_longs "$p"); do
			grep -qE -- "^complete -c $p .*-l ${o#--}( |$)" "$f" ||
			    bad+="$p: $o"$'\n'
		done
		for o in $(usage_shorts "$p"); do
			grep -qE -- "^complete -c $p .*-s ${o#-}( |$)" "$f" ||
			    bad+="$p: $o"$'\n'
		done
		if command -v fish >/dev/null; then
			comps=$(fish -N -c "source $f; complete -C'$p --'" | cut -f1)
			m=$(missing "$(usage_longs "$p")" "$comps")
			[ -z "$m" ] || bad+="$p (fish): "$m$'\n'
		fi
	done
	[ -z "$bad" ] || fail "missing from fish: $bad"
}

@test "fish: --size values for dalle-submit" {
	command -v fish >/dev/null || skip "fish is not installed"
	run -0 fish -N -c "source $ROOT/completions/dalle-submit.fish
	    complete -C'dalle-submit --size '"
	assert_line --regexp $'^1024x1792\t'
	assert_line --regexp $'^256x256\t'
	assert_line --regexp $'^auto\t'
}

@test "bash, zsh, fish: no option is offered twice for a program" {
	local p body bad=
	for p in $(programs); do
		d=$(bash_complete "$p" -- | sort | uniq -d)
		[ -z "$d" ] || bad+="dalle.bash $p: "$d$'\n'
		body=$(sed -n "/^_$p() {/,/^}/p" "$ROOT/completions/_dalle")
		d=$(grep -oE -- "'(\\([^)]*\\))?(\\*)?--[a-z0-9-]+" <<<"$body" |
		    grep -oE -- '--[a-z0-9-]+$' | sort | uniq -d)
		[ -z "$d" ] || bad+="_dalle $p: "$d$'\n'
		d=$(grep -oE -- " -l [a-z0-9-]+" "$ROOT/completions/$p.fish" |
		    sort | uniq -d)
		[ -z "$d" ] || bad+="$p.fish: "$d$'\n'
	done
	[ -z "$bad" ] || fail "offered twice: $bad"
}
