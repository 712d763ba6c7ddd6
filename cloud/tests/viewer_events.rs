//! Events of the analytics on the viewer: a real edge (no pose model needed) feeds the cloud
//! through the broker, events are written to an events topic (one before the cloud starts, which
//! it must still show, then more, and a malformed value it must skip), and headless Chromium
//! must list them in the camera's tile. `/api/cameras/{id}/events` and `/metrics` agree.
//!
//! Needs: the broker, the samples, `chromium` and `npm install` in `cloud/tests/browser`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pose_cloud::admin::TopicPlan;
use pose_cloud::events::{EVENTS_RETENTION_MS, EventsConfig};
use pose_cloud::serve::router;
use rdkafka::producer::FutureProducer;
use serde_json::{Value, json};

const CAMERA: &str = "cam-events";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn event(kind: &str, ts: u64, evidence: Value) -> Vec<u8> {
    json!({"event_version": 1, "type": kind, "camera_id": CAMERA, "run": 7, "seq": ts / 33_333,
           "capture_ts_us": ts, "track_id": 1, "evidence": evidence})
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_lists_the_events_of_a_camera_in_chromium() {
    let script = repo().join("cloud/tests/browser/viewer_events.mjs");
    assert!(
        repo()
            .join("cloud/tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `make browser-deps` (npm install in cloud/tests/browser)"
    );
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "events").await;
    let events_topic = format!("{}.events", topics.keypoints.trim_end_matches(".keypoints"));
    pose_cloud::admin::ensure(
        &kafka,
        &[TopicPlan::events(&events_topic, 3, 1, EVENTS_RETENTION_MS)],
        Duration::from_secs(30),
    )
    .await
    .expect("the events topic is created");
    let producer: FutureProducer = kafka.client_config("test-events").create().unwrap();
    let now = pose_shared::time::now_us();
    // Written before the cloud starts: shown from the topic's tail all the same.
    common::send_raw(
        producer.clone(),
        events_topic.clone(),
        CAMERA.into(),
        event("person_entered", now, json!({"frames": 3})),
        None,
    )
    .await;

    let (stop_tx, stop_rx, state, pipeline) = common::cloud(&kafka, &topics, "events-cloud");
    let events_task = pose_cloud::events::spawn(
        &kafka,
        &EventsConfig {
            topic: events_topic.clone(),
            per_camera: 20,
        },
        state.events.clone(),
        stop_rx.clone(),
    )
    .expect("an events topic is configured");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
    });
    let edge = common::edge(&kafka, &topics, CAMERA, false, false);

    for (kind, dt, evidence) in [
        (
            "fall_detected",
            1_000_000,
            json!({"drop_speed_torso_per_s": 2.4, "torso_tilt_deg": 84.0}),
        ),
        (
            "repetition_counted",
            2_000_000,
            json!({"exercise": "squat", "count": 3, "min_knee_deg": 88.5}),
        ),
    ] {
        common::send_raw(
            producer.clone(),
            events_topic.clone(),
            CAMERA.into(),
            event(kind, now + dt, evidence),
            None,
        )
        .await;
    }
    common::send_raw(
        producer.clone(),
        events_topic.clone(),
        CAMERA.into(),
        b"<script>alert(1)</script>".to_vec(),
        None,
    )
    .await;

    // The camera has a frame, and the three events arrived.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let shown = state
            .hub
            .get(CAMERA)
            .is_some_and(|f| f.frames.borrow().is_some());
        if shown && state.events.recent(CAMERA).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = format!("http://{addr}/");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(url)
            .arg(CAMERA)
            .arg("3")
            .arg("30")
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let api = common::http_get(addr.port(), &format!("/api/cameras/{CAMERA}/events"));
    let metrics = common::metrics(addr.port());

    edge.0.stop.set();
    let _ = stop_tx.send(true);
    edge.1.join().unwrap();
    pipeline.join().await.unwrap();
    events_task.await.unwrap();
    server.await.unwrap();

    let report = common::browser_report(&out);
    assert_eq!(report["errors"], json!([]), "the page logged errors");
    let shown: Vec<(String, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["class"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let classes: Vec<&str> = shown.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        classes,
        ["repetition_counted", "fall_detected", "person_entered"],
        "newest first: {shown:?}"
    );
    assert!(
        shown[0].1.contains("squat 3") && shown[0].1.contains("88.5"),
        "{shown:?}"
    );
    assert!(
        shown[1].1.contains("FALL #1") && shown[1].1.contains("2.4"),
        "{shown:?}"
    );
    assert!(shown[2].1.contains("entered"), "{shown:?}");

    assert_eq!(api.0, 200);
    let api: Value = serde_json::from_slice(&api.1).unwrap();
    assert_eq!(api["camera_id"], CAMERA);
    assert_eq!(api["events"].as_array().unwrap().len(), 3);
    assert_eq!(api["events"][0]["type"], "repetition_counted");
    assert_eq!(
        metrics.get("pose_cloud_events_total{outcome=\"rejected\"}"),
        Some(&1.0)
    );
    assert_eq!(
        metrics.get("pose_cloud_events_total{outcome=\"kept\"}"),
        Some(&3.0)
    );
}
