//! Publishes CAMERAS synthetic cameras at FPS each, out of phase (a 320×240 JPEG encoded once, and
//! a keypoint message with one pose, per camera and frame, stamped with the time they are sent) until
//! SIGINT/SIGTERM: a fleet for the cloud's benchmarks whose own CPU use is small, so that a
//! 2-core machine measures the cloud rather than sixteen edges' video decoding and encoding.
//!
//! `cargo run --release -p pose-cloud --example fleet_publisher -- BROKERS CAMERAS [FPS] [PREFIX]`
//! (`bench/cloud.sh` runs it with 1 and with 16 cameras.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pose_edge::publish::Publisher;
use pose_shared::frame::FrameMeta;
use pose_shared::kafka::KafkaSettings;
use pose_shared::time::now_us;
use pose_shared::topics::Topics;
use pose_shared::{CameraId, KeypointMessage};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: fleet_publisher BROKERS CAMERAS [FPS] [PREFIX]";
    let brokers = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let cameras: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!(usage))?;
    let fps: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(29.97);
    let prefix = args.next().unwrap_or_else(|| "fleet".into());
    let kafka = KafkaSettings {
        brokers,
        ..Default::default()
    };
    let publisher = Publisher::new(&kafka, Topics::default(), "fleet-publisher")?;
    let (w, h) = (320u32, 240u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ]
        })
        .collect();
    let frame = pose_edge::source::Frame {
        seq: 0,
        capture_ts_us: 0,
        width: w,
        height: h,
        rgb,
    };
    let jpeg = pose_edge::jpeg::encode(&frame, w, 80)?.0;
    let ids: Vec<CameraId> = (0..cameras)
        .map(|i| CameraId::new(format!("{prefix}-{i:02}")))
        .collect::<Result<_, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    {
        let stop = stop.clone();
        let mut term = rt.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        })?;
        std::thread::spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            stop.store(true, Ordering::Relaxed);
        });
    }
    // Camera i captures at i/CAMERAS of the frame interval, as independent cameras are out of
    // phase (all of them at the same instant would measure a burst, not a fleet).
    let interval = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, id) in ids.iter().enumerate() {
            let at = start + interval.mul_f64(seq as f64 + i as f64 / cameras as f64);
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let ts = now_us();
            let meta = FrameMeta {
                camera_id: id.clone(),
                run: pose_edge::run_id::current(),
                seq,
                capture_ts_us: ts,
                width: w,
                height: h,
            };
            let _ = publisher.publish_frame(&meta, &jpeg);
            let _ = publisher.publish_keypoints(&keypoints(id, seq, ts));
        }
        seq += 1;
    }
    publisher.flush(Duration::from_secs(5));
    Ok(())
}

fn keypoints(id: &CameraId, seq: u64, ts: u64) -> KeypointMessage {
    KeypointMessage {
        run: pose_edge::run_id::current(),
        width: 320,
        height: 240,
        ..pose_shared::fixtures::keypoint_message(id.as_str(), seq, ts)
    }
}
