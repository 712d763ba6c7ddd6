//! The HTTP side of replay and export: the shareable replay page, the replay WebSocket, the
//! retained range of a camera, the export downloads, and their lines in `/cameras` and
//! `/metrics`.
//!
//! | route | what |
//! |---|---|
//! | `/cameras/{id}/replay?from=T&speed=S` | the viewer, opened on the camera's replay |
//! | `/api/cameras/{id}/replay?from=T&speed=S` | WebSocket: drawn frames as the frame socket sends them; the page sends `{"speed": S}` and `{"playing": B}` |
//! | `/api/cameras/{id}/retained` | JSON: the retained time range of the camera's frames and keypoints |
//! | `/api/cameras/{id}/export.mp4?from=T&to=T` and `export.jsonl` | downloads (`pose-cloud export`) |
//!
//! Any instance of a group can replay any camera (it reads Kafka directly), so these routes are
//! not redirected to the camera's owner.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use pose_shared::CameraId;
use pose_shared::time::now_us;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::export::{ExportRequest, export};
use crate::replay::{Control, Replays, SPEEDS, play};
use crate::serve::{AppState, ws_frame_message};
use crate::timespec;

/// The routes (under the same authentication as the rest).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/cameras/{id}/replay",
            get(|| async { Html(crate::serve::VIEWER_HTML) }),
        )
        .route("/api/cameras/{id}/replay", get(replay_ws))
        .route("/api/cameras/{id}/retained", get(retained))
        .route("/api/cameras/{id}/export.mp4", get(export_mp4))
        .route("/api/cameras/{id}/export.jsonl", get(export_jsonl))
}

/// A refused request: its status and a one-line reason.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

fn refuse(code: StatusCode, text: impl std::fmt::Display) -> Refusal {
    Refusal(code, text.to_string())
}

fn replays(s: &AppState) -> Result<&Arc<Replays>, Refusal> {
    s.replay.get().ok_or_else(|| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "replay is not set up in this server",
        )
    })
}

fn camera(id: &str) -> Result<CameraId, Refusal> {
    CameraId::new(id).map_err(|e| refuse(StatusCode::BAD_REQUEST, e))
}

fn time(text: Option<&str>, default: &str, name: &str) -> Result<u64, Refusal> {
    let now = now_us();
    let t = timespec::parse(text.unwrap_or(default), now)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("{name}: {e}")))?;
    if t > now + 1_000_000 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("{name}: {} is in the future", timespec::format(t)),
        ));
    }
    Ok(t)
}

#[derive(Deserialize)]
struct ReplayQuery {
    from: Option<String>,
    speed: Option<f64>,
}

#[derive(Deserialize)]
struct ControlMessage {
    speed: Option<f64>,
    playing: Option<bool>,
}

async fn replay_ws(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ReplayQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let prepared = (|| {
        let r = replays(&s)?.clone();
        let cam = camera(&id)?;
        let from = time(q.from.as_deref(), "1 min ago", "from")?;
        let speed = q.speed.unwrap_or(1.0);
        if !SPEEDS.contains(&speed) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "speed {speed} is not between {} and {}",
                    SPEEDS.start(),
                    SPEEDS.end()
                ),
            ));
        }
        let slot = r
            .try_slot()
            .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, e))?;
        Ok((r, cam, from, speed, slot))
    })();
    match prepared {
        Ok((r, cam, from, speed, slot)) => ws.on_upgrade(move |socket| async move {
            replay_socket(socket, s, r, cam, from, speed).await;
            drop(slot);
        }),
        Err(refused) => refused.into_response(),
    }
}

