//! A rolling upgrade through the real broker and the real `pose-cloud`: an old edge still sends
//! wire version 1 (no run id, no track ids) while a new one sends version 2 with two people and
//! then restarts under a new run id. Checks that the cloud shows both, reports the people in
//! view, draws each person in its own colours, sends run and track ids in its Server-Sent Events
//! (every event valid against the JSON Schema it serves at `/api/schema/keypoints.json`), joins
//! the restarted edge's new run at once and drops the old run's stragglers.
//!
//! Needs the broker (`make test` starts it).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pose_edge::publish::Publisher;
use pose_shared::draw::person_palette;
use pose_shared::frame::FrameMeta;
use pose_shared::time::now_us;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose};
use serde_json::Value;

const OLD: &str = "cam-old";
const NEW: &str = "cam-new";
const RUN_1: u64 = 0x00AB_CDEF_0000_0001;
const RUN_2: u64 = 0x0012_3456_0000_0002;
const FRAME_US: u64 = 50_000;

/// A standing person whose body spans `x0 .. x0 + 0.3` of the image width.
fn person(track_id: u32, x0: f32) -> Pose {
    Pose {
        track_id,
        score: 0.9,
        landmarks: std::array::from_fn(|i| {
            let side = match pose_shared::skeleton::landmark_side(i) {
                pose_shared::skeleton::Side::Left => 0.2,
                pose_shared::skeleton::Side::Right => 0.1,
                pose_shared::skeleton::Side::Centre => 0.15,
            };
            Landmark {
                x: x0 + side,
                y: 0.15 + 0.8 * i as f32 / 33.0,
                z: 0.0,
                visibility: 0.95,
                presence: 0.95,
            }
        }),
        world_landmarks: None,
    }
}

fn jpeg() -> Vec<u8> {
    let frame = pose_edge::source::Frame {
        seq: 0,
        capture_ts_us: 0,
        width: 320,
        height: 240,
        rgb: vec![70; 320 * 240 * 3],
    };
    pose_edge::jpeg::encode(&frame, 320, 85).unwrap().0
}

/// Publishes one frame and its keypoints.
fn publish(p: &Publisher, camera: &str, run: u64, seq: u64, ts: u64, poses: Vec<Pose>) {
    let camera_id = CameraId::new(camera).unwrap();
    let meta = FrameMeta {
        camera_id: camera_id.clone(),
        run,
        seq,
        capture_ts_us: ts,
        width: 320,
        height: 240,
    };
    p.publish_frame(&meta, &jpeg()).unwrap();
    let k = KeypointMessage {
        camera_id,
        run,
        seq,
        capture_ts_us: ts,
        inference_us: 1_000,
        width: 320,
        height: 240,
        frame_published: true,
        poses,
    };
    p.publish_keypoints(&k).unwrap();
}

