#!/usr/bin/env bash
# The Python consumer kit's cost per keypoint message: decoding (posestream.decode) against the
# baseline of shared/python/posestream_wire.py (the standard-library decoder), and the event
# analytic's detector, on the 3 972 synthetic messages (none or one pose) of posestream_events.synthetic
# (encoded as version 1, which both decoders read). Median of 5 rounds; prints µs per message
# and the ratio to the baseline.
#
#   bench/consumer_python.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=$("$repo/scripts/consumer-venv.sh")
PYTHONPATH="$repo/shared/python" "$py" - <<'PY'
import statistics, time
import posestream_wire as baseline
from posestream import KeypointMessage, decode, encode
from posestream_events.detect import EventDetector
from posestream_events.synthetic import all_sequences

msgs = [KeypointMessage(**{**m.__dict__, "schema_version": 1, "run": 0}) for s in all_sequences() for m in s.messages]
raw = [encode(m) for m in msgs]

def per_msg(fn):
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        fn()
        rounds.append((time.perf_counter() - t) / len(raw) * 1e6)
    return statistics.median(rounds)

base = per_msg(lambda: [baseline.decode_keypoints(r) for r in raw])
kit = per_msg(lambda: [decode(r) for r in raw])
def detect():
    d = EventDetector()
    for m in msgs:
        d.feed(m)
det = per_msg(detect)
print(f"messages {len(raw)} (none or one pose each, {max(map(len, raw))} bytes at most)")
print(f"baseline stdlib decoder   {base:6.1f} us/message")
print(f"posestream.decode         {kit:6.1f} us/message  ratio {kit / base:.2f}")
print(f"EventDetector.feed        {det:6.1f} us/message")
print(f"decode + detect at 30 fps: {(kit + det) * 30 / 1e4:.2f} % of a core per camera")
PY
