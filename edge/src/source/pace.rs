//! Paces a source at a fixed frame rate without drift; after a stall it restarts from now instead
//! of bursting to catch up (a late frame is not worth more frames).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Pacer {
    period: Duration,
    next_due: Option<Instant>,
}

impl Pacer {
    /// `fps` must be positive and finite (the sources validate it).
    pub fn new(fps: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / fps),
            next_due: None,
        }
    }

    /// Sleeps until the next frame is due.
    pub fn wait(&mut self) {
        let now = Instant::now();
        let due = self.next_due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        let (next, now) = (due + self.period, Instant::now());
        // On time: the next frame one period after this one's due time (no drift). Late: one
        // period from now, so a stall yields one late frame, not a burst.
        self.next_due = Some(if next < now { now + self.period } else { next });
    }

    pub fn fps(&self) -> f64 {
        1.0 / self.period.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_and_does_not_burst_after_a_stall() {
        let mut p = Pacer::new(100.0);
        let start = Instant::now();
        for _ in 0..11 {
            p.wait();
        }
        assert!(
            start.elapsed() >= Duration::from_millis(95),
            "10 periods of 10 ms"
        );
        std::thread::sleep(Duration::from_millis(50)); // a stall of 5 periods
        let t = Instant::now();
        p.wait(); // due long ago: returns at once
        p.wait(); // but the next one waits a full period again
        assert!(t.elapsed() >= Duration::from_millis(9));
        assert!((p.fps() - 100.0).abs() < 1e-9);
    }
}
