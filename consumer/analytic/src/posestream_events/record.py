"""Turns `pose-edge infer --track` JSON lines into keypoint messages (JSON view, version 2).

Used by scripts/record-keypoints.sh to store recorded sequences as test data: each image line
becomes one message of camera ``--camera``, run ``--run``, seq = line number, capture time on a
30 fps clock, its poses with track id 1 (what a version-2 edge gives its one tracked person).
"""

from __future__ import annotations

import argparse
import json
import sys

FRAME_US = 33_333
START_US = 1_764_000_000_000_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--camera", required=True)
    ap.add_argument("--run", type=int, default=1)
    args = ap.parse_args()
    seq = 0
    for line in sys.stdin:
        item = json.loads(line)
        if "summary" in item:
            continue
        if "error" in item:
            print(f"record: {item['image']}: {item['error']}", file=sys.stderr)
            return 1
        view = {
            "schema_version": 2, "camera_id": args.camera, "run": args.run, "seq": seq,
            "capture_ts_us": START_US + seq * FRAME_US, "inference_us": 0,
            "width": item["width"], "height": item["height"], "frame_published": False,
            "poses": [{"track_id": 1, "score": p["score"], "landmarks": p["landmarks"], "world_landmarks": None}
                      for p in item["poses"]],
        }  # fmt: skip
        print(json.dumps(view, separators=(",", ":")))
        seq += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
