//! Consumes both topics and hands decoded messages on; bad messages are counted and skipped.
//!
//! One consumer reads both topics. Each message is decoded by its topic's codec, sent on a
//! bounded channel, and only then marked as done (`store_offset`), so the committed offset never
//! passes a message that was not handed on. When the channel is full the consumer waits
//! (backpressure: Kafka holds the data, nothing is lost or reordered).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pose_shared::frame::{FrameError, FrameMeta, check_jpeg};
use pose_shared::kafka::KafkaSettings;
use pose_shared::kafka::{ClientLog, QuietContext};
use pose_shared::metrics::note;
use pose_shared::topics::Topics;
use pose_shared::{DecodeError, KeypointMessage};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

/// The consumer of both topics (librdkafka's own logging bounded, see [`ClientLog`]).
pub type TopicConsumer = StreamConsumer<QuietContext>;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// A decoded message from either topic.
#[derive(Debug)]
pub enum Incoming {
    Keypoints(KeypointMessage),
    Frame(FrameMessage),
}

impl Incoming {
    /// When the edge captured the frame this message is about, µs since the Unix epoch.
    pub fn capture_ts_us(&self) -> u64 {
        match self {
            Self::Keypoints(k) => k.capture_ts_us,
            Self::Frame(f) => f.meta.capture_ts_us,
        }
    }
}

/// A frame from the frames topic: metadata from the headers and the JPEG bytes as received.
pub struct FrameMessage {
    pub meta: FrameMeta,
    pub jpeg: Vec<u8>,
}

impl fmt::Debug for FrameMessage {
    // Image bytes never go to logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameMessage")
            .field("meta", &self.meta)
            .field("jpeg_bytes", &self.jpeg.len())
            .finish()
    }
}

/// Consumer settings of `pose-cloud` (`[consume]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumeConfig {
    /// Consumer group; instances of one group share the partitions.
    pub group_id: String,
    /// Where a group without a committed offset starts.
    pub offset_reset: OffsetReset,
}

impl Default for ConsumeConfig {
    fn default() -> Self {
        Self {
            group_id: "pose-cloud".to_owned(),
            offset_reset: OffsetReset::Latest,
        }
    }
}

/// Where a consumer group without a committed offset starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// At the live end (a live view).
    Latest,
    /// At the oldest retained message.
    Earliest,
}

impl OffsetReset {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latest => "latest",
            Self::Earliest => "earliest",
        }
    }
}

/// `[consume]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ConsumeFlags {
    /// Consumer group id [default: pose-cloud]
    #[arg(long = "group-id", global = true)]
    pub group_id: Option<String>,
    /// Where a new group starts [default: latest]
    #[arg(long = "offset-reset", global = true)]
    pub offset_reset: Option<OffsetReset>,
}

/// Client settings for a live consumer; each is a standard Apache Kafka consumer setting.
const CONSUMER: &[(&str, &str)] = &[
    // Offsets are committed in the background, but only those stored after hand-off.
    ("enable.auto.commit", "true"),
    ("auto.commit.interval.ms", "1000"),
    ("enable.auto.offset.store", "false"),
    // A fetch returns after at most 10 ms even when fewer than fetch.min.bytes are there: the
    // latency floor of a live view (the default 500 ms would add up to half a second per frame).
    ("fetch.wait.max.ms", "10"),
    // Notice a dead instance and rebalance within seconds. 3 s needs the broker's
    // group.min.session.timeout.ms at 3000 or less (6000 by default; scripts/broker.sh and the
    // ansible role set 3000). After a broker outage longer than this the consumer rejoins as a
    // new member, and the restarted broker waits this long for the old one before it assigns the
    // partitions: it bounds how soon the view is back. (Static membership, group.instance.id,
    // would skip that wait, but librdkafka then treats a fencing after a coordinator failover as
    // fatal: the consumer stopped for good in the cluster test.)
    ("session.timeout.ms", "3000"),
    ("heartbeat.interval.ms", "1000"),
    // Range assignment gives an instance the same partition numbers of both topics. Both are
    // keyed by camera id with the same partition count, so one instance holds both halves of a
    // camera and can join them (README "Scaling out").
    ("partition.assignment.strategy", "range"),
    // Prefetch at most 16 MB (a few seconds of frames from many cameras) instead of the default
    // 64 MB: a live view has no use for more, and it bounds memory while the broker lags.
    ("queued.max.messages.kbytes", "16384"),
];

