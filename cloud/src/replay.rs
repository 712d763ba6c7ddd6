//! Replay: plays a camera's recorded frames and keypoints back from Kafka's retention, joined
//! and drawn exactly as live (the same [`Joiner`] rules and [`render::draw`]), at the recorded
//! pace times a speed.
//!
//! Each replay reads through its own bounded [`History`] (assigned partitions, never the live
//! consumer group). Cost is bounded: at most `replay.max_concurrent` replays at once (others are
//! refused), each draws at most `replay.max_fps` frames per second of wall time whatever its
//! speed (the frames in between are joined but not drawn), all replays together draw on at most
//! half the cores (the live render workers keep the rest), and a replay stops as soon as its
//! viewer leaves (the control channel closes).
//!
//! The join runs on a virtual clock: a message "arrives" at its capture time, so the join window
//! and the stale-keypoint age mean the same recorded time at any speed, and a privacy camera's
//! keypoints are drawn as stick figures as they are live.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pose_shared::CameraId;
use pose_shared::kafka::KafkaSettings;
use pose_shared::topics::Topics;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::history::{History, HistoryError, Start, Timed};
use crate::join::{JoinConfig, Joined, Joiner};
use crate::render::{self, Rendered};
use crate::retained::Retained;
use crate::timespec;

/// Replay and export settings (`[replay]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplaySettings {
    /// Replays and exports running at once; more are refused (HTTP 503) until one ends.
    pub max_concurrent: usize,
    /// Most frames a replay draws per second of wall time (at 8x, every 8th frame or so of a
    /// 30 fps camera is drawn; the pace stays the recorded one).
    pub max_fps: f64,
    /// What each replay's Kafka consumers prefetch at most, KiB (split between the topics).
    pub prefetch_kbytes: u32,
    /// Longest export through the viewer, seconds (the command line has no limit).
    pub max_export_s: u64,
    /// How often the retained ranges are read from Kafka, seconds.
    pub retained_refresh_s: u64,
}

impl Default for ReplaySettings {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            max_fps: 30.0,
            prefetch_kbytes: 4096,
            max_export_s: 600,
            retained_refresh_s: 10,
        }
    }
}

impl ReplaySettings {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.max_fps.is_finite() && self.max_fps >= 1.0) {
            return Err(format!("replay.max_fps {} must be 1 or more", self.max_fps));
        }
        if self.prefetch_kbytes < 512 {
            return Err(format!(
                "replay.prefetch_kbytes {} must be 512 or more",
                self.prefetch_kbytes
            ));
        }
        Ok(())
    }
}

/// `[replay]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ReplayFlags {
    /// Replays and exports at once; more are refused [default: 4]
    #[arg(long = "max-replays", global = true)]
    #[serde(rename = "max_concurrent")]
    pub max_replays: Option<usize>,
}

/// Slowest and fastest speed a replay accepts.
pub const SPEEDS: std::ops::RangeInclusive<f64> = 0.25..=16.0;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ReplayStats {
    pub started: AtomicU64,
    pub refused: AtomicU64,
    pub exports: AtomicU64,
    pub frames_drawn: AtomicU64,
    /// Joined frames not drawn: over `max_fps`, or overdue behind a slow viewer.
    pub frames_skipped: AtomicU64,
}

/// What replays and exports share: Kafka, the join and drawing settings, the slots.
pub struct Replays {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub join: JoinConfig,
    pub quality: u8,
    pub settings: ReplaySettings,
    pub retained: Arc<Retained>,
    pub stats: ReplayStats,
    slots: Arc<Semaphore>,
    /// Replays draw on at most half the cores together (at least one), so that however many
    /// replay, the live view keeps the other half.
    drawing: Arc<Semaphore>,
}

/// A replay refused because `max_concurrent` are running.
#[derive(Debug, thiserror::Error)]
#[error("{0} replays or exports are running already (replay.max_concurrent); try again later")]
pub struct Busy(pub usize);

impl Replays {
    pub fn new(
        kafka: &KafkaSettings,
        topics: &Topics,
        join: JoinConfig,
        quality: u8,
        settings: ReplaySettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            kafka: kafka.clone(),
            topics: topics.clone(),
            join,
            quality,
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
            drawing: Arc::new(Semaphore::new(
                (crate::renderers::Renderers::default_parallelism() / 2).max(1),
            )),
            retained: Retained::new(kafka, topics),
            stats: ReplayStats::default(),
            settings,
        })
    }

    /// A slot for one replay or export, held until the permit is dropped.
    pub fn try_slot(&self) -> Result<OwnedSemaphorePermit, Busy> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            Busy(self.settings.max_concurrent)
        })
    }

    /// Replays and exports running now.
    pub fn active(&self) -> usize {
        self.settings
            .max_concurrent
            .saturating_sub(self.slots.available_permits())
    }
}

