#!/usr/bin/env bash
# Supply-chain policy (deny.toml) with cargo-deny, pinned and installed once into the cache.
#   licenses  only the permissive licences deny.toml lists
#   bans      no bincode 3, no tflite crate, no wildcard versions (duplicates are warnings)
#   sources   crates.io only
#   advisories  the RustSec database: not reachable from this project's machines (no GitHub), so
#               it runs only when POSESTREAM_ADVISORY_DB names a checkout of rustsec/advisory-db.
set -euo pipefail
CARGO_DENY_VERSION=0.18.4
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${POSESTREAM_CACHE:-$HOME/.cache/posestream}"
tools="$cache/tools/cargo-deny-$CARGO_DENY_VERSION"
if [ ! -x "$tools/bin/cargo-deny" ]; then
    echo "audit: installing cargo-deny $CARGO_DENY_VERSION into $tools (once)" >&2
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --root "$tools" --quiet
fi
deny="$tools/bin/cargo-deny"
cd "$repo"
"$deny" --log-level error check --disable-fetch licenses bans sources
if [ -n "${POSESTREAM_ADVISORY_DB:-}" ]; then
    dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
    mkdir -p "$dbs"
    # cargo-deny looks the database up under db-path by the URL's hash: link the checkout there.
    name=$("$deny" check --disable-fetch advisories 2>&1 | sed -n 's|.*advisory-dbs/\(advisory-db-[0-9a-f]*\).*|\1|p' | head -n1)
    [ -n "$name" ] && ln -sfn "$POSESTREAM_ADVISORY_DB" "$dbs/$name"
    "$deny" --log-level error check --disable-fetch advisories
else
    echo "audit: advisories SKIPPED: no RustSec database here (set POSESTREAM_ADVISORY_DB to a checkout of rustsec/advisory-db)" >&2
fi
