//! Helpers for tests against the real local broker (`scripts/broker.sh start`, or `make test`).

#![allow(dead_code)]

use std::time::Duration;

use pose_shared::kafka::KafkaSettings;
use pose_shared::topics::Topics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

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
