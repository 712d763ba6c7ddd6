//! What the pipeline's stages, the status log, the metrics endpoint and the GPIO controller
//! share: the run's counters (registered once in the Prometheus registry), the privacy switch and
//! the stop event.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// Shared state of one run.
#[derive(Debug)]
pub struct Shared {
    pub stats: RunStats,
    /// Privacy mode, switchable while running (config, flag or the GPIO button).
    pub privacy: AtomicBool,
    /// Set to stop the run (signal handler, tests).
    pub stop: Stop,
}

impl Shared {
    pub fn new(privacy: bool) -> Arc<Self> {
        Arc::new(Self {
            stats: RunStats::default(),
            privacy: AtomicBool::new(privacy),
            stop: Stop::default(),
        })
    }
}

/// A one-way stop event: threads check it between frames, async tasks await it.
#[derive(Debug)]
pub struct Stop {
    tx: watch::Sender<bool>,
}

impl Default for Stop {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(false),
        }
    }
}

impl Stop {
    /// Sets the event; returns whether it was already set.
    pub fn set(&self) -> bool {
        self.tx.send_replace(true)
    }

    pub fn is_set(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the event is set.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The label of one labelled counter sample.
type Label = [(&'static str, &'static str); 1];

/// Counters of a run. Each is a Prometheus counter, registered by [`RunStats::register`].
#[derive(Debug)]
pub struct RunStats {
    pub captured: Counter,
    pub inferred: Counter,
    pub poses: Counter,
    skipped: Family<Label, Counter>,
    /// Frames replaced in the inference mailbox before inference took them.
    pub dropped_busy: Counter,
    /// Frames not offered to inference because of `infer_every` / `infer_max_fps`.
    pub skipped_by_rate: Counter,
    /// Frames whose JPEG was not published because of `frames.max_fps`.
    pub jpeg_skipped_by_rate: Counter,
    errors: Family<Label, Counter>,
    pub jpeg_errors: Counter,
    pub inference_errors: Counter,
    pub source_errors: Counter,
    /// Total time spent in pose estimation, µs.
    pub inference_us: Counter,
    /// Capture-to-publish latency of keypoint messages, all run long (seconds).
    pub latency: Histogram,
    /// The same since the last status line, µs (the status line empties it).
    latencies: Mutex<Vec<u32>>,
}

impl Default for RunStats {
    fn default() -> Self {
        let skipped = Family::<Label, Counter>::default();
        let errors = Family::<Label, Counter>::default();
        let by = |f: &Family<Label, Counter>, key, value| f.get_or_create(&[(key, value)]).clone();
        Self {
            captured: Counter::default(),
            inferred: Counter::default(),
            poses: Counter::default(),
            dropped_busy: by(&skipped, "reason", "inference_busy"),
            skipped_by_rate: by(&skipped, "reason", "infer_rate"),
            jpeg_skipped_by_rate: by(&skipped, "reason", "jpeg_rate"),
            skipped,
            inference_errors: by(&errors, "stage", "inference"),
            jpeg_errors: by(&errors, "stage", "jpeg"),
            source_errors: by(&errors, "stage", "source"),
            errors,
            inference_us: Counter::default(),
            latency: pose_shared::metrics::latency_histogram(),
            latencies: Mutex::default(),
        }
    }
}

/// A point-in-time view of [`RunStats`] for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    pub inferred: u64,
    pub poses: u64,
    pub dropped_busy: u64,
    pub skipped_by_rate: u64,
    pub jpeg_errors: u64,
    pub inference_errors: u64,
}

impl RunStats {
    /// Registers every counter under its documented name (README "Observability").
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "pose_edge_frames_captured",
            "Frames delivered by the source.",
            self.captured.clone(),
        );
        r.register(
            "pose_edge_frames_inferred",
            "Frames that went through pose estimation.",
            self.inferred.clone(),
        );
        r.register("pose_edge_poses", "Poses found.", self.poses.clone());
        r.register(
            "pose_edge_frames_skipped",
            "Frames not inferred or not published as JPEG, by reason (newest frame wins; rate limits).",
            self.skipped.clone(),
        );
        r.register(
            "pose_edge_errors",
            "Frames lost to errors, by stage.",
            self.errors.clone(),
        );
        r.register(
            "pose_edge_inference_microseconds",
            "Time spent in pose estimation.",
            self.inference_us.clone(),
        );
        r.register(
            "pose_edge_capture_to_publish_seconds",
            "Capture to keypoint message queued for Kafka.",
            self.latency.clone(),
        );
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            frames: self.captured.get(),
            inferred: self.inferred.get(),
            poses: self.poses.get(),
            dropped_busy: self.dropped_busy.get(),
            skipped_by_rate: self.skipped_by_rate.get(),
            jpeg_errors: self.jpeg_errors.get(),
            inference_errors: self.inference_errors.get(),
        }
    }

    pub(crate) fn record_latency(&self, us: u64) {
        self.latency.observe(us as f64 / 1e6);
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: at most one status interval of samples (the status line empties it).
        if l.len() < 100_000 {
            l.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }

    /// p50 and p99 of the capture-to-publish latency since the last call, in ms; empties it.
    pub fn take_latency_percentiles(&self) -> Option<(f64, f64)> {
        let mut l = std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        if l.is_empty() {
            return None;
        }
        l.sort_unstable();
        let at = |q: f64| f64::from(l[((l.len() - 1) as f64 * q).round() as usize]) / 1e3;
        Some((at(0.5), at(0.99)))
    }
}

impl Shared {
    /// Whether privacy mode is on now.
    pub fn privacy(&self) -> bool {
        self.privacy.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let s = RunStats::default();
        assert_eq!(s.take_latency_percentiles(), None);
        for us in 1..=100u64 {
            s.record_latency(us * 1000);
        }
        let (p50, p99) = s.take_latency_percentiles().unwrap();
        assert!(
            (p50 - 50.0).abs() <= 1.0 && (p99 - 99.0).abs() <= 1.0,
            "{p50} {p99}"
        );
        assert_eq!(s.take_latency_percentiles(), None, "emptied by the read");
    }

    #[tokio::test]
    async fn stop_wakes_waiters_once() {
        let shared = Shared::new(false);
        let waiter = tokio::spawn({
            let shared = shared.clone();
            async move { shared.stop.wait().await }
        });
        assert!(!shared.stop.set(), "first set");
        assert!(shared.stop.set(), "second set reports it was set");
        waiter.await.unwrap();
        assert!(shared.stop.is_set());
    }
}
