//! The cloud service: consume both topics, join per camera, hand each joined frame to its
//! camera's render worker (`renderers.rs`: parallel, latest wins), which publishes to the hub
//! that the HTTP viewers read. The join loop never waits for drawing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pose_shared::metrics::note;
use pose_shared::time::now_us;
use tokio::sync::mpsc;
use tracing::{info, warn};

use pose_shared::topics::Topics;

use crate::consume::{self, Incoming};
use crate::join::{JoinConfig, Joiner};
use crate::renderers::Renderers;
use crate::serve::AppState;

/// Hand-off from the consumer to the join/render loop. When full the consumer waits and Kafka
/// holds the rest (see consume.rs).
const HANDOFF: usize = 256;

/// The running pipeline: the Kafka consumer feeding the join/render loop. Both end once
/// `state.shutdown` becomes true (the consumer commits what it handed on first).
pub struct Pipeline {
    consumer: tokio::task::JoinHandle<()>,
    service: tokio::task::JoinHandle<()>,
}

/// Starts the consumer and the join/render loop that fills `state.hub`.
pub fn spawn(
    consumer: crate::consume::TopicConsumer,
    topics: Topics,
    join: JoinConfig,
    quality: u8,
    state: Arc<AppState>,
) -> Pipeline {
    let (tx, rx) = mpsc::channel::<Incoming>(HANDOFF);
    let mut stop = state.shutdown.clone();
    let consumer = tokio::spawn(consume::run(
        consumer,
        topics,
        tx,
        state.consume.clone(),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));
    let service = tokio::spawn(run(rx, join, quality, state));
    Pipeline { consumer, service }
}

impl Pipeline {
    /// Waits for both tasks (after shutdown).
    pub async fn join(self) -> Result<(), tokio::task::JoinError> {
        self.consumer.await?;
        self.service.await
    }
}

fn msg_camera(m: &Incoming) -> &pose_shared::CameraId {
    match m {
        Incoming::Keypoints(k) => &k.camera_id,
        Incoming::Frame(f) => &f.meta.camera_id,
    }
}

/// `(run, seq)` of a message.
fn msg_seq(m: &Incoming) -> (u64, u64) {
    match m {
        Incoming::Keypoints(k) => (k.run, k.seq),
        Incoming::Frame(f) => (f.meta.run, f.meta.seq),
    }
}

/// How often waiting frames are checked against the join window, and camera states updated.
const TICK: Duration = Duration::from_millis(20);

/// Joins messages from `rx` and has them drawn into `state.hub` until `rx` closes.
pub async fn run(
    mut rx: mpsc::Receiver<Incoming>,
    join: JoinConfig,
    quality: u8,
    state: Arc<AppState>,
) {
    let max_age_us = join.max_age.map(|a| a.as_micros() as u64);
    let mut joiner = Joiner::new(join);
    let mut renderers = Renderers::new(Renderers::default_parallelism(), quality, state.clone());
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_states = Instant::now();
    state.ready.store(true, Ordering::Relaxed);
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                if let Some(max) = max_age_us {
                    let age_us = now_us().saturating_sub(msg.capture_ts_us());
                    if age_us > max {
                        let c = &state.consume;
                        let counter = match &msg {
                            Incoming::Keypoints(_) => &c.too_old_keypoints,
                            Incoming::Frame(_) => &c.too_old_frames,
                        };
                        if let Some(n) = note(counter) {
                            warn!(age_ms = age_us / 1000, skipped_total = n,
                                "skipping messages older than join.max_age_ms (backlog after a \
                                 restart or an outage, or the edge's clock is behind)");
                        }
                        continue;
                    }
                }
                if let Incoming::Keypoints(k) = &msg {
                    // Downstream web consumers get every keypoint message, joined or not.
                    let feed = state.hub.feed(&k.camera_id);
                    feed.note_people(k.poses.len());
                    if feed.keypoints.receiver_count() > 0 {
                        let _ = feed.keypoints.send(Arc::from(k.to_json().to_string()));
                    }
                }
                let (restarts, (run, seq)) = (joiner.stats().new_run, msg_seq(&msg));
                let camera = msg_camera(&msg).clone();
                joiner.push(msg, Instant::now(), &mut out);
                if joiner.stats().new_run != restarts {
                    info!(%camera, run, seq, restarts_total = joiner.stats().new_run,
                        "edge restarted (a new run id, or for a version-1 edge a seq that went \
                         back with a later capture time): joining its new run");
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                joiner.tick(now, &mut out);
                if now.duration_since(last_states) >= Duration::from_millis(500) {
                    for (id, s) in joiner.states(now) {
                        state.hub.feed(&id).set_state(s);
                    }
                    last_states = now;
                }
            }
        }
        *state.join.lock().unwrap_or_else(|p| p.into_inner()) = joiner.stats().clone();
        for j in out.drain(..) {
            renderers.submit(j);
        }
    }
    renderers.close().await;
    info!("service loop stopped");
}
