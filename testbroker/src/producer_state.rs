//! Idempotent producer state of one partition replica (KIP-98): per producer id, its epoch and
//! the metadata of its last five batches, for sequence validation and duplicate detection.
//!
//! Plain data, no I/O. The produce handler asks [`ProducerStateTable::check`] before appending
//! and calls [`ProducerStateTable::record`] after; a replica that loads or truncates its log
//! rebuilds the table from the batches it holds, as Kafka does.

use std::collections::{HashMap, VecDeque};

use kafkit::protocol::ErrorCode;

/// How many batches per producer the broker remembers (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub const BATCHES_TO_RETAIN: usize = 5;

/// Where a remembered batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the batch's first record.
    pub first_seq: i32,
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset of the batch's first record.
    pub first_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// Its max timestamp (or the append time for LogAppendTime topics).
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
}

/// The verdict on an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in sequence: append it.
    Append,
    /// Already appended: answer with the original metadata and do not append again.
    Duplicate(BatchMetadata),
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == last_seq.wrapping_add(1) || (next_seq == 0 && last_seq == i32::MAX)
}

impl ProducerStateTable {
    /// Check a batch from `producer_id` at `epoch` covering sequences `first_seq..=last_seq`.
    ///
    /// Rules (Kafka's `ProducerAppendInfo.checkSequence`): an older epoch is fenced
    /// (INVALID_PRODUCER_EPOCH); a batch equal to one of the last five is a duplicate; a new
    /// epoch must start at sequence 0; otherwise the batch must follow the last sequence
    /// exactly, else OUT_OF_ORDER_SEQUENCE_NUMBER. A producer the partition has no state for
    /// may start at any sequence (its state may have been removed by retention).
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<SequenceCheck, ErrorCode> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if epoch > entry.epoch {
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if !in_sequence(last.last_seq, first_seq) => {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Remember an appended batch.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMetadata) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
    }

    /// Rebuild the table from the batches of a log (after a load or a truncation), as Kafka
    /// rebuilds its producer state from the log's tail.
    pub fn rebuild(
        headers: impl Iterator<Item = kafkit::record::BatchHeader>,
    ) -> ProducerStateTable {
        let mut table = ProducerStateTable::default();
        for h in headers {
            if h.producer_id >= 0 && h.base_sequence >= 0 {
                table.record(
                    h.producer_id,
                    h.producer_epoch,
                    BatchMetadata {
                        first_seq: h.base_sequence,
                        last_seq: h.base_sequence.wrapping_add(h.last_offset_delta),
                        first_offset: h.base_offset,
                        last_offset: h.last_offset(),
                        timestamp: h.max_timestamp,
                    },
                );
            }
        }
        table
    }

    /// Forget everything (before a rebuild from the log).
    pub fn clear(&mut self) {
        self.producers.clear();
    }

    /// The current epoch and last sequence of a producer, if known.
    pub fn last_sequence(&self, producer_id: i64) -> Option<(i16, i32)> {
        let entry = self.producers.get(&producer_id)?;
        Some((entry.epoch, entry.batches.back().map_or(-1, |b| b.last_seq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, count: i32, first_offset: i64) -> BatchMetadata {
        BatchMetadata {
            first_seq,
            last_seq: first_seq + (count - 1),
            first_offset,
            last_offset: first_offset + i64::from(count) - 1,
            timestamp: 0,
        }
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut t = ProducerStateTable::default();
        assert_eq!(t.check(7, 0, 0, 9), Ok(SequenceCheck::Append));
        t.record(7, 0, meta(0, 10, 100));
        // In sequence.
        assert_eq!(t.check(7, 0, 10, 14), Ok(SequenceCheck::Append));
        t.record(7, 0, meta(10, 5, 110));
        // A retry of either batch is a duplicate answered with its original offsets.
        assert_eq!(
            t.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate(meta(0, 10, 100)))
        );
        assert_eq!(
            t.check(7, 0, 10, 14),
            Ok(SequenceCheck::Duplicate(meta(10, 5, 110)))
        );
        // A gap is real loss.
        assert_eq!(
            t.check(7, 0, 16, 20),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        // Old epoch fenced, new epoch must restart at 0.
        assert_eq!(
            t.check(7, 1, 15, 15),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(t.check(7, 1, 0, 0), Ok(SequenceCheck::Append));
        t.record(7, 1, meta(0, 1, 200));
        assert_eq!(t.check(7, 0, 15, 15), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(t.last_sequence(7), Some((1, 0)));
        // An unknown producer may start anywhere; producers are independent.
        assert_eq!(t.check(8, 3, 42, 50), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut t = ProducerStateTable::default();
        for i in 0..7 {
            t.record(1, 0, meta(i * 2, 2, i64::from(i) * 2));
        }
        assert!(matches!(
            t.check(1, 0, 4, 5),
            Ok(SequenceCheck::Duplicate(_))
        ));
        assert_eq!(
            t.check(1, 0, 2, 3),
            Err(ErrorCode::OutOfOrderSequenceNumber),
            "evicted, and not next"
        );
        t.record(1, 0, meta(i32::MAX - 1, 2, 500));
        assert_eq!(
            t.check(1, 0, 0, 3),
            Ok(SequenceCheck::Append),
            "sequence wraps after i32::MAX"
        );
    }
}
