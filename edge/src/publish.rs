//! Publishes keypoint and frame messages to Kafka, each kind with producer settings fit for it.
//!
//! Enqueueing never blocks: librdkafka queues locally up to a bound and sends in the background.
//! When a queue is full the message is dropped and counted (frames are disposable; keypoints have
//! a queue large enough to ride out a broker outage of several minutes). Delivery outcomes are
//! counted by a producer context. Nothing here panics on a broker error.

use std::sync::Arc;
use std::time::Duration;

use pose_shared::frame::FrameMeta;
use pose_shared::kafka::KafkaSettings;
use pose_shared::metrics::note;
use pose_shared::topics::Topics;
use pose_shared::{EncodeError, KeypointMessage};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

/// Producer settings for keypoints, the downstream product: durable and in order.
const KEYPOINT_PRODUCER: &[(&str, &str)] = &[
    // Wait for all in-sync replicas; with idempotence, retries neither duplicate nor reorder.
    ("acks", "all"),
    ("enable.idempotence", "true"),
    // Small batches: a few ms of delay, far fewer requests (and stored batches) at 30 msg/s.
    ("linger.ms", "5"),
    ("compression.type", "lz4"),
    // The local buffer while the broker is away (`queue.buffering.max.messages`,
    // `message.timeout.ms`) comes from [`PublishConfig`].
];

/// How much the edge keeps while the broker is away (`[publish]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    /// Keypoint messages buffered locally while the broker cannot take them. The default,
    /// 20 000, is about 11 min at 30 fps (~12 MB). Beyond it new keypoints are dropped and
    /// counted (`dropped_full`); memory stays bounded.
    pub keypoint_buffer: u32,
    /// How long a buffered keypoint message may wait for the broker before it counts as
    /// failed, s.
    pub keypoint_max_wait_s: u64,
}

/// `[publish]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct PublishFlags {
    /// Keypoint messages kept while the broker is away; more are dropped and counted [default: 20000]
    #[arg(long = "keypoint-buffer", global = true)]
    pub keypoint_buffer: Option<u32>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            keypoint_buffer: 20_000,
            keypoint_max_wait_s: 600,
        }
    }
}

/// Producer settings for frames: disposable, so small buffers and short lives.
const FRAME_PRODUCER: &[(&str, &str)] = &[
    // The leader's acknowledgement is enough for an image that is stale within a second.
    ("acks", "1"),
    ("linger.ms", "5"),
    // JPEG does not compress further.
    ("compression.type", "none"),
    // At most 4 MB queued (~200 frames of 20 KB at 320 px): when the broker is slow or gone,
    // new frames are dropped at once instead of piling up.
    ("queue.buffering.max.kbytes", "4096"),
    // A frame that could not be delivered within 5 s is worthless to a live viewer.
    ("message.timeout.ms", "5000"),
];

/// Counters of one message kind. `enqueued = delivered + failed + (still queued)`.
#[derive(Debug, Clone)]
pub struct KindCounters {
    /// Handed to librdkafka's queue.
    pub enqueued: Counter,
    /// Acknowledged by the broker.
    pub delivered: Counter,
    /// Given up by librdkafka (timeout, fatal broker error).
    pub failed: Counter,
    /// Dropped before queueing: the local queue was full.
    pub dropped_queue_full: Counter,
    /// Dropped before queueing: the message could not be encoded.
    pub encode_errors: Counter,
}

/// Labels of `pose_edge_messages_total`.
type MessageLabels = [(&'static str, &'static str); 2];

impl KindCounters {
    fn of(family: &Family<MessageLabels, Counter>, kind: &'static str) -> Self {
        let c = |outcome| {
            family
                .get_or_create(&[("kind", kind), ("outcome", outcome)])
                .clone()
        };
        Self {
            enqueued: c("enqueued"),
            delivered: c("delivered"),
            failed: c("failed"),
            dropped_queue_full: c("dropped_queue_full"),
            encode_errors: c("encode_error"),
        }
    }
}

/// Counters of both kinds, shared with the status log, the GPIO LED and the metrics endpoint.
#[derive(Debug)]
pub struct PublishStats {
    family: Family<MessageLabels, Counter>,
    pub keypoints: KindCounters,
    pub frames: KindCounters,
}

