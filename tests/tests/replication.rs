//! Replication between an active and a passive session over the deterministic pair harness.

use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActivityLevel, Direction, PassiveConfig, PassiveEvent, Profile,
    RemoteIdentity,
};
use ferry_engine::value::Value;
use ferry_tests::check::{differences, snapshot};
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

const PROFILES: [Profile; 2] = [Profile::CbMobile3, Profile::Ferry1];

fn json(text: &str) -> Value {
    Value::from_json(text.as_bytes()).unwrap()
}

fn fill(db: &mut MemDb, prefix: &str, n: usize) {
    for i in 0..n {
        let body = json(&format!(
            r#"{{"i":{i},"from":"{prefix}","tags":["a","b"],"f":1.5}}"#
        ));
        db.put(&format!("{prefix}-{i:05}"), &body, None).unwrap();
    }
}

fn config(pair: &Pair, direction: Direction) -> ActiveConfig {
    ActiveConfig::new(direction, RemoteIdentity::Uuid(pair.passive_db.uuid()))
}

fn assert_converged(pair: &Pair) {
    let a = snapshot(&pair.active_db);
    let b = snapshot(&pair.passive_db);
    let diff = differences(&a, &b, 10);
    assert!(diff.is_empty(), "databases differ:\n{}", diff.join("\n"));
}

fn replicated(pair: &Pair, direction: Direction) -> usize {
    pair.link.active_events
        .iter()
        .filter(|e| matches!(e, ActiveEvent::DocumentReplicated { direction: d, .. } if *d == direction))
        .count()
}

fn received_by_passive(pair: &Pair) -> usize {
    pair.link
        .passive_events
        .iter()
        .filter(|e| matches!(e, PassiveEvent::DocumentReceived { .. }))
        .count()
}

fn assert_finished_cleanly(pair: &Pair) {
    let status = pair.active().unwrap().status();
    assert_eq!(
        status.activity,
        ActivityLevel::Stopped,
        "{}",
        pair.describe()
    );
    assert_eq!(status.error, None);
    assert_eq!(
        status.progress.completed, status.progress.total,
        "{status:?}"
    );
}

#[test]
fn one_shot_push_copies_every_document() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 50);
        let cfg = config(&pair, Direction::Push);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(snapshot(&pair.passive_db).len(), 50);
        assert_eq!(replicated(&pair, Direction::Push), 50, "{profile:?}");
        assert_eq!(received_by_passive(&pair), 50);
        assert!(
            pair.link
                .active_events
                .contains(&ActiveEvent::CheckpointSaved)
        );
    }
}

#[test]
fn one_shot_pull_copies_every_document() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.passive_db, "p", 50);
        let cfg = config(&pair, Direction::Pull);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(replicated(&pair, Direction::Pull), 50, "{profile:?}");
    }
}

#[test]
fn push_and_pull_merges_both_databases() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 30);
        fill(&mut pair.passive_db, "p", 40);
        let cfg = config(&pair, Direction::PushAndPull);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(snapshot(&pair.active_db).len(), 70);
        assert_eq!(replicated(&pair, Direction::Push), 30);
        assert_eq!(replicated(&pair, Direction::Pull), 40);
    }
}

fn continuous(pair: &Pair, direction: Direction) -> ActiveConfig {
    let mut cfg = config(pair, direction);
    cfg.continuous = true;
    cfg
}

