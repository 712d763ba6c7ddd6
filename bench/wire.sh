#!/usr/bin/env bash
# Wire format benchmark: size, encode and decode time of a keypoint message in version 1 (the
# baseline), version 2, and version 2 with world landmarks, with 1 and 16 poses; ratios against
# version 1 in the same run (shared/examples/wire_bench.rs).
#   bench/wire.sh [ROUNDS]      (default 20000 calls per measurement, best of 5)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cargo run --release -q -p pose-shared --example wire_bench -- "${1:-20000}"
