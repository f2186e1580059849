#!/usr/bin/env bash
# make bench: time the pipeline against dalle-serve on loopback and print one
# markdown table (for README.md), the machine, and the targets of issue #4.
# Each stage runs under bench/.rusage, so its CPU and peak RSS are its own.
# Knobs: BENCH_N (1000) prompts, BENCH_C (64) jobs and server concurrency,
# BENCH_L (1) seconds of latency, BENCH_QUICK=1 for a smoke run.
# Internal: run.sh --one PROMPT and run.sh --loop are the curl+jq baselines.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

# --- The baseline a user would otherwise write: curl and jq, one image ---

# header NAME FILE: the value of a response header saved by curl -D.
header() {
	awk -v n="$1:" 'tolower($1) == n { sub(/\r$/, "", $2); print $2 }' "$2"
}

one_image() {
	local prompt=$1 tmp code loc ra status i
	local api="${AZURE_OPENAI_ENDPOINT}openai"
	tmp=$(mktemp -d)
	for ((i = 0; i < 100; i++)); do
		code=$(curl -sS -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -X POST \
		    -H "api-key: $AZURE_OPENAI_API_KEY" -H 'Content-Type: application/json' \
		    --data "$(jq -nc --arg p "$prompt" '{prompt: $p}')" \
		    "$api/images/generations:submit?api-version=2023-06-01-preview")
		[ "$code" = 429 ] || break
		sleep "$(header retry-after "$tmp/h")"
	done
	if [ "$code" != 202 ]; then
		echo "curl+jq: $prompt: submit: HTTP $code" >&2
		rm -rf "$tmp"
		return 1
	fi
	loc=$(header operation-location "$tmp/h")
	ra=$(header retry-after "$tmp/h")
	status=notRunning
	for ((i = 0; i < 600; i++)); do
		sleep "${ra:-1}"
		curl -sS -D "$tmp/h" -o "$tmp/b" -H "api-key: $AZURE_OPENAI_API_KEY" "$loc"
		status=$(jq -r .status "$tmp/b")
		case $status in
		succeeded | failed | canceled) break ;;
		esac
		ra=$(header retry-after "$tmp/h")
	done
	if [ "$status" = succeeded ]; then
		curl -sS -o "$BENCH_IMG/$(jq -r .id "$tmp/b").png" \
		    "$(jq -r '.result.data[0].url' "$tmp/b")"
	else
		echo "curl+jq: $prompt: $status" >&2
	fi
	rm -rf "$tmp"
	[ "$status" = succeeded ]
}

case ${1:-} in
--one)
	one_image "$2"
	exit
	;;
--loop)
	rc=0
	while IFS= read -r p; do
		one_image "$p" || rc=1
	done
	exit "$rc"
	;;
esac

# --- Set-up ---

cd "$(dirname "$0")/.."
self="$PWD/bench/run.sh"
ru="$PWD/bench/.rusage"
out="$PWD/bench/out"

quick=${BENCH_QUICK:-0}
[ "$quick" = 1 ] || quick=0
if [ "$quick" = 1 ]; then
	N=${BENCH_N:-100} QN=50 SEQ_N=0 STARTUP_RUNS=50 PENDING=1000 LINES=10000
else
	N=${BENCH_N:-1000} QN=200 SEQ_N=20 STARTUP_RUNS=200 PENDING=10000 LINES=100000
fi
C=${BENCH_C:-64}
L=${BENCH_L:-1}
RPM=600
case $N$C in *[!0-9]*) echo "bench: BENCH_N and BENCH_C must be whole numbers" >&2; exit 64 ;; esac
case $L in '' | *[!0-9.]*) echo "bench: BENCH_L must be a number of seconds" >&2; exit 64 ;; esac
if [ "$N" -lt 1 ] || [ "$C" -lt 1 ]; then
	echo "bench: BENCH_N and BENCH_C must be at least 1" >&2
	exit 64
fi

if ! command -v curl >/dev/null || ! command -v jq >/dev/null; then
	echo "bench: needs curl and jq" >&2
	exit 69
fi
for b in dalle-serve dalle-submit dalle-poll dalle-fetch; do
	[ -x "./$b" ] || { echo "bench: ./$b missing: run make" >&2; exit 69; }
