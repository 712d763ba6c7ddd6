//! Downsamples a frame and encodes it as JPEG, once per published frame (libjpeg-turbo).

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
    Encode(#[from] turbojpeg::Error),
    #[error("downscaling failed: {0}")]
    Resize(String),
}

/// The capture stage's JPEG step: downscale to `frames.width` (SIMD, bilinear), encode with
/// libjpeg-turbo. About 8-14× the image crate's resize and encoder on this machine
/// (`cargo run --release -p pose-edge --example jpeg_bench`; README "JPEG encoding"), which
/// matters on a Pi where the JPEGs compete with inference for the CPU.
pub struct JpegStage {
    target_width: u32,
    downscaler: Downscaler,
    turbo: Turbo,
}

impl JpegStage {
    /// A stage producing JPEGs `target_width` wide (aspect kept, never upscaled) at `quality`.
    pub fn new(target_width: u32, quality: u8) -> Result<Self, JpegError> {
        Ok(Self {
            target_width,
            downscaler: Downscaler::default(),
            turbo: Turbo::new(quality)?,
        })
    }

    /// Encodes `frame`; returns the bytes and the encoded size.
    pub fn encode(&mut self, frame: &Frame) -> Result<(Vec<u8>, u32, u32), JpegError> {
        let want = frame.width as usize * frame.height as usize * 3;
        if frame.rgb.len() != want {
            return Err(JpegError::BadBuffer {
                width: frame.width,
                height: frame.height,
                got: frame.rgb.len(),
                want,
            });
        }
        let (w, h) = scaled_size(frame.width, frame.height, self.target_width);
        let bytes = if (w, h) == (frame.width, frame.height) {
            self.turbo.encode(&frame.rgb, w, h)?
        } else {
            let small = self
                .downscaler
                .scale(&frame.rgb, (frame.width, frame.height), (w, h))?;
            self.turbo.encode(small, w, h)?
        };
        Ok((bytes, w, h))
    }
}

/// Encodes one frame with a stage made for it (tests and tools; the pipeline keeps its stage).
pub fn encode(
    frame: &Frame,
    target_width: u32,
    quality: u8,
) -> Result<(Vec<u8>, u32, u32), JpegError> {
    JpegStage::new(target_width, quality)?.encode(frame)
}

/// A libjpeg-turbo compressor at one quality, 4:2:0 chroma (what cameras and browsers expect of a
/// photo); reused across frames by the thread that owns it.
pub struct Turbo {
    compressor: turbojpeg::Compressor,
}

impl Turbo {
    pub fn new(quality: u8) -> Result<Self, turbojpeg::Error> {
        let mut compressor = turbojpeg::Compressor::new()?;
        compressor.set_quality(i32::from(quality.clamp(1, 100)))?;
        compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2)?;
        Ok(Self { compressor })
    }

    /// Encodes packed RGB pixels.
    pub fn encode(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, turbojpeg::Error> {
        self.compressor.compress_to_vec(turbojpeg::Image {
            pixels: rgb,
            width: width as usize,
            pitch: width as usize * 3,
            height: height as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
    }
}

/// Downscales packed RGB frames with a bilinear (triangle) filter, the image crate's
/// `FilterType::Triangle`, in SIMD.
pub struct Downscaler {
    resizer: fast_image_resize::Resizer,
    options: fast_image_resize::ResizeOptions,
    /// The scaled frame, reused from frame to frame (no allocation per frame).
    out: Vec<u8>,
}

impl Default for Downscaler {
    fn default() -> Self {
        use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions};
        Self {
            resizer: fast_image_resize::Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            out: Vec::new(),
        }
    }
}

impl Downscaler {
    /// `rgb` (`width`×`height`) scaled to `to_width`×`to_height`.
    pub fn scale(
        &mut self,
        rgb: &[u8],
        (width, height): (u32, u32),
        (to_width, to_height): (u32, u32),
    ) -> Result<&[u8], JpegError> {
        use fast_image_resize::PixelType;
        use fast_image_resize::images::{Image, ImageRef};
        let src = ImageRef::new(width, height, rgb, PixelType::U8x3)
            .map_err(|e| JpegError::Resize(e.to_string()))?;
        self.out
            .resize(to_width as usize * to_height as usize * 3, 0);
        let mut dst = Image::from_slice_u8(to_width, to_height, &mut self.out, PixelType::U8x3)
            .map_err(|e| JpegError::Resize(e.to_string()))?;
        self.resizer
            .resize(&src, &mut dst, &self.options)
            .map_err(|e| JpegError::Resize(e.to_string()))?;
        Ok(&self.out)
    }
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
        let mut stage = JpegStage::new(32, 75).unwrap();
        let (bytes, w, h) = stage.encode(&frame).unwrap();
        assert_eq!((w, h), (32, 24));
        assert!(pose_shared::frame::check_jpeg(&bytes).is_ok());
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (32, 24));
        let bad = Frame {
            rgb: vec![0; 10],
            ..frame
        };
        assert!(matches!(
            stage.encode(&bad),
            Err(JpegError::BadBuffer { .. })
        ));
    }
}
