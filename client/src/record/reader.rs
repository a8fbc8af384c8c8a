//! Decoding: [`BatchIter`] splits a records blob into batches, [`RecordBatch`] validates one
//! batch's header and CRC, [`Records`] walks its records lazily over one [`Bytes`] (the batch
//! itself, or the single decompressed copy). Every length read from the input is checked against
//! the bytes actually present before it is used.

use bytes::Bytes;

use super::compression;
use super::varint::{read_varint, read_varlong};
use super::*;

/// Default cap on one batch's decompressed records section: 256 MiB.
///
/// Kafka batches are bounded by `max.message.bytes` (1 MiB by default) compressed, and
/// producers cap them by `batch.size`/`max.request.size` uncompressed; 256 MiB leaves room for
/// very compressible large batches while stopping a decompression bomb from exhausting memory.
/// Use [`RecordBatch::records_with_limit`] to choose another cap.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 256 << 20;

/// Smallest valid `batchLength`: the header after `baseOffset` and `batchLength`.
const MIN_BATCH_LENGTH: i32 = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;

#[inline(always)]
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// One parsed, CRC-validated record batch over a zero-copy [`Bytes`].
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions { base_offset: 100, ..BatchOptions::default() });
/// b.append(5, None, Some(b"a"), &[])?;
/// b.append(6, None, Some(b"b"), &[])?;
/// let batch = RecordBatch::parse(&b.finish()?)?;
/// assert_eq!((batch.base_offset(), batch.last_offset()), (100, 101));
/// let values: Vec<_> = batch.records()?.map(|r| r.unwrap().value.unwrap()).collect();
/// assert_eq!(values, [&b"a"[..], &b"b"[..]]);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    buf: Bytes,
    compression: Compression,
}

