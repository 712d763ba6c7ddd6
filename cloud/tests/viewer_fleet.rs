//! Sixteen cameras in one browser tab, over plain HTTP and over HTTPS: 16 synthetic cameras (a
//! distinct colour each, with a skeleton) publish through the broker to the cloud service, and
//! headless Chromium (Debian's, driven by playwright-core) opens the viewer. Every tile must show a
//! decoded picture of its own camera, the page's `/api/cameras` polling must keep going, the page
//! must log no errors, and once the window shows only the first rows, the cameras out of view
//! must have no viewer (nothing is sent for them), nor any camera once the tab is hidden. Browsers open at most 6 HTTP/1.1 connections
//! per host, so before issue 14 (one MJPEG request per tile) tiles 7 to 16 stayed black.
//!
//! The screenshots are kept in `target/test-artifacts/viewer-16-http.png` and `-https.png`.
//!
//! Needs: the broker, `chromium` (apt) and `npm install` in `cloud/tests/browser`
//! (`make browser-deps`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pose_cloud::tls::{TlsListener, server_config};
use pose_shared::frame::FrameMeta;
use pose_shared::time::now_us;
use serde_json::Value;

const CAMERAS: usize = 16;
/// Each camera's frame rate: 160 frames/s in all, well within what the test machine draws.
const FPS: u64 = 10;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn camera(i: usize) -> String {
    format!("cam-{i:02}")
}

/// Camera `i`'s picture colour.
fn colour(i: usize) -> [u8; 3] {
    let c = |k: usize| (40 + (i * k) % 180) as u8;
    [c(53), c(97), c(151)]
}

fn jpeg(i: usize) -> Vec<u8> {
    let (w, h) = (320u32, 240u32);
    let rgb = colour(i).repeat((w * h) as usize);
    let frame = pose_edge::source::Frame {
        seq: 0,
        capture_ts_us: 0,
        width: w,
        height: h,
        rgb,
    };
    pose_edge::jpeg::encode(&frame, w, 85).unwrap().0
}

/// Publishes every camera's frame and keypoints at [`FPS`] until `stop`.
fn publish(
    kafka: &pose_shared::kafka::KafkaSettings,
    topics: &pose_shared::topics::Topics,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let publisher =
        pose_edge::publish::Publisher::new(kafka, topics.clone(), "fleet-edges").unwrap();
    let jpegs: Vec<Vec<u8>> = (0..CAMERAS).map(jpeg).collect();
    std::thread::spawn(move || {
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for (i, jpeg) in jpegs.iter().enumerate() {
                let id = camera(i);
                let ts = now_us();
                let meta = FrameMeta {
                    camera_id: pose_shared::CameraId::new(&id).unwrap(),
                    run: common::TEST_RUN,
                    seq,
                    capture_ts_us: ts,
                    width: 320,
                    height: 240,
                };
                let _ = publisher.publish_frame(&meta, jpeg);
                let _ = publisher.publish_keypoints(&common::keypoint_message(&id, seq, ts));
            }
            seq += 1;
            std::thread::sleep(Duration::from_millis(1000 / FPS));
        }
        publisher.flush(Duration::from_secs(5));
    })
}

/// A self-signed certificate for `localhost`, as PEM files in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

fn run_browser(url: String, shot: PathBuf) -> std::process::Output {
    Command::new("node")
        .arg(repo().join("cloud/tests/browser/viewer_fleet.mjs"))
        .arg(url)
        .arg(shot)
        .arg(CAMERAS.to_string())
        .output()
        .expect("node runs")
}

