#!/usr/bin/env bash
# Records the keypoint sequences the event analytic is tested on (consumer/analytic/tests/data/),
# from real sample video through `pose-edge infer --track` (tracking and smoothing as on the edge):
#
#   carphone.jsonl      the 120 frames of carphone (a man talking in a car): always one person
#   carphone_gap.jsonl  carphone frames 1-40, 60 empty frames, frames 41-80, 60 empty frames: a
#                       person in, out, in, out. "Empty" is a uniform grey 176x144 frame (a covered
#                       camera): the samples hold no empty view of that car, and a real scene
#                       without people (fruits.jpg scaled) kept the tracker on a false person.
#
# Each line is a keypoint message in the JSON view of shared/WIRE.md (version 2, run 1, track 1,
# 30 fps capture clock). Needs `make models samples` and the consumer venv; run it again after a
# change to the pose estimator and commit the result.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
samples=$("$repo/scripts/fetch-samples.sh")
py=$("$repo/scripts/consumer-venv.sh")
out=$repo/consumer/analytic/tests/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$repo" && cargo build -q -p pose-edge)
edge=${CARGO_TARGET_DIR:-$repo/target}/debug/pose-edge
command -v ffmpeg >/dev/null || { echo "record-keypoints: ffmpeg is needed" >&2; exit 1; }
ffmpeg -loglevel error -y -f lavfi -i color=c=0x808080:s=176x144 -frames:v 1 "$work/empty.png"

frames() { for i in $(seq "$1" "$2"); do printf '%s/carphone/f%04d.png\n' "$samples" "$i"; done; }
empty() { for _ in $(seq 1 "$1"); do echo "$work/empty.png"; done; }

record() { # name, then the image list on stdin
    mapfile -t images
    (cd "$repo" && "$edge" infer --track "${images[@]}") >"$work/$1.infer"
    "$py" -m posestream_events.record --camera "rec-$1" <"$work/$1.infer" >"$out/$1.jsonl"
    echo "record-keypoints: $out/$1.jsonl ($(wc -l <"$out/$1.jsonl") messages)" >&2
}

frames 1 120 | record carphone
{ frames 1 40; empty 60; frames 41 80; empty 60; } | record carphone_gap
