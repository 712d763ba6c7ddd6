//! BlazePose on LiteRT: the MediaPipe "Pose" pipeline (detector, landmark model, ROI tracking,
//! smoothing) in Rust. `../shared/docs/blazepose.md` has every constant and formula used here.

pub mod anchors;
pub mod config;
pub mod crop;
pub mod detector;
pub mod geometry;
pub mod landmarks;
pub mod people;
pub mod runtime;
pub mod smoothing;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pose_shared::Landmark;
use pose_shared::skeleton::NUM_LANDMARKS;
use serde::{Deserialize, Serialize};

use self::anchors::Anchor;
use self::crop::{Border, PixelRect, RgbView};
use self::detector::{Detection, NUM_COORDS};
use self::geometry::{NormRect, Point, alignment_rect, pad_roi, roi_from_points};
use self::landmarks::{
    AUX_CENTER, AUX_SCALE, HEATMAP_SIZE, Lm, MIN_POSE_FLAG, NUM_MODEL_LANDMARKS,
};
pub use self::people::PeopleOptions;
use self::people::{Filters, People, Track};
use self::runtime::{Net, Runtime, RuntimeError};

/// File names in the models directory (see `models/README.md`).
pub const RUNTIME_FILE: &str = "libLiteRt.so";
pub const DETECTOR_FILE: &str = "pose_detection.tflite";
/// The full landmark model (the default variant).
pub const LANDMARK_FILE: &str = "pose_landmark_full.tflite";

/// The landmark model variant: MediaPipe's `model_complexity` 0, 1 and 2. All three have the same
/// inputs and outputs; they trade speed for accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LandmarkModel {
    /// `pose_landmark_lite.tflite` (complexity 0): the fastest; a Raspberry Pi 4's choice.
    Lite,
    /// `pose_landmark_full.tflite` (complexity 1).
    #[default]
    Full,
    /// `pose_landmark_heavy.tflite` (complexity 2): the most accurate, about 4× full's work.
    Heavy,
}

impl LandmarkModel {
    pub const ALL: [LandmarkModel; 3] = [Self::Lite, Self::Full, Self::Heavy];

    /// The file name in the models directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Lite => "pose_landmark_lite.tflite",
            Self::Full => LANDMARK_FILE,
            Self::Heavy => "pose_landmark_heavy.tflite",
        }
    }

    /// MediaPipe's `model_complexity` for this variant.
    pub fn complexity(self) -> u8 {
        self as u8
    }

    /// The name used in settings, logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lite => "lite",
            Self::Full => "full",
            Self::Heavy => "heavy",
        }
    }

    fn net_name(self) -> &'static str {
        match self {
            Self::Lite => "pose_landmark_lite",
            Self::Full => "pose_landmark_full",
            Self::Heavy => "pose_landmark_heavy",
        }
    }
}

impl std::fmt::Display for LandmarkModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the runtime library and the two models are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    pub runtime: PathBuf,
    pub detector: PathBuf,
    pub landmark: PathBuf,
    pub model: LandmarkModel,
}

impl ModelPaths {
    /// The detector and the full landmark model in one directory, the runtime possibly elsewhere.
    pub fn new(models_dir: &Path, runtime: Option<&Path>) -> Self {
        Self::with_model(models_dir, runtime, LandmarkModel::Full)
    }

    /// As [`ModelPaths::new`], with the landmark model variant `model`.
    pub fn with_model(models_dir: &Path, runtime: Option<&Path>, model: LandmarkModel) -> Self {
        Self {
            runtime: runtime.map_or_else(|| models_dir.join(RUNTIME_FILE), Path::to_owned),
            detector: models_dir.join(DETECTOR_FILE),
            landmark: models_dir.join(model.file_name()),
            model,
        }
    }
}

/// How a frame is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An independent image: the detector runs, no tracking, no smoothing.
    Static,
    /// A video frame captured at `ts_us` (µs, increasing): each person's previous landmarks give
    /// their ROI; the detector runs when nobody is tracked, or at its cadence while fewer than
    /// `max_people` are; landmarks are smoothed.
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

