//! The connection life-cycle state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ConnectionError, LifecycleCommand, LifecycleConfig, LifecycleEvent, retry_delay};
use crate::repl::{ActivityLevel, SessionError};

/// Durations are capped at this (a century) before being added to an instant, so no
/// configuration can overflow `Instant` arithmetic.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + d`, never panicking (an unrepresentable instant degrades to `now`).
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(LONGEST)).unwrap_or(now)
}

/// The state of an open connection.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// What the session last reported: `Connecting`, `Idle` or `Busy`.
    level: ActivityLevel,
    /// When the connection counts as good by duration; `None` once good (or never by duration).
    stable_at: Option<Instant>,
    /// When the next ping is due; `None` without a heartbeat.
    next_ping: Option<Instant>,
    /// The last time anything arrived from the peer.
    last_activity: Instant,
    /// When the peer counts as dead (`last_activity + 2 × heartbeat`); `None` without a
    /// heartbeat.
    dead_at: Option<Instant>,
}

impl Open {
    /// Whether the connection had stayed open for `stable_after` by `now`, with the peer still
    /// alive at that mark.
    fn became_good_by(&self, now: Instant) -> bool {
        self.stable_at
            .is_some_and(|at| at <= now && self.dead_at.is_none_or(|dead| at < dead))
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Stopped,
    Offline { retry_at: Instant },
    Connecting { deadline: Instant },
    Connected(Open),
}

/// The replicator's connection life cycle: connect, retry with backoff, heartbeat, stop — as a
/// sans-IO state machine.
///
/// The host owns the socket and the timers; the machine decides *when* to connect, *whether* to
/// retry and *when* to ping:
///
/// ```text
///            start                handle_connected         session reports
///  Stopped ─────────▶ Connecting ─────────────────▶ Connecting ─▶ Busy ⇄ Idle
///     ▲                 ▲    │ failed / deadline          │ closed / failed / peer silent
///     │   retry_at      │    ▼                            ▼
///     │   passes     Offline ◀──────────── transient ─────┘
///     └──── permanent error, max attempts, stop(), session finished
/// ```
///
/// - **Connect.** [`start`](Self::start) queues [`LifecycleCommand::Connect`] with a deadline
///   (`now + connect_timeout`). The host reports [`handle_connected`](Self::handle_connected) or
///   [`handle_connect_failed`](Self::handle_connect_failed); if the deadline passes first, the
///   machine queues [`LifecycleCommand::CancelConnect`] and counts a
///   [`ConnectionError::TimedOut`] failure.
/// - **Connected.** The activity stays `Connecting` (the session reads its checkpoint) until the
///   host forwards the session's level with
///   [`handle_session_status`](Self::handle_session_status) (`Busy`, `Idle`).
/// - **Retry.** A [transient](ConnectionError::is_transient) failure counts one attempt and goes
///   `Offline` until `now + retry_delay(attempts - 1, max_attempt_wait)` — 1 s, 2 s, 4 s, … up to
///   `max_attempt_wait` ([`retry_delay`]) — announcing [`LifecycleEvent::RetryScheduled`]; the
///   next [`LifecycleCommand::Connect`] is queued only when [`handle_timeout`] sees that
///   deadline pass. When the failures reach `max_attempts` the machine stops with the last
///   error and [`LifecycleEvent::GaveUp`].
/// - **Good connection.** The attempt counter goes back to 0 once a connection is *good*: the
///   session reported `Idle` (caught up), or finished, or the connection stayed open for
///   `stable_after` (default 30 s). So a peer that accepts and drops every connection at once is
///   still subject to `max_attempts` and a growing backoff.
/// - **Permanent errors** (401, 403, TLS, protocol violations, an incompatible profile, …) stop
///   the machine with the error in [`status`](Self::status).
/// - **Heartbeat.** While connected the machine queues [`LifecycleCommand::SendPing`] every
///   `heartbeat` interval; the host reports anything received (bytes, pongs) with
///   [`handle_activity`](Self::handle_activity). A peer silent for two intervals is declared
///   dead: [`LifecycleCommand::Close`] (1001) and a transient
///   [`ConnectionError::PeerUnresponsive`] failure, retried like any other.
/// - **Stop.** [`stop`](Self::stop) goes `Stopped` at once with no error, cancelling a pending
///   connect or closing an open connection with code 1000. To let the session save its
///   checkpoint first, stop the session and call `stop` (or
///   [`handle_session_finished`](Self::handle_session_finished)) once it reports `Stopped`.
///
/// Everything is deterministic: time comes only from the `now` arguments; there is no jitter.
///
/// ## Driving it
///
/// Inputs are the `start`/`stop`/`handle_*` methods; after each, drain
/// [`poll_command`](Self::poll_command) and [`poll_event`](Self::poll_event), and call
/// [`handle_timeout`] when the [`poll_timeout`](Self::poll_timeout) deadline passes. Outputs
/// left undrained are revised: a queued `Connect` or `SendPing` is withdrawn when the machine
/// leaves the state that issued it. Inputs that do not apply to the current state (a late
/// `handle_connect_failed`, a `handle_closed` after `stop`) are ignored.
///
/// [`handle_timeout`]: Self::handle_timeout
#[derive(Debug)]
pub struct ConnectionLifecycle {
    config: LifecycleConfig,
    state: State,
    /// Failed attempts since the last good connection.
    attempts: u32,
    /// The error that interrupted or stopped the connection.
    error: Option<ConnectionError>,
    /// The status last announced with `StatusChanged`.
    announced: (ActivityLevel, Option<ConnectionError>),
    commands: VecDeque<LifecycleCommand>,
    events: VecDeque<LifecycleEvent>,
}

impl ConnectionLifecycle {
    /// A stopped machine with this configuration.
    pub fn new(config: LifecycleConfig) -> Self {
        ConnectionLifecycle {
            config,
            state: State::Stopped,
            attempts: 0,
            error: None,
            announced: (ActivityLevel::Stopped, None),
            commands: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LifecycleConfig {
        &self.config
    }

    // ----- inputs -----

    /// Starts connecting (when stopped; otherwise does nothing): the attempt counter and the
    /// error are cleared and [`LifecycleCommand::Connect`] is queued.
    pub fn start(&mut self, now: Instant) {
        if let State::Stopped = self.state {
            self.attempts = 0;
            self.error = None;
            self.connect(now);
            self.announce();
        }
    }

    /// Stops at once, with no error: cancels a pending connection attempt
    /// ([`LifecycleCommand::CancelConnect`]) or closes the open connection (`Close { code: 1000 }`), and
    /// abandons a scheduled retry. Does nothing when already stopped.
    pub fn stop(&mut self, _now: Instant) {
        match self.state {
            State::Stopped => return,
            State::Offline { .. } => {}
            State::Connecting { .. } => self.commands.push_back(LifecycleCommand::CancelConnect),
            State::Connected(_) => self.close(1000, "the replicator stopped"),
        }
        self.drop_connection_commands();
        self.state = State::Stopped;
        self.error = None;
        self.announce();
    }

    /// The connection asked for by [`LifecycleCommand::Connect`] is open. The activity stays
    /// `Connecting` until the session reports its level; the heartbeat starts. A connection
    /// nobody asked for any more (after `stop` or a connect timeout) is refused with
    /// `Close { code: 1000 }`.
    pub fn handle_connected(&mut self, now: Instant) {
        match self.state {
            State::Connecting { .. } => {
                // The host connected: a `Connect` it has not drained yet is stale.
                self.drop_connection_commands();
                let heartbeat = self.heartbeat();
                self.state = State::Connected(Open {
                    level: ActivityLevel::Connecting,
                    stable_at: self.config.stable_after.map(|d| after(now, d)),
                    next_ping: heartbeat.map(|h| after(now, h)),
                    last_activity: now,
                    dead_at: heartbeat.map(|h| after(now, h.saturating_mul(2))),
                });
                self.error = None;
                self.announce();
            }
            State::Connected(_) => {}
            State::Stopped | State::Offline { .. } => {
                self.close(1000, "connection no longer wanted");
            }
        }
    }

    /// The connection attempt failed. A transient error schedules a retry (or gives up at
    /// `max_attempts`); a permanent one stops. Ignored unless connecting.
    pub fn handle_connect_failed(&mut self, now: Instant, error: ConnectionError) {
        if let State::Connecting { .. } = self.state {
            self.fail(now, error);
        }
    }

    /// The connection closed (or was found broken) before the session finished, for this
    /// reason: retried when transient, else the machine stops with it. Ignored when not
    /// connecting or connected (for instance after [`stop`](Self::stop) or
    /// [`handle_session_finished`](Self::handle_session_finished)).
    pub fn handle_closed(&mut self, now: Instant, reason: ConnectionError) {
        if let State::Connecting { .. } | State::Connected(_) = self.state {
            self.fail(now, reason);
        }
    }

    /// The session on the open connection failed: queues `Close` with the error's
    /// [close code](SessionError::close_code), then handles the failure like
    /// [`handle_closed`](Self::handle_closed) with [`ConnectionError::Session`] (retried when
    /// [`SessionError::is_transient`]). Ignored unless connected.
    pub fn handle_session_failed(&mut self, now: Instant, error: SessionError) {
        if let State::Connected(_) = self.state {
            self.close(error.close_code(), &error.to_string());
            self.fail(now, ConnectionError::Session(error));
        }
    }

    /// The session finished (a one-shot replication completed, or the session was stopped
    /// and saved its checkpoint): a good connection. Stops with no error and closes the
    /// connection (`Close { code: 1000 }`). Ignored unless connected.
    pub fn handle_session_finished(&mut self, _now: Instant) {
        if let State::Connected(_) = self.state {
            self.close(1000, "replication finished");
            self.drop_connection_commands();
            self.attempts = 0;
            self.error = None;
            self.state = State::Stopped;
            self.announce();
        }
    }

    /// The session's activity level, forwarded by the host: `Connecting` (reading the
    /// checkpoint), `Busy` or `Idle` become the machine's level while connected; `Idle` also
    /// makes the connection good (the attempt counter goes back to 0). `Stopped` and `Offline`
    /// are ignored: report the session's end with
    /// [`handle_session_finished`](Self::handle_session_finished) or
    /// [`handle_session_failed`](Self::handle_session_failed).
    pub fn handle_session_status(&mut self, _now: Instant, level: ActivityLevel) {
        if let State::Connected(open) = &mut self.state {
            match level {
                ActivityLevel::Connecting | ActivityLevel::Busy => open.level = level,
                ActivityLevel::Idle => {
                    open.level = level;
                    open.stable_at = None;
                    self.attempts = 0;
                }
                ActivityLevel::Stopped | ActivityLevel::Offline => {}
            }
            self.announce();
        }
    }

    /// Something arrived from the peer (bytes, a pong): restarts the silence timer.
    pub fn handle_activity(&mut self, now: Instant) {
        let heartbeat = self.heartbeat();
        if let State::Connected(open) = &mut self.state {
            if now > open.last_activity {
                open.last_activity = now;
                open.dead_at = heartbeat.map(|h| after(now, h.saturating_mul(2)));
            }
        }
    }

    /// Time passed: acts on every deadline at or before `now` — a retry becomes
    /// [`LifecycleCommand::Connect`]; a connect deadline becomes [`LifecycleCommand::CancelConnect`] and a
    /// [`ConnectionError::TimedOut`] failure; a connection open for `stable_after` becomes
    /// good; a due ping becomes [`LifecycleCommand::SendPing`]; a silent peer becomes `Close { code:
    /// 1001 }` and a [`ConnectionError::PeerUnresponsive`] failure. At most one change of state
    /// happens per call, so a new connection attempt always gets its full deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Stopped => {}
            State::Offline { retry_at } => {
                if retry_at <= now {
                    self.connect(now);
                    self.announce();
                }
            }
            State::Connecting { deadline } => {
                if deadline <= now {
                    self.commands.push_back(LifecycleCommand::CancelConnect);
                    self.fail(now, ConnectionError::TimedOut);
                }
            }
            State::Connected(mut open) => {
                let heartbeat = self.heartbeat();
                if open.became_good_by(now) {
                    open.stable_at = None;
                    self.attempts = 0;
                }
                if let Some(dead_at) = open.dead_at {
                    if dead_at <= now {
                        self.state = State::Connected(open);
                        let silent_for = dead_at.saturating_duration_since(open.last_activity);
                        self.close(1001, "the peer stopped answering");
                        self.fail(now, ConnectionError::PeerUnresponsive { silent_for });
                        return;
                    }
                }
                if let (Some(next_ping), Some(interval)) = (open.next_ping, heartbeat) {
                    if next_ping <= now {
                        self.commands.push_back(LifecycleCommand::SendPing);
                        open.next_ping = Some(after(now, interval));
                    }
                }
                self.state = State::Connected(open);
            }
        }
    }

