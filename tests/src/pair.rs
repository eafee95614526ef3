//! A deterministic two-peer harness: one [`Link`] between two memory databases, driven on a
//! virtual clock. Every byte goes through the real BLIP codec, in order, one frame per
//! WebSocket message, as an adapter would carry them.

use ferry_engine::repl::{
    ActiveConfig, ActiveSession, PassiveConfig, PassiveSession, Profile, SessionError,
};

use crate::MemDb;
use crate::clock::Clock;
pub use crate::link::MaxWindows;
use crate::link::{Direction, Link};

/// Two peers, one connection.
#[derive(Debug)]
pub struct Pair {
    /// Virtual time.
    pub clock: Clock,
    /// The replicator's database.
    pub active_db: MemDb,
    /// The listener's database.
    pub passive_db: MemDb,
    /// The connection.
    pub link: Link,
    profile: Profile,
}

impl Pair {
    /// Two peers with the given databases, not yet connected.
    pub fn new(active_db: MemDb, passive_db: MemDb, profile: Profile) -> Self {
        Pair {
            clock: Clock::new(),
            active_db,
            passive_db,
            link: Link::default(),
            profile,
        }
    }

    /// Opens a connection with these configurations and starts the active session.
    pub fn connect(&mut self, active: ActiveConfig, passive: PassiveConfig) {
        let now = self.clock.now();
        self.link
            .connect(now, self.profile, active, passive, &self.active_db);
    }

    /// Drops the connection; frames in flight are lost.
    pub fn disconnect(&mut self) {
        self.link.disconnect(self.clock.now());
    }

    /// The active session, while connected.
    pub fn active(&self) -> Option<&ActiveSession> {
        self.link.active.as_ref()
    }

    /// The passive session, while connected.
    pub fn passive(&self) -> Option<&PassiveSession> {
        self.link.passive.as_ref()
    }

    /// The largest windows seen.
    pub fn max_windows(&self) -> MaxWindows {
        self.link.max_windows
    }

    /// The active database changed: tell the active session (continuous push).
    pub fn active_db_changed(&mut self) {
        self.link
            .active_db_changed(self.clock.now(), &mut self.active_db);
    }

    /// The passive database changed: tell the passive session (continuous pull).
    pub fn passive_db_changed(&mut self) {
        self.link
            .passive_db_changed(self.clock.now(), &mut self.passive_db);
    }

    /// The active session's error, if it failed.
    pub fn active_error(&self) -> Option<SessionError> {
        self.active().and_then(|a| a.status().error)
    }

    /// Runs until quiescent, at most `max_steps` steps (a frame delivered or a timer fired).
    /// Returns the steps taken; panics with a diagnostic snapshot if the bound is hit.
    pub fn run(&mut self, max_steps: usize) -> usize {
        for step in 0..max_steps {
            if self.step() {
                continue;
            }
            if self.link.is_quiescent() {
                return step;
            }
            panic!(
                "stuck: nothing to deliver and no timer, but not quiescent\n{}",
                self.describe()
            );
        }
        panic!("not quiescent after {max_steps} steps\n{}", self.describe());
    }

    /// Takes up to `steps` steps, stopping early when nothing moves. For tests that cut a
    /// connection mid-stream.
    pub fn run_steps(&mut self, steps: usize) {
        for _ in 0..steps {
            if !self.step() {
                return;
            }
        }
    }

    /// One step: deliver a frame (alternating directions), else fire the next timer unless
    /// quiescent. Returns whether anything happened.
    fn step(&mut self) -> bool {
        let now = self.clock.now();
        let first = if self.link.frames.0 <= self.link.frames.1 {
            Direction::ToPassive
        } else {
            Direction::ToActive
        };
        let second = match first {
            Direction::ToPassive => Direction::ToActive,
            Direction::ToActive => Direction::ToPassive,
        };
        for direction in [first, second] {
            if self
                .link
                .deliver(direction, now, &mut self.active_db, &mut self.passive_db)
            {
                return true;
            }
        }
        if self.link.is_quiescent() {
            return false;
        }
        let Some(at) = self.link.next_deadline() else {
            return false;
        };
        self.clock.advance_to(at);
        self.link
            .fire_timers(self.clock.now(), &mut self.active_db, &mut self.passive_db);
        true
    }

    /// A diagnostic snapshot.
    pub fn describe(&self) -> String {
        format!("at {:?}: {}", self.clock.elapsed(), self.link.describe())
    }
}
