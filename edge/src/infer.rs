//! `pose-edge infer`: pose estimation on image files, one JSON line per image.
//!
//! The output format is a contract other tools rely on (see README "pose-edge infer").

use std::io::Write;
use std::path::{Path, PathBuf};

use pose_shared::draw::{Canvas, DEFAULT_PALETTE, draw_pose};
use serde_json::{Value, json};

use crate::pose::crop::RgbView;
use crate::pose::{Mode, PoseEstimator, TrackedPerson};

/// Simulated frame interval of `--track` (the Python solution's fixed 30 fps clock).
pub const TRACK_FRAME_US: i64 = 33_333;

/// Options of one `infer` run.
#[derive(Debug, Clone, Default)]
pub struct InferOptions {
    /// Treat the images as consecutive video frames: tracking and smoothing.
    pub track: bool,
    /// Also write each image with the skeleton drawn into this directory (as PNG).
    pub annotate: Option<PathBuf>,
}

/// Runs the estimator on every image and writes one JSON line each to `out` (and a summary line
/// with `--track`). An image that cannot be read or processed gives an error line and the run
/// goes on. Returns how many images failed.
pub fn run(
    estimator: &mut PoseEstimator,
    images: &[PathBuf],
    opts: &InferOptions,
    out: &mut impl Write,
) -> std::io::Result<usize> {
    if let Some(dir) = &opts.annotate {
        std::fs::create_dir_all(dir)?;
    }
    let before = estimator.stats();
    let mut failed = 0;
    for (i, path) in images.iter().enumerate() {
        let mode = if opts.track {
            Mode::Track {
                ts_us: i as i64 * TRACK_FRAME_US,
            }
        } else {
            Mode::Static
        };
        let line = match one_image(estimator, path, mode, opts.annotate.as_deref()) {
            Ok(v) => v,
            Err(e) => {
                failed += 1;
                json!({"image": path, "error": e})
            }
        };
        writeln!(out, "{line}")?;
    }
    if opts.track {
        let s = estimator.stats();
        let frames = s.frames - before.frames;
        let seconds = (s.total - before.total).as_secs_f64();
        let summary = json!({"summary": {
            "frames": frames,
            "seconds": seconds,
            "fps": if seconds > 0.0 { frames as f64 / seconds } else { 0.0 },
            "detector_runs": s.detector_runs - before.detector_runs,
            "landmark_runs": s.landmark_runs - before.landmark_runs,
            "tracks_started": s.tracks_started - before.tracks_started,
            "poses": s.poses - before.poses,
            "invoke_seconds": (s.invoke - before.invoke).as_secs_f64(),
        }});
        writeln!(out, "{summary}")?;
    }
    out.flush()?;
    Ok(failed)
}

fn one_image(
    est: &mut PoseEstimator,
    path: &Path,
    mode: Mode,
    annotate: Option<&Path>,
) -> Result<Value, String> {
    let img = image::open(path)
        .map_err(|e| format!("cannot read image: {e}"))?
        .into_rgb8();
    let (w, h) = img.dimensions();
    let view = RgbView::new(w, h, img.as_raw()).ok_or("image has no pixels")?;
    let found = est.estimate(view, mode).map_err(|e| e.to_string())?;
    if let Some(dir) = annotate {
        let mut pixels = img.clone();
        if let Some(mut canvas) = Canvas::new(w, h, &mut pixels) {
            for p in &found {
                draw_pose(&mut canvas, &p.pose.landmarks, &DEFAULT_PALETTE);
            }
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        let target = dir.join(format!("{name}.png"));
        pixels
            .save(&target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(
        json!({"image": path, "width": w, "height": h, "poses": found.iter().map(pose_json).collect::<Vec<_>>()}),
    )
}

fn pose_json(p: &TrackedPerson) -> Value {
    let lms: Vec<[f32; 5]> = p
        .pose
        .landmarks
        .iter()
        .map(|l| [l.x, l.y, l.z, l.visibility, l.presence])
        .collect();
    let world: Option<Vec<[f32; 3]>> = p
        .world
        .as_ref()
        .map(|w| w.iter().map(|l| [l.x, l.y, l.z]).collect());
    json!({"track_id": p.track_id, "score": p.pose.score, "landmarks": lms, "world": world})
}
