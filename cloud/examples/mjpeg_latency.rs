//! End-to-end latency as MJPEG viewers see it: connects VIEWERS concurrent clients to each
//! camera's stream for SECONDS and reports, overall, the latency of each received part (arrival
//! on this machine minus the frame's capture time from the `X-Capture-Ts-Us` part header; edge,
//! cloud and this client share the machine's clock).
//!
//! `cargo run --release -p pose-cloud --example mjpeg_latency -- URL[,URL...] VIEWERS SECONDS`
//! (`bench/cloud.sh` runs it with 1 and 50 viewers of one camera, and 4 viewers of each of 1
//! and 16 cameras).

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
    let urls = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: mjpeg_latency URL[,URL...] VIEWERS SECONDS"))?;
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let per_url: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let tasks: Vec<_> = urls
        .iter()
        .flat_map(|u| std::iter::repeat_n(u, per_url))
        .map(|u| tokio::spawn(viewer(u.clone(), secs)))
        .collect();
    let viewers = tasks.len();
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
        "cameras {:>2}  viewers {viewers:>3}  parts {:>6} (fewest per viewer {min_parts})  latency p50 {:6.1} ms  p99 {:6.1} ms",
        urls.len(),
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    Ok(())
}
