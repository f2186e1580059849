#!/bin/bash
# soak: SOAK_N prompts through dalle-submit | dalle-poll | dalle-fetch against
# dalle-serve with faults on every route (5 % 500/503, 2 % dropped
# connections, 1 % truncated images), a quota over a short window and slow
# image downloads, then an account of what came out:
#
#   lost        input lines with no output record
#   duplicated  output records beyond one per input line
#   partial     files of a succeeded record that are missing or do not
#               decode whole (tests/imgcheck), and temporaries left behind
#   stray       files in the output directory that no record names
#   paid twice  prompts the server accepted more than once
#   crashes     stages that ended by a signal
#   status      whether each stage's exit status matches its records
#   leaks       bytes and blocks definitely lost, summed over the stages of
#               a leak pass: SOAK_LEAK_N prompts under the same faults, each
#               stage under valgrind --leak-check=full, or LeakSanitizer for
#               programs built by make asan (bench/soak-leaks.sh)
#
# Each figure is printed as "name: value" on a line of its own, then the
# counters and each stage's CPU and peak RSS; the exit status is 0 only
# when lost, duplicated, partial, stray, paid twice, crashes and leaks are
# 0 and the statuses match.  `make soak` runs 10,000 prompts;
# tests/soak.bats 500 (and a leak pass of 50).
#
# Knobs: SOAK_N (prompts, default 10000), SOAK_OUT (directory, default
# bench/out/soak), SOAK_SEED (the faults' seed, default 7), SOAK_LEAK_N
# (prompts of the leak pass, default 200; 0: none).
set -u
cd "$(dirname "$0")/.." || exit 1
N=${SOAK_N:-10000}
out=${SOAK_OUT:-bench/out/soak}
seed=${SOAK_SEED:-7}
rm -rf "$out"
mkdir -p "$out/img"
ru=$out/rusage
cc -O2 -o "$ru" bench/rusage.c || exit 1
[ -x tests/imgcheck ] || make -s tests/imgcheck || exit 1

# The quota: a window of 1 s holding a tenth of the prompts (at least 20),
# so that a run meets it many times over.
rpm=$((N / 10 * 60))
[ "$rpm" -ge 1200 ] || rpm=1200
./dalle-serve --listen 127.0.0.1:0 --log "$out/serve.log" --seed "$seed" \
    --latency 0.5 --jitter 0.25 --fail-rate 0.05 --drop-rate 0.02 \
    --truncate-rate 0.01 --rpm "$rpm" --rate-window 1 \
    --slow-images 400000 >"$out/serve.url" 2>"$out/serve.err" &
spid=$!
trap 'kill "$spid" 2>/dev/null' EXIT
for _ in $(seq 100); do
	url=$(head -n 1 "$out/serve.url")
	[ -n "$url" ] && break
	sleep 0.05
done
[ -n "$url" ] || { echo "soak: dalle-serve did not start" >&2; exit 1; }
export AZURE_OPENAI_ENDPOINT=$url AZURE_OPENAI_API_KEY=soak-key
unset OPENAI_API_KEY OPENAI_BASE_URL AZURE_OPENAI_AD_TOKEN

# The exercise's asynchronous flow, which goes through all three stages:
# one JSON line per prompt, its number k carried through to name its file.
seq 1 "$N" | awk '{ printf "{\"prompt\":\"soak prompt %d\",\"k\":%d}\n", $1, $1 }' \
    >"$out/prompts.jsonl"
start=$(date +%s.%N)
"$ru" "$out/submit.ru" -- ./dalle-submit -j 32 --retries 6 \
    <"$out/prompts.jsonl" 2>"$out/submit.err" |
    "$ru" "$out/poll.ru" -- ./dalle-poll -j 256 --retries 6 2>"$out/poll.err" |
    "$ru" "$out/fetch.ru" -- ./dalle-fetch -j 32 --retries 6 -d "$out/img" \
    -o '{k}.{ext}' 2>"$out/fetch.err" >"$out/records.jsonl"
