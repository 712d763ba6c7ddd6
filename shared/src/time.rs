//! Wall-clock timestamps as carried on the wire (microseconds since the Unix epoch).

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch on this machine's clock (0 if the clock is before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
