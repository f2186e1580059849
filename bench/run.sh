#!/usr/bin/env bash
# make bench: time the pipeline against dalle-serve on loopback and print
# markdown tables (for README.md), the machine, and the targets of issues #4
# and #10.  Each stage runs under bench/.rusage, so its CPU and peak RSS are
# its own.  Two parts: the small-image rows (--image-scale 16) and the
# real-size row (gpt-image-2, b64_json images of about 2.6 MB, against the
# openai npm package on the same server).
# Knobs (environment):
#   BENCH_N (1000)       prompts of the small-image rows
#   BENCH_C (64)         their jobs (-j) and server concurrency
#   BENCH_L (1)          their seconds of latency
#   BENCH_RN (200)       prompts of the real-size row (its -j is 16)
#   BENCH_BN (5000)      prompts of the batch row (issue 12)
#   BENCH_BL (20)        its dalle-serve --batch-latency, in seconds
#   BENCH_ONLY           "small", "realsize" or "batch": run that part alone
#   BENCH_TIMEOUT        seconds after which a stage of the real-size row is
#                        killed (default 60 + BENCH_RN)
#   BENCH_QUICK=1        a smoke run: N=100, BENCH_RN=20, BENCH_BN=500,
#                        BENCH_BL=5, fewer repetitions,
#                        no npm install (an installed openai package is used)
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
	RN=${BENCH_RN:-20}
	BN=${BENCH_BN:-500} BL=${BENCH_BL:-5}
else
	N=${BENCH_N:-1000} QN=200 SEQ_N=20 STARTUP_RUNS=200 PENDING=10000 LINES=100000
	RN=${BENCH_RN:-200}
	BN=${BENCH_BN:-5000} BL=${BENCH_BL:-20}
fi
# The batch row: dalle-poll's interval, its default.
BI=1
C=${BENCH_C:-64}
L=${BENCH_L:-1}
RPM=600
# The real-size row: issue 10's figures, at -j 16 against a server that
# paints incompressible PNGs of about RBYTES at 1024x1024.
RC=16
RBYTES=1950000
RDEPLOY=gpt-image-2
case $BN$BL in *[!0-9]* | 0*) echo "bench: BENCH_BN and BENCH_BL must be whole numbers, at least 1" >&2; exit 64 ;; esac
case $N$C$RN in *[!0-9]*) echo "bench: BENCH_N, BENCH_C and BENCH_RN must be whole numbers" >&2; exit 64 ;; esac
case $L in '' | *[!0-9.]*) echo "bench: BENCH_L must be a number of seconds" >&2; exit 64 ;; esac
if [ "$N" -lt 1 ] || [ "$C" -lt 1 ] || [ "$RN" -lt 1 ]; then
	echo "bench: BENCH_N, BENCH_C and BENCH_RN must be at least 1" >&2
	exit 64
fi
TMO=${BENCH_TIMEOUT:-$((60 + RN))}
case $TMO in '' | *[!0-9]*) echo "bench: BENCH_TIMEOUT must be whole seconds" >&2; exit 64 ;; esac
only=${BENCH_ONLY:-}
case $only in
'') do_small=1 do_real=1 do_batch=1 ;;
small) do_small=1 do_real=0 do_batch=0 ;;
realsize) do_small=0 do_real=1 do_batch=0 ;;
batch) do_small=0 do_real=0 do_batch=1 ;;
*) echo "bench: BENCH_ONLY must be small, realsize or batch" >&2; exit 64 ;;
esac

for b in curl jq timeout cmp base64; do
	command -v "$b" >/dev/null || { echo "bench: needs curl, jq, timeout, cmp and base64" >&2; exit 69; }
done
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
# that scenario's alone; images a 16th of the real size unless ARGS has
# --image-bytes (the real-size row).
start_server() {
	local i scale=(--image-scale 16)
	case " $* " in *" --image-bytes "* | *" --image-scale "*) scale=() ;; esac
	stop_server
	: >"$out/serve.url"
	echo "== dalle-serve ${scale[*]} $*" >>"$out/serve.log"
	./dalle-serve --listen 127.0.0.1:0 "${scale[@]}" "$@" \
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
	if ! curl -sS --max-time 30 "${url}_serve/stats" >"$1" 2>>"$out/serve.log"; then
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

# median_ms FILE: the median wall time of the lines of a rusage file, in ms.
median_ms() {
	sort -n -k4 "$1" |
	    awk '{ w[NR] = $4 } END { m = NR % 2 ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2; printf "%.2f", m * 1000 }'
}

