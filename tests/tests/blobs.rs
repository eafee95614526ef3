//! Blobs over the deterministic pair harness: fetched on demand with `getAttachment`, once per
//! digest, verified, never moved again once the receiver has them; failures refuse the
//! document and store nothing.

use std::collections::BTreeMap;

use ferry_engine::blip::MessageType;
use ferry_engine::blob::{BlobRef, digest_of, digest_to_string};
use ferry_engine::db::{Database, DatabaseConfig};
use ferry_engine::repl::catalogue::names;
use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, Direction, PassiveConfig, PassiveEvent, Profile, RemoteIdentity,
};
use ferry_engine::rev::RevId;
use ferry_engine::store::{Store, WriteBatch, WriteOp};
use ferry_engine::value::Value;
use ferry_store_memory::MemoryStore;
use ferry_tests::check::{blob_problems, differences, snapshot};
use ferry_tests::link::{Direction as Wire, messages};
use ferry_tests::pair::Pair;
use ferry_tests::{MemDb, memory_db};

const PROFILES: [Profile; 2] = [Profile::CbMobile3, Profile::Ferry1];

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn save(db: &mut MemDb, bytes: &[u8], content_type: Option<&str>) -> BlobRef {
    db.save_blob(bytes, content_type).expect("save a blob")
}

fn put(db: &mut MemDb, doc_id: &str, body: &Value, base: Option<&RevId>) -> RevId {
    db.put(doc_id, body, base).expect("put a document")
}

fn with_blobs(fields: &[(&str, &BlobRef)]) -> Value {
    let mut map: BTreeMap<String, Value> = fields
        .iter()
        .map(|(k, b)| ((*k).to_owned(), b.to_value()))
        .collect();
    map.insert("title".into(), Value::from("with blobs"));
    Value::Object(map)
}

/// `getAttachment` requests of one session: (digest, offset) in the order sent, per direction
/// they travelled.
fn fetches(frames: &[(Wire, Vec<u8>)], dir: Wire) -> Vec<(String, Option<String>)> {
    messages(frames, dir)
        .into_iter()
        .filter(|(k, m)| *k == MessageType::Request && m.profile() == Some(names::GET_ATTACHMENT))
        .map(|(_, m)| {
            (
                m.property("digest").unwrap_or_default().to_owned(),
                m.property("offset").map(str::to_owned),
            )
        })
        .collect()
}

/// Runs one one-shot session with the tap on; returns its frames.
fn session(pair: &mut Pair, direction: Direction) -> Vec<(Wire, Vec<u8>)> {
    pair.link.tap = Some(Vec::new());
    let cfg = ActiveConfig::new(direction, RemoteIdentity::Uuid(pair.passive_db.uuid()));
    pair.connect(cfg, PassiveConfig::default());
    pair.run(1_000_000);
    assert_eq!(pair.active_error(), None, "{}", pair.describe());
    pair.link.tap.take().unwrap_or_default()
}

fn assert_converged_with_blobs(pair: &Pair) {
    let diff = differences(&snapshot(&pair.active_db), &snapshot(&pair.passive_db), 10);
    assert!(diff.is_empty(), "databases differ:\n{}", diff.join("\n"));
    for db in [&pair.active_db, &pair.passive_db] {
        let problems = blob_problems(db, 10);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert_eq!(db.store().staged_blob_count(), 0, "nothing left staged");
    }
}

fn failures(pair: &Pair) -> Vec<(String, Direction, String, bool)> {
    pair.link
        .active_events
        .iter()
        .filter_map(|e| match e {
            ActiveEvent::DocumentFailed {
                doc_id,
                direction,
                error,
                transient,
                ..
            } => Some((doc_id.clone(), *direction, error.clone(), *transient)),
            _ => None,
        })
        .collect()
}

/// Puts a blob into a store under a digest its bytes do not have (a corrupt store or a lying
/// peer), bypassing the database's checks.
fn corrupt(db: MemDb, digest_of_bytes: &[u8], stored: &[u8]) -> MemDb {
    let mut store = db.into_store();
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::PutBlob {
        digest: digest_of(digest_of_bytes),
        bytes: stored.to_vec(),
    });
    store.apply(batch).unwrap();
    Database::open(store, DatabaseConfig::default()).unwrap()
}

