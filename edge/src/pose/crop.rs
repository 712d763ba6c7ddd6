//! Samples a rotated rectangle of an RGB image into a model's float input tensor, in one pass.
//!
//! Reproduces `ImageToTensorCalculator` on CPU (blazepose.md §3.1): the rectangle's corners map to
//! the tensor's corners with no half-pixel offset, bilinear sampling runs on the 8-bit image with
//! OpenCV's fixed-point arithmetic (coordinates rounded to 1/32 pixel, integer weights, rounded
//! result), and the 8-bit value is then scaled to the model's range. No allocation per call.

/// A borrowed RGB8 image, rows packed without padding.
#[derive(Clone, Copy)]
pub struct RgbView<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// Checks that `data` holds exactly `width`×`height` RGB pixels.
    pub fn new(width: u32, height: u32, data: &'a [u8]) -> Option<Self> {
        (width > 0 && height > 0 && data.len() == width as usize * height as usize * 3).then_some(
            Self {
                width,
                height,
                data,
            },
        )
    }
}

/// What pixels outside the image read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Black (the detector's letterbox: 0, i.e. -1.0 after scaling).
    Zero,
    /// The nearest edge pixel (the landmark model's crop).
    Replicate,
}

/// A rectangle in pixels: centre, size and rotation (radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelRect {
    pub cx: f64,
    pub cy: f64,
    pub width: f64,
    pub height: f64,
    pub rotation: f64,
}

/// Fractional bits of a sampling coordinate (OpenCV's `INTER_BITS`).
const FRAC_BITS: i32 = 5;
const FRAC_ONE: i32 = 1 << FRAC_BITS;
/// Extra fixed-point bits of the row stepping.
const STEP_BITS: i32 = 24;

