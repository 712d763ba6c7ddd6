//! The run id of this `pose-edge` process: a random nonzero number drawn once at start and
//! written in every keypoint message and frame header, so that `(camera_id, run, seq)` stays
//! unique when a restarted edge counts `seq` from 0 again (`shared/WIRE.md`, version 2).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Run ids stay below 2^53 so that JSON readers holding numbers as doubles keep them exact.
pub const RUN_ID_BITS: u32 = 53;

/// This process's run id, the same on every call.
pub fn current() -> u64 {
    static RUN: OnceLock<u64> = OnceLock::new();
    *RUN.get_or_init(draw)
}

/// A fresh random id in 1 .. 2^53: the standard library's per-process random hash keys (seeded
/// from the operating system's random source), mixed with the time and the process id.
pub fn draw() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    let id = h.finish() & ((1 << RUN_ID_BITS) - 1);
    id.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_nonzero_below_2_53_stable_per_process_and_differ_between_draws() {
        assert_eq!(current(), current());
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| draw()).collect();
        assert_eq!(ids.len(), 1000, "1000 draws, no repeat");
        assert!(ids.iter().all(|&id| id != 0 && id < 1 << RUN_ID_BITS));
        // All 53 bits are used: some ids have the top bit set.
        assert!(ids.iter().any(|&id| id >= 1 << (RUN_ID_BITS - 1)));
    }
}