#[test]
fn continuous_replication_carries_live_changes_both_ways() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 5);
        let cfg = continuous(&pair, Direction::PushAndPull);
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_eq!(
            pair.active().unwrap().status().activity,
            ActivityLevel::Idle
        );
        assert_converged(&pair);

        // A live change on the active side is pushed...
        let r1 = pair
            .active_db
            .put("live-a", &json(r#"{"n":1}"#), None)
            .unwrap();
        pair.active_db_changed();
        pair.run(100_000);
        assert_eq!(
            pair.passive_db.get("live-a").unwrap().unwrap().rev,
            r1,
            "{profile:?}"
        );

        // ...and one on the passive side is pulled, as are updates and deletions.
        let r2 = pair
            .passive_db
            .put("live-p", &json(r#"{"n":2}"#), None)
            .unwrap();
        pair.passive_db_changed();
        pair.run(100_000);
        assert_eq!(pair.active_db.get("live-p").unwrap().unwrap().rev, r2);
        let r3 = pair
            .active_db
            .put("live-a", &json(r#"{"n":3}"#), Some(&r1))
            .unwrap();
        pair.active_db.delete("live-p", &r2).unwrap();
        pair.active_db_changed();
        pair.run(100_000);
        assert_eq!(pair.passive_db.get("live-a").unwrap().unwrap().rev, r3);
        assert!(
            pair.passive_db.get("live-p").unwrap().is_none(),
            "the deletion replicated"
        );
        assert_converged(&pair);
        let status = pair.active().unwrap().status();
        assert_eq!(
            status.activity,
            ActivityLevel::Idle,
            "continuous stays idle, not stopped"
        );
        assert_eq!(status.error, None);
    }
}

/// A received revision waits `insert_delay` for others to share its transaction only while
/// more revisions that were asked for are on their way: a live change alone is stored as soon
/// as it arrives, both ways, even with an hour's delay configured.
#[test]
fn a_live_change_is_stored_without_waiting_for_the_insert_delay() {
    let hour = std::time::Duration::from_secs(3_600);
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 300);
        let mut active = continuous(&pair, Direction::PushAndPull);
        active.insert_delay = hour;
        active.insert_batch = 100;
        let mut passive = PassiveConfig::default();
        passive.insert_delay = hour;
        passive.insert_batch = 100;
        pair.connect(active, passive);
        pair.run(100_000);
        assert_converged(&pair);
        assert!(
            pair.clock.elapsed() < hour,
            "{profile:?}: the initial push waited for the delay: {:?}",
            pair.clock.elapsed()
        );

        let before = pair.clock.elapsed();
        let pushed = pair
            .active_db
            .put("live-a", &json(r#"{"n":1}"#), None)
            .unwrap();
        pair.active_db_changed();
        pair.run(100_000);
        assert_eq!(pair.passive_db.get("live-a").unwrap().unwrap().rev, pushed);
        let pulled = pair
            .passive_db
            .put("live-p", &json(r#"{"n":2}"#), None)
            .unwrap();
        pair.passive_db_changed();
        pair.run(100_000);
        assert_eq!(pair.active_db.get("live-p").unwrap().unwrap().rev, pulled);
        assert!(
            pair.clock.elapsed() - before < std::time::Duration::from_secs(1),
            "{profile:?}: live changes took {:?} of virtual time",
            pair.clock.elapsed() - before
        );
        assert_converged(&pair);
        assert_eq!(pair.active_error(), None);
    }
}

#[test]
fn resuming_from_the_checkpoint_sends_only_new_documents() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a", 100);
    fill(&mut pair.passive_db, "p", 60);
    let cfg = config(&pair, Direction::PushAndPull);
    pair.connect(cfg.clone(), PassiveConfig::default());
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    assert_eq!(received_by_passive(&pair), 100);
    assert_eq!(replicated(&pair, Direction::Pull), 60);

    pair.disconnect();
    fill(&mut pair.active_db, "b", 10);
    fill(&mut pair.passive_db, "q", 7);
    pair.link.active_events.clear();
    pair.link.passive_events.clear();
    pair.connect(cfg, PassiveConfig::default());
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    assert_eq!(
        received_by_passive(&pair),
        10,
        "only the new documents are pushed"
    );
    assert_eq!(
        replicated(&pair, Direction::Pull),
        7,
        "only the new documents are pulled"
    );
    assert_converged(&pair);
}

#[test]
fn an_interrupted_push_resumes_without_losing_or_resending_much() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    fill(&mut pair.active_db, "a", 2_000);
    let mut cfg = config(&pair, Direction::Push);
    cfg.checkpoint_interval = std::time::Duration::from_millis(1);
    cfg.changes_batch = 100;
    pair.connect(cfg.clone(), PassiveConfig::default());
    // Deliver part of the session (until the passive has stored some), then cut the
    // connection mid-stream.
    for _ in 0..100_000 {
        pair.run_steps(1);
        if received_by_passive(&pair) > 0 {
            break;
        }
    }
    let before = received_by_passive(&pair);
    assert!(
        before > 0 && before < 2_000,
        "the cut happens mid-push ({before})"
    );
    pair.disconnect();
    pair.link.passive_events.clear();
    pair.connect(cfg, PassiveConfig::default());
    pair.run(200_000);
    assert_finished_cleanly(&pair);
    assert_converged(&pair);
    let resent = received_by_passive(&pair);
    assert!(resent + before >= 2_000, "nothing lost");
    assert!(
        resent < 2_000,
        "the checkpoint skipped what was done ({resent} re-received)"
    );
}

#[test]
fn mismatched_checkpoints_roll_back_to_the_common_part() {
    use ferry_engine::repl::catalogue::CheckpointBody;
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a", 20);
    let cfg = config(&pair, Direction::Push);
    pair.connect(cfg.clone(), PassiveConfig::default());
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    let id = pair.active().unwrap().checkpoint_id().to_owned();
    pair.disconnect();

    // Five more documents are written, then our copy of the checkpoint claims they were pushed
    // (as if it were saved by a session whose peer copy was lost). The peer's copy still says
    // 20: the session must roll back to the common part and push them.
    fill(&mut pair.active_db, "b", 5);
    let claim = CheckpointBody {
        local: Some(25),
        ..CheckpointBody::default()
    };
    pair.active_db
        .set_local_checkpoint(&id, &claim.to_value().to_cbor())
        .unwrap();
    pair.link.passive_events.clear();
    pair.connect(cfg, PassiveConfig::default());
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    assert_eq!(
        received_by_passive(&pair),
        5,
        "the unpushed documents were found again"
    );
    assert_converged(&pair);
}

#[test]
fn reset_starts_over_but_sends_nothing_the_peer_has() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.active_db, "a", 30);
    let mut cfg = config(&pair, Direction::Push);
    pair.connect(cfg.clone(), PassiveConfig::default());
    pair.run(100_000);
    pair.disconnect();
    pair.link.passive_events.clear();
    pair.link.active_events.clear();
    cfg.reset_checkpoint = true;
    pair.connect(cfg, PassiveConfig::default());
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    let status = pair.active().unwrap().status();
    assert_eq!(
        status.progress.total, 30,
        "a reset re-examines every change with the peer"
    );
    assert_eq!(status.progress.completed, 30);
    assert_eq!(
        received_by_passive(&pair),
        0,
        "the peer has them all: no revision is sent again"
    );
}

#[test]
fn a_read_only_listener_refuses_pushes_and_serves_pulls() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    fill(&mut pair.active_db, "a", 3);
    fill(&mut pair.passive_db, "p", 4);
    let mut read_only = PassiveConfig::default();
    read_only.read_only = true;
    let cfg = config(&pair, Direction::Push);
    pair.connect(cfg, read_only.clone());
    pair.run(100_000);
    let error = pair.active_error().expect("the push fails");
    assert!(
        !error.is_transient(),
        "a read-only refusal is permanent: {error}"
    );
    assert!(error.to_string().contains("403"), "{error}");
    assert!(error.to_string().contains("read-only"), "{error}");
    assert!(
        pair.passive_db.get("a-00000").unwrap().is_none(),
        "nothing was stored"
    );

    pair.disconnect();
    let cfg = config(&pair, Direction::Pull);
    pair.connect(cfg, read_only);
    pair.run(100_000);
    assert_finished_cleanly(&pair);
    assert_eq!(replicated(&pair, Direction::Pull), 4);
}

#[test]
fn updates_replicate_with_their_history() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let mut rev = pair
            .active_db
            .put("doc", &json(r#"{"v":0}"#), None)
            .unwrap();
        let cfg = config(&pair, Direction::Push);
        pair.connect(cfg.clone(), PassiveConfig::default());
        pair.run(100_000);
        pair.disconnect();
        let mut revs = vec![rev.clone()];
        for v in 1..6 {
            rev = pair
                .active_db
                .put("doc", &json(&format!(r#"{{"v":{v}}}"#)), Some(&rev))
                .unwrap();
            revs.push(rev.clone());
        }
        pair.connect(cfg, PassiveConfig::default());
        pair.run(100_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        let (_, tree) = pair.passive_db.revision_tree("doc").unwrap().unwrap();
        for r in &revs {
            assert!(
                tree.contains(r),
                "{profile:?}: the passive tree holds {r} from the history"
            );
        }
        assert!(!tree.is_conflicted());
        // A third peer pulling from the second gets the same tree.
        let mut third = Pair::new(memory_db(3), pair.passive_db, profile);
        let cfg = config(&third, Direction::Pull);
        third.connect(cfg, PassiveConfig::default());
        third.run(100_000);
        let (_, tree3) = third.active_db.revision_tree("doc").unwrap().unwrap();
        assert_eq!(tree3.current(), Some(&rev));
        assert!(revs.iter().all(|r| tree3.contains(r)), "history travels on");
    }
}

#[test]
fn ten_thousand_documents_move_within_the_configured_windows() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        fill(&mut pair.active_db, "a", 10_000);
        fill(&mut pair.passive_db, "p", 10_000);
        let mut cfg = config(&pair, Direction::PushAndPull);
        cfg.changes_batch = 200;
        cfg.max_changes_in_flight = 2;
        cfg.max_revs_in_flight = 50;
        cfg.max_pull_pending = 300;
        cfg.insert_batch = 100;
        let mut passive = PassiveConfig::default();
        passive.changes_batch = 200;
        passive.max_changes_in_flight = 2;
        passive.max_revs_in_flight = 40;
        passive.insert_batch = 100;
        pair.connect(cfg, passive);
        pair.run(2_000_000);
        assert_finished_cleanly(&pair);
        assert_converged(&pair);
        assert_eq!(snapshot(&pair.active_db).len(), 20_000);
        let max = pair.max_windows();
        assert!(max.active.announcements_in_flight <= 2, "{max:?}");
        assert!(max.active.revs_in_flight <= 50, "{max:?}");
        assert!(max.active.pending_inserts <= 100, "{max:?}");
        assert!(max.active.pull_unfinished <= 300 + 200, "{max:?}");
        assert!(max.passive.announcements_in_flight <= 2, "{max:?}");
        assert!(max.passive.revs_in_flight <= 40, "{max:?}");
        assert!(max.passive.pending_inserts <= 100, "{max:?}");
        assert!(
            max.active.revs_in_flight > 1 && max.passive.revs_in_flight > 1,
            "pipelined"
        );
    }
}

#[test]
fn a_stale_record_of_the_peer_is_corrected_not_reported_as_a_conflict() {
    // A pushes r1 to P. Then r2 reaches P through a third peer T, so A's record of what P has
    // (r1) is stale. A's next push of r3 is refused with P's current r2 — an ancestor of r3 —
    // and A proposes again on top of it instead of reporting a conflict.
    let mut ap = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    let r1 = ap.active_db.put("doc", &json(r#"{"v":1}"#), None).unwrap();
    let cfg = config(&ap, Direction::Push);
    ap.connect(cfg.clone(), PassiveConfig::default());
    ap.run(10_000);
    assert_finished_cleanly(&ap);
    ap.disconnect();
    let r2 = ap
        .active_db
        .put("doc", &json(r#"{"v":2}"#), Some(&r1))
        .unwrap();

    // A → T, then T → P.
    let mut at = Pair::new(ap.active_db, memory_db(3), Profile::Ferry1);
    let cfg_t = config(&at, Direction::Push);
    at.connect(cfg_t, PassiveConfig::default());
    at.run(10_000);
    let mut tp = Pair::new(at.passive_db, ap.passive_db, Profile::Ferry1);
    let cfg_p = config(&tp, Direction::Push);
    tp.connect(cfg_p, PassiveConfig::default());
    tp.run(10_000);
    assert_eq!(tp.passive_db.get("doc").unwrap().unwrap().rev, r2);

    let mut ap = Pair::new(at.active_db, tp.passive_db, Profile::Ferry1);
    let r3 = ap
        .active_db
        .put("doc", &json(r#"{"v":3}"#), Some(&r2))
        .unwrap();
    ap.connect(cfg, PassiveConfig::default());
    ap.run(10_000);
    assert_finished_cleanly(&ap);
    assert_eq!(ap.passive_db.get("doc").unwrap().unwrap().rev, r3);
    assert!(
        !ap.link
            .active_events
            .iter()
            .any(|e| matches!(e, ActiveEvent::DocumentFailed { .. })),
        "no conflict reported: {:?}",
        ap.link.active_events
    );
}

#[test]
fn a_push_conflict_is_reported_per_document_and_does_not_stop_the_replicator() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    let r1 = pair
        .active_db
        .put("doc", &json(r#"{"v":1}"#), None)
        .unwrap();
    pair.active_db
        .put("other", &json(r#"{"v":1}"#), None)
        .unwrap();
    let cfg = config(&pair, Direction::Push);
    pair.connect(cfg.clone(), PassiveConfig::default());
    pair.run(10_000);
    pair.disconnect();
    // Both sides edit the same document.
    pair.active_db
        .put("doc", &json(r#"{"v":"mine"}"#), Some(&r1))
        .unwrap();
    let theirs = pair
        .passive_db
        .put("doc", &json(r#"{"v":"theirs"}"#), Some(&r1))
        .unwrap();
    pair.active_db
        .put("new", &json(r#"{"v":1}"#), None)
        .unwrap();
    pair.link.active_events.clear();
    pair.connect(cfg, PassiveConfig::default());
    pair.run(10_000);
    assert_finished_cleanly(&pair);
    let failed: Vec<_> = pair
        .link
        .active_events
        .iter()
        .filter_map(|e| match e {
            ActiveEvent::DocumentFailed {
                doc_id,
                error,
                transient,
                ..
            } => Some((doc_id.clone(), error.clone(), *transient)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "doc");
    assert!(
        failed[0].1.contains(theirs.as_str()),
        "the error names the peer's revision"
    );
    assert!(
        !failed[0].2,
        "push-only: nothing will bring the remote revision"
    );
    assert_eq!(
        pair.passive_db.get("doc").unwrap().unwrap().rev,
        theirs,
        "never overwritten"
    );
    assert!(
        pair.passive_db.get("new").unwrap().is_some(),
        "other documents still move"
    );
    assert!(
        pair.passive_db.conflicts("doc").unwrap().is_empty(),
        "no conflict stored"
    );
}

#[test]
fn active_only_skips_old_tombstones_but_not_live_deletions() {
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::CbMobile3);
    fill(&mut pair.passive_db, "p", 3);
    let gone = pair.passive_db.get("p-00000").unwrap().unwrap().rev;
    pair.passive_db.delete("p-00000", &gone).unwrap();
    let cfg = continuous(&pair, Direction::Pull);
    pair.connect(cfg, PassiveConfig::default());
    pair.run(10_000);
    assert!(
        pair.active_db.revision_tree("p-00000").unwrap().is_none(),
        "a tombstone older than the first pull into an empty database is not sent"
    );
    // A deletion after the subscription must reach the puller.
    let live = pair.passive_db.get("p-00001").unwrap().unwrap().rev;
    pair.passive_db.delete("p-00001", &live).unwrap();
    pair.passive_db_changed();
    pair.run(10_000);
    assert!(
        pair.active_db.get("p-00001").unwrap().is_none(),
        "the live deletion arrived"
    );
    assert!(pair.active_db.revision_tree("p-00001").unwrap().is_some());
}

#[test]
fn a_silent_puller_times_out_at_the_listener() {
    use ferry_tests::link::Direction as Towards;
    let mut pair = Pair::new(memory_db(1), memory_db(2), Profile::Ferry1);
    fill(&mut pair.passive_db, "p", 5);
    let cfg = config(&pair, Direction::Pull);
    pair.connect(cfg, PassiveConfig::default());
    // Let the subscription through, then the active side goes silent: nothing it sends
    // arrives any more.
    for _ in 0..4 {
        let now = pair.clock.now();
        pair.link.deliver(
            Towards::ToPassive,
            now,
            &mut pair.active_db,
            &mut pair.passive_db,
        );
        pair.link.deliver(
            Towards::ToActive,
            now,
            &mut pair.active_db,
            &mut pair.passive_db,
        );
    }
    let mut passive_failed = false;
    for _ in 0..100 {
        let Some(at) = pair.passive().and_then(|p| p.poll_timeout()) else {
            break;
        };
        pair.clock.advance_to(at);
        let now = pair.clock.now();
        pair.link
            .fire_timers(now, &mut pair.active_db, &mut pair.passive_db);
        if let Some(e) = pair.passive().and_then(|p| p.error()) {
            assert!(e.is_transient(), "a timeout is transient: {e}");
            assert!(e.to_string().contains("did not answer"), "{e}");
            passive_failed = true;
            break;
        }
    }
    assert!(
        passive_failed,
        "the passive side gave up on the silent peer: {}",
        pair.describe()
    );
    assert!(pair.clock.elapsed() >= std::time::Duration::from_secs(60));
}

/// A slow peer: every frame takes `latency` of virtual time, and due timers fire between
/// frames, as a host's loop does. A one-shot session outlives its checkpoint interval and
/// then waits, finishing, for the reply to its last checkpoint: its deadline must move on
/// each time it fires (`Link::fire_timers` checks), or a host would wake for it in a busy loop.
#[test]
fn a_session_slower_than_its_checkpoint_interval_never_leaves_a_past_deadline() {
    use ferry_tests::link::Direction as Towards;
    use std::time::Duration;
    for profile in PROFILES {
        for direction in [Direction::Push, Direction::Pull] {
            let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
            fill(&mut pair.active_db, "a", 20);
            fill(&mut pair.passive_db, "p", 20);
            let mut cfg = config(&pair, direction);
            cfg.checkpoint_interval = Duration::from_secs(1);
            pair.connect(cfg, PassiveConfig::default());
            let mut fired = 0;
            for _ in 0..10_000 {
                pair.clock.advance(Duration::from_millis(300));
                let now = pair.clock.now();
                if pair.link.next_deadline().is_some_and(|t| t <= now) {
                    pair.link
                        .fire_timers(now, &mut pair.active_db, &mut pair.passive_db);
                    fired += 1;
                }
                let moved = [Towards::ToPassive, Towards::ToActive]
                    .into_iter()
                    .any(|to| {
                        pair.link
                            .deliver(to, now, &mut pair.active_db, &mut pair.passive_db)
                    });
                if !moved && pair.link.is_quiescent() {
                    break;
                }
            }
            assert!(
                pair.clock.elapsed() > Duration::from_secs(5),
                "{}",
                pair.describe()
            );
            assert!(fired > 0, "no timer fired: the test proves nothing");
            assert_finished_cleanly(&pair);
            let held = if direction == Direction::Push {
                &pair.passive_db
            } else {
                &pair.active_db
            };
            assert_eq!(snapshot(held).len(), 40, "{profile:?} {direction:?}");
        }
    }
}

/// `CBMobile_3` compresses `rev`s and change lists (and so their answers) as LiteCore does;
/// `Ferry_1` sends them uncompressed (docs/PROTOCOL.md, "Body encodings"), both ways.
#[test]
fn only_cbmobile_compresses_revs_and_change_lists() {
    use ferry_engine::blip::{IncomingMessage, MessageType};
    use ferry_engine::repl::catalogue::names;
    use ferry_tests::link::{Direction as Wire, incoming_messages};

    for profile in PROFILES {
        for direction in [Direction::Push, Direction::Pull] {
            let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
            let source = match direction {
                Direction::Push => &mut pair.active_db,
                _ => &mut pair.passive_db,
            };
            fill(source, "c", 20);
            pair.link.tap = Some(Vec::new());
            pair.connect(config(&pair, direction), PassiveConfig::default());
            pair.run(100_000);
            assert_eq!(pair.active_error(), None, "{}", pair.describe());
            let frames = pair.link.tap.take().unwrap_or_default();
            let (to_sender, to_receiver) = match direction {
                Direction::Push => (Wire::ToActive, Wire::ToPassive),
                _ => (Wire::ToPassive, Wire::ToActive),
            };
            let sent = incoming_messages(&frames, to_receiver);
            let answers = incoming_messages(&frames, to_sender);
            let is = |m: &IncomingMessage, name: &str| {
                m.kind == MessageType::Request && m.message.profile() == Some(name)
            };
            let lists: Vec<&IncomingMessage> = sent
                .iter()
                .filter(|m| {
                    (is(m, names::CHANGES) || is(m, names::PROPOSE_CHANGES)) && !m.flags.no_reply()
                })
                .collect();
            let revs: Vec<&IncomingMessage> = sent.iter().filter(|m| is(m, names::REV)).collect();
            let list_answers: Vec<&IncomingMessage> = answers
                .iter()
                .filter(|a| {
                    a.kind == MessageType::Reply && lists.iter().any(|l| l.number == a.number)
                })
                .collect();
            assert_eq!(revs.len(), 20, "{profile:?} {direction:?}");
            assert!(!lists.is_empty() && !list_answers.is_empty());
            let compressed = profile == Profile::CbMobile3;
            for m in lists.iter().chain(&revs).chain(&list_answers) {
                assert_eq!(
                    m.flags.compressed(),
                    compressed,
                    "{profile:?} {direction:?}: {:?} {:?}",
                    m.kind,
                    m.message.profile()
                );
            }
        }
    }
}
