//! Edge publisher → real broker → cloud consumer: everything sent arrives, decoded, in order per
//! camera; bad messages on either topic are counted and skipped while good ones still arrive.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pose_cloud::consume::{ConsumeStats, Incoming};
use pose_edge::publish::Publisher;
use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureProducer;

const N: u64 = 150;
/// The run id of the publishing "edge" (the fixture's).
const RUN: u64 = pose_shared::fixtures::RUN;

/// The shared fixture, with landmarks that differ per seq (so a mixed-up message shows).
fn keypoints(camera: &CameraId, seq: u64) -> KeypointMessage {
    let mut m = pose_shared::fixtures::keypoint_message(
        camera.as_str(),
        seq,
        1_764_000_000_000_000 + seq * 33_333,
    );
    let f = seq as f32 / N as f32;
    for (i, l) in m.poses[0].landmarks.iter_mut().enumerate() {
        l.x = f + i as f32 * 0.01;
        l.y = 1.0 - f;
    }
    m
}

fn jpeg(seq: u64) -> Vec<u8> {
    let frame = pose_edge::source::Frame {
        seq,
        capture_ts_us: 0,
        width: 64,
        height: 48,
        rgb: (0..64 * 48 * 3)
            .map(|i| ((i as u64 + seq) % 256) as u8)
            .collect(),
    };
    pose_edge::jpeg::encode(&frame, 32, 75).unwrap().0
}

