//! The cloud's drawing speed at 320×240, three tables:
//! 1. the JPEG codecs alone, one thread: the `image` crate's (zune-jpeg decoder, its own encoder,
//!    what `render.rs` used before issue 14) against libjpeg-turbo (the `turbojpeg` crate);
//! 2. one frame's whole work per core: decode + skeleton and overlay + encode, before (the
//!    `image` crate for both) and now (`render`: `image` decodes, libjpeg-turbo encodes);
//! 3. frames drawn per second in total with 1, 8 and 16 cameras, all offered more frames than
//!    can be drawn: the old serial loop (each frame drawn on a blocking thread and awaited
//!    before the next) with the old codec and with the new one, against the per-camera workers
//!    (`renderers.rs`), in the same run.
//!
//! `cargo run --release -p pose-cloud --example render_bench [FRAMES] [SECONDS]`
//! (or `make bench-cloud`)

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat};
use pose_cloud::consume::FrameMessage;
use pose_cloud::join::Joined;
use pose_cloud::render::{Overlay, encode_rgb, render};
use pose_cloud::renderers::Renderers;
use pose_cloud::serve::AppState;
use pose_shared::draw::{Canvas, DEFAULT_PALETTE, draw_pose};
use pose_shared::font::{draw_text, text_size};
use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage};

const QUALITY: u8 = 80;

fn main() -> anyhow::Result<()> {
    let arg = |i: usize| std::env::args().nth(i);
    let n: usize = arg(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let secs: f64 = arg(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
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
    let joined = Joined {
        camera_id: camera.clone(),
        run: 1,
        seq: 1,
        capture_ts_us: 0,
        frame: Some(Arc::new(FrameMessage {
            meta: FrameMeta {
                camera_id: camera.clone(),
                run: 1,
                seq: 1,
                capture_ts_us: 0,
                width: w,
                height: h,
            },
            jpeg: jpeg.clone(),
        })),
        keypoints: Some(Arc::new(KeypointMessage {
            width: w,
            height: h,
            ..pose_shared::fixtures::keypoint_message("bench", 1, 0)
        })),
        stale: false,
    };
    let overlay = Overlay {
        fps: 30.0,
        latency_ms: 42.0,
    };

    let time = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            f()?;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    let image_decode = || -> anyhow::Result<()> {
        let _ = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg)?.into_rgb8();
        Ok(())
    };
    let turbo_decode = || -> anyhow::Result<()> {
        turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB)?;
        Ok(())
    };
    let image_encode = || -> anyhow::Result<()> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, QUALITY).encode(
            &rgb,
            w,
            h,
            ExtendedColorType::Rgb8,
        )?;
        Ok(())
    };
    let turbo_encode = || -> anyhow::Result<()> {
        encode_rgb(&rgb, w, h, QUALITY)?;
        Ok(())
    };
    let old_render = || -> anyhow::Result<()> {
        render_with_image_codec(&joined, overlay)?;
        Ok(())
    };
    let new_render = || -> anyhow::Result<()> {
        render(&joined, overlay, QUALITY)?;
        Ok(())
    };
    // Alternate and keep the best of three of each (one thread: fps per core).
    let mut best = [0f64; 6];
    for _ in 0..3 {
        let fs: [&dyn Fn() -> anyhow::Result<()>; 6] = [
            &image_decode,
            &turbo_decode,
            &image_encode,
            &turbo_encode,
            &old_render,
            &new_render,
        ];
        for (b, f) in best.iter_mut().zip(fs) {
            *b = b.max(time(f)?);
        }
    }
    println!("{n} frames at {w}x{h}, one thread, best of 3, frames per second");
    println!();
    println!("| codec | decode | encode (quality {QUALITY}) |");
    println!("|---|---|---|");
    println!("| image 0.25 | {:.0} | {:.0} |", best[0], best[2]);
    println!(
        "| libjpeg-turbo 3 (turbojpeg 1.5) | {:.0} | {:.0} |",
        best[1], best[3]
    );
    println!();
    println!(
        "decode + draw + overlay + encode: before (image codec) {:.0}, now (image decodes, \
         libjpeg-turbo encodes) {:.0}",
        best[4], best[5]
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let window = Duration::from_secs_f64(secs);
    let cores = Renderers::default_parallelism();
    println!();
    println!("frames drawn per second in total, {cores} cores, {secs} s per run, best of 2");
    println!();
    println!(
        "| cameras | serial loop, image codec (before) | serial loop, new codec | per-camera workers, new codec (now) | now / before |"
    );
    println!("|---|---|---|---|---|");
    for cameras in [1usize, 8, 16] {
        let jobs: Vec<Joined> = (0..cameras)
            .map(|c| {
                let mut j = joined.clone();
                j.camera_id = CameraId::new(format!("bench-{c}")).expect("valid id");
                j
            })
            .collect();
        let mut fps = [0f64; 3];
        for _ in 0..2 {
            let r = [
                rt.block_on(serial(&jobs, overlay, window, true)),
                rt.block_on(serial(&jobs, overlay, window, false)),
                rt.block_on(workers(&jobs, window, cores)),
            ];
            for (b, now) in fps.iter_mut().zip(r) {
                *b = b.max(now);
            }
        }
        println!(
            "| {cameras} | {:.0} | {:.0} | {:.0} | {:.2}x |",
            fps[0],
            fps[1],
            fps[2],
            fps[2] / fps[0]
        );
    }
    Ok(())
}

