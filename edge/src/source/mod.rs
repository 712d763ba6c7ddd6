//! Frame sources: where the edge's frames come from. One module per kind of source.

pub mod ffmpeg;
pub mod images;
#[cfg(feature = "libcamera")]
pub mod libcamera;
pub mod pace;
pub mod pixel;
pub mod rpicam;
pub mod synthetic;

use std::fmt;

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
