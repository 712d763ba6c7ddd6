//! Two `pose-cloud` instances in one consumer group share the cameras: Kafka assigns each the
//! partitions of both topics with the same numbers (both topics keyed by camera id, same
//! partition count, range assignment), so every camera is shown by exactly one instance with
//! both halves joined. When one instance stops, the group rebalances and the other shows its
//! cameras within seconds. Either instance's viewer reaches every camera: a camera URL asked of
//! the instance that does not show it is redirected to the one that does (the group's own
//! description is the directory, `directory.rs`).

mod common;

use std::time::{Duration, Instant};

use pose_cloud::admin::{FRAMES_RETENTION_MS, KEYPOINTS_RETENTION_MS, TopicPlan};
use pose_shared::time::now_us;
use pose_shared::topics::Topics;

const PARTITIONS: u32 = 4;

/// One camera name per partition: librdkafka's default partitioner puts a key in partition
/// CRC-32(key) mod count.
fn cameras() -> Vec<String> {
    let mut by_partition: Vec<Option<String>> = vec![None; PARTITIONS as usize];
    for i in 0.. {
        let name = format!("scale-cam-{i}");
        let p = (crc32fast::hash(name.as_bytes()) % PARTITIONS) as usize;
        if by_partition[p].is_none() {
            by_partition[p] = Some(name);
        }
        if by_partition.iter().all(Option::is_some) {
            break;
        }
    }
    by_partition.into_iter().flatten().collect()
}

/// Whether the cloud on `port` shows `camera` now: its newest frame was captured in the last 2.5 s.
fn shows(port: u16, camera: &str) -> bool {
    common::shown_capture_us(port, camera).is_some_and(|ts| ts + 2_500_000 > now_us())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_cameras_and_take_over_on_rebalance() {
    let kafka = common::broker();
    let stamp = now_us();
    let topics = Topics {
        keypoints: format!("test.scale.{stamp}.keypoints"),
        frames: format!("test.scale.{stamp}.frames"),
    };
    let plans = TopicPlan::pair(
        &topics,
        PARTITIONS as i32,
        1,
        FRAMES_RETENTION_MS,
        KEYPOINTS_RETENTION_MS,
    );
    pose_cloud::admin::ensure(&kafka, &plans, Duration::from_secs(20))
        .await
        .expect("topics created");
    let topic_args = [
        "--keypoints-topic",
        topics.keypoints.as_str(),
        "--frames-topic",
        topics.frames.as_str(),
    ];
    let cams = cameras();
    // 10 fps per camera: two debug builds of the cloud draw every frame on 2 shared cores.
    let edge_args: Vec<&str> = topic_args
        .into_iter()
        .chain(["--jpeg-max-fps", "10", "--infer-max-fps", "10"])
        .collect();
    let _edges: Vec<common::EdgeProcess> = cams
        .iter()
        .map(|c| common::EdgeProcess::start(&format!("scale_{c}"), c, &kafka.brokers, &edge_args))
        .collect();
    let group = format!("scale-{stamp}");
    let args: Vec<&str> = [
        "--brokers",
        kafka.brokers.as_str(),
        "--group-id",
        group.as_str(),
    ]
    .into_iter()
    .chain(topic_args)
    .collect();
    let start = |name: &str| {
        let port = common::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut args = args.clone();
        args.extend(["--public-url", url.as_str()]);
        common::CloudProcess::start_on(name, port, &args)
    };
    let mut a = start("scale_cloud_a");
    let mut b = start("scale_cloud_b");

    // Every camera shown by exactly one instance, both instances used.
    let t0 = Instant::now();
    let split = loop {
        let on_a: Vec<bool> = cams.iter().map(|c| shows(a.port, c)).collect();
        let on_b: Vec<bool> = cams.iter().map(|c| shows(b.port, c)).collect();
        let exactly_one = on_a.iter().zip(&on_b).all(|(x, y)| x ^ y);
        if exactly_one && on_a.iter().any(|x| *x) && on_b.iter().any(|x| *x) {
            break on_a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "cameras {cams:?}: shown by a {on_a:?}, by b {on_b:?}\nlog a:\n{}\nlog b:\n{}",
            a.log_text(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    eprintln!(
        "cameras {cams:?}: instance a shows {:?}, b the rest, after {:?}",
        cams.iter()
            .zip(&split)
            .filter(|(_, x)| **x)
            .map(|(c, _)| c)
            .collect::<Vec<_>>(),
        t0.elapsed()
    );
    // Both halves are joined on the instance that shows a camera: skeletons are drawn.
    for port in [a.port, b.port] {
        let m = common::metrics(port);
        assert!(
            m.get("pose_cloud_join_total{outcome=\"joined\"}")
                .copied()
                .unwrap_or(0.0)
                > 0.0,
            "frames joined to keypoints on :{port}: {m:?}"
        );
    }

    // Either instance reaches every camera: asked of the other one, a camera's URLs redirect.
    for (cam, on_a) in cams.iter().zip(&split) {
        let (asked, holder) = if *on_a {
            (b.port, a.port)
        } else {
            (a.port, b.port)
        };
        for path in [
            format!("/cameras/{cam}/snapshot.jpg"),
            format!("/cameras/{cam}/stream.mjpg"),
            format!("/api/cameras/{cam}/keypoints"),
        ] {
            let (code, location) = redirect(asked, &path);
            assert_eq!(
                (code, location.as_deref()),
                (
                    307,
                    Some(format!("http://127.0.0.1:{holder}{path}").as_str())
                ),
                "{path} asked of :{asked}"
            );
        }
        assert_eq!(
            common::http_get(holder, &format!("/cameras/{cam}/snapshot.jpg")).0,
            200,
            "{cam} is served where it is redirected to"
        );
    }

    // a stops: b takes its cameras over.
    assert!(a.stop(), "instance a exits cleanly:\n{}", a.log_text());
    let stopped = Instant::now();
    while !cams.iter().all(|c| shows(b.port, c)) {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "b did not take over: {:?}\nlog b:\n{}",
            cams.iter().map(|c| shows(b.port, c)).collect::<Vec<_>>(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = stopped.elapsed();
    eprintln!("instance a stopped: b shows every camera after {took:?}");
    assert!(took < Duration::from_secs(15), "rebalance took {took:?}");
    assert!(b.stop(), "instance b exits cleanly");
}

/// Status and `Location` of a GET (without following it).
fn redirect(port: u16, path: &str) -> (u16, Option<String>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the cloud answers");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: t\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(|l| l.trim().to_owned());
    (code, location)
}
