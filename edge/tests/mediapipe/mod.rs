//! What the tests against MediaPipe share: the samples, the MediaPipe reference (run once per
//! input and cached by content hash in the posestream cache) and pose-edge run the same way.

#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

use pose_edge::infer::{self, InferOptions};
use pose_edge::pose::{LandmarkModel, ModelPaths, PeopleOptions, PoseEstimator};
use serde_json::Value;

/// The agreement bound of the issue: 1 % of the image diagonal.
pub const MAX_MEAN_DISTANCE: f64 = 0.01;
/// MediaPipe's visibility above which a landmark counts as visible.
pub const VISIBLE: f64 = 0.5;

pub fn cache() -> PathBuf {
    std::env::var_os("POSESTREAM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/posestream")
        })
}

pub fn require(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `{how}` (or `make test`, which runs it)",
        path.display()
    );
    path
}

pub fn samples() -> PathBuf {
    let dir = std::env::var_os("POSESTREAM_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("samples"));
    require(dir, "scripts/fetch-samples.sh")
}

fn mediapipe_python() -> PathBuf {
    let py = std::env::var_os("POSESTREAM_MEDIAPIPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("mediapipe-0.10.14-venv/bin/python"));
    require(py, "scripts/mediapipe-venv.sh")
}

pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("POSE_EDGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    for m in LandmarkModel::ALL {
        require(dir.join(m.file_name()), "models/fetch.sh");
    }
    dir
}

pub fn estimator(model: LandmarkModel, people: PeopleOptions) -> PoseEstimator {
    PoseEstimator::with_people(
        &ModelPaths::with_model(&models_dir(), None, model),
        1,
        people,
    )
    .expect("models load")
}

pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// FNV-1a, 64 bits: the cache key of a reference run (not a security boundary: the cache is the
/// user's own).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
}

/// MediaPipe's legacy Pose solution (`model_complexity` of `model`) on `images`, as JSON lines
/// (tests/reference/mediapipe_pose.py). The output is cached under
/// `$POSESTREAM_CACHE/mediapipe-reference/`, keyed by the script, the options and every image's
/// bytes, so only a changed input runs MediaPipe again.
pub fn reference(images: &[PathBuf], track: bool, model: LandmarkModel) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/mediapipe_pose.py");
    let mut key = Fnv::new();
    key.feed(&std::fs::read(&script).expect("the reference script"));
    key.feed(format!("track={track} complexity={}", model.complexity()).as_bytes());
    for i in images {
        key.feed(&std::fs::read(i).unwrap_or_else(|e| panic!("{}: {e}", i.display())));
    }
    let dir = cache().join("mediapipe-reference");
    let cached = dir.join(format!("{:016x}.jsonl", key.0));
    if let Ok(bytes) = std::fs::read(&cached) {
        let lines = json_lines(&bytes);
        if lines.len() >= images.len() {
            return lines;
        }
    }
    let mut cmd = Command::new(mediapipe_python());
    cmd.arg(script)
        .args(["--complexity", &model.complexity().to_string()]);
    if track {
        cmd.arg("--track");
    }
    let out = cmd
        .args(images)
        .output()
        .expect("the MediaPipe reference runs");
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(&dir).expect("the reference cache directory");
    let tmp = cached.with_extension("tmp");
    std::fs::write(&tmp, &out.stdout).expect("the reference cache is writable");
    std::fs::rename(&tmp, &cached).expect("the reference cache is writable");
    json_lines(&out.stdout)
}

/// `pose-edge infer` (the library function) on `images`.
pub fn ours(est: &mut PoseEstimator, images: &[PathBuf], track: bool) -> Vec<Value> {
    let mut buf = Vec::new();
    let failed = infer::run(
        est,
        images,
        &InferOptions {
            track,
            annotate: None,
        },
        &mut buf,
    )
    .unwrap();
    assert_eq!(failed, 0, "{}", String::from_utf8_lossy(&buf));
    json_lines(&buf)
}

/// Decodes every image once and saves it as PNG in `dir` (both sides then read the same pixels).
pub fn as_png(dir: &Path, images: &[PathBuf]) -> Vec<PathBuf> {
    images
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let png = dir.join(format!("{i:04}.png"));
            image::open(p).unwrap().into_rgb8().save(&png).unwrap();
            png
        })
        .collect()
}

/// A region of an image in pixels: x, y, width, height.
pub type Region = (u32, u32, u32, u32);

/// Cuts `region` out of each image into `dir` (PNG), as the reference's per-person input.
pub fn crops(dir: &Path, tag: &str, images: &[PathBuf], region: Region) -> Vec<PathBuf> {
    let (x, y, w, h) = region;
    images
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let img = image::open(p).unwrap().into_rgb8();
            let out = dir.join(format!("{tag}-{i:04}.png"));
            image::imageops::crop_imm(&img, x, y, w, h)
                .to_image()
                .save(&out)
                .unwrap();
            out
        })
        .collect()
}

/// A pose's landmarks as (x, y, visibility), x and y in pixels of the full image; `region` maps
/// a crop's normalized landmarks back.
pub fn landmarks_px(pose: &Value, width: f64, height: f64) -> Option<Vec<[f64; 3]>> {
    pose["landmarks"]
        .as_array()?
        .iter()
        .map(|l| {
            Some([
                l[0].as_f64()? * width,
                l[1].as_f64()? * height,
                l[3].as_f64()?,
            ])
        })
        .collect()
}

/// The reference pose found in a crop, in pixels of the full image.
pub fn crop_pose_px(line: &Value, region: Region) -> Option<Vec<[f64; 3]>> {
    let (x, y, w, h) = region;
    let lms = landmarks_px(line["poses"].get(0)?, f64::from(w), f64::from(h))?;
    Some(
        lms.into_iter()
            .map(|[lx, ly, v]| [lx + f64::from(x), ly + f64::from(y), v])
            .collect(),
    )
}

/// Mean distance between reference landmarks `mp` and ours over the landmarks MediaPipe sees as
/// visible, as a fraction of `diagonal`; `None` if none is visible.
pub fn mean_distance(mp: &[[f64; 3]], us: &[[f64; 3]], diagonal: f64) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0);
    for (p, q) in mp.iter().zip(us) {
        if p[2] <= VISIBLE {
            continue;
        }
        sum += ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
        n += 1;
    }
    (n > 0).then(|| sum / f64::from(n) / diagonal)
}
