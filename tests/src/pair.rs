//! A deterministic two-peer harness: an [`ActiveSession`] and a [`PassiveSession`] over an
//! in-memory link, each with its own memory database, driven on a virtual clock.
//!
//! Every byte goes through the real BLIP codec, in order, one frame per WebSocket message, as
//! an adapter would carry them. The harness follows the engine's polling contract exactly.

use std::collections::VecDeque;

use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActiveSession, ActivityLevel, PassiveConfig, PassiveEvent,
    PassiveSession, Profile, SessionError, WindowStats,
};

use crate::MemDb;
use crate::clock::Clock;

/// The largest of each window seen during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxWindows {
    /// The active side's largest windows.
    pub active: WindowStats,
    /// The passive side's largest windows.
    pub passive: WindowStats,
}

fn widen(max: &mut WindowStats, now: WindowStats) {
    max.announcements_in_flight = max.announcements_in_flight.max(now.announcements_in_flight);
    max.revs_in_flight = max.revs_in_flight.max(now.revs_in_flight);
    max.rev_bytes_in_flight = max.rev_bytes_in_flight.max(now.rev_bytes_in_flight);
    max.pending_inserts = max.pending_inserts.max(now.pending_inserts);
    max.pull_unfinished = max.pull_unfinished.max(now.pull_unfinished);
    max.outbox_bytes = max.outbox_bytes.max(now.outbox_bytes);
}

/// Two peers, one connection.
#[derive(Debug)]
pub struct Pair {
    /// Virtual time.
    pub clock: Clock,
    /// The replicator's database.
    pub active_db: MemDb,
    /// The listener's database.
    pub passive_db: MemDb,
    /// The replicator's session on the current connection, if connected.
    pub active: Option<ActiveSession>,
    /// The listener's session on the current connection, if connected.
    pub passive: Option<PassiveSession>,
    /// Every event the active sessions emitted, across connections.
    pub active_events: Vec<ActiveEvent>,
    /// Every event the passive sessions emitted, across connections.
    pub passive_events: Vec<PassiveEvent>,
    /// The largest windows seen.
    pub max_windows: MaxWindows,
    /// Frames carried in each direction: (active → passive, passive → active).
    pub frames: (u64, u64),
    /// Bytes carried in each direction.
    pub bytes: (u64, u64),
    to_passive: VecDeque<Vec<u8>>,
    to_active: VecDeque<Vec<u8>>,
    profile: Profile,
}

impl Pair {
    /// Two peers with the given databases, not yet connected.
    pub fn new(active_db: MemDb, passive_db: MemDb, profile: Profile) -> Self {
        Pair {
            clock: Clock::new(),
            active_db,
            passive_db,
            active: None,
            passive: None,
            active_events: Vec::new(),
            passive_events: Vec::new(),
            max_windows: MaxWindows::default(),
            frames: (0, 0),
            bytes: (0, 0),
            to_passive: VecDeque::new(),
            to_active: VecDeque::new(),
            profile,
        }
    }

    /// Opens a connection: new sessions with these configurations, and starts the active one.
    pub fn connect(&mut self, active: ActiveConfig, passive: PassiveConfig) {
        self.to_active.clear();
        self.to_passive.clear();
        let mut session = ActiveSession::new(self.profile, active, &self.active_db);
        session
            .start(self.clock.now())
            .expect("a new session starts");
        self.active = Some(session);
        self.passive = Some(PassiveSession::new(self.profile, passive));
        self.drain();
    }

    /// Drops the connection: frames in flight are lost, the active side is told it closed.
    pub fn disconnect(&mut self) {
        self.to_active.clear();
        self.to_passive.clear();
        if let Some(active) = self.active.as_mut() {
            active.handle_closed(self.clock.now(), "disconnected by the test");
        }
        self.drain();
        self.active = None;
        self.passive = None;
    }

    /// The active database changed: tell the active session (continuous push).
    pub fn active_db_changed(&mut self) {
        let now = self.clock.now();
        if let Some(active) = self.active.as_mut() {
            let _ = active.handle_database_changed(now, &mut self.active_db);
        }
        self.drain();
    }

    /// The passive database changed: tell the passive session (continuous pull).
    pub fn passive_db_changed(&mut self) {
        let now = self.clock.now();
        if let Some(passive) = self.passive.as_mut() {
            let _ = passive.handle_database_changed(now, &mut self.passive_db);
        }
        self.drain();
    }

    /// The active session's error, if it failed.
    pub fn active_error(&self) -> Option<SessionError> {
        self.active.as_ref().and_then(|a| a.status().error)
    }

