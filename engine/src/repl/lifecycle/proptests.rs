//! Properties of the connection life cycle: backoff, deadlines, and invariants under any
//! sequence of inputs.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::tests::{drain, is_connect, origin, started};
use super::*;
use crate::repl::SessionError;

/// An input to the machine, at an offset in milliseconds after the previous one.
#[derive(Debug, Clone)]
enum Input {
    Start,
    Stop,
    Connected,
    ConnectFailed(ConnectionError),
    Closed(ConnectionError),
    SessionFailed(bool),
    SessionFinished,
    SessionStatus(ActivityLevel),
    Activity,
    Timeout,
    /// `handle_timeout` exactly at the machine's deadline.
    TimeoutAtDeadline,
}

fn arb_error() -> impl Strategy<Value = ConnectionError> {
    prop_oneof![
        Just(ConnectionError::Refused),
        Just(ConnectionError::Reset),
        Just(ConnectionError::TimedOut),
        (400u16..600).prop_map(ConnectionError::Http),
        Just(ConnectionError::Tls("bad certificate".into())),
        (1000u16..1016).prop_map(|c| ConnectionError::WebSocketClose(c, String::new())),
        Just(ConnectionError::Protocol("bad".into())),
    ]
}

fn arb_level() -> impl Strategy<Value = ActivityLevel> {
    prop_oneof![
        Just(ActivityLevel::Stopped),
        Just(ActivityLevel::Offline),
        Just(ActivityLevel::Connecting),
        Just(ActivityLevel::Idle),
        Just(ActivityLevel::Busy),
    ]
}

fn arb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => Just(Input::Start),
        1 => Just(Input::Stop),
        3 => Just(Input::Connected),
        2 => arb_error().prop_map(Input::ConnectFailed),
        2 => arb_error().prop_map(Input::Closed),
        1 => any::<bool>().prop_map(Input::SessionFailed),
        1 => Just(Input::SessionFinished),
        2 => arb_level().prop_map(Input::SessionStatus),
        2 => Just(Input::Activity),
        3 => Just(Input::Timeout),
        4 => Just(Input::TimeoutAtDeadline),
    ]
}

fn arb_config() -> impl Strategy<Value = LifecycleConfig> {
    (
        any::<bool>(),
        proptest::option::of(0u32..5),
        1u64..400_000,
        1u64..60_000,
        proptest::option::of(1u64..60_000),
        proptest::option::of(1u64..120_000),
    )
        .prop_map(|(continuous, max, wait, connect, heartbeat, stable)| {
            let mut config = LifecycleConfig::new(continuous);
            if max.is_some() {
                config.max_attempts = max;
            }
            config.max_attempt_wait = Duration::from_millis(wait);
            config.connect_timeout = Duration::from_millis(connect);
            config.heartbeat = heartbeat.map(Duration::from_millis);
            config.stable_after = stable.map(Duration::from_millis);
            config
        })
}

fn apply(lc: &mut ConnectionLifecycle, now: Instant, input: &Input) {
    match input {
        Input::Start => lc.start(now),
        Input::Stop => lc.stop(now),
        Input::Connected => lc.handle_connected(now),
        Input::ConnectFailed(e) => lc.handle_connect_failed(now, e.clone()),
        Input::Closed(e) => lc.handle_closed(now, e.clone()),
        Input::SessionFailed(transient) => {
            let error = if *transient {
                SessionError::Closed("eof".into())
            } else {
                SessionError::Malformed(crate::repl::catalogue::CatalogueError::MissingProperty {
                    message: "rev",
                    property: "id",
                })
            };
            lc.handle_session_failed(now, error);
        }
        Input::SessionFinished => lc.handle_session_finished(now),
        Input::SessionStatus(level) => lc.handle_session_status(now, *level),
        Input::Activity => lc.handle_activity(now),
        Input::Timeout | Input::TimeoutAtDeadline => lc.handle_timeout(now),
    }
}

