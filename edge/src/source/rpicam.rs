//! Frames from `rpicam-vid`, the Raspberry Pi camera app, as a child process: raw YUV 4:2:0
//! (I420) frames on its stdout, converted to RGB here.
//!
//! Why beside the native libcamera source: `rpicam-vid` comes with Raspberry Pi OS and is built
//! against that OS's own libcamera, so this source works whatever libcamera version the Pi has
//! (the native source needs the exact libcamera the binary was linked against; README "Deploy").
//! It behaves like the ffmpeg sources: one frame read at a time from the pipe, the camera delivers
//! at its own rate (no pacing here), end of stream at a frame boundary ends the source, a short
//! frame is an error, and the child is killed when the source is dropped.
//!
//! Format: `rpicam-vid --codec yuv420 -o -` writes each frame as the Y plane (width x height
//! bytes) then U and V (width/2 x height/2 each), rows as wide as the camera buffer's stride. The
//! width must be a multiple of 64 so that the stride equals the width on every Pi (the ISP aligns
//! rows to at most 64 bytes); the height must be even.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{Frame, Source, SourceError};

/// What `rpicam-vid` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct RpicamSettings {
    /// The program: `rpicam-vid` (from PATH) or a path (a stand-in in tests).
    pub program: PathBuf,
    /// Camera index (`rpicam-vid --list-cameras`).
    pub camera: usize,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
}

/// The largest frame side accepted (guards the per-frame buffer size).
const MAX_SIDE: u32 = 4096;

/// A frame source reading `rpicam-vid`'s raw YUV 4:2:0 output.
pub struct Rpicam {
    settings: RpicamSettings,
    child: Child,
    stdout: ChildStdout,
    /// One I420 frame as read from the pipe, reused.
    yuv: Vec<u8>,
    seq: u64,
}

impl Rpicam {
    /// Checks the settings and starts `rpicam-vid`.
    pub fn open(settings: RpicamSettings) -> Result<Self, SourceError> {
        let RpicamSettings {
            width, height, fps, ..
        } = settings;
        if !(64..=MAX_SIDE).contains(&width) || width % 64 != 0 {
            return Err(SourceError::Config(format!(
                "rpicam width {width} must be a multiple of 64 in 64..={MAX_SIDE} (rows unpadded)"
            )));
        }
        if !(2..=MAX_SIDE).contains(&height) || height % 2 != 0 {
            return Err(SourceError::Config(format!(
                "rpicam height {height} must be even, in 2..={MAX_SIDE}"
            )));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 240.0) {
            return Err(SourceError::Config(format!(
                "rpicam fps {fps} is not in (0, 240]"
            )));
        }
        let mut child = Command::new(&settings.program)
            .args(rpicam_args(&settings))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                SourceError::Config(format!(
                    "cannot start {} (Raspberry Pi OS: apt-get install rpicam-apps-lite): {e}",
                    settings.program.display()
                ))
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SourceError::Config("rpicam-vid has no stdout".into()))?;
        Ok(Self {
            yuv: vec![0; i420_len(width, height)],
            settings,
            child,
            stdout,
            seq: 0,
        })
    }
}

/// The arguments for endless raw I420 frames on stdout, without preview.
pub fn rpicam_args(s: &RpicamSettings) -> Vec<String> {
    vec![
        "--nopreview".into(),
        "--timeout".into(),
        "0".into(),
        "--camera".into(),
        s.camera.to_string(),
        "--width".into(),
        s.width.to_string(),
        "--height".into(),
        s.height.to_string(),
        "--framerate".into(),
        format!("{}", s.fps),
        "--codec".into(),
        "yuv420".into(),
        // Each frame is written as it is captured, not when a buffer fills.
        "--flush".into(),
        "--output".into(),
        "-".into(),
    ]
}

/// Bytes in one I420 frame (even width and height).
pub fn i420_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