    /// Whether nothing more will happen without new input: no frames in flight, the active
    /// side stopped or idle, and the passive side holds nothing.
    pub fn is_quiescent(&self) -> bool {
        if !self.to_active.is_empty() || !self.to_passive.is_empty() {
            return false;
        }
        let active_done = self.active.as_ref().is_none_or(|a| {
            let status = a.status();
            status.activity == ActivityLevel::Stopped
                || (status.activity == ActivityLevel::Idle
                    && a.window_stats() == WindowStats::default())
        });
        let passive_done = self.passive.as_ref().is_none_or(|p| {
            let stats = p.window_stats();
            stats.pending_inserts == 0
                && stats.revs_in_flight == 0
                && stats.announcements_in_flight == 0
        });
        active_done && passive_done
    }

    /// Runs until quiescent, at most `max_steps` steps (a frame delivered or a timer fired).
    /// Returns the steps taken; panics with a diagnostic snapshot if the bound is hit.
    pub fn run(&mut self, max_steps: usize) -> usize {
        for step in 0..max_steps {
            if self.deliver_one() {
                continue;
            }
            if self.is_quiescent() {
                return step;
            }
            if !self.fire_next_timer() {
                panic!(
                    "stuck: nothing to deliver and no timer, but not quiescent\n{}",
                    self.describe()
                );
            }
        }
        panic!("not quiescent after {max_steps} steps\n{}", self.describe());
    }

    /// A diagnostic snapshot of both sessions.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "at {:?}: {} frames to passive, {} to active\n",
            self.clock.elapsed(),
            self.to_passive.len(),
            self.to_active.len()
        );
        if let Some(a) = &self.active {
            out += &format!(
                "active: {:?}\n  {}\n",
                a.status(),
                a.diagnostics().join("\n  ")
            );
        }
        if let Some(p) = &self.passive {
            out += &format!("passive: {:?}\n", p.diagnostics());
        }
        out
    }

    /// Delivers one frame (alternating directions); returns whether one moved.
    fn deliver_one(&mut self) -> bool {
        let now = self.clock.now();
        let to_passive_first = self.frames.0 <= self.frames.1;
        for direction in [to_passive_first, !to_passive_first] {
            if direction {
                if let Some(frame) = self.to_passive.pop_front() {
                    self.frames.0 += 1;
                    self.bytes.0 += frame.len() as u64;
                    if let Some(p) = self.passive.as_mut() {
                        let _ = p.handle_frame(now, &frame, &mut self.passive_db);
                    }
                    self.drain();
                    return true;
                }
            } else if let Some(frame) = self.to_active.pop_front() {
                self.frames.1 += 1;
                self.bytes.1 += frame.len() as u64;
                if let Some(a) = self.active.as_mut() {
                    let _ = a.handle_frame(now, &frame, &mut self.active_db);
                }
                self.drain();
                return true;
            }
        }
        false
    }

    /// Advances the clock to the earliest deadline and fires it; false if there is none.
    fn fire_next_timer(&mut self) -> bool {
        let active_at = self.active.as_ref().and_then(ActiveSession::poll_timeout);
        let passive_at = self.passive.as_ref().and_then(PassiveSession::poll_timeout);
        let Some(at) = [active_at, passive_at].into_iter().flatten().min() else {
            return false;
        };
        self.clock.advance_to(at);
        let now = self.clock.now();
        if active_at.is_some_and(|t| t <= now) {
            if let Some(a) = self.active.as_mut() {
                let _ = a.handle_timeout(now, &mut self.active_db);
            }
        }
        if passive_at.is_some_and(|t| t <= now) {
            if let Some(p) = self.passive.as_mut() {
                let _ = p.handle_timeout(now, &mut self.passive_db);
            }
        }
        self.drain();
        true
    }

    /// Drains every output of both sessions (the polling contract).
    fn drain(&mut self) {
        if let Some(a) = self.active.as_mut() {
            while let Some(frame) = a.poll_frame() {
                self.to_passive.push_back(frame);
            }
            while let Some(event) = a.poll_event() {
                self.active_events.push(event);
            }
            widen(&mut self.max_windows.active, a.window_stats());
        }
        if let Some(p) = self.passive.as_mut() {
            while let Some(frame) = p.poll_frame() {
                self.to_active.push_back(frame);
            }
            while let Some(event) = p.poll_event() {
                self.passive_events.push(event);
            }
            widen(&mut self.max_windows.passive, p.window_stats());
        }
    }
}
