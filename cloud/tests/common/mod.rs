//! Helpers for tests against the real local broker (`scripts/broker.sh start`, or `make test`).

#![allow(dead_code)]

use std::time::Duration;

use pose_shared::kafka::KafkaSettings;
use pose_shared::topics::Topics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The sample video of a person (`scripts/fetch-samples.sh`): 120 frames, 176x144, 29.97 fps.
pub fn sample_video() -> std::path::PathBuf {
    let cache = std::env::var_os("POSESTREAM_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/posestream")
        });
    let file = cache.join("samples/carphone.mp4");
    assert!(
        file.is_file(),
        "{} is missing: run `scripts/fetch-samples.sh` (or `make test`)",
        file.display()
    );
    file
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
