//! Temporal smoothing of landmarks: MediaPipe's one-euro filter, low-pass visibility filter and
//! landmark smoother with object-scale normalization (blazepose.md §6).

use std::f32::consts::PI;

use super::landmarks::Lm;

/// `LowPassFilter`: the first value passes; then `a·v + (1 − a)·previous`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LowPass {
    stored: Option<f32>,
    raw: f32,
}

impl LowPass {
    pub fn apply(&mut self, v: f32, alpha: f32) -> f32 {
        let out = match self.stored {
            Some(prev) => alpha * v + (1.0 - alpha) * prev,
            None => v,
        };
        self.raw = v;
        self.stored = Some(out);
        out
    }

    fn last_raw(&self) -> Option<f32> {
        self.stored.map(|_| self.raw)
    }
}

/// Parameters of a one-euro filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    pub min_cutoff: f32,
    pub beta: f32,
    pub derivate_cutoff: f32,
}

/// Pose landmarks (normalized stream): min_cutoff 0.05, beta 80, derivate cutoff 1.
pub const LANDMARK_FILTER: OneEuroParams = OneEuroParams {
    min_cutoff: 0.05,
    beta: 80.0,
    derivate_cutoff: 1.0,
};
/// Auxiliary (ROI) landmarks: min_cutoff 0.01, beta 10, derivate cutoff 1.
pub const AUX_FILTER: OneEuroParams = OneEuroParams {
    min_cutoff: 0.01,
    beta: 10.0,
    derivate_cutoff: 1.0,
};
/// World landmarks (metres): min_cutoff 0.1, beta 40, derivate cutoff 1, no value scaling.
pub const WORLD_FILTER: OneEuroParams = OneEuroParams {
    min_cutoff: 0.1,
    beta: 40.0,
    derivate_cutoff: 1.0,
};
/// Visibility low-pass coefficient.
pub const VISIBILITY_ALPHA: f32 = 0.1;
/// Frequency assumed before two timestamps give one (`frequency` default).
const DEFAULT_FREQUENCY: f32 = 30.0;
const MIN_OBJECT_SCALE: f32 = 1e-6;

/// `OneEuroFilter` of MediaPipe (`util/filtering/one_euro_filter.cc`).
#[derive(Debug, Clone, Copy)]
pub struct OneEuro {
    p: OneEuroParams,
    frequency: f32,
    last_ts_us: Option<i64>,
    x: LowPass,
    dx: LowPass,
}

impl OneEuro {
    pub fn new(p: OneEuroParams) -> Self {
        Self {
            p,
            frequency: DEFAULT_FREQUENCY,
            last_ts_us: None,
            x: LowPass::default(),
            dx: LowPass::default(),
        }
    }

    fn alpha(&self, cutoff: f32) -> f32 {
        let te = 1.0 / self.frequency;
        let tau = 1.0 / (2.0 * PI * cutoff);
        1.0 / (1.0 + tau / te)
    }

    /// Filters `value` observed at `ts_us`; `value_scale` scales the derivative (1/object scale).
    /// A timestamp that does not increase returns `value` unfiltered, as MediaPipe does.
    pub fn apply(&mut self, ts_us: i64, value: f32, value_scale: f32) -> f32 {
        if let Some(last) = self.last_ts_us {
            if last >= ts_us {
                return value;
            }
            self.frequency = 1e6 / (ts_us - last) as f32;
        }
        self.last_ts_us = Some(ts_us);
        let dvalue = match self.x.last_raw() {
            Some(prev) => (value - prev) * value_scale * self.frequency,
            None => 0.0,
        };
        let edvalue = self.dx.apply(dvalue, self.alpha(self.p.derivate_cutoff));
        let cutoff = self.p.min_cutoff + self.p.beta * edvalue.abs();
        self.x.apply(value, self.alpha(cutoff))
    }
}

/// Smooths a fixed number of landmarks: visibility by low-pass (never reset, as in MediaPipe),
/// then x, y, z by one-euro filters in pixel space (reset when tracking is lost).
#[derive(Debug, Clone)]
pub struct LandmarkSmoother {
    params: OneEuroParams,
    coords: Vec<[OneEuro; 3]>,
    visibility: Vec<LowPass>,
}

impl LandmarkSmoother {
    pub fn new(n: usize, params: OneEuroParams) -> Self {
        Self {
            params,
            coords: vec![[OneEuro::new(params); 3]; n],
            visibility: vec![LowPass::default(); n],
        }
    }

    /// Forgets the coordinate filters' history (tracking lost); visibility keeps its state.
    pub fn reset(&mut self) {
        for f in &mut self.coords {
            *f = [OneEuro::new(self.params); 3];
        }
    }

    /// Smooths `lms` (normalized to a `width`×`height` image) in place. `object_scale` is the
    /// person's size in pixels; below 1e-6 the coordinates are left as they are.
    pub fn apply(
        &mut self,
        ts_us: i64,
        lms: &mut [Lm],
        width: u32,
        height: u32,
        object_scale: f32,
    ) {
        for (lm, f) in lms.iter_mut().zip(&mut self.visibility) {
            lm.visibility = f.apply(lm.visibility, VISIBILITY_ALPHA);
        }
        if object_scale < MIN_OBJECT_SCALE {
            return;
        }
        let scale = 1.0 / object_scale;
        let (w, h) = (width as f32, height as f32);
        for (lm, [fx, fy, fz]) in lms.iter_mut().zip(&mut self.coords) {
            lm.x = fx.apply(ts_us, lm.x * w, scale) / w;
            lm.y = fy.apply(ts_us, lm.y * h, scale) / h;
            lm.z = fz.apply(ts_us, lm.z * w, scale) / w;
        }
    }
}

