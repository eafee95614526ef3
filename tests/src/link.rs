//! One replication connection between two memory databases: an [`ActiveSession`] on one side,
//! a [`PassiveSession`] on the other, and the frames in flight between them. The harnesses
//! ([`crate::pair`], [`crate::sim`]) drive links; a link never owns a database, so several links
//! can share one the way an adapter's sessions share a store, and any [`Store`] works.

use std::collections::VecDeque;
use std::time::Instant;

use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActiveSession, ActivityLevel, PassiveConfig, PassiveEvent,
    PassiveSession, Profile, WindowStats,
};

use ferry_engine::db::Database;
use ferry_engine::store::Store;

/// The largest of each window seen on a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxWindows {
    /// The active side's largest windows.
    pub active: WindowStats,
    /// The passive side's largest windows.
    pub passive: WindowStats,
}

/// The check of [`Link::fire_timers`]: a deadline that fired at `now` must have moved past it.
fn assert_moved_on(role: &str, next: Option<Instant>, now: Instant) {
    assert!(
        next.is_none_or(|t| t > now),
        "the {role} session's deadline did not move on after firing at {now:?} (it is \
         {next:?}): a host would wake for it again at once, in a busy loop"
    );
}

fn widen(max: &mut WindowStats, now: WindowStats) {
    max.announcements_in_flight = max.announcements_in_flight.max(now.announcements_in_flight);
    max.revs_in_flight = max.revs_in_flight.max(now.revs_in_flight);
    max.rev_bytes_in_flight = max.rev_bytes_in_flight.max(now.rev_bytes_in_flight);
    max.pending_inserts = max.pending_inserts.max(now.pending_inserts);
    max.pull_unfinished = max.pull_unfinished.max(now.pull_unfinished);
    max.outbox_bytes = max.outbox_bytes.max(now.outbox_bytes);
}

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the active side to the passive side.
    ToPassive,
    /// From the passive side to the active side.
    ToActive,
}

/// One connection (or none, while disconnected) between an active and a passive database.
#[derive(Debug, Default)]
pub struct Link {
    /// The active session, while connected.
    pub active: Option<ActiveSession>,
    /// The passive session, while connected.
    pub passive: Option<PassiveSession>,
    /// Every event the active sessions emitted.
    pub active_events: Vec<ActiveEvent>,
    /// Every event the passive sessions emitted.
    pub passive_events: Vec<PassiveEvent>,
    /// The largest windows seen.
    pub max_windows: MaxWindows,
    /// Frames carried: (to passive, to active).
    pub frames: (u64, u64),
    /// Bytes carried: (to passive, to active).
    pub bytes: (u64, u64),
    /// When `Some`, every delivered frame is appended here with its direction, for tests that
    /// inspect the wire (decode one direction of one connection with a `FrameReader`).
    pub tap: Option<Vec<(Direction, Vec<u8>)>>,
    to_passive: VecDeque<Vec<u8>>,
    to_active: VecDeque<Vec<u8>>,
}

impl Link {
    /// Opens a connection: new sessions, and starts the active one.
    pub fn connect<S: Store>(
        &mut self,
        now: Instant,
        profile: Profile,
        active: ActiveConfig,
        passive: PassiveConfig,
        active_db: &Database<S>,
    ) {
        self.to_active.clear();
        self.to_passive.clear();
        let mut session = ActiveSession::new(profile, active, active_db);
        session.start(now).expect("a new session starts");
        self.active = Some(session);
        self.passive = Some(PassiveSession::new(profile, passive));
        self.drain();
    }

    /// Drops the connection: frames in flight are lost and the active side is told.
    pub fn disconnect(&mut self, now: Instant) {
        self.to_active.clear();
        self.to_passive.clear();
        if let Some(active) = self.active.as_mut() {
            active.handle_closed(now, "disconnected");
        }
        self.drain();
        self.active = None;
        self.passive = None;
    }

    /// Whether the link is connected.
    pub fn is_connected(&self) -> bool {
        self.active.is_some()
    }

    /// Frames waiting in a direction.
    pub fn queued(&self, direction: Direction) -> usize {
        match direction {
            Direction::ToPassive => self.to_passive.len(),
            Direction::ToActive => self.to_active.len(),
        }
    }

