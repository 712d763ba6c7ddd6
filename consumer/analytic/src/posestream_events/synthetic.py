"""Synthetic keypoint sequences with known events: squats, falls and their look-alikes.

A side-view stick figure (the person faces the image's right) is posed per frame from a hip
centre, a tilt of the whole body, a knee angle and a torso lean, with Gaussian pixel noise, at
30 fps. Each sequence carries the events a person would count in it (``expected``), so the
detector's tests and ``python -m posestream_events.evaluate`` measure it on the same data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from posestream import KeypointMessage, Landmark, Pose

FPS = 30
FRAME_US = 1_000_000 // FPS
WIDTH, HEIGHT = 640, 480
START_US = 1_764_000_000_000_000


@dataclass(frozen=True)
class Figure:
    """One frame's body: hip centre (px), whole-body tilt (deg, + falls toward the image's right),
    knee angle (deg, 180 straight), torso lean from the hips (deg), torso length (px)."""

    hip_x: float
    hip_y: float
    tilt: float = 0.0
    knee: float = 180.0
    lean: float = 0.0
    torso: float = 80.0


@dataclass
class Sequence:
    name: str
    description: str
    messages: List[KeypointMessage]
    expected: Dict[str, int]
    #: A case the detector is known to get wrong (documented; its test checks it still does).
    known_limit: bool = False


def _rot(p: Tuple[float, float], deg: float) -> Tuple[float, float]:
    a = math.radians(deg)
    x, y = p
    return (x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a))


def landmarks(f: Figure, rng: random.Random, noise_px: float = 1.5) -> Tuple[Landmark, ...]:
    t = f.torso
    phi = (180.0 - f.knee) / 2.0
    sp, cp = math.sin(math.radians(phi)), math.cos(math.radians(phi))
    leg = 0.95 * t
    # Local frame: origin the hip centre, x forward (image right), y up.
    up = lambda x, y: _rot((x, y), f.lean)  # noqa: E731  (torso, head, arms lean forward)
    sh = up(0.0, t)
    pts: Dict[int, Tuple[float, float]] = {}
    head = up(0.12 * t, 1.35 * t)
    for i, (dx, dy) in enumerate([(0.1, 0), (0.06, 0.06), (0.05, 0.07), (0.04, 0.07), (0.06, 0.06), (0.05, 0.07), (0.04, 0.07),
                                  (-0.1, 0.04), (-0.1, 0.04), (0.07, -0.1), (0.07, -0.1)]):  # fmt: skip
        pts[i] = (head[0] + dx * t, head[1] + dy * t)
    for side, off in ((0, 2.0), (1, -2.0)):  # left (0) and right (1): a few px apart in a side view
        pts[11 + side] = (sh[0] + off, sh[1])
        elbow = up(0.25 * t, 0.55 * t)
        wrist = up(0.45 * t, 0.35 * t)
        pts[13 + side] = (elbow[0] + off, elbow[1])
        pts[15 + side] = (wrist[0] + off, wrist[1])
        for k, d in ((17, (0.08, -0.04)), (19, (0.1, -0.02)), (21, (0.06, 0.0))):
            pts[k + side] = (wrist[0] + d[0] * t + off, wrist[1] + d[1] * t)
        pts[23 + side] = (off, 0.0)
        knee = (leg * sp + off, -leg * cp)
        ankle = (knee[0] - leg * sp, knee[1] - leg * cp)
        pts[25 + side] = knee
        pts[27 + side] = ankle
        pts[29 + side] = (ankle[0] - 0.12 * t, ankle[1] - 0.08 * t)
        pts[31 + side] = (ankle[0] + 0.25 * t, ankle[1] - 0.1 * t)
    out = []
    for i in range(33):
        x, y = _rot(pts[i], f.tilt)
        px = f.hip_x + x + rng.gauss(0, noise_px)
        py = f.hip_y - y + rng.gauss(0, noise_px)
        out.append(Landmark(px / WIDTH, py / HEIGHT, 0.0, 0.98, 0.99))
    return tuple(out)


def leg_height(f: Figure) -> float:
    """Hip height above the ankles for the figure's knee angle (px)."""
    return 2 * 0.95 * f.torso * math.cos(math.radians((180.0 - f.knee) / 2.0))


