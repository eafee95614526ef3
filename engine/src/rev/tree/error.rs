//! Why a revision-tree operation or decoding failed.

use crate::rev::RevId;

/// A failed revision-tree operation. The tree is left unchanged by every failed mutation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevTreeError {
    /// A local edit's base is not the current revision (a stale base: HTTP 409). `current` is
    /// the current revision, `None` when the document has no revision yet.
    #[error(
        "conflict: the edit's base is not the current revision ({})",
        current.as_ref().map_or("none", |r| r.as_str())
    )]
    Conflict {
        /// The current revision the edit should have been based on.
        current: Option<RevId>,
    },
    /// The named parent revision is not in the tree.
    #[error("parent revision {0} is not in the tree")]
    UnknownParent(RevId),
    /// The named parent revision already has a child: adding another would create a branch.
    #[error("parent revision {0} is not a leaf")]
    ParentNotLeaf(RevId),
    /// The revision is already in the tree.
    #[error("revision {0} is already in the tree")]
    Duplicate(RevId),
    /// The revision's generation is not its parent's generation plus one (1 for a root).
    #[error("revision {rev} should have generation {expected}")]
    GenerationMismatch {
        /// The revision being added.
        rev: RevId,
        /// The generation it must have.
        expected: u64,
    },
    /// A revision history's generations are not consecutive, newest first.
    #[error("history entry {index} ({rev}) should have generation {expected}")]
    NotAChain {
        /// The position in the history of the first entry out of sequence.
        index: usize,
        /// That entry.
        rev: RevId,
        /// The generation it must have.
        expected: u64,
    },
    /// A revision history holds no revision.
    #[error("the revision history is empty")]
    EmptyHistory,
    /// The parent has the largest possible generation, so it can have no child.
    #[error("revision {0} has the largest generation and cannot have a child")]
    GenerationOverflow(RevId),
    /// The revision is not in the tree.
    #[error("revision {0} is not in the tree")]
    NotFound(RevId),
    /// The revision is not a leaf where a leaf is required.
    #[error("revision {0} is not a leaf")]
    NotALeaf(RevId),
    /// Encoded tree bytes are malformed; the message says what and where.
    #[error("corrupt revision tree: {0}")]
    Corrupt(String),
    /// Encoded tree bytes carry a format version this build does not know.
    #[error("unsupported revision tree format version {0}")]
    UnsupportedVersion(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_revision_and_the_problem() {
        let r = RevId::parse("3-ab").unwrap();
        let cases = [
            (
                RevTreeError::Conflict {
                    current: Some(r.clone()),
                },
                "conflict",
            ),
            (RevTreeError::UnknownParent(r.clone()), "not in the tree"),
            (RevTreeError::ParentNotLeaf(r.clone()), "not a leaf"),
            (RevTreeError::Duplicate(r.clone()), "already"),
            (
                RevTreeError::GenerationMismatch {
                    rev: r.clone(),
                    expected: 2,
                },
                "generation 2",
            ),
            (
                RevTreeError::NotAChain {
                    index: 1,
                    rev: r.clone(),
                    expected: 4,
                },
                "generation 4",
            ),
            (
                RevTreeError::GenerationOverflow(r.clone()),
                "largest generation",
            ),
            (RevTreeError::NotFound(r.clone()), "not in the tree"),
            (RevTreeError::NotALeaf(r.clone()), "not a leaf"),
        ];
        for (e, needle) in cases {
            let msg = e.to_string();
            assert!(msg.contains("3-ab") && msg.contains(needle), "{msg}");
        }
        assert_eq!(
            RevTreeError::EmptyHistory.to_string(),
            "the revision history is empty"
        );
        assert!(
            RevTreeError::Corrupt("node 3".into())
                .to_string()
                .contains("node 3")
        );
        assert!(
            RevTreeError::UnsupportedVersion(9)
                .to_string()
                .contains('9')
        );
    }
}
