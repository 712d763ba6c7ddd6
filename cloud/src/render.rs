//! Draws one joined result as a JPEG: the frame (or a blank canvas for a privacy camera), the
//! skeletons (a palette and a track id label per person), and an overlay with the camera id, fps and end-to-end latency. Done once per camera
//! and frame, whatever the number of viewers.
//!
//! Codecs (measured by `examples/render_bench.rs`, README "Cloud service"): frames from the edge
//! are decoded by the `image` crate (zune-jpeg: memory-safe Rust, fuzzed here, for bytes that come
//! from devices in the field); drawn frames are encoded by libjpeg-turbo (the `turbojpeg` crate,
//! built from source and linked statically), about 7× as fast as the `image` crate's encoder,
//! which was most of the time of a frame. libjpeg-turbo would also decode about 1.5× as fast; the
//! decoder stays in Rust for the ~10 % that would gain.

use std::cell::RefCell;

use image::ImageFormat;
use pose_shared::draw::{Canvas, draw_person};
use pose_shared::font::{draw_text, text_size};

use crate::join::Joined;

/// Width of the blank canvas a privacy camera's skeleton is drawn on.
pub const PRIVACY_WIDTH: u32 = 320;
const PRIVACY_BACKGROUND: [u8; 3] = [24, 26, 30];

/// Numbers shown on the overlay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlay {
    pub fps: f64,
    /// Capture (edge clock) to now (cloud clock).
    pub latency_ms: f64,
}

/// A drawn frame, JPEG-encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub seq: u64,
    pub capture_ts_us: u64,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("frame is not a decodable JPEG: {0}")]
    Decode(image::ImageError),
    #[error("the JPEG is larger than its headers say ({width}x{height}): {source}")]
    LargerThanHeaders {
        width: u32,
        height: u32,
        source: image::ImageError,
    },
    #[error("JPEG encoding failed: {0}")]
    Encode(turbojpeg::Error),
    #[error("nothing to draw (no frame and no keypoints)")]
    Empty,
}

impl RenderError {
    /// A short stable name, the `reason` label of `pose_cloud_render_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Decode(_) => "not_decodable",
            Self::LargerThanHeaders { .. } => "larger_than_headers",
            Self::Encode(_) => "encode",
            Self::Empty => "empty",
        }
    }
}

thread_local! {
    // One encoder per thread (render threads are pooled), created on first use.
    static COMPRESSOR: RefCell<Option<(turbojpeg::Compressor, i32)>> = const { RefCell::new(None) };
}

/// Decodes a frame's JPEG to RGB, refusing images larger than the frame's headers declare (the
/// headers are bounded by the wire format), so a tiny file cannot ask for gigabytes.
fn decode_rgb(jpeg: &[u8], width: u32, height: u32) -> Result<image::RgbImage, RenderError> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(jpeg), ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // RGB plus the decoder's own buffers.
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 8 + (1 << 20));
    reader.limits(limits);
    match reader.decode() {
        Ok(img) => Ok(img.into_rgb8()),
        Err(source @ image::ImageError::Limits(_)) => Err(RenderError::LargerThanHeaders {
            width,
            height,
            source,
        }),
        Err(e) => Err(RenderError::Decode(e)),
    }
}

