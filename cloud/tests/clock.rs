//! Kafka's time rules as the edge meets them. Records carry the capture time (CreateTime), which
//! the broker's time index (replay, retention) uses; Apache Kafka 4 refuses a record stamped more
//! than an hour ahead of its own clock (`log.message.timestamp.after.max.ms`). An edge whose
//! clock is that far off gets its keypoints refused, each counted as failed (and logged with
//! the NTP hint), while a correct clock's messages are delivered.

mod common;

use std::time::Duration;

use pose_edge::publish::Publisher;
use pose_shared::time::now_us;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_two_hours_ahead_is_refused_and_counted() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "clock").await;
    let publisher = Publisher::new(&kafka, topics.clone(), "clock-test").unwrap();
    let two_hours_us = 2 * 3600 * 1_000_000;
    for seq in 1..=10 {
        publisher
            .publish_keypoints(&common::keypoint_message(
                "clock-cam",
                seq,
                now_us() + two_hours_us,
            ))
            .unwrap();
    }
    publisher.flush(Duration::from_secs(20));
    let c = &publisher.stats().keypoints;
    let counts = || (c.delivered.get(), c.failed.get());
    assert_eq!(counts(), (0, 10), "every future record refused and counted");
    // The clock is right again (NTP caught up): the same producer delivers. (A batch is
    // accepted or refused whole, so the switch is clean only between batches.)
    for seq in 11..=20 {
        publisher
            .publish_keypoints(&common::keypoint_message("clock-cam", seq, now_us()))
            .unwrap();
    }
    publisher.flush(Duration::from_secs(20));
    assert_eq!(counts(), (10, 10), "the present records delivered");
}
