#!/usr/bin/env bash
# Replay benchmark: does replaying slow the live view? End-to-end latency of live viewers (edge
# capture to MJPEG part received, cloud/examples/mjpeg_latency.rs) of 4 synthetic cameras at
# 29.97 fps with 2 viewers each, without and with 4 concurrent replays
# (cloud/examples/replay_load.rs: each from a minute back, at 1x, so each reads and draws
# 30 frames/s for the whole window), alternating, ROUNDS rounds of SECONDS each.
#
# Usage: bench/replay.sh [SECONDS] [ROUNDS]   (a benchmark, not a test: nothing is asserted)
# Environment: POSESTREAM_BROKER_PORT (the local broker's port, default 9092; scripts/broker.sh
# starts it if needed), BENCH_HTTP_PORT (pose-cloud's, default 18480).
set -euo pipefail
secs=${1:-20}
rounds=${2:-2}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cargo build --release -q -p pose-cloud --examples --bins
bin=${CARGO_TARGET_DIR:-target}/release
scripts/broker.sh start >/dev/null 2>&1
brokers=127.0.0.1:${POSESTREAM_BROKER_PORT:-9092}
port=${BENCH_HTTP_PORT:-18480}
prefix="replay$$"
$bin/pose-cloud --brokers "$brokers" --http-addr "127.0.0.1:$port" --group-id "bench-$$" \
    --status-interval 60 run >target/bench-replay-cloud.log 2>&1 &
cloud=$!
$bin/examples/fleet_publisher "$brokers" 4 29.97 "$prefix" >target/bench-replay-fleet.log 2>&1 &
fleet=$!
trap 'kill -INT $fleet $cloud 2>/dev/null; wait $fleet $cloud 2>/dev/null || true' EXIT
cams=""
urls=""
for i in 00 01 02 03; do
    cams+="${cams:+,}$prefix-$i"
    urls+="${urls:+,}http://127.0.0.1:$port/cameras/$prefix-$i/stream.mjpg"
done
for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/cameras/$prefix-03/snapshot.jpg" -o /dev/null && break
    sleep 0.1
done
# A minute of history to replay (the replays then stay a minute behind, reading all along).
echo "recording 65 s of history..."
sleep 65
for round in $(seq 1 "$rounds"); do
    echo "== round $round: live only"
    $bin/examples/mjpeg_latency "$urls" 2 "$secs"
    echo "== round $round: live with 4 replays at 1x"
    from=$(( $(date +%s%3N) - 60000 ))
    $bin/examples/replay_load "http://127.0.0.1:$port" "$cams" 4 "$from" 1 $((secs + 3)) &
    load=$!
    sleep 2
    $bin/examples/mjpeg_latency "$urls" 2 "$secs"
    wait $load
    curl -fs "http://127.0.0.1:$port/metrics" | grep -E '^pose_cloud_replay' || true
done
