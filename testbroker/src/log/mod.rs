//! A partition replica's log: segments of record batches, the log start offset, the log end
//! offset and the high watermark, retention and truncation, as Kafka's `UnifiedLog`.
//!
//! Each broker owns one `PartitionLog` per replica it hosts; no log is ever shared between brokers.
//! This module is plain synchronous state (the caller passes `now_ms`), so replication rules and
//! tests can drive it without sockets or a runtime. It must not know about requests, leaders or
//! the controller: the broker decides who may append and where the high watermark goes.
//!
//! In memory by default. With a directory, segments are also files in Kafka's layout
//! (`<20-digit base offset>.log` holding the raw batches, `.index`, `.timeindex`) and a
//! `log-start-offset` file records the log start offset moved by DeleteRecords or retention.

pub mod epoch_cache;
mod segment;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafkit::record::{RecordBatch, RecordError, assign_offsets};

pub use epoch_cache::LeaderEpochCache;
use segment::Segment;

/// Errors from a partition log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file operation failed.
    #[error("log I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The offset is outside `[log start offset, log end offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The log start offset.
        log_start_offset: i64,
        /// The log end offset.
        log_end_offset: i64,
    },
    /// The batch is not a valid record batch.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] RecordError),
    /// A follower append whose offsets do not continue the log.
    #[error("batch at offset {base_offset} does not follow the log end offset {log_end_offset}")]
    NonMonotonicOffset {
        /// The batch's base offset.
        base_offset: i64,
        /// The log end offset.
        log_end_offset: i64,
    },
}

impl LogError {
    fn io(path: &Path, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Per-topic log settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll a new segment once the active one would exceed this (default 1 GiB).
    pub segment_bytes: usize,
    /// `segment.ms`: roll a new segment once the active one is this old (default 7 days).
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older than this; -1 keeps forever
    /// (default 7 days).
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger than this; -1 has
    /// no limit (default).
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between offset index entries (default 4096).
    pub index_interval_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
        }
    }
}

/// The outcome of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// The broker's append time when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
}

/// A record found by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
}

/// Name of the file that records the log start offset in a partition directory.
const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Name of the leader epoch checkpoint file, as Kafka names it.
const EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// One partition replica's log.
#[derive(Debug)]
pub struct PartitionLog {
    dir: Option<PathBuf>,
    config: LogConfig,
    /// Segments by base offset; never empty (the last is the active segment).
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    high_watermark: i64,
    epochs: LeaderEpochCache,
    /// Everything below this offset has been flushed (survives a simulated crash).
    flushed_offset: i64,
}

