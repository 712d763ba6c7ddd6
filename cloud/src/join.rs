//! Joins frames and keypoints per camera on `(run, seq)`, with bounded waiting.
//!
//! Rules (`shared/WIRE.md`, "Clocks, runs and the join"):
//! * A frame and the keypoints of the same `seq` are emitted together as soon as both are there.
//! * A frame waits for its keypoints at most `join_window`; then it is emitted with the newest
//!   earlier keypoints no older than `max_keypoint_age` (by capture time), marked stale, or with
//!   none. Inference runs slower than capture, so most frames have no keypoints of their own.
//! * Keypoints whose frame was already emitted are late: counted and dropped (they still count
//!   as the newest pose for the frames that follow).
//! * Keypoints with `frame_published = false` never get a frame: from a camera in privacy mode
//!   (no frame for `offline_after`) they are emitted alone, to be drawn on a blank canvas.
//! * Frames older than one already emitted are dropped (a live view never goes back in time).
//! * Every buffer is bounded; a camera that sends nothing for `offline_after` is offline.
//! * An edge that restarts counts `seq` from 0 again, under a new run id (wire v2). A message
//!   whose run differs from the camera's current one starts a new run when it was captured after
//!   the current run's newest message (or the current run has been silent for `offline_after`,
//!   which also covers an edge whose clock stepped back); otherwise it belongs to an ended run.
//!   Starting a new run drops the camera's join state, so nothing of the old run (buffered
//!   frames, keypoints kept for stale drawing) is drawn on the new one; the ended run's id is
//!   remembered and its late messages are counted and dropped. An upgrade from a v1 edge (run 0)
//!   to a v2 one is such a change of run.
//! * Version 1 carries no run id (run 0). Within one run `seq` and capture time grow together,
//!   so a run-0 message whose `seq` is below the newest one seen but whose capture time is later
//!   than it (by more than [`NEW_RUN_MIN_GAP_US`]) belongs to a new run (the same `seq` is the
//!   same frame, whatever its stamp); after that, run-0 messages captured before the new run's
//!   first message belong to an ended run.
//!
//! Time is passed in (`now`), so the rules are tested without sleeping.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pose_shared::{CameraId, KeypointMessage};

use crate::consume::{FrameMessage, Incoming};

/// How frames and keypoints are joined, as the configuration file says it (`[join]`, ms).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinSettings {
    /// How long a frame waits for its own keypoints, ms.
    pub join_window_ms: u64,
    /// Oldest earlier keypoints drawn on a frame (marked stale), ms of capture time.
    pub max_keypoint_age_ms: u64,
    /// Silence after which a camera is offline, ms.
    pub offline_after_ms: u64,
    /// Frames and keypoint messages buffered per camera.
    pub max_pending: usize,
    /// Skip messages captured longer ago than this, ms (0: never): after a restart the
    /// service resumes from its committed offsets and skips the backlog a live view has no use
    /// for. Compares the edge's capture clock with this host's, so both need NTP.
    pub max_age_ms: u64,
}

impl Default for JoinSettings {
    fn default() -> Self {
        let c = JoinConfig::default();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            join_window_ms: ms(c.join_window),
            max_keypoint_age_ms: ms(c.max_keypoint_age),
            offline_after_ms: ms(c.offline_after),
            max_pending: c.max_pending,
            max_age_ms: c.max_age.map_or(0, ms),
        }
    }
}

impl JoinSettings {
    pub fn to_join_config(&self) -> JoinConfig {
        JoinConfig {
            join_window: Duration::from_millis(self.join_window_ms),
            max_keypoint_age: Duration::from_millis(self.max_keypoint_age_ms),
            offline_after: Duration::from_millis(self.offline_after_ms),
            max_pending: self.max_pending.max(1),
            max_age: (self.max_age_ms > 0).then(|| Duration::from_millis(self.max_age_ms)),
        }
    }
}

/// `[join]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct JoinFlags {
    /// How long a frame waits for its keypoints, ms [default: 150]
    #[arg(long = "join-window-ms", global = true)]
    pub join_window_ms: Option<u64>,
    /// Oldest earlier keypoints drawn on a frame, ms [default: 500]
    #[arg(long = "max-keypoint-age-ms", global = true)]
    pub max_keypoint_age_ms: Option<u64>,
}

