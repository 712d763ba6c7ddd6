//! The rendered output of every camera, shared with any number of viewers.
//!
//! Each camera keeps only its newest rendered frame (a `watch` channel): a viewer that falls
//! behind skips to the newest frame and never slows the others or the renderer. Keypoints for
//! downstream web consumers go through a small `broadcast` channel: a lagging subscriber loses the
//! oldest messages and is told how many.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use pose_shared::CameraId;
use pose_shared::metrics::Histogram;
use tokio::sync::{broadcast, watch};

use crate::join::CameraState;
use crate::render::Rendered;

/// Keypoint messages (JSON) buffered per camera for slow SSE subscribers.
const KEYPOINT_BACKLOG: usize = 64;

/// One camera's feeds and figures.
pub struct Feed {
    pub frames: watch::Sender<Option<Arc<Rendered>>>,
    pub keypoints: broadcast::Sender<Arc<str>>,
    /// End-to-end latency (edge capture to rendered), all run long.
    pub latency: Histogram,
    /// Viewers connected now (MJPEG and SSE).
    pub viewers: AtomicU64,
    figures: Mutex<Figures>,
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    fps: f64,
    latency_ms: f64,
    last_rendered: Option<Instant>,
    state: CameraState,
}

/// A camera as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraInfo {
    pub id: String,
    pub state: &'static str,
    pub fps: f64,
    pub latency_ms: f64,
    /// Seconds since the last rendered frame; null before the first.
    pub last_seen_s: Option<f64>,
    pub viewers: u64,
}

impl Feed {
    fn new() -> Self {
        Self {
            frames: watch::channel(None).0,
            keypoints: broadcast::channel(KEYPOINT_BACKLOG).0,
            latency: Histogram::default(),
            viewers: AtomicU64::new(0),
            figures: Mutex::new(Figures {
                fps: 0.0,
                latency_ms: 0.0,
                last_rendered: None,
                state: CameraState::Live,
            }),
        }
    }

    /// Records a rendered frame at `now` and returns the fps and latency to show (smoothed).
    pub fn note_frame(&self, now: Instant, latency_us: u64) -> (f64, f64) {
        self.latency.observe_us(latency_us);
        let mut f = self.figures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = f.last_rendered {
            let dt = now.saturating_duration_since(prev).as_secs_f64();
            if dt > 0.0 {
                // Exponential moving average over roughly ten frames.
                f.fps = if f.fps == 0.0 {
                    1.0 / dt
                } else {
                    0.9 * f.fps + 0.1 / dt
                };
            }
        }
        let ms = latency_us as f64 / 1e3;
        f.latency_ms = if f.latency_ms == 0.0 {
            ms
        } else {
            0.9 * f.latency_ms + 0.1 * ms
        };
        f.last_rendered = Some(now);
        (f.fps, f.latency_ms)
    }

    pub fn set_state(&self, state: CameraState) {
        self.figures.lock().unwrap_or_else(|p| p.into_inner()).state = state;
    }
}

/// All cameras.
#[derive(Default)]
pub struct Hub {
    feeds: RwLock<BTreeMap<CameraId, Arc<Feed>>>,
}

impl Hub {
    /// The feed of `id`, created on first use.
    pub fn feed(&self, id: &CameraId) -> Arc<Feed> {
        if let Some(f) = self.feeds.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            return f.clone();
        }
        self.feeds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Feed::new()))
            .clone()
    }

    /// The feed of `id` if that camera has been seen.
    pub fn get(&self, id: &str) -> Option<Arc<Feed>> {
        self.feeds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| k.as_str() == id)
            .map(|(_, f)| f.clone())
    }

    /// Every camera, sorted by id.
    pub fn cameras(&self, now: Instant) -> Vec<CameraInfo> {
        self.feeds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, feed)| {
                let f = *feed.figures.lock().unwrap_or_else(|p| p.into_inner());
                CameraInfo {
                    id: id.to_string(),
                    state: match f.state {
                        CameraState::Live => "live",
                        CameraState::Privacy => "privacy",
                        CameraState::Offline => "offline",
                    },
                    fps: (f.fps * 10.0).round() / 10.0,
                    latency_ms: (f.latency_ms * 10.0).round() / 10.0,
                    last_seen_s: f
                        .last_rendered
                        .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                    viewers: feed.viewers.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// (camera id, feed) pairs, for metrics.
    pub fn feeds(&self) -> Vec<(CameraId, Arc<Feed>)> {
        self.feeds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn feeds_are_shared_and_figures_smoothed() {
        let hub = Hub::default();
        let id = CameraId::new("c1").unwrap();
        let a = hub.feed(&id);
        let b = hub.feed(&id);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(hub.get("c1").is_some() && hub.get("nope").is_none());
        let t0 = Instant::now();
        for i in 0..30 {
            a.note_frame(t0 + Duration::from_millis(i * 100), 40_000);
        }
        let info = &hub.cameras(t0 + Duration::from_secs(3))[0];
        assert_eq!(info.id, "c1");
        assert!((info.fps - 10.0).abs() < 0.5, "{}", info.fps);
        assert!((info.latency_ms - 40.0).abs() < 0.5);
        assert_eq!(a.latency.count(), 30);
        a.set_state(CameraState::Offline);
        assert_eq!(hub.cameras(t0)[0].state, "offline");
    }

    #[test]
    fn a_slow_viewer_sees_only_the_newest_frame() {
        let hub = Hub::default();
        let feed = hub.feed(&CameraId::new("c2").unwrap());
        let mut rx = feed.frames.subscribe();
        for seq in 0..10 {
            let r = Rendered {
                seq,
                capture_ts_us: 0,
                width: 1,
                height: 1,
                jpeg: vec![],
            };
            feed.frames.send_replace(Some(Arc::new(r)));
        }
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().as_ref().map(|r| r.seq), Some(9));
    }
}
