//! The broker goes away while `pose-edge` and `pose-cloud` (the real binaries) run, then comes
//! back. Three ways, each its own test:
//! - the network is cut for 30 s: a fault proxy (which the broker advertises) closes every
//!   connection and refuses new ones, while the broker keeps running;
//! - the broker is stopped with SIGTERM (a controlled shutdown) for 20 s, then started again
//!   from the same data directory;
//! - the broker is killed with SIGKILL for 20 s, then started again from the same directory.
//!
//! Required each time: both programs stay up with bounded memory; publishing and viewing resume
//! within 5 s of the broker's return; the keypoints captured in the outage are delivered up to
//! the edge's buffer bound (`--keypoint-buffer`, 300 here so that the outage overflows it), each
//! exactly once and in order (the idempotent producer survives the broker's restart: Kafka keeps
//! producer state in its log), and the rest are counted as dropped, in `/metrics` and in the
//! edge's log. The tests run one after the other (they share 2 cores with 2 JVMs and 2
//! programs). `POSESTREAM_OUTAGE_SECS` sets the network cut (default 30).

mod common;

use std::time::{Duration, Instant};

use pose_shared::kafka::KafkaSettings;
use pose_shared::time::now_us;

const PORT: u16 = 19193;
const PROXY_PORT: u16 = 19197;
const BUFFER: u64 = 300;
const CAMERA: &str = "outage";

