# posestream: the two commands of the README, and the pieces they are made of.
#
#   make demo    set up, start the local broker, run edge + cloud until Ctrl-C
#   make test    set up, start the local broker, run formatting, lints and every test
#
# Other targets: setup, build, broker, broker-stop, lint, bench-free unit tests (unit), clean.

SHELL := /bin/bash
CARGO ?= cargo
export POSESTREAM_BROKERS ?= 127.0.0.1:9092

.PHONY: demo test setup build broker broker-stop lint unit clean

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

broker: setup
	@scripts/broker.sh start

broker-stop:
	@scripts/broker.sh stop

# The whole pipeline on this machine: broker, edge (synthetic camera for now), cloud.
demo: build broker
	@scripts/demo.sh

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

# Pure-logic tests only (no broker needed).
unit: setup
	$(CARGO) test --workspace --all-features --lib

test: lint broker
	$(CARGO) test --workspace --all-features

clean: broker-stop
	$(CARGO) clean
