//! The HTTP API and viewer: routes built in one function, so tests drive them on port 0.
//!
//! Long-lived responses (MJPEG, WebSocket, SSE) end by themselves when `shutdown` flips, so
//! graceful shutdown never waits on a viewer.
//!
//! The viewer page takes every camera's frames over one WebSocket (`/api/frames`), not one MJPEG
//! request per tile: browsers open at most 6 HTTP/1.1 connections per host, so a seventh MJPEG
//! tile (and the page's own `/api/cameras` polling) would wait forever. One socket works the
//! same over plain HTTP and HTTPS (and through any HTTP/1.1 proxy that passes WebSockets), and it
//! lets the page say which cameras it shows: tiles out of view, or a tab in the background, get
//! nothing. `/cameras/{id}/stream.mjpg` stays for other clients (VLC, an `<img>` elsewhere).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use tokio::sync::{broadcast, watch};

use crate::access::{self, Credentials};
use crate::consume::ConsumeStats;
use crate::directory::Directory;
use crate::hub::{Feed, Hub};
use crate::join::JoinStats;
use crate::metrics::Telemetry;
use crate::render::Rendered;

/// The HTTP server (`[http]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the viewer and API. Loopback by default: expose it through TLS and
    /// authentication in front (see the deployment).
    pub addr: std::net::SocketAddr,
    /// JPEG quality of the rendered frames, 1-100.
    pub jpeg_quality: u8,
    /// Viewer authentication (required when `addr` is not loopback).
    pub auth: access::AuthConfig,
    /// HTTPS: with a certificate and key the viewer is served over TLS only.
    pub tls: crate::tls::TlsConfig,
    /// The URL browsers and the other instances reach this one at, e.g.
    /// `https://cloud-2.example.com:8443`. Set it on every instance when several share a
    /// consumer group: each then redirects a camera's URLs to the instance that shows it.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: ([127, 0, 0, 1], 8080).into(),
            jpeg_quality: 80,
            auth: access::AuthConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            public_url: None,
        }
    }
}

/// `[http]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct HttpFlags {
    /// HTTP listen address of the viewer and API [default: 127.0.0.1:8080]
    #[arg(long = "http-addr", global = true)]
    pub addr: Option<std::net::SocketAddr>,
    /// URL this instance is reached at; with several instances in one group, camera URLs are
    /// redirected to the instance that shows the camera (README "Scaling out")
    #[arg(long = "public-url", global = true)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub auth: AuthFlags,
    #[command(flatten)]
    pub tls: TlsFlags,
}

/// `[http.auth]` from the command line and the environment.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct AuthFlags {
    /// Viewer account name (HTTP Basic authentication)
    #[arg(long = "viewer-user", global = true)]
    pub username: Option<String>,
    /// Viewer password: environment only, so it never shows in the process list
    #[arg(skip = std::env::var("POSE_CLOUD_VIEWER_PASSWORD").ok())]
    pub password: Option<String>,
}

/// `[http.tls]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct TlsFlags {
    /// PEM certificate chain for HTTPS (with --tls-key)
    #[arg(long = "tls-cert", global = true)]
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert)
    #[arg(long = "tls-key", global = true)]
    pub key: Option<std::path::PathBuf>,
}

/// The viewer page: plain HTML, CSS and JavaScript, embedded in the binary (no build step).
pub(crate) const VIEWER_HTML: &str = include_str!("viewer.html");
const BOUNDARY: &str = "posestream-frame";

/// Everything the routes read.
pub struct AppState {
    pub hub: Arc<Hub>,
    pub consume: Arc<ConsumeStats>,
    pub join: Arc<std::sync::Mutex<JoinStats>>,
    /// The Prometheus registry, and the counters of no single stage.
    pub telemetry: Telemetry,
    /// Set once the consumer runs.
    pub ready: AtomicBool,
    pub shutdown: watch::Receiver<bool>,
    /// Identifies this run of the server (its start time, µs): the viewer reopens its streams
    /// when it changes.
    pub instance: u64,
    /// Where the other instances of the group show their cameras (set with `http.public_url`).
    pub directory: std::sync::OnceLock<Arc<Directory>>,
    /// The last events of each camera (`pose.events`, events.rs).
    pub events: Arc<crate::events::EventStore>,
    /// Replay and export from Kafka's retention (`replay_http.rs`); unset: those routes answer 503.
    pub replay: std::sync::OnceLock<Arc<crate::replay::Replays>>,
}

impl AppState {
    /// Empty state; long-lived responses end when `shutdown` becomes true.
    pub fn new(shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let hub = Arc::new(Hub::default());
        let consume = Arc::new(ConsumeStats::default());
        let join = Arc::default();
        let events = Arc::new(crate::events::EventStore::default());
        Arc::new(Self {
            telemetry: Telemetry::new(&hub, &consume, &join, &events),
            hub,
            consume,
            join,
            ready: AtomicBool::new(false),
            shutdown,
            instance: pose_shared::time::now_us(),
            directory: std::sync::OnceLock::new(),
            events,
            replay: std::sync::OnceLock::new(),
        })
    }
}

