# shellcheck shell=bash disable=SC2154
# The Batch row of make bench (issue 12), sourced by bench/run.sh, which
# provides ru, out, imgroot, start_server, stop_server, stats, calc,
# prompts, count_images, cpu_ms, rss_mb, le and target.
#
# BN prompts through dalle-submit --batch | dalle-poll | dalle-fetch -d DIR
# against dalle-serve --batch-latency BL (images a 16th of the real size,
# as in the small rows: start_server adds --image-scale 16).  A real batch
# takes minutes to 24 hours; BL is long enough for dalle-poll to poll the
# batch some twenty times (once per BI s) while dalle-serve runs its lines
# in step over the latency, as a real batch does, so the polls, the
# waiting and the one big output file are what is measured, yet short
# enough to keep make bench short.  Counts of requests come from
# dalle-serve's --log (the batch routes have no counters in /_serve/stats).

# batch_route LOG ROUTE: how many requests the log has on ROUTE.
batch_route() {
	jq -r --arg r "$2" 'select(.route == $r) | 1' "$1" | wc -l | tr -d ' '
}

batch_run() {
	local d="$out/batch" img="$imgroot/batch" tmo t0 t1 s i bid b
	mkdir -p "$d" "$img"
	start_server --batch-latency "$BL" --log "$d/serve.log"
	prompts "$BN" "$d/prompts"
	echo "bench: batch: N=$BN, dalle-serve --batch-latency $BL, dalle-poll --interval $BI" >&2
	tmo=(timeout --foreground -k 5 "$((3 * ${BL%.*} + 120))")
	bst=(x x x)
	t0=$EPOCHREALTIME
	{
		OPENAI_BASE_URL="${url}v1" OPENAI_API_KEY=bench \
		    "$ru" "$d/submit.ru" -- "${tmo[@]}" ./dalle-submit --batch --api openai -m gpt-image-2 \
		    <"$d/prompts" 2>"$d/submit.err" |
		    OPENAI_BASE_URL="${url}v1" OPENAI_API_KEY=bench \
		    "$ru" "$d/poll.ru" -- "${tmo[@]}" ./dalle-poll --interval "$BI" 2>"$d/poll.err" |
		    "$ru" "$d/fetch.ru" -- "${tmo[@]}" ./dalle-fetch -d "$img" \
		    >"$d/records.jsonl" 2>"$d/fetch.err"
		bst=("${PIPESTATUS[@]}")
	} || true
	t1=$EPOCHREALTIME
	bwall=$(calc "$t1 - $t0")
	i=0
	for s in submit poll fetch; do
		if [ "${bst[$i]}" != 0 ]; then
			echo "bench: batch: dalle-$s exited ${bst[$i]} (see $d/$s.err)" >&2
			echo "In the batch row, dalle-$s exited ${bst[$i]}: $(head -n 3 "$d/$s.err" | tr '\n' ' ')" >>"$out/notes"
		fi
		[ -s "$d/$s.ru" ] || echo "0 0 0 0" >"$d/$s.ru"
		i=$((i + 1))
	done
	# The batch's own duration, from the service's timestamps.
	bid=$(jq -r 'select(.operation.batch != null) | .operation.batch' \
	    "$d/records.jsonl" | sort -u | head -n 1)
	bdur=n/a
	if [ -n "$bid" ] && b=$(curl -sS --max-time 30 -H "Authorization: Bearer bench" \
	    "${url}v1/batches/$bid" 2>>"$out/serve.log"); then
		bdur=$(jq -r 'if .completed_at and .created_at then .completed_at - .created_at else "n/a" end' <<<"$b")
	fi
	nbatch=$(jq -r 'select(.operation.batch != null) | .operation.batch' \
	    "$d/records.jsonl" | sort -u | wc -l | tr -d ' ')
	stop_server
	b_files_upload=$(batch_route "$d/serve.log" files_upload)
	b_batches_create=$(batch_route "$d/serve.log" batches_create)
	b_batches_get=$(batch_route "$d/serve.log" batches_get)
	b_batches_list=$(batch_route "$d/serve.log" batches_list)
	b_files_content=$(batch_route "$d/serve.log" files_content)
	b_files_get=$(batch_route "$d/serve.log" files_get)
	bfiles=$(count_images "$img")
	# To the millisecond, from the log: batch created to output file
	# downloaded, and the pipeline's wall after that download.
	blog=n/a btail=n/a
	mapfile -t bt < <(jq -r 'select(.route == "batches_create" or
	    .route == "files_content") | .time' "$d/serve.log" |
	    while IFS= read -r s; do date -d "$s" +%s.%N; done)
	if [ "${#bt[@]}" -ge 2 ]; then
		blog=$(printf %.2f "$(calc "${bt[1]} - ${bt[0]}")")
		btail=$(printf %.2f "$(calc "$t1 - ${bt[1]}")")
	fi
}

