//! Encoding: [`BatchBuilder`] writes records straight into one growing buffer behind a reserved
//! 61-byte header, then compresses and seals the batch. No per-record allocation.

use bytes::Bytes;

use super::compression;
use super::varint::{
    RECORD_PREFIX_SCRATCH, put_varint, uvarint_size, varint_size, varlong_size, write_uvarint,
    zigzag32, zigzag64,
};
use super::*;

/// Batch-level fields for a [`BatchBuilder`].
///
/// ```
/// use kafkit::record::{BatchOptions, Compression};
///
/// let options = BatchOptions { compression: Compression::Zstd, ..BatchOptions::default() };
/// assert_eq!(options.partition_leader_epoch, -1);
/// assert_eq!(options.producer_id, -1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// First offset of the batch (producers write 0; the broker assigns the real one).
    pub base_offset: i64,
    /// Leader epoch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// Codec for the records section.
    pub compression: Compression,
    /// Codec level; `None` is the codec's default (gzip 6, zstd 3). Ranges as Kafka's
    /// `compression.<codec>.level`: gzip -1 or 1..=9, lz4 1..=17 (accepted but ignored: the
    /// LZ4 encoder has a single level), zstd as libzstd allows (1..=22 and negatives).
    /// Snappy ignores it.
    pub compression_level: Option<i32>,
    /// CreateTime or LogAppendTime (attribute bit 3).
    pub timestamp_type: TimestampType,
    /// Producer id, -1 without idempotence.
    pub producer_id: i64,
    /// Producer epoch, -1 without idempotence.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 without idempotence.
    pub base_sequence: i32,
    /// Transactional batch (attribute bit 4).
    pub is_transactional: bool,
    /// Control batch (attribute bit 5).
    pub is_control: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            is_control: false,
        }
    }
}

impl BatchOptions {
    pub(crate) fn attributes(&self) -> i16 {
        let mut a = self.compression.id();
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= TIMESTAMP_TYPE_BIT;
        }
        if self.is_transactional {
            a |= TRANSACTIONAL_BIT;
        }
        if self.is_control {
            a |= CONTROL_BIT;
        }
        a
    }
}

