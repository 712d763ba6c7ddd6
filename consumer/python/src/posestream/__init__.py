"""posestream: read the posestream keypoint topic from Python.

* :func:`decode` / :func:`encode`: keypoint messages (wire versions 1 and 2) as typed dataclasses.
* :class:`KeypointConsumer`: a confluent-kafka consumer yielding decoded messages, optionally
  joined with their frames on ``(camera_id, run, seq)``.
* :mod:`posestream.skeleton`: the 33 landmark names and the 35 skeleton edges.
* ``posestream tail``: JSON lines on stdout.

Decoding raises :class:`DecodeError` (with a stable ``reason`` token) and nothing else.
"""

from .errors import DecodeError
from .frames import Frame, FrameMeta, decode_frame, decode_frame_headers
from .skeleton import EDGES, LANDMARK_NAMES, NUM_LANDMARKS, LandmarkIndex
from .wire import (
    LATEST_VERSION,
    MAX_POSES,
    SUPPORTED_VERSIONS,
    EncodeError,
    KeypointMessage,
    Landmark,
    Pose,
    WorldLandmark,
    decode,
    encode,
)

__version__ = "0.1.0"

__all__ = [
    "DecodeError",
    "EDGES",
    "EncodeError",
    "Frame",
    "FrameMeta",
    "KeypointConsumer",
    "KeypointMessage",
    "LANDMARK_NAMES",
    "LATEST_VERSION",
    "Landmark",
    "LandmarkIndex",
    "MAX_POSES",
    "NUM_LANDMARKS",
    "Pose",
    "Received",
    "SUPPORTED_VERSIONS",
    "WorldLandmark",
    "decode",
    "decode_frame",
    "decode_frame_headers",
    "encode",
]


def __getattr__(name: str):  # the Kafka part loads confluent-kafka only when used
    if name in ("KeypointConsumer", "Received", "ConsumerStats", "consume"):
        from . import consumer

        return getattr(consumer, name)
    raise AttributeError(name)
