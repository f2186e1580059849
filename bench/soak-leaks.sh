#!/bin/bash
# soak-leaks N DIR URL: the soak's leak pass.  N prompts through
# dalle-submit | dalle-poll | dalle-fetch against the soak's dalle-serve at
# URL, with its faults (5 % 500/503, 2 % dropped connections, 1 %
# truncated images, a quota over a 1 s window, slow images), each of the
# three stages under a leak checker (the server, a test rig here, is not:
# make valgrind and make asan check it):
#
#   valgrind --leak-check=full   for programs built plainly
#   LeakSanitizer                for programs built with ASan (make asan)
#
# Prints "leaks: B bytes in K blocks" (definitely lost, valgrind; direct
# leaks, LeakSanitizer), summed over the three processes, then a line
# "leak pass: ..." with the checker, the stages' statuses and crashes
# (stages ended by a signal).  Exits 0 only when B, K and the crashes
# are 0.  Without valgrind for a plain build, prints "leaks: unchecked" and
# exits 0.
set -u
cd "$(dirname "$0")/.." || exit 1
N=$1
dir=$2
url=$3
rm -rf "$dir"
mkdir -p "$dir/img" "$dir/log"

# ASan's runtime is linked into each program: its own symbols say so.
if grep -q __asan_init ./dalle-submit 2>/dev/null; then
	tool=LeakSanitizer
elif command -v valgrind >/dev/null 2>&1; then
	tool=valgrind
else
	echo "leaks: unchecked (no valgrind)"
	exit 0
fi

# under PROG ARGS...: PROG under the checker, its report in $dir/log.
under() {
	local p=$1
	shift
	if [ "$tool" = valgrind ]; then
		exec valgrind --leak-check=full --show-leak-kinds=definite \
		    --log-file="$dir/log/$p.%p" "./$p" "$@"
	else
		ASAN_OPTIONS=detect_leaks=1:exitcode=99:log_path=$dir/log/$p \
		    exec "./$p" "$@"
	fi
}

export AZURE_OPENAI_ENDPOINT=$url AZURE_OPENAI_API_KEY=soak-key
unset OPENAI_API_KEY OPENAI_BASE_URL AZURE_OPENAI_AD_TOKEN

seq 1 "$N" |
    awk '{ printf "{\"prompt\":\"leak prompt %d\",\"k\":%d}\n", $1, $1 }' \
    >"$dir/prompts.jsonl"
under dalle-submit -j 32 --retries 6 <"$dir/prompts.jsonl" \
    2>"$dir/submit.err" |
    under dalle-poll -j 256 --retries 6 2>"$dir/poll.err" |
    under dalle-fetch -j 32 --retries 6 -d "$dir/img" -o '{k}.{ext}' \
    2>"$dir/fetch.err" >"$dir/records.jsonl"
st=("${PIPESTATUS[@]}")

crashes=0
for s in "${st[@]}"; do
	[ "$s" -lt 128 ] || crashes=$((crashes + 1))
done
# valgrind: "definitely lost: 1,234 bytes in 5 blocks" in each log;
# LeakSanitizer: "Direct leak of 1234 byte(s) in 5 object(s)".
cat "$dir"/log/* 2>/dev/null | tr -d , | awk '
    /definitely lost:/ { b += $(NF - 4); k += $(NF - 1) }
    /Direct leak of/ { b += $4; k += $7 }
    END { printf "%d %d\n", b, k }' >"$dir/sum"
read -r bytes blocks <"$dir/sum"
echo "leaks: $bytes bytes in $blocks blocks"
recs=$(wc -l <"$dir/records.jsonl")
echo "leak pass: $N prompts, 3 stages under $tool," \
    "statuses ${st[*]}, $crashes crashes, $recs records"
[ "$bytes" = 0 ] && [ "$blocks" = 0 ] && [ "$crashes" = 0 ]
