//! The join through the real broker: two cameras, one with gaps (inference skipped frames), a
//! frame sent out of order and keypoints that arrive late, the other keypoints-only (privacy).
//! Checks the pairs, the stale/late/out-of-order counts, the blank canvas and offline detection.

mod common;

use std::time::{Duration, Instant};

use pose_cloud::consume::Incoming;
use pose_cloud::join::{CameraState, JoinConfig, Joined, Joiner};
use pose_cloud::render::{Overlay, render};
use pose_edge::publish::Publisher;
use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose};

/// The run id of the publishing "edge".
const RUN: u64 = 0x0001_0203_0405;

fn keypoints(cam: &str, seq: u64, frame_published: bool) -> KeypointMessage {
    let landmarks = std::array::from_fn(|i| Landmark {
        x: 0.3 + 0.01 * i as f32,
        y: 0.2 + 0.02 * i as f32,
        z: 0.0,
        visibility: 0.95,
        presence: 0.95,
    });
    KeypointMessage {
        camera_id: CameraId::new(cam).unwrap(),
        run: RUN,
        seq,
        capture_ts_us: pose_shared::time::now_us(),
        inference_us: 10_000,
        width: 64,
        height: 48,
        frame_published,
        poses: vec![Pose {
            track_id: 1,
            score: 0.9,
            landmarks,
            world_landmarks: None,
        }],
    }
}

fn jpeg() -> Vec<u8> {
    let frame = pose_edge::source::Frame {
        seq: 0,
        capture_ts_us: 0,
        width: 64,
        height: 48,
        rgb: vec![100; 64 * 48 * 3],
    };
    pose_edge::jpeg::encode(&frame, 64, 80).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_through_the_broker() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "join").await;
    let publisher = Publisher::new(&kafka, topics.clone(), "join-edge").unwrap();
    let cam_a = CameraId::new("cam-a").unwrap();
    let frame = |seq: u64| {
        let meta = FrameMeta {
            camera_id: cam_a.clone(),
            run: RUN,
            seq,
            capture_ts_us: pose_shared::time::now_us(),
            width: 64,
            height: 48,
        };
        publisher.publish_frame(&meta, &jpeg()).unwrap();
    };

    // cam-a: frames 0..=9 with keypoints for even seqs only; frame 5 is sent after frame 6 and
    // its keypoints, so after frame 6 was shown.
    for seq in 0..10u64 {
        if seq == 5 {
            continue;
        }
        frame(seq);
        if seq % 2 == 0 {
            publisher
                .publish_keypoints(&keypoints("cam-a", seq, true))
                .unwrap();
        }
        if seq == 6 {
            frame(5);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Frame 10; its keypoints come 600 ms later, after the join window: late.
    frame(10);
    tokio::time::sleep(Duration::from_millis(600)).await;
    publisher
        .publish_keypoints(&keypoints("cam-a", 10, true))
        .unwrap();
    // cam-b: keypoints only (privacy mode).
    for seq in 0..5 {
        publisher
            .publish_keypoints(&keypoints("cam-b", seq, false))
            .unwrap();
    }
    assert_eq!(publisher.flush(Duration::from_secs(10)), (0, 0));

    // Consume from the start and join as the service does.
    let mut c =
        common::TestConsumer::start(&kafka, &topics, &format!("{}-g", topics.keypoints), 64);
    // Consumption speed must not hide lateness: messages are replayed into the joiner at the
    // times they were produced (their capture timestamps), keeping the 30 ms frame spacing and the
    // 600 ms delay of the late keypoints.
    let mut msgs: Vec<Incoming> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while msgs.len() < 11 + 6 + 5 && Instant::now() < deadline {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), c.rx.recv()).await {
            msgs.push(m);
        }
    }
    c.stop().await;
    assert_eq!(
        msgs.len(),
        22,
        "11 frames, 6 keypoints of cam-a, 5 of cam-b"
    );

    let ts = |m: &Incoming| match m {
        Incoming::Frame(f) => f.meta.capture_ts_us,
        Incoming::Keypoints(k) => k.capture_ts_us,
    };
    msgs.sort_by_key(ts);
    let t_first = ts(&msgs[0]);
    let t0 = Instant::now();
    let mut joiner = Joiner::new(JoinConfig::default());
    let mut out: Vec<Joined> = Vec::new();
    for m in msgs {
        let at = t0 + Duration::from_micros(ts(&m) - t_first);
        joiner.tick(at, &mut out);
        joiner.push(m, at, &mut out);
    }
    let end = t0 + Duration::from_secs(2);
    joiner.tick(end, &mut out);

    let a: Vec<&Joined> = out
        .iter()
        .filter(|j| j.camera_id.as_str() == "cam-a")
        .collect();
    let seqs: Vec<u64> = a.iter().map(|j| j.seq).collect();
    assert_eq!(
        seqs,
        vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 10],
        "frame 5 came after 6: dropped"
    );
    for j in &a {
        let k = j.keypoints.as_ref().map(|k| k.seq);
        if j.seq % 2 == 0 && j.seq != 10 {
            assert_eq!(
                (k, j.stale),
                (Some(j.seq), false),
                "frame {} with its own keypoints",
                j.seq
            );
        } else if j.seq == 10 {
            assert_eq!(
                (k, j.stale),
                (Some(8), true),
                "frame 10 waited, then took keypoints 8"
            );
        } else {
            assert_eq!(
                (k, j.stale),
                (Some(j.seq - 1), true),
                "frame {} with the previous keypoints",
                j.seq
            );
        }
    }
    let s = joiner.stats();
    assert_eq!(
        (s.joined, s.stale, s.late, s.out_of_order),
        (5, 5, 1, 1),
        "{s:?}"
    );

    // cam-b: keypoints alone, drawn on a blank canvas.
    let b: Vec<&Joined> = out
        .iter()
        .filter(|j| j.camera_id.as_str() == "cam-b")
        .collect();
    assert_eq!(b.len(), 5);
    assert!(b.iter().all(|j| j.frame.is_none() && j.keypoints.is_some()));
    let drawn = render(
        b[0],
        Overlay {
            fps: 30.0,
            latency_ms: 10.0,
        },
        80,
    )
    .unwrap();
    assert_eq!((drawn.width, drawn.height), (320, 240));

    // States right after the last message, then after 3 s of silence.
    let states = joiner.states(end);
    assert_eq!(
        states,
        vec![
            (cam_a.clone(), CameraState::Live),
            (CameraId::new("cam-b").unwrap(), CameraState::Privacy)
        ]
    );
    let later = joiner.states(end + Duration::from_secs(4));
    assert!(
        later.iter().all(|(_, s)| *s == CameraState::Offline),
        "{later:?}"
    );
}
