//! Frames decoded by an `ffmpeg` child process: video files (any format ffmpeg reads) and V4L2
//! cameras (USB webcams, or a Pi camera through its V4L2 compatibility layer).
//!
//! ffmpeg converts to packed RGB24 and writes raw frames to a pipe; this side reads one frame at
//! a time. A file is paced at its own frame rate (or read as fast as possible) and can loop; a
//! camera delivers at its own rate.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::pace::Pacer;
use super::{Frame, Source, SourceError};

/// What ffmpeg reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A video file; `looped` starts over at the end; `paced` plays at the file's frame rate.
    File {
        path: PathBuf,
        looped: bool,
        paced: bool,
    },
    /// A V4L2 device at a requested size and frame rate.
    V4l2 {
        device: PathBuf,
        width: u32,
        height: u32,
        fps: f64,
    },
}

/// A frame source backed by ffmpeg.
pub struct Ffmpeg {
    input: Input,
    child: Child,
    stdout: ChildStdout,
    width: u32,
    height: u32,
    fps: f64,
    pacer: Option<Pacer>,
    seq: u64,
}

/// Largest frame side accepted from a file (guards the per-frame buffer size).
const MAX_SIDE: u32 = 8192;

impl Ffmpeg {
    pub fn open(input: Input) -> Result<Self, SourceError> {
        let (width, height, fps) = match &input {
            Input::File { path, .. } => probe(path)?,
            Input::V4l2 {
                width, height, fps, ..
            } => (*width, *height, *fps),
        };
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(SourceError::Config(format!(
                "video size {width}x{height} is out of range"
            )));
        }
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
        match &input {
            Input::File { path, looped, .. } => {
                if *looped {
                    cmd.args(["-stream_loop", "-1"]);
                }
                cmd.arg("-i").arg(path);
            }
            Input::V4l2 {
                device,
                width,
                height,
                fps,
            } => {
                cmd.args([
                    "-f",
                    "v4l2",
                    "-framerate",
                    &format!("{fps}"),
                    "-video_size",
                    &format!("{width}x{height}"),
                ]);
                cmd.arg("-i").arg(device);
            }
        }
        // Force the probed size: a stream that changes size mid-way is scaled, not misread.
        cmd.args([
            "-vf",
            &format!("scale={width}:{height}"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| {
            SourceError::Config(format!(
                "cannot start ffmpeg (is it installed? apt-get install ffmpeg): {e}"
            ))
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SourceError::Config("ffmpeg has no stdout".into()))?;
        let pacer = match &input {
            Input::File { paced: true, .. } if fps > 0.0 => Some(Pacer::new(fps)),
            _ => None,
        };
        Ok(Self {
            input,
            child,
            stdout,
            width,
            height,
            fps,
            pacer,
            seq: 0,
        })
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Source for Ffmpeg {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut rgb = vec![0u8; self.width as usize * self.height as usize * 3];
        let mut filled = 0;
        while filled < rgb.len() {
            match self.stdout.read(&mut rgb[filled..]) {
                Ok(0) if filled == 0 => return Ok(None), // end of the video
                Ok(0) => {
                    return Err(SourceError::Config(format!(
                        "ffmpeg stopped mid-frame ({filled} bytes)"
                    )));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SourceError::Config(format!("cannot read from ffmpeg: {e}"))),
            }
        }
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let frame = Frame::captured_now(self.seq, self.width, self.height, rgb);
        self.seq += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        match &self.input {
            Input::File {
                path,
                looped,
                paced,
            } => format!(
                "video {} {}x{} at {:.2} fps{}{}",
                path.display(),
                self.width,
                self.height,
                self.fps,
                if *paced { "" } else { " (unpaced)" },
                if *looped { ", looped" } else { "" }
            ),
            Input::V4l2 { device, .. } => {
                format!(
                    "v4l2 {} {}x{} at {:.1} fps",
                    device.display(),
                    self.width,
                    self.height,
                    self.fps
                )
            }
        }
    }
}

/// Width, height and frame rate of the first video stream of `path`, from ffprobe.
fn probe(path: &Path) -> Result<(u32, u32, f64), SourceError> {
    if !path.is_file() {
        return Err(SourceError::Config(format!(
            "video file {} not found",
            path.display()
        )));
    }
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,r_frame_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            SourceError::Config(format!("cannot run ffprobe (apt-get install ffmpeg): {e}"))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_probe(text.trim()).ok_or_else(|| {
        SourceError::Config(format!(
            "{} has no readable video stream ({})",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })
}

/// Parses ffprobe's `WIDTH,HEIGHT,NUM/DEN` line.
fn parse_probe(line: &str) -> Option<(u32, u32, f64)> {
    let mut it = line.lines().next()?.split(',');
    let width = it.next()?.trim().parse().ok()?;
    let height = it.next()?.trim().parse().ok()?;
    let rate = it.next()?.trim();
    let fps = match rate.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
            if d > 0.0 { n / d } else { 0.0 }
        }
        None => rate.parse().ok()?,
    };
    Some((
        width,
        height,
        if fps.is_finite() && fps > 0.0 && fps <= 1000.0 {
            fps
        } else {
            30.0
        },
    ))
}

/// V4L2 capture devices on this machine: (device, name).
pub fn v4l2_devices() -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir("/sys/class/video4linux")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = std::fs::read_to_string(e.path().join("name"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            (Path::new("/dev").join(e.file_name()), name)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines() {
        assert_eq!(
            parse_probe("176,144,30000/1001"),
            Some((176, 144, 30000.0 / 1001.0))
        );
        assert_eq!(parse_probe("640,480,25"), Some((640, 480, 25.0)));
        assert_eq!(
            parse_probe("640,480,0/0"),
            Some((640, 480, 30.0)),
            "unknown rate: 30"
        );
        assert_eq!(parse_probe(""), None);
        assert_eq!(parse_probe("x,480,25/1"), None);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Ffmpeg::open(Input::File {
            path: "/nonexistent.mp4".into(),
            looped: false,
            paced: false,
        })
        .err();
        assert!(err.is_some_and(|e| e.to_string().contains("not found")));
    }
}
