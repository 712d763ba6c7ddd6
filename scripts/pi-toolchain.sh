#!/usr/bin/env bash
# Prepares the aarch64 cross toolchain for `make pi`, skipping what is there, and prints the
# sysroot directory that holds libcamera for aarch64.
#
#   apt (host, Debian 12): rustc-web and libstd-rust-web-dev:arm64 (Debian's rustc with the aarch64
#        standard library; rustup cannot fetch targets on the CI machines), gcc/g++-aarch64-linux-gnu
#        (linker, and the C/C++ compiler for librdkafka and libcamera-sys' shim), libssl-dev:arm64
#        and zlib1g-dev:arm64 (multiarch, co-installed with the host's own), qemu-user (the
#        emulated checks), libclang-dev (bindgen for libcamera-sys). Adds the arm64 architecture
#        to dpkg once.
#   libcamera: Debian 13 (trixie)'s libcamera-dev and its library for arm64, unpacked into
#        $POSESTREAM_CACHE/pi-sysroot with apt under private directories (the system's apt
#        configuration is not touched). Debian 12's libcamera 0.0.3 is older than the libcamera
#        crate supports; the artifact therefore targets Debian 13-based systems (see README "Deploy").
#        Also unpacks libcamera's runtime closure with Debian 13's libc and libstdc++ into
#        $POSESTREAM_CACHE/pi-sysroot/emu: the root the emulated checks run the binary in.
#
# Needs root (or sudo) only when a package is missing.
set -euo pipefail
LIBCAMERA_VERSION=0.4.0-7
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
sysroot=$cache/pi-sysroot

say() { printf 'pi-toolchain: %s\n' "$*" >&2; }
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg"
    "${sudo[@]}" dpkg --add-architecture arm64
fi

packages=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
    libssl-dev:arm64 zlib1g-dev:arm64 qemu-user libclang-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [[ ! -f $sysroot/.libcamera-$LIBCAMERA_VERSION ]]; then
    apt_dir=$cache/pi-apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
    mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}')
    [[ -n $mirror ]] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $2}')
    [[ -n $mirror ]] || { say "no Debian mirror found in the apt sources"; exit 1; }
    echo "deb [arch=arm64] $mirror trixie main" >"$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
        -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::status=/dev/null")
    say "reading Debian trixie's arm64 package list (private apt directories)"
    apt-get "${opts[@]}" update -q >&2
    # libcamera-dev pins its library package (libcamera0.4) to the same version.
    lib_pkg=$(apt-cache "${opts[@]}" depends "libcamera-dev=$LIBCAMERA_VERSION" |
        awk '/Depends: libcamera[0-9]/ {print $2; exit}')
    [[ -n $lib_pkg ]] || { say "libcamera-dev $LIBCAMERA_VERSION names no library package"; exit 1; }
    rm -f "$apt_dir"/debs/*.deb
    (cd "$apt_dir/debs" && apt-get "${opts[@]}" download -q \
        "libcamera-dev:arm64=$LIBCAMERA_VERSION" "$lib_pkg:arm64=$LIBCAMERA_VERSION") >&2
    rm -rf "$sysroot" && mkdir -p "$sysroot/pkgconfig"
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot/root"; done
    for f in libcamera libcamera-base; do
        src=$(find "$sysroot/root" -name "$f.pc" | head -n 1)
        [[ -n $src ]] || { say "no $f.pc in the libcamera packages"; exit 1; }
        sed "s#^prefix=/usr#prefix=$sysroot/root/usr#" "$src" >"$sysroot/pkgconfig/$f.pc"
    done
    echo "$lib_pkg" >"$sysroot/libcamera-package"
    # The emulated checks' root: libcamera's runtime closure and Debian 13's C and C++ runtimes
    # (what a trixie Pi has), for qemu-aarch64 -L; merged /usr as on trixie.
    closure=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$lib_pkg" libstdc++6 libc6 |
        grep -E '^[a-z0-9]' | sort -u)
    mkdir -p "$apt_dir/emu-debs" && rm -f "$apt_dir"/emu-debs/*.deb
    # shellcheck disable=SC2086
    (cd "$apt_dir/emu-debs" && apt-get "${opts[@]}" download -q $closure) >&2
    mkdir -p "$sysroot/emu"
    for deb in "$apt_dir"/emu-debs/*.deb; do dpkg-deb -x "$deb" "$sysroot/emu"; done
    for d in lib bin sbin; do [[ -e $sysroot/emu/$d ]] || ln -s "usr/$d" "$sysroot/emu/$d"; done
    touch "$sysroot/.libcamera-$LIBCAMERA_VERSION"
    say "libcamera $LIBCAMERA_VERSION ($lib_pkg) for arm64 ready in $sysroot ($(wc -w <<<"$closure") packages in emu/)"
fi
echo "$sysroot"
