#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, starting from the corpus kept in
# fuzz/corpus/. cargo-fuzz (pinned) is installed once into the cache.
#   scripts/fuzz.sh                 each target FUZZ_SECONDS (default 60) on a copy of the corpus
#   FUZZ_KEEP=1 scripts/fuzz.sh     add new inputs to fuzz/corpus/ (then `cargo fuzz cmin`)
#   scripts/fuzz.sh TARGET...       only these targets
# A crash stops the script with the input saved under fuzz/artifacts/TARGET/ and printed.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${POSESTREAM_CACHE:-$HOME/.cache/posestream}"
tools="$cache/tools/cargo-fuzz-$CARGO_FUZZ_VERSION"
seconds="${FUZZ_SECONDS:-60}"

if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools (once)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH"
# cargo-fuzz passes sanitizer and coverage flags that need RUSTC_BOOTSTRAP on a stable toolchain
# (this machine has no other); the build is only for fuzzing.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${POSESTREAM_FUZZ_TARGET:-$cache/fuzz-target}"

cd "$repo/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
    echo "fuzz: building ${targets[*]}"
    cargo fuzz build -O
else
    for t in "${targets[@]}"; do cargo fuzz build -O "$t"; done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then
        corpus="$repo/fuzz/corpus/$t"
    else
        corpus="$work/$t"
        cp -r "$repo/fuzz/corpus/$t" "$corpus"
    fi
    # The keypoint decoder also starts from every shared test vector (a read-only second corpus
    # made afresh from shared/vectors/keypoints.json, so the seeds follow the wire format).
    seeds=()
    if [ "$t" = keypoint_message ]; then
        python3 "$repo/scripts/vectors-to-corpus.py" "$work/seeds-$t"
        seeds=("$work/seeds-$t")
    fi
    echo "fuzz: $t for ${seconds}s from $(ls "$repo/fuzz/corpus/$t" | wc -l) corpus inputs"
    if ! cargo fuzz run -O "$t" "$corpus" "${seeds[@]}" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 >"$work/$t.log" 2>&1; then
        tail -n 60 "$work/$t.log"
        echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done" "$work/$t.log" | sed "s/^/fuzz: $t: /"
done
echo "fuzz: all targets ran ${seconds}s without a failure"
