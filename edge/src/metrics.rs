//! The edge's Prometheus endpoint: `GET /metrics` (and `GET /healthz`), on a thread of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use pose_shared::CameraId;
use pose_shared::metrics::{Exposition, label_value, rss_bytes};

use crate::publish::{KindCounters, PublishStats};
use crate::run::Shared;

/// Renders every edge metric in the Prometheus text format.
pub fn render(camera: &CameraId, shared: &Shared, publish: &PublishStats) -> String {
    let s = shared.stats.summary();
    let cam = format!("camera=\"{}\"", label_value(camera.as_str()));
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let st = &shared.stats;
    let mut e = Exposition::default();
    e.counter(
        "pose_edge_frames_captured_total",
        "Frames delivered by the source.",
        &[(&cam, s.frames)],
    );
    e.counter(
        "pose_edge_frames_inferred_total",
        "Frames that went through pose estimation.",
        &[(&cam, s.inferred)],
    );
    e.counter("pose_edge_poses_total", "Poses found.", &[(&cam, s.poses)]);
    let busy = format!("{cam},reason=\"inference_busy\"");
    let rate = format!("{cam},reason=\"infer_rate\"");
    let jpeg_rate = format!("{cam},reason=\"jpeg_rate\"");
    e.counter(
        "pose_edge_frames_skipped_total",
        "Frames not inferred or not published as JPEG, by reason (newest frame wins; rate limits).",
        &[
            (&busy, s.dropped_busy),
            (&rate, s.skipped_by_rate),
            (&jpeg_rate, g(&st.jpeg_skipped_by_rate)),
        ],
    );
    let ie = format!("{cam},stage=\"inference\"");
    let je = format!("{cam},stage=\"jpeg\"");
    let se = format!("{cam},stage=\"source\"");
    e.counter(
        "pose_edge_errors_total",
        "Frames lost to errors, by stage.",
        &[
            (&ie, s.inference_errors),
            (&je, s.jpeg_errors),
            (&se, g(&st.source_errors)),
        ],
    );
    e.counter(
        "pose_edge_inference_microseconds_total",
        "Time spent in pose estimation.",
        &[(&cam, g(&st.inference_us))],
    );
    let mut publish_samples = Vec::new();
    for (kind, c) in [
        ("keypoints", &publish.keypoints),
        ("frames", &publish.frames),
    ] {
        for (outcome, v) in [
            ("enqueued", KindCounters::get(&c.enqueued)),
            ("delivered", KindCounters::get(&c.delivered)),
            ("failed", KindCounters::get(&c.failed)),
            (
                "dropped_queue_full",
                KindCounters::get(&c.dropped_queue_full),
            ),
            ("encode_error", KindCounters::get(&c.encode_errors)),
        ] {
            publish_samples.push((format!("{cam},kind=\"{kind}\",outcome=\"{outcome}\""), v));
        }
    }
    let refs: Vec<(&str, u64)> = publish_samples
        .iter()
        .map(|(l, v)| (l.as_str(), *v))
        .collect();
    e.counter(
        "pose_edge_messages_total",
        "Kafka messages by kind and outcome.",
        &refs,
    );
    e.histogram(
        "pose_edge_capture_to_publish_seconds",
        "Capture to keypoint message queued for Kafka.",
        &[(&cam, &st.latency)],
    );
    let privacy = if shared.privacy.load(Ordering::Relaxed) {
        1.0
    } else {
        0.0
    };
    e.gauge(
        "pose_edge_privacy_mode",
        "1 while no frames leave the device.",
        &[(&cam, privacy)],
    );
    e.gauge(
        "pose_edge_resident_memory_bytes",
        "Resident set size.",
        &[(&cam, rss_bytes() as f64)],
    );
    e.finish()
}

/// Binds `addr` now (so a taken port is an error at start) and serves until `shared.stop`.
pub fn spawn(
    addr: SocketAddr,
    camera: CameraId,
    shared: Arc<Shared>,
    publish: Arc<PublishStats>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint cannot start");
                    return;
                }
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let state = (camera, shared.clone(), publish);
                let app = Router::new()
                    .route(
                        "/metrics",
                        get(
                            |axum::extract::State((c, s, p)): axum::extract::State<(
                                CameraId,
                                Arc<Shared>,
                                Arc<PublishStats>,
                            )>| async move {
                                (
                                    [("content-type", "text/plain; version=0.0.4")],
                                    render(&c, &s, &p),
                                )
                            },
                        ),
                    )
                    .route("/healthz", get(|| async { "ok\n" }))
                    .with_state(state);
                let stop = async move {
                    while !shared.stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::warn!(error = %e, "metrics endpoint stopped");
                }
            });
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_counters() {
        let shared = Shared::new(true);
        shared.stats.captured.store(10, Ordering::Relaxed);
        shared.stats.dropped_busy.store(3, Ordering::Relaxed);
        let publish = PublishStats::default();
        publish
            .frames
            .dropped_queue_full
            .store(2, Ordering::Relaxed);
        let text = render(&CameraId::new("cam-1").unwrap(), &shared, &publish);
        assert!(text.contains("pose_edge_frames_captured_total{camera=\"cam-1\"} 10"));
        assert!(text.contains(
            "pose_edge_frames_skipped_total{camera=\"cam-1\",reason=\"inference_busy\"} 3"
        ));
        assert!(text.contains(
            "pose_edge_messages_total{camera=\"cam-1\",kind=\"frames\",outcome=\"dropped_queue_full\"} 2"
        ));
        assert!(text.contains("pose_edge_privacy_mode{camera=\"cam-1\"} 1"));
    }

    #[test]
    fn serves_over_http_and_stops() {
        let shared = Shared::new(false);
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let handle = spawn(
            addr,
            CameraId::new("c").unwrap(),
            shared.clone(),
            Arc::new(PublishStats::default()),
        )
        .unwrap();
        let get = |path: &str| {
            use std::io::{Read, Write};
            for _ in 0..50 {
                if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
                    let mut body = String::new();
                    let _ = s.read_to_string(&mut body);
                    return body;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            String::new()
        };
        assert!(get("/metrics").contains("pose_edge_frames_captured_total"));
        assert!(get("/healthz").contains("ok"));
        shared.stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }
}