class Builder:
    def __init__(self, camera: str, seed: int, run: int = 7) -> None:
        self.camera = camera
        self.run = run
        self.rng = random.Random(seed)
        self.messages: List[KeypointMessage] = []

    def _add(self, figure: Optional[Figure]) -> None:
        seq = len(self.messages)
        poses: Tuple[Pose, ...] = ()
        if figure is not None:
            poses = (Pose(track_id=1, score=0.95, landmarks=landmarks(figure, self.rng)),)
        self.messages.append(
            KeypointMessage(2, self.camera, self.run, seq, START_US + seq * FRAME_US, 30_000, WIDTH, HEIGHT, False, poses)
        )

    def empty(self, seconds: float) -> "Builder":
        for _ in range(round(seconds * FPS)):
            self._add(None)
        return self

    def hold(self, figure: Figure, seconds: float) -> "Builder":
        for _ in range(round(seconds * FPS)):
            self._add(figure)
        return self

    def move(self, seconds: float, at: Callable[[float], Figure]) -> "Builder":
        n = max(1, round(seconds * FPS))
        for i in range(1, n + 1):
            self._add(at(i / n))
        return self


def _ease(u: float) -> float:
    return (1 - math.cos(math.pi * u)) / 2


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


GROUND = 452.0


def standing(torso: float = 80.0, x: float = 320.0) -> Figure:
    f = Figure(x, 0.0, torso=torso)
    return Figure(x, GROUND - leg_height(f), torso=torso)


def squat_at(u: float, min_knee: float, torso: float, x: float = 320.0) -> Figure:
    """One repetition at phase u (0..1): down and up, ankles on the ground, torso leaning."""
    k = 180.0 - (180.0 - min_knee) * (1 - math.cos(2 * math.pi * u)) / 2
    f = Figure(x, 0.0, knee=k, lean=0.6 * (180.0 - k) / 2, torso=torso)
    return Figure(x, GROUND - leg_height(f), knee=k, lean=f.lean, torso=torso)


def squats(name: str, seed: int, reps: int, period: float, min_knee: float, torso: float = 80.0) -> Sequence:
    b = Builder(name, seed).empty(1.0).hold(standing(torso), 1.0)
    for _ in range(reps):
        b.move(period, lambda u: squat_at(u, min_knee, torso))
    b.hold(standing(torso), 1.0).empty(1.5)
    deep = min_knee <= 100
    return Sequence(name, f"{reps} squats of {period} s to a {min_knee:.0f} deg knee", b.messages,
                    {"person_entered": 1, "person_left": 1, "fall_detected": 0, "repetition_counted": reps if deep else 0})  # fmt: skip


def fall(name: str, seed: int, seconds: float, direction: float, torso: float, get_up: bool) -> Sequence:
    start = standing(torso)
    floor = GROUND - 0.2 * torso
    b = Builder(name, seed).empty(0.5).hold(start, 2.0)
    b.move(seconds, lambda u: Figure(start.hip_x + direction * 0.6 * torso * _ease(u), _lerp(start.hip_y, floor, _ease(u) ** 1.5),
                                     tilt=direction * 88 * _ease(u), knee=_lerp(180, 150, math.sin(math.pi * u)), torso=torso))  # fmt: skip
    lying = Figure(start.hip_x + direction * 0.6 * torso, floor, tilt=direction * 88, torso=torso)
    b.hold(lying, 3.0)
    if get_up:
        b.move(3.0, lambda u: Figure(_lerp(lying.hip_x, start.hip_x, u), _lerp(floor, start.hip_y, u), tilt=_lerp(lying.tilt, 0, u),
                                     torso=torso))  # fmt: skip
        b.hold(start, 2.0)
    return Sequence(name, f"a fall in {seconds} s, then lying{' and getting up' if get_up else ''}", b.messages,
                    {"person_entered": 1, "person_left": 0, "fall_detected": 1, "repetition_counted": 0})  # fmt: skip


