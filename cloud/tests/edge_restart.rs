//! A camera's edge restarts (a Pi reboot, `systemctl restart`) while `pose-cloud` keeps running:
//! the real `pose-edge` and `pose-cloud` binaries through the real broker.
//!
//! A new edge process counts `seq` from 0 again, under a new random run id (wire v2). Expected (README "Cloud service"): the camera
//! is live again, with the new run's frames shown, within 2 s of the new run's first frame; the
//! cloud counts the restart; and once the edge stops for good the camera is `stalled`, then
//! `offline`, with the age of its last frame, within a few seconds. Before issue 14 the cloud
//! showed nothing new until the new run's `seq` passed the old one (and said live meanwhile).
//!
//! Needs the broker and the samples (`make test` prepares them) and `pose-edge` built.

mod common;

use std::time::{Duration, Instant};

use pose_shared::time::now_us;
use serde_json::Value;

/// The sample video's frame interval (29.97 fps): the edge counts one `seq` per frame.
const FRAME_US: f64 = 1e6 / 29.97;

struct Setup {
    cloud: common::CloudProcess,
    brokers: String,
    edge_args: Vec<String>,
}

async fn setup(name: &str) -> Setup {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, name).await;
    let group = format!("{}-g", topics.keypoints);
    let cloud_args = [
        "--brokers",
        &kafka.brokers,
        "--keypoints-topic",
        &topics.keypoints,
        "--frames-topic",
        &topics.frames,
        "--group-id",
        &group,
    ];
    let cloud = common::CloudProcess::start(&format!("{name}_cloud"), &cloud_args);
    Setup {
        cloud,
        brokers: kafka.brokers.clone(),
        edge_args: vec![
            "--keypoints-topic".into(),
            topics.keypoints.clone(),
            "--frames-topic".into(),
            topics.frames.clone(),
        ],
    }
}

impl Setup {
    fn edge(&self, name: &str, camera: &str) -> common::EdgeProcess {
        let args: Vec<&str> = self.edge_args.iter().map(String::as_str).collect();
        common::EdgeProcess::start(name, camera, &self.brokers, &args)
    }

    /// `/api/cameras` entry of `camera`.
    fn camera(&self, camera: &str) -> Option<Value> {
        let (code, body) = common::http_get(self.cloud.port, "/api/cameras");
        if code != 200 {
            return None;
        }
        serde_json::from_slice::<Value>(&body)
            .ok()?
            .as_array()?
            .iter()
            .find(|c| c["id"] == camera)
            .cloned()
    }