impl RecordBatch {
    /// Parses and validates one batch at the start of `buf`: `magic` 2, `batchLength` at least
    /// the header and within `buf`, known compression, non-negative record count, CRC-32C.
    /// Bytes after the batch are ignored. No copy: the batch keeps a slice of `buf`.
    pub fn parse(buf: &Bytes) -> Result<RecordBatch, RecordError> {
        if buf.len() < MAGIC_OFFSET + 1 {
            return Err(RecordError::Truncated);
        }
        let batch_length = be_i32(buf, LENGTH_OFFSET);
        if batch_length < MIN_BATCH_LENGTH {
            let magic = buf[MAGIC_OFFSET] as i8;
            if magic != MAGIC_V2 {
                return Err(RecordError::InvalidMagic(magic));
            }
            return Err(RecordError::InvalidBatchLength(batch_length));
        }
        let size = LOG_OVERHEAD + batch_length as usize;
        if buf.len() < size {
            return Err(RecordError::Truncated);
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordError::InvalidMagic(magic));
        }
        let expected = be_i32(buf, CRC_OFFSET) as u32;
        let actual = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..size]);
        if expected != actual {
            return Err(RecordError::CrcMismatch { expected, actual });
        }
        let compression = Compression::from_id(be_i16(buf, ATTRIBUTES_OFFSET) & COMPRESSION_MASK)?;
        let count = be_i32(buf, RECORD_COUNT_OFFSET);
        if count < 0 {
            return Err(RecordError::InvalidRecordCount(count));
        }
        Ok(RecordBatch {
            buf: buf.slice(..size),
            compression,
        })
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(&self.buf, BASE_OFFSET_OFFSET)
    }

    /// Offset of the last record: `baseOffset + lastOffsetDelta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(self.last_offset_delta() as i64)
    }

    /// The offset after this batch: `last_offset() + 1`.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// `lastOffsetDelta` from the header.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.buf, LAST_OFFSET_DELTA_OFFSET)
    }

    /// Leader epoch stamped by the broker.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.buf, PARTITION_LEADER_EPOCH_OFFSET)
    }

    /// Always 2.
    pub fn magic(&self) -> i8 {
        self.buf[MAGIC_OFFSET] as i8
    }

    /// The stored (and verified) CRC-32C.
    pub fn crc(&self) -> u32 {
        be_i32(&self.buf, CRC_OFFSET) as u32
    }

    /// Raw attributes.
    pub fn attributes(&self) -> i16 {
        be_i16(&self.buf, ATTRIBUTES_OFFSET)
    }

    /// The records section codec.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// CreateTime or LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Transactional batch (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }

    /// Control batch (attribute bit 5), e.g. transaction markers.
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }

    /// Delete horizon set by compaction (attribute bit 6); `base_timestamp` is then the horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_BIT != 0
    }

    /// The first record's timestamp (records store deltas from it).
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.buf, BASE_TIMESTAMP_OFFSET)
    }

    /// The largest timestamp, or the log append time for LogAppendTime batches.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.buf, MAX_TIMESTAMP_OFFSET)
    }

    /// Producer id (-1 without idempotence).
    pub fn producer_id(&self) -> i64 {
        be_i64(&self.buf, PRODUCER_ID_OFFSET)
    }

    /// Producer epoch.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.buf, PRODUCER_EPOCH_OFFSET)
    }

    /// Sequence of the first record (-1 without idempotence).
    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.buf, BASE_SEQUENCE_OFFSET)
    }

    /// Sequence of the last record, wrapping past `i32::MAX` to 0 as Java does; -1 without
    /// idempotence.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return -1;
        }
        let delta = self.last_offset_delta();
        if delta < 0 {
            return base;
        }
        // Java's DefaultRecordBatch.incrementSequence.
        if base > i32::MAX - delta {
            delta - (i32::MAX - base) - 1
        } else {
            base + delta
        }
    }

    /// `recordCount` from the header.
    pub fn record_count(&self) -> i32 {
        be_i32(&self.buf, RECORD_COUNT_OFFSET)
    }

    /// Whole batch size: `12 + batchLength`.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The whole raw batch.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Consumes the batch, returning its raw bytes.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// Decompresses once (if compressed) and iterates the records lazily. The decompressed size
    /// is capped at [`DEFAULT_MAX_DECOMPRESSED_SIZE`].
    pub fn records(&self) -> Result<Records, RecordError> {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED_SIZE)
    }

    /// Like [`records`](Self::records) with an explicit cap on the decompressed size; exceeding it
    /// is [`RecordError::DecompressedTooLarge`]. Uncompressed batches are never copied.
    ///
    /// ```
    /// use kafkit::record::{BatchBuilder, BatchOptions, Compression, RecordBatch, RecordError};
    ///
    /// let mut b = BatchBuilder::new(BatchOptions { compression: Compression::Gzip, ..BatchOptions::default() });
    /// b.append(0, None, Some(&[0; 10_000]), &[])?;
    /// let batch = RecordBatch::parse(&b.finish()?)?;
    /// assert!(matches!(batch.records_with_limit(1_000), Err(RecordError::DecompressedTooLarge { .. })));
    /// assert_eq!(batch.records_with_limit(1 << 20)?.count(), 1);
    /// # Ok::<(), kafkit::record::RecordError>(())
    /// ```
    pub fn records_with_limit(&self, max_decompressed: usize) -> Result<Records, RecordError> {
        let data = match self.compression {
            Compression::None => self.buf.slice(RECORD_BATCH_OVERHEAD..),
            codec => Bytes::from(compression::decompress(
                codec,
                &self.buf[RECORD_BATCH_OVERHEAD..],
                max_decompressed,
            )?),
        };
        Ok(Records::new(data, self))
    }
}

/// The records of one batch, decoded lazily. Yields an error (then stops) on malformed data,
/// when the batch holds fewer records than declared, or when bytes trail the last record.
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// for i in 0..3u8 { b.append(0, None, Some(&[i]), &[])?; }
/// let batch = RecordBatch::parse(&b.finish()?)?;
/// let mut records = batch.records()?;
/// assert_eq!(records.remaining(), 3);
/// let total: usize = records.by_ref().map(|r| r.unwrap().value.map_or(0, |v| v.len())).sum();
/// assert_eq!((total, records.remaining()), (3, 0));
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Records {
    data: Bytes,
    cursor: Cursor,
}