/// The label of a per-topic counter.
type KindLabel = [(&'static str, &'static str); 1];

/// What the consumer counts; each a Prometheus counter, registered by [`ConsumeStats::register`].
#[derive(Debug)]
pub struct ConsumeStats {
    consumed: Family<KindLabel, Counter>,
    pub keypoints: Counter,
    pub frames: Counter,
    errors: Family<KindLabel, Counter>,
    pub keypoint_errors: Counter,
    pub frame_errors: Counter,
    /// Skipped messages by topic kind and reason: the detail behind the two error counters.
    skipped: Family<[(&'static str, &'static str); 2], Counter>,
    too_old: Family<KindLabel, Counter>,
    /// Well-formed messages skipped as older than the join's `max_age` (backlog).
    pub too_old_keypoints: Counter,
    pub too_old_frames: Counter,
    pub kafka_errors: Counter,
}

impl Default for ConsumeStats {
    fn default() -> Self {
        let by = |f: &Family<KindLabel, Counter>, kind| f.get_or_create(&[("kind", kind)]).clone();
        let (consumed, errors, too_old) = (Family::default(), Family::default(), Family::default());
        Self {
            keypoints: by(&consumed, "keypoints"),
            frames: by(&consumed, "frames"),
            keypoint_errors: by(&errors, "keypoints"),
            frame_errors: by(&errors, "frames"),
            too_old_keypoints: by(&too_old, "keypoints"),
            too_old_frames: by(&too_old, "frames"),
            consumed,
            errors,
            too_old,
            skipped: Family::default(),
            kafka_errors: Counter::default(),
        }
    }
}

impl ConsumeStats {
    /// Counts one skipped message; returns the total for its topic kind when it should be
    /// logged ([`note`]).
    pub fn skip(&self, kind: &'static str, reason: &'static str) -> Option<u64> {
        self.skipped
            .get_or_create(&[("kind", kind), ("reason", reason)])
            .inc();
        let counter = if kind == "frames" {
            &self.frame_errors
        } else {
            &self.keypoint_errors
        };
        note(counter)
    }

    pub fn register(&self, r: &mut Registry) {
        r.register(
            "pose_cloud_consumed",
            "Messages consumed and decoded, by topic kind.",
            self.consumed.clone(),
        );
        r.register(
            "pose_cloud_decode_errors",
            "Messages skipped as malformed, by topic kind.",
            self.errors.clone(),
        );
        r.register(
            "pose_cloud_skipped",
            "Messages skipped as malformed, by topic kind and reason.",
            self.skipped.clone(),
        );
        r.register(
            "pose_cloud_too_old",
            "Messages skipped as older than join.max_age_ms (backlog), by topic kind.",
            self.too_old.clone(),
        );
        r.register(
            "pose_cloud_kafka_errors",
            "Kafka consumer errors.",
            self.kafka_errors.clone(),
        );
    }
}

