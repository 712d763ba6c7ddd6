#!/usr/bin/env bash
# Creates (once) the virtual environment of the Python consumer kit's tests: the pinned packages of
# consumer/python/requirements-test.txt, then the kit itself (`pip install ./consumer/python`, as a
# downstream user installs it) and the example analytic (consumer/analytic). Prints the python.
#
# Environment: POSESTREAM_CACHE (default ~/.cache/posestream). Needs python3 >= 3.9 with venv
# (Debian: python3-venv); the first run takes about 30 s and 60 MB.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
venv=$cache/consumer-venv
py=$venv/bin/python
req=$repo/consumer/python/requirements-test.txt
stamp=$venv/.requirements-$(md5sum <"$req" | cut -c1-12)

if [[ ! -f $stamp ]]; then
    echo "consumer-venv: installing $(grep -v '^#' "$req" | xargs) into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$stamp"
fi
# The kit and the analytic from this checkout, every time (a few seconds; no dependencies fetched).
rm -rf "$repo/consumer/python/build" "$repo/consumer/analytic/build"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --force-reinstall "$repo/consumer/python" "$repo/consumer/analytic" >&2
echo "$py"
