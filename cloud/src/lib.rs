//! pose-cloud: consumes keypoints and frames from Kafka, joins and draws them, serves a viewer.

pub mod access;
pub mod admin;
pub mod config;
pub mod consume;
pub mod directory;
pub mod export;
pub mod history;
pub mod hub;
pub mod join;
pub mod render;
pub mod renderers;
pub mod replay;
pub mod replay_http;
pub mod retained;
pub mod serve;
pub mod service;
pub mod status;
pub mod timespec;
pub mod tls;
