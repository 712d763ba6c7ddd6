//! The cloud service restarts while an edge keeps publishing and a browser keeps watching.
//!
//! Expected, as documented in README "Reliability": the viewer page reopens its streams by
//! itself; the new process resumes from the group's committed offsets (so it does read what was
//! published while it was down) and skips the part of that backlog older than
//! `join.max_age_ms`, so the picture comes back live within seconds instead of replaying
//! the gap.
//!
//! Needs the broker, the samples, `chromium` and `make browser-deps`, like `viewer_browser.rs`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pose_shared::time::now_us;
use serde_json::Value;

const CAMERA: &str = "cam-restart";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_recovers_after_a_cloud_restart_and_the_backlog_is_skipped() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        repo.join("cloud/tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `make browser-deps`"
    );
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "restart").await;
    let group = format!("{}-g", topics.keypoints);
    let args: Vec<String> = vec![
        "--brokers".into(),
        kafka.brokers.clone(),
        "--keypoints-topic".into(),
        topics.keypoints.clone(),
        "--frames-topic".into(),
        topics.frames.clone(),
        "--group-id".into(),
        group,
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let port = common::free_port();
    let mut first = common::CloudProcess::start_on("restart_first", port, &args);
    let (edge, edge_thread) = common::edge(&kafka, &topics, CAMERA, false, false);

    // The first process shows the camera.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let snapshot = format!("/cameras/{CAMERA}/snapshot.jpg");
    while common::http_get(port, &snapshot).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "no frame: {}",
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A browser watches the whole time; its samples arrive line by line.
    let script = repo.join("cloud/tests/browser/viewer_watch.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg("40")
        .arg(CAMERA)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut errors = None;
    let mut take = |until: std::time::Instant, samples: &mut Vec<(u64, u64)>| {
        while let Ok(v) =
            rx.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
        {
            if let Some(e) = v.get("errors") {
                errors = Some(e.clone());
                break;
            }
            samples.push((
                v["t"].as_u64().unwrap_or(0),
                v["hash"].as_u64().unwrap_or(0),
            ));
            if std::time::Instant::now() >= until {
                break;
            }
        }
    };
    // The page shows a moving picture before the stop (at most 20 s for the browser to start).
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while moves(&samples) < 8 && std::time::Instant::now() < give_up {
        take(
            std::time::Instant::now() + Duration::from_millis(300),
            &mut samples,
        );
    }
    assert!(
        moves(&samples) >= 8,
        "the picture moved before the restart: {samples:?}"
    );

    assert!(first.stop(), "clean exit: {}", first.log_text());
    let stopped_at_ms = now_us() / 1000;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let restarted_at_ms = now_us() / 1000;
    let second = common::CloudProcess::start_on("restart_second", port, &args);
    take(
        std::time::Instant::now() + Duration::from_secs(8),
        &mut samples,
    );
    let _ = child.kill();
    let _ = child.wait();
    let metrics = common::metrics(port);
    edge.stop.set();
    edge_thread.join().unwrap();
    if let Some(errors) = errors {
        assert_eq!(errors, serde_json::json!([]), "page errors");
    }

    // While the server is down the picture is frozen (this is what the measurement can see).
    let down: Vec<(u64, u64)> = samples
        .iter()
        .filter(|(t, _)| *t > stopped_at_ms + 1_000 && *t < restarted_at_ms)
        .copied()
        .collect();
    assert!(
        down.len() >= 20 && moves(&down) <= 1,
        "frozen while down: {down:?}"
    );
    // ...and moves again soon after the restart, with no action on the page. Recovery is the
    // first time after the restart that the picture changes twice in a row.
    let after: Vec<&(u64, u64)> = samples
        .iter()
        .filter(|(t, _)| *t >= restarted_at_ms)
        .collect();
    let recovered_ms = after
        .windows(3)
        .find(|w| w[0].1 != w[1].1 && w[1].1 != w[2].1)
        .map(|w| w[0].0 - restarted_at_ms);
    eprintln!(
        "viewer moving again {recovered_ms:?} ms after the restart; too old: {:?}",
        metrics
            .iter()
            .filter(|(k, _)| k.contains("too_old"))
            .collect::<Vec<_>>()
    );
    let recovered_ms = recovered_ms.expect("the viewer recovered by itself");
    assert!(recovered_ms < 5_000, "recovered after {recovered_ms} ms");
    // Committed offsets were resumed, and the stale part of the backlog skipped.
    let too_old = metrics["pose_cloud_too_old_total{kind=\"frames\"}"];
    assert!(too_old > 100.0, "backlog skipped: {too_old}");
    assert!(metrics["pose_cloud_consumed_total{kind=\"frames\"}"] > too_old);
    drop(second);
}

/// How many times consecutive samples differ.
fn moves(samples: &[(u64, u64)]) -> usize {
    samples.windows(2).filter(|w| w[0].1 != w[1].1).count()
}
