//! One log segment: a run of record batches starting at a base offset, with a sparse offset index
//! and a time index, as Kafka's `LogSegment`.
//!
//! Owns the bytes of its batches (always in memory; mirrored to `<base>.log`, `<base>.index` and
//! `<base>.timeindex` files when the log has a directory). Knows nothing of leaders, high
//! watermarks or retention policy: [`super::PartitionLog`] decides those.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafkit::record::BatchHeader;

use super::LogError;

/// One offset index entry: the first batch at or after `relative_offset` starts at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetIndexEntry {
    /// Offset relative to the segment's base offset (as Kafka stores it, 4 bytes).
    pub relative_offset: u32,
    /// Byte position of the batch in the segment.
    pub position: u32,
}

/// One time index entry: batches after `relative_offset` have timestamps ≥ `timestamp` only if
/// later entries say so; the entry records the largest timestamp seen so far and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeIndexEntry {
    /// Largest timestamp seen up to and including the batch that ends at `relative_offset`.
    pub timestamp: i64,
    /// Offset (relative to the base offset) of the batch holding that timestamp.
    pub relative_offset: u32,
}

/// Where a batch sits in a segment, as found by a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchPosition {
    pub position: usize,
    pub header: BatchHeader,
}

/// Files backing a segment in `data_dir` mode.
#[derive(Debug)]
struct SegmentFiles {
    log: File,
    index: File,
    time_index: File,
    log_path: PathBuf,
    index_path: PathBuf,
    time_index_path: PathBuf,
}

/// A log segment.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    /// The raw batches, back to back, exactly as in a Kafka `.log` file.
    data: Vec<u8>,
    /// Offset just past the last batch (the next offset this segment would hold).
    next_offset: i64,
    offset_index: Vec<OffsetIndexEntry>,
    time_index: Vec<TimeIndexEntry>,
    bytes_since_last_index_entry: usize,
    index_interval_bytes: usize,
    /// Largest batch max-timestamp in the segment (-1 when empty).
    max_timestamp: i64,
    /// Wall-clock time the segment was created, for `segment.ms` rolling.
    created_ms: i64,
    files: Option<SegmentFiles>,
}

/// The 20-digit zero-padded file name stem Kafka uses for a segment.
pub(crate) fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

impl Segment {
    /// A new empty segment, creating its files when `dir` is given.
    pub fn create(
        dir: Option<&Path>,
        base_offset: i64,
        index_interval_bytes: usize,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let files = match dir {
            Some(dir) => Some(SegmentFiles::create(dir, base_offset)?),
            None => None,
        };
        Ok(Segment {
            base_offset,
            data: Vec::new(),
            next_offset: base_offset,
            offset_index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_last_index_entry: 0,
            index_interval_bytes,
            max_timestamp: -1,
            created_ms: now_ms,
            files,
        })
    }

