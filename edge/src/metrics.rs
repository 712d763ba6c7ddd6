//! The edge's Prometheus registry and endpoint: every counter registered once, the camera id as
//! a label on every sample; `GET /metrics` and `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use pose_shared::CameraId;
use pose_shared::metrics::{CONTENT_TYPE, encode, rss_bytes};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::publish::PublishStats;
use crate::state::Shared;

/// The registry and the gauges read at scrape time.
#[derive(Debug)]
pub struct EdgeMetrics {
    registry: Registry,
    shared: Arc<Shared>,
    privacy: Gauge,
    rss: Gauge,
}

impl EdgeMetrics {
    pub fn new(camera: &CameraId, shared: Arc<Shared>, publish: &PublishStats) -> Self {
        let label = ("camera".into(), camera.as_str().to_owned().into());
        let mut registry = Registry::with_labels(std::iter::once(label));
        shared.stats.register(&mut registry);
        publish.register(&mut registry);
        let privacy = Gauge::default();
        registry.register(
            "pose_edge_privacy_mode",
            "1 while no frames leave the device.",
            privacy.clone(),
        );
        let rss = Gauge::default();
        registry.register(
            "pose_edge_resident_memory_bytes",
            "Resident set size.",
            rss.clone(),
        );
        Self {
            registry,
            shared,
            privacy,
            rss,
        }
    }

    /// The exposition document, with the scrape-time gauges brought up to date.
    pub fn render(&self) -> String {
        self.privacy.set(i64::from(self.shared.privacy()));
        self.rss.set(i64::try_from(rss_bytes()).unwrap_or(i64::MAX));
        encode(&self.registry)
    }
}

/// `/metrics` and `/healthz`.
pub fn router(metrics: Arc<EdgeMetrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<EdgeMetrics>>| async move {
                ([("content-type", CONTENT_TYPE)], m.render())
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_counters() {
        let shared = Shared::new(true);
        shared.stats.captured.inc_by(10);
        shared.stats.dropped_busy.inc_by(3);
        let publish = PublishStats::default();
        publish.frames.dropped_queue_full.inc_by(2);
        let m = EdgeMetrics::new(&CameraId::new("cam-1").unwrap(), shared, &publish);
        let text = m.render();
        for line in [
            "pose_edge_frames_captured_total{camera=\"cam-1\"} 10",
            "pose_edge_frames_skipped_total{camera=\"cam-1\",reason=\"inference_busy\"} 3",
            "pose_edge_messages_total{camera=\"cam-1\",kind=\"frames\",outcome=\"dropped_queue_full\"} 2",
            "pose_edge_privacy_mode{camera=\"cam-1\"} 1",
            "pose_edge_capture_to_publish_seconds_count{camera=\"cam-1\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
