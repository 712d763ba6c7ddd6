#!/usr/bin/env bash
# The Python side of the keypoint topic: the consumer kit's pytest suite (consumer/python: decoder,
# shared vectors, skeleton, consumer and `posestream tail` against the broker, the docs' example)
# and the event analytic's (consumer/analytic: every sequence, the process against the broker);
# the Python decoder is compared with the Rust one (shared/examples/decode_lines.rs, built here).
# Each suite must collect and pass tests: pytest's exit code 5 ("no tests collected") fails too.
#
# Environment: POSESTREAM_BROKERS (the broker under test; required: the broker tests fail
# without it), POSESTREAM_CACHE (the venv lives in $CACHE/consumer-venv).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=$("$repo/scripts/consumer-venv.sh")
(cd "$repo" && cargo build -q -p pose-shared --example decode_lines)
export POSESTREAM_REQUIRE_BROKER=1
# The Rust decoder example (built by `cargo test`) the Python decoder is compared with.
export POSESTREAM_REQUIRE_RUST=1
for suite in consumer/python consumer/analytic; do
    echo "consumer-test: pytest $suite" >&2
    set +e
    (cd "$repo/$suite" && "$py" -m pytest -q -p no:cacheprovider)
    rc=$?
    set -e
    if ((rc == 5)); then
        echo "consumer-test: $suite collected no tests (pytest exit 5): a failure" >&2
        exit 1
    fi
    ((rc == 0)) || { echo "consumer-test: $suite failed (pytest exit $rc)" >&2; exit "$rc"; }
done