/// Why one message was skipped.
#[derive(Debug, thiserror::Error)]
pub enum SkipReason {
    #[error("keypoint message: {0}")]
    Keypoints(#[from] DecodeError),
    #[error("frame message: {0}")]
    Frame(#[from] FrameError),
    #[error("Kafka key {key:?} differs from the message's camera id {camera:?}")]
    KeyMismatch { key: String, camera: String },
}

impl SkipReason {
    /// A short stable name, the `reason` label of `pose_cloud_skipped_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Keypoints(e) => e.reason(),
            Self::Frame(e) => e.reason(),
            Self::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

/// Creates the consumer and subscribes it to both topics.
pub fn subscribe(
    kafka: &KafkaSettings,
    topics: &Topics,
    cfg: &ConsumeConfig,
    client_id: &str,
) -> Result<TopicConsumer, KafkaError> {
    subscribe_to(kafka, &[&topics.keypoints, &topics.frames], cfg, client_id)
}

/// Creates the consumer and subscribes it to `names` (some of the two topics).
pub fn subscribe_to(
    kafka: &KafkaSettings,
    names: &[&str],
    cfg: &ConsumeConfig,
    client_id: &str,
) -> Result<TopicConsumer, KafkaError> {
    let mut cc = kafka.client_config(client_id);
    cc.set("group.id", &cfg.group_id)
        .set("auto.offset.reset", cfg.offset_reset.as_str());
    for (k, v) in CONSUMER {
        if !kafka.properties.contains_key(*k) {
            cc.set(*k, *v);
        }
    }
    let consumer: TopicConsumer =
        cc.create_with_context(QuietContext(ClientLog::new("consumer")))?;
    consumer.subscribe(names)?;
    Ok(consumer)
}

/// Decodes one Kafka message according to its topic. `None`: a topic this consumer does not
/// read (cannot happen with [`subscribe`], handled anyway).
pub fn decode(topics: &Topics, m: &BorrowedMessage<'_>) -> Option<Result<Incoming, SkipReason>> {
    let key = m.key().map(String::from_utf8_lossy);
    let check_key = |camera: &str| match &key {
        Some(k) if k != camera => Err(SkipReason::KeyMismatch {
            key: k.chars().take(80).collect(),
            camera: camera.to_owned(),
        }),
        _ => Ok(()),
    };
    let payload = m.payload().unwrap_or_default();
    if m.topic() == topics.keypoints {
        Some((|| {
            let msg = KeypointMessage::decode(payload)?;
            check_key(msg.camera_id.as_str())?;
            Ok(Incoming::Keypoints(msg))
        })())
    } else if m.topic() == topics.frames {
        Some((|| {
            let headers = m.headers();
            let meta = FrameMeta::from_headers(
                headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .map(|h| (h.key, h.value)),
            )?;
            check_jpeg(payload)?;
            check_key(meta.camera_id.as_str())?;
            Ok(Incoming::Frame(FrameMessage {
                meta,
                jpeg: payload.to_vec(),
            }))
        })())
    } else {
        None
    }
}

/// Reads until `shutdown` completes or the receiver of `tx` is dropped. Kafka errors (broker
/// down, rebalance) are counted, logged and retried; bad messages are counted, logged and skipped.
pub async fn run(
    consumer: TopicConsumer,
    topics: Topics,
    tx: mpsc::Sender<Incoming>,
    stats: Arc<ConsumeStats>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let m = tokio::select! {
            _ = &mut shutdown => break,
            m = consumer.recv() => m,
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                if let Some(n) = note(&stats.kafka_errors) {
                    warn!(error = %e, errors_total = n, "kafka consumer error; retrying");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match decode(&topics, &m) {
            Some(Ok(incoming)) => {
                let counter = match &incoming {
                    Incoming::Keypoints(_) => &stats.keypoints,
                    Incoming::Frame(_) => &stats.frames,
                };
                counter.inc();
                if tx.send(incoming).await.is_err() {
                    debug!("receiver gone; consumer stops");
                    break;
                }
            }
            Some(Err(reason)) => {
                let kind = if m.topic() == topics.frames {
                    "frames"
                } else {
                    "keypoints"
                };
                if let Some(n) = stats.skip(kind, reason.reason()) {
                    warn!(topic = m.topic(), partition = m.partition(), offset = m.offset(),
                        error = %reason, skipped_total = n, "skipping bad message");
                }
            }
            None => {}
        }
        // Handed on or skipped: either way this offset is done.
        if let Err(e) = consumer.store_offset_from_message(&m) {
            debug!(error = %e, "cannot store offset (partition revoked?)");
        }
    }
    // Commit what was handed on before leaving the group.
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        debug!(error = %e, "final commit failed");
    }
}
