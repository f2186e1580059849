#!/usr/bin/env bats
# Secrets and local state (issue 13): a server that echoes the key gets it
# into no record, message, trace or log; --token-command runs apart, within
# limits; ./.env is read with care and never sends the environment's key
# elsewhere; the budget file and the output directory hold against files
# and links planted in them.  tests/security.bats has the budget
# directory's and .env's ownership rules.
bats_require_minimum_version 1.5.0
load helpers/common

KEY=sk-echo-0123456789abcdef

setup() {
	_common_setup
}

# echo_server MODE: a server whose key is another, echoing what it gets.
echo_server() {
	serve_start --api-key right-key-000000 --echo-key "$1"
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY=$KEY
}

# no_key TEXT...: the key is in none of them.
no_key() {
	local t
	for t in "$@"; do
		[[ "$t" != *"$KEY"* ]]
	done
}

@test "an error body that echoes the key: not in the record, nor on stderr, also with -v" {
	for mode in body escaped; do
		echo_server $mode
		run --separate-stderr dalle-submit -v --retries 0 x
		assert_equal "$status" 77
		assert_equal "$(jq -r .error.inner_error.key <<<"$output")" "[redacted]"
		[[ "$(jq -r .error.message <<<"$output")" == *"(the key was [redacted])" ]]
		no_key "$output" "$stderr" "$(cat "$SERVE_DIR/serve.log")"
		serve_stop
	done
}

@test "a header that echoes the key is redacted in the -v trace" {
	echo_server header
	run --separate-stderr dalle-submit -v --retries 0 x
	assert_equal "$status" 77
	[[ "$stderr" == *"< x-echo-key: [redacted]"* ]]
	no_key "$output" "$stderr"
}

@test "an echoed Bearer key (OpenAI) is redacted too" {
	serve_start --api-key right-key-000000 --echo-key body
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY=$KEY
	run --separate-stderr dalle-submit -m gpt-image-2 --retries 0 x
	assert_equal "$status" 77
	assert_equal "$(jq -r .error.inner_error.key <<<"$output")" "[redacted]"
	no_key "$output" "$stderr"
}

@test "dalle-poll: an echoed key stays out of its records and messages" {
	serve_start --api-key $KEY --echo-key body --latency 0.2
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY=$KEY
	rec=$(dalle-submit x)
	# Polled with a key the server refuses: it echoes that one.
	KEY=sk-other-key-for-polling-0000
	export AZURE_OPENAI_API_KEY=$KEY
	run --separate-stderr dalle-poll -v --retries 0 <<<"$rec"
	assert_equal "$status" 77
	assert_equal "$(jq -r .error.inner_error.key <<<"$output")" "[redacted]"
	no_key "$output" "$stderr"
}

# For the --token-command tests: a configuration that needs no server.
dry_azure() {
	export AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/ AZURE_OPENAI_API_KEY=$KEY
	export OPENAI_API_KEY=sk-openai-0123456789
}

@test "--token-command reads /dev/null, not the prompts on stdin" {
	dry_azure
	run --separate-stderr dalle-submit --dry-run \
	    --token-command 'cat >ate; echo tok-0123456789' <<<$'p1\np2'
	assert_success
	assert_equal "$(jq -r .prompt <<<"$output" | tr '\n' ' ')" "p1 p2 "
	assert_equal "$(wc -c <ate)" 0
}

@test "--token-command's environment and command line hold no key" {
	dry_azure
	cat >tok.sh <<-'EOS'
	tr '\0' '\n' </proc/$$/environ >env.out
	tr '\0' ' ' </proc/$$/cmdline >cmdline.out
	echo tok-0123456789
	EOS
	for prog in dalle-submit dalle-poll; do
		rm -f env.out cmdline.out
		run --separate-stderr $prog --token-command 'sh tok.sh' </dev/null
		assert_success
		grep -q '^AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/$' env.out
		run grep -c -e "$KEY" -e sk-openai- -e '^AZURE_OPENAI_API_KEY=' env.out
		assert_output 0
		assert_equal "$(cat cmdline.out)" "sh tok.sh "
	done
}

@test "--token-command that does not end is killed with what it started: exit 78" {
	dry_azure
	run --separate-stderr timeout 20 dalle-submit --dry-run \
	    --request-timeout 1 --token-command 'sleep 60 & echo $! >pid; wait' x
	assert_equal "$status" 78
	[[ "$stderr" == *"--token-command still running after 1 s: killed"* ]]
	# Gone, or a zombie left for an init that does not reap (containers).
	state=$(ps -o stat= -p "$(cat pid)" || true)
	[[ -z "$state" || "$state" == Z* ]]
}

@test "--token-command that prints without end is cut at 64 KiB: exit 78" {
	dry_azure
	run --separate-stderr timeout 20 dalle-submit --dry-run \
	    --request-timeout 3 --token-command yes x
	assert_equal "$status" 78
	[[ "$stderr" == *"--token-command printed more than 65536 bytes: killed"* ]]
}