/// Encodes RGB pixels as a baseline JPEG at `quality` (1-100), without chroma subsampling: the
/// skeleton's lines are 1-2 px wide and keep their colours only at full chroma resolution.
pub fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<Vec<u8>, RenderError> {
    let quality = i32::from(quality.clamp(1, 100));
    COMPRESSOR.with_borrow_mut(|slot| {
        let c = match slot {
            Some((c, q)) if *q == quality => c,
            _ => {
                let mut c = turbojpeg::Compressor::new().map_err(RenderError::Encode)?;
                c.set_quality(quality).map_err(RenderError::Encode)?;
                c.set_subsamp(turbojpeg::Subsamp::None)
                    .map_err(RenderError::Encode)?;
                &mut slot.insert((c, quality)).0
            }
        };
        c.compress_to_vec(turbojpeg::Image {
            pixels: rgb,
            width: width as usize,
            pitch: width as usize * 3,
            height: height as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
        .map_err(RenderError::Encode)
    })
}

/// Draws `j` with `overlay` and encodes it at `quality`.
pub fn render(j: &Joined, overlay: Overlay, quality: u8) -> Result<Rendered, RenderError> {
    let caption = format!(
        "{} {:.0} FPS {:.0} MS",
        j.camera_id, overlay.fps, overlay.latency_ms
    );
    draw(j, &caption, quality)
}

/// Draws `j` with `caption` on the overlay (then STALE or PRIVACY when they apply) and encodes
/// it at `quality`: the live view's drawing, also used by replays and exports.
pub fn draw(j: &Joined, caption: &str, quality: u8) -> Result<Rendered, RenderError> {
    let (width, height, mut rgb) = match (&j.frame, &j.keypoints) {
        (Some(f), _) => {
            let img = decode_rgb(&f.jpeg, f.meta.width, f.meta.height)?;
            let (w, h) = img.dimensions();
            (w, h, img.into_raw())
        }
        (None, Some(k)) => {
            let w = PRIVACY_WIDTH;
            let h = if k.width > 0 {
                (u64::from(k.height) * u64::from(w) / u64::from(k.width)).clamp(16, 4096) as u32
            } else {
                240
            };
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            for px in rgb.chunks_exact_mut(3) {
                px.copy_from_slice(&PRIVACY_BACKGROUND);
            }
            (w, h, rgb)
        }
        (None, None) => return Err(RenderError::Empty),
    };
    if let Some(mut canvas) = Canvas::new(width, height, &mut rgb) {
        if let Some(k) = &j.keypoints {
            // Each person in colours of its own, its track id above the head.
            for pose in &k.poses {
                draw_person(&mut canvas, pose);
            }
        }
        // 2 font pixels per image pixel at 320 wide, scaled with the frame, at least 1.
        let scale = (width / 160).max(1);
        let mut text = caption.to_owned();
        if j.stale {
            text.push_str(" STALE");
        }
        if j.frame.is_none() {
            text.push_str(" PRIVACY");
        }
        let (tw, th) = text_size(&text, scale);
        canvas.fill_rect(0, 0, i64::from(tw) + 4, i64::from(th) + 2, [0, 0, 0]);
        draw_text(&mut canvas, 2, 2, &text, scale, [255, 255, 255]);
    }
    let jpeg = encode_rgb(&rgb, width, height, quality)?;
    Ok(Rendered {
        seq: j.seq,
        capture_ts_us: j.capture_ts_us,
        width,
        height,
        jpeg,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pose_shared::draw::{DEFAULT_PALETTE, person_palette};
    use pose_shared::frame::FrameMeta;
    use pose_shared::{CameraId, KeypointMessage};

    use super::*;
    use crate::consume::FrameMessage;

    fn keypoints() -> KeypointMessage {
        pose_shared::fixtures::keypoint_message("cam-r", 7, 1)
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        // Made by the image crate's encoder: the renderer reads any baseline JPEG.
        let mut out = Vec::new();
        let rgb = vec![90u8; (w * h * 3) as usize];
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn joined(frame: Option<Vec<u8>>, k: Option<KeypointMessage>) -> Joined {
        Joined {
            camera_id: CameraId::new("cam-r").unwrap(),
            run: 1,
            seq: 7,
            capture_ts_us: 1,
            frame: frame.map(|jpeg| {
                Arc::new(FrameMessage {
                    meta: FrameMeta {
                        camera_id: CameraId::new("cam-r").unwrap(),
                        run: 1,
                        seq: 7,
                        capture_ts_us: 1,
                        width: 320,
                        height: 240,
                    },
                    jpeg,
                })
            }),
            keypoints: k.map(Arc::new),
            stale: false,
        }
    }

    fn count_near(rgb: &[u8], col: [u8; 3]) -> usize {
        rgb.chunks(3)
            .filter(|p| p.iter().zip(col).all(|(&a, b)| a.abs_diff(b) <= 40))
            .count()
    }

    #[test]
    fn draws_the_skeleton_in_both_colours_on_the_frame() {
        let overlay = Overlay {
            fps: 30.0,
            latency_ms: 42.0,
        };
        let r = render(
            &joined(Some(jpeg(320, 240)), Some(keypoints())),
            overlay,
            90,
        )
        .unwrap();
        assert_eq!((r.width, r.height, r.seq), (320, 240, 7));
        let img = image::load_from_memory(&r.jpeg).unwrap().into_rgb8();
        assert!(
            count_near(img.as_raw(), DEFAULT_PALETTE.left) > 30,
            "left side drawn"
        );
        assert!(
            count_near(img.as_raw(), DEFAULT_PALETTE.right) > 30,
            "right side drawn"
        );
        assert!(
            count_near(img.as_raw(), [255, 255, 255]) > 30,
            "overlay text drawn"
        );
    }

    #[test]
    fn each_person_is_drawn_in_its_own_colours_with_its_track_id() {
        // Two people side by side: track 1 on the left half, track 3 on the right half.
        let mut k = keypoints();
        let mut second = k.poses[0].clone();
        for lm in &mut k.poses[0].landmarks {
            lm.x *= 0.5;
        }
        for lm in &mut second.landmarks {
            lm.x = 0.5 + lm.x * 0.5;
        }
        second.track_id = 3;
        k.poses.push(second);
        let r = render(
            &joined(Some(jpeg(320, 240)), Some(k)),
            Overlay {
                fps: 0.0,
                latency_ms: 0.0,
            },
            95,
        )
        .unwrap();
        let img = image::load_from_memory(&r.jpeg).unwrap().into_rgb8();
        let (w, h) = img.dimensions();
        let half = |right: bool| -> Vec<u8> {
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, _)| (x >= w / 2) == right)
                .flat_map(|(x, y)| img.get_pixel(x, y).0)
                .collect()
        };
        let (left_half, right_half) = (half(false), half(true));
        let three = person_palette(3);
        assert_ne!(three, DEFAULT_PALETTE);
        for (side, colour) in [("left", three.left), ("right", three.right)] {
            assert!(
                count_near(&right_half, colour) > 30,
                "track 3's {side} side is drawn in its colour"
            );
            assert!(
                count_near(&left_half, colour) < 5,
                "track 1 is not drawn in track 3's {side} colour"
            );
        }
        assert!(count_near(&left_half, DEFAULT_PALETTE.left) > 30);
        assert!(count_near(&right_half, DEFAULT_PALETTE.left) < 5);
        // The labels: "#1" and "#3" above the heads (nose at y = 0.15 · 240 = 36), in the
        // person's left colour, on dark boxes.
        let band = |x0: u32, x1: u32, colour: [u8; 3]| {
            (14..34)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let p = img.get_pixel(x, y).0;
                    p.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 40)
                })
                .count()
        };
        assert!(band(40, 120, DEFAULT_PALETTE.left) >= 10, "label #1");
        assert!(band(200, 280, three.left) >= 10, "label #3");
    }

    #[test]
    fn privacy_camera_gets_a_blank_canvas_of_the_source_aspect() {
        let mut k = keypoints();
        k.frame_published = false;
        let r = render(
            &joined(None, Some(k)),
            Overlay {
                fps: 10.0,
                latency_ms: 5.0,
            },
            80,
        )
        .unwrap();
        assert_eq!((r.width, r.height), (320, 240));
        let img = image::load_from_memory(&r.jpeg).unwrap().into_rgb8();
        assert!(count_near(img.as_raw(), PRIVACY_BACKGROUND) > 320 * 240 / 2);
        assert!(count_near(img.as_raw(), DEFAULT_PALETTE.left) > 30);
    }

    #[test]
    fn a_jpeg_larger_than_its_headers_is_refused_before_decoding() {
        // The headers say 320x240; the image is 400x240. A hand-edited SOF claiming 65500x65500
        // would be refused the same way, before any pixel buffer is allocated.
        let big = joined(Some(jpeg(400, 240)), None);
        let overlay = Overlay {
            fps: 0.0,
            latency_ms: 0.0,
        };
        let err = render(&big, overlay, 80).unwrap_err();
        assert_eq!(err.reason(), "larger_than_headers", "{err}");
        let mut huge = jpeg(8, 8);
        let sof = huge.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        huge[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
        let err = render(&joined(Some(huge), None), overlay, 80).unwrap_err();
        assert_eq!(err.reason(), "larger_than_headers", "{err}");
        assert!(render(&joined(Some(jpeg(320, 240)), None), overlay, 80).is_ok());
    }

    #[test]
    fn a_frame_that_is_not_a_jpeg_is_an_error() {
        let bad = joined(Some(vec![0xFF, 0xD8, 0xFF, 0x00, 0x01]), None);
        assert!(matches!(
            render(
                &bad,
                Overlay {
                    fps: 0.0,
                    latency_ms: 0.0
                },
                80
            ),
            Err(RenderError::Decode(_))
        ));
        assert!(matches!(
            render(
                &joined(None, None),
                Overlay {
                    fps: 0.0,
                    latency_ms: 0.0
                },
                80
            ),
            Err(RenderError::Empty)
        ));
    }
}
