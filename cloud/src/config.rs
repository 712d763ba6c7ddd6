//! The cloud's configuration: built-in defaults, then a TOML file, then environment and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use pose_shared::kafka::{KafkaSettings, parse_property};
use pose_shared::topics::Topics;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::access::Credentials;
use crate::consume::ConsumeConfig;

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
    /// Seconds between two status lines in the log.
    pub status_interval_s: u64,
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the viewer and API. Loopback by default: expose it through TLS and
    /// authentication in front (see the deployment).
    pub addr: String,
    /// JPEG quality of the rendered frames, 1-100.
    pub jpeg_quality: u8,
    /// Viewer authentication (required when `addr` is not loopback).
    pub auth: AuthConfig,
    /// HTTPS: with a certificate and key the viewer is served over TLS only.
    pub tls: TlsConfig,
    /// The URL browsers and the other instances reach this one at, e.g.
    /// `https://cloud-2.example.com:8443`. Set it on every instance when several share a
    /// consumer group: each then redirects a camera's URLs to the instance that shows it.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".to_owned(),
            jpeg_quality: 80,
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            public_url: None,
        }
    }
}

/// HTTP Basic authentication of the viewer and API (`/healthz` and `/readyz` stay open).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The viewer account's name; empty means no authentication.
    pub username: String,
    /// Its password (a secret: masked when printed). Prefer `password_file` or the
    /// POSE_CLOUD_VIEWER_PASSWORD environment variable.
    pub password: String,
    /// A file whose content (without the final newline) is the password.
    pub password_file: Option<PathBuf>,
    /// Serve without authentication on a non-loopback address (only behind a proxy that
    /// authenticates). Off by default: the service refuses to start instead.
    pub allow_anonymous: bool,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// How frames and keypoints are joined (`cloud/src/join.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinSettings {
    /// How long a frame waits for its own keypoints, ms.
    pub join_window_ms: u64,
    /// Oldest earlier keypoints drawn on a frame (marked stale), ms of capture time.
    pub max_keypoint_age_ms: u64,
    /// Silence after which a camera is offline, ms.
    pub offline_after_ms: u64,
    /// Frames and keypoint messages buffered per camera.
    pub max_pending: usize,
    /// Skip messages captured longer ago than this, ms (0: never): after a restart the
    /// service resumes from its committed offsets and skips the backlog a live view has no use
    /// for. Compares the edge's capture clock with this host's, so both need NTP.
    pub max_age_ms: u64,
}

impl Default for JoinSettings {
    fn default() -> Self {
        Self {
            join_window_ms: 150,
            max_keypoint_age_ms: 500,
            offline_after_ms: 3000,
            max_pending: 64,
            max_age_ms: 3000,
        }
    }
}

impl JoinSettings {
    pub fn to_join_config(&self) -> crate::join::JoinConfig {
        use std::time::Duration;
        crate::join::JoinConfig {
            join_window: Duration::from_millis(self.join_window_ms),
            max_keypoint_age: Duration::from_millis(self.max_keypoint_age_ms),
            offline_after: Duration::from_millis(self.offline_after_ms),
            max_pending: self.max_pending.max(1),
            max_age: (self.max_age_ms > 0).then(|| Duration::from_millis(self.max_age_ms)),
        }
    }
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
            status_interval_s: 10,
        }
    }
}

