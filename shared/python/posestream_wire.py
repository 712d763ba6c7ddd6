#!/usr/bin/env python3
"""Decoder for posestream keypoint messages and frame headers, Python standard library only.

It follows shared/WIRE.md and nothing else, to prove that document is enough to read the
pose.keypoints topic without Rust. Use it as a module (decode_keypoints, decode_frame_headers)
or from the command line:

    posestream_wire.py keypoints FILE...    one JSON line per file (raw message bytes)
    posestream_wire.py frame-headers FILE   a JSON object of "name=value" lines -> JSON

Exit status 1 if any input is malformed; the error is printed as {"file": ..., "error": ...}.
"""

import json
import math
import struct
import sys

SCHEMA_VERSION = 1
NUM_LANDMARKS = 33
MAX_POSES = 16
MAX_MESSAGE_BYTES = 16 * 1024
MAX_DIMENSION = 8192
FLAG_FRAME_PUBLISHED = 0x01

_LANDMARK = struct.Struct("<fffBB")  # x, y, z, visibility (u8), presence (u8): 14 bytes
_HEADER_AFTER_ID = struct.Struct("<QQIIIB")  # seq, capture_ts_us, inference_us, width, height, flags


class WireError(ValueError):
    """The bytes are not a valid schema-1 message."""


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise WireError(f"message truncated at byte {self.pos}: {n} more bytes needed")
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
        raise WireError("camera id is not UTF-8") from e
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not cid or len(raw) > 64 or any(c not in allowed for c in cid):
        raise WireError(f"invalid camera id {cid!r}")
    return cid


def decode_keypoints(data):
    """Decode one keypoint message (the Kafka value) into a dict shaped like the JSON view."""
    if not data:
        raise WireError("empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message is {len(data)} bytes; at most {MAX_MESSAGE_BYTES} allowed")
    r = _Reader(data)
    (version,) = struct.unpack("<H", r.take(2))
    if version != SCHEMA_VERSION:
        raise WireError(f"unsupported schema version {version}")
    id_len = r.u64()
    if id_len > 64:
        raise WireError(f"camera id length {id_len} is over 64")
    camera_id = _check_camera_id(r.take(id_len))
    seq, ts, inference_us, width, height, flags = r.unpack(_HEADER_AFTER_ID)
    n_poses = r.u64()
    if n_poses > MAX_POSES:
        raise WireError(f"{n_poses} poses; at most {MAX_POSES} allowed")
    poses = []
    for p in range(n_poses):
        (score,) = struct.unpack("<f", r.take(4))
        landmarks = []
        for _ in range(NUM_LANDMARKS):
            x, y, z, vis, pres = r.unpack(_LANDMARK)
            landmarks.append([x, y, z, vis / 255.0, pres / 255.0])
        if not all(math.isfinite(v) for lm in landmarks for v in lm[:3]) or not math.isfinite(score):
            raise WireError(f"pose {p} has a value that is not finite")
        poses.append({"score": score, "landmarks": landmarks})
    if r.pos != len(data):
        raise WireError(f"{len(data) - r.pos} bytes left over after the message")
    return {
        "schema_version": version,
        "camera_id": camera_id,
        "seq": seq,
        "capture_ts_us": ts,
        "inference_us": inference_us,
        "width": width,
        "height": height,
        "frame_published": bool(flags & FLAG_FRAME_PUBLISHED),
        "poses": poses,
    }


def decode_frame_headers(headers):
    """Frame metadata from Kafka headers, given as (name, bytes) pairs; the last repeat wins."""
    h = {name: value for name, value in headers}
    out = {}
    for name in ("schema_version", "camera_id", "seq", "capture_ts_us", "width", "height"):
        if name not in h:
            raise WireError(f"header {name!r} is missing")
        try:
            text = (h[name] or b"").decode("utf-8")
        except UnicodeDecodeError as e:
            raise WireError(f"header {name!r} is not UTF-8") from e
        if name == "camera_id":
            out[name] = _check_camera_id(text.encode())
        else:
            if not text.isascii() or not text.isdigit():
                raise WireError(f"header {name!r} is not a decimal number: {text!r}")
            out[name] = int(text)
    if out["schema_version"] != SCHEMA_VERSION:
        raise WireError(f"unsupported schema version {out['schema_version']}")
    if h.get("content_type", b"image/jpeg") != b"image/jpeg":
        raise WireError("content_type is not image/jpeg")
    for dim in ("width", "height"):
        if not 1 <= out[dim] <= MAX_DIMENSION:
            raise WireError(f"{dim} {out[dim]} is out of range")
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
        except (OSError, WireError, ValueError) as e:
            failed = True
            print(json.dumps({"file": path, "error": str(e)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
