//! Draws a pose skeleton into an RGB8 buffer: left and right in their own colours, joints shaded
//! by visibility. No dependencies, so the edge (annotated images) and the cloud (video) share it.

use crate::keypoints::Landmark;
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
