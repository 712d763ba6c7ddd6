//! The edge's main loop: take frames from the source, publish JPEGs and keypoint messages.
//!
//! Pose estimation plugs in between capture and publishing (the estimator issue); until then
//! each keypoint message carries zero poses, so the cloud and downstream consumers already see the
//! real stream shape (one message per frame, joinable on sequence number).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage};
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::jpeg;
use crate::publish::{KindCounters, Publisher};
use crate::source::{Source, synthetic::Synthetic};

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
        other => anyhow::bail!("unknown source kind {other:?} (available: synthetic)"),
    }
}

/// What a run did, for the final log line and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    pub jpeg_errors: u64,
}

/// Runs until the source ends, `max_frames` is reached or `stop` is set; then flushes.
/// Blocking: call it from a thread of its own.
pub fn run(
    cfg: &EdgeConfig,
    camera_id: &CameraId,
    source: &mut dyn Source,
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
            inference_us: u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
            width: frame.width,
            height: frame.height,
            frame_published,
            poses: Vec::new(),
        };
        // Errors are counted by the publisher and logged there.
        let _ = publisher.publish_keypoints(&msg);
        if last_status.elapsed() >= status_every {
            log_status(publisher, summary.frames);
            last_status = Instant::now();
        }
    }
    let (kp_left, fr_left) = publisher.flush(FLUSH_DEADLINE);
    log_status(publisher, summary.frames);
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

fn log_status(publisher: &Publisher, frames: u64) {
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
        frames,
        keypoints = line(&s.keypoints),
        jpeg = line(&s.frames),
        "status"
    );
}