impl Default for PublishStats {
    fn default() -> Self {
        let family = Family::default();
        Self {
            keypoints: KindCounters::of(&family, "keypoints"),
            frames: KindCounters::of(&family, "frames"),
            family,
        }
    }
}

impl PublishStats {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "pose_edge_messages",
            "Kafka messages by kind and outcome.",
            self.family.clone(),
        );
    }
}

/// Where the pipeline sends its messages: the Kafka [`Publisher`], or a recorder in tests of the
/// pipeline's logic. Both calls only queue and never block.
pub trait Sink: Sync {
    fn publish_keypoints(&self, msg: &KeypointMessage) -> Result<(), PublishError>;
    fn publish_frame(&self, meta: &FrameMeta, jpeg: &[u8]) -> Result<(), PublishError>;
    /// Waits up to `timeout` for queued messages; returns how many of each kind are left.
    fn flush(&self, timeout: Duration) -> (i32, i32);
    fn stats(&self) -> &PublishStats;
}

/// Why one message was not queued. Already counted when returned.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("local queue full; message dropped")]
    QueueFull,
    #[error("cannot encode keypoint message: {0}")]
    Encode(#[from] EncodeError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Keypoints,
    Frames,
}

/// Counts delivery reports on librdkafka's background thread.
struct DeliveryCounter {
    stats: Arc<PublishStats>,
    kind: Kind,
    log: pose_shared::kafka::ClientLog,
}

impl DeliveryCounter {
    fn counters(&self) -> &KindCounters {
        match self.kind {
            Kind::Keypoints => &self.stats.keypoints,
            Kind::Frames => &self.stats.frames,
        }
    }
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(&error, reason);
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let c = self.counters();
        match result {
            Ok(_) => {
                c.delivered.inc();
            }
            Err((err, _)) => {
                if let Some(n) = note(&c.failed) {
                    if matches!(
                        err,
                        KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTimestamp)
                    ) {
                        // Records carry the capture time; Apache Kafka 4 refuses one more than
                        // an hour ahead of its clock (log.message.timestamp.after.max.ms).
                        error!(kind = ?self.kind, failed_total = n, error = %err,
                            "delivery failed: the broker refused the capture time; this \
                             device's clock is off by more than the broker accepts \
                             (1 h by default): enable NTP (systemd-timesyncd)");
                    } else {
                        warn!(kind = ?self.kind, failed_total = n, error = %err, "delivery failed");
                    }
                }
            }
        }
    }
}

/// The edge's Kafka publisher: one producer per message kind.
pub struct Publisher {
    keypoints: ThreadedProducer<DeliveryCounter>,
    frames: ThreadedProducer<DeliveryCounter>,
    topics: Topics,
    stats: Arc<PublishStats>,
}

impl Publisher {
    /// Creates both producers. Fails only on invalid settings; an unreachable broker is not an
    /// error here (librdkafka keeps trying, and the queues absorb the gap up to their bounds).
    pub fn new(kafka: &KafkaSettings, topics: Topics, client_id: &str) -> Result<Self, KafkaError> {
        Self::with_config(kafka, topics, client_id, &PublishConfig::default())
    }

    /// [`Publisher::new`] with the buffer settings of `publish`.
    pub fn with_config(
        kafka: &KafkaSettings,
        topics: Topics,
        client_id: &str,
        publish: &PublishConfig,
    ) -> Result<Self, KafkaError> {
        let stats = Arc::new(PublishStats::default());
        let buffer = publish.keypoint_buffer.max(1).to_string();
        let wait_ms = (publish.keypoint_max_wait_s.max(1) * 1000).to_string();
        let keypoint_buffer = [
            ("queue.buffering.max.messages", buffer.as_str()),
            ("message.timeout.ms", wait_ms.as_str()),
        ];
        let make = |kind: Kind, settings: &[(&str, &str)]| {
            let mut cfg = kafka.client_config(&format!("{client_id}-{kind:?}").to_lowercase());
            let extra: &[(&str, &str)] = match kind {
                Kind::Keypoints => &keypoint_buffer,
                Kind::Frames => &[],
            };
            for (k, v) in settings.iter().chain(extra) {
                // Operator-supplied properties win over these defaults.
                if !kafka.properties.contains_key(*k) {
                    cfg.set(*k, *v);
                }
            }
            cfg.create_with_context(DeliveryCounter {
                log: pose_shared::kafka::ClientLog::new(match kind {
                    Kind::Keypoints => "keypoints-producer",
                    Kind::Frames => "frames-producer",
                }),
                stats: stats.clone(),
                kind,
            })
        };
        Ok(Self {
            keypoints: make(Kind::Keypoints, KEYPOINT_PRODUCER)?,
            frames: make(Kind::Frames, FRAME_PRODUCER)?,
            topics,
            stats,
        })
    }

