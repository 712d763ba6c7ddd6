//! Replay and export from Kafka's retention (issue 16), against the real broker and the real
//! `pose-cloud` binary.
//!
//! A minute of a camera is published with known markers (sequence numbers, capture times 100 ms
//! apart) and Kafka timestamps in the past (the publisher stamps records with the capture time),
//! so "a minute ago" exists without waiting a minute; then the camera goes on live.
//!
//! * `replay_in_the_browser`: headless Chromium opens a shared replay link from the middle of
//!   the minute: the first frame shown must be the one captured then (±1 frame), the pace must
//!   follow the speed (1x, then 4x with the speed control), "Live" must return to the present,
//!   and the replay must end on the server when the page leaves it. The screenshot is kept in
//!   `target/test-artifacts/replay.png` (and copied to `docs/replay.png` with
//!   `POSESTREAM_UPDATE_DOCS=1`).
//! * `export_writes_video_and_keypoints`: `pose-cloud export` writes an MP4 whose frame count and
//!   duration ffprobe confirms and JSON lines with the first and last capture times asked for; a
//!   privacy camera exports as stick figures; a range outside retention is a clear error; the
//!   viewer's download links serve the same; `--max-replays` refuses a replay over the cap and a
//!   replay's slot is free again once its socket closes.
//!
//! Needs: the broker, `ffmpeg` (apt), `chromium` (apt) and `npm install` in
//! `cloud/tests/browser` (`make browser-deps`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pose_edge::publish::{PublishError, Publisher};
use pose_shared::frame::FrameMeta;
use pose_shared::kafka::KafkaSettings;
use pose_shared::time::now_us;
use pose_shared::topics::Topics;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose};
use serde_json::Value;

/// Frame interval of the published camera: 10 fps.
const STEP_US: u64 = 100_000;
/// One recorded minute.
const FRAMES: u64 = 600;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 320x240 picture whose colour drifts with `seq`.
fn jpeg(seq: u64) -> Vec<u8> {
    let (w, h) = (320u32, 240u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[
                (40 + (x / 4) as u64 + seq % 60) as u8,
                (60 + y / 4) as u8,
                (90 + (seq * 3) % 100) as u8,
            ]);
        }
    }
    let frame = pose_edge::source::Frame {
        seq,
        capture_ts_us: 0,
        width: w,
        height: h,
        rgb,
    };
    pose_edge::jpeg::encode(&frame, w, 85).unwrap().0
}

/// Where BlazePose's 33 landmarks are on a person standing in the middle of the picture (x, y).
const PERSON: [(f32, f32); 33] = [
    (0.50, 0.15), // nose
    (0.51, 0.135),
    (0.52, 0.135),
    (0.53, 0.135), // left eye
    (0.49, 0.135),
    (0.48, 0.135),
    (0.47, 0.135), // right eye
    (0.54, 0.145),
    (0.46, 0.145), // ears
    (0.515, 0.17),
    (0.485, 0.17), // mouth
    (0.58, 0.25),
    (0.42, 0.25), // shoulders
    (0.62, 0.38),
    (0.38, 0.38), // elbows
    (0.64, 0.50),
    (0.36, 0.50), // wrists
    (0.65, 0.53),
    (0.35, 0.53), // pinkies
    (0.645, 0.54),
    (0.355, 0.54), // index fingers
    (0.63, 0.52),
    (0.37, 0.52), // thumbs
    (0.555, 0.52),
    (0.445, 0.52), // hips
    (0.565, 0.70),
    (0.435, 0.70), // knees
    (0.57, 0.88),
    (0.43, 0.88), // ankles
    (0.565, 0.90),
    (0.435, 0.90), // heels
    (0.59, 0.92),
    (0.41, 0.92), // feet
];

