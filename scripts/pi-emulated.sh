#!/usr/bin/env bash
# The Pi artifact under emulation (part of `make test`): unpacks dist/pose-edge_*_arm64.deb and
# runs its binary with qemu-aarch64 in a Debian 13 (trixie) arm64 root (libcamera 0.4's runtime
# closure, trixie's libc and libstdc++: scripts/pi-toolchain.sh), with the aarch64 libLiteRt.so
# (models/fetch.sh --arch aarch64) and the same models as the x86 build:
#
#   1. `pose-edge --help`, `pose-edge sources` (libcamera must enumerate: "no cameras" is fine),
#      `pose-edge --check-config` on the packaged example config (loads LiteRT and both models);
#   2. `pose-edge infer --track` on the first $PI_FRAMES frames of the sample video, on aarch64
#      and on x86 (the host build of the same source): the same poses found, and the landmarks
#      within the bounds below; the max differences are printed;
#   3. with --run: one short `pose-edge run` under emulation (video source, paced) against the
#      broker at $POSESTREAM_BROKERS, and a pose-cloud that must receive its keypoints and frames.
#
#   scripts/pi-emulated.sh [--run] [DEB]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
frames=${PI_FRAMES:-24}
# Bounds, with landmark coordinates normalised to the image: x, y of the visible landmarks within
# PI_MAX_DIFF = 2e-3 (0.2 % of the side, about 1 px at 640 px); x, y of all 33 within 5x that; z
# (relative depth, the least stable output) within 50x; visibility within 5x. x86 (AVX) and
# aarch64 (NEON) XNNPACK kernels round differently (1.6e-4 on the first frame here) and tracking
# feeds each frame's landmarks into the next crop, so differences grow along the clip. Measured
# on the 24 carphone frames: 1.2e-3, 5.7e-3, 7.4e-2, 1.5e-3.
max_diff=${PI_MAX_DIFF:-0.002}
say() { printf 'pi-emulated: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

run=0
[[ ${1:-} != --run ]] || { run=1; shift; }
deb=${1:-$(ls -t "$root"/dist/pose-edge_*_arm64.deb 2>/dev/null | head -n 1)}
[[ -f $deb ]] || fail "no artifact: run \`make pi\` first"

sysroot=$("$root/scripts/pi-toolchain.sh")
emu=$sysroot/emu
"$root/models/fetch.sh" --arch aarch64 2>/dev/null || fail "models/fetch.sh --arch aarch64"
"$root/models/fetch.sh" --check 2>/dev/null || fail "models missing: models/fetch.sh"
samples=${POSESTREAM_SAMPLES:-$cache/samples}
[[ -d $samples/carphone ]] || fail "sample frames missing: scripts/fetch-samples.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/pkg"
bin=$work/pkg/usr/bin/pose-edge
file -b "$bin" | grep -q 'ARM aarch64' || fail "$bin is not an aarch64 binary"
# The binary runs with the Pi's root (trixie) as /; the models are given by path. The CPU is the
# Pi 4's Cortex-A72: qemu's default ("max", with SVE) makes XNNPACK pick SVE kernels whose
# emulation is about 15 times slower (222 s against 14 s for 3 frames here).
pi() {
    qemu-aarch64 -cpu cortex-a72 -L "$emu" "$bin" --models-dir "$root/models" \
        --litert-lib "$root/models/aarch64/libLiteRt.so" --metrics-addr off "$@"
}

say "--help"
pi --help >"$work/help" || fail "--help exited $?"
grep -q '^Usage: pose-edge' "$work/help" || fail "--help printed no usage"

say "sources"
pi sources >"$work/sources" 2>"$work/sources.err" || { cat "$work/sources.err" >&2; fail "sources"; }
sed 's/^/  /' "$work/sources" >&2
grep -Eq '^libcamera +(no cameras|camera [0-9])' "$work/sources" ||
    fail "libcamera did not enumerate (see above)"

say "--check-config (the packaged example config)"
pi --check-config -c "$work/pkg/usr/share/doc/pose-edge/pose-edge.example.toml" \
    >"$work/check" 2>"$work/check.err" || { tail -n 5 "$work/check.err" >&2; fail "--check-config"; }
grep -q '^# ok: ' "$work/check" || fail "--check-config printed no ok line"

mapfile -t images < <(find "$samples/carphone" -name '*.png' | sort | head -n "$frames")
((${#images[@]} == frames)) || fail "fewer than $frames sample frames"
say "infer --track, ${#images[@]} frames, aarch64 (qemu) and x86"
start=$(date +%s)
pi infer --track "${images[@]}" >"$work/arm.jsonl" 2>"$work/arm.err" ||
    { tail -n 5 "$work/arm.err" >&2; fail "infer under qemu"; }
say "  aarch64 under qemu: $(($(date +%s) - start)) s"
x86=${PI_X86_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/pose-edge}
[[ -x $x86 ]] || fail "the x86 build $x86 is missing (cargo build -p pose-edge)"
"$x86" --models-dir "$root/models" --metrics-addr off infer --track "${images[@]}" \
    >"$work/x86.jsonl" 2>/dev/null || fail "infer on x86"
python3 - "$work/x86.jsonl" "$work/arm.jsonl" "$max_diff" <<'PY'
import json, sys
x86, arm, bound = sys.argv[1], sys.argv[2], float(sys.argv[3])
def load(p):
    return [l for l in map(json.loads, open(p)) if "image" in l]
a, b = load(x86), load(arm)
assert len(a) == len(b) and a, f"{len(a)} x86 lines, {len(b)} aarch64 lines"
# Worst |x86 - aarch64| of: x, y of the landmarks visible on x86 (visibility > 0.5); x, y of all
# 33 (the body below the picture is guessed, and less stable); z (relative depth); visibility.
worst = {"xy_visible": 0.0, "xy_all": 0.0, "z": 0.0, "visibility": 0.0}
first, with_pose = 0.0, 0
for n, (la, lb) in enumerate(zip(a, b)):
    pa, pb = la.get("poses", []), lb.get("poses", [])
    assert len(pa) == len(pb), f"{la['image']}: {len(pa)} poses on x86, {len(pb)} on aarch64"
    for qa, qb in zip(pa, pb):
        with_pose += 1
        for ma, mb in zip(qa["landmarks"], qb["landmarks"]):
            xy = max(abs(ma[0] - mb[0]), abs(ma[1] - mb[1]))
            if ma[3] > 0.5:
                worst["xy_visible"] = max(worst["xy_visible"], xy)
            if n == 0:
                first = max(first, xy)
            worst["xy_all"] = max(worst["xy_all"], xy)
            worst["z"] = max(worst["z"], abs(ma[2] - mb[2]))
            worst["visibility"] = max(worst["visibility"], abs(ma[3] - mb[3]))
print(f"pi-emulated:   {len(a)} frames, {with_pose} with a pose on both; max |x86 - aarch64|: "
      + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
      + f"; first frame (no tracking yet) x, y {first:.2e}", file=sys.stderr)
assert with_pose > 0, "no pose found: the comparison would be empty"
bounds = {"xy_visible": bound, "xy_all": 5 * bound, "z": 50 * bound, "visibility": 5 * bound}
for k, v in worst.items():
    assert v <= bounds[k], f"{k} differs by {v:.2e} > {bounds[k]:g}"
PY

if ((run)); then
    "$root/scripts/pi-run-emulated.sh" "$bin" "$emu"
fi
say "ok"
