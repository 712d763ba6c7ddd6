"""``posestream-events``: reads ``pose.keypoints``, publishes events to ``pose.events``.

At-least-once: a keypoint message's offset is committed only after the events it produced were
acknowledged by the broker (``acks=all``), so a crash repeats events rather than losing them.
State (who is in view, the squat count) lives in memory and restarts empty: events within the
first second after a restart may repeat an ``entered``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from typing import Dict, List, Optional, Tuple

from confluent_kafka import KafkaException, Producer

from posestream import KeypointConsumer
from posestream.consumer import Received

from .detect import Event, EventDetector

log = logging.getLogger("posestream-events")


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="posestream-events", description=__doc__.split("\n\n")[0])
    env = os.environ.get
    ap.add_argument("--brokers", default=env("POSESTREAM_BROKERS", "127.0.0.1:9092"), help="bootstrap servers [$POSESTREAM_BROKERS]")
    ap.add_argument("--group", default=env("POSESTREAM_EVENTS_GROUP", "posestream-events"), help="consumer group id [posestream-events]")
    ap.add_argument("--keypoints-topic", default="pose.keypoints", help="input topic [pose.keypoints]")
    ap.add_argument("--events-topic", default="pose.events", help="output topic [pose.events]")
    ap.add_argument("--from-beginning", action="store_true", help="a new group starts at the oldest kept message (default: the newest)")
    ap.add_argument("--commit-every-s", type=float, default=1.0, help="flush events and commit at most this often [1.0]")
    ap.add_argument("--exit-when-idle-s", type=float, help="exit after this many seconds without input (tests, batch replays)")
    return ap.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "enable.idempotence": True, "linger.ms": 20})
    failed: List[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    # Offsets are committed here, after the events are acknowledged: no background commits.
    consumer = KeypointConsumer(args.brokers, args.group, topic=args.keypoints_topic, from_beginning=args.from_beginning,
                                auto_store=False, config={"enable.auto.commit": False})  # fmt: skip
    detector = EventDetector()
    counts = {"keypoints": 0, "events": 0}
    handled: Dict[Tuple[str, int], Received] = {}  # the newest handled message per partition
    last_commit = time.monotonic()
    idle_since = time.monotonic()
    log.info("reading %s (group %s), writing %s at %s", args.keypoints_topic, args.group, args.events_topic, args.brokers)

    def checkpoint() -> None:
        nonlocal last_commit
        last_commit = time.monotonic()
        if not handled:
            return
        if producer.flush(30) != 0 or failed:
            raise RuntimeError(f"events not delivered: {failed[:3]}; offsets not committed")
        consumer.commit(handled.values())
        handled.clear()

    try:
        while not stop["now"]:
            r = consumer.poll(0.2)
            producer.poll(0)
            now = time.monotonic()
            if r is None:
                if args.exit_when_idle_s is not None and now - idle_since >= args.exit_when_idle_s:
                    break
            else:
                idle_since = now
                counts["keypoints"] += 1
                for event in detector.feed(r.keypoints):
                    publish(producer, args.events_topic, event, delivered)
                    counts["events"] += 1
                handled[(r.topic, r.partition)] = r
            if now - last_commit >= args.commit_every_s:
                checkpoint()
        checkpoint()
    except (KafkaException, RuntimeError) as e:
        log.error("stopping: %s", e)
        return 1
    finally:
        consumer.close()
        log.info(
            "stopped: %d keypoint messages, %d events, skipped %s, out of order %d",
            counts["keypoints"], counts["events"], dict(consumer.stats.bad_keypoints), detector.skipped_out_of_order,
        )  # fmt: skip
    return 0


def publish(producer: Producer, topic: str, event: Event, on_delivery: object) -> None:
    value = json.dumps(event.to_json(), separators=(",", ":")).encode()
    while True:
        try:
            producer.produce(topic, key=event.camera_id.encode(), value=value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.1)  # the local queue is full: let deliveries drain


if __name__ == "__main__":
    sys.exit(main())