#[test]
fn blobs_move_both_ways_once_per_digest() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        // 2.5 MiB: more than one range between Ferry peers.
        let big = save(
            &mut pair.active_db,
            &pattern(2_500_000, 1),
            Some("application/octet-stream"),
        );
        let small = save(&mut pair.active_db, b"tiny", Some("text/plain"));
        let empty = save(&mut pair.active_db, b"", None);
        put(
            &mut pair.active_db,
            "a1",
            &with_blobs(&[("x", &big), ("y", &small)]),
            None,
        );
        put(
            &mut pair.active_db,
            "a2",
            &with_blobs(&[("same", &big), ("nothing", &empty)]),
            None,
        );
        let theirs = save(
            &mut pair.passive_db,
            &pattern(70_000, 9),
            Some("image/jpeg"),
        );
        put(
            &mut pair.passive_db,
            "p1",
            &with_blobs(&[("photo", &theirs)]),
            None,
        );
        let frames = session(&mut pair, Direction::PushAndPull);
        assert_converged_with_blobs(&pair);
        assert_eq!(snapshot(&pair.passive_db).len(), 3);

        // The passive side fetched the active side's three blobs, each digest once (the big
        // one in ranges between Ferry peers); the active side fetched the passive's one.
        let pushed = fetches(&frames, Wire::ToActive);
        let mut per_digest: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for (digest, offset) in pushed {
            per_digest.entry(digest).or_default().push(offset);
        }
        let big_name = digest_to_string(&big.digest);
        assert_eq!(per_digest.len(), 3, "{profile:?}: {per_digest:?}");
        let expected_big = match profile {
            Profile::CbMobile3 => vec![None],
            _ => vec![
                Some("0".into()),
                Some("1048576".into()),
                Some("2097152".into()),
            ],
        };
        assert_eq!(per_digest[&big_name], expected_big, "{profile:?}");
        assert_eq!(per_digest[&digest_to_string(&small.digest)].len(), 1);
        assert_eq!(per_digest[&digest_to_string(&empty.digest)].len(), 1);
        let pulled = fetches(&frames, Wire::ToPassive);
        assert_eq!(pulled.len(), 1, "{profile:?}: {pulled:?}");
        assert_eq!(pulled[0].0, digest_to_string(&theirs.digest));
        assert!(failures(&pair).is_empty(), "{:?}", failures(&pair));
    }
}

#[test]
fn blobs_the_receiver_has_are_never_moved_again() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let photo = save(&mut pair.active_db, &pattern(100_000, 3), Some("image/png"));
        let rev = put(
            &mut pair.active_db,
            "doc",
            &with_blobs(&[("photo", &photo)]),
            None,
        );
        let first = session(&mut pair, Direction::Push);
        assert_eq!(fetches(&first, Wire::ToActive).len(), 1);
        // An update that keeps the blob, and a new document that shares it.
        let mut body = with_blobs(&[("photo", &photo)]);
        body.as_object_mut()
            .unwrap()
            .insert("title".into(), Value::from("edited"));
        put(&mut pair.active_db, "doc", &body, Some(&rev));
        put(
            &mut pair.active_db,
            "copy",
            &with_blobs(&[("again", &photo)]),
            None,
        );
        let second = session(&mut pair, Direction::Push);
        assert!(
            fetches(&second, Wire::ToActive).is_empty(),
            "{profile:?}: the blob moved again"
        );
        assert_converged_with_blobs(&pair);
        assert_eq!(
            pair.passive_db
                .get("doc")
                .unwrap()
                .unwrap()
                .body
                .get("title"),
            Some(&Value::from("edited"))
        );
    }
}

#[test]
fn deleted_documents_give_their_blobs_back_at_compaction() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let kept = save(&mut pair.active_db, b"kept", None);
        let dropped = save(&mut pair.active_db, b"dropped", None);
        put(
            &mut pair.active_db,
            "keep",
            &with_blobs(&[("k", &kept)]),
            None,
        );
        let rev = put(
            &mut pair.active_db,
            "drop",
            &with_blobs(&[("d", &dropped)]),
            None,
        );
        session(&mut pair, Direction::Push);
        assert!(pair.passive_db.has_blob(&dropped.digest).unwrap());
        pair.active_db.delete("drop", &rev).unwrap();
        session(&mut pair, Direction::Push);
        assert_converged_with_blobs(&pair);
        for db in [&mut pair.active_db, &mut pair.passive_db] {
            let report = db.compact().unwrap();
            assert_eq!((report.blobs_kept, report.blobs_removed), (1, 1));
            assert!(db.has_blob(&kept.digest).unwrap());
            assert!(!db.has_blob(&dropped.digest).unwrap());
        }
        assert_converged_with_blobs(&pair);
    }
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_of_it_is_stored() {
    for profile in PROFILES {
        let active = corrupt(memory_db(1), b"real bytes", b"fake bytes");
        let mut pair = Pair::new(active, memory_db(2), profile);
        let claimed = BlobRef {
            digest: digest_of(b"real bytes"),
            length: 10,
            content_type: None,
        };
        put(
            &mut pair.active_db,
            "bad",
            &with_blobs(&[("b", &claimed)]),
            None,
        );
        put(
            &mut pair.active_db,
            "good",
            &Value::object([("n", 1)]),
            None,
        );
        session(&mut pair, Direction::Push);
        let failed = failures(&pair);
        assert_eq!(failed.len(), 1, "{failed:?}");
        let (doc_id, direction, error, transient) = &failed[0];
        assert_eq!((doc_id.as_str(), *direction), ("bad", Direction::Push));
        assert!(error.contains("corrupt"), "{error}");
        assert!(!transient);
        assert!(pair.passive_db.get("bad").unwrap().is_none());
        assert!(pair.passive_db.get("good").unwrap().is_some());
        assert_eq!(pair.passive_db.store().blob_count(), 0);
        assert_eq!(pair.passive_db.store().staged_blob_count(), 0);
        assert!(pair.link.passive_events.iter().any(|e| matches!(
            e,
            PassiveEvent::DocumentRejected { doc_id, .. } if doc_id == "bad"
        )));
    }
}