    // ----- outputs -----

    /// The next thing the host must do.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<LifecycleCommand> {
        self.commands.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<LifecycleEvent> {
        self.events.pop_front()
    }

    /// The earliest pending deadline (a retry, a connect deadline, a ping, the silence limit,
    /// the stable-connection mark); `None` when stopped.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().flatten().min()
    }

    /// The activity level and the error that interrupted (while offline or reconnecting) or
    /// stopped the connection. The error is cleared when a connection opens, by
    /// [`start`](Self::start) and by [`stop`](Self::stop).
    pub fn status(&self) -> (ActivityLevel, Option<&ConnectionError>) {
        (self.activity(), self.error.as_ref())
    }

    /// The activity level.
    pub fn activity(&self) -> ActivityLevel {
        match self.state {
            State::Stopped => ActivityLevel::Stopped,
            State::Offline { .. } => ActivityLevel::Offline,
            State::Connecting { .. } => ActivityLevel::Connecting,
            State::Connected(open) => open.level,
        }
    }

    /// Failed connection attempts since the last good connection (0 after a good one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a connection is open (reported by `handle_connected` and not yet closed).
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    // ----- internals -----

    /// Every pending deadline of the current state.
    pub(super) fn deadlines(&self) -> [Option<Instant>; 3] {
        match self.state {
            State::Stopped => [None; 3],
            State::Offline { retry_at } => [Some(retry_at), None, None],
            State::Connecting { deadline } => [Some(deadline), None, None],
            State::Connected(open) => [open.stable_at, open.next_ping, open.dead_at],
        }
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.config.heartbeat.filter(|h| !h.is_zero())
    }

