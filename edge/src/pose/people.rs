//! Several people at once: the tracks (one per person, each with its own ROI and smoothing
//! filters and a track id never reused within a run), the detector's cadence, and the tests that
//! keep one person from being counted twice.
//!
//! Each track follows its person exactly as MediaPipe's single-person graph does (the next ROI
//! from the person's own smoothed auxiliary landmarks); with `max_people = 1` the result is the
//! single-person pipeline's, frame for frame (blazepose.md §2).

use std::time::Duration;

use super::detector::Detection;
use super::geometry::{NormRect, Point};
use super::landmarks::{AUX_CENTER, Lm, NUM_MODEL_LANDMARKS};
use super::smoothing::{AUX_FILTER, LANDMARK_FILTER, LandmarkSmoother, WORLD_FILTER};

use pose_shared::skeleton::NUM_LANDMARKS;

/// Landmark indices used to tell people apart.
const NOSE: usize = 0;
const LEFT_SHOULDER: usize = 11;
const RIGHT_SHOULDER: usize = 12;

/// A detection is the tracked person if its mid-hip and mid-shoulder keypoints are both within
/// this fraction of the person's ROI side (about 1.25 body heights) of the person's: 0.15 ≈ 0.19
/// of a body height, less than the hip distance of two people standing shoulder to shoulder
/// (≈ 0.25 body height).
const SAME_PERSON_KEYPOINTS: f32 = 0.15;
/// Two tracks are one person if their 33 landmarks are on average closer than this fraction of the
/// smaller ROI side (≈ 0.1 body height; two neighbours are ≈ 0.25 apart, one person tracked twice
/// is ≈ 0.01).
const DUPLICATE_LANDMARKS: f32 = 0.08;

/// How many people are followed and how often the detector looks for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeopleOptions {
    /// At most this many people per frame (at least 1).
    pub max_people: usize,
    /// While at least one person is tracked but fewer than `max_people`, the detector runs at
    /// most once per this interval (capture time). With nobody tracked it runs on every frame, as
    /// MediaPipe's single-person graph does.
    pub detect_interval: Duration,
}

impl PeopleOptions {
    /// MediaPipe's legacy solution: one person, the detector only when nobody is tracked.
    pub fn single() -> Self {
        Self {
            max_people: 1,
            detect_interval: Duration::ZERO,
        }
    }
}

impl Default for PeopleOptions {
    fn default() -> Self {
        Self::single()
    }
}

/// The three filter sets of one person (blazepose.md §6).
#[derive(Debug, Clone)]
pub struct Filters {
    pub landmarks: LandmarkSmoother,
    pub aux: LandmarkSmoother,
    pub world: LandmarkSmoother,
}

impl Filters {
    pub fn new() -> Self {
        Self {
            landmarks: LandmarkSmoother::new(NUM_LANDMARKS, LANDMARK_FILTER),
            aux: LandmarkSmoother::new(2, AUX_FILTER),
            world: LandmarkSmoother::new(NUM_LANDMARKS, WORLD_FILTER),
        }
    }

    /// Forgets the coordinate history; visibility filters keep theirs, as in MediaPipe.
    fn reset(&mut self) {
        self.landmarks.reset();
        self.aux.reset();
        self.world.reset();
    }
}

impl Default for Filters {
    fn default() -> Self {
        Self::new()
    }
}

/// One followed person.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u32,
    /// Where the landmark model looks on the next frame.
    pub next_roi: NormRect,
    /// The ROI the landmarks of the current frame came from.
    pub roi: NormRect,
    pub filters: Filters,
    /// This frame's (smoothed) landmarks, image-normalized, and the landmark model's pose flag.
    pub landmarks: [Lm; NUM_MODEL_LANDMARKS],
    /// This frame's (smoothed) world landmarks: metres, hip-centred.
    pub world: [Lm; NUM_LANDMARKS],
    pub score: f32,
}

impl Track {
    /// ROI side in pixels (the longer of the two, the ROI being square in pixels).
    fn side_px(&self, width: u32, height: u32) -> f32 {
        (self.roi.width * width as f32).max(self.roi.height * height as f32)
    }
}

/// The tracks of one estimator, the id counter and the detector's clock.
#[derive(Debug, Default)]
pub struct People {
    pub opts: PeopleOptions,
    pub tracks: Vec<Track>,
    next_id: u32,
    last_detection_us: Option<i64>,
    /// Filters of ended tracks, reused by new ones: MediaPipe's single-person graph keeps its
    /// visibility filters across a loss of tracking, and so does a track that replaces another.
    spare: Vec<Filters>,
}

