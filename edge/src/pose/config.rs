//! `[pose]`: where the models and the LiteRT runtime are, and how many threads to use.

use std::path::{Path, PathBuf};

use pose_shared::settings::{is_false, negated};
use serde::{Deserialize, Serialize};

use super::{DETECTOR_FILE, ModelPaths};

/// Pose estimation settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoseConfig {
    /// Directory with `pose_detection.tflite`, `pose_landmark_full.tflite` and `libLiteRt.so`
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
}

impl Default for PoseConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            runtime_lib: None,
            threads: 2,
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
}

impl PoseConfig {
    /// The model and runtime paths this configuration names.
    pub fn model_paths(&self) -> ModelPaths {
        let dir = self.models_dir.clone().unwrap_or_else(default_models_dir);
        ModelPaths::new(&dir, self.runtime_lib.as_deref())
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
