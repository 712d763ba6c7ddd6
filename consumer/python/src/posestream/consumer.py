"""A Kafka consumer of the keypoint topic (confluent-kafka), optionally joined with the frames topic.

Offsets belong to the caller's consumer group: the group id says where a restarted consumer
resumes. By default the offset of a message is stored when the loop asks for the *next* one (so a
message is committed only after your code has handled it: at-least-once) and librdkafka commits
stored offsets every 5 s and on close. With ``auto_store=False`` nothing is stored until you call
:meth:`KeypointConsumer.commit`.

Bad messages are skipped, counted in :attr:`KeypointConsumer.stats` by reason and logged; they
never stop the loop.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from .errors import DecodeError
from .frames import Frame, decode_frame
from .wire import KeypointMessage, decode

log = logging.getLogger("posestream")

DEFAULT_KEYPOINTS_TOPIC = "pose.keypoints"
DEFAULT_FRAMES_TOPIC = "pose.frames"

JoinKey = Tuple[str, int, int]


@dataclass(frozen=True)
class Received:
    """One keypoint message as consumed: the decoded message, its frame when joining (None when
    the edge sent no frame for it or the frame did not come within ``join_wait_s``), and where
    it was read (for :meth:`KeypointConsumer.commit`)."""

    keypoints: KeypointMessage
    frame: Optional[Frame]
    topic: str
    partition: int
    offset: int


@dataclass
class ConsumerStats:
    """What the consumer saw: counts, and the skipped messages by reason token."""

    keypoints: int = 0
    frames: int = 0
    joined: int = 0
    unjoined: int = 0
    frames_unmatched: int = 0
    bad_keypoints: Counter = field(default_factory=Counter)
    bad_frames: Counter = field(default_factory=Counter)
    kafka_errors: int = 0


@dataclass
class _Pending:
    received: Received
    deadline: float
    needs_frame: bool


class KeypointConsumer:
    """Consumes ``pose.keypoints`` (and ``pose.frames`` when ``frames_topic`` is given) and
    yields :class:`Received` items, per camera in the order the edge sent them.

    ``config`` is merged into the librdkafka settings last (security settings, ``client.id``,
    ``auto.offset.reset`` ...). ``from_beginning`` sets ``auto.offset.reset=earliest`` (it only
    matters for a group with no committed offsets).
    """

    def __init__(
        self,
        brokers: str,
        group_id: str,
        *,
        topic: str = DEFAULT_KEYPOINTS_TOPIC,
        frames_topic: Optional[str] = None,
        join_wait_s: float = 2.0,
        max_pending: int = 10_000,
        from_beginning: bool = False,
        auto_store: bool = True,
        config: Optional[Mapping[str, Any]] = None,
    ) -> None:
        settings: Dict[str, Any] = {
            "bootstrap.servers": brokers,
            "group.id": group_id,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "session.timeout.ms": 10_000,
        }
        settings.update(config or {})
        self.topic = topic
        self.frames_topic = frames_topic
        self.join_wait_s = join_wait_s
        self.max_pending = max_pending
        self.auto_store = auto_store
        self.stats = ConsumerStats()
        self._consumer = Consumer(settings)
        self._assigned_at: Optional[float] = None
        self._consumer.subscribe([topic] + ([frames_topic] if frames_topic else []), on_assign=self._on_assign)
        self._ready: Deque[Received] = deque()
        self._queues: Dict[str, Deque[_Pending]] = {}
        self._waiting: Dict[JoinKey, _Pending] = {}
        self._frames: "OrderedDict[JoinKey, Tuple[Frame, float]]" = OrderedDict()
        self._last: Optional[Received] = None
        self._closed = False

    @property
    def kafka(self) -> Consumer:
        """The underlying ``confluent_kafka.Consumer`` (for assignment, lag, seek ...)."""
        return self._consumer

    def poll(self, timeout: float = 1.0) -> Optional[Received]:
        """The next keypoint message, or None if none was ready within ``timeout`` seconds. With
        ``auto_store``, asking for the next message stores the offset of the one returned before
        (your code has finished with it)."""
        if self._last is not None and self.auto_store:
            self._store(self._last)
            self._last = None
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            self._release(time.monotonic())
            if self._ready:
                self._last = self._ready.popleft()
                return self._last
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            step = min(left, 0.2) if self._queues else left
            msg = self._consumer.poll(step)
            if msg is not None:
                self._take(msg)

    def __iter__(self) -> Iterator[Received]:
        return self.messages()

    def messages(self, idle_timeout_s: Optional[float] = None, max_messages: Optional[int] = None) -> Iterator[Received]:
        """Yields keypoint messages until ``close()``, until nothing came for ``idle_timeout_s``
        seconds (counted from the group's partition assignment, so a slow group join does not end
        it), or after ``max_messages`` (whose offset is then stored at once with ``auto_store``)."""
        n = 0
        idle_since = time.monotonic()
        while not self._closed and (max_messages is None or n < max_messages):
            item = self.poll(0.5)
            if item is None:
                if self._assigned_at is not None:
                    idle_since = max(idle_since, self._assigned_at)
                    if idle_timeout_s is not None and time.monotonic() - idle_since >= idle_timeout_s:
                        return
                continue
            idle_since = time.monotonic()
            n += 1
            yield item
        if self._last is not None and self.auto_store and not self._closed:
            self._store(self._last)
            self._last = None

    def commit(self, received: Union[None, Received, Iterable[Received]] = None, asynchronous: bool = False) -> None:
        """Commits the offsets after ``received`` (one item or several: the newest per partition
        counts), so the group resumes after them; with None, commits every stored offset."""
        if received is None:
            try:
                self._consumer.commit(asynchronous=asynchronous)
            except KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    raise
            return
        items = [received] if isinstance(received, Received) else list(received)
        newest: Dict[Tuple[str, int], int] = {}
        for r in items:
            key = (r.topic, r.partition)
            newest[key] = max(newest.get(key, -1), r.offset)
        if newest:
            tps = [TopicPartition(t, p, o + 1) for (t, p), o in newest.items()]
            self._consumer.commit(offsets=tps, asynchronous=asynchronous)

    def close(self) -> None:
        """Stores the last handed-out offset (with ``auto_store``), commits and leaves the group."""
        if self._closed:
            return
        if self._last is not None and self.auto_store:
            self._store(self._last)
        self._closed = True
        self._consumer.close()

    def __enter__(self) -> "KeypointConsumer":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self._last = None  # your code failed on it: it is read again after a restart
        self.close()

    # ----- internals -----

    def _on_assign(self, _consumer: Any, _partitions: Any) -> None:
        self._assigned_at = time.monotonic()

    def _store(self, r: Received) -> None:
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(r.topic, r.partition, r.offset + 1)])
        except KafkaException as e:
            # The partition moved to another member in a rebalance: that member reads it again.
            log.debug("offset of %s[%d]@%d not stored: %s", r.topic, r.partition, r.offset, e)

    def _take(self, msg: Any) -> None:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                return
            if err.fatal():
                raise KafkaException(err)
            self.stats.kafka_errors += 1
            log.warning("kafka: %s", err)
            return
        now = time.monotonic()
        if msg.topic() == self.topic:
            try:
                kp = decode(msg.value() or b"")
            except DecodeError as e:
                self.stats.bad_keypoints[e.reason] += 1
                log.warning(
                    "skipped keypoint message %s[%d]@%d: %s (%s)", msg.topic(), msg.partition(), msg.offset(), e, e.reason
                )
                return
            self.stats.keypoints += 1
            received = Received(kp, None, msg.topic(), msg.partition(), msg.offset())
            if self.frames_topic is None:
                self._ready.append(received)
                return
            pending = _Pending(received, now + self.join_wait_s, kp.frame_published)
            if kp.frame_published:
                got = self._frames.pop(kp.join_key, None)
                if got is not None:
                    pending.received = _with_frame(received, got[0])
                    pending.needs_frame = False
                else:
                    self._waiting[kp.join_key] = pending
            self._queues.setdefault(kp.camera_id, deque()).append(pending)
            self._bound()
        elif msg.topic() == self.frames_topic:
            try:
                frame = decode_frame(msg.value(), msg.headers())
            except DecodeError as e:
                self.stats.bad_frames[e.reason] += 1
                log.warning("skipped frame message %s[%d]@%d: %s (%s)", msg.topic(), msg.partition(), msg.offset(), e, e.reason)
                return
            self.stats.frames += 1
            # Frames are disposable: their offsets are stored as they come.
            try:
                self._consumer.store_offsets(message=msg)
            except KafkaException:
                pass
            key = frame.meta.join_key
            pending = self._waiting.pop(key, None)
            if pending is not None:
                pending.received = _with_frame(pending.received, frame)
                pending.needs_frame = False
            else:
                self._frames[key] = (frame, now + self.join_wait_s)
                self._bound()

    def _release(self, now: float) -> None:
        for camera in list(self._queues):
            q = self._queues[camera]
            while q and (not q[0].needs_frame or q[0].deadline <= now):
                p = q.popleft()
                if p.needs_frame:
                    self._waiting.pop(p.received.keypoints.join_key, None)
                    self.stats.unjoined += 1
                elif p.received.frame is not None:
                    self.stats.joined += 1
                self._ready.append(p.received)
            if not q:
                del self._queues[camera]
        while self._frames:
            key, (_, deadline) = next(iter(self._frames.items()))
            if deadline > now:
                break
            self._frames.popitem(last=False)
            self.stats.frames_unmatched += 1

    def _bound(self) -> None:
        # Memory stays bounded whatever the topics hold: the oldest waiting items give up first.
        while len(self._frames) > self.max_pending:
            self._frames.popitem(last=False)
            self.stats.frames_unmatched += 1
        if len(self._waiting) > self.max_pending:
            oldest = min(self._waiting.values(), key=lambda p: p.deadline)
            oldest.deadline = 0.0


def _with_frame(r: Received, frame: Frame) -> Received:
    return Received(r.keypoints, frame, r.topic, r.partition, r.offset)


def consume(
    brokers: str, group_id: str, topic: str = DEFAULT_KEYPOINTS_TOPIC, **kwargs: Any
) -> Iterator[KeypointMessage]:
    """The shortest way in: yields decoded keypoint messages until interrupted."""
    with KeypointConsumer(brokers, group_id, topic=topic, **kwargs) as c:
        for r in c:
            yield r.keypoints

