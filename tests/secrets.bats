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

teardown() {
	stop_pid "${OTHER_PID:-}"
	stop_test_server
}

# two_servers: the user's server (SERVE_URL, SERVE_DIR) and another
# (OTHER_URL, OTHER_DIR) that a planted ./.env names.
two_servers() {
	serve_start "$@"
	OTHER_URL=$SERVE_URL OTHER_DIR=$SERVE_DIR OTHER_PID=$SERVE_PID
	serve_start "$@"
}

# requests DIR: how many requests the server of DIR logged.
requests() {
	wc -l <"$1/serve.log"
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

@test "a ./.env endpoint is not sent the environment's key" {
	two_servers
	export AZURE_OPENAI_API_KEY=$KEY
	printf 'AZURE_OPENAI_ENDPOINT=%s\n' "$OTHER_URL" >.env
	run --separate-stderr dalle-submit x
	assert_equal "$status" 78
	[[ "$stderr" == *".env: the endpoint ${OTHER_URL%/} is from ./.env, which gives no key: the environment's key is not sent to it"* ]]
	assert_equal "$(requests "$OTHER_DIR")" 0
	# The same with the exercise's names, and for OpenAI's base URL.
	printf 'AZURE_OAI_ENDPOINT=%s\n' "$OTHER_URL" >.env
	run --separate-stderr dalle-submit x
	assert_equal "$status" 78
	unset AZURE_OPENAI_API_KEY
	export OPENAI_API_KEY=$KEY
	printf 'OPENAI_BASE_URL=%sv1\n' "$OTHER_URL" >.env
	run --separate-stderr dalle-submit -m gpt-image-2 x
	assert_equal "$status" 78
	assert_equal "$(requests "$OTHER_DIR")" 0
}

@test "a ./.env endpoint is not sent a key of --api-key-file or --token-command" {
	two_servers
	printf '%s\n' "$KEY" >keyfile
	printf 'AZURE_OPENAI_ENDPOINT=%s\n' "$OTHER_URL" >.env
	run --separate-stderr dalle-submit --api-key-file keyfile x
	assert_equal "$status" 78
	run --separate-stderr dalle-submit --token-command "touch ran; echo $KEY" x
	assert_equal "$status" 78
	[ ! -e ran ]
	assert_equal "$(requests "$OTHER_DIR")" 0
	# Named on the command line, the endpoint is the user's choice.
	run --separate-stderr dalle-submit --endpoint "$SERVE_URL" --api-key-file keyfile x
	assert_success
	assert_equal "$(requests "$SERVE_DIR")" 1
}

@test "the environment's endpoint wins over ./.env's, and gets the key" {
	two_servers
	export AZURE_OPENAI_ENDPOINT=$SERVE_URL AZURE_OPENAI_API_KEY=$KEY
	printf 'AZURE_OPENAI_ENDPOINT=%s\nAZURE_OPENAI_API_KEY=other-key-000000\n' "$OTHER_URL" >.env
	run --separate-stderr dalle-submit x
	assert_success
	assert_equal "$(requests "$SERVE_DIR")" 1
	assert_equal "$(requests "$OTHER_DIR")" 0
}

@test "a ./.env with endpoint and key (the exercise's) sends its own key there" {
	serve_start --api-key dotenv-key-000000
	export AZURE_OPENAI_API_KEY=$KEY
	printf 'AZURE_OAI_ENDPOINT=%s\nAZURE_OAI_KEY=dotenv-key-000000\n' "$SERVE_URL" >.env
	chmod 600 .env
	run --separate-stderr dalle-submit x
	assert_success
	assert_equal "$(jq -r .error <<<"$output")" null
}

@test "a FIFO as ./.env is not waited on; a .env over 64 KiB is not read" {
	mkfifo .env
	run --separate-stderr timeout 20 dalle-submit --dry-run x
	assert_equal "$status" 78
	[[ "$stderr" == *".env: not a regular file"* ]]
	rm .env
	{ printf 'AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/\n'; head -c 70000 /dev/zero | tr '\0' '#'; } >.env
	run --separate-stderr dalle-submit --dry-run x
	assert_equal "$status" 78
	[[ "$stderr" == *".env: larger than 64 KiB: not read"* ]]
}

@test "the budget file cut short or grown during a run: no SIGBUS, every record out" {
	serve_start
	use_azure
	head -c 100 /dev/urandom >budget
	chmod 600 budget
	seq 20 | dalle-submit --rate 1200/min --rate-file budget \
	    >out 2>err &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		: >budget
		sleep 0.02
		head -c 9000 /dev/zero >>budget
		sleep 0.02
	done
	run wait $pid
	assert_success
	assert_equal "$(jq -r '.error // "none"' out | sort -u)" none
	assert_equal "$(wc -l <out)" 20
	assert_equal "$(requests "$SERVE_DIR")" 20
}

# fetch_refused: dalle-fetch's run refused the target: an io error record
# and nothing written outside out/.
fetch_refused() {
	assert_equal "$status" 73
	assert_equal "$(jq -r .error.kind <<<"$output")" io
	[[ "$(jq -r .error.message <<<"$output")" == *"inside the output directory: not followed" ]]
	assert_equal "$(ls -A elsewhere)" ""
}

@test "a link planted as a subdirectory of -d is not followed, for downloads and base64" {
	serve_start
	use_azure
	mkdir -p out/deep elsewhere
	ln -s ../elsewhere out/sub
	ln -s ../../elsewhere out/deep/er
	rec=$(echo '{"prompt":"a cat","where":"sub"}' | dalle-submit | dalle-poll)
	run --separate-stderr dalle-fetch -d out -o 'sub/{name}.{ext}' <<<"$rec"
	fetch_refused
	run --separate-stderr dalle-fetch -d out -o 'deep/er/x/{name}.{ext}' <<<"$rec"
	fetch_refused
	# A record's field names only one component, and no link either.
	run --separate-stderr dalle-fetch -d out/ -o '{where}/{name}.{ext}' <<<"$rec"
	fetch_refused
	use_openai
	rec=$(dalle-submit -m gpt-image-2 x)
	run --separate-stderr dalle-fetch -d out -o 'sub/{name}.{ext}' <<<"$rec"
	fetch_refused
	# Real subdirectories are made and written as ever; -d itself may
	# be a link of the user's.
	ln -s out linked
	run --separate-stderr dalle-fetch -d linked -o 'new/dir/{name}.{ext}' <<<"$rec"
	assert_success
	[ -f "$(jq -r '.files[0].path' <<<"$output")" ]
	[ -d out/new/dir ]
}

@test "dalle-serve's log is made 0600 and never through a link" {
	echo victim >victim
	ln -s victim link.log
	run --separate-stderr timeout 10 dalle-serve --listen 127.0.0.1:0 --log link.log
	assert_equal "$status" 73
	[[ "$stderr" == *"link.log: a symbolic link, not followed"* ]]
	assert_equal "$(cat victim)" victim
	serve_start
	assert_equal "$(stat -c %a "$SERVE_DIR/serve.log")" 600
}

@test "the key in no output of any program, -v and --dry-run, nor in dalle-serve's log" {
	serve_start --api-key $KEY
	export AZURE_OPENAI_ENDPOINT="$SERVE_URL" AZURE_OPENAI_API_KEY=$KEY
	run --separate-stderr bash -c 'dalle-submit -v "a key-less cat" 2>s.err |
	    dalle-poll -v 2>p.err | dalle-fetch -v -d out 2>f.err'
	assert_success
	[ -f "$(jq -r '.files[0].path' <<<"$output")" ]
	no_key "$output" "$(cat s.err p.err f.err "$SERVE_DIR/serve.log")"
	[[ "$(cat s.err)" == *"api-key: [redacted]"* ]]
	run --separate-stderr dalle-submit -v --dry-run x
	assert_success
	no_key "$output" "$stderr"
	run --separate-stderr dalle-poll -v --cancel "$(dalle-submit y | jq -r .operation.url)"
	no_key "$output" "$stderr" "$(cat "$SERVE_DIR/serve.log")"
}

# A key that every PNG's base64 begins with: whatever an answer holds, its
# image data too, comes back "echoing" it.  Records must still not.
@test "an answer holding the key, even in its image data, is redacted as it arrives: plain, streamed, batch, background" {
	serve_start --batch-latency 0.2 --image-bytes 300000
	export OPENAI_BASE_URL="${SERVE_URL}v1" OPENAI_API_KEY=iVBORw0KGgoAAAANSUhEUg
	dalle-submit -m gpt-image-2 --quality low 'a red fox' >plain || true
	dalle-submit -m gpt-image-2 --quality low --partial-images 1 \
	    --partial-dir pd 'a red fox' >streamed || true
	dalle-submit --batch -m gpt-image-2 --quality low 'a red fox' |
	    dalle-poll --interval 1 -t 30 >batch || true
	dalle-submit --api responses --quality low 'a red fox' |
	    dalle-poll -t 30 >background || true
	for f in plain streamed batch background; do
		echo "$f: $(head -c 300 "$f")"
		# One record each, and the key in none.
		run jq -c .prompt "$f"
		assert_output '"a red fox"'
		run grep -c 'iVBORw0KGgo' "$f"
		assert_output 0
	done
}