done
if [ ! -x "$ru" ] || [ bench/rusage.c -nt "$ru" ]; then
	cc -O2 -o "$ru" bench/rusage.c
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rm -rf "$out"
mkdir -p "$out"
# Images go to a tmpfs when there is one, so that the client CPU measured
# is the client's and not the disk's; the row "dalle3, images on disk"
# writes to bench/out and shows what the file system adds.
imgroot=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	imgroot=$(mktemp -d /dev/shm/dalle-bench.XXXXXX)
fi
[ -n "$imgroot" ] || imgroot=$out/img
: >"$out/rows"
: >"$out/notes"
: >"$out/targets"
export AZURE_OPENAI_API_KEY=bench
unset AZURE_OPENAI_AD_TOKEN AZURE_OPENAI_DEPLOYMENT AZURE_OAI_DEPLOYMENT OPENAI_API_VERSION
# The shared rate budget lives in our own files, never in the user's.
export XDG_RUNTIME_DIR="$out/runtime"
mkdir -p "$XDG_RUNTIME_DIR"

spid=
url=
stop_server() {
	if [ -n "$spid" ]; then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		spid=
	fi
}
cleanup() {
	stop_server
	case $imgroot in /dev/shm/dalle-bench.*) rm -rf "$imgroot" ;; esac
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server ARGS: a fresh dalle-serve per scenario, so its counters are
# that scenario's alone.
start_server() {
	local i
	stop_server
	: >"$out/serve.url"
	echo "== dalle-serve --image-scale 16 $*" >>"$out/serve.log"
	./dalle-serve --listen 127.0.0.1:0 --image-scale 16 "$@" \
	    >"$out/serve.url" 2>>"$out/serve.log" &
	spid=$!
	url=
	for ((i = 0; i < 200; i++)); do
		url=$(head -n 1 "$out/serve.url")
		case $url in http://127.0.0.1:*/) break ;; esac
		url=
		sleep 0.05
	done
	if [ -z "$url" ]; then
		echo "bench: dalle-serve did not start:" >&2
		cat "$out/serve.log" >&2
		exit 70
	fi
	export AZURE_OPENAI_ENDPOINT="$url"
}

# stats FILE: the server's counters; a server that died is reported, and
# its scenario's request counts come out as zeros.
stats() {
	local rc=0
	if ! curl -sS "${url}_serve/stats" >"$1" 2>>"$out/serve.log"; then
		wait "$spid" 2>/dev/null || rc=$?
		spid=
		echo "bench: dalle-serve died during $(basename "$(dirname "$1")") (status $rc)" >&2
		echo "dalle-serve died during $(basename "$(dirname "$1")") (exit status $rc); its request counts are missing." >>"$out/notes"
		echo '{"routes":{"submit":0,"azure_generate":0,"operation_get":0,"image":0},"status":{},"submits":0}' >"$1"
	fi
}

# calc EXPR: floating-point arithmetic, printed with up to 6 decimals.
calc() {
	awk "BEGIN { v = $1; if (v == int(v)) printf \"%d\", v; else printf \"%.6g\", v }"
}

# prompts N FILE: distinct prompts, so that every image is drawn.
prompts() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "bench %d: a lighthouse at dusk\n", i }' >"$2"
}

count_images() {
	find "$1" -type f ! -name '.*' | wc -l | tr -d ' '
}

# cpu_ms FILE...: user+sys of every line of the rusage files, in ms.
cpu_ms() {
	cat "$@" | awk '{ s += $1 + $2 } END { printf "%.1f", s * 1000 }'
}

# rss_mb FILE: the largest maxrss of a rusage file, in MB.
rss_mb() {
	awk '$3 > m { m = $3 } END { printf "%.1f", m / 1024 }' "$1"
}

# req STATS: submits, polls and downloads per image, and the 429s.
req() {
	jq -r --argjson n "$2" '
	    def r: (. * 100 | round) / 100;
	    "\((.routes.submit + .routes.azure_generate) / $n | r) / \(.routes.operation_get / $n | r) / \(.routes.image / $n | r)\t\(.status["429"] // 0)"' "$1"
}