/// The person, waving (the hands move with `seq`).
fn keypoints(camera: &str, seq: u64, ts: u64, frame_published: bool) -> KeypointMessage {
    let wave = ((seq % 20) as f32 - 10.0).abs() * 0.02;
    let landmarks = std::array::from_fn(|i| {
        let (x, mut y) = PERSON[i];
        if (15..=22).contains(&i) {
            y -= wave;
        }
        Landmark {
            x,
            y,
            z: 0.0,
            visibility: 0.95,
            presence: 0.95,
        }
    });
    KeypointMessage {
        camera_id: CameraId::new(camera).unwrap(),
        run: pose_shared::fixtures::RUN,
        seq,
        capture_ts_us: ts,
        inference_us: 15_000,
        width: 320,
        height: 240,
        frame_published,
        poses: vec![Pose {
            track_id: 1,
            score: 0.9,
            landmarks,
            world_landmarks: None,
        }],
    }
}

/// Enqueues, waiting while the producer's queue is full (a minute is published in a burst).
fn send(mut f: impl FnMut() -> Result<(), PublishError>) {
    for _ in 0..500 {
        match f() {
            Err(PublishError::QueueFull) => std::thread::sleep(Duration::from_millis(10)),
            other => return other.expect("the message is enqueued"),
        }
    }
    panic!("the producer queue stayed full");
}

/// Publishes `camera`'s frames `seqs` captured at `t0 + seq * STEP_US` (frames only when
/// `with_frames`; keypoints always).
fn publish(p: &Publisher, camera: &str, t0: u64, seqs: std::ops::Range<u64>, with_frames: bool) {
    for seq in seqs {
        let ts = t0 + seq * STEP_US;
        if with_frames {
            let meta = FrameMeta {
                camera_id: CameraId::new(camera).unwrap(),
                run: pose_shared::fixtures::RUN,
                seq,
                capture_ts_us: ts,
                width: 320,
                height: 240,
            };
            let j = jpeg(seq);
            send(|| p.publish_frame(&meta, &j));
        }
        send(|| p.publish_keypoints(&keypoints(camera, seq, ts, with_frames)));
    }
    p.flush(Duration::from_secs(20));
}

/// The camera live after its recorded minute: frames from seq `FRAMES` on, captured now.
fn go_live(
    kafka: &KafkaSettings,
    topics: &Topics,
    camera: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let p = Publisher::new(kafka, topics.clone(), "replay-live").unwrap();
    let camera = camera.to_owned();
    std::thread::spawn(move || {
        let mut seq = FRAMES;
        while !stop.load(Ordering::Relaxed) {
            let ts = now_us();
            let meta = FrameMeta {
                camera_id: CameraId::new(&camera).unwrap(),
                run: pose_shared::fixtures::RUN,
                seq,
                capture_ts_us: ts,
                width: 320,
                height: 240,
            };
            let _ = p.publish_frame(&meta, &jpeg(seq));
            let _ = p.publish_keypoints(&keypoints(&camera, seq, ts, true));
            seq += 1;
            std::thread::sleep(Duration::from_micros(STEP_US));
        }
        p.flush(Duration::from_secs(5));
    })
}

/// A start of the recorded minute: 100 s ago, on a whole millisecond (Kafka's resolution).
fn minute_start() -> u64 {
    (now_us() - 100_000_000) / 1000 * 1000
}

fn cloud_args<'a>(kafka: &'a KafkaSettings, topics: &'a Topics, group: &'a str) -> Vec<&'a str> {
    vec![
        "--brokers",
        &kafka.brokers,
        "--keypoints-topic",
        &topics.keypoints,
        "--frames-topic",
        &topics.frames,
        "--group-id",
        group,
    ]
}

fn metric(port: u16, key: &str) -> f64 {
    common::metrics(port).get(key).copied().unwrap_or(-1.0)
}

