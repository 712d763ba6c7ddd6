//! End-to-end latency as MJPEG viewers see it: connects VIEWERS concurrent clients to one
//! camera's stream for SECONDS and reports, per client and overall, the latency of each received
//! part (arrival on this machine minus the frame's capture time from the `X-Capture-Ts-Us` part
//! header; edge, cloud and this client share the machine's clock).
//!
//! `cargo run --release -p pose-cloud --example mjpeg_latency -- URL VIEWERS SECONDS`
//! (`bench/cloud.sh` runs it with 1 and with 50 viewers).

use std::time::{Duration, Instant};

use pose_shared::time::now_us;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e3
}

/// Reads one viewer's stream for `secs`; returns the latencies (µs) of the parts it got.
async fn viewer(url: String, secs: u64) -> anyhow::Result<Vec<u64>> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("URL must start with http://"))?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h.to_owned(), format!("/{p}")))
        .unwrap_or((rest.to_owned(), "/".into()));
    let mut s = tokio::net::TcpStream::connect(&host).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut lat = Vec::new();
    let key = b"X-Capture-Ts-Us: ";
    let mut scanned = 0;
    while Instant::now() < deadline {
        let n = match tokio::time::timeout(Duration::from_millis(500), s.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => continue,
        };
        let arrived = now_us();
        buf.extend_from_slice(&chunk[..n]);
        // Every complete timestamp header seen so far is one part.
        while let Some(pos) = buf[scanned..].windows(key.len()).position(|w| w == key) {
            let start = scanned + pos + key.len();
            let Some(end) = buf[start..].iter().position(|&b| b == b'\r') else {
                break;
            };
            let ts: u64 = std::str::from_utf8(&buf[start..start + end])?.parse()?;
            lat.push(arrived.saturating_sub(ts));
            scanned = start + end;
        }
        if buf.len() > (1 << 20) {
            buf.drain(..scanned);
            scanned = 0;
        }
    }
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
