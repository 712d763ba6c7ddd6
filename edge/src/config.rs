//! The edge's configuration: the sections of `pose-edge.example.toml`, each defined next to the
//! stage it configures, and the flags for a quick run. Layering (defaults → file → environment →
//! flags) is `pose_shared::settings`'s, shared with the cloud.

use std::path::PathBuf;

use pose_shared::CameraId;
use pose_shared::kafka::KafkaSettings;
use pose_shared::settings::{CommonFlags, Endpoint, Settings, is_false};
use pose_shared::topics::Topics;
use serde::{Deserialize, Serialize};

use crate::gates::{PipelineConfig, PipelineFlags};
use crate::gpio::{GpioConfig, GpioFlags};
use crate::jpeg::{FramesConfig, FramesFlags};
use crate::pose::config::{PoseConfig, PoseFlags};
use crate::publish::{PublishConfig, PublishFlags};
use crate::source::{SourceConfig, SourceFlags};

/// Everything `pose-edge run` needs. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// This camera's id (the Kafka key). Default: the host name, made valid.
    pub camera_id: Option<CameraId>,
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub source: SourceConfig,
    pub frames: FramesConfig,
    pub pose: PoseConfig,
    pub pipeline: PipelineConfig,
    pub publish: PublishConfig,
    pub gpio: GpioConfig,
    /// Privacy mode: publish keypoints only; no image leaves the device.
    pub privacy: bool,
    /// Seconds between two status lines in the log.
    pub status_interval_s: u64,
    /// Address of the Prometheus endpoint (`/metrics`), or "off".
    pub metrics_addr: Endpoint,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            camera_id: None,
            kafka: KafkaSettings::default(),
            topics: Topics::default(),
            source: SourceConfig::default(),
            frames: FramesConfig::default(),
            pose: PoseConfig::default(),
            pipeline: PipelineConfig::default(),
            publish: PublishConfig::default(),
            gpio: GpioConfig::default(),
            privacy: false,
            status_interval_s: 10,
            // Loopback only; open it deliberately in the deployment.
            metrics_addr: Endpoint::At(([127, 0, 0, 1], 9464).into()),
        }
    }
}

/// The command line's settings: the file, and the flags for a quick run (each also read from
/// `POSE_EDGE_<FLAG>`). Unset flags leave the file alone.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct EdgeFlags {
    /// TOML configuration file (see `edge/pose-edge.example.toml`).
    #[arg(long, short, global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Camera id (Kafka key): 1-64 of A-Z a-z 0-9 - _ . [default: host name]
    #[arg(long = "camera-id", global = true)]
    pub camera_id: Option<CameraId>,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonFlags,
    #[command(flatten)]
    pub source: SourceFlags,
    #[command(flatten)]
    pub frames: FramesFlags,
    #[command(flatten)]
    pub pipeline: PipelineFlags,
    #[command(flatten)]
    pub pose: PoseFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
    #[command(flatten)]
    pub gpio: GpioFlags,
    /// Prometheus endpoint address, or "off" [default: 127.0.0.1:9464]
    #[arg(long = "metrics-addr", global = true)]
    pub metrics_addr: Option<Endpoint>,
    /// Privacy mode: publish keypoints only, never frames
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "is_false")]
    pub privacy: bool,
}

impl Settings for EdgeConfig {
    const ENV_PREFIX: &'static str = "POSE_EDGE";

    fn check(&self) -> Result<(), String> {
        if self.kafka.brokers.trim().is_empty() {
            return Err("kafka.brokers is empty".into());
        }
        if self.topics.keypoints.is_empty() || self.topics.frames.is_empty() {
            return Err("topic names must not be empty".into());
        }
        if !(1..=100).contains(&self.frames.quality) {
            return Err(format!(
                "frames.quality {} is not in 1..=100",
                self.frames.quality
            ));
        }
        if self.frames.width < 16 {
            return Err(format!("frames.width {} is below 16", self.frames.width));
        }
        Ok(())
    }

    fn redacted(&self) -> Self {
        Self {
            kafka: self.kafka.without_secrets(),
            ..self.clone()
        }
    }
}

impl EdgeConfig {
    /// Defaults, then the file named by `--config`, then the environment, then the flags.
    pub fn load_with(flags: &EdgeFlags) -> Result<Self, pose_shared::settings::SettingsError> {
        Self::load(flags.config.as_deref(), flags)
    }

