"""The landmark names and skeleton edges equal shared/src/skeleton.rs, the Rust source of truth."""

from __future__ import annotations

import re

from conftest import REPO
from posestream import EDGES, LANDMARK_NAMES, NUM_LANDMARKS, LandmarkIndex


def rust_source() -> str:
    return (REPO / "shared" / "src" / "skeleton.rs").read_text()


def test_names_equal_rust() -> None:
    src = rust_source()
    block = re.search(r"LANDMARK_NAMES: \[&str; NUM_LANDMARKS\] = \[(.*?)\];", src, re.S)
    assert block, "LANDMARK_NAMES not found in skeleton.rs"
    assert tuple(re.findall(r'"([a-z_]+)"', block.group(1))) == LANDMARK_NAMES
    assert int(re.search(r"NUM_LANDMARKS: usize = (\d+);", src).group(1)) == NUM_LANDMARKS == 33


def test_edges_equal_rust() -> None:
    block = re.search(r"EDGES: \[\(u8, u8\); (\d+)\] = \[(.*?)\];", rust_source(), re.S)
    assert block, "EDGES not found in skeleton.rs"
    rust = tuple((int(a), int(b)) for a, b in re.findall(r"\((\d+),\s*(\d+)\)", block.group(2)))
    assert rust == EDGES and len(EDGES) == int(block.group(1)) == 35


def test_index_names() -> None:
    assert LandmarkIndex.LEFT_HIP == 23 and LandmarkIndex.RIGHT_FOOT_INDEX == 32
