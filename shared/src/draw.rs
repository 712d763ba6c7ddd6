//! Draws a pose skeleton into an RGB8 buffer: left and right in their own colours, joints shaded
//! by visibility; with several people, each in colours of its own ([`person_palette`]) and its
//! track id next to the head ([`draw_person`]). No dependencies, so the edge (annotated images)
//! and the cloud (video) share it.

use crate::font::{draw_text, text_size};
use crate::keypoints::{Landmark, Pose};
use crate::skeleton::{EDGES, Side, edge_side, landmark_side};

/// Colours of the skeleton (RGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub left: [u8; 3],
    pub right: [u8; 3],
    pub centre: [u8; 3],
}

/// Orange for the person's left side, cyan for the right, white for the middle.
pub const DEFAULT_PALETTE: Palette = Palette {
    left: [255, 138, 0],
    right: [0, 200, 255],
    centre: [255, 255, 255],
};

/// (left, right) colours of the people after the first: 10 colours picked to be far apart from
/// each other and from the first person's orange and cyan (at least 176 in summed RGB distance),
/// each bright enough to show on video.
const PERSON_COLOURS: [([u8; 3], [u8; 3]); 5] = [
    ([191, 0, 255], [48, 0, 191]),
    ([48, 191, 0], [128, 255, 128]),
    ([191, 0, 0], [128, 128, 255]),
    ([191, 255, 0], [255, 191, 128]),
    ([255, 0, 128], [0, 255, 64]),
];

/// The colours of the person with `track_id`: track 0 (untracked) and 1 (the single tracked
/// person of `pose-edge`) get [`DEFAULT_PALETTE`]; each further id one of 5 more pairs in turn
/// (ids 2 and 7 share one), so that sides stay apart and people stay apart.
pub fn person_palette(track_id: u32) -> Palette {
    if track_id <= 1 {
        return DEFAULT_PALETTE;
    }
    let (left, right) = PERSON_COLOURS[(track_id as usize - 2) % PERSON_COLOURS.len()];
    Palette {
        left,
        right,
        centre: DEFAULT_PALETTE.centre,
    }
}

impl Palette {
    pub fn colour(&self, side: Side) -> [u8; 3] {
        match side {
            Side::Left => self.left,
            Side::Right => self.right,
            Side::Centre => self.centre,
        }
    }
}

/// Landmarks less visible than this are not drawn (nor their edges).
pub const MIN_VISIBILITY: f32 = 0.5;

/// A mutable RGB8 image, rows packed.
pub struct Canvas<'a> {
    pub width: u32,
    pub height: u32,
    pub rgb: &'a mut [u8],
}

impl<'a> Canvas<'a> {
    /// `None` when `rgb` is not exactly `width`×`height`×3 bytes.
    pub fn new(width: u32, height: u32, rgb: &'a mut [u8]) -> Option<Self> {
        (rgb.len() == width as usize * height as usize * 3).then_some(Self { width, height, rgb })
    }

    /// Blends `colour` into pixel (x, y) with opacity `alpha` (0..=1); outside pixels are ignored.
    fn blend(&mut self, x: i64, y: i64, colour: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        for (dst, &src) in self.rgb[i..i + 3].iter_mut().zip(&colour) {
            let old = f32::from(*dst);
            *dst = (old + (f32::from(src) - old) * alpha).round() as u8;
        }
    }

    /// A filled rectangle, clipped to the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
        let (x0, y0) = (x.max(0), y.max(0));
        let (x1, y1) = (
            (x + w).min(i64::from(self.width)),
            (y + h).min(i64::from(self.height)),
        );
        for yy in y0..y1 {
            let row = yy as usize * self.width as usize * 3;
            for xx in x0..x1 {
                let i = row + xx as usize * 3;
                self.rgb[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// A filled disc of radius `r` (px) at (cx, cy).
    pub fn disc(&mut self, cx: f32, cy: f32, r: f32, colour: [u8; 3], alpha: f32) {
        let r2 = r * r;
        let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
        let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if dx * dx + dy * dy <= r2 {
                    self.blend(x, y, colour, alpha);
                }
            }
        }
    }

    /// A line of thickness 2·`r` from (x0, y0) to (x1, y1).
    pub fn line(&mut self, (x0, y0): (f32, f32), (x1, y1): (f32, f32), r: f32, colour: [u8; 3]) {
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        // Skip absurd lines (a landmark far outside the image) instead of stamping millions of discs.
        if !len.is_finite() || len > 4.0 * (self.width + self.height) as f32 {
            return;
        }
        let (w, h) = (self.width as f32, self.height as f32);
        let steps = (len / (r * 0.5).max(0.5)).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            if x >= -r && y >= -r && x <= w + r && y <= h + r {
                self.disc(x, y, r, colour, 1.0);
            }
        }
    }
}

