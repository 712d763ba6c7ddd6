//! Helpers for tests against the real local broker (`scripts/broker.sh start`, or `make test`).

#![allow(dead_code)]

use std::time::Duration;

use pose_shared::kafka::KafkaSettings;
use pose_shared::topics::Topics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

pub use pose_shared::fixtures::sample_video;

/// The cloud in process: its state and its pipeline (consumer → join → renderers), reading
/// `topics` from the start with a group of its own. Setting the returned sender to true stops
/// both (and any server made with [`serve`] on the receiver).
pub fn cloud(
    kafka: &KafkaSettings,
    topics: &Topics,
    client: &str,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
    std::sync::Arc<pose_cloud::serve::AppState>,
    pose_cloud::service::Pipeline,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let state = pose_cloud::serve::AppState::new(stop_rx.clone());
    let cfg = pose_cloud::consume::ConsumeConfig {
        group_id: format!("{}-g", topics.keypoints),
        offset_reset: pose_cloud::consume::OffsetReset::Earliest,
    };
    let consumer = pose_cloud::consume::subscribe(kafka, topics, &cfg, client)
        .expect("the test consumer is created");
    let pipeline = pose_cloud::service::spawn(
        consumer,
        topics.clone(),
        pose_cloud::join::JoinConfig::default(),
        80,
        state.clone(),
    );
    (stop_tx, stop_rx, state, pipeline)
}

/// The JSON report line a browser script (cloud/tests/browser/*.mjs) printed, after checking
/// that it exited successfully.
pub fn browser_report(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap_or_default(),
    )
    .expect("the browser script prints a JSON line")
}

/// Serves the viewer and API of `state` on `listener` (TCP or TLS) until `stop` turns true.
pub fn serve<L>(
    listener: L,
    state: std::sync::Arc<pose_cloud::serve::AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = pose_cloud::serve::router(state);
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .expect("the test server runs");
    })
}

/// The broker under test: `POSESTREAM_BROKERS`, or the local default. Panics with the command
/// to run when no broker answers: these tests never pass without a real one.
pub fn broker() -> KafkaSettings {
    let brokers = std::env::var("POSESTREAM_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let settings = KafkaSettings {
        brokers: brokers.clone(),
        ..Default::default()
    };
    if let Err(e) = settings.probe(Duration::from_secs(10)) {
        panic!(
            "no Kafka broker answers at {brokers} ({e}). Start the local one with \
             `scripts/broker.sh start` (or run everything with `make test`)."
        );
    }
    settings
}

/// Creates a fresh pair of topics (3 partitions each) whose names no other test or run uses.
pub async fn fresh_topics(kafka: &KafkaSettings, test: &str) -> Topics {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let base = format!("test.{test}.{}.{nanos}", std::process::id());
    let topics = Topics {
        keypoints: format!("{base}.keypoints"),
        frames: format!("{base}.frames"),
    };
    let admin: AdminClient<DefaultClientContext> =
        kafka.client_config("test-admin").create().unwrap();
    let new = [
        NewTopic::new(&topics.keypoints, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&topics.frames, 3, TopicReplication::Fixed(1)),
    ];
    let res = admin
        .create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for r in res {
        r.expect("topic created");
    }
    topics
}

/// A TCP proxy in front of a real broker that can cut the network: `cut` closes every open
/// connection and stops listening (new connections are refused), `restore` listens again. The
/// broker keeps its state, as a real Kafka broker behind a failed link would.
pub struct FaultProxy {
    up: tokio::sync::watch::Sender<bool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl FaultProxy {
    /// Proxies 127.0.0.1:`listen` to 127.0.0.1:`target`.
    pub fn start(listen: u16, target: u16) -> Self {
        let (up, mut rx) = tokio::sync::watch::channel(true);
        let conns =
            std::sync::Arc::new(std::sync::Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let registry = conns.clone();
        tokio::spawn(async move {
            loop {
                while !*rx.borrow_and_update() {
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
                let listener = loop {
                    match tokio::net::TcpListener::bind(("127.0.0.1", listen)).await {
                        Ok(l) => break l,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((mut client, _)) = accepted else { continue };
                            let task = tokio::spawn(async move {
                                if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                                }
                            });
                            registry.lock().unwrap().push(task.abort_handle());
                        }
                        changed = rx.changed() => {
                            if changed.is_err() || !*rx.borrow() {
                                break; // drops the listener: new connections are refused
                            }
                        }
                    }
                }
            }
        });
        Self { up, conns }
    }

    pub fn cut(&self) {
        let _ = self.up.send(false);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}

/// A free TCP port on loopback (bound and released; good enough for a test's own services).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A blocking HTTP/1.0 GET on loopback: (status code, body). Status 0 when nothing answers.
pub fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").is_err() {
        return (0, Vec::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, Vec::new());
    };
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, buf[split + 4..].to_vec())
}

