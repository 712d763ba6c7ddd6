"""Keypoint messages (the value of ``pose.keypoints``): typed decoding and encoding, versions 1 and 2.

The layout is shared/WIRE.md's. Decoding checks in the order the Rust decoder does, so that the
same bad bytes give the same ``DecodeError.reason``: size and version first, then the layout
(``truncated``, ``too_large``, ``malformed``), then leftover bytes, then the field rules
(``camera_id_*``, ``malformed`` for a zero run id, ``too_many_poses``, ``non_finite``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import DecodeError
from .skeleton import NUM_LANDMARKS

#: The versions this package reads; the edge writes the highest.
SUPPORTED_VERSIONS = (1, 2)
LATEST_VERSION = 2
MAX_POSES = 16
MAX_MESSAGE_BYTES = 16 * 1024
MAX_CAMERA_ID_LEN = 64
FLAG_FRAME_PUBLISHED = 0x01

_CAMERA_ID_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")
_LANDMARKS = struct.Struct("<" + "fffBB" * NUM_LANDMARKS)  # 33 x 14 bytes
_WORLD = struct.Struct("<" + "fff" * NUM_LANDMARKS)  # 33 x 12 bytes
_V1_HEADER = struct.Struct("<QQIIIB")  # seq, capture_ts_us, inference_us, width, height, flags
_V2_HEADER = struct.Struct("<QQQIIIB")  # run, then the same


@dataclass(frozen=True)
class Landmark:
    """One landmark: ``x``, ``y`` normalized to the image (0..1 inside it), ``z`` depth relative
    to the hips on the scale of ``x`` (smaller is closer), ``visibility`` and ``presence``
    probabilities (1/255 steps)."""

    x: float
    y: float
    z: float
    visibility: float
    presence: float

    def as_list(self) -> List[float]:
        return [self.x, self.y, self.z, self.visibility, self.presence]


@dataclass(frozen=True)
class WorldLandmark:
    """A landmark in metres, origin at the hips' midpoint, x right, y down, z away (version 2)."""

    x: float
    y: float
    z: float


@dataclass(frozen=True)
class Pose:
    """One person: ``track_id`` (same id, same person within a run; 0 not tracked; in version 1
    the position in the message from 1), a score in 0..1, the 33 landmarks in
    ``skeleton.LANDMARK_NAMES`` order, and optionally 33 world landmarks."""

    track_id: int
    score: float
    landmarks: Tuple[Landmark, ...]
    world_landmarks: Optional[Tuple[WorldLandmark, ...]] = None

    def __getitem__(self, index: int) -> Landmark:
        return self.landmarks[index]


