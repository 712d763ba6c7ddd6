//! Replay load for the benchmark: opens REPLAYS replay sockets (`/api/cameras/{id}/replay`) on
//! the cameras given, each from FROM (any `from` the API takes, e.g. Unix ms) at SPEED, keeps
//! them reading for SECONDS, and prints the frames each one received.
//!
//! `cargo run --release -p pose-cloud --example replay_load -- BASE_URL CAMERA[,CAMERA...]
//! REPLAYS FROM SPEED SECONDS` (`bench/replay.sh` runs it next to the live latency measurement).

use std::time::{Duration, Instant};

use futures_util::StreamExt;

async fn replay(url: String, secs: u64) -> anyhow::Result<u64> {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut frames = 0;
    while let Ok(Some(m)) = tokio::time::timeout_at(end.into(), ws.next()).await {
        if m?.is_binary() {
            frames += 1;
        }
    }
    Ok(frames)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        a.len() == 6,
        "usage: replay_load BASE_URL CAMERA[,CAMERA...] REPLAYS FROM SPEED SECONDS"
    );
    let base = a[0].trim_end_matches('/').replacen("http", "ws", 1);
    let cameras: Vec<&str> = a[1].split(',').collect();
    let n: usize = a[2].parse()?;
    let secs: u64 = a[5].parse()?;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = format!(
                "{base}/api/cameras/{}/replay?from={}&speed={}",
                cameras[i % cameras.len()],
                a[3],
                a[4]
            );
            tokio::spawn(replay(url, secs))
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await??);
    }
    println!("replays {n}  frames received per replay {got:?}");
    Ok(())
}
