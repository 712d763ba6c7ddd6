//! The lite and heavy landmark models against MediaPipe with the same model
//! (`model_complexity` 0 and 2), as `accuracy.rs` does for full: the same person found or not
//! found on the still images, and a mean landmark distance of at most 1 % of the diagonal on the
//! images and on the tracked carphone clip. MediaPipe reads the same pinned files (placed in its
//! package folder by `scripts/mediapipe-venv.sh`); references are cached.

mod mediapipe;

use std::path::PathBuf;

use mediapipe::{
    MAX_MEAN_DISTANCE, estimator, landmarks_px, mean_distance, ours, reference, samples,
};
use pose_edge::pose::{LandmarkModel, PeopleOptions};
use serde_json::Value;

fn first_pose_distance(mp: &Value, us: &Value) -> Option<f64> {
    let (w, h) = (mp["width"].as_f64()?, mp["height"].as_f64()?);
    let a = landmarks_px(mp["poses"].get(0)?, w, h)?;
    let b = landmarks_px(us["poses"].get(0)?, w, h)?;
    mean_distance(&a, &b, (w * w + h * h).sqrt())
}

fn found(v: &Value) -> bool {
    v["poses"].as_array().is_some_and(|p| !p.is_empty())
}

fn agree(model: LandmarkModel) {
    let tmp = tempfile::tempdir().unwrap();
    let names = [
        "messi5.jpg",
        "basketball1.png",
        "basketball2.png",
        "person_multi_det.jpg",
        "fruits.jpg",
        "baboon.jpg",
    ];
    let images = mediapipe::as_png(
        tmp.path(),
        &names.iter().map(|n| samples().join(n)).collect::<Vec<_>>(),
    );
    let mp = reference(&images, false, model);
    let us = ours(
        &mut estimator(model, PeopleOptions::single()),
        &images,
        false,
    );
    let mut compared = 0;
    for ((name, m), u) in names.iter().zip(&mp).zip(&us) {
        assert_eq!(
            found(m),
            found(u),
            "{model} {name}: MediaPipe {} vs pose-edge {}",
            found(m),
            found(u)
        );
        if let Some(d) = first_pose_distance(m, u) {
            compared += 1;
            eprintln!(
                "{model} {name:<22} mean distance {:.3} % of the diagonal",
                d * 100.0
            );
            assert!(
                d <= MAX_MEAN_DISTANCE,
                "{model} {name}: {:.3} % > 1 %",
                d * 100.0
            );
        }
    }
    assert!(
        compared >= 4,
        "{model}: compared {compared} images with people"
    );

    let frames: Vec<PathBuf> = (1..=120)
        .map(|i| samples().join(format!("carphone/f{i:04}.png")))
        .collect();
    let mp = reference(&frames, true, model);
    let us = ours(
        &mut estimator(model, PeopleOptions::single()),
        &frames,
        true,
    );
    let (mut n, mut sum, mut worst) = (0, 0.0, 0.0f64);
    for (i, (m, u)) in mp.iter().zip(&us).take(frames.len()).enumerate() {
        assert_eq!(found(m), found(u), "{model} carphone frame {}", i + 1);
        if let Some(d) = first_pose_distance(m, u) {
            n += 1;
            sum += d;
            worst = worst.max(d);
        }
    }
    let mean = sum / f64::from(n.max(1));
    eprintln!(
        "{model} carphone: {n}/120 frames, mean {:.3} %, worst frame {:.3} % of the diagonal",
        mean * 100.0,
        worst * 100.0
    );
    assert!(n >= 30, "{model}: compared {n} frames");
    assert!(
        mean <= MAX_MEAN_DISTANCE,
        "{model} carphone: mean {:.3} % > 1 %",
        mean * 100.0
    );
}

#[test]
fn lite_agrees_with_mediapipe_lite() {
    agree(LandmarkModel::Lite);
}

#[test]
fn heavy_agrees_with_mediapipe_heavy() {
    agree(LandmarkModel::Heavy);
}
