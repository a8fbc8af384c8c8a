//! The fixed 61-byte record batch header, read without validating the CRC or touching the
//! records: for scanning a log segment or an index, where batches were validated on the way in.

use super::RecordError;

/// The fields of a record batch header (magic 2), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after this field (the batch is `12 + batch_length` bytes long).
    pub batch_length: i32,
    /// Leader epoch stamped by the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version (2).
    pub magic: i8,
    /// The stored CRC-32C.
    pub crc: u32,
    /// Attribute bits (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id (-1 for none).
    pub producer_id: i64,
    /// Idempotent producer epoch (-1 for none).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1 for none).
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Read the header at the start of `buf`. Checks that the header is complete, that the
    /// magic is 2 and that the length is at least a header's; does not check the CRC or that
    /// the rest of the batch is present.
    ///
    /// ```
    /// use kafkit::record::{BatchBuilder, BatchHeader, BatchOptions};
    ///
    /// let mut builder = BatchBuilder::new(BatchOptions { base_offset: 40, ..BatchOptions::default() });
    /// builder.append(1_000, None, Some(b"a"), &[]).unwrap();
    /// builder.append(1_005, None, Some(b"b"), &[]).unwrap();
    /// let batch = builder.finish().unwrap();
    /// let header = BatchHeader::peek(&batch).unwrap();
    /// assert_eq!((header.base_offset, header.last_offset(), header.max_timestamp), (40, 41, 1_005));
    /// assert_eq!(header.size_in_bytes(), batch.len());
    /// ```
    pub fn peek(buf: &[u8]) -> Result<BatchHeader, RecordError> {
        let header: &[u8; 61] = buf
            .get(..61)
            .and_then(|h| h.try_into().ok())
            .ok_or(RecordError::Truncated)?;
        let i64_at =
            |at: usize| i64::from_be_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let i32_at =
            |at: usize| i32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let i16_at =
            |at: usize| i16::from_be_bytes(header[at..at + 2].try_into().expect("2 bytes"));
        let magic = header[16] as i8;
        if magic != 2 {
            return Err(RecordError::InvalidMagic(magic));
        }
        let batch_length = i32_at(8);
        if batch_length < 49 {
            return Err(RecordError::InvalidBatchLength(batch_length));
        }
        Ok(BatchHeader {
            base_offset: i64_at(0),
            batch_length,
            partition_leader_epoch: i32_at(12),
            magic,
            crc: u32::from_be_bytes(header[17..21].try_into().expect("4 bytes")),
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            record_count: i32_at(57),
        })
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The whole batch's size in bytes.
    pub fn size_in_bytes(&self) -> usize {
        12 + self.batch_length as usize
    }
}
