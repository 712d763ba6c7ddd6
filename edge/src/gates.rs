//! Rate gates: which captured frames go to inference and which are published as JPEG.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Which frames go to inference (`[pipeline]`). Whatever passes these, inference always takes
/// the newest frame; older ones that it had no time for are dropped and counted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Offer only every Nth captured frame to inference (1: every frame).
    pub infer_every: u32,
    /// At most this many inferences per second (0: as many as the CPU allows).
    pub infer_max_fps: f64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            infer_every: 1,
            infer_max_fps: 0.0,
        }
    }
}

/// `[pipeline]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct PipelineFlags {
    /// Offer every Nth frame to inference [default: 1]
    #[arg(long = "infer-every", global = true)]
    pub infer_every: Option<u32>,
    /// At most this many inferences per second; 0 is unlimited [default: 0]
    #[arg(long = "infer-max-fps", global = true)]
    pub infer_max_fps: Option<f64>,
}

/// Admits frames to a stage at most every `every`-th frame and at most `max_fps` per second
/// (0: no limit).
pub struct RateGate {
    every: u64,
    min_gap: Option<Duration>,
    last: Option<Instant>,
}

impl RateGate {
    pub fn new(every: u32, max_fps: f64) -> Self {
        Self {
            every: u64::from(every.max(1)),
            min_gap: (max_fps > 0.0).then(|| Duration::from_secs_f64(1.0 / max_fps)),
            last: None,
        }
    }

    pub fn admit(&mut self, seq: u64, now: Instant) -> bool {
        if !seq.is_multiple_of(self.every) {
            return false;
        }
        if let (Some(gap), Some(last)) = (self.min_gap, self.last) {
            // Allow 10 % early so that a 30 fps source under a 15 fps limit keeps every 2nd frame.
            if now.duration_since(last) < gap.mul_f64(0.9) {
                return false;
            }
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_gate_every_nth_and_max_fps() {
        let t0 = Instant::now();
        let mut every3 = RateGate::new(3, 0.0);
        let admitted: Vec<u64> = (0..10).filter(|&s| every3.admit(s, t0)).collect();
        assert_eq!(admitted, vec![0, 3, 6, 9]);
        // 30 fps source, 15 fps limit: every second frame.
        let mut half = RateGate::new(1, 15.0);
        let admitted: Vec<u64> = (0..10)
            .filter(|&s| half.admit(s, t0 + Duration::from_micros(s * 33_333)))
            .collect();
        assert_eq!(admitted, vec![0, 2, 4, 6, 8]);
        let mut all = RateGate::new(0, 0.0);
        assert!((0..5).all(|s| all.admit(s, t0)));
    }
}
