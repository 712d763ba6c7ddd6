//! The edge service: capture, JPEG and inference stages, latest frame wins.
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

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pose_shared::frame::FrameMeta;
use pose_shared::metrics::Histogram;
use pose_shared::time::now_us;
use pose_shared::{CameraId, KeypointMessage};
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::jpeg;
use crate::mailbox::Mailbox;
use crate::pose::crop::RgbView;
use crate::pose::{Mode, PoseEstimator};
use crate::publish::{KindCounters, Publisher};
use crate::source::ffmpeg::{Ffmpeg, Input};
use crate::source::{Frame, Source, images::ImageDir, synthetic::Synthetic};

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
        "video" => {
            let path = cfg.source.path.clone().ok_or_else(|| {
                anyhow::anyhow!("source kind video needs source.path (--source-path)")
            })?;
            Ok(Box::new(Ffmpeg::open(Input::File {
                path,
                looped: cfg.source.looped,
                paced: cfg.source.pace,
            })?))
        }
        "v4l2" => Ok(Box::new(Ffmpeg::open(Input::V4l2 {
            device: cfg.source.device.clone(),
            width: cfg.source.width,
            height: cfg.source.height,
            fps: cfg.source.fps,
        })?)),
        "rpicam" => {
            use crate::source::rpicam::{Rpicam, RpicamSettings};
            Ok(Box::new(Rpicam::open(RpicamSettings {
                program: cfg.source.rpicam_program.clone(),
                camera: cfg.source.camera,
                width: cfg.source.width,
                height: cfg.source.height,
                fps: cfg.source.fps,
            })?))
        }
        #[cfg(feature = "libcamera")]
        "libcamera" => {
            use crate::source::libcamera::{CameraSettings, Libcamera};
            use crate::source::pixel::CameraFormat;
            let format = CameraFormat::parse(&cfg.source.pixel_format).ok_or_else(|| {
                anyhow::anyhow!(
                    "source.pixel_format {:?}: use BGR888, RGB888, XBGR8888 or XRGB8888",
                    cfg.source.pixel_format
                )
            })?;
            Ok(Box::new(Libcamera::open(CameraSettings {
                index: cfg.source.camera,
                width: cfg.source.width,
                height: cfg.source.height,
                fps: cfg.source.fps,
                format,
            })?))
        }
        #[cfg(not(feature = "libcamera"))]
        "libcamera" => {
            anyhow::bail!("this build has no libcamera support (build with `--features libcamera`)")
        }
        other => anyhow::bail!(
            "unknown source kind {other:?} (available: synthetic, images, video, v4l2, rpicam, libcamera; see `pose-edge sources`)"
        ),
    }
}

/// What the stages, the status log, the metrics endpoint and the GPIO controller share.
#[derive(Debug, Default)]
pub struct Shared {
    pub stats: RunStats,
    /// Privacy mode, switchable while running (config, flag or the GPIO button).
    pub privacy: AtomicBool,
    /// Set to stop the run (signal handler).
    pub stop: AtomicBool,
}

impl Shared {
    pub fn new(privacy: bool) -> Arc<Self> {
        let s = Self::default();
        s.privacy.store(privacy, Ordering::Relaxed);
        Arc::new(s)
    }
}

/// Counters of a run.
#[derive(Debug, Default)]
pub struct RunStats {
    pub captured: AtomicU64,
    pub inferred: AtomicU64,
    pub poses: AtomicU64,
    /// Frames replaced in the inference mailbox before inference took them.
    pub dropped_busy: AtomicU64,
    /// Frames not offered to inference because of `infer_every` / `infer_max_fps`.
    pub skipped_by_rate: AtomicU64,
    /// Frames whose JPEG was not published because of `frames.max_fps`.
    pub jpeg_skipped_by_rate: AtomicU64,
    pub jpeg_errors: AtomicU64,
    pub inference_errors: AtomicU64,
    pub source_errors: AtomicU64,
    /// Total time spent in pose estimation, µs.
    pub inference_us: AtomicU64,
    /// Capture-to-publish latency of keypoint messages since the last status line, µs.
    latencies: Mutex<Vec<u32>>,
    /// The same latency, all run long, for the metrics endpoint.
    pub latency: Histogram,
}

/// A point-in-time view of [`RunStats`] for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    pub inferred: u64,
    pub poses: u64,
    pub dropped_busy: u64,
    pub skipped_by_rate: u64,
    pub jpeg_errors: u64,
    pub inference_errors: u64,
}

impl RunStats {
    pub fn summary(&self) -> RunSummary {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RunSummary {
            frames: g(&self.captured),
            inferred: g(&self.inferred),
            poses: g(&self.poses),
            dropped_busy: g(&self.dropped_busy),
            skipped_by_rate: g(&self.skipped_by_rate),
            jpeg_errors: g(&self.jpeg_errors),
            inference_errors: g(&self.inference_errors),
        }
    }

