//! Decoding of the pose detector's output: boxes, keypoints, scores, weighted NMS and letterbox
//! removal (blazepose.md §3.3-3.5).

use super::anchors::{Anchor, INPUT_SIZE, NUM_ANCHORS};
use super::geometry::{Padding, Point, remove_padding};

/// Values per anchor in the regressor output: box (x, y, w, h) then 4 keypoints (x, y).
pub const NUM_COORDS: usize = 12;
/// Minimum detection score (`min_detection_confidence`).
pub const MIN_SCORE: f32 = 0.5;
/// Boxes overlapping more than this (IoU) are merged by weighted NMS.
pub const NMS_IOU: f32 = 0.3;
const SCORE_CLIP: f32 = 100.0;

/// One detection. The box is the face box; the keypoints are mid-hip (0), a full-body size and
/// rotation point (1), mid-shoulder (2) and an upper-body size and rotation point (3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub xmin: f32,
    pub ymin: f32,
    pub width: f32,
    pub height: f32,
    pub keypoints: [Point; 4],
}

impl Detection {
    fn area(&self) -> f32 {
        self.width * self.height
    }

    fn is_empty(&self) -> bool {
        !(self.width > 0.0 && self.height > 0.0)
    }

    /// Intersection over union; 0 when either box is empty or they do not meet.
    pub fn iou(&self, o: &Detection) -> f32 {
        if self.is_empty() || o.is_empty() {
            return 0.0;
        }
        let x0 = self.xmin.max(o.xmin);
        let y0 = self.ymin.max(o.ymin);
        let x1 = (self.xmin + self.width).min(o.xmin + o.width);
        let y1 = (self.ymin + self.height).min(o.ymin + o.height);
        if x1 < x0 || y1 < y0 {
            return 0.0;
        }
        let inter = (x1 - x0) * (y1 - y0);
        let union = self.area() + o.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes the detections whose score reaches [`MIN_SCORE`], into `out` (cleared first), in
/// coordinates normalized to the 224×224 letterboxed input.
pub fn decode(raw_boxes: &[f32], raw_scores: &[f32], anchors: &[Anchor], out: &mut Vec<Detection>) {
    out.clear();
    let n = anchors
        .len()
        .min(NUM_ANCHORS)
        .min(raw_scores.len())
        .min(raw_boxes.len() / NUM_COORDS);
    let s = INPUT_SIZE as f32;
    for i in 0..n {
        let score = sigmoid(raw_scores[i].clamp(-SCORE_CLIP, SCORE_CLIP));
        if score < MIN_SCORE || score.is_nan() {
            continue;
        }
        let r = &raw_boxes[i * NUM_COORDS..(i + 1) * NUM_COORDS];
        let a = anchors[i];
        let (xc, yc) = (r[0] / s + a.x, r[1] / s + a.y);
        let (w, h) = (r[2] / s, r[3] / s);
        if !(w >= 0.0 && h >= 0.0) {
            continue; // negative or NaN size
        }
        let kp = |k: usize| Point {
            x: r[4 + 2 * k] / s + a.x,
            y: r[5 + 2 * k] / s + a.y,
        };
        out.push(Detection {
            score,
            xmin: xc - w / 2.0,
            ymin: yc - h / 2.0,
            width: w,
            height: h,
            keypoints: [kp(0), kp(1), kp(2), kp(3)],
        });
    }
}

/// Weighted non-maximum suppression (`WeightedNonMaxSuppression`): returns the clusters in
/// descending score order; each keeps its head's score, with box corners and keypoints averaged
/// over the cluster, weighted by score. `dets` is reordered.
pub fn weighted_nms(dets: &mut Vec<Detection>, out: &mut Vec<Detection>) {
    out.clear();
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut remaining: &mut [Detection] = dets.as_mut_slice();
    while let Some(&head) = remaining.first() {
        // Partition: candidates (IoU > threshold, including head) first, the rest after.
        let mut split = 0;
        for i in 0..remaining.len() {
            if remaining[i].iou(&head) > NMS_IOU {
                remaining.swap(split, i);
                split += 1;
            }
        }
        let (cands, rest) = remaining.split_at_mut(split);
        let mut merged = head;
        let total: f32 = cands.iter().map(|d| d.score).sum();
        if total > 0.0 {
            let wavg = |f: &dyn Fn(&Detection) -> f32| {
                cands.iter().map(|d| d.score * f(d)).sum::<f32>() / total
            };
            let xmin = wavg(&|d| d.xmin);
            let ymin = wavg(&|d| d.ymin);
            let xmax = wavg(&|d| d.xmin + d.width);
            let ymax = wavg(&|d| d.ymin + d.height);
            merged.xmin = xmin;
            merged.ymin = ymin;
            merged.width = xmax - xmin;
            merged.height = ymax - ymin;
            for k in 0..4 {
                merged.keypoints[k] = Point {
                    x: wavg(&|d| d.keypoints[k].x),
                    y: wavg(&|d| d.keypoints[k].y),
                };
            }
        }
        out.push(merged);
        if split == 0 {
            break; // an empty head box overlaps nothing, not even itself: MediaPipe stops here
        }
        // Candidates kept their relative order only loosely; the rest stay sorted because
        // swapping moved candidates forward over non-candidates, so re-sort the rest.
        rest.sort_by(|a, b| b.score.total_cmp(&a.score));
        remaining = rest;
    }
}

/// Maps a detection from the letterboxed input back to the image (`DetectionLetterboxRemoval`).
pub fn remove_letterbox(d: &Detection, pad: Padding) -> Detection {
    let [l, t, r, b] = pad;
    let (sx, sy) = (1.0 - l - r, 1.0 - t - b);
    Detection {
        score: d.score,
        xmin: (d.xmin - l) / sx,
        ymin: (d.ymin - t) / sy,
        width: d.width / sx,
        height: d.height / sy,
        keypoints: d.keypoints.map(|p| remove_padding(p, pad)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::anchors;
    use super::*;

    fn det(score: f32, x: f32, y: f32, size: f32) -> Detection {
        Detection {
            score,
            xmin: x,
            ymin: y,
            width: size,
            height: size,
            keypoints: [Point { x, y }; 4],
        }
    }

    #[test]
    fn decode_applies_anchor_offsets_and_threshold() {
        let anchors = anchors::generate();
        let mut boxes = vec![0.0f32; NUM_ANCHORS * NUM_COORDS];
        let mut scores = vec![-10.0f32; NUM_ANCHORS];
        // Anchor 1960 (centre (0.5/7, 0.5/7)), box 22.4×44.8 px shifted by +22.4 px in x.
        scores[1960] = 2.0;
        boxes[1960 * 12..1960 * 12 + 6].copy_from_slice(&[22.4, 0.0, 22.4, 44.8, -22.4, 11.2]);
        scores[5] = 0.0; // sigmoid(0) = 0.5: kept (>=)
        scores[6] = -0.01; // just under
        let mut out = Vec::new();
        decode(&boxes, &scores, &anchors, &mut out);
        assert_eq!(out.len(), 2);
        let d = out.iter().find(|d| d.score > 0.8).unwrap();
        let a = anchors[1960];
        assert!((d.score - sigmoid(2.0)).abs() < 1e-6);
        assert!((d.xmin - (a.x + 0.1 - 0.05)).abs() < 1e-6);
        assert!((d.ymin - (a.y - 0.1)).abs() < 1e-6);
        assert!((d.keypoints[0].x - (a.x - 0.1)).abs() < 1e-6);
        assert!((d.keypoints[0].y - (a.y + 0.05)).abs() < 1e-6);
    }

    #[test]
    fn decode_drops_negative_sizes_and_clips_scores() {
        let anchors = anchors::generate();
        let mut boxes = vec![0.0f32; NUM_ANCHORS * NUM_COORDS];
        let mut scores = vec![-1e9f32; NUM_ANCHORS];
        scores[0] = 1e9;
        boxes[2] = -1.0;
        scores[1] = f32::NAN;
        let mut out = Vec::new();
        decode(&boxes, &scores, &anchors, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn iou_cases() {
        let a = det(1.0, 0.0, 0.0, 1.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert!((a.iou(&det(1.0, 0.5, 0.0, 1.0)) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&det(1.0, 2.0, 2.0, 1.0)), 0.0);
        assert_eq!(
            a.iou(&det(1.0, 1.0, 0.0, 1.0)),
            0.0,
            "touching edges: area 0"
        );
        assert_eq!(a.iou(&det(1.0, 0.2, 0.2, 0.0)), 0.0, "empty box");
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_head_score() {
        let mut dets = vec![
            det(0.6, 0.02, 0.0, 1.0),
            det(0.9, 0.0, 0.0, 1.0),
            det(0.8, 5.0, 5.0, 1.0), // a separate person
            det(0.7, 0.9, 0.0, 1.0), // IoU with head ~0.05: its own cluster
        ];
        let mut out = Vec::new();
        weighted_nms(&mut dets, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].score, 0.9);
        let x = (0.9 * 0.0 + 0.6 * 0.02) / 1.5;
        assert!((out[0].xmin - x).abs() < 1e-6, "{}", out[0].xmin);
        assert!((out[0].keypoints[0].x - x).abs() < 1e-6);
        assert!((out[0].width - 1.0).abs() < 1e-6);
        assert_eq!((out[1].score, out[2].score), (0.8, 0.7));
        assert_eq!(out[1].xmin, 5.0);
    }

    #[test]
    fn weighted_nms_stops_on_an_empty_head() {
        let mut dets = vec![det(0.9, 0.0, 0.0, 0.0), det(0.5, 0.0, 0.0, 1.0)];
        let mut out = Vec::new();
        weighted_nms(&mut dets, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn letterbox_removal() {
        let d = det(0.9, 0.25, 0.25, 0.5);
        let r = remove_letterbox(&d, [0.0, 0.125, 0.0, 0.125]);
        assert!((r.ymin - (0.25 - 0.125) / 0.75).abs() < 1e-6);
        assert!((r.height - 0.5 / 0.75).abs() < 1e-6);
        assert_eq!((r.xmin, r.width), (0.25, 0.5));
        assert!((r.keypoints[0].y - (0.25 - 0.125) / 0.75).abs() < 1e-6);
    }
}
