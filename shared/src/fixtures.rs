//! Example messages for the tests, benchmarks and examples of every crate: one plausible person
//! standing and facing the camera, so a drawing of it shows left and right where they belong.

use crate::skeleton::{NUM_LANDMARKS, Side, landmark_side};
use crate::{CameraId, KeypointMessage, Landmark, Pose};

/// A person standing upright and facing the camera: their left side on the image's right,
/// landmarks from head (top) to feet (bottom), all visible.
pub fn standing_pose() -> Pose {
    let landmarks: [Landmark; NUM_LANDMARKS] = std::array::from_fn(|i| Landmark {
        x: match landmark_side(i) {
            Side::Left => 0.6,
            Side::Right => 0.4,
            Side::Centre => 0.5,
        },
        y: 0.15 + 0.8 * i as f32 / NUM_LANDMARKS as f32,
        z: 0.0,
        // 1.0: exact on the wire (visibility and presence travel as bytes).
        visibility: 1.0,
        presence: 1.0,
    });
    Pose {
        track_id: 1,
        score: 0.9,
        landmarks,
        world_landmarks: None,
    }
}

/// The run id of [`keypoint_message`]: one edge process that never restarts (below 2^53, as the
/// edge draws them).
pub const RUN: u64 = 0x7E57_ED00_0001;

/// A version-2 keypoint message of camera `camera` (panics on an invalid id: fixtures take
/// literals), run [`RUN`], with one [`standing_pose`] (track 1), for a 640×480 frame that was
/// published. Set `run` to 0 for what a version-1 edge sends.
pub fn keypoint_message(camera: &str, seq: u64, capture_ts_us: u64) -> KeypointMessage {
    KeypointMessage {
        camera_id: CameraId::new(camera).expect("fixtures use valid camera ids"),
        run: RUN,
        seq,
        capture_ts_us,
        inference_us: 20_000,
        width: 640,
        height: 480,
        frame_published: true,
        poses: vec![standing_pose()],
    }
}

/// The sample video of a person (`scripts/fetch-samples.sh` puts it in the cache:
/// `$POSESTREAM_CACHE`, default `~/.cache/posestream`): 120 frames, 176x144, 29.97 fps. Panics
/// with the command to run when it is missing (for tests).
pub fn sample_video() -> std::path::PathBuf {
    let cache = std::env::var_os("POSESTREAM_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/posestream")
        });
    let file = cache.join("samples/carphone.mp4");
    assert!(
        file.is_file(),
        "{} is missing: run `scripts/fetch-samples.sh` (or `make test`)",
        file.display()
    );
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_encodes_and_faces_the_camera() {
        let m = keypoint_message("cam-1", 3, 1_000);
        assert_eq!(KeypointMessage::decode(&m.encode().unwrap()).unwrap(), m);
        let p = &m.poses[0].landmarks;
        // Left shoulder (11) on the image's right of the right shoulder (12).
        assert!(p[11].x > p[12].x);
    }
}
