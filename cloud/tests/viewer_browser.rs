//! A real browser on the real pipeline: two edges (the sample video with a person, and a privacy
//! camera) publish through the broker to the cloud service; headless Chromium (Debian's, driven by
//! playwright-core) opens the viewer. The screenshot must show both skeleton colours inside each
//! camera's tile, and the page must log no errors. The screenshot is kept in
//! `target/test-artifacts/viewer.png`.
//!
//! Needs: the broker, models and samples (`make test` prepares them), `chromium` (apt) and
//! `npm install` in `cloud/tests/browser` (`make browser-deps`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pose_shared::draw::DEFAULT_PALETTE;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn near(p: &[u8], c: [u8; 3]) -> bool {
    p.iter().zip(c).all(|(&a, b)| a.abs_diff(b) <= 45)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_shows_skeletons_for_each_camera_in_chromium() {
    let script = repo().join("cloud/tests/browser/viewer_screenshot.mjs");
    assert!(
        repo()
            .join("cloud/tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `make browser-deps` (npm install in cloud/tests/browser)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "install chromium (apt-get install chromium)"
    );

    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "browser").await;

    // The cloud service, in process, on a free port.
    let (stop_tx, stop_rx, state, pipeline) = common::cloud(&kafka, &topics, "browser-cloud");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = common::serve(listener, state.clone(), stop_rx.clone());

    let edges = [
        common::edge(&kafka, &topics, "cam-person", false, true),
        common::edge(&kafka, &topics, "cam-private", true, true),
    ];
    // Both cameras have a drawn frame.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let ready = ["cam-person", "cam-private"].iter().all(|c| {
            state
                .hub
                .get(c)
                .is_some_and(|f| f.frames.borrow().is_some())
        });
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("viewer.png");
    let url = format!("http://{addr}/");
    let (script2, shot2) = (script.clone(), shot.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script2)
            .arg(url)
            .arg(&shot2)
            .arg("2")
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();

    for (shared, _) in &edges {
        shared.stop.set();
    }
    let _ = stop_tx.send(true);
    for (_, h) in edges {
        h.join().unwrap();
    }
    pipeline.join().await.unwrap();
    server.await.unwrap();

    let report = common::browser_report(&out);
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "the page logged errors"
    );
    let tiles = report["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), 2, "{report}");
    let img = image::open(&shot).unwrap().into_rgb8();
    for tile in tiles {
        let camera = tile["camera"].as_str().unwrap();
        let want_state = if camera == "cam-private" {
            "privacy"
        } else {
            "live"
        };
        assert_eq!(tile["state"], want_state, "{camera}");
        let (x, y, w, h) = (
            tile["x"].as_f64().unwrap() as u32,
            tile["y"].as_f64().unwrap() as u32,
            tile["width"].as_f64().unwrap() as u32,
            tile["height"].as_f64().unwrap() as u32,
        );
        let (mut left, mut right) = (0, 0);
        for yy in y..(y + h).min(img.height()) {
            for xx in x..(x + w).min(img.width()) {
                let p = img.get_pixel(xx, yy).0;
                left += usize::from(near(&p, DEFAULT_PALETTE.left));
                right += usize::from(near(&p, DEFAULT_PALETTE.right));
            }
        }
        eprintln!("{camera}: {left} left-colour and {right} right-colour pixels in its tile");
        assert!(
            left >= 20 && right >= 20,
            "{camera}: skeleton colours in the tile (left {left}, right {right})"
        );
    }
}