/// Join settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinConfig {
    /// How long a frame waits for its keypoints.
    pub join_window: Duration,
    /// Oldest keypoints (capture time before the frame's) drawn on a frame, as stale.
    pub max_keypoint_age: Duration,
    /// Silence after which a camera is offline (and without frames, in privacy mode).
    pub offline_after: Duration,
    /// Most frames, and most keypoint messages, buffered per camera.
    pub max_pending: usize,
    /// Messages captured longer ago than this are skipped before the join (a live view has no
    /// use for them: this is the backlog replayed after a restart). `None`: keep everything.
    pub max_age: Option<Duration>,
}

impl Default for JoinConfig {
    fn default() -> Self {
        Self {
            join_window: Duration::from_millis(150),
            max_keypoint_age: Duration::from_millis(500),
            offline_after: Duration::from_secs(3),
            max_pending: 64,
            max_age: Some(Duration::from_secs(3)),
        }
    }
}

/// One joined result, ready to draw.
#[derive(Debug, Clone)]
pub struct Joined {
    pub camera_id: CameraId,
    /// The edge's run id (0: a version-1 edge); with `camera_id` and `seq` the join key.
    pub run: u64,
    pub seq: u64,
    pub capture_ts_us: u64,
    /// `None`: privacy mode, draw the keypoints on a blank canvas.
    pub frame: Option<Arc<FrameMessage>>,
    pub keypoints: Option<Arc<KeypointMessage>>,
    /// The keypoints belong to an earlier frame.
    pub stale: bool,
}

/// What the joiner did, for `/metrics`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JoinStats {
    /// Frames emitted with their own keypoints.
    pub joined: u64,
    /// Frames emitted with earlier keypoints.
    pub stale: u64,
    /// Frames emitted without keypoints.
    pub bare: u64,
    /// Keypoints emitted alone (privacy mode).
    pub keypoints_only: u64,
    /// Keypoints that arrived after their frame had been emitted.
    pub late: u64,
    /// Frames older than one already emitted.
    pub out_of_order: u64,
    /// Messages pushed out of a full buffer.
    pub overflow: u64,
    /// Edge restarts seen (a new run id, or for version 1 a `seq` that went back with a later
    /// capture time).
    pub new_run: u64,
    /// Messages of a run that had already ended when they arrived (dropped).
    pub old_run: u64,
}

/// A camera's state for the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    Live,
    /// Keypoints arrive, frames do not.
    Privacy,
    Offline,
}

#[derive(Default)]
struct Camera {
    frames: BTreeMap<u64, (FrameMessage, Instant)>,
    keypoints: BTreeMap<u64, KeypointMessage>,
    /// Newest keypoints by seq, oldest first (for stale drawing).
    recent: VecDeque<Arc<KeypointMessage>>,
    emitted_up_to: Option<u64>,
    last_message: Option<Instant>,
    last_frame: Option<Instant>,
    /// The newest message of the current run, by capture time: `(seq, capture_ts_us)`.
    newest: Option<(u64, u64)>,
    /// Capture time of the first message of the current run, once a restart was seen.
    run_start_us: Option<u64>,
    /// The current run id (0: version 1, no run id).
    run: u64,
    /// When the last message of the current run arrived.
    run_heard: Option<Instant>,
    /// Run ids that ended here, newest last (at most [`ENDED_RUNS`]).
    ended: VecDeque<u64>,
}

/// How much later than the newest message a message with a `seq` that went back must have been
/// captured to start a new run. No edge restarts this fast (process start, camera, Kafka); a
/// smaller difference is a resend, or a producer that stamps messages when it sends them.
const NEW_RUN_MIN_GAP_US: u64 = 50_000;

/// How many ended run ids a camera remembers (their late messages are dropped).
const ENDED_RUNS: usize = 8;

/// How many earlier keypoint messages are kept to draw on frames that have none of their own.
const RECENT_KEYPOINTS: usize = 8;

/// Where a message stands against the camera's current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Current,
    /// The first message of a new run: the camera's state was reset.
    New,
    /// Captured before the current run started: drop it.
    Ended,
}

