#!/usr/bin/env bash
# Several people: pose-edge's fps with 1, 2 and 4 people on 1 and 2 threads, and how the detector
# cadence (--detect-interval-ms) trades the latency of picking up a newcomer against fps.
#
#   bench/multi_person.sh [ROUNDS] [MODEL]     (or `make bench-people`; default 3 rounds, full)
#
# Input, composed with ffmpeg from the carphone sample (176x144 per person, 120 frames, played
# three times over as one tracked video, 360 frames), into $POSESTREAM_CACHE/bench-people:
#   1 person    the clip
#   2 people    the clip | the clip mirrored and reversed (the samples' duo/)
#   4 people    2x2: the clip, mirrored+reversed / reversed, mirrored
#   newcomer    the 2-people video with the right half black until frame 31 (t = 1.0 s), once
# Each frame is a PNG (decoding is not timed); pose-edge times pose estimation only. Baseline of
# the ratios: 1 person on the same thread count. Rounds: the median fps is reported.
set -euo pipefail
rounds=${1:-3}
model=${2:-full}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
edge=${CARGO_TARGET_DIR:-$repo/target}/release/pose-edge
[[ -x $edge ]] || { echo "build first: cargo build --release -p pose-edge" >&2; exit 1; }
samples=$("$repo/scripts/fetch-samples.sh")
work=${POSESTREAM_CACHE:-$HOME/.cache/posestream}/bench-people
clip=$samples/carphone.mp4

compose() { # name filter
    [[ -f $work/$1/f0120.png ]] && return
    rm -rf "${work:?}/$1" && mkdir -p "$work/$1"
    ffmpeg -loglevel error -y -i "$clip" -filter_complex "$2" "$work/$1/f%04d.png"
}
compose p1 "[0:v]null"
compose p2 "[0:v]split[a][b];[b]hflip,reverse[r];[a][r]hstack"
compose p4 "[0:v]split=4[a][b][c][d];[b]hflip,reverse[b2];[c]reverse[c2];[d]hflip[d2];[a][b2]hstack[top];[c2][d2]hstack[bottom];[top][bottom]vstack"
compose newcomer "[0:v]split[a][b];[b]hflip,reverse,drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='lt(n,30)'[r];[a][r]hstack"

frames() { # dir times
    local out=()
    for _ in $(seq "$2"); do
        for i in $(seq -f %04g 1 120); do out+=("$work/$1/f$i.png"); done
    done
    printf '%s\n' "${out[@]}"
}
summary() { tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["fps"], s["detector_runs"], s["landmark_runs"], s["frames"])'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "model $model; fps of pose estimation (median of $rounds rounds, 360 frames), max_people 4, detect interval 500 ms"
printf '%-8s %-8s %8s %8s %14s %14s\n' threads people fps "vs 1" "detector/frame" "landmark/frame"
for threads in 1 2; do
    base=
    for p in 1 2 4; do
        mapfile -t files < <(frames "p$p" 3)
        fps=(); det=0; lm=0; n=1
        for _ in $(seq "$rounds"); do
            read -r f det lm n < <("$edge" --model "$model" --threads "$threads" --max-people 4 \
                --detect-interval-ms 500 infer --track "${files[@]}" 2>/dev/null | summary)
            fps+=("$f")
        done
        m=$(median "${fps[@]}")
        base=${base:-$m}
        awk -v t="$threads" -v p="$p" -v m="$m" -v b="$base" -v d="$det" -v l="$lm" -v n="$n" \
            'BEGIN { printf "%-8s %-8s %8.1f %7.2fx %14.3f %14.2f\n", t, p, m, m / b, d / n, l / n }'
    done
done

echo
echo "detector cadence, model $model, 1 thread, max_people 4: fps with 2 people tracked (360 frames),"
echo "and the delay until a newcomer (appearing at frame 31, t = 1.0 s, 30 fps clock) is tracked"
printf '%-12s %8s %14s %16s\n' interval fps "detector/frame" "newcomer delay"
mapfile -t duo < <(frames p2 3)
mapfile -t late < <(frames newcomer 1)
for ms in 0 100 250 500 1000 2000; do
    fps=(); det=0; n=1
    for _ in $(seq "$rounds"); do
        read -r f det _ n < <("$edge" --model "$model" --threads 1 --max-people 4 \
            --detect-interval-ms "$ms" infer --track "${duo[@]}" 2>/dev/null | summary)
        fps+=("$f")
    done
    m=$(median "${fps[@]}")
    # First frame (1-based) with two people; the newcomer is there from frame 31.
    first=$("$edge" --model "$model" --threads 1 --max-people 4 --detect-interval-ms "$ms" \
        infer --track "${late[@]}" 2>/dev/null | python3 -c '
import json, sys
first = 0  # reads to the end: an early exit would break the pipe (pipefail)
for i, l in enumerate(sys.stdin, 1):
    d = json.loads(l)
    if not first and len(d.get("poses", [])) >= 2 and i >= 31:
        first = i
print(first)')
    awk -v ms="$ms" -v m="$m" -v d="$det" -v n="$n" -v f="$first" 'BEGIN {
        delay = f > 0 ? sprintf("%d frames (%d ms)", f - 31, (f - 31) * 1000 / 30) : "never"
        printf "%-12s %8.1f %14.3f %16s\n", ms " ms", m, d / n, delay }'
done