/// Fills `out` (`tw`×`th`×3 floats, NHWC, RGB) with the rectangle `rect` of `img`, each 8-bit
/// sample `p` becoming `p·scale + offset`. `out` must have exactly `tw·th·3` elements.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    img: RgbView<'_>,
    rect: PixelRect,
    tw: u32,
    th: u32,
    border: Border,
    scale: f32,
    offset: f32,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), tw as usize * th as usize * 3);
    let (sin, cos) = rect.rotation.sin_cos();
    // src = centre + (u/tw - 0.5)·w·(cos, sin) + (v/th - 0.5)·h·(-sin, cos)
    let (ux, uy) = (rect.width * cos / tw as f64, rect.width * sin / tw as f64);
    let (vx, vy) = (
        -rect.height * sin / th as f64,
        rect.height * cos / th as f64,
    );
    let x0 = rect.cx - 0.5 * rect.width * cos + 0.5 * rect.height * sin;
    let y0 = rect.cy - 0.5 * rect.width * sin - 0.5 * rect.height * cos;
    let (w, h) = (img.width as i32, img.height as i32);
    let stride = w as usize * 3;
    let data = img.data;
    // 256 precomputed conversions: the scale/offset of every possible rounded sample.
    let mut lut = [0f32; 256];
    for (p, v) in lut.iter_mut().enumerate() {
        *v = p as f32 * scale + offset;
    }
    // Source coordinates step linearly along a row: keep them in fixed point with STEP_BITS
    // below OpenCV's 1/32 pixel, so a row costs additions only. The accumulated error over a
    // 256-pixel row stays below 2^-14 of a 1/32 step.
    let one = f64::from(1u32 << (FRAC_BITS + STEP_BITS));
    let (dx, dy) = ((ux * one).round() as i64, (uy * one).round() as i64);
    let half = 1i64 << (STEP_BITS - 1);
    let mut o = 0;
    for v in 0..th {
        let mut xs = ((x0 + v as f64 * vx) * one).round() as i64;
        let mut ys = ((y0 + v as f64 * vy) * one).round() as i64;
        for _ in 0..tw {
            let xf = ((xs + half) >> STEP_BITS) as i32;
            let yf = ((ys + half) >> STEP_BITS) as i32;
            xs += dx;
            ys += dy;
            let (ix, iy) = (xf >> FRAC_BITS, yf >> FRAC_BITS);
            let (fx, fy) = (xf & (FRAC_ONE - 1), yf & (FRAC_ONE - 1));
            let mut w00 = (FRAC_ONE - fx) * (FRAC_ONE - fy);
            let mut w10 = fx * (FRAC_ONE - fy);
            let mut w01 = (FRAC_ONE - fx) * fy;
            let mut w11 = fx * fy;
            let (i00, i10, i01, i11) = if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
                // All four neighbours inside: the common case.
                let i00 = iy as usize * stride + ix as usize * 3;
                (i00, i00 + 3, i00 + stride, i00 + stride + 3)
            } else {
                // Neighbours clamped into the image: that is BORDER_REPLICATE; for BORDER_ZERO the
                // weights of outside neighbours are dropped instead (they read as 0).
                let (x0c, x1c) = (
                    ix.clamp(0, w - 1) as usize,
                    (ix + 1).clamp(0, w - 1) as usize,
                );
                let (y0c, y1c) = (
                    iy.clamp(0, h - 1) as usize,
                    (iy + 1).clamp(0, h - 1) as usize,
                );
                if border == Border::Zero {
                    let (in_x0, in_x1) = ((0..w).contains(&ix), (0..w).contains(&(ix + 1)));
                    let (in_y0, in_y1) = ((0..h).contains(&iy), (0..h).contains(&(iy + 1)));
                    w00 *= i32::from(in_x0 && in_y0);
                    w10 *= i32::from(in_x1 && in_y0);
                    w01 *= i32::from(in_x0 && in_y1);
                    w11 *= i32::from(in_x1 && in_y1);
                }
                let (r0, r1) = (y0c * stride, y1c * stride);
                (r0 + x0c * 3, r0 + x1c * 3, r1 + x0c * 3, r1 + x1c * 3)
            };
            for (c, dst) in out[o..o + 3].iter_mut().enumerate() {
                let s = w00 * i32::from(data[i00 + c])
                    + w10 * i32::from(data[i10 + c])
                    + w01 * i32::from(data[i01 + c])
                    + w11 * i32::from(data[i11 + c]);
                *dst = lut[((s + 512) >> 10) as usize];
            }
            o += 3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                out.extend_from_slice(&f(x, y));
            }
        }
        out
    }

    #[test]
    fn identity_crop_copies_pixels() {
        let data = image(8, 6, |x, y| [(x * 10) as u8, (y * 10) as u8, 7]);
        let img = RgbView::new(8, 6, &data).unwrap();
        let rect = PixelRect {
            cx: 4.0,
            cy: 3.0,
            width: 8.0,
            height: 6.0,
            rotation: 0.0,
        };
        let mut out = vec![0f32; 8 * 6 * 3];
        sample(img, rect, 8, 6, Border::Zero, 1.0, 0.0, &mut out);
        let expect: Vec<f32> = data.iter().map(|&p| p as f32).collect();
        assert_eq!(out, expect);
    }

    #[test]
    fn half_pixel_shift_rounds_like_opencv() {
        // One row 0, 255: sampling halfway gives (0·16·32 + 255·16·32 + 512) >> 10 = 128.
        let data = image(2, 1, |x, _| if x == 0 { [0; 3] } else { [255; 3] });
        let img = RgbView::new(2, 1, &data).unwrap();
        let rect = PixelRect {
            cx: 1.0,
            cy: 0.5,
            width: 1.0,
            height: 1.0,
            rotation: 0.0,
        };
        let mut out = vec![0f32; 3];
        sample(img, rect, 1, 1, Border::Replicate, 1.0, 0.0, &mut out);
        assert_eq!(out[0], 128.0);
    }

    #[test]
    fn borders_and_scaling() {
        let data = image(4, 4, |_, _| [255, 255, 255]);
        let img = RgbView::new(4, 4, &data).unwrap();
        // A rectangle twice the image: the outer ring is outside.
        let rect = PixelRect {
            cx: 2.0,
            cy: 2.0,
            width: 8.0,
            height: 8.0,
            rotation: 0.0,
        };
        let mut out = vec![0f32; 8 * 8 * 3];
        sample(img, rect, 8, 8, Border::Zero, 2.0 / 255.0, -1.0, &mut out);
        assert_eq!(out[0], -1.0, "outside is black → -1");
        assert!(
            (out[(4 * 8 + 4) * 3] - 1.0).abs() < 1e-6,
            "inside is white → 1"
        );
        sample(
            img,
            rect,
            8,
            8,
            Border::Replicate,
            1.0 / 255.0,
            0.0,
            &mut out,
        );
        assert!(
            out.iter().all(|&v| (v - 1.0).abs() < 1e-6),
            "replicated edges are white"
        );
    }

    #[test]
    fn rotation_by_90_degrees_turns_the_image() {
        // 3×3 with one marked pixel; a +90° ROI reads image columns as tensor rows.
        let data = image(3, 3, |x, y| {
            if (x, y) == (1, 0) {
                [200, 0, 0]
            } else {
                [0, 0, 0]
            }
        });
        let img = RgbView::new(3, 3, &data).unwrap();
        let rect = PixelRect {
            cx: 1.5,
            cy: 1.5,
            width: 3.0,
            height: 3.0,
            rotation: std::f64::consts::FRAC_PI_2,
        };
        let mut out = vec![0f32; 27];
        sample(img, rect, 3, 3, Border::Zero, 1.0, 0.0, &mut out);
        let red: Vec<usize> = (0..9).filter(|i| out[i * 3] > 100.0).collect();
        // Tensor (u, v) reads image (cx - (v/3 - .5)·3, cy + (u/3 - .5)·3) = (3 - v, u): the
        // marked pixel (1, 0) lands at tensor u = 0, v = 2 (bottom-left).
        assert_eq!(red, vec![6]);
    }

    #[test]
    fn view_checks_size() {
        assert!(RgbView::new(2, 2, &[0; 12]).is_some());
        assert!(RgbView::new(2, 2, &[0; 11]).is_none());
        assert!(RgbView::new(0, 2, &[]).is_none());
    }
}
