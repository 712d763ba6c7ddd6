//! Per-camera render workers: the join hands each joined frame to its camera's worker and goes
//! on at once; workers draw in parallel, at most `parallel` at a time (one per core by default),
//! each camera's frames in order.
//!
//! Drop policy (latest wins, here in [`Renderers::submit`]): each camera has a slot for one frame
//! waiting to be drawn. A newer frame of the same camera replaces a waiting one, which is dropped
//! and counted (`pose_cloud_render_dropped_total{camera}`). Nothing blocks: the join and the
//! Kafka hand-off never wait for drawing, and a camera whose frames are slow to draw (or that
//! sends more than a core can draw) drops its own frames without delaying the others, which
//! take their turn for a core in arrival order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pose_shared::CameraId;
use pose_shared::time::now_us;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::warn;

use crate::hub::Feed;
use crate::join::Joined;
use crate::render::{Overlay, render};
use crate::serve::AppState;

/// One camera's waiting frame.
#[derive(Default)]
struct Slot {
    job: Mutex<Option<Joined>>,
    wake: Notify,
    closed: AtomicBool,
}

impl Slot {
    fn take(&self) -> Option<Joined> {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The render workers of every camera seen so far.
pub struct Renderers {
    slots: HashMap<CameraId, (Arc<Slot>, Arc<Feed>)>,
    cores: Arc<Semaphore>,
    quality: u8,
    state: Arc<AppState>,
    tasks: JoinSet<()>,
}

impl Renderers {
    /// Workers that draw at most `parallel` frames at once (at least 1) at JPEG `quality`, and
    /// publish them to `state.hub`.
    pub fn new(parallel: usize, quality: u8, state: Arc<AppState>) -> Self {
        Self {
            slots: HashMap::new(),
            cores: Arc::new(Semaphore::new(parallel.max(1))),
            quality,
            state,
            tasks: JoinSet::new(),
        }
    }

    /// One worker per core this process may use.
    pub fn default_parallelism() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Hands `j` to its camera's worker without waiting; replaces (drops, counts) the camera's
    /// frame still waiting to be drawn.
    pub fn submit(&mut self, j: Joined) {
        if !self.slots.contains_key(&j.camera_id) {
            let slot = Arc::new(Slot::default());
            let feed = self.state.hub.feed(&j.camera_id);
            self.tasks.spawn(worker(
                slot.clone(),
                feed.clone(),
                self.cores.clone(),
                self.quality,
                self.state.clone(),
            ));
            self.slots.insert(j.camera_id.clone(), (slot, feed));
        }
        let (slot, feed) = &self.slots[&j.camera_id];
        let replaced = slot
            .job
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(j)
            .is_some();
        if replaced {
            feed.render_dropped.inc();
        }
        slot.wake.notify_one();
    }

    /// Lets every worker draw what it holds, then ends them.
    pub async fn close(mut self) {
        for (slot, _) in self.slots.values() {
            slot.closed.store(true, Ordering::Relaxed);
            slot.wake.notify_one();
        }
        while let Some(r) = self.tasks.join_next().await {
            if let Err(e) = r {
                warn!(error = %e, "render worker failed");
            }
        }
    }
}

/// Draws the camera's frames as they come, one at a time, each with a core's permit.
async fn worker(
    slot: Arc<Slot>,
    feed: Arc<Feed>,
    cores: Arc<Semaphore>,
    quality: u8,
    state: Arc<AppState>,
) {
    loop {
        slot.wake.notified().await;
        // Take the frame only once a core is free, so the newest one is drawn.
        while let Ok(core) = cores.clone().acquire_owned().await {
            let Some(j) = slot.take() else { break };
            let (fps, latency_ms) = feed.overlay_figures(Instant::now());
            let overlay = Overlay { fps, latency_ms };
            let drawn = tokio::task::spawn_blocking(move || {
                let r = render(&j, overlay, quality);
                drop(core);
                r
            })
            .await;
            match drawn {
                Ok(Ok(r)) => {
                    let latency_us = now_us().saturating_sub(r.capture_ts_us);
                    feed.frames.send_replace(Some(Arc::new(r)));
                    feed.note_frame(Instant::now(), latency_us);
                    state.hub.frame_shown();
                }
                Ok(Err(e)) => {
                    if let Some(n) = state.telemetry.render_error(e.reason()) {
                        warn!(error = %e, errors_total = n, "frame not rendered");
                    }
                }
                Err(e) => warn!(error = %e, "render task failed"),
            }
        }
        let idle = slot.job.lock().unwrap_or_else(|p| p.into_inner()).is_none();
        if idle && slot.closed.load(Ordering::Relaxed) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::FrameMessage;
    use image::ExtendedColorType;
    use image::codecs::jpeg::JpegEncoder;
    use pose_shared::frame::FrameMeta;

    fn joined(camera: &str, seq: u64, jpeg: &Arc<Vec<u8>>, w: u32, h: u32) -> Joined {
        let camera_id = CameraId::new(camera).unwrap();
        Joined {
            camera_id: camera_id.clone(),
            run: 1,
            seq,
            capture_ts_us: now_us(),
            frame: Some(Arc::new(FrameMessage {
                meta: FrameMeta {
                    camera_id,
                    run: 1,
                    seq,
                    capture_ts_us: now_us(),
                    width: w,
                    height: h,
                },
                jpeg: jpeg.to_vec(),
            })),
            keypoints: None,
            stale: false,
        }
    }

    fn jpeg(w: u32, h: u32) -> Arc<Vec<u8>> {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 80)
            .encode(&rgb, w, h, ExtendedColorType::Rgb8)
            .unwrap();
        Arc::new(out)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_camera_that_floods_drops_its_own_frames_and_the_others_are_all_drawn() {
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(stop_rx);
        let mut r = Renderers::new(2, 80, state.clone());
        let (big, small) = (jpeg(1280, 960), jpeg(64, 48));
        // The big camera sends 30 frames at once (far more than can be drawn), then each small
        // camera sends one.
        for seq in 0..30 {
            r.submit(joined("big", seq, &big, 1280, 960));
        }
        for c in 0..8 {
            r.submit(joined(&format!("small-{c}"), 0, &small, 64, 48));
        }
        r.close().await;
        let feed = |c: &str| state.hub.get(c).unwrap();
        for c in 0..8 {
            let f = feed(&format!("small-{c}"));
            assert_eq!(f.rendered.get(), 1, "small-{c} drawn");
            assert_eq!(f.render_dropped.get(), 0);
        }
        let big = feed("big");
        let (drawn, dropped) = (big.rendered.get(), big.render_dropped.get());
        assert_eq!(
            drawn + dropped,
            30,
            "every frame drawn or counted as dropped"
        );
        assert!(
            dropped >= 25,
            "latest wins: {drawn} drawn, {dropped} dropped"
        );
        assert_eq!(
            big.frames.borrow().as_ref().map(|f| f.seq),
            Some(29),
            "the newest frame is the one shown"
        );
    }
}
