#!/usr/bin/env bash
# Runs pose-cloud, pose-edge and the event analytic (posestream-events, docs/consume.md) against
# the local broker until Ctrl-C (called by `make demo`).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/release
export RUST_LOG=${RUST_LOG:-info,rdkafka=warn}

"$bin/pose-cloud" --status-interval 5 run &
cloud=$!
edge=
events=
trap 'kill -TERM $cloud ${edge} ${events} 2>/dev/null; wait $cloud ${edge} ${events} 2>/dev/null; echo "demo: stopped"' EXIT
# The analytic: person entered/left, falls, squats, shown under the camera's tile.
py=$("$repo/scripts/consumer-venv.sh")
"$py" -m posestream_events.service --brokers "${POSESTREAM_BROKERS:-127.0.0.1:9092}" &
events=$!
# A real video with a person (the carphone sample, looped at its 29.97 fps), decoded by ffmpeg.
samples=$("$repo/scripts/fetch-samples.sh")
"$bin/pose-edge" --camera-id demo-cam --source video --source-path "$samples/carphone.mp4" --loop \
    --status-interval 5 run &
edge=$!
echo "demo: edge (pid $edge), cloud (pid $cloud) and events (pid $events) running; open http://127.0.0.1:8080/ ; Ctrl-C stops them" >&2
wait $edge
