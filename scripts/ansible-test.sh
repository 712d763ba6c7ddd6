#!/usr/bin/env bash
# Tests the deployment in ansible/ without a Pi or an EC2 host:
#   1. ansible-lint (production profile) and ansible-playbook --syntax-check;
#   2. a real run of site.yml with ansible_connection=local against a staging root
#      (posestream_staging=true: everything installs under that directory; apt, users, systemd,
#      devices and Kafka's download and storage format are skipped);
#   3. checks of the rendered configs, units and installed files, and both binaries accepting
#      their rendered configs (pose-edge/pose-cloud --check-config); pose-edge is the real aarch64
#      artifact of `make pi` (the .deb), so its --check-config runs under qemu-aarch64 in the
#      Debian 13 arm64 root of scripts/pi-toolchain.sh;
#   4. a second run that must report changed=0 (idempotence);
#   5. the edge role refusing a Pi that does not fit the artifact (architecture, OS release,
#      libcamera), each with its message.
# ansible-core and ansible-lint (pinned) are installed once into a venv in the cache.
#   scripts/ansible-test.sh [EDGE_DEB CLOUD_BINARY]
#   (default: the newest dist/pose-edge_*_arm64.deb, target/debug/pose-cloud)
set -euo pipefail

ANSIBLE_CORE=2.17.14
ANSIBLE_LINT=24.12.2
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${POSESTREAM_CACHE:-$HOME/.cache/posestream}"
venv="$cache/ansible-$ANSIBLE_CORE-lint-$ANSIBLE_LINT"
target="${CARGO_TARGET_DIR:-$repo/target}"
edge_deb="${1:-$(ls -t "$repo"/dist/pose-edge_*_arm64.deb 2>/dev/null | head -n 1)}"
cloud_bin="${2:-$target/debug/pose-cloud}"
say() { printf 'ansible-test: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ -f "$edge_deb" ] || fail "no pose-edge artifact: run \`make pi\` first"
[ -x "$cloud_bin" ] || fail "build pose-cloud first (cargo build -p pose-cloud): $cloud_bin"
emu="$("$repo/scripts/pi-toolchain.sh")/emu"
"$repo/models/fetch.sh" --arch aarch64 2>/dev/null || fail "models/fetch.sh --arch aarch64"
if [ ! -x "$venv/bin/ansible-lint" ]; then
    say "installing ansible-core $ANSIBLE_CORE and ansible-lint $ANSIBLE_LINT into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "ansible-core==$ANSIBLE_CORE" "ansible-lint==$ANSIBLE_LINT"
fi
export PATH="$venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_LOCALHOST_WARNING=false
cd "$repo/ansible"

say "ansible-lint --profile production"
ansible-lint --offline --profile production -q edge.yml cloud.yml site.yml roles
say "syntax check"
ansible-playbook -i inventory.example.ini --syntax-check site.yml >/dev/null

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
mkdir -p "$root"
# Secrets for the staging run: a throwaway CA-less self-signed certificate for both listeners.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" \
    -keyout "$stage/key.pem" -out "$stage/cert.pem" 2>/dev/null
indent() { sed 's/^/  /' "$1"; }
cat >"$stage/vars.yml" <<VARS
posestream_staging: true
posestream_root: "$root"
ansible_python_interpreter: "$venv/bin/python"
edge_deb_src: "$edge_deb"
# What a fitting Pi reports (this machine is not one): Raspberry Pi OS trixie with libcamera 0.4.
edge_host_arch: aarch64
edge_host_release: trixie
edge_host_libcamera: ["libcamera0.4=0.4.0-7"]
cloud_binary_src: "$cloud_bin"
edge_source: synthetic
cloud_http_addr: "0.0.0.0:8443"
# Kafka on loopback ports of its own (scripts/kafka-secured-test.sh starts it from the rendered
# server.properties): the public name is localhost, which the test certificate names.
kafka_bind_host: 127.0.0.1
kafka_internal_host: 127.0.0.1
posestream_kafka_internal_port: 19892
posestream_kafka_external_port: 19894
kafka_controller_port: 19893
kafka_replication_port: 19895
vault_kafka_edge_passwords:
  pi-staging: "staging-edge-password-123"
vault_kafka_cloud_password: "staging-cloud-password-123"
vault_cloud_viewer_password: "staging-viewer-password-123"
vault_kafka_ca_cert: |
$(indent "$stage/cert.pem")
vault_kafka_tls_cert: |
$(indent "$stage/cert.pem")
vault_kafka_tls_key: |
$(indent "$stage/key.pem")
vault_cloud_tls_cert: |
$(indent "$stage/cert.pem")
vault_cloud_tls_key: |
$(indent "$stage/key.pem")
VARS
cat >"$stage/inventory.ini" <<'INV'
[pis]
pi-staging ansible_connection=local

[cloud]
cloud-staging ansible_connection=local kafka_public_host=localhost
INV

run() {
    ansible-playbook -i "$stage/inventory.ini" -e "@$stage/vars.yml" site.yml >"$stage/run$1.log" 2>&1 \
        || { cat "$stage/run$1.log"; fail "run $1"; }
    sed -n '/PLAY RECAP/,$p' "$stage/run$1.log" >&2
}
say "staging run 1 into $root"
run 1

etc="$root/etc/posestream"
bin="$root/opt/posestream/bin"
check() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }
mode() { [ "$(stat -c %a "$1")" = "$2" ] || fail "$1 has mode $(stat -c %a "$1"), want $2"; }
edge_bin="$root/usr/bin/pose-edge"
for f in "$edge_bin" "$bin/pose-cloud"; do mode "$f" 755; done
dpkg-deb --fsys-tarfile "$edge_deb" | tar -xO ./usr/bin/pose-edge | cmp -s - "$edge_bin" ||
    fail "pose-edge is not the artifact's binary"
