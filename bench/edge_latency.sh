#!/usr/bin/env bash
# Does the edge's lag stay flat when inference is slower than the camera?
#
#   bench/edge_latency.sh [MINUTES]        (default 5; `make bench-edge`)
#
# Every instance plays the sample video at its own 29.97 fps (`--source video --loop`), estimates
# poses with one XNNPACK thread and publishes to the local broker. To make inference slower than
# the source on a fast machine, several instances share the CPU; the measured one is instance 0:
#
#   shared-2-cores  5 instances, unpinned, on this machine's 2 cores
#   pinned-1-core   3 instances pinned to CPU 0 (taskset): about a Pi 4 core's budget each
#
# Instance 0 logs one status line a minute (capture and inference fps, capture-to-publish latency
# p50/p99 of that minute, frames dropped because inference was busy); its CPU and RSS are sampled
# each minute. Printed: per-minute rows and the least-squares slope of p50 and p99 (ms/minute).
set -euo pipefail
minutes=${1:-5}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
edge=$repo/target/release/pose-edge
[[ -x $edge ]] || { echo "build first: cargo build --release -p pose-edge" >&2; exit 1; }
samples=$("$repo/scripts/fetch-samples.sh")
out=$repo/target/bench-edge
mkdir -p "$out"

run_case() { # name instances pin
    local name=$1 n=$2 pin=$3 pids=() i
    "$repo/scripts/broker.sh" restart >/dev/null 2>&1
    for ((i = 0; i < n; i++)); do
        local cmd=("$edge" --camera-id "bench-$i" --source video --source-path "$samples/carphone.mp4"
            --loop --threads 1 --metrics-addr off --status-interval 60 run)
        [[ $pin == yes ]] && cmd=(taskset -c 0 "${cmd[@]}")
        RUST_LOG=info "${cmd[@]}" >"$out/$name-$i.log" 2>&1 &
        pids+=($!)
    done
    local pid0=${pids[0]} m
    : >"$out/$name-proc.txt"
    for ((m = 1; m <= minutes; m++)); do
        sleep 60
        # cumulative CPU seconds (utime + stime) and RSS of instance 0
        local ticks rss
        ticks=$(awk '{print $14 + $15}' "/proc/$pid0/stat")
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid0/status")
        echo "$m $ticks $rss" >>"$out/$name-proc.txt"
    done
    sleep 5 # let the last minute's status line be written
    kill -INT "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    python3 - "$name" "$out/$name-0.log" "$out/$name-proc.txt" "$(getconf CLK_TCK)" <<'PY'
import re, sys
name, log, proc, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = []
for line in open(log):
    if " status " not in line or "latency_p50_ms" not in line or "capture_fps" not in line:
        continue
    f = dict(re.findall(r'(\w+)="?([\d.]+)"?', line))
    rows.append(f)
procs = [l.split() for l in open(proc)]
print(f"\n{name}: instance 0, one row per minute")
print(f"{'min':>3} {'capture fps':>11} {'infer fps':>9} {'infer ms':>8} {'p50 ms':>7} {'p99 ms':>7} {'dropped busy':>12} {'CPU %':>6} {'RSS MB':>7}")
prev = 0.0
for i, r in enumerate(rows):
    cpu = rss = float("nan")
    if i < len(procs):
        t = float(procs[i][1]) / hz
        cpu = (t - prev) / 60 * 100
        prev = t
        rss = float(procs[i][2]) / 1024
    print(f"{i+1:>3} {float(r['capture_fps']):>11.1f} {float(r['infer_fps']):>9.1f} {float(r['infer_ms']):>8.1f} "
          f"{float(r['latency_p50_ms']):>7.1f} {float(r['latency_p99_ms']):>7.1f} {int(r['dropped_busy']):>12} {cpu:>6.0f} {rss:>7.1f}")
def slope(ys):
    n = len(ys)
    if n < 2:
        return float("nan")
    xs = range(1, n + 1)
    mx, my = sum(xs) / n, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
p50 = [float(r["latency_p50_ms"]) for r in rows]
p99 = [float(r["latency_p99_ms"]) for r in rows]
print(f"slope: p50 {slope(p50):+.2f} ms/min, p99 {slope(p99):+.2f} ms/min (goal: within ±1)")
PY
}

run_case shared-2-cores 5 no
run_case pinned-1-core 3 yes
echo "logs: $out"