impl Records {
    fn new(data: Bytes, batch: &RecordBatch) -> Records {
        Records {
            data,
            cursor: Cursor {
                pos: 0,
                declared: batch.record_count(),
                read: 0,
                base_offset: batch.base_offset(),
                base_timestamp: batch.base_timestamp(),
                log_append_time: match batch.timestamp_type() {
                    TimestampType::LogAppendTime => Some(batch.max_timestamp()),
                    TimestampType::CreateTime => None,
                },
                done: false,
            },
        }
    }

    /// Records declared but not yet yielded.
    pub fn remaining(&self) -> usize {
        self.cursor.remaining()
    }

    /// Borrowed views of the records not yet yielded, without touching reference counts: the
    /// fastest way to read records that are consumed in place (deserialised, validated, summed).
    ///
    /// ```
    /// use kafkit::record::{BatchBuilder, BatchOptions, RecordBatch};
    ///
    /// let mut b = BatchBuilder::new(BatchOptions::default());
    /// b.append(0, Some(b"k"), Some(b"hello"), &[])?;
    /// let batch = RecordBatch::parse(&b.finish()?)?;
    /// let records = batch.records()?;
    /// for view in records.views() {
    ///     let view = view?;
    ///     assert_eq!((view.key, view.value), (Some(&b"k"[..]), Some(&b"hello"[..])));
    /// }
    /// # Ok::<(), kafkit::record::RecordError>(())
    /// ```
    pub fn views(&self) -> RecordViews<'_> {
        RecordViews {
            data: &self.data,
            cursor: self.cursor.clone(),
        }
    }
}

/// Position and batch context shared by [`Records`] and [`RecordViews`].
#[derive(Clone, Debug)]
struct Cursor {
    pos: usize,
    declared: i32,
    read: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    done: bool,
}

impl Cursor {
    fn remaining(&self) -> usize {
        if self.done {
            0
        } else {
            (self.declared - self.read) as usize
        }
    }