fn camera(port: u16, id: &str) -> Option<Value> {
    let (code, body) = common::http_get(port, "/api/cameras");
    (code == 200).then_some(())?;
    serde_json::from_slice::<Value>(&body)
        .ok()?
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

/// Waits for `what` to hold, up to 20 s.
fn wait_for(what: &str, cloud: &common::CloudProcess, mut ok: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(
            Instant::now() < give_up,
            "{what}; log:\n{}",
            cloud.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_edges_side_by_side_and_a_restart_by_run_id() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "wire_versions").await;
    let group = format!("{}-g", topics.keypoints);
    let mut cloud = common::CloudProcess::start(
        "wire_versions_cloud",
        &[
            "--brokers",
            &kafka.brokers,
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
            "--group-id",
            &group,
        ],
    );
    let port = cloud.port;
    let publisher = Arc::new(Publisher::new(&kafka, topics.clone(), "wire-edges").unwrap());

    // Both edges publish at 20 fps until told to stop; the new one as (run, next seq) says (the
    // restart sets both at once).
    let stop = Arc::new(AtomicBool::new(false));
    let new_edge = Arc::new(Mutex::new((RUN_1, 1_000u64)));
    let feeder = {
        let (p, stop, new_edge) = (publisher.clone(), stop.clone(), new_edge.clone());
        std::thread::spawn(move || {
            let mut old_seq = 0;
            while !stop.load(Ordering::Relaxed) {
                let ts = now_us();
                publish(&p, OLD, 0, old_seq, ts, vec![person(1, 0.35)]);
                let (run, seq) = {
                    let mut state = new_edge.lock().unwrap();
                    state.1 += 1;
                    (state.0, state.1 - 1)
                };
                let two = vec![person(1, 0.05), person(2, 0.6)];
                publish(&p, NEW, run, seq, ts, two);
                old_seq += 1;
                std::thread::sleep(Duration::from_micros(FRAME_US));
            }
        })
    };

    // Both cameras are live, with the people in view.
    wait_for("both cameras live with their people", &cloud, || {
        [(OLD, 1), (NEW, 2)].iter().all(|&(id, people)| {
            camera(port, id).is_some_and(|c| c["state"] == "live" && c["people"] == people)
        })
    });

    // The schema is served, and every keypoint event of both cameras satisfies it.
    let (code, body) = common::http_get(port, "/api/schema/keypoints.json");
    assert_eq!(code, 200);
    assert_eq!(body, pose_shared::schema::KEYPOINTS_SCHEMA_JSON.as_bytes());
    let schema: Value = serde_json::from_slice(&body).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let events = |id: &str| {
        let got = common::sse_keypoints(port, id, 5, Duration::from_secs(10));
        assert_eq!(got.len(), 5, "{id}: keypoint events");
        for e in &got {
            let errors: Vec<String> = validator.iter_errors(e).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{id}: {errors:?} in {e}");
        }
        got
    };
    for e in events(OLD) {
        assert_eq!(
            (e["schema_version"].as_u64(), e["run"].as_u64()),
            (Some(1), Some(0)),
            "{e}"
        );
        assert_eq!(
            e["poses"][0]["track_id"], 1,
            "a v1 pose is track 1 by position"
        );
    }
    for e in events(NEW) {
        assert_eq!(
            (e["schema_version"].as_u64(), e["run"].as_u64()),
            (Some(2), Some(RUN_1)),
            "{e}"
        );
        let tracks: Vec<u64> = e["poses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["track_id"].as_u64().unwrap())
            .collect();
        assert_eq!(tracks, [1, 2]);
    }

    // Each person in colours of its own: the snapshot of the new camera shows track 2's colours
    // on the right half, not on the left, where track 1 stands.
    let (code, jpeg) = common::http_get(port, "/cameras/cam-new/snapshot.jpg");
    assert_eq!(code, 200);
    let img = image::load_from_memory(&jpeg).unwrap().into_rgb8();
    let near =
        |p: &image::Rgb<u8>, c: [u8; 3]| p.0.iter().zip(c).all(|(&a, b)| a.abs_diff(b) <= 40);
    let count = |c: [u8; 3], right: bool| {
        img.enumerate_pixels()
            .filter(|(x, _, p)| (*x >= img.width() / 2) == right && near(p, c))
            .count()
    };
    let two = person_palette(2);
    assert!(
        count(two.left, true) > 30 && count(two.right, true) > 30,
        "track 2 drawn"
    );
    assert!(
        count(two.left, false) < 5,
        "track 1 is not in track 2's colours"
    );
    assert!(count(person_palette(1).left, false) > 30, "track 1 drawn");

    // The new edge restarts: a new run, seq from 0, its first frame captured one frame interval
    // after the old run's last.
    let restarted_us = now_us();
    *new_edge.lock().unwrap() = (RUN_2, 0);
    wait_for("the new run is shown", &cloud, || {
        common::sse_keypoints(port, NEW, 1, Duration::from_secs(2))
            .first()
            .is_some_and(|e| e["run"] == RUN_2)
            && common::shown_capture_us(port, NEW).is_some_and(|ts| ts > restarted_us)
    });
    // A straggler of the old run, sent late: dropped, whatever its capture time (the version-1
    // rule would take it, seq 5000 and captured now, for the newest frame of the camera).
    let before = common::metrics(port)
        .get("pose_cloud_join_total{outcome=\"old_run\"}")
        .copied()
        .unwrap_or(0.0);
    publish(
        &publisher,
        NEW,
        RUN_1,
        5_000,
        now_us(),
        vec![person(1, 0.05)],
    );
    wait_for("the old run's straggler is dropped", &cloud, || {
        common::metrics(port)
            .get("pose_cloud_join_total{outcome=\"old_run\"}")
            .is_some_and(|&n| n >= before + 2.0)
    });
    let m = common::metrics(port);
    assert_eq!(m.get("pose_cloud_edge_restarts_total"), Some(&1.0), "{m:?}");
    assert!(camera(port, NEW).is_some_and(|c| c["state"] == "live"));

    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    assert!(cloud.stop(), "pose-cloud stops cleanly");
}