/// The router of every endpoint, open to anyone (for loopback and tests).
pub fn router(state: Arc<AppState>) -> Router {
    app(state, None)
}

/// The router of every endpoint; with `auth`, everything but `/healthz` and `/readyz` needs
/// those credentials (refusals are counted in `/metrics`).
pub fn app(state: Arc<AppState>, auth: Option<Arc<Credentials>>) -> Router {
    let camera_routes = Router::new()
        .route("/api/cameras/{id}/keypoints", get(keypoints_sse))
        .route("/cameras/{id}/snapshot.jpg", get(snapshot))
        .route("/cameras/{id}/stream.mjpg", get(mjpeg))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            redirect_to_owner,
        ));
    let mut protected = Router::new()
        .route("/", get(|| async { Html(VIEWER_HTML) }))
        .route("/api/cameras", get(cameras))
        .route("/api/schema/keypoints.json", get(keypoints_schema))
        .route("/api/frames", get(frames_ws))
        .route("/api/cameras/{id}/events", get(crate::events::events_api))
        .route("/metrics", get(metrics))
        .merge(crate::replay_http::routes())
        .merge(camera_routes);
    if let Some(creds) = auth {
        let counted = state.clone();
        protected = protected.route_layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let (creds, counted) = (creds.clone(), counted.clone());
                async move {
                    let response = access::require(State(creds), request, next).await;
                    if response.status() == StatusCode::UNAUTHORIZED {
                        counted.telemetry.auth_failures.inc();
                    }
                    response
                }
            },
        ));
    }
    protected
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn cameras(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [("x-posestream-instance", s.instance.to_string())],
        axum::Json(crate::replay_http::annotate(
            &s,
            s.hub.cameras(Instant::now()),
        )),
    )
}

/// The JSON Schema of the keypoint JSON that `/api/cameras/{id}/keypoints` sends.
async fn keypoints_schema() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/schema+json")],
        pose_shared::schema::KEYPOINTS_SCHEMA_JSON,
    )
}

async fn readyz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "consumer not started\n")
    }
}

/// A camera URL for a camera that another instance of the group shows is redirected there
/// (307, path and query kept); without a directory, or when Kafka does not say, it is served
/// here.
async fn redirect_to_owner(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(directory) = s.directory.get()
        && let Some(owner) = directory.elsewhere(&id).await
    {
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("{owner}{path}"))],
        )
            .into_response();
    }
    next.run(request).await
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("no camera {:?}\n", id.chars().take(64).collect::<String>()),
    )
        .into_response()
}

async fn snapshot(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Some(feed) = s.hub.get(&id) else {
        return not_found(&id);
    };
    let frame = feed.frames.borrow().clone();
    match frame {
        Some(r) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            r.jpeg.clone(),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no frame yet\n").into_response(),
    }
}

/// Counts a viewer for as long as its response lives.
struct ViewerGuard(Arc<Feed>);

impl ViewerGuard {
    fn new(feed: Arc<Feed>) -> Self {
        feed.viewers.inc();
        Self(feed)
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.0.viewers.dec();
    }
}

/// `multipart/x-mixed-replace` of the camera's rendered frames: each part is the newest frame
/// when the viewer is ready for it (a slow viewer skips frames).
async fn mjpeg(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Some(feed) = s.hub.get(&id) else {
        return not_found(&id);
    };
    let rx = feed.frames.subscribe();
    let state = (rx, s.shutdown.clone(), ViewerGuard::new(feed), true);
    let parts = stream::unfold(state, |(mut rx, mut stop, guard, first)| async move {
        // The current frame goes out at once; after that, each new one.
        if !first || rx.borrow().is_none() {
            tokio::select! {
                changed = rx.changed() => changed.ok()?,
                _ = stop.wait_for(|s| *s) => return None,
            }
        }
        if *stop.borrow() {
            return None;
        }
        let frame = rx.borrow_and_update().clone()?;
        // X-Seq and X-Capture-Ts-Us let a client measure the end-to-end latency of each part.
        let mut part = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Seq: {}\r\nX-Capture-Ts-Us: {}\r\n\r\n",
            frame.jpeg.len(),
            frame.seq,
            frame.capture_ts_us
        )
        .into_bytes();
        part.extend_from_slice(&frame.jpeg);
        part.extend_from_slice(b"\r\n");
        Some((
            Ok::<_, Infallible>(Bytes::from(part)),
            (rx, stop, guard, false),
        ))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(parts),
    )
        .into_response()
}

