"""The decoder and encoder against WIRE.md: round trips, sizes, offsets, and every kind of bad bytes."""

from __future__ import annotations

import json
import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_message
from posestream import DecodeError, EncodeError, KeypointMessage, decode, encode


@pytest.mark.parametrize("version,poses,world", [(1, 0, False), (1, 1, False), (1, 16, False), (2, 0, False), (2, 1, False), (2, 3, True), (2, 16, True)])
def test_round_trip(version: int, poses: int, world: bool) -> None:
    msg = make_message(version, poses, world)
    data = encode(msg)
    back = decode(data)
    assert encode(back) == data
    assert back.schema_version == version
    assert len(back.poses) == poses
    if poses:
        assert back.poses[0].landmarks[5].x == struct.unpack("<f", struct.pack("<f", msg.poses[0].landmarks[5].x))[0]
        assert (back.poses[0].world_landmarks is not None) == world
    assert back.run == msg.run


def test_sizes_match_wire_md() -> None:
    # WIRE.md: v2 is 55 + L + sum(pose sizes), pose 471 or 867; v1 is 47 + L + 466 P.
    assert len(encode(make_message(2, 0))) == 61
    assert len(encode(make_message(2, 1))) == 532
    assert len(encode(make_message(2, 1, world=True))) == 928
    assert len(encode(make_message(2, 1, world=True, camera="x" * 64))) == 986
    assert len(encode(make_message(2, 16, world=True))) == 13_933
    assert len(encode(make_message(1, 1))) == 519


def test_layout_offsets() -> None:
    data = encode(make_message(2, 1))
    assert data[0:2] == b"\x02\x00"
    assert struct.unpack_from("<Q", data, 2)[0] == 6 and data[10:16] == b"cam-01"
    assert struct.unpack_from("<QQ", data, 16) == (4811306625468417, 7)
    assert struct.unpack_from("<I", data, 55 + 6)[0] == 1  # track_id of pose 0 at 55+L


def test_v1_view_has_run_zero_and_positional_tracks() -> None:
    v = decode(encode(make_message(1, 2))).to_json()
    assert v["schema_version"] == 1 and v["run"] == 0
    assert [p["track_id"] for p in v["poses"]] == [1, 2]
    assert all(p["world_landmarks"] is None for p in v["poses"])
    assert KeypointMessage.from_json(json.loads(json.dumps(v))) == decode(encode(make_message(1, 2)))


def test_encode_refuses_what_the_layout_cannot_carry() -> None:
    with pytest.raises(EncodeError):
        encode(make_message(1, 1, world=True))
    with pytest.raises(EncodeError):
        encode(make_message(2, 17))
    with pytest.raises(EncodeError):
        encode(make_message(2, 1, camera="bad/id"))


def reason(data: bytes) -> str:
    with pytest.raises(DecodeError) as e:
        decode(data)
    return e.value.reason


def test_each_bad_case_has_its_reason() -> None:
    good = encode(make_message(2, 1, world=True))
    assert reason(b"") == "empty"
    assert reason(b"\x02") == "truncated"
    assert reason(b"\x00" * 16385) == "too_large"
    assert reason(b"\x03\x00" + good[2:]) == "unsupported_version"
    assert reason(good + b"\x00") == "trailing_bytes"
    for cut in range(2, len(good)):
        assert reason(good[:cut]) == "truncated", cut
    # A camera id length that claims more than the 16 KiB limit, and a forged pose count.
    # Forged counts are named at once, whether or not the bytes they claim follow.
    assert reason(b"\x02\x00" + struct.pack("<Q", 1 << 62) + b"x" * 40) == "camera_id_too_long"
    bad = bytearray(encode(make_message(2, 0)))
    bad[-8:] = struct.pack("<Q", 1 << 40)
    assert reason(bytes(bad)) == "too_many_poses"
    bad = bytearray(encode(make_message(2, 1)))
    bad[47 + 6 : 55 + 6] = struct.pack("<Q", 5)  # 5 poses claimed, 1 there
    assert reason(bytes(bad)) == "truncated"
    bad = bytearray(good)
    bad[10] = 0xFF
    assert reason(bytes(bad)) == "malformed"  # camera id not UTF-8
    bad = bytearray(good)
    bad[10] = ord("/")
    assert reason(bytes(bad)) == "camera_id_bad_char"
    bad = bytearray(good)
    bad[16:24] = bytes(8)
    assert reason(bytes(bad)) == "malformed"  # run 0
    bad = bytearray(good)
    bad[55 + 6 + 470] = 2
    assert reason(bytes(bad)) == "malformed"  # world tag
    bad = bytearray(good)
    bad[55 + 6 + 4 : 55 + 6 + 8] = struct.pack("<f", math.nan)
    assert reason(bytes(bad)) == "non_finite"
    bad = bytearray(good)
    bad[-4:] = struct.pack("<f", math.inf)
    assert reason(bytes(bad)) == "non_finite"  # the last world coordinate
    many = bytearray(encode(make_message(2, 16)))
    count_at = 47 + 6
    many[count_at : count_at + 8] = struct.pack("<Q", 17)
    many += many[-471:]
    assert reason(bytes(many)) == "too_many_poses"


def test_reserved_flag_bits_are_ignored() -> None:
    data = bytearray(encode(make_message(2, 0)))
    data[46 + 6] = 0b1111_1110
    assert decode(bytes(data)).frame_published is False


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=1200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    for candidate in (data, b"\x01\x00" + data, b"\x02\x00" + data):
        try:
            decode(candidate)
        except DecodeError as e:
            assert e.reason in {
                "empty", "truncated", "too_large", "unsupported_version", "malformed",
                "trailing_bytes", "camera_id_empty", "camera_id_too_long", "camera_id_bad_char", "too_many_poses", "non_finite",
            }  # fmt: skip


def test_mutated_messages_raise_only_decode_error() -> None:
    rng = random.Random(17)
    goods = [encode(make_message(v, p, w)) for v, p, w in [(1, 1, False), (2, 2, True), (2, 0, False)]]
    for _ in range(20_000):
        data = bytearray(rng.choice(goods))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data) + 1)]
        try:
            msg = decode(bytes(data))
        except DecodeError:
            continue
        assert len(msg.poses) <= 16


def test_json_floats_are_the_f32_values() -> None:
    # As serde_json writes an f32: the double it converts to (0.6f32 is 0.6000000238418579).
    v = decode(encode(make_message(2, 1))).to_json()
    assert v["poses"][0]["score"] == struct.unpack("<f", struct.pack("<f", 0.93))[0]
    assert json.loads(json.dumps(v)) == v
