//! Which `ExpectDocument` guards of a batch their document's first write checks itself.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use ferry_engine::store::{Sequence, WriteOp};

/// An `ExpectDocument` guard: the expected sequence and tree.
pub(crate) type Guard<'a> = (Option<Sequence>, Option<&'a [u8]>);

/// What a batch does to one document, in the order of its operations.
#[derive(Clone, Copy)]
enum Fold<'a> {
    /// One guard so far, and no write.
    Guarded(Guard<'a>),
    /// The first write is a put that checks the document's only guard, which came before it.
    Folded(Guard<'a>),
    /// Written first, or guarded more than once, or guarded after a write, or its guard is
    /// already taken: any guard is checked the usual way.
    Unfolded,
}

/// The guards of one batch that their document's first `PutDocument` checks: each document
/// whose first write is a put and whose one guard comes before it (two or more guards, or one
/// after a write, are checked against the batch's start instead).
pub(crate) struct FoldedGuards<'a>(HashMap<&'a str, Fold<'a>, BuildHasherDefault<BatchHasher>>);

impl<'a> FoldedGuards<'a> {
    pub(crate) fn of(ops: &'a [WriteOp]) -> Self {
        let mut docs: HashMap<&str, Fold<'_>, BuildHasherDefault<BatchHasher>> =
            HashMap::with_capacity_and_hasher(ops.len(), BuildHasherDefault::default());
        for op in ops {
            match op {
                WriteOp::ExpectDocument {
                    doc_id,
                    sequence,
                    tree,
                } => {
                    docs.entry(doc_id.as_str())
                        .and_modify(|f| *f = Fold::Unfolded)
                        .or_insert(Fold::Guarded((*sequence, tree.as_deref())));
                }
                WriteOp::PutDocument { record, .. } => {
                    let fold = docs.entry(record.doc_id.as_str()).or_insert(Fold::Unfolded);
                    if let Fold::Guarded(guard) = *fold {
                        *fold = Fold::Folded(guard);
                    }
                }
                WriteOp::UpdateTree { doc_id, .. } | WriteOp::PurgeDocument { doc_id } => {
                    let fold = docs.entry(doc_id.as_str()).or_insert(Fold::Unfolded);
                    if let Fold::Guarded(_) = fold {
                        *fold = Fold::Unfolded;
                    }
                }
                _ => {}
            }
        }
        FoldedGuards(docs)
    }

    /// Whether the document's first put checks its guard.
    pub(crate) fn is_folded(&self, doc_id: &str) -> bool {
        matches!(self.0.get(doc_id), Some(Fold::Folded(_)))
    }

    /// The guard the document's first put checks, once: later puts get `None`.
    pub(crate) fn take(&mut self, doc_id: &str) -> Option<Guard<'a>> {
        let fold = self.0.get_mut(doc_id)?;
        match *fold {
            Fold::Folded(guard) => {
                *fold = Fold::Unfolded;
                Some(guard)
            }
            _ => None,
        }
    }
}

/// A fast hasher for the maps of one batch: eight bytes at a time, each step a multiply and an
/// xor-shift (which carries the product's well-mixed high bits down to the low ones).
///
/// It is not resistant to chosen collisions: a peer could pick document IDs that share a hash.
/// That costs time quadratic in one batch's size, which the engine bounds, and never a wrong
/// answer. SipHash, the standard hasher, was about 2% of a receiving store's instructions.
#[derive(Default)]
pub(crate) struct BatchHasher(u64);

impl BatchHasher {
    /// An odd constant with well-spread bits (2^64 divided by the golden ratio).
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    fn add(&mut self, word: u64) {
        let x = (self.0 ^ word).wrapping_mul(Self::K);
        self.0 = x ^ (x >> 29);
    }
}

impl Hasher for BatchHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so that zero padding cannot make two texts alike.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(
                chunk.try_into().expect("chunks of eight bytes"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::rev::RevId;
    use ferry_engine::store::{DocFlags, DocRecord};
    use std::hash::BuildHasher;

    fn expect(doc: &str, sequence: Option<Sequence>) -> WriteOp {
        WriteOp::ExpectDocument {
            doc_id: doc.to_owned(),
            sequence,
            tree: None,
        }
    }

    fn put(doc: &str) -> WriteOp {
        WriteOp::PutDocument {
            record: DocRecord {
                doc_id: doc.to_owned(),
                current_rev: RevId::parse("1-abcd").expect("a revision ID"),
                flags: DocFlags::default(),
                body_size: 0,
                tree: Vec::new(),
                sequence: 0,
            },
            put_bodies: Vec::new(),
            drop_bodies: Vec::new(),
        }
    }

    fn update(doc: &str) -> WriteOp {
        WriteOp::UpdateTree {
            doc_id: doc.to_owned(),
            tree: Vec::new(),
            drop_bodies: Vec::new(),
            expected_tree: None,
            expected_sequence: None,
        }
    }

    #[test]
    fn only_a_single_guard_before_a_first_put_is_folded() {
        let ops = vec![
            expect("a", Some(1)),
            put("a"),
            put("a"),
            expect("b", None),
            expect("b", None),
            put("b"),
            put("c"),
            expect("c", Some(2)),
            expect("d", Some(3)),
            update("d"),
            put("d"),
            expect("e", Some(4)),
            put("e"),
            expect("e", Some(4)),
            expect("f", None),
            put("g"),
        ];
        let mut folded = FoldedGuards::of(&ops);
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let is: Vec<_> = names.iter().filter(|d| folded.is_folded(d)).collect();
        assert_eq!(is, [&"a"]);
        assert_eq!(folded.take("a"), Some((Some(1), None)));
        // Taken once: the document's later puts check nothing.
        assert_eq!(folded.take("a"), None);
        assert!(!folded.is_folded("a"));
        for doc in &names[1..] {
            assert_eq!(folded.take(doc), None, "{doc}");
        }
    }

    #[test]
    fn the_batch_hasher_tells_close_ids_apart() {
        let build = BuildHasherDefault::<BatchHasher>::default();
        let ids: Vec<String> = (0..10_000).map(|i| format!("doc-{i:06}")).collect();
        let mut hashes: Vec<u64> = ids.iter().map(|id| build.hash_one(id.as_str())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), ids.len());
        // The low bits pick buckets: they must spread too.
        let mut low: Vec<u64> = hashes.iter().map(|h| h & 0xffff).collect();
        low.sort_unstable();
        low.dedup();
        assert!(low.len() > 7_000, "{} distinct low 16 bits", low.len());
        // Lengths count: a prefix and its zero-padded form differ.
        assert_ne!(build.hash_one("ab"), build.hash_one("ab\0"));
    }
}
