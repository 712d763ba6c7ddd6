//! End-to-end latency as MJPEG viewers see it: connects VIEWERS concurrent clients to one
//! camera's stream for SECONDS and reports, per client and overall, the latency of each received
//! part (arrival on this machine minus the frame's capture time from the `X-Capture-Ts-Us` part
//! header; edge, cloud and this client share the machine's clock).
//!
//! `cargo run --release -p pose-cloud --example mjpeg_latency -- URL VIEWERS SECONDS`
//! (`bench/cloud.sh` runs it with 1 and with 50 viewers).

use std::time::{Duration, Instant};

#[path = "common/mjpeg.rs"]
mod mjpeg;
use mjpeg::percentile_ms as percentile;

/// Reads one viewer's stream for `secs`; returns the latencies (µs) of the parts it got.
async fn viewer(url: String, secs: u64) -> anyhow::Result<Vec<u64>> {
    let mut lat = Vec::new();
    mjpeg::watch(&url, Instant::now() + Duration::from_secs(secs), |l| {
        lat.push(l)
    })
    .await?;
    Ok(lat)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: mjpeg_latency URL VIEWERS SECONDS"))?;
    let viewers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let tasks: Vec<_> = (0..viewers)
        .map(|_| tokio::spawn(viewer(url.clone(), secs)))
        .collect();
    let mut all = Vec::new();
    let mut per_viewer = Vec::new();
    for t in tasks {
        let l = t.await??;
        per_viewer.push(l.len());
        all.extend(l);
    }
    all.sort_unstable();
    let min_parts = per_viewer.iter().min().copied().unwrap_or(0);
    println!(
        "viewers {viewers:>3}  parts {:>6} (fewest per viewer {min_parts})  latency p50 {:6.1} ms  p99 {:6.1} ms",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    Ok(())
}
