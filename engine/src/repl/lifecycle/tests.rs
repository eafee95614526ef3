//! Tests of the connection life cycle: transitions, retries, heartbeat.

use std::time::{Duration, Instant};

use super::*;
use crate::blip::BlipError;
use crate::repl::SessionError;

const SEC: Duration = Duration::from_secs(1);

pub(super) fn origin() -> Instant {
    // `Instant` has no public constructor; only offsets from this origin are used.
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// Drains both queues after an input.
#[derive(Debug, Default)]
pub(super) struct Drained {
    pub(super) commands: Vec<LifecycleCommand>,
    pub(super) events: Vec<LifecycleEvent>,
}

pub(super) fn drain(lc: &mut ConnectionLifecycle) -> Drained {
    let mut out = Drained::default();
    while let Some(c) = lc.poll_command() {
        out.commands.push(c);
    }
    while let Some(e) = lc.poll_event() {
        out.events.push(e);
    }
    out
}

fn no_heartbeat(continuous: bool) -> LifecycleConfig {
    let mut config = LifecycleConfig::new(continuous);
    config.heartbeat = None;
    config
}

fn status_changed(activity: ActivityLevel, error: Option<ConnectionError>) -> LifecycleEvent {
    LifecycleEvent::StatusChanged { activity, error }
}

fn connect(deadline: Instant) -> LifecycleCommand {
    LifecycleCommand::Connect { deadline }
}

pub(super) fn is_connect(c: &LifecycleCommand) -> bool {
    matches!(c, LifecycleCommand::Connect { .. })
}

/// A started machine whose first connection attempt was just issued at `t0`.
pub(super) fn started(config: LifecycleConfig) -> (ConnectionLifecycle, Instant) {
    let t0 = origin();
    let mut lc = ConnectionLifecycle::new(config);
    lc.start(t0);
    drain(&mut lc);
    (lc, t0)
}

#[test]
fn start_connects_with_the_deadline() {
    let t0 = origin();
    let mut lc = ConnectionLifecycle::new(LifecycleConfig::new(false));
    assert_eq!(lc.status(), (ActivityLevel::Stopped, None));
    assert_eq!(lc.poll_timeout(), None);
    lc.start(t0);
    let out = drain(&mut lc);
    assert_eq!(out.commands, [connect(t0 + 15 * SEC)]);
    assert_eq!(
        out.events,
        [status_changed(ActivityLevel::Connecting, None)]
    );
    assert_eq!(lc.poll_timeout(), Some(t0 + 15 * SEC));
    // Starting again while running does nothing.
    lc.start(t0 + SEC);
    let out = drain(&mut lc);
    assert!(out.commands.is_empty() && out.events.is_empty());
}

#[test]
fn connected_follows_the_session_level() {
    let (mut lc, t0) = started(no_heartbeat(true));
    lc.handle_connected(t0 + SEC);
    let out = drain(&mut lc);
    assert!(out.commands.is_empty());
    assert!(out.events.is_empty(), "still connecting: {:?}", out.events);
    assert_eq!(lc.activity(), ActivityLevel::Connecting);
    assert!(lc.is_connected());

    lc.handle_session_status(t0 + 2 * SEC, ActivityLevel::Busy);
    assert_eq!(
        drain(&mut lc).events,
        [status_changed(ActivityLevel::Busy, None)]
    );
    lc.handle_session_status(t0 + 3 * SEC, ActivityLevel::Idle);
    assert_eq!(
        drain(&mut lc).events,
        [status_changed(ActivityLevel::Idle, None)]
    );
    lc.handle_session_status(t0 + 4 * SEC, ActivityLevel::Busy);
    assert_eq!(lc.status(), (ActivityLevel::Busy, None));
    // The session's own Stopped/Offline are not taken as the machine's level.
    drain(&mut lc);
    lc.handle_session_status(t0 + 5 * SEC, ActivityLevel::Stopped);
    assert!(drain(&mut lc).events.is_empty());
    assert_eq!(lc.activity(), ActivityLevel::Busy);
}

#[test]
fn transient_failure_retries_exactly_at_the_deadline() {
    let (mut lc, t0) = started(no_heartbeat(false));
    let t1 = t0 + 2 * SEC;
    lc.handle_connect_failed(t1, ConnectionError::Refused);
    let out = drain(&mut lc);
    assert!(out.commands.is_empty());
    assert_eq!(
        out.events,
        [
            status_changed(ActivityLevel::Offline, Some(ConnectionError::Refused)),
            LifecycleEvent::RetryScheduled {
                attempt: 1,
                delay: SEC,
                at: t1 + SEC,
            },
        ]
    );
    assert_eq!(lc.attempts(), 1);
    assert_eq!(lc.poll_timeout(), Some(t1 + SEC));

    // Not a moment early.
    lc.handle_timeout(t1 + SEC - Duration::from_nanos(1));
    let out = drain(&mut lc);
    assert!(out.commands.is_empty() && out.events.is_empty());
    assert_eq!(lc.activity(), ActivityLevel::Offline);

    lc.handle_timeout(t1 + SEC);
    let out = drain(&mut lc);
    assert_eq!(out.commands, [connect(t1 + SEC + 15 * SEC)]);
    // The error stays visible while reconnecting.
    assert_eq!(
        out.events,
        [status_changed(
            ActivityLevel::Connecting,
            Some(ConnectionError::Refused)
        )]
    );

    // The second failure waits 2 s.
    let t2 = t1 + 3 * SEC;
    lc.handle_connect_failed(t2, ConnectionError::Http(503));
    let out = drain(&mut lc);
    assert!(out.events.contains(&LifecycleEvent::RetryScheduled {
        attempt: 2,
        delay: 2 * SEC,
        at: t2 + 2 * SEC,
    }));
    assert_eq!(lc.poll_timeout(), Some(t2 + 2 * SEC));
}

#[test]
fn connect_deadline_cancels_and_retries() {
    let (mut lc, t0) = started(no_heartbeat(false));
    let deadline = t0 + 15 * SEC;
    lc.handle_timeout(deadline - Duration::from_millis(1));
    assert!(drain(&mut lc).commands.is_empty());
    lc.handle_timeout(deadline);
    let out = drain(&mut lc);
    assert_eq!(out.commands, [LifecycleCommand::CancelConnect]);
    assert_eq!(
        lc.status(),
        (ActivityLevel::Offline, Some(&ConnectionError::TimedOut))
    );
    assert_eq!(lc.poll_timeout(), Some(deadline + SEC));
    // A connection that opens anyway is refused.
    lc.handle_connected(deadline + Duration::from_millis(10));
    let out = drain(&mut lc);
    assert!(matches!(
        out.commands[..],
        [LifecycleCommand::Close { code: 1000, .. }]
    ));
    assert_eq!(lc.activity(), ActivityLevel::Offline);
}

#[test]
fn permanent_failures_stop_with_the_error() {
    let permanent = [
        ConnectionError::Http(401),
        ConnectionError::Http(403),
        ConnectionError::Tls("certificate not pinned".into()),
        ConnectionError::Protocol("text message".into()),
        ConnectionError::IncompatibleProfile("no BLIP_3".into()),
    ];
    for error in permanent {
        let (mut lc, t0) = started(no_heartbeat(true));
        lc.handle_connect_failed(t0 + SEC, error.clone());
        let out = drain(&mut lc);
        assert_eq!(
            out.events,
            [status_changed(ActivityLevel::Stopped, Some(error.clone()))]
        );
        assert!(out.commands.is_empty());
        assert_eq!(lc.status(), (ActivityLevel::Stopped, Some(&error)));
        assert_eq!(lc.poll_timeout(), None);
        // Nothing ever connects again.
        lc.handle_timeout(t0 + 1000 * SEC);
        assert!(drain(&mut lc).commands.is_empty());
    }
}

#[test]
fn permanent_session_failure_closes_with_its_code_and_stops() {
    let (mut lc, t0) = started(no_heartbeat(true));
    lc.handle_connected(t0);
    lc.handle_session_status(t0, ActivityLevel::Busy);
    drain(&mut lc);
    let error = SessionError::Refused {
        request: "subChanges",
        error: BlipError {
            domain: "HTTP".into(),
            code: 403,
            message: "forbidden".into(),
        },
    };
    lc.handle_session_failed(t0 + SEC, error.clone());
    let out = drain(&mut lc);
    assert!(matches!(
        out.commands[..],
        [LifecycleCommand::Close { code: 1008, .. }]
    ));
    let error = ConnectionError::Session(error);
    assert_eq!(lc.status(), (ActivityLevel::Stopped, Some(&error)));
}

#[test]
fn one_shot_gives_up_after_ten_attempts() {
    let (mut lc, t0) = started(no_heartbeat(false));
    let mut now = t0;
    let mut connects = 1;
    let mut delays = Vec::new();
    loop {
        now += SEC;
        lc.handle_connect_failed(now, ConnectionError::Reset);
        let out = drain(&mut lc);
        if lc.activity() == ActivityLevel::Stopped {
            assert_eq!(
                out.events,
                [
                    status_changed(ActivityLevel::Stopped, Some(ConnectionError::Reset)),
                    LifecycleEvent::GaveUp {
                        attempts: 10,
                        error: ConnectionError::Reset,
                    },
                ]
            );
            break;
        }
        for e in out.events {
            if let LifecycleEvent::RetryScheduled { delay, at, .. } = e {
                delays.push(delay.as_secs());
                now = at;
            }
        }
        lc.handle_timeout(now);
        connects += drain(&mut lc)
            .commands
            .iter()
            .filter(|c| is_connect(c))
            .count();
    }
    assert_eq!(connects, 10);
    assert_eq!(lc.attempts(), 10);
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    assert_eq!(lc.poll_timeout(), None);
    // start() begins afresh.
    lc.start(now);
    assert_eq!(lc.attempts(), 0);
    assert_eq!(lc.status(), (ActivityLevel::Connecting, None));
}

#[test]
fn max_attempts_one_never_retries() {
    let mut config = no_heartbeat(false);
    config.max_attempts = Some(1);
    let (mut lc, t0) = started(config);
    lc.handle_connect_failed(t0, ConnectionError::Refused);
    assert!(matches!(
        drain(&mut lc).events.last(),
        Some(LifecycleEvent::GaveUp { attempts: 1, .. })
    ));
    assert_eq!(lc.activity(), ActivityLevel::Stopped);
}

#[test]
fn continuous_never_gives_up_and_caps_the_wait() {
    let (mut lc, t0) = started(no_heartbeat(true));
    let mut now = t0;
    for attempt in 1..=200u32 {
        lc.handle_connect_failed(now, ConnectionError::TimedOut);
        let out = drain(&mut lc);
        let Some(LifecycleEvent::RetryScheduled {
            attempt: a,
            delay,
            at,
        }) = out.events.last().cloned()
        else {
            panic!("no retry at attempt {attempt}: {:?}", out.events);
        };
        assert_eq!(a, attempt);
        assert_eq!(delay, retry_delay(attempt - 1, 300 * SEC));
        assert!(delay <= 300 * SEC);
        now = at;
        lc.handle_timeout(now);
        assert!(drain(&mut lc).commands.iter().any(is_connect));
    }
    assert_eq!(lc.attempts(), 200);
}

#[test]
fn idle_resets_the_counter() {
    let (mut lc, t0) = started(no_heartbeat(true));
    let mut now = t0;
    for _ in 0..4 {
        lc.handle_connect_failed(now, ConnectionError::Refused);
        now = lc.poll_timeout().unwrap();
        lc.handle_timeout(now);
    }
    assert_eq!(lc.attempts(), 4);
    lc.handle_connected(now);
    lc.handle_session_status(now, ActivityLevel::Idle);
    assert_eq!(lc.attempts(), 0);
    drain(&mut lc);
    // The next failure starts the backoff again at 1 s.
    lc.handle_closed(
        now + SEC,
        ConnectionError::WebSocketClose(1006, String::new()),
    );
    assert!(
        drain(&mut lc)
            .events
            .contains(&LifecycleEvent::RetryScheduled {
                attempt: 1,
                delay: SEC,
                at: now + 2 * SEC,
            })
    );
}

#[test]
fn a_long_connection_is_good_but_a_short_one_is_not() {
    let (mut lc, t0) = started(no_heartbeat(true));
    lc.handle_connect_failed(t0, ConnectionError::Refused);
    lc.handle_timeout(t0 + SEC);
    // Connected but dropped before 30 s: counts as another failure.
    lc.handle_connected(t0 + SEC);
    lc.handle_session_status(t0 + SEC, ActivityLevel::Busy);
    lc.handle_closed(t0 + 10 * SEC, ConnectionError::Reset);
    assert_eq!(lc.attempts(), 2);
    assert_eq!(lc.poll_timeout(), Some(t0 + 12 * SEC));
    lc.handle_timeout(t0 + 12 * SEC);
    // Connected for 30 s (busy all along): good at the mark.
    lc.handle_connected(t0 + 12 * SEC);
    lc.handle_session_status(t0 + 12 * SEC, ActivityLevel::Busy);
    assert_eq!(lc.poll_timeout(), Some(t0 + 42 * SEC));
    lc.handle_timeout(t0 + 42 * SEC);
    assert_eq!(lc.attempts(), 0);
    assert_eq!(lc.poll_timeout(), None);
    drain(&mut lc);
    lc.handle_closed(t0 + 50 * SEC, ConnectionError::Reset);
    assert!(
        drain(&mut lc)
            .events
            .contains(&LifecycleEvent::RetryScheduled {
                attempt: 1,
                delay: SEC,
                at: t0 + 51 * SEC,
            })
    );
    // Even without the timer firing, a close after the mark counts as good.
    lc.handle_timeout(t0 + 51 * SEC);
    lc.handle_connected(t0 + 51 * SEC);
    lc.handle_closed(t0 + 100 * SEC, ConnectionError::Reset);
    assert_eq!(lc.attempts(), 1);
}

#[test]
fn a_connection_dead_before_the_stable_mark_is_not_good() {
    let mut config = LifecycleConfig::new(true);
    config.heartbeat = Some(10 * SEC);
    config.stable_after = Some(30 * SEC);
    let (mut lc, t0) = started(config);
    lc.handle_connect_failed(t0, ConnectionError::Refused);
    lc.handle_timeout(t0 + SEC);
    lc.handle_connected(t0 + SEC);
    lc.handle_session_status(t0 + SEC, ActivityLevel::Busy);
    drain(&mut lc);
    // The host wakes late, past both the silence limit (t0 + 21 s) and the stable mark
    // (t0 + 31 s): the peer died first, so the connection was not good.
    lc.handle_timeout(t0 + 40 * SEC);
    assert_eq!(lc.attempts(), 2);
    assert!(
        drain(&mut lc)
            .events
            .contains(&LifecycleEvent::RetryScheduled {
                attempt: 2,
                delay: 2 * SEC,
                at: t0 + 42 * SEC,
            })
    );
}

#[test]
fn stop_in_every_state() {
    // Offline: no command.
    let (mut lc, t0) = started(no_heartbeat(true));
    lc.handle_connect_failed(t0, ConnectionError::Refused);
    drain(&mut lc);
    lc.stop(t0 + Duration::from_millis(10));
    let out = drain(&mut lc);
    assert!(out.commands.is_empty());
    assert_eq!(out.events, [status_changed(ActivityLevel::Stopped, None)]);
    assert_eq!(lc.poll_timeout(), None);
    lc.handle_timeout(t0 + 1000 * SEC);
    assert!(drain(&mut lc).commands.is_empty());

    // Connecting: the attempt is cancelled; a late connection is refused.
    let (mut lc, t0) = started(no_heartbeat(true));
    lc.stop(t0);
    assert_eq!(drain(&mut lc).commands, [LifecycleCommand::CancelConnect]);
    assert_eq!(lc.status(), (ActivityLevel::Stopped, None));
    lc.handle_connected(t0 + SEC);
    assert!(matches!(
        drain(&mut lc).commands[..],
        [LifecycleCommand::Close { code: 1000, .. }]
    ));
    assert_eq!(lc.activity(), ActivityLevel::Stopped);

    // Busy: closed normally; the close that follows is ignored.
    let (mut lc, t0) = started(LifecycleConfig::new(true));
    lc.handle_connected(t0);
    lc.handle_session_status(t0, ActivityLevel::Busy);
    drain(&mut lc);
    lc.stop(t0 + SEC);
    let out = drain(&mut lc);
    assert!(matches!(
        out.commands[..],
        [LifecycleCommand::Close { code: 1000, .. }]
    ));
    assert_eq!(out.events, [status_changed(ActivityLevel::Stopped, None)]);
    lc.handle_closed(
        t0 + 2 * SEC,
        ConnectionError::WebSocketClose(1000, String::new()),
    );
    assert!(drain(&mut lc).events.is_empty());
    assert_eq!(lc.poll_timeout(), None);
}

#[test]
fn stop_removes_an_undrained_connect() {
    let t0 = origin();
    let mut lc = ConnectionLifecycle::new(LifecycleConfig::new(false));
    lc.start(t0);
    lc.stop(t0);
    assert_eq!(drain(&mut lc).commands, [LifecycleCommand::CancelConnect]);
}

#[test]
fn heartbeat_pings_and_declares_a_silent_peer_dead() {
    let mut config = LifecycleConfig::new(true);
    config.heartbeat = Some(10 * SEC);
    config.stable_after = None;
    let (mut lc, t0) = started(config);
    lc.handle_connected(t0);
    lc.handle_session_status(t0, ActivityLevel::Idle);
    drain(&mut lc);
    assert_eq!(lc.poll_timeout(), Some(t0 + 10 * SEC));
    lc.handle_timeout(t0 + 10 * SEC);
    assert_eq!(drain(&mut lc).commands, [LifecycleCommand::SendPing]);
    assert_eq!(lc.poll_timeout(), Some(t0 + 20 * SEC));
    // Silent for 2 heartbeats: dead at t0 + 20 s (the ping due then is not sent).
    lc.handle_timeout(t0 + 20 * SEC);
    let out = drain(&mut lc);
    assert!(matches!(
        out.commands[..],
        [LifecycleCommand::Close { code: 1001, .. }]
    ));
    let error = ConnectionError::PeerUnresponsive {
        silent_for: 20 * SEC,
    };
    assert!(error.is_transient());
    assert_eq!(
        out.events,
        [
            status_changed(ActivityLevel::Offline, Some(error)),
            LifecycleEvent::RetryScheduled {
                attempt: 1,
                delay: SEC,
                at: t0 + 21 * SEC,
            },
        ]
    );
    lc.handle_timeout(t0 + 21 * SEC);
    assert!(drain(&mut lc).commands.iter().any(is_connect));
}

#[test]
fn activity_resets_the_silence_timer() {
    let mut config = LifecycleConfig::new(true);
    config.heartbeat = Some(10 * SEC);
    config.stable_after = None;
    let (mut lc, t0) = started(config);
    lc.handle_connected(t0);
    drain(&mut lc);
    let mut pings = 0;
    // The peer answers every ping 1 s late: never declared dead.
    for i in 1..=10u32 {
        let ping_at = t0 + 10 * i * SEC;
        lc.handle_timeout(ping_at);
        pings += drain(&mut lc)
            .commands
            .iter()
            .filter(|c| **c == LifecycleCommand::SendPing)
            .count();
        lc.handle_activity(ping_at + SEC);
        assert!(lc.is_connected());
    }
    assert_eq!(pings, 10);
    // Then silence: dead 20 s after the last activity, not 20 s after the last ping.
    let last = t0 + 101 * SEC;
    lc.handle_timeout(last + 20 * SEC - Duration::from_millis(1));
    assert!(lc.is_connected());
    lc.handle_timeout(last + 20 * SEC);
    assert!(!lc.is_connected());
    assert_eq!(lc.activity(), ActivityLevel::Offline);
}

#[test]
fn one_shot_finished_stops_without_error() {
    let (mut lc, t0) = started(LifecycleConfig::new(false));
    lc.handle_connect_failed(t0, ConnectionError::Refused);
    lc.handle_timeout(t0 + SEC);
    lc.handle_connected(t0 + SEC);
    lc.handle_session_status(t0 + SEC, ActivityLevel::Busy);
    drain(&mut lc);
    lc.handle_session_finished(t0 + 2 * SEC);
    let out = drain(&mut lc);
    assert!(matches!(
        out.commands[..],
        [LifecycleCommand::Close { code: 1000, .. }]
    ));
    assert_eq!(out.events, [status_changed(ActivityLevel::Stopped, None)]);
    assert_eq!(lc.status(), (ActivityLevel::Stopped, None));
    assert_eq!(lc.attempts(), 0);
    assert_eq!(lc.poll_timeout(), None);
}

#[test]
fn a_peer_closing_normally_mid_session_is_retried() {
    let (mut lc, t0) = started(no_heartbeat(false));
    lc.handle_connected(t0);
    lc.handle_closed(
        t0 + SEC,
        ConnectionError::WebSocketClose(1001, "bye".into()),
    );
    assert_eq!(lc.activity(), ActivityLevel::Offline);
    lc.handle_timeout(t0 + 2 * SEC);
    lc.handle_connected(t0 + 2 * SEC);
    lc.handle_closed(
        t0 + 3 * SEC,
        ConnectionError::WebSocketClose(1000, String::new()),
    );
    assert_eq!(lc.activity(), ActivityLevel::Offline);
    lc.handle_timeout(t0 + 5 * SEC);
    lc.handle_connected(t0 + 5 * SEC);
    lc.handle_closed(
        t0 + 6 * SEC,
        ConnectionError::WebSocketClose(1008, "policy".into()),
    );
    assert_eq!(lc.activity(), ActivityLevel::Stopped);
}
