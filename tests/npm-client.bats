#!/usr/bin/env bats
# The official openai npm package (OpenAI and AzureOpenAI clients) against
# dalle-serve.  The version pinned in .ci/deps is installed once into
# tests/.node/ (git-ignored) by "make check" or, if missing, here; skipped
# when node or npm is missing or the package cannot be installed (offline),
# which tests/run counts as a failure under CI=true.
bats_require_minimum_version 1.5.0

load helpers/common

setup_file() {
	NODE_DIR="$BATS_TEST_DIRNAME/.node"
	export NODE_DIR
	NPM_SKIP=
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		NPM_SKIP="node and npm are not installed"
	elif ! sh "$BATS_TEST_DIRNAME/../.ci/deps" npm 2>"$BATS_FILE_TMPDIR/npm.log"; then
		NPM_SKIP="npm install openai failed (offline?): $(tail -n 1 "$BATS_FILE_TMPDIR/npm.log")"
	fi
	export NPM_SKIP
	serve_start_file --rpm 120
}

setup() {
	_common_setup
	[ -z "$NPM_SKIP" ] || skip "$NPM_SKIP"
	# Each test gets a fresh rate window.
	sleep 1
}

drive() {
	run --separate-stderr node "$BATS_TEST_DIRNAME/npm-client.mjs" "$@" "$SERVE_URL"
}

@test "npm openai: OpenAI client with baseURL <serve>v1 generates a dall-e-3 URL" {
	drive openai
	assert_success
	assert_equal "$(jq .n <<<"$output")" 1
	assert_regex "$(jq -r .revised_prompt <<<"$output")" 'A lighthouse at dusk'
	url=$(jq -r .url <<<"$output")
	curl -sf -o o.png "$url"
	assert_equal "$(png_size o.png)" 1024x1024
	run jq -r 'select(.route == "openai_generate") | .headers.authorization' "$SERVE_DIR/serve.log"
	assert_output 'Bearer ***'
}

@test "npm openai: AzureOpenAI client (endpoint, apiVersion, deployment) on dalle3" {
	drive azure
	assert_success
	assert_regex "$(jq -r .url <<<"$output")" "^${SERVE_URL}private/images/"
	assert_regex "$(jq -r .revised_prompt <<<"$output")" 'A kite'
	run jq -r 'select(.route == "azure_generate") | [.path, .query["api-version"], .headers["api-key"]] | join(" ")' "$SERVE_DIR/serve.log"
	assert_line '/openai/deployments/dalle3/images/generations 2024-02-01 ***'
}

@test "npm openai: AzureOpenAI client on gpt-image-1 gets b64_json and usage" {
	drive azure-gpt
	assert_success
	assert_equal "$(jq -r .b64_head <<<"$output")" iVBORw0K
	[ "$(jq .b64_len <<<"$output")" -gt 1000 ]
	assert_equal "$(jq '.usage.total_tokens > 0' <<<"$output")" true
}

@test "npm openai: an unknown deployment surfaces as a 404 DeploymentNotFound error" {
	drive azure-error
	assert_success
	assert_equal "$(jq -c '[.thrown, .status, .code]' <<<"$output")" '[true,404,"DeploymentNotFound"]'
}

@test "npm openai: the SDK honours retry-after-ms after a 429 and then succeeds" {
	serve_start --rpm 60
	drive retry
	assert_success
	assert_equal "$(jq .n <<<"$output")" 1
	run jq -s '[.[] | select(.route == "openai_generate") | .status] | index(429) != null' "$SERVE_DIR/serve.log"
	assert_output true
}
