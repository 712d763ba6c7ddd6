#!/usr/bin/env python3
"""Writes every message of shared/vectors/keypoints.json (valid and invalid) into DIR, one file
per vector named vector-NAME, as seeds for the keypoint_message fuzz target (scripts/fuzz.sh).
The seeds are made from the checked-in vectors on every run, so they cannot drift from them.

    scripts/vectors-to-corpus.py DIR
"""

import json
import os
import sys


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "shared", "vectors", "keypoints.json")) as f:
        vectors = json.load(f)["vectors"]
    os.makedirs(argv[0], exist_ok=True)
    for v in vectors:
        with open(os.path.join(argv[0], "vector-" + v["name"]), "wb") as out:
            out.write(bytes.fromhex(v["hex"]))
    print(f"fuzz: {len(vectors)} seeds from shared/vectors/keypoints.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