/// One person with their track id: what the wire format's v2 `track_id` and world landmarks are
/// made from.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedPerson {
    /// 1, 2, 3, ... in the order people were first seen; never reused within a run (a person
    /// lost and found again gets a new id). In [`Mode::Static`] every person found is new.
    pub track_id: u32,
    pub pose: Estimate,
    /// The landmark model's world landmarks: metres, origin at the hip centre, rotated like the
    /// image (x right, y down, z towards the camera is negative), visibility and presence copied
    /// from `pose`. Always present from this estimator; optional for consumers that drop them.
    pub world: Option<[Landmark; NUM_LANDMARKS]>,
}

/// Counters and time spent, since the estimator was built.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EstimatorStats {
    pub frames: u64,
    pub detector_runs: u64,
    /// People reported, summed over frames.
    pub poses: u64,
    /// Landmark model runs (one per tracked person per frame, plus one per new detection).
    pub landmark_runs: u64,
    /// Tracks started (the highest track id handed out).
    pub tracks_started: u64,
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
const OUT_WORLD: usize = 4;

/// The pose estimator: owns the two compiled models, every buffer, and the tracking state.
pub struct PoseEstimator {
    detector: Net,
    landmark: Net,
    model: LandmarkModel,
    anchors: Vec<Anchor>,
    det_input: Vec<f32>,
    det_boxes: Vec<f32>,
    det_scores: Vec<f32>,
    dets: Vec<Detection>,
    nms: Vec<Detection>,
    lm_input: Vec<f32>,
    lm_raw: Vec<f32>,
    world_raw: Vec<f32>,
    heatmap: Vec<f32>,
    people: People,
    stats: EstimatorStats,
}

/// What the landmark model gives for one ROI: the pose flag, 39 image-normalized landmarks and 33
/// world landmarks (metres, hip-centred; visibility not yet set).
struct LandmarkResult {
    score: f32,
    lms: [Lm; NUM_MODEL_LANDMARKS],
    world: [Lm; NUM_LANDMARKS],
}

impl PoseEstimator {
    /// Loads the runtime and both models, compiled for `threads` CPU threads, and checks their
    /// tensor shapes. One person at a time, as MediaPipe's legacy solution.
    pub fn new(paths: &ModelPaths, threads: u32) -> Result<Self, RuntimeError> {
        Self::with_people(paths, threads, PeopleOptions::single())
    }

    /// As [`PoseEstimator::new`], following up to `people.max_people` people.
    pub fn with_people(
        paths: &ModelPaths,
        threads: u32,
        people: PeopleOptions,
    ) -> Result<Self, RuntimeError> {
        let rt = Runtime::load(&paths.runtime)?;
        let detector = rt.load_model(&paths.detector, "pose_detection", threads)?;
        detector.check_shapes(224 * 224 * 3, &DETECTOR_OUTPUTS)?;
        let landmark = rt.load_model(&paths.landmark, paths.model.net_name(), threads)?;
        landmark.check_shapes(256 * 256 * 3, &LANDMARK_OUTPUTS)?;
        Ok(Self {
            detector,
            landmark,
            model: paths.model,
            anchors: anchors::generate(),
            det_input: vec![0.0; 224 * 224 * 3],
            det_boxes: vec![0.0; DETECTOR_OUTPUTS[0]],
            det_scores: vec![0.0; DETECTOR_OUTPUTS[1]],
            dets: Vec::with_capacity(64),
            nms: Vec::with_capacity(16),
            lm_input: vec![0.0; 256 * 256 * 3],
            lm_raw: vec![0.0; LANDMARK_OUTPUTS[OUT_LANDMARKS]],
            world_raw: vec![0.0; LANDMARK_OUTPUTS[OUT_WORLD]],
            heatmap: vec![0.0; LANDMARK_OUTPUTS[OUT_HEATMAP]],
            people: People::new(people),
            stats: EstimatorStats::default(),
        })
    }

    pub fn stats(&self) -> EstimatorStats {
        self.stats
    }

