#!/usr/bin/env bats
# dalle-serve: the synchronous routes (deployments, Azure v1, OpenAI):
# DALL-E 3, DALL-E 2 and gpt-image-1 bodies, validation and errors.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

FIX="$BATS_TEST_DIRNAME/fixtures/serve"
ASYNC="openai/images/generations:submit?api-version=2023-06-01-preview"
DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-15-preview"
GPT="openai/deployments/gpt-image-1/images/generations?api-version=2025-04-01-preview"

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
}

@test "the lab's DALL-E 3 call on deployment dalle3: revised_prompt, filters, a 1024 PNG" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A cat in a hat.","n":1,"size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_regex "$(jqb .created)" '^[0-9]{10}$'
	assert_equal "$(jqb '.data | length')" 1
	rp=$(jqb '.data[0].revised_prompt')
	assert_regex "$rp" 'A cat in a hat'
	assert_equal "$(jqb -c '.data[0].content_filter_results.violence')" '{"filtered":false,"severity":"safe"}'
	assert_equal "$(jqb -c '.data[0].content_filter_results | keys')" '["hate","self_harm","sexual","violence"]'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.jailbreak')" '{"detected":false,"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.profanity')" '{"detected":false,"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.custom_blocklists')" '{"details":[],"filtered":false}'
	assert_equal "$(jqb -c '.data[0].prompt_filter_results.hate')" '{"filtered":false,"severity":"safe"}'
	url=$(jqb '.data[0].url')
	curl -sf -o a.png "$url"
	assert_equal "$(png_size a.png)" 1024x1024
	# The same prompt gives the same revised prompt and the same picture.
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A cat in a hat.","n":1,"size":"1024x1024"}' -H 'api-key: k'
	assert_equal "$(jqb '.data[0].revised_prompt')" "$rp"
	[ "$(jqb '.data[0].url')" != "$url" ]
	curl -sf -o b.png "$(jqb '.data[0].url')"
	cmp a.png b.png
	post_json "$SERVE_URL$DALLE3" '{"prompt":"A dog in a hat.","size":"1792x1024","quality":"hd","style":"natural"}' -H 'api-key: k'
	curl -sf -o c.png "$(jqb '.data[0].url')"
	assert_equal "$(png_size c.png)" 1792x1024
	run cmp -s a.png c.png
	assert_failure
}

@test "dall-e-3 b64_json gives a PNG in the body" {
	post_json "$SERVE_URL${DALLE3/dalle3/dall-e-3}" '{"prompt":"x","size":"1024x1792","response_format":"b64_json"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0] | has("url")')" false
	b64_to p.png
	assert_equal "$(png_size p.png)" 1024x1792
}

@test "dall-e-3 validation: n, size, quality, style, prompt, types" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","n":2}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.param, .type, .message]')" \
	    '["n","invalid_request_error","You must provide n=1 for this model."]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","size":"512x512"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .message]')" \
	    '["invalid_size","size","The size is not supported by this model."]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","size":1024}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_type","size"]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","quality":"ultra"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","quality"]'
	post_json "$SERVE_URL$DALLE3" '{"prompt":"x","style":"cubist"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","style"]'
	post_json "$SERVE_URL$DALLE3" '{"n":1}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" prompt
	post_json "$SERVE_URL$DALLE3" '{"prompt":""}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" prompt
	post_json "$SERVE_URL$DALLE3" '{"prompt":42}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_type","prompt"]'
	long=$(printf 'a%.0s' $(seq 4001))
	post_json "$SERVE_URL$DALLE3" "{\"prompt\":\"$long\"}" -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" prompt
	assert_regex "$(jqb .error.message)" 'maximum length 4000'
	post_json "$SERVE_URL$DALLE3" "{\"prompt\":\"${long:1}\"}" -H 'api-key: k'
	assert_equal "$CODE" 200
}

@test "malformed JSON and a non-object body answer 400" {
	post_json "$SERVE_URL$DALLE3" '{"prompt":' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.type)" invalid_request_error
	post_json "$SERVE_URL$ASYNC" '["prompt"]' -H 'api-key: k'
	assert_equal "$CODE" 400
}

@test "an unknown deployment answers the real DeploymentNotFound 404" {
	post_json "${SERVE_URL}openai/deployments/nope/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	same_json "$FIX/azure-404-deployment.json"
	assert_equal "$(hdr x-ms-error-code)" DeploymentNotFound
}

@test "deployment route api-versions: from 2023-12-01, dall-e-2 from 2024-05-01" {
	for v in 2023-12-01-preview 2024-02-01 2024-06-01 2024-10-21 2025-04-01-preview; do
		post_json "${SERVE_URL}openai/deployments/dall-e-3/images/generations?api-version=$v" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 200
	done
	for v in 2023-10-01-preview 2024-02-01-beta nope ""; do
		post_json "${SERVE_URL}openai/deployments/dall-e-3/images/generations?api-version=$v" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 404
		same_json "$FIX/azure-404.json"
	done
	post_json "${SERVE_URL}openai/deployments/dall-e-2/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	post_json "${SERVE_URL}openai/deployments/dall-e-2/images/generations?api-version=2024-05-01-preview" '{"prompt":"x","n":2,"size":"256x256"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data | length')" 2
	assert_equal "$(jqb '.data[0] | has("revised_prompt")')" false
}

