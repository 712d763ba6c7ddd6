#!/usr/bin/env bash
# The local broker for runs, tests and benchmarks: Apache Kafka in KRaft mode (no ZooKeeper), the
# same version the ansible `kafka` role deploys. Its jars come from Maven Central, resolved once
# into the cache (Maven, pinned plugin; offline afterwards). One node by default; several nodes on
# loopback with POSESTREAM_BROKER_NODES.
#
#   scripts/broker.sh install        resolve the Kafka jars into the cache (skipped when there)
#   scripts/broker.sh start [N]      install if needed, format the storage (first start only),
#                                    start every node (or node N), wait until it answers, create
#                                    the topics (keypoints, frames, events: as `pose-cloud topics`)
#   scripts/broker.sh stop [N]       SIGTERM (a controlled shutdown), SIGKILL after 60 s
#   scripts/broker.sh kill [N]       SIGKILL at once (tests of a crash)
#   scripts/broker.sh restart        stop, then start; the data directory is kept
#   scripts/broker.sh wipe           stop and delete the data (the next start formats anew)
#   scripts/broker.sh status         exit 0 if every node answers
#   scripts/broker.sh bootstrap      print the bootstrap servers (host:port,...)
#   scripts/broker.sh logs [LINES] [N]  print the end of node N's log (default node 1)
#   scripts/broker.sh classpath      print the classpath of the jars (for tools that need them)
#
# Settings (environment):
#   POSESTREAM_CACHE         cache root                           (default ~/.cache/posestream)
#   POSESTREAM_BROKER_PORT   node 1's client port on 127.0.0.1    (default 9092); node i listens
#                            on PORT+10*(i-1), its controller on that port + 1
#   POSESTREAM_BROKER_NODES  number of KRaft nodes                (default 1)
#   POSESTREAM_BROKER_DIR    data, configs, pid files and logs    (default <repo>/target/broker-PORT)
#   POSESTREAM_BROKER_ADVERTISED_PORT  port node 1 advertises     (default: its port; the fault
#                            proxy test puts a proxy there)
#   POSESTREAM_BROKER_PROPERTIES  extra server.properties lines, separated by spaces or newlines
#                            (e.g. log.retention.check.interval.ms=1000 for a retention test)
#   POSESTREAM_BROKER_HEAP   JVM heap per node                    (default 512m)
#   POSESTREAM_BROKER_TOPICS 0: create no topics (tests that make their own)
#   POSESTREAM_PARTITIONS    partitions per topic                 (default 4)
#   POSESTREAM_CARGO_PROFILE cargo profile of the pose-cloud binary that creates the topics
#                            (default dev; `make demo` uses release)
#
# Production runs the same version from the ansible `kafka` role (README "Deploy").
set -euo pipefail

# Keep in step with ansible/roles/kafka/defaults/main.yml (kafka_version): what is tested is
# what is deployed. scripts/ansible-test.sh checks that the two agree.
KAFKA_VERSION=4.1.1
SCALA_VERSION=2.13
# The SLF4J 1.x binding: Kafka's POM carries no logging backend (the release tarball adds one
# from a build-only configuration), and without one the broker logs nothing at all.
LOG4J_VERSION=2.24.3
DEPENDENCY_PLUGIN=3.8.1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${POSESTREAM_CACHE:-$HOME/.cache/posestream}
kafka_root=$cache/kafka/$KAFKA_VERSION
libs=$kafka_root/libs
port=${POSESTREAM_BROKER_PORT:-9092}
nodes=${POSESTREAM_BROKER_NODES:-1}
run_dir=${POSESTREAM_BROKER_DIR:-$repo/target/broker-$port}
heap=${POSESTREAM_BROKER_HEAP:-512m}
partitions=${POSESTREAM_PARTITIONS:-4}
replication=$((nodes < 3 ? nodes : 3))