impl PartitionLog {
    /// An empty log, in memory or (with `dir`) in that partition directory, created if missing.
    pub fn create(
        dir: Option<PathBuf>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<PartitionLog, LogError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        }
        let segment = Segment::create(dir.as_deref(), 0, config.index_interval_bytes, now_ms)?;
        let log = PartitionLog {
            dir,
            config,
            segments: BTreeMap::from([(0, segment)]),
            log_start_offset: 0,
            high_watermark: 0,
            epochs: LeaderEpochCache::default(),
            flushed_offset: 0,
        };
        log.write_log_start_offset()?;
        log.write_epoch_checkpoint()?;
        Ok(log)
    }

    /// Open the log in `dir`, recovering every segment found there (a torn tail is cut off), or
    /// create it if the directory holds none. The high watermark starts at the log start offset;
    /// the broker raises it as replication confirms data.
    pub fn open(dir: PathBuf, config: LogConfig, now_ms: i64) -> Result<PartitionLog, LogError> {
        std::fs::create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| LogError::io(&dir, e))? {
            let entry = entry.map_err(|e| LogError::io(&dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
        if bases.is_empty() {
            return PartitionLog::create(Some(dir), config, now_ms);
        }
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        for base in bases {
            let segment = Segment::load(&dir, base, config.index_interval_bytes, now_ms)?;
            segments.insert(base, segment);
        }
        let first_base = *segments.keys().next().expect("at least one segment");
        let checkpoint = dir.join(LOG_START_OFFSET_FILE);
        let log_start_offset = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(first_base)
            .max(first_base);
        let mut log = PartitionLog {
            dir: Some(dir),
            config,
            segments,
            log_start_offset,
            high_watermark: log_start_offset,
            epochs: LeaderEpochCache::default(),
            flushed_offset: 0,
        };
        log.high_watermark = log.log_start_offset.min(log.log_end_offset());
        log.flushed_offset = log.log_end_offset();
        log.rebuild_epoch_cache()?;
        Ok(log)
    }

    /// The log's settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Change the log's settings (takes effect from the next append or retention pass).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// The offset up to which (exclusive) records are committed and visible to consumers.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Move the high watermark; it is clamped to `[log start offset, log end offset]`.
    pub fn set_high_watermark(&mut self, offset: i64) {
        self.high_watermark = offset.clamp(self.log_start_offset, self.log_end_offset());
    }

    /// Total bytes of all segments.
    pub fn size_in_bytes(&self) -> usize {
        self.segments.values().map(Segment::size_in_bytes).sum()
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// Append a batch as the partition leader: assign offsets from the log end offset, stamp the
    /// leader epoch (and the append time for LogAppendTime topics), and append it. The batch
    /// must already have been validated by [`RecordBatch::parse`]; it is never recompressed.
    pub fn append_as_leader(
        &mut self,
        batch: &RecordBatch,
        leader_epoch: i32,
        log_append_time: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let base_offset = self.log_end_offset();
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
        let mut raw = batch.as_bytes().to_vec();
        let append_time = log_append_time.then_some(now_ms);
        assign_offsets(&mut raw, base_offset, leader_epoch, append_time)?;
        let max_timestamp = append_time.unwrap_or(batch.max_timestamp());
        self.maybe_roll(raw.len(), now_ms)?;
        self.active_mut()
            .append(&raw, base_offset, last_offset, max_timestamp)?;
        self.note_epoch(leader_epoch, base_offset)?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: append_time.unwrap_or(-1),
        })
    }

    /// Append a batch as a follower: its offsets were assigned by the leader and must continue
    /// this log exactly.
    pub fn append_as_follower(&mut self, batch: &RecordBatch, now_ms: i64) -> Result<(), LogError> {
        let log_end_offset = self.log_end_offset();
        if batch.base_offset() < log_end_offset {
            return Err(LogError::NonMonotonicOffset {
                base_offset: batch.base_offset(),
                log_end_offset,
            });
        }
        let raw = batch.as_bytes();
        self.maybe_roll_at(raw.len(), now_ms, batch.base_offset())?;
        self.active_mut().append(
            raw,
            batch.base_offset(),
            batch.last_offset(),
            batch.max_timestamp(),
        )?;
        self.note_epoch(batch.partition_leader_epoch(), batch.base_offset())
    }

    /// The leader epoch cache.
    pub fn epoch_cache(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    /// Kafka's `endOffsetForEpoch`: the largest epoch ≤ `epoch` this log knows and where it
    /// ends (see [`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// Record that `epoch` starts at `start_offset` if it is newer than every epoch known here
    /// (a new leader does this at its log end offset, as Kafka's `maybeAssignEpochStartOffset`).
    pub fn assign_epoch_start_offset(
        &mut self,
        epoch: i32,
        start_offset: i64,
    ) -> Result<(), LogError> {
        self.note_epoch(epoch, start_offset)
    }

    fn note_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if epoch >= 0
            && self
                .epochs
                .latest_epoch()
                .is_none_or(|latest| epoch > latest)
        {
            self.epochs.assign(epoch, start_offset);
            self.write_epoch_checkpoint()?;
        }
        Ok(())
    }

    fn rebuild_epoch_cache(&mut self) -> Result<(), LogError> {
        let mut epochs = LeaderEpochCache::default();
        for header in self.batch_headers() {
            epochs.assign(header.partition_leader_epoch, header.base_offset);
        }
        epochs.truncate_from_start(self.log_start_offset);
        self.epochs = epochs;
        self.write_epoch_checkpoint()
    }

    fn write_epoch_checkpoint(&self) -> Result<(), LogError> {
        if let Some(dir) = &self.dir {
            let path = dir.join(EPOCH_CHECKPOINT_FILE);
            std::fs::write(&path, self.epochs.to_checkpoint())
                .map_err(|e| LogError::io(&path, e))?;
        }
        Ok(())
    }

    fn maybe_roll(&mut self, incoming: usize, now_ms: i64) -> Result<(), LogError> {
        let next = self.log_end_offset();
        self.maybe_roll_at(incoming, now_ms, next)
    }

    /// Start a new active segment at `base_offset` when the active one is full or old (or when
    /// a follower's batch does not start where the active segment ends).
    fn maybe_roll_at(
        &mut self,
        incoming: usize,
        now_ms: i64,
        base_offset: i64,
    ) -> Result<(), LogError> {
        let config = &self.config;
        let active = self.active();
        let full = active.size_in_bytes() + incoming > config.segment_bytes;
        let old = now_ms - active.created_ms() >= config.segment_ms;
        let gap = base_offset != active.next_offset();
        if active.is_empty() && !gap {
            return Ok(());
        }
        if !(full || old || gap) {
            return Ok(());
        }
        if active.is_empty() {
            // An empty active segment at the wrong base: replace it.
            let base = active.base_offset();
            let empty = self.segments.remove(&base).expect("active segment");
            empty.delete_files()?;
        }
        let segment = Segment::create(
            self.dir.as_deref(),
            base_offset,
            config.index_interval_bytes,
            now_ms,
        )?;
        self.segments.insert(base_offset, segment);
        Ok(())
    }

    /// Read whole batches from `offset`: at most `max_bytes`, but the first batch whole even when
    /// larger if `min_one_batch` (KIP-74), and only records below `max_offset` (the high
    /// watermark for consumers, the log end offset for followers). The first batch returned may
    /// start before `offset`; the reader skips records below it.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        let log_end_offset = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        // Start with the segment that would hold `offset`; a later one if that holds nothing past it.
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for segment in self.segments.range(first..).map(|(_, s)| s) {
            if let Some(found) = segment.find_batch(offset) {
                return Ok(segment.read(found.position, max_bytes, max_offset, min_one_batch));
            }
        }
        Ok(Bytes::new())
    }

    /// The first record with a timestamp ≥ `timestamp` (ListOffsets by time), if any.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        for segment in self.segments.values() {
            let Some((_, found)) = segment.find_offset_by_timestamp(timestamp) else {
                continue;
            };
            // The first qualifying batch may lie below the log start (DeleteRecords moved it
            // into this segment): keep scanning later batches, as Kafka does.
            for candidate in segment.batches_from(found.position) {
                let header = candidate.header;
                if header.max_timestamp < timestamp || header.last_offset() < self.log_start_offset
                {
                    continue;
                }
                let batch = segment.read(candidate.position, 0, i64::MAX, true);
                let batch = RecordBatch::parse(&batch)?;
                for record in batch.records()? {
                    let record = record?;
                    if record.timestamp >= timestamp && record.offset >= self.log_start_offset {
                        return Ok(Some(TimestampOffset {
                            offset: record.offset,
                            timestamp: record.timestamp,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734), if any. Ties
    /// go to the earliest such record.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, LogError> {
        let Some(max) = self.segments.values().map(Segment::max_timestamp).max() else {
            return Ok(None);
        };
        if max < 0 {
            return Ok(None);
        }
        self.offset_for_timestamp(max)
    }

    /// Remove every record at or above `offset` (follower truncation, on batch boundaries: a
    /// batch that contains `offset` goes entirely). Truncating below the log start offset
    /// empties the log and restarts it at `offset`. The high watermark never stays above the new
    /// log end offset.
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        if offset <= self.log_start_offset {
            return self.reset_to(offset, now_ms);
        }
        let doomed: Vec<i64> = self.segments.range(offset..).map(|(b, _)| *b).collect();
        for base in doomed {
            let segment = self.segments.remove(&base).expect("segment");
            segment.delete_files()?;
        }
        match self.segments.values_mut().next_back() {
            Some(segment) => segment.truncate_to(offset)?,
            None => {
                let segment = Segment::create(
                    self.dir.as_deref(),
                    offset,
                    self.config.index_interval_bytes,
                    now_ms,
                )?;
                self.segments.insert(offset, segment);
            }
        }
        self.high_watermark = self.high_watermark.min(self.log_end_offset());
        self.epochs.truncate_from_end(self.log_end_offset());
        self.write_epoch_checkpoint()
    }

    /// Drop everything and start empty at `offset` (a follower far behind a moved log start).
    pub fn reset_to(&mut self, offset: i64, now_ms: i64) -> Result<(), LogError> {
        for (_, segment) in std::mem::take(&mut self.segments) {
            segment.delete_files()?;
        }
        let segment = Segment::create(
            self.dir.as_deref(),
            offset,
            self.config.index_interval_bytes,
            now_ms,
        )?;
        self.segments.insert(offset, segment);
        self.log_start_offset = offset;
        self.high_watermark = offset;
        self.epochs = LeaderEpochCache::default();
        self.write_epoch_checkpoint()?;
        self.write_log_start_offset()
    }

    /// Move the log start offset forward to `offset` (DeleteRecords), deleting whole segments
    /// that fall below it. The offset must not exceed the high watermark.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset > self.high_watermark || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.high_watermark,
            });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.delete_segments_below_start()?;
            self.write_log_start_offset()?;
            self.epochs.truncate_from_start(offset);
            self.write_epoch_checkpoint()?;
        }
        Ok(self.log_start_offset)
    }

    /// Apply `retention.ms` and `retention.bytes`: delete the oldest segments (never the active
    /// one) that are too old or over the size limit. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        let mut size = self.size_in_bytes() as i64;
        loop {
            if self.segments.len() <= 1 {
                break;
            }
            let (&base, oldest) = self.segments.iter().next().expect("segment");
            let too_old = self.config.retention_ms >= 0
                && oldest.max_timestamp() >= 0
                && now_ms - oldest.max_timestamp() > self.config.retention_ms;
            let too_big = self.config.retention_bytes >= 0
                && size - oldest.size_in_bytes() as i64 >= self.config.retention_bytes;
            if !(too_old || too_big) {
                break;
            }
            let segment = self.segments.remove(&base).expect("segment");
            size -= segment.size_in_bytes() as i64;
            segment.delete_files()?;
            deleted += 1;
        }
        if deleted > 0 {
            let first = *self.segments.keys().next().expect("segment");
            self.log_start_offset = self.log_start_offset.max(first);
            self.high_watermark = self.high_watermark.max(self.log_start_offset);
            self.write_log_start_offset()?;
            self.epochs.truncate_from_start(self.log_start_offset);
            self.write_epoch_checkpoint()?;
        }
        Ok(deleted)
    }

    fn delete_segments_below_start(&mut self) -> Result<(), LogError> {
        while self.segments.len() > 1 {
            let (&base, oldest) = self.segments.iter().next().expect("segment");
            if oldest.next_offset() > self.log_start_offset {
                break;
            }
            let segment = self.segments.remove(&base).expect("segment");
            segment.delete_files()?;
        }
        Ok(())
    }

    fn write_log_start_offset(&self) -> Result<(), LogError> {
        if let Some(dir) = &self.dir {
            let path = dir.join(LOG_START_OFFSET_FILE);
            std::fs::write(&path, format!("{}\n", self.log_start_offset))
                .map_err(|e| LogError::io(&path, e))?;
        }
        Ok(())
    }

    /// Every batch header in the log, oldest first (for rebuilding producer state and epoch
    /// caches after a load or a truncation).
    pub fn batch_headers(&self) -> impl Iterator<Item = kafkit::record::BatchHeader> + '_ {
        self.segments
            .values()
            .flat_map(|segment| segment.batches_from(0).map(|b| b.header))
    }

    /// Make everything appended so far durable.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if self.flushed_offset == self.log_end_offset() {
            return Ok(());
        }
        for segment in self.segments.values_mut() {
            segment.flush()?;
        }
        self.flushed_offset = self.log_end_offset();
        Ok(())
    }

    /// The offset below which everything has been flushed.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.min(self.log_end_offset())
    }
}

#[cfg(test)]
mod tests;
