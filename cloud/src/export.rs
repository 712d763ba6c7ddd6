//! Export: a camera's recorded stretch as an MP4 of the drawn frames (the live drawing, through
//! ffmpeg's H.264 encoder) and its keypoint messages as JSON lines (`pose-cloud export`, and the
//! viewer's download links).
//!
//! The stretch is read with a [`History`] (no pacing), joined on the same virtual clock as a
//! replay and drawn with [`render::draw`]. The video has a constant frame rate, the camera's own
//! (the median interval of its first frames, or `fps` when given): each output frame shows the
//! newest drawn frame captured at or before its time, so the video lasts as long as the
//! recording, whatever frames the edge skipped. A range that starts outside what Kafka retains
//! is refused with the retained range in the message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pose_shared::CameraId;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::history::{History, HistoryError};
use crate::join::{Joined, Joiner};
use crate::render::{self, Rendered};
use crate::replay::{Replays, Virtual, start_at};
use crate::timespec;

/// Frames looked at to find the camera's frame rate before the video starts.
const RATE_PROBE: usize = 32;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub camera: CameraId,
    pub from_us: u64,
    pub to_us: u64,
    /// Output frame rate; None: the camera's.
    pub fps: Option<f64>,
    /// Where to write the video and the keypoints (either may be left out).
    pub mp4: Option<PathBuf>,
    pub jsonl: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub camera: String,
    pub from: String,
    pub to: String,
    /// Joined frames drawn.
    pub frames_drawn: u64,
    /// Frames in the video (constant rate).
    pub video_frames: u64,
    pub fps: f64,
    pub video_seconds: f64,
    pub keypoint_messages: u64,
    pub first_capture_us: Option<u64>,
    pub last_capture_us: Option<u64>,
    /// Messages of the camera skipped as malformed.
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the range is empty: --from ({from}) must be before --to ({to})")]
    EmptyRange { from: String, to: String },
    #[error("the range ends in the future ({0})")]
    Future(String),
    #[error("the range is {seconds} s long; at most {max} s here (replay.max_export_s)")]
    TooLong { seconds: u64, max: u64 },
    #[error("nothing of camera {camera:?} is retained in {what} (the topic's partition is empty)")]
    NothingRetained { camera: String, what: &'static str },
    #[error(
        "{from} is outside what Kafka retains for camera {camera:?}: {what} from {earliest} to \
         {latest}"
    )]
    OutsideRetention {
        camera: String,
        what: &'static str,
        from: String,
        earliest: String,
        latest: String,
    },
    #[error("camera {camera:?} has no frames between {from} and {to}")]
    NoFrames {
        camera: String,
        from: String,
        to: String,
    },
    #[error("cannot read Kafka: {0}")]
    History(#[from] HistoryError),
    #[error("cannot read the retained ranges from Kafka: {0}")]
    Retained(rdkafka::error::KafkaError),
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl ExportError {
    /// Whether the request itself is at fault (HTTP 400) rather than the service.
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            Self::EmptyRange { .. }
                | Self::Future(_)
                | Self::TooLong { .. }
                | Self::NothingRetained { .. }
                | Self::OutsideRetention { .. }
                | Self::NoFrames { .. }
        )
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Checks the range against the clock and what Kafka retains (read now).
async fn check_range(r: &Arc<Replays>, req: &ExportRequest) -> Result<(), ExportError> {
    let (from, to) = (timespec::format(req.from_us), timespec::format(req.to_us));
    if req.from_us >= req.to_us {
        return Err(ExportError::EmptyRange { from, to });
    }
    if req.to_us > pose_shared::time::now_us() + 1_000_000 {
        return Err(ExportError::Future(to));
    }
    let retained = r.retained.clone();
    tokio::task::spawn_blocking(move || retained.refresh())
        .await
        .map_err(|e| ExportError::Ffmpeg(e.to_string()))?
        .map_err(ExportError::Retained)?;
    let camera = req.camera.as_str().to_owned();
    let ranges = r.retained.of(&camera);
    let from_ms = (req.from_us / 1000) as i64;
    let keypoints = ranges.as_ref().and_then(|c| c.keypoints.clone());
    // A privacy camera's video is drawn from its keypoints: its frames' partition may be empty.
    let frames = ranges
        .as_ref()
        .and_then(|c| c.frames.clone())
        .filter(|_| req.mp4.is_some());
    for (what, range) in [("keypoints", keypoints), ("frames", frames)] {
        let Some(range) = range else {
            if what == "frames" {
                continue;
            }
            return Err(ExportError::NothingRetained { camera, what });
        };
        if from_ms < range.from_ms || from_ms > range.to_ms {
            return Err(ExportError::OutsideRetention {
                camera,
                what,
                from,
                earliest: range.from,
                latest: range.to,
            });
        }
    }
    Ok(())
}

/// Exports `req` (see the module notes).
pub async fn export(r: &Arc<Replays>, req: ExportRequest) -> Result<Exported, ExportError> {
    check_range(r, &req).await?;
    r.stats.exports.fetch_add(1, Ordering::Relaxed);
    let mut history = History::open(
        &r.kafka,
        &r.topics,
        &req.camera,
        start_at(req.from_us, &r.join),
        r.settings.prefetch_kbytes,
        Duration::from_secs(10),
    )
    .await?
    .finite();
    let mut jsonl = match &req.jsonl {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(write_err(p))?,
        )),
        None => None,
    };
    let virt = Virtual::new(req.from_us);
    let mut joiner = Joiner::new(r.join);
    let mut joined: Vec<Joined> = Vec::new();
    let mut video = req.mp4.as_ref().map(|p| Video::new(p.clone(), req.fps));
    let mut out = Exported {
        camera: req.camera.to_string(),
        from: timespec::format(req.from_us),
        to: timespec::format(req.to_us),
        frames_drawn: 0,
        video_frames: 0,
        fps: 0.0,
        video_seconds: 0.0,
        keypoint_messages: 0,
        first_capture_us: None,
        last_capture_us: None,
        skipped: 0,
    };
    let mut last_m = req.from_us;
    while let Some(t) = history.next().await {
        let m = t.msg.capture_ts_us();
        if (t.ts_ms as u64).saturating_mul(1000) > req.to_us && m > req.to_us {
            break; // in time order: everything up to `to` has been read
        }
        if let crate::consume::Incoming::Keypoints(k) = &t.msg
            && (req.from_us..=req.to_us).contains(&m)
            && let (Some(w), Some(p)) = (jsonl.as_mut(), req.jsonl.as_ref())
        {
            writeln!(w, "{}", k.to_json()).map_err(write_err(p))?;
            out.keypoint_messages += 1;
            out.first_capture_us.get_or_insert(m);
            out.last_capture_us = Some(m);
        }
        last_m = last_m.max(m);
        joiner.tick(virt.at(m), &mut joined);
        joiner.push(t.msg, virt.at(m), &mut joined);
        draw_all(r, &req, &mut joined, &mut video, &mut out).await?;
    }
    let window = u64::try_from(r.join.join_window.as_micros()).unwrap_or(0);
    let flush_at = last_m.saturating_add(window).saturating_add(1000);
    joiner.tick(virt.at(flush_at), &mut joined);
    draw_all(r, &req, &mut joined, &mut video, &mut out).await?;
    out.skipped = history.skipped();
    if let (Some(w), Some(p)) = (jsonl.as_mut(), req.jsonl.as_ref()) {
        w.flush().map_err(write_err(p))?;
    }
    if let Some(v) = video {
        if out.frames_drawn == 0 {
            return Err(ExportError::NoFrames {
                camera: out.camera,
                from: out.from,
                to: out.to,
            });
        }
        let (frames, fps) = v.finish().await?;
        out.video_frames = frames;
        out.fps = fps;
        out.video_seconds = frames as f64 / fps;
    }
    Ok(out)
}

