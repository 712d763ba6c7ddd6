#!/usr/bin/env python3
"""Decoder for posestream keypoint messages and frame headers, Python standard library only.

It follows shared/WIRE.md and nothing else, to prove that document is enough to read the
pose.keypoints topic without Rust. It reads schema versions 1 and 2 into the same JSON view (a
version-1 message gets run 0, track ids from the pose's position, world_landmarks None). Use it as
a module (decode_keypoints, decode_frame_headers) or from the command line:

    posestream_wire.py keypoints FILE...    one JSON line per file (raw message bytes)
    posestream_wire.py frame-headers FILE   a JSON object of "name=value" lines -> JSON

Exit status 1 if any input is malformed; the error is printed as
{"file": ..., "error": ..., "reason": <the WIRE.md error token>}.
"""

import json
import math
import struct
import sys

SCHEMA_VERSIONS = (1, 2)
NUM_LANDMARKS = 33
MAX_POSES = 16
MAX_CAMERA_ID_LEN = 64
MAX_MESSAGE_BYTES = 16 * 1024
MAX_DIMENSION = 8192
FLAG_FRAME_PUBLISHED = 0x01

_LANDMARK = struct.Struct("<fffBB")  # x, y, z, visibility (u8), presence (u8): 14 bytes
_WORLD = struct.Struct("<fff")  # x, y, z in metres: 12 bytes
# After the camera id: (run), seq, capture_ts_us, inference_us, width, height, flags.
_FIXED = {1: struct.Struct("<QQIIIB"), 2: struct.Struct("<QQQIIIB")}
_F32 = struct.Struct("<f")


