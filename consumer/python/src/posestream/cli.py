"""``posestream``: command-line tools of the consumer kit (``posestream tail``, ``posestream decode``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import List, Optional

from .errors import DecodeError
from .wire import decode


def _tail(args: argparse.Namespace) -> int:
    from .consumer import KeypointConsumer

    group = args.group or f"posestream-tail-{os.getpid()}"
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    consumer = KeypointConsumer(
        args.brokers,
        group,
        topic=args.topic,
        frames_topic=args.frames_topic,
        from_beginning=args.from_beginning,
        # A tail with its own throwaway group commits nothing.
        config={"enable.auto.commit": bool(args.group)},
    )
    printed = 0
    try:
        while not stop["now"] and (args.max is None or printed < args.max):
            r = consumer.poll(0.5)
            if r is None:
                continue
            view = r.keypoints.to_json()
            if args.frames_topic:
                view = {
                    "keypoints": view,
                    "frame": None
                    if r.frame is None
                    else {"seq": r.frame.meta.seq, "run": r.frame.meta.run, "jpeg_bytes": len(r.frame.jpeg)},
                }
            try:
                print(json.dumps(view, separators=(",", ":")), flush=True)
            except BrokenPipeError:
                break
            printed += 1
    finally:
        consumer.close()
        bad = sum(consumer.stats.bad_keypoints.values())
        if bad:
            print(f"posestream tail: skipped {bad} bad messages: {dict(consumer.stats.bad_keypoints)}", file=sys.stderr)
    return 0


def _decode(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            with open(path, "rb") as f:
                data = f.read()
            if args.hex:
                data = bytes.fromhex(data.decode("ascii").strip())
            print(json.dumps(decode(data).to_json(), separators=(",", ":")))
        except (OSError, ValueError) as e:  # DecodeError is a ValueError
            failed += 1
            reason = e.reason if isinstance(e, DecodeError) else "unreadable"
            print(json.dumps({"file": path, "error": reason, "message": str(e)}))
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="posestream", description="Tools for the posestream keypoint topic.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tail", help="print every keypoint message as a JSON line (the JSON view of WIRE.md)")
    t.add_argument(
        "--brokers",
        default=os.environ.get("POSESTREAM_BROKERS", "127.0.0.1:9092"),
        help="bootstrap servers (default: $POSESTREAM_BROKERS or 127.0.0.1:9092)",
    )
    t.add_argument("--topic", default="pose.keypoints", help="keypoint topic (default pose.keypoints)")
    t.add_argument("--frames-topic", help="also join frames from this topic; lines become {keypoints, frame}")
    t.add_argument(
        "--group",
        help="consumer group id (committed offsets: resume where it left); default a throwaway group that commits nothing",
    )
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest kept message (new group)")
    t.add_argument("--max", type=int, help="exit after this many messages")
    t.set_defaults(func=_tail)
    d = sub.add_parser("decode", help="decode keypoint messages from files (raw bytes, or hex with --hex)")
    d.add_argument("files", nargs="+")
    d.add_argument("--hex", action="store_true", help="the files hold hex text")
    d.set_defaults(func=_decode)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
