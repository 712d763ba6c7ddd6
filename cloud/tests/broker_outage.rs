//! The broker goes away for 30 s while `pose-edge` and `pose-cloud` (the real binaries) run,
//! then comes back. Both stay up with bounded memory; publishing and viewing resume within 5 s;
//! the keypoints captured in the outage are delivered up to the edge's buffer bound
//! (`--keypoint-buffer`, 300 here so that 30 s at 30 fps overflows it) and the rest are counted
//! as dropped, in `/metrics` and in the edge's log.
//!
//! The broker (port 19193, `scripts/broker.sh`) sits behind a fault proxy (port 19195, which the
//! broker advertises). The outage closes every connection and refuses new ones, which is what
//! clients see of a stopped Apache Kafka, while the broker keeps its state as Kafka keeps its
//! log on disk. The local broker itself cannot be restarted with its state: its memory engine
//! forgets producer ids, and its SQLite engine failed every produce after a restart when tried
//! (README "Local broker"). `POSESTREAM_OUTAGE_SECS` sets the outage (default 30).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pose_cloud::consume::Incoming;
use pose_shared::kafka::KafkaSettings;
use pose_shared::time::now_us;

const PORT: &str = "19193";
const PROXY_PORT: u16 = 19195;
const BUFFER: u64 = 300;
const CAMERA: &str = "outage";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn broker_script(cmd: &str) {
    let status = Command::new(repo().join("scripts/broker.sh"))
        .arg(cmd)
        .env("POSESTREAM_BROKER_PORT", PORT)
        .env("POSESTREAM_BROKER_ADVERTISED_PORT", PROXY_PORT.to_string())
        .env(
            "POSESTREAM_BROKER_DIR",
            repo().join("target/broker-outage-test"),
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

/// The `pose-edge` binary, built next to `pose-cloud` by `cargo test --workspace`.
fn pose_edge_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_pose-cloud")).with_file_name("pose-edge");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p pose-edge` (make test does)",
        bin.display()
    );
    bin
}

/// Resident memory of a process, bytes.
fn rss(pid: u32) -> u64 {
    pose_shared::metrics::rss_bytes_of(&pid.to_string())
}

struct Edge {
    child: Child,
    metrics_port: u16,
    log: PathBuf,
}

