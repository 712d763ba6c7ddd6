"""Frame messages (``pose.frames``): a JPEG value with its metadata in Kafka headers (versions 1, 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple, Union

from .errors import DecodeError
from .wire import check_camera_id

MAX_DIMENSION = 8192
MAX_JPEG_BYTES = 8 * 1024 * 1024

HeaderValue = Union[bytes, str, None]


@dataclass(frozen=True)
class FrameMeta:
    """The headers of one frame: the join key ``(camera_id, run, seq)`` with the keypoints (run 0
    for a version-1 frame), the capture time and the JPEG's size."""

    schema_version: int
    camera_id: str
    run: int
    seq: int
    capture_ts_us: int
    width: int
    height: int

    @property
    def join_key(self) -> Tuple[str, int, int]:
        return (self.camera_id, self.run, self.seq)


@dataclass(frozen=True)
class Frame:
    """A decoded frame message: its metadata and the JPEG bytes as they came."""

    meta: FrameMeta
    jpeg: bytes


def _text(name: str, value: HeaderValue) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise DecodeError("invalid_header", f"header {name!r} is not UTF-8") from None


def _decimal(name: str, text: str, bits: int) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise DecodeError("invalid_header", f"header {name!r} is not a decimal number: {text!r}")
    v = int(text)
    if v >= 1 << bits:
        raise DecodeError("invalid_header", f"header {name!r} is out of range: {text}")
    return v


def decode_frame_headers(headers: Optional[Iterable[Tuple[str, HeaderValue]]]) -> FrameMeta:
    """Frame metadata from Kafka headers (``(name, value)`` pairs, as confluent-kafka's
    ``Message.headers()`` gives them; the last repeat of a name wins). Raises ``DecodeError``."""
    h: Dict[str, HeaderValue] = {}
    for pair in headers or ():
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise DecodeError("invalid_header", "a header is not a (name, value) pair") from None
        h[str(name)] = value

    def need(name: str) -> str:
        if name not in h:
            raise DecodeError("missing_header", f"header {name!r} is missing")
        return _text(name, h[name])

    version_text = need("schema_version")
    if version_text not in ("1", "2"):
        raise DecodeError("unsupported_version", f"unsupported frame schema version {version_text!r}")
    version = int(version_text)
    camera_id = check_camera_id(need("camera_id"))
    run = 0
    if version == 2:
        run = _decimal("run", need("run"), 64)
        if run == 0:
            raise DecodeError("invalid_header", "header 'run' is 0")
    seq = _decimal("seq", need("seq"), 64)
    ts = _decimal("capture_ts_us", need("capture_ts_us"), 64)
    width = _decimal("width", need("width"), 32)
    height = _decimal("height", need("height"), 32)
    if "content_type" in h and _text("content_type", h["content_type"]) != "image/jpeg":
        raise DecodeError("invalid_header", "content_type is not image/jpeg")
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise DecodeError("size_out_of_range", f"image size {width}x{height} is out of range")
    return FrameMeta(version, camera_id, run, seq, ts, width, height)


def decode_frame(value: Optional[bytes], headers: Optional[Iterable[Tuple[str, HeaderValue]]]) -> Frame:
    """A whole frame message: headers as :func:`decode_frame_headers`, the value a JPEG."""
    meta = decode_frame_headers(headers)
    if not value:
        raise DecodeError("empty", "frame value is empty")
    if len(value) > MAX_JPEG_BYTES:
        raise DecodeError("too_large", f"frame value is {len(value)} bytes")
    if bytes(value[:3]) != b"\xff\xd8\xff":
        raise DecodeError("not_jpeg", "frame value is not a JPEG (no start-of-image marker)")
    return Frame(meta, bytes(value))
