//! Per-camera bookkeeping of what the consumer received, for the periodic status log.

use std::collections::BTreeMap;

use pose_shared::CameraId;
use pose_shared::time::now_us;

use crate::consume::Incoming;

/// What one camera sent since the last report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CameraTally {
    pub keypoints: u64,
    pub frames: u64,
    pub poses: u64,
    pub last_seq: Option<u64>,
    /// Sum of (receive time − capture time), µs, over the messages counted.
    latency_sum_us: u64,
    latency_n: u64,
}

impl CameraTally {
    /// Mean capture-to-receive latency in ms (needs the edge and cloud clocks in sync).
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.latency_n > 0).then(|| self.latency_sum_us as f64 / self.latency_n as f64 / 1e3)
    }
}

/// Tallies by camera.
#[derive(Debug, Default)]
pub struct Tally {
    cameras: BTreeMap<CameraId, CameraTally>,
}

impl Tally {
    pub fn add(&mut self, m: &Incoming) {
        let (camera, seq, ts) = match m {
            Incoming::Keypoints(k) => (&k.camera_id, k.seq, k.capture_ts_us),
            Incoming::Frame(f) => (&f.meta.camera_id, f.meta.seq, f.meta.capture_ts_us),
        };
        let t = self.cameras.entry(camera.clone()).or_default();
        match m {
            Incoming::Keypoints(k) => {
                t.keypoints += 1;
                t.poses += k.poses.len() as u64;
            }
            Incoming::Frame(_) => t.frames += 1,
        }
        t.last_seq = Some(t.last_seq.map_or(seq, |s| s.max(seq)));
        t.latency_sum_us += now_us().saturating_sub(ts);
        t.latency_n += 1;
    }

    /// Returns the tallies since the last call and starts new ones.
    pub fn take(&mut self) -> BTreeMap<CameraId, CameraTally> {
        std::mem::take(&mut self.cameras)
    }
}

/// The service's status line (consumer, join and render counters) and one line per camera.
pub fn log_cameras(state: &crate::serve::AppState) {
    let c = &state.consume;
    let j = state.join.lock().unwrap_or_else(|p| p.into_inner()).clone();
    tracing::info!(
        keypoints = c.keypoints.get(),
        frames = c.frames.get(),
        keypoint_errors = c.keypoint_errors.get(),
        frame_errors = c.frame_errors.get(),
        kafka_errors = c.kafka_errors.get(),
        joined = j.joined,
        stale = j.stale,
        late = j.late,
        edge_restarts = j.new_run,
        old_run = j.old_run,
        render_errors = state.telemetry.render_errors.get(),
        "status"
    );
    for cam in state.hub.cameras(std::time::Instant::now()) {
        tracing::info!(camera = %cam.id, state = cam.state, last_seen_s = cam.last_seen_s,
            fps = cam.fps, latency_ms = cam.latency_ms, viewers = cam.viewers, "camera");
    }
}