impl Camera {
    /// Classifies a message `(run, seq, capture_ts_us)` that arrived at `now` and starts a new
    /// run when it is the first of one (see the module notes).
    fn run_of(
        &mut self,
        run: u64,
        seq: u64,
        capture_ts_us: u64,
        now: Instant,
        offline_after: Duration,
    ) -> Run {
        let verdict = if self.newest.is_none() {
            self.run = run;
            Run::Current
        } else if run != self.run {
            let later = self.newest.is_some_and(|(_, t)| capture_ts_us > t);
            let silent = self
                .run_heard
                .is_none_or(|t| now.saturating_duration_since(t) >= offline_after);
            // Run 0 is every version-1 edge's: never ended for good (an edge may be rolled back).
            if (run != 0 && self.ended.contains(&run)) || !(later || silent) {
                return Run::Ended;
            }
            if self.run != 0 {
                if self.ended.len() >= ENDED_RUNS {
                    self.ended.pop_front();
                }
                self.ended.push_back(self.run);
            }
            self.run = run;
            self.reset(capture_ts_us);
            Run::New
        } else if run != 0 {
            Run::Current
        } else if self.run_start_us.is_some_and(|start| capture_ts_us < start) {
            return Run::Ended;
        } else {
            match self.newest {
                Some((s, t)) if seq < s && capture_ts_us > t.saturating_add(NEW_RUN_MIN_GAP_US) => {
                    self.reset(capture_ts_us);
                    Run::New
                }
                _ => Run::Current,
            }
        };
        self.run_heard = Some(now);
        if verdict == Run::New || self.newest.is_none_or(|(_, t)| capture_ts_us >= t) {
            self.newest = Some((seq, capture_ts_us));
        }
        verdict
    }

    /// Forgets the join state of the run that ended; the new one started at `start_us`.
    fn reset(&mut self, start_us: u64) {
        self.frames.clear();
        self.keypoints.clear();
        self.recent.clear();
        self.emitted_up_to = None;
        self.newest = None;
        self.run_start_us = Some(start_us);
    }

    fn remember(&mut self, k: Arc<KeypointMessage>) {
        let pos = self
            .recent
            .iter()
            .position(|r| r.seq > k.seq)
            .unwrap_or(self.recent.len());
        if self
            .recent
            .get(pos.wrapping_sub(1))
            .is_some_and(|r| r.seq == k.seq)
        {
            return;
        }
        self.recent.insert(pos, k);
        while self.recent.len() > RECENT_KEYPOINTS {
            self.recent.pop_front();
        }
    }

    /// The newest keypoints of an earlier frame, captured at most `max_age` before `capture_ts_us`.
    fn earlier(
        &self,
        seq: u64,
        capture_ts_us: u64,
        max_age: Duration,
    ) -> Option<Arc<KeypointMessage>> {
        let max_age_us = u64::try_from(max_age.as_micros()).unwrap_or(u64::MAX);
        self.recent
            .iter()
            .rev()
            .find(|k| k.seq < seq)
            .filter(|k| capture_ts_us.saturating_sub(k.capture_ts_us) <= max_age_us)
            .cloned()
    }

    fn in_privacy(&self, now: Instant, offline_after: Duration) -> bool {
        self.last_frame
            .is_none_or(|t| now.saturating_duration_since(t) >= offline_after)
    }
}

/// The joiner of all cameras.
pub struct Joiner {
    cfg: JoinConfig,
    cameras: HashMap<CameraId, Camera>,
    stats: JoinStats,
}

impl Joiner {
    pub fn new(cfg: JoinConfig) -> Self {
        Self {
            cfg,
            cameras: HashMap::new(),
            stats: JoinStats::default(),
        }
    }

    pub fn stats(&self) -> &JoinStats {
        &self.stats
    }

    /// Takes one message that arrived at `now`; appends what can be emitted to `out`.
    pub fn push(&mut self, msg: Incoming, now: Instant, out: &mut Vec<Joined>) {
        match msg {
            Incoming::Frame(f) => self.push_frame(f, now, out),
            Incoming::Keypoints(k) => self.push_keypoints(k, now, out),
        }
    }

    fn push_frame(&mut self, f: FrameMessage, now: Instant, out: &mut Vec<Joined>) {
        let cfg = self.cfg;
        let cam = self.cameras.entry(f.meta.camera_id.clone()).or_default();
        cam.last_message = Some(now);
        let seq = f.meta.seq;
        match cam.run_of(
            f.meta.run,
            seq,
            f.meta.capture_ts_us,
            now,
            cfg.offline_after,
        ) {
            Run::Ended => {
                self.stats.old_run += 1;
                return;
            }
            Run::New => self.stats.new_run += 1,
            Run::Current => {}
        }
        cam.last_frame = Some(now);
        if cam.emitted_up_to.is_some_and(|e| seq <= e) {
            self.stats.out_of_order += 1;
            return;
        }
        if let Some(k) = cam.keypoints.remove(&seq) {
            // Frames before this one will not get keypoints of their own any more.
            Self::flush_before(cam, &mut self.stats, cfg, seq, out);
            let k = Arc::new(k);
            cam.remember(k.clone());
            Self::emit(cam, &mut self.stats, f, Some(k), false, out);
            return;
        }
        cam.frames.insert(seq, (f, now));
        while cam.frames.len() > cfg.max_pending {
            self.stats.overflow += 1;
            if let Some((&oldest, _)) = cam.frames.iter().next() {
                Self::flush_before(cam, &mut self.stats, cfg, oldest + 1, out);
            }
        }
    }