/// `/metrics` of a service as `name{labels}` → value.
pub fn metrics(port: u16) -> std::collections::BTreeMap<String, f64> {
    try_metrics(port).expect("/metrics answers")
}

/// `/metrics` of a service, or None while it does not answer.
pub fn try_metrics(port: u16) -> Option<std::collections::BTreeMap<String, f64>> {
    let (code, body) = http_get(port, "/metrics");
    if code != 200 {
        return None;
    }
    let map = String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect();
    Some(map)
}

/// The `pose-cloud run` binary as a child process with its log in a file.
pub struct CloudProcess {
    pub child: std::process::Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl CloudProcess {
    /// Starts `pose-cloud run` on a free port with `args` (brokers, topics, group...), and waits
    /// until `/healthz` answers.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_on(name, free_port(), args)
    }

    /// Same, on a given HTTP port (to restart on the same address).
    pub fn start_on(name: &str, port: u16, args: &[&str]) -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"))
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--status-interval", "2"])
            .args(args)
            .arg("run")
            .env_remove("POSE_CLOUD_CONFIG")
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("pose-cloud starts");
        let me = Self { child, port, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while http_get(port, "/healthz").0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "pose-cloud did not answer; log:\n{}",
                me.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits up to 20 s; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts one edge on the sample video (looped, paced at its frame rate) in a thread, with pose
/// estimation when `infer`; it stops when `shared.stop` is set.
pub fn edge(
    kafka: &KafkaSettings,
    topics: &Topics,
    camera: &str,
    privacy: bool,
    infer: bool,
) -> (
    std::sync::Arc<pose_edge::state::Shared>,
    std::thread::JoinHandle<()>,
) {
    use pose_edge::pose::{ModelPaths, PoseEstimator};
    let mut cfg = pose_edge::config::EdgeConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        privacy,
        ..Default::default()
    };
    cfg.source.kind = pose_edge::source::SourceKind::Video;
    cfg.source.path = Some(sample_video());
    cfg.source.looped = true;
    let shared = pose_edge::state::Shared::new(privacy);
    let camera = pose_shared::CameraId::new(camera).unwrap();
    let s = shared.clone();
    let handle = std::thread::spawn(move || {
        let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let est = infer.then(|| {
            PoseEstimator::new(&ModelPaths::new(&models, None), 1)
                .expect("models load (run models/fetch.sh)")
        });
        let publisher =
            pose_edge::publish::Publisher::new(&cfg.kafka, cfg.topics.clone(), "test-edge")
                .unwrap();
        let source = pose_edge::source::open(&cfg.source).unwrap();
        pose_edge::pipeline::run(&cfg, &camera, source, est, &publisher, &s);
    });
    (shared, handle)
}

/// Produces one raw record (any bytes, any headers) and waits for the broker's acknowledgement:
/// for tests that send what the programs would never send.
pub async fn send_raw(
    raw: rdkafka::producer::FutureProducer,
    topic: String,
    key: String,
    payload: Vec<u8>,
    headers: Option<rdkafka::message::OwnedHeaders>,
) {
    let mut rec = rdkafka::producer::FutureRecord::to(&topic)
        .key(&key)
        .payload(&payload);
    if let Some(h) = headers {
        rec = rec.headers(h);
    }
    raw.send(rec, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("the broker takes the record");
}

/// A consumer of both topics from their start, in a group of its own, feeding a channel: what
/// the tests read the broker with.
pub struct TestConsumer {
    pub rx: tokio::sync::mpsc::Receiver<pose_cloud::consume::Incoming>,
    pub stats: std::sync::Arc<pose_cloud::consume::ConsumeStats>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TestConsumer {
    /// Subscribes group `group` (offsets from the earliest) and starts reading.
    pub fn start(kafka: &KafkaSettings, topics: &Topics, group: &str, buffer: usize) -> Self {
        let cfg = pose_cloud::consume::ConsumeConfig {
            group_id: group.to_owned(),
            offset_reset: pose_cloud::consume::OffsetReset::Earliest,
        };
        let consumer = pose_cloud::consume::subscribe(kafka, topics, &cfg, "test-consumer")
            .expect("the consumer subscribes");
        let stats = std::sync::Arc::new(pose_cloud::consume::ConsumeStats::default());
        let (tx, rx) = tokio::sync::mpsc::channel(buffer);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(pose_cloud::consume::run(
            consumer,
            topics.clone(),
            tx,
            stats.clone(),
            async {
                let _ = stop_rx.await;
            },
        ));
        Self {
            rx,
            stats,
            stop,
            task,
        }
    }

    /// Stops reading (the consumer commits and leaves its group).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        drop(self.rx);
        self.task.await.expect("the consumer task ends");
    }
}

/// A broker of the test's own, started by `scripts/broker.sh` (Apache Kafka, as in production)
/// on its own ports and data directory, so that a test can stop, kill and restart it. Every node
/// is stopped when the value is dropped, however the test ends.
pub struct TestBroker {
    env: Vec<(&'static str, String)>,
    pub port: u16,
    pub nodes: u16,
}

impl TestBroker {
    /// `nodes` KRaft nodes, node i listening on `port + 10 * (i - 1)`; data under the test's
    /// target directory (`name`), kept across restarts and wiped before the first start.
    pub fn new(name: &str, port: u16, nodes: u16) -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("broker-{name}"));
        let b = Self {
            env: vec![
                ("POSESTREAM_BROKER_PORT", port.to_string()),
                ("POSESTREAM_BROKER_NODES", nodes.to_string()),
                ("POSESTREAM_BROKER_DIR", dir.display().to_string()),
                // Three JVMs share 2 cores and the rest of the test: small heaps.
                (
                    "POSESTREAM_BROKER_HEAP",
                    if nodes > 1 { "384m" } else { "512m" }.into(),
                ),
            ],
            port,
            nodes,
        };
        b.script(&["wipe"]);
        b
    }

    /// Adds an environment setting of `scripts/broker.sh` (before `start`).
    pub fn with(mut self, key: &'static str, value: &str) -> Self {
        self.env.push((key, value.to_owned()));
        self
    }

    pub fn script(&self, args: &[&str]) {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = std::process::Command::new(repo.join("scripts/broker.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .expect("scripts/broker.sh runs");
        assert!(status.success(), "scripts/broker.sh {args:?} failed");
    }

    /// Starts every node (formatting the storage the first time) and creates the deployment's
    /// two topics.
    pub fn start(&self) {
        self.script(&["start"]);
    }

    /// Starts node `n` again from its data directory.
    pub fn start_node(&self, n: u16) {
        self.script(&["start", &n.to_string()]);
    }

    /// SIGTERM (a controlled shutdown) to node `n`, waiting until it has exited.
    pub fn stop_node(&self, n: u16) {
        self.script(&["stop", &n.to_string()]);
    }

    /// SIGKILL to node `n`.
    pub fn kill_node(&self, n: u16) {
        self.script(&["kill", &n.to_string()]);
    }

    pub fn bootstrap(&self) -> String {
        (1..=self.nodes)
            .map(|i| format!("127.0.0.1:{}", self.port + 10 * (i - 1)))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.bootstrap(),
            ..Default::default()
        }
    }

    /// The end of node `n`'s log (for failure messages).
    pub fn log_tail(&self, n: u16) -> String {
        let dir = &self.env[2].1;
        let text = std::fs::read_to_string(format!("{dir}/node{n}/kafka.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // SIGKILL: the data is wiped at the next start anyway, and the last nodes of a cluster
        // cannot finish a controlled shutdown without a quorum.
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let _ = std::process::Command::new(repo.join("scripts/broker.sh"))
            .arg("kill")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .status();
    }
}

/// Resident memory of a process, bytes.
pub fn rss(pid: u32) -> u64 {
    pose_shared::metrics::rss_bytes_of(&pid.to_string())
}

/// The real `pose-edge run` binary playing the sample video at its 30 fps without pose
/// estimation, with its metrics on a free port and its log in the test's target directory.
/// Killed when dropped, however the test ends.
pub struct EdgeProcess {
    pub child: std::process::Child,
    pub metrics_port: u16,
    pub log: std::path::PathBuf,
    camera: String,
}

impl EdgeProcess {
    pub fn start(name: &str, camera: &str, brokers: &str, args: &[&str]) -> Self {
        let bin =
            std::path::Path::new(env!("CARGO_BIN_EXE_pose-cloud")).with_file_name("pose-edge");
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo build -p pose-edge` (make test does)",
            bin.display()
        );
        let metrics_port = free_port();
        let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.log"));
        let child = std::process::Command::new(bin)
            .args(["run", "--camera-id", camera, "--brokers", brokers])
            .args(["--source", "video", "--loop", "--no-pose"])
            .arg("--source-path")
            .arg(sample_video())
            .args(["--status-interval", "5"])
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(args)
            .env_remove("POSE_EDGE_CONFIG")
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("pose-edge starts");
        Self {
            child,
            metrics_port,
            log,
            camera: camera.to_owned(),
        }
    }

    /// `pose_edge_messages_total` of keypoint messages with `outcome`.
    pub fn metric(&self, outcome: &str) -> u64 {
        self.metric_of("keypoints", outcome)
    }

    pub fn metric_of(&self, kind: &str, outcome: &str) -> u64 {
        let key = format!(
            "pose_edge_messages_total{{camera=\"{}\",kind=\"{kind}\",outcome=\"{outcome}\"}}",
            self.camera
        );
        try_metrics(self.metrics_port)
            .and_then(|m| m.get(&key).copied())
            .unwrap_or(0.0) as u64
    }

    pub fn all(&self) -> std::collections::BTreeMap<String, f64> {
        try_metrics(self.metrics_port).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM and wait: (exit status, the whole log).
    pub fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("pose-edge exits");
        (
            status,
            std::fs::read_to_string(&self.log).unwrap_or_default(),
        )
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The keypoint counts of the edge's last status line (written after its final flush).
#[derive(Debug)]
pub struct EdgeCounts {
    pub enqueued: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub inferred: u64,
    pub line: String,
}

impl EdgeCounts {
    pub fn from_log(log: &str) -> Self {
        let line = log
            .lines()
            .rfind(|l| l.contains("keypoints=\"enqueued="))
            .unwrap_or_default();
        let keypoints = line.split("keypoints=\"").nth(1).unwrap_or_default();
        Self {
            enqueued: number_after(keypoints, "enqueued="),
            delivered: number_after(keypoints, "delivered="),
            failed: number_after(keypoints, "failed="),
            dropped: number_after(keypoints, "dropped_full="),
            inferred: number_after(line, " inferred="),
            line: line.to_owned(),
        }
    }
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

/// Whether `/api/cameras` of the cloud on `port` lists `camera` as live.
pub fn camera_live(port: u16, camera: &str) -> bool {
    let (code, body) = http_get(port, "/api/cameras");
    code == 200
        && serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.as_array()?
                    .iter()
                    .find(|c| c["id"] == camera)
                    .map(|c| c["state"] == "live")
            })
            .unwrap_or(false)
}

/// Capture time of the frame the cloud on `port` shows now for `camera` (the first part of its
/// MJPEG stream).
pub fn shown_capture_us(port: u16, camera: &str) -> Option<u64> {
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

/// The run id of the messages the tests publish as one edge (`keypoint_message`).
pub const TEST_RUN: u64 = pose_shared::fixtures::RUN;

/// A version-2 keypoint message of one plausible pose (the shared fixture: track 1, run
/// [`TEST_RUN`], 64×48).
pub fn keypoint_message(
    camera: &str,
    seq: u64,
    capture_ts_us: u64,
) -> pose_shared::KeypointMessage {
    pose_shared::KeypointMessage {
        width: 64,
        height: 48,
        ..pose_shared::fixtures::keypoint_message(camera, seq, capture_ts_us)
    }
}

/// Waits until the edge has delivered 60 keypoint messages and the cloud shows `camera` live;
/// fails with both sides' state after `limit`.
pub async fn wait_until_flowing(
    edge: &EdgeProcess,
    cloud: &CloudProcess,
    camera: &str,
    limit: Duration,
) {
    let t0 = std::time::Instant::now();
    while !(edge.metric("delivered") > 60 && camera_live(cloud.port, camera)) {
        assert!(
            t0.elapsed() < limit,
            "edge and cloud did not start: edge {:?}\ncloud log:\n{}",
            edge.all(),
            cloud.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every keypoint message of `camera` in the topic, in stored order: (seq, capture time µs).
/// Reads from the start with a group of its own until nothing comes for 8 s (at most 60 s).
pub async fn keypoints_of(kafka: &KafkaSettings, topics: &Topics, camera: &str) -> Vec<(u64, u64)> {
    let group = format!("read-back-{}", pose_shared::time::now_us());
    let mut c = TestConsumer::start(kafka, topics, &group, 1024);
    let mut out = Vec::new();
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < give_up
        && let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(8), c.rx.recv()).await
    {
        if let pose_cloud::consume::Incoming::Keypoints(k) = m
            && k.camera_id.as_str() == camera
        {
            out.push((k.seq, k.capture_ts_us));
        }
    }
    c.stop().await;
    out
}

/// The first `n` keypoint events of `camera` from the cloud's Server-Sent Events
/// (`/api/cameras/{camera}/keypoints`), as JSON; fewer if `limit` passes first.
pub fn sse_keypoints(port: u16, camera: &str, n: usize, limit: Duration) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return Vec::new();
    };
    let deadline = std::time::Instant::now() + limit;
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = write!(
        s,
        "GET /api/cameras/{camera}/keypoints HTTP/1.0\r\nHost: t\r\n\r\n"
    );
    let mut reader = BufReader::new(s);
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < n && std::time::Instant::now() < deadline {
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                if let Some(data) = line.strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str(data.trim_end())
                {
                    out.push(v);
                }
                line.clear();
            }
            // A read timeout: what was read of the line stays in `line`; keep reading.
            Err(_) => continue,
        }
    }
    out
}