/// What the viewer can change while a replay plays (a new start time is a new replay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    Speed(f64),
    Playing(bool),
}

/// The media clock: recorded time `m0` was shown at `r0`, and time runs at `speed` while playing.
#[derive(Debug, Clone, Copy)]
struct Clock {
    r0: Instant,
    m0: u64,
    speed: f64,
    playing: bool,
}

impl Clock {
    fn media_now(&self, now: Instant) -> u64 {
        if !self.playing {
            return self.m0;
        }
        let run = now.saturating_duration_since(self.r0).as_secs_f64() * self.speed;
        self.m0.saturating_add((run * 1e6) as u64)
    }

    /// When recorded time `m` is due, if playing.
    fn due(&self, m: u64) -> Option<Instant> {
        self.playing.then(|| {
            let ahead_us = m.saturating_sub(self.m0) as f64 / self.speed;
            // A capture time centuries ahead (a bad edge clock) is due "much later", not a panic.
            let ahead = Duration::from_micros((ahead_us as u64).min(FAR_US));
            self.r0.checked_add(ahead).unwrap_or(self.r0)
        })
    }

    fn rebase(&mut self, now: Instant) {
        self.m0 = self.media_now(now);
        self.r0 = now;
    }

    fn apply(&mut self, c: Control, now: Instant) {
        self.rebase(now);
        match c {
            Control::Speed(s) if SPEEDS.contains(&s) => self.speed = s,
            Control::Speed(_) => {}
            Control::Playing(p) => self.playing = p,
        }
    }
}

/// At most `rate` frames per second of wall time, with a burst of two (so that a camera at the
/// rate itself, whose frames come with some jitter, loses none).
struct RateLimit {
    tokens: f64,
    at: Instant,
    rate: f64,
}

