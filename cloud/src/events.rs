//! The events topic (`pose.events`, written by analytics such as `posestream-events`): the last
//! few events of each camera, for the viewer and `/api/cameras/{id}/events`.
//!
//! Every instance reads every partition of the topic without a consumer group (events are few,
//! and a viewer may be on any instance), starting at the last [`EventsConfig::per_camera`]
//! messages of each partition, so a restarted instance shows recent events at once. A value that
//! is not an event object (WIRE.md "Event message") is counted and skipped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use pose_shared::CameraId;
use pose_shared::kafka::{ClientLog, KafkaSettings, QuietContext};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::serve::AppState;

/// Default topic of events.
pub const DEFAULT_EVENTS_TOPIC: &str = "pose.events";
/// Events are small and read by people: kept as long as keypoints (7 days).
pub const EVENTS_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;
/// Largest event value accepted, bytes.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// `[events]` in the cloud's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// The events topic; empty: do not read events.
    pub topic: String,
    /// Events kept (and shown) per camera, the newest ones.
    pub per_camera: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            topic: DEFAULT_EVENTS_TOPIC.to_owned(),
            per_camera: 20,
        }
    }
}

/// The last events per camera, newest last, and what was kept and skipped
/// (`pose_cloud_events_total{outcome}`).
#[derive(Debug)]
pub struct EventStore {
    cameras: Mutex<HashMap<String, VecDeque<Value>>>,
    outcomes: Family<[(&'static str, &'static str); 1], Counter>,
    per_camera: std::sync::OnceLock<usize>,
}

impl Default for EventStore {
    fn default() -> Self {
        let outcomes = Family::default();
        for outcome in ["kept", "rejected"] {
            let _ = outcomes.get_or_create(&[("outcome", outcome)]);
        }
        Self {
            cameras: Mutex::default(),
            outcomes,
            per_camera: std::sync::OnceLock::new(),
        }
    }
}

/// Why an events-topic value is not an event.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("value is {0} bytes; at most {MAX_EVENT_BYTES}")]
    TooLarge(usize),
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("field {0:?} is missing or has the wrong type")]
    Field(&'static str),
    #[error("camera id {0:?} is invalid or differs from the key")]
    Camera(String),
}

/// Checks one value of the events topic (key = camera id) and returns the event.
pub fn parse_event(key: Option<&[u8]>, value: &[u8]) -> Result<Value, EventError> {
    if value.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge(value.len()));
    }
    let v: Value = serde_json::from_slice(value).map_err(|e| EventError::NotJson(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| EventError::NotJson("not an object".into()))?;
    let camera = obj
        .get("camera_id")
        .and_then(Value::as_str)
        .ok_or(EventError::Field("camera_id"))?;
    if CameraId::validate(camera).is_err() || key.is_some_and(|k| k != camera.as_bytes()) {
        return Err(EventError::Camera(camera.chars().take(80).collect()));
    }
    obj.get("type")
        .and_then(Value::as_str)
        .ok_or(EventError::Field("type"))?;
    obj.get("capture_ts_us")
        .and_then(Value::as_u64)
        .ok_or(EventError::Field("capture_ts_us"))?;
    Ok(v)
}

