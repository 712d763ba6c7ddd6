"""How often the detector is right: every synthetic sequence and every recorded one, a table.

    python -m posestream_events.evaluate [DATA_DIR]

DATA_DIR holds the recorded sequences (JSON lines of keypoint views, scripts/record-keypoints.sh)
with their expected event counts in ``expected.json``. Prints a Markdown table: per sequence the
expected and detected count of each event type, then the totals with precision and recall.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from posestream import KeypointMessage

from .detect import EVENT_TYPES, EventDetector
from .synthetic import Sequence, all_sequences


def recorded(data_dir: Path) -> List[Sequence]:
    expected = json.loads((data_dir / "expected.json").read_text())
    out = []
    for name, item in expected.items():
        lines = (data_dir / f"{name}.jsonl").read_text().splitlines()
        msgs = [KeypointMessage.from_json(json.loads(line)) for line in lines]
        out.append(Sequence(f"recorded-{name}", item["description"], msgs, item["events"]))
    return out


def detect(seq: Sequence) -> Counter:
    det = EventDetector()
    return Counter(e.type for m in seq.messages for e in det.feed(m))


def table(seqs: List[Sequence]) -> Tuple[str, bool]:
    short = {"person_entered": "entered", "person_left": "left", "fall_detected": "fall", "repetition_counted": "reps"}
    head = "| sequence | frames | " + " | ".join(f"{short[t]} exp/got" for t in EVENT_TYPES) + " | right |"
    rows = [head, "|" + "---|" * (len(EVENT_TYPES) + 3)]
    tp: Dict[str, int] = Counter()
    exp_total: Dict[str, int] = Counter()
    got_total: Dict[str, int] = Counter()
    all_right = True
    for s in seqs:
        got = detect(s)
        right = all(got[t] == s.expected.get(t, 0) for t in EVENT_TYPES)
        all_right &= right
        for t in EVENT_TYPES:
            tp[t] += min(got[t], s.expected.get(t, 0))
            exp_total[t] += s.expected.get(t, 0)
            got_total[t] += got[t]
        rows.append(f"| {s.name} | {len(s.messages)} | " + " | ".join(f"{s.expected.get(t, 0)}/{got[t]}" for t in EVENT_TYPES)
                    + f" | {'yes' if right else '**no**'}{' (known limit)' if s.known_limit else ''} |")  # fmt: skip
    rows.append("")
    rows.append("| event | expected | detected | precision | recall |")
    rows.append("|---|---|---|---|---|")
    for t in EVENT_TYPES:
        p = tp[t] / got_total[t] if got_total[t] else 1.0
        r = tp[t] / exp_total[t] if exp_total[t] else 1.0
        rows.append(f"| {t} | {exp_total[t]} | {got_total[t]} | {p:.2f} | {r:.2f} |")
    return "\n".join(rows), all_right


def main() -> int:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "tests" / "data"
    text, _ = table(all_sequences() + recorded(data_dir))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