impl People {
    pub fn new(opts: PeopleOptions) -> Self {
        Self {
            opts: PeopleOptions {
                max_people: opts.max_people.max(1),
                ..opts
            },
            ..Self::default()
        }
    }

    /// A new track id: 1, 2, 3, ... never reused (wraps only after 4 billion people).
    pub fn new_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Filters for a new track: an ended track's (coordinates reset) or fresh ones.
    pub fn take_filters(&mut self) -> Filters {
        self.spare.pop().map_or_else(Filters::new, |mut f| {
            f.reset();
            f
        })
    }

    /// Ends the tracks for which `keep` is false, keeping their filters for reuse.
    pub fn retain(&mut self, mut keep: impl FnMut(&Track) -> bool) {
        let mut i = 0;
        while i < self.tracks.len() {
            if keep(&self.tracks[i]) {
                i += 1;
            } else {
                let t = self.tracks.remove(i);
                self.spare.push(t.filters);
            }
        }
    }

    /// Keeps the filters of a would-be track that was not started.
    pub fn retain_filters(&mut self, f: Filters) {
        self.spare.push(f);
    }

    /// Ends every track (the next tracked frame runs the detector).
    pub fn clear(&mut self) {
        self.retain(|_| false);
        self.last_detection_us = None;
    }

    /// Whether the detector runs on a frame at `ts_us`, given how many people were tracked when
    /// the frame came in. Records the run.
    pub fn detector_due(&mut self, tracked_before: usize, ts_us: i64) -> bool {
        if tracked_before >= self.opts.max_people {
            return false;
        }
        let interval = i64::try_from(self.opts.detect_interval.as_micros()).unwrap_or(i64::MAX);
        let due = tracked_before == 0
            || match self.last_detection_us {
                None => true,
                // A clock that went back counts as due.
                Some(last) => ts_us < last || ts_us.saturating_sub(last) >= interval,
            };
        if due {
            self.last_detection_us = Some(ts_us);
        }
        due
    }

    /// Ends the younger of any two tracks that follow the same person.
    pub fn drop_duplicates(&mut self, width: u32, height: u32) {
        let mut dead: Vec<u32> = Vec::new();
        for (i, a) in self.tracks.iter().enumerate() {
            for b in &self.tracks[i + 1..] {
                if !dead.contains(&a.id) && same_landmarks(a, b, width, height) {
                    dead.push(a.id.max(b.id));
                }
            }
        }
        if !dead.is_empty() {
            self.retain(|t| !dead.contains(&t.id));
        }
    }
}

fn mid(a: &Lm, b: &Lm) -> Point {
    Point {
        x: (a.x + b.x) / 2.0,
        y: (a.y + b.y) / 2.0,
    }
}

fn dist_px(a: Point, b: Point, width: u32, height: u32) -> f32 {
    let dx = (a.x - b.x) * width as f32;
    let dy = (a.y - b.y) * height as f32;
    (dx * dx + dy * dy).sqrt()
}

/// Whether detection `d` (normalized to the image) is the person of `track`: the track's nose is
/// inside the detection's face box, or the detection's mid-hip and mid-shoulder keypoints are
/// both close to the track's.
pub fn detection_is_tracked(d: &Detection, track: &Track, width: u32, height: u32) -> bool {
    let lms = &track.landmarks;
    let nose = lms[NOSE];
    let in_face = nose.x >= d.xmin
        && nose.x <= d.xmin + d.width
        && nose.y >= d.ymin
        && nose.y <= d.ymin + d.height;
    if in_face {
        return true;
    }
    let reach = SAME_PERSON_KEYPOINTS * track.side_px(width, height);
    let hip = Point {
        x: lms[AUX_CENTER].x,
        y: lms[AUX_CENTER].y,
    };
    let shoulders = mid(&lms[LEFT_SHOULDER], &lms[RIGHT_SHOULDER]);
    dist_px(d.keypoints[0], hip, width, height) < reach
        && dist_px(d.keypoints[2], shoulders, width, height) < reach
}