# batch_cpu STAGE: its CPU in ms per image.
batch_cpu() {
	printf %.3f "$(calc "$(cpu_ms "$out/batch/$1.ru") / $BN")"
}

batch_targets() {
	local ppb bound
	target "$([ "$bfiles" = "$BN" ] && echo 1 || echo 0)" \
	    "batch: every image written: $bfiles of $BN files"
	ppb=$(calc "$b_batches_get / ($nbatch + ($nbatch == 0))")
	bound=$(calc "int($bwall / $BI) + 2")
	target "$(le "$ppb" "$bound")" \
	    "batch: polls per batch ≤ wall / interval + 2 = $bound: $ppb ($b_batches_get GET /v1/batches/{id} for $nbatch batch(es), interval $BI s, wall $(printf %.2f "$bwall") s)"
	if [ "$bdur" = n/a ]; then
		target 0 "batch: client wall ≤ the batch's duration + 5 s: the batch's duration is unknown (no completed_at)"
	else
		target "$(le "$bwall" "$(calc "$bdur + 5")")" \
		    "batch: client wall ≤ the batch's duration + 5 s: $(printf %.2f "$bwall") s against $bdur s (created_at to completed_at; --batch-latency $BL)"
	fi
	i=0
	for s in submit poll fetch; do
		target "$([ "${bst[$i]}" = 0 ] && echo 1 || echo 0)" "batch: dalle-$s exited 0: ${bst[$i]}"
		i=$((i + 1))
	done
}

batch_report() {
	cat <<EOF

### Batch (make bench, issue 12)

| N=$BN, --batch | wall s | batch s | uploads / creates / polls / downloads | CPU ms/image submit / poll / fetch | peak RSS MB submit / poll / fetch | files |
|---|---:|---:|---:|---:|---:|---:|
| \`dalle-submit --batch --api openai -m gpt-image-2 \\| dalle-poll --interval $BI \\| dalle-fetch -d DIR\` | $(printf %.2f "$bwall") | $bdur | $b_files_upload / $b_batches_create / $b_batches_get / $b_files_content | $(batch_cpu submit) / $(batch_cpu poll) / $(batch_cpu fetch) | $(rss_mb "$out/batch/submit.ru") / $(rss_mb "$out/batch/poll.ru") / $(rss_mb "$out/batch/fetch.ru") | $bfiles/$BN |

- dalle-serve \`--image-scale 16 --batch-latency $BL\`: images a 16th of the real size, as in the small rows; the batch goes validating, in_progress (its lines run in step over the latency), finalizing, completed in $BL s. A real batch takes minutes to hours: $BL s is long enough for some $(calc "int($BL / $BI)") polls and for the waiting to dominate, short enough for make bench.
- batch s: the batch's own duration, created_at to completed_at of GET /v1/batches/{id} (whole seconds); to the millisecond in dalle-serve's log, batch created to output file downloaded: $blog s. wall s: the whole pipeline, first prompt read to last file written; $btail s of it after the output file was downloaded (dalle-poll matching $BN lines to their records, dalle-fetch decoding and writing).
- Requests, from dalle-serve's log: $b_files_upload upload(s) (POST /v1/files), $b_batches_create create(s) (POST /v1/batches), $b_batches_get poll(s) (GET /v1/batches/{id}), $b_files_content file download(s) (GET /v1/files/{id}/content), $b_batches_list list(s) of batches in flight (dalle-submit's check that nothing is batched twice), $b_files_get file retrieve(s).
- CPU is each stage's own user + system time, divided by N; dalle-fetch decodes each b64_json image from the output file and writes it to ${imgroot%%/dalle-bench.*}.
EOF
}