/// Waits until `/metrics` says `key` is `want` (fails after 10 s).
fn wait_metric(port: u16, key: &str, want: f64) {
    let t0 = Instant::now();
    while metric(port, key) != want {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{key} stayed {} (want {want})",
            metric(port, key)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Recorded-time speed over a list of shown frames: the least-squares slope of capture time
/// against the page's clock.
fn pace(log: &[Value]) -> f64 {
    let pts: Vec<(f64, f64)> = log
        .iter()
        .map(|e| {
            (
                e["at"].as_f64().unwrap() / 1e3,
                e["capture_us"].as_f64().unwrap() / 1e6,
            )
        })
        .collect();
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_in_the_browser() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "replay").await;
    let camera = "porch";
    let t0 = minute_start();
    let p = Publisher::new(&kafka, topics.clone(), "replay-history").unwrap();
    publish(&p, camera, t0, 0..FRAMES, true);
    drop(p);
    let stop = Arc::new(AtomicBool::new(false));
    let live = go_live(&kafka, &topics, camera, stop.clone());
    let group = format!("replay-{}", now_us());
    let cloud = common::CloudProcess::start("replay-cloud", &cloud_args(&kafka, &topics, &group));
    let started = Instant::now();
    while !common::camera_live(cloud.port, camera) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            cloud.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The middle of the minute: frame 300.
    let from = t0 + 300 * STEP_US;
    let from_text = pose_cloud::timespec::format(from);
    let shot = artifacts().join("replay.png");
    let base = format!("http://127.0.0.1:{}", cloud.port);
    let out = tokio::task::spawn_blocking({
        let (shot, from_text) = (shot.clone(), from_text.clone());
        move || {
            std::process::Command::new("node")
                .arg(repo().join("cloud/tests/browser/replay_browser.mjs"))
                .args([&base, camera, &from_text])
                .arg(&shot)
                .output()
                .expect("node runs")
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "browser script failed: {}\ncloud log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cloud.log_text()
    );
    let report: Value = serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap_or_default(),
    )
    .expect("the browser script prints a JSON line");
    assert_eq!(report["errors"], serde_json::json!([]), "page errors");

    // The first frame shown is the one captured at `from` (±1 frame).
    let first = report["first"]["seq"].as_u64().unwrap();
    assert!((299..=301).contains(&first), "first frame shown: {first}");
    // The pace follows the speed. The first second after each change is left out (start-up,
    // and frames still in the page's socket when the speed changed).
    let settle = |log: &Value| -> Vec<Value> {
        let log = log.as_array().unwrap();
        let t = log[0]["at"].as_f64().unwrap() + 1000.0;
        log.iter()
            .filter(|e| e["at"].as_f64().unwrap() >= t)
            .cloned()
            .collect()
    };
    let (at1, at4) = (settle(&report["at1"]), settle(&report["at4"]));
    assert!(at1.len() >= 8 && at4.len() >= 8, "{report}");
    let (p1, p4) = (pace(&at1), pace(&at4));
    eprintln!(
        "replay: first frame {first}, pace {p1:.2}x at 1x ({} frames), {p4:.2}x at 4x ({} frames)",
        at1.len(),
        at4.len()
    );
    assert!((0.75..=1.3).contains(&p1), "pace at 1x: {p1}");
    assert!((3.0..=5.0).contains(&p4), "pace at 4x: {p4}");
    // The link is shareable and follows the speed.
    let url1 = report["url1"].as_str().unwrap();
    assert!(
        url1.contains(&format!("/cameras/{camera}/replay?from=")) && url1.ends_with("speed=1"),
        "{url1}"
    );
    assert!(report["url4"].as_str().unwrap().ends_with("speed=4"));
    // "Live" is the present: a frame captured within a few seconds, after the recorded minute.
    let live_frame = &report["live"];
    let age_ms =
        report["liveWallMs"].as_f64().unwrap() - live_frame["capture_us"].as_f64().unwrap() / 1e3;
    assert!(
        live_frame["seq"].as_u64().unwrap() >= FRAMES,
        "{live_frame}"
    );
    assert!(age_ms < 3000.0, "the live frame is {age_ms} ms old");
    let url_live = report["urlLive"].as_str().unwrap();
    assert!(
        url_live.ends_with(&format!("{}/", cloud.port)),
        "{url_live}"
    );
    // The replay ended with the page: no reader is left on the server.
    wait_metric(cloud.port, "pose_cloud_replays_active", 0.0);
    assert!(metric(cloud.port, "pose_cloud_replays_total{outcome=\"started\"}") >= 1.0);

    // The retained range: this camera's partition starts with its recorded minute.
    let (code, body) = common::http_get(cloud.port, "/api/cameras");
    assert_eq!(code, 200);
    let cams: Value = serde_json::from_slice(&body).unwrap();
    let cam = cams
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == camera)
        .unwrap();
    let frames = &cam["retained"]["frames"];
    assert_eq!(frames["from_ms"].as_u64(), Some(t0 / 1000), "{cam}");
    assert!(
        frames["to_ms"].as_u64().unwrap() >= (t0 + (FRAMES - 1) * STEP_US) / 1000,
        "{cam}"
    );
    let start =
        format!("pose_cloud_retained_start_seconds{{camera=\"{camera}\",kind=\"keypoints\"}}");
    assert_eq!(metric(cloud.port, &start), (t0 / 1000) as f64 / 1e3);

    let img = image::open(&shot).unwrap().into_rgb8();
    let near = |c: [u8; 3]| {
        img.pixels()
            .filter(|p| p.0.iter().zip(c).all(|(&a, b)| a.abs_diff(b) <= 40))
            .count()
    };
    let palette = pose_shared::draw::DEFAULT_PALETTE;
    assert!(
        near(palette.left) > 50 && near(palette.right) > 50,
        "the replayed skeleton is drawn"
    );
    if std::env::var_os("POSESTREAM_UPDATE_DOCS").is_some() {
        std::fs::copy(&shot, repo().join("docs/replay.png")).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    live.join().unwrap();
}

fn ffprobe(path: &Path) -> (u64, f64) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (apt install ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    let n = s["nb_read_frames"].as_str().unwrap().parse().unwrap();
    let d = s["duration"].as_str().unwrap().parse().unwrap();
    (n, d)
}

fn export_cmd(kafka: &KafkaSettings, topics: &Topics, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"))
        .args(["--brokers", &kafka.brokers])
        .args([
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
        ])
        .arg("export")
        .args(args)
        .env_remove("POSE_CLOUD_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("pose-cloud export runs")
}

/// (capture times, seqs) of a JSON-lines keypoint file.
fn jsonl(text: &str) -> (Vec<u64>, Vec<u64>) {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["capture_ts_us"].as_u64().unwrap(),
                v["seq"].as_u64().unwrap(),
            )
        })
        .unzip()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_video_and_keypoints() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "export").await;
    let t0 = minute_start();
    let p = Publisher::new(&kafka, topics.clone(), "export-history").unwrap();
    publish(&p, "yard", t0, 0..FRAMES, true);
    publish(&p, "private", t0, 0..FRAMES, false);
    drop(p);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{}", now_us()));
    std::fs::create_dir_all(&dir).unwrap();
    let at = |seq: u64| pose_cloud::timespec::format(t0 + seq * STEP_US);

    // 20 s from the middle of the minute: frames 100 to 300 at 10 fps.
    let prefix = dir.join("yard");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"))
        .args(["--brokers", &kafka.brokers])
        .args([
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
        ])
        .args([
            "export",
            "--camera",
            "yard",
            "--from",
            &at(100),
            "--to",
            &at(300),
            "--out",
        ])
        .arg(&prefix)
        .env_remove("POSE_CLOUD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    eprintln!("export: {summary}");
    assert_eq!(summary["frames_drawn"], 201, "{summary}");
    let (frames, seconds) = ffprobe(&prefix.with_extension("mp4"));
    assert_eq!(frames, 201);
    assert!((seconds - 20.1).abs() < 0.05, "duration {seconds}");
    let (times, seqs) = jsonl(&std::fs::read_to_string(prefix.with_extension("jsonl")).unwrap());
    assert_eq!(seqs, (100..=300).collect::<Vec<_>>());
    assert_eq!(
        (times[0], times[times.len() - 1]),
        (t0 + 100 * STEP_US, t0 + 300 * STEP_US)
    );

    // A privacy camera: stick figures, the same length.
    let priv_prefix = dir.join("private");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"))
        .args(["--brokers", &kafka.brokers])
        .args([
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
        ])
        .args([
            "export",
            "--camera",
            "private",
            "--from",
            &at(100),
            "--to",
            &at(200),
            "--out",
        ])
        .arg(&priv_prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ffprobe(&priv_prefix.with_extension("mp4")).0, 101);

    // Outside retention: a clear error naming the retained range.
    let hour_before = pose_cloud::timespec::format(t0 - 3_600_000_000);
    let out = export_cmd(
        &kafka,
        &topics,
        &["--camera", "yard", "--from", &hour_before, "--to", &at(10)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("outside what Kafka retains") && err.contains(&at(0)[..19]),
        "{err}"
    );
    // Relative times: seconds ago of 20 s into the minute, for 10 s.
    let ago = (now_us() - (t0 + 20_000_000)) / 1_000_000;
    let (from_rel, to_rel) = (format!("{ago} s ago"), format!("{} sec ago", ago - 10));
    let rel = dir.join("relative");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"))
        .args(["--brokers", &kafka.brokers])
        .args([
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
        ])
        .args([
            "export",
            "--camera",
            "yard",
            "--from",
            &from_rel,
            "--to",
            &to_rel,
            "--no-video",
        ])
        .arg("--out")
        .arg(&rel)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (times, _) = jsonl(&std::fs::read_to_string(rel.with_extension("jsonl")).unwrap());
    assert!((99..=101).contains(&times.len()), "{} lines", times.len());
    assert!(!rel.with_extension("mp4").exists());

    // The viewer's downloads, and the replay cap.
    let group = format!("export-{}", now_us());
    let mut args = cloud_args(&kafka, &topics, &group);
    args.extend(["--max-replays", "1"]);
    let cloud = common::CloudProcess::start("export-cloud", &args);
    let ms = |seq: u64| (t0 + seq * STEP_US) / 1000;
    let (code, body) = common::http_get(
        cloud.port,
        &format!(
            "/api/cameras/yard/export.jsonl?from={}&to={}",
            ms(100),
            ms(150)
        ),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        jsonl(&String::from_utf8_lossy(&body)).1,
        (100..=150).collect::<Vec<_>>()
    );
    let (code, body) = common::http_get(
        cloud.port,
        &format!(
            "/api/cameras/yard/export.mp4?from={}&to={}",
            ms(100),
            ms(150)
        ),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(&body[4..8], b"ftyp", "an MP4");
    let (code, body) = common::http_get(
        cloud.port,
        &format!(
            "/api/cameras/yard/export.mp4?from={}&to={}",
            ms(0) - 120_000,
            ms(10)
        ),
    );
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("outside what Kafka retains"));

    let url = format!(
        "ws://127.0.0.1:{}/api/cameras/yard/replay?from={}&speed=1",
        cloud.port,
        ms(100)
    );
    let (mut first, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("a replay");
    use futures_util::StreamExt;
    let mut got_frame = false;
    while !got_frame {
        let m = tokio::time::timeout(Duration::from_secs(10), first.next())
            .await
            .expect("the replay sends")
            .unwrap()
            .unwrap();
        got_frame = m.is_binary();
    }
    let refused = tokio_tungstenite::connect_async(&url).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503),
        "a second replay over --max-replays 1 is refused: {refused:?}"
    );
    assert_eq!(metric(cloud.port, "pose_cloud_replays_active"), 1.0);
    assert_eq!(
        metric(cloud.port, "pose_cloud_replays_total{outcome=\"refused\"}"),
        1.0
    );
    drop(first); // the viewer leaves
    wait_metric(cloud.port, "pose_cloud_replays_active", 0.0);
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_ok(),
        "the slot is free again"
    );
}