@dataclass(frozen=True)
class KeypointMessage:
    """The poses found in one inferred frame of one camera.

    ``run`` is the edge process's run id (0 for a version-1 message, which has none). The join
    key with the frames topic is ``(camera_id, run, seq)``.
    """

    schema_version: int
    camera_id: str
    run: int
    seq: int
    capture_ts_us: int
    inference_us: int
    width: int
    height: int
    frame_published: bool
    poses: Tuple[Pose, ...] = field(default_factory=tuple)

    @property
    def join_key(self) -> Tuple[str, int, int]:
        return (self.camera_id, self.run, self.seq)

    def to_json(self) -> Dict[str, Any]:
        """The JSON view of WIRE.md, equal to the Rust ``KeypointMessage::to_json`` (each f32 as
        the double it converts to, as serde_json writes it)."""
        return {
            "schema_version": self.schema_version,
            "camera_id": self.camera_id,
            "run": self.run,
            "seq": self.seq,
            "capture_ts_us": self.capture_ts_us,
            "inference_us": self.inference_us,
            "width": self.width,
            "height": self.height,
            "frame_published": self.frame_published,
            "poses": [
                {
                    "track_id": p.track_id,
                    "score": p.score,
                    "landmarks": [lm.as_list() for lm in p.landmarks],
                    "world_landmarks": None
                    if p.world_landmarks is None
                    else [[w.x, w.y, w.z] for w in p.world_landmarks],
                }
                for p in self.poses
            ],
        }

    @staticmethod
    def from_json(view: Dict[str, Any]) -> "KeypointMessage":
        """The inverse of :meth:`to_json` (for test data and replay). Raises ``DecodeError``
        (reason ``malformed``) when the view lacks a field or has a wrong type."""
        try:
            poses = []
            for p in view["poses"]:
                world = p.get("world_landmarks")
                poses.append(
                    Pose(
                        track_id=int(p["track_id"]),
                        score=_as_f32(p["score"]),
                        landmarks=tuple(Landmark(*(_as_f32(v) for v in lm)) for lm in p["landmarks"]),
                        world_landmarks=None
                        if world is None
                        else tuple(WorldLandmark(*(_as_f32(v) for v in w)) for w in world),
                    )
                )
            return KeypointMessage(
                schema_version=int(view["schema_version"]),
                camera_id=str(view["camera_id"]),
                run=int(view.get("run", 0)),
                seq=int(view["seq"]),
                capture_ts_us=int(view["capture_ts_us"]),
                inference_us=int(view["inference_us"]),
                width=int(view["width"]),
                height=int(view["height"]),
                frame_published=bool(view["frame_published"]),
                poses=tuple(poses),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise DecodeError("malformed", f"not a keypoint JSON view: {e!r}") from None


def _as_f32(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{v!r} is not a number")
    return _F32.unpack(_F32.pack(float(v)))[0]


class _Reader:
    """Reads fields in order, with bincode's limit bookkeeping: a length that claims more than
    the 16 KiB read limit is ``too_large``, bytes that run out are ``truncated``."""

    __slots__ = ("data", "pos", "claimed")

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.pos = start
        self.claimed = 0

    def take(self, n: int) -> bytes:
        self.claimed += n
        if self.claimed > MAX_MESSAGE_BYTES:
            raise DecodeError("too_large", f"a length field claims {n} bytes, over the 16 KiB limit")
        if n > len(self.data) - self.pos:
            raise DecodeError(
                "truncated", f"message truncated at byte {self.pos}: {n} more bytes needed"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, st: struct.Struct) -> Tuple[Any, ...]:
        return st.unpack(self.take(st.size))

    def u64(self) -> int:
        return _U64.unpack(self.take(8))[0]


def decode(data: bytes) -> KeypointMessage:
    """Decodes one keypoint message (a Kafka value) of version 1 or 2.

    Raises :class:`posestream.DecodeError`, and nothing else, whatever ``data`` holds (it must
    be a bytes-like object).
    """
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise DecodeError("empty", "empty message")
    if n == 1:
        raise DecodeError("truncated", "message truncated: 1 byte is too few")
    if n > MAX_MESSAGE_BYTES:
        raise DecodeError("too_large", f"message is {n} bytes; at most {MAX_MESSAGE_BYTES} are allowed")
    (version,) = _U16.unpack_from(data, 0)
    if version not in SUPPORTED_VERSIONS:
        raise DecodeError(
            "unsupported_version",
            f"unsupported schema version {version} (this decoder reads versions 1 and 2)",
        )
    _check_lengths(version, data)
    r = _Reader(data, 2)
    raw_id = r.take(r.u64())
    try:
        camera_id = raw_id.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("malformed", "camera id is not UTF-8") from None
    if version == 2:
        run, seq, ts, inference_us, width, height, flags = r.unpack(_V2_HEADER)
    else:
        seq, ts, inference_us, width, height, flags = r.unpack(_V1_HEADER)
        run = 0
    count = r.u64()
    raw_poses: List[Tuple[int, float, Tuple[Any, ...], Optional[Tuple[Any, ...]]]] = []
    # Poses are read until the bytes run out (as bincode does), so a forged count is
    # `truncated`; a count over 16 with every pose present is `too_many_poses` below.
    for i in range(count):
        if version == 2:
            (track_id,) = _U32.unpack(r.take(4))
        else:
            track_id = i + 1
        (score,) = _F32.unpack(r.take(4))
        lms = r.unpack(_LANDMARKS)
        world = None
        if version == 2:
            (tag,) = r.take(1)
            if tag == 1:
                world = r.unpack(_WORLD)
            elif tag != 0:
                raise DecodeError("malformed", f"pose {i}: world landmark tag {tag} is not 0 or 1")
        raw_poses.append((track_id, score, lms, world))
    if r.pos != n:
        raise DecodeError("trailing_bytes", f"{n - r.pos} bytes left over after the message")
    if version == 2 and run == 0:
        raise DecodeError("malformed", "run id 0 in a version-2 message")
    _check_camera_id(camera_id, len(raw_id))
    if len(raw_poses) > MAX_POSES:
        raise DecodeError(
            "too_many_poses", f"{len(raw_poses)} poses in one message; at most {MAX_POSES} are allowed"
        )
    poses = []
    for i, (track_id, score, lms, world) in enumerate(raw_poses):
        if not math.isfinite(score) or not all(
            math.isfinite(lms[k + j]) for k in range(0, 5 * NUM_LANDMARKS, 5) for j in range(3)
        ):
            raise DecodeError("non_finite", f"pose {i}: a score or coordinate is not a finite number")
        if world is not None and not all(math.isfinite(v) for v in world):
            raise DecodeError("non_finite", f"pose {i}: a world coordinate is not a finite number")
        poses.append(
            Pose(
                track_id=track_id,
                score=score,
                landmarks=tuple(
                    Landmark(lms[k], lms[k + 1], lms[k + 2], _UNIT[lms[k + 3]], _UNIT[lms[k + 4]])
                    for k in range(0, 5 * NUM_LANDMARKS, 5)
                ),
                world_landmarks=None
                if world is None
                else tuple(WorldLandmark(world[k], world[k + 1], world[k + 2]) for k in range(0, 3 * NUM_LANDMARKS, 3)),
            )
        )
    return KeypointMessage(
        schema_version=version,
        camera_id=camera_id,
        run=run,
        seq=seq,
        capture_ts_us=ts,
        inference_us=inference_us,
        width=width,
        height=height,
        frame_published=bool(flags & FLAG_FRAME_PUBLISHED),
        poses=tuple(poses),
    )


def _check_lengths(version: int, data: bytes) -> None:
    """The two counts, checked as soon as they are there (as the Rust decoder does), so that a
    forged one is named for what it is whether or not the bytes it claims follow."""
    if len(data) < 10:
        return
    (id_len,) = _U64.unpack_from(data, 2)
    if id_len > MAX_CAMERA_ID_LEN:
        raise DecodeError("camera_id_too_long", f"camera id is {id_len} bytes long; at most 64 are allowed")
    at = 2 + 8 + id_len + (29 if version == 1 else 37)
    if at + 8 <= len(data):
        (count,) = _U64.unpack_from(data, at)
        if count > MAX_POSES:
            raise DecodeError("too_many_poses", f"{count} poses in one message; at most {MAX_POSES} are allowed")


# q / 255 as the f32 the Rust decoder computes.
_UNIT = tuple(_F32.unpack(_F32.pack(q / 255.0))[0] for q in range(256))


def _check_camera_id(camera_id: str, nbytes: int) -> None:
    if nbytes == 0:
        raise DecodeError("camera_id_empty", "camera id is empty")
    if nbytes > MAX_CAMERA_ID_LEN:
        raise DecodeError("camera_id_too_long", f"camera id is {nbytes} bytes long; at most 64 are allowed")
    bad = [c for c in camera_id if ord(c) > 127 or ord(c) not in _CAMERA_ID_CHARS]
    if bad:
        raise DecodeError(
            "camera_id_bad_char",
            f"camera id contains {bad[0]!r}; only ASCII letters, digits, '-', '_' and '.' are allowed",
        )


def check_camera_id(camera_id: str) -> str:
    """Returns ``camera_id`` if it follows WIRE.md's rules; raises ``DecodeError`` otherwise."""
    _check_camera_id(camera_id, len(camera_id.encode("utf-8", "surrogatepass")))
    return camera_id


class EncodeError(ValueError):
    """A message that cannot be written in the requested layout."""


def _quantize(p: float) -> int:
    # round(clamp(p, 0, 1) * 255), with Rust's f32::round (half away from zero).
    v = min(max(float(p), 0.0), 1.0) * 255.0
    return int(math.floor(v + 0.5))


def encode(msg: KeypointMessage) -> bytes:
    """Encodes ``msg`` in the layout of its ``schema_version`` (version 1 needs run 0, no world
    landmarks and track ids equal to the pose positions from 1). For tests, replays and tools;
    the edge is the producer of the real topic."""
    version = msg.schema_version
    if version not in SUPPORTED_VERSIONS:
        raise EncodeError(f"cannot encode schema version {version}")
    if len(msg.poses) > MAX_POSES:
        raise EncodeError(f"{len(msg.poses)} poses; at most {MAX_POSES} are allowed")
    try:
        check_camera_id(msg.camera_id)
    except DecodeError as e:
        raise EncodeError(str(e)) from None
    flags = FLAG_FRAME_PUBLISHED if msg.frame_published else 0
    cid = msg.camera_id.encode("ascii")
    out = bytearray(_U16.pack(version))
    out += _U64.pack(len(cid)) + cid
    if version == 2:
        if msg.run == 0:
            raise EncodeError("a version-2 message needs a nonzero run id")
        out += _V2_HEADER.pack(msg.run, msg.seq, msg.capture_ts_us, msg.inference_us, msg.width, msg.height, flags)
    else:
        if msg.run != 0:
            raise EncodeError("a version-1 message has no run id (run must be 0)")
        out += _V1_HEADER.pack(msg.seq, msg.capture_ts_us, msg.inference_us, msg.width, msg.height, flags)
    out += _U64.pack(len(msg.poses))
    for i, p in enumerate(msg.poses):
        if len(p.landmarks) != NUM_LANDMARKS:
            raise EncodeError(f"pose {i} has {len(p.landmarks)} landmarks, not {NUM_LANDMARKS}")
        values = [p.score] + [v for lm in p.landmarks for v in (lm.x, lm.y, lm.z)]
        if p.world_landmarks is not None:
            values += [v for w in p.world_landmarks for v in (w.x, w.y, w.z)]
        if not all(math.isfinite(v) for v in values):
            raise EncodeError(f"pose {i} has a value that is not finite")
        if version == 2:
            out += _U32.pack(p.track_id)
        elif p.world_landmarks is not None or p.track_id != i + 1:
            raise EncodeError(f"pose {i}: version 1 carries no world landmarks and track id = position")
        out += _F32.pack(p.score)
        flat: List[Any] = []
        for lm in p.landmarks:
            flat += [lm.x, lm.y, lm.z, _quantize(lm.visibility), _quantize(lm.presence)]
        out += _LANDMARKS.pack(*flat)
        if version == 2:
            if p.world_landmarks is None:
                out += b"\x00"
            else:
                if len(p.world_landmarks) != NUM_LANDMARKS:
                    raise EncodeError(f"pose {i} has {len(p.world_landmarks)} world landmarks")
                out += b"\x01" + _WORLD.pack(*(v for w in p.world_landmarks for v in (w.x, w.y, w.z)))
    if len(out) > MAX_MESSAGE_BYTES:
        raise EncodeError(f"message would be {len(out)} bytes; at most {MAX_MESSAGE_BYTES}")
    return bytes(out)

