//! Rotated rectangles, letterbox padding and the ROI rule of BlazePose (blazepose.md §3.1, §4).

use std::f32::consts::PI;

/// A point normalized to the image (x by width, y by height).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// A rotated rectangle normalized to the image: centre, size (width by image width, height by
/// image height) and rotation in radians (counter-clockwise in image coordinates, as MediaPipe's
/// `NormalizedRect`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormRect {
    pub x_center: f32,
    pub y_center: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

impl NormRect {
    /// The whole image.
    pub fn full() -> Self {
        Self {
            x_center: 0.5,
            y_center: 0.5,
            width: 1.0,
            height: 1.0,
            rotation: 0.0,
        }
    }
}

/// Padding, as fractions of the padded rectangle: `[left, top, right, bottom]`.
pub type Padding = [f32; 4];

/// `PadRoi` of `ImageToTensorCalculator` with `keep_aspect_ratio`: grows `roi` (in pixels of a
/// `width`×`height` image) to the aspect of a `tw`×`th` tensor and returns the grown ROI with the
/// padding that was added.
pub fn pad_roi(roi: NormRect, width: u32, height: u32, tw: u32, th: u32) -> (NormRect, Padding) {
    let (w_px, h_px) = (roi.width * width as f32, roi.height * height as f32);
    let ta = th as f32 / tw as f32;
    let ra = h_px / w_px;
    let mut out = roi;
    if ta > ra {
        // Tensor is taller than the ROI: add rows above and below.
        let new_h = w_px * ta;
        let vpad = (1.0 - ra / ta) / 2.0;
        out.height = new_h / height as f32;
        (out, [0.0, vpad, 0.0, vpad])
    } else {
        let new_w = h_px / ta;
        let hpad = (1.0 - ta / ra) / 2.0;
        out.width = new_w / width as f32;
        (out, [hpad, 0.0, hpad, 0.0])
    }
}

/// Maps a point normalized to a padded ROI back to the unpadded one (letterbox removal).
pub fn remove_padding(p: Point, pad: Padding) -> Point {
    let [l, t, r, b] = pad;
    Point {
        x: (p.x - l) / (1.0 - l - r),
        y: (p.y - t) / (1.0 - t - b),
    }
}

/// `a - 2π·floor((a + π) / 2π)`: an angle in [-π, π).
pub fn normalize_radians(a: f32) -> f32 {
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// The rectangle spanned by two alignment points (`AlignmentPointsRectsCalculator`): centred on
/// `p0`, a square of side 2·|p1 − p0| pixels, rotated so that p0→p1 points up.
pub fn alignment_rect(p0: Point, p1: Point, width: u32, height: u32) -> NormRect {
    let (w, h) = (width as f32, height as f32);
    let (x0, y0, x1, y1) = (p0.x * w, p0.y * h, p1.x * w, p1.y * h);
    let side = 2.0 * ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
    NormRect {
        x_center: p0.x,
        y_center: p0.y,
        width: side / w,
        height: side / h,
        rotation: normalize_radians(PI / 2.0 - (-(y1 - y0)).atan2(x1 - x0)),
    }
}

/// The landmark model's ROI from two alignment points: [`alignment_rect`] made square on its long
/// side and scaled by 1.25 (`RectTransformationCalculator`, blazepose.md §4).
pub fn roi_from_points(p0: Point, p1: Point, width: u32, height: u32) -> NormRect {
    let r = alignment_rect(p0, p1, width, height);
    let (w, h) = (width as f32, height as f32);
    let long = (r.width * w).max(r.height * h);
    NormRect {
        width: long / w * 1.25,
        height: long / h * 1.25,
        ..r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn letterbox_of_a_landscape_image() {
        let (r, pad) = pad_roi(NormRect::full(), 640, 480, 224, 224);
        assert!(close(pad[1], 0.125) && close(pad[3], 0.125) && pad[0] == 0.0);
        assert!(close(r.width, 1.0) && close(r.height, 640.0 / 480.0));
        let p = remove_padding(Point { x: 0.5, y: 0.125 }, pad);
        assert!(close(p.x, 0.5) && close(p.y, 0.0));
    }

    #[test]
    fn letterbox_of_a_portrait_image() {
        let (r, pad) = pad_roi(NormRect::full(), 480, 640, 224, 224);
        assert!(close(pad[0], 0.125) && close(pad[2], 0.125) && pad[1] == 0.0);
        assert!(close(r.width, 640.0 / 480.0) && close(r.height, 1.0));
    }

    #[test]
    fn square_roi_needs_no_padding() {
        let roi = NormRect {
            x_center: 0.4,
            y_center: 0.6,
            width: 0.3,
            height: 0.4,
            rotation: 0.3,
        };
        let (r, pad) = pad_roi(roi, 640, 480, 256, 256);
        assert!(pad.iter().all(|p| p.abs() < 1e-6));
        assert!(close(r.width, 0.3) && close(r.height, 0.4));
    }

    #[test]
    fn upright_person_has_no_rotation_and_side_2_5_times_the_distance() {
        // Hip centre at (320, 300), the scale point 100 px straight above it.
        let p0 = Point {
            x: 320.0 / 640.0,
            y: 300.0 / 480.0,
        };
        let p1 = Point {
            x: 320.0 / 640.0,
            y: 200.0 / 480.0,
        };
        let r = roi_from_points(p0, p1, 640, 480);
        assert!(close(r.rotation, 0.0), "{}", r.rotation);
        assert!(close(r.width * 640.0, 250.0) && close(r.height * 480.0, 250.0));
        assert!(close(r.x_center, p0.x) && close(r.y_center, p0.y));
    }

    #[test]
    fn rotation_follows_the_body_axis() {
        // π/2 − atan2(−dy, dx): scale point to the right of the hips (body along +x): +90°.
        let r = alignment_rect(Point { x: 0.5, y: 0.5 }, Point { x: 0.6, y: 0.5 }, 100, 100);
        assert!(close(r.rotation, PI / 2.0), "{}", r.rotation);
        // To the left: -90°.
        let r = alignment_rect(Point { x: 0.5, y: 0.5 }, Point { x: 0.4, y: 0.5 }, 100, 100);
        assert!(close(r.rotation, -PI / 2.0), "{}", r.rotation);
        // Upside down: -180° (normalized into [-π, π)).
        let r = alignment_rect(Point { x: 0.5, y: 0.5 }, Point { x: 0.5, y: 0.6 }, 100, 100);
        assert!(close(r.rotation, -PI), "{}", r.rotation);
    }

    #[test]
    fn normalize() {
        assert!(close(normalize_radians(3.0 * PI / 2.0), -PI / 2.0));
        assert!(close(normalize_radians(-3.0 * PI / 2.0), PI / 2.0));
        assert!(close(normalize_radians(PI), -PI));
        assert!(close(normalize_radians(0.25), 0.25));
    }
}