/// Whether two tracks' landmarks nearly coincide (one person followed twice).
pub fn same_landmarks(a: &Track, b: &Track, width: u32, height: u32) -> bool {
    let side = a.side_px(width, height).min(b.side_px(width, height));
    let sum: f32 = a.landmarks[..NUM_LANDMARKS]
        .iter()
        .zip(&b.landmarks[..NUM_LANDMARKS])
        .map(|(p, q)| {
            dist_px(
                Point { x: p.x, y: p.y },
                Point { x: q.x, y: q.y },
                width,
                height,
            )
        })
        .sum();
    sum / (NUM_LANDMARKS as f32) < DUPLICATE_LANDMARKS * side
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person standing upright at horizontal position `x` (normalized), 0.5 of a 100×100 image
    /// tall: landmarks spread over the body; ROI side 0.625.
    fn person(id: u32, x: f32) -> Track {
        let mut lms = [Lm::default(); NUM_MODEL_LANDMARKS];
        for (i, l) in lms.iter_mut().enumerate() {
            l.x = x + (i % 3) as f32 * 0.02 - 0.02;
            l.y = 0.25 + i as f32 / NUM_MODEL_LANDMARKS as f32 * 0.5;
        }
        lms[NOSE] = Lm {
            x,
            y: 0.28,
            ..Lm::default()
        };
        lms[LEFT_SHOULDER] = Lm {
            x: x + 0.05,
            y: 0.35,
            ..Lm::default()
        };
        lms[RIGHT_SHOULDER] = Lm {
            x: x - 0.05,
            y: 0.35,
            ..Lm::default()
        };
        lms[AUX_CENTER] = Lm {
            x,
            y: 0.5,
            ..Lm::default()
        };
        let roi = NormRect {
            x_center: x,
            y_center: 0.5,
            width: 0.625,
            height: 0.625,
            rotation: 0.0,
        };
        Track {
            id,
            next_roi: roi,
            roi,
            filters: Filters::new(),
            landmarks: lms,
            world: [Lm::default(); NUM_LANDMARKS],
            score: 0.9,
        }
    }

    fn detection(x: f32, face_x: f32) -> Detection {
        Detection {
            score: 0.9,
            xmin: face_x - 0.03,
            ymin: 0.25,
            width: 0.06,
            height: 0.06,
            keypoints: [
                Point { x, y: 0.5 },
                Point { x, y: 0.25 },
                Point { x, y: 0.35 },
                Point { x, y: 0.2 },
            ],
        }
    }

    #[test]
    fn a_detection_of_the_tracked_person_is_recognised() {
        let t = person(1, 0.3);
        assert!(detection_is_tracked(&detection(0.3, 0.3), &t, 100, 100));
        // Face box elsewhere, but hips and shoulders on the person (turned away).
        assert!(detection_is_tracked(&detection(0.31, 0.8), &t, 100, 100));
        // Nose inside the face box even though the body keypoints are off.
        assert!(detection_is_tracked(&detection(0.6, 0.3), &t, 100, 100));
    }

    #[test]
    fn a_neighbour_shoulder_to_shoulder_is_someone_else() {
        // Hips 0.125 of the image apart = 0.25 of the 0.5 body height.
        let t = person(1, 0.3);
        assert!(!detection_is_tracked(
            &detection(0.425, 0.425),
            &t,
            100,
            100
        ));
    }

    #[test]
    fn duplicates_end_the_younger_track_and_its_filters_are_reused() {
        let mut p = People::new(PeopleOptions {
            max_people: 4,
            detect_interval: Duration::from_millis(100),
        });
        p.tracks = vec![person(1, 0.3), person(2, 0.7), person(3, 0.302)];
        p.drop_duplicates(100, 100);
        assert_eq!(p.tracks.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(p.spare.len(), 1);
        p.take_filters();
        assert!(p.spare.is_empty());
    }

    #[test]
    fn ids_start_at_one_and_are_never_reused() {
        let mut p = People::new(PeopleOptions::single());
        assert_eq!((p.new_id(), p.new_id()), (1, 2));
        p.clear();
        assert_eq!(p.new_id(), 3);
    }

    #[test]
    fn detector_cadence() {
        let mut p = People::new(PeopleOptions {
            max_people: 2,
            detect_interval: Duration::from_millis(100),
        });
        // Nobody tracked: every frame.
        assert!(p.detector_due(0, 0));
        assert!(p.detector_due(0, 33_000));
        // One of two tracked: at most every 100 ms.
        assert!(!p.detector_due(1, 66_000));
        assert!(!p.detector_due(1, 99_000));
        assert!(p.detector_due(1, 133_000));
        // Full: never.
        assert!(!p.detector_due(2, 1_000_000));
        // The clock went back: due.
        assert!(p.detector_due(1, 0));
        // One person at most: only when nobody is tracked (MediaPipe's rule).
        let mut s = People::new(PeopleOptions::single());
        assert!(s.detector_due(0, 0));
        assert!(!s.detector_due(1, 10_000_000));
    }
}