    /// Parses the next record of `data`, enforcing the declared count.
    #[inline(always)]
    fn next_raw(&mut self, data: &[u8]) -> Option<Result<RawRecord, RecordError>> {
        if self.done {
            return None;
        }
        if self.read >= self.declared {
            self.done = true;
            let left = data.len() - self.pos;
            if left != 0 {
                return Some(Err(RecordError::TrailingBytes(left)));
            }
            return None;
        }
        if self.pos >= data.len() {
            self.done = true;
            return Some(Err(RecordError::RecordCountMismatch {
                declared: self.declared,
                actual: self.read,
            }));
        }
        match parse_record(data, self.pos) {
            Ok(raw) => {
                self.pos = raw.end;
                self.read += 1;
                Some(Ok(raw))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    #[inline(always)]
    fn offset(&self, raw: &RawRecord) -> i64 {
        self.base_offset.wrapping_add(raw.offset_delta as i64)
    }

    #[inline(always)]
    fn timestamp(&self, raw: &RawRecord) -> i64 {
        match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(raw.timestamp_delta),
        }
    }
}

/// Where one record's fields lie within a records section (validated, not yet sliced).
struct RawRecord {
    end: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    headers_start: usize,
    header_count: usize,
}

/// Parses the record starting at `pos`. Every length is checked against the record's own
/// declared length, which is checked against `data`.
#[inline(always)]
fn parse_record(data: &[u8], mut pos: usize) -> Result<RawRecord, RecordError> {
    let length = read_varint(data, &mut pos)?;
    if length < 0 || length as usize > data.len() - pos {
        return Err(RecordError::InvalidLength {
            field: "record",
            length: length as i64,
        });
    }
    let end = pos + length as usize;
    let rec = &data[..end];
    let Some(&attributes) = rec.get(pos) else {
        return Err(RecordError::RecordSizeMismatch {
            declared: 0,
            actual: 1,
        });
    };
    let attributes = attributes as i8;
    pos += 1;
    let timestamp_delta = read_varlong(rec, &mut pos)?;
    let offset_delta = read_varint(rec, &mut pos)?;
    let key = parse_nullable(rec, &mut pos, "key")?;
    let value = parse_nullable(rec, &mut pos, "value")?;
    let header_count = read_varint(rec, &mut pos)?;
    // Each header takes at least 2 bytes (key length, value length).
    if header_count < 0 || header_count as usize > (end - pos) / 2 {
        return Err(RecordError::InvalidLength {
            field: "header count",
            length: header_count as i64,
        });
    }
    if header_count == 0 && pos != end {
        return Err(RecordError::RecordSizeMismatch {
            declared: length as usize,
            actual: length as usize - (end - pos),
        });
    }
    Ok(RawRecord {
        end,
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers_start: pos,
        header_count: header_count as usize,
    })
}

/// Reads a nullable byte field (varint length, -1 = null) within `rec`; returns its range.
#[inline(always)]
fn parse_nullable(
    rec: &[u8],
    pos: &mut usize,
    field: &'static str,
) -> Result<Option<(usize, usize)>, RecordError> {
    let len = read_varint(rec, pos)?;
    if len == -1 {
        return Ok(None);
    }
    if len < 0 || len as usize > rec.len() - *pos {
        return Err(RecordError::InvalidLength {
            field,
            length: len as i64,
        });
    }
    let start = *pos;
    *pos += len as usize;
    Ok(Some((start, *pos)))
}

/// A zero-copy slice of `owner`; empty ranges share the static empty `Bytes`.
#[inline(always)]
fn slice_of(owner: &Bytes, (start, end): (usize, usize)) -> Bytes {
    if start == end {
        Bytes::new()
    } else {
        owner.slice(start..end)
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.cursor.next_raw(&self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let data = &self.data;
        Some(Ok(Record {
            offset: self.cursor.offset(&raw),
            timestamp: self.cursor.timestamp(&raw),
            key: raw.key.map(|r| slice_of(data, r)),
            value: raw.value.map(|r| slice_of(data, r)),
            headers: RecordHeaders {
                data: if raw.header_count == 0 {
                    None
                } else {
                    Some(data.slice(raw.headers_start..raw.end))
                },
                count: raw.header_count,
            },
            attributes: raw.attributes,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Possibly one extra error item.
        (0, Some(self.remaining() + 1))
    }
}

impl std::iter::FusedIterator for Records {}

/// One decoded record. Key, value and headers are zero-copy slices of the batch (or of its one
/// decompressed buffer).
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions { base_offset: 7, ..BatchOptions::default() });
/// b.append(1_000, None, Some(b""), &[])?;
/// let record = RecordBatch::parse(&b.finish()?)?.records()?.next().unwrap()?;
/// assert_eq!((record.offset, record.timestamp), (7, 1_000));
/// assert_eq!(record.key, None); // null key
/// assert_eq!(record.value.as_deref(), Some(&b""[..])); // empty, not null
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset: `baseOffset + offsetDelta`.
    pub offset: i64,
    /// Absolute timestamp: `baseTimestamp + timestampDelta`, or the batch's `maxTimestamp`
    /// for LogAppendTime batches (as Java reports it).
    pub timestamp: i64,
    /// Key; `None` is null, distinct from an empty key.
    pub key: Option<Bytes>,
    /// Value; `None` is null (a tombstone), distinct from an empty value.
    pub value: Option<Bytes>,
    /// Headers, decoded lazily.
    pub headers: RecordHeaders,
    /// Record-level attributes (unused by Kafka, normally 0).
    pub attributes: i8,
}

/// A record's headers: zero-copy and decoded lazily by [`iter`](Self::iter).
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, Header, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// b.append(0, None, None, &[Header { key: "a", value: Some(b"1") }, Header { key: "b", value: None }])?;
/// let batch = RecordBatch::parse(&b.finish()?)?;
/// let record = batch.records()?.next().unwrap()?;
/// assert_eq!(record.headers.len(), 2);
/// let headers: Vec<_> = record.headers.iter().collect::<Result<_, _>>()?;
/// assert_eq!(headers[0].key_str(), "a");
/// assert_eq!(headers[1].value, None);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordHeaders {
    /// The encoded headers (after the count); `None` when there are none.
    data: Option<Bytes>,
    count: usize,
}

impl RecordHeaders {
    /// Declared number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decodes the headers in order. Errors (then stops) on malformed data, a header key that is
    /// not UTF-8, or bytes left after the last header.
    pub fn iter(&self) -> RecordHeaderIter {
        RecordHeaderIter {
            data: self.data.clone().unwrap_or_default(),
            cursor: HeaderCursor {
                pos: 0,
                remaining: self.count,
                done: false,
            },
        }
    }

    /// The value of the last header with this key (Java's `Headers.lastHeader`); `Some(None)`
    /// when that header's value is null. Malformed headers are skipped.
    pub fn last_value(&self, key: &str) -> Option<Option<Bytes>> {
        self.iter()
            .filter_map(Result::ok)
            .filter(|h| h.key == key.as_bytes())
            .last()
            .map(|h| h.value)
    }
}

impl IntoIterator for &RecordHeaders {
    type Item = Result<RecordHeader, RecordError>;
    type IntoIter = RecordHeaderIter;

    fn into_iter(self) -> RecordHeaderIter {
        self.iter()
    }
}

/// Position within a record's encoded headers.
#[derive(Clone, Debug)]
struct HeaderCursor {
    pos: usize,
    remaining: usize,
    done: bool,
}

/// One parsed header: key range (and the key as text), value range.
struct RawHeader<'a> {
    key: (usize, usize),
    key_str: &'a str,
    value: Option<(usize, usize)>,
}

impl HeaderCursor {
    fn next_raw<'a>(&mut self, data: &'a [u8]) -> Option<Result<RawHeader<'a>, RecordError>> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            let left = data.len() - self.pos;
            if left != 0 {
                return Some(Err(RecordError::TrailingBytes(left)));
            }
            return None;
        }
        match parse_header(data, &mut self.pos) {
            Ok(h) => {
                self.remaining -= 1;
                Some(Ok(h))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn parse_header<'a>(data: &'a [u8], pos: &mut usize) -> Result<RawHeader<'a>, RecordError> {
    let mut p = *pos;
    let key_len = read_varint(data, &mut p)?;
    if key_len < 0 || key_len as usize > data.len() - p {
        return Err(RecordError::InvalidLength {
            field: "header key",
            length: key_len as i64,
        });
    }
    let key = (p, p + key_len as usize);
    p = key.1;
    let Ok(key_str) = std::str::from_utf8(&data[key.0..key.1]) else {
        return Err(RecordError::InvalidUtf8Header);
    };
    let value = parse_nullable(data, &mut p, "header value")?;
    *pos = p;
    Ok(RawHeader {
        key,
        key_str,
        value,
    })
}

/// Iterator over a record's headers, from [`RecordHeaders::iter`].
#[derive(Clone, Debug)]
pub struct RecordHeaderIter {
    data: Bytes,
    cursor: HeaderCursor,
}

impl Iterator for RecordHeaderIter {
    type Item = Result<RecordHeader, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.cursor.next_raw(&self.data)?.map(|h| RecordHeader {
            key: slice_of(&self.data, h.key),
            value: h.value.map(|v| slice_of(&self.data, v)),
        }))
    }
}