file -b "$edge_bin" | grep -q 'ARM aarch64' || fail "pose-edge is not an aarch64 binary"
[ -f "$root/var/cache/posestream/${edge_deb##*/}" ] || fail "the package was not copied"
mode "$etc/edge.toml" 640
mode "$etc/viewer-password" 640
mode "$etc/tls/viewer.key" 640
mode "$root/etc/kafka/tls/server.pem" 640
check "$etc/edge.toml" 'camera_id = "pi-staging"'
check "$etc/edge.toml" 'brokers = "localhost:19894"'
check "$etc/edge.toml" '"security.protocol" = "SASL_SSL"'
check "$etc/edge.toml" '"sasl.mechanism" = "SCRAM-SHA-512"'
check "$etc/edge.toml" '"sasl.username" = "edge-pi-staging"'
check "$etc/edge.toml" "models_dir = \"$root/opt/posestream/models\""
check "$etc/cloud.toml" 'addr = "0.0.0.0:8443"'
check "$etc/cloud.toml" "password_file = \"$etc/viewer-password\""
grep -q "staging-viewer-password" "$etc/cloud.toml" && fail "the viewer password is in cloud.toml"
mode "$etc/cloud.toml" 640
check "$etc/cloud.toml" '"security.protocol" = "SASL_PLAINTEXT"'
check "$etc/cloud.toml" '"sasl.username" = "cloud"'
mode "$root/etc/kafka/posestream-setup.sh" 700
check "$root/etc/systemd/system/pose-edge.service" "ExecStart=$edge_bin --config $etc/edge.toml run"
check "$root/etc/systemd/system/pose-edge.service" "DevicePolicy=closed"
check "$root/etc/systemd/system/pose-edge.service" "SupplementaryGroups=video gpio"
check "$root/etc/systemd/system/pose-cloud.service" "ExecStart=$bin/pose-cloud --config $etc/cloud.toml run"
check "$root/etc/systemd/system/pose-cloud.service" "NoNewPrivileges=true"
props="$root/etc/kafka/server.properties"
check "$props" "process.roles=broker,controller"
check "$root/etc/systemd/system/kafka.service" "Environment=\"LOG_DIR=$root/var/log/kafka\""
check "$props" "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_SSL,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT"
check "$props" "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
check "$props" "allow.everyone.if.no.acl.found=false"
check "$props" "advertised.listeners=INTERNAL://"
check "$props" ",EXTERNAL://localhost:19894"
check "$props" "listener.name.external.sasl.enabled.mechanisms=SCRAM-SHA-512"
grep -qi zookeeper "$props" && fail "ZooKeeper in server.properties"
for f in pose_detection.tflite pose_landmark_full.tflite libLiteRt.so; do
    [ -f "$root/opt/posestream/models/$f" ] || fail "model $f not installed"
