#!/usr/bin/env bash
# Installs what building and testing posestream needs on Debian/Ubuntu, skipping what is there.
#
#   apt:   build-essential pkg-config libssl-dev zlib1g-dev (librdkafka is built from source by the
#          rdkafka crate and links OpenSSL and zlib); python3 python3-pip python3-venv (model
#          fetching with pip, the wire decoder test, the MediaPipe reference); ffmpeg (unpacks the
#          sample video and decodes video sources); chromium (the viewer's browser test);
#          openjdk-17-jre-headless and maven (the local Apache Kafka broker, scripts/broker.sh,
#          whose jars Maven resolves from Maven Central), when `java` or `mvn` is missing
#   node:  Node.js and npm must be there (the browser test's playwright-core); Debian: nodejs npm
#   cargo: the Rust toolchain must already be installed (rustup); crates come from crates.io
#
# Needs root (or sudo) only when a package is missing.
set -euo pipefail

packages=(build-essential pkg-config libssl-dev zlib1g-dev python3 python3-pip python3-venv ffmpeg chromium)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v java >/dev/null || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "setup: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup: system packages present" >&2
fi

command -v cargo >/dev/null || {
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
}