class WireError(ValueError):
    """The bytes are not a valid message; `reason` is the WIRE.md error token."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise WireError("truncated", f"message truncated at byte {self.pos}: {n} more bytes needed")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, st):
        return st.unpack(self.take(st.size))

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]


def _check_camera_id(raw):
    try:
        cid = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError("malformed", "camera id is not UTF-8") from e
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not cid:
        raise WireError("camera_id_empty", "camera id is empty")
    if len(raw) > MAX_CAMERA_ID_LEN:
        raise WireError("camera_id_too_long", f"camera id is {len(raw)} bytes")
    if any(c not in allowed for c in cid):
        raise WireError("camera_id_bad_char", f"invalid camera id {cid!r}")
    return cid


def _f32(x):
    """x rounded to the nearest float32, as the Rust decoder computes it."""
    return _F32.unpack(_F32.pack(x))[0]


def _finite(values):
    return all(math.isfinite(v) for v in values)


def decode_keypoints(data):
    """Decode one keypoint message (the Kafka value), version 1 or 2, into a dict shaped like the
    JSON view. Raises WireError (with .reason) on bad input."""
    if not data:
        raise WireError("empty", "empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError("too_large", f"message is {len(data)} bytes; at most {MAX_MESSAGE_BYTES} allowed")
    r = _Reader(data)
    (version,) = struct.unpack("<H", r.take(2))
    if version not in SCHEMA_VERSIONS:
        raise WireError("unsupported_version", f"unsupported schema version {version}")
    id_len = r.u64()
    if id_len > MAX_CAMERA_ID_LEN:
        raise WireError("camera_id_too_long", f"camera id length {id_len} is over {MAX_CAMERA_ID_LEN}")
    raw_id = r.take(id_len)
    fixed = r.unpack(_FIXED[version])
    if version == 1:
        run = 0
        seq, ts, inference_us, width, height, flags = fixed
    else:
        run, seq, ts, inference_us, width, height, flags = fixed
    n_poses = r.u64()
    if n_poses > MAX_POSES:
        raise WireError("too_many_poses", f"{n_poses} poses; at most {MAX_POSES} allowed")
    poses = []
    for p in range(n_poses):
        if version == 1:
            track_id = p + 1
        else:
            (track_id,) = struct.unpack("<I", r.take(4))
        (score,) = _F32.unpack(r.take(4))
        landmarks = []
        for _ in range(NUM_LANDMARKS):
            x, y, z, vis, pres = r.unpack(_LANDMARK)
            landmarks.append([x, y, z, _f32(vis / 255.0), _f32(pres / 255.0)])
        world = None
        if version == 2:
            (tag,) = r.take(1)
            if tag == 1:
                world = [list(r.unpack(_WORLD)) for _ in range(NUM_LANDMARKS)]
            elif tag != 0:
                raise WireError("malformed", f"pose {p}: world landmark tag {tag} is not 0 or 1")
        poses.append({"track_id": track_id, "score": score, "landmarks": landmarks,
                      "world_landmarks": world})
    if r.pos != len(data):
        raise WireError("trailing_bytes", f"{len(data) - r.pos} bytes left over after the message")
    if version == 2 and run == 0:
        raise WireError("malformed", "run id 0 in a version-2 message")
    camera_id = _check_camera_id(raw_id)
    for p, pose in enumerate(poses):
        values = [pose["score"]] + [v for lm in pose["landmarks"] for v in lm[:3]]
        values += [v for w in pose["world_landmarks"] or [] for v in w]
        if not _finite(values):
            raise WireError("non_finite", f"pose {p} has a value that is not finite")
    return {
        "schema_version": version,
        "camera_id": camera_id,
        "run": run,
        "seq": seq,
        "capture_ts_us": ts,
        "inference_us": inference_us,
        "width": width,
        "height": height,
        "frame_published": bool(flags & FLAG_FRAME_PUBLISHED),
        "poses": poses,
    }


def decode_frame_headers(headers):
    """Frame metadata from Kafka headers, given as (name, bytes) pairs; the last repeat wins.
    Version 2 has a nonzero run; version 1 none (run 0)."""
    h = {name: value for name, value in headers}
    out = {}

    def text_of(name):
        if name not in h:
            raise WireError("missing_header", f"header {name!r} is missing")
        try:
            return (h[name] or b"").decode("utf-8")
        except UnicodeDecodeError as e:
            raise WireError("invalid_header", f"header {name!r} is not UTF-8") from e

    def number(name):
        text = text_of(name)
        if not text.isascii() or not text.isdigit():
            raise WireError("invalid_header", f"header {name!r} is not a decimal number: {text!r}")
        return int(text)

    version = text_of("schema_version")
    if version not in ("1", "2"):
        raise WireError("unsupported_version", f"unsupported schema version {version!r}")
    out["schema_version"] = int(version)
    if h.get("content_type", b"image/jpeg") != b"image/jpeg":
        raise WireError("invalid_header", "content_type is not image/jpeg")
    out["camera_id"] = _check_camera_id(text_of("camera_id").encode())
    out["run"] = number("run") if version == "2" else 0
    if version == "2" and out["run"] == 0:
        raise WireError("invalid_header", "run id 0 in a version-2 frame")
    for name in ("seq", "capture_ts_us", "width", "height"):
        out[name] = number(name)
    if max(out["seq"], out["capture_ts_us"], out["run"]) >= 1 << 64 or max(out["width"], out["height"]) >= 1 << 32:
        raise WireError("invalid_header", "number out of range")
    for dim in ("width", "height"):
        if not 1 <= out[dim] <= MAX_DIMENSION:
            raise WireError("size_out_of_range", f"{dim} {out[dim]} is out of range")
    return out


def _main(argv):
    if len(argv) < 2 or argv[0] not in ("keypoints", "frame-headers"):
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for path in argv[1:]:
        try:
            with open(path, "rb") as f:
                data = f.read()
            if argv[0] == "keypoints":
                result = decode_keypoints(data)
            else:
                pairs = [line.split(b"=", 1) for line in data.splitlines() if line]
                result = decode_frame_headers([(k.decode(), v) for k, v in pairs])
            print(json.dumps({"file": path, "message": result}))
        except WireError as e:
            failed = True
            print(json.dumps({"file": path, "error": str(e), "reason": e.reason}))
        except (OSError, ValueError) as e:
            failed = True
            print(json.dumps({"file": path, "error": str(e), "reason": "io"}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