st=("${PIPESTATUS[@]}")
wall=$(echo "$(date +%s.%N) - $start" | bc)
stats=$(curl -s "${url}_serve/stats")

# The account.
recs=$(wc -l <"$out/records.jsonl")
jq -r '.k' "$out/records.jsonl" 2>/dev/null | sort -n >"$out/ks"
distinct=$(sort -un "$out/ks" | grep -c '^[0-9]')
lost=$((N - distinct))
dup=$((recs - distinct))
ok=$(jq -c 'select(.error == null)' "$out/records.jsonl" | wc -l)
failed=$((recs - ok))
jq -r 'select(.error == null) | .files[]?.path' "$out/records.jsonl" >"$out/paths"
nfiles=$(wc -l <"$out/paths")
bad=0
if [ "$nfiles" -gt 0 ]; then
	xargs tests/imgcheck <"$out/paths" >"$out/imgcheck" 2>&1
	bad=$(grep -c '^bad ' "$out/imgcheck")
fi
nofile=$(jq -c 'select(.error == null and ((.files // []) | length) == 0)' \
    "$out/records.jsonl" | wc -l)
temps=$(find "$out/img" -name '.*' -type f | wc -l)
ondisk=$(find "$out/img" -type f ! -name '.*' | wc -l)
stray=$((ondisk - $(sort -u "$out/paths" | wc -l)))
partial=$((bad + nofile + temps))
paid2=$(jq -r 'select(.route == "submit" and .status == 202) | .body.prompt' \
    "$out/serve.log" | sort | uniq -d | wc -l)
crashes=0
for s in "${st[@]}"; do
	[ "$s" -lt 128 ] || crashes=$((crashes + 1))
done
# Each stage exits 0 when every record it wrote succeeded, else non-zero.
want=0
[ "$failed" -eq 0 ] || want=1
match=yes
if [ "$want" = 0 ] && [ "${st[2]}" != 0 ]; then match=no; fi
if [ "$want" = 1 ] && [ "${st[2]}" = 0 ]; then match=no; fi
for s in "${st[0]}" "${st[1]}"; do
	if [ "$failed" -eq 0 ] && [ "$s" != 0 ]; then match=no; fi
done

# The leak pass, on the same server and faults.
leak_n=${SOAK_LEAK_N:-200}
leakfig="leaks: unchecked (SOAK_LEAK_N=0)"
leakok=yes
if [ "$leak_n" -gt 0 ]; then
	leakfig=$(bash bench/soak-leaks.sh "$leak_n" "$out/leaks" "$url") ||
	    leakok=no
fi

echo "prompts: $N"
echo "records: $recs ($ok succeeded, $failed error records)"
echo "lost: $lost"
echo "duplicated: $dup"
echo "partial: $partial ($bad not decoding whole, $nofile without files, $temps temporaries left)"
echo "stray: $stray"
echo "paid twice: $paid2"
echo "crashes: $crashes"
echo "statuses: ${st[*]} (match: $match)"
echo "$leakfig"
echo "error kinds: $(jq -r 'select(.error) | .error.kind' "$out/records.jsonl" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }' | sed 's/, $//')"
echo "wall: $(printf %.1f "$wall") s"
echo "server: $(jq -c '{requests, status, rate_limited, faults, submits, polls, image_downloads}' <<<"$stats")"
for s in submit poll fetch; do
	read -r u sy rss _ <"$out/$s.ru"
	echo "dalle-$s: CPU $(echo "($u + $sy) * 1000 / $N" | bc -l | xargs printf %.2f) ms/prompt, peak RSS $(echo "$rss / 1024" | bc -l | xargs printf %.1f) MB"
done
[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$partial" = 0 ] && [ "$stray" = 0 ] &&
    [ "$paid2" = 0 ] && [ "$crashes" = 0 ] && [ "$match" = yes ] &&
    [ "$leakok" = yes ]