/// One outage at a time: each test runs two programs and a JVM broker on 2 cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How the broker goes away.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outage {
    /// The network between the programs and a running broker is cut.
    NetworkCut,
    /// The broker is stopped with SIGTERM and started again from its data.
    BrokerStopped,
    /// The broker is killed with SIGKILL and started again from its data.
    BrokerKilled,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_and_cloud_survive_a_network_cut() {
    let secs = std::env::var("POSESTREAM_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    survive(Outage::NetworkCut, Duration::from_secs(secs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_and_cloud_survive_a_broker_stopped_and_restarted() {
    survive(Outage::BrokerStopped, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_and_cloud_survive_a_broker_killed_and_restarted() {
    survive(Outage::BrokerKilled, Duration::from_secs(20)).await;
}

async fn survive(kind: Outage, outage: Duration) {
    let _one = ONE_AT_A_TIME.lock().await;
    // Each kind has its own ports and data, so a failed test leaves nothing in another's way.
    let port = PORT + 100 * kind as u16;
    let mut broker = common::TestBroker::new(&format!("{kind:?}"), port, 1);
    let proxy = (kind == Outage::NetworkCut).then(|| common::FaultProxy::start(PROXY_PORT, port));
    if proxy.is_some() {
        broker = broker.with("POSESTREAM_BROKER_ADVERTISED_PORT", &PROXY_PORT.to_string());
    }
    broker.start();
    let brokers = match proxy {
        Some(_) => format!("127.0.0.1:{PROXY_PORT}"),
        None => broker.bootstrap(),
    };
    let kafka = KafkaSettings {
        brokers: brokers.clone(),
        ..Default::default()
    };
    let topics = pose_shared::topics::Topics::default();

    // The edge: the sample video at its 30 fps, no pose estimation (the outage is about Kafka).
    let mut edge = common::EdgeProcess::start(
        &format!("outage_edge_{kind:?}"),
        CAMERA,
        &brokers,
        &[
            "--keypoint-buffer",
            &BUFFER.to_string(),
            // A secret the broker does not need: it must reach no log line.
            "--kafka-property",
            "sasl.password=not-for-the-log-5678",
        ],
    );
    let mut cloud = common::CloudProcess::start(
        &format!("outage_cloud_{kind:?}"),
        &["--brokers", &brokers, "--group-id", "outage-cloud"],
    );
    let (edge_pid, cloud_pid) = (edge.child.id(), cloud.child.id());

    // Both work before the outage.
    common::wait_until_flowing(&edge, &cloud, CAMERA, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = (common::rss(edge_pid), common::rss(cloud_pid));
    let dropped_before = edge.metric("dropped_queue_full");
    assert_eq!(dropped_before, 0);

    let outage_start_us = now_us();
    match kind {
        Outage::NetworkCut => proxy.as_ref().expect("a proxy").cut(),
        Outage::BrokerStopped => broker.stop_node(1),
        Outage::BrokerKilled => broker.kill_node(1),
    }
    let mut rss_peak = rss_before;
    // The outage counts from the stop's start (a controlled shutdown takes a moment).
    let end =
        Instant::now() + outage.saturating_sub(Duration::from_micros(now_us() - outage_start_us));
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak.0 = rss_peak.0.max(common::rss(edge_pid));
        rss_peak.1 = rss_peak.1.max(common::rss(cloud_pid));
    }
    assert!(
        matches!(edge.child.try_wait(), Ok(None)),
        "the edge runs without a broker"
    );
    assert!(cloud.alive(), "the cloud runs without a broker");
    match &proxy {
        Some(p) => p.restore(),
        // Returns once the broker answers again (a JVM start: several seconds more outage).
        None => broker.start_node(1),
    }
    let outage_end_us = now_us();
    let dropped_in_outage = edge.metric("dropped_queue_full");
    assert!(
        dropped_in_outage > 0,
        "30 fps for {outage:?} overflows a buffer of {BUFFER}"
    );
    let back = Instant::now();
    let delivered_at_return = edge.metric("delivered");
    let frames_delivered_at_return = edge.metric_of("frames", "delivered");
    let (mut publish_resumed, mut view_resumed, mut frames_resumed) = (None, None, None);
    let frames_at_return = frames_consumed(cloud.port);
    while (publish_resumed.is_none() || view_resumed.is_none())
        && back.elapsed() < Duration::from_secs(30)
    {
        if publish_resumed.is_none() && edge.metric("delivered") > delivered_at_return {
            publish_resumed = Some(back.elapsed());
        }
        if frames_resumed.is_none()
            && edge.metric_of("frames", "delivered") > frames_delivered_at_return
        {
            frames_resumed = Some(back.elapsed());
        }
        // Viewing resumed: the cloud shows a frame captured after the broker came back.
        if view_resumed.is_none()
            && frames_consumed(cloud.port) > frames_at_return
            && common::shown_capture_us(cloud.port, CAMERA).is_some_and(|ts| ts > outage_end_us)
        {
            view_resumed = Some(back.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the buffered keypoints drain, then stop both and read what they counted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (edge_exit, edge_log) = edge.stop();
    let counts = common::EdgeCounts::from_log(&edge_log);
    let (enqueued, delivered, failed, dropped, inferred) = (
        counts.enqueued,
        counts.delivered,
        counts.failed,
        counts.dropped,
        counts.inferred,
    );
    let last = counts.line;
    assert!(cloud.stop(), "cloud exits cleanly:\n{}", cloud.log_text());

    // Keypoints captured during the outage that reached the broker.
    let stored = common::keypoints_of(&kafka, &topics, CAMERA).await;
    let during = stored
        .iter()
        .filter(|(_, ts)| (outage_start_us..outage_end_us).contains(ts))
        .count() as u64;
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    // Exactly once and in order: the camera's keypoint seqs, as stored, only ever increase.
    let out_of_order = seqs.windows(2).filter(|w| w[1] <= w[0]).count();
    eprintln!(
        "outage {outage:?}: publishing resumed after {publish_resumed:?} (frames \
         {frames_resumed:?}), viewing after \
         {view_resumed:?}; keypoints enqueued {enqueued} delivered {delivered} failed {failed} \
         dropped {dropped}; captured in the outage and delivered {during} (buffer {BUFFER}); \
         RSS edge {} -> {} MB, cloud {} -> {} MB",
        rss_before.0 / 1_000_000,
        rss_peak.0 / 1_000_000,
        rss_before.1 / 1_000_000,
        rss_peak.1 / 1_000_000,
    );
    assert!(edge_exit.success(), "edge exits cleanly:\n{edge_log}");
    assert!(
        !edge_log.contains("not-for-the-log-5678"),
        "no secret in the edge's log"
    );
    let publish_resumed = publish_resumed.expect("publishing resumed");
    let view_resumed = view_resumed.expect("viewing resumed");
    assert!(
        publish_resumed < Duration::from_secs(5),
        "{publish_resumed:?}"
    );
    assert!(view_resumed < Duration::from_secs(5), "{view_resumed:?}");
    // Every keypoint message is accounted for: delivered or failed once queued; the ones that
    // did not fit were dropped, and all of those were dropped during the outage.
    assert_eq!(
        enqueued,
        delivered + failed,
        "all queued ones settled: {last}"
    );
    assert_eq!(
        enqueued + dropped,
        inferred,
        "one keypoint message per inferred frame: {last}"
    );
    assert_eq!(failed, 0, "nothing timed out (10 min limit)");
    // Drops happen while the buffer is full: in the outage, and for the moment it takes to
    // drain after the broker returns (at most 2 s of frames).
    assert!(
        dropped >= dropped_in_outage && dropped <= dropped_in_outage + 60,
        "drops in the outage {dropped_in_outage}, in all {dropped}"
    );
    assert_eq!(
        out_of_order,
        0,
        "{} keypoint messages read back, {out_of_order} duplicated or out of order",
        seqs.len()
    );
    assert_eq!(
        seqs.len() as u64,
        delivered,
        "every delivered keypoint message is in the topic once"
    );
    // Delivered from the outage: the buffer's worth, less what was in flight when it began.
    // A stopping broker still takes what arrives while it shuts down (up to a second of it).
    let slack = if kind == Outage::NetworkCut { 0 } else { 30 };
    assert!(
        during <= BUFFER + slack && during + 20 >= BUFFER,
        "keypoints captured in the outage and delivered: {during}, buffer {BUFFER}"
    );
    // Memory stayed bounded.
    assert!(
        rss_peak.0 < rss_before.0 + 64_000_000 && rss_peak.1 < rss_before.1 + 64_000_000,
        "memory bounded: {rss_before:?} -> {rss_peak:?}"
    );
}

fn frames_consumed(port: u16) -> f64 {
    common::metrics(port)
        .get("pose_cloud_consumed_total{kind=\"frames\"}")
        .copied()
        .unwrap_or(0.0)
}
