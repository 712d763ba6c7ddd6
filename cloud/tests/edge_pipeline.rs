//! The edge service end to end: `pose-edge`'s run loop on a real video with a person, real models
//! and the real broker, read back by the cloud's consumer. Also privacy mode.
//!
//! Needs the models (`models/fetch.sh`), the samples (`scripts/fetch-samples.sh`) and the broker;
//! `make test` prepares all of them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pose_cloud::consume::{self, ConsumeConfig, ConsumeStats, Incoming};
use pose_edge::config::EdgeConfig;
use pose_edge::pose::{ModelPaths, PoseEstimator};
use pose_edge::publish::Publisher;
use pose_edge::state::{RunSummary, Shared};
use pose_shared::CameraId;
use pose_shared::kafka::KafkaSettings;
use pose_shared::topics::Topics;
use tokio::sync::mpsc;

const FRAMES: u64 = 45;

fn estimator() -> PoseEstimator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    assert!(
        dir.join("pose_detection.tflite").is_file(),
        "models missing: run `models/fetch.sh` (or `make test`)"
    );
    PoseEstimator::new(&ModelPaths::new(&dir, None), 2).expect("models load")
}

/// Runs the edge on the first 45 frames of the carphone video, at its own frame rate. The
/// privacy run also publishes world landmarks (`[pose] world_landmarks`); the other does not.
fn run_edge(kafka: &KafkaSettings, topics: &Topics, privacy: bool) -> RunSummary {
    let mut cfg = EdgeConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        privacy,
        ..Default::default()
    };
    cfg.source.kind = pose_edge::source::SourceKind::Video;
    cfg.source.path = Some(common::sample_video());
    cfg.source.max_frames = FRAMES;
    cfg.frames.width = 160;
    cfg.pose.world_landmarks = privacy;
    let camera = CameraId::new("carphone").unwrap();
    let source = pose_edge::source::open(&cfg.source).unwrap();
    let publisher = Publisher::new(kafka, topics.clone(), "test-edge").unwrap();
    let shared = Shared::new(privacy);
    pose_edge::pipeline::run(
        &cfg,
        &camera,
        source,
        Some(estimator()),
        &publisher,
        &shared,
    )
}

