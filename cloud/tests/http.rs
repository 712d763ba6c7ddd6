//! The HTTP routes on a real socket: camera list, snapshot, MJPEG stream, the viewer's frame
//! WebSocket, SSE, metrics, health, readiness, the viewer page, and streams that end on shutdown.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pose_cloud::render::Rendered;
use pose_cloud::serve::AppState;
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
    let task = common::serve(listener, state.clone(), rx);
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
    assert!(
        String::from_utf8_lossy(&body).contains("\"people\":0"),
        "people in view, 0 before any keypoints"
    );
    let (status, body) = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/api/schema/keypoints.json",
            1 << 20,
            Duration::from_secs(2),
        )
    })
    .await
    .unwrap();
    assert!(status.contains("200"), "{status}");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("content-type: application/schema+json"),
        "{text}"
    );
    assert!(text.ends_with(pose_shared::schema::KEYPOINTS_SCHEMA_JSON));
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
    while feed.viewers.get() == 0 && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(feed.viewers.get(), 1);
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
        feed.viewers.get(),
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

/// The next binary message of the frame socket within `wait`: (camera, seq, JPEG).
async fn next_frame<S>(ws: &mut S, wait: Duration) -> Option<(String, u64, Vec<u8>)>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = msg {
            let n = b[0] as usize;
            let id = String::from_utf8(b[1..1 + n].to_vec()).unwrap();
            let seq = u64::from_be_bytes(b[1 + n..9 + n].try_into().unwrap());
            return Some((id, seq, b[17 + n..].to_vec()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_websocket_carries_only_the_cameras_asked_for_and_ends_on_shutdown() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let srv = start().await;
    let hub = srv.state.hub.clone();
    let a = hub.feed(&CameraId::new("cam-a").unwrap());
    let b = hub.feed(&CameraId::new("cam-b").unwrap());
    a.frames.send_replace(Some(rendered(1)));
    b.frames.send_replace(Some(rendered(1)));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/frames", srv.addr))
        .await
        .expect("the socket opens");
    let ask = |cams: &str| Message::text(format!("{{\"cameras\": [{cams}]}}"));
    let second = Duration::from_secs(5);

    // The current frame of the camera asked for goes out at once.
    ws.send(ask("\"cam-a\"")).await.unwrap();
    let (id, seq, jpeg) = next_frame(&mut ws, second).await.expect("a frame");
    assert_eq!((id.as_str(), seq), ("cam-a", 1));
    assert_eq!(jpeg, rendered(1).jpeg);
    assert_eq!(a.viewers.get(), 1);
    assert_eq!(b.viewers.get(), 0);

    // New frames of both: only cam-a's comes.
    b.frames.send_replace(Some(rendered(2)));
    hub.frame_shown();
    a.frames.send_replace(Some(rendered(3)));
    hub.frame_shown();
    let got = next_frame(&mut ws, second).await.expect("a frame");
    assert_eq!((got.0.as_str(), got.1), ("cam-a", 3));

    // Another tile in view instead: its newest frame, at once.
    ws.send(ask("\"cam-b\"")).await.unwrap();
    let got = next_frame(&mut ws, second).await.expect("a frame");
    assert_eq!((got.0.as_str(), got.1), ("cam-b", 2));

    // Nothing in view (a hidden tab): nothing is sent, nobody is counted as watching.
    ws.send(ask("")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.frames.send_replace(Some(rendered(4)));
    b.frames.send_replace(Some(rendered(4)));
    hub.frame_shown();
    assert!(
        next_frame(&mut ws, Duration::from_millis(500))
            .await
            .is_none(),
        "a paused page gets no frames"
    );
    assert_eq!(a.viewers.get() + b.viewers.get(), 0);

    // Unknown cameras are ignored; shutdown ends the socket (graceful shutdown does not wait).
    ws.send(ask("\"nope\", \"cam-a\"")).await.unwrap();
    let got = next_frame(&mut ws, second).await.expect("a frame");
    assert_eq!((got.0.as_str(), got.1), ("cam-a", 4));
    srv.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), srv.task)
        .await
        .expect("the server stops with a socket open")
        .unwrap();
    assert!(
        next_frame(&mut ws, second).await.is_none(),
        "the socket ended"
    );
}
