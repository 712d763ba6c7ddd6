//! The rendered output of every camera, shared with any number of viewers.
//!
//! Each camera keeps only its newest rendered frame (a `watch` channel): a viewer that falls
//! behind skips to the newest frame and never slows the others or the renderer. Keypoints for
//! downstream web consumers go through a small `broadcast` channel: a lagging subscriber loses the
//! oldest messages and is told how many.
//!
//! What a camera's figures mean (the API and the viewer show them as they are):
//! * **fps**: frames shown (rendered and published) in the last [`FPS_WINDOW`], divided by the
//!   window (or by the time since the camera started showing frames, when that is shorter).
//!   Counting frames makes bursts harmless: ten frames delivered in 1 ms every third of a second
//!   are 30 fps, not thousands.
//! * **state**: `live` (or `privacy`) only while new frames are shown: no new frame for
//!   [`STALL_AFTER`] makes the camera `stalled`, whatever the join still receives; no message at
//!   all for `join.offline_after` makes it `offline`. `last_seen_s` is the age of the newest
//!   shown frame.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pose_shared::CameraId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};

use crate::join::CameraState;
use crate::render::Rendered;

/// Keypoint messages (JSON) buffered per camera for slow SSE subscribers.
const KEYPOINT_BACKLOG: usize = 64;

/// The window fps is counted over: long enough to smooth bursts of a few hundred ms, short
/// enough that a camera that stops reads 0 within two seconds.
pub const FPS_WINDOW: Duration = Duration::from_secs(2);

/// No new frame shown for this long: the camera is `stalled` (below the join's 3 s offline, so
/// a camera that stops altogether is first stalled, then offline).
pub const STALL_AFTER: Duration = Duration::from_secs(2);

/// Most frame times kept for the fps count (1000 fps over the window; a bound, not a limit on
/// the rate: beyond it the oldest fall out of the window early).
const FPS_MAX_FRAMES: usize = 2000;

/// What a viewer is told about a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewState {
    /// New frames are being shown.
    Live,
    /// New skeletons are being shown on a blank canvas (keypoints arrive, frames do not).
    Privacy,
    /// Messages still arrive but no new frame has been shown for [`STALL_AFTER`].
    Stalled,
    /// Nothing arrives.
    Offline,
}

impl ViewState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Privacy => "privacy",
            Self::Stalled => "stalled",
            Self::Offline => "offline",
        }
    }
}

/// One camera's feeds and figures.
pub struct Feed {
    pub frames: watch::Sender<Option<Arc<Rendered>>>,
    pub keypoints: broadcast::Sender<Arc<str>>,
    /// End-to-end latency (edge capture to rendered), all run long.
    pub latency: Histogram,
    /// Viewers connected now (MJPEG, WebSocket and SSE).
    pub viewers: Gauge,
    /// Frames rendered and published.
    pub rendered: Counter,
    /// Joined frames replaced in the render slot before they were drawn (latest wins).
    pub render_dropped: Counter,
    figures: Mutex<Figures>,
}

#[derive(Debug, Clone)]
struct Figures {
    /// When the frames of the last [`FPS_WINDOW`] were shown, oldest first.
    shown: VecDeque<Instant>,
    /// Start of the current run of shown frames (reset after a gap longer than the window).
    streak_start: Option<Instant>,
    latency_ms: f64,
    last_rendered: Option<Instant>,
    /// The join's view: messages arriving, with or without frames.
    state: CameraState,
    /// Poses in the camera's newest keypoint message.
    people: u32,
}

impl Figures {
    fn forget_before(&mut self, now: Instant) {
        while self
            .shown
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= FPS_WINDOW)
        {
            self.shown.pop_front();
        }
    }

    /// Frames shown per second over the window ending at `now` (see the module notes).
    fn fps(&self, now: Instant) -> f64 {
        let n = self
            .shown
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) < FPS_WINDOW)
            .count();
        let Some(start) = self.streak_start.filter(|_| n > 0) else {
            return 0.0;
        };
        let span = now.saturating_duration_since(start).min(FPS_WINDOW);
        if span >= FPS_WINDOW / 4 {
            return n as f64 / span.as_secs_f64();
        }
        // A camera that started a moment ago: the mean interval of what it has shown.
        match (self.shown.front(), self.shown.back()) {
            (Some(&a), Some(&b)) if n >= 2 && b > a => (n - 1) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn view_state(&self, now: Instant) -> ViewState {
        let showing = self
            .last_rendered
            .is_some_and(|t| now.saturating_duration_since(t) < STALL_AFTER);
        match (self.state, showing) {
            (CameraState::Offline, _) => ViewState::Offline,
            (_, false) => ViewState::Stalled,
            (CameraState::Live, true) => ViewState::Live,
            (CameraState::Privacy, true) => ViewState::Privacy,
        }
    }
}

