"""The detector on every synthetic and recorded sequence, its evidence, and the docs' table."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import DATA, REPO
from posestream import KeypointMessage, Landmark, Pose
from posestream_events.detect import EVENT_TYPES, EventDetector
from posestream_events.evaluate import recorded, table
from posestream_events.synthetic import Sequence, all_sequences, standing, Builder

SEQUENCES = all_sequences() + recorded(DATA)


@pytest.mark.parametrize("seq", SEQUENCES, ids=lambda s: s.name)
def test_sequence(seq: Sequence) -> None:
    det = EventDetector()
    got = Counter(e.type for m in seq.messages for e in det.feed(m))
    right = all(got[t] == seq.expected.get(t, 0) for t in EVENT_TYPES)
    if seq.known_limit:
        assert not right, f"{seq.name} is documented as a miss but is now right: update docs/consume.md"
    else:
        assert right, f"{seq.name}: expected {seq.expected}, got {dict(got)}"


def events_of(name: str) -> list:
    seq = next(s for s in SEQUENCES if s.name == name)
    det = EventDetector()
    return [e for m in seq.messages for e in det.feed(m)]


def test_evidence() -> None:
    reps = [e for e in events_of("synthetic-squats") if e.type == "repetition_counted"]
    assert [e.evidence["count"] for e in reps] == list(range(1, 11))
    assert all(80 <= e.evidence["min_knee_deg"] <= 100 and 1.0 < e.evidence["duration_s"] < 3.0 for e in reps)
    assert all(e.track_id == 1 and e.run == 7 and e.camera_id == "synthetic-squats" for e in reps)
    (fall,) = [e for e in events_of("synthetic-fall") if e.type == "fall_detected"]
    ev = fall.evidence
    assert ev["drop_torso_lengths"] >= 0.8 and ev["drop_speed_torso_per_s"] >= 1.2 and ev["torso_tilt_deg"] >= 60
    j = fall.to_json()
    assert j["type"] == "fall_detected" and j["event_version"] == 1 and j["capture_ts_us"] == fall.capture_ts_us
    entered, left = [e for e in events_of("synthetic-walk") if e.type.startswith("person")][:2]
    assert entered.type == "person_entered" and left.type == "person_left" and left.evidence["reason"] == "not_seen"


def test_version_1_messages_and_a_restart() -> None:
    det = EventDetector()
    b = Builder("cam-v1", seed=3, run=0).hold(standing(), 1.0)
    out = [e for m in b.messages for e in det.feed(KeypointMessage(**{**m.__dict__, "schema_version": 1}))]
    assert [e.type for e in out] == ["person_entered"] and out[0].track_id == 1 and out[0].run == 0
    # The edge restarts as version 2 (a new run): the person of run 0 leaves with the run.
    b2 = Builder("cam-v1", seed=4, run=99).hold(standing(), 0.2)
    nxt = [KeypointMessage(**{**m.__dict__, "capture_ts_us": m.capture_ts_us + 2_000_000}) for m in b2.messages]
    out = [e for m in nxt for e in det.feed(m)]
    assert [(e.type, e.run) for e in out] == [("person_left", 0), ("person_entered", 99)]
    assert out[0].evidence["reason"] == "run_ended"


def test_untracked_low_score_and_out_of_order() -> None:
    det = EventDetector()
    lms = tuple(Landmark(0.5, 0.5, 0, 1, 1) for _ in range(33))
    msgs = [KeypointMessage(2, "c", 5, s, 1_000_000 + s * 33_333, 0, 640, 480, False, (Pose(0, 0.2, lms),)) for s in range(10)]
    assert [e for m in msgs for e in det.feed(m)] == [], "a score below 0.5 is nobody"
    assert det.feed(msgs[3]) == [] and det.skipped_out_of_order == 1


def test_docs_show_the_current_table() -> None:
    text, _ = table(SEQUENCES)
    assert text in (REPO / "docs" / "consume.md").read_text(), (
        "docs/consume.md must show the output of `python -m posestream_events.evaluate`:\n" + text
    )
