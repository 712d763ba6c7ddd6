//! The broker becomes unreachable while `pose-edge` runs, then comes back: the edge keeps running
//! with bounded memory, counts what it drops, delivers the keypoints it buffered, and publishing
//! resumes.
//!
//! A broker of its own (port 19193, `scripts/broker.sh`) sits behind a fault proxy (port 19195,
//! which the broker advertises): the outage closes every connection and refuses new ones, while
//! the broker keeps its state, as a real Kafka broker behind a failed link does. (Restarting the
//! local broker's memory engine instead wipes its producer state, which Apache Kafka persists;
//! see README "Local broker".) `POSESTREAM_OUTAGE_SECS` sets the outage (default 10 s).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pose_cloud::consume::{self, ConsumeConfig, ConsumeStats, Incoming};
use pose_edge::config::EdgeConfig;
use pose_edge::publish::Publisher;
use pose_edge::run::{self, Shared};
use pose_shared::CameraId;
use pose_shared::kafka::KafkaSettings;
use pose_shared::metrics::rss_bytes;
use pose_shared::time::now_us;
use tokio::sync::mpsc;

const PORT: &str = "19193";
const PROXY_PORT: u16 = 19195;

fn broker_script(cmd: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(repo.join("scripts/broker.sh"))
        .arg(cmd)
        .env("POSESTREAM_BROKER_PORT", PORT)
        .env("POSESTREAM_BROKER_ADVERTISED_PORT", PROXY_PORT.to_string())
        .env(
            "POSESTREAM_BROKER_DIR",
            repo.join("target/broker-outage-test"),
        )
        .status()
        .expect("scripts/broker.sh runs");
    assert!(status.success(), "scripts/broker.sh {cmd} failed");
}

/// Stops the test's broker however the test ends.
struct BrokerGuard;
impl Drop for BrokerGuard {
    fn drop(&mut self) {
        broker_script("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_survives_a_broker_outage_and_resumes() {
    let outage = Duration::from_secs(
        std::env::var("POSESTREAM_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let proxy = common::FaultProxy::start(PROXY_PORT, PORT.parse().unwrap());
    broker_script("restart");
    let _guard = BrokerGuard;
    let kafka = KafkaSettings {
        brokers: format!("127.0.0.1:{PROXY_PORT}"),
        ..Default::default()
    };

    let cfg = EdgeConfig {
        kafka: kafka.clone(),
        status_interval_s: 2,
        ..Default::default()
    };
    let publisher = Arc::new(Publisher::new(&kafka, cfg.topics.clone(), "outage-edge").unwrap());
    let shared = Shared::new(false);
    let edge = {
        let (cfg, publisher, shared) = (cfg.clone(), publisher.clone(), shared.clone());
        std::thread::spawn(move || {
            let mut cfg = cfg;
            cfg.source.width = 320;
            cfg.source.height = 240;
            let source = run::open_source(&cfg).unwrap();
            run::run(
                &cfg,
                &CameraId::new("outage").unwrap(),
                source,
                None,
                &publisher,
                &shared,
            )
        })
    };
    let kp = |f: fn(&pose_edge::publish::KindCounters) -> &std::sync::atomic::AtomicU64| {
        f(&publisher.stats().keypoints).load(Ordering::Relaxed)
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered_before = kp(|c| &c.delivered);
    assert!(
        delivered_before > 30,
        "publishing before the outage: {delivered_before}"
    );
    let rss_before = rss_bytes();

    proxy.cut();
    let outage_start_us = now_us();
    tokio::time::sleep(outage).await;
    assert!(
        !edge.is_finished(),
        "the edge keeps running without a broker"
    );
    let rss_during = rss_bytes();
    let outage_end_us = now_us();

    proxy.restore();
    let back = Instant::now();
    let delivered_at_return = kp(|c| &c.delivered);
    while kp(|c| &c.delivered) <= delivered_at_return && back.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed_after = back.elapsed();
    assert!(
        kp(|c| &c.delivered) > delivered_at_return,
        "publishing resumes after the broker returns"
    );
    // Let the buffered keypoints drain, then stop the edge.
    tokio::time::sleep(Duration::from_secs(3)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let summary = edge.join().unwrap();

    let p = publisher.stats();
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let (k, f) = (&p.keypoints, &p.frames);
    eprintln!(
        "outage {:?}: resumed after {:.2} s; keypoints enqueued {} delivered {} failed {} dropped {}; \
         frames enqueued {} delivered {} failed {} dropped {}; rss {} -> {} MB; {summary:?}",
        outage,
        resumed_after.as_secs_f64(),
        g(&k.enqueued),
        g(&k.delivered),
        g(&k.failed),
        g(&k.dropped_queue_full),
        g(&f.enqueued),
        g(&f.delivered),
        g(&f.failed),
        g(&f.dropped_queue_full),
        rss_before / 1_000_000,
        rss_during / 1_000_000
    );
    // Every keypoint message is accounted for: delivered, failed or dropped, none left queued.
    assert_eq!(
        g(&k.enqueued),
        g(&k.delivered) + g(&k.failed),
        "keypoints all settled after the flush"
    );
    assert_eq!(g(&k.enqueued) + g(&k.dropped_queue_full), summary.inferred);
    // Frames are disposable: the ones queued in the outage timed out (5 s) and were counted.
    assert!(
        g(&f.failed) + g(&f.dropped_queue_full) > 0,
        "frames lost in the outage are counted"
    );
    assert!(
        rss_during < rss_before + 64_000_000,
        "memory bounded: {rss_before} -> {rss_during}"
    );

    // The keypoints captured during the outage reached the broker after it returned.
    let cfg_c = ConsumeConfig {
        group_id: "outage-check".into(),
        offset_reset: "earliest".into(),
    };
    let consumer = consume::subscribe(&kafka, &cfg.topics, &cfg_c, "outage-cloud").unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(consume::run(
        consumer,
        cfg.topics.clone(),
        tx,
        Arc::new(ConsumeStats::default()),
        async {
            let _ = stop_rx.await;
        },
    ));
    let mut during_outage = 0;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        if let Incoming::Keypoints(k) = m
            && (outage_start_us..outage_end_us).contains(&k.capture_ts_us)
        {
            during_outage += 1;
        }
    }
    let _ = stop_tx.send(());
    drop(rx);
    task.await.unwrap();
    let expected = outage.as_secs() * 25; // 30 fps, with margin
    assert!(
        during_outage >= expected,
        "keypoints captured during the outage were buffered and delivered: {during_outage} < {expected}"
    );
}
