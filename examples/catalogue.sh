#!/bin/sh
# A product catalogue in JSON: jq turns each entry into a request whose
# own fields (sku) ride along and name the file; gpt-image-2 draws them.
# Needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (or an .env file).
set -eu
cd "$(dirname "$0")"
out=${1:-out/catalogue}
jq -c '.[] | {prompt: .title, size, sku}' catalogue.json |
    dalle-submit --deployment gpt-image-2 --quality low |
    dalle-fetch -d "$out" -o '{sku}.{ext}' |
    jq -r '"\(.sku)\t\(.files[0].width)x\(.files[0].height)\t\(.usage.total_tokens) tokens\t\(.files[0].path)"'