    fn record_latency(&self, us: u64) {
        self.latency.observe_us(us);
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: at most one status interval of samples (the status line empties it).
        if l.len() < 100_000 {
            l.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }

    /// p50 and p99 of the capture-to-publish latency since the last call, in ms; empties it.
    pub fn take_latency_percentiles(&self) -> Option<(f64, f64)> {
        let mut l = std::mem::take(&mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        if l.is_empty() {
            return None;
        }
        l.sort_unstable();
        let at = |q: f64| f64::from(l[((l.len() - 1) as f64 * q).round() as usize]) / 1e3;
        Some((at(0.5), at(0.99)))
    }
}

/// Admits frames to a stage at most every `every`-th frame and at most `max_fps` per second
/// (0: no limit).
struct RateGate {
    every: u64,
    min_gap: Option<Duration>,
    last: Option<Instant>,
}

impl RateGate {
    fn new(every: u32, max_fps: f64) -> Self {
        Self {
            every: u64::from(every.max(1)),
            min_gap: (max_fps > 0.0).then(|| Duration::from_secs_f64(1.0 / max_fps)),
            last: None,
        }
    }

    fn admit(&mut self, seq: u64, now: Instant) -> bool {
        if !seq.is_multiple_of(self.every) {
            return false;
        }
        if let (Some(gap), Some(last)) = (self.min_gap, self.last) {
            // Allow 10 % early so that a 30 fps source under a 15 fps limit keeps every 2nd frame.
            if now.duration_since(last) < gap.mul_f64(0.9) {
                return false;
            }
        }
        self.last = Some(now);
        true
    }
}

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
    publisher: &Publisher,
    shared: &Shared,
) -> RunSummary {
    let stats = &shared.stats;
    info!(camera = %camera_id, source = source.describe(), privacy = shared.privacy.load(Ordering::Relaxed),
        pose = estimator.is_some(), kafka = %cfg.kafka.redacted(),
        keypoints_topic = %cfg.topics.keypoints, frames_topic = %cfg.topics.frames, "edge started");
    let mailbox: Mailbox<Captured> = Mailbox::default();
    std::thread::scope(|scope| {
        let inference = std::thread::Builder::new()
            .name("inference".into())
            .spawn_scoped(scope, || {
                inference_stage(camera_id, estimator.as_mut(), &mailbox, publisher, stats)
            });
        if let Err(e) = &inference {
            warn!(error = %e, "cannot start the inference thread");
            return;
        }
        capture_stage(cfg, camera_id, source.as_mut(), &mailbox, publisher, shared);
        mailbox.close();
    });
    let (kp_left, fr_left) = publisher.flush(FLUSH_DEADLINE);
    log_status(publisher, stats, None);
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
    publisher: &Publisher,
    shared: &Shared,
) {
    let (stats, stop) = (&shared.stats, &shared.stop);
    let mut infer_gate = RateGate::new(cfg.pipeline.infer_every, cfg.pipeline.infer_max_fps);
    let mut jpeg_gate = RateGate::new(1, cfg.frames.max_fps);
    let status_every = Duration::from_secs(cfg.status_interval_s.max(1));
    // (when, frames, inferred, keypoints delivered, frames delivered) at the last status line
    let mut last_status = (Instant::now(), 0u64, 0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let captured = stats.captured.load(Ordering::Relaxed);
        if cfg.source.max_frames > 0 && captured >= cfg.source.max_frames {
            break;
        }
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                info!("source ended");
                break;
            }
            Err(e) => {
                stats.source_errors.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "source failed");
                break;
            }
        };
        stats.captured.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut jpeg_published = false;
        if !shared.privacy.load(Ordering::Relaxed) {
            if jpeg_gate.admit(frame.seq, now) {
                jpeg_published = publish_jpeg(cfg, camera_id, &frame, publisher, stats);
            } else {
                stats.jpeg_skipped_by_rate.fetch_add(1, Ordering::Relaxed);
            }
        }
        if infer_gate.admit(frame.seq, now) {
            if mailbox
                .put(Captured {
                    frame,
                    jpeg_published,
                })
                .is_some()
            {
                stats.dropped_busy.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            stats.skipped_by_rate.fetch_add(1, Ordering::Relaxed);
        }
        if last_status.0.elapsed() >= status_every {
            let s = stats.summary();
            let secs = last_status.0.elapsed().as_secs_f64();
            let p = publisher.stats();
            let (kd, fd) = (
                KindCounters::get(&p.keypoints.delivered),
                KindCounters::get(&p.frames.delivered),
            );
            let rates = Rates {
                capture: (s.frames - last_status.1) as f64 / secs,
                infer: (s.inferred - last_status.2) as f64 / secs,
                keypoints_published: kd.saturating_sub(last_status.3) as f64 / secs,
                frames_published: fd.saturating_sub(last_status.4) as f64 / secs,
            };
            log_status(publisher, stats, Some(rates));
            last_status = (Instant::now(), s.frames, s.inferred, kd, fd);
        }
    }
}

