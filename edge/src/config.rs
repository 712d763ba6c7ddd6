//! The edge's configuration: built-in defaults, then a TOML file, then environment and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use pose_shared::CameraId;
use pose_shared::kafka::{KafkaSettings, parse_property};
use pose_shared::topics::Topics;
use serde::{Deserialize, Serialize};

/// Default Prometheus endpoint: loopback only; open it deliberately in the deployment.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Everything `pose-edge run` needs. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// This camera's id (the Kafka key). Default: the host name, made valid.
    pub camera_id: Option<String>,
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub source: SourceConfig,
    pub frames: FramesConfig,
    pub pose: PoseConfig,
    pub pipeline: PipelineConfig,
    pub publish: crate::publish::PublishConfig,
    pub gpio: crate::gpio::GpioConfig,
    /// Privacy mode: publish keypoints only; no image leaves the device.
    pub privacy: bool,
    /// Seconds between two status lines in the log.
    pub status_interval_s: u64,
    /// Address of the Prometheus endpoint (`/metrics`), or "off".
    pub metrics_addr: String,
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
            publish: crate::publish::PublishConfig::default(),
            gpio: crate::gpio::GpioConfig::default(),
            privacy: false,
            status_interval_s: 10,
            metrics_addr: DEFAULT_METRICS_ADDR.to_owned(),
        }
    }
}

/// Which frame source to use and its format.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// `synthetic` (a moving test pattern), `images` (the images of directory `path` as video
    /// frames), `video` (the video file `path`, any format ffmpeg reads), `v4l2` (`device`),
    /// `rpicam` (the Pi camera through the `rpicam-vid` app) or `libcamera` (the Pi camera,
    /// natively; builds with the `libcamera` feature).
    pub kind: String,
    /// Directory of images (`images`) or video file (`video`).
    pub path: Option<PathBuf>,
    /// Start again at the beginning after the end (`images`, `video`).
    #[serde(rename = "loop")]
    pub looped: bool,
    /// Play a video file at its own frame rate (false: as fast as it decodes).
    pub pace: bool,
    /// V4L2 device (`v4l2`).
    pub device: PathBuf,
    /// Camera index in libcamera's list (`libcamera`, `rpicam`; see `pose-edge sources`).
    pub camera: usize,
    /// The `rpicam-vid` program (`rpicam`): a name looked up in PATH, or a path.
    pub rpicam_program: PathBuf,
    /// libcamera pixel format: BGR888, RGB888, XBGR8888 or XRGB8888 (`libcamera`).
    pub pixel_format: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Stop after this many frames (0: run until stopped).
    pub max_frames: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: "synthetic".to_owned(),
            path: None,
            looped: false,
            pace: true,
            device: PathBuf::from("/dev/video0"),
            camera: 0,
            rpicam_program: PathBuf::from("rpicam-vid"),
            pixel_format: "BGR888".to_owned(),
            width: 640,
            height: 480,
            fps: 30.0,
            max_frames: 0,
        }
    }
}

/// The JPEGs published to the frames topic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FramesConfig {
    /// Width of the published JPEG in px (aspect kept, never upscaled).
    pub width: u32,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// Most JPEGs published per second (0: every captured frame).
    pub max_fps: f64,
}

impl Default for FramesConfig {
    fn default() -> Self {
        Self {
            width: 320,
            quality: 75,
            max_fps: 0.0,
        }
    }
}

/// Which frames go to inference. Whatever passes these, inference always takes the newest
/// frame; older ones that it had no time for are dropped and counted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Offer only every Nth captured frame to inference (1: every frame).
    pub infer_every: u32,
    /// At most this many inferences per second (0: as many as the CPU allows).
    pub infer_max_fps: f64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            infer_every: 1,
            infer_max_fps: 0.0,
        }
    }
}

/// Pose estimation: where the models and the LiteRT runtime are, and how many threads to use.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoseConfig {
    /// Directory with `pose_detection.tflite`, `pose_landmark_full.tflite` and `libLiteRt.so`
    /// (fetched by `models/fetch.sh`). Default: `./models`, else `models/` of the source tree the
    /// binary was built in.
    pub models_dir: Option<PathBuf>,
    /// The LiteRT runtime library, if not in `models_dir`.
    pub runtime_lib: Option<PathBuf>,
    /// Run pose estimation (false: publish frames and empty keypoint messages, no models needed).
    pub enabled: bool,
    /// XNNPACK threads per model. 2 leaves the other cores of a 4-core Pi to capture, JPEG
    /// encoding and Kafka (README "Pose estimation" has the measurements).
    pub threads: u32,
    // --- issue 15: model variants and several people (README "Several people") ---
    /// Landmark model: lite, full or heavy (MediaPipe's model_complexity 0, 1, 2).
    pub model: crate::pose::LandmarkModel,
    /// At most this many people per frame (1..=16), each tracked with its own id.
    pub max_people: usize,
    /// While 1..max_people-1 people are tracked, the detector looks for newcomers at most once
    /// per this many milliseconds (with nobody tracked it runs on every frame).
    pub detect_interval_ms: u64,
    // --- end issue 15 ---
}