# row NAME N IDEAL WALL CPU_MS RSS STATS IMAGES_DIR [WALL_SHOWN]
row() {
	local name=$1 n=$2 ideal=$3 wall=$4 cpu=$5 rss=$6 st=$7 dir=$8
	local shown=${9:-$(printf %.2f "$wall")} reqs r429 imgs
	IFS=$'\t' read -r reqs r429 < <(req "$st" "$n")
	imgs=$(count_images "$dir")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	    "$name" "$n" "$(printf %.2f "$ideal")" "$shown" \
	    "$(printf %.2f "$(calc "$wall / $ideal")")" \
	    "$(printf %.3f "$(calc "$cpu / $n")")" "$rss" "$reqs" "$r429" \
	    "$imgs/$n" >>"$out/rows"
	echo "$name	$n	$ideal	$wall	$cpu	$r429	$imgs" >>"$out/raw"
}

# target OK TEXT: one line of the targets section.
target() {
	if [ "$1" = 1 ]; then
		echo "- PASS: $2" >>"$out/targets"
	else
		echo "- **FAIL**: $2" >>"$out/targets"
	fi
}

# le A B: 1 when A <= B.
le() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'
}

# pipeline NAME N IDEAL SUBMIT...: prompts | SUBMIT | dalle-poll | dalle-fetch,
# each stage under rusage.  SUBMIT is a command line (dalle-submit, or xargs
# running several).
pipeline() {
	local name=$1 n=$2 ideal=$3 d t0 t1 wall cpu rc=0
	shift 3
	d="$out/$name"
	img=${PIPE_IMG:-$imgroot/$name}
	mkdir -p "$d" "$img"
	prompts "$n" "$d/prompts"
	echo "bench: $name: N=$n, ideal $ideal s" >&2
	t0=$EPOCHREALTIME
	"$ru" "$d/submit.ru" -- "$@" <"$d/prompts" 2>"$d/submit.err" |
	    "$ru" "$d/poll.ru" -- ./dalle-poll -j "$C" 2>"$d/poll.err" |
	    "$ru" "$d/fetch.ru" -- ./dalle-fetch -j "$C" -d "$img" \
	    >"$d/records.jsonl" 2>"$d/fetch.err" || rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || echo "bench: $name: the pipeline exited $rc (see $d/*.err)" >&2
	stats "$d/stats.json"
	wall=$(calc "$t1 - $t0")
	cpu=$(cpu_ms "$d/submit.ru" "$d/poll.ru" "$d/fetch.ru")
	row "$name" "$n" "$ideal" "$wall" "$cpu" \
	    "$(rss_mb "$d/submit.ru") / $(rss_mb "$d/poll.ru") / $(rss_mb "$d/fetch.ru")" \
	    "$d/stats.json" "$img"
	echo "$wall $cpu $(rss_mb "$d/submit.ru") $(rss_mb "$d/poll.ru") $(rss_mb "$d/fetch.ru")" >"$d/summary"
}

# baseline NAME N IDEAL IMAGES_DIR COMMAND...: one process tree under rusage.
baseline() {
	local name=$1 n=$2 ideal=$3 img=$4 d t0 t1 rc=0
	shift 4
	d="$out/$name"
	mkdir -p "$d" "$img"
	prompts "$n" "$d/prompts"
	echo "bench: $name: N=$n" >&2
	t0=$EPOCHREALTIME
	BENCH_IMG="$img" "$ru" "$d/tree.ru" -- "$@" <"$d/prompts" >/dev/null 2>"$d/err" || rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || echo "bench: $name: exited $rc (see $d/err)" >&2
	stats "$d/stats.json"
	echo "$(calc "$t1 - $t0") $(cpu_ms "$d/tree.ru") $(rss_mb "$d/tree.ru")" >"$d/summary"
}

ceil_div() {
	echo $((($1 + $2 - 1) / $2))
}

ideal1=$(calc "$(ceil_div "$N" "$C") * $L")
idealq=$(calc "60 * $QN / $RPM + 0.2")
runs_on="$(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
# Other work on the machine skews every number: say how busy it was.
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $runs_on; N=$N C=$C L=$L quick=$quick; logs in $out" >&2

