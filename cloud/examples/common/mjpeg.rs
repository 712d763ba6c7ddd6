//! A minimal MJPEG viewer for the benchmarks: reads a `stream.mjpg` and reports, for every part,
//! its end-to-end latency (arrival here minus the `X-Capture-Ts-Us` part header; edge, cloud and
//! this client share the machine's clock).

use std::time::{Duration, Instant};

use pose_shared::time::now_us;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `q` quantile of sorted µs values, in ms (NaN when empty).
pub fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e3
}

/// Reads the stream at `url` (http://host:port/path) until `deadline`, calling `on_part` with
/// each part's latency in µs.
pub async fn watch(
    url: &str,
    deadline: Instant,
    mut on_part: impl FnMut(u64),
) -> anyhow::Result<()> {
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
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 64 * 1024];
    let key = b"X-Capture-Ts-Us: ";
    let mut scanned = 0;
    let mut ok_status = false;
    while Instant::now() < deadline {
        let n = match tokio::time::timeout(Duration::from_millis(500), s.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => continue,
        };
        let arrived = now_us();
        buf.extend_from_slice(&chunk[..n]);
        if !ok_status {
            // The status line decides whether there is a stream at all (404: no such camera yet).
            let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
                continue;
            };
            let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
            anyhow::ensure!(line.contains(" 200 "), "{url}: {}", line.trim());
            ok_status = true;
        }
        // Every complete timestamp header seen so far is one part.
        while let Some(pos) = buf[scanned..].windows(key.len()).position(|w| w == key) {
            let start = scanned + pos + key.len();
            let Some(end) = buf[start..].iter().position(|&b| b == b'\r') else {
                break;
            };
            let ts: u64 = std::str::from_utf8(&buf[start..start + end])?.parse()?;
            on_part(arrived.saturating_sub(ts));
            scanned = start + end;
        }
        if buf.len() > (1 << 20) {
            buf.drain(..scanned);
            scanned = 0;
        }
    }
    Ok(())
}
