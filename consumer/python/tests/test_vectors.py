"""Every vector of shared/vectors/keypoints.json (made by the Rust encoder): valid ones decode to
their JSON view and re-encode to their bytes; invalid ones fail with the same reason token."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from conftest import REPO
from posestream import DecodeError, decode, encode

VECTORS = REPO / "shared" / "vectors" / "keypoints.json"


def load() -> list:
    doc = json.loads(VECTORS.read_text())
    assert doc["format"] == "posestream-test-vectors/1"
    return doc["vectors"]


def f32(v: float) -> bytes:
    return struct.pack("<f", v)


def same(a: Any, b: Any, path: str = "$") -> None:
    """Equal JSON, numbers with a fraction compared as f32."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), path
        assert f32(a) == f32(b), f"{path}: {a} != {b}"
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"


def test_the_file_has_both_versions_and_invalid_vectors() -> None:
    vectors = load()
    assert {v["schema_version"] for v in vectors if v["valid"]} >= {1, 2}
    assert sum(1 for v in vectors if not v["valid"]) >= 5


@pytest.mark.parametrize("vector", load() if VECTORS.exists() else [None], ids=lambda v: v["name"] if v else "missing")
def test_vector(vector: Any) -> None:
    assert vector is not None, f"{VECTORS} is missing (merge the wire branch)"
    data = bytes.fromhex(vector["hex"])
    if vector["valid"]:
        msg = decode(data)
        same(msg.to_json(), vector["json"])
        assert msg.to_json() == vector["json"], "exactly the Rust JSON view"
        assert msg.schema_version == vector["schema_version"]
        assert encode(msg) == data, "re-encoding gives the bytes back"
    else:
        with pytest.raises(DecodeError) as e:
            decode(data)
        assert e.value.reason == vector["error"], str(e.value)
