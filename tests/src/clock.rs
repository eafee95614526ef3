//! A virtual clock.

use std::time::{Duration, Instant};

/// Virtual time: a fixed origin plus an offset that only the harness advances.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    offset: Duration,
}

impl Clock {
    /// A clock at offset zero.
    pub fn new() -> Self {
        // The one place a real clock is read: `Instant` has no public constructor. Only offsets
        // from this origin are ever used, so runs stay deterministic.
        #[allow(clippy::disallowed_methods)]
        let origin = Instant::now();
        Clock {
            origin,
            offset: Duration::ZERO,
        }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.origin + self.offset
    }

    /// Time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// Moves time forward to `at` (never backward).
    pub fn advance_to(&mut self, at: Instant) {
        if at > self.now() {
            self.offset = at - self.origin;
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