# --- 1. The legacy asynchronous API ---
start_server --latency "$L" --concurrency "$C"
pipeline async "$N" "$ideal1" ./dalle-submit -j "$C"
# The Retry-After the service gives for a new operation, for the poll target.
ra=$(curl -sS -D - -o /dev/null -X POST -H "api-key: bench" \
    -H 'Content-Type: application/json' -d '{"prompt":"probe"}' \
    "${url}openai/images/generations:submit?api-version=2023-06-01-preview" |
    header retry-after /dev/stdin)
ra=${ra:-1}

# --- 2. Synchronous dall-e-3, URLs to fetch ---
start_server --latency "$L" --concurrency "$C"
pipeline dalle3 "$N" "$ideal1" ./dalle-submit -j "$C" --deployment dalle3

# The same with the images written to this machine's disk, fsync'd.
start_server --latency "$L" --concurrency "$C"
PIPE_IMG="$out/dalle3-disk/img" pipeline dalle3-disk "$N" "$ideal1" \
    ./dalle-submit -j "$C" --deployment dalle3
disk_fs=$(df -PT "$out" | awk 'NR == 2 { print $2 }')

# --- 3. A quota of $RPM a minute ---
start_server --rpm "$RPM" --rate-window 1 --latency 0.2
pipeline quota-rate "$QN" "$idealq" ./dalle-submit --deployment dalle3 \
    --rate "$RPM/min" --rate-file "$out/quota-rate.budget"
start_server --rpm "$RPM" --rate-window 1 --latency 0.2
pipeline quota-adaptive "$QN" "$idealq" ./dalle-submit --deployment dalle3 \
    --rate-file "$out/quota-adaptive.budget"
start_server --rpm "$RPM" --rate-window 1 --latency 0.2
pipeline quota-4proc "$QN" "$idealq" xargs -d '\n' -P4 -n "$(ceil_div "$QN" 4)" \
    ./dalle-submit --deployment dalle3 --rate "$RPM/min" --rate-file "$out/quota-4proc.budget"

# --- 4. Baselines: what a user would otherwise write ---
if [ "$SEQ_N" -gt 0 ]; then
	start_server --latency "$L" --concurrency "$C"
	baseline seq-curl "$SEQ_N" "$ideal1" "$imgroot/seq-curl" bash "$self" --loop
	read -r w cpu rss <"$out/seq-curl/summary"
	per=$(calc "$w / $SEQ_N")
	row "baseline (a): sequential bash loop, curl+jq; $SEQ_N measured, wall projected to N=$N" \
	    "$SEQ_N" "$ideal1" "$(calc "$per * $N")" "$cpu" "$rss (tree)" \
	    "$out/seq-curl/stats.json" "$imgroot/seq-curl" \
	    "≈$(printf %.0f "$(calc "$per * $N")") ($(printf %.2f "$per") s/image)"
fi

start_server --latency "$L" --concurrency "$C"
baseline xargs-curl "$N" "$ideal1" "$imgroot/xargs-curl" \
    xargs -d '\n' -n 1 -P "$C" bash "$self" --one
read -r w cpu rss <"$out/xargs-curl/summary"
row "baseline (b): xargs -P $C, curl+jq script per prompt" "$N" "$ideal1" "$w" "$cpu" \
    "$rss (tree)" "$out/xargs-curl/stats.json" "$imgroot/xargs-curl"

node_note=
if [ "$quick" = 1 ]; then
	node_note="skipped (BENCH_QUICK)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	node_note="skipped: node or npm not installed"
else
	prefix=
	for p in tests/.node bench/.node; do
		[ -f "$p/node_modules/openai/package.json" ] && { prefix=$p; break; }
	done
	if [ -z "$prefix" ] &&
	    npm install --prefix bench/.node --no-audit --no-fund openai >"$out/npm.log" 2>&1; then
		prefix=bench/.node
	fi
	if [ -z "$prefix" ]; then
		node_note="skipped: npm install openai failed (see $out/npm.log)"
	else
		start_server --latency "$L" --concurrency "$C"
		baseline openai-npm "$N" "$ideal1" "$imgroot/openai-npm" \
		    node bench/openai-pool.mjs "$prefix" dalle3 "$C" "$imgroot/openai-npm"
		read -r w cpu rss <"$out/openai-npm/summary"
		ver=$(jq -r .version "$prefix/node_modules/openai/package.json")
		row "baseline (c): openai $ver npm, $C workers, images.generate on dalle3" \
		    "$N" "$ideal1" "$w" "$cpu" "$rss (tree)" \
		    "$out/openai-npm/stats.json" "$imgroot/openai-npm"
	fi