/// A camera as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraInfo {
    pub id: String,
    pub state: &'static str,
    /// Frames shown per second over the last [`FPS_WINDOW`].
    pub fps: f64,
    pub latency_ms: f64,
    /// Age in seconds of the newest shown frame; null before the first.
    pub last_seen_s: Option<f64>,
    pub viewers: u64,
    /// People in view: the poses of the newest keypoint message (0 when offline).
    pub people: u32,
}

/// The label of the per-camera metrics.
type CameraLabel = [(&'static str, String); 1];

/// The per-camera metric families; each feed holds its own camera's series.
#[derive(Debug, Clone)]
struct FeedMetrics {
    latency: Family<CameraLabel, Histogram, fn() -> Histogram>,
    viewers: Family<CameraLabel, Gauge>,
    rendered: Family<CameraLabel, Counter>,
    render_dropped: Family<CameraLabel, Counter>,
}

impl Default for FeedMetrics {
    fn default() -> Self {
        Self {
            latency: Family::new_with_constructor(pose_shared::metrics::latency_histogram),
            viewers: Family::default(),
            rendered: Family::default(),
            render_dropped: Family::default(),
        }
    }
}

impl Feed {
    fn new(id: &CameraId, m: &FeedMetrics) -> Self {
        let label = [("camera", id.as_str().to_owned())];
        Self {
            frames: watch::channel(None).0,
            keypoints: broadcast::channel(KEYPOINT_BACKLOG).0,
            latency: m.latency.get_or_create(&label).clone(),
            viewers: m.viewers.get_or_create(&label).clone(),
            rendered: m.rendered.get_or_create(&label).clone(),
            render_dropped: m.render_dropped.get_or_create(&label).clone(),
            figures: Mutex::new(Figures {
                shown: VecDeque::new(),
                streak_start: None,
                latency_ms: 0.0,
                last_rendered: None,
                state: CameraState::Live,
                people: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Figures> {
        self.figures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a frame captured `latency_us` ago was shown at `now`.
    pub fn note_frame(&self, now: Instant, latency_us: u64) {
        self.latency.observe(latency_us as f64 / 1e6);
        self.rendered.inc();
        let mut f = self.lock();
        let ms = latency_us as f64 / 1e3;
        // Exponential moving average over roughly ten frames.
        f.latency_ms = if f.latency_ms == 0.0 {
            ms
        } else {
            0.9 * f.latency_ms + 0.1 * ms
        };
        let gap = f
            .last_rendered
            .is_none_or(|t| now.saturating_duration_since(t) >= FPS_WINDOW);
        if gap {
            f.streak_start = Some(now);
        }
        f.forget_before(now);
        if f.shown.len() >= FPS_MAX_FRAMES {
            f.shown.pop_front();
        }
        f.shown.push_back(now);
        f.last_rendered = Some(now);
    }

    /// The fps and latency (ms) to draw on a frame rendered at `now`.
    pub fn overlay_figures(&self, now: Instant) -> (f64, f64) {
        let f = self.lock();
        (f.fps(now), f.latency_ms)
    }

    /// Records the number of people (poses) in the camera's newest keypoint message.
    pub fn note_people(&self, people: usize) {
        self.lock().people = u32::try_from(people).unwrap_or(u32::MAX);
    }

    /// The join's view of the camera (messages arriving, with or without frames).
    pub fn set_state(&self, state: CameraState) {
        self.lock().state = state;
    }

    /// What viewers are told at `now`.
    pub fn view_state(&self, now: Instant) -> ViewState {
        self.lock().view_state(now)
    }
}

/// All cameras.
pub struct Hub {
    feeds: RwLock<BTreeMap<CameraId, Arc<Feed>>>,
    /// Bumped after every frame shown, of any camera: what a viewer of many cameras waits on.
    shown: watch::Sender<u64>,
    metrics: FeedMetrics,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            feeds: RwLock::default(),
            shown: watch::channel(0).0,
            metrics: FeedMetrics::default(),
        }
    }
}

impl Hub {
    /// Registers the per-camera series of every feed, present and future.
    pub fn register(&self, r: &mut Registry) {
        let m = &self.metrics;
        r.register(
            "pose_cloud_viewers",
            "Connected viewers (MJPEG, WebSocket and SSE), by camera.",
            m.viewers.clone(),
        );
        r.register(
            "pose_cloud_rendered",
            "Frames drawn and published to the viewers, by camera.",
            m.rendered.clone(),
        );
        r.register(
            "pose_cloud_render_dropped",
            "Joined frames replaced by a newer one of the same camera before they were drawn \
             (latest wins), by camera.",
            m.render_dropped.clone(),
        );
        r.register(
            "pose_cloud_latency_seconds",
            "Edge capture to rendered frame, by camera.",
            m.latency.clone(),
        );
    }

    /// Tells the viewers of many cameras that some camera has a new frame.
    pub fn frame_shown(&self) {
        self.shown.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes after every frame shown, of any camera.
    pub fn subscribe_shown(&self) -> watch::Receiver<u64> {
        self.shown.subscribe()
    }

    /// The feed of `id`, created on first use.
    pub fn feed(&self, id: &CameraId) -> Arc<Feed> {
        if let Some(f) = self.feeds.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            return f.clone();
        }
        self.feeds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Feed::new(id, &self.metrics)))
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
                let f = feed.lock();
                let view = f.view_state(now);
                CameraInfo {
                    id: id.to_string(),
                    state: view.as_str(),
                    fps: (f.fps(now) * 10.0).round() / 10.0,
                    latency_ms: (f.latency_ms * 10.0).round() / 10.0,
                    last_seen_s: f
                        .last_rendered
                        .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                    viewers: u64::try_from(feed.viewers.get()).unwrap_or(0),
                    people: if view == ViewState::Offline {
                        0
                    } else {
                        f.people
                    },
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
        let info = &hub.cameras(t0 + Duration::from_millis(2_950))[0];
        assert_eq!(info.id, "c1");
        assert!((info.fps - 10.0).abs() < 0.6, "{}", info.fps);
        assert!((info.latency_ms - 40.0).abs() < 0.5);
        assert_eq!(a.rendered.get(), 30);
        a.set_state(CameraState::Offline);
        assert_eq!(hub.cameras(t0)[0].state, "offline");
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn fps_counts_frames_in_a_window_so_bursts_do_not_inflate_it() {
        let feed = Feed::new(&CameraId::new("c").unwrap(), &FeedMetrics::default());
        let t0 = Instant::now();
        // 30 fps delivered in bursts: 10 frames 1 ms apart every 333 ms, for 4 s.
        for burst in 0..12 {
            for i in 0..10 {
                feed.note_frame(ms(t0, burst * 333 + i), 30_000);
            }
        }
        let end = ms(t0, 11 * 333 + 9);
        for at in [end, end + Duration::from_millis(200)] {
            let (fps, _) = feed.overlay_figures(at);
            assert!((fps - 30.0).abs() <= 3.5, "bursty 30 fps read as {fps}");
        }
        // Evenly spaced frames, and a camera that has only just started.
        let even = Feed::new(&CameraId::new("c").unwrap(), &FeedMetrics::default());
        for i in 0..90 {
            even.note_frame(ms(t0, i * 33), 30_000);
        }
        let (fps, _) = even.overlay_figures(ms(t0, 89 * 33 + 16));
        assert!((fps - 30.0).abs() < 1.5, "{fps}");
        let young = Feed::new(&CameraId::new("c").unwrap(), &FeedMetrics::default());
        for i in 0..4 {
            young.note_frame(ms(t0, i * 40), 30_000);
        }
        let (fps, _) = young.overlay_figures(ms(t0, 130));
        assert!((fps - 25.0).abs() < 1.0, "{fps}");
        // Frames stop: the figure falls to 0 within the window.
        let (fps, _) = even.overlay_figures(ms(t0, 89 * 33) + FPS_WINDOW);
        assert_eq!(fps, 0.0);
    }

    #[test]
    fn a_camera_is_live_only_while_new_frames_are_shown() {
        let hub = Hub::default();
        let feed = hub.feed(&CameraId::new("c3").unwrap());
        let t0 = Instant::now();
        assert_eq!(feed.view_state(t0), ViewState::Stalled, "nothing shown yet");
        for i in 0..30 {
            feed.note_frame(ms(t0, i * 33), 30_000);
        }
        let last = ms(t0, 29 * 33);
        assert_eq!(
            feed.view_state(last + Duration::from_millis(500)),
            ViewState::Live
        );
        // Messages keep arriving (the join says live) but nothing new is shown.
        let later = last + STALL_AFTER;
        assert_eq!(feed.view_state(later), ViewState::Stalled);
        let info = &hub.cameras(later)[0];
        assert_eq!(info.state, "stalled");
        assert_eq!(info.fps, 0.0);
        assert!((info.last_seen_s.unwrap() - 2.0).abs() < 0.01);
        feed.set_state(CameraState::Privacy);
        assert_eq!(feed.view_state(last), ViewState::Privacy);
        feed.set_state(CameraState::Offline);
        assert_eq!(feed.view_state(last), ViewState::Offline);
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
