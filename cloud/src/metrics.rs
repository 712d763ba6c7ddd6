//! The cloud's Prometheus registry: every counter registered once with its labels (consumer,
//! join, render, access, per camera); `/metrics` encodes it.

use std::sync::{Arc, Mutex};

use pose_shared::metrics::{CONTENT_TYPE, Labels, SnapshotCounter, encode, note, rss_bytes};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::consume::ConsumeStats;
use crate::hub::Hub;
use crate::join::JoinStats;

/// The registry and the counters that belong to no single stage.
#[derive(Debug)]
pub struct Telemetry {
    /// Written at start-up only (parts that start later, like replay, add collectors).
    registry: std::sync::RwLock<Registry>,
    /// Frames that could not be decoded or drawn (all reasons; for the status line).
    pub render_errors: Counter,
    /// The same by reason ([`crate::render::RenderError::reason`]).
    render_error_reasons: Family<[(&'static str, &'static str); 1], Counter>,
    /// Requests refused for missing or wrong credentials.
    pub auth_failures: Counter,
    rss: Gauge,
}

impl Telemetry {
    pub fn new(
        hub: &Hub,
        consume: &ConsumeStats,
        join: &Arc<Mutex<JoinStats>>,
        events: &crate::events::EventStore,
    ) -> Self {
        let mut r = Registry::default();
        consume.register(&mut r);
        events.register(&mut r);
        let outcomes = join.clone();
        r.register_collector(Box::new(SnapshotCounter {
            name: "pose_cloud_join",
            help: "Join outcomes.",
            read: move || -> Vec<(Labels, u64)> {
                let j = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
                [
                    ("joined", j.joined),
                    ("stale", j.stale),
                    ("bare", j.bare),
                    ("keypoints_only", j.keypoints_only),
                    ("late", j.late),
                    ("out_of_order", j.out_of_order),
                    ("overflow", j.overflow),
                    ("old_run", j.old_run),
                ]
                .into_iter()
                .map(|(outcome, n)| (vec![("outcome", outcome.to_owned())], n))
                .collect()
            },
        }));
        let restarts = join.clone();
        r.register_collector(Box::new(SnapshotCounter {
            name: "pose_cloud_edge_restarts",
            help: "Edge restarts seen by the join (a new run id; for version-1 edges a seq that went back with a later capture time).",
            read: move || -> Vec<(Labels, u64)> {
                let j = restarts.lock().unwrap_or_else(|p| p.into_inner());
                vec![(Vec::new(), j.new_run)]
            },
        }));
        let render_error_reasons = Family::default();
        r.register(
            "pose_cloud_render_errors",
            "Frames that could not be decoded or drawn, by reason.",
            render_error_reasons.clone(),
        );
        let auth_failures = Counter::default();
        r.register(
            "pose_cloud_http_unauthorized",
            "Requests refused for missing or wrong credentials.",
            auth_failures.clone(),
        );
        hub.register(&mut r);
        let rss = Gauge::default();
        r.register(
            "pose_cloud_resident_memory_bytes",
            "Resident set size.",
            rss.clone(),
        );
        Self {
            registry: std::sync::RwLock::new(r),
            render_errors: Counter::default(),
            render_error_reasons,
            auth_failures,
            rss,
        }
    }

    /// Counts a frame that could not be drawn; the total when it should be logged.
    pub fn render_error(&self, reason: &'static str) -> Option<u64> {
        self.render_error_reasons
            .get_or_create(&[("reason", reason)])
            .inc();
        note(&self.render_errors)
    }

    /// Adds a collector of a part that starts after the state (replay).
    pub fn register_collector(&self, c: Box<dyn prometheus_client::collector::Collector>) {
        self.registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .register_collector(c);
    }

    /// The exposition document and its media type.
    pub fn render(&self) -> (&'static str, String) {
        self.rss.set(i64::try_from(rss_bytes()).unwrap_or(i64::MAX));
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        (CONTENT_TYPE, encode(&registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exposed() {
        let hub = Hub::default();
        let consume = ConsumeStats::default();
        let join = Arc::new(Mutex::new(JoinStats {
            late: 4,
            new_run: 2,
            ..Default::default()
        }));
        let events = crate::events::EventStore::default();
        let t = Telemetry::new(&hub, &consume, &join, &events);
        consume.keypoints.inc_by(7);
        let _ = consume.skip("frames", "not_jpeg");
        let _ = t.render_error("decode");
        hub.feed(&pose_shared::CameraId::new("cam-1").unwrap())
            .note_frame(std::time::Instant::now(), 30_000);
        let (_, text) = t.render();
        for line in [
            "pose_cloud_consumed_total{kind=\"keypoints\"} 7",
            "pose_cloud_skipped_total{kind=\"frames\",reason=\"not_jpeg\"} 1",
            "pose_cloud_decode_errors_total{kind=\"frames\"} 1",
            "pose_cloud_join_total{outcome=\"late\"} 4",
            "pose_cloud_edge_restarts_total 2",
            "pose_cloud_render_errors_total{reason=\"decode\"} 1",
            "pose_cloud_rendered_total{camera=\"cam-1\"} 1",
            "pose_cloud_latency_seconds_bucket{le=\"0.035\",camera=\"cam-1\"} 1",
            "pose_cloud_http_unauthorized_total 0",
            "pose_cloud_events_total{outcome=\"rejected\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
