#!/bin/sh
# make demo: start dalle-serve on loopback, run the pipeline as people run
# it today (gpt-image-2: a generation at a free size, then an edit with a
# mask, on Azure and on OpenAI), then the original exercise's DALL-E 2 and
# DALL-E 3 flows; print the image paths, stop the server.  Nothing leaves
# the machine.
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
echo "gpt-image-2 on Azure: a free size, base64 results, token usage"
printf '%s\n' '{"prompt":"A red fox in snow","name":"fox"}' \
    '{"prompt":"A paper boat on a pond","name":"boat","output_format":"jpeg"}' |
    dalle-submit --deployment gpt-image-2 -s 1536x864 --quality low |
    dalle-fetch -d "$out/gpt-image-2" -o '{name}.{ext}' --paths

echo
echo "An edit with a mask, gpt-image-2 on Azure (a multipart form):"
echo "the mask's transparent pixels are repainted, the rest is the fox"
dalle-submit --deployment gpt-image-2 -s 1536x864 --background transparent \
    'A stencil with a wide hole for the sky' |
    dalle-fetch -d "$out/edit" -o mask.png --paths
dalle-submit --deployment gpt-image-2 --image "$out/gpt-image-2/fox.png" \
    --mask "$out/edit/mask.png" 'The same fox under the northern lights' |
    dalle-fetch -d "$out/edit" -o fox-aurora.png --paths

echo
echo "OpenAI: gpt-image-2, then an edit of its image with the same mask (JSON, data URLs)"
(
	unset AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
	export OPENAI_BASE_URL="${url}v1" OPENAI_API_KEY=demo-key
	dalle-submit -m gpt-image-2 -s 1536x864 'A teapot on the moon' |
	    dalle-fetch -d "$out/openai" -o teapot.png --paths
	dalle-submit -m gpt-image-2 --image "$out/openai/teapot.png" \
	    --mask "$out/edit/mask.png" 'The teapot under a sky full of stars' |
	    dalle-fetch -d "$out/openai" -o teapot-stars.png --paths
)

echo
echo "The original exercise (DALL-E 2 and DALL-E 3, retired on the live"
echo "services, served here as the exercise describes them)"
echo
echo "DALL-E 2, asynchronous: submit, poll, fetch"
printf '%s\n' 'A giraffe flying a kite' 'An elephant on a skateboard' |
    dalle-submit -s 512x512 | dalle-poll | dalle-fetch -d "$out/dall-e-2" --paths

echo
echo "DALL-E 3, synchronous, deployment dalle3 (URL results)"
dalle-submit --deployment dalle3 --quality hd 'A lighthouse in a storm' |
    dalle-poll | dalle-fetch -d "$out/dall-e-3" --paths