/// Consumes from the start of `topics` until `want` messages arrived or 60 s passed.
async fn collect(
    kafka: &pose_shared::kafka::KafkaSettings,
    topics: &pose_shared::topics::Topics,
    want: usize,
) -> (Vec<Incoming>, Arc<ConsumeStats>) {
    let mut c =
        common::TestConsumer::start(kafka, topics, &format!("{}-group", topics.keypoints), 64);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want && Instant::now() < deadline {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), c.rx.recv()).await {
            got.push(m);
        }
    }
    // Anything beyond `want` would be a duplicate: give it a moment to show up.
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), c.rx.recv()).await {
        got.push(m);
    }
    let stats = c.stats.clone();
    c.stop().await;
    (got, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_published_arrives_in_order_per_camera() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "roundtrip").await;
    let cams = [
        CameraId::new("cam-a").unwrap(),
        CameraId::new("cam-b").unwrap(),
    ];
    let publisher = Publisher::new(&kafka, topics.clone(), "test-edge").unwrap();
    let mut sent_jpegs = BTreeMap::new();
    for seq in 0..N {
        for cam in &cams {
            let kp = keypoints(cam, seq);
            publisher.publish_keypoints(&kp).unwrap();
            let bytes = jpeg(seq);
            let meta = FrameMeta {
                camera_id: cam.clone(),
                run: RUN,
                seq,
                capture_ts_us: kp.capture_ts_us,
                width: 32,
                height: 24,
            };
            publisher.publish_frame(&meta, &bytes).unwrap();
            sent_jpegs.insert((cam.clone(), seq), bytes);
        }
    }
    assert_eq!(
        publisher.flush(Duration::from_secs(30)),
        (0, 0),
        "all delivered before the deadline"
    );
    let s = publisher.stats();
    for c in [&s.keypoints, &s.frames] {
        assert_eq!(c.enqueued.get(), 2 * N);
        assert_eq!(c.delivered.get(), 2 * N);
        assert_eq!(c.failed.get() + c.dropped_queue_full.get(), 0);
    }

    let (got, stats) = collect(&kafka, &topics, 4 * N as usize).await;
    assert_eq!(
        got.len(),
        4 * N as usize,
        "nothing lost, nothing duplicated"
    );
    assert_eq!(stats.keypoints.get(), 2 * N);
    assert_eq!(stats.frames.get(), 2 * N);
    assert_eq!(stats.keypoint_errors.get() + stats.frame_errors.get(), 0);

    // Per camera and kind, sequence numbers arrive as 0, 1, 2, ... N-1.
    let mut seqs: BTreeMap<(String, &str), Vec<u64>> = BTreeMap::new();
    for m in &got {
        match m {
            Incoming::Keypoints(k) => {
                assert_eq!(
                    k,
                    &KeypointMessage::decode(&keypoints(&k.camera_id, k.seq).encode().unwrap())
                        .unwrap()
                );
                seqs.entry((k.camera_id.to_string(), "keypoints"))
                    .or_default()
                    .push(k.seq);
            }
            Incoming::Frame(f) => {
                assert_eq!(
                    &f.jpeg,
                    &sent_jpegs[&(f.meta.camera_id.clone(), f.meta.seq)]
                );
                assert_eq!((f.meta.width, f.meta.height), (32, 24));
                seqs.entry((f.meta.camera_id.to_string(), "frames"))
                    .or_default()
                    .push(f.meta.seq);
            }
        }
    }
    let expected: Vec<u64> = (0..N).collect();
    assert_eq!(seqs.len(), 4);
    for (key, s) in seqs {
        assert_eq!(s, expected, "{key:?} in order and complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_counted_and_skipped() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "badinput").await;
    let raw: FutureProducer = kafka.client_config("test-raw").create().unwrap();
    let cam = CameraId::new("cam-bad").unwrap();
    let good_meta = |seq| FrameMeta {
        camera_id: cam.clone(),
        run: RUN,
        seq,
        capture_ts_us: 1,
        width: 32,
        height: 24,
    };
    let headers = |pairs: &[(&str, &str)]| {
        pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        })
    };
    let meta_headers = |m: &FrameMeta| {
        let owned = m.to_headers();
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers(&pairs)
    };
    let send = |topic: &str, payload: Vec<u8>, h: Option<OwnedHeaders>, key: &str| {
        common::send_raw(raw.clone(), topic.to_owned(), key.to_owned(), payload, h)
    };
    let good_kp = |seq| keypoints(&cam, seq).encode().unwrap();
    let mut wrong_version = good_kp(0);
    wrong_version[0] = 9;

    // Keypoints topic: good 0, then 5 bad ones, then good 1.
    send(&topics.keypoints, good_kp(0), None, "cam-bad").await;
    send(
        &topics.keypoints,
        b"random bytes, not a message".to_vec(),
        None,
        "cam-bad",
    )
    .await;
    send(
        &topics.keypoints,
        good_kp(0)[..100].to_vec(),
        None,
        "cam-bad",
    )
    .await;
    send(&topics.keypoints, wrong_version, None, "cam-bad").await;
    send(&topics.keypoints, Vec::new(), None, "cam-bad").await;
    send(&topics.keypoints, good_kp(7), None, "someone-else").await; // key mismatch
    send(&topics.keypoints, good_kp(1), None, "cam-bad").await;

    // Frames topic: good 0, then 5 bad ones, then good 1.
    send(
        &topics.frames,
        jpeg(0),
        Some(meta_headers(&good_meta(0))),
        "cam-bad",
    )
    .await;
    send(
        &topics.frames,
        b"not a jpeg".to_vec(),
        Some(meta_headers(&good_meta(2))),
        "cam-bad",
    )
    .await;
    send(&topics.frames, jpeg(3), None, "cam-bad").await; // headers missing
    let mut absurd = good_meta(4);
    absurd.width = 100_000;
    send(
        &topics.frames,
        jpeg(4),
        Some(meta_headers(&absurd)),
        "cam-bad",
    )
    .await;
    send(
        &topics.frames,
        jpeg(5),
        Some(headers(&[
            ("schema_version", "2"),
            ("camera_id", "cam-bad"),
        ])),
        "cam-bad",
    )
    .await;
    send(
        &topics.frames,
        jpeg(6),
        Some(headers(&[
            ("schema_version", "1"),
            ("camera_id", "cam-bad"),
            ("seq", "x"),
        ])),
        "cam-bad",
    )
    .await;
    send(
        &topics.frames,
        jpeg(1),
        Some(meta_headers(&good_meta(1))),
        "cam-bad",
    )
    .await;

    let (got, stats) = collect(&kafka, &topics, 4).await;
    let mut kp: Vec<u64> = Vec::new();
    let mut fr: Vec<u64> = Vec::new();
    for m in &got {
        match m {
            Incoming::Keypoints(k) => kp.push(k.seq),
            Incoming::Frame(f) => fr.push(f.meta.seq),
        }
    }
    assert_eq!(
        kp,
        vec![0, 1],
        "good keypoints around the bad ones still arrive"
    );
    assert_eq!(
        fr,
        vec![0, 1],
        "good frames around the bad ones still arrive"
    );
    assert_eq!(stats.keypoint_errors.get(), 5);
    assert_eq!(stats.frame_errors.get(), 5);
}
