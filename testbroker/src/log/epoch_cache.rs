//! The leader epoch cache of one replica log (KIP-101): for each leader epoch, the first offset
//! written in it. It answers "where does epoch E end?" for OffsetsForLeaderEpoch and for a
//! follower working out where its log diverged from the leader's.
//!
//! Plain data. It is rebuilt from the batches' `partitionLeaderEpoch` fields whenever a log is
//! loaded, and written to `leader-epoch-checkpoint` in Kafka's text format in `data_dir` mode.

/// "No epoch", as Kafka's `UNDEFINED_EPOCH`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// "No offset", as Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One cache entry: epoch `epoch` started at `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset written in it.
    pub start_offset: i64,
}

/// The leader epoch → start offset cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Record that `epoch` starts at `start_offset` (ignored unless `epoch` is newer than the
    /// latest entry; entries are kept strictly increasing in both epoch and offset).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        if epoch < 0 {
            return;
        }
        if let Some(last) = self.entries.last() {
            if epoch <= last.epoch {
                return;
            }
        }
        // A newer epoch starting at or before an older one's start supersedes it.
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The largest epoch ≤ `epoch` known here, if any.
    pub fn floor_epoch(&self, epoch: i32) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.epoch <= epoch)
            .map(|e| e.epoch)
    }

    /// Kafka's `endOffsetFor`: the largest known epoch ≤ `requested` and the offset where it
    /// ends (the start of the next known epoch, or `log_end_offset` for the latest epoch).
    /// `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)` when `requested` is newer than every
    /// epoch here or undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            // Older than anything known: the requested epoch ends where the first known starts.
            None => (requested, higher.start_offset),
            Some(floor) => (floor.epoch, higher.start_offset),
        }
    }

    /// Drop entries for offsets at or above `offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, offset: i64) {
        self.entries.retain(|e| e.start_offset < offset);
    }

    /// The log now starts at `offset`: entries wholly below it go, and the one that spans it
    /// starts at `offset`.
    pub fn truncate_from_start(&mut self, offset: i64) {
        let spanning = self.entries.iter().rposition(|e| e.start_offset <= offset);
        if let Some(i) = spanning {
            self.entries.drain(..i);
            self.entries[0].start_offset = offset;
        }
    }

    /// Kafka's `leader-epoch-checkpoint` text: version 0, the entry count, then one
    /// `epoch start_offset` line per entry.
    pub fn to_checkpoint(&self) -> String {
        let mut out = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(epoch, start) in entries {
            c.assign(epoch, start);
        }
        c
    }

    #[test]
    fn end_offsets_as_kafka_computes_them() {
        let c = cache(&[(1, 0), (3, 10), (4, 25)]);
        assert_eq!(
            c.end_offset_for(4, 40),
            (4, 40),
            "latest epoch ends at the log end"
        );
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(
            c.end_offset_for(2, 40),
            (1, 10),
            "unknown epoch: the floor epoch and where it ends"
        );
        assert_eq!(
            c.end_offset_for(0, 40),
            (0, 0),
            "older than all: ends where the first starts"
        );
        assert_eq!(
            c.end_offset_for(5, 40),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            c.end_offset_for(UNDEFINED_EPOCH, 40),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            LeaderEpochCache::default().end_offset_for(0, 0),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
    }

    #[test]
    fn assign_ignores_stale_epochs_and_truncation_trims() {
        let mut c = cache(&[(1, 0), (1, 5), (0, 7), (2, 10)]);
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 2,
                    start_offset: 10
                }
            ]
        );
        c.assign(3, 10);
        assert_eq!(
            c.entries().len(),
            2,
            "epoch 3 starting where 2 did replaces it"
        );
        assert_eq!(c.latest_epoch(), Some(3));
        c.assign(5, 20);
        c.truncate_from_end(20);
        assert_eq!(c.latest_epoch(), Some(3));
        c.truncate_from_start(12);
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
        assert_eq!(c.floor_epoch(10), Some(3));
        assert_eq!(c.floor_epoch(2), None);
        assert_eq!(c.to_checkpoint(), "0\n1\n3 12\n");
    }
}
