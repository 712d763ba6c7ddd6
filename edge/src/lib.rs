//! pose-edge: captures frames, estimates poses and publishes keypoints and JPEGs to Kafka.
//!
//! The data path reads top to bottom: [`source`] → [`gates`] → [`jpeg`] / [`mailbox`] →
//! [`pose`] → [`publish`], driven by [`pipeline`]; [`service`] wires it to its configuration,
//! signals and the [`metrics`] endpoint.

pub mod config;
pub mod gates;
pub mod gpio;
pub mod infer;
pub mod jpeg;
pub mod mailbox;
pub mod metrics;
pub mod pipeline;
pub mod pose;
pub mod publish;
pub mod run_id;
pub mod service;
pub mod source;
pub mod state;
pub mod status;