/// Flags (and their environment variables) that override the file. Unset ones leave it alone.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// TOML configuration file (see `cloud/pose-cloud.example.toml`).
    #[arg(long, short, env = "POSE_CLOUD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Seconds between status lines in the log [default: 10]
    #[arg(
        long = "status-interval",
        value_name = "SECONDS",
        env = "POSE_CLOUD_STATUS_INTERVAL",
        global = true
    )]
    pub status_interval_s: Option<u64>,
    /// Kafka bootstrap servers, host:port[,host:port...] [default: 127.0.0.1:9092]
    #[arg(long, env = "POSE_CLOUD_BROKERS", global = true)]
    pub brokers: Option<String>,
    /// Extra librdkafka property KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property, global = true)]
    pub kafka_properties: Vec<(String, String)>,
    /// Keypoints topic [default: pose.keypoints]
    #[arg(long, env = "POSE_CLOUD_KEYPOINTS_TOPIC", global = true)]
    pub keypoints_topic: Option<String>,
    /// Frames topic [default: pose.frames]
    #[arg(long, env = "POSE_CLOUD_FRAMES_TOPIC", global = true)]
    pub frames_topic: Option<String>,
    /// Events topic shown by the viewer; empty: none [default: pose.events]
    #[arg(long, env = "POSE_CLOUD_EVENTS_TOPIC", global = true)]
    pub events_topic: Option<String>,
    /// HTTP listen address of the viewer and API [default: 127.0.0.1:8080]
    #[arg(long, env = "POSE_CLOUD_HTTP_ADDR", global = true)]
    pub http_addr: Option<String>,
    /// URL this instance is reached at; with several instances in one group, camera URLs are
    /// redirected to the instance that shows the camera (README "Scaling out")
    #[arg(long, env = "POSE_CLOUD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// How long a frame waits for its keypoints, ms [default: 150]
    #[arg(long, env = "POSE_CLOUD_JOIN_WINDOW_MS", global = true)]
    pub join_window_ms: Option<u64>,
    /// Oldest earlier keypoints drawn on a frame, ms [default: 500]
    #[arg(long, env = "POSE_CLOUD_MAX_KEYPOINT_AGE_MS", global = true)]
    pub max_keypoint_age_ms: Option<u64>,
    /// Consumer group id [default: pose-cloud]
    #[arg(long, env = "POSE_CLOUD_GROUP_ID", global = true)]
    pub group_id: Option<String>,
    /// Where a new group starts: latest or earliest [default: latest]
    #[arg(long, env = "POSE_CLOUD_OFFSET_RESET", global = true)]
    pub offset_reset: Option<String>,
    /// Viewer account name (HTTP Basic authentication)
    #[arg(long, env = "POSE_CLOUD_VIEWER_USER", global = true)]
    pub viewer_user: Option<String>,
    /// Viewer password: environment only, so it never shows in the process list
    #[arg(skip = std::env::var("POSE_CLOUD_VIEWER_PASSWORD").ok())]
    pub viewer_password: Option<String>,
    /// PEM certificate chain for HTTPS (with --tls-key)
    #[arg(long, env = "POSE_CLOUD_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert)
    #[arg(long, env = "POSE_CLOUD_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,
}

