#!/usr/bin/env bash
# The secured hop for real, from what the ansible roles rendered into a staging root
# (scripts/ansible-test.sh calls this after its staging run):
#   1. Apache Kafka (the jars of scripts/broker.sh, the role's version) starts from the kafka
#      role's own server.properties: INTERNAL SASL_PLAINTEXT, EXTERNAL SASL_SSL (the test's
#      certificate), SCRAM-SHA-512, StandardAuthorizer;
#   2. the role's own setup script creates the topics, one SCRAM user per camera and the cloud's,
#      and their ACLs (with the Kafka tools run from the same jars);
#   3. pose-edge publishes through EXTERNAL with its rendered edge.toml, pose-cloud reads through
#      INTERNAL with its rendered cloud.toml: the picture arrives over HTTPS with authentication;
#   4. refused, with a clear error on the edge, nothing published and nothing crashed: a wrong
#      password, a missing CA, plaintext on the EXTERNAL port;
#   5. least privilege: the camera's user cannot read the frames (other cameras' included) nor
#      create topics.
#
#   scripts/kafka-secured-test.sh STAGE_DIR ROOT
set -euo pipefail

stage=$1
root=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
etc=$root/etc/posestream
bin=$root/opt/posestream/bin
# pose-edge is the Pi artifact the edge role unpacked (aarch64): it runs under qemu-aarch64 in the
# Debian 13 arm64 root of scripts/pi-toolchain.sh, so the secured hop is proven with the real
# binary (its statically linked OpenSSL included).
edge=(qemu-aarch64 -cpu cortex-a72 -L "$("$repo/scripts/pi-toolchain.sh")/emu" "$root/usr/bin/pose-edge")
props=$root/etc/kafka/server.properties
work=$stage/secured
mkdir -p "$work"
say() { printf 'kafka-secured-test: %s\n' "$*" >&2; }
fail() {
    say "FAILED: $*"
    [[ -f $work/kafka.log ]] && { echo "---- end of the broker log" >&2; tail -n 40 "$work/kafka.log" >&2; }
    exit 1
}

classpath=$("$repo/scripts/broker.sh" classpath)
# The role calls the tools of the Kafka release (bin/kafka-*.sh); here the same classes run
# from the jars that scripts/broker.sh resolved.
tools=$work/bin
mkdir -p "$tools"
shim() {
    printf '#!/bin/sh\nexec java -cp "%s" %s "$@"\n' "$classpath" "$2" >"$tools/$1"
    chmod +x "$tools/$1"
}
shim kafka-storage.sh kafka.tools.StorageTool
shim kafka-topics.sh org.apache.kafka.tools.TopicCommand
shim kafka-acls.sh org.apache.kafka.tools.AclCommand
shim kafka-configs.sh kafka.admin.ConfigCommand
shim kafka-get-offsets.sh org.apache.kafka.tools.GetOffsetShell
shim kafka-console-consumer.sh org.apache.kafka.tools.consumer.ConsoleConsumer