impl Default for PoseConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            runtime_lib: None,
            threads: 2,
            model: crate::pose::LandmarkModel::Full,
            max_people: 2,
            detect_interval_ms: 500,
        }
    }
}

impl PoseConfig {
    /// The model and runtime paths this configuration names.
    pub fn model_paths(&self) -> crate::pose::ModelPaths {
        let dir = self.models_dir.clone().unwrap_or_else(default_models_dir);
        crate::pose::ModelPaths::with_model(&dir, self.runtime_lib.as_deref(), self.model)
    }

    /// How many people are followed and how often the detector looks for more.
    pub fn people(&self) -> crate::pose::PeopleOptions {
        crate::pose::PeopleOptions {
            max_people: self.max_people,
            detect_interval: std::time::Duration::from_millis(self.detect_interval_ms),
        }
    }
}

/// `./models` if it holds the detector, else `models/` of the source tree this binary was built
/// from (so `target/release/pose-edge` works from anywhere in a checkout), else `./models`.
fn default_models_dir() -> PathBuf {
    let cwd = PathBuf::from("models");
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    [cwd.clone(), built]
        .into_iter()
        .find(|d| d.join(crate::pose::DETECTOR_FILE).is_file())
        .unwrap_or(cwd)
}

/// Flags (and their environment variables) that override the file. Unset ones leave it alone.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// TOML configuration file (see `edge/pose-edge.example.toml`).
    #[arg(long, short, env = "POSE_EDGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Camera id (Kafka key): 1-64 of A-Z a-z 0-9 - _ . [default: host name]
    #[arg(long, env = "POSE_EDGE_CAMERA_ID", global = true)]
    pub camera_id: Option<String>,
    /// Seconds between status lines in the log [default: 10]
    #[arg(
        long = "status-interval",
        value_name = "SECONDS",
        env = "POSE_EDGE_STATUS_INTERVAL",
        global = true
    )]
    pub status_interval_s: Option<u64>,
    /// Kafka bootstrap servers, host:port[,host:port...] [default: 127.0.0.1:9092]
    #[arg(long, env = "POSE_EDGE_BROKERS", global = true)]
    pub brokers: Option<String>,
    /// Extra librdkafka property KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property, global = true)]
    pub kafka_properties: Vec<(String, String)>,
    /// Keypoints topic [default: pose.keypoints]
    #[arg(long, env = "POSE_EDGE_KEYPOINTS_TOPIC", global = true)]
    pub keypoints_topic: Option<String>,
    /// Frames topic [default: pose.frames]
    #[arg(long, env = "POSE_EDGE_FRAMES_TOPIC", global = true)]
    pub frames_topic: Option<String>,
    /// Frame source: synthetic, images, video, v4l2, rpicam or libcamera (see `pose-edge sources`) [default: synthetic]
    #[arg(long, env = "POSE_EDGE_SOURCE", global = true)]
    pub source: Option<String>,
    /// Image directory (--source images) or video file (--source video)
    #[arg(long, env = "POSE_EDGE_SOURCE_PATH", global = true)]
    pub source_path: Option<PathBuf>,
    /// Start the images or the video again at the end
    #[arg(long = "loop", env = "POSE_EDGE_LOOP", global = true)]
    pub looped: bool,
    /// Read a video file as fast as it decodes instead of at its frame rate
    #[arg(long, env = "POSE_EDGE_NO_PACE", global = true)]
    pub no_pace: bool,
    /// V4L2 device for --source v4l2 [default: /dev/video0]
    #[arg(long, env = "POSE_EDGE_DEVICE", global = true)]
    pub device: Option<PathBuf>,
    /// Source width in px [default: 640]
    #[arg(long, env = "POSE_EDGE_WIDTH", global = true)]
    pub width: Option<u32>,
    /// Source height in px [default: 480]
    #[arg(long, env = "POSE_EDGE_HEIGHT", global = true)]
    pub height: Option<u32>,
    /// Source frame rate [default: 30]
    #[arg(long, env = "POSE_EDGE_FPS", global = true)]
    pub fps: Option<f64>,
    /// Stop after N frames; 0 runs until stopped [default: 0]
    #[arg(long, env = "POSE_EDGE_MAX_FRAMES", global = true)]
    pub max_frames: Option<u64>,
    /// Width of published JPEGs in px [default: 320]
    #[arg(long, env = "POSE_EDGE_FRAME_WIDTH", global = true)]
    pub frame_width: Option<u32>,
    /// Most JPEGs published per second; 0 publishes every frame [default: 0]
    #[arg(long, env = "POSE_EDGE_JPEG_MAX_FPS", global = true)]
    pub jpeg_max_fps: Option<f64>,
    /// Offer every Nth frame to inference [default: 1]
    #[arg(long, env = "POSE_EDGE_INFER_EVERY", global = true)]
    pub infer_every: Option<u32>,
    /// At most this many inferences per second; 0 is unlimited [default: 0]
    #[arg(long, env = "POSE_EDGE_INFER_MAX_FPS", global = true)]
    pub infer_max_fps: Option<f64>,
    /// JPEG quality 1-100 [default: 75]
    #[arg(long, env = "POSE_EDGE_JPEG_QUALITY", global = true)]
    pub jpeg_quality: Option<u8>,
    /// Directory of the models and libLiteRt.so [default: ./models]
    #[arg(long, env = "POSE_EDGE_MODELS_DIR", global = true)]
    pub models_dir: Option<PathBuf>,
    /// The LiteRT runtime library [default: MODELS_DIR/libLiteRt.so]
    #[arg(long, env = "POSE_EDGE_LITERT_LIB", global = true)]
    pub litert_lib: Option<PathBuf>,
    /// Do not estimate poses (keypoint messages carry no poses; no models needed)
    #[arg(long, env = "POSE_EDGE_NO_POSE", global = true)]
    pub no_pose: bool,
    /// XNNPACK threads per model [default: 2]
    #[arg(long, env = "POSE_EDGE_THREADS", global = true)]
    pub threads: Option<u32>,
    // --- issue 15 ---
    /// Landmark model: lite (fastest), full or heavy (most accurate) [default: full]
    #[arg(long, env = "POSE_EDGE_MODEL", global = true, value_enum)]
    pub model: Option<crate::pose::LandmarkModel>,
    /// At most this many people per frame, 1..=16 [default: 2]
    #[arg(long, env = "POSE_EDGE_MAX_PEOPLE", global = true)]
    pub max_people: Option<usize>,
    /// While some but fewer than --max-people are tracked, look for newcomers at most every this many ms [default: 500]
    #[arg(long, env = "POSE_EDGE_DETECT_INTERVAL_MS", global = true)]
    pub detect_interval_ms: Option<u64>,
    // --- end issue 15 ---
    /// GPIO pin (BCM) of the status LED (build with --features gpio)
    #[arg(long, env = "POSE_EDGE_GPIO_LED_PIN", global = true)]
    pub gpio_led_pin: Option<u8>,
    /// GPIO pin (BCM) of the privacy button, wired to ground (build with --features gpio)
    #[arg(long, env = "POSE_EDGE_GPIO_BUTTON_PIN", global = true)]
    pub gpio_button_pin: Option<u8>,
    /// Prometheus endpoint address, or "off" [default: 127.0.0.1:9464]
    #[arg(long, env = "POSE_EDGE_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,
    /// Keypoint messages kept while the broker is away; more are dropped and counted [default: 20000]
    #[arg(long, env = "POSE_EDGE_KEYPOINT_BUFFER", global = true)]
    pub keypoint_buffer: Option<u32>,
    /// Privacy mode: publish keypoints only, never frames
    #[arg(long, env = "POSE_EDGE_PRIVACY", global = true)]
    pub privacy: bool,
}