/// Draws one pose. Line width scales with the image (2 px at 320 wide).
pub fn draw_pose(canvas: &mut Canvas<'_>, landmarks: &[Landmark], palette: &Palette) {
    let (w, h) = (canvas.width as f32, canvas.height as f32);
    let r = (w.max(h) / 320.0).max(1.0);
    let px = |lm: &Landmark| (lm.x * w, lm.y * h);
    let shown =
        |lm: &Landmark| lm.visibility >= MIN_VISIBILITY && lm.x.is_finite() && lm.y.is_finite();
    for &(a, b) in &EDGES {
        let (Some(la), Some(lb)) = (landmarks.get(usize::from(a)), landmarks.get(usize::from(b)))
        else {
            continue;
        };
        if shown(la) && shown(lb) {
            canvas.line(px(la), px(lb), r, palette.colour(edge_side((a, b))));
        }
    }
    for (i, lm) in landmarks.iter().enumerate() {
        if shown(lm) {
            let (x, y) = px(lm);
            canvas.disc(x, y, r * 2.0, [0, 0, 0], 0.6);
            // Shade by visibility: fully visible joints in full colour.
            canvas.disc(
                x,
                y,
                r * 1.4,
                palette.colour(landmark_side(i)),
                lm.visibility.clamp(0.0, 1.0),
            );
        }
    }
}

/// Landmarks of the head (nose, eyes, ears, mouth): the track id is written above them.
const HEAD: std::ops::RangeInclusive<usize> = 0..=10;

