"""Fixtures of the analytic's tests: the recorded data and the real broker (as in the kit's tests)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[3]


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
    """Fresh input and output topics (2 partitions each), deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": brokers})
    tag = uuid.uuid4().hex[:10]
    names = [f"test-events-{tag}.keypoints", f"test-events-{tag}.events"]
    for f in admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in names]).values():
        f.result(30)
    yield names
    for f in admin.delete_topics(names).values():
        try:
            f.result(30)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
