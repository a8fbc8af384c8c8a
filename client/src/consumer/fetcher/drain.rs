//! Draining fetched data into [`ConsumerRecord`]s (Java's `CompletedFetch.fetchRecords` and
//! `FetchCollector.collectFetch`): lazy batch parsing, skipping records below the position,
//! control batches and aborted transactions, and advancing positions.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::{Buffered, FetchError, FetchPosition, Fetcher, IsolationLevel, PositionState};
use crate::TopicPartition;
use crate::consumer::record::ConsumerRecord;
use crate::record::{
    BatchIter, ControlRecordType, RecordBatch, RecordError, Records, TimestampType,
};

/// The batch being read.
#[derive(Debug)]
struct CurrentBatch {
    next_offset: i64,
    leader_epoch: Option<i32>,
    timestamp_type: TimestampType,
    records: Records,
}

/// One partition's fetched records, drained lazily across polls.
#[derive(Debug)]
pub(super) struct CompletedFetch {
    tp: TopicPartition,
    batches: BatchIter,
    current: Option<CurrentBatch>,
    /// The position after the records returned so far.
    next_fetch_offset: i64,
    /// Leader epoch of the last batch read.
    last_epoch: Option<i32>,
    isolation: IsolationLevel,
    /// Aborted transactions not yet reached, by first offset.
    aborted_transactions: BinaryHeap<Reverse<(i64, i64)>>,
    /// Producers whose transaction in progress (at the current offset) was aborted.
    aborted_producer_ids: HashSet<i64>,
    /// Whether any complete batch was seen (an all-partial response is an error).
    saw_batch: bool,
    /// Set once corrupt data is met: reported on every drain until the user seeks.
    corrupt: Option<Arc<RecordError>>,
    done: bool,
}

/// What draining one fetch produced.
enum Step {
    Record(ConsumerRecord),
    /// No more records in this fetch.
    Exhausted,
    Error(FetchError),
}

impl CompletedFetch {
    pub(super) fn new(
        tp: TopicPartition,
        fetch_offset: i64,
        position_epoch: Option<i32>,
        records: Bytes,
        aborted: Vec<(i64, i64)>,
        isolation: IsolationLevel,
    ) -> Self {
        CompletedFetch {
            tp,
            batches: BatchIter::new(records),
            current: None,
            next_fetch_offset: fetch_offset,
            last_epoch: position_epoch,
            isolation,
            aborted_transactions: aborted
                .into_iter()
                .map(|(pid, first)| Reverse((first, pid)))
                .collect(),
            aborted_producer_ids: HashSet::new(),
            saw_batch: false,
            corrupt: None,
            done: false,
        }
    }

    fn position(&self) -> FetchPosition {
        FetchPosition {
            offset: self.next_fetch_offset,
            offset_epoch: self.last_epoch,
        }
    }

    fn corrupt(&mut self, e: RecordError) -> Step {
        let source = Arc::new(e);
        self.corrupt = Some(source.clone());
        self.current = None;
        Step::Error(FetchError::CorruptRecord {
            partition: self.tp.clone(),
            offset: self.next_fetch_offset,
            source,
        })
    }

    /// Moves producers of transactions starting at or before `offset` into the aborted set.
    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(Reverse((first, pid))) = self.aborted_transactions.peek().copied() {
            if first > offset {
                break;
            }
            self.aborted_transactions.pop();
            self.aborted_producer_ids.insert(pid);
        }
    }

    /// Starts reading `batch`: skips it (moving the position past it) when it is a control
    /// batch, an aborted transaction's batch, or wholly below the position.
    fn start_batch(&mut self, batch: RecordBatch) -> Result<(), RecordError> {
        self.saw_batch = true;
        let epoch = batch.partition_leader_epoch();
        self.last_epoch = (epoch >= 0).then_some(epoch);
        let next_offset = batch.next_offset();
        if self.isolation == IsolationLevel::ReadCommitted && batch.producer_id() >= 0 {
            self.consume_aborted_up_to(batch.last_offset());
            let pid = batch.producer_id();
            if batch.is_control() {
                if is_abort_marker(&batch)? {
                    self.aborted_producer_ids.remove(&pid);
                }
            } else if batch.is_transactional() && self.aborted_producer_ids.contains(&pid) {
                // The whole batch belongs to an aborted transaction.
                self.next_fetch_offset = self.next_fetch_offset.max(next_offset);
                return Ok(());
            }
        }
        if batch.is_control() {
            // Control records are never returned.
            self.next_fetch_offset = self.next_fetch_offset.max(next_offset);
            return Ok(());
        }
        if next_offset <= self.next_fetch_offset {
            // Wholly below the position (the fetch started mid-way): no need to decompress.
            return Ok(());
        }
        self.current = Some(CurrentBatch {
            next_offset,
            leader_epoch: self.last_epoch,
            timestamp_type: batch.timestamp_type(),
            records: batch.records()?,
        });
        Ok(())
    }

    fn next_step(&mut self) -> Step {
        if let Some(source) = &self.corrupt {
            return Step::Error(FetchError::CorruptRecord {
                partition: self.tp.clone(),
                offset: self.next_fetch_offset,
                source: source.clone(),
            });
        }
        loop {
            if self.done {
                return Step::Exhausted;
            }
            let Some(current) = self.current.as_mut() else {
                match self.batches.next() {
                    None => {
                        self.done = true;
                        if !self.saw_batch && self.batches.remaining_bytes() > 0 {
                            return Step::Error(FetchError::NoCompleteBatch {
                                partition: self.tp.clone(),
                                offset: self.next_fetch_offset,
                            });
                        }
                        return Step::Exhausted;
                    }
                    Some(Err(e)) => return self.corrupt(e),
                    Some(Ok(batch)) => {
                        if let Err(e) = self.start_batch(batch) {
                            return self.corrupt(e);
                        }
                        continue;
                    }
                }
            };
            match current.records.next() {
                None => {
                    // Past the whole batch, even when compaction removed its last records.
                    let next = current.next_offset;
                    self.current = None;
                    self.next_fetch_offset = self.next_fetch_offset.max(next);
                }
                Some(Err(e)) => return self.corrupt(e),
                Some(Ok(record)) => {
                    if record.offset < self.next_fetch_offset {
                        continue; // the fetch started before the position
                    }
                    let headers = match record.headers.iter().collect::<Result<Vec<_>, _>>() {
                        Ok(h) => h,
                        Err(e) => return self.corrupt(e),
                    };
                    let (leader_epoch, timestamp_type) =
                        (current.leader_epoch, current.timestamp_type);
                    self.next_fetch_offset = record.offset.saturating_add(1);
                    let mut out = ConsumerRecord::new(
                        self.tp.topic.clone(),
                        self.tp.partition,
                        record.offset,
                        record.timestamp,
                    )
                    .with_key(record.key)
                    .with_value(record.value)
                    .with_decoded_headers(headers);
                    out.timestamp_type = timestamp_type;
                    out.leader_epoch = leader_epoch;
                    return Step::Record(out);
                }
            }
        }
    }
}