/// Draws the joined frames inside the range and hands them to the video.
async fn draw_all(
    r: &Arc<Replays>,
    req: &ExportRequest,
    joined: &mut Vec<Joined>,
    video: &mut Option<Video>,
    out: &mut Exported,
) -> Result<(), ExportError> {
    for j in joined.drain(..) {
        if !(req.from_us..=req.to_us).contains(&j.capture_ts_us) {
            continue;
        }
        let Some(v) = video.as_mut() else { continue };
        let caption = format!(
            "{} {}",
            j.camera_id,
            timespec::format(j.capture_ts_us).replace('T', " ")
        );
        let quality = r.quality;
        let drawn = tokio::task::spawn_blocking(move || render::draw(&j, &caption, quality))
            .await
            .map_err(|e| ExportError::Ffmpeg(e.to_string()))?;
        match drawn {
            Ok(f) => {
                out.frames_drawn += 1;
                v.push(f).await?;
            }
            Err(e) => tracing::debug!(error = %e, "export: frame not drawn"),
        }
    }
    Ok(())
}

/// The video being written: the first frames wait until the frame rate is known, then ffmpeg
/// runs in a thread of its own fed through a small channel.
struct Video {
    path: PathBuf,
    fps: Option<f64>,
    probe: Vec<Rendered>,
    tx: Option<mpsc::Sender<Rendered>>,
    writer: Option<std::thread::JoinHandle<Result<(u64, f64), ExportError>>>,
}

