//! BlazePose topology: the 33 landmark names and the 35 skeleton edges (MediaPipe `POSE_CONNECTIONS`).

/// Number of landmarks in every pose on the wire.
pub const NUM_LANDMARKS: usize = 33;

/// Landmark names, indexed like the landmarks of a [`crate::Pose`]. "Left" and "right" are the
/// person's own sides, as in MediaPipe.
pub const LANDMARK_NAMES: [&str; NUM_LANDMARKS] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
];

/// The 35 undirected skeleton edges, as pairs of landmark indices.
pub const EDGES: [(u8, u8); 35] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
];

/// Which side of the body a landmark or an edge belongs to (for left/right colouring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
    Centre,
}

/// The side of landmark `index` (`nose` is the only centre landmark). Out-of-range indices are
/// [`Side::Centre`].
pub fn landmark_side(index: usize) -> Side {
    match LANDMARK_NAMES.get(index) {
        Some(name) if name.starts_with("left") || name.ends_with("_left") => Side::Left,
        Some(name) if name.starts_with("right") || name.ends_with("_right") => Side::Right,
        _ => Side::Centre,
    }
}

/// The side of an edge: the side both ends share, or [`Side::Centre`] for edges that cross
/// (shoulders, hips, mouth) or touch the nose.
pub fn edge_side(edge: (u8, u8)) -> Side {
    let (a, b) = (
        landmark_side(usize::from(edge.0)),
        landmark_side(usize::from(edge.1)),
    );
    if a == b { a } else { Side::Centre }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for &(a, b) in &EDGES {
            assert!(usize::from(a) < NUM_LANDMARKS && usize::from(b) < NUM_LANDMARKS);
            assert_ne!(a, b);
            assert!(seen.insert((a.min(b), a.max(b))), "duplicate edge {a}-{b}");
        }
        assert_eq!(seen.len(), 35);
    }

    #[test]
    fn sides() {
        assert_eq!(landmark_side(0), Side::Centre);
        assert_eq!(landmark_side(9), Side::Left);
        assert_eq!(landmark_side(10), Side::Right);
        assert_eq!(landmark_side(31), Side::Left);
        assert_eq!(landmark_side(32), Side::Right);
        assert_eq!(edge_side((11, 13)), Side::Left);
        assert_eq!(edge_side((12, 14)), Side::Right);
        assert_eq!(edge_side((11, 12)), Side::Centre);
        assert_eq!(edge_side((0, 1)), Side::Centre);
        let left = (0..NUM_LANDMARKS)
            .filter(|&i| landmark_side(i) == Side::Left)
            .count();
        let right = (0..NUM_LANDMARKS)
            .filter(|&i| landmark_side(i) == Side::Right)
            .count();
        assert_eq!((left, right), (16, 16));
    }
}