    /// Load a segment from its `.log` file, validating every batch. A torn or corrupt tail (as
    /// left by a crash) is cut off the file, as Kafka's log recovery does. Indexes are rebuilt.
    pub fn load(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: usize,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let mut segment = Segment::create(None, base_offset, index_interval_bytes, now_ms)?;
        let log_path = dir.join(format!("{}.log", file_stem(base_offset)));
        let raw = std::fs::read(&log_path).map_err(|e| LogError::io(&log_path, e))?;
        let raw = Bytes::from(raw);
        let mut position = 0;
        while position < raw.len() {
            let rest = raw.slice(position..);
            let Ok(batch) = kafkit::record::RecordBatch::parse(&rest) else {
                tracing::warn!(
                    path = %log_path.display(),
                    position,
                    "truncating a torn or corrupt tail during recovery"
                );
                break;
            };
            if batch.base_offset() < segment.next_offset {
                tracing::warn!(path = %log_path.display(), position, "offsets go backwards; truncating");
                break;
            }
            let size = batch.size_in_bytes();
            segment.push_batch(
                &raw[position..position + size],
                batch.base_offset(),
                batch.last_offset(),
                batch.max_timestamp(),
            );
            position += size;
        }
        // Rewrite the files so they hold exactly what was recovered, with fresh indexes.
        let mut files = SegmentFiles::create(dir, base_offset)?;
        files.write_all_log(&segment.data)?;
        for entry in &segment.offset_index {
            files.append_index(entry)?;
        }
        for entry in &segment.time_index {
            files.append_time_index(entry)?;
        }
        segment.files = Some(files);
        Ok(segment)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size_in_bytes(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    #[cfg(test)]
    pub fn offset_index(&self) -> &[OffsetIndexEntry] {
        &self.offset_index
    }

    /// Append one batch whose offsets are already assigned (`base_offset..=last_offset`).
    pub fn append(
        &mut self,
        batch: &[u8],
        base_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
    ) -> Result<(), LogError> {
        let index_before = self.offset_index.len();
        let time_before = self.time_index.len();
        if let Some(files) = &mut self.files {
            files.append_log(batch)?;
        }
        self.push_batch(batch, base_offset, last_offset, max_timestamp);
        if let Some(files) = &mut self.files {
            for entry in &self.offset_index[index_before..] {
                files.append_index(entry)?;
            }
            for entry in &self.time_index[time_before..] {
                files.append_time_index(entry)?;
            }
        }
        Ok(())
    }

    fn push_batch(&mut self, batch: &[u8], base_offset: i64, last_offset: i64, max_timestamp: i64) {
        let position = self.data.len();
        // Sparse index: an entry for the first batch, then one each `index.interval.bytes`.
        if self.offset_index.is_empty()
            || self.bytes_since_last_index_entry >= self.index_interval_bytes
        {
            self.offset_index.push(OffsetIndexEntry {
                relative_offset: (base_offset - self.base_offset) as u32,
                position: position as u32,
            });
            self.bytes_since_last_index_entry = 0;
        }
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.time_index.push(TimeIndexEntry {
                timestamp: max_timestamp,
                relative_offset: (last_offset - self.base_offset) as u32,
            });
        }
        self.data.extend_from_slice(batch);
        self.bytes_since_last_index_entry += batch.len();
        self.next_offset = last_offset + 1;
    }

    /// Position of the first batch whose last offset is ≥ `offset` (the batch containing it, or
    /// the next one), or `None` when the segment holds nothing at or after `offset`.
    pub fn find_batch(&self, offset: i64) -> Option<BatchPosition> {
        let relative = (offset - self.base_offset).max(0);
        // The last index entry at or before `offset`: a lower bound to start scanning from.
        let start = match self
            .offset_index
            .partition_point(|e| i64::from(e.relative_offset) <= relative)
        {
            0 => 0,
            i => self.offset_index[i - 1].position as usize,
        };
        self.batches_from(start)
            .find(|b| b.header.base_offset + i64::from(b.header.last_offset_delta) >= offset)
    }

    /// Iterate batch headers from a byte position known to start a batch.
    pub fn batches_from(&self, position: usize) -> impl Iterator<Item = BatchPosition> + '_ {
        let mut position = position;
        std::iter::from_fn(move || {
            let header = BatchHeader::peek(self.data.get(position..)?).ok()?;
            let here = position;
            position += header.size_in_bytes();
            Some(BatchPosition {
                position: here,
                header,
            })
        })
    }

    /// Copy out whole batches starting at `position`: at most `max_bytes`, except that the first
    /// batch is returned whole even when larger (KIP-74) if `min_one_batch`; only batches whose
    /// last offset is below `max_offset`.
    pub fn read(
        &self,
        position: usize,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Bytes {
        let mut end = position;
        for b in self.batches_from(position) {
            let last = b.header.base_offset + i64::from(b.header.last_offset_delta);
            if last >= max_offset {
                break;
            }
            let next_end = b.position + b.header.size_in_bytes();
            let taken = end - position;
            if next_end - position > max_bytes && !(min_one_batch && taken == 0) {
                break;
            }
            end = next_end;
        }
        Bytes::copy_from_slice(&self.data[position..end])
    }

    /// The offset of the first batch whose max timestamp is ≥ `timestamp`, with that batch's
    /// max timestamp; `None` when every batch is older.
    pub fn find_offset_by_timestamp(&self, timestamp: i64) -> Option<(i64, BatchPosition)> {
        if self.max_timestamp < timestamp {
            return None;
        }
        // The time index says which batches can be skipped: before the last entry whose timestamp
        // is < target, nothing qualifies... but a batch's max timestamp can exceed later ones, so
        // we only use it as a lower bound through the offset index.
        let skip_to = match self.time_index.partition_point(|e| e.timestamp < timestamp) {
            0 => self.base_offset,
            i => self.base_offset + i64::from(self.time_index[i - 1].relative_offset) + 1,
        };
        let start = self.find_batch(skip_to)?.position;
        self.batches_from(start)
            .find(|b| b.header.max_timestamp >= timestamp)
            .map(|b| (b.header.base_offset, b))
    }

    /// Cut the segment so it holds only offsets below `offset` (whole batches: a batch containing
    /// `offset` is removed entirely, as Kafka truncates on batch boundaries).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let cut = self
            .find_batch(offset)
            .map_or(self.data.len(), |b| b.position);
        if cut == self.data.len() {
            return Ok(());
        }
        self.data.truncate(cut);
        self.offset_index.retain(|e| (e.position as usize) < cut);
        // Recompute what depends on the remaining batches.
        let mut next_offset = self.base_offset;
        let mut max_timestamp = -1;
        let mut time_index = Vec::new();
        for b in self.batches_from(0) {
            let last = b.header.base_offset + i64::from(b.header.last_offset_delta);
            next_offset = last + 1;
            if b.header.max_timestamp > max_timestamp {
                max_timestamp = b.header.max_timestamp;
                time_index.push(TimeIndexEntry {
                    timestamp: max_timestamp,
                    relative_offset: (last - self.base_offset) as u32,
                });
            }
        }
        self.next_offset = next_offset;
        self.max_timestamp = max_timestamp;
        self.time_index = time_index;
        self.bytes_since_last_index_entry = match self.offset_index.last() {
            Some(e) => cut - e.position as usize,
            None => 0,
        };
        if let Some(files) = &mut self.files {
            files.rewrite(&self.data, &self.offset_index, &self.time_index)?;
        }
        Ok(())
    }

