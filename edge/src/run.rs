//! The edge's main loop: take a frame, estimate the pose, publish the JPEG and the keypoints.
//!
//! Capture, inference and publishing run one after the other on one thread: a paced source does
//! not queue frames while inference runs (it skips ahead), so latency stays at one frame. A
//! capture thread with a latest-frame-wins mailbox replaces this with the edge-service work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage};
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::jpeg;
use crate::pose::crop::RgbView;
use crate::pose::{Mode, PoseEstimator};
use crate::publish::{KindCounters, Publisher};
use crate::source::{Source, images::ImageDir, synthetic::Synthetic};

/// How long shutdown waits for queued messages to reach the broker.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// Builds the configured source.
pub fn open_source(cfg: &EdgeConfig) -> anyhow::Result<Box<dyn Source>> {
    match cfg.source.kind.as_str() {
        "synthetic" => Ok(Box::new(Synthetic::new(
            cfg.source.width,
            cfg.source.height,
            cfg.source.fps,
        )?)),
        "images" => {
            let dir = cfg.source.path.as_deref().ok_or_else(|| {
                anyhow::anyhow!("source kind images needs source.path (--source-path)")
            })?;
            Ok(Box::new(ImageDir::new(
                dir,
                cfg.source.fps,
                cfg.source.looped,
            )?))
        }
        other => anyhow::bail!("unknown source kind {other:?} (available: synthetic, images)"),
    }
}

/// What a run did, for the final log line and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    pub jpeg_errors: u64,
    pub poses: u64,
    pub inference_errors: u64,
}

/// Runs until the source ends, `max_frames` is reached or `stop` is set; then flushes.
/// Blocking: call it from a thread of its own.
pub fn run(
    cfg: &EdgeConfig,
    camera_id: &CameraId,
    source: &mut dyn Source,
    mut estimator: Option<&mut PoseEstimator>,
    publisher: &Publisher,
    stop: &Arc<AtomicBool>,
) -> RunSummary {
    info!(camera = %camera_id, source = source.describe(), privacy = cfg.privacy,
        kafka = %cfg.kafka.redacted(), keypoints_topic = %cfg.topics.keypoints,
        frames_topic = %cfg.topics.frames, "edge started");
    let mut summary = RunSummary::default();
    let status_every = Duration::from_secs(cfg.status_interval_s.max(1));
    let mut last_status = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if cfg.source.max_frames > 0 && summary.frames >= cfg.source.max_frames {
            break;
        }
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                info!("source ended");
                break;
            }
            Err(e) => {
                warn!(error = %e, "source failed");
                break;
            }
        };
        summary.frames += 1;
        let started = Instant::now();
        let mut poses = Vec::new();
        if let Some(est) = estimator.as_deref_mut() {
            let view = RgbView::new(frame.width, frame.height, &frame.rgb);
            let ts_us = i64::try_from(frame.capture_ts_us).unwrap_or(i64::MAX);
            match view.map(|v| est.estimate(v, Mode::Track { ts_us })) {
                Some(Ok(Some(p))) => poses.push(pose_shared::Pose {
                    score: p.score,
                    landmarks: p.landmarks,
                }),
                Some(Ok(None)) => {}
                Some(Err(e)) => {
                    summary.inference_errors += 1;
                    if summary.inference_errors.is_power_of_two() {
                        warn!(seq = frame.seq, error = %e, errors_total = summary.inference_errors, "pose estimation failed");
                    }
                }
                None => summary.inference_errors += 1,
            }
        }
        let inference_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        summary.poses += poses.len() as u64;
        let mut frame_published = false;
        if !cfg.privacy {
            match jpeg::encode(&frame, cfg.frames.width, cfg.frames.quality) {
                Ok((bytes, width, height)) => {
                    let meta = FrameMeta {
                        camera_id: camera_id.clone(),
                        seq: frame.seq,
                        capture_ts_us: frame.capture_ts_us,
                        width,
                        height,
                    };
                    frame_published = publisher.publish_frame(&meta, &bytes).is_ok();
                }
                Err(e) => {
                    summary.jpeg_errors += 1;
                    warn!(seq = frame.seq, error = %e, "cannot encode frame; skipped");
                }
            }
        }
        let msg = KeypointMessage {
            camera_id: camera_id.clone(),
            seq: frame.seq,
            capture_ts_us: frame.capture_ts_us,
            inference_us,
            width: frame.width,
            height: frame.height,
            frame_published,
            poses,
        };
        // Errors are counted by the publisher and logged there.
        let _ = publisher.publish_keypoints(&msg);
        if last_status.elapsed() >= status_every {
            log_status(publisher, &summary);
            last_status = Instant::now();
        }
    }
    let (kp_left, fr_left) = publisher.flush(FLUSH_DEADLINE);
    log_status(publisher, &summary);
    if kp_left + fr_left > 0 {
        warn!(
            keypoints = kp_left,
            frames = fr_left,
            "messages still queued at shutdown were lost"
        );
    }
    info!(frames = summary.frames, "edge stopped");
    summary
}

fn log_status(publisher: &Publisher, summary: &RunSummary) {
    let s = publisher.stats();
    let line = |c: &KindCounters| {
        format!(
            "enqueued={} delivered={} failed={} dropped_full={}",
            KindCounters::get(&c.enqueued),
            KindCounters::get(&c.delivered),
            KindCounters::get(&c.failed),
            KindCounters::get(&c.dropped_queue_full)
        )
    };
    info!(
        frames = summary.frames,
        poses = summary.poses,
        inference_errors = summary.inference_errors,
        keypoints = line(&s.keypoints),
        jpeg = line(&s.frames),
        "status"
    );
}
