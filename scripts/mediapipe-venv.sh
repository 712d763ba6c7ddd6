#!/usr/bin/env bash
# Creates (once) a virtual environment with MediaPipe 0.10.14, the reference that the accuracy
# test and the benchmark compare pose-edge against. Prints the environment's python.
#
# Environment: POSESTREAM_CACHE (default ~/.cache/posestream). Needs python3 with venv (Debian:
# python3-venv) and about 400 MB of disk; the first run takes about a minute.
set -euo pipefail
MEDIAPIPE_VERSION=0.10.14
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
venv=$cache/mediapipe-$MEDIAPIPE_VERSION-venv
py=$venv/bin/python

if [[ -x $py ]] && "$py" -c "import mediapipe, sys; sys.exit(mediapipe.__version__ != '$MEDIAPIPE_VERSION')" 2>/dev/null; then
    echo "$py"
    exit 0
fi
echo "mediapipe-venv: installing mediapipe==$MEDIAPIPE_VERSION into $venv (once)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "mediapipe==$MEDIAPIPE_VERSION"
"$py" -c "import mediapipe; print('mediapipe-venv: ok', mediapipe.__version__)" >&2
echo "$py"