@test "gpt-image-1: b64_json PNG, usage, echoed fields, sizes" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a quiet harbour","size":"1536x1024","quality":"low","n":2}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data | length')" 2
	assert_equal "$(jqb '.data[0] | has("url")')" false
	b64_to g.png
	assert_equal "$(png_size g.png)" 1536x1024
	b64_to g2.png '.data[1].b64_json'
	run cmp -s g.png g2.png
	assert_failure
	assert_equal "$(jqb -c '[.background, .output_format, .quality, .size]')" '["opaque","png","low","1536x1024"]'
	assert_equal "$(jqb -c '.usage | keys')" '["input_tokens","input_tokens_details","output_tokens","output_tokens_details","total_tokens"]'
	assert_equal "$(jqb '.usage.total_tokens == .usage.input_tokens + .usage.output_tokens')" true
	assert_equal "$(jqb '.usage.input_tokens == .usage.input_tokens_details.text_tokens + .usage.input_tokens_details.image_tokens')" true
	[ "$(jqb .usage.output_tokens)" -gt 0 ]
	first=$(jqb -c .usage)
	post_json "$SERVE_URL$GPT" '{"prompt":"a quiet harbour","size":"1536x1024","quality":"low","n":2}' -H 'api-key: k'
	assert_equal "$(jqb -c .usage)" "$first"
	post_json "$SERVE_URL$GPT" '{"prompt":"x","size":"auto"}' -H 'api-key: k'
	b64_to auto.png
	assert_equal "$(png_size auto.png)" 1024x1024
	assert_equal "$(jqb .size)" 1024x1024
}

@test "gpt-image-1: transparent background is RGBA, jpeg is JPEG, webp and response_format refused" {
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"transparent"}' -H 'api-key: k'
	b64_to t.png
	# IHDR colour type 6 = RGBA.
	assert_equal "$(od -An -tu1 -j25 -N1 t.png | tr -d ' ')" 6
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","background":"opaque"}' -H 'api-key: k'
	b64_to o.png
	assert_equal "$(od -An -tu1 -j25 -N1 o.png | tr -d ' ')" 2
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"jpeg","output_compression":50}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb .output_format)" jpeg
	b64_to k.jpg
	assert_equal "$(magic k.jpg 3)" ffd8ff
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_format":"webp"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" output_format
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","response_format":"url"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" response_format
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","output_compression":101}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" output_compression
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","quality":"hd"}' -H 'api-key: k'
	assert_equal "$(jqb -c '.error | [.code, .param]')" '["invalid_value","quality"]'
	post_json "$SERVE_URL$GPT" '{"prompt":"a kite","n":11}' -H 'api-key: k'
	assert_equal "$(jqb .error.param)" n
}

@test "default deployments include gpt-image-1-mini and gpt-image-1.5; --deployment maps names" {
	for d in gpt-image-1-mini gpt-image-1.5 dall-e-3 dalle3; do
		post_json "${SERVE_URL}openai/deployments/$d/images/generations?api-version=2025-04-01-preview" '{"prompt":"x"}' -H 'api-key: k'
		assert_equal "$CODE" 200
	done
	serve_start --deployment my-painter=gpt-image-1 -d artist=dalle3
	post_json "${SERVE_URL}openai/deployments/my-painter/images/generations?api-version=2025-04-01-preview" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.usage | type')" object
	post_json "${SERVE_URL}openai/deployments/artist/images/generations?api-version=2024-02-01" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$(jqb '.data[0].revised_prompt | type')" string
	run dalle-serve --deployment bad=no-such-model
	assert_failure 64
}

@test "Azure v1 route: model names a deployment or a model, api-version absent or preview" {
	post_json "${SERVE_URL}openai/v1/images/generations" '{"model":"dalle3","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0].revised_prompt | type')" string
	assert_equal "$(jqb '.data[0].content_filter_results | type')" object
	post_json "${SERVE_URL}openai/v1/images/generations?api-version=preview" '{"model":"gpt-image-1","prompt":"x"}' -H 'Authorization: Bearer tok'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0].b64_json | length > 100')" true
	post_json "${SERVE_URL}openai/v1/images/generations?api-version=2024-02-01" '{"model":"dalle3","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	post_json "${SERVE_URL}openai/v1/images/generations" '{"model":"nope","prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 404
	assert_equal "$(jqb .error.code)" DeploymentNotFound
	post_json "${SERVE_URL}openai/v1/images/generations" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 400
	assert_equal "$(jqb .error.param)" model
}

@test "OpenAI route: Bearer only, dall-e-2 by default with URLs, four-field errors" {
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x","size":"256x256"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 200
	assert_equal "$(jqb '.data[0] | keys | join(",")')" url
	curl -sf -o d2.png "$(jqb '.data[0].url')"
	assert_equal "$(png_size d2.png)" 256x256
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-3","prompt":"x"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$(jqb '.data[0] | keys | join(",")')" revised_prompt,url
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":"x"}' -H 'api-key: k'
	assert_equal "$CODE" 401
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '["invalid_api_key",null,"invalid_request_error"]'
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-3","prompt":"x","size":"1x1"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | keys')" '["code","message","param","type"]'
	assert_equal "$(jqb .error.code)" invalid_size
	post_json "${SERVE_URL}v1/images/generations" '{"prompt":' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 400
	assert_equal "$(jqb -c '.error | [.code, .param, .type]')" '[null,null,"invalid_request_error"]'
	post_json "${SERVE_URL}v1/images/generations" '{"model":"dall-e-9","prompt":"x"}' -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 404
	assert_equal "$(jqb .error.code)" model_not_found
	call GET "${SERVE_URL}v1/nothing" -H 'Authorization: Bearer sk-1'
	assert_equal "$CODE" 404
	assert_equal "$(jqb -c '.error | keys')" '["code","message","param","type"]'
}
