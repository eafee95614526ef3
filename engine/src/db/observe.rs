//! Change notifications: functions called after every committed write.

use std::collections::BTreeMap;
use std::fmt;

use crate::rev::RevId;
use crate::store::Sequence;

/// One document changed by a committed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentChange {
    /// The document ID.
    pub doc_id: String,
    /// Its current revision after the write.
    pub rev: RevId,
    /// The sequence the write gave it.
    pub sequence: Sequence,
    /// Whether the current revision is a deletion.
    pub deleted: bool,
}

/// A function told about every committed write, with the documents it changed. Adapters use it
/// to wake a task (for example a continuous replicator's push) without polling the store.
pub type ChangeObserver = Box<dyn FnMut(&[DocumentChange]) + Send>;

/// Identifies a registered [`ChangeObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObserverId(u64);

#[derive(Default)]
pub(super) struct Observers {
    next: u64,
    registered: BTreeMap<u64, ChangeObserver>,
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observers")
            .field("count", &self.registered.len())
            .finish()
    }
}

impl Observers {
    pub(super) fn add(&mut self, observer: ChangeObserver) -> ObserverId {
        self.next += 1;
        self.registered.insert(self.next, observer);
        ObserverId(self.next)
    }

    pub(super) fn remove(&mut self, id: ObserverId) -> bool {
        self.registered.remove(&id.0).is_some()
    }

    pub(super) fn notify(&mut self, changes: &[DocumentChange]) {
        if changes.is_empty() {
            return;
        }
        for observer in self.registered.values_mut() {
            observer(changes);
        }
    }
}
