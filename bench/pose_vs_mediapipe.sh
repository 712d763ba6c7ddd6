#!/usr/bin/env bash
# Throughput of pose-edge against MediaPipe's Python Pose solution on the same video frames.
#
#   bench/pose_vs_mediapipe.sh [ROUNDS] [MODEL...]   (or `make bench-pose`; default 3 rounds,
#                                                     models lite full heavy)
#
# Input: the 120 frames of the carphone sample, three times over (360 frames, tracked as one
# video), as PNG files, so both sides decode identical pixels and the decode is not timed.
# Both sides time pose estimation only (MediaPipe: `Pose.process`; pose-edge: its estimator).
#
# Budgets:
#   1 core   both processes pinned to CPU 0 with taskset; pose-edge --threads 1. MediaPipe's
#            XNNPACK uses 1 thread on desktop Linux (it cannot be changed from Python).
#   2 cores  no pinning; pose-edge --threads 2; MediaPipe as it comes (1 XNNPACK thread, plus
#            its graph scheduler threads).
# Each landmark model variant runs on both sides (MediaPipe's model_complexity 0, 1, 2 with the
# same files). Rounds alternate the two programs; the median fps of each is reported, with their ratio, and
# pose-edge's split between model invoke and everything else (crop, decode, NMS, smoothing).
set -euo pipefail
rounds=${1:-3}
shift || true
models=("$@")
((${#models[@]})) || models=(lite full heavy)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
edge=${CARGO_TARGET_DIR:-$repo/target}/release/pose-edge
[[ -x $edge ]] || { echo "build first: cargo build --release -p pose-edge" >&2; exit 1; }
samples=$("$repo/scripts/fetch-samples.sh")
py=$("$repo/scripts/mediapipe-venv.sh")
ref=$repo/edge/tests/reference/mediapipe_pose.py

frames=()
for _ in 1 2 3; do
    for i in $(seq -f %04g 1 120); do frames+=("$samples/carphone/f$i.png"); done
done

summary() { tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["fps"], s.get("invoke_seconds", 0), s["seconds"])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-6s %-8s %10s %10s %7s %12s %10s\n' model budget mediapipe pose-edge ratio "invoke ms/f" overhead
for model in "${models[@]}"; do
case $model in lite) complexity=0 ;; full) complexity=1 ;; heavy) complexity=2 ;; *) echo "unknown model $model" >&2; exit 1 ;; esac
for budget in 1 2; do
    if [[ $budget == 1 ]]; then pin=(taskset -c 0); else pin=(); fi
    mp_fps=(); pe_fps=(); invoke=(); total=()
    for _ in $(seq "$rounds"); do
        read -r f _ _ < <("${pin[@]}" "$py" "$ref" --complexity "$complexity" --track "${frames[@]}" 2>/dev/null | summary)
        mp_fps+=("$f")
        read -r f inv secs < <("${pin[@]}" "$edge" --model "$model" --max-people 1 --threads "$budget" infer --track "${frames[@]}" 2>/dev/null | summary)
        pe_fps+=("$f"); invoke+=("$inv"); total+=("$secs")
    done
    mp=$(median "${mp_fps[@]}"); pe=$(median "${pe_fps[@]}")
    inv=$(median "${invoke[@]}"); tot=$(median "${total[@]}")
    n=${#frames[@]}
    awk -v m="$model" -v b="$budget core(s)" -v mp="$mp" -v pe="$pe" -v inv="$inv" -v tot="$tot" -v n="$n" 'BEGIN {
        printf "%-6s %-8s %10.1f %10.1f %6.2fx %12.2f %9.1f%%\n", m, b, mp, pe, pe / mp, inv / n * 1000, (tot - inv) / inv * 100 }'
done
done
echo "($rounds rounds, ${#frames[@]} frames each; fps = frames per second of pose estimation; overhead = pose-edge time outside model invoke, as % of invoke)"
