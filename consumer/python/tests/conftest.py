"""Shared fixtures: the repository root, sample messages, and the real Kafka broker.

Broker tests use ``POSESTREAM_BROKERS`` (``make test`` starts the broker and sets it). Without it
they are skipped with a note, unless ``POSESTREAM_REQUIRE_BROKER=1`` (set by ``make test``) makes
that a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from posestream import KeypointMessage, Landmark, Pose, WorldLandmark

REPO = Path(__file__).resolve().parents[3]


def make_pose(k: float, track_id: int = 1, world: bool = False) -> Pose:
    lms = tuple(
        Landmark(0.1 + i * 0.02 + k, 0.9 - i * 0.02, -0.3 + i * 0.01, round(i / 32 * 255) / 255, 1.0 - round(i / 64 * 255) / 255)
        for i in range(33)
    )
    wl = tuple(WorldLandmark(i * 0.01 - k, -0.5 + i * 0.02, 0.1 * k) for i in range(33)) if world else None
    return Pose(track_id=track_id, score=0.93, landmarks=lms, world_landmarks=wl)


def make_message(version: int = 2, poses: int = 1, world: bool = False, camera: str = "cam-01", seq: int = 7) -> KeypointMessage:
    return KeypointMessage(
        schema_version=version,
        camera_id=camera,
        run=4811306625468417 if version == 2 else 0,
        seq=seq,
        capture_ts_us=1_764_000_000_123_456 + seq * 33_333,
        inference_us=41_250,
        width=640,
        height=480,
        frame_published=True,
        poses=tuple(make_pose(i * 0.01, track_id=i + 1, world=world) for i in range(poses)),
    )


@pytest.fixture(scope="session")
def brokers() -> str:
    value = os.environ.get("POSESTREAM_BROKERS")
    if not value:
        if os.environ.get("POSESTREAM_REQUIRE_BROKER") == "1":
            pytest.fail("POSESTREAM_BROKERS is not set but POSESTREAM_REQUIRE_BROKER=1")
        pytest.skip("POSESTREAM_BROKERS is not set (start one: scripts/broker.sh start)")
    host, _, port = value.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        pytest.fail(f"the broker at {value} does not answer: {e}")
    return value


@pytest.fixture
def topics(brokers: str) -> Iterator[List[str]]:
    """Two fresh topics (keypoints, frames) of 2 partitions each, deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": brokers})
    tag = uuid.uuid4().hex[:10]
    names = [f"test-kit-{tag}.keypoints", f"test-kit-{tag}.frames"]
    for f in admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in names]).values():
        f.result(30)
    yield names
    for f in admin.delete_topics(names).values():
        try:
            f.result(30)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
