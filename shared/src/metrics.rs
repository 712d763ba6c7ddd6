//! Telemetry helpers both programs use: the Prometheus registry's encoding, the latency buckets,
//! the process's memory, and the throttle for logging repeated events.
//!
//! Each program registers its counters and histograms once, with their labels, in one
//! `prometheus_client` registry (`pose_edge::metrics`, `pose_cloud::metrics`); `/metrics` encodes
//! that registry.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0,
];

/// Something that counts events: an atomic or a Prometheus counter.
pub trait Tally {
    /// Counts one more event; returns the new total.
    fn bump(&self) -> u64;
}

impl Tally for AtomicU64 {
    fn bump(&self) -> u64 {
        self.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(feature = "service")]
impl Tally for prometheus_client::metrics::counter::Counter {
    fn bump(&self) -> u64 {
        self.inc() + 1
    }
}

/// Counts one event and says whether to log it: the first, the second, the fourth, then every
/// power of two, so a flood of one error shows its progress in a handful of lines. Returns the
/// total when the event should be logged.
pub fn note(tally: &impl Tally) -> Option<u64> {
    let n = tally.bump();
    n.is_power_of_two().then_some(n)
}

/// The process's resident set size in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    rss_bytes_of("self")
}

/// The resident set size of process `pid` ("self" for this one) in bytes (Linux; 0 when the
/// process does not exist, and elsewhere).
pub fn rss_bytes_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(feature = "service")]
pub use registry::*;

#[cfg(feature = "service")]
mod registry {
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    use super::LATENCY_BUCKETS;

    /// The media type of [`encode`]'s output (OpenMetrics text, which Prometheus reads).
    pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// A latency histogram in seconds with [`LATENCY_BUCKETS`].
    pub fn latency_histogram() -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(registry: &Registry) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
            // Only a failing writer can fail, and a String does not.
            out = format!("# encoding failed: {e}\n");
        }
        out
    }

    /// Label pairs of one sample.
    pub type Labels = Vec<(&'static str, String)>;

    /// Counters whose values live elsewhere (a snapshot taken at scrape time), e.g. the join's
    /// outcome counts, which the pure join logic keeps as plain numbers.
    pub struct SnapshotCounter<F> {
        pub name: &'static str,
        pub help: &'static str,
        pub read: F,
    }

    impl<F> std::fmt::Debug for SnapshotCounter<F> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SnapshotCounter")
                .field("name", &self.name)
                .finish()
        }
    }

    impl<F> prometheus_client::collector::Collector for SnapshotCounter<F>
    where
        F: Fn() -> Vec<(Labels, u64)> + Send + Sync + 'static,
    {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let samples = (self.read)();
            let mut metric =
                encoder.encode_descriptor(self.name, self.help, None, MetricType::Counter)?;
            for (labels, value) in &samples {
                let family = metric.encode_family(labels)?;
                ConstCounter::new(*value).encode(family)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_logs_the_first_then_powers_of_two() {
        let c = AtomicU64::new(0);
        let logged: Vec<u64> = (0..20).filter_map(|_| note(&c)).collect();
        assert_eq!(logged, vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn rss_of_this_process() {
        assert!(rss_bytes() > 0);
        assert_eq!(rss_bytes_of("999999999"), 0);
    }

    #[cfg(feature = "service")]
    #[test]
    fn registry_encodes_counters_histograms_and_snapshots() {
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::registry::Registry;
        let mut r = Registry::with_labels([("camera".into(), "c1".into())].into_iter());
        let skipped = Family::<[(&'static str, &'static str); 1], Counter>::default();
        r.register("x_skipped", "Things skipped.", skipped.clone());
        let busy = skipped.get_or_create(&[("reason", "busy")]).clone();
        busy.inc_by(3);
        let h = latency_histogram();
        r.register("lat_seconds", "Latency.", h.clone());
        h.observe(0.0008);
        h.observe(0.03);
        h.observe(20.0);
        r.register_collector(Box::new(SnapshotCounter {
            name: "joined",
            help: "Join outcomes.",
            read: || vec![(vec![("outcome", "late".to_owned())], 5)],
        }));
        let text = encode(&r);
        assert!(
            text.contains("x_skipped_total{camera=\"c1\",reason=\"busy\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{camera=\"c1\",le=\"0.001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{camera=\"c1\",le=\"0.035\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_count{camera=\"c1\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("joined_total{camera=\"c1\",outcome=\"late\"} 5"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
