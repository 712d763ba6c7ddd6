#!/usr/bin/env bash
# Unpacks libcamera's development headers from Debian 13 (trixie) into a cache, without touching
# the system's apt configuration, so the `libcamera` feature of pose-edge can be compile-checked on
# Debian 12 (whose libcamera 0.0.3 is older than the libcamera crate supports). Prints the
# directory to add to PKG_CONFIG_PATH. Linking needs the real library (on a Pi: libcamera-dev).
#
# Also installs libclang-dev (apt) when missing: the libcamera-sys crate runs bindgen.
set -euo pipefail
LIBCAMERA_VERSION=0.4.0-7
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}/libcamera-headers
pc=$cache/pkgconfig

say() { printf 'libcamera-headers: %s\n' "$*" >&2; }

if ! dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q 'install ok installed'; then
    say "installing libclang-dev (bindgen)"
    sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends libclang-dev >&2
fi

if [[ ! -f $pc/libcamera.pc ]]; then
    apt_dir=$cache/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/debs"
    # The same Debian mirror this machine already uses, with the trixie suite.
    mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}')
    [[ -n $mirror ]] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $2}')
    [[ -n $mirror ]] || { say "no Debian mirror found in the apt sources"; exit 1; }
    echo "deb $mirror trixie main" >"$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
    say "reading Debian trixie's package list (private apt directories)"
    apt-get "${opts[@]}" update -q >&2
    # The pinned version; if a point release replaced it, the current one (the crate takes 0.4-0.7).
    (cd "$cache/debs" && { apt-get "${opts[@]}" download -q "libcamera-dev=$LIBCAMERA_VERSION" ||
        apt-get "${opts[@]}" download -q libcamera-dev; }) >&2
    deb=("$cache"/debs/libcamera-dev_*.deb)
    rm -rf "$cache/root" && mkdir -p "$cache/root" "$pc"
    dpkg-deb -x "${deb[0]}" "$cache/root"
    for f in libcamera libcamera-base; do
        src=$(find "$cache/root" -name "$f.pc" | head -n 1)
        [[ -n $src ]] || { say "no $f.pc in ${deb[0]##*/}"; exit 1; }
        sed "s#^prefix=/usr#prefix=$cache/root/usr#" "$src" >"$pc/$f.pc"
    done
    say "headers of ${deb[0]##*/} ready"
fi
echo "$pc"
