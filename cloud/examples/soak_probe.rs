//! The soak measurement: one MJPEG viewer per camera for the whole run, and every INTERVAL a row
//! with the parts received, end-to-end latency p50/p99 over that interval, and the resident
//! memory of the edge processes (largest), of the cloud and of the broker. To tell where latency
//! comes from, a Kafka consumer of its own (same client settings as the cloud's) measures the
//! broker hop alone: capture time to frame message received; the cloud's own share is the
//! viewer's latency minus that. At the end, the least-squares slope of each over time (ms per
//! minute; flat is the goal) and the memory growth.
//! Exits 1 if some camera delivered nothing in some interval.
//!
//! `cargo run --release -p pose-cloud --example soak_probe -- BASE_URL BROKERS CAMERAS SECONDS
//!  INTERVAL BROKER_PID CLOUD_PID EDGE_PID...` (CAMERAS comma-separated; `bench/soak.sh` runs
//! it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/mjpeg.rs"]
mod mjpeg;

fn rss_mb(pid: u32) -> f64 {
    pose_shared::metrics::rss_bytes_of(&pid.to_string()) as f64 / (1024.0 * 1024.0)
}

/// Least-squares slope of `ys` against `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    cov / var
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 8,
        "usage: soak_probe BASE_URL BROKERS CAMERAS SECONDS INTERVAL BROKER_PID CLOUD_PID EDGE_PID..."
    );
    let base = args[0].trim_end_matches('/').to_owned();
    let brokers = args[1].clone();
    let cameras: Vec<String> = args[2].split(',').map(str::to_owned).collect();
    let total = Duration::from_secs(args[3].parse()?);
    let interval = Duration::from_secs(args[4].parse()?);
    let broker_pid: u32 = args[5].parse()?;
    let cloud_pid: u32 = args[6].parse()?;
    let edge_pids: Vec<u32> = args[7..]
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;

    let start = Instant::now();
    let deadline = start + total;
    // Per camera: the latencies (µs) received since the last row.
    let inbox: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
    let mut viewers = Vec::new();
    for cam in &cameras {
        let (url, inbox, cam) = (
            format!("{base}/cameras/{cam}/stream.mjpg"),
            inbox.clone(),
            cam.clone(),
        );
        viewers.push(tokio::spawn(async move {
            // Reconnect until the deadline: a camera that is not there yet is retried.
            while Instant::now() < deadline {
                let r = mjpeg::watch(&url, deadline, |l| {
                    inbox
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(cam.clone())
                        .or_default()
                        .push(l)
                })
                .await;
                if r.is_err() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }));
    }

    // The broker hop alone: a consumer of the frames topic (only: it adds load to the broker) in
    // a group of its own. Frames, not keypoints: the viewer waits for the frame.
    let hop: Arc<Mutex<Vec<u64>>> = Arc::default();
    let hop_task = {
        let kafka = pose_shared::kafka::KafkaSettings {
            brokers,
            ..Default::default()
        };
        let topics = pose_shared::topics::Topics::default();
        let cfg = pose_cloud::consume::ConsumeConfig {
            group_id: format!("soak-probe-{}", std::process::id()),
            offset_reset: pose_cloud::consume::OffsetReset::Latest,
        };
        let consumer =
            pose_cloud::consume::subscribe_to(&kafka, &[&topics.frames], &cfg, "soak-probe")?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let stats = Arc::new(pose_cloud::consume::ConsumeStats::default());
        let hop = hop.clone();
        tokio::spawn(async move {
            let reader = tokio::spawn(pose_cloud::consume::run(
                consumer,
                topics,
                tx,
                stats,
                tokio::time::sleep_until(deadline.into()),
            ));
            while let Some(m) = rx.recv().await {
                let l = pose_shared::time::now_us().saturating_sub(m.capture_ts_us());
                hop.lock().unwrap_or_else(|p| p.into_inner()).push(l);
            }
            let _ = reader.await;
        })
    };

    println!(
        "| minute | parts | fewest per camera | p50 ms | p99 ms | broker hop p50 ms | hop p99 ms | \
         cloud's share p50 ms | edge RSS MB (max) | cloud RSS MB | broker RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut xs, mut p50s, mut p99s, mut hop50s, mut shares, mut edge_rss, mut cloud_rss) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut silent = false;
    let mut next = start + interval;
    while next <= deadline + Duration::from_millis(10) {
        tokio::time::sleep_until(next.into()).await;
        let got = std::mem::take(&mut *inbox.lock().unwrap_or_else(|p| p.into_inner()));
        let fewest = cameras
            .iter()
            .map(|c| got.get(c).map_or(0, Vec::len))
            .min()
            .unwrap_or(0);
        silent |= fewest == 0;
        let mut all: Vec<u64> = got.into_values().flatten().collect();
        all.sort_unstable();
        let minute = next.duration_since(start).as_secs_f64() / 60.0;
        let (p50, p99) = (
            mjpeg::percentile_ms(&all, 0.5),
            mjpeg::percentile_ms(&all, 0.99),
        );
        let mut hops = std::mem::take(&mut *hop.lock().unwrap_or_else(|p| p.into_inner()));
        hops.sort_unstable();
        let (h50, h99) = (
            mjpeg::percentile_ms(&hops, 0.5),
            mjpeg::percentile_ms(&hops, 0.99),
        );
        let e = edge_pids.iter().map(|&p| rss_mb(p)).fold(0.0, f64::max);
        let (c, b) = (rss_mb(cloud_pid), rss_mb(broker_pid));
        println!(
            "| {minute:.2} | {} | {fewest} | {p50:.1} | {p99:.1} | {h50:.1} | {h99:.1} | {:.1} | \
             {e:.1} | {c:.1} | {b:.0} |",
            all.len(),
            p50 - h50
        );
        xs.push(minute);
        p50s.push(p50);
        p99s.push(p99);
        hop50s.push(h50);
        shares.push(p50 - h50);
        edge_rss.push(e);
        cloud_rss.push(c);
        next += interval;
    }
    for v in viewers {
        v.abort();
    }
    hop_task.abort();
    if xs.len() >= 2 {
        println!(
            "\nslope over time: p50 {:+.2} ms/min, p99 {:+.2} ms/min, broker hop p50 {:+.2} ms/min, \
             cloud's share p50 {:+.2} ms/min; RSS edge {:.1} -> {:.1} MB, cloud {:.1} -> {:.1} MB",
            slope(&xs, &p50s),
            slope(&xs, &p99s),
            slope(&xs, &hop50s),
            slope(&xs, &shares),
            edge_rss[0],
            edge_rss[edge_rss.len() - 1],
            cloud_rss[0],
            cloud_rss[cloud_rss.len() - 1]
        );
    }
    if silent {
        eprintln!("soak_probe: some camera delivered nothing in some interval");
        std::process::exit(1);
    }
    Ok(())
}
