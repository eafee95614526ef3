//! Push and pull filters: application callbacks that decide, per document, whether it
//! replicates. A filtered document counts as handled for the checkpoint.

use std::fmt;
use std::sync::Arc;

use crate::rev::RevId;
use crate::value::Value;

/// The document a filter decides about.
#[derive(Debug, Clone, Copy)]
pub struct FilterInput<'a> {
    /// The document ID.
    pub doc_id: &'a str,
    /// The revision about to replicate.
    pub rev: &'a RevId,
    /// Its body (an empty object for a deletion).
    pub body: &'a Value,
    /// Whether the revision is a deletion.
    pub deleted: bool,
}

/// A push or pull filter: `true` lets the document replicate. A filter that panics counts as
/// `false` (the document does not replicate and is reported).
#[derive(Clone)]
pub struct ReplicationFilter(Arc<dyn Fn(&FilterInput<'_>) -> bool + Send + Sync>);

impl ReplicationFilter {
    /// A filter from a function.
    pub fn new(f: impl Fn(&FilterInput<'_>) -> bool + Send + Sync + 'static) -> Self {
        ReplicationFilter(Arc::new(f))
    }

    /// Asks the filter; `None` if it panicked.
    pub(crate) fn allows(&self, input: &FilterInput<'_>) -> Option<bool> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)(input))).ok()
    }
}

impl fmt::Debug for ReplicationFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplicationFilter(..)")
    }
}
