//! Unit tests of [`super`] that need no database (the pair tests in `tests/tests/deltas.rs`
//! cover sending and receiving against real stores).

use super::*;

#[test]
fn deltas_are_offered_once_and_only_when_enabled() {
    let mut on = DeltaReceiver::new(true);
    assert!(on.advertise_now());
    assert!(!on.advertise_now());
    let mut off = DeltaReceiver::new(false);
    assert!(!off.advertise_now());
    let reply = DeltaReceiver::new(true).advertise(Message::new());
    assert_eq!(reply.property("deltas"), Some("true"));
}

#[test]
fn only_delta_failures_trigger_a_full_resend() {
    let err = |domain: &str, code| BlipError {
        domain: domain.into(),
        code,
        message: String::new(),
    };
    assert!(is_delta_failure(&err("HTTP", 422)));
    assert!(is_delta_failure(&err("LiteCore", 31)));
    assert!(is_delta_failure(&err("LiteCore", 32)));
    assert!(!is_delta_failure(&err("HTTP", 409)));
    assert!(!is_delta_failure(&err("HTTP", 31)));
}

#[test]
fn refusal_statuses() {
    let rev = RevId::parse("1-aa").unwrap();
    let base_unknown = RevBodyError::BaseUnknown {
        doc_id: "d".into(),
        base: rev.clone(),
    };
    let corrupt = RevBodyError::Corrupt {
        doc_id: "d".into(),
        base: rev,
        reason: "x".into(),
    };
    let busy = RevBodyError::Database {
        message: "busy".into(),
        transient: true,
    };
    let broken = RevBodyError::Database {
        message: "io".into(),
        transient: false,
    };
    let bad = RevBodyError::BadBody {
        doc_id: "d".into(),
        reason: "x".into(),
    };
    for (e, status, retried) in [
        (base_unknown, 422, true),
        (corrupt, 422, true),
        (busy, 503, true),
        (broken, 500, false),
        (bad, 400, false),
        (RevBodyError::NotNegotiated, 400, false),
    ] {
        assert_eq!((e.status(), e.is_retried()), (status, retried), "{e}");
    }
}

#[test]
fn the_sender_waits_for_the_peer_offer_and_resends_only_refused_deltas() {
    let mut sender = DeltaSender::new(true).recording_bases();
    assert!(!sender.active());
    sender.peer_replied(&Message::new().with_property("maxHistory", "20"));
    assert!(!sender.active());
    sender.peer_replied(&Message::new().with_property("deltas", "true"));
    assert!(sender.active());
    sender.peer_replied(&Message::new());
    assert!(sender.active(), "the offer holds for the connection");
    let mut off = DeltaSender::new(false);
    off.peer_replied(&Message::new().with_property("deltas", "true"));
    assert!(!off.active());

    let rev = RevId::parse("2-bb").unwrap();
    let base = RevId::parse("1-aa").unwrap();
    let key = ("d".to_owned(), rev.clone());
    sender.in_flight.insert(
        key.clone(),
        InFlight {
            known: vec![base.clone()],
        },
    );
    let refused = BlipError {
        domain: "HTTP".into(),
        code: 422,
        message: String::new(),
    };
    assert_eq!(sender.replied("d", &rev, Some(&refused)), Some(vec![base]));
    assert!(sender.full_only.contains(&key));
    // A full body refused with 422 is not retried again.
    assert_eq!(sender.replied("d", &rev, Some(&refused)), None);
    assert_eq!(sender.replied("d", &rev, None), None);
    assert_eq!(sender.acknowledged, vec![key]);
    // The active pusher records acknowledged revisions itself: nothing collects here.
    let mut active = DeltaSender::new(true);
    assert_eq!(
        active.replied("d", &RevId::parse("3-cc").unwrap(), None),
        None
    );
    assert!(active.acknowledged.is_empty());
}
