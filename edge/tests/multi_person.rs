//! Several people against MediaPipe: MediaPipe's legacy solution finds one person, so it runs on
//! each person's own crop (a fixed region per person) and pose-edge on the whole picture, with up
//! to 4 people. They must find the same people, agree within 1 % of the picture's diagonal per
//! person (mean landmark distance over the landmarks MediaPipe sees as visible), and on the video
//! every person keeps one track id from the first frame to the last.
//!
//! Samples (`scripts/fetch-samples.sh`): `inpaint_pair.png`, the two people of the bottom half of
//! OpenCV's inpainting panel; `duo/`, two people side by side composed from the carphone clip
//! (left as it is, right mirrored and played backwards). References are cached (see
//! `mediapipe::reference`), so a rerun costs about 10 s.

mod mediapipe;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mediapipe::{
    MAX_MEAN_DISTANCE, Region, crop_pose_px, crops, estimator, landmarks_px, mean_distance, ours,
    reference, samples,
};
use pose_edge::pose::{LandmarkModel, PeopleOptions};
use serde_json::Value;

const PEOPLE: PeopleOptions = PeopleOptions {
    max_people: 4,
    detect_interval: Duration::from_millis(500),
};

/// Our pose (track id, distance) closest to a reference person.
fn closest(mp: &[[f64; 3]], line: &Value, w: f64, h: f64) -> Option<(u64, f64)> {
    let diag = (w * w + h * h).sqrt();
    line["poses"]
        .as_array()?
        .iter()
        .filter_map(|p| {
            let d = mean_distance(mp, &landmarks_px(p, w, h)?, diag)?;
            Some((p["track_id"].as_u64()?, d))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn size(line: &Value) -> (f64, f64) {
    (
        line["width"].as_f64().unwrap(),
        line["height"].as_f64().unwrap(),
    )
}

#[test]
fn people_in_a_still_image_agree_with_mediapipe_on_their_crops() {
    let tmp = tempfile::tempdir().unwrap();
    let image = mediapipe::as_png(tmp.path(), &[samples().join("inpaint_pair.png")]);
    let regions: [Region; 2] = [(0, 0, 225, 169), (225, 0, 225, 169)];
    let mut est = estimator(LandmarkModel::Full, PEOPLE);
    let us = &ours(&mut est, &image, false)[0];
    let (w, h) = size(us);
    let mut matched = Vec::new();
    for (k, region) in regions.iter().enumerate() {
        let crop = crops(tmp.path(), &format!("person{k}"), &image, *region);
        let mp = reference(&crop, false, LandmarkModel::Full);
        let mp = crop_pose_px(&mp[0], *region)
            .unwrap_or_else(|| panic!("MediaPipe finds person {k} in its crop"));
        let (id, d) = closest(&mp, us, w, h).expect("pose-edge finds someone");
        eprintln!(
            "inpaint_pair person {k}: track {id}, mean distance {:.3} % of the diagonal",
            d * 100.0
        );
        assert!(
            d <= MAX_MEAN_DISTANCE,
            "person {k}: {:.3} % > 1 %",
            d * 100.0
        );
        matched.push(id);
    }
    let found = us["poses"].as_array().unwrap().len();
    assert_eq!(found, regions.len(), "the same people found");
    assert_ne!(matched[0], matched[1], "each person is a different pose");
}

#[test]
fn two_people_in_a_video_keep_their_track_ids_and_agree_with_mediapipe() {
    let frames: Vec<PathBuf> = (1..=120)
        .map(|i| samples().join(format!("duo/f{i:04}.png")))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let regions: [Region; 2] = [(0, 0, 176, 144), (176, 0, 176, 144)];
    let refs: Vec<Vec<Value>> = regions
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let crop = crops(tmp.path(), &format!("side{k}"), &frames, *r);
            reference(&crop, true, LandmarkModel::Full)
        })
        .collect();
    let mut est = estimator(LandmarkModel::Full, PEOPLE);
    let us = ours(&mut est, &frames, true);
    let summary = &us.last().unwrap()["summary"];
    eprintln!("duo: pose-edge {summary}");

    // Per side: the track ids it was matched to, and the distances.
    let mut ids: Vec<BTreeMap<u64, usize>> = vec![BTreeMap::new(); regions.len()];
    let mut dists: Vec<Vec<f64>> = vec![Vec::new(); regions.len()];
    for (i, line) in us.iter().take(frames.len()).enumerate() {
        let (w, h) = size(line);
        let mut expected = 0;
        for (k, region) in regions.iter().enumerate() {
            let Some(mp) = crop_pose_px(&refs[k][i], *region) else {
                continue;
            };
            expected += 1;
            let (id, d) = closest(&mp, line, w, h)
                .unwrap_or_else(|| panic!("frame {}: nobody found for side {k}", i + 1));
            *ids[k].entry(id).or_default() += 1;
            dists[k].push(d);
        }
        let found = line["poses"].as_array().unwrap().len();
        assert_eq!(
            found,
            expected,
            "frame {}: MediaPipe finds {expected} people on their crops, pose-edge {found}",
            i + 1
        );
    }
    for k in 0..regions.len() {
        let n = dists[k].len();
        let mean = dists[k].iter().sum::<f64>() / n.max(1) as f64;
        let worst = dists[k].iter().copied().fold(0.0, f64::max);
        eprintln!(
            "duo side {k}: {n} frames, track ids {:?}, mean {:.3} %, worst frame {:.3} % of the diagonal",
            ids[k],
            mean * 100.0,
            worst * 100.0
        );
        assert!(n >= 100, "side {k}: compared only {n} frames");
        assert!(
            mean <= MAX_MEAN_DISTANCE,
            "side {k}: mean {:.3} % > 1 %",
            mean * 100.0
        );
        assert_eq!(
            ids[k].len(),
            1,
            "side {k}: one track id from start to end, got {:?}",
            ids[k]
        );
    }
    assert_ne!(
        ids[0].keys().next(),
        ids[1].keys().next(),
        "the two people have different ids"
    );
    assert_eq!(
        summary["tracks_started"].as_u64(),
        Some(2),
        "no id switch: two tracks in all"
    );
}
