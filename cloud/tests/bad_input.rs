//! Bad input on both topics, through the real broker into the `pose-cloud` binary: random bytes,
//! truncated messages, wrong schema versions, frames that are not JPEGs or are larger than their
//! headers say, absurd sizes and missing headers. The process stays up, every case is counted by
//! reason in `/metrics`, and the good messages around them are joined and shown.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pose_shared::CameraId;
use pose_shared::frame::FrameMeta;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureProducer;

const GOOD: u64 = 20;

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let frame = pose_edge::source::Frame {
        seq: 0,
        capture_ts_us: 0,
        width: w,
        height: h,
        rgb: (0..w * h * 3).map(|i| (i % 251) as u8).collect(),
    };
    pose_edge::jpeg::encode(&frame, w, 80).unwrap().0
}

fn headers(pairs: &[(&str, String)]) -> OwnedHeaders {
    pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        })
    })
}

fn meta_headers(m: &FrameMeta) -> Vec<(&'static str, String)> {
    m.to_headers().into_iter().collect()
}

/// Replaces (or with `None` removes) one header.
fn with_header(
    mut h: Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    h.retain(|(k, _)| *k != name);
    if let Some(v) = value {
        h.push((name, v.to_owned()));
    }
    h
}

/// A frame message to send: (key, payload, headers or none at all, expected skip reason).
type BadFrame = (
    &'static str,
    Vec<u8>,
    Option<Vec<(&'static str, String)>>,
    &'static str,
);

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_by_reason_and_good_input_is_shown() {
    let kafka = common::broker();
    let topics = common::fresh_topics(&kafka, "badinput-cloud").await;
    let group = format!("{}-g", topics.keypoints);
    // No backlog skipping: the messages are written before the cloud's group has its partitions,
    // which can take seconds on a loaded machine, and this test is about bad input.
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input_cloud.toml");
    std::fs::write(&config, "[join]\nmax_age_ms = 0\n").unwrap();
    let mut cloud = common::CloudProcess::start(
        "bad_input_cloud",
        &[
            "--config",
            config.to_str().unwrap(),
            "--brokers",
            &kafka.brokers,
            "--keypoints-topic",
            &topics.keypoints,
            "--frames-topic",
            &topics.frames,
            "--group-id",
            &group,
            "--offset-reset",
            "earliest",
            // A secret the broker does not need: it must reach no log line.
            "--kafka-property",
            "sasl.password=not-for-the-log-1234",
        ],
    );
    let raw: FutureProducer = kafka.client_config("test-raw").create().unwrap();
    let send = |topic: String, key: String, payload: Vec<u8>, h: Option<OwnedHeaders>| {
        common::send_raw(raw.clone(), topic, key, payload, h)
    };
    let now = pose_shared::time::now_us();
    let good_meta = |camera: &str, seq: u64, w: u32, h: u32| FrameMeta {
        camera_id: CameraId::new(camera).unwrap(),
        run: common::TEST_RUN,
        seq,
        capture_ts_us: now + seq * 33_333,
        width: w,
        height: h,
    };
    let good_kp = common::keypoint_message("good-cam", 0, now)
        .encode()
        .unwrap();

    // Keypoint topic: (key, payload, expected reason).
    let mut wrong_version = good_kp.clone();
    wrong_version[..2].copy_from_slice(&9u16.to_le_bytes());
    let mut trailing = good_kp.clone();
    trailing.push(0);
    let bad_keypoints: Vec<(&str, Vec<u8>, &str)> = vec![
        ("good-cam", noise(200, 7), "unsupported_version"),
        ("good-cam", vec![1, 0, 3], "truncated"),
        ("good-cam", Vec::new(), "empty"),
        (
            "good-cam",
            good_kp[..good_kp.len() / 2].to_vec(),
            "truncated",
        ),
        ("good-cam", wrong_version, "unsupported_version"),
        ("good-cam", noise(20_000, 9), "too_large"),
        ("good-cam", trailing, "trailing_bytes"),
        ("someone-else", good_kp.clone(), "key_mismatch"),
    ];
    // Frame topic: (key, payload, headers, expected reason).
    let good = meta_headers(&good_meta("good-cam", 0, 64, 48));
    let small_jpeg = jpeg(64, 48);
    let mut undecodable = vec![0xFF, 0xD8, 0xFF];
    undecodable.extend(noise(300, 3));
    let bad_frames: Vec<BadFrame> = vec![
        ("good-cam", small_jpeg.clone(), None, "missing_header"),
        (
            "good-cam",
            small_jpeg.clone(),
            Some(with_header(good.clone(), "schema_version", Some("99"))),
            "unsupported_version",
        ),
        (
            "good-cam",
            small_jpeg.clone(),
            Some(with_header(good.clone(), "width", Some("100000"))),
            "size_out_of_range",
        ),
        (
            "good-cam",
            small_jpeg.clone(),
            Some(with_header(good.clone(), "seq", Some("abc"))),
            "invalid_header",
        ),
        (
            "good-cam",
            small_jpeg.clone(),
            Some(with_header(good.clone(), "camera_id", None)),
            "missing_header",
        ),
        (
            "good-cam",
            small_jpeg.clone(),
            Some(with_header(good.clone(), "camera_id", Some("bad id!"))),
            "camera_id_bad_char",
        ),
        ("good-cam", noise(500, 5), Some(good.clone()), "not_jpeg"),
        ("good-cam", Vec::new(), Some(good.clone()), "empty"),
    ];
    // Frames that pass the wire checks but cannot be drawn: counted by the renderer.
    // One camera each: frames of one camera that the join emits together are drawn latest-wins
    // (the older one is dropped before decoding, README "Rendering on every core").
    let bad_render: Vec<(Vec<u8>, FrameMeta, &str)> = vec![
        (
            undecodable,
            good_meta("bad-cam-0", 0, 64, 48),
            "not_decodable",
        ),
        (
            small_jpeg.clone(),
            good_meta("bad-cam-1", 1, 8, 8),
            "larger_than_headers",
        ),
    ];

    // Good messages with the bad ones spread between them.
    let (mut bk, mut bf, mut br) = (
        bad_keypoints.clone().into_iter(),
        bad_frames.clone().into_iter(),
        bad_render.clone().into_iter(),
    );
    for seq in 0..GOOD {
        let kp = common::keypoint_message("good-cam", seq, now + seq * 33_333);
        send(
            topics.keypoints.clone(),
            "good-cam".into(),
            kp.encode().unwrap(),
            None,
        )
        .await;
        let m = good_meta("good-cam", seq, 64, 48);
        send(
            topics.frames.clone(),
            "good-cam".into(),
            small_jpeg.clone(),
            Some(headers(&meta_headers(&m))),
        )
        .await;
        if let Some((key, payload, _)) = bk.next() {
            send(topics.keypoints.clone(), key.into(), payload, None).await;
        }
        if let Some((key, payload, h, _)) = bf.next() {
            send(
                topics.frames.clone(),
                key.into(),
                payload,
                h.map(|h| headers(&h)),
            )
            .await;
        }
        if let Some((payload, m, _)) = br.next() {
            send(
                topics.frames.clone(),
                m.camera_id.to_string(),
                payload,
                Some(headers(&meta_headers(&m))),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for (_, _, reason) in &bad_keypoints {
        *want
            .entry(format!(
                "pose_cloud_skipped_total{{kind=\"keypoints\",reason=\"{reason}\"}}"
            ))
            .or_default() += 1.0;
    }
    for (_, _, _, reason) in &bad_frames {
        *want
            .entry(format!(
                "pose_cloud_skipped_total{{kind=\"frames\",reason=\"{reason}\"}}"
            ))
            .or_default() += 1.0;
    }
    for (_, _, reason) in &bad_render {
        *want
            .entry(format!(
                "pose_cloud_render_errors_total{{reason=\"{reason}\"}}"
            ))
            .or_default() += 1.0;
    }
    want.insert(
        "pose_cloud_consumed_total{kind=\"keypoints\"}".into(),
        GOOD as f64,
    );
    want.insert(
        "pose_cloud_consumed_total{kind=\"frames\"}".into(),
        (GOOD + bad_render.len() as u64) as f64,
    );
    want.insert(
        "pose_cloud_join_total{outcome=\"joined\"}".into(),
        GOOD as f64,
    );
    want.insert(
        "pose_cloud_decode_errors_total{kind=\"keypoints\"}".into(),
        bad_keypoints.len() as f64,
    );
    want.insert(
        "pose_cloud_decode_errors_total{kind=\"frames\"}".into(),
        bad_frames.len() as f64,
    );

    let port = cloud.port;
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let m = tokio::task::spawn_blocking(move || common::metrics(port))
            .await
            .unwrap();
        let matches = want.iter().all(|(k, v)| m.get(k) == Some(v));
        if matches || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (k, v) in &want {
        assert_eq!(
            got.get(k),
            Some(v),
            "{k}; all skip/render metrics: {:?}\nlog:\n{}",
            got.iter()
                .filter(|(k, _)| k.contains("skipped") || k.contains("render"))
                .collect::<Vec<_>>(),
            cloud.log_text()
        );
    }
    // The good camera is shown: its snapshot is a drawn 64x48 frame.
    let (code, body) = tokio::task::spawn_blocking(move || {
        common::http_get(port, "/cameras/good-cam/snapshot.jpg")
    })
    .await
    .unwrap();
    assert_eq!(code, 200);
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));
    assert!(cloud.alive(), "pose-cloud survived");
    assert!(cloud.log_text().contains("skipping bad message"));
    assert!(
        cloud.log_text().contains("sasl.password=***"),
        "the masked property is logged"
    );
    assert!(
        !cloud.log_text().contains("not-for-the-log-1234"),
        "no secret in the log"
    );
    assert!(cloud.stop(), "clean exit on SIGTERM:\n{}", cloud.log_text());
}
