//! Measures the keypoint message: its size and the time to encode and to decode it, for wire
//! version 1 (the baseline), version 2 without world landmarks and version 2 with them, with one
//! pose and with 16, and prints each against version 1 (`bench/wire.sh`).
//!
//!     cargo run --release -p pose-shared --example wire_bench [ROUNDS]

use std::hint::black_box;
use std::time::Instant;

use pose_shared::{CameraId, KeypointMessage, Landmark, Pose, WorldLandmark};

fn message(poses: usize, run: u64, world: bool) -> KeypointMessage {
    KeypointMessage {
        camera_id: CameraId::new("pi-kitchen-01").expect("valid id"),
        run,
        seq: 123_456,
        capture_ts_us: 1_764_100_000_123_456,
        inference_us: 38_210,
        width: 640,
        height: 480,
        frame_published: true,
        poses: (0..poses)
            .map(|p| Pose {
                track_id: p as u32 + 1,
                score: 0.9,
                landmarks: std::array::from_fn(|i| Landmark {
                    x: 0.3 + i as f32 * 0.01 + p as f32 * 0.02,
                    y: 0.2 + i as f32 * 0.02,
                    z: -0.1,
                    visibility: 0.9,
                    presence: 0.95,
                }),
                world_landmarks: world.then(|| {
                    std::array::from_fn(|i| WorldLandmark {
                        x: -0.2 + i as f32 * 0.01,
                        y: -0.6 + i as f32 * 0.03,
                        z: 0.05,
                    })
                }),
            })
            .collect(),
    }
}

/// Nanoseconds per call of `f` over `rounds` calls.
fn ns_per_call(rounds: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    println!(
        "poses  variant         bytes  encode_ns  decode_ns  (ratio to v1: bytes encode decode)"
    );
    for poses in [1, 16] {
        let variants = [("v1", 0, false), ("v2", 7, false), ("v2+world", 7, true)];
        let msgs: Vec<(KeypointMessage, Vec<u8>)> = variants
            .iter()
            .map(|&(_, run, world)| {
                let m = message(poses, run, world);
                let b = m.encode().expect("encodes");
                (m, b)
            })
            .collect();
        // Best of 7 passes, the variants interleaved within each pass so that none is favoured
        // by running first (a loaded machine drifts).
        let mut best = vec![(f64::INFINITY, f64::INFINITY); variants.len()];
        let mut buf = Vec::with_capacity(16 * 1024);
        for _ in 0..7 {
            for (i, (msg, bytes)) in msgs.iter().enumerate() {
                let enc = ns_per_call(rounds, || {
                    buf.clear();
                    msg.encode_into(&mut buf).expect("encodes");
                    black_box(&buf);
                });
                let dec = ns_per_call(rounds, || {
                    black_box(KeypointMessage::decode(black_box(bytes)).expect("decodes"));
                });
                best[i] = (best[i].0.min(enc), best[i].1.min(dec));
            }
        }
        let (b0, (e0, d0)) = (msgs[0].1.len() as f64, best[0]);
        for ((name, _, _), ((_, bytes), (enc, dec))) in variants.iter().zip(msgs.iter().zip(&best))
        {
            println!(
                "{poses:>5}  {name:<14} {:>6}  {enc:>9.0}  {dec:>9.0}  ({:.2} {:.2} {:.2})",
                bytes.len(),
                bytes.len() as f64 / b0,
                enc / e0,
                dec / d0
            );
        }
    }
}
