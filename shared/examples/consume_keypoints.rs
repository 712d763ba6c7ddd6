//! The shortest Rust consumer of the keypoint topic (docs/consume.md): each person's hip height.
//!
//! `POSESTREAM_BROKERS=127.0.0.1:9092 cargo run -p pose-shared --example consume_keypoints`
//!
//! Needs `pose-shared` (the wire format) and `rdkafka`; offsets are committed for the group
//! `my-team-hips` by librdkafka (every 5 s), so a restart resumes where it stopped.

use pose_shared::KeypointMessage;
use pose_shared::skeleton::LANDMARK_NAMES;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message};

fn main() -> anyhow::Result<()> {
    let brokers = std::env::var("POSESTREAM_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "my-team-hips")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["pose.keypoints"])?;
    let hip = |name| LANDMARK_NAMES.iter().position(|n| *n == name).unwrap_or(0);
    let (left_hip, right_hip) = (hip("left_hip"), hip("right_hip"));
    for msg in consumer.iter() {
        let msg = msg?;
        match KeypointMessage::decode(msg.payload().unwrap_or_default()) {
            Ok(kp) => {
                for pose in &kp.poses {
                    let hip_y = (pose.landmarks[left_hip].y + pose.landmarks[right_hip].y) / 2.0;
                    // (camera, run, seq) identifies the frame; track_id the person in the run.
                    let (camera, run, seq, track) = (&kp.camera_id, kp.run, kp.seq, pose.track_id);
                    println!("{camera} {run} {seq} {track} hip_y={hip_y:.3}");
                }
            }
            // Bad bytes are an error value, never a panic: count or log them and go on.
            Err(e) => eprintln!("skipped a message: {e} ({})", e.reason()),
        }
    }
    Ok(())
}
