//! `pose-cloud tail`: every message of both topics as one JSON line on stdout (keypoints in
//! full, frames as metadata), with a per-camera status line in the log.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::info;

use crate::config::CloudConfig;
use crate::consume::{self, ConsumeStats, Incoming};
use crate::status::Tally;

/// Consumes until `shutdown` completes or stdout closes (e.g. `| head`).
pub async fn run(
    cfg: &CloudConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), crate::app::RunError> {
    let consumer = consume::subscribe(&cfg.kafka, &cfg.topics, &cfg.consume, "pose-cloud")
        .map_err(crate::app::RunError::Consumer)?;
    info!(kafka = %cfg.kafka.redacted(), keypoints_topic = %cfg.topics.keypoints,
        frames_topic = %cfg.topics.frames, group = %cfg.consume.group_id, "cloud started");
    let stats = Arc::new(ConsumeStats::default());
    // Bounded hand-off: when full the consumer waits, Kafka holds the rest (see consume.rs).
    let (tx, mut rx) = mpsc::channel::<Incoming>(256);
    let task = tokio::spawn(consume::run(
        consumer,
        cfg.topics.clone(),
        tx,
        stats.clone(),
        shutdown,
    ));
    let mut tally = Tally::default();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.status_interval_s.max(1)));
    tick.tick().await;
    let mut out = std::io::stdout().lock();
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                if writeln!(out, "{}", line(&m)).is_err() {
                    break; // stdout closed
                }
                tally.add(&m);
            }
            _ = tick.tick() => log_status(&mut tally, &stats),
        }
    }
    drop(rx);
    task.await?;
    log_status(&mut tally, &stats);
    info!("cloud stopped");
    Ok(())
}

fn line(m: &Incoming) -> serde_json::Value {
    match m {
        Incoming::Keypoints(k) => serde_json::json!({"keypoints": k.to_json()}),
        Incoming::Frame(f) => serde_json::json!({"frame": {
            "camera_id": f.meta.camera_id, "seq": f.meta.seq,
            "capture_ts_us": f.meta.capture_ts_us, "width": f.meta.width,
            "height": f.meta.height, "jpeg_bytes": f.jpeg.len()}}),
    }
}

fn log_status(tally: &mut Tally, stats: &ConsumeStats) {
    info!(
        keypoints = stats.keypoints.get(),
        frames = stats.frames.get(),
        keypoint_errors = stats.keypoint_errors.get(),
        frame_errors = stats.frame_errors.get(),
        kafka_errors = stats.kafka_errors.get(),
        "status"
    );
    for (camera, t) in tally.take() {
        info!(%camera, keypoints = t.keypoints, frames = t.frames, poses = t.poses,
            last_seq = t.last_seq, latency_ms = t.mean_latency_ms().map(|l| format!("{l:.1}")),
            "camera");
    }
}
