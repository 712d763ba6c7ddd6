//! BlazePose on LiteRT: the MediaPipe "Pose" pipeline (detector, landmark model, ROI tracking,
//! smoothing) in Rust. `../shared/docs/blazepose.md` has every constant and formula used here.

pub mod anchors;
pub mod config;
pub mod crop;
pub mod detector;
pub mod geometry;
pub mod landmarks;
pub mod runtime;
pub mod smoothing;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pose_shared::Landmark;
use pose_shared::skeleton::NUM_LANDMARKS;

use self::anchors::Anchor;
use self::crop::{Border, PixelRect, RgbView};
use self::detector::{Detection, NUM_COORDS};
use self::geometry::{NormRect, Point, alignment_rect, pad_roi, roi_from_points};
use self::landmarks::{
    AUX_CENTER, AUX_SCALE, HEATMAP_SIZE, Lm, MIN_POSE_FLAG, NUM_MODEL_LANDMARKS,
};
use self::runtime::{Net, Runtime, RuntimeError};
use self::smoothing::{AUX_FILTER, LANDMARK_FILTER, LandmarkSmoother};

/// File names in the models directory (see `models/README.md`).
pub const RUNTIME_FILE: &str = "libLiteRt.so";
pub const DETECTOR_FILE: &str = "pose_detection.tflite";
pub const LANDMARK_FILE: &str = "pose_landmark_full.tflite";

/// Where the runtime library and the two models are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    pub runtime: PathBuf,
    pub detector: PathBuf,
    pub landmark: PathBuf,
}

impl ModelPaths {
    /// The three files in one directory, the runtime possibly elsewhere.
    pub fn new(models_dir: &Path, runtime: Option<&Path>) -> Self {
        Self {
            runtime: runtime.map_or_else(|| models_dir.join(RUNTIME_FILE), Path::to_owned),
            detector: models_dir.join(DETECTOR_FILE),
            landmark: models_dir.join(LANDMARK_FILE),
        }
    }
}

/// How a frame is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An independent image: the detector runs, no tracking, no smoothing.
    Static,
    /// A video frame captured at `ts_us` (µs, increasing): the previous frame's landmarks give the
    /// ROI; the detector runs only when tracking is lost; landmarks are smoothed.
    Track { ts_us: i64 },
}

/// One person found in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The landmark model's pose presence probability.
    pub score: f32,
    /// The 33 landmarks, normalized to the image.
    pub landmarks: [Landmark; NUM_LANDMARKS],
    /// The region the landmark model looked at.
    pub roi: NormRect,
}

/// Counters and time spent, since the estimator was built.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EstimatorStats {
    pub frames: u64,
    pub detector_runs: u64,
    pub poses: u64,
    /// Time inside the two models' `run` (invoke, including copying tensors in and out).
    pub invoke: Duration,
    /// Time inside [`PoseEstimator::estimate`] in all.
    pub total: Duration,
}

/// Detector outputs, in bytes-to-floats order of the model: boxes, then scores.
const DETECTOR_OUTPUTS: [usize; 2] = [anchors::NUM_ANCHORS * NUM_COORDS, anchors::NUM_ANCHORS];
/// Landmark model outputs: landmarks, pose flag, segmentation, heatmap, world landmarks.
const LANDMARK_OUTPUTS: [usize; 5] = [
    NUM_MODEL_LANDMARKS * 5,
    1,
    256 * 256,
    HEATMAP_SIZE * HEATMAP_SIZE * NUM_MODEL_LANDMARKS,
    NUM_MODEL_LANDMARKS * 3,
];
const OUT_LANDMARKS: usize = 0;
const OUT_FLAG: usize = 1;
const OUT_HEATMAP: usize = 3;

/// The pose estimator: owns the two compiled models, every buffer, and the tracking state.
pub struct PoseEstimator {
    detector: Net,
    landmark: Net,
    anchors: Vec<Anchor>,
    det_input: Vec<f32>,
    det_boxes: Vec<f32>,
    det_scores: Vec<f32>,
    dets: Vec<Detection>,
    nms: Vec<Detection>,
    lm_input: Vec<f32>,
    lm_raw: Vec<f32>,
    heatmap: Vec<f32>,
    prev_roi: Option<NormRect>,
    smoother: LandmarkSmoother,
    aux_smoother: LandmarkSmoother,
    stats: EstimatorStats,
}