/// Runs one replay for one socket; the replay stops when the socket closes.
async fn replay_socket(
    mut socket: WebSocket,
    s: Arc<AppState>,
    r: Arc<Replays>,
    cam: CameraId,
    from: u64,
    speed: f64,
) {
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(1);
    let mut player = tokio::spawn(play(r, cam.clone(), from, speed, ctl_rx, out_tx));
    let mut stop = s.shutdown.clone();
    let hello = serde_json::json!({"replay": {"camera": cam.as_str(), "from_us": from,
        "from": timespec::format(from), "speed": speed}});
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        player.abort();
        return;
    }
    loop {
        tokio::select! {
            f = out_rx.recv() => match f {
                Some(f) => {
                    let msg = Message::Binary(ws_frame_message(cam.as_str(), &f).into());
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(c) = serde_json::from_str::<ControlMessage>(t.as_str()) {
                        if let Some(sp) = c.speed {
                            let _ = ctl_tx.send(Control::Speed(sp)).await;
                        }
                        if let Some(p) = c.playing {
                            let _ = ctl_tx.send(Control::Playing(p)).await;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    drop(ctl_tx);
    // The player stops when its control channel closes; a failed start is told to the page.
    let ended = tokio::time::timeout(std::time::Duration::from_millis(200), &mut player).await;
    player.abort();
    if let Ok(Ok(Err(e))) = ended {
        let msg = serde_json::json!({"error": e.to_string()}).to_string();
        let _ = socket.send(Message::Text(msg.into())).await;
    }
    let bye = socket.send(Message::Close(None));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), bye).await;
}

async fn retained(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let r = match replays(&s) {
        Ok(r) => r.clone(),
        Err(e) => return e.into_response(),
    };
    if r.retained.stale(std::time::Duration::from_secs(
        r.settings.retained_refresh_s.max(1) * 3,
    )) {
        let me = r.clone();
        let _ = tokio::task::spawn_blocking(move || me.retained.refresh()).await;
    }
    match r.retained.of(&id) {
        Some(range) => {
            axum::Json(serde_json::json!({"camera": id, "retained": range})).into_response()
        }
        None => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "retained ranges not read yet",
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn export_mp4(s: State<Arc<AppState>>, id: Path<String>, q: Query<ExportQuery>) -> Response {
    download(s, id, q, true).await
}

async fn export_jsonl(
    s: State<Arc<AppState>>,
    id: Path<String>,
    q: Query<ExportQuery>,
) -> Response {
    download(s, id, q, false).await
}

/// Runs an export into a temporary directory and sends the file.
async fn download(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
    mp4: bool,
) -> Response {
    let prepared = (|| {
        let r = replays(&s)?.clone();
        let cam = camera(&id)?;
        let from = time(q.from.as_deref(), "1 min ago", "from")?;
        let to = time(q.to.as_deref(), "now", "to")?;
        let max = r.settings.max_export_s;
        if to.saturating_sub(from) > max * 1_000_000 {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                crate::export::ExportError::TooLong {
                    seconds: to.saturating_sub(from) / 1_000_000,
                    max,
                },
            ));
        }
        let slot = r
            .try_slot()
            .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, e))?;
        Ok((r, cam, from, to, slot))
    })();
    let (r, cam, from, to, _slot) = match prepared {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let dir = std::env::temp_dir().join(format!(
        "pose-cloud-export-{}-{}",
        std::process::id(),
        now_us()
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
    }
    let ext = if mp4 { "mp4" } else { "jsonl" };
    let file = dir.join(format!("export.{ext}"));
    let req = ExportRequest {
        camera: cam.clone(),
        from_us: from,
        to_us: to,
        fps: None,
        mp4: mp4.then(|| file.clone()),
        jsonl: (!mp4).then(|| file.clone()),
    };
    let result = export(&r, req).await;
    let body = result.map(|_| std::fs::read(&file));
    let _ = std::fs::remove_dir_all(&dir);
    match body {
        Ok(Ok(bytes)) => {
            let name = format!(
                "{}-{}.{ext}",
                cam.as_str(),
                timespec::format(from).replace(':', "")
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        if mp4 {
                            "video/mp4"
                        } else {
                            "application/x-ndjson"
                        }
                        .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) if e.is_request_error() => refuse(StatusCode::BAD_REQUEST, e).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Adds each camera's retained range to the `/api/cameras` list (`retained`: null until read).
pub fn annotate(s: &AppState, cameras: Vec<crate::hub::CameraInfo>) -> serde_json::Value {
    let retained = s.replay.get().map(|r| &r.retained);
    let list = cameras
        .into_iter()
        .map(|c| {
            let range = retained.and_then(|r| r.of(&c.id));
            let mut v = serde_json::to_value(&c).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "retained".into(),
                    serde_json::to_value(range).unwrap_or_default(),
                );
            }
            v
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Replay's figures for `/metrics`, read from the replay state at each scrape: retained range
/// per camera and topic kind, replays running and refused, exports, frames drawn and skipped.
/// Registered in the service's one registry by `app.rs`.
pub struct ReplayCollector {
    pub replays: Arc<Replays>,
    pub hub: Arc<crate::hub::Hub>,
}

impl std::fmt::Debug for ReplayCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplayCollector")
    }
}

impl Collector for ReplayCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let r = &self.replays;
        let ranges: Vec<_> = self
            .hub
            .feeds()
            .into_iter()
            .filter_map(|(id, _)| r.retained.of(id.as_str()).map(|range| (id, range)))
            .collect();
        for (name, help, start) in [
            (
                "pose_cloud_retained_start_seconds",
                "Capture time (Unix seconds) of the oldest message Kafka retains in the camera's partition, by camera and topic kind.",
                true,
            ),
            (
                "pose_cloud_retained_end_seconds",
                "Capture time (Unix seconds) of the newest message in the camera's partition, by camera and topic kind.",
                false,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (id, range) in &ranges {
                for (kind, shown) in [("frames", &range.frames), ("keypoints", &range.keypoints)] {
                    let Some(shown) = shown else { continue };
                    let ms = if start { shown.from_ms } else { shown.to_ms };
                    let labels = [("camera", id.to_string()), ("kind", kind.to_owned())];
                    ConstGauge::new(ms as f64 / 1e3).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        let metric = encoder.encode_descriptor(
            "pose_cloud_replays_active",
            "Replays and exports running now.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(r.active() as i64).encode(metric)?;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        for (name, help, samples) in [
            (
                "pose_cloud_replays",
                "Replays started, and replays or exports refused (replay.max_concurrent).",
                vec![
                    ("started", g(&r.stats.started)),
                    ("refused", g(&r.stats.refused)),
                ],
            ),
            (
                "pose_cloud_replay_frames",
                "Replayed frames drawn, and joined frames not drawn (over replay.max_fps, or behind a slow viewer).",
                vec![
                    ("drawn", g(&r.stats.frames_drawn)),
                    ("skipped", g(&r.stats.frames_skipped)),
                ],
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (outcome, n) in samples {
                ConstCounter::new(n).encode(metric.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        let metric = encoder.encode_descriptor(
            "pose_cloud_exports",
            "Exports started.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(g(&r.stats.exports)).encode(metric)
    }
}
