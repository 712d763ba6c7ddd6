//! Reads one camera's recorded messages back from both topics, from a point in time, merged in
//! time order: the source of replays and exports.
//!
//! Each topic gets a consumer of its own, assigned (never subscribed: no consumer group is
//! joined, nothing is committed) to the camera's partition at the offset Kafka's time index gives
//! for the start time (`offsets_for_times`). Each consumer prefetches at most
//! `prefetch_kbytes` and hands messages to the merge through a small bounded channel, so a
//! reader holds a bounded amount of memory however much Kafka retains. The partition holds
//! other cameras too: their messages are skipped by key before they are decoded.
//!
//! The merge returns the message with the earlier Kafka timestamp (the edge stamps both topics
//! with the capture time). When one topic has a message and the other has none yet, it waits
//! for the other at most `wait_for_other` unless that partition is known to be at its end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pose_shared::CameraId;
use pose_shared::kafka::{ClientLog, KafkaSettings, QuietContext};
use pose_shared::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::consume::{Incoming, decode};
use crate::directory::partition_of;

/// Messages buffered between a topic's consumer and the merge.
const CHANNEL: usize = 32;
/// How long Kafka gets to answer a metadata or time-index request.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a reader could not start.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("topic {0:?} does not exist or has no partitions")]
    NoTopic(String),
    #[error("the topics have different partition counts ({0} and {1})")]
    PartitionMismatch(usize, usize),
}

/// One recorded message with its Kafka timestamp.
#[derive(Debug)]
pub struct Timed {
    pub ts_ms: i64,
    pub msg: Incoming,
}

/// Where to read from.
#[derive(Debug, Clone)]
pub struct Start {
    /// Frames from this time, ms since the epoch.
    pub frames_ms: i64,
    /// Keypoints from this time (earlier than the frames, so the first frames have keypoints
    /// to be drawn with, as stale).
    pub keypoints_ms: i64,
}

enum Event {
    Msg(Timed),
    /// The partition's end was reached (more may come: the camera is live).
    CaughtUp,
}

struct Side {
    rx: mpsc::Receiver<Event>,
    head: Option<Timed>,
    caught_up: bool,
    closed: bool,
}

impl Side {
    fn take_event(&mut self, e: Option<Event>) {
        match e {
            Some(Event::Msg(t)) => {
                self.head = Some(t);
                self.caught_up = false;
            }
            Some(Event::CaughtUp) => self.caught_up = true,
            None => self.closed = true,
        }
    }

    /// Moves what is ready from the channel to the head, without waiting.
    fn fill(&mut self) {
        while self.head.is_none() && !self.closed {
            match self.rx.try_recv() {
                Ok(e) => self.take_event(Some(e)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.closed = true,
            }
        }
    }

    /// Nothing more to come for now.
    fn done(&self) -> bool {
        self.head.is_none() && (self.closed || self.caught_up)
    }
}

/// A camera's recorded messages in time order (see the module notes). Dropping it stops its
/// consumers.
pub struct History {
    /// Frames (index 0, first on equal timestamps) and keypoints (index 1).
    sides: [Side; 2],
    wait_for_other: Duration,
    /// End (`next` returns None) once both partitions are at their end, instead of waiting for
    /// more.
    finite: bool,
    skipped: Arc<AtomicU64>,
    /// Which partition the camera is in.
    pub partition: i32,
    _tasks: JoinSet<()>,
}

/// The consumer settings of a reader.
fn reader(
    kafka: &KafkaSettings,
    prefetch_kbytes: u32,
) -> Result<StreamConsumer<QuietContext>, KafkaError> {
    let mut cc = kafka.client_config("pose-cloud-history");
    // A group id is required by the client library; it is never joined (assign, not subscribe)
    // and nothing is committed, so the live group is not touched.
    cc.set("group.id", "pose-cloud-history")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .set("queued.min.messages", "100")
        .set(
            "queued.max.messages.kbytes",
            prefetch_kbytes.max(256).to_string(),
        )
        .set("max.partition.fetch.bytes", "1048576")
        .set("fetch.max.bytes", "2097152");
    cc.create_with_context(QuietContext(ClientLog::new("history")))
}

fn partitions(c: &StreamConsumer<QuietContext>, topic: &str) -> Result<usize, HistoryError> {
    let md = c.fetch_metadata(Some(topic), KAFKA_TIMEOUT)?;
    let n = md
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map_or(0, |t| t.partitions().len());
    if n == 0 {
        return Err(HistoryError::NoTopic(topic.to_owned()));
    }
    Ok(n)
}

/// Assigns `c` to `topic`'s partition `p` at the first offset with a timestamp of `from_ms` or
/// later (the end when there is none).
fn assign_at(
    c: &StreamConsumer<QuietContext>,
    topic: &str,
    p: i32,
    from_ms: i64,
) -> Result<(), HistoryError> {
    let mut query = TopicPartitionList::new();
    query.add_partition_offset(topic, p, Offset::Offset(from_ms.max(0)))?;
    let found = c.offsets_for_times(query, KAFKA_TIMEOUT)?;
    let offset = found
        .find_partition(topic, p)
        .map(|e| e.offset())
        .unwrap_or(Offset::End);
    let offset = match offset {
        Offset::Offset(o) if o >= 0 => Offset::Offset(o),
        _ => Offset::End,
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, offset)?;
    c.assign(&tpl)?;
    Ok(())
}

impl History {
    /// Starts reading `camera` from `start` (blocking Kafka requests run on the blocking pool).
    pub async fn open(
        kafka: &KafkaSettings,
        topics: &Topics,
        camera: &CameraId,
        start: Start,
        prefetch_kbytes: u32,
        wait_for_other: Duration,
    ) -> Result<Self, HistoryError> {
        let (kafka, topics_c) = (kafka.clone(), topics.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let frames = reader(&kafka, prefetch_kbytes / 2)?;
            let keypoints = reader(&kafka, prefetch_kbytes / 2)?;
            let (nf, nk) = (
                partitions(&frames, &topics_c.frames)?,
                partitions(&keypoints, &topics_c.keypoints)?,
            );
            if nf != nk {
                return Err(HistoryError::PartitionMismatch(nf, nk));
            }
            Ok::<_, HistoryError>((frames, keypoints, nf))
        })
        .await
        .map_err(|_| HistoryError::NoTopic(topics.frames.clone()))??;
        let (frames, keypoints, n) = opened;
        let p = partition_of(camera.as_str(), n as u32);
        let (topics_c, s) = (topics.clone(), start.clone());
        let (frames, keypoints) = tokio::task::spawn_blocking(move || {
            assign_at(&frames, &topics_c.frames, p, s.frames_ms)?;
            assign_at(&keypoints, &topics_c.keypoints, p, s.keypoints_ms)?;
            Ok::<_, HistoryError>((frames, keypoints))
        })
        .await
        .map_err(|_| HistoryError::NoTopic(topics.frames.clone()))??;
        let skipped = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        let mut side = |c: StreamConsumer<QuietContext>| {
            let (tx, rx) = mpsc::channel(CHANNEL);
            tasks.spawn(read(c, topics.clone(), camera.clone(), tx, skipped.clone()));
            Side {
                rx,
                head: None,
                caught_up: false,
                closed: false,
            }
        };
        let sides = [side(frames), side(keypoints)];
        Ok(Self {
            sides,
            wait_for_other,
            finite: false,
            skipped,
            partition: p,
            _tasks: tasks,
        })
    }