/// Whether a control batch is an abort marker (its first record's key says ABORT).
fn is_abort_marker(batch: &RecordBatch) -> Result<bool, RecordError> {
    let Some(record) = batch.records()?.next() else {
        return Ok(false);
    };
    let record = record?;
    let Some(key) = record.key.as_deref() else {
        return Ok(false);
    };
    Ok(ControlRecordType::parse_key(key)? == ControlRecordType::Abort)
}

impl Fetcher {
    pub(super) fn drain(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>, FetchError> {
        let mut out = Vec::new();
        let mut index = 0;
        while index < self.buffer.len() && out.len() < max_records {
            let (tp, generation, _) = &self.buffer[index];
            let Some(state) = self.partitions.get(tp) else {
                self.buffer.remove(index);
                continue;
            };
            if state.generation != *generation {
                self.buffer.remove(index);
                continue;
            }
            if state.paused {
                index += 1;
                continue;
            }
            let (tp, _, buffered) = &mut self.buffer[index];
            let tp = tp.clone();
            match buffered {
                Buffered::Error(e) => {
                    if !out.is_empty() {
                        return Ok(out);
                    }
                    let e = e.clone();
                    self.buffer.remove(index);
                    return Err(e);
                }
                Buffered::Data(fetch) => {
                    let Some(PositionState::Fetching(position)) =
                        self.partitions.get(&tp).map(|s| &s.state)
                    else {
                        self.buffer.remove(index);
                        continue;
                    };
                    if position.offset != fetch.next_fetch_offset {
                        // Java: "ignoring fetched records since the current position is ..."
                        self.buffer.remove(index);
                        continue;
                    }
                    let before = out.len();
                    let mut error = None;
                    let mut exhausted = false;
                    while out.len() < max_records {
                        match fetch.next_step() {
                            Step::Record(r) => out.push(r),
                            Step::Exhausted => {
                                exhausted = true;
                                break;
                            }
                            Step::Error(e) => {
                                error = Some(e);
                                break;
                            }
                        }
                    }
                    // A fetch that stopped exactly at max_records stays until the next call,
                    // which finds it exhausted (as Java's nextInLineFetch does).
                    let new_position = fetch.position();
                    let corrupt = fetch.corrupt.is_some();
                    if let Some(s) = self.partitions.get_mut(&tp) {
                        if new_position.offset > s.position().map_or(i64::MIN, |p| p.offset) {
                            s.state = PositionState::Fetching(new_position);
                        }
                        if out.len() > before {
                            self.drain_sequence += 1;
                            s.last_returned = self.drain_sequence;
                        }
                    }
                    if let Some(e) = error {
                        if out.is_empty() {
                            if !corrupt {
                                // Reported once; the partition is then fetched again.
                                self.buffer.remove(index);
                            }
                            return Err(e);
                        }
                        if !corrupt {
                            // Reported at the next call (corrupt data re-reports by itself).
                            self.buffer[index].2 = Buffered::Error(e);
                        }
                        return Ok(out);
                    }
                    if exhausted {
                        self.buffer.remove(index);
                    } else {
                        index += 1;
                    }
                }
            }
        }
        Ok(out)
    }
}