/// Most cameras one WebSocket may ask for, and the largest message it may send (its list).
const WS_MAX_CAMERAS: usize = 256;
const WS_MAX_MESSAGE: usize = 64 * 1024;

/// The viewer page's frames, many cameras over one WebSocket.
///
/// The page sends a text message `{"cameras": [ID, ...]}` whenever the set it shows changes (an
/// empty list pauses everything). The server then sends, as binary messages, each listed
/// camera's newest frame when it is new: `[id length: u8][id: UTF-8][seq: u64 BE]
/// [capture_ts_us: u64 BE][JPEG]`. It sends one message at a time, so a slow page (or network)
/// holds the socket's buffers only and then gets each camera's newest frame: it skips frames,
/// never slows the others, and never builds up a backlog here.
async fn frames_ws(State(s): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(WS_MAX_MESSAGE)
        .on_upgrade(move |socket| frames_socket(socket, s))
}

#[derive(serde::Deserialize)]
struct WsRequest {
    cameras: Vec<String>,
}

/// A frame as the viewer page's WebSocket carries it (see [`frames_ws`]).
pub fn ws_frame_message(camera: &str, frame: &Rendered) -> Vec<u8> {
    let id = camera.as_bytes();
    let id = &id[..id.len().min(255)];
    let mut msg = Vec::with_capacity(1 + id.len() + 16 + frame.jpeg.len());
    msg.push(id.len() as u8);
    msg.extend_from_slice(id);
    msg.extend_from_slice(&frame.seq.to_be_bytes());
    msg.extend_from_slice(&frame.capture_ts_us.to_be_bytes());
    msg.extend_from_slice(&frame.jpeg);
    msg
}

type Subscription = (watch::Receiver<Option<Arc<Rendered>>>, ViewerGuard);

async fn frames_socket(mut socket: WebSocket, s: Arc<AppState>) {
    let mut shown = s.hub.subscribe_shown();
    let mut stop = s.shutdown.clone();
    let mut subs: BTreeMap<String, Subscription> = BTreeMap::new();
    loop {
        // Every listed camera's frame that this page has not had yet.
        for (id, (rx, _)) in subs.iter_mut() {
            if !rx.has_changed().unwrap_or(false) {
                continue;
            }
            let Some(frame) = rx.borrow_and_update().clone() else {
                continue;
            };
            let msg = Message::Binary(ws_frame_message(id, &frame).into());
            tokio::select! {
                sent = socket.send(msg) => if sent.is_err() { return },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if *stop.borrow() {
            return close(socket).await;
        }
        let request = tokio::select! {
            changed = shown.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(text))) => serde_json::from_str::<WsRequest>(text.as_str()).ok(),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue, // pings are answered by the library; binary is ignored
            },
            _ = stop.wait_for(|s| *s) => None,
        };
        match request {
            Some(req) => resubscribe(&s, &mut subs, req.cameras),
            // Shutting down, or a message that is not a request: close.
            None => return close(socket).await,
        }
    }
}

/// Says goodbye, waiting at most a second for a page that does not read (shutdown never waits
/// on a viewer).
async fn close(mut socket: WebSocket) {
    let bye = socket.send(Message::Close(None));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), bye).await;
}

/// Makes `subs` the cameras of `wanted` that exist (at most [`WS_MAX_CAMERAS`]); a newly listed
/// camera's current frame goes out at once.
fn resubscribe(s: &AppState, subs: &mut BTreeMap<String, Subscription>, wanted: Vec<String>) {
    let wanted: BTreeSet<String> = wanted.into_iter().take(WS_MAX_CAMERAS).collect();
    subs.retain(|id, _| wanted.contains(id));
    for id in wanted {
        if subs.contains_key(&id) {
            continue;
        }
        if let Some(feed) = s.hub.get(&id) {
            let mut rx = feed.frames.subscribe();
            rx.mark_changed();
            subs.insert(id, (rx, ViewerGuard::new(feed)));
        }
    }
}

/// Server-Sent Events: every keypoint message of the camera as JSON (`event: keypoints`); a
/// subscriber that falls behind gets `event: lagged` with the number of messages it missed.
async fn keypoints_sse(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let feed = s.hub.get(&id).ok_or_else(|| not_found(&id))?;
    let rx = feed.keypoints.subscribe();
    let state = (rx, s.shutdown.clone(), ViewerGuard::new(feed));
    let events = stream::unfold(state, |(mut rx, mut stop, guard)| async move {
        let ev = tokio::select! {
            msg = rx.recv() => match msg {
                Ok(json) => Event::default().event("keypoints").data(json.as_ref()),
                Err(broadcast::error::RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = stop.wait_for(|s| *s) => return None,
        };
        Some((Ok(ev), (rx, stop, guard)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let (content_type, text) = s.telemetry.render();
    ([(header::CONTENT_TYPE, content_type)], text)
}