/// Converts one I420 frame to packed RGB (BT.601, limited range: rpicam-vid's video default
/// below 1280x720; Rec.709 above it shifts hues slightly, which pose estimation does not mind).
pub fn i420_to_rgb(yuv: &[u8], width: u32, height: u32, rgb: &mut [u8]) {
    let (w, h) = (width as usize, height as usize);
    let (y_plane, chroma) = yuv.split_at(w * h);
    let (u_plane, v_plane) = chroma.split_at((w / 2) * (h / 2));
    for row in 0..h {
        let y_row = &y_plane[row * w..(row + 1) * w];
        let c = (row / 2) * (w / 2);
        let (u_row, v_row) = (&u_plane[c..c + w / 2], &v_plane[c..c + w / 2]);
        let out = &mut rgb[row * w * 3..(row + 1) * w * 3];
        for (col, (px, &y)) in out.chunks_exact_mut(3).zip(y_row).enumerate() {
            let y = (i32::from(y) - 16) * 298;
            let (u, v) = (
                i32::from(u_row[col / 2]) - 128,
                i32::from(v_row[col / 2]) - 128,
            );
            let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
            px[0] = clamp(y + 409 * v);
            px[1] = clamp(y - 100 * u - 208 * v);
            px[2] = clamp(y + 516 * u);
        }
    }
}

impl Drop for Rpicam {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Source for Rpicam {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut filled = 0;
        while filled < self.yuv.len() {
            match self.stdout.read(&mut self.yuv[filled..]) {
                Ok(0) if filled == 0 => return Ok(None), // rpicam-vid ended
                Ok(0) => {
                    return Err(SourceError::Config(format!(
                        "rpicam-vid stopped mid-frame ({filled} of {} bytes)",
                        self.yuv.len()
                    )));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(SourceError::Config(format!(
                        "cannot read from rpicam-vid: {e}"
                    )));
                }
            }
        }
        let (w, h) = (self.settings.width, self.settings.height);
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        i420_to_rgb(&self.yuv, w, h, &mut rgb);
        let frame = Frame::captured_now(self.seq, w, h, rgb);
        self.seq += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        format!(
            "rpicam camera {} via {} {}x{} at {:.1} fps (yuv420)",
            s.camera,
            s.program.display(),
            s.width,
            s.height,
            s.fps
        )
    }
}

/// `rpicam-vid --list-cameras`: the cameras rpicam-apps sees, one line each, or why not.
pub fn list(program: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(program)
        .arg("--list-cameras")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} not found ({e})", program.display()))?;
    // rpicam-apps prints the list on stdout, or "No cameras available!" (on stderr in some
    // versions) and exits 0 either way.
    if !out.status.success() {
        return Err(format!("{} exited with {}", program.display(), out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|l| l.trim().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(width: u32, height: u32) -> RpicamSettings {
        RpicamSettings {
            program: "/nonexistent/rpicam-vid".into(),
            camera: 0,
            width,
            height,
            fps: 30.0,
        }
    }

    #[test]
    fn i420_sizes_and_colours() {
        assert_eq!(i420_len(64, 2), 64 * 2 + 2 * 32);
        // Black, white and a red pixel pair in limited-range BT.601.
        let (w, h) = (2u32, 2u32);
        let mut rgb = vec![0u8; 12];
        i420_to_rgb(&[16, 16, 16, 16, 128, 128], w, h, &mut rgb);
        assert!(rgb.iter().all(|&c| c == 0), "{rgb:?}");
        i420_to_rgb(&[235, 235, 235, 235, 128, 128], w, h, &mut rgb);
        assert!(rgb.iter().all(|&c| c == 255), "{rgb:?}");
        i420_to_rgb(&[81, 81, 81, 81, 90, 240], w, h, &mut rgb);
        let px = &rgb[..3];
        assert!(px[0] > 250 && px[1] < 5 && px[2] < 5, "red: {px:?}");
    }

    #[test]
    fn settings_are_checked_before_starting() {
        for (w, h) in [(100, 480), (640, 481), (0, 480), (8192, 480)] {
            let err = Rpicam::open(settings(w, h)).err();
            assert!(
                err.is_some_and(|e| e.to_string().contains("rpicam")),
                "{w}x{h} accepted"
            );
        }
        let err = Rpicam::open(settings(640, 480)).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("rpicam-apps-lite")),
            "a missing program says what to install"
        );
    }

    #[test]
    fn arguments_ask_for_raw_yuv_on_stdout() {
        let args = rpicam_args(&settings(640, 480)).join(" ");
        assert!(args.contains("--codec yuv420"), "{args}");
        assert!(
            args.contains("--width 640 --height 480 --framerate 30"),
            "{args}"
        );
        assert!(args.ends_with("--output -"), "{args}");
    }
}