impl Video {
    fn new(path: PathBuf, fps: Option<f64>) -> Self {
        Self {
            path,
            fps: fps.filter(|f| f.is_finite() && *f > 0.0),
            probe: Vec::new(),
            tx: None,
            writer: None,
        }
    }

    async fn push(&mut self, f: Rendered) -> Result<(), ExportError> {
        if self.tx.is_none() {
            self.probe.push(f);
            if self.probe.len() < RATE_PROBE {
                return Ok(());
            }
            self.start()?;
            return self.drain_probe().await;
        }
        self.send(f).await
    }

    async fn send(&mut self, f: Rendered) -> Result<(), ExportError> {
        if let Some(tx) = &self.tx
            && tx.send(f).await.is_err()
        {
            // The writer stopped: its error is reported by `finish`.
            self.tx = None;
        }
        Ok(())
    }

    async fn drain_probe(&mut self) -> Result<(), ExportError> {
        for f in std::mem::take(&mut self.probe) {
            self.send(f).await?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), ExportError> {
        let fps = self.fps.unwrap_or_else(|| camera_fps(&self.probe));
        let first = self
            .probe
            .first()
            .map_or((320, 240, 0), |f| (f.width, f.height, f.capture_ts_us));
        let (tx, rx) = mpsc::channel::<Rendered>(8);
        let path = self.path.clone();
        self.writer = Some(std::thread::spawn(move || {
            write_video(&path, fps, first, rx)
        }));
        self.tx = Some(tx);
        Ok(())
    }

    /// Ends the video one frame interval after the last frame: (frames written, fps).
    async fn finish(mut self) -> Result<(u64, f64), ExportError> {
        if self.tx.is_none() && !self.probe.is_empty() {
            self.start()?;
            self.drain_probe().await?;
        }
        drop(self.tx.take());
        let writer = self.writer.take();
        tokio::task::spawn_blocking(move || match writer {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(ExportError::Ffmpeg("writer panicked".into()))),
            None => Err(ExportError::Ffmpeg("no frames".into())),
        })
        .await
        .map_err(|e| ExportError::Ffmpeg(e.to_string()))?
    }
}