impl std::iter::FusedIterator for RecordHeaderIter {}

/// One decoded record header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header key bytes; UTF-8 checked when decoded (see [`key_str`](Self::key_str)).
    pub key: Bytes,
    /// Header value; `None` is null.
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// The key as text. Headers decoded by this module are always valid UTF-8; for a
    /// hand-built header with invalid UTF-8 this returns the empty string.
    pub fn key_str(&self) -> &str {
        std::str::from_utf8(&self.key).unwrap_or("")
    }
}

/// Borrowed views of a batch's records, from [`Records::views`]. Same validation and errors as
/// [`Records`], without reference-counted slices.
#[derive(Clone, Debug)]
pub struct RecordViews<'a> {
    data: &'a [u8],
    cursor: Cursor,
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.cursor.next_raw(self.data)? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let data = self.data;
        Some(Ok(RecordView {
            offset: self.cursor.offset(&raw),
            timestamp: self.cursor.timestamp(&raw),
            key: raw.key.map(|(s, e)| &data[s..e]),
            value: raw.value.map(|(s, e)| &data[s..e]),
            headers: RecordHeaderViews {
                data: &data[raw.headers_start..raw.end],
                count: raw.header_count,
            },
            attributes: raw.attributes,
        }))
    }
}

impl std::iter::FusedIterator for RecordViews<'_> {}