    fn push_keypoints(&mut self, k: KeypointMessage, now: Instant, out: &mut Vec<Joined>) {
        let cfg = self.cfg;
        let cam = self.cameras.entry(k.camera_id.clone()).or_default();
        cam.last_message = Some(now);
        let seq = k.seq;
        match cam.run_of(k.run, seq, k.capture_ts_us, now, cfg.offline_after) {
            Run::Ended => {
                self.stats.old_run += 1;
                return;
            }
            Run::New => self.stats.new_run += 1,
            Run::Current => {}
        }
        if cam.emitted_up_to.is_some_and(|e| seq <= e) {
            self.stats.late += 1;
            cam.remember(Arc::new(k));
            return;
        }
        if let Some((f, _)) = cam.frames.remove(&seq) {
            Self::flush_before(cam, &mut self.stats, cfg, seq, out);
            let k = Arc::new(k);
            cam.remember(k.clone());
            Self::emit(cam, &mut self.stats, f, Some(k), false, out);
            return;
        }
        if !k.frame_published {
            let k = Arc::new(k);
            cam.remember(k.clone());
            if cam.in_privacy(now, cfg.offline_after) {
                self.stats.keypoints_only += 1;
                out.push(Joined {
                    camera_id: k.camera_id.clone(),
                    run: k.run,
                    seq,
                    capture_ts_us: k.capture_ts_us,
                    frame: None,
                    keypoints: Some(k),
                    stale: false,
                });
            }
            return;
        }
        cam.keypoints.insert(seq, k);
        while cam.keypoints.len() > cfg.max_pending {
            self.stats.overflow += 1;
            if let Some((_, oldest)) = cam.keypoints.pop_first() {
                cam.remember(Arc::new(oldest));
            }
        }
    }

