//! The edge pipeline: capture, JPEG and inference stages, latest frame wins.
//!
//! ```text
//! capture thread:   source → [JPEG at frames.width, publish to pose.frames] → inference mailbox
//! inference thread: mailbox (newest frame only) → pose estimator → publish to pose.keypoints
//! ```
//!
//! Capture never waits for inference or Kafka: the mailbox holds one frame, and a new frame
//! replaces one inference has not taken yet (counted as `dropped_busy`). Publishing only queues in
//! librdkafka (bounded; full queues drop and count). So a slow model lowers the inference rate but
//! never lets a backlog, and with it the lag, grow.

use std::time::{Duration, Instant};

use pose_shared::frame::FrameMeta;
use pose_shared::metrics::note;
use pose_shared::time::now_us;
use pose_shared::{CameraId, KeypointMessage};
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::gates::RateGate;
use crate::jpeg;
use crate::mailbox::Mailbox;
use crate::pose::crop::RgbView;
use crate::pose::{Mode, PoseEstimator};
use crate::publish::Sink;
use crate::source::{Frame, Source};
use crate::state::{RunStats, RunSummary, Shared};
use crate::status::StatusLog;

/// How long shutdown waits for queued messages to reach the broker.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// A captured frame on its way to inference.
struct Captured {
    frame: Frame,
    jpeg_published: bool,
}

/// Runs until the source ends, `max_frames` is reached or `shared.stop` is set; then flushes.
/// Blocking: it runs the capture stage on the calling thread and inference on a thread of its own.
pub fn run(
    cfg: &EdgeConfig,
    camera_id: &CameraId,
    mut source: Box<dyn Source>,
    mut estimator: Option<PoseEstimator>,
    sink: &dyn Sink,
    shared: &Shared,
) -> RunSummary {
    let stats = &shared.stats;
    info!(camera = %camera_id, source = source.describe(), privacy = shared.privacy(),
        pose = estimator.is_some(), kafka = %cfg.kafka.redacted(),
        keypoints_topic = %cfg.topics.keypoints, frames_topic = %cfg.topics.frames, "edge started");
    let mailbox: Mailbox<Captured> = Mailbox::default();
    let mut status = StatusLog::new(Duration::from_secs(cfg.status_interval_s.max(1)));
    std::thread::scope(|scope| {
        let inference = std::thread::Builder::new()
            .name("inference".into())
            .spawn_scoped(scope, || {
                let world = cfg.pose.world_landmarks;
                inference_stage(camera_id, estimator.as_mut(), world, &mailbox, sink, stats)
            });
        if let Err(e) = &inference {
            warn!(error = %e, "cannot start the inference thread");
            return;
        }
        capture_stage(
            cfg,
            camera_id,
            source.as_mut(),
            &mailbox,
            sink,
            shared,
            &mut status,
        );
        mailbox.close();
    });
    let (kp_left, fr_left) = sink.flush(FLUSH_DEADLINE);
    status.log_final(sink.stats(), stats);
    if kp_left + fr_left > 0 {
        warn!(
            keypoints = kp_left,
            frames = fr_left,
            "messages still queued at shutdown were lost"
        );
    }
    let summary = stats.summary();
    info!(
        frames = summary.frames,
        inferred = summary.inferred,
        "edge stopped"
    );
    summary
}

fn capture_stage(
    cfg: &EdgeConfig,
    camera_id: &CameraId,
    source: &mut dyn Source,
    mailbox: &Mailbox<Captured>,
    sink: &dyn Sink,
    shared: &Shared,
    status: &mut StatusLog,
) {
    let stats = &shared.stats;
    let mut infer_gate = RateGate::new(cfg.pipeline.infer_every, cfg.pipeline.infer_max_fps);
    let mut jpeg_gate = RateGate::new(1, cfg.frames.max_fps);
    let mut jpeg = match jpeg::JpegStage::new(cfg.frames.width, cfg.frames.quality) {
        Ok(j) => Some(j),
        Err(e) => {
            warn!(error = %e, "cannot start the JPEG encoder: no frames will be published");
            None
        }
    };
    while !shared.stop.is_set() {
        if cfg.source.max_frames > 0 && stats.captured.get() >= cfg.source.max_frames {
            break;
        }
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                info!("source ended");
                break;
            }
            Err(e) => {
                stats.source_errors.inc();
                warn!(error = %e, "source failed");
                break;
            }
        };
        stats.captured.inc();
        let now = Instant::now();
        let mut jpeg_published = false;
        if !shared.privacy() {
            if jpeg_gate.admit(frame.seq, now)
                && let Some(jpeg) = jpeg.as_mut()
            {
                jpeg_published = publish_jpeg(jpeg, camera_id, &frame, sink, stats);
            } else {
                stats.jpeg_skipped_by_rate.inc();
            }
        }
        if infer_gate.admit(frame.seq, now) {
            let replaced = mailbox.put(Captured {
                frame,
                jpeg_published,
            });
            if replaced.is_some() {
                stats.dropped_busy.inc();
            }
        } else {
            stats.skipped_by_rate.inc();
        }
        status.tick(sink.stats(), stats);
    }
}

