//! Topic names and the partitioning rule shared by producers and consumers.

use serde::{Deserialize, Serialize};

/// Default topic for keypoint messages (the downstream product; kept for days).
pub const DEFAULT_KEYPOINTS_TOPIC: &str = "pose.keypoints";
/// Default topic for JPEG frame messages (disposable; kept for hours).
pub const DEFAULT_FRAMES_TOPIC: &str = "pose.frames";

/// The pair of topics one deployment uses. Every message is keyed by its camera id, so all
/// messages of one camera land in one partition of each topic and stay in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topics {
    pub keypoints: String,
    pub frames: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            keypoints: DEFAULT_KEYPOINTS_TOPIC.to_owned(),
            frames: DEFAULT_FRAMES_TOPIC.to_owned(),
        }
    }
}