    /// The landmark model variant in use.
    pub fn model(&self) -> LandmarkModel {
        self.model
    }

    /// How many people are followed and how often the detector runs.
    pub fn people_options(&self) -> PeopleOptions {
        self.people.opts
    }

    /// Forgets the tracking state: the next tracked frame runs the detector. Track ids go on
    /// from where they were (never reused).
    pub fn reset(&mut self) {
        self.people.clear();
    }

    /// Finds up to `max_people` people in `img`, in track order (oldest track first).
    pub fn estimate(
        &mut self,
        img: RgbView<'_>,
        mode: Mode,
    ) -> Result<Vec<TrackedPerson>, RuntimeError> {
        let start = Instant::now();
        let out = match mode {
            Mode::Static => self.estimate_static(img),
            Mode::Track { ts_us } => self.estimate_tracked(img, ts_us),
        };
        self.stats.frames += 1;
        self.stats.total += start.elapsed();
        if let Ok(people) = &out {
            self.stats.poses += people.len() as u64;
        }
        out
    }

    /// An independent image: the detector, then the landmark model on each detection (best
    /// first) that is not a person already found, up to `max_people`.
    fn estimate_static(&mut self, img: RgbView<'_>) -> Result<Vec<TrackedPerson>, RuntimeError> {
        let dets = self.detect(img)?;
        tracing::debug!(detections = dets.len(), "static image");
        let mut found: Vec<Track> = Vec::new();
        for d in &dets {
            tracing::debug!(score = d.score, hip = ?d.keypoints[0], "detection");
            if found.len() >= self.people.opts.max_people {
                break;
            }
            if found
                .iter()
                .any(|t| people::detection_is_tracked(d, t, img.width, img.height))
            {
                continue;
            }
            let roi = detection_roi(d, img);
            let Some(mut r) = self.landmarks(img, roi)? else {
                continue;
            };
            copy_visibility(&r.lms, &mut r.world);
            let track = Track {
                id: 0,
                next_roi: roi,
                roi,
                filters: Filters::default(),
                landmarks: r.lms,
                world: r.world,
                score: r.score,
            };
            if !found
                .iter()
                .any(|t| people::same_landmarks(t, &track, img.width, img.height))
            {
                found.push(track);
            }
        }
        Ok(found
            .iter_mut()
            .map(|t| {
                t.id = self.people.new_id();
                self.stats.tracks_started += 1;
                person(t)
            })
            .collect())
    }