/// Everything on `topics`, read from the start until `want` messages or 30 s of nothing new.
async fn read_all(kafka: &KafkaSettings, topics: &Topics, want: usize) -> Vec<Incoming> {
    let cfg = ConsumeConfig {
        group_id: format!("{}-g", topics.keypoints),
        offset_reset: pose_cloud::consume::OffsetReset::Earliest,
    };
    let consumer = consume::subscribe(kafka, topics, &cfg, "test-cloud").unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stats = Arc::new(ConsumeStats::default());
    let task = tokio::spawn(consume::run(consumer, topics.clone(), tx, stats, async {
        let _ = stop_rx.await;
    }));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < want && Instant::now() < deadline {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            got.push(m);
        }
    }
    // Anything more (for privacy mode: a frame that must not be there) shows up within a second.
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
        got.push(m);
    }
    let _ = stop_tx.send(());
    drop(rx);
    task.await.unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_with_a_person_reaches_both_topics_joinable() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "edgepipe").await;
    let (k, t) = (kafka.clone(), topics.clone());
    let summary = tokio::task::spawn_blocking(move || run_edge(&k, &t, false))
        .await
        .unwrap();
    assert_eq!(summary.frames, FRAMES);
    assert_eq!(summary.inference_errors, 0);
    // Latest frame wins: every captured frame was either inferred or replaced while inference
    // was busy, never queued.
    assert_eq!(
        summary.inferred + summary.dropped_busy,
        FRAMES,
        "{summary:?}"
    );
    assert!(summary.inferred >= 5, "{summary:?}");

    let got = read_all(&kafka, &topics, (FRAMES + summary.inferred) as usize).await;
    let mut keypoints = BTreeMap::new();
    let mut frames = BTreeMap::new();
    for m in got {
        match m {
            Incoming::Keypoints(k) => {
                keypoints.insert(k.seq, k);
            }
            Incoming::Frame(f) => {
                frames.insert(f.meta.seq, f);
            }
        }
    }
    assert_eq!(
        keypoints.len() as u64,
        summary.inferred,
        "one keypoint message per inferred frame"
    );
    assert_eq!(frames.len() as u64, FRAMES, "one JPEG per captured frame");
    let mut with_pose = 0;
    for (seq, k) in &keypoints {
        let f = &frames[seq];
        assert_eq!(
            f.meta.capture_ts_us, k.capture_ts_us,
            "seq {seq}: same capture time on both topics"
        );
        assert!(k.frame_published);
        // Wire version 2: the edge process's run id on both topics (the edge ran in this process).
        let run = pose_edge::run_id::current();
        assert_ne!(run, 0);
        assert_eq!((k.run, f.meta.run), (run, run), "seq {seq}: the run id");
        assert_eq!(k.schema_version(), 2);
        assert_eq!(
            (k.width, k.height),
            (176, 144),
            "keypoints refer to the source image"
        );
        // JPEGs decode at the configured width (160), aspect kept.
        let img = image::load_from_memory(&f.jpeg).expect("a decodable JPEG");
        assert_eq!((img.width(), img.height()), (160, 131));
        assert_eq!((f.meta.width, f.meta.height), (160, 131));
        if let Some(p) = k.poses.first() {
            with_pose += 1;
            assert_eq!(p.track_id, 1, "the single tracked person is track 1");
            assert!(
                p.world_landmarks.is_none(),
                "world landmarks are off by default"
            );
            // Plausible: a face in the upper part of the frame, shoulders below the nose.
            let (nose, ls, rs) = (p.landmarks[0], p.landmarks[11], p.landmarks[12]);
            assert!(
                nose.y < 0.7 && nose.x > 0.2 && nose.x < 0.8,
                "seq {seq}: nose at {nose:?}"
            );
            assert!(
                ls.y > nose.y && rs.y > nose.y,
                "seq {seq}: shoulders below the nose"
            );
            assert!(p.score > 0.5);
        }
    }
    let n = summary.inferred;
    assert!(
        with_pose as u64 + 2 >= n,
        "a person in (nearly) every inferred frame, got {with_pose}/{n}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_mode_publishes_no_frames() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "privacy").await;
    let (k, t) = (kafka.clone(), topics.clone());
    let summary = tokio::task::spawn_blocking(move || run_edge(&k, &t, true))
        .await
        .unwrap();
    assert_eq!(summary.frames, FRAMES);
    assert_eq!(
        summary.inferred + summary.dropped_busy,
        FRAMES,
        "{summary:?}"
    );
    let got = read_all(&kafka, &topics, summary.inferred as usize).await;
    let frames = got
        .iter()
        .filter(|m| matches!(m, Incoming::Frame(_)))
        .count();
    let keypoints: Vec<_> = got
        .iter()
        .filter_map(|m| match m {
            Incoming::Keypoints(k) => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(frames, 0, "privacy mode: no image leaves the device");
    assert_eq!(
        keypoints.len() as u64,
        summary.inferred,
        "keypoints keep flowing"
    );
    assert!(summary.inferred >= 5, "{summary:?}");
    assert!(keypoints.iter().all(|k| !k.frame_published));
    assert!(
        keypoints.iter().filter(|k| !k.poses.is_empty()).count() as u64 + 2 >= summary.inferred
    );
    // World landmarks were asked for: metres, centred between the hips (23, 24), the head above
    // them (y down) by a torso-and-head's length.
    for k in &keypoints {
        for p in &k.poses {
            let w = p.world_landmarks.expect("world landmarks published");
            let hip = [(w[23].x + w[24].x) / 2.0, (w[23].y + w[24].y) / 2.0];
            assert!(
                hip[0].abs() < 0.1 && hip[1].abs() < 0.1,
                "seq {}: hips at {hip:?}",
                k.seq
            );
            assert!(
                (-1.2..-0.3).contains(&w[0].y),
                "seq {}: nose {:?} m from the hips",
                k.seq,
                w[0]
            );
        }
    }
}