    /// Whether the link is quiet: no frames in flight, the active side stopped or idle with
    /// empty windows, the passive side holding nothing.
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

    /// Delivers the next frame travelling in `direction`; returns whether there was one.
    pub fn deliver<A: Store, P: Store>(
        &mut self,
        direction: Direction,
        now: Instant,
        active_db: &mut Database<A>,
        passive_db: &mut Database<P>,
    ) -> bool {
        match direction {
            Direction::ToPassive => {
                let Some(frame) = self.to_passive.pop_front() else {
                    return false;
                };
                self.frames.0 += 1;
                self.bytes.0 += frame.len() as u64;
                if let Some(tap) = self.tap.as_mut() {
                    tap.push((direction, frame.clone()));
                }
                if let Some(p) = self.passive.as_mut() {
                    let _ = p.handle_frame(now, &frame, passive_db);
                }
            }
            Direction::ToActive => {
                let Some(frame) = self.to_active.pop_front() else {
                    return false;
                };
                self.frames.1 += 1;
                self.bytes.1 += frame.len() as u64;
                if let Some(tap) = self.tap.as_mut() {
                    tap.push((direction, frame.clone()));
                }
                if let Some(a) = self.active.as_mut() {
                    let _ = a.handle_frame(now, &frame, active_db);
                }
            }
        }
        self.drain();
        true
    }

    /// The earliest deadline of either session.
    pub fn next_deadline(&self) -> Option<Instant> {
        let active = self.active.as_ref().and_then(ActiveSession::poll_timeout);
        let passive = self.passive.as_ref().and_then(PassiveSession::poll_timeout);
        [active, passive].into_iter().flatten().min()
    }

    /// Fires every deadline at or before `now`.
    ///
    /// Panics if a session's deadline is still at or before `now` once it has fired: a host
    /// waiting for that deadline would wake at once, again and again (a busy loop).
    pub fn fire_timers<A: Store, P: Store>(
        &mut self,
        now: Instant,
        active_db: &mut Database<A>,
        passive_db: &mut Database<P>,
    ) {
        if let Some(a) = self.active.as_mut() {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                let _ = a.handle_timeout(now, active_db);
                assert_moved_on("active", a.poll_timeout(), now);
            }
        }
        if let Some(p) = self.passive.as_mut() {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                let _ = p.handle_timeout(now, passive_db);
                assert_moved_on("passive", p.poll_timeout(), now);
            }
        }
        self.drain();
    }

    /// The active database changed.
    pub fn active_db_changed<S: Store>(&mut self, now: Instant, active_db: &mut Database<S>) {
        if let Some(a) = self.active.as_mut() {
            let _ = a.handle_database_changed(now, active_db);
        }
        self.drain();
    }

    /// The passive database changed.
    pub fn passive_db_changed<S: Store>(&mut self, now: Instant, passive_db: &mut Database<S>) {
        if let Some(p) = self.passive.as_mut() {
            let _ = p.handle_database_changed(now, passive_db);
        }
        self.drain();
    }

    /// A diagnostic snapshot of both sessions.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} frames to passive, {} to active\n",
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

/// The whole messages travelling in `dir` among tapped `frames` (one connection's; see
/// [`Link::tap`]), with their types, in completion order.
pub fn messages(
    frames: &[(Direction, Vec<u8>)],
    dir: Direction,
) -> Vec<(ferry_engine::blip::MessageType, ferry_engine::blip::Message)> {
    incoming_messages(frames, dir)
        .into_iter()
        .map(|m| (m.kind, m.message))
        .collect()
}

/// [`messages`] as the receiver's reader gives them, with their first frame's flags.
pub fn incoming_messages(
    frames: &[(Direction, Vec<u8>)],
    dir: Direction,
) -> Vec<ferry_engine::blip::IncomingMessage> {
    use ferry_engine::blip::{Config, FrameReader, Received};
    let mut reader = FrameReader::new(&Config::default());
    frames
        .iter()
        .filter(|(d, _)| *d == dir)
        .filter_map(
            |(_, f)| match reader.handle_frame(f).expect("a valid frame") {
                Received::Message(m) => Some(m),
                _ => None,
            },
        )
        .collect()
}
