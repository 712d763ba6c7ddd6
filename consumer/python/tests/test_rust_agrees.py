"""The Python decoder agrees with the Rust one on 20 000 random and mutated messages: the same
reason token for every bad one, the same JSON view for every good one.

The Rust side is the example ``shared/examples/decode_lines.rs`` (``cargo test`` builds it; found
in ``$CARGO_TARGET_DIR`` or ``target``). Without it the test is skipped, unless
``POSESTREAM_REQUIRE_RUST=1`` (set by ``scripts/consumer-test.sh``) makes that a failure.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, make_message
from posestream import DecodeError, decode, encode


def rust_decoder() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    exe = target / "debug" / "examples" / "decode_lines"
    if not exe.exists():
        if os.environ.get("POSESTREAM_REQUIRE_RUST") == "1":
            pytest.fail(f"{exe} is missing: cargo build -p pose-shared --example decode_lines")
        pytest.skip(f"{exe} is not built (cargo build -p pose-shared --example decode_lines)")
    return exe


def inputs(n: int) -> list:
    rng = random.Random(2026)
    goods = [encode(make_message(v, p, w, camera=c)) for v, p, w, c in
             [(1, 0, False, "a"), (1, 2, False, "cam-1"), (2, 0, False, "x" * 64), (2, 1, True, "cam-01"), (2, 3, False, "c.d_e")]]  # fmt: skip
    out = list(goods)
    while len(out) < n:
        kind = rng.random()
        if kind < 0.15:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
            continue
        data = bytearray(rng.choice(goods))
        if kind < 0.75:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind < 0.85:
            data = data[: rng.randrange(len(data))]
        elif kind < 0.95:
            # Aim at the fields with rules: the id length, the first id byte, run, the count.
            at = rng.choice([2, 10, 11, 16, 53, 61])
            if at < len(data):
                data[at] = rng.choice([0, 1, 2, 17, 65, 0x2F, 0x7F, 0x80, 0xFF])
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        out.append(bytes(data))
    return out


def test_python_and_rust_decoders_agree() -> None:
    exe = rust_decoder()
    cases = inputs(20_000)
    done = subprocess.run([str(exe)], input="\n".join(c.hex() for c in cases) + "\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rust = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rust) == len(cases)
    outcomes = {"ok": 0}
    for data, r in zip(cases, rust):
        try:
            mine = {"json": decode(data).to_json()}
            outcomes["ok"] += 1
        except DecodeError as e:
            mine = {"error": e.reason}
            outcomes[e.reason] = outcomes.get(e.reason, 0) + 1
        assert mine == r, f"{data.hex()}: python {str(mine)[:200]} rust {str(r)[:200]}"
    # The inputs reach most outcomes (a weak generator would make the test pass trivially).
    assert len(outcomes) >= 8 and outcomes["ok"] > 100, outcomes
