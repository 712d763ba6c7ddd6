#!/usr/bin/env python3
"""Reference output: MediaPipe's legacy Pose solution on the same images as `pose-edge infer`.

    mediapipe_pose.py [--track] [--complexity 0|1|2] IMAGE...

Prints one JSON line per image in the format of `pose-edge infer` ({"image", "width", "height",
"poses": [{"score", "landmarks": [[x, y, z, visibility, presence], ...]}]}), then with --track a
summary line {"summary": {"frames", "seconds", "fps"}}. Without --track each image is independent
(static_image_mode=True); with it the images are consecutive video frames (tracking and
smoothing, as pose-edge --track). --complexity picks the landmark model: 0 lite, 1 full (the
default), 2 heavy (scripts/mediapipe-venv.sh puts the pinned lite and heavy files where MediaPipe
looks for them).
MediaPipe's Python API clears `presence`; it is reported as null. "score" is null too: the legacy
API does not expose the pose flag.
"""

import json
import sys
import time

import cv2
import mediapipe as mp


def main(argv):
    track = "--track" in argv
    argv = [a for a in argv if a != "--track"]
    complexity = 1
    if "--complexity" in argv:
        i = argv.index("--complexity")
        complexity = int(argv[i + 1])
        del argv[i : i + 2]
    images = argv
    if not images:
        print(__doc__, file=sys.stderr)
        return 2
    pose = mp.solutions.pose.Pose(
        static_image_mode=not track,
        model_complexity=complexity,
        smooth_landmarks=True,
        enable_segmentation=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    spent = 0.0
    frames = 0
    for path in images:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(json.dumps({"image": path, "error": "cannot read image"}), flush=True)
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        start = time.perf_counter()
        result = pose.process(rgb)
        spent += time.perf_counter() - start
        frames += 1
        poses = []
        if result.pose_landmarks is not None:
            lms = [[lm.x, lm.y, lm.z, lm.visibility, None] for lm in result.pose_landmarks.landmark]
            poses.append({"score": None, "landmarks": lms})
        print(json.dumps({"image": path, "width": w, "height": h, "poses": poses}))
    if track:
        fps = frames / spent if spent > 0 else 0.0
        print(json.dumps({"summary": {"frames": frames, "seconds": spent, "fps": fps}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
