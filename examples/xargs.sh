#!/bin/sh
# Four dalle-submit processes at once, one prompt each, with xargs -P;
# their records meet in one dalle-poll | dalle-fetch.  Prints the paths.
# Needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (or an .env file).
set -eu
cd "$(dirname "$0")"
out=${1:-out/xargs}
tr '\n' '\0' <prompts.txt |
    xargs -0 -P4 -n1 dalle-submit --deployment gpt-image-2 --quality low |
    dalle-poll | dalle-fetch -d "$out" -o '{hash}.{ext}' --paths
