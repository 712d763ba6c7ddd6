//! The posestream wire format: what `pose-edge` publishes and every consumer reads.
//!
//! * [`keypoints`]: the keypoint message (bincode 2, fixed layout documented in `WIRE.md`).
//! * [`frame`]: the frame message (plain JPEG value, metadata in Kafka headers).
//! * [`topics`]: topic names and the partitioning rule (key = camera id).
//! * [`skeleton`]: the 33 BlazePose landmark names and the 35 skeleton edges.
//! * [`schema`]: the JSON Schema of the keypoint message's JSON view.
//! * [`kafka`] (feature `kafka`): client settings shared by the edge and the cloud.

pub mod camera;
pub mod draw;
pub mod font;
pub mod frame;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod keypoints;
pub mod metrics;
pub mod schema;
pub mod skeleton;
pub mod time;
pub mod topics;

pub use camera::{CameraId, CameraIdError};
pub use frame::{FrameError, FrameMeta};
pub use keypoints::{DecodeError, EncodeError, KeypointMessage, Landmark, Pose, WorldLandmark};

/// Version of the wire format described in `WIRE.md` that this crate writes: in every keypoint
/// message and in the `schema_version` header of every frame message. Bumped on any incompatible
/// change. Version 1 (no run id) is still read.
pub const SCHEMA_VERSION: u16 = keypoints::SCHEMA_VERSION_V2;
