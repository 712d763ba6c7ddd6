#!/usr/bin/env bash
# Creates (once) a virtual environment with MediaPipe 0.10.14, the reference that the accuracy
# test and the benchmark compare pose-edge against, with the lite and heavy landmark models of
# models/fetch.sh in its package folder. Prints the environment's python.
#
# Environment: POSESTREAM_CACHE (default ~/.cache/posestream). Needs python3 with venv (Debian:
# python3-venv) and about 400 MB of disk; the first run takes about a minute.
set -euo pipefail
MEDIAPIPE_VERSION=0.10.14
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
venv=$cache/mediapipe-$MEDIAPIPE_VERSION-venv
py=$venv/bin/python

models=$(cd "$(dirname "${BASH_SOURCE[0]}")/../models" && pwd)

# The wheel ships only the full landmark model; MediaPipe's Python solution looks for the lite and
# heavy ones in its package folder before downloading them. Put the pinned, verified files of
# models/fetch.sh there (`model_complexity` 0 and 2 then run offline, on the same bytes as pose-edge).
place_variants() {
    "$models/fetch.sh" --check >/dev/null 2>&1 || "$models/fetch.sh" >&2
    local dest
    dest=$("$py" -c "import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), 'modules', 'pose_landmark'))")
    for v in lite heavy; do
        cmp -s "$models/pose_landmark_$v.tflite" "$dest/pose_landmark_$v.tflite" ||
            cp "$models/pose_landmark_$v.tflite" "$dest/pose_landmark_$v.tflite"
    done
}

if [[ -x $py ]] && "$py" -c "import mediapipe, sys; sys.exit(mediapipe.__version__ != '$MEDIAPIPE_VERSION')" 2>/dev/null; then
    place_variants
    echo "$py"
    exit 0
fi
echo "mediapipe-venv: installing mediapipe==$MEDIAPIPE_VERSION into $venv (once)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "mediapipe==$MEDIAPIPE_VERSION"
"$py" -c "import mediapipe; print('mediapipe-venv: ok', mediapipe.__version__)" >&2
place_variants
echo "$py"
