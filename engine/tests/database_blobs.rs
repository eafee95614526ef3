//! Blobs in the local database: saving and reading streams, references, limits, compaction.

use std::io::{Read, Write};

use ferry_engine::blob::{BlobError, BlobRef, blob_refs, digest_of, digest_to_string};
use ferry_engine::db::{CompactionReport, Database, DatabaseConfig, DbError};
use ferry_engine::value::Value;
use ferry_store_memory::MemoryStore;

fn db() -> Database<MemoryStore> {
    Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(7)).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn body_with(blobs: &[(&str, &BlobRef)]) -> Value {
    Value::object(blobs.iter().map(|(k, r)| (*k, r.to_value())))
}

#[test]
fn a_saved_blob_reads_back_with_its_digest() {
    let mut db = db();
    let bytes = pattern(3 << 20);
    let blob = db.save_blob(&bytes, Some("image/png")).unwrap();
    assert_eq!(blob.digest, digest_of(&bytes));
    assert_eq!(blob.length, bytes.len() as u64);
    assert_eq!(blob.content_type.as_deref(), Some("image/png"));
    let mut reader = db.blob_reader(&blob.digest).unwrap().expect("stored");
    assert_eq!(reader.length(), bytes.len() as u64);
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert_eq!(back, bytes);
    assert_eq!(db.get_blob(&blob.digest).unwrap(), Some(bytes));
    assert!(db.blob_reader(&digest_of(b"other")).unwrap().is_none());
}

#[test]
fn a_blob_streams_in_from_a_reader_and_a_writer() {
    let mut db = db();
    let bytes = pattern(2_500_000);
    let from_reader = db
        .save_blob_from_reader(std::io::Cursor::new(&bytes), None)
        .unwrap();
    assert_eq!(from_reader.digest, digest_of(&bytes));
    let mut writer = db.blob_writer(Some("text/plain")).unwrap();
    for piece in bytes.chunks(10_000) {
        writer.write_all(piece).unwrap();
    }
    assert_eq!(writer.length(), bytes.len() as u64);
    let from_writer = writer.finish().unwrap();
    assert_eq!(from_writer.digest, from_reader.digest);
    assert_eq!(db.store().blob_count(), 1, "one copy per digest");
}

#[test]
fn an_unfinished_or_oversized_blob_leaves_nothing() {
    let mut config = DatabaseConfig::with_uuid_seed(1);
    config.max_blob_size = 1000;
    let mut db = Database::open(MemoryStore::new(), config).unwrap();
    {
        let mut writer = db.blob_writer(None).unwrap();
        writer.append(&[1; 500]).unwrap();
        // dropped unfinished
    }
    assert_eq!(db.store().staged_blob_count(), 0);
    assert_eq!(db.store().blob_count(), 0);
    let err = db.save_blob(&[2; 1001], None).unwrap_err();
    assert!(
        matches!(
            err,
            DbError::Blob(BlobError::TooLarge {
                length: 1001,
                max: 1000
            })
        ),
        "{err}"
    );
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk unplugged"))
        }
    }
    let err = db.save_blob_from_reader(Failing, None).unwrap_err();
    assert!(err.to_string().contains("disk unplugged"), "{err}");
    assert_eq!(db.store().staged_blob_count(), 0);
    assert_eq!(db.store().blob_count(), 0);
}

#[test]
fn a_document_lists_the_blobs_it_references() {
    let mut db = db();
    let a = db.save_blob(b"aaa", Some("text/plain")).unwrap();
    let b = db.save_blob(b"bbbb", None).unwrap();
    let body = Value::object([
        ("cover", a.to_value()),
        ("pages", Value::Array(vec![b.to_value(), a.to_value()])),
    ]);
    db.put("book", &body, None).unwrap();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(db.blob_refs("book").unwrap(), expected);
    assert_eq!(blob_refs(&body).unwrap(), expected);
    assert!(db.blob_refs("missing").unwrap().is_empty());
}

#[test]
fn a_malformed_blob_reference_is_refused() {
    let mut db = db();
    let body = Value::object([(
        "photo",
        Value::object([("@type", "blob"), ("digest", "sha1-nonsense")]),
    )]);
    let err = db.put("doc", &body, None).unwrap_err();
    assert!(
        matches!(err, DbError::Blob(BlobError::BadDigest { .. })),
        "{err}"
    );
    assert!(db.get("doc").unwrap().is_none());
}

#[test]
fn compaction_removes_only_unreferenced_blobs() {
    let mut db = db();
    let kept = db.save_blob(b"kept", None).unwrap();
    let replaced = db.save_blob(b"replaced", None).unwrap();
    let deleted = db.save_blob(b"of a deleted doc", None).unwrap();
    let orphan = db.save_blob(b"never referenced", None).unwrap();
    let rev = db
        .put("a", &body_with(&[("x", &kept), ("y", &replaced)]), None)
        .unwrap();
    db.put("a", &body_with(&[("x", &kept)]), Some(&rev))
        .unwrap();
    let gone = db.put("b", &body_with(&[("z", &deleted)]), None).unwrap();
    db.delete("b", &gone).unwrap();
    let report = db.compact().unwrap();
    assert_eq!(
        report,
        {
            let mut r = CompactionReport::default();
            r.blobs_kept = 1;
            r.blobs_removed = 3;
            r
        },
        "{:?} {:?} {:?}",
        digest_to_string(&replaced.digest),
        digest_to_string(&deleted.digest),
        digest_to_string(&orphan.digest)
    );
    assert!(db.has_blob(&kept.digest).unwrap());
    for gone in [&replaced, &deleted, &orphan] {
        assert!(!db.has_blob(&gone.digest).unwrap());
    }
    assert_eq!(
        db.get_blob(&kept.digest).unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}