    /// Ends at the partitions' end instead of waiting for more (an export).
    pub fn finite(mut self) -> Self {
        self.finite = true;
        self
    }

    /// Messages of the camera skipped as malformed.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The next message in time order; waits for Kafka. None once both consumers have stopped.
    /// Cancel-safe: what was received is kept for the next call.
    pub async fn next(&mut self) -> Option<Timed> {
        loop {
            self.sides.iter_mut().for_each(Side::fill);
            let [f, k] = &mut self.sides;
            let pick = match (&f.head, &k.head) {
                (Some(a), Some(b)) => Some(if b.ts_ms < a.ts_ms { 1 } else { 0 }),
                (Some(_), None) if k.done() => Some(0),
                (None, Some(_)) if f.done() => Some(1),
                (None, None) if f.closed && k.closed => return None,
                (None, None) if self.finite && f.done() && k.done() => return None,
                _ => None,
            };
            if let Some(i) = pick {
                return self.sides[i].head.take();
            }
            let one_waiting = f.head.is_some() || k.head.is_some();
            let recv = async {
                tokio::select! {
                    e = f.rx.recv(), if f.head.is_none() && !f.closed => (0, e),
                    e = k.rx.recv(), if k.head.is_none() && !k.closed => (1, e),
                    else => std::future::pending().await,
                }
            };
            let got = if one_waiting {
                tokio::time::timeout(self.wait_for_other, recv).await.ok()
            } else {
                Some(recv.await)
            };
            match got {
                Some((i, e)) => self.sides[i].take_event(e),
                None => {
                    // The other topic is slow: go on with what there is.
                    let i = if self.sides[0].head.is_some() { 0 } else { 1 };
                    return self.sides[i].head.take();
                }
            }
        }
    }
}

/// One topic's consumer: the camera's messages, decoded, until the merge goes away.
async fn read(
    c: StreamConsumer<QuietContext>,
    topics: Topics,
    camera: CameraId,
    tx: mpsc::Sender<Event>,
    skipped: Arc<AtomicU64>,
) {
    let key = camera.as_str().as_bytes();
    loop {
        let event = match c.recv().await {
            Ok(m) => {
                if m.key().is_some_and(|k| k != key) {
                    continue;
                }
                let ts = m.timestamp().to_millis();
                match decode(&topics, &m) {
                    Some(Ok(msg)) if msg_camera(&msg) == &camera => Event::Msg(Timed {
                        ts_ms: ts.unwrap_or_else(|| (msg.capture_ts_us() / 1000) as i64),
                        msg,
                    }),
                    Some(Ok(_)) | None => continue,
                    Some(Err(reason)) => {
                        let n = skipped.fetch_add(1, Ordering::Relaxed) + 1;
                        if n.is_power_of_two() {
                            warn!(topic = m.topic(), offset = m.offset(), error = %reason,
                                skipped_total = n, "history: skipping bad message");
                        }
                        continue;
                    }
                }
            }
            Err(KafkaError::PartitionEOF(_)) => Event::CaughtUp,
            Err(e) => {
                debug!(error = %e, "history: Kafka error; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

fn msg_camera(m: &Incoming) -> &CameraId {
    match m {
        Incoming::Keypoints(k) => &k.camera_id,
        Incoming::Frame(f) => &f.meta.camera_id,
    }
}

/// A consumer for one-off lookups (watermarks, single messages), never in a group.
pub fn lookup_consumer(kafka: &KafkaSettings) -> Result<BaseConsumer<QuietContext>, KafkaError> {
    let mut cc = kafka.client_config("pose-cloud-retained");
    cc.set("group.id", "pose-cloud-retained")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set("queued.min.messages", "1")
        .set("queued.max.messages.kbytes", "1024")
        .set("max.partition.fetch.bytes", "262144");
    cc.create_with_context(QuietContext(ClientLog::new("retained")))
}