    /// Emits the frames that waited `join_window` without their keypoints.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Joined>) {
        let cfg = self.cfg;
        for cam in self.cameras.values_mut() {
            let expired = cam
                .frames
                .iter()
                .filter(|(_, (_, at))| now.saturating_duration_since(*at) >= cfg.join_window)
                .map(|(&seq, _)| seq)
                .max();
            if let Some(seq) = expired {
                Self::flush_before(cam, &mut self.stats, cfg, seq + 1, out);
            }
        }
    }

    /// Emits, in order, every buffered frame with a seq below `seq`, with earlier keypoints.
    fn flush_before(
        cam: &mut Camera,
        stats: &mut JoinStats,
        cfg: JoinConfig,
        seq: u64,
        out: &mut Vec<Joined>,
    ) {
        let later = cam.frames.split_off(&seq);
        let waiting = std::mem::replace(&mut cam.frames, later);
        for (s, (f, _)) in waiting {
            let k = cam.earlier(s, f.meta.capture_ts_us, cfg.max_keypoint_age);
            Self::emit(cam, stats, f, k, true, out);
        }
    }

    fn emit(
        cam: &mut Camera,
        stats: &mut JoinStats,
        f: FrameMessage,
        k: Option<Arc<KeypointMessage>>,
        stale: bool,
        out: &mut Vec<Joined>,
    ) {
        match (&k, stale) {
            (Some(_), false) => stats.joined += 1,
            (Some(_), true) => stats.stale += 1,
            (None, _) => stats.bare += 1,
        }
        cam.emitted_up_to = Some(cam.emitted_up_to.map_or(f.meta.seq, |e| e.max(f.meta.seq)));
        // Keypoints waiting for frames that can no longer be shown are late.
        let stale_keys: Vec<u64> = cam
            .keypoints
            .range(..=f.meta.seq)
            .map(|(&s, _)| s)
            .collect();
        for s in stale_keys {
            if let Some(old) = cam.keypoints.remove(&s) {
                stats.late += 1;
                cam.remember(Arc::new(old));
            }
        }
        let stale = stale && k.is_some();
        out.push(Joined {
            camera_id: f.meta.camera_id.clone(),
            run: f.meta.run,
            seq: f.meta.seq,
            capture_ts_us: f.meta.capture_ts_us,
            frame: Some(Arc::new(f)),
            keypoints: k,
            stale,
        });
    }

    /// Each known camera's state at `now`.
    pub fn states(&self, now: Instant) -> Vec<(CameraId, CameraState)> {
        let mut v: Vec<(CameraId, CameraState)> = self
            .cameras
            .iter()
            .map(|(id, cam)| {
                let silent = cam
                    .last_message
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.offline_after);
                let state = if silent {
                    CameraState::Offline
                } else if cam.in_privacy(now, self.cfg.offline_after) {
                    CameraState::Privacy
                } else {
                    CameraState::Live
                };
                (id.clone(), state)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pose_shared::frame::FrameMeta;

    const CAM: &str = "cam-a";

    fn frame(seq: u64) -> Incoming {
        frame_at(seq, 1_000_000 + seq * 33_333)
    }

    /// A version-1 frame (run 0).
    fn frame_at(seq: u64, capture_ts_us: u64) -> Incoming {
        frame_of(0, seq, capture_ts_us)
    }

    fn frame_of(run: u64, seq: u64, capture_ts_us: u64) -> Incoming {
        Incoming::Frame(FrameMessage {
            meta: FrameMeta {
                camera_id: CameraId::new(CAM).unwrap(),
                run,
                seq,
                capture_ts_us,
                width: 32,
                height: 24,
            },
            jpeg: vec![0xFF, 0xD8, 0xFF],
        })
    }

    fn kp(seq: u64, frame_published: bool) -> Incoming {
        kp_at(seq, 1_000_000 + seq * 33_333, frame_published)
    }

    /// Version-1 keypoints (run 0).
    fn kp_at(seq: u64, capture_ts_us: u64, frame_published: bool) -> Incoming {
        kp_of(0, seq, capture_ts_us, frame_published)
    }

    fn kp_of(run: u64, seq: u64, capture_ts_us: u64, frame_published: bool) -> Incoming {
        Incoming::Keypoints(KeypointMessage {
            camera_id: CameraId::new(CAM).unwrap(),
            run,
            seq,
            capture_ts_us,
            inference_us: 1,
            width: 32,
            height: 24,
            frame_published,
            poses: vec![],
        })
    }

    /// (seq, has frame, keypoints seq, stale) of each output.
    fn summary(out: &[Joined]) -> Vec<(u64, bool, Option<u64>, bool)> {
        out.iter()
            .map(|j| {
                (
                    j.seq,
                    j.frame.is_some(),
                    j.keypoints.as_ref().map(|k| k.seq),
                    j.stale,
                )
            })
            .collect()
    }

    /// A start time, an empty joiner and an empty output.
    fn fresh(cfg: JoinConfig) -> (Instant, Joiner, Vec<Joined>) {
        (Instant::now(), Joiner::new(cfg), Vec::new())
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn frame_and_keypoints_join_in_either_order() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(1), t0, &mut out);
        assert!(out.is_empty(), "the frame waits for its keypoints");
        j.push(kp(1, true), ms(t0, 20), &mut out);
        j.push(kp(2, true), ms(t0, 40), &mut out);
        j.push(frame(2), ms(t0, 50), &mut out);
        assert_eq!(
            summary(&out),
            vec![(1, true, Some(1), false), (2, true, Some(2), false)]
        );
        assert_eq!(j.stats().joined, 2);
    }

    #[test]
    fn a_frame_without_keypoints_waits_the_window_then_takes_earlier_ones_as_stale() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(1), t0, &mut out);
        j.push(kp(1, true), t0, &mut out);
        j.push(frame(2), ms(t0, 33), &mut out); // inference skipped frame 2
        j.tick(ms(t0, 100), &mut out);
        assert_eq!(out.len(), 1, "still inside the 150 ms window");
        j.tick(ms(t0, 200), &mut out);
        assert_eq!(
            summary(&out),
            vec![(1, true, Some(1), false), (2, true, Some(1), true)]
        );
        assert_eq!(j.stats().stale, 1);
    }

    #[test]
    fn keypoints_for_a_later_frame_release_earlier_frames_at_once() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(1), t0, &mut out);
        j.push(kp(1, true), t0, &mut out);
        for s in 2..=4 {
            j.push(frame(s), ms(t0, s * 33), &mut out);
        }
        // Keypoints are in order per camera: once 4 arrives, 2 and 3 will never get their own.
        j.push(kp(4, true), ms(t0, 140), &mut out);
        assert_eq!(
            summary(&out),
            vec![
                (1, true, Some(1), false),
                (2, true, Some(1), true),
                (3, true, Some(1), true),
                (4, true, Some(4), false)
            ]
        );
    }

    #[test]
    fn old_keypoints_are_not_drawn_and_late_ones_are_counted() {
        let cfg = JoinConfig {
            max_keypoint_age: Duration::from_millis(100),
            ..Default::default()
        };
        let (t0, mut j, mut out) = fresh(cfg);
        j.push(frame(1), t0, &mut out);
        j.push(kp(1, true), t0, &mut out);
        j.push(frame(10), ms(t0, 300), &mut out); // captured 300 ms after frame 1
        j.tick(ms(t0, 500), &mut out);
        assert_eq!(
            summary(&out)[1],
            (10, true, None, false),
            "keypoints older than 100 ms are not drawn"
        );
        assert_eq!(j.stats().bare, 1);
        j.push(kp(10, true), ms(t0, 600), &mut out);
        assert_eq!(j.stats().late, 1, "its frame was already shown");
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn frames_older_than_the_last_shown_are_dropped() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(5), t0, &mut out);
        j.push(kp(5, true), t0, &mut out);
        j.push(frame(4), ms(t0, 10), &mut out);
        assert_eq!(j.stats().out_of_order, 1);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn privacy_camera_emits_keypoints_alone() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        for s in 0..3 {
            j.push(kp(s, false), ms(t0, s * 33), &mut out);
        }
        assert_eq!(
            summary(&out),
            vec![
                (0, false, Some(0), false),
                (1, false, Some(1), false),
                (2, false, Some(2), false)
            ]
        );
        assert_eq!(
            j.states(ms(t0, 100)),
            vec![(CameraId::new(CAM).unwrap(), CameraState::Privacy)]
        );
        assert_eq!(
            j.states(ms(t0, 5_000)),
            vec![(CameraId::new(CAM).unwrap(), CameraState::Offline)]
        );
    }

    #[test]
    fn keypoints_without_a_jpeg_on_a_live_camera_serve_the_next_frame() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(0), t0, &mut out);
        j.push(kp(0, true), t0, &mut out);
        j.push(kp(1, false), ms(t0, 33), &mut out); // JPEG rate limit: no frame 1
        j.push(frame(2), ms(t0, 66), &mut out);
        j.tick(ms(t0, 300), &mut out);
        assert_eq!(
            summary(&out),
            vec![(0, true, Some(0), false), (2, true, Some(1), true)]
        );
        assert_eq!(
            j.states(ms(t0, 300)),
            vec![(CameraId::new(CAM).unwrap(), CameraState::Live)]
        );
    }

    #[test]
    fn buffers_stay_bounded() {
        let cfg = JoinConfig {
            max_pending: 4,
            ..Default::default()
        };
        let (t0, mut j, mut out) = fresh(cfg);
        for s in 0..100 {
            j.push(frame(s), t0, &mut out); // no keypoints, no tick
        }
        assert_eq!(out.len(), 96, "the oldest frames are pushed out, in order");
        assert!(out.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(j.stats().overflow, 96);
        let mut out2 = Vec::new();
        for s in 200..300 {
            j.push(kp(s, true), t0, &mut out2); // keypoints whose frames never come
        }
        assert!(
            j.cameras
                .values()
                .all(|c| c.keypoints.len() <= 4 && c.recent.len() <= RECENT_KEYPOINTS)
        );
    }

    /// Capture time of `seq` in a run that started at `start_us`.
    fn ts(start_us: u64, seq: u64) -> u64 {
        start_us + seq * 33_333
    }

    #[test]
    fn a_restarted_edge_is_joined_again_at_once_with_nothing_of_the_old_run() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        // The first run reaches seq 500, with keypoints waiting for frames 501-502 and a frame.
        let old = 1_000_000;
        for s in 495..=500 {
            j.push(frame_at(s, ts(old, s)), t0, &mut out);
            j.push(kp_at(s, ts(old, s), true), t0, &mut out);
        }
        j.push(kp_at(501, ts(old, 501), true), t0, &mut out);
        j.push(frame_at(502, ts(old, 502)), t0, &mut out);
        assert_eq!(out.len(), 6);
        out.clear();
        // The edge restarts: seq from 0, capture times later than anything before.
        let new = ts(old, 502) + 2_000_000;
        j.push(frame_at(0, ts(new, 0)), ms(t0, 2_000), &mut out);
        j.push(frame_at(1, ts(new, 1)), ms(t0, 2_033), &mut out);
        j.push(kp_at(1, ts(new, 1), true), ms(t0, 2_040), &mut out);
        j.tick(ms(t0, 2_300), &mut out);
        assert_eq!(
            summary(&out),
            vec![(0, true, None, false), (1, true, Some(1), false)],
            "shown at once, and no keypoints of the old run on frame 0"
        );
        assert_eq!(j.stats().new_run, 1);
        assert_eq!(j.stats().out_of_order, 0);
        // A message of the old run still in flight is dropped, not joined with the new run.
        out.clear();
        j.push(kp_at(502, ts(old, 502), true), ms(t0, 2_400), &mut out);
        j.push(frame_at(2, ts(new, 2)), ms(t0, 2_400), &mut out);
        j.tick(ms(t0, 2_600), &mut out);
        assert_eq!(summary(&out), vec![(2, true, Some(1), true)]);
        assert_eq!(j.stats().old_run, 1);
        assert_eq!(
            j.states(ms(t0, 2_600)),
            vec![(CameraId::new(CAM).unwrap(), CameraState::Live)]
        );
    }

    #[test]
    fn two_quick_restarts_each_start_a_new_run() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        let runs = [1_000_000, 60_000_000, 61_000_000];
        for (i, start) in runs.into_iter().enumerate() {
            let at = ms(t0, 1_000 * i as u64);
            let before = out.len();
            for s in 0..3 {
                j.push(kp_at(s, ts(start, s), true), at, &mut out);
                j.push(frame_at(s, ts(start, s)), at, &mut out);
            }
            assert_eq!(out.len() - before, 3, "run {i} is shown");
        }
        assert_eq!(j.stats().new_run, 2);
        // The second run's last keypoints, delivered after the third run began: dropped.
        j.push(kp_at(3, ts(runs[1], 3), true), ms(t0, 3_000), &mut out);
        assert_eq!(j.stats().old_run, 1);
        assert_eq!(j.stats().late + j.stats().out_of_order, 0);
    }

    #[test]
    fn a_resent_frame_stamped_a_moment_later_is_not_a_restart() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        j.push(frame(6), t0, &mut out);
        j.push(kp(6, true), t0, &mut out);
        j.push(frame_at(5, ts(1_000_000, 6) + 2_000), t0, &mut out);
        assert_eq!(j.stats().new_run, 0);
        assert_eq!(j.stats().out_of_order, 1);
    }

    #[test]
    fn keypoints_arriving_before_their_frames_do_not_look_like_a_restart() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        for s in 0..5 {
            j.push(kp(s, true), t0, &mut out);
        }
        for s in 0..5 {
            j.push(frame(s), t0, &mut out);
        }
        assert_eq!(out.len(), 5);
        assert_eq!(j.stats().joined, 5);
        assert_eq!(j.stats().new_run, 0);
    }

    /// Pushes frame and keypoints of `seqs` of `run` (captured from `start_us`) at `at`.
    fn push_run(
        j: &mut Joiner,
        run: u64,
        start_us: u64,
        seqs: std::ops::Range<u64>,
        at: Instant,
        out: &mut Vec<Joined>,
    ) {
        for s in seqs {
            j.push(kp_of(run, s, ts(start_us, s), true), at, out);
            j.push(frame_of(run, s, ts(start_us, s)), at, out);
        }
    }

    #[test]
    fn a_new_run_id_is_a_restart_at_once_and_the_old_runs_messages_are_dropped() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        let (a, b) = (0x1234_5678_9ABC, 0x0FED_CBA9_8765);
        push_run(&mut j, a, 1_000_000, 495..501, t0, &mut out);
        assert_eq!(out.len(), 6);
        assert!(out.iter().all(|o| o.run == a));
        out.clear();
        // The restarted edge: seq from 0, a new run, captured only 10 ms after the old run's
        // newest frame (less than the version-1 rule's 50 ms): the run id is enough.
        let new = ts(1_000_000, 500) + 10_000;
        push_run(&mut j, b, new, 0..3, ms(t0, 100), &mut out);
        assert_eq!(
            summary(&out),
            vec![
                (0, true, Some(0), false),
                (1, true, Some(1), false),
                (2, true, Some(2), false)
            ]
        );
        assert!(out.iter().all(|o| o.run == b));
        assert_eq!(j.stats().new_run, 1);
        // The old run's keypoints and frame still in flight: dropped, though their seq (501) is
        // ahead of the new run's and a version-1 join would have taken them as newer.
        out.clear();
        j.push(
            kp_of(a, 501, ts(1_000_000, 501), true),
            ms(t0, 120),
            &mut out,
        );
        j.push(frame_of(a, 501, ts(1_000_000, 501)), ms(t0, 120), &mut out);
        j.tick(ms(t0, 400), &mut out);
        assert!(out.is_empty(), "{:?}", summary(&out));
        assert_eq!(j.stats().old_run, 2);
        assert_eq!(j.stats().late + j.stats().out_of_order, 0);
    }

    #[test]
    fn within_one_run_only_the_seq_counts_whatever_the_capture_time() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        let run = 77;
        push_run(&mut j, run, 1_000_000, 5..7, t0, &mut out);
        // A seq that goes back with a much later stamp: for version 1 a restart, for version 2
        // (same run) just an old frame.
        j.push(frame_of(run, 3, 90_000_000), ms(t0, 10), &mut out);
        assert_eq!(j.stats().new_run, 0);
        assert_eq!(j.stats().out_of_order, 1);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn an_upgrade_from_a_version_1_edge_is_a_new_run() {
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        push_run(&mut j, 0, 1_000_000, 100..103, t0, &mut out);
        let new = ts(1_000_000, 103) + 5_000_000;
        push_run(&mut j, 42, new, 0..2, ms(t0, 5_000), &mut out);
        assert_eq!(j.stats().new_run, 1);
        assert_eq!(out.len(), 5);
        assert_eq!(
            out.iter().map(|o| (o.run, o.seq)).collect::<Vec<_>>(),
            vec![(0, 100), (0, 101), (0, 102), (42, 0), (42, 1)]
        );
        // A version-1 message still in flight, captured before the new run: dropped.
        j.push(
            kp_at(103, ts(1_000_000, 103), true),
            ms(t0, 5_010),
            &mut out,
        );
        assert_eq!(j.stats().old_run, 1);
        // Rolled back to the version-1 edge: run 0 again, captured later, is a new run again.
        let back = ts(new, 2) + 5_000_000;
        out.clear();
        push_run(&mut j, 0, back, 0..2, ms(t0, 10_000), &mut out);
        assert_eq!(j.stats().new_run, 2);
        assert_eq!(
            out.iter().map(|o| (o.run, o.seq)).collect::<Vec<_>>(),
            vec![(0, 0), (0, 1)]
        );
        // ... and the version-2 run it replaced is over.
        j.push(kp_of(42, 2, ts(new, 2), true), ms(t0, 10_010), &mut out);
        assert_eq!(j.stats().old_run, 2);
    }

    #[test]
    fn a_new_run_stamped_earlier_waits_until_the_old_run_falls_silent() {
        // An edge whose clock stepped back across its restart: the new run's first messages look
        // older than the old run's newest. While the old run may still be talking they are taken
        // for stragglers; once it has been silent for offline_after, the new run is joined.
        let (t0, mut j, mut out) = fresh(JoinConfig::default());
        push_run(&mut j, 1, 50_000_000, 0..3, t0, &mut out);
        out.clear();
        push_run(&mut j, 2, 10_000_000, 0..1, ms(t0, 500), &mut out);
        assert!(out.is_empty());
        assert_eq!(j.stats().old_run, 2);
        push_run(&mut j, 2, 10_000_000, 1..3, ms(t0, 3_500), &mut out);
        assert_eq!(j.stats().new_run, 1);
        assert_eq!(
            out.iter().map(|o| (o.run, o.seq)).collect::<Vec<_>>(),
            vec![(2, 1), (2, 2)]
        );
        // Run 1 is over now: a message of it is dropped, however late its stamp.
        j.push(kp_of(1, 3, 99_000_000, true), ms(t0, 3_600), &mut out);
        assert_eq!(j.stats().old_run, 3);
        assert_eq!(j.stats().new_run, 1);
    }
}