# openai_prefix: set prefix to a node prefix with the openai package, and
# openai_ver to its version, installing it in bench/.node unless this is a
# quick run; or set node_note to why not, and fail.
node_note=
prefix=
openai_ver=
openai_prefix() {
	local p
	[ -z "$prefix" ] || return 0
	[ -z "$node_note" ] || return 1
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		node_note="skipped: node or npm not installed"
		return 1
	fi
	for p in tests/.node bench/.node; do
		[ -f "$p/node_modules/openai/package.json" ] && { prefix=$p; break; }
	done
	if [ -z "$prefix" ] && [ "$quick" = 1 ]; then
		node_note="skipped: the openai package is not installed, and BENCH_QUICK installs nothing"
		return 1
	fi
	if [ -z "$prefix" ] &&
	    timeout 300 npm install --prefix bench/.node --no-audit --no-fund openai >"$out/npm.log" 2>&1; then
		prefix=bench/.node
	fi
	if [ -z "$prefix" ]; then
		node_note="skipped: npm install openai failed (see $out/npm.log)"
		return 1
	fi
	openai_ver=$(jq -r .version "$prefix/node_modules/openai/package.json")
}

ideal1=$(calc "$(ceil_div "$N" "$C") * $L")
idealq=$(calc "60 * $QN / $RPM + 0.2")
runs_on="$(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
# Other work on the machine skews every number: say how busy it was.
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $runs_on; N=$N C=$C L=$L quick=$quick; logs in $out" >&2

if [ "$do_small" = 1 ]; then
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

	if openai_prefix; then
		start_server --latency "$L" --concurrency "$C"
		baseline openai-npm "$N" "$ideal1" "$imgroot/openai-npm" \
		    node bench/openai-pool.mjs "$prefix" dalle3 "$C" "$imgroot/openai-npm"
		read -r w cpu rss <"$out/openai-npm/summary"
		row "baseline (c): openai $openai_ver npm, $C workers, images.generate on dalle3" \
		    "$N" "$ideal1" "$w" "$cpu" "$rss (tree)" \
		    "$out/openai-npm/stats.json" "$imgroot/openai-npm"
	fi
	[ -z "$node_note" ] || echo "baseline (c), the openai npm package: $node_note." >>"$out/notes"

	# --- 5. Start-up and memory ---
	stop_server
	echo "bench: start-up, $STARTUP_RUNS runs" >&2
	AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/
	for ((i = 0; i < STARTUP_RUNS; i++)); do
		"$ru" "$out/startup.ru" -- ./dalle-submit --dry-run x >/dev/null
	done
	startup_ms=$(median_ms "$out/startup.ru")
	# The floor: an empty main() linked with the same libcurl, and nothing.
	floor_ms=n/a
	true_ms=n/a
	read -ra curl_libs <<<"$(curl-config --libs 2>/dev/null || echo -lcurl)"
	if printf 'int main(void) { return 0; }\n' >"$out/floor.c" &&
	    cc -o "$out/floor" "$out/floor.c" -Wl,--no-as-needed \
	    "${curl_libs[@]}" 2>>"$out/notes.err"; then
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
fi

# --- 6. Real size: gpt-image-2 answers with b64_json images of ~2.6 MB ---
# ours: prompts | dalle-submit | dalle-poll | dalle-fetch, each stage under
# rusage and a timeout; then the openai npm package on the same server and
# the same prompts; then byte identity of every file.

# how_ended STATUS: a stage's exit status in words.
how_ended() {
	case $1 in
	0) echo 0 ;;
	124 | 137) echo "$1 (killed after the ${TMO} s timeout)" ;;
	*) echo "$1" ;;
	esac
}

