//! The blobs of LiteCore's recorded `blob` session (`../shared/vectors/litecore-3.0`) round-trip
//! through a SQLite store under the digests LiteCore named them by, and survive reopening.

use std::io::Read;
use std::path::PathBuf;

use ferry_engine::blob::{digest_to_string, parse_digest};
use ferry_engine::db::{Database, DatabaseConfig};
use ferry_store_sqlite::SqliteStore;
use serde_json::Value;

fn recording() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/litecore-3.0/blob.messages.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the shared test data is missing: expected {} (the `shared` folder beside the \
             repository root, holding vectors/litecore-3.0): {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("messages JSON")
}

/// (digest, bytes) of every blob a peer sent in reply to a `getAttachment`.
fn recorded_blobs(messages: &[Value]) -> Vec<(String, Vec<u8>)> {
    messages
        .iter()
        .filter(|m| m["type"] == "MSG" && m["properties"]["Profile"] == "getAttachment")
        .map(|request| {
            let reply = messages
                .iter()
                .find(|r| {
                    r["type"] == "RPY"
                        && r["conn"] == request["conn"]
                        && r["dir"] != request["dir"]
                        && r["number"] == request["number"]
                })
                .expect("the getAttachment reply");
            let digest = request["properties"]["digest"].as_str().expect("digest");
            let bytes = hex::decode(reply["body"]["hex"].as_str().expect("hex body")).unwrap();
            (digest.to_owned(), bytes)
        })
        .collect()
}

#[test]
fn litecore_blobs_round_trip_through_sqlite_with_their_digests() {
    let blobs = recorded_blobs(&recording());
    assert_eq!(blobs.len(), 2, "one blob each way");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blobs.ferry");
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut db = Database::open(store, DatabaseConfig::default()).unwrap();
        for (digest, bytes) in &blobs {
            let saved = db
                .save_blob_from_reader(bytes.as_slice(), Some("application/octet-stream"))
                .unwrap();
            assert_eq!(&digest_to_string(&saved.digest), digest);
            assert_eq!(saved.length, bytes.len() as u64);
        }
    }
    let db = Database::open(SqliteStore::open(&path).unwrap(), DatabaseConfig::default()).unwrap();
    for (digest, bytes) in &blobs {
        let mut back = Vec::new();
        db.blob_reader(&parse_digest(digest).unwrap())
            .unwrap()
            .expect("stored")
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(&back, bytes, "{digest}");
    }
}
