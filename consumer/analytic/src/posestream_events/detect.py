"""The event logic: presence, falls and squat repetitions from a stream of keypoint messages.

Pure Python, no Kafka: :meth:`EventDetector.feed` takes one decoded message and returns the events
it completes. Time is the edge's capture clock (``capture_ts_us``), so a replay of recorded
messages gives the same events as the live stream. State is per camera and per person
(``(run, track_id)``; a version-1 message's person is its position, 1 for the edge's one person).

* **person_entered**: a person seen in ``enter_frames`` messages with no gap over ``leave_s``.
* **person_left**: an entered person not seen for ``leave_s`` of the camera's capture time (judged
  on the camera's next message: edges send messages with no pose when nobody is seen), or whose
  run ended (the edge restarted).
* **fall_detected**: the hip centre drops at least ``fall_min_drop`` torso lengths within
  ``fall_window_s`` at ``fall_min_speed`` torso lengths per second or faster, and within
  ``fall_confirm_s`` after that the torso lies (tilt from vertical ``lying_tilt_deg`` or more) for
  ``lying_s``. One event per fall: the next needs the person up again.
* **repetition_counted**: a squat is the mean knee angle (hip-knee-ankle) going from
  ``squat_up_deg`` or more to ``squat_down_deg`` or less and back within ``squat_max_s``, with
  the torso not lying (sitting on a chair for longer is not a repetition).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Tuple

from posestream import KeypointMessage

from .geometry import Body

EVENT_VERSION = 1
EVENT_TYPES = ("person_entered", "person_left", "fall_detected", "repetition_counted")


@dataclass(frozen=True)
class DetectorConfig:
    min_score: float = 0.5
    enter_frames: int = 3
    leave_s: float = 1.0
    fall_window_s: float = 1.0
    fall_min_drop: float = 0.8
    fall_min_speed: float = 1.2
    fall_confirm_s: float = 2.0
    lying_tilt_deg: float = 60.0
    lying_s: float = 0.4
    upright_tilt_deg: float = 30.0
    squat_down_deg: float = 100.0
    squat_up_deg: float = 160.0
    squat_max_s: float = 4.0
    history_s: float = 3.0


@dataclass(frozen=True)
class Event:
    """One event; :meth:`to_json` is the value published to ``pose.events`` (WIRE.md)."""

    type: str
    camera_id: str
    run: int
    seq: int
    capture_ts_us: int
    track_id: Optional[int]
    evidence: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        return {
            "event_version": EVENT_VERSION,
            "type": self.type,
            "camera_id": self.camera_id,
            "run": self.run,
            "seq": self.seq,
            "capture_ts_us": self.capture_ts_us,
            "track_id": self.track_id,
            "evidence": self.evidence,
        }


@dataclass
class _Track:
    first_seen_us: int
    last_seen_us: int
    seen: int = 0
    scores: List[float] = field(default_factory=list)
    entered: bool = False
    # (ts_us, hip_y_px, torso_px, tilt_deg)
    history: Deque[Tuple[int, float, float, float]] = field(default_factory=deque)
    fall_candidate: Optional[Dict[str, float]] = None
    fall_candidate_us: int = 0
    lying_since_us: Optional[int] = None
    fallen: bool = False
    upright_since_us: Optional[int] = None
    knees: Deque[float] = field(default_factory=lambda: deque(maxlen=3))
    squat_phase: Optional[str] = None  # None (unknown), "up", "down"
    last_up_us: int = 0
    min_knee: float = 180.0
    last_knee_us: int = 0
    reps: int = 0


@dataclass
class _Camera:
    run: int
    last_ts_us: int
    tracks: Dict[int, _Track] = field(default_factory=dict)


def _r(v: float, digits: int = 2) -> float:
    return round(float(v), digits)


class EventDetector:
    """Feeds on keypoint messages, returns events. One instance serves any number of cameras."""

    def __init__(self, config: Optional[DetectorConfig] = None) -> None:
        self.config = config or DetectorConfig()
        self._cameras: Dict[str, _Camera] = {}
        self.skipped_out_of_order = 0

    def feed(self, msg: KeypointMessage) -> List[Event]:
        cfg = self.config
        ts = msg.capture_ts_us
        events: List[Event] = []

        def emit(kind: str, track_id: Optional[int], evidence: Dict[str, Any]) -> None:
            events.append(Event(kind, msg.camera_id, msg.run, msg.seq, ts, track_id or None, evidence))

        cam = self._cameras.get(msg.camera_id)
        if cam is not None and msg.run != cam.run:
            if msg.run != 0 and cam.run != 0 and ts < cam.last_ts_us:
                self.skipped_out_of_order += 1  # a message of an ended run
                return events
            for tid, t in cam.tracks.items():
                if t.entered:
                    events.append(
                        Event("person_left", msg.camera_id, cam.run, msg.seq, ts, tid or None,
                              {"reason": "run_ended", "visible_s": _r((t.last_seen_us - t.first_seen_us) / 1e6)})
                    )  # fmt: skip
            cam = None
        if cam is None:
            cam = self._cameras[msg.camera_id] = _Camera(msg.run, ts)
        if ts < cam.last_ts_us:
            self.skipped_out_of_order += 1
            return events
        cam.last_ts_us = ts

        seen = set()
        for i, pose in enumerate(msg.poses):
            if pose.score < cfg.min_score:
                continue
            tid = pose.track_id if pose.track_id != 0 else i + 1
            seen.add(tid)
            t = cam.tracks.get(tid)
            if t is None or (ts - t.last_seen_us) / 1e6 > cfg.leave_s and not t.entered:
                t = cam.tracks[tid] = _Track(first_seen_us=ts, last_seen_us=ts)
            t.last_seen_us = ts
            t.seen += 1
            t.scores.append(pose.score)
            del t.scores[:-30]
            if not t.entered and t.seen >= cfg.enter_frames:
                t.entered = True
                emit("person_entered", tid, {"frames": t.seen, "score": _r(statistics.fmean(t.scores), 3),
                                             "first_seen_us": t.first_seen_us})  # fmt: skip
            body = Body(pose, msg.width, msg.height)
            self._fall(t, tid, body, ts, emit)
            self._squat(t, tid, body, ts, emit)

        for tid in [k for k in cam.tracks if k not in seen]:
            t = cam.tracks[tid]
            if (ts - t.last_seen_us) / 1e6 >= cfg.leave_s:
                if t.entered:
                    emit("person_left", tid, {"reason": "not_seen", "unseen_s": _r((ts - t.last_seen_us) / 1e6),
                                              "visible_s": _r((t.last_seen_us - t.first_seen_us) / 1e6)})  # fmt: skip
                del cam.tracks[tid]
        return events

    def _fall(self, t: _Track, tid: int, body: Body, ts: int, emit: Any) -> None:
        cfg = self.config
        if body.hip is None or body.torso_px is None or body.torso_tilt_deg is None or body.torso_px <= 0:
            return
        tilt = body.torso_tilt_deg
        t.history.append((ts, body.hip[1], body.torso_px, tilt))
        while t.history and (ts - t.history[0][0]) / 1e6 > cfg.history_s:
            t.history.popleft()
        if t.fallen:
            # Up again (upright for a second) before the next fall can count.
            if tilt < cfg.upright_tilt_deg:
                t.upright_since_us = t.upright_since_us or ts
                if (ts - t.upright_since_us) / 1e6 >= 1.0:
                    t.fallen = False
            else:
                t.upright_since_us = None
            return
        upright = [h[2] for h in t.history if h[3] < cfg.upright_tilt_deg]
        scale = max(upright) if upright else max(h[2] for h in t.history)
        if t.fall_candidate is None:
            window = [h for h in t.history if (ts - h[0]) / 1e6 <= cfg.fall_window_s]
            top = min(window, key=lambda h: h[1])
            dt = (ts - top[0]) / 1e6
            drop = (body.hip[1] - top[1]) / scale
            if dt > 0 and drop >= cfg.fall_min_drop and drop / dt >= cfg.fall_min_speed:
                t.fall_candidate = {
                    "drop_torso_lengths": _r(drop),
                    "drop_speed_torso_per_s": _r(drop / dt),
                    "drop_px": _r(body.hip[1] - top[1], 1),
                    "drop_s": _r(dt),
                    "torso_px": _r(scale, 1),
                }
                t.fall_candidate_us = ts
        else:
            # A faster or deeper drop while the fall goes on updates the evidence.
            window = [h for h in t.history if h[0] < t.fall_candidate_us and (t.fall_candidate_us - h[0]) / 1e6 <= cfg.fall_window_s]
            if window:
                top = min(window, key=lambda h: h[1])
                drop = (body.hip[1] - top[1]) / scale
                if drop > t.fall_candidate["drop_torso_lengths"]:
                    t.fall_candidate["drop_torso_lengths"] = _r(drop)
                    t.fall_candidate["drop_px"] = _r(body.hip[1] - top[1], 1)
        if t.fall_candidate is None:
            return
        if (ts - t.fall_candidate_us) / 1e6 > cfg.fall_confirm_s + cfg.lying_s:
            t.fall_candidate = None
            t.lying_since_us = None
            return
        if tilt >= cfg.lying_tilt_deg:
            t.lying_since_us = t.lying_since_us or ts
            if (ts - t.lying_since_us) / 1e6 >= cfg.lying_s:
                emit("fall_detected", tid, {**t.fall_candidate, "torso_tilt_deg": _r(tilt, 1),
                                            "lying_s": _r((ts - t.lying_since_us) / 1e6)})  # fmt: skip
                t.fall_candidate = None
                t.lying_since_us = None
                t.fallen = True
                t.upright_since_us = None
        else:
            t.lying_since_us = None

    def _squat(self, t: _Track, tid: int, body: Body, ts: int, emit: Any) -> None:
        cfg = self.config
        lying = body.torso_tilt_deg is not None and body.torso_tilt_deg >= cfg.lying_tilt_deg
        if body.knee_deg is None or lying:
            if (ts - t.last_knee_us) / 1e6 > 1.0 or lying:
                t.squat_phase = None
                t.knees.clear()
            return
        t.last_knee_us = ts
        t.knees.append(body.knee_deg)
        knee = statistics.median(t.knees)
        if knee >= cfg.squat_up_deg:
            if t.squat_phase == "down":
                t.reps += 1
                emit("repetition_counted", tid, {"exercise": "squat", "count": t.reps, "min_knee_deg": _r(t.min_knee, 1),
                                                 "knee_deg": _r(knee, 1), "duration_s": _r((ts - t.last_up_us) / 1e6)})  # fmt: skip
            t.squat_phase = "up"
            t.last_up_us = ts
        elif knee <= cfg.squat_down_deg and t.squat_phase == "up":
            t.squat_phase = "down"
            t.min_knee = knee
        elif t.squat_phase == "down":
            t.min_knee = min(t.min_knee, knee)
        if t.squat_phase == "down" and (ts - t.last_up_us) / 1e6 > cfg.squat_max_s:
            t.squat_phase = None  # down too long: sitting, not a squat; the next rep starts standing
