//! pose-edge: captures frames, estimates poses and publishes keypoints and JPEGs to Kafka.

pub mod config;
pub mod gpio;
pub mod infer;
pub mod jpeg;
pub mod mailbox;
pub mod metrics;
pub mod pose;
pub mod publish;
pub mod run;
pub mod run_id;
pub mod source;
