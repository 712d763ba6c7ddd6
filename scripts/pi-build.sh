#!/usr/bin/env bash
# `make pi`: cross-builds a release pose-edge for aarch64 with the Pi features (libcamera, gpio)
# and packs it as a Debian package, dist/pose-edge_<version>_arm64.deb, holding:
#
#   /usr/bin/pose-edge                                 the binary (stripped)
#   /usr/share/posestream/fetch.sh                     models/fetch.sh (the Pi fetches the pinned,
#                                                      hashed models and its LiteRT runtime)
#   /usr/share/doc/pose-edge/pose-edge.example.toml    the example configuration
#   /usr/share/doc/pose-edge/MANIFEST                  versions and sha256 sums
#   /lib/systemd/system/pose-edge.service              a plain unit; ansible installs its own,
#                                                      hardened one in /etc/systemd/system
#
# Toolchain: scripts/pi-toolchain.sh (Debian's rustc-web with its aarch64 std, the aarch64 GCC,
# OpenSSL and zlib for arm64 through multiarch, libcamera 0.4 from Debian 13 in a private
# sysroot). OpenSSL and zlib are linked statically, so the package depends only on the C and C++
# runtimes and libcamera0.4; it runs on Debian 13 "trixie"-based systems (README "Deploy").
#
# Beside it, dist/pose-edge_<version>_arm64.requires.yml states what the Pi must have (architecture,
# OS release, libcamera package) for the ansible edge role to check before installing.
#
# Environment: POSESTREAM_PI_TARGET (cargo target dir; default ~/.cache/posestream/pi-target, kept
# apart from the host's), PI_FEATURES (default "libcamera,gpio"; "gpio" builds an artifact without
# native libcamera, for a Pi whose libcamera differs: it uses `source.kind = "rpicam"`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
target=aarch64-unknown-linux-gnu
features=${PI_FEATURES:-libcamera,gpio}
say() { printf 'pi: %s\n' "$*" >&2; }

sysroot=$("$root/scripts/pi-toolchain.sh")

export CARGO_TARGET_DIR=${POSESTREAM_PI_TARGET:-$cache/pi-target}
# Debian's rustc (rustc-web) has the aarch64 standard library; rustup's toolchain may not.
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# The cc crate reads the per-target names; librdkafka's own ./configure reads plain CC/CXX/AR,
# so those name the cross tools and the host's build scripts get theirs by name too.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CC_x86_64_unknown_linux_gnu=gcc CXX_x86_64_unknown_linux_gnu=g++ AR_x86_64_unknown_linux_gnu=ar
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
# librdkafka's configure runs on the build machine: tell it the host triple through its CC only.
# pkg-config: libcamera 0.4 from the private sysroot, OpenSSL and zlib from multiarch arm64.
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR=$sysroot/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export OPENSSL_STATIC=1 LIBZ_SYS_STATIC=1
export AARCH64_UNKNOWN_LINUX_GNU_OPENSSL_LIB_DIR=/usr/lib/aarch64-linux-gnu
export AARCH64_UNKNOWN_LINUX_GNU_OPENSSL_INCLUDE_DIR=/usr/include
# bindgen (libcamera-sys) runs clang for aarch64 against the cross GCC's headers.
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=$target -I$sysroot/root/usr/include"
# libcamera's own dependencies (libyaml, libudev, ...) exist only on the Pi: let the linker leave
# them unresolved in the shared libraries; the loader finds them there.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined -C link-arg=-Wl,-rpath-link,$sysroot/root/usr/lib/aarch64-linux-gnu"

say "cargo build --release --target $target -p pose-edge --features $features ($("$RUSTC" --version))"
start=$(date +%s)
cargo build --release --locked --target "$target" -p pose-edge --features "$features"
say "built in $(($(date +%s) - start)) s"