impl EventStore {
    /// Adds the outcome counters to the cloud's registry (metrics.rs).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "pose_cloud_events",
            "Values of the events topic, by outcome (events.rs).",
            self.outcomes.clone(),
        );
    }

    /// How many values had `outcome` (`kept` or `rejected`).
    pub fn count(&self, outcome: &'static str) -> u64 {
        self.outcomes.get_or_create(&[("outcome", outcome)]).get()
    }

    fn limit(&self) -> usize {
        *self.per_camera.get().unwrap_or(&20)
    }

    /// Keeps `event` (already checked by [`parse_event`]) as its camera's newest.
    pub fn push(&self, event: Value) {
        let Some(camera) = event.get("camera_id").and_then(Value::as_str) else {
            return;
        };
        let camera = camera.to_owned();
        let limit = self.limit().max(1);
        let mut cams = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        let q = cams.entry(camera).or_default();
        q.push_back(event);
        while q.len() > limit {
            q.pop_front();
        }
    }

    /// A camera's events, newest first.
    pub fn recent(&self, camera: &str) -> Vec<Value> {
        let cams = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        cams.get(camera)
            .map(|q| q.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn take(&self, key: Option<&[u8]>, value: Option<&[u8]>) {
        match parse_event(key, value.unwrap_or_default()) {
            Ok(ev) => {
                self.outcomes.get_or_create(&[("outcome", "kept")]).inc();
                self.push(ev);
            }
            Err(e) => {
                let n = self
                    .outcomes
                    .get_or_create(&[("outcome", "rejected")])
                    .inc();
                if n < 10 || n.is_power_of_two() {
                    warn!(error = %e, rejected = n + 1, "skipped a value of the events topic");
                }
            }
        }
    }
}

/// `GET /api/cameras/{id}/events`: `{"camera_id", "events": [newest first]}` (empty when the
/// camera has none; the camera need not be shown by this instance).
pub async fn events_api(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> impl IntoResponse {
    let events = s.events.recent(&id);
    Json(serde_json::json!({ "camera_id": id, "events": events }))
}

/// Reads the events topic into `store` until `stop` flips. Waits (and retries every 5 s) while
/// the topic does not exist; never fails the service.
pub fn spawn(
    kafka: &KafkaSettings,
    config: &EventsConfig,
    store: Arc<EventStore>,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.topic.is_empty() {
        return None;
    }
    let _ = store.per_camera.set(config.per_camera);
    let (kafka, topic, tail) = (kafka.clone(), config.topic.clone(), config.per_camera);
    Some(tokio::spawn(async move {
        let mut cfg = kafka.client_config("pose-cloud-events");
        // No group: offsets are chosen here (assign), never committed.
        cfg.set("group.id", "pose-cloud-events")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: StreamConsumer<QuietContext> =
            match cfg.create_with_context(QuietContext(ClientLog::new("events"))) {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "cannot create the events consumer; no events shown");
                    return;
                }
            };
        loop {
            match assign_tail(&consumer, &topic, tail) {
                Ok(n) => {
                    info!(%topic, partitions = n, "reading events");
                    break;
                }
                Err(e) => debug!(%topic, error = %e, "events topic not readable yet"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        loop {
            tokio::select! {
                m = consumer.recv() => match m {
                    Ok(m) => store.take(m.key(), m.payload()),
                    Err(e) => debug!(error = %e, "events consumer"),
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }))
}

/// Assigns every partition of `topic` at its last `tail` messages; the partition count.
fn assign_tail(
    consumer: &StreamConsumer<QuietContext>,
    topic: &str,
    tail: usize,
) -> Result<usize, String> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or("no metadata")?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(format!("topic {topic} does not exist"));
    }
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::OffsetTail(tail as i64))
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    Ok(t.partitions().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked() {
        let ok = br#"{"type":"fall_detected","camera_id":"cam-1","capture_ts_us":5,"evidence":{}}"#;
        assert!(parse_event(Some(b"cam-1"), ok).is_ok());
        assert!(parse_event(None, ok).is_ok());
        assert_eq!(
            parse_event(Some(b"cam-2"), ok),
            Err(EventError::Camera("cam-1".into()))
        );
        assert!(matches!(
            parse_event(None, b"[1]"),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            parse_event(None, b"\xff"),
            Err(EventError::NotJson(_))
        ));
        assert_eq!(
            parse_event(None, br#"{"camera_id":"c","capture_ts_us":1}"#),
            Err(EventError::Field("type"))
        );
        assert_eq!(
            parse_event(None, br#"{"camera_id":"a/b","type":"x","capture_ts_us":1}"#),
            Err(EventError::Camera("a/b".into()))
        );
        assert!(matches!(
            parse_event(None, &vec![b' '; MAX_EVENT_BYTES + 1]),
            Err(EventError::TooLarge(_))
        ));
    }

    #[test]
    fn the_store_keeps_the_newest_per_camera() {
        let s = EventStore::default();
        let _ = s.per_camera.set(3);
        for i in 0..5u64 {
            s.push(serde_json::json!({"camera_id": "a", "type": "t", "capture_ts_us": i}));
        }
        s.push(serde_json::json!({"camera_id": "b", "type": "t", "capture_ts_us": 9}));
        let a: Vec<u64> = s
            .recent("a")
            .iter()
            .map(|e| e["capture_ts_us"].as_u64().unwrap())
            .collect();
        assert_eq!(a, vec![4, 3, 2]);
        assert_eq!(s.recent("b").len(), 1);
        assert!(s.recent("zz").is_empty());
    }
}
