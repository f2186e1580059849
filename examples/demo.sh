#!/bin/sh
# make demo: start dalle-serve on loopback, run the pipeline through the
# asynchronous API of the original exercise and through the synchronous
# ones, print the image paths, stop the server.  Nothing leaves the machine.
set -eu
cd "$(dirname "$0")/.."
PATH="$PWD:$PATH"
out=${DEMO_OUT:-demo-out}
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Images as large as real ones: about 2 MB of PNG each, incompressible.
dalle-serve --listen 127.0.0.1:0 --latency 1 --image-bytes 2m \
    >"$tmp/url" 2>"$tmp/err" &
pid=$!
i=0
while [ ! -s "$tmp/url" ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
url=$(head -n 1 "$tmp/url")
[ -n "$url" ] || { cat "$tmp/err" >&2; exit 1; }
echo "dalle-serve listening at $url"
unset AZURE_OPENAI_DEPLOYMENT AZURE_OAI_DEPLOYMENT OPENAI_API_KEY \
    OPENAI_BASE_URL AZURE_OPENAI_AD_TOKEN OPENAI_API_VERSION
export AZURE_OPENAI_ENDPOINT="$url" AZURE_OPENAI_API_KEY=demo-key

echo
echo "DALL-E 2, asynchronous (the exercise's flow): submit, poll, fetch"
printf '%s\n' 'A giraffe flying a kite' 'An elephant on a skateboard' |
    dalle-submit -s 512x512 | dalle-poll | dalle-fetch -d "$out/dall-e-2" --paths

echo
echo "DALL-E 3, synchronous, deployment dalle3 (URL results)"
dalle-submit --deployment dalle3 --quality hd 'A lighthouse in a storm' |
    dalle-poll | dalle-fetch -d "$out/dall-e-3" --paths

echo
echo "gpt-image-1, synchronous (base64 results, token usage)"
printf '%s\n' '{"prompt":"A red fox in snow","name":"fox"}' \
    '{"prompt":"A paper boat","name":"boat","output_format":"jpeg"}' |
    dalle-submit --deployment gpt-image-1 --quality low |
    dalle-fetch -d "$out/gpt-image-1" --paths

echo
echo "OpenAI API (Bearer key, model in the body)"
(
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	export OPENAI_BASE_URL="${url}v1" OPENAI_API_KEY=demo-key
	dalle-submit --model dall-e-3 'A teapot on the moon' |
	    dalle-fetch -d "$out/openai" --paths
)