bin=$CARGO_TARGET_DIR/$target/release/pose-edge
version=$(cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml" |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="pose-edge"))')
libcamera_pkg=$(cat "$sysroot/libcamera-package")
libcamera_version=$(PKG_CONFIG_PATH= pkg-config --modversion libcamera)

stage=$CARGO_TARGET_DIR/deb/pose-edge_${version}_arm64
rm -rf "$stage"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/posestream" "$stage/usr/share/doc/pose-edge" \
    "$stage/lib/systemd/system"
aarch64-linux-gnu-strip -o "$stage/usr/bin/pose-edge" "$bin"
install -m 0755 "$root/models/fetch.sh" "$stage/usr/share/posestream/fetch.sh"
install -m 0644 "$root/edge/pose-edge.example.toml" "$stage/usr/share/doc/pose-edge/pose-edge.example.toml"
install -m 0644 "$root/scripts/pi/pose-edge.service" "$stage/lib/systemd/system/pose-edge.service"

# Runtime dependencies: what the binary itself names (objdump), mapped to Debian 13 packages.
needed=$(aarch64-linux-gnu-objdump -p "$bin" | awk '/NEEDED/ {print $2}' | sort | tr '\n' ' ')
depends="libc6 (>= 2.36), libgcc-s1, libstdc++6 (>= 12)"
case " $needed " in *" libcamera.so"*) depends+=", $libcamera_pkg (>= ${libcamera_version}), $libcamera_pkg (<< ${libcamera_version%.*}.999)" ;; esac
for lib in $needed; do
    case $lib in
        libc.so.6 | libm.so.6 | libgcc_s.so.1 | libstdc++.so.6 | ld-linux-aarch64.so.1 | libcamera.so.* | libcamera-base.so.*) ;;
        *) say "error: the binary needs $lib, which no Depends entry covers"; exit 1 ;;
    esac
done

git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)
{
    echo "package: pose-edge $version arm64"
    echo "source: posestream $git_rev$dirty"
    echo "target: $target, features: $features"
    echo "target os: Debian 13 (trixie) based, aarch64: Raspberry Pi OS 64-bit (trixie)"
    echo "rustc: $("$RUSTC" --version)"
    echo "linker: $(aarch64-linux-gnu-gcc --version | head -n 1)"
    echo "librdkafka: $(grep -A1 '^name = "rdkafka-sys"' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p' | cut -d+ -f2) (static, built by rdkafka-sys)"
    echo "openssl: $(dpkg-query -W -f='${Version}' libssl-dev:arm64) (static, Debian 12 libssl-dev:arm64)"
    echo "zlib: static (libz-sys)"
    echo "libcamera: $libcamera_version (linked against Debian 13 $libcamera_pkg; needs libcamera.so.${libcamera_version%.*})"
    echo "needed: $needed"
    echo "sha256:"
    (cd "$stage" && find usr lib -type f ! -name MANIFEST | sort | xargs sha256sum | sed 's/^/  /')
} >"$stage/usr/share/doc/pose-edge/MANIFEST"

installed_kb=$(du -sk "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: pose-edge
Version: $version
Architecture: arm64
Maintainer: posestream <posestream@example.invalid>
Installed-Size: $installed_kb
Depends: $depends
Recommends: python3-pip, ffmpeg, rpicam-apps-lite
Section: video
Priority: optional
Homepage: https://example.invalid/posestream
Description: posestream edge service for the Raspberry Pi
 Captures camera frames (libcamera, rpicam-vid, V4L2 or a video file), estimates
 human pose with BlazePose on the LiteRT runtime and publishes keypoints and JPEG
 frames to Kafka. Built for Debian 13 (trixie) based systems, aarch64.
EOF

mkdir -p "$root/dist"
deb=$root/dist/pose-edge_${version}_arm64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
# What the target must have, for the ansible edge role's checks (README "Deploy").
libcamera_req='""'
case " $needed " in *" libcamera.so"*) libcamera_req=$libcamera_pkg ;; esac
cat >"${deb%.deb}.requires.yml" <<EOF
---
# Written by scripts/pi-build.sh with ${deb##*/}; read by the ansible edge role.
edge_artifact_deb: ${deb##*/}
edge_artifact_arch: aarch64
# Debian 13 and Raspberry Pi OS 64-bit based on it (glibc >= 2.36 and libcamera below).
edge_artifact_releases: [trixie]
# The libcamera library package the binary links against ("": none; use source rpicam).
edge_artifact_libcamera_package: $libcamera_req
edge_artifact_libcamera_version: "$libcamera_version"
EOF
say "$(du -h "$deb" | cut -f1) $deb"
echo "$deb"