/// Checks what the browser script saw, and the screenshot; returns a description for the log.
fn check(scheme: &str, out: &std::process::Output, shot: &Path) {
    assert!(
        out.status.success(),
        "{scheme}: browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap_or_default(),
    )
    .expect("the browser script prints a JSON line");
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "{scheme}: page errors"
    );
    assert!(
        report["refreshes"].as_u64().unwrap_or(0) >= 2,
        "{scheme}: the camera list kept being polled: {report}"
    );
    assert_eq!(
        report["summary"],
        format!("{CAMERAS} of {CAMERAS} cameras live"),
        "{scheme}"
    );
    let tiles = report["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), CAMERAS, "{report}");
    let img = image::open(shot).unwrap().into_rgb8();
    for tile in tiles {
        let id = tile["camera"].as_str().unwrap();
        let i: usize = id.trim_start_matches("cam-").parse().unwrap();
        assert_eq!(tile["state"], "live", "{scheme} {id}: {tile}");
        assert_eq!(
            tile["naturalWidth"], 320,
            "{scheme} {id}: a decoded picture"
        );
        let (x, y, w, h) = (
            tile["x"].as_f64().unwrap() as u32,
            tile["y"].as_f64().unwrap() as u32,
            tile["width"].as_f64().unwrap() as u32,
            tile["height"].as_f64().unwrap() as u32,
        );
        let (mut own, mut all) = (0usize, 0usize);
        for yy in y..(y + h).min(img.height()) {
            for xx in x..(x + w).min(img.width()) {
                let p = img.get_pixel(xx, yy).0;
                own += usize::from(p.iter().zip(colour(i)).all(|(&a, b)| a.abs_diff(b) <= 30));
                all += 1;
            }
        }
        assert!(
            all > 0 && own * 2 > all,
            "{scheme} {id}: its own picture in its tile ({own} of {all} pixels)"
        );
    }
    // Out of view: the last row (tiles 12-15, with 4 per row) is far below a 360 px window.
    let viewers = &report["viewersOutOfView"];
    for i in 12..CAMERAS {
        assert_eq!(
            viewers[camera(i)],
            0,
            "{scheme}: {} out of view: {report}",
            camera(i)
        );
    }
    assert!(
        viewers[camera(0)].as_u64().unwrap_or(0) >= 1,
        "{scheme}: the first tile is still watched: {report}"
    );
    // A hidden tab: nothing is sent for any camera.
    for i in 0..CAMERAS {
        assert_eq!(
            report["viewersHidden"][camera(i)],
            0,
            "{scheme}: {} with the tab hidden: {report}",
            camera(i)
        );
    }
    eprintln!("{scheme}: {CAMERAS} tiles with their picture; {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_cameras_live_in_one_tab_over_http_and_https() {
    assert!(
        repo()
            .join("cloud/tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `make browser-deps` (npm install in cloud/tests/browser)"
    );
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "fleet").await;

    let (stop_tx, stop_rx, state, pipeline) = common::cloud(&kafka, &topics, "fleet-cloud");
    // The same service on plain HTTP and on HTTPS.
    let (cert, key) = certificate(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("fleet-tls"));
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let tls = TlsListener::new(tls, server_config(&cert, &key).unwrap()).unwrap();
    let servers = [
        common::serve(plain, state.clone(), stop_rx.clone()),
        common::serve(tls, state.clone(), stop_rx.clone()),
    ];

    let stop_edges = Arc::new(AtomicBool::new(false));
    let edges = publish(&kafka, &topics, stop_edges.clone());
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let drawn = (0..CAMERAS)
            .filter(|&i| {
                state
                    .hub
                    .get(&camera(i))
                    .is_some_and(|f| f.frames.borrow().is_some())
            })
            .count();
        if drawn == CAMERAS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut results = Vec::new();
    for (scheme, url) in [
        ("http", format!("http://{plain_addr}/")),
        ("https", format!("https://localhost:{}/", tls_addr.port())),
    ] {
        let shot = artifacts.join(format!("viewer-16-{scheme}.png"));
        let s2 = shot.clone();
        let out = tokio::task::spawn_blocking(move || run_browser(url, s2))
            .await
            .unwrap();
        results.push((scheme, out, shot));
    }

    stop_edges.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    edges.join().unwrap();
    pipeline.join().await.unwrap();
    for s in servers {
        s.await.unwrap();
    }
    for (scheme, out, shot) in &results {
        check(scheme, out, shot);
    }
}
