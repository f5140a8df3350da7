#!/usr/bin/env bash
# Throughput and memory benchmark of trailwatch's hot paths (not a test).
#
# Builds the corpus once with ../shared/bench/make-corpus (24 x 4 MB delivery files and one 200 MB
# file, deterministic), caches it, then runs the bench binary in release mode, which prints one
# table per set (MB/s of uncompressed JSON, records/s, ratio to decompression alone) and the peak
# RSS of streaming the 200 MB file in a child process.
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
exec cargo run --release -q -p trailwatch-bench -- "$corpus" "$@"