    fn connect(&mut self, now: Instant) {
        let deadline = after(now, self.config.connect_timeout);
        self.state = State::Connecting { deadline };
        self.commands
            .push_back(LifecycleCommand::Connect { deadline });
    }

    fn close(&mut self, code: u16, reason: &str) {
        self.commands.push_back(LifecycleCommand::Close {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Removes queued commands that belong to a connection being left: a `Connect` the host
    /// has not taken yet must not be taken after the machine moved on, nor a stale ping.
    fn drop_connection_commands(&mut self) {
        self.commands.retain(|c| {
            !matches!(
                c,
                LifecycleCommand::Connect { .. } | LifecycleCommand::SendPing
            )
        });
    }

    /// The connection attempt or the connection failed with `error`.
    fn fail(&mut self, now: Instant, error: ConnectionError) {
        if let State::Connected(open) = self.state {
            if open.became_good_by(now) {
                // Stayed open long enough: a good connection, whatever ended it.
                self.attempts = 0;
            }
        }
        self.drop_connection_commands();
        if !error.is_transient() {
            self.state = State::Stopped;
            self.error = Some(error);
            self.announce();
            return;
        }
        self.attempts = self.attempts.saturating_add(1);
        let limit = self.config.max_attempts.map(|m| m.max(1));
        if limit.is_some_and(|limit| self.attempts >= limit) {
            self.state = State::Stopped;
            self.error = Some(error.clone());
            self.announce();
            self.events.push_back(LifecycleEvent::GaveUp {
                attempts: self.attempts,
                error,
            });
            return;
        }
        let delay = retry_delay(self.attempts - 1, self.config.max_attempt_wait);
        let at = after(now, delay);
        self.state = State::Offline { retry_at: at };
        self.error = Some(error);
        self.announce();
        self.events.push_back(LifecycleEvent::RetryScheduled {
            attempt: self.attempts,
            delay,
            at,
        });
    }

    /// Queues `StatusChanged` if the status differs from the one last announced.
    fn announce(&mut self) {
        let activity = self.activity();
        if self.announced.0 != activity || self.announced.1 != self.error {
            self.announced = (activity, self.error.clone());
            self.events.push_back(LifecycleEvent::StatusChanged {
                activity,
                error: self.error.clone(),
            });
        }
    }
}