fn publish_jpeg(
    cfg: &EdgeConfig,
    camera_id: &CameraId,
    frame: &Frame,
    publisher: &Publisher,
    stats: &RunStats,
) -> bool {
    match jpeg::encode(frame, cfg.frames.width, cfg.frames.quality) {
        Ok((bytes, width, height)) => {
            let meta = FrameMeta {
                camera_id: camera_id.clone(),
                run: crate::run_id::current(),
                seq: frame.seq,
                capture_ts_us: frame.capture_ts_us,
                width,
                height,
            };
            publisher.publish_frame(&meta, &bytes).is_ok()
        }
        Err(e) => {
            let n = stats.jpeg_errors.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                warn!(seq = frame.seq, error = %e, errors_total = n, "cannot encode frame; skipped");
            }
            false
        }
    }
}

fn inference_stage(
    camera_id: &CameraId,
    mut estimator: Option<&mut PoseEstimator>,
    mailbox: &Mailbox<Captured>,
    publisher: &Publisher,
    stats: &RunStats,
) {
    while !mailbox.is_finished() {
        let Some(Captured {
            frame,
            jpeg_published,
        }) = mailbox.take(Duration::from_millis(200))
        else {
            continue;
        };
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
                // The estimator follows one person: track 1 (WIRE.md); no world landmarks yet.
                Ok(Some(p)) => poses.push(pose_shared::Pose {
                    track_id: 1,
                    score: p.score,
                    landmarks: p.landmarks,
                    world_landmarks: None,
                }),
                Ok(None) => {}
                Err(e) => {
                    let n = stats.inference_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        warn!(seq = frame.seq, error = %e, errors_total = n, "pose estimation failed");
                    }
                }
            }
        }
        let spent = started.elapsed();
        stats.inference_us.fetch_add(
            u64::try_from(spent.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        stats.inferred.fetch_add(1, Ordering::Relaxed);
        stats.poses.fetch_add(poses.len() as u64, Ordering::Relaxed);
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
        if publisher.publish_keypoints(&msg).is_ok() {
            stats.record_latency(now_us().saturating_sub(frame.capture_ts_us));
        }
    }
}

/// One status line: rates (capture and inference fps, when given), drops by reason, the
/// capture-to-publish latency of the interval and the publisher's counters.
/// Per-second rates over one status interval.
struct Rates {
    capture: f64,
    infer: f64,
    keypoints_published: f64,
    frames_published: f64,
}

fn log_status(publisher: &Publisher, stats: &RunStats, rates: Option<Rates>) {
    let s = stats.summary();
    let p = publisher.stats();
    let line = |c: &KindCounters| {
        format!(
            "enqueued={} delivered={} failed={} dropped_full={}",
            KindCounters::get(&c.enqueued),
            KindCounters::get(&c.delivered),
            KindCounters::get(&c.failed),
            KindCounters::get(&c.dropped_queue_full)
        )
    };
    let infer_ms = if s.inferred > 0 {
        stats.inference_us.load(Ordering::Relaxed) as f64 / s.inferred as f64 / 1e3
    } else {
        0.0
    };
    let latency = stats.take_latency_percentiles();
    info!(
        capture_fps = rates.as_ref().map(|r| format!("{:.1}", r.capture)),
        infer_fps = rates.as_ref().map(|r| format!("{:.1}", r.infer)),
        keypoints_per_s = rates
            .as_ref()
            .map(|r| format!("{:.1}", r.keypoints_published)),
        jpeg_per_s = rates.as_ref().map(|r| format!("{:.1}", r.frames_published)),
        infer_ms = format!("{infer_ms:.1}"),
        latency_p50_ms = latency.map(|l| format!("{:.1}", l.0)),
        latency_p99_ms = latency.map(|l| format!("{:.1}", l.1)),
        frames = s.frames,
        inferred = s.inferred,
        poses = s.poses,
        dropped_busy = s.dropped_busy,
        skipped_by_rate = s.skipped_by_rate,
        inference_errors = s.inference_errors,
        jpeg_errors = s.jpeg_errors,
        keypoints = line(&p.keypoints),
        jpeg = line(&p.frames),
        "status"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_gate_every_nth_and_max_fps() {
        let t0 = Instant::now();
        let mut every3 = RateGate::new(3, 0.0);
        let admitted: Vec<u64> = (0..10).filter(|&s| every3.admit(s, t0)).collect();
        assert_eq!(admitted, vec![0, 3, 6, 9]);
        // 30 fps source, 15 fps limit: every second frame.
        let mut half = RateGate::new(1, 15.0);
        let admitted: Vec<u64> = (0..10)
            .filter(|&s| half.admit(s, t0 + Duration::from_micros(s * 33_333)))
            .collect();
        assert_eq!(admitted, vec![0, 2, 4, 6, 8]);
        let mut all = RateGate::new(0, 0.0);
        assert!((0..5).all(|s| all.admit(s, t0)));
    }

    #[test]
    fn latency_percentiles() {
        let s = RunStats::default();
        assert_eq!(s.take_latency_percentiles(), None);
        for us in 1..=100u64 {
            s.record_latency(us * 1000);
        }
        let (p50, p99) = s.take_latency_percentiles().unwrap();
        assert!(
            (p50 - 50.0).abs() <= 1.0 && (p99 - 99.0).abs() <= 1.0,
            "{p50} {p99}"
        );
        assert_eq!(s.take_latency_percentiles(), None, "emptied by the read");
    }
}
