//! The HTTP routes on a real socket: camera list, snapshot, MJPEG stream, SSE, metrics, health,
//! readiness, the viewer page, and streams that end on shutdown.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pose_cloud::render::Rendered;
use pose_cloud::serve::{AppState, router};
use pose_shared::CameraId;

struct Server {
    addr: std::net::SocketAddr,
    state: Arc<AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    let mut stop_rx = rx;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        state,
        stop,
        task,
    }
}

/// A blocking HTTP/1.0 GET; returns (status line, headers+body as bytes).
fn get(addr: std::net::SocketAddr, path: &str, max: usize, timeout: Duration) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let start = Instant::now();
    while buf.len() < max && start.elapsed() < timeout {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    let status = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    (status, buf)
}

fn rendered(seq: u64) -> Arc<Rendered> {
    Arc::new(Rendered {
        seq,
        capture_ts_us: 0,
        width: 2,
        height: 2,
        jpeg: vec![0xFF, 0xD8, 0xFF, seq as u8],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer() {
    let srv = start().await;
    let addr = srv.addr;
    let feed = srv.state.hub.feed(&CameraId::new("cam-1").unwrap());
    feed.frames.send_replace(Some(rendered(1)));
    let (status, body) = tokio::task::spawn_blocking(move || {
        get(addr, "/api/cameras", 1 << 20, Duration::from_secs(2))
    })
    .await
    .unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("\"id\":\"cam-1\""));
    let (status, body) = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/cameras/cam-1/snapshot.jpg",
            1 << 20,
            Duration::from_secs(2),
        )
    })
    .await
    .unwrap();
    assert!(
        status.contains("200") && body.ends_with(&[0xFF, 0xD8, 0xFF, 1]),
        "{status}"
    );
    for (path, want) in [
        ("/cameras/nope/snapshot.jpg", "404"),
        ("/healthz", "200"),
        ("/readyz", "503"),
        ("/", "200"),
        ("/metrics", "200"),
    ] {
        let (status, body) =
            tokio::task::spawn_blocking(move || get(addr, path, 1 << 20, Duration::from_secs(2)))
                .await
                .unwrap();
        assert!(status.contains(want), "{path}: {status}");
        if path == "/" {
            assert!(
                String::from_utf8_lossy(&body).contains("/api/cameras"),
                "the viewer page polls the API"
            );
        }
        if path == "/metrics" {
            assert!(
                String::from_utf8_lossy(&body)
                    .contains("pose_cloud_join_total{outcome=\"joined\"} 0")
            );
        }
    }
    srv.state.ready.store(true, Ordering::Relaxed);
    let (status, _) =
        tokio::task::spawn_blocking(move || get(addr, "/readyz", 1024, Duration::from_secs(2)))
            .await
            .unwrap();
    assert!(status.contains("200"));
    let _ = srv.stop.send(true);
    srv.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mjpeg_streams_new_frames_counts_viewers_and_ends_on_shutdown() {
    let srv = start().await;
    let addr = srv.addr;
    let feed = srv.state.hub.feed(&CameraId::new("cam-2").unwrap());
    feed.frames.send_replace(Some(rendered(1)));
    let reader = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/cameras/cam-2/stream.mjpg",
            1 << 20,
            Duration::from_secs(10),
        )
    });
    // Wait for the viewer to connect, then publish more frames.
    let t0 = Instant::now();
    while feed.viewers.load(Ordering::Relaxed) == 0 && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(feed.viewers.load(Ordering::Relaxed), 1);
    for seq in 2..=4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        feed.frames.send_replace(Some(rendered(seq)));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown_at = Instant::now();
    let _ = srv.stop.send(true);
    let (status, body) = reader.await.unwrap();
    assert!(
        shutdown_at.elapsed() < Duration::from_secs(3),
        "the stream ends itself on shutdown"
    );
    assert!(status.contains("200"), "{status}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("multipart/x-mixed-replace; boundary=posestream-frame"));
    let parts = text
        .matches("--posestream-frame\r\nContent-Type: image/jpeg")
        .count();
    assert!(
        parts >= 2,
        "the current frame, then the new ones: {parts} parts"
    );
    srv.task.await.unwrap();
    assert_eq!(
        feed.viewers.load(Ordering::Relaxed),
        0,
        "the viewer is uncounted when it leaves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keypoints_arrive_as_server_sent_events() {
    let srv = start().await;
    let addr = srv.addr;
    let feed = srv.state.hub.feed(&CameraId::new("cam-3").unwrap());
    let reader = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/api/cameras/cam-3/keypoints",
            1 << 16,
            Duration::from_secs(10),
        )
    });
    let t0 = Instant::now();
    while feed.keypoints.receiver_count() == 0 && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = feed.keypoints.send(Arc::from("{\"seq\":7}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = srv.stop.send(true);
    let (status, body) = reader.await.unwrap();
    assert!(status.contains("200"));
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(
        text.contains("event: keypoints\ndata: {\"seq\":7}"),
        "{text}"
    );
    srv.task.await.unwrap();
}
