//! Downsamples a frame and encodes it as JPEG, once per published frame.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{ExtendedColorType, ImageBuffer, Rgb};

use serde::{Deserialize, Serialize};

use crate::source::Frame;

/// The JPEGs published to the frames topic (`[frames]`).
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

/// `[frames]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct FramesFlags {
    /// Width of published JPEGs in px [default: 320]
    #[arg(id = "frame_width", long = "frame-width", global = true)]
    pub width: Option<u32>,
    /// Most JPEGs published per second; 0 publishes every frame [default: 0]
    #[arg(id = "jpeg_max_fps", long = "jpeg-max-fps", global = true)]
    pub max_fps: Option<f64>,
    /// JPEG quality 1-100 [default: 75]
    #[arg(id = "jpeg_quality", long = "jpeg-quality", global = true, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("frame buffer is {got} bytes; {width}x{height} RGB needs {want}")]
    BadBuffer {
        width: u32,
        height: u32,
        got: usize,
        want: usize,
    },
    #[error("JPEG encoding failed: {0}")]
    Encode(#[from] image::ImageError),
}

/// Encodes `frame` as JPEG at `target_width` (keeping the aspect ratio; never upscaled) and
/// `quality` (1-100). Returns the bytes and the encoded size.
pub fn encode(
    frame: &Frame,
    target_width: u32,
    quality: u8,
) -> Result<(Vec<u8>, u32, u32), JpegError> {
    let want = frame.width as usize * frame.height as usize * 3;
    if frame.rgb.len() != want {
        return Err(JpegError::BadBuffer {
            width: frame.width,
            height: frame.height,
            got: frame.rgb.len(),
            want,
        });
    }
    let mut out = Vec::with_capacity(32 * 1024);
    let mut enc = JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    let (w, h) = scaled_size(frame.width, frame.height, target_width);
    if (w, h) == (frame.width, frame.height) {
        enc.encode(&frame.rgb, w, h, ExtendedColorType::Rgb8)?;
    } else {
        let src: ImageBuffer<Rgb<u8>, &[u8]> =
            ImageBuffer::from_raw(frame.width, frame.height, frame.rgb.as_slice()).ok_or(
                JpegError::BadBuffer {
                    width: frame.width,
                    height: frame.height,
                    got: frame.rgb.len(),
                    want,
                },
            )?;
        let small = image::imageops::resize(&src, w, h, FilterType::Triangle);
        enc.encode(small.as_raw(), w, h, ExtendedColorType::Rgb8)?;
    }
    Ok((out, w, h))
}

/// The size of a `width`×`height` image scaled to `target_width`, aspect kept, never upscaled,
/// at least 1×1.
pub fn scaled_size(width: u32, height: u32, target_width: u32) -> (u32, u32) {
    if target_width == 0 || target_width >= width {
        return (width, height);
    }
    let h = (u64::from(height) * u64::from(target_width) + u64::from(width) / 2) / u64::from(width);
    (target_width, (h as u32).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        assert_eq!(scaled_size(640, 480, 320), (320, 240));
        assert_eq!(scaled_size(1920, 1080, 320), (320, 180));
        assert_eq!(scaled_size(200, 100, 320), (200, 100));
        assert_eq!(scaled_size(1000, 1, 10), (10, 1));
    }

    #[test]
    fn encodes_a_decodable_jpeg_at_the_target_size() {
        let frame = Frame {
            seq: 0,
            capture_ts_us: 0,
            width: 64,
            height: 48,
            rgb: vec![128; 64 * 48 * 3],
        };
        let (bytes, w, h) = encode(&frame, 32, 75).unwrap();
        assert_eq!((w, h), (32, 24));
        assert!(pose_shared::frame::check_jpeg(&bytes).is_ok());
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (32, 24));
        let bad = Frame {
            rgb: vec![0; 10],
            ..frame
        };
        assert!(matches!(
            encode(&bad, 32, 75),
            Err(JpegError::BadBuffer { .. })
        ));
    }
}