/// Draws one person: the skeleton in [`person_palette`] of its track id, then the id (`#3`) in its
/// colour on a dark box just above the highest visible head landmark. Untracked poses (id 0) and
/// poses whose head is not visible get no label.
pub fn draw_person(canvas: &mut Canvas<'_>, pose: &Pose) {
    let palette = person_palette(pose.track_id);
    draw_pose(canvas, &pose.landmarks, &palette);
    if pose.track_id == 0 {
        return;
    }
    let (w, h) = (canvas.width as f32, canvas.height as f32);
    let head: Vec<(f32, f32)> = pose.landmarks[HEAD]
        .iter()
        .filter(|lm| lm.visibility >= MIN_VISIBILITY && lm.x.is_finite() && lm.y.is_finite())
        .map(|lm| (lm.x * w, lm.y * h))
        .collect();
    if head.is_empty() {
        return;
    }
    let cx = head.iter().map(|p| p.0).sum::<f32>() / head.len() as f32;
    let top = head.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
    if !(cx.abs() < 1e6 && top.abs() < 1e6) {
        return;
    }
    let label = format!("#{}", pose.track_id);
    // Same scale as the cloud's overlay text: 2 font pixels per image pixel at 320 wide.
    let scale = (canvas.width / 160).max(1);
    let (tw, th) = text_size(&label, scale);
    let x = cx as i64 - i64::from(tw) / 2;
    let y = (top - 2.0 * (w.max(h) / 320.0).max(1.0)) as i64 - i64::from(th) - 2;
    canvas.fill_rect(
        x - 2,
        y - 1,
        i64::from(tw) + 3,
        i64::from(th) + 1,
        [0, 0, 0],
    );
    draw_text(canvas, x, y, &label, scale, palette.left);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing() -> Vec<Landmark> {
        (0..33)
            .map(|i| Landmark {
                x: if landmark_side(i) == Side::Left {
                    0.6
                } else if landmark_side(i) == Side::Right {
                    0.4
                } else {
                    0.5
                },
                y: 0.1 + 0.8 * i as f32 / 33.0,
                z: 0.0,
                visibility: 0.99,
                presence: 0.99,
            })
            .collect()
    }

    #[test]
    fn draws_both_sides_in_their_colours() {
        let (w, h) = (100u32, 100u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas::new(w, h, &mut rgb).unwrap();
        draw_pose(&mut c, &standing(), &DEFAULT_PALETTE);
        let near = |p: &[u8], col: [u8; 3]| p.iter().zip(col).all(|(&a, b)| a.abs_diff(b) <= 8);
        let count = |col: [u8; 3]| rgb.chunks(3).filter(|p| near(p, col)).count();
        assert!(count(DEFAULT_PALETTE.left) > 20);
        assert!(count(DEFAULT_PALETTE.right) > 20);
    }

    fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
        a.iter()
            .zip(b)
            .map(|(&x, y)| u32::from(x.abs_diff(y)))
            .sum()
    }

    #[test]
    fn each_person_has_colours_of_its_own_and_sides_stay_apart() {
        assert_eq!(person_palette(0), DEFAULT_PALETTE);
        assert_eq!(person_palette(1), DEFAULT_PALETTE);
        let palettes: Vec<Palette> = (1..=6).map(person_palette).collect();
        for (i, p) in palettes.iter().enumerate() {
            assert!(distance(p.left, p.right) >= 150, "person {}: sides", i + 1);
            for (j, q) in palettes.iter().enumerate().skip(i + 1) {
                for (a, b) in [
                    (p.left, q.left),
                    (p.right, q.right),
                    (p.left, q.right),
                    (p.right, q.left),
                ] {
                    assert!(
                        distance(a, b) >= 150,
                        "people {} and {}: {a:?} vs {b:?}",
                        i + 1,
                        j + 1
                    );
                }
            }
        }
        // The pairs repeat after 5 further people.
        assert_eq!(person_palette(2), person_palette(7));
    }

    #[test]
    fn a_person_gets_its_track_id_above_the_head() {
        let (w, h) = (160u32, 160u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas::new(w, h, &mut rgb).unwrap();
        let landmarks: [Landmark; 33] = standing().try_into().unwrap();
        let pose = Pose {
            track_id: 3,
            score: 0.9,
            landmarks,
            world_landmarks: None,
        };
        draw_person(&mut c, &pose);
        let colour = person_palette(3).left;
        // The nose is at y = 0.1 · 160 = 16: the label sits in the rows above it.
        let lit_above = (0..14u32)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = ((y * w + x) * 3) as usize;
                distance([rgb[i], rgb[i + 1], rgb[i + 2]], colour) <= 24
            })
            .count();
        assert!(lit_above >= 10, "{lit_above} label pixels above the head");
        // No label without a track, nor without a visible head.
        for (track_id, head_visibility) in [(0, 0.99), (4, 0.0)] {
            let mut rgb = vec![0u8; (w * h * 3) as usize];
            let mut c = Canvas::new(w, h, &mut rgb).unwrap();
            let mut pose = pose.clone();
            pose.track_id = track_id;
            for lm in &mut pose.landmarks[HEAD] {
                lm.visibility = head_visibility;
            }
            draw_person(&mut c, &pose);
            let top_lit = rgb[..(12 * w * 3) as usize]
                .iter()
                .filter(|&&b| b != 0)
                .count();
            assert_eq!(top_lit, 0, "track {track_id}: nothing drawn above the head");
        }
    }

    #[test]
    fn invisible_and_wild_landmarks_are_skipped() {
        let mut lms = standing();
        for lm in &mut lms {
            lm.visibility = 0.1;
        }
        lms[11].x = 1e30;
        let mut rgb = vec![0u8; 300];
        let mut c = Canvas::new(10, 10, &mut rgb).unwrap();
        draw_pose(&mut c, &lms, &DEFAULT_PALETTE);
        assert!(rgb.iter().all(|&b| b == 0));
        assert!(Canvas::new(10, 10, &mut [0u8; 5]).is_none());
    }
}