impl PoseEstimator {
    /// Loads the runtime and both models, compiled for `threads` CPU threads, and checks their
    /// tensor shapes.
    pub fn new(paths: &ModelPaths, threads: u32) -> Result<Self, RuntimeError> {
        let rt = Runtime::load(&paths.runtime)?;
        let detector = rt.load_model(&paths.detector, "pose_detection", threads)?;
        detector.check_shapes(224 * 224 * 3, &DETECTOR_OUTPUTS)?;
        let landmark = rt.load_model(&paths.landmark, "pose_landmark_full", threads)?;
        landmark.check_shapes(256 * 256 * 3, &LANDMARK_OUTPUTS)?;
        Ok(Self {
            detector,
            landmark,
            anchors: anchors::generate(),
            det_input: vec![0.0; 224 * 224 * 3],
            det_boxes: vec![0.0; DETECTOR_OUTPUTS[0]],
            det_scores: vec![0.0; DETECTOR_OUTPUTS[1]],
            dets: Vec::with_capacity(64),
            nms: Vec::with_capacity(16),
            lm_input: vec![0.0; 256 * 256 * 3],
            lm_raw: vec![0.0; LANDMARK_OUTPUTS[OUT_LANDMARKS]],
            heatmap: vec![0.0; LANDMARK_OUTPUTS[OUT_HEATMAP]],
            prev_roi: None,
            smoother: LandmarkSmoother::new(NUM_LANDMARKS, LANDMARK_FILTER),
            aux_smoother: LandmarkSmoother::new(2, AUX_FILTER),
            stats: EstimatorStats::default(),
        })
    }

    pub fn stats(&self) -> EstimatorStats {
        self.stats
    }

    /// Forgets the tracking state: the next tracked frame runs the detector.
    pub fn reset(&mut self) {
        self.prev_roi = None;
        self.smoother.reset();
        self.aux_smoother.reset();
    }

    /// Finds at most one person in `img`.
    pub fn estimate(
        &mut self,
        img: RgbView<'_>,
        mode: Mode,
    ) -> Result<Option<Estimate>, RuntimeError> {
        let start = Instant::now();
        let out = self.estimate_inner(img, mode);
        self.stats.frames += 1;
        self.stats.total += start.elapsed();
        if let Ok(Some(_)) = &out {
            self.stats.poses += 1;
        }
        out
    }

    fn estimate_inner(
        &mut self,
        img: RgbView<'_>,
        mode: Mode,
    ) -> Result<Option<Estimate>, RuntimeError> {
        let tracked = match mode {
            Mode::Track { .. } => self.prev_roi,
            Mode::Static => None,
        };
        let roi = match tracked {
            Some(roi) => roi,
            None => match self.detect(img)? {
                Some(roi) => roi,
                None => {
                    self.lost(mode);
                    return Ok(None);
                }
            },
        };
        let Some((score, mut lms)) = self.landmarks(img, roi)? else {
            self.lost(mode);
            return Ok(None);
        };
        if let Mode::Track { ts_us } = mode {
            // Object scale from the unfiltered auxiliary landmarks; the next ROI from the smoothed.
            let point = |lm: &Lm| Point { x: lm.x, y: lm.y };
            let scale_rect = alignment_rect(
                point(&lms[AUX_CENTER]),
                point(&lms[AUX_SCALE]),
                img.width,
                img.height,
            );
            let object_scale =
                (scale_rect.width * img.width as f32 + scale_rect.height * img.height as f32) / 2.0;
            let (pose, aux) = lms.split_at_mut(NUM_LANDMARKS);
            self.smoother
                .apply(ts_us, pose, img.width, img.height, object_scale);
            let aux = &mut aux[..2];
            self.aux_smoother
                .apply(ts_us, aux, img.width, img.height, object_scale);
            self.prev_roi = Some(roi_from_points(
                point(&aux[0]),
                point(&aux[1]),
                img.width,
                img.height,
            ));
        }
        let landmarks = std::array::from_fn(|i| {
            let l = lms[i];
            Landmark {
                x: l.x,
                y: l.y,
                z: l.z,
                visibility: l.visibility,
                presence: l.presence,
            }
        });
        Ok(Some(Estimate {
            score,
            landmarks,
            roi,
        }))
    }

