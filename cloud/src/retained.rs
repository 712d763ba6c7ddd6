//! What Kafka still holds per camera: the time range of each topic's partition that carries the
//! camera (all of a camera's messages go to one partition of each topic), from the timestamps of
//! the partition's first and last retained messages.
//!
//! The range is the partition's: a camera that was silent at the start or the end of it has no
//! frames there, but nothing older than the start exists for it. Ranges are refreshed in the
//! background every `refresh` (an offset already looked up is not read again), so `/api/cameras`
//! and `/metrics` only read a table.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pose_shared::kafka::{KafkaSettings, QuietContext};
use pose_shared::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use tracing::debug;

use crate::directory::partition_of;
use crate::history::lookup_consumer;
use crate::timespec;

const TIMEOUT: Duration = Duration::from_secs(5);

/// The time range of retained messages, ms since the epoch (Kafka timestamps: the capture time
/// as the edge stamps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A camera's retained ranges, as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraRange {
    pub partition: i32,
    /// None: nothing retained in that topic's partition.
    pub frames: Option<Shown>,
    pub keypoints: Option<Shown>,
}

/// A range with readable times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shown {
    pub from_ms: i64,
    pub to_ms: i64,
    pub from: String,
    pub to: String,
}

impl From<Range> for Shown {
    fn from(r: Range) -> Self {
        Self {
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            from: timespec::format(r.from_ms.max(0) as u64 * 1000),
            to: timespec::format(r.to_ms.max(0) as u64 * 1000),
        }
    }
}

/// Ranges per topic and partition, refreshed from Kafka.
pub struct Retained {
    kafka: KafkaSettings,
    topics: Topics,
    /// (topic, partition) → range; and how many partitions each topic has.
    table: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    at: Option<Instant>,
    partitions: usize,
    ranges: HashMap<(String, i32), Range>,
    /// Timestamps already read, by (topic, partition, offset).
    seen: HashMap<(String, i32, i64), i64>,
}

impl Retained {
    pub fn new(kafka: &KafkaSettings, topics: &Topics) -> Arc<Self> {
        Arc::new(Self {
            kafka: kafka.clone(),
            topics: topics.clone(),
            table: RwLock::default(),
        })
    }

    /// Reads the ranges from Kafka now (blocking). Errors are logged; the old table stays.
    pub fn refresh(&self) -> Result<(), rdkafka::error::KafkaError> {
        let c = lookup_consumer(&self.kafka)?;
        let mut seen = self
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .clone();
        let mut ranges = HashMap::new();
        let mut kept = HashMap::new();
        let mut partitions = 0;
        for topic in [&self.topics.frames, &self.topics.keypoints] {
            let md = c.fetch_metadata(Some(topic), TIMEOUT)?;
            let n = md.topics().first().map_or(0, |t| t.partitions().len());
            partitions = partitions.max(n);
            let mut wanted = Vec::new();
            for p in 0..n as i32 {
                let (low, high) = c.fetch_watermarks(topic, p, TIMEOUT)?;
                if high > low {
                    wanted.push((p, low, high - 1));
                }
            }
            let offsets: Vec<(i32, i64)> = wanted
                .iter()
                .flat_map(|&(p, a, b)| [(p, a), (p, b)])
                .filter(|&(p, o)| !seen.contains_key(&(topic.clone(), p, o)))
                .collect();
            for ((p, o), ts) in read_timestamps(&c, topic, &offsets) {
                seen.insert((topic.clone(), p, o), ts);
            }
            for (p, a, b) in wanted {
                let (ka, kb) = ((topic.clone(), p, a), (topic.clone(), p, b));
                if let (Some(&from), Some(&to)) = (seen.get(&ka), seen.get(&kb)) {
                    ranges.insert(
                        (topic.clone(), p),
                        Range {
                            from_ms: from,
                            to_ms: to,
                        },
                    );
                    // Only the current ends are remembered.
                    kept.insert(ka, from);
                    kept.insert(kb, to);
                }
            }
        }
        let seen = kept;
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Table {
            at: Some(Instant::now()),
            partitions,
            ranges,
            seen,
        };
        Ok(())
    }

    /// Whether the table is older than `max_age` (or was never read).
    pub fn stale(&self, max_age: Duration) -> bool {
        self.table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .at
            .is_none_or(|t| t.elapsed() > max_age)
    }

    /// `camera`'s ranges from the last refresh; None before the first.
    pub fn of(&self, camera: &str) -> Option<CameraRange> {
        let t = self.table.read().unwrap_or_else(|p| p.into_inner());
        t.at?;
        let p = partition_of(camera, t.partitions as u32);
        let get = |topic: &String| t.ranges.get(&(topic.clone(), p)).copied().map(Shown::from);
        Some(CameraRange {
            partition: p,
            frames: get(&self.topics.frames),
            keypoints: get(&self.topics.keypoints),
        })
    }

    /// Refreshes every `every` until `shutdown` becomes true.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                let m = me.clone();
                match tokio::task::spawn_blocking(move || m.refresh()).await {
                    Ok(Err(e)) => debug!(error = %e, "retained ranges not refreshed"),
                    Err(e) => debug!(error = %e, "retained ranges task failed"),
                    Ok(Ok(())) => {}
                }
            }
        })
    }
}

/// The Kafka timestamps of the messages at `offsets` of `topic` ((partition, offset) pairs):
/// assigns them all at once and reads until each answered or [`TIMEOUT`] passed.
fn read_timestamps(
    c: &BaseConsumer<QuietContext>,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<((i32, i64), i64)> {
    let mut out = Vec::new();
    // One assignment per partition at a time: a partition's two ends are read in two rounds.
    let mut rounds: Vec<Vec<(i32, i64)>> = Vec::new();
    for &(p, o) in offsets {
        match rounds.iter_mut().find(|r| r.iter().all(|&(q, _)| q != p)) {
            Some(r) => r.push((p, o)),
            None => rounds.push(vec![(p, o)]),
        }
    }
    for round in rounds {
        let mut tpl = TopicPartitionList::new();
        for &(p, o) in &round {
            let _ = tpl.add_partition_offset(topic, p, Offset::Offset(o));
        }
        if c.assign(&tpl).is_err() {
            continue;
        }
        let mut left = round.clone();
        let deadline = Instant::now() + TIMEOUT;
        while !left.is_empty() && Instant::now() < deadline {
            let Some(Ok(m)) = c.poll(Duration::from_millis(100)) else {
                continue;
            };
            // The message at the offset, or the next one (an offset may hold no message).
            if let Some(i) = left
                .iter()
                .position(|&(p, o)| p == m.partition() && m.offset() >= o)
            {
                let (p, o) = left.swap_remove(i);
                if let Some(ts) = m.timestamp().to_millis() {
                    out.push(((p, o), ts));
                }
            }
        }
    }
    let _ = c.unassign();
    out
}
