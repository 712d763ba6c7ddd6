//! pose-cloud: consumes keypoints and frames from Kafka, joins and draws them, serves a viewer.

pub mod access;
pub mod admin;
pub mod config;
pub mod consume;
pub mod directory;
pub mod events;
pub mod hub;
pub mod join;
pub mod render;
pub mod renderers;
pub mod serve;
pub mod service;
pub mod status;
pub mod tls;