impl EdgeConfig {
    /// Reads the file named by the overrides (if any), then applies the overrides and validates.
    pub fn load(o: &Overrides) -> anyhow::Result<Self> {
        let mut cfg = match &o.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        cfg.apply(o);
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML, with secret Kafka properties masked.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.kafka = self.kafka.without_secrets();
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}"))
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

    fn apply(&mut self, o: &Overrides) {
        fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *slot = v.clone();
            }
        }
        if o.camera_id.is_some() {
            self.camera_id = o.camera_id.clone();
        }
        set(&mut self.kafka.brokers, &o.brokers);
        self.kafka
            .properties
            .extend(o.kafka_properties.iter().cloned());
        set(&mut self.topics.keypoints, &o.keypoints_topic);
        set(&mut self.topics.frames, &o.frames_topic);
        set(&mut self.source.kind, &o.source);
        if o.source_path.is_some() {
            self.source.path = o.source_path.clone();
        }
        self.source.looped |= o.looped;
        self.source.pace &= !o.no_pace;
        if let Some(d) = &o.device {
            self.source.device = d.clone();
        }
        self.pose.enabled &= !o.no_pose;
        set(&mut self.source.width, &o.width);
        set(&mut self.source.height, &o.height);
        set(&mut self.source.fps, &o.fps);
        set(&mut self.source.max_frames, &o.max_frames);
        set(&mut self.frames.width, &o.frame_width);
        set(&mut self.frames.quality, &o.jpeg_quality);
        set(&mut self.frames.max_fps, &o.jpeg_max_fps);
        set(&mut self.pipeline.infer_every, &o.infer_every);
        set(&mut self.pipeline.infer_max_fps, &o.infer_max_fps);
        set(&mut self.publish.keypoint_buffer, &o.keypoint_buffer);
        if o.models_dir.is_some() {
            self.pose.models_dir = o.models_dir.clone();
        }
        if o.litert_lib.is_some() {
            self.pose.runtime_lib = o.litert_lib.clone();
        }
        set(&mut self.pose.threads, &o.threads);
        set(&mut self.pose.model, &o.model);
        set(&mut self.pose.max_people, &o.max_people);
        set(&mut self.pose.detect_interval_ms, &o.detect_interval_ms);
        self.privacy |= o.privacy;
        set(&mut self.metrics_addr, &o.metrics_addr);
        if o.gpio_led_pin.is_some() {
            self.gpio.led_pin = o.gpio_led_pin;
        }
        if o.gpio_button_pin.is_some() {
            self.gpio.button_pin = o.gpio_button_pin;
        }
        set(&mut self.status_interval_s, &o.status_interval_s);
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.camera_id()?;
        self.metrics_addr()?;
        anyhow::ensure!(
            !self.kafka.brokers.trim().is_empty(),
            "kafka.brokers is empty"
        );
        anyhow::ensure!(
            !self.topics.keypoints.is_empty() && !self.topics.frames.is_empty(),
            "topic names must not be empty"
        );
        anyhow::ensure!(
            (1..=100).contains(&self.frames.quality),
            "frames.quality {} is not in 1..=100",
            self.frames.quality
        );
        anyhow::ensure!(
            (1..=16).contains(&self.pose.max_people),
            "pose.max_people {} is not in 1..=16",
            self.pose.max_people
        );
        anyhow::ensure!(
            self.frames.width >= 16,
            "frames.width {} is below 16",
            self.frames.width
        );
        Ok(())
    }

    /// The metrics endpoint's address; `None` when it is "off".
    pub fn metrics_addr(&self) -> anyhow::Result<Option<std::net::SocketAddr>> {
        match self.metrics_addr.trim() {
            "off" | "" => Ok(None),
            a => a
                .parse()
                .map(Some)
                .with_context(|| format!("metrics_addr {a:?} is not host:port or \"off\"")),
        }
    }

    /// The configured camera id, or one made from the host name.
    pub fn camera_id(&self) -> anyhow::Result<CameraId> {
        match &self.camera_id {
            Some(id) => CameraId::new(id.clone()).with_context(|| format!("camera id {id:?}")),
            None => Ok(host_camera_id()),
        }
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
    use super::*;

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
        let back: EdgeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.kafka.properties["sasl.password"], "***");
    }

    #[test]
    fn file_then_overrides() {
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
[frames]
quality = 60
"#,
        )
        .unwrap();
        let o = Overrides {
            config: Some(path),
            camera_id: Some("from-flag".into()),
            kafka_properties: vec![("sasl.mechanism".into(), "SCRAM-SHA-512".into())],
            frame_width: Some(160),
            ..Default::default()
        };
        let cfg = EdgeConfig::load(&o).unwrap();
        assert_eq!(cfg.camera_id().unwrap().as_str(), "from-flag");
        assert_eq!(cfg.kafka.brokers, "kafka:9092");
        assert_eq!(cfg.kafka.properties.len(), 2);
        assert_eq!(cfg.source.fps, 15.0);
        assert_eq!((cfg.frames.width, cfg.frames.quality), (160, 60));
        assert_eq!(cfg.topics, Topics::default());
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "camra_id = \"x\"\n").unwrap();
        let err = EdgeConfig::load(&Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `camra_id`"),
            "{err:#}"
        );
        let err = EdgeConfig::load(&Overrides {
            camera_id: Some("a b".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("camera id"), "{err:#}");
        let err = EdgeConfig::load(&Overrides {
            jpeg_quality: Some(0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("quality"));
    }

    #[test]
    fn host_name_is_a_valid_camera_id() {
        assert!(CameraId::validate(host_camera_id().as_str()).is_ok());
    }
}
