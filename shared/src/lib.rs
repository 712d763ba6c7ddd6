//! What `pose-edge`, `pose-cloud` and downstream consumers share.
//!
//! **The wire format** (the product; `WIRE.md` documents it byte by byte):
//! * [`keypoints`]: the keypoint message (bincode 2, fixed layout).
//! * [`frame`]: the frame message (plain JPEG value, metadata in Kafka headers).
//! * [`camera`]: the camera id, the Kafka key of both topics.
//! * [`topics`]: topic names and the partitioning rule (key = camera id).
//! * [`skeleton`]: the 33 BlazePose landmark names and the 35 skeleton edges.
//! * [`time`]: the wire's timestamps (µs since the Unix epoch).
//! * [`schema`]: the JSON Schema of the keypoint message's JSON view.
//!
//! **Drawing a pose** ([`draw`], [`font`]): both the edge (`pose-edge infer --annotate`) and the
//! cloud (the live view) draw skeletons, labels and figures on RGB images; downstream tools that
//! read the wire format draw them the same way. They depend on nothing but the skeleton, so they
//! live here rather than in a crate of their own.
//!
//! **The two programs' common service code** (features, so that a consumer of the wire format
//! pulls in neither librdkafka nor the service stack):
//! * [`kafka`] (feature `kafka`): client connection and security settings, the client log bridge.
//! * [`settings`] (feature `service`): configuration layering (defaults, file, environment,
//!   flags), the flags both programs share, tracing set-up.
//! * [`metrics`]: the log throttle and RSS; with `service`, the Prometheus registry's encoding.

pub mod camera;
pub mod draw;
pub mod fixtures;
pub mod font;
pub mod frame;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod keypoints;
pub mod metrics;
pub mod schema;
#[cfg(feature = "service")]
pub mod settings;
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
