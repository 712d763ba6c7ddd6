//! The edge's status line: rates over the interval, drops by reason, the capture-to-publish
//! latency of the interval and the publisher's counters.

use std::time::{Duration, Instant};

use tracing::info;

use crate::publish::{KindCounters, PublishStats};
use crate::state::RunStats;

/// Logs one status line per interval (from the capture loop) and one at the end.
pub struct StatusLog {
    every: Duration,
    /// Totals at the last line: (when, frames, inferred, keypoints delivered, frames delivered).
    last: (Instant, u64, u64, u64, u64),
}

/// Per-second rates over one status interval.
struct Rates {
    capture: f64,
    infer: f64,
    keypoints_published: f64,
    frames_published: f64,
}

impl StatusLog {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: (Instant::now(), 0, 0, 0, 0),
        }
    }

    /// Logs a line with the interval's rates if the interval is over.
    pub fn tick(&mut self, publish: &PublishStats, stats: &RunStats) {
        let secs = self.last.0.elapsed();
        if secs < self.every {
            return;
        }
        let secs = secs.as_secs_f64();
        let s = stats.summary();
        let (kd, fd) = (
            publish.keypoints.delivered.get(),
            publish.frames.delivered.get(),
        );
        let rates = Rates {
            capture: (s.frames - self.last.1) as f64 / secs,
            infer: (s.inferred - self.last.2) as f64 / secs,
            keypoints_published: kd.saturating_sub(self.last.3) as f64 / secs,
            frames_published: fd.saturating_sub(self.last.4) as f64 / secs,
        };
        log(publish, stats, Some(rates));
        self.last = (Instant::now(), s.frames, s.inferred, kd, fd);
    }

    /// The last line, after the flush (totals, no rates).
    pub fn log_final(&self, publish: &PublishStats, stats: &RunStats) {
        log(publish, stats, None);
    }
}

fn log(publish: &PublishStats, stats: &RunStats, rates: Option<Rates>) {
    let s = stats.summary();
    let line = |c: &KindCounters| {
        format!(
            "enqueued={} delivered={} failed={} dropped_full={}",
            c.enqueued.get(),
            c.delivered.get(),
            c.failed.get(),
            c.dropped_queue_full.get()
        )
    };
    let infer_ms = if s.inferred > 0 {
        stats.inference_us.get() as f64 / s.inferred as f64 / 1e3
    } else {
        0.0
    };
    let latency = stats.take_latency_percentiles();
    let fmt = |v: f64| format!("{v:.1}");
    info!(
        capture_fps = rates.as_ref().map(|r| fmt(r.capture)),
        infer_fps = rates.as_ref().map(|r| fmt(r.infer)),
        keypoints_per_s = rates.as_ref().map(|r| fmt(r.keypoints_published)),
        jpeg_per_s = rates.as_ref().map(|r| fmt(r.frames_published)),
        infer_ms = fmt(infer_ms),
        latency_p50_ms = latency.map(|l| fmt(l.0)),
        latency_p99_ms = latency.map(|l| fmt(l.1)),
        frames = s.frames,
        inferred = s.inferred,
        poses = s.poses,
        dropped_busy = s.dropped_busy,
        skipped_by_rate = s.skipped_by_rate,
        inference_errors = s.inference_errors,
        jpeg_errors = s.jpeg_errors,
        keypoints = line(&publish.keypoints),
        jpeg = line(&publish.frames),
        "status"
    );
}