def sit_down(seed: int) -> Sequence:
    s = standing()
    seated = Figure(s.hip_x, GROUND - 0.55 * 2 * 0.95 * 80, knee=90, lean=10)
    b = Builder("synthetic-sit", seed).empty(0.5).hold(s, 2.0)
    b.move(1.0, lambda u: Figure(s.hip_x, _lerp(s.hip_y, seated.hip_y, _ease(u)), knee=_lerp(180, 90, _ease(u)), lean=10 * u))
    b.hold(seated, 5.0)
    b.move(1.2, lambda u: Figure(s.hip_x, _lerp(seated.hip_y, s.hip_y, _ease(u)), knee=_lerp(90, 180, _ease(u)), lean=10 * (1 - u)))
    b.hold(s, 1.5)
    return Sequence("synthetic-sit", "sitting down on a chair for 5 s and standing up", b.messages,
                    {"person_entered": 1, "person_left": 0, "fall_detected": 0, "repetition_counted": 0})  # fmt: skip


def lie_down(seed: int) -> Sequence:
    s = standing()
    floor = GROUND - 16
    b = Builder("synthetic-lie-down", seed).empty(0.5).hold(s, 2.0)
    b.move(4.0, lambda u: Figure(s.hip_x + 40 * u, _lerp(s.hip_y, floor, u), tilt=85 * u, knee=_lerp(180, 120, math.sin(math.pi * u))))
    b.hold(Figure(s.hip_x + 40, floor, tilt=85), 3.0)
    return Sequence("synthetic-lie-down", "lying down slowly (4 s) and staying down", b.messages,
                    {"person_entered": 1, "person_left": 0, "fall_detected": 0, "repetition_counted": 0})  # fmt: skip


def bend(seed: int) -> Sequence:
    s = standing()
    b = Builder("synthetic-bend", seed).empty(0.5).hold(s, 1.5)
    for _ in range(3):
        b.move(1.6, lambda u: Figure(s.hip_x, s.hip_y + 0.1 * 80 * math.sin(math.pi * u), lean=85 * math.sin(math.pi * u), knee=170))
    b.hold(s, 1.0)
    return Sequence("synthetic-bend", "bending over to pick something up, 3 times (fast)", b.messages,
                    {"person_entered": 1, "person_left": 0, "fall_detected": 0, "repetition_counted": 0})  # fmt: skip


def walk_in_out(seed: int) -> Sequence:
    b = Builder("synthetic-walk", seed)
    for _ in range(2):
        b.empty(1.0).move(2.5, lambda u: standing(x=_lerp(60, 580, u))).empty(1.5)
    return Sequence("synthetic-walk", "walking through the view twice", b.messages,
                    {"person_entered": 2, "person_left": 2, "fall_detected": 0, "repetition_counted": 0})  # fmt: skip


def _limit(s: Sequence) -> Sequence:
    s.known_limit = True
    s.description += " (a slow collapse: below the drop speed, missed)"
    return s


def all_sequences() -> List[Sequence]:
    return [
        squats("synthetic-squats", 1, reps=10, period=2.4, min_knee=85),
        squats("synthetic-squats-fast", 2, reps=8, period=1.2, min_knee=70, torso=55),
        squats("synthetic-squats-shallow", 3, reps=5, period=2.0, min_knee=130),
        fall("synthetic-fall", 4, seconds=0.7, direction=1, torso=80, get_up=False),
        fall("synthetic-fall-small", 5, seconds=0.5, direction=-1, torso=50, get_up=True),
        fall("synthetic-fall-slow", 6, seconds=1.1, direction=1, torso=70, get_up=True),
        _limit(fall("synthetic-fall-collapse", 11, seconds=2.5, direction=1, torso=80, get_up=False)),
        sit_down(7),
        lie_down(8),
        bend(9),
        walk_in_out(10),
    ]