/// Builds one record batch. Records are encoded into the batch buffer as they are appended; the
/// first record's timestamp becomes the base timestamp and record `n` gets offset delta `n`.
///
/// ```
/// use kafkit::record::{BatchBuilder, BatchOptions, Header, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// assert!(b.has_room_for(16_384, 1000, None, Some(&[0; 100]), &[]));
/// b.append(1000, Some(b"k"), Some(b"v"), &[Header { key: "h", value: Some(b"x") }])?;
/// b.append(1003, None, None, &[])?;
/// assert_eq!(b.len(), 2);
/// let batch = RecordBatch::parse(&b.finish()?)?;
/// assert_eq!((batch.record_count(), batch.max_timestamp()), (2, 1003));
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    options: BatchOptions,
    /// Header placeholder (61 bytes) followed by the encoded, uncompressed records.
    buf: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder with a small initial buffer.
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 1024)
    }

    /// A builder whose buffer starts with `capacity` bytes (header included), e.g. `batch.size`.
    pub fn with_capacity(options: BatchOptions, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(RECORD_BATCH_OVERHEAD));
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        BatchBuilder {
            options,
            buf,
            count: 0,
            base_timestamp: -1,
            max_timestamp: -1,
        }
    }

    /// The batch options.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Sets the idempotence/transaction fields before [`finish`](Self::finish), for producers
    /// that learn the sequence when the batch is drained (as Java does).
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) {
        self.options.producer_id = producer_id;
        self.options.producer_epoch = producer_epoch;
        self.options.base_sequence = base_sequence;
        self.options.is_transactional = is_transactional;
    }

    /// Encodes one record straight into the batch buffer. Offset delta = number of records
    /// appended so far; the first record's timestamp becomes the base timestamp.
    #[inline]
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<(), RecordError> {
        if self.count == i32::MAX {
            return Err(RecordError::TooLarge("record count"));
        }
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        } else if timestamp_ms > self.max_timestamp {
            self.max_timestamp = timestamp_ms;
        }
        let timestamp_delta = timestamp_ms.wrapping_sub(self.base_timestamp);
        let offset_delta = self.count;
        let body = body_size(timestamp_delta, offset_delta, key, value, headers);
        if body > i32::MAX as usize {
            return Err(RecordError::TooLarge("record"));
        }
        let total = varint_size(body as i32) + body;
        if self.buf.len() - LOG_OVERHEAD + total > i32::MAX as usize {
            return Err(RecordError::TooLarge("batch"));
        }
        // The fixed fields (length .. key length), usually at most 8 bytes, are packed into one
        // register and stored with one 8-byte write. Staging them byte by byte in a stack array
        // and copying that out stalls on store-to-load forwarding; pushing byte by byte reloads
        // the Vec's length after every store. Longer prefixes (large deltas) take the array path.
        let length = zigzag32(body as i32) as u64;
        let ts = zigzag64(timestamp_delta);
        let off = zigzag32(offset_delta) as u64;
        let key_len = match key {
            None => 1, // zig-zag(-1): null
            Some(k) => zigzag32(k.len() as i32) as u64,
        };
        let buf = &mut self.buf;
        buf.reserve(total + RECORD_PREFIX_SCRATCH);
        let start = buf.len();
        let prefix_len =
            uvarint_size(length) + 1 + uvarint_size(ts) + uvarint_size(off) + uvarint_size(key_len);
        if prefix_len <= 8 {
            let mut packed = 0u64;
            let mut n = pack_uvarint(&mut packed, 0, length);
            n += 1; // record attributes (unused): zero
            n = pack_uvarint(&mut packed, n, ts);
            n = pack_uvarint(&mut packed, n, off);
            n = pack_uvarint(&mut packed, n, key_len);
            buf.extend_from_slice(&packed.to_le_bytes());
            buf.truncate(start + n);
        } else {
            let mut prefix = [0u8; RECORD_PREFIX_SCRATCH];
            let mut n = write_uvarint(&mut prefix, 0, length);
            n += 1;
            n = write_uvarint(&mut prefix, n, ts);
            n = write_uvarint(&mut prefix, n, off);
            n = write_uvarint(&mut prefix, n, key_len);
            buf.extend_from_slice(&prefix);
            buf.truncate(start + n);
        }
        if let Some(k) = key {
            buf.extend_from_slice(k);
        }
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_bytes(buf, Some(h.key.as_bytes()));
            put_bytes(buf, h.value);
        }
        self.count += 1;
        Ok(())
    }

    /// Encoded size in bytes of one record with these fields (what [`append`](Self::append)
    /// would add), length prefix included.
    ///
    /// ```
    /// use kafkit::record::BatchBuilder;
    /// // length, attributes, timestamp delta, offset delta, null key, 3-byte value, 0 headers
    /// assert_eq!(BatchBuilder::record_size(0, 0, None, Some(b"abc"), &[]), 1 + 1 + 1 + 1 + 1 + 1 + 3 + 1);
    /// ```
    pub fn record_size(
        timestamp_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        let body = body_size(timestamp_delta, offset_delta, key, value, headers);
        uvarint_size_usize(body) + body
    }

    /// Would appending this record keep the uncompressed batch within `limit` bytes?
    /// An empty builder always has room for one record, as in Java.
    pub fn has_room_for(
        &self,
        limit: usize,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> bool {
        if self.count == 0 {
            return true;
        }
        if self.count == i32::MAX {
            return false;
        }
        let size = Self::record_size(
            timestamp_ms.wrapping_sub(self.base_timestamp),
            self.count,
            key,
            value,
            headers,
        );
        self.buf.len().saturating_add(size) <= limit
    }

    /// Number of records appended.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Current uncompressed size, 61-byte header included.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The first record's timestamp (-1 while empty).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest record timestamp so far (-1 while empty).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Compresses the records section (if the batch is compressed), fills the header and
    /// computes the CRC-32C. Returns the whole batch.
    ///
    /// An empty builder yields a valid batch with no records, `lastOffsetDelta` -1 and
    /// timestamps -1.
    pub fn finish(self) -> Result<Bytes, RecordError> {
        let BatchBuilder {
            options,
            mut buf,
            count,
            base_timestamp,
            max_timestamp,
        } = self;
        if options.compression != Compression::None {
            let records = &buf[RECORD_BATCH_OVERHEAD..];
            let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
            out.resize(RECORD_BATCH_OVERHEAD, 0);
            compression::compress(
                options.compression,
                options.compression_level,
                records,
                &mut out,
            )?;
            buf = out;
        } else {
            compression::validate_level(options.compression, options.compression_level)?;
        }
        let batch_length = buf.len() - LOG_OVERHEAD;
        if batch_length > i32::MAX as usize {
            return Err(RecordError::TooLarge("batch"));
        }
        let h = &mut buf[..RECORD_BATCH_OVERHEAD];
        h[BASE_OFFSET_OFFSET..LENGTH_OFFSET].copy_from_slice(&options.base_offset.to_be_bytes());
        h[LENGTH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET]
            .copy_from_slice(&(batch_length as i32).to_be_bytes());
        h[PARTITION_LEADER_EPOCH_OFFSET..MAGIC_OFFSET]
            .copy_from_slice(&options.partition_leader_epoch.to_be_bytes());
        h[MAGIC_OFFSET] = MAGIC_V2 as u8;
        h[ATTRIBUTES_OFFSET..LAST_OFFSET_DELTA_OFFSET]
            .copy_from_slice(&options.attributes().to_be_bytes());
        h[LAST_OFFSET_DELTA_OFFSET..BASE_TIMESTAMP_OFFSET]
            .copy_from_slice(&(count - 1).to_be_bytes());
        h[BASE_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET]
            .copy_from_slice(&base_timestamp.to_be_bytes());
        h[MAX_TIMESTAMP_OFFSET..PRODUCER_ID_OFFSET].copy_from_slice(&max_timestamp.to_be_bytes());
        h[PRODUCER_ID_OFFSET..PRODUCER_EPOCH_OFFSET]
            .copy_from_slice(&options.producer_id.to_be_bytes());
        h[PRODUCER_EPOCH_OFFSET..BASE_SEQUENCE_OFFSET]
            .copy_from_slice(&options.producer_epoch.to_be_bytes());
        h[BASE_SEQUENCE_OFFSET..RECORD_COUNT_OFFSET]
            .copy_from_slice(&options.base_sequence.to_be_bytes());
        h[RECORD_COUNT_OFFSET..RECORD_BATCH_OVERHEAD].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        Ok(Bytes::from(buf))
    }
}