impl CloudConfig {
    /// Reads the file named by the overrides (if any), then applies the overrides and validates.
    pub fn load(o: &Overrides) -> anyhow::Result<Self> {
        let mut cfg = match &o.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        if let Some(v) = &o.brokers {
            cfg.kafka.brokers = v.clone();
        }
        cfg.kafka
            .properties
            .extend(o.kafka_properties.iter().cloned());
        if let Some(v) = &o.keypoints_topic {
            cfg.topics.keypoints = v.clone();
        }
        if let Some(v) = &o.frames_topic {
            cfg.topics.frames = v.clone();
        }
        if let Some(v) = &o.events_topic {
            cfg.events.topic = v.clone();
        }
        if let Some(v) = &o.group_id {
            cfg.consume.group_id = v.clone();
        }
        if let Some(v) = o.status_interval_s {
            cfg.status_interval_s = v;
        }
        if let Some(v) = &o.public_url {
            cfg.http.public_url = Some(v.clone());
        }
        if let Some(v) = &o.http_addr {
            cfg.http.addr = v.clone();
        }
        if let Some(v) = o.join_window_ms {
            cfg.join.join_window_ms = v;
        }
        if let Some(v) = o.max_keypoint_age_ms {
            cfg.join.max_keypoint_age_ms = v;
        }
        if let Some(v) = &o.offset_reset {
            cfg.consume.offset_reset = v.clone();
        }
        if let Some(v) = &o.viewer_user {
            cfg.http.auth.username = v.clone();
        }
        if let Some(v) = &o.viewer_password {
            cfg.http.auth.password = v.clone();
        }
        if let Some(v) = &o.tls_cert {
            cfg.http.tls.cert = Some(v.clone());
        }
        if let Some(v) = &o.tls_key {
            cfg.http.tls.key = Some(v.clone());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML, with secret Kafka properties masked.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.kafka = self.kafka.without_secrets();
        if !shown.http.auth.password.is_empty() {
            shown.http.auth.password = "***".to_owned();
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        self.http
            .addr
            .parse()
            .with_context(|| format!("http.addr {:?} is not host:port", self.http.addr))
    }

    /// The viewer credentials, reading the password file if one is named; None without a
    /// username.
    pub fn viewer_credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let auth = &self.http.auth;
        if auth.username.is_empty() {
            return Ok(None);
        }
        let password = match &auth.password_file {
            Some(path) if auth.password.is_empty() => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read http.auth.password_file {}", path.display())
                })?;
                text.strip_suffix('\n').unwrap_or(&text).to_owned()
            }
            _ => auth.password.clone(),
        };
        anyhow::ensure!(
            !password.is_empty(),
            "http.auth.username is set but the password is empty (set http.auth.password_file \
             or POSE_CLOUD_VIEWER_PASSWORD)"
        );
        Ok(Some(Credentials::new(auth.username.clone(), password)))
    }

    /// The TLS configuration if a certificate and key are given.
    pub fn tls_config(&self) -> anyhow::Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>> {
        match (&self.http.tls.cert, &self.http.tls.key) {
            (Some(cert), Some(key)) => Ok(Some(crate::tls::server_config(cert, key)?)),
            (None, None) => Ok(None),
            _ => anyhow::bail!("http.tls needs both cert and key"),
        }
    }

    /// Parses and validates a configuration file's text (no overrides applied).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: Self = toml::from_str(text).context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.kafka.brokers.trim().is_empty(),
            "kafka.brokers is empty"
        );
        anyhow::ensure!(
            !self.topics.keypoints.is_empty() && !self.topics.frames.is_empty(),
            "topic names must not be empty"
        );
        anyhow::ensure!(
            !self.consume.group_id.is_empty(),
            "consume.group_id is empty"
        );
        anyhow::ensure!(
            matches!(self.consume.offset_reset.as_str(), "latest" | "earliest"),
            "consume.offset_reset {:?} must be latest or earliest",
            self.consume.offset_reset
        );
        anyhow::ensure!(
            (1..=100).contains(&self.http.jpeg_quality),
            "http.jpeg_quality {} must be 1-100",
            self.http.jpeg_quality
        );
        let addr = self.http_addr()?;
        let auth = &self.http.auth;
        anyhow::ensure!(
            addr.ip().is_loopback() || !auth.username.is_empty() || auth.allow_anonymous,
            "http.addr {addr} is reachable from other machines, so the viewer needs \
             authentication: set http.auth.username and a password (or http.auth.allow_anonymous \
             = true behind an authenticating proxy)"
        );
        anyhow::ensure!(
            self.http.tls.cert.is_some() == self.http.tls.key.is_some(),
            "http.tls needs both cert and key"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = cfg.to_toml_redacted();
        assert!(!text.contains("hunter2"), "{text}");
        let back: CloudConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.kafka.properties["sasl.password"], "***");
    }

    #[test]
    fn file_then_overrides() {
        let dir = std::env::temp_dir().join(format!("pose-cloud-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cloud.toml");
        std::fs::write(
            &path,
            "[kafka]\nbrokers = \"k:9092\"\n[consume]\ngroup_id = \"g1\"\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(path),
            offset_reset: Some("earliest".into()),
            ..Default::default()
        };
        let cfg = CloudConfig::load(&o).unwrap();
        assert_eq!(cfg.kafka.brokers, "k:9092");
        assert_eq!(cfg.consume.group_id, "g1");
        assert_eq!(cfg.consume.offset_reset, "earliest");
        let bad = Overrides {
            offset_reset: Some("middle".into()),
            ..Default::default()
        };
        assert!(CloudConfig::load(&bad).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