fn publish_jpeg(
    jpeg: &mut jpeg::JpegStage,
    camera_id: &CameraId,
    frame: &Frame,
    sink: &dyn Sink,
    stats: &RunStats,
) -> bool {
    match jpeg.encode(frame) {
        Ok((bytes, width, height)) => {
            let meta = FrameMeta {
                camera_id: camera_id.clone(),
                run: crate::run_id::current(),
                seq: frame.seq,
                capture_ts_us: frame.capture_ts_us,
                width,
                height,
            };
            sink.publish_frame(&meta, &bytes).is_ok()
        }
        Err(e) => {
            if let Some(n) = note(&stats.jpeg_errors) {
                warn!(seq = frame.seq, error = %e, errors_total = n, "cannot encode frame; skipped");
            }
            false
        }
    }
}

/// Estimates the newest frame's poses and publishes them, with world landmarks when `world`.
fn inference_stage(
    camera_id: &CameraId,
    mut estimator: Option<&mut PoseEstimator>,
    world: bool,
    mailbox: &Mailbox<Captured>,
    sink: &dyn Sink,
    stats: &RunStats,
) {
    // Blocks until a frame comes or capture closes the mailbox: no polling.
    while let Some(Captured {
        frame,
        jpeg_published,
    }) = mailbox.recv()
    {
        let started = Instant::now();
        let mut poses = Vec::new();
        if let Some(est) = estimator.as_deref_mut() {
            let ts_us = i64::try_from(frame.capture_ts_us).unwrap_or(i64::MAX);
            let result = RgbView::new(frame.width, frame.height, &frame.rgb)
                .ok_or_else(|| "frame buffer does not match its size".to_owned())
                .and_then(|v| {
                    est.estimate(v, Mode::Track { ts_us })
                        .map_err(|e| e.to_string())
                });
            match result {
                // Every tracked person, in track order, with their track id (and their world
                // landmarks, metres and hip-centred, when `[pose] world_landmarks`).
                Ok(people) => poses.extend(people.iter().map(|p| pose_shared::Pose {
                    track_id: p.track_id,
                    score: p.pose.score,
                    landmarks: p.pose.landmarks,
                    world_landmarks: p.world.filter(|_| world).map(|w| {
                        w.map(|l| pose_shared::keypoints::WorldLandmark {
                            x: l.x,
                            y: l.y,
                            z: l.z,
                        })
                    }),
                })),
                Err(e) => {
                    if let Some(n) = note(&stats.inference_errors) {
                        warn!(seq = frame.seq, error = %e, errors_total = n, "pose estimation failed");
                    }
                }
            }
        }
        let spent = started.elapsed();
        stats
            .inference_us
            .inc_by(u64::try_from(spent.as_micros()).unwrap_or(u64::MAX));
        stats.inferred.inc();
        stats.poses.inc_by(poses.len() as u64);
        let msg = KeypointMessage {
            camera_id: camera_id.clone(),
            run: crate::run_id::current(),
            seq: frame.seq,
            capture_ts_us: frame.capture_ts_us,
            inference_us: u32::try_from(spent.as_micros()).unwrap_or(u32::MAX),
            width: frame.width,
            height: frame.height,
            frame_published: jpeg_published,
            poses,
        };
        // Errors are counted by the publisher and logged there.
        if sink.publish_keypoints(&msg).is_ok() {
            stats.record_latency(now_us().saturating_sub(frame.capture_ts_us));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline's logic through the [`Sink`] seam: no broker, no models (the broker tests in
    //! `cloud/tests` run the same pipeline against Apache Kafka).

    use std::sync::Mutex;

    use pose_shared::frame::FrameMeta;

    use super::*;
    use crate::publish::{PublishError, PublishStats};
    use crate::source::synthetic::Synthetic;

    /// Records what the pipeline publishes.
    #[derive(Default)]
    struct Recorder {
        keypoints: Mutex<Vec<KeypointMessage>>,
        frames: Mutex<Vec<FrameMeta>>,
        stats: PublishStats,
    }

    impl Sink for Recorder {
        fn publish_keypoints(&self, msg: &KeypointMessage) -> Result<(), PublishError> {
            self.stats.keypoints.enqueued.inc();
            self.keypoints.lock().unwrap().push(msg.clone());
            Ok(())
        }
        fn publish_frame(&self, meta: &FrameMeta, jpeg: &[u8]) -> Result<(), PublishError> {
            assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
            self.stats.frames.enqueued.inc();
            self.frames.lock().unwrap().push(meta.clone());
            Ok(())
        }
        fn flush(&self, _: Duration) -> (i32, i32) {
            (0, 0)
        }
        fn stats(&self) -> &PublishStats {
            &self.stats
        }
    }

    fn run_synthetic(cfg: &EdgeConfig, privacy: bool) -> (RunSummary, Recorder) {
        let source = Box::new(Synthetic::new(64, 48, 240.0).unwrap());
        let sink = Recorder::default();
        let shared = Shared::new(privacy);
        let camera = CameraId::new("cam-p").unwrap();
        let summary = run(cfg, &camera, source, None, &sink, &shared);
        (summary, sink)
    }

    fn config(max_frames: u64) -> EdgeConfig {
        let mut cfg = EdgeConfig::default();
        cfg.source.max_frames = max_frames;
        cfg.frames.width = 32;
        cfg
    }

    #[test]
    fn every_frame_is_published_and_each_inferred_one_gets_a_keypoint_message() {
        let (summary, sink) = run_synthetic(&config(40), false);
        assert_eq!(summary.frames, 40);
        let frames = sink.frames.lock().unwrap();
        assert_eq!(frames.len(), 40, "no JPEG rate limit: every frame");
        assert_eq!((frames[0].width, frames[0].height), (32, 24), "downscaled");
        let kps = sink.keypoints.lock().unwrap();
        assert_eq!(kps.len() as u64, summary.inferred);
        assert_eq!(
            summary.inferred + summary.dropped_busy,
            40,
            "newest wins, drops counted"
        );
        assert!(
            kps.windows(2).all(|w| w[0].seq < w[1].seq),
            "in capture order"
        );
        assert!(kps.iter().all(|k| k.frame_published && k.poses.is_empty()));
    }

    #[test]
    fn privacy_publishes_no_frame() {
        let (_, sink) = run_synthetic(&config(20), true);
        assert!(sink.frames.lock().unwrap().is_empty());
        let kps = sink.keypoints.lock().unwrap();
        assert!(!kps.is_empty() && kps.iter().all(|k| !k.frame_published));
    }

    #[test]
    fn rate_gates_thin_inference_and_jpegs() {
        let mut cfg = config(30);
        cfg.pipeline.infer_every = 3;
        let (summary, sink) = run_synthetic(&cfg, false);
        assert_eq!(
            summary.skipped_by_rate, 20,
            "2 of every 3 frames not offered"
        );
        assert!(
            sink.keypoints
                .lock()
                .unwrap()
                .iter()
                .all(|k| k.seq % 3 == 0)
        );
        assert_eq!(
            sink.frames.lock().unwrap().len(),
            30,
            "JPEGs are not gated by inference"
        );
    }

    #[test]
    fn a_stop_ends_the_run() {
        let source = Box::new(Synthetic::new(64, 48, 200.0).unwrap());
        let sink = Recorder::default();
        let shared = Shared::new(false);
        shared.stop.set();
        let summary = run(
            &config(0),
            &CameraId::new("c").unwrap(),
            source,
            None,
            &sink,
            &shared,
        );
        assert_eq!(summary.frames, 0);
    }
}