done
say "rendered files are right"

# The binaries accept what was rendered (models load, TLS files parse, Kafka settings accepted).
# pose-edge is the aarch64 artifact: under qemu, with the aarch64 LiteRT (staging fetched x86's).
qemu-aarch64 -cpu cortex-a72 -L "$emu" "$edge_bin" --check-config --config "$etc/edge.toml" \
    --litert-lib "$repo/models/aarch64/libLiteRt.so" >"$stage/edge-check.txt" 2>"$stage/edge-check.err" \
    || { tail -n 20 "$stage/edge-check.err"; fail "pose-edge --check-config (qemu-aarch64)"; }
"$bin/pose-cloud" --check-config --config "$etc/cloud.toml" >"$stage/cloud-check.txt" 2>&1 \
    || { cat "$stage/cloud-check.txt"; fail "pose-cloud --check-config"; }
check "$stage/cloud-check.txt" "viewer on https://0.0.0.0:8443 with authentication"
for secret in staging-edge-password-123 staging-viewer-password-123; do
    grep -q "$secret" "$stage/edge-check.txt" "$stage/cloud-check.txt" && fail "a secret was printed"
done
say "pose-edge and pose-cloud accept their rendered configs: $(tail -n1 "$stage/edge-check.txt")"

# What is tested is what is deployed: the role's Kafka is the version every test runs.
role_kafka=$(sed -n 's/^kafka_version: "\([^"]*\)".*/\1/p' "$repo/ansible/roles/kafka/defaults/main.yml")
script_kafka=$(sed -n 's/^KAFKA_VERSION=//p' "$repo/scripts/broker.sh")
[ "$role_kafka" = "$script_kafka" ] || fail "the kafka role deploys $role_kafka, the tests run $script_kafka"
say "the kafka role deploys Apache Kafka $role_kafka, the version scripts/broker.sh runs"

# The rendered Kafka, edge and cloud configurations for real: the secured hop and the ACLs.
"$repo/scripts/kafka-secured-test.sh" "$stage" "$root"

say "staging run 2 (idempotence)"
run 2
if grep -E '^[a-z-]+ +: ok=' "$stage/run2.log" | grep -vq 'changed=0 '; then
    fail "the second run changed something"
fi
say "second run: changed=0 on every host"

# A Pi that does not fit the artifact is refused before anything is installed, with the reason.
refuse() {
    local what=$1 want=$2; shift 2
    if ansible-playbook -i "$stage/inventory.ini" -e "@$stage/vars.yml" "$@" edge.yml \
        >"$stage/refuse.log" 2>&1; then
        fail "the edge role installed on a Pi with $what"
    fi
    grep -q -- "$want" "$stage/refuse.log" || { cat "$stage/refuse.log"; fail "no clear message for $what"; }
    say "refused a Pi with $what: $(grep -o "Not installing[^\"]*" "$stage/refuse.log" | head -n 1 | cut -c1-140)..."
}
refuse "an armv7l (32-bit) OS" "this host is armv7l" -e edge_host_arch=armv7l
refuse "Debian 12 (bookworm)" "runs bookworm" -e edge_host_release=bookworm
refuse "Raspberry Pi OS's libcamera 0.5" "make pi PI_FEATURES=gpio" \
    -e '{"edge_host_libcamera": ["libcamera0.5=0.5.2+rpt20250903-1"]}'