impl Drop for Edge {
    fn drop(&mut self) {
        // A failed assertion must not leave the edge publishing.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Edge {
    fn metric(&self, outcome: &str) -> u64 {
        self.metric_of("keypoints", outcome)
    }
    fn metric_of(&self, kind: &str, outcome: &str) -> u64 {
        let key = format!(
            "pose_edge_messages_total{{camera=\"{CAMERA}\",kind=\"{kind}\",outcome=\"{outcome}\"}}"
        );
        common::try_metrics(self.metrics_port)
            .and_then(|m| m.get(&key).copied())
            .unwrap_or(0.0) as u64
    }
    fn all(&self) -> BTreeMap<String, f64> {
        common::try_metrics(self.metrics_port).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_and_cloud_survive_a_broker_outage() {
    let outage = Duration::from_secs(
        std::env::var("POSESTREAM_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let proxy = common::FaultProxy::start(PROXY_PORT, PORT.parse().unwrap());
    broker_script("restart");
    let _guard = BrokerGuard;
    let brokers = format!("127.0.0.1:{PROXY_PORT}");
    let kafka = KafkaSettings {
        brokers: brokers.clone(),
        ..Default::default()
    };
    let topics = pose_shared::topics::Topics::default();

    // The edge: the sample video at its 30 fps, no pose estimation (the outage is about Kafka).
    let metrics_port = common::free_port();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outage_edge.log");
    let child = Command::new(pose_edge_bin())
        .args(["run", "--camera-id", CAMERA, "--brokers", &brokers])
        .args(["--source", "video", "--loop", "--no-pose"])
        .arg("--source-path")
        .arg(common::sample_video())
        .args(["--keypoint-buffer", &BUFFER.to_string()])
        // A secret the broker does not need: it must reach no log line.
        .args(["--kafka-property", "sasl.password=not-for-the-log-5678"])
        .args(["--status-interval", "5"])
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .env_remove("POSE_EDGE_CONFIG")
        .env("RUST_LOG", "info,rdkafka=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("pose-edge starts");
    let mut edge = Edge {
        child,
        metrics_port,
        log,
    };
    let mut cloud = common::CloudProcess::start(
        "outage_cloud",
        &["--brokers", &brokers, "--group-id", "outage-cloud"],
    );
    let (edge_pid, cloud_pid) = (edge.child.id(), cloud.child.id());

    // Both work before the outage.
    let t0 = Instant::now();
    while !(edge.metric("delivered") > 60 && camera_live(cloud.port)) {
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "edge and cloud did not start: edge {:?}\ncloud log:\n{}",
            edge.all(),
            cloud.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = (rss(edge_pid), rss(cloud_pid));
    let dropped_before = edge.metric("dropped_queue_full");
    assert_eq!(dropped_before, 0);

    proxy.cut();
    let outage_start_us = now_us();
    let mut rss_peak = rss_before;
    let end = Instant::now() + outage;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak.0 = rss_peak.0.max(rss(edge_pid));
        rss_peak.1 = rss_peak.1.max(rss(cloud_pid));
    }
    let outage_end_us = now_us();
    assert!(
        matches!(edge.child.try_wait(), Ok(None)),
        "the edge runs without a broker"
    );
    assert!(cloud.alive(), "the cloud runs without a broker");
    let dropped_in_outage = edge.metric("dropped_queue_full");
    assert!(
        dropped_in_outage > 0,
        "30 fps for {outage:?} overflows a buffer of {BUFFER}"
    );

    proxy.restore();
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
            && shown_capture_us(cloud.port).is_some_and(|ts| ts > outage_end_us)
        {
            view_resumed = Some(back.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the buffered keypoints drain, then stop both and read what they counted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &edge_pid.to_string()])
        .status();
    let edge_exit = edge.child.wait().unwrap();
    let edge_log = std::fs::read_to_string(&edge.log).unwrap_or_default();
    // The edge's last status line, written after its final flush, has the exact counts.
    let last = edge_log
        .lines()
        .rfind(|l| l.contains("keypoints=\"enqueued="))
        .unwrap_or_default();
    let keypoints = last.split("keypoints=\"").nth(1).unwrap_or_default();
    let (enqueued, delivered, failed, dropped) = (
        number_after(keypoints, "enqueued="),
        number_after(keypoints, "delivered="),
        number_after(keypoints, "failed="),
        number_after(keypoints, "dropped_full="),
    );
    let inferred = number_after(last, " inferred=");
    assert!(cloud.stop(), "cloud exits cleanly:\n{}", cloud.log_text());

    // Keypoints captured during the outage that reached the broker.
    let during = keypoints_captured_between(&kafka, &topics, outage_start_us, outage_end_us).await;
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
    // Delivered from the outage: the buffer's worth, less what was in flight when it began.
    assert!(
        during <= BUFFER && during + 20 >= BUFFER,
        "keypoints captured in the outage and delivered: {during}, buffer {BUFFER}"
    );
    // Memory stayed bounded.
    assert!(
        rss_peak.0 < rss_before.0 + 64_000_000 && rss_peak.1 < rss_before.1 + 64_000_000,
        "memory bounded: {rss_before:?} -> {rss_peak:?}"
    );
}

/// The decimal number right after the first `key` in `text` (u64::MAX when there is none).
fn number_after(text: &str, key: &str) -> u64 {
    text.split_once(key)
        .map(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(u64::MAX)
}

fn camera_live(port: u16) -> bool {
    let (code, body) = common::http_get(port, "/api/cameras");
    code == 200 && String::from_utf8_lossy(&body).contains("\"state\":\"live\"")
}

fn frames_consumed(port: u16) -> f64 {
    common::metrics(port)
        .get("pose_cloud_consumed_total{kind=\"frames\"}")
        .copied()
        .unwrap_or(0.0)
}

/// Capture time of the frame the cloud shows now (the first part of its MJPEG stream).
fn shown_capture_us(port: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /cameras/{CAMERA}/stream.mjpg HTTP/1.0\r\nHost: t\r\n\r\n"
    )
    .ok()?;
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        let text = String::from_utf8_lossy(&buf[..got]);
        if let Some(i) = text.find("X-Capture-Ts-Us: ") {
            let rest = &text[i + 17..];
            if let Some(end) = rest.find('\r') {
                return rest[..end].trim().parse().ok();
            }
        }
    }
    None
}

async fn keypoints_captured_between(
    kafka: &KafkaSettings,
    topics: &pose_shared::topics::Topics,
    from_us: u64,
    to_us: u64,
) -> u64 {
    // The broker must be reachable directly now (the proxy is up again anyway).
    let mut c =
        common::TestConsumer::start(kafka, topics, &format!("outage-check-{}", now_us()), 1024);
    let mut n = 0;
    let give_up = Instant::now() + Duration::from_secs(60);
    while Instant::now() < give_up
        && let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(8), c.rx.recv()).await
    {
        if let Incoming::Keypoints(k) = m
            && (from_us..to_us).contains(&k.capture_ts_us)
        {
            n += 1;
        }
    }
    c.stop().await;
    n
}