impl RateLimit {
    fn new(rate: f64) -> Self {
        Self {
            tokens: 2.0,
            at: Instant::now(),
            rate: rate.max(1.0),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(2.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A bound on durations computed from capture times (a year), so that absurd stamps from a
/// device cannot overflow an `Instant`.
const FAR_US: u64 = 365 * 86_400 * 1_000_000;

/// A recorded stretch longer than this without messages is skipped rather than waited through.
const SKIP_GAP_US: u64 = 2_000_000;
/// How often the join's waiting frames are checked against the media clock.
const TICK: Duration = Duration::from_millis(20);
/// A drawn frame later than this (wall time) behind the media clock is not sent: the viewer is
/// slow, and the next one is more useful.
const OVERDUE: Duration = Duration::from_millis(500);

/// The virtual arrival instants of the join: recorded time `m` maps to `origin + (m - base)`.
#[derive(Clone, Copy)]
pub(crate) struct Virtual {
    origin: Instant,
    base_us: u64,
}

impl Virtual {
    pub(crate) fn new(from_us: u64) -> Self {
        Self {
            origin: Instant::now(),
            base_us: from_us.saturating_sub(3_600_000_000),
        }
    }

    pub(crate) fn at(&self, m: u64) -> Instant {
        let d = Duration::from_micros(m.saturating_sub(self.base_us).min(FAR_US));
        self.origin.checked_add(d).unwrap_or(self.origin)
    }
}

/// Where the readers start for a replay or export from `from_us`: keypoints a little earlier,
/// so the first frames have keypoints to be drawn with (as stale, as live does).
pub(crate) fn start_at(from_us: u64, join: &JoinConfig) -> Start {
    let age = u64::try_from(join.max_keypoint_age.as_micros()).unwrap_or(0);
    Start {
        frames_ms: (from_us / 1000) as i64,
        keypoints_ms: (from_us.saturating_sub(age) / 1000) as i64,
    }
}

/// The overlay caption of a replayed frame: camera, recorded time (UTC) and speed.
fn caption(camera: &CameraId, capture_ts_us: u64, speed: f64) -> String {
    let t = timespec::format(capture_ts_us);
    let clock = t.split('T').nth(1).unwrap_or(&t).trim_end_matches('Z');
    format!("{camera} REPLAY {clock} UTC {speed}X")
}

/// Plays `camera` from `from_us` at `speed` until `control` closes (the viewer left) or `out`
/// does: drawn frames go to `out` one at a time (its capacity is the only buffer).
pub async fn play(
    r: Arc<Replays>,
    camera: CameraId,
    from_us: u64,
    speed: f64,
    mut control: mpsc::Receiver<Control>,
    out: mpsc::Sender<Arc<Rendered>>,
) -> Result<(), HistoryError> {
    let mut history = History::open(
        &r.kafka,
        &r.topics,
        &camera,
        start_at(from_us, &r.join),
        r.settings.prefetch_kbytes,
        Duration::from_millis(300),
    )
    .await?;
    r.stats.started.fetch_add(1, Ordering::Relaxed);
    let virt = Virtual::new(from_us);
    let mut clock = Clock {
        r0: Instant::now(),
        m0: from_us,
        speed: speed.clamp(*SPEEDS.start(), *SPEEDS.end()),
        playing: true,
    };
    let mut joiner = Joiner::new(r.join);
    let mut joined: Vec<Joined> = Vec::new();
    let mut pending: Option<Timed> = None;
    let mut ended = false;
    let mut last_drawn: Option<u64> = None;
    let mut limit = RateLimit::new(r.settings.max_fps);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let due = pending
            .as_ref()
            .and_then(|t| clock.due(t.msg.capture_ts_us()));
        tokio::select! {
            c = control.recv() => match c {
                Some(c) => clock.apply(c, Instant::now()),
                None => break,
            },
            t = history.next(), if pending.is_none() && !ended => match t {
                Some(t) => {
                    let (m, now) = (t.msg.capture_ts_us(), Instant::now());
                    if clock.playing && m > clock.media_now(now).saturating_add(SKIP_GAP_US) {
                        clock.m0 = m; // nothing recorded in between: skip the silence
                        clock.r0 = now;
                    }
                    pending = Some(t);
                }
                None => ended = true,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()), if due.is_some() => {
                if let Some(t) = pending.take() {
                    let m = t.msg.capture_ts_us();
                    joiner.push(t.msg, virt.at(m), &mut joined);
                }
            }
            _ = tick.tick() => joiner.tick(virt.at(clock.media_now(Instant::now())), &mut joined),
        }
        for j in joined.drain(..) {
            if j.capture_ts_us < from_us {
                continue; // keypoints read early for stale drawing, never shown on their own
            }
            let now = Instant::now();
            let behind_us =
                clock.media_now(now).saturating_sub(j.capture_ts_us) as f64 / clock.speed;
            let overdue = last_drawn.is_some() && behind_us > OVERDUE.as_micros() as f64;
            if overdue || !limit.take(now) {
                r.stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            last_drawn = Some(j.capture_ts_us);
            let (text, quality) = (caption(&camera, j.capture_ts_us, clock.speed), r.quality);
            let Ok(core) = r.drawing.clone().acquire_owned().await else {
                break;
            };
            let drawn = tokio::task::spawn_blocking(move || {
                let drawn = render::draw(&j, &text, quality);
                drop(core);
                drawn
            })
            .await;
            let frame = match drawn {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "replay: frame not drawn");
                    continue;
                }
                Err(_) => continue,
            };
            r.stats.frames_drawn.fetch_add(1, Ordering::Relaxed);
            if out.send(Arc::new(frame)).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_clock_follows_speed_and_pause() {
        let t0 = Instant::now();
        let mut c = Clock {
            r0: t0,
            m0: 1_000_000,
            speed: 4.0,
            playing: true,
        };
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(c.media_now(at(500)), 3_000_000);
        assert_eq!(c.due(3_000_000), Some(at(500)));
        c.apply(Control::Playing(false), at(500));
        assert_eq!(c.media_now(at(9_000)), 3_000_000, "paused");
        assert_eq!(c.due(4_000_000), None);
        c.apply(Control::Playing(true), at(9_000));
        c.apply(Control::Speed(1.0), at(9_000));
        assert_eq!(c.media_now(at(10_000)), 4_000_000);
        c.apply(Control::Speed(1000.0), at(10_000));
        assert_eq!(c.speed, 1.0, "out of range: ignored");
        assert!(
            c.due(u64::MAX).is_some(),
            "an absurd stamp does not overflow"
        );
        let v = Virtual::new(0);
        assert!(v.at(u64::MAX) > v.at(1));
    }

    #[test]
    fn the_rate_limit_passes_its_rate_with_jitter_and_cuts_above() {
        let t0 = Instant::now();
        let mut l = RateLimit::new(30.0);
        l.at = t0;
        // 30 fps with 5 ms of jitter: all pass.
        let jittered = (0..90u64).filter(|&i| {
            let ms = i * 1000 / 30 + if i % 2 == 0 { 5 } else { 0 };
            l.take(t0 + Duration::from_millis(ms))
        });
        assert_eq!(jittered.count(), 90);
        // 240 fps (8x a 30 fps camera) for 3 s: about 30 per second pass.
        let mut l = RateLimit::new(30.0);
        l.at = t0;
        let passed = (0..720u64)
            .filter(|&i| l.take(t0 + Duration::from_micros(i * 1_000_000 / 240)))
            .count();
        assert!((89..=93).contains(&passed), "{passed}");
    }

    #[test]
    fn captions_carry_the_recorded_time_and_speed() {
        let cam = CameraId::new("door").unwrap();
        assert_eq!(
            caption(&cam, 1_796_299_200_250_000, 2.0),
            "door REPLAY 12:00:00.250 UTC 2X"
        );
        let s = start_at(10_000_000, &JoinConfig::default());
        assert_eq!((s.frames_ms, s.keypoints_ms), (10_000, 9_500));
    }
}