    /// Tracking lost (or nobody found): the next frame runs the detector; filters restart.
    fn lost(&mut self, mode: Mode) {
        if let Mode::Track { .. } = mode {
            self.prev_roi = None;
            self.smoother.reset();
            self.aux_smoother.reset();
        }
    }

    /// Runs the detector on the whole image; returns the landmark ROI of the best detection.
    fn detect(&mut self, img: RgbView<'_>) -> Result<Option<NormRect>, RuntimeError> {
        self.stats.detector_runs += 1;
        let (padded, pad) = pad_roi(NormRect::full(), img.width, img.height, 224, 224);
        let rect = pixel_rect(&padded, img.width, img.height);
        crop::sample(
            img,
            rect,
            224,
            224,
            Border::Zero,
            2.0 / 255.0,
            -1.0,
            &mut self.det_input,
        );
        let t = Instant::now();
        self.detector.run(&self.det_input)?;
        self.detector.read(0, &mut self.det_boxes)?;
        self.detector.read(1, &mut self.det_scores)?;
        self.stats.invoke += t.elapsed();
        detector::decode(
            &self.det_boxes,
            &self.det_scores,
            &self.anchors,
            &mut self.dets,
        );
        detector::weighted_nms(&mut self.dets, &mut self.nms);
        let Some(best) = self.nms.first() else {
            return Ok(None);
        };
        let d = detector::remove_letterbox(best, pad);
        Ok(Some(roi_from_points(
            d.keypoints[0],
            d.keypoints[1],
            img.width,
            img.height,
        )))
    }

    /// Runs the landmark model on `roi`; `None` when the pose flag says nobody is there.
    fn landmarks(
        &mut self,
        img: RgbView<'_>,
        roi: NormRect,
    ) -> Result<Option<(f32, [Lm; NUM_MODEL_LANDMARKS])>, RuntimeError> {
        let (padded, pad) = pad_roi(roi, img.width, img.height, 256, 256);
        let rect = pixel_rect(&padded, img.width, img.height);
        crop::sample(
            img,
            rect,
            256,
            256,
            Border::Replicate,
            1.0 / 255.0,
            0.0,
            &mut self.lm_input,
        );
        let t = Instant::now();
        self.landmark.run(&self.lm_input)?;
        let mut flag = [0f32];
        self.landmark.read(OUT_FLAG, &mut flag)?;
        let flag = flag[0];
        // Strictly above the threshold; NaN counts as "nobody".
        if flag.is_nan() || flag <= MIN_POSE_FLAG {
            self.stats.invoke += t.elapsed();
            return Ok(None);
        }
        self.landmark.read(OUT_LANDMARKS, &mut self.lm_raw)?;
        self.landmark.read(OUT_HEATMAP, &mut self.heatmap)?;
        self.stats.invoke += t.elapsed();
        let mut lms = [Lm::default(); NUM_MODEL_LANDMARKS];
        landmarks::decode(&self.lm_raw, &mut lms);
        landmarks::refine(&mut lms, &self.heatmap);
        let [pad_left, _, pad_right, _] = pad;
        for lm in &mut lms {
            // Letterbox removal (a no-op for the square ROI), then projection to the image.
            let p = geometry::remove_padding(Point { x: lm.x, y: lm.y }, pad);
            (lm.x, lm.y, lm.z) = (p.x, p.y, lm.z / (1.0 - pad_left - pad_right));
            landmarks::project(lm, &roi);
        }
        Ok(Some((flag, lms)))
    }
}

fn pixel_rect(r: &NormRect, width: u32, height: u32) -> PixelRect {
    PixelRect {
        cx: f64::from(r.x_center) * f64::from(width),
        cy: f64::from(r.y_center) * f64::from(height),
        width: f64::from(r.width) * f64::from(width),
        height: f64::from(r.height) * f64::from(height),
        rotation: f64::from(r.rotation),
    }
}
