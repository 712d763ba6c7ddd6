#!/usr/bin/env bash
# Soak: CAMERAS simulated cameras (pose-edge on the sample video, 30 fps, one process each) through
# one pose-cloud for SECONDS, with the local broker. One MJPEG viewer per camera measures the
# end-to-end latency; every INTERVAL seconds a row gives parts received, latency p50/p99 and the
# RSS of the edges (largest) and of the cloud; the end gives the slope of latency over time.
#
#   bench/soak.sh                      8 cameras, 600 s, rows per 60 s, no pose estimation
#   bench/soak.sh 2 60 10              the CI version (make test): 2 cameras, 1 minute, 10 s rows
#   SOAK_POSE=1 bench/soak.sh 2 600    with real pose estimation on every edge
# Output: the table on stdout and in target/soak/report.md; logs in target/soak/.
set -euo pipefail
cameras=${1:-8}
seconds=${2:-600}
interval=${3:-60}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
out=$repo/target/soak
mkdir -p "$out"
cargo build --release -q -p pose-edge -p pose-cloud --bins --example soak_probe
samples=$(scripts/fetch-samples.sh)
# An Apache Kafka broker of its own (scripts/broker.sh), started empty, with the deployment's
# topics: 4 partitions, frames kept 6 h, keypoints 7 days.
port=19293
export POSESTREAM_BROKER_PORT=$port POSESTREAM_BROKER_DIR=$out/broker POSESTREAM_CARGO_PROFILE=release
scripts/broker.sh wipe >/dev/null 2>&1
scripts/broker.sh start >/dev/null 2>&1
http=18093
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/broker.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$target/release/pose-cloud" --brokers "127.0.0.1:$port" --http-addr "127.0.0.1:$http" \
    --group-id "soak-$$" --status-interval 60 run >"$out/cloud.log" 2>&1 &
cloud=$!
pids+=("$cloud")
pose=(--no-pose)
[ "${SOAK_POSE:-0}" = 1 ] && pose=(--threads 1)
names=()
edges=()
for i in $(seq 1 "$cameras"); do
    name=soak-cam-$i
    names+=("$name")
    "$target/release/pose-edge" --camera-id "$name" --brokers "127.0.0.1:$port" \
        --source video --source-path "$samples/carphone.mp4" --loop "${pose[@]}" \
        --metrics-addr off --status-interval 60 run >"$out/edge-$i.log" 2>&1 &
    edges+=("$!")
    pids+=("$!")
done
cams=$(IFS=,; echo "${names[*]}")
echo "soak: $cameras camera(s) x 30 fps for ${seconds}s, rows every ${interval}s, pose ${SOAK_POSE:-0}" >&2
{
    echo "soak: $cameras camera(s) x 30 fps, ${seconds}s, $(date -u +%FT%TZ), $(nproc) cores"
    echo
    "$target/release/examples/soak_probe" "http://127.0.0.1:$http" "127.0.0.1:$port" "$cams" \
        "$seconds" "$interval" "$(cat "$out/broker/node1/kafka.pid")" "$cloud" "${edges[@]}"
} | tee "$out/report.md"
status=${PIPESTATUS[0]}
for p in "$cloud" "${edges[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "soak: process $p died; see $out/*.log" >&2; exit 1; }
done
exit "$status"