#[test]
fn a_blob_missing_on_the_sender_fails_its_document_only() {
    for profile in PROFILES {
        for direction in [Direction::Push, Direction::Pull] {
            let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
            let ghost = BlobRef {
                digest: digest_of(b"never saved"),
                length: 11,
                content_type: None,
            };
            let sender = match direction {
                Direction::Push => &mut pair.active_db,
                _ => &mut pair.passive_db,
            };
            sender
                .put("ghost", &with_blobs(&[("g", &ghost)]), None)
                .unwrap();
            sender
                .put("fine", &Value::object([("n", 1)]), None)
                .unwrap();
            session(&mut pair, direction);
            let failed = failures(&pair);
            assert_eq!(failed.len(), 1, "{profile:?} {direction:?}: {failed:?}");
            assert_eq!(failed[0].0, "ghost");
            assert!(
                failed[0].2.contains("does not have blob"),
                "{}",
                failed[0].2
            );
            let receiver = match direction {
                Direction::Push => &pair.passive_db,
                _ => &pair.active_db,
            };
            assert!(receiver.get("ghost").unwrap().is_none());
            assert!(receiver.get("fine").unwrap().is_some());
            assert_eq!(receiver.store().blob_count(), 0);
            assert_eq!(receiver.store().staged_blob_count(), 0);
        }
    }
}

#[test]
fn a_blob_over_the_receivers_limit_is_refused_before_any_transfer() {
    for profile in PROFILES {
        let mut config = DatabaseConfig::with_uuid_seed(2);
        config.max_blob_size = 1_000;
        let small_limit = Database::open(MemoryStore::new(), config).unwrap();
        let mut pair = Pair::new(memory_db(1), small_limit, profile);
        let big = save(&mut pair.active_db, &pattern(5_000, 1), None);
        put(
            &mut pair.active_db,
            "big",
            &with_blobs(&[("b", &big)]),
            None,
        );
        let frames = session(&mut pair, Direction::Push);
        assert!(fetches(&frames, Wire::ToActive).is_empty());
        let failed = failures(&pair);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].2.contains("more than the limit"),
            "{}",
            failed[0].2
        );
        assert!(pair.passive_db.get("big").unwrap().is_none());
    }
}

#[test]
fn a_blob_refused_for_one_document_is_still_fetched_for_the_others() {
    for profile in PROFILES {
        let mut pair = Pair::new(memory_db(1), memory_db(2), profile);
        let shared = save(&mut pair.passive_db, &pattern(50_000, 5), None);
        let old_rev = put(
            &mut pair.passive_db,
            "old",
            &with_blobs(&[("s", &shared)]),
            None,
        );
        put(
            &mut pair.passive_db,
            "new",
            &with_blobs(&[("s", &shared)]),
            None,
        );
        let cfg = ActiveConfig::new(
            Direction::Pull,
            RemoteIdentity::Uuid(pair.passive_db.uuid()),
        );
        pair.connect(cfg, PassiveConfig::default());
        // The first revision ("old") waits for the blob: its getAttachment names "old".
        let mut steps = 0;
        while pair.active().unwrap().window_stats().pending_inserts < 1 {
            pair.run_steps(1);
            steps += 1;
            assert!(steps < 10_000, "{}", pair.describe());
        }
        // Before that request arrives, "old" drops the blob on the sender, which then refuses
        // the blob for "old" while "new" (on its way) waits for it too.
        put(
            &mut pair.passive_db,
            "old",
            &Value::object([("s", Value::Null)]),
            Some(&old_rev),
        );
        pair.run(100_000);
        assert_eq!(pair.active_error(), None, "{}", pair.describe());
        let failed = failures(&pair);
        assert_eq!(failed.len(), 1, "{profile:?}: {failed:?}");
        assert_eq!(failed[0].0, "old");
        assert!(
            failed[0].2.contains("does not have blob"),
            "{}",
            failed[0].2
        );
        assert!(pair.active_db.get("new").unwrap().is_some(), "{profile:?}");
        assert!(pair.active_db.has_blob(&shared.digest).unwrap());
        // The next pull brings the edit of "old".
        session(&mut pair, Direction::Pull);
        assert_converged_with_blobs(&pair);
    }
}