/// A record borrowed from its batch's records section (see [`Records::views`]).
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, Header, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// b.append(5, Some(b"k"), None, &[Header { key: "h", value: Some(b"v") }])?;
/// let records = RecordBatch::parse(&b.finish()?)?.records()?;
/// let view = records.views().next().unwrap()?;
/// assert_eq!((view.key, view.value), (Some(&b"k"[..]), None));
/// let header = view.headers.iter().next().unwrap()?;
/// assert_eq!(header, Header { key: "h", value: Some(b"v") });
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Absolute offset.
    pub offset: i64,
    /// Absolute timestamp (the batch's `maxTimestamp` for LogAppendTime batches).
    pub timestamp: i64,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// Headers, decoded lazily.
    pub headers: RecordHeaderViews<'a>,
    /// Record-level attributes.
    pub attributes: i8,
}

/// A record's headers borrowed from the batch; iterates as [`Header`]s.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordHeaderViews<'a> {
    data: &'a [u8],
    count: usize,
}

impl<'a> RecordHeaderViews<'a> {
    /// Declared number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decodes the headers in order, with the same checks as [`RecordHeaders::iter`].
    pub fn iter(&self) -> impl Iterator<Item = Result<Header<'a>, RecordError>> + use<'a> {
        let data = self.data;
        let mut cursor = HeaderCursor {
            pos: 0,
            remaining: self.count,
            done: false,
        };
        std::iter::from_fn(move || {
            Some(cursor.next_raw(data)?.map(|h| Header {
                key: h.key_str,
                value: h.value.map(|(s, e)| &data[s..e]),
            }))
        })
    }
}

/// Iterates the batches in a `records` blob as a Fetch response or a log segment holds them.
/// A trailing partial batch (fewer bytes than its declared length) ends iteration without error,
/// as in Kafka; a corrupt complete batch yields an error item, after which iteration stops.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use kafkit::record::{BatchBuilder, BatchIter, BatchOptions};
///
/// let mut blob = BytesMut::new();
/// for base in [0, 1] {
///     let mut b = BatchBuilder::new(BatchOptions { base_offset: base, ..BatchOptions::default() });
///     b.append(0, None, Some(b"v"), &[])?;
///     blob.extend_from_slice(&b.finish()?);
/// }
/// let full = blob.len();
/// let mut iter = BatchIter::new(blob.freeze().slice(..full - 3)); // cut the second batch
/// assert_eq!(iter.next().unwrap()?.base_offset(), 0);
/// assert!(iter.next().is_none());
/// assert!(iter.remaining_bytes() > 0);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BatchIter {
    buf: Bytes,
    done: bool,
}

impl BatchIter {
    /// Iterates the batches at the start of `buf`.
    pub fn new(buf: Bytes) -> Self {
        BatchIter { buf, done: false }
    }

    /// Bytes not yet consumed (after iteration ends: the partial or corrupt tail).
    pub fn remaining_bytes(&self) -> usize {
        self.buf.len()
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.len() < LOG_OVERHEAD {
            return None;
        }
        let batch_length = be_i32(&self.buf, LENGTH_OFFSET);
        if batch_length >= 0 && self.buf.len() < LOG_OVERHEAD + batch_length as usize {
            // Partial batch at the end of a fetch: not an error.
            return None;
        }
        match RecordBatch::parse(&self.buf) {
            Ok(batch) => {
                bytes::Buf::advance(&mut self.buf, batch.size_in_bytes());
                Some(Ok(batch))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter {}
