"""BlazePose topology: the 33 landmark names and the 35 skeleton edges (shared/src/skeleton.rs)."""

from __future__ import annotations

from enum import IntEnum
from typing import Tuple

NUM_LANDMARKS = 33

#: Landmark names, indexed like ``Pose.landmarks``. "Left" and "right" are the person's own sides.
LANDMARK_NAMES: Tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

#: The 35 undirected skeleton edges, as pairs of landmark indices (MediaPipe's POSE_CONNECTIONS).
EDGES: Tuple[Tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip

# The landmark indices by name: ``Landmark.LEFT_HIP == 23``.
LandmarkIndex = IntEnum(  # type: ignore[misc]
    "LandmarkIndex", [(name.upper(), i) for i, name in enumerate(LANDMARK_NAMES)]
)