/// `render` as it was before issue 14: the same drawing, the `image` crate's codec.
fn render_with_image_codec(j: &Joined, overlay: Overlay) -> anyhow::Result<Vec<u8>> {
    let f = j
        .frame
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no frame"))?;
    let img = image::load_from_memory_with_format(&f.jpeg, ImageFormat::Jpeg)?.into_rgb8();
    let (width, height) = img.dimensions();
    let mut rgb = img.into_raw();
    if let Some(mut canvas) = Canvas::new(width, height, &mut rgb) {
        if let Some(k) = &j.keypoints {
            for pose in &k.poses {
                draw_pose(&mut canvas, &pose.landmarks, &DEFAULT_PALETTE);
            }
        }
        let scale = (width / 160).max(1);
        let text = format!(
            "{} {:.0} FPS {:.0} MS",
            j.camera_id, overlay.fps, overlay.latency_ms
        );
        let (tw, th) = text_size(&text, scale);
        canvas.fill_rect(0, 0, i64::from(tw) + 4, i64::from(th) + 2, [0, 0, 0]);
        draw_text(&mut canvas, 2, 2, &text, scale, [255, 255, 255]);
    }
    let mut out = Vec::with_capacity(rgb.len() / 8);
    JpegEncoder::new_with_quality(&mut out, QUALITY).encode(
        &rgb,
        width,
        height,
        ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// The service loop before issue 14: every joined frame drawn on a blocking thread and awaited
/// before the next message is taken.
async fn serial(jobs: &[Joined], overlay: Overlay, window: Duration, image_codec: bool) -> f64 {
    let t = Instant::now();
    let mut drawn = 0u64;
    while t.elapsed() < window {
        for j in jobs {
            let j = j.clone();
            let ok = tokio::task::spawn_blocking(move || {
                if image_codec {
                    render_with_image_codec(&j, overlay).is_ok()
                } else {
                    render(&j, overlay, QUALITY).is_ok()
                }
            })
            .await;
            drawn += u64::from(ok.unwrap_or(false));
        }
    }
    drawn as f64 / t.elapsed().as_secs_f64()
}

/// The per-camera workers, offered a new frame of every camera each time any frame is shown
/// (always more than they can draw, without a busy loop taking a core).
async fn workers(jobs: &[Joined], window: Duration, cores: usize) -> f64 {
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(stop_rx);
    let mut r = Renderers::new(cores, QUALITY, state.clone());
    let drawn = || -> u64 {
        state
            .hub
            .feeds()
            .iter()
            .map(|(_, f)| f.rendered.get())
            .sum()
    };
    // Warm up: every camera has its worker.
    for j in jobs {
        r.submit(j.clone());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut shown = state.hub.subscribe_shown();
    let (t, start) = (Instant::now(), drawn());
    while t.elapsed() < window {
        for j in jobs {
            r.submit(j.clone());
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), shown.changed()).await;
    }
    let fps = (drawn() - start) as f64 / t.elapsed().as_secs_f64();
    r.close().await;
    fps
}
