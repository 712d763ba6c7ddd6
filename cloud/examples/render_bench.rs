//! Frames per second per core of the cloud's per-frame work at 320×240: JPEG decode + skeleton
//! and overlay + JPEG encode, against a baseline of decode + encode alone (same process).
//!
//! `cargo run --release -p pose-cloud --example render_bench [FRAMES]` (or `make bench-cloud`)

use std::sync::Arc;
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat};
use pose_cloud::consume::FrameMessage;
use pose_cloud::join::Joined;
use pose_cloud::render::{Overlay, render};
use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let (w, h) = (320u32, 240u32);
    // A textured test frame (gradients and noise, so JPEG has real work), encoded at quality 75.
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let noise = (i.wrapping_mul(2_654_435_761) >> 27) as u8;
            [
                (x * 255 / w) as u8 ^ noise,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ]
        })
        .collect();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 75).encode(&rgb, w, h, ExtendedColorType::Rgb8)?;
    let camera = CameraId::new("bench")?;
    let landmarks = std::array::from_fn(|i| Landmark {
        x: 0.3 + 0.4 * ((i * 7) % 33) as f32 / 33.0,
        y: 0.1 + 0.8 * i as f32 / 33.0,
        z: 0.0,
        visibility: 0.9,
        presence: 0.9,
    });
    let joined = Joined {
        camera_id: camera.clone(),
        seq: 1,
        capture_ts_us: 0,
        frame: Some(Arc::new(FrameMessage {
            meta: FrameMeta {
                camera_id: camera.clone(),
                seq: 1,
                capture_ts_us: 0,
                width: w,
                height: h,
            },
            jpeg: jpeg.clone(),
        })),
        keypoints: Some(Arc::new(KeypointMessage {
            camera_id: camera,
            seq: 1,
            capture_ts_us: 0,
            inference_us: 0,
            width: w,
            height: h,
            frame_published: true,
            poses: vec![Pose {
                score: 0.9,
                landmarks,
            }],
        })),
        stale: false,
    };
    let overlay = Overlay {
        fps: 30.0,
        latency_ms: 42.0,
    };

    let baseline = || -> anyhow::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let img = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg)?.into_rgb8();
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, 80).encode(
                img.as_raw(),
                w,
                h,
                ExtendedColorType::Rgb8,
            )?;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    let full = || -> anyhow::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            render(&joined, overlay, 80)?;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    // Alternate and keep the best of three of each (one thread: fps per core).
    let mut b = 0f64;
    let mut f = 0f64;
    for _ in 0..3 {
        b = b.max(baseline()?);
        f = f.max(full()?);
    }
    println!("frames {n} at {w}x{h}, one thread");
    println!("decode + encode (baseline)          {b:8.1} fps");
    println!(
        "decode + draw + overlay + encode    {f:8.1} fps  ({:.2}x the baseline's time)",
        b / f
    );
    Ok(())
}