    pub fn stats(&self) -> &Arc<PublishStats> {
        &self.stats
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Queues one keypoint message (key = camera id). Never blocks.
    pub fn publish_keypoints(&self, msg: &KeypointMessage) -> Result<(), PublishError> {
        let c = &self.stats.keypoints;
        let bytes = msg.encode().inspect_err(|_| {
            c.encode_errors.inc();
        })?;
        let record = BaseRecord::to(&self.topics.keypoints)
            .key(msg.camera_id.as_str())
            .payload(bytes.as_slice())
            .timestamp(ms(msg.capture_ts_us));
        enqueue(&self.keypoints, record, c)
    }

    /// Queues one JPEG frame (key = camera id, metadata in headers). Never blocks.
    pub fn publish_frame(&self, meta: &FrameMeta, jpeg: &[u8]) -> Result<(), PublishError> {
        let headers =
            meta.to_headers()
                .iter()
                .fold(OwnedHeaders::new_with_capacity(7), |h, (k, v)| {
                    h.insert(Header {
                        key: k,
                        value: Some(v.as_bytes()),
                    })
                });
        let record = BaseRecord::to(&self.topics.frames)
            .key(meta.camera_id.as_str())
            .payload(jpeg)
            .headers(headers)
            .timestamp(ms(meta.capture_ts_us));
        enqueue(&self.frames, record, &self.stats.frames)
    }

    /// Waits up to `timeout` for queued messages to be delivered (call on shutdown: dropping a
    /// producer discards its queue). Returns how many of each kind were still queued at the end.
    pub fn flush(&self, timeout: Duration) -> (i32, i32) {
        // Keypoints first: they are the product. Frames get what is left of the deadline.
        let start = std::time::Instant::now();
        let _ = self.keypoints.flush(timeout);
        let _ = self.frames.flush(timeout.saturating_sub(start.elapsed()));
        (
            self.keypoints.in_flight_count(),
            self.frames.in_flight_count(),
        )
    }
}

impl Sink for Publisher {
    fn publish_keypoints(&self, msg: &KeypointMessage) -> Result<(), PublishError> {
        Publisher::publish_keypoints(self, msg)
    }
    fn publish_frame(&self, meta: &FrameMeta, jpeg: &[u8]) -> Result<(), PublishError> {
        Publisher::publish_frame(self, meta, jpeg)
    }
    fn flush(&self, timeout: Duration) -> (i32, i32) {
        Publisher::flush(self, timeout)
    }
    fn stats(&self) -> &PublishStats {
        Publisher::stats(self)
    }
}

fn ms(us: u64) -> i64 {
    i64::try_from(us / 1000).unwrap_or(i64::MAX)
}

fn enqueue(
    producer: &ThreadedProducer<DeliveryCounter>,
    record: BaseRecord<'_, str, [u8]>,
    c: &KindCounters,
) -> Result<(), PublishError> {
    match producer.send(record) {
        Ok(()) => {
            c.enqueued.inc();
            Ok(())
        }
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
            if let Some(n) = note(&c.dropped_queue_full) {
                warn!(
                    topic = record_topic(producer),
                    dropped_total = n,
                    "producer queue full; dropping"
                );
            }
            Err(PublishError::QueueFull)
        }
        Err((e, _)) => {
            c.failed.inc();
            Err(e.into())
        }
    }
}

fn record_topic(producer: &ThreadedProducer<DeliveryCounter>) -> &'static str {
    match producer.context().kind {
        Kind::Keypoints => "keypoints",
        Kind::Frames => "frames",
    }
}
