//! Retention for real: with a short `retention.ms` on the frames topic, Apache Kafka deletes the
//! old frames (the log start offset moves to the end) while the keypoint topic, with its days of
//! retention, keeps every message. The topics are made by `pose-cloud topics`' own plan
//! ([`TopicPlan::pair`]), only with the frames' retention shortened to 3 s.
//!
//! The test's own broker checks retention every second from the start
//! (`log.retention.check.interval.ms=1000`, `log.initial.task.delay.ms=0`); a deployed broker
//! checks every 5 minutes, which changes when data goes, not what goes.

mod common;

use std::time::{Duration, Instant};

use pose_cloud::admin::{KEYPOINTS_RETENTION_MS, TopicPlan};
use pose_shared::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;

const MESSAGES: i64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_frames_are_deleted_and_keypoints_kept() {
    let broker = common::TestBroker::new("retention", 19693, 1)
        .with("POSESTREAM_BROKER_TOPICS", "0")
        .with(
            "POSESTREAM_BROKER_PROPERTIES",
            "log.initial.task.delay.ms=0 log.retention.check.interval.ms=1000 \
             file.delete.delay.ms=1000",
        );
    broker.start();
    let kafka = broker.settings();
    let topics = Topics {
        keypoints: "retention.keypoints".into(),
        frames: "retention.frames".into(),
    };
    let plans = TopicPlan::pair(&topics, 1, 1, 3_000, KEYPOINTS_RETENTION_MS);
    pose_cloud::admin::ensure(&kafka, &plans, Duration::from_secs(20))
        .await
        .expect("topics created");

    let producer: FutureProducer = kafka.client_config("retention-test").create().unwrap();
    for i in 0..MESSAGES {
        for topic in [&topics.frames, &topics.keypoints] {
            common::send_raw(
                producer.clone(),
                topic.clone(),
                "cam-retention".into(),
                format!("message {i}").into_bytes(),
                None,
            )
            .await;
        }
    }
    let watermarks = |topic: &str| {
        let c: BaseConsumer = kafka
            .client_config("retention-watermarks")
            .create()
            .unwrap();
        c.fetch_watermarks(topic, 0, Duration::from_secs(5))
            .expect("watermarks")
    };
    assert_eq!(watermarks(&topics.frames), (0, MESSAGES));
    assert_eq!(watermarks(&topics.keypoints), (0, MESSAGES));

    // Retention 3 s, checked every second: the frames go within seconds.
    let t0 = Instant::now();
    let deleted_after = loop {
        let (low, high) = watermarks(&topics.frames);
        if low == high && high == MESSAGES {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "frames still there after 30 s: log start {low}, end {high}\n{}",
            broker.log_tail(1)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("frames older than 3 s deleted {deleted_after:?} after the last was written");
    assert_eq!(
        watermarks(&topics.keypoints),
        (0, MESSAGES),
        "the keypoints are all kept"
    );
}