    /// Delete the segment's files (the segment was removed by retention or truncation).
    pub fn delete_files(self) -> Result<(), LogError> {
        if let Some(files) = self.files {
            files.delete()?;
        }
        Ok(())
    }

    /// Make written data durable (a clean shutdown flushes; a crash may lose unflushed data).
    pub fn flush(&mut self) -> Result<(), LogError> {
        if let Some(files) = &mut self.files {
            files
                .log
                .sync_data()
                .map_err(|e| LogError::io(&files.log_path, e))?;
        }
        Ok(())
    }
}

impl SegmentFiles {
    fn create(dir: &Path, base_offset: i64) -> Result<SegmentFiles, LogError> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let index_path = dir.join(format!("{stem}.index"));
        let time_index_path = dir.join(format!("{stem}.timeindex"));
        let open = |path: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| LogError::io(path, e))
        };
        Ok(SegmentFiles {
            log: open(&log_path)?,
            index: open(&index_path)?,
            time_index: open(&time_index_path)?,
            log_path,
            index_path,
            time_index_path,
        })
    }

    fn append_log(&mut self, batch: &[u8]) -> Result<(), LogError> {
        self.log
            .write_all(batch)
            .map_err(|e| LogError::io(&self.log_path, e))
    }

    fn write_all_log(&mut self, data: &[u8]) -> Result<(), LogError> {
        self.log
            .set_len(0)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        self.index
            .set_len(0)
            .map_err(|e| LogError::io(&self.index_path, e))?;
        self.time_index
            .set_len(0)
            .map_err(|e| LogError::io(&self.time_index_path, e))?;
        self.append_log(data)
    }

    /// Kafka's offset index entry: relative offset (4 bytes) and position (4 bytes), big-endian.
    fn append_index(&mut self, entry: &OffsetIndexEntry) -> Result<(), LogError> {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
        buf[4..].copy_from_slice(&entry.position.to_be_bytes());
        self.index
            .write_all(&buf)
            .map_err(|e| LogError::io(&self.index_path, e))
    }

    /// Kafka's time index entry: timestamp (8 bytes) and relative offset (4 bytes), big-endian.
    fn append_time_index(&mut self, entry: &TimeIndexEntry) -> Result<(), LogError> {
        let mut buf = [0u8; 12];
        buf[..8].copy_from_slice(&entry.timestamp.to_be_bytes());
        buf[8..].copy_from_slice(&entry.relative_offset.to_be_bytes());
        self.time_index
            .write_all(&buf)
            .map_err(|e| LogError::io(&self.time_index_path, e))
    }

    fn rewrite(
        &mut self,
        data: &[u8],
        offset_index: &[OffsetIndexEntry],
        time_index: &[TimeIndexEntry],
    ) -> Result<(), LogError> {
        self.write_all_log(data)?;
        for e in offset_index {
            self.append_index(e)?;
        }
        for e in time_index {
            self.append_time_index(e)?;
        }
        Ok(())
    }

    fn delete(self) -> Result<(), LogError> {
        for path in [&self.log_path, &self.index_path, &self.time_index_path] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(path, e)),
            }
        }
        Ok(())
    }
}