impl LandmarkSmoother {
    /// Smooths world landmarks (metres) in place: x, y, z by one-euro filters without value
    /// scaling (`disable_value_scaling`); visibility is left to the caller (copied from the
    /// smoothed image landmarks, as MediaPipe's `VisibilityCopyCalculator` leads to).
    pub fn apply_world(&mut self, ts_us: i64, lms: &mut [Lm]) {
        for (lm, [fx, fy, fz]) in lms.iter_mut().zip(&mut self.coords) {
            lm.x = fx.apply(ts_us, lm.x, 1.0);
            lm.y = fy.apply(ts_us, lm.y, 1.0);
            lm.z = fz.apply(ts_us, lm.z, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphas_at_30_hz_match_the_graph_comments() {
        let f = OneEuro::new(LANDMARK_FILTER);
        assert!((f.alpha(0.05) - 0.0104).abs() < 1e-4);
        assert!((f.alpha(0.1) - 0.0205).abs() < 1e-4);
        assert!((f.alpha(0.01) - 0.0021).abs() < 1e-4);
        assert!((f.alpha(1.0) - 0.173).abs() < 1e-3);
    }

    #[test]
    fn first_sample_passes_and_a_constant_stays() {
        let mut f = OneEuro::new(LANDMARK_FILTER);
        assert_eq!(f.apply(0, 5.0, 1.0), 5.0);
        for i in 1..10 {
            assert!((f.apply(i * 33_333, 5.0, 1.0) - 5.0).abs() < 1e-6);
        }
    }

    #[test]
    fn follows_a_step_slowly_then_fast_with_beta() {
        // A jump of 100 px on an object 100 px tall: large derivative, large cutoff.
        let mut f = OneEuro::new(LANDMARK_FILTER);
        f.apply(0, 0.0, 0.01);
        let y1 = f.apply(33_333, 100.0, 0.01);
        // By hand: freq 30; dvalue = 100·0.01·30 = 30; the derivative filter held 0 from the
        // first sample, so edvalue = α(1)·30; cutoff = 0.05 + 80·edvalue.
        let alpha_d = 1.0 / (1.0 + 30.0 / (2.0 * PI * 1.0));
        let cutoff = 0.05 + 80.0 * alpha_d * 30.0;
        let alpha = 1.0 / (1.0 + 30.0 / (2.0 * PI * cutoff));
        assert!((y1 - 100.0 * alpha).abs() < 1e-3, "{y1}");
        // A tiny move on the same object barely moves the output.
        let mut g = OneEuro::new(LANDMARK_FILTER);
        g.apply(0, 0.0, 0.01);
        let y = g.apply(33_333, 0.1, 0.01);
        assert!(y < 0.1 && y > 0.0);
    }

    #[test]
    fn non_increasing_timestamps_pass_through() {
        let mut f = OneEuro::new(LANDMARK_FILTER);
        f.apply(100, 1.0, 1.0);
        assert_eq!(f.apply(100, 9.0, 1.0), 9.0);
        assert_eq!(f.apply(50, 7.0, 1.0), 7.0);
    }

    #[test]
    fn frequency_comes_from_timestamps() {
        let mut a = OneEuro::new(LANDMARK_FILTER);
        let mut b = OneEuro::new(LANDMARK_FILTER);
        a.apply(0, 0.0, 1.0);
        b.apply(0, 0.0, 1.0);
        let slow = a.apply(1_000_000, 1.0, 1.0); // 1 Hz: larger alpha per step
        let fast = b.apply(10_000, 1.0, 1.0); // 100 Hz
        assert!(slow > fast);
    }

    #[test]
    fn low_pass_and_smoother_reset() {
        let mut lp = LowPass::default();
        assert_eq!(lp.apply(1.0, 0.1), 1.0);
        assert!((lp.apply(0.0, 0.1) - 0.9).abs() < 1e-6);

        let mut s = LandmarkSmoother::new(1, LANDMARK_FILTER);
        let mut lms = [Lm {
            x: 0.5,
            y: 0.5,
            z: 0.0,
            visibility: 1.0,
            presence: 1.0,
        }];
        s.apply(0, &mut lms, 100, 100, 50.0);
        let mut moved = [Lm {
            x: 0.9,
            visibility: 0.0,
            ..lms[0]
        }];
        s.apply(33_333, &mut moved, 100, 100, 50.0);
        assert!(moved[0].x < 0.9 && moved[0].x > 0.5);
        assert!((moved[0].visibility - 0.9).abs() < 1e-6);
        s.reset();
        let mut again = [Lm {
            x: 0.9,
            visibility: 0.0,
            ..lms[0]
        }];
        s.apply(66_666, &mut again, 100, 100, 50.0);
        assert_eq!(again[0].x, 0.9, "after a reset the first sample passes");
        assert!(
            (again[0].visibility - 0.81).abs() < 1e-6,
            "visibility is not reset"
        );
    }
}
