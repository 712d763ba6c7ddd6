#!/usr/bin/env bash
# Cloud benchmarks (`make bench-cloud`):
#  1. frames per second per core of decode + draw + encode at 320x240, against decode + encode;
#  2. end-to-end latency (edge capture to MJPEG part received) with 1 and with 50 concurrent
#     viewers of one camera: broker + pose-edge on the sample video + pose-cloud, all local.
set -euo pipefail
secs=${1:-20}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cargo build --release -q -p pose-edge -p pose-cloud --examples --bins
echo "== render throughput"
target/release/examples/render_bench 2000

samples=$(scripts/fetch-samples.sh)
scripts/broker.sh restart >/dev/null 2>&1
port=18080
target/release/pose-cloud --http-addr "127.0.0.1:$port" --group-id "bench-$$" --status-interval 60 run \
    >target/bench-cloud.log 2>&1 &
cloud=$!
target/release/pose-edge --camera-id bench --source video --source-path "$samples/carphone.mp4" --loop \
    --metrics-addr off --status-interval 60 run >target/bench-edge.log 2>&1 &
edge=$!
trap 'kill -INT $edge $cloud 2>/dev/null; wait $edge $cloud 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/cameras/bench/snapshot.jpg" -o /dev/null && break
    sleep 0.1
done
echo "== end-to-end latency, ${secs}s each"
for v in 1 50 1 50; do
    target/release/examples/mjpeg_latency "http://127.0.0.1:$port/cameras/bench/stream.mjpg" "$v" "$secs"
done
