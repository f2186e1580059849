#!/usr/bin/env bash
# killnine.sh ROUNDS [PROMPTS]: kill -9 at a random moment, ROUNDS times,
# the pipeline (even rounds) or dalle-fetch alone (odd rounds), against a
# dalle-serve that trickles its images, with synchronous requests (rounds
# 4k and 4k+1, DALL-E 3) or asynchronous operations (4k+2 and 4k+3, the
# DALL-E 2 :submit API, resumed from the journal); after each kill check
# the targets, then re-run the pipeline with the same journal to the end.
# Prints the figures and exits 1 if any is not 0:
#   lost        prompts without their image after the re-run
#   duplicated  images beyond one a prompt
#   partial     files at a target that libpng does not decode whole
#               (tests/imgcheck), after the kill and after the re-run
#   paid_twice  generations or operations in a re-run beyond the prompts
#               the journal did not hold
#   temporaries temporary files left after the re-run
#   crashes     re-run stages that died by a signal
# and, not a failure, unjournaled: requests paid for whose answer the kill
# cut off before it reached the journal (nothing can recover those), and
# mid_download, the kills that left temporaries behind them.
set -u
rounds=${1:-100}
prompts=${2:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/killnine.XXXXXX")
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null; rm -rf "$work"' EXIT
dalle-serve --listen 127.0.0.1:0 --slow-images 100000 --log "$work/serve.log" \
    >"$work/url" 2>"$work/serve.err" &
serve=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url=$(head -n 1 "$work/url")
export AZURE_OPENAI_ENDPOINT=$url AZURE_OPENAI_API_KEY=kill9-test-key
imgcheck=${IMGCHECK:-$(cd "$(dirname "$0")" && pwd)/imgcheck}
[ -x "$imgcheck" ] || { echo "killnine.sh: no $imgcheck" >&2; exit 2; }
# generations: requests paid for so far, images or operations.
generations() {
	curl -s "${url}_serve/stats" | jq '.generations + .submits'
}
# whole_png FILE: decoded whole by libpng.
whole_png() {
	"$imgcheck" "$1" >/dev/null 2>&1
}
lost=0 duplicated=0 partial=0 paid_twice=0 temporaries=0 unjournaled=0 middle=0
crashes=0
for r in $(seq "$rounds"); do
	d=$work/r$r
	mkdir -p "$d"
	for i in $(seq "$prompts"); do echo "round $r prompt $i"; done \
	    >"$d/prompts"
	g0=$(generations)
	case $((r % 4)) in
	0 | 1) route='--deployment dalle3' ;;
	*) route='-s 512x512' ;;
	esac
	if [ $((r % 2)) -eq 0 ]; then
		mkfifo "$d/p1" "$d/p2"
		dalle-submit -q $route -d "$d/out" <"$d/prompts" \
		    >"$d/p1" & s=$!
		dalle-poll -q <"$d/p1" >"$d/p2" & p=$!
		dalle-fetch -q -j 4 -d "$d/out" <"$d/p2" >/dev/null & f=$!
	else
		dalle-submit -q $route -d "$d/out" <"$d/prompts" |
		    dalle-poll -q >"$d/records"
		s='' p=''
		dalle-fetch -q -j 4 -d "$d/out" <"$d/records" >/dev/null & f=$!
	fi
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); print 0.05 + rand() * 0.6 }')"
	kill -9 $s $p $f 2>/dev/null
	wait $s $p $f 2>/dev/null
	# Did the kill land in the middle of a download?
	[ -n "$(find "$d/out" -name '.dalle-fetch.*' 2>/dev/null)" ] &&
	    middle=$((middle + 1))
	for t in "$d"/out/*.png; do
		[ -e "$t" ] || continue
		whole_png "$t" || partial=$((partial + 1))
	done
	# What the journal holds: those the re-run must not pay for.
	held=$(jq -r 'select(.result or .operation) | .key' \
	    "$d/out/.dalle-journal" 2>/dev/null | sort -u | wc -l)
	g1=$(generations)
	dalle-submit -q $route -d "$d/out" <"$d/prompts" |
	    dalle-poll -q | dalle-fetch -q -j 4 -d "$d/out" >/dev/null
	for st in "${PIPESTATUS[@]}"; do
		[ "$st" -ge 128 ] && crashes=$((crashes + 1))
	done
	g2=$(generations)
	extra=$((g2 - g1 - (prompts - held)))
	[ "$extra" -gt 0 ] && paid_twice=$((paid_twice + extra))
	u=$((g1 - g0 - held))
	[ "$u" -gt 0 ] && unjournaled=$((unjournaled + u))
	n=$(find "$d/out" -maxdepth 1 -name '*.png' | wc -l)
	[ "$n" -lt "$prompts" ] && lost=$((lost + prompts - n))
	[ "$n" -gt "$prompts" ] && duplicated=$((duplicated + n - prompts))
	for t in "$d"/out/*.png; do
		[ -e "$t" ] || continue
		whole_png "$t" || partial=$((partial + 1))
	done
	temporaries=$((temporaries + $(find "$d" -name '.dalle-fetch.*' |
	    wc -l)))
done
echo "rounds $rounds kills $rounds prompts $((rounds * prompts))" \
    "lost $lost duplicated $duplicated partial $partial" \
    "paid_twice $paid_twice temporaries $temporaries crashes $crashes" \
    "unjournaled $unjournaled mid_download $middle"
[ $((lost + duplicated + partial + paid_twice + temporaries + crashes)) \
    -eq 0 ]
