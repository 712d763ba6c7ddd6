//! The cloud's configuration: the sections of `pose-cloud.example.toml`, each defined next to
//! the code it configures, and the flags for a quick run. Layering (defaults → file →
//! environment → flags) is `pose_shared::settings`'s, shared with the edge.

use std::path::PathBuf;
use std::sync::Arc;

use pose_shared::kafka::KafkaSettings;
use pose_shared::settings::{CommonFlags, Settings};
use pose_shared::topics::Topics;
use serde::{Deserialize, Serialize};

use crate::access::Credentials;
use crate::consume::{ConsumeConfig, ConsumeFlags};
use crate::join::{JoinFlags, JoinSettings};
use crate::serve::{HttpConfig, HttpFlags};

/// Everything `pose-cloud` needs. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudConfig {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub consume: ConsumeConfig,
    pub http: HttpConfig,
    pub join: JoinSettings,
    /// The events topic the viewer shows (events.rs).
    pub events: crate::events::EventsConfig,
    /// Replay and export (`[replay]`, `cloud/src/replay.rs`).
    pub replay: crate::replay::ReplaySettings,
    /// Seconds between two status lines in the log.
    pub status_interval_s: u64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            topics: Topics::default(),
            consume: ConsumeConfig::default(),
            http: HttpConfig::default(),
            join: JoinSettings::default(),
            events: crate::events::EventsConfig::default(),
            replay: Default::default(),
            status_interval_s: 10,
        }
    }
}

/// The command line's settings: the file, and the flags for a quick run (each also read from
/// `POSE_CLOUD_<FLAG>`). Unset flags leave the file alone.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct CloudFlags {
    /// TOML configuration file (see `cloud/pose-cloud.example.toml`).
    #[arg(long, short, global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonFlags,
    #[command(flatten)]
    pub consume: ConsumeFlags,
    #[command(flatten)]
    pub http: HttpFlags,
    #[command(flatten)]
    pub join: JoinFlags,
    #[command(flatten)]
    pub replay: crate::replay::ReplayFlags,
}

impl Settings for CloudConfig {
    const ENV_PREFIX: &'static str = "POSE_CLOUD";

    fn check(&self) -> Result<(), String> {
        if self.kafka.brokers.trim().is_empty() {
            return Err("kafka.brokers is empty".into());
        }
        if self.topics.keypoints.is_empty() || self.topics.frames.is_empty() {
            return Err("topic names must not be empty".into());
        }
        if self.consume.group_id.is_empty() {
            return Err("consume.group_id is empty".into());
        }
        if !(1..=100).contains(&self.http.jpeg_quality) {
            return Err(format!(
                "http.jpeg_quality {} must be 1-100",
                self.http.jpeg_quality
            ));
        }
        let (addr, auth) = (self.http.addr, &self.http.auth);
        if !(addr.ip().is_loopback() || !auth.username.is_empty() || auth.allow_anonymous) {
            return Err(format!(
                "http.addr {addr} is reachable from other machines, so the viewer needs \
                 authentication: set http.auth.username and a password (or \
                 http.auth.allow_anonymous = true behind an authenticating proxy)"
            ));
        }
        if self.http.tls.cert.is_some() != self.http.tls.key.is_some() {
            return Err("http.tls needs both cert and key".into());
        }
        self.replay.validate()?;
        Ok(())
    }

    fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.kafka = self.kafka.without_secrets();
        if !shown.http.auth.password.is_empty() {
            shown.http.auth.password = "***".to_owned();
        }
        shown
    }
}

impl CloudConfig {
    /// Defaults, then the file named by `--config`, then the environment, then the flags.
    pub fn load_with(flags: &CloudFlags) -> Result<Self, pose_shared::settings::SettingsError> {
        Self::load(flags.config.as_deref(), flags)
    }

    /// The viewer credentials (reads the password file); None without a username.
    pub fn viewer_credentials(&self) -> Result<Option<Credentials>, crate::access::AuthError> {
        self.http.auth.credentials()
    }

    /// The TLS configuration if a certificate and key are given (reads both files).
    pub fn tls_config(
        &self,
    ) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, crate::tls::TlsError> {
        self.http.tls.server_config()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: CloudFlags,
    }

    fn flags(args: &[&str]) -> CloudFlags {
        let cmd = pose_shared::settings::env_for_flags(Cli::command(), "POSE_CLOUD_TEST_UNSET");
        Cli::from_arg_matches(&cmd.try_get_matches_from(args).unwrap())
            .unwrap()
            .flags
    }

    #[test]
    fn example_file_is_valid_and_holds_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pose-cloud.example.toml");
        assert_eq!(
            CloudConfig::from_file(&path).unwrap(),
            CloudConfig::default()
        );
    }

    #[test]
    fn printed_config_masks_secrets_and_reads_back() {
        let mut cfg = CloudConfig::default();
        cfg.kafka
            .properties
            .insert("sasl.password".into(), "hunter2".into());
        cfg.http.auth.password = "hunter3".into();
        let text = cfg.to_toml_redacted();
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
        let back = CloudConfig::parse(&text).unwrap();
        assert_eq!(back.kafka.properties["sasl.password"], "***");
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.toml");
        std::fs::write(
            &path,
            "[kafka]\nbrokers = \"k:9092\"\n[consume]\ngroup_id = \"g1\"\n[join]\nmax_age_ms = 0\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let f = flags(&[
            "x",
            "-c",
            p,
            "--offset-reset",
            "earliest",
            "--join-window-ms",
            "90",
        ]);
        let cfg = CloudConfig::load_with(&f).unwrap();
        assert_eq!(cfg.kafka.brokers, "k:9092");
        assert_eq!(cfg.consume.group_id, "g1");
        assert_eq!(
            cfg.consume.offset_reset,
            crate::consume::OffsetReset::Earliest
        );
        assert_eq!((cfg.join.join_window_ms, cfg.join.max_age_ms), (90, 0));
        assert!(Cli::try_parse_from(["x", "--offset-reset", "middle"]).is_err());
        assert!(Cli::try_parse_from(["x", "--http-addr", "localhost"]).is_err());
    }

    #[test]
    fn an_open_address_needs_authentication() {
        let err =
            CloudConfig::load_with(&flags(&["x", "--http-addr", "0.0.0.0:8080"])).unwrap_err();
        assert!(
            format!("{err:#}").contains("needs authentication"),
            "{err:#}"
        );
        let f = flags(&["x", "--http-addr", "0.0.0.0:8080", "--viewer-user", "v"]);
        let cfg = CloudConfig::load_with(&f).unwrap();
        assert!(
            cfg.viewer_credentials().is_err(),
            "a user without a password"
        );
    }
}