fi
[ -z "$node_note" ] || echo "baseline (c), the openai npm package: $node_note." >>"$out/notes"

# --- 5. Start-up and memory ---
stop_server
echo "bench: start-up, $STARTUP_RUNS runs" >&2
AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/
for ((i = 0; i < STARTUP_RUNS; i++)); do
	"$ru" "$out/startup.ru" -- ./dalle-submit --dry-run x >/dev/null
done
median_ms() {
	sort -n -k4 "$1" |
	    awk '{ w[NR] = $4 } END { m = NR % 2 ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2; printf "%.2f", m * 1000 }'
}
startup_ms=$(median_ms "$out/startup.ru")
# The floor: an empty main() linked with the same libcurl, and nothing.
floor_ms=n/a
true_ms=n/a
if printf 'int main(void) { return 0; }\n' >"$out/floor.c" &&
    cc -o "$out/floor" "$out/floor.c" -Wl,--no-as-needed \
    $(curl-config --libs 2>/dev/null || echo -lcurl) 2>>"$out/notes.err"; then
	for ((i = 0; i < STARTUP_RUNS; i++)); do
		"$ru" "$out/floor.ru" -- "$out/floor"
		"$ru" "$out/true.ru" -- /bin/true
	done
	floor_ms=$(median_ms "$out/floor.ru")
	true_ms=$(median_ms "$out/true.ru")
fi

echo "bench: $PENDING pending operations" >&2
start_server --latency 60
prompts "$PENDING" "$out/pending.prompts"
"$ru" "$out/pending-submit.ru" -- ./dalle-submit -j "$C" <"$out/pending.prompts" \
    >"$out/pending.jsonl" 2>"$out/pending-submit.err" || true
prc=0
"$ru" "$out/pending-poll.ru" -- ./dalle-poll -j "$C" -t 5 <"$out/pending.jsonl" \
    >"$out/pending-polled.jsonl" 2>"$out/pending-poll.err" || prc=$?
stats "$out/pending.stats.json"
stop_server
pending_in=$(wc -l <"$out/pending.jsonl" | tr -d ' ')
pending_out=$(jq -r 'select(.error.kind == "timeout") | 1' "$out/pending-polled.jsonl" | wc -l | tr -d ' ')
pending_rss=$(rss_mb "$out/pending-poll.ru")
read -r _ _ _ pending_wall <"$out/pending-poll.ru"

echo "bench: $LINES lines through dalle-submit --dry-run" >&2
prompts "$LINES" "$out/lines.prompts"
lines_out=$("$ru" "$out/lines.ru" -- ./dalle-submit --dry-run <"$out/lines.prompts" | wc -l | tr -d ' ')
lines_rss=$(rss_mb "$out/lines.ru")
read -r _ _ _ lines_wall <"$out/lines.ru"

# --- Targets ---
for s in async dalle3 quota-rate quota-adaptive quota-4proc; do
	read -r w cpu _ <"$out/$s/summary"
	case $s in async | dalle3) n=$N ideal=$ideal1 ;; *) n=$QN ideal=$idealq ;; esac
	target "$(le "$w" "$(calc "1.05 * $ideal")")" \
	    "$s wall ≤ 1.05 × ideal: $(printf %.2f "$w") s against $ideal s ($(calc "int($w / $ideal * 1000 + 0.5) / 1000") ×)"
done
for s in async dalle3 quota-rate quota-adaptive quota-4proc; do
	read -r _ cpu _ <"$out/$s/summary"
	case $s in async | dalle3) n=$N ;; *) n=$QN ;; esac
	target "$(le "$(calc "$cpu / $n")" 0.5)" \
	    "$s client CPU ≤ 0.5 ms/image: $(calc "int($cpu / $n * 1000 + 0.5) / 1000") ms"
