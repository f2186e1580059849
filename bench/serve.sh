#!/bin/sh
# Measure dalle-serve's status polls per second with wrk(1): start a
# server on a free loopback port, create one operation, then poll its
# operation-location with 100 and with 1000 connections.
# Usage: bench/serve.sh [seconds-per-run]   (needs wrk, curl)
set -eu
cd "$(dirname "$0")/.."
dur=${1:-10}
command -v wrk >/dev/null || { echo "bench: wrk not installed (apt-get install wrk)" >&2; exit 1; }
[ -x ./dalle-serve ] || make dalle-serve >&2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$out"' EXIT
./dalle-serve --listen 127.0.0.1:0 --threads 2 >"$out/url" 2>"$out/err" &
pid=$!
i=0
while [ ! -s "$out/url" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
base=$(head -n 1 "$out/url")
[ -n "$base" ] || { cat "$out/err" >&2; exit 1; }
loc=$(curl -s -D - -o /dev/null -X POST -H 'api-key: bench' \
    -H 'Content-Type: application/json' -d '{"prompt":"bench","size":"256x256"}' \
    "${base}openai/images/generations:submit?api-version=2023-06-01-preview" |
    awk 'tolower($1) == "operation-location:" { print $2 }' | tr -d '\r')
[ -n "$loc" ] || { echo "bench: no operation-location" >&2; exit 1; }
echo "dalle-serve $base, $(nproc) CPUs, polling $loc"
for c in 100 1000; do
	wrk -t2 -c$c -d"${dur}s" --latency -H 'api-key: bench' "$loc" >"$out/wrk" 2>&1
	rps=$(awk '/^Requests\/sec/ { print $2 }' "$out/wrk")
	p50=$(awk '$1 == "50%" { print $2 }' "$out/wrk")
	p99=$(awk '$1 == "99%" { print $2 }' "$out/wrk")
	errs=$(awk '/Socket errors|Non-2xx/ { print }' "$out/wrk" | tr '\n' ' ')
	printf 'polls: %5d connections: %10s req/s  p50 %-8s p99 %-8s %s\n' \
	    "$c" "$rps" "$p50" "$p99" "$errs"
done
curl -s "${base}_serve/stats" | jq -c '{polls, status, in_flight}' 2>/dev/null || true
