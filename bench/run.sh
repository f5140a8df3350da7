#!/usr/bin/env bash
# Throughput and memory benchmark of trailwatch's hot paths (not a test).
#
# Builds the corpus once with ../shared/bench/make-corpus (24 x 4 MB delivery files and one 200 MB
# file, deterministic), caches it, then runs the bench binary in release mode, which prints one
# table per set (MB/s of uncompressed JSON, records/s, ratio to decompression alone) and the peak
# RSS of streaming the 200 MB file in a child process.
#
# Then, as whole processes on the 24 delivery files: `trailwatch match --rules security-hub
# --count` beside ../shared/bench/python-peer (the same work in Python).
#
#   bench/run.sh [--repeat N]
#   TRAILWATCH_BENCH_CORPUS=/some/dir bench/run.sh     # where the corpus is cached
#   TRAILWATCH_SHARED=/path/to/shared bench/run.sh     # when shared/ is not beside the repo
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
make_corpus="${TRAILWATCH_SHARED:-$repo/../shared}/bench/make-corpus"
corpus="${TRAILWATCH_BENCH_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/trailwatch/bench-corpus}"
params="--files 24 --mb-per-file 4 --big-mb 200"

if [[ ! -f "$make_corpus" ]]; then
    echo "error: $make_corpus not found: the project's shared/ folder must sit beside the repo," \
        "or set TRAILWATCH_SHARED" >&2
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "error: python3 is needed to build the corpus (apt-get install python3)" >&2
    exit 1
fi

# Rebuild when the parameters or the generator changed since the cached corpus was made.
stamp="$params $(sha256sum "$make_corpus" | cut -d' ' -f1)"
if [[ "$(cat "$corpus/.made-with" 2>/dev/null)" != "$stamp" ]]; then
    echo "building the corpus in $corpus ..." >&2
    rm -rf "$corpus"
    mkdir -p "$corpus"
    # shellcheck disable=SC2086
    python3 "$make_corpus" "$corpus" $params >&2
    echo "$stamp" > "$corpus/.made-with"
fi

cd "$repo"
cargo run --release -q -p trailwatch-bench -- "$corpus" "$@"

# Whole processes: wall time, CPU time and peak RSS of each, on the same 24 files.
python_peer="$(dirname "$make_corpus")/python-peer"
if [[ ! -x /usr/bin/time ]]; then
    echo "error: /usr/bin/time is needed for the whole-process comparison (apt-get install time)" >&2
    exit 1
fi
cargo build --release -q -p trailwatch-cli
trailwatch="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/trailwatch"
mapfile -t files < <(find "$corpus/AWSLogs" -name '*.json.gz' | sort)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# run NAME CMD...: prints "wall user+sys maxrss_kb" of the best (least wall time) of 3 runs
run() {
    local name="$1" best="" line
    shift
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %U %S %M" -o "$scratch/time" "$@" > "$scratch/$name.out"
        line="$(tail -1 "$scratch/time")"
        if [[ -z "$best" ]] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then
            best="$line"
        fi
    done
    echo "$best"
}
tw="$(run trailwatch "$trailwatch" match --rules security-hub --count "${files[@]}")"
py="$(run python python3 "$python_peer" "$corpus/AWSLogs")"
echo
echo "## whole process, ${#files[@]} delivery files (best of 3 by wall time)"
echo "| process | wall s | CPU s | peak RSS MB |"
echo "|---|---:|---:|---:|"
for row in "trailwatch match --rules security-hub --count|$tw" "python-peer|$py"; do
    read -r wall user sys rss <<< "${row#*|}"
    awk -v n="${row%%|*}" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
        'BEGIN { printf "| %s | %.2f | %.2f | %.1f |\n", n, w, u + s, r / 1024 }'
done
read -r tw_wall tw_user tw_sys _ <<< "$tw"
read -r py_wall py_user py_sys _ <<< "$py"
awk -v tw="$tw_wall" -v py="$py_wall" -v tc="$tw_user+$tw_sys" -v pc="$py_user+$py_sys" \
    'BEGIN { split(tc, a, "+"); split(pc, b, "+");
             printf "trailwatch is %.1fx faster by wall time, %.1fx by CPU time (target: 6x)\n",
                    py / tw, (b[1] + b[2]) / (a[1] + a[2]) }'
echo "trailwatch: $(grep -E '^records' "$scratch/trailwatch.out" | tr '\t' ' '), rule matches $(grep -vE '^records' "$scratch/trailwatch.out" | awk -F'\t' '{ s += $2 } END { print s }')"
echo "python-peer: $(tail -1 "$scratch/python.out")"

# The 200 MB file as a whole process: peak RSS must not grow with the file (target <= 64 MB).
big="$(find "$corpus/big" -name '*.json.gz' 2>/dev/null | head -1)"
if [[ -n "$big" ]]; then
    bg="$(run big "$trailwatch" match --rules security-hub --count "$big")"
    read -r wall user sys rss <<< "$bg"
    echo
    echo "## whole process, the 200 MB file (best of 3 by wall time)"
    echo "| process | wall s | CPU s | peak RSS MB | MB/s |"
    echo "|---|---:|---:|---:|---:|"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
        'BEGIN { printf "| trailwatch match --rules security-hub --count | %.2f | %.2f | %.1f | %.0f |\n", w, u + s, r / 1024, 200 / w }'
fi