/// The camera's frame rate: one over the median interval between the frames (30 when unknown),
/// rounded to 1/1000.
pub fn camera_fps(frames: &[Rendered]) -> f64 {
    let mut gaps: Vec<u64> = frames
        .windows(2)
        .map(|w| w[1].capture_ts_us.saturating_sub(w[0].capture_ts_us))
        .filter(|&g| g > 0)
        .collect();
    gaps.sort_unstable();
    match gaps.get(gaps.len() / 2) {
        Some(&g) => ((1e6 / g as f64).clamp(1.0, 120.0) * 1000.0).round() / 1000.0,
        None => 30.0,
    }
}

/// Output frame `k`'s time: `first + k / fps`.
fn slot_us(first_us: u64, k: u64, fps: f64) -> u64 {
    first_us.saturating_add((k as f64 * 1e6 / fps).round() as u64)
}

/// Runs ffmpeg and writes the frames at a constant `fps` from the first frame's time: each
/// output frame is the newest input frame captured at or before it. Returns (frames, fps).
fn write_video(
    path: &Path,
    fps: f64,
    (width, height, first_us): (u32, u32, u64),
    mut rx: mpsc::Receiver<Rendered>,
) -> Result<(u64, f64), ExportError> {
    // H.264 in 4:2:0 needs even sizes; every frame is scaled to the first one's size.
    let (w, h) = (width.max(2) & !1, height.max(2) & !1);
    let rate = format!("{fps}");
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "-framerate",
            &rate,
            "-i",
            "-",
        ])
        .args(["-vf", &format!("scale={w}:{h}"), "-r", &rate])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-movflags", "+faststart"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            ExportError::Ffmpeg(format!("cannot start ffmpeg (apt install ffmpeg): {e}"))
        })?;
    let Some(mut stdin) = child.stdin.take() else {
        return Err(ExportError::Ffmpeg("no stdin".into()));
    };
    let mut written = 0u64;
    let mut current: Option<Rendered> = None;
    let mut broken = None;
    'frames: while let Some(f) = rx.blocking_recv() {
        if let Some(c) = &current {
            while slot_us(first_us, written, fps) < f.capture_ts_us {
                if let Err(e) = stdin.write_all(&c.jpeg) {
                    broken = Some(e);
                    break 'frames;
                }
                written += 1;
            }
        }
        current = Some(f);
    }
    // The last frame is shown for one frame interval.
    if let (Some(c), None) = (&current, &broken) {
        let end = c.capture_ts_us.saturating_add((1e6 / fps) as u64);
        while slot_us(first_us, written, fps) < end {
            if let Err(e) = stdin.write_all(&c.jpeg) {
                broken = Some(e);
                break;
            }
            written += 1;
        }
    }
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|e| ExportError::Ffmpeg(e.to_string()))?;
    if !output.status.success() {
        return Err(ExportError::Ffmpeg(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    if let Some(e) = broken {
        return Err(ExportError::Ffmpeg(format!("ffmpeg stopped reading: {e}")));
    }
    Ok((written, fps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(capture_ts_us: u64) -> Rendered {
        Rendered {
            seq: 0,
            capture_ts_us,
            width: 2,
            height: 2,
            jpeg: vec![],
        }
    }

    #[test]
    fn the_camera_rate_is_the_median_interval() {
        let even: Vec<Rendered> = (0..32).map(|i| frame(i * 100_000)).collect();
        assert_eq!(camera_fps(&even), 10.0);
        // 29.97 fps with one dropped frame and one duplicate stamp.
        let mut ntsc: Vec<Rendered> = (0..32).map(|i| frame(i * 33_367)).collect();
        ntsc.remove(10);
        ntsc.push(frame(31 * 33_367));
        assert!(
            (camera_fps(&ntsc) - 29.97).abs() < 0.01,
            "{}",
            camera_fps(&ntsc)
        );
        assert_eq!(camera_fps(&[]), 30.0);
        assert_eq!(slot_us(1_000, 3, 10.0), 301_000);
    }
}
