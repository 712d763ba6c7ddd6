//! A synthetic moving test pattern, paced at a fixed frame rate: for demos and tests without a camera.

use super::pace::Pacer;
use super::{Frame, Source, SourceError};

/// Colour bars with a bright square that moves across the image and a band that scrolls down,
/// so a viewer can tell at a glance that frames are live.
pub struct Synthetic {
    width: u32,
    height: u32,
    pacer: Pacer,
    seq: u64,
}

impl Synthetic {
    pub fn new(width: u32, height: u32, fps: f64) -> Result<Self, SourceError> {
        if !(16..=4096).contains(&width) || !(16..=4096).contains(&height) {
            return Err(SourceError::Config(format!(
                "synthetic size {width}x{height}: each side must be 16..=4096"
            )));
        }
        if !(fps > 0.0 && fps <= 240.0) {
            return Err(SourceError::Config(format!(
                "synthetic fps {fps}: must be in (0, 240]"
            )));
        }
        Ok(Self {
            width,
            height,
            pacer: Pacer::new(fps),
            seq: 0,
        })
    }

    fn render(&self, t: u64, rgb: &mut [u8]) {
        const BARS: [[u8; 3]; 7] = [
            [192, 192, 192],
            [192, 192, 0],
            [0, 192, 192],
            [0, 192, 0],
            [192, 0, 192],
            [192, 0, 0],
            [0, 0, 192],
        ];
        let (w, h) = (self.width as usize, self.height as usize);
        let side = h / 4;
        let sq_x = (t as usize * 4) % (w.saturating_sub(side).max(1));
        let sq_y = h / 2 - side / 2;
        let band = (t as usize * 2) % h;
        for y in 0..h {
            for x in 0..w {
                let mut px = BARS[x * BARS.len() / w];
                if (sq_x..sq_x + side).contains(&x) && (sq_y..sq_y + side).contains(&y) {
                    px = [255, 255, 255];
                } else if y.abs_diff(band) < 3 {
                    px = [16, 16, 16];
                }
                let i = (y * w + x) * 3;
                rgb[i..i + 3].copy_from_slice(&px);
            }
        }
    }
}

impl Source for Synthetic {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.pacer.wait();
        let mut rgb = vec![0u8; self.width as usize * self.height as usize * 3];
        self.render(self.seq, &mut rgb);
        let frame = Frame::captured_now(self.seq, self.width, self.height, rgb);
        self.seq += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "synthetic test pattern {}x{} at {:.1} fps",
            self.width,
            self.height,
            self.pacer.fps()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_numbered_sized_and_move() {
        let mut s = Synthetic::new(64, 48, 240.0).unwrap();
        let a = s.next_frame().unwrap().unwrap();
        let b = s.next_frame().unwrap().unwrap();
        assert_eq!((a.seq, b.seq), (0, 1));
        assert_eq!(a.rgb.len(), 64 * 48 * 3);
        assert_ne!(a.rgb, b.rgb, "the pattern moves");
        assert!(b.capture_ts_us >= a.capture_ts_us);
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(Synthetic::new(8, 48, 30.0).is_err());
        assert!(Synthetic::new(64, 48, 0.0).is_err());
        assert!(Synthetic::new(64, 48, f64::NAN).is_err());
    }
}
