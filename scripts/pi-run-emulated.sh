#!/usr/bin/env bash
# One short `pose-edge run` of the aarch64 binary under qemu-aarch64 against the broker at
# $POSESTREAM_BROKERS, camera: `--source rpicam` with the stand-in rpicam-vid
# (edge/tests/bin/rpicam-vid) playing the sample video; `pose-cloud tail` (the x86 build) must
# receive its keypoints (some with a pose) and its JPEG frames. Called by scripts/pi-emulated.sh.
#
#   scripts/pi-run-emulated.sh AARCH64_BINARY EMULATION_ROOT
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$1 emu=$2
brokers=${POSESTREAM_BROKERS:-127.0.0.1:9092}
cloud=${PI_X86_CLOUD:-${CARGO_TARGET_DIR:-$root/target}/debug/pose-cloud}
samples=${POSESTREAM_SAMPLES:-${POSESTREAM_CACHE:-$HOME/.cache/posestream}/samples}
seconds=${PI_RUN_SECONDS:-40}
say() { printf 'pi-emulated: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[[ -x $cloud ]] || fail "$cloud missing (cargo build -p pose-cloud)"

work=$(mktemp -d)
edge= tail_pid=
cleanup() {
    for p in $edge $tail_pid; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cam=pi-emu-$(date +%s)-$$
cat >"$work/edge.toml" <<EOF
camera_id = "$cam"
metrics_addr = "off"
status_interval_s = 5
[kafka]
brokers = "$brokers"
[source]
kind = "rpicam"
rpicam_program = "$root/edge/tests/bin/rpicam-vid"
width = 320
height = 240
fps = 10
[pose]
models_dir = "$root/models"
runtime_lib = "$root/models/aarch64/libLiteRt.so"
EOF

say "run under qemu for ${seconds} s: camera $cam, rpicam stand-in, brokers $brokers"
# Every message from now on, for this camera only (a fresh group reading from the start).
"$cloud" --brokers "$brokers" --group-id "$cam" --offset-reset earliest --status-interval 60 tail \
    >"$work/tail.jsonl" 2>"$work/tail.err" &
tail_pid=$!
RPICAM_STANDIN_VIDEO=$samples/carphone.mp4 RUST_LOG=${RUST_LOG:-info,rdkafka=warn} \
    qemu-aarch64 -cpu cortex-a72 -L "$emu" "$bin" -c "$work/edge.toml" run >"$work/edge.log" 2>&1 &
edge=$!
sleep "$seconds"
kill -TERM "$edge" 2>/dev/null || fail "pose-edge ended early: $(tail -n 5 "$work/edge.log")"
wait "$edge" || { tail -n 20 "$work/edge.log" >&2; fail "pose-edge under qemu exited with an error"; }
edge=
# Let the consumer catch up, then stop it.
for _ in $(seq 1 30); do
    grep -q "\"$cam\"" "$work/tail.jsonl" 2>/dev/null && sleep 3 && break
    sleep 1
done
kill -TERM "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
tail_pid=
python3 - "$work/tail.jsonl" "$cam" <<'PY' || { tail -n 20 "$work/edge.log" >&2; fail "the cloud did not receive enough"; }
import json, sys
path, cam = sys.argv[1], sys.argv[2]
kp = fr = posed = 0
for line in open(path):
    m = json.loads(line)
    if "keypoints" in m and m["keypoints"].get("camera_id") == cam:
        kp += 1
        posed += bool(m["keypoints"].get("poses"))
    elif "frame" in m and m["frame"].get("camera_id") == cam:
        fr += 1
print(f"pi-emulated:   pose-cloud received {kp} keypoint messages ({posed} with a pose) and {fr} "
      f"frames from the emulated edge", file=sys.stderr)
# Emulated inference takes seconds per frame: few keypoint messages, many frames.
assert kp >= 3 and posed >= 1 and fr >= 10, "want at least 3 keypoint messages, 1 pose, 10 frames"
PY
grep -E 'status|started' "$work/edge.log" | tail -n 2 | sed 's/^/  /' >&2 || true