#[inline(always)]
fn uvarint_size_usize(v: usize) -> usize {
    // A record body never exceeds i32::MAX in a valid batch; larger sizes still get a sane count.
    if v <= i32::MAX as usize {
        varint_size(v as i32)
    } else {
        varlong_size(v as i64)
    }
}

#[inline(always)]
fn bytes_size(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => uvarint_size_usize(b.len()) + b.len(),
    }
}

/// Size of a record after its length prefix.
#[inline(always)]
fn body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header<'_>],
) -> usize {
    let mut size = 1
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + bytes_size(key)
        + bytes_size(value)
        + uvarint_size_usize(headers.len());
    for h in headers {
        size += bytes_size(Some(h.key.as_bytes())) + bytes_size(h.value);
    }
    size
}

/// Packs an unsigned LEB128 value into `packed` at byte `pos` (the caller checked it fits in
/// 8 bytes), returning the next position.
#[inline(always)]
fn pack_uvarint(packed: &mut u64, pos: usize, v: u64) -> usize {
    if v < 0x80 {
        *packed |= v << (8 * pos);
        pos + 1
    } else if v < 0x4000 {
        *packed |= (((v & 0x7f) | 0x80) | ((v >> 7) << 8)) << (8 * pos);
        pos + 2
    } else {
        let mut v = v;
        let mut pos = pos;
        while v >= 0x80 {
            *packed |= ((v & 0x7f) | 0x80) << (8 * pos);
            v >>= 7;
            pos += 1;
        }
        *packed |= v << (8 * pos);
        pos + 1
    }
}

#[inline(always)]
fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => buf.push(1), // zig-zag(-1)
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_size_matches_what_append_writes() {
        let big = vec![7u8; 300];
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Vec<Header<'a>>);
        let cases: Vec<Case<'_>> = vec![
            (None, None, vec![]),
            (Some(b""), Some(b""), vec![]),
            (
                Some(b"k"),
                Some(&big),
                vec![Header {
                    key: "a",
                    value: None,
                }],
            ),
            (
                None,
                Some(b"v"),
                vec![
                    Header {
                        key: "",
                        value: Some(b""),
                    },
                    Header {
                        key: "x",
                        value: Some(&big),
                    },
                ],
            ),
        ];
        for ts_step in [0i64, 1, 1_000_000, -5] {
            let mut b = BatchBuilder::new(BatchOptions::default());
            let mut expected = RECORD_BATCH_OVERHEAD;
            for (i, (k, v, h)) in cases.iter().enumerate() {
                let ts = 1_000 + ts_step * i as i64;
                let size = BatchBuilder::record_size(ts - 1_000, i as i32, *k, *v, h);
                b.append(ts, *k, *v, h).unwrap();
                expected += size;
                assert_eq!(b.size_in_bytes(), expected);
            }
        }
    }

    #[test]
    fn has_room_for_follows_java_rules() {
        let mut b = BatchBuilder::new(BatchOptions::default());
        let value = [0u8; 100];
        // An empty builder always accepts one record, even over the limit.
        assert!(b.has_room_for(10, 0, None, Some(&value), &[]));
        b.append(0, None, Some(&value), &[]).unwrap();
        let size = BatchBuilder::record_size(0, 1, None, Some(&value), &[]);
        assert!(b.has_room_for(b.size_in_bytes() + size, 0, None, Some(&value), &[]));
        assert!(!b.has_room_for(b.size_in_bytes() + size - 1, 0, None, Some(&value), &[]));
    }

    #[test]
    fn timestamps_track_base_and_max() {
        let mut b = BatchBuilder::new(BatchOptions::default());
        assert_eq!((b.base_timestamp(), b.max_timestamp()), (-1, -1));
        for ts in [50, 20, 90, 10] {
            b.append(ts, None, None, &[]).unwrap();
        }
        assert_eq!((b.base_timestamp(), b.max_timestamp()), (50, 90));
    }

    #[test]
    fn invalid_level_fails_at_finish() {
        let b = BatchBuilder::new(BatchOptions {
            compression: Compression::Gzip,
            compression_level: Some(42),
            ..BatchOptions::default()
        });
        assert!(matches!(
            b.finish(),
            Err(RecordError::InvalidCompressionLevel { level: 42, .. })
        ));
    }
}
