//! Frames from a directory of images (PNG or JPEG, in file-name order), paced at a frame rate.

use std::path::{Path, PathBuf};

use tracing::warn;

use super::pace::Pacer;
use super::{Frame, Source, SourceError};

/// Plays the images of a directory as video frames, optionally in a loop. Images that cannot be
/// read are logged, counted and skipped.
pub struct ImageDir {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    looped: bool,
    pacer: Pacer,
    seq: u64,
    skipped: u64,
}

impl ImageDir {
    pub fn new(dir: &Path, fps: f64, looped: bool) -> Result<Self, SourceError> {
        if !(fps > 0.0 && fps <= 240.0) {
            return Err(SourceError::Config(format!(
                "images fps {fps}: must be in (0, 240]"
            )));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| {
            SourceError::Config(format!(
                "cannot read image directory {}: {e}",
                dir.display()
            ))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SourceError::Config(format!(
                "no .png or .jpg files in {}",
                dir.display()
            )));
        }
        Ok(Self {
            dir: dir.to_owned(),
            files,
            next: 0,
            looped,
            pacer: Pacer::new(fps),
            seq: 0,
            skipped: 0,
        })
    }

    /// Images that could not be read so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

impl Source for ImageDir {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        // Give up after a full pass in which no image could be read.
        let mut failures_in_a_row = 0;
        loop {
            if self.next >= self.files.len() {
                if !self.looped {
                    return Ok(None);
                }
                self.next = 0;
            }
            if failures_in_a_row >= self.files.len() {
                return Err(SourceError::Config(format!(
                    "no image in {} can be read",
                    self.dir.display()
                )));
            }
            let path = &self.files[self.next];
            self.next += 1;
            let img = match image::open(path) {
                Ok(img) => img.into_rgb8(),
                Err(e) => {
                    self.skipped += 1;
                    failures_in_a_row += 1;
                    warn!(file = %path.display(), error = %e, skipped_total = self.skipped, "unreadable image skipped");
                    continue;
                }
            };
            self.pacer.wait();
            let (width, height) = img.dimensions();
            let frame = Frame::captured_now(self.seq, width, height, img.into_raw());
            self.seq += 1;
            return Ok(Some(frame));
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} images from {} at {:.1} fps{}",
            self.files.len(),
            self.dir.display(),
            self.pacer.fps(),
            if self.looped { ", looped" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_in_order_loops_and_skips_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, shade) in [10u8, 20, 30].iter().enumerate() {
            image::RgbImage::from_pixel(4, 3, image::Rgb([*shade; 3]))
                .save(dir.path().join(format!("f{i}.png")))
                .unwrap();
        }
        std::fs::write(dir.path().join("f1b.jpg"), b"not a jpeg").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let mut src = ImageDir::new(dir.path(), 240.0, true).unwrap();
        let shades: Vec<(u64, u8)> = (0..5)
            .map(|_| src.next_frame().unwrap().unwrap())
            .map(|f| (f.seq, f.rgb[0]))
            .collect();
        assert_eq!(shades, vec![(0, 10), (1, 20), (2, 30), (3, 10), (4, 20)]);
        assert!(src.skipped() >= 1);
        let mut once = ImageDir::new(dir.path(), 240.0, false).unwrap();
        let n = std::iter::from_fn(|| once.next_frame().unwrap()).count();
        assert_eq!(n, 3);
    }

    #[test]
    fn errors() {
        assert!(ImageDir::new(Path::new("/nonexistent/dir"), 30.0, false).is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(ImageDir::new(empty.path(), 30.0, false).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.png"), b"x").unwrap();
        let mut src = ImageDir::new(dir.path(), 240.0, true).unwrap();
        assert!(
            src.next_frame().is_err(),
            "a directory of unreadable images ends with an error"
        );
    }
}
