//! Checkpoints: their IDs, and the bookkeeping behind their `local` and `remote` values.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sha1::{Digest, Sha1};

use crate::store::Sequence;

use super::catalogue::RemoteSeq;

/// The checkpoint ID of a replication: `cp-` and the base64 of a SHA-1 over the local database
/// UUID, the remote database's identity, the direction and the filters — never the URL, so a
/// peer whose address changes resumes where it left off.
pub fn checkpoint_id(
    local_uuid: &[u8; 16],
    remote: &[u8],
    direction: &str,
    filters: &str,
) -> String {
    let mut hasher = Sha1::new();
    for part in [
        &local_uuid[..],
        remote,
        direction.as_bytes(),
        filters.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    format!("cp-{}", base64(&hasher.finalize()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Which local sequences a push has finished, to compute the checkpoint's `local` (highest
/// sequence below which everything is done) and `localCompleted` (sparse ranges beyond it).
#[derive(Debug, Clone, Default)]
pub(crate) struct PushProgress {
    /// Everything at or below this was handled (read and finished) before or during the session.
    base: Sequence,
    /// The highest sequence read from the feed.
    read_up_to: Sequence,
    /// Sequences read but not yet finished.
    pending: BTreeSet<Sequence>,
}

impl PushProgress {
    pub(crate) fn new(start: Sequence) -> Self {
        PushProgress {
            base: start,
            read_up_to: start,
            pending: BTreeSet::new(),
        }
    }

    /// The feed was read up to `seq`; `pending` of those sequences still need work.
    pub(crate) fn read(&mut self, up_to: Sequence, pending: impl IntoIterator<Item = Sequence>) {
        self.read_up_to = self.read_up_to.max(up_to);
        self.pending.extend(pending);
    }

    /// A sequence is finished.
    pub(crate) fn complete(&mut self, seq: Sequence) {
        self.pending.remove(&seq);
    }

    /// Whether `seq` is still pending.
    pub(crate) fn is_pending(&self, seq: Sequence) -> bool {
        self.pending.contains(&seq)
    }

    /// The checkpoint's `local`: everything at or below it is finished.
    pub(crate) fn local(&self) -> Sequence {
        match self.pending.first() {
            Some(first) => first - 1,
            None => self.read_up_to,
        }
        .max(self.base.min(self.read_up_to))
    }

    /// LiteCore's `localCompleted`: `[start, length]` ranges of finished sequences, the first
    /// starting at 0 and covering `local`.
    pub(crate) fn completed_ranges(&self) -> Vec<(Sequence, u64)> {
        let mut ranges = Vec::new();
        let mut start = 0;
        for &p in &self.pending {
            if p > start {
                ranges.push((start, p - start));
            }
            start = p + 1;
        }
        if self.read_up_to + 1 > start {
            ranges.push((start, self.read_up_to + 1 - start));
        }
        ranges
    }
}

/// Which of the peer's sequences a pull has finished, in the order the peer announced them, to
/// compute the checkpoint's `remote`: the last sequence before the first unfinished one.
#[derive(Debug, Clone, Default)]
pub(crate) struct PullProgress {
    checkpoint: Option<RemoteSeq>,
    /// The arrival index of `announced`'s first entry.
    first_index: u64,
    /// Announced sequences in arrival order from `first_index`, with whether each is finished;
    /// finished ones leave from the front.
    announced: VecDeque<(RemoteSeq, bool)>,
    /// Unfinished sequences to their arrival indexes, oldest first: the first inline, any later
    /// ones after it (a document's current revision and its closing tombstones share a
    /// sequence).
    unfinished: BTreeMap<RemoteSeq, (u64, Vec<u64>)>,
    /// The number of arrival indexes in `unfinished`, kept so [`PullProgress::unfinished`] is
    /// O(1): the session asks for it on every received revision.
    unfinished_count: usize,
}

impl PullProgress {
    pub(crate) fn new(start: Option<RemoteSeq>) -> Self {
        PullProgress {
            checkpoint: start,
            ..PullProgress::default()
        }
    }

    /// The peer announced `seq`; `done` if nothing more is needed for it.
    pub(crate) fn announced(&mut self, seq: RemoteSeq, done: bool) {
        let index = self.first_index + self.announced.len() as u64;
        if !done {
            match self.unfinished.get_mut(&seq) {
                Some((_, later)) => later.push(index),
                None => {
                    self.unfinished.insert(seq.clone(), (index, Vec::new()));
                }
            }
            self.unfinished_count += 1;
        }
        self.announced.push_back((seq, done));
        self.advance();
    }

    /// `seq` is finished (stored, already known, or given up).
    pub(crate) fn complete(&mut self, seq: &RemoteSeq) {
        if let Some((first, later)) = self.unfinished.get_mut(seq) {
            let index = *first;
            if later.is_empty() {
                self.unfinished.remove(seq);
            } else {
                *first = later.remove(0);
            }
            self.unfinished_count -= 1;
            // An unfinished entry never leaves the front, so `index` is still announced.
            let at = index
                .checked_sub(self.first_index)
                .and_then(|at| usize::try_from(at).ok());
            if let Some(entry) = at.and_then(|at| self.announced.get_mut(at)) {
                entry.1 = true;
            }
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.announced.front().is_some_and(|(_, done)| *done) {
            let (seq, _) = self.announced.pop_front().expect("a front entry");
            self.first_index += 1;
            self.checkpoint = Some(seq);
        }
    }

    /// Sequences announced and not finished.
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished_count
    }

    /// The checkpoint's `remote`.
    pub(crate) fn checkpoint(&self) -> Option<&RemoteSeq> {
        self.checkpoint.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_ids_depend_on_identities_not_order_of_bytes() {
        let a = checkpoint_id(&[1; 16], b"remote", "push", "");
        assert!(a.starts_with("cp-") && a.len() == 31, "{a}");
        assert_eq!(a, checkpoint_id(&[1; 16], b"remote", "push", ""));
        assert_ne!(a, checkpoint_id(&[2; 16], b"remote", "push", ""));
        assert_ne!(a, checkpoint_id(&[1; 16], b"remote2", "push", ""));
        assert_ne!(a, checkpoint_id(&[1; 16], b"remote", "pull", ""));
        assert_ne!(a, checkpoint_id(&[1; 16], b"remote", "push", "docIDs=a"));
        // Length prefixes keep field boundaries: moving a byte between fields changes the ID.
        assert_ne!(
            checkpoint_id(&[1; 16], b"ab", "c", ""),
            checkpoint_id(&[1; 16], b"a", "bc", "")
        );
    }

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn push_progress_matches_litecore_shape() {
        // As in the pushpull-edits vector: 1..=5 and 7 done, 6 pending, read up to 7.
        let mut p = PushProgress::new(0);
        p.read(7, [1, 2, 3, 4, 5, 6, 7]);
        for s in [1, 2, 3, 4, 5, 7] {
            p.complete(s);
        }
        assert_eq!(p.local(), 5);
        assert_eq!(p.completed_ranges(), vec![(0, 6), (7, 1)]);
        p.complete(6);
        assert_eq!(p.local(), 7);
        assert_eq!(p.completed_ranges(), vec![(0, 8)]);
    }

    #[test]
    fn push_progress_never_goes_below_its_start() {
        let p = PushProgress::new(10);
        assert_eq!(p.local(), 10);
        let mut p = PushProgress::new(10);
        p.read(15, [12]);
        assert_eq!(p.local(), 11);
    }

    #[test]
    fn pull_progress_waits_for_the_first_unfinished() {
        let mut p = PullProgress::new(Some(RemoteSeq::number(3)));
        p.announced(RemoteSeq::number(4), false);
        p.announced(RemoteSeq::number(5), true);
        p.announced(RemoteSeq::number(6), false);
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(3)));
        p.complete(&RemoteSeq::number(4));
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(5)));
        assert_eq!(p.unfinished(), 1);
        p.complete(&RemoteSeq::number(6));
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(6)));
        assert_eq!(p.unfinished(), 0);
        // A sequence announced twice (a revision and its closing tombstone) is finished once
        // per announcement, oldest first.
        p.announced(RemoteSeq::number(7), false);
        p.announced(RemoteSeq::number(8), false);
        p.announced(RemoteSeq::number(7), false);
        assert_eq!(p.unfinished(), 3);
        p.complete(&RemoteSeq::number(7));
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(7)));
        p.complete(&RemoteSeq::number(8));
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(8)));
        assert_eq!(p.unfinished(), 1);
        p.complete(&RemoteSeq::number(9));
        assert_eq!(
            p.unfinished(),
            1,
            "a sequence never announced changes nothing"
        );
        p.complete(&RemoteSeq::number(7));
        assert_eq!(p.checkpoint(), Some(&RemoteSeq::number(7)));
        assert_eq!(p.unfinished(), 0);
    }
}
