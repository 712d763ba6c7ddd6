//! `[pose]`: where the models and the LiteRT runtime are, and how many threads to use.

use std::path::{Path, PathBuf};

use pose_shared::settings::{is_false, negated};
use serde::{Deserialize, Serialize};

use super::{DETECTOR_FILE, LandmarkModel, ModelPaths, PeopleOptions};

/// Pose estimation settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoseConfig {
    /// Directory with `pose_detection.tflite`, `pose_landmark_{lite,full,heavy}.tflite` and `libLiteRt.so`
    /// (fetched by `models/fetch.sh`). Default: `./models`, else `models/` of the source tree the
    /// binary was built in.
    pub models_dir: Option<PathBuf>,
    /// The LiteRT runtime library, if not in `models_dir`.
    pub runtime_lib: Option<PathBuf>,
    /// Run pose estimation (false: publish frames and empty keypoint messages, no models needed).
    pub enabled: bool,
    /// XNNPACK threads per model. 2 leaves the other cores of a 4-core Pi to capture, JPEG
    /// encoding and Kafka (README "Pose estimation" has the measurements).
    pub threads: u32,
    /// Landmark model: lite, full or heavy (MediaPipe's model_complexity 0, 1, 2).
    pub model: LandmarkModel,
    /// At most this many people per frame (1..=16), each tracked with its own id.
    pub max_people: usize,
    /// While 1..max_people-1 people are tracked, the detector looks for newcomers at most once
    /// per this many milliseconds (with nobody tracked it runs on every frame).
    pub detect_interval_ms: u64,
    /// Also publish each person's world landmarks (metres, hip-centred; wire format v2): about
    /// 400 bytes more per person, for consumers that need 3D angles.
    pub world_landmarks: bool,
}

impl Default for PoseConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            runtime_lib: None,
            threads: 2,
            model: LandmarkModel::Full,
            max_people: 2,
            detect_interval_ms: 500,
            world_landmarks: false,
        }
    }
}

/// `[pose]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct PoseFlags {
    /// Directory of the models and libLiteRt.so [default: ./models]
    #[arg(long = "models-dir", global = true)]
    pub models_dir: Option<PathBuf>,
    /// The LiteRT runtime library [default: MODELS_DIR/libLiteRt.so]
    #[arg(long = "litert-lib", global = true)]
    #[serde(rename = "runtime_lib")]
    pub runtime_lib: Option<PathBuf>,
    /// Do not estimate poses (keypoint messages carry no poses; no models needed)
    #[arg(long = "no-pose", global = true)]
    #[serde(
        rename = "enabled",
        serialize_with = "negated",
        skip_serializing_if = "is_false"
    )]
    pub no_pose: bool,
    /// XNNPACK threads per model [default: 2]
    #[arg(long, global = true)]
    pub threads: Option<u32>,
    /// Landmark model: lite (fastest), full or heavy (most accurate) [default: full]
    #[arg(long, global = true, value_enum)]
    pub model: Option<LandmarkModel>,
    /// At most this many people per frame, 1..=16 [default: 2]
    #[arg(long = "max-people", global = true)]
    pub max_people: Option<usize>,
    /// While some but fewer than --max-people are tracked, look for newcomers at most every this many ms [default: 500]
    #[arg(long = "detect-interval-ms", global = true)]
    pub detect_interval_ms: Option<u64>,
    /// Also publish world landmarks (metres, hip-centred), about 400 B more per person
    #[arg(long = "world-landmarks", global = true)]
    #[serde(skip_serializing_if = "is_false")]
    pub world_landmarks: bool,
}

impl PoseConfig {
    /// The model and runtime paths this configuration names.
    pub fn model_paths(&self) -> ModelPaths {
        let dir = self.models_dir.clone().unwrap_or_else(default_models_dir);
        ModelPaths::with_model(&dir, self.runtime_lib.as_deref(), self.model)
    }

    /// How many people are followed and how often the detector looks for more.
    pub fn people(&self) -> PeopleOptions {
        PeopleOptions {
            max_people: self.max_people,
            detect_interval: std::time::Duration::from_millis(self.detect_interval_ms),
        }
    }

    /// Checks the values a file or flag can get wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=16).contains(&self.max_people) {
            return Err(format!(
                "pose.max_people {} is not in 1..=16",
                self.max_people
            ));
        }
        Ok(())
    }
}

/// `./models` if it holds the detector, else `models/` of the source tree this binary was built
/// from (so `target/release/pose-edge` works from anywhere in a checkout), else `./models`.
fn default_models_dir() -> PathBuf {
    let cwd = PathBuf::from("models");
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    [cwd.clone(), built]
        .into_iter()
        .find(|d| d.join(DETECTOR_FILE).is_file())
        .unwrap_or(cwd)
}