prop() { sed -n "s/^$1=//p" "$props"; }
internal=$(prop advertised.listeners | tr ',' '\n' | sed -n 's|^INTERNAL://||p')
external=$(prop advertised.listeners | tr ',' '\n' | sed -n 's|^EXTERNAL://||p')
external_port=${external##*:}

kafka_pid=
edge_pid=
cloud_pid=
cleanup() {
    for p in $edge_pid $cloud_pid; do kill -TERM "$p" 2>/dev/null || true; done
    if [[ -n $kafka_pid ]]; then
        kill -TERM "$kafka_pid" 2>/dev/null || true
        wait "$kafka_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

say "formatting and starting Kafka from the role's server.properties (INTERNAL $internal, EXTERNAL $external)"
"$tools/kafka-storage.sh" format -t "$("$tools/kafka-storage.sh" random-uuid | tail -n 1)" -c "$props" \
    >"$work/format.log" 2>&1 || { cat "$work/format.log"; fail "format"; }
java -Xms384m -Xmx384m -Dlog4j2.configurationFile="$(dirname "${classpath%/\*}")/log4j2.properties" \
    -cp "$classpath" kafka.Kafka "$props" >"$work/kafka.log" 2>&1 &
kafka_pid=$!
for _ in $(seq 1 600); do
    grep -q 'Kafka Server started' "$work/kafka.log" && break
    kill -0 "$kafka_pid" 2>/dev/null || fail "Kafka exited"
    sleep 0.1
done
grep -q 'Kafka Server started' "$work/kafka.log" || fail "Kafka did not start in 60 s"

say "running the role's setup script (topics, SCRAM users, ACLs)"
KAFKA_BIN=$tools "$root/etc/kafka/posestream-setup.sh" >"$work/setup.log" 2>&1 \
    || { cat "$work/setup.log"; fail "the setup script"; }
tail -n 1 "$work/setup.log" >&2

# A free port on loopback for each program's HTTP side.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# An edge with the rendered edge.toml and extra flags; sets started_pid and started_port.
start_edge() {
    local name=$1
    shift
    started_port=$(free_port)
    "${edge[@]}" --config "$etc/edge.toml" --metrics-addr "127.0.0.1:$started_port" \
        --status-interval 2 "$@" run >"$work/$name.log" 2>&1 &
    started_pid=$!
}
delivered() { # metrics port → keypoint messages delivered
    curl -fs "http://127.0.0.1:$1/metrics" | sed -n 's/^pose_edge_messages_total{.*kind="keypoints",outcome="delivered"} //p' | head -n 1
}

# 3. The picture arrives: edge → EXTERNAL (SASL_SSL) → Kafka → INTERNAL (SCRAM) → cloud → HTTPS.
start_edge edge --no-pose
edge_pid=$started_pid
edge_port=$started_port
http=$(free_port)
"$bin/pose-cloud" --config "$etc/cloud.toml" --http-addr "127.0.0.1:$http" \
    --status-interval 2 run >"$work/cloud.log" 2>&1 &
cloud_pid=$!
camera=$(sed -n 's/^camera_id = "\(.*\)"/\1/p' "$etc/edge.toml")
user=$(sed -n 's/^username = "\(.*\)"/\1/p' "$etc/cloud.toml")
kafka_user=$(sed -n 's/^"sasl.username" = "\(.*\)"/\1/p' "$etc/cloud.toml")
password=$(cat "$etc/viewer-password")
got=
for _ in $(seq 1 300); do
    if curl -fsk -u "$user:$password" "https://127.0.0.1:$http/cameras/$camera/snapshot.jpg" -o "$work/snapshot.jpg" 2>/dev/null; then
        got=1
        break
    fi
    sleep 0.1
done
[[ -n $got ]] || { cat "$work/edge.log" "$work/cloud.log"; fail "no picture of $camera through the secured hop"; }
[[ $(head -c 2 "$work/snapshot.jpg" | od -An -tx1 | tr -d ' ') == ffd8 ]] || fail "the snapshot is not a JPEG"
sleep 2
published=$(delivered "$edge_port")
[[ ${published:-0} -gt 0 ]] || fail "the edge counted no delivered keypoint message"
say "ok: $camera's picture arrived through EXTERNAL (SASL_SSL, user edge-$camera) and INTERNAL (user $kafka_user), shown over HTTPS to $user; $published keypoint messages delivered"
kill -TERM "$edge_pid" "$cloud_pid"
wait "$edge_pid" || fail "the edge did not exit cleanly"
wait "$cloud_pid" || fail "the cloud did not exit cleanly"
edge_pid=
cloud_pid=

# End offsets of the keypoint topic, through the loopback listener (the super user).
keypoints_topic=$(sed -n '/^\[topics\]/,/^\[/s/^keypoints = "\(.*\)"/\1/p' "$etc/edge.toml")
replication=$(prop listeners | tr ',' '\n' | sed -n 's|^REPLICATION://||p')
end_offsets() {
    "$tools/kafka-get-offsets.sh" --bootstrap-server "$replication" --topic "$keypoints_topic" 2>/dev/null \
        | awk -F: '{ s += $NF } END { print s + 0 }'
}

# 4. Refused with a clear error; nothing published; nothing crashed.
refused() { # name, expected log pattern, flags...
    local name=$1 pattern=$2 pid before after status
    shift 2
    before=$(end_offsets)
    start_edge "$name" --no-pose "$@"
    pid=$started_pid
    sleep 8
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" && status=0 || status=$?
        [[ $status -eq 0 ]] || fail "$name: the edge did not exit cleanly on SIGTERM ($status)"
    else
        wait "$pid" && status=0 || status=$?
        # Refusing to start is a clear error, not a crash: exit 1 with a message, no signal.
        [[ $status -eq 1 ]] || fail "$name: the edge died with status $status"
    fi
    grep -qiE "$pattern" "$work/$name.log" || { cat "$work/$name.log"; fail "$name: no clear error matching /$pattern/"; }
    after=$(end_offsets)
    [[ $before == "$after" ]] || fail "$name: something was published ($before → $after)"
    say "ok: $name refused: $(grep -iE "$pattern" "$work/$name.log" | head -n 1 | cut -c1-200)"
}
refused wrong-password 'authentication failed|invalid credentials' --kafka-property sasl.password=wrong-password-123
refused missing-ca 'ssl.ca.location|ca.*(no such file|not found)|certificate' --kafka-property ssl.ca.location=/nonexistent/ca.pem
refused plaintext-on-external 'disconnected|transport failure' \
    --kafka-property security.protocol=PLAINTEXT

# 5. Least privilege: the camera's own credentials, as in its edge.toml.
edge_props=()
while IFS= read -r line; do
    edge_props+=(--kafka-property "$line")
done < <(sed -n '/^\[kafka.properties\]/,/^\[/s/^"\([^"]*\)" = "\(.*\)"$/\1=\2/p' "$etc/edge.toml")
frames_topic=$(sed -n '/^\[topics\]/,/^\[/s/^frames = "\(.*\)"/\1/p' "$etc/edge.toml")
if timeout 15 "$bin/pose-cloud" --brokers "$external" "${edge_props[@]}" --group-id "camera-reads-frames" \
    --offset-reset earliest --frames-topic "$frames_topic" tail >"$work/camera-tail.out" 2>"$work/camera-tail.log"; then
    fail "the camera's user could read the topics"
fi
grep -qiE 'not authorized|authorization failed|authorizationfailed' "$work/camera-tail.log" \
    || { cat "$work/camera-tail.log"; fail "reading the frames with the camera's user: no authorization error"; }
[[ ! -s $work/camera-tail.out ]] || fail "the camera's user read messages"
say "ok: the camera's user cannot consume with a group: $(grep -iE 'authoriz' "$work/camera-tail.log" | head -n 1 | cut -c1-160)"
# Nor read a partition directly, without a group (Fetch needs Read on the topic).
prop_of() { sed -n "/^\[kafka.properties\]/,/^\[/s/^\"$1\" = \"\(.*\)\"$/\1/p" "$etc/edge.toml"; }
cat >"$work/camera-client.properties" <<CLIENT
security.protocol=SASL_SSL
sasl.mechanism=$(prop_of sasl.mechanism)
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$(prop_of sasl.username)" password="$(prop_of sasl.password)";
ssl.truststore.type=PEM
ssl.truststore.location=$(prop_of ssl.ca.location)
CLIENT
# Kafka 4.1's console consumer exits 0 even when it stops on an authorization error (and logs it
# on stdout): judge by its count of messages and the error it logged, not by its exit status.
timeout 30 "$tools/kafka-console-consumer.sh" --bootstrap-server "$external" --topic "$frames_topic" \
    --partition 0 --offset earliest --max-messages 1 --timeout-ms 10000 \
    --consumer.config "$work/camera-client.properties" >"$work/camera-fetch.out" 2>"$work/camera-fetch.log" || true
read_count=$(cat "$work/camera-fetch.out" "$work/camera-fetch.log" | sed -n 's/^Processed a total of \([0-9]*\) messages.*/\1/p' | head -n 1)
[[ ${read_count:-0} == 0 ]] || fail "the camera's user read $read_count message(s) of a frames partition directly"
grep -qa 'TopicAuthorizationException' "$work/camera-fetch.out" && cat "$work/camera-fetch.out" >>"$work/camera-fetch.log"
grep -q 'TopicAuthorizationException' "$work/camera-fetch.log" \
    || { cat "$work/camera-fetch.log"; fail "reading a frames partition directly: no authorization error"; }
say "ok: the camera's user cannot read a frames partition directly: $(grep -o 'TopicAuthorizationException[^.]*' "$work/camera-fetch.log" | head -n 1 | cut -c1-160)"
if "$bin/pose-cloud" --brokers "$external" "${edge_props[@]}" --keypoints-topic camera.made.this \
    --frames-topic camera.made.this.too topics >"$work/camera-topics.log" 2>&1; then
    fail "the camera's user could create topics"
fi
grep -qiE 'authoriz' "$work/camera-topics.log" || { cat "$work/camera-topics.log"; fail "creating topics: no authorization error"; }
say "ok: the camera's user cannot create topics: $(grep -iE 'authoriz' "$work/camera-topics.log" | head -n 1 | cut -c1-160)"
say "passed"
