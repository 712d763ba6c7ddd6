//! Frame sources: where the edge's frames come from. One module per kind of source.

pub mod ffmpeg;
pub mod images;
#[cfg(feature = "libcamera")]
pub mod libcamera;
pub mod open;
pub mod pace;
pub mod pixel;
pub mod rpicam;
pub mod synthetic;

use std::fmt;
use std::path::PathBuf;

use pose_shared::settings::{is_false, negated};
use serde::{Deserialize, Serialize};

pub use open::open;
pub use pixel::CameraFormat;

/// The kinds of frame source (`[source] kind`, `--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A moving test pattern.
    Synthetic,
    /// The images of directory `path` as video frames.
    Images,
    /// The video file `path`, any format ffmpeg reads.
    Video,
    /// A V4L2 device (`device`), through ffmpeg.
    V4l2,
    /// The Pi camera through the `rpicam-vid` app.
    Rpicam,
    /// The Pi camera natively (builds with the `libcamera` feature).
    Libcamera,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Synthetic => "synthetic",
            Self::Images => "images",
            Self::Video => "video",
            Self::V4l2 => "v4l2",
            Self::Rpicam => "rpicam",
            Self::Libcamera => "libcamera",
        };
        f.write_str(name)
    }
}

/// Which frame source to use and its format (`[source]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
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
    /// libcamera pixel format (`libcamera`).
    pub pixel_format: CameraFormat,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Stop after this many frames (0: run until stopped).
    pub max_frames: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Synthetic,
            path: None,
            looped: false,
            pace: true,
            device: PathBuf::from("/dev/video0"),
            camera: 0,
            rpicam_program: PathBuf::from("rpicam-vid"),
            pixel_format: CameraFormat::Bgr888,
            width: 640,
            height: 480,
            fps: 30.0,
            max_frames: 0,
        }
    }
}

/// `[source]` from the command line (unset flags leave the file's values).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct SourceFlags {
    /// Frame source (see `pose-edge sources`) [default: synthetic]
    #[arg(long = "source", global = true)]
    pub kind: Option<SourceKind>,
    /// Image directory (--source images) or video file (--source video)
    #[arg(long = "source-path", global = true)]
    pub path: Option<PathBuf>,
    /// Start the images or the video again at the end
    #[arg(long = "loop", global = true)]
    #[serde(rename = "loop", skip_serializing_if = "is_false")]
    pub looped: bool,
    /// Read a video file as fast as it decodes instead of at its frame rate
    #[arg(long = "no-pace", global = true)]
    #[serde(
        rename = "pace",
        serialize_with = "negated",
        skip_serializing_if = "is_false"
    )]
    pub no_pace: bool,
    /// V4L2 device for --source v4l2 [default: /dev/video0]
    #[arg(long, global = true)]
    pub device: Option<PathBuf>,
    /// Source width in px [default: 640]
    #[arg(long, global = true)]
    pub width: Option<u32>,
    /// Source height in px [default: 480]
    #[arg(long, global = true)]
    pub height: Option<u32>,
    /// Source frame rate [default: 30]
    #[arg(long, global = true)]
    pub fps: Option<f64>,
    /// Stop after N frames; 0 runs until stopped [default: 0]
    #[arg(long = "max-frames", global = true)]
    pub max_frames: Option<u64>,
}

/// One captured frame, RGB8, row-major, no padding.
pub struct Frame {
    /// +1 per captured frame since the source started.
    pub seq: u64,
    /// Capture time, µs since the Unix epoch (see `shared/WIRE.md`, "Clocks and time").
    pub capture_ts_us: u64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A frame captured now (the capture timestamp is taken here, on this machine's clock).
    pub fn captured_now(seq: u64, width: u32, height: u32, rgb: Vec<u8>) -> Self {
        Self {
            seq,
            capture_ts_us: pose_shared::time::now_us(),
            width,
            height,
            rgb,
        }
    }
}

impl fmt::Debug for Frame {
    // Pixel data never goes to logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("seq", &self.seq)
            .field("capture_ts_us", &self.capture_ts_us)
            .field("size", &format_args!("{}x{}", self.width, self.height))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid source settings: {0}")]
    Config(String),
}

/// A source of frames. `next_frame` blocks until the next frame is due and returns `None` when
/// the source has ended.
pub trait Source: Send {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// One line for logs: what the source is and its format.
    fn describe(&self) -> String;
}
