//! pose-cloud: consumes keypoints and frames from Kafka and serves them (viewer: its own issue).

pub mod config;
pub mod consume;
pub mod join;
pub mod render;
pub mod status;