# stats_diff A B: the counters of B less those of A, as stats() writes them.
stats_diff() {
	jq -n --slurpfile a "$1" --slurpfile b "$2" '
	    def sub(x; y): reduce ((x + y) | keys[]) as $k ({}; .[$k] = ((y[$k] // 0) - (x[$k] // 0)));
	    {routes: sub($a[0].routes; $b[0].routes), status: sub($a[0].status; $b[0].status),
	     submits: (($b[0].submits // 0) - ($a[0].submits // 0)),
	     generations: (($b[0].generations // 0) - ($a[0].generations // 0)),
	     cache: {hits: (($b[0].cache.hits // 0) - ($a[0].cache.hits // 0))}}'
}

# painted STATS: how many images the server generated, and how many of
# them it had in its cache.
painted() {
	jq -r '"\(.generations // 0) images generated, \(.cache.hits // 0) of them from its cache"' "$1"
}

if [ "$do_real" = 1 ]; then
	d="$out/realsize"
	rimg=$imgroot/realsize
	rnpm=$imgroot/realsize-npm
	rcurl=$imgroot/realsize-curl
	mkdir -p "$d" "$rimg" "$rnpm" "$rcurl"
	rserve=(--image-bytes "$RBYTES" --latency 0.2 --concurrency "$RC")
	if ! ./dalle-serve -h 2>&1 | grep -q -- --image-bytes; then
		rserve=(--image-scale 1 --latency 0.2 --concurrency "$RC")
		echo "This dalle-serve has no --image-bytes: the real-size row ran on its default, compressible paintings at full pixel size, not on images of real size." >>"$out/notes"
	fi
	start_server "${rserve[@]}"
	awk -v n="$RN" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"prompt\":\"bench %d: a lighthouse at dusk, photographed\",\"k\":%d}\n", i, i }' >"$d/prompts.jsonl"
	jq -r .prompt "$d/prompts.jsonl" >"$d/prompts.txt"
	echo "bench: realsize: N=$RN, -j $RC, dalle-serve ${rserve[*]}" >&2
	tmo=(timeout --foreground -k 5 "$TMO")
	# dalle-fetch writes the service's very bytes (--no-provenance), so
	# that each file can be compared with the npm package's byte for
	# byte; it still sums each file (files[].sha256).
	rst=(x x x)
	t0=$EPOCHREALTIME
	{
		"$ru" "$d/submit.ru" -- "${tmo[@]}" ./dalle-submit -j "$RC" --deployment "$RDEPLOY" \
		    <"$d/prompts.jsonl" 2>"$d/submit.err" |
		    "$ru" "$d/poll.ru" -- "${tmo[@]}" ./dalle-poll -j "$RC" 2>"$d/poll.err" |
		    "$ru" "$d/fetch.ru" -- "${tmo[@]}" ./dalle-fetch -j "$RC" --no-provenance -d "$rimg" -o '{k}.{ext}' \
		    >"$d/records.jsonl" 2>"$d/fetch.err"
		rst=("${PIPESTATUS[@]}")
	} || true
	t1=$EPOCHREALTIME
	rwall=$(calc "$t1 - $t0")
	stats "$d/stats.json"
	i=0
	for s in submit poll fetch; do
		if [ "${rst[$i]}" != 0 ]; then
			echo "bench: realsize: dalle-$s exited ${rst[$i]} (see $d/$s.err)" >&2
			echo "In the real-size row, dalle-$s exited $(how_ended "${rst[$i]}"): $(head -n 3 "$d/$s.err" | tr '\n' ' ')" >>"$out/notes"
		fi
		[ -s "$d/$s.ru" ] || echo "0 0 0 0" >"$d/$s.ru"
		i=$((i + 1))
	done

	# The npm package, the same prompts, on the same server.
	nrc=skipped
	if openai_prefix; then
		echo "bench: realsize: openai $openai_ver npm, $RC workers" >&2
		nrc=0
		t0=$EPOCHREALTIME
		"$ru" "$d/npm.ru" -- "${tmo[@]}" node bench/openai-pool.mjs "$prefix" "$RDEPLOY" "$RC" "$rnpm" \
		    <"$d/prompts.txt" >/dev/null 2>"$d/npm.err" || nrc=$?
		t1=$EPOCHREALTIME
		nwall=$(calc "$t1 - $t0")
		stats "$d/stats-after-npm.json"
		stats_diff "$d/stats.json" "$d/stats-after-npm.json" >"$d/npm-stats.json"
		if [ "$nrc" != 0 ]; then
			echo "bench: realsize: the npm baseline exited $nrc (see $d/npm.err)" >&2
			echo "In the real-size row, the npm baseline exited $(how_ended "$nrc"): $(head -n 3 "$d/npm.err" | tr '\n' ' ')" >>"$out/notes"
		fi
		[ -s "$d/npm.ru" ] || echo "0 0 0 0" >"$d/npm.ru"
	else
		echo "The npm baseline of the real-size row: $node_note." >>"$out/notes"
	fi

	# Byte identity: each of our files against npm's for the same prompt,
	# and a handful against curl | jq -r .data[0].b64_json | base64 -d of the
	# request dalle-submit --dry-run shows.
	same=0 differ=0 missing=0
	for ((k = 1; k <= RN; k++)); do
		if [ ! -f "$rimg/$k.png" ]; then
			missing=$((missing + 1))
		elif [ "$nrc" = skipped ]; then
			:
		elif cmp -s "$rimg/$k.png" "$rnpm/$k.png"; then
			same=$((same + 1))
		else
			differ=$((differ + 1))
		fi
	done
	csame=0 cdiff=0 cn=0
	mapfile -t ks < <(awk -v n="$RN" 'BEGIN { m = n < 5 ? n : 5; for (j = 0; j < m; j++) print 1 + int(j * (n - 1) / (m > 1 ? m - 1 : 1)) }')
	for k in "${ks[@]}"; do
		cn=$((cn + 1))
		q=$(sed -n "${k}p" "$d/prompts.jsonl" | ./dalle-submit --dry-run --deployment "$RDEPLOY")
		if curl -sS --max-time 60 -X POST -H "api-key: $AZURE_OPENAI_API_KEY" \
		    -H 'Content-Type: application/json' --data "$(jq -c .request.body <<<"$q")" \
		    "$(jq -r .request.url <<<"$q")" 2>>"$d/curl.err" |
		    jq -r '.data[0].b64_json' | base64 -d >"$rcurl/$k.png" 2>>"$d/curl.err" &&
		    cmp -s "$rcurl/$k.png" "$rimg/$k.png"; then
			csame=$((csame + 1))
		else
			cdiff=$((cdiff + 1))
		fi
	done
	# dalle-poll's floor: a final record has only to pass on, from one
	# pipe to the next.  The same pipeline again, to dalle-poll, with dd
	# bs=1M (the plainest copy) between dalle-submit and dalle-poll: what
	# dd costs there is that floor, in the same run and the same place.
	"$ru" "$d/floor-submit.ru" -- "${tmo[@]}" ./dalle-submit -j "$RC" --deployment "$RDEPLOY" \
	    <"$d/prompts.jsonl" 2>"$d/floor.err" |
	    "$ru" "$d/dd.ru" -- dd bs=1M status=none |
	    "$ru" "$d/poll-after-dd.ru" -- "${tmo[@]}" ./dalle-poll -j "$RC" 2>>"$d/floor.err" |
	    wc -l >"$d/floor.count" || true
	stop_server

	# What the server really returned: sizes of the files, and the pixel
	# size in the first one's PNG header.
	rfiles=$(count_images "$rimg")
	read -r rpng rb64 < <(find "$rimg" -type f ! -name '.*' -printf '%s\n' |
	    awk '{ p += $1; b += 4 * int(($1 + 2) / 3); n++ } END { if (n) printf "%.3f %.3f\n", p / n / 1e6, b / n / 1e6; else print "0 0" }')
	rdim=unknown
	if [ -f "$rimg/1.png" ]; then
		rdim=$(od -An -tu1 -j16 -N8 "$rimg/1.png" |
		    awk '{ printf "%dx%d", (($1 * 256 + $2) * 256 + $3) * 256 + $4, (($5 * 256 + $6) * 256 + $7) * 256 + $8 }')
	fi
fi

# --- 7. The Batch API: BN prompts through --batch (bench/batch.sh) ---
# shellcheck source=bench/batch.sh
. bench/batch.sh
[ "$do_batch" = 0 ] || batch_run

# --- Targets ---
# ratio A B: A / B to 2 decimals, or n/a when B is 0.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}
# ge A B: 1 when A >= B (0 when A is n/a).
ge() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a + 0 >= b) ? 1 : 0 }'
}
if [ "$do_small" = 1 ]; then
	for s in async dalle3 quota-rate quota-adaptive quota-4proc; do
		read -r w cpu _ <"$out/$s/summary"
		case $s in async | dalle3) n=$N ideal=$ideal1 ;; *) n=$QN ideal=$idealq ;; esac
		target "$(le "$w" "$(calc "1.05 * $ideal")")" \
		    "$s wall ≤ 1.05 × ideal: $(printf %.2f "$w") s against $ideal s ($(calc "int($w / $ideal * 1000 + 0.5) / 1000") ×)"
	done
	for s in async dalle3; do
		read -r _ cpu _ <"$out/$s/summary"
		target "$(le "$(calc "$cpu / $N")" 0.6)" \
		    "$s client CPU ≤ 0.6 ms/image at -j $C: $(calc "int($cpu / $N * 1000 + 0.5) / 1000") ms"
	done
	for s in quota-rate quota-adaptive quota-4proc; do
		read -r _ cpu _ <"$out/$s/summary"
		echo "- reported, not judged (under a quota): $s client CPU $(calc "int($cpu / $QN * 1000 + 0.5) / 1000") ms/image" >>"$out/targets"
	done
	if [ -f "$out/openai-npm/summary" ]; then
		read -r _ cpu _ <"$out/dalle3/summary"
		read -r _ ncpu _ <"$out/openai-npm/summary"
		r=$(ratio "$ncpu" "$cpu")
		target "$(ge "$r" 5)" "dalle3 client CPU per image at least 5 times less than the npm package's (baseline c) in this run: $r times ($(calc "int($cpu / $N * 1000 + 0.5) / 1000") against $(calc "int($ncpu / $N * 1000 + 0.5) / 1000") ms/image)"
	else
		echo "- not judged: dalle3 client CPU against the npm package's: baseline (c) $node_note" >>"$out/targets"
	fi
	for s in async dalle3; do
		read -r _ _ r1 r2 r3 <"$out/$s/summary"
		target "$(le "$r1" 16)" "$s submit peak RSS ≤ 16 MB at -j $C: $r1 MB"
		target "$(le "$r2" 16)" "$s poll peak RSS ≤ 16 MB at -j $C: $r2 MB"
		target "$(le "$r3" 16)" "$s fetch peak RSS ≤ 16 MB at -j $C: $r3 MB"
	done
	r=$(ratio "$startup_ms" "$floor_ms")
	target "$(le "${r/n\/a/99}" 1.3)" "start-up at most 1.3 times an empty main() linked with the same libcurl: $r times (medians of $STARTUP_RUNS runs: dalle-submit --dry-run x $startup_ms ms, the empty main() $floor_ms ms)"
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
fi

if [ "$do_real" = 1 ]; then
	# Per stage: CPU ms/image, its target, peak RSS; then the pipeline.
	: >"$out/realrows"
	i=0 rtot=0
	for s in submit poll fetch; do
		case $s in
		submit) goal=6 how="dalle-submit -j $RC --deployment $RDEPLOY" ;;
		poll) goal=1.5 how="dalle-poll -j $RC (passes the final record through)" ;;
		fetch) goal=6 how="dalle-fetch -j $RC --no-provenance -d DIR -o '{k}.{ext}' (decodes base64, sums, writes)" ;;
		esac
		c=$(printf %.2f "$(calc "$(cpu_ms "$d/$s.ru") / $RN")")
		m=$(rss_mb "$d/$s.ru")
		rtot=$(calc "$rtot + $(cpu_ms "$d/$s.ru")")
		printf '| %s | %s | ≤ %s | %s | ≤ 64 | %s |\n' "$how" "$c" "$goal" "$m" \
		    "$(how_ended "${rst[$i]}")" >>"$out/realrows"
		target "$(le "$c" "$goal")" "real size: dalle-$s CPU ≤ $goal ms/image: $c ms"
		target "$(le "$m" 64)" "real size: dalle-$s peak RSS ≤ 64 MB at -j $RC: $m MB"
		target "$([ "${rst[$i]}" = 0 ] && echo 1 || echo 0)" "real size: dalle-$s exited 0: $(how_ended "${rst[$i]}")"
		i=$((i + 1))
	done
	rper=$(printf %.2f "$(calc "$rtot / $RN")")
	printf '| pipeline, the three stages | **%s** | ≤ 12 | | | wall %.2f s |\n' "$rper" "$rwall" >>"$out/realrows"
	target "$(le "$rper" 12)" "real size: the whole pipeline ≤ 12 ms CPU/image: $rper ms"
	IFS=$'\t' read -r rreqs r429 < <(req "$d/stats.json" "$RN")
	if [ "$nrc" != skipped ]; then
		nper=$(printf %.2f "$(calc "$(cpu_ms "$d/npm.ru") / $RN")")
		r=$(ratio "$nper" "$rper")
		IFS=$'\t' read -r nreqs n429 < <(req "$d/npm-stats.json" "$RN")
		npainted=$(painted "$d/npm-stats.json")
		printf '| openai %s npm, %s workers: images.generate, Buffer.from(b64, base64), writeFile (whole node process) | %s (%s × the pipeline) | pipeline ≥ 4 × cheaper | %s | | %s, wall %.2f s |\n' \
		    "$openai_ver" "$RC" "$nper" "$r" "$(rss_mb "$d/npm.ru")" "$(how_ended "$nrc")" "$nwall" >>"$out/realrows"
		target "$(ge "$r" 4)" "real size: the pipeline at least 4 times cheaper in CPU than the npm package in the same run: $r times ($rper against $nper ms/image)"
		target "$([ "$nrc" = 0 ] && echo 1 || echo 0)" "real size: the npm baseline exited 0: $(how_ended "$nrc")"
		idnote="$same of $RN files byte-identical to the npm package's file for the same prompt (cmp), $differ differ, $missing missing from ours; $csame of $cn also identical to curl | jq -r '.data[0].b64_json' | base64 -d of the same request"
	else
		nreqs=n/a n429=n/a
		npainted=n/a
		idnote="npm baseline skipped, so no file was compared with npm's; $csame of $cn files identical to curl | jq -r '.data[0].b64_json' | base64 -d of the same request, $missing of $RN missing from ours"
	fi
	frecs=$(tr -d ' ' <"$d/floor.count")
	fdd=$(printf %.2f "$(calc "$(cpu_ms "$d/dd.ru") / ($frecs + ($frecs == 0))")")
	fpoll=$(printf %.2f "$(calc "$(cpu_ms "$d/poll-after-dd.ru") / ($frecs + ($frecs == 0))")")
	echo "- reported: dalle-poll's floor, from a second pipeline in this run with dd bs=1M between dalle-submit and dalle-poll ($frecs records): dd $fdd ms/record, dalle-poll $fpoll ms/record there ($(ratio "$fpoll" "$fdd") times the plain copy)" >>"$out/targets"
	bad=$((differ + missing + cdiff))
	target "$([ "$bad" = 0 ] && [ "$rfiles" = "$RN" ] && echo 1 || echo 0)" \
	    "real size: every file byte-identical to the image served: $bad mismatched or missing, $rfiles of $RN files written ($idnote)"
	target "$(awk -v b="$rb64" 'BEGIN { print (b >= 2 && b <= 3) ? 1 : 0 }')" \
	    "real size: the images were 2 to 3 MB of base64: a mean of $rb64 MB ($rpng MB of PNG, $rdim)"
fi

[ "$do_batch" = 0 ] || batch_targets

# --- The report ---
if [ "$do_small" = 1 ]; then
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
EOF
fi
if [ "$do_real" = 1 ]; then
	cat <<EOF

### Real size (make bench, issue 10)

| N=$RN, $RDEPLOY, b64_json | CPU ms/image | target | peak RSS MB | target | exit status |
|---|---:|---|---:|---|---|
$(cat "$out/realrows")

- dalle-serve \`${rserve[*]}\`, deployment $RDEPLOY answering synchronously with b64_json: a mean of $rb64 MB of base64 per image ($rpng MB of PNG, $rdim), as the files written show. Prompts are JSON lines {"prompt": ..., "k": K}, and dalle-fetch names each file \`K.png\` from the field k it carried through; the npm script names its file for the K-th prompt \`K.png\` too.
- Each stage runs under rusage and \`timeout $TMO\`; its CPU is its own user + system time. The npm row is the whole node process, on the same server right after the pipeline, with the same prompts.
- HTTP requests per image (submits / polls / downloads): ours $rreqs, npm $nreqs; 429s: $r429 / $n429. dalle-serve: $(painted "$d/stats.json") during ours, $npainted during npm's.
- Byte identity: $idnote.
- Images are written to ${imgroot%%/dalle-bench.*}$( [ "$imgroot" = "$out/img" ] || echo " (tmpfs)").
EOF
fi
[ "$do_batch" = 0 ] || batch_report
[ ! -s "$out/notes" ] || printf '\n%s\n' "$(sed 's/^/- /' "$out/notes")"
cat <<EOF

Machine: $runs_on; $(curl -V | head -n 1 | cut -d' ' -f1-2), $(git describe --always --dirty 2>/dev/null || echo unknown); load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after.
Knobs: BENCH_N=$N BENCH_C=$C BENCH_L=$L BENCH_RN=$RN BENCH_BN=$BN BENCH_BL=$BL BENCH_ONLY=$only BENCH_QUICK=$quick.

#### Targets

$(cat "$out/targets")
EOF
# A stage of the real-size row that failed fails the bench too.
if [ "$do_real" = 1 ] && [ "${rst[*]}" != "0 0 0" ]; then
	exit 1
fi
if [ "$do_batch" = 1 ] && [ "${bst[*]}" != "0 0 0" ]; then
	exit 1
fi
