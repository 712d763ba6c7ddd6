//! Prometheus text exposition for both programs: counters, gauges and a lock-free histogram.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0,
];

/// A histogram of durations with [`LATENCY_BUCKETS`]; `observe` is wait-free.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe_us(&self, us: u64) {
        let secs = us as f64 / 1e6;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Builds one exposition document.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A counter with one sample per label set (`labels` like `kind="frames"`, or empty).
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(&str, u64)]) {
        self.header(name, "counter", help);
        for (labels, v) in samples {
            self.sample(name, labels, &v.to_string());
        }
    }

    /// A gauge with one sample per label set.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(&str, f64)]) {
        self.header(name, "gauge", help);
        for (labels, v) in samples {
            self.sample(name, labels, &format!("{v}"));
        }
    }

    /// A histogram (seconds) with one series per label set.
    pub fn histogram(&mut self, name: &str, help: &str, series: &[(&str, &Histogram)]) {
        self.header(name, "histogram", help);
        for (labels, h) in series {
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = format!("le=\"{bound}\"");
                self.sample(
                    &format!("{name}_bucket"),
                    &join(labels, &le),
                    &cumulative.to_string(),
                );
            }
            let count = h.count();
            self.sample(
                &format!("{name}_bucket"),
                &join(labels, "le=\"+Inf\""),
                &count.to_string(),
            );
            let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            self.sample(&format!("{name}_sum"), labels, &format!("{sum}"));
            self.sample(&format!("{name}_count"), labels, &count.to_string());
        }
    }

    fn sample(&mut self, name: &str, labels: &str, value: &str) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a},{b}")
    }
}

/// Escapes a label value (backslash, quote, newline) for the text format.
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let h = Histogram::default();
        h.observe_us(800); // ≤ 1 ms
        h.observe_us(30_000); // ≤ 35 ms
        h.observe_us(20_000_000); // above every bound: only +Inf
        let mut e = Exposition::default();
        e.counter(
            "x_total",
            "Things.",
            &[("kind=\"a\"", 3), ("kind=\"b\"", 0)],
        );
        e.gauge("y", "A level.", &[("", 1.5)]);
        e.histogram("lat_seconds", "Latency.", &[("camera=\"c1\"", &h)]);
        let text = e.finish();
        assert!(
            text.contains("# TYPE x_total counter\nx_total{kind=\"a\"} 3\nx_total{kind=\"b\"} 0\n")
        );
        assert!(text.contains("y 1.5\n"));
        assert!(text.contains("lat_seconds_bucket{camera=\"c1\",le=\"0.001\"} 1\n"));
        assert!(text.contains("lat_seconds_bucket{camera=\"c1\",le=\"0.035\"} 2\n"));
        assert!(text.contains("lat_seconds_bucket{camera=\"c1\",le=\"10\"} 2\n"));
        assert!(text.contains("lat_seconds_bucket{camera=\"c1\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("lat_seconds_count{camera=\"c1\"} 3\n"));
        assert!(
            text.contains("lat_seconds_sum{camera=\"c1\"} 20.0308\n"),
            "{text}"
        );
    }

    #[test]
    fn escaping_and_rss() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert!(rss_bytes() > 0);
    }
}
