//! The edge's JPEG step (downscale to `frames.width`, encode) with the image crate's encoder
//! against libjpeg-turbo's, on the same frames in one run: `cargo run --release -p pose-edge
//! --example jpeg_bench [-- SECONDS]`. Prints frames per second of each and the ratio.

use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{ExtendedColorType, ImageBuffer, Rgb};

/// A frame with texture (a gradient with noise), like a camera's, not a flat colour.
fn frame(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let noise = (i.wrapping_mul(2_654_435_761) >> 27) as u8;
            [
                (x * 255 / w) as u8 ^ noise,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ]
        })
        .collect()
}

fn per_second(budget: Duration, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let t = Instant::now();
    let (mut n, mut bytes) = (0u64, 0);
    while t.elapsed() < budget {
        bytes = f();
        n += 1;
    }
    (n as f64 / t.elapsed().as_secs_f64(), bytes)
}

fn main() -> anyhow::Result<()> {
    let secs: f64 = std::env::args().nth(1).map_or(Ok(3.0), |s| s.parse())?;
    let budget = Duration::from_secs_f64(secs);
    println!(
        "| source | published | step | image crate fps | libjpeg-turbo fps | ratio | bytes (image / turbo) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (w, h) in [(640, 480), (1280, 720)] {
        let rgb = frame(w, h);
        let src: ImageBuffer<Rgb<u8>, &[u8]> =
            ImageBuffer::from_raw(w, h, rgb.as_slice()).ok_or(anyhow::anyhow!("size"))?;
        let (tw, th) = pose_edge::jpeg::scaled_size(w, h, 320);
        let small = image::imageops::resize(&src, tw, th, FilterType::Triangle);
        let image_encode = || {
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, 75)
                .encode(small.as_raw(), tw, th, ExtendedColorType::Rgb8)
                .expect("encodes");
            out.len()
        };
        let mut turbo = pose_edge::jpeg::Turbo::new(75)?;
        let (ri, bi) = per_second(budget, image_encode);
        let (rt, bt) = per_second(budget, || {
            turbo.encode(small.as_raw(), tw, th).expect("encodes").len()
        });
        println!(
            "| {w}×{h} | {tw}×{th} | encode | {ri:.0} | {rt:.0} | {:.2}× | {bi} / {bt} |",
            rt / ri
        );
        let (ri, _) = per_second(budget, || {
            let s = image::imageops::resize(&src, tw, th, FilterType::Triangle);
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, 75)
                .encode(s.as_raw(), tw, th, ExtendedColorType::Rgb8)
                .expect("encodes");
            out.len()
        });
        let (rt, _) = per_second(budget, || {
            let s = image::imageops::resize(&src, tw, th, FilterType::Triangle);
            turbo.encode(s.as_raw(), tw, th).expect("encodes").len()
        });
        println!(
            "| {w}×{h} | {tw}×{th} | downscale (image) + encode | {ri:.0} | {rt:.0} | {:.2}× | |",
            rt / ri
        );
        let mut down = pose_edge::jpeg::Downscaler::default();
        let (rs, _) = per_second(budget, || {
            let s = down.scale(&rgb, (w, h), (tw, th)).expect("scales");
            turbo.encode(s, tw, th).expect("encodes").len()
        });
        println!(
            "| {w}×{h} | {tw}×{th} | downscale (SIMD) + encode | {ri:.0} | {rs:.0} | {:.2}× | |",
            rs / ri
        );
    }
    Ok(())
}
