//! The source factory: builds the configured [`Source`](super::Source) from `[source]`.

use super::ffmpeg::{Ffmpeg, Input};
use super::images::ImageDir;
use super::synthetic::Synthetic;
use super::{Source, SourceConfig, SourceKind};

/// Builds the configured source; errors name the setting to fix.
pub fn open(cfg: &SourceConfig) -> anyhow::Result<Box<dyn Source>> {
    let path = |kind: &str| {
        cfg.path
            .clone()
            .ok_or_else(|| anyhow::anyhow!("source kind {kind} needs source.path (--source-path)"))
    };
    Ok(match cfg.kind {
        SourceKind::Synthetic => Box::new(Synthetic::new(cfg.width, cfg.height, cfg.fps)?),
        SourceKind::Images => Box::new(ImageDir::new(&path("images")?, cfg.fps, cfg.looped)?),
        SourceKind::Video => Box::new(Ffmpeg::open(Input::File {
            path: path("video")?,
            looped: cfg.looped,
            paced: cfg.pace,
        })?),
        SourceKind::V4l2 => Box::new(Ffmpeg::open(Input::V4l2 {
            device: cfg.device.clone(),
            width: cfg.width,
            height: cfg.height,
            fps: cfg.fps,
        })?),
        SourceKind::Rpicam => {
            use super::rpicam::{Rpicam, RpicamSettings};
            Box::new(Rpicam::open(RpicamSettings {
                program: cfg.rpicam_program.clone(),
                camera: cfg.camera,
                width: cfg.width,
                height: cfg.height,
                fps: cfg.fps,
            })?)
        }
        #[cfg(feature = "libcamera")]
        SourceKind::Libcamera => {
            use super::libcamera::{CameraSettings, Libcamera};
            Box::new(Libcamera::open(CameraSettings {
                index: cfg.camera,
                width: cfg.width,
                height: cfg.height,
                fps: cfg.fps,
                format: cfg.pixel_format,
            })?)
        }
        #[cfg(not(feature = "libcamera"))]
        SourceKind::Libcamera => {
            anyhow::bail!("this build has no libcamera support (build with `--features libcamera`)")
        }
    })
}