    /// Waits until the cloud shows a frame of `camera` captured after `after_us`; returns how
    /// long after the first frame of that run (estimated from the frame's `seq` and capture time)
    /// the frame was shown and the API said live. Panics after `limit`.
    fn wait_for_new_run(&self, camera: &str, after_us: u64, limit: Duration) -> Duration {
        let give_up = Instant::now() + limit;
        loop {
            if let Some((seq, ts)) = shown(self.cloud.port, camera)
                && ts > after_us
                && self.camera(camera).is_some_and(|c| c["state"] == "live")
            {
                let first_frame_us = ts.saturating_sub((seq as f64 * FRAME_US) as u64);
                let since = now_us().saturating_sub(first_frame_us);
                eprintln!(
                    "{camera}: new run shown (seq {seq}) {} ms after its first frame",
                    since / 1000
                );
                return Duration::from_micros(since);
            }
            assert!(
                Instant::now() < give_up,
                "the new run of {camera} is not shown; shown now: {:?}, api: {:?}; metrics: {:?}\n{}",
                shown(self.cloud.port, camera),
                self.camera(camera),
                join_metrics(self.cloud.port),
                self.cloud.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `(seq, capture time)` of the frame the cloud on `port` shows now for `camera` (the first part
/// of its MJPEG stream).
fn shown(port: u16, camera: &str) -> Option<(u64, u64)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /cameras/{camera}/stream.mjpg HTTP/1.0\r\nHost: t\r\n\r\n"
    )
    .ok()?;
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    let header = |text: &str, name: &str| -> Option<u64> {
        let i = text.find(name)?;
        let rest = &text[i + name.len()..];
        rest[..rest.find('\r')?].trim().parse().ok()
    };
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        let text = String::from_utf8_lossy(&buf[..got]);
        if let (Some(seq), Some(ts)) =
            (header(&text, "X-Seq: "), header(&text, "X-Capture-Ts-Us: "))
        {
            return Some((seq, ts));
        }
    }
    None
}

fn join_metrics(port: u16) -> Vec<(String, f64)> {
    common::try_metrics(port)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.starts_with("pose_cloud_join_total") || k.contains("restarts"))
        .collect()
}

fn restarts(port: u16) -> f64 {
    common::metrics(port)
        .get("pose_cloud_edge_restarts_total")
        .copied()
        .unwrap_or(0.0)
}

/// Runs the first edge until the cloud shows it and its `seq` is well past what the next run
/// will reach during the test.
fn first_run(s: &Setup, camera: &str) -> common::EdgeProcess {
    let edge = s.edge(&format!("{camera}_run1"), camera);
    let give_up = Instant::now() + Duration::from_secs(40);
    while shown(s.cloud.port, camera).is_none_or(|(seq, _)| seq < 240) {
        assert!(
            Instant::now() < give_up,
            "the first run is not shown: {}",
            s.cloud.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    edge
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_edge_is_shown_again_within_two_seconds() {
    const CAMERA: &str = "cam-reboot";
    let s = setup("edge_restart").await;
    let mut edge = first_run(&s, CAMERA);

    // The edge writes wire version 2: its run id is in every keypoint event.
    let run_of = |s: &Setup| -> u64 {
        let events = common::sse_keypoints(s.cloud.port, CAMERA, 1, Duration::from_secs(10));
        let e = events.first().expect("a keypoint event");
        assert_eq!(e["schema_version"], 2, "{e}");
        assert!(
            e["poses"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["track_id"] == 1),
            "{e}"
        );
        e["run"].as_u64().expect("a run id")
    };
    let run1 = run_of(&s);

    // systemctl restart: SIGTERM, then a new process.
    let (status, _) = edge.stop();
    assert!(status.success());
    let restarted_us = now_us();
    let mut edge = s.edge("cam-reboot_run2", CAMERA);
    let took = s.wait_for_new_run(CAMERA, restarted_us, Duration::from_secs(20));
    assert!(
        took <= Duration::from_secs(2),
        "shown {took:?} after the new run's first frame"
    );
    assert_eq!(
        restarts(s.cloud.port),
        1.0,
        "{:?}",
        join_metrics(s.cloud.port)
    );
    // The new process drew a run id of its own.
    let run2 = run_of(&s);
    assert!(
        run1 != 0 && run2 != 0 && run1 != run2,
        "runs {run1} and {run2}"
    );

    // The edge stops for good: stalled, then offline, with the age of the last frame.
    let (status, _) = edge.stop();
    assert!(status.success());
    let stopped = Instant::now();
    let mut states = Vec::new();
    while stopped.elapsed() < Duration::from_secs(5) {
        if let Some(c) = s.camera(CAMERA) {
            let state = c["state"].as_str().unwrap_or_default().to_owned();
            if states.last().is_none_or(|(s, _, _)| *s != state) {
                states.push((state, stopped.elapsed(), c["last_seen_s"].as_f64()));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("after the stop: {states:?}");
    let not_live = states
        .iter()
        .find(|(state, _, _)| state != "live")
        .expect("the camera stops being live");
    assert!(not_live.1 < Duration::from_secs(3), "{states:?}");
    let last = states.last().unwrap();
    assert_eq!(last.0, "offline", "{states:?}");
    assert!(
        last.2.is_some_and(|age| age >= 2.0),
        "the age of the last frame: {states:?}"
    );
    assert!(
        states.iter().any(|(state, _, _)| state == "stalled"),
        "stalled before offline: {states:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_restarted_twice_quickly_is_shown_again() {
    const CAMERA: &str = "cam-flaky";
    let s = setup("edge_restart_twice").await;
    let mut edge = first_run(&s, CAMERA);

    // Power lost twice: the second run lives about a second, the third stays.
    edge.child.kill().unwrap();
    edge.child.wait().unwrap();
    let mut second = s.edge("cam-flaky_run2", CAMERA);
    let t = Instant::now();
    while second.metric_of("frames", "delivered") < 20 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the second run publishes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    let third_us = now_us();
    let _third = s.edge("cam-flaky_run3", CAMERA);
    let took = s.wait_for_new_run(CAMERA, third_us, Duration::from_secs(20));
    assert!(
        took <= Duration::from_secs(2),
        "shown {took:?} after the third run's first frame"
    );
    assert_eq!(
        restarts(s.cloud.port),
        2.0,
        "{:?}",
        join_metrics(s.cloud.port)
    );
    // It stays live: frames keep coming, captured later and later.
    let (_, ts1) = shown(s.cloud.port, CAMERA).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (_, ts2) = shown(s.cloud.port, CAMERA).unwrap();
    assert!(ts2 > ts1 + 500_000, "{ts1} then {ts2}");
    assert!(s.camera(CAMERA).is_some_and(|c| c["state"] == "live"));
}
