//! Accuracy against MediaPipe itself: `pose-edge infer` and MediaPipe 0.10.14's legacy Pose
//! solution (model_complexity=1) run on the same public images and video frames, and must agree:
//! the same person found or not found, and a mean landmark distance of at most 1 % of the image
//! diagonal over the landmarks MediaPipe sees as visible.
//!
//! Needs the models (`models/fetch.sh`), the samples (`scripts/fetch-samples.sh`) and the MediaPipe
//! virtual environment (`scripts/mediapipe-venv.sh`); `make test` prepares all three.

mod mediapipe;

use std::path::PathBuf;

use mediapipe::{MAX_MEAN_DISTANCE, VISIBLE, samples};
use pose_edge::pose::{LandmarkModel, PeopleOptions};
use serde_json::Value;

/// MediaPipe's full model (model_complexity=1), the reference cached by input.
fn reference(images: &[PathBuf], track: bool) -> Vec<Value> {
    mediapipe::reference(images, track, LandmarkModel::Full)
}

/// `pose-edge infer` with the full model, one person (the single-person pipeline).
fn ours(images: &[PathBuf], track: bool) -> Vec<Value> {
    let mut est = mediapipe::estimator(LandmarkModel::Full, PeopleOptions::single());
    mediapipe::ours(&mut est, images, track)
}

/// Mean distance, as a fraction of the diagonal, between the first poses of two result lines over
/// the landmarks MediaPipe sees as visible; `None` when either found nobody.
fn mean_distance(mp: &Value, us: &Value) -> Option<(f64, usize)> {
    let (w, h) = (mp["width"].as_f64()?, mp["height"].as_f64()?);
    let a = mp["poses"].get(0)?["landmarks"].as_array()?;
    let b = us["poses"].get(0)?["landmarks"].as_array()?;
    let mut sum = 0.0;
    let mut n = 0;
    for (p, q) in a.iter().zip(b) {
        if p[3].as_f64()? <= VISIBLE {
            continue;
        }
        let dx = (p[0].as_f64()? - q[0].as_f64()?) * w;
        let dy = (p[1].as_f64()? - q[1].as_f64()?) * h;
        sum += (dx * dx + dy * dy).sqrt();
        n += 1;
    }
    (n > 0).then(|| (sum / n as f64 / (w * w + h * h).sqrt(), n))
}

fn found(v: &Value) -> bool {
    v["poses"].as_array().is_some_and(|p| !p.is_empty())
}

#[test]
fn still_images_agree_with_mediapipe() {
    let dir = samples();
    // Both sides read the same pixels: every image is decoded once here and saved as PNG.
    let tmp = tempfile::tempdir().unwrap();
    let names = [
        "messi5.jpg",
        "basketball1.png",
        "basketball2.png",
        "person_multi_det.jpg",
        "fruits.jpg",
        "baboon.jpg",
    ];
    let images: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let png = tmp.path().join(format!("{n}.png"));
            image::open(dir.join(n))
                .unwrap()
                .into_rgb8()
                .save(&png)
                .unwrap();
            png
        })
        .collect();
    let mp = reference(&images, false);
    let us = ours(&images, false);
    assert_eq!((mp.len(), us.len()), (images.len(), images.len()));
    let mut with_people = 0;
    for ((name, m), u) in names.iter().zip(&mp).zip(&us) {
        assert_eq!(
            found(m),
            found(u),
            "{name}: MediaPipe found a person: {}, pose-edge: {}",
            found(m),
            found(u)
        );
        if let Some((d, n)) = mean_distance(m, u) {
            with_people += 1;
            eprintln!(
                "{name:<22} mean distance {:.3} % of the diagonal over {n} visible landmarks",
                d * 100.0
            );
            assert!(
                d <= MAX_MEAN_DISTANCE,
                "{name}: mean distance {:.3} % > 1 %",
                d * 100.0
            );
        } else {
            eprintln!("{name:<22} nobody found by either");
        }
    }
    assert!(
        with_people >= 4,
        "the test must compare real poses, compared {with_people}"
    );
    assert!(
        names.len() - with_people >= 1,
        "the test must include images without people"
    );
}

#[test]
fn tracked_video_agrees_with_mediapipe() {
    let frames: Vec<PathBuf> = (1..=120)
        .map(|i| samples().join(format!("carphone/f{i:04}.png")))
        .collect();
    let mp = reference(&frames, true);
    let us = ours(&frames, true);
    assert_eq!(
        mp.last().and_then(|s| s["summary"]["frames"].as_u64()),
        Some(120)
    );
    let detector_runs = us
        .last()
        .and_then(|s| s["summary"]["detector_runs"].as_u64())
        .unwrap();
    let (mut compared, mut sum, mut worst) = (0, 0.0, 0.0f64);
    for (i, (m, u)) in mp.iter().zip(&us).take(frames.len()).enumerate() {
        assert_eq!(
            found(m),
            found(u),
            "frame {}: MediaPipe {} vs pose-edge {}",
            i + 1,
            found(m),
            found(u)
        );
        if let Some((d, _)) = mean_distance(m, u) {
            compared += 1;
            sum += d;
            worst = worst.max(d);
        }
    }
    let mean = sum / compared.max(1) as f64;
    eprintln!(
        "carphone: {compared}/120 frames compared, mean {:.3} %, worst frame {:.3} % of the diagonal; \
         pose-edge ran the detector {detector_runs} times",
        mean * 100.0,
        worst * 100.0
    );
    assert!(
        compared >= 30,
        "a tracked sequence of at least 30 frames with a person, got {compared}"
    );
    assert!(
        mean <= MAX_MEAN_DISTANCE,
        "mean distance {:.3} % > 1 %",
        mean * 100.0
    );
    assert!(
        detector_runs < 10,
        "tracking must spare the detector, it ran {detector_runs} times"
    );
}