proptest! {
    #[test]
    fn backoff_doubles_and_never_exceeds_the_cap(n in 0u32..200, cap_ms in 0u64..10_000_000) {
        let cap = Duration::from_millis(cap_ms);
        let d = retry_delay(n, cap);
        prop_assert!(d <= cap);
        let uncapped = if n < 64 { Some(Duration::from_secs(1u64 << n)) } else { None };
        prop_assert_eq!(d, uncapped.map_or(cap, |u| u.min(cap)));
        // Monotonic in n.
        prop_assert!(retry_delay(n.saturating_add(1), cap) >= d);
    }

    #[test]
    fn retries_follow_the_backoff(config in arb_config(), errors in proptest::collection::vec(arb_error(), 1..30)) {
        let (mut lc, t0) = started(config.clone());
        let mut now = t0;
        for error in errors {
            if lc.activity() != ActivityLevel::Connecting {
                break;
            }
            lc.handle_connect_failed(now, error.clone());
            let out = drain(&mut lc);
            for e in &out.events {
                if let LifecycleEvent::RetryScheduled { attempt, delay, at } = e {
                    prop_assert!(error.is_transient());
                    prop_assert_eq!(*attempt, lc.attempts());
                    prop_assert_eq!(*delay, retry_delay(attempt - 1, config.max_attempt_wait));
                    prop_assert!(*delay <= config.max_attempt_wait);
                    prop_assert_eq!(*at, now + *delay);
                    prop_assert_eq!(lc.poll_timeout(), Some(*at));
                    now = *at;
                }
            }
            if !error.is_transient() {
                prop_assert_eq!(lc.status(), (ActivityLevel::Stopped, Some(&error)));
            }
            lc.handle_timeout(now);
            drain(&mut lc);
        }
    }

    #[test]
    fn any_inputs_keep_the_invariants(
        config in arb_config(),
        steps in proptest::collection::vec((0u64..40_000, arb_input(), 0u8..4), 0..80),
    ) {
        let t0 = origin();
        let mut lc = ConnectionLifecycle::new(config);
        let mut now = t0;
        // Whether the host drained the queues after the previous input (it sometimes lags).
        let mut drained = true;
        for (gap_ms, input, lag) in steps {
            let previous = now;
            now = match (&input, lc.poll_timeout()) {
                (Input::TimeoutAtDeadline, Some(deadline)) if deadline > now => deadline,
                _ => now + Duration::from_millis(gap_ms),
            };
            // Nothing happens before the earliest deadline (probed when time passes it).
            let probe = lc
                .poll_timeout()
                .and_then(|deadline| deadline.checked_sub(Duration::from_nanos(1)));
            if let Some(probe) = probe {
                if drained && previous <= probe && probe <= now {
                    let before = (lc.status().0, lc.status().1.cloned(), lc.attempts(), lc.poll_timeout());
                    lc.handle_timeout(probe);
                    let out = drain(&mut lc);
                    prop_assert!(out.commands.is_empty() && out.events.is_empty());
                    prop_assert_eq!(before, (lc.status().0, lc.status().1.cloned(), lc.attempts(), lc.poll_timeout()));
                }
            }
            apply(&mut lc, now, &input);
            // poll_timeout is the earliest pending deadline.
            prop_assert_eq!(lc.poll_timeout(), lc.deadlines().into_iter().flatten().min());
            if matches!(input, Input::Timeout | Input::TimeoutAtDeadline) {
                // Every deadline due was acted on.
                prop_assert!(lc.poll_timeout().is_none_or(|t| t > now));
            }
            if lc.activity() == ActivityLevel::Stopped {
                prop_assert_eq!(lc.poll_timeout(), None);
            }
            if let Some(max) = lc.config().max_attempts {
                prop_assert!(lc.attempts() <= max.max(1));
            }
            drained = lag != 0;
            if !drained {
                continue;
            }
            let out = drain(&mut lc);
            // A Connect is only ever taken in Connecting (never while stopped or offline), and
            // never two at once, however late the host drains.
            let connects = out.commands.iter().filter(|c| is_connect(c)).count();
            prop_assert!(connects <= 1, "{:?}", out.commands);
            if connects == 1 {
                prop_assert_eq!(lc.activity(), ActivityLevel::Connecting);
            }
            // The last status announced is the current one.
            if let Some(LifecycleEvent::StatusChanged { activity, error }) = out
                .events
                .iter()
                .rev()
                .find(|e| matches!(e, LifecycleEvent::StatusChanged { .. }))
            {
                prop_assert_eq!((*activity, error.as_ref()), lc.status());
            }
        }
    }

    #[test]
    fn extreme_configurations_never_panic(
        durations in proptest::collection::vec(
            prop_oneof![Just(Duration::ZERO), Just(Duration::from_nanos(1)), Just(Duration::MAX)],
            5,
        ),
        max in proptest::option::of(prop_oneof![Just(0u32), Just(1), Just(u32::MAX)]),
        steps in proptest::collection::vec((prop_oneof![Just(0u64), Just(1), Just(u64::MAX / 4)], arb_input()), 0..60),
    ) {
        let mut config = LifecycleConfig::new(true);
        config.max_attempts = max;
        config.max_attempt_wait = durations[0];
        config.connect_timeout = durations[1];
        config.heartbeat = Some(durations[2]);
        config.stable_after = Some(durations[3]);
        let t0 = origin();
        let mut lc = ConnectionLifecycle::new(config);
        let mut now = t0;
        for (gap_ns, input) in steps {
            now = now.checked_add(Duration::from_nanos(gap_ns)).unwrap_or(now);
            if let (Input::TimeoutAtDeadline, Some(deadline)) = (&input, lc.poll_timeout()) {
                now = now.max(deadline);
            }
            apply(&mut lc, now, &input);
            let out = drain(&mut lc);
            if lc.activity() != ActivityLevel::Connecting {
                prop_assert!(!out.commands.iter().any(is_connect));
            }
        }
    }
}
