//! "What if one broker is not enough": a three-node Apache Kafka cluster on loopback (KRaft,
//! every node broker and controller), topics with replication factor 3 and
//! `min.insync.replicas=2` on the keypoint topic (`pose-cloud topics` sets it from 3 replicas
//! up). The node that leads the camera's keypoint partition is killed mid-stream (SIGKILL).
//!
//! Required: no acknowledged keypoint message is lost (everything the edge counted as delivered
//! is read back, once each, in order), the edge and the cloud carry on without a restart, and
//! the viewer freezes for at most a few seconds.

mod common;

use std::time::{Duration, Instant};

use pose_shared::time::now_us;
use pose_shared::topics::Topics;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};

const CAMERA: &str = "cluster-cam";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_loses_no_acknowledged_keypoint() {
    let broker = common::TestBroker::new("cluster", 19792, 3);
    broker.start();
    let kafka = broker.settings();
    let topics = Topics::default();
    let brokers = broker.bootstrap();
    let mut edge = common::EdgeProcess::start("cluster_edge", CAMERA, &brokers, &[]);
    let mut cloud = common::CloudProcess::start(
        "cluster_cloud",
        &["--brokers", &brokers, "--group-id", "cluster-cloud"],
    );
    common::wait_until_flowing(&edge, &cloud, CAMERA, Duration::from_secs(60)).await;

    // The camera's keypoint partition (the key is the camera id) and the node that leads it.
    let (partition, leader) = camera_partition_leader(&kafka, &topics.keypoints).await;
    eprintln!("{CAMERA}: keypoints in partition {partition}, led by node {leader}; killing it");
    let delivered_before = edge.metric("delivered");
    let killed_us = now_us();
    broker.kill_node(leader as u16);
    let killed = Instant::now();

    // For 15 s: how old the shown frame gets (the freeze: capture to now, sampled every
    // 100 ms), and when the edge's keypoint deliveries go on.
    let (mut freeze_us, mut publish_back) = (0u64, None);
    while killed.elapsed() < Duration::from_secs(15) || publish_back.is_none() {
        if publish_back.is_none() && edge.metric("delivered") > delivered_before + 30 {
            publish_back = Some(killed.elapsed());
        }
        if let Some(ts) = common::shown_capture_us(cloud.port, CAMERA) {
            freeze_us = freeze_us.max(now_us().saturating_sub(ts.max(killed_us)));
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "publishing did not go on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let freeze = Duration::from_micros(freeze_us);
    // Run on two nodes for a while, then stop the edge and read what it counted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(edge.alive(), "the edge carried on");
    assert!(cloud.alive(), "the cloud carried on");
    let (exit, log) = edge.stop();
    let counts = common::EdgeCounts::from_log(&log);
    assert!(cloud.stop(), "cloud exits cleanly:\n{}", cloud.log_text());
    assert!(exit.success(), "edge exits cleanly:\n{log}");

    let seqs: Vec<u64> = common::keypoints_of(&kafka, &topics, CAMERA)
        .await
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    let out_of_order = seqs.windows(2).filter(|w| w[1] <= w[0]).count();
    eprintln!(
        "leader killed: keypoint deliveries went on after {publish_back:?}, the picture froze \
         for at most {freeze:?}; \
         edge {}; read back {} keypoint messages, {out_of_order} duplicated or out of order",
        counts.line,
        seqs.len()
    );
    // 2-3 s on a quiet machine; the bound leaves room for a loaded CI machine, where the debug
    // build's own latency is part of the figure.
    assert!(
        freeze < Duration::from_secs(10),
        "the viewer froze for {freeze:?}"
    );
    assert_eq!(
        counts.failed, 0,
        "no keypoint message failed: {}",
        counts.line
    );
    assert_eq!(counts.enqueued, counts.delivered, "{}", counts.line);
    assert_eq!(out_of_order, 0, "exactly once, in order");
    assert_eq!(
        seqs.len() as u64,
        counts.delivered,
        "every acknowledged keypoint message is in the topic"
    );
}

/// Partition of the camera's keypoint messages (from the first one found) and its leader.
async fn camera_partition_leader(
    kafka: &pose_shared::kafka::KafkaSettings,
    topic: &str,
) -> (i32, i32) {
    let consumer: StreamConsumer = kafka
        .client_config("cluster-probe")
        .set("group.id", format!("cluster-probe-{}", now_us()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let partition = loop {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a keypoint message within 30 s")
            .expect("no consumer error");
        if m.key() == Some(CAMERA.as_bytes()) {
            break m.partition();
        }
    };
    let meta: BaseConsumer = kafka.client_config("cluster-meta").create().unwrap();
    let md = meta
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let leader = md.topics()[0]
        .partitions()
        .iter()
        .find(|p| p.id() == partition)
        .expect("the partition exists")
        .leader();
    (partition, leader)
}
