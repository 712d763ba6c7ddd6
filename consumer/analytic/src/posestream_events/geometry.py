"""Body measurements from one pose, in pixels of the source image (so angles are true angles)."""

from __future__ import annotations

import math
from typing import Optional, Tuple

from posestream import LandmarkIndex as L
from posestream import Pose

Point = Tuple[float, float]

#: Below this visibility a landmark is not used for a measurement.
MIN_VISIBILITY = 0.5


def point(pose: Pose, index: int, width: int, height: int) -> Optional[Point]:
    lm = pose.landmarks[index]
    if lm.visibility < MIN_VISIBILITY or lm.presence < MIN_VISIBILITY:
        return None
    return (lm.x * width, lm.y * height)


def midpoint(a: Optional[Point], b: Optional[Point]) -> Optional[Point]:
    if a is None or b is None:
        return None
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def angle_at(a: Point, b: Point, c: Point) -> Optional[float]:
    """The angle ABC in degrees (180 = straight)."""
    v1 = (a[0] - b[0], a[1] - b[1])
    v2 = (c[0] - b[0], c[1] - b[1])
    n = math.hypot(*v1) * math.hypot(*v2)
    if n == 0:
        return None
    cos = max(-1.0, min(1.0, (v1[0] * v2[0] + v1[1] * v2[1]) / n))
    return math.degrees(math.acos(cos))


class Body:
    """What the detectors need from one pose: hip centre, torso length and tilt, knee angle."""

    __slots__ = ("hip", "shoulder", "torso_px", "torso_tilt_deg", "knee_deg")

    def __init__(self, pose: Pose, width: int, height: int) -> None:
        p = lambda i: point(pose, i, width, height)  # noqa: E731
        self.hip = midpoint(p(L.LEFT_HIP), p(L.RIGHT_HIP))
        self.shoulder = midpoint(p(L.LEFT_SHOULDER), p(L.RIGHT_SHOULDER))
        self.torso_px: Optional[float] = None
        self.torso_tilt_deg: Optional[float] = None
        if self.hip is not None and self.shoulder is not None:
            self.torso_px = distance(self.hip, self.shoulder)
            dx = self.shoulder[0] - self.hip[0]
            dy = self.hip[1] - self.shoulder[1]  # up is positive
            # 0 upright, 90 lying, 180 upside down.
            self.torso_tilt_deg = math.degrees(math.atan2(abs(dx), dy)) if self.torso_px > 0 else None
        knees = []
        for hip, knee, ankle in ((L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE), (L.RIGHT_HIP, L.RIGHT_KNEE, L.RIGHT_ANKLE)):
            a, b, c = p(hip), p(knee), p(ankle)
            if a is not None and b is not None and c is not None:
                ang = angle_at(a, b, c)
                if ang is not None:
                    knees.append(ang)
        self.knee_deg: Optional[float] = sum(knees) / len(knees) if knees else None
