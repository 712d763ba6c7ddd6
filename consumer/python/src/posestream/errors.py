"""The one exception type the decoders raise on bad bytes or bad headers."""

from __future__ import annotations


class DecodeError(ValueError):
    """Bytes (or frame headers) that are not a valid posestream message.

    ``reason`` is a short stable token, the same as the Rust decoder's ``DecodeError::reason()``
    (``empty``, ``truncated``, ``too_large``, ``unsupported_version``, ``malformed``,
    ``trailing_bytes``, ``camera_id_empty``, ``camera_id_too_long``, ``camera_id_bad_char``,
    ``too_many_poses``, ``non_finite``; for frames also ``missing_header``, ``invalid_header``,
    ``size_out_of_range``, ``not_jpeg``). Use it for counting; the message is for people.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __repr__(self) -> str:
        return f"DecodeError({self.reason!r}, {str(self)!r})"
