"""The analytic as a process against the real broker: keypoints in, events out, offsets committed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Dict, List

from confluent_kafka import Consumer, Producer

from conftest import DATA
from posestream import encode
from posestream_events.detect import EventDetector
from posestream_events.evaluate import recorded
from posestream_events.synthetic import all_sequences


def run_analytic(brokers: str, topics: List[str], group: str) -> subprocess.CompletedProcess:
    kp, ev = topics
    return subprocess.run(
        [sys.executable, "-m", "posestream_events.service", "--brokers", brokers, "--group", group, "--keypoints-topic", kp,
         "--events-topic", ev, "--from-beginning", "--exit-when-idle-s", "3"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def read_events(brokers: str, topic: str, expect: int) -> List[dict]:
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"read-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})  # fmt: skip
    c.subscribe([topic])
    out: List[dict] = []
    idle = 0
    while idle < 10 and len(out) <= expect:
        m = c.poll(0.5)
        if m is None or m.error():
            idle += 1 if out or m is None else 0
            continue
        idle = 0
        v = json.loads(m.value())
        assert m.key().decode() == v["camera_id"], "the key is the camera id"
        out.append(v)
    c.close()
    return out


def test_events_from_keypoints(brokers: str, topics: List[str]) -> None:
    chosen = {"synthetic-squats-fast", "synthetic-fall", "synthetic-walk"}
    seqs = [s for s in all_sequences() if s.name in chosen] + recorded(DATA)
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20})
    for s in seqs:
        for m in s.messages:
            p.produce(topics[0], key=m.camera_id, value=encode(m))
        p.poll(0)
    assert p.flush(30) == 0
    # What the detector gives in process, per camera, is what the process must publish.
    want: Dict[str, List[dict]] = {}
    for s in seqs:
        det = EventDetector()
        want[s.messages[0].camera_id] = [e.to_json() for m in s.messages for e in det.feed(m)]
    total = sum(len(v) for v in want.values())
    assert total > 15
    done = run_analytic(brokers, topics, group="test-events")
    assert done.returncode == 0, done.stderr
    got = read_events(brokers, topics[1], total)
    per_camera: Dict[str, List[dict]] = {}
    for e in got:
        per_camera.setdefault(e["camera_id"], []).append(e)
    assert per_camera == want
    # Offsets were committed: the same group run again publishes nothing new.
    again = run_analytic(brokers, topics, group="test-events")
    assert again.returncode == 0, again.stderr
    assert "0 keypoint messages, 0 events" in again.stderr
    assert len(read_events(brokers, topics[1], total)) == total