    /// A video frame: each track's landmarks from its own ROI (a track whose pose flag fails
    /// ends), then, when due, the detector for people not tracked yet.
    fn estimate_tracked(
        &mut self,
        img: RgbView<'_>,
        ts_us: i64,
    ) -> Result<Vec<TrackedPerson>, RuntimeError> {
        let tracked_before = self.people.tracks.len();
        let mut tracks = std::mem::take(&mut self.people.tracks);
        let mut result = Ok(());
        for t in &mut tracks {
            match self.landmarks(img, t.next_roi) {
                Ok(Some(r)) => follow(t, r, t.next_roi, img, ts_us),
                Ok(None) => t.score = f32::NAN, // gone: ended below
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.people.tracks = tracks;
        if let Err(e) = result {
            // A runtime failure loses the frame and the tracking (the next frame detects again).
            self.people.clear();
            return Err(e);
        }
        self.people.retain(|t| !t.score.is_nan());
        self.people.drop_duplicates(img.width, img.height);

        if self.people.detector_due(tracked_before, ts_us) {
            let dets = self.detect(img)?;
            let free = self
                .people
                .opts
                .max_people
                .saturating_sub(self.people.tracks.len());
            // The best detections of people not tracked yet; as in MediaPipe, a detection whose
            // landmarks fail is not replaced by the next one on the same frame.
            let new: Vec<Detection> = dets
                .iter()
                .filter(|d| {
                    !self
                        .people
                        .tracks
                        .iter()
                        .any(|t| people::detection_is_tracked(d, t, img.width, img.height))
                })
                .take(free)
                .copied()
                .collect();
            for d in &new {
                let roi = detection_roi(d, img);
                let Some(r) = self.landmarks(img, roi)? else {
                    continue;
                };
                let mut t = Track {
                    id: 0,
                    next_roi: roi,
                    roi,
                    filters: self.people.take_filters(),
                    landmarks: r.lms,
                    world: r.world,
                    score: r.score,
                };
                follow(&mut t, r, roi, img, ts_us);
                if self
                    .people
                    .tracks
                    .iter()
                    .any(|o| people::same_landmarks(o, &t, img.width, img.height))
                {
                    self.people.retain_filters(t.filters);
                    continue;
                }
                t.id = self.people.new_id();
                self.stats.tracks_started += 1;
                self.people.tracks.push(t);
            }
        }
        Ok(self.people.tracks.iter().map(person).collect())
    }

    /// Runs the detector on the whole image; returns the detections after weighted NMS, best
    /// first, normalized to the image.
    fn detect(&mut self, img: RgbView<'_>) -> Result<Vec<Detection>, RuntimeError> {
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
        Ok(self
            .nms
            .iter()
            .map(|d| detector::remove_letterbox(d, pad))
            .collect())
    }

    /// Runs the landmark model on `roi`; `None` when the pose flag says nobody is there.
    fn landmarks(
        &mut self,
        img: RgbView<'_>,
        roi: NormRect,
    ) -> Result<Option<LandmarkResult>, RuntimeError> {
        self.stats.landmark_runs += 1;
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
        self.landmark.read(OUT_WORLD, &mut self.world_raw)?;
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
        let mut world = [Lm::default(); NUM_LANDMARKS];
        landmarks::decode_world(&self.world_raw, &roi, &mut world);
        Ok(Some(LandmarkResult {
            score: flag,
            lms,
            world,
        }))
    }
}

/// The landmark model's ROI for a detection (mid-hip and the full-body scale point).
fn detection_roi(d: &Detection, img: RgbView<'_>) -> NormRect {
    roi_from_points(d.keypoints[0], d.keypoints[1], img.width, img.height)
}

/// Takes a tracked frame's landmarks into `t`: smoothing (object scale from the unfiltered
/// auxiliary landmarks) and the next ROI from the smoothed auxiliary landmarks (blazepose.md §2).
fn follow(t: &mut Track, r: LandmarkResult, roi: NormRect, img: RgbView<'_>, ts_us: i64) {
    let LandmarkResult {
        score,
        mut lms,
        mut world,
    } = r;
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
    t.filters
        .landmarks
        .apply(ts_us, pose, img.width, img.height, object_scale);
    let aux = &mut aux[..2];
    t.filters
        .aux
        .apply(ts_us, aux, img.width, img.height, object_scale);
    t.filters.world.apply_world(ts_us, &mut world);
    copy_visibility(&lms, &mut world);
    t.next_roi = roi_from_points(
        point(&lms[AUX_CENTER]),
        point(&lms[AUX_SCALE]),
        img.width,
        img.height,
    );
    t.roi = roi;
    t.score = score;
    t.landmarks = lms;
    t.world = world;
}

/// World landmarks take visibility and presence from the image landmarks.
fn copy_visibility(lms: &[Lm; NUM_MODEL_LANDMARKS], world: &mut [Lm; NUM_LANDMARKS]) {
    for (w, l) in world.iter_mut().zip(lms) {
        w.visibility = l.visibility;
        w.presence = l.presence;
    }
}

fn landmark(l: &Lm) -> Landmark {
    Landmark {
        x: l.x,
        y: l.y,
        z: l.z,
        visibility: l.visibility,
        presence: l.presence,
    }
}

fn person(t: &Track) -> TrackedPerson {
    TrackedPerson {
        track_id: t.id,
        pose: Estimate {
            score: t.score,
            landmarks: std::array::from_fn(|i| landmark(&t.landmarks[i])),
            roi: t.roi,
        },
        world: Some(std::array::from_fn(|i| landmark(&t.world[i]))),
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