done
for s in async dalle3; do
	read -r _ _ r1 r2 r3 <"$out/$s/summary"
	target "$(le "$r1" 16)" "$s submit peak RSS ≤ 16 MB at -j $C: $r1 MB"
	target "$(le "$r2" 16)" "$s poll peak RSS ≤ 16 MB at -j $C: $r2 MB"
	target "$(le "$r3" 16)" "$s fetch peak RSS ≤ 16 MB at -j $C: $r3 MB"
done
target "$(le "$startup_ms" 4.999)" "start-up < 5 ms: median $startup_ms ms of $STARTUP_RUNS runs of dalle-submit --dry-run x"
ops=$(jq .submits "$out/async/stats.json")
polls=$(jq .routes.operation_get "$out/async/stats.json")
ppo=$(calc "int($polls / ($ops + ($ops == 0)) * 100 + 0.5) / 100")
bound=$(calc "int(($L + $ra - 0.000001) / $ra) + 1")
target "$(le "$ppo" "$bound")" "async polls per operation ≤ ceil(L / Retry-After) + 1 = $bound (Retry-After $ra s): $ppo ($polls polls, $ops operations)"
for s in quota-rate quota-4proc; do
	n429=$(jq '.status["429"] // 0' "$out/$s/stats.json")
	target "$([ "$n429" = 0 ] && echo 1 || echo 0)" "$s: no 429 with --rate: $n429"
done
target "$([ "$pending_out" = "$PENDING" ] && le "$pending_rss" 32 || echo 0)" \
    "$PENDING pending operations in dalle-poll < 32 MB: $pending_rss MB peak RSS ($pending_out of $pending_in records came out as timeouts after -t 5, in $(printf %.1f "$pending_wall") s; dalle-poll exited $prc)"
bad=$(awk -F'\t' '$7 != $2 { printf "%s%s (%d of %d)", sep, $1, $7, $2; sep = ", " }' "$out/raw")
target "$([ -z "$bad" ] && echo 1 || echo 0)" "every row wrote N images${bad:+: short: $bad}"

# --- The report ---
cat <<EOF

### Throughput (make bench)

| scenario | N | ideal s | wall s | wall/ideal | client CPU ms/image | peak RSS MB submit / poll / fetch | HTTP requests per image: submits / polls / downloads | 429s | images |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(cat "$out/rows")

- async, dalle3, dalle3-disk: dalle-serve \`--latency $L --concurrency $C\`; every stage \`-j $C\`; ideal = ceil(N / C) × L.
- quota-*: dalle-serve \`--rpm $RPM --rate-window 1 --latency 0.2\`, \`dalle-submit --deployment dalle3\` at its default -j; ideal = 60 × N / R + L (the last request's latency included) = $idealq s. quota-rate: \`--rate $RPM/min\`; quota-adaptive: no --rate, the budget learns from 429s; quota-4proc: 4 processes under \`xargs -P4\` with \`--rate $RPM/min\` and one shared \`--rate-file\`.
- Baselines run on the async server (c: the synchronous dalle3 deployment of the same server); their CPU is the whole process tree (shell, curl, jq or node), and their RSS the largest single process in it.
- Images are written to ${imgroot%%/dalle-bench.*}$( [ "$imgroot" = "$out/img" ] || echo " (tmpfs)"), except in the row dalle3-disk, which writes them to bench/out ($disk_fs) with an fsync each: the difference between dalle3 and dalle3-disk is what the file system costs, not the client.
- Start-up: median of $STARTUP_RUNS runs of \`dalle-submit --dry-run x\`, fork and exec included: $startup_ms ms. The same for an empty \`main()\` linked with this libcurl: $floor_ms ms; for /bin/true: $true_ms ms.
- dalle-poll holding $PENDING pending operations (\`--latency 60\`, \`-t 5\`): $pending_rss MB peak RSS.
- $LINES lines through \`dalle-submit --dry-run\`: $lines_rss MB peak RSS, $(printf %.2f "$lines_wall") s, $lines_out records.
$(sed 's/^/- /' "$out/notes")

Machine: $runs_on; $(curl -V | head -n 1 | cut -d' ' -f1-2), $(git describe --always --dirty 2>/dev/null || echo unknown); load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after.
Knobs: BENCH_N=$N BENCH_C=$C BENCH_L=$L BENCH_QUICK=$quick.

#### Targets

$(cat "$out/targets")
EOF
