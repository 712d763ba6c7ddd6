//! Decoding of the landmark model's output: 39 landmarks, heatmap refinement and projection from
//! the crop back to the image (blazepose.md §5.2-5.3).

use super::geometry::NormRect;

/// Landmarks the model outputs: 33 of the pose, 2 auxiliary (33 = ROI centre, 34 = ROI scale and
/// rotation point) and 4 unused.
pub const NUM_MODEL_LANDMARKS: usize = 39;
/// Index of the first auxiliary landmark.
pub const AUX_CENTER: usize = 33;
pub const AUX_SCALE: usize = 34;
/// Landmark model input size (square).
pub const INPUT_SIZE: u32 = 256;
/// Heatmap size (square) and refinement window.
pub const HEATMAP_SIZE: usize = 64;
const HEATMAP_KERNEL: usize = 7;
const HEATMAP_MIN_CONFIDENCE: f32 = 0.5;
/// Pose flag threshold (`min_tracking_confidence`, strict).
pub const MIN_POSE_FLAG: f32 = 0.5;

/// One landmark: `x`, `y` normalized (to the crop before [`project`], to the image after), `z`
/// on the scale of `x`, visibility and presence as probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Lm {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
    pub presence: f32,
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes the 39×5 landmark tensor (`Identity`, in 256-px units; visibility and presence as
/// logits) into crop-normalized landmarks.
pub fn decode(raw: &[f32], out: &mut [Lm; NUM_MODEL_LANDMARKS]) {
    let s = INPUT_SIZE as f32;
    for (i, lm) in out.iter_mut().enumerate() {
        let r = &raw[i * 5..i * 5 + 5];
        *lm = Lm {
            x: r[0] / s,
            y: r[1] / s,
            z: r[2] / s,
            visibility: sigmoid(r[3]),
            presence: sigmoid(r[4]),
        };
    }
}

/// Moves each landmark to the confidence-weighted centre of its heatmap around it
/// (`RefineLandmarksFromHeatmapCalculator`, kernel 7). `heatmap` is 64×64×39 logits, HWC.
pub fn refine(lms: &mut [Lm; NUM_MODEL_LANDMARKS], heatmap: &[f32]) {
    let n = HEATMAP_SIZE as i32;
    let half = (HEATMAP_KERNEL as i32 - 1) / 2;
    for (i, lm) in lms.iter_mut().enumerate() {
        // C++ float-to-int conversion: truncation toward zero.
        let col = (lm.x * n as f32) as i32;
        let row = (lm.y * n as f32) as i32;
        if !(0..n).contains(&col) || !(0..n).contains(&row) {
            continue;
        }
        let (mut sum, mut wcol, mut wrow, mut max) = (0f32, 0f32, 0f32, 0f32);
        for r in (row - half).max(0)..(row + half + 1).min(n) {
            for c in (col - half).max(0)..(col + half + 1).min(n) {
                let idx = (r as usize * HEATMAP_SIZE + c as usize) * NUM_MODEL_LANDMARKS + i;
                let conf = sigmoid(heatmap[idx]);
                sum += conf;
                max = max.max(conf);
                wcol += c as f32 * conf;
                wrow += r as f32 * conf;
            }
        }
        if max >= HEATMAP_MIN_CONFIDENCE && sum > 0.0 {
            lm.x = wcol / n as f32 / sum;
            lm.y = wrow / n as f32 / sum;
        }
    }
}

/// Projects crop-normalized landmarks to the image (`LandmarkProjectionCalculator`, the square-ROI
/// form that MediaPipe's pose graph uses; the crop of a square ROI has no letterbox padding).
pub fn project(lm: &mut Lm, roi: &NormRect) {
    let (sin, cos) = roi.rotation.sin_cos();
    let (dx, dy) = (lm.x - 0.5, lm.y - 0.5);
    lm.x = (cos * dx - sin * dy) * roi.width + roi.x_center;
    lm.y = (sin * dx + cos * dy) * roi.height + roi.y_center;
    lm.z *= roi.width;
}

/// Decodes the world-landmark tensor (`Identity_4`, 39 × (x, y, z) in metres, hip-centred) and
/// rotates it by the ROI's rotation (`WorldLandmarkProjectionCalculator`); z is unchanged.
/// Visibility and presence are left at 0 for the caller to copy.
pub fn decode_world(raw: &[f32], roi: &NormRect, out: &mut [Lm]) {
    let (sin, cos) = roi.rotation.sin_cos();
    for (lm, r) in out.iter_mut().zip(raw.chunks_exact(3)) {
        *lm = Lm {
            x: cos * r[0] - sin * r[1],
            y: sin * r[0] + cos * r[1],
            z: r[2],
            ..Lm::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_scales_and_activates() {
        let mut raw = vec![0f32; 195];
        raw[..5].copy_from_slice(&[128.0, 64.0, -25.6, 0.0, 100.0]);
        let mut out = [Lm::default(); 39];
        decode(&raw, &mut out);
        assert_eq!((out[0].x, out[0].y, out[0].z), (0.5, 0.25, -0.1));
        assert_eq!(out[0].visibility, 0.5);
        assert!(out[0].presence > 0.999);
    }

    #[test]
    fn refinement_moves_to_the_heatmap_peak() {
        let mut hm = vec![-20f32; 64 * 64 * 39];
        // Landmark 5 sits at heatmap cell (col 10, row 20); its heatmap peaks at (12, 20) with
        // equal neighbours at (11, 20) and (13, 20): the weighted centre is (12, 20).
        for c in [11, 12, 13] {
            hm[(20 * 64 + c) * 39 + 5] = 20.0;
        }
        let mut lms = [Lm::default(); 39];
        lms[5] = Lm {
            x: 10.5 / 64.0,
            y: 20.5 / 64.0,
            ..Default::default()
        };
        lms[6] = Lm {
            x: 10.5 / 64.0,
            y: 20.5 / 64.0,
            ..Default::default()
        }; // flat heatmap
        lms[7] = Lm {
            x: 1.2,
            y: 0.5,
            ..Default::default()
        }; // outside: untouched
        refine(&mut lms, &hm);
        assert!((lms[5].x - 12.0 / 64.0).abs() < 1e-4, "{}", lms[5].x);
        assert!((lms[5].y - 20.0 / 64.0).abs() < 1e-4);
        assert_eq!(
            lms[6].x,
            10.5 / 64.0,
            "max confidence below 0.5: not refined"
        );
        assert_eq!(lms[7].x, 1.2);
    }

    #[test]
    fn refinement_truncates_toward_zero() {
        // x = -0.01 → col (int)(-0.64) = 0: refined, as in C++ (floor would skip it).
        let mut hm = vec![-20f32; 64 * 64 * 39];
        hm[(10 * 64 + 1) * 39] = 20.0;
        let mut lms = [Lm::default(); 39];
        lms[0] = Lm {
            x: -0.01,
            y: 10.2 / 64.0,
            ..Default::default()
        };
        refine(&mut lms, &hm);
        assert!((lms[0].x - 1.0 / 64.0).abs() < 1e-5);
    }

    #[test]
    fn world_landmarks_rotate_with_the_roi() {
        let roi = NormRect {
            x_center: 0.5,
            y_center: 0.5,
            width: 0.5,
            height: 0.5,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        let mut out = [Lm::default(); 2];
        decode_world(&[0.3, 0.0, -0.1, 0.0, 0.2, 0.05], &roi, &mut out);
        assert!((out[0].x).abs() < 1e-6 && (out[0].y - 0.3).abs() < 1e-6 && out[0].z == -0.1);
        assert!((out[1].x + 0.2).abs() < 1e-6 && (out[1].y).abs() < 1e-6 && out[1].z == 0.05);
    }

    #[test]
    fn projection() {
        let roi = NormRect {
            x_center: 0.5,
            y_center: 0.4,
            width: 0.5,
            height: 0.6,
            rotation: 0.0,
        };
        let mut lm = Lm {
            x: 1.0,
            y: 0.0,
            z: 0.2,
            ..Default::default()
        };
        project(&mut lm, &roi);
        assert!(
            (lm.x - 0.75).abs() < 1e-6 && (lm.y - 0.1).abs() < 1e-6 && (lm.z - 0.1).abs() < 1e-6
        );
        // Rotated by +90°: the crop's +x axis points along the image's +y.
        let roi = NormRect {
            rotation: std::f32::consts::FRAC_PI_2,
            ..roi
        };
        let mut lm = Lm {
            x: 1.0,
            y: 0.5,
            ..Default::default()
        };
        project(&mut lm, &roi);
        assert!(
            (lm.x - 0.5).abs() < 1e-6 && (lm.y - 0.7).abs() < 1e-6,
            "{lm:?}"
        );
    }
}
