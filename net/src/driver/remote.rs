//! Stable small numbers for remote peers (the `remote_id` of active sessions): kept in a local
//! checkpoint document of the database, so a peer keeps its number across restarts.

use std::collections::BTreeMap;

use ferry_engine::db::Database;
use ferry_engine::repl::RemoteIdentity;
use ferry_engine::store::Store;

/// The local checkpoint holding the table: lines of `hex(identity)\tnumber`.
const TABLE_ID: &str = "ferry-net/remote-ids";

/// The remote-number table, loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct RemoteIds {
    table: Option<BTreeMap<String, u32>>,
}

fn key(identity: &RemoteIdentity) -> String {
    match identity {
        RemoteIdentity::Uuid(uuid) => format!("uuid:{}", hex::encode(uuid)),
        RemoteIdentity::Name(name) => format!("name:{}", hex::encode(name.as_bytes())),
    }
}

impl RemoteIds {
    /// The number of `identity` in `db`, assigning the next free one (from 1) to a new peer.
    /// If the table cannot be read or written, falls back to a number derived from the
    /// identity's hash (stable, with a negligible chance of collision).
    pub(crate) fn id_for<S: Store>(
        &mut self,
        db: &mut Database<S>,
        identity: &RemoteIdentity,
    ) -> u32 {
        let key = key(identity);
        let table = self.table.get_or_insert_with(|| {
            let text = db
                .local_checkpoint(TABLE_ID)
                .ok()
                .flatten()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            text.lines()
                .filter_map(|line| {
                    let (k, v) = line.split_once('\t')?;
                    Some((k.to_owned(), v.parse().ok()?))
                })
                .collect()
        });
        if let Some(id) = table.get(&key) {
            return *id;
        }
        let next = table.values().max().copied().unwrap_or(0) + 1;
        table.insert(key.clone(), next);
        let text: String = table.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        match db.set_local_checkpoint(TABLE_ID, text.as_bytes()) {
            Ok(()) => next,
            Err(error) => {
                tracing::warn!(%error, "cannot save the remote-id table; using a hash");
                table.remove(&key);
                let digest = crc_like(key.as_bytes());
                digest % (u32::MAX - 1) + 1
            }
        }
    }
}

/// FNV-1a, 32 bits.
fn crc_like(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::db::DatabaseConfig;
    use ferry_store_memory::MemoryStore;

    #[test]
    fn peers_keep_their_numbers_across_restarts() {
        let mut db = Database::open(MemoryStore::new(), DatabaseConfig::default()).unwrap();
        let (p, q) = (
            RemoteIdentity::Uuid([7; 16]),
            RemoteIdentity::Name("wss://peer:4984/db".into()),
        );
        let mut ids = RemoteIds::default();
        assert_eq!(ids.id_for(&mut db, &p), 1);
        assert_eq!(ids.id_for(&mut db, &q), 2);
        assert_eq!(ids.id_for(&mut db, &p), 1);
        let mut restarted = RemoteIds::default();
        assert_eq!(
            restarted.id_for(&mut db, &q),
            2,
            "read back from the database"
        );
        assert_eq!(restarted.id_for(&mut db, &RemoteIdentity::Uuid([8; 16])), 3);
    }
}