    /// The configured camera id, or one made from the host name.
    pub fn camera_id(&self) -> CameraId {
        self.camera_id.clone().unwrap_or_else(host_camera_id)
    }
}

/// The host name with every character outside the camera-id set replaced by `-`.
fn host_camera_id() -> CameraId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(pose_shared::camera::MAX_CAMERA_ID_LEN)
        .collect();
    CameraId::new(clean).unwrap_or_else(|_| CameraId::new("camera").expect("literal is valid"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: EdgeFlags,
    }

    fn flags(args: &[&str]) -> EdgeFlags {
        let cmd = pose_shared::settings::env_for_flags(Cli::command(), "POSE_EDGE_TEST_UNSET");
        Cli::from_arg_matches(&cmd.try_get_matches_from(args).unwrap())
            .unwrap()
            .flags
    }

    #[test]
    fn example_file_is_valid_and_holds_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pose-edge.example.toml");
        assert_eq!(EdgeConfig::from_file(&path).unwrap(), EdgeConfig::default());
    }

    #[test]
    fn printed_config_masks_secrets_and_reads_back() {
        let mut cfg = EdgeConfig::default();
        cfg.kafka
            .properties
            .insert("sasl.password".into(), "hunter2".into());
        let text = cfg.to_toml_redacted();
        assert!(!text.contains("hunter2"), "{text}");
        let back = EdgeConfig::parse(&text).unwrap();
        assert_eq!(back.kafka.properties["sasl.password"], "***");
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(
            &path,
            r#"
camera_id = "from-file"
privacy = false
[kafka]
brokers = "kafka:9092"
[kafka.properties]
"security.protocol" = "SASL_SSL"
[source]
fps = 15
pace = true
[frames]
quality = 60
"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let f = flags(&[
            "x",
            "-c",
            p,
            "--camera-id",
            "from-flag",
            "--kafka-property",
            "sasl.mechanism=SCRAM-SHA-512",
            "--frame-width",
            "160",
            "--no-pace",
            "--source",
            "video",
            "--no-pose",
            "--metrics-addr",
            "off",
        ]);
        let cfg = EdgeConfig::load_with(&f).unwrap();
        assert_eq!(cfg.camera_id().as_str(), "from-flag");
        assert_eq!(cfg.kafka.brokers, "kafka:9092");
        assert_eq!(cfg.kafka.properties.len(), 2);
        assert_eq!(cfg.source.fps, 15.0);
        assert!(!cfg.source.pace && !cfg.pose.enabled);
        assert_eq!(cfg.source.kind, crate::source::SourceKind::Video);
        assert_eq!((cfg.frames.width, cfg.frames.quality), (160, 60));
        assert_eq!(cfg.metrics_addr, Endpoint::Off);
        assert_eq!(cfg.topics, Topics::default());
        // Unset switches leave the file's values alone.
        let cfg = EdgeConfig::load_with(&flags(&["x", "-c", p])).unwrap();
        assert!(cfg.source.pace && cfg.pose.enabled);
        assert_eq!(cfg.camera_id().as_str(), "from-file");
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "camra_id = \"x\"\n").unwrap();
        let err = EdgeConfig::load_with(&flags(&["x", "-c", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("camra_id"), "{err:#}");
        std::fs::write(&path, "camera_id = \"a b\"\n").unwrap();
        let err = EdgeConfig::load_with(&flags(&["x", "-c", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("camera id"), "{err:#}");
        std::fs::write(&path, "[source]\nkind = \"webcam\"\n").unwrap();
        let err = EdgeConfig::load_with(&flags(&["x", "-c", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("webcam"), "{err:#}");
        std::fs::write(&path, "[frames]\nquality = 0\n").unwrap();
        let err = EdgeConfig::load_with(&flags(&["x", "-c", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("quality"), "{err:#}");
        assert!(Cli::try_parse_from(["x", "--camera-id", "a b"]).is_err());
        assert!(Cli::try_parse_from(["x", "--jpeg-quality", "0"]).is_err());
    }

    #[test]
    fn host_name_is_a_valid_camera_id() {
        assert!(CameraId::validate(host_camera_id().as_str()).is_ok());
    }
}
