//! pose-cloud: consumes keypoints and frames from Kafka, joins and draws them, serves a viewer.
//!
//! The data path: [`consume`] → [`join`] → [`renderers`] ([`render`]) → [`hub`] → [`serve`],
//! run by [`service`]; [`app::run`] wires it to its [`config`], the listener and shutdown.

pub mod access;
pub mod admin;
pub mod app;
pub mod config;
pub mod consume;
pub mod directory;
pub mod events;
pub mod export;
pub mod history;
pub mod hub;
pub mod join;
pub mod metrics;
pub mod render;
pub mod renderers;
pub mod replay;
pub mod replay_http;
pub mod retained;
pub mod serve;
pub mod service;
pub mod status;
pub mod tail;
pub mod timespec;
pub mod tls;