say() { printf 'broker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

node_port() { echo $((port + 10 * ($1 - 1))); }
controller_port() { echo $(($(node_port "$1") + 1)); }
node_dir() { echo "$run_dir/node$1"; }
pid_file() { echo "$(node_dir "$1")/kafka.pid"; }
log_file() { echo "$(node_dir "$1")/kafka.log"; }
all_nodes() { seq 1 "$nodes"; }

bootstrap() {
    local i out=()
    for i in $(all_nodes); do out+=("127.0.0.1:$(node_port "$i")"); done
    (IFS=,; echo "${out[*]}")
}

# The dependency list; the jars are resolved again when it changes.
pom() {
    cat <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>posestream.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <!-- The admin tools (kafka-acls.sh, kafka-topics.sh: AclCommand, TopicCommand) alone: their
         own dependencies (Connect's runtime among them) are not needed for these two. -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>
  </dependencies>
</project>
POM
}

stamp() { echo "$libs/.complete-$(pom | md5sum | cut -c1-12)"; }
installed() { [[ -f $(stamp) ]]; }

install() {
    installed && return 0
    command -v java >/dev/null || die "java is needed (Debian: apt-get install openjdk-17-jre-headless; scripts/setup.sh installs it)"
    command -v mvn >/dev/null || die "mvn is needed (Debian: apt-get install maven; scripts/setup.sh installs it)"
    say "resolving Apache Kafka $KAFKA_VERSION and its runtime jars from Maven Central into $libs (once; about a minute)"
    local work
    work=$(mktemp -d)
    pom >"$work/pom.xml"
    # Resolved beside, then swapped in: a running node keeps the jars it has open.
    rm -rf "$libs.new"
    mkdir -p "$libs.new"
    if ! mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$cache/m2" \
        "org.apache.maven.plugins:maven-dependency-plugin:$DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$libs.new" >"$work/mvn.log" 2>&1; then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "could not resolve the Kafka jars with Maven"
    fi
    rm -rf "$work"
    [[ -f $libs.new/kafka_$SCALA_VERSION-$KAFKA_VERSION.jar ]] || die "kafka_$SCALA_VERSION-$KAFKA_VERSION.jar is missing from $libs.new"
    rm -rf "$libs"
    mv "$libs.new" "$libs"
    cat >"$kafka_root/log4j2.properties" <<'LOG'
# Console only; broker.sh sends it to the node's kafka.log. Kafka's own loggers at their release
# levels: INFO for the broker, WARN for the chattiest.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
LOG
    touch "$(stamp)"
    say "installed: $(find "$libs" -name '*.jar' | wc -l) jars, $(du -sh "$libs" | cut -f1)"
}

java_cmd() {
    java -Dlog4j2.configurationFile="$kafka_root/log4j2.properties" -cp "$libs/*" "$@"
}

voters() {
    local i out=()
    for i in $(all_nodes); do out+=("$i@127.0.0.1:$(controller_port "$i")"); done
    (IFS=,; echo "${out[*]}")
}

# server.properties of node $1: combined broker + controller on loopback, sized for a small test
# machine (see ../shared/docs/kafka.md), with the settings tests add last.
write_config() {
    local i=$1 dir p cp advertised
    dir=$(node_dir "$i")
    p=$(node_port "$i")
    cp=$(controller_port "$i")
    advertised=$p
    [[ $i == 1 ]] && advertised=${POSESTREAM_BROKER_ADVERTISED_PORT:-$p}
    mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<PROPS
# Written by scripts/broker.sh for node $i of $nodes; rewritten at each start.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$cp
# 127.0.0.1, not localhost: librdkafka may try ::1 first.
advertised.listeners=PLAINTEXT://127.0.0.1:$advertised
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=$partitions
default.replication.factor=$replication
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$((replication > 1 ? 2 : 1))
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$((replication > 1 ? 2 : 1))
# A new group gets its partitions at once instead of after 3 s.
group.initial.rebalance.delay.ms=0
# pose-cloud's 3 s consumer session (cloud/src/consume.rs); the same in the ansible role.
group.min.session.timeout.ms=3000
# 16 MiB instead of 128 MiB allocated on the heap at start (no compacted topics here).
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=2
background.threads=2
# The same broker-wide default as the role; the topics set their own.
log.retention.hours=168
PROPS
    if ((nodes > 1)); then
        # A cluster fences a dead node (and moves its partition leadership and ISR places) after
        # 3 s without a heartbeat instead of 9 s: producers with acks=all wait that long.
        printf '%s\n' broker.session.timeout.ms=3000 broker.heartbeat.interval.ms=1000 >>"$dir/server.properties"
    fi
    local extra=${POSESTREAM_BROKER_PROPERTIES:-}
    if [[ -n $extra ]]; then
        echo "# From POSESTREAM_BROKER_PROPERTIES" >>"$dir/server.properties"
        tr ' ' '\n' <<<"$extra" | sed '/^$/d' >>"$dir/server.properties"
    fi
}

running() {
    local f
    f=$(pid_file "$1")
    [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

format_storage() {
    # One cluster id for all nodes, kept beside them; each node is formatted once.
    local id_file=$run_dir/cluster.id i
    [[ -s $id_file ]] || java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$id_file"
    for i in "$@"; do
        local dir
        dir=$(node_dir "$i")
        [[ -f $dir/data/meta.properties ]] && continue
        java_cmd kafka.tools.StorageTool format -t "$(cat "$id_file")" -c "$dir/server.properties" \
            >>"$(log_file "$i")" 2>&1 || die "formatting node $i failed; see $(log_file "$i")"
        say "node $i: storage formatted in $dir/data"
    done
}

start_nodes() {
    local i started=()
    install
    mkdir -p "$run_dir"
    for i in "$@"; do
        if running "$i"; then
            continue
        fi
        if port_open "$(node_port "$i")"; then
            die "port $(node_port "$i") is taken by another process; set POSESTREAM_BROKER_PORT"
        fi
        write_config "$i"
    done
    format_storage "$@"
    for i in "$@"; do
        running "$i" && continue
        local dir log
        dir=$(node_dir "$i")
        log=$(log_file "$i")
        echo "---- $(date -u +%FT%TZ) start Apache Kafka $KAFKA_VERSION node $i at 127.0.0.1:$(node_port "$i")" >>"$log"
        wc -l <"$log" >"$dir/start.line"
        # setsid: the node is not in the caller's process group, so a Ctrl-C in `make demo`
        # reaches it only through `broker.sh stop` (a controlled shutdown).
        setsid nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -Dlog4j2.configurationFile="$kafka_root/log4j2.properties" -cp "$libs/*" \
            kafka.Kafka "$dir/server.properties" >>"$log" 2>&1 </dev/null &
        echo $! >"$(pid_file "$i")"
        started+=("$i")
    done
    for i in "${started[@]}"; do
        wait_ready "$i"
    done
}

# Ready when the node logs that it started (after this start's marker) and its port answers.
wait_ready() {
    local i=$1 log from
    log=$(log_file "$i")
    from=$(cat "$(node_dir "$i")/start.line")
    for _ in $(seq 1 600); do
        if awk -v from="$from" 'NR > from && /Kafka Server started/ { up = 1 } END { exit !up }' "$log" &&
            port_open "$(node_port "$i")"; then
            say "node $i up at 127.0.0.1:$(node_port "$i") (pid $(cat "$(pid_file "$i")"), log $log)"
            return 0
        fi
        running "$i" || break
        sleep 0.1
    done
    say "node $i did not come up; the end of its log:"
    tail -n 40 "$log" >&2 || true
    exit 1
}

# The topics (keypoints, frames, and the analytics' events) with the role's partitions and
# retention, created with the project's own admin client (`pose-cloud topics`).
create_topics() {
    [[ ${POSESTREAM_BROKER_TOPICS:-1} == 0 ]] && return 0
    local profile=${POSESTREAM_CARGO_PROFILE:-dev}
    (cd "$repo" && cargo build -q -p pose-cloud --profile "$profile") || die "could not build pose-cloud (it creates the topics)"
    local dir=$profile
    [[ $profile == dev ]] && dir=debug
    "${CARGO_TARGET_DIR:-$repo/target}/$dir/pose-cloud" --brokers "$(bootstrap)" topics \
        --partitions "$partitions" --replication-factor "$replication" >&2
}

stop_node() {
    local i=$1 signal=$2 pid
    if ! running "$i"; then
        rm -f "$(pid_file "$i")"
        return 0
    fi
    pid=$(cat "$(pid_file "$i")")
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "node $i (pid $pid) ignored SIGTERM for 60 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$(pid_file "$i")"
    echo "---- $(date -u +%FT%TZ) stopped ($signal)" >>"$(log_file "$i")"
    say "node $i stopped ($signal)"
}

which_nodes() { if [[ -n ${1:-} ]]; then echo "$1"; else all_nodes; fi; }

case ${1:-} in
    install) install ;;
    start)
        # shellcheck disable=SC2046
        start_nodes $(which_nodes "${2:-}")
        # One node coming back into a cluster: the topics are there already.
        if [[ -z ${2:-} ]]; then create_topics; fi
        ;;
    stop) for i in $(which_nodes "${2:-}"); do stop_node "$i" TERM; done ;;
    kill) for i in $(which_nodes "${2:-}"); do stop_node "$i" KILL; done ;;
    restart)
        for i in $(all_nodes); do stop_node "$i" TERM; done
        # shellcheck disable=SC2046
        start_nodes $(all_nodes)
        create_topics
        ;;
    wipe)
        for i in $(all_nodes); do stop_node "$i" TERM; done
        rm -rf "$run_dir"
        say "data in $run_dir deleted"
        ;;
    status)
        ok=1
        for i in $(all_nodes); do
            if running "$i" && port_open "$(node_port "$i")"; then say "node $i up at 127.0.0.1:$(node_port "$i")"; else say "node $i down"; ok=0; fi
        done
        [[ $ok == 1 ]]
        ;;
    bootstrap) bootstrap ;;
    logs)
        log=$(log_file "${3:-1}")
        if [[ -f $log ]]; then tail -n "${2:-100}" "$log"; else say "no log at $log (never started)"; fi
        ;;
    classpath) install; echo "$libs/*" ;;
    *) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
