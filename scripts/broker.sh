#!/usr/bin/env bash
# The local Kafka-protocol broker for runs and tests: tansu, pinned, built once into a cache.
#
#   scripts/broker.sh install   build tansu into the cache (skipped when already there)
#   scripts/broker.sh start     install if needed, start on 127.0.0.1, create the topics
#   scripts/broker.sh stop      stop it (SIGTERM, then SIGKILL after 10 s)
#   scripts/broker.sh restart   stop, then start (the memory engine starts empty)
#   scripts/broker.sh status    exit 0 if it is up
#   scripts/broker.sh logs      print the end of its log
#
# Settings (environment):
#   POSESTREAM_CACHE        cache root                  (default ~/.cache/posestream)
#   POSESTREAM_BROKER_PORT  listener port on 127.0.0.1  (default 9092)
#   POSESTREAM_BROKER_ADVERTISED_PORT  port advertised to clients (default: the listener port;
#                           fault-injection tests put a proxy there)
#   POSESTREAM_BROKER_DIR   pid file and log            (default <repo>/target/broker)
#   POSESTREAM_PARTITIONS   partitions per topic        (default 4)
#
# Why tansu 0.6.0 and its quirks: README.md "Local broker". Production runs Apache Kafka; nothing in
# the programs depends on this broker.
set -euo pipefail

TANSU_VERSION=0.6.0
# memory:// only: the tests and the demo need no persistence, and it halves the build.
TANSU_FEATURES=dynostore

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
root=$cache/broker/tansu-$TANSU_VERSION
tansu=$root/bin/tansu
port=${POSESTREAM_BROKER_PORT:-9092}
addr=127.0.0.1:$port
advertised=127.0.0.1:${POSESTREAM_BROKER_ADVERTISED_PORT:-$port}
run_dir=${POSESTREAM_BROKER_DIR:-$repo/target/broker-$port}
partitions=${POSESTREAM_PARTITIONS:-4}
topics=(pose.keypoints pose.frames)
pid_file=$run_dir/broker.pid
log_file=$run_dir/broker.log

say() { printf 'broker: %s\n' "$*" >&2; }

installed() {
    [[ -x $tansu ]] && [[ $("$tansu" --version 2>/dev/null) == "tansu $TANSU_VERSION" ]]
}

install() {
    if installed; then
        return 0
    fi
    command -v cargo >/dev/null || { say "cargo is needed to build tansu"; exit 1; }
    say "building tansu $TANSU_VERSION into $root (once; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features \
        --features "$TANSU_FEATURES" --root "$root" --quiet
    installed || { say "tansu $TANSU_VERSION did not install at $tansu"; exit 1; }
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running() {
    [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

start() {
    install
    if running && port_open; then
        say "already running at $addr (pid $(cat "$pid_file"))"
        create_topics
        return 0
    fi
    if port_open; then
        say "port $port is taken by another process; set POSESTREAM_BROKER_PORT"
        exit 1
    fi
    mkdir -p "$run_dir"
    # tansu reads a .env file from its working directory: start it from its own empty directory.
    # Advertise 127.0.0.1, not localhost: the listener is IPv4 only.
    (
        cd "$run_dir"
        {
            echo "---- $(date -u +%FT%TZ) start tansu $TANSU_VERSION at $addr (advertised $advertised)"
        } >>"$log_file"
        nohup "$tansu" broker \
            --listener-url "tcp://$addr" \
            --advertised-listener-url "tcp://$advertised" \
            --storage-engine memory://tansu/ \
            --silent >>"$log_file" 2>&1 &
        echo $! >"$pid_file"
    )
    for _ in $(seq 1 100); do
        if port_open; then
            say "up at $addr (pid $(cat "$pid_file"), log $log_file)"
            create_topics
            return 0
        fi
        running || break
        sleep 0.1
    done
    say "did not come up; the end of its log:"
    tail -n 30 "$log_file" >&2 || true
    exit 1
}

create_topics() {
    # No automatic topic creation in tansu: create the two topics (an existing one is kept).
    local t out
    for t in "${topics[@]}"; do
        if out=$("$tansu" topic create --broker "tcp://$addr" --partitions "$partitions" "$t" 2>&1); then
            say "topic $t created with $partitions partitions"
        elif grep -qiE 'exist' <<<"$out"; then
            :
        else
            say "could not create topic $t: $out"
            exit 1
        fi
    done
}

stop() {
    if ! running; then
        say "not running"
        rm -f "$pid_file"
        return 0
    fi
    local pid
    pid=$(cat "$pid_file")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    echo "---- $(date -u +%FT%TZ) stopped" >>"$log_file"
    say "stopped"
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) if running && port_open; then say "up at $addr"; else say "down"; exit 1; fi ;;
    logs) tail -n "${2:-100}" "$log_file" ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
