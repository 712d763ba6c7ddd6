//! A one-slot mailbox: the sender never blocks, a new value replaces the one not yet taken.
//!
//! This is what keeps the edge's lag from growing: capture puts each frame in the mailbox of the
//! stage after it; a stage that is still busy with an older frame finds only the newest one when it
//! comes back. Replaced values are returned to the sender so it can count them as dropped.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

struct Slot<T> {
    value: Option<T>,
    closed: bool,
}

/// See the module documentation.
pub struct Mailbox<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(Slot {
                value: None,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic while holding this lock cannot leave the slot inconsistent: keep going.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `value` in the slot; returns the value it replaced (dropped unseen), if any. After
    /// [`Mailbox::close`] the value is handed back instead.
    pub fn put(&self, value: T) -> Option<T> {
        let mut slot = self.lock();
        if slot.closed {
            return Some(value);
        }
        let old = slot.value.replace(value);
        drop(slot);
        self.ready.notify_one();
        old
    }

    /// Takes the value, waiting up to `timeout` for one. `None` on timeout, or once the mailbox
    /// is closed and empty.
    pub fn take(&self, timeout: Duration) -> Option<T> {
        let slot = self.lock();
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        slot.value.take()
    }

    /// Takes the value, waiting as long as it takes for one. `None` once the mailbox is closed
    /// and empty.
    pub fn recv(&self) -> Option<T> {
        let slot = self.lock();
        let mut slot = self
            .ready
            .wait_while(slot, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        slot.value.take()
    }

    /// No more values: wakes the receiver; what is in the slot can still be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Closed and empty: the receiver is done.
    pub fn is_finished(&self) -> bool {
        let slot = self.lock();
        slot.closed && slot.value.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn newest_value_wins() {
        let m = Mailbox::default();
        assert_eq!(m.put(1), None);
        assert_eq!(
            m.put(2),
            Some(1),
            "the unseen value comes back to be counted"
        );
        assert_eq!(m.take(Duration::ZERO), Some(2));
        assert_eq!(m.take(Duration::from_millis(10)), None);
    }

    #[test]
    fn take_waits_for_a_value_and_close_wakes_it() {
        let m = Arc::new(Mailbox::default());
        let m2 = m.clone();
        let t = std::thread::spawn(move || m2.take(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.put(7);
        assert_eq!(t.join().unwrap(), Some(7));

        let m2 = m.clone();
        let t = std::thread::spawn(move || m2.take(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.close();
        assert_eq!(t.join().unwrap(), None);
        assert!(m.is_finished());
        assert_eq!(m.put(9), Some(9), "closed: the value is handed back");
    }

    #[test]
    fn value_put_before_close_is_still_taken() {
        let m = Mailbox::default();
        m.put("last");
        m.close();
        assert!(!m.is_finished());
        assert_eq!(m.take(Duration::ZERO), Some("last"));
        assert!(m.is_finished());
    }
}
