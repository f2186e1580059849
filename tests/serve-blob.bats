#!/usr/bin/env bats
# dalle-serve's image URLs: signed like an Azure SAS (HMAC-SHA256 over the
# expiry and the blob's whole name), so that a good URL downloads and a tampered, forged
# or expired one is refused with 403 AuthenticationFailed.
bats_require_minimum_version 1.5.0

load helpers/common
load helpers/serve

DALLE3="openai/deployments/dalle3/images/generations?api-version=2024-02-15-preview"

setup_file() {
	serve_start_file
}

setup() {
	_common_setup
}

# new_url [PROMPT]: URL of image 0 of a fresh generation, in $URL.
new_url() {
	post_json "$SERVE_URL$DALLE3" "{\"prompt\":\"${1:-a tram}\"}" -H 'api-key: k'
	assert_equal "$CODE" 200
	URL=$(jqb '.data[0].url')
}

# param NAME: the raw value of query parameter NAME of $URL.
param() {
	sed "s/.*[?&]$1=\\([^&]*\\).*/\\1/" <<<"$URL"
}

# with NAME VALUE: $URL with the value of query parameter NAME replaced.
with() {
	sed "s/\\([?&]$1=\\)[^&]*/\\1$2/" <<<"$URL"
}

# refused: the last call was the blob store's 403 AuthenticationFailed.
refused() {
	assert_equal "$CODE" 403
	assert_regex "$BODY" '^<\?xml version="1\.0" encoding="utf-8"\?><Error><Code>AuthenticationFailed</Code>'
	assert_equal "$(hdr x-ms-error-code)" AuthenticationFailed
}

@test "a good URL downloads its PNG, twice" {
	new_url
	call GET "$URL"
	assert_equal "$CODE" 200
	assert_equal "$(hdr Content-Type)" image/png
	assert_equal "$(magic "$BATS_TEST_TMPDIR/body")" 89504e47
	call GET "$URL"
	assert_equal "$CODE" 200
}

@test "sig is an HMAC-SHA256: 32 bytes in base64" {
	new_url
	sig=$(printf '%b' "$(param sig | sed 's/%/\\x/g')")
	assert_equal "${#sig}" 44
	assert_equal "$(printf '%s' "$sig" | base64 -d | wc -c)" 32
}

# flip STRING I: STRING with its character at I changed.
flip() {
	local c=A
	if [ "${1:$2:1}" = A ]; then
		c=B
	fi
	printf '%s%s%s' "${1:0:$2}" "$c" "${1:$(($2 + 1))}"
}

@test "a sig with one character changed is refused, first or middle" {
	new_url
	sig=$(param sig)
	call GET "$(with sig "$(flip "$sig" 0)")"
	refused
	assert_regex "$BODY" 'Signature did not match'
	call GET "$(with sig "$(flip "$sig" 21)")"
	refused
}

@test "a forged sig is refused: random bytes, and another image's sig" {
	new_url
	forged=$(head -c 32 /dev/urandom | base64 | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
	call GET "$(with sig "$forged")"
	refused
	other=$(param sig)
	new_url 'a different tram'
	call GET "$(with sig "$other")"
	refused
	call GET "$(with sig '')"
	refused
}

@test "a URL with its extension swapped is refused, and the string to sign is shown" {
	new_url
	for ext in jpg jpeg PNG; do
		call GET "${URL/generated_00.png/generated_00.$ext}"
		refused
		assert_regex "$BODY" "Signature did not match\. String to sign used was r

[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z
/blob/dalle-serve/private/images/[0-9a-f-]{36}/generated_00\\.$ext
</AuthenticationErrorDetail></Error>\$"
	done
	# The request's own se, quoted in the XML, is escaped there.
	call GET "$(with se '%3Cb%3E%26')"
	refused
	assert_regex "$BODY" 'String to sign used was r

&lt;b&gt;&amp;
/blob/'
	call GET "$URL"
	assert_equal "$CODE" 200
}

@test "a later se under the old sig is refused" {
	new_url
	call GET "$(with se 2099-01-01T00%3A00%3A00Z)"
	refused
	assert_regex "$BODY" 'Signature did not match'
}

@test "an expired URL with its own good sig is refused" {
	serve_start --url-ttl 2
	new_url
	sleep 3
	call GET "$URL"
	refused
	assert_regex "$BODY" 'Signed expiry time \[[0-9T:-]+Z\] must be after'
}
