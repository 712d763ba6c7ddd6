"""The consumer, the tail command and the docs' example against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import List

from confluent_kafka import Producer

from conftest import REPO, make_message
from posestream import KeypointConsumer, decode, encode
from posestream.wire import KeypointMessage

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


def produce(brokers: str, topic: str, items: List[tuple]) -> None:
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    for key, value, headers in items:
        p.produce(topic, key=key, value=value, headers=headers)
    assert p.flush(30) == 0


def frame_headers(m: KeypointMessage) -> list:
    h = [("schema_version", str(m.schema_version)), ("camera_id", m.camera_id), ("seq", str(m.seq)),
         ("capture_ts_us", str(m.capture_ts_us)), ("width", "320"), ("height", "240")]  # fmt: skip
    if m.schema_version == 2:
        h.append(("run", str(m.run)))
    return h


def series(camera: str, n: int, version: int = 2) -> List[KeypointMessage]:
    out = []
    for seq in range(n):
        m = make_message(version, poses=seq % 2, camera=camera, seq=seq)
        out.append(KeypointMessage(**{**m.__dict__, "frame_published": seq % 3 != 0}))
    return out


def group() -> str:
    return f"test-kit-{uuid.uuid4().hex[:8]}"


def test_decoded_in_order_bad_ones_skipped_and_counted(brokers: str, topics: List[str]) -> None:
    kp, _ = topics
    a, b = series("cam-a", 20), series("cam-b", 10, version=1)
    items = [(m.camera_id, encode(m), None) for m in a + b]
    items.insert(5, ("cam-a", b"\x02\x00garbage", None))
    items.insert(9, ("cam-a", b"", None))
    produce(brokers, kp, items)
    with KeypointConsumer(brokers, group(), topic=kp, from_beginning=True) as c:
        got = [r.keypoints for r in c.messages(idle_timeout_s=3)]
        assert c.stats.bad_keypoints == {"truncated": 1, "empty": 1}
    assert [m for m in got if m.camera_id == "cam-a"] == [decode(encode(m)) for m in a]
    assert [m.seq for m in got if m.camera_id == "cam-b"] == list(range(10))
    assert {m.schema_version for m in got} == {1, 2}


def test_join_with_frames(brokers: str, topics: List[str]) -> None:
    kp, fr = topics
    msgs = series("cam-j", 12)
    old = series("cam-j1", 6, version=1)  # a version-1 edge: joined on (camera, 0, seq)
    # Frames first for half, after for the other half; one published frame never comes.
    frames = [(m.camera_id, JPEG, frame_headers(m)) for m in msgs if m.frame_published and m.seq != 4]
    produce(brokers, fr, frames[:4])
    produce(brokers, kp, [(m.camera_id, encode(m), None) for m in msgs + old])
    produce(brokers, fr, frames[4:] + [("cam-j", b"not a jpeg", frame_headers(msgs[1]))])
    produce(brokers, fr, [(m.camera_id, JPEG, frame_headers(m)) for m in old if m.frame_published])
    with KeypointConsumer(brokers, group(), topic=kp, frames_topic=fr, join_wait_s=1.5, from_beginning=True) as c:
        got = list(c.messages(idle_timeout_s=4))
        assert c.stats.bad_frames == {"not_jpeg": 1}
    assert [r.keypoints.seq for r in got if r.keypoints.camera_id == "cam-j"] == list(range(12)), "per-camera order kept"
    assert [r.keypoints.seq for r in got if r.keypoints.camera_id == "cam-j1"] == list(range(6))
    for r in got:
        m = r.keypoints
        if m.frame_published and (m.seq != 4 or m.camera_id == "cam-j1"):
            assert r.frame is not None and r.frame.meta.join_key == m.join_key, m.seq
        else:
            assert r.frame is None, m.seq


def test_group_resumes_after_the_last_handled_message(brokers: str, topics: List[str]) -> None:
    kp, _ = topics
    msgs = series("cam-g", 30)
    produce(brokers, kp, [(m.camera_id, encode(m), None) for m in msgs])
    g = group()
    with KeypointConsumer(brokers, g, topic=kp, from_beginning=True) as c:
        first = [r.keypoints.seq for r in c.messages(max_messages=10)]
    with KeypointConsumer(brokers, g, topic=kp, from_beginning=True) as c:
        rest = [r.keypoints.seq for r in c.messages(idle_timeout_s=3)]
    assert first == list(range(10))
    assert rest == list(range(10, 30))
    # A loop that fails on a message leaves it uncommitted: the group reads it again.
    g2 = group()
    try:
        with KeypointConsumer(brokers, g2, topic=kp, from_beginning=True) as c:
            for r in c:
                if r.keypoints.seq == 5:
                    raise RuntimeError("the application failed on seq 5")
    except RuntimeError:
        pass
    with KeypointConsumer(brokers, g2, topic=kp, from_beginning=True) as c:
        assert next(iter(c)).keypoints.seq == 5


def env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_tail_prints_the_json_view(brokers: str, topics: List[str]) -> None:
    kp, _ = topics
    msgs = series("cam-t", 5) + series("cam-t1", 2, version=1)
    # The bad message shares cam-t's partition and comes before its messages: tail reads it.
    produce(brokers, kp, [("cam-t", b"\x07\x00", None)] + [(m.camera_id, encode(m), None) for m in msgs])
    out = subprocess.run(
        [sys.executable, "-m", "posestream", "tail", "--brokers", brokers, "--topic", kp, "--from-beginning", "--max", "7"],
        capture_output=True, text=True, timeout=60, env=env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    want = {(m.camera_id, m.seq): decode(encode(m)).to_json() for m in msgs}
    assert {(v["camera_id"], v["seq"]): v for v in lines} == want
    assert "unsupported_version" in out.stderr


def test_decode_command(tmp_path: Path) -> None:
    good = tmp_path / "good.hex"
    good.write_text(encode(make_message(2, 1)).hex())
    bad = tmp_path / "bad.hex"
    bad.write_text("0200")
    out = subprocess.run([sys.executable, "-m", "posestream", "decode", "--hex", str(good), str(bad)], capture_output=True, text=True, timeout=30)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1
    assert lines[0]["camera_id"] == "cam-01" and lines[1]["error"] == "truncated"


def test_docs_example_runs(brokers: str) -> None:
    """The shortest consumer of docs/consume.md, verbatim, on the deployment's topic."""
    example = REPO / "consumer" / "python" / "examples" / "consume_keypoints.py"
    docs = (REPO / "docs" / "consume.md").read_text()
    assert example.read_text() in docs, "docs/consume.md shows the example as it is"
    rust = REPO / "shared" / "examples" / "consume_keypoints.rs"
    assert rust.read_text() in docs, "docs/consume.md shows the Rust example as it is"
    camera = f"docs-{uuid.uuid4().hex[:6]}"
    msgs = [make_message(2, 1, camera=camera, seq=s) for s in range(3)]
    produce(brokers, "pose.keypoints", [(m.camera_id, encode(m), None) for m in msgs])
    proc = subprocess.Popen([sys.executable, str(example)], stdout=subprocess.PIPE, text=True, env={**env(), "POSESTREAM_BROKERS": brokers})
    seen: List[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(seen) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(camera):
                seen.append(line.split()[2])
    finally:
        proc.terminate()
        proc.wait(10)
    assert seen == ["0", "1", "2"]
