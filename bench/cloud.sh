#!/usr/bin/env bash
# Cloud benchmarks (`make bench-cloud`):
#  1. drawing: the JPEG codecs, one frame's work per core, and frames drawn per second in total
#     with 1, 8 and 16 cameras by the old serial loop against the per-camera workers
#     (cloud/examples/render_bench.rs);
#  2. end-to-end latency (edge capture to MJPEG part received) with 1 and with 50 concurrent
#     viewers of one camera: broker + pose-edge on the sample video + pose-cloud, all local;
#  3. the same with 4 viewers of each camera, for 1 camera and for 16 (synthetic cameras from one
#     light publisher, cloud/examples/fleet_publisher.rs).
#
# Environment: POSESTREAM_BROKER_PORT (the local broker's port, default 9092; scripts/broker.sh
# starts it if needed), BENCH_HTTP_PORT (pose-cloud's, default 18080), BENCH_PARTS (which of
# `draw one fleet` to run, default all), BENCH_ROUNDS (rounds of part 3, default 2).
set -euo pipefail
secs=${1:-20}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cargo build --release -q -p pose-edge -p pose-cloud --examples --bins
bin=${CARGO_TARGET_DIR:-target}/release
parts=${BENCH_PARTS:-draw one fleet}
part() { [[ " $parts " == *" $1 "* ]]; }
if part draw; then
    echo "== drawing"
    "$bin"/examples/render_bench 2000 3
fi

samples=$(scripts/fetch-samples.sh)
scripts/broker.sh start >/dev/null 2>&1
brokers=127.0.0.1:${POSESTREAM_BROKER_PORT:-9092}
port=${BENCH_HTTP_PORT:-18080}
"$bin"/pose-cloud --brokers "$brokers" --http-addr "127.0.0.1:$port" --group-id "bench-$$" \
    --status-interval 60 run >target/bench-cloud.log 2>&1 &
cloud=$!
edges=()
# edge CAMERA [FLAGS...]: one pose-edge on the sample video, looped at its 29.97 fps.
edge() {
    local camera=$1
    shift
    "$bin"/pose-edge --camera-id "$camera" --brokers "$brokers" --source video \
        --source-path "$samples/carphone.mp4" --loop --metrics-addr off --status-interval 60 "$@" \
        run >"target/bench-edge-$camera.log" 2>&1 &
    edges+=($!)
}
stop_edges() {
    if [ ${#edges[@]} -gt 0 ]; then
        kill -INT "${edges[@]}" 2>/dev/null || true
        wait "${edges[@]}" 2>/dev/null || true
    fi
    edges=()
}
trap 'stop_edges; kill -INT $cloud 2>/dev/null; wait $cloud 2>/dev/null || true' EXIT
wait_for() {
    for _ in $(seq 1 150); do
        curl -fs "http://127.0.0.1:$port/cameras/$1/snapshot.jpg" -o /dev/null && return 0
        sleep 0.1
    done
    echo "no frame of $1" >&2
    return 1
}
if part one; then
    edge bench
    wait_for bench
    echo "== end-to-end latency, one camera, ${secs}s each"
    for v in 1 50 1 50; do
        "$bin"/examples/mjpeg_latency "http://127.0.0.1:$port/cameras/bench/stream.mjpg" "$v" "$secs"
    done
    stop_edges
fi
part fleet || exit 0

echo "== end-to-end latency, 4 viewers of each camera, 1 and 16 synthetic cameras, ${secs}s each"
# One light process publishes the cameras (a JPEG encoded once, sent at 29.97 fps per camera), so
# that the 2 cores measure the cloud rather than sixteen edges decoding and encoding video.
url() { echo "http://127.0.0.1:$port/cameras/$1/stream.mjpg"; }
for round in $(seq 1 "${BENCH_ROUNDS:-2}"); do
    for n in 1 16; do
        "$bin"/examples/fleet_publisher "$brokers" "$n" 29.97 "fleet$round-$n" \
            >"target/bench-fleet.log" 2>&1 &
        edges+=($!)
        list=""
        for i in $(seq -w 0 $((n - 1))); do
            [ ${#i} -lt 2 ] && i="0$i"
            wait_for "fleet$round-$n-$i"
            list+="${list:+,}$(url "fleet$round-$n-$i")"
        done
        sleep 2
        "$bin"/examples/mjpeg_latency "$list" 4 "$secs"
        stop_edges
    done
done
