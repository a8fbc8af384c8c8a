//! The record batch v2 (magic 2) codec: building, parsing, compression, and the broker's in-place
//! offset assignment. Sans-IO and the hot path: it takes and gives [`bytes::Bytes`] and must not
//! touch sockets, tokio, clocks or configuration parsing beyond the codec names.
//!
//! # Batch layout
//!
//! Every integer is big-endian. The 61-byte header ([`RECORD_BATCH_OVERHEAD`]):
//!
//! | offset | field | notes |
//! |---:|---|---|
//! | 0 | `baseOffset: i64` | assigned by the broker |
//! | 8 | `batchLength: i32` | bytes after this field (total size - 12) |
//! | 12 | `partitionLeaderEpoch: i32` | assigned by the broker |
//! | 16 | `magic: i8` | always 2 here |
//! | 17 | `crc: u32` | CRC-32C (Castagnoli) of bytes 21.. (attributes to the end) |
//! | 21 | `attributes: i16` | bits 0-2 compression, 3 LogAppendTime, 4 transactional, 5 control, 6 delete horizon |
//! | 23 | `lastOffsetDelta: i32` | |
//! | 27 | `baseTimestamp: i64` | first record's timestamp |
//! | 35 | `maxTimestamp: i64` | |
//! | 43 | `producerId: i64` | -1 without idempotence |
//! | 51 | `producerEpoch: i16` | |
//! | 53 | `baseSequence: i32` | |
//! | 57 | `recordCount: i32` | |
//! | 61 | records | one compressed block when compressed |
//!
//! Each record: `length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! keyLength varint (-1 = null), key, valueLength varint (-1 = null), value, headerCount varint,
//! headers` where each header is `keyLength varint, key (UTF-8), valueLength varint (-1 = null),
//! value`. Varints are zig-zag encoded.
//!
//! # What lives here
//!
//! - [`BatchBuilder`]: encodes records straight into one buffer, then compresses and seals the
//!   batch ([`BatchBuilder::finish`]).
//! - [`RecordBatch`] / [`BatchIter`]: zero-copy, CRC-validated parsing; [`Records`] iterates the
//!   records lazily (one decompression per batch, bounded by [`DEFAULT_MAX_DECOMPRESSED_SIZE`]),
//!   as owned [`Record`]s (`Bytes` slices) or, faster, as borrowed [`RecordView`]s
//!   ([`Records::views`]).
//! - Compression framing as the Java client writes it (gzip stream, xerial snappy, LZ4 frame
//!   with independent 64 KiB blocks, zstd frame); reading also accepts raw snappy and any LZ4
//!   frame.
//! - [`assign_offsets`] / [`set_producer_state`]: in-place header rewrites (broker and retries).
//! - Control batches: [`ControlRecordType`], [`EndTransactionMarker`].
//!
//! # Example
//!
//! ```
//! use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression, Header};
//!
//! let mut builder = BatchBuilder::new(BatchOptions {
//!     compression: Compression::Lz4,
//!     ..BatchOptions::default()
//! });
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
//! builder.append(1_700_000_000_005, None, Some(b"v2"), &[Header { key: "trace", value: None }])?;
//! let batch = builder.finish()?;
//!
//! for batch in BatchIter::new(batch) {
//!     let batch = batch?;
//!     assert_eq!(batch.compression(), Compression::Lz4);
//!     for record in batch.records()? {
//!         let record = record?;
//!         println!("{} {:?}", record.offset, record.value);
//!     }
//! }
//! # Ok::<(), kafkit::record::RecordError>(())
//! ```

mod broker;
mod builder;
mod compression;
mod header;
mod reader;
mod varint;

use std::fmt;
use std::str::FromStr;

pub use broker::{assign_offsets, set_producer_state};
pub use builder::{BatchBuilder, BatchOptions};
pub use header::BatchHeader;
pub use reader::{
    BatchIter, DEFAULT_MAX_DECOMPRESSED_SIZE, Record, RecordBatch, RecordHeader, RecordHeaderIter,
    RecordHeaderViews, RecordHeaders, RecordView, RecordViews, Records,
};

/// Size of the record batch header in bytes (61): everything before the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

/// The `magic` (format version) of record batches this module reads and writes.
pub const MAGIC_V2: i8 = 2;

/// Bytes before `partitionLeaderEpoch` that `batchLength` does not count
/// (`baseOffset` + `batchLength`); Java's `LOG_OVERHEAD`.
pub const LOG_OVERHEAD: usize = 12;

// Field offsets within the header.
pub(crate) const BASE_OFFSET_OFFSET: usize = 0;
pub(crate) const LENGTH_OFFSET: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub(crate) const MAGIC_OFFSET: usize = 16;
pub(crate) const CRC_OFFSET: usize = 17;
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub(crate) const BASE_TIMESTAMP_OFFSET: usize = 27;
pub(crate) const MAX_TIMESTAMP_OFFSET: usize = 35;
pub(crate) const PRODUCER_ID_OFFSET: usize = 43;
pub(crate) const PRODUCER_EPOCH_OFFSET: usize = 51;
pub(crate) const BASE_SEQUENCE_OFFSET: usize = 53;
pub(crate) const RECORD_COUNT_OFFSET: usize = 57;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub(crate) const TRANSACTIONAL_BIT: i16 = 0x10;
pub(crate) const CONTROL_BIT: i16 = 0x20;
pub(crate) const DELETE_HORIZON_BIT: i16 = 0x40;

/// Errors from encoding or decoding record batches.
///
/// ```
/// use kafkit::record::{RecordBatch, RecordError};
///
/// let err = RecordBatch::parse(&bytes::Bytes::from_static(&[0; 5])).unwrap_err();
/// assert!(matches!(err, RecordError::Truncated));
/// ```
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum RecordError {
    /// The input ended before a complete field or batch.
    #[error("record data truncated")]
    Truncated,
    /// The batch has a `magic` other than 2 (legacy message sets are not supported).
    #[error("unsupported record batch magic {0} (only magic 2 is supported)")]
    InvalidMagic(i8),
    /// The stored CRC-32C does not match the batch contents.
    #[error("record batch CRC mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    CrcMismatch {
        /// The CRC stored in the batch header.
        expected: u32,
        /// The CRC computed over the batch contents.
        actual: u32,
    },
    /// `batchLength` is below the minimum header size.
    #[error("invalid record batch length {0}")]
    InvalidBatchLength(i32),
    /// A length field inside a record is negative (other than -1 for null) or runs past its end.
    #[error("invalid {field} length {length}")]
    InvalidLength {
        /// Which length field.
        field: &'static str,
        /// The value read.
        length: i64,
    },
    /// A varint is longer than 5 bytes (varlong: 10 bytes).
    #[error("invalid varint encoding")]
    InvalidVarint,
    /// The compression id in the attributes is not 0..=4.
    #[error("unknown compression type id {0}")]
    UnknownCompression(i16),
    /// A compression name is not one of Kafka's `compression.type` names.
    #[error("unknown compression type {0:?} (expected none, gzip, snappy, lz4 or zstd)")]
    UnknownCompressionName(String),
    /// The compression level is outside what Kafka accepts for the codec.
    #[error("invalid {codec:?} compression level {level}")]
    InvalidCompressionLevel {
        /// The codec.
        codec: Compression,
        /// The rejected level.
        level: i32,
    },
    /// The codec failed to compress or decompress.
    #[error("{} codec error: {source}", codec.name())]
    Compression {
        /// The codec that failed.
        codec: Compression,
        /// The codec's error.
        #[source]
        source: std::io::Error,
    },
    /// Decompressing would exceed the configured limit (a decompression bomb, or a limit too low).
    #[error("decompressed records exceed the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// `recordCount` is negative.
    #[error("invalid record count {0}")]
    InvalidRecordCount(i32),
    /// The batch holds fewer records than `recordCount` declares.
    #[error("batch declares {declared} records but holds {actual}")]
    RecordCountMismatch {
        /// `recordCount` from the header.
        declared: i32,
        /// Records actually found.
        actual: i32,
    },
    /// Bytes remain after the declared number of records.
    #[error("{0} bytes remain after the last declared record")]
    TrailingBytes(usize),
    /// A record's fields do not add up to its declared length.
    #[error("record length {declared} does not match its contents ({actual} bytes)")]
    RecordSizeMismatch {
        /// The record's length prefix.
        declared: usize,
        /// The bytes its fields occupy.
        actual: usize,
    },
    /// A header key is not valid UTF-8.
    #[error("record header key is not valid UTF-8")]
    InvalidUtf8Header,
    /// Something does not fit the format's integer fields (record size, count, offset delta).
    #[error("{0} too large for a record batch")]
    TooLarge(&'static str),
    /// A control record's key is not a valid control key.
    #[error("invalid control record: {0}")]
    InvalidControlRecord(&'static str),
}

/// The codec that compresses a batch's records section (attribute bits 0-2).
///
/// ```
/// use kafkit::record::Compression;
///
/// let c: Compression = "zstd".parse()?;
/// assert_eq!(c.id(), 4);
/// assert_eq!(Compression::from_id(3)?, Compression::Lz4);
/// assert_eq!(Compression::Snappy.name(), "snappy");
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// Snappy in xerial framing (id 2).
    Snappy,
    /// LZ4 frame (id 3).
    Lz4,
    /// Zstandard (id 4).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The attribute id (0..=4).
    ///
    /// ```
    /// assert_eq!(kafkit::record::Compression::Gzip.id(), 1);
    /// ```
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attribute id.
    ///
    /// ```
    /// use kafkit::record::Compression;
    /// assert_eq!(Compression::from_id(2).unwrap(), Compression::Snappy);
    /// assert!(Compression::from_id(5).is_err());
    /// ```
    pub fn from_id(id: i16) -> Result<Self, RecordError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(RecordError::UnknownCompression(other)),
        })
    }

    /// The Java `compression.type` name.
    ///
    /// ```
    /// assert_eq!(kafkit::record::Compression::Lz4.name(), "lz4");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = RecordError;

    /// Parses a Java `compression.type` name (`none`, `gzip`, `snappy`, `lz4`, `zstd`),
    /// ignoring ASCII case as Java does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| RecordError::UnknownCompressionName(s.to_owned()))
    }
}

/// What a batch's timestamps mean (attribute bit 3).
///
/// ```
/// use kafkit::record::TimestampType;
/// assert_eq!(TimestampType::default(), TimestampType::CreateTime);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record's timestamp is then the batch's
    /// `maxTimestamp`.
    LogAppendTime,
}

/// A record header to append: borrowed key and optional value.
///
/// ```
/// use kafkit::record::Header;
/// let h = Header { key: "content-type", value: Some(b"json") };
/// let null = Header { key: "tombstone-reason", value: None };
/// # let _ = (h, null);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key (UTF-8).
    pub key: &'a str,
    /// Header value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

/// The type of a control record (the second i16 of its key), e.g. a transaction marker.
///
/// ```
/// use kafkit::record::ControlRecordType;
///
/// let key = ControlRecordType::Commit.key_bytes();
/// assert_eq!(key, [0, 0, 0, 1]);
/// assert_eq!(ControlRecordType::parse_key(&key)?, ControlRecordType::Commit);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction abort marker (type 0).
    Abort,
    /// Transaction commit marker (type 1).
    Commit,
    /// Any other type (KRaft leader change, snapshot markers, ...), kept as its id.
    Unknown(i16),
}

impl ControlRecordType {
    /// The current control key version.
    pub const CURRENT_KEY_VERSION: i16 = 0;

    /// The type id.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type for an id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// Decodes a control record key: `version: i16` (must be >= 0; newer versions are read by
    /// their v0 prefix, as Java does), `type: i16`.
    pub fn parse_key(key: &[u8]) -> Result<Self, RecordError> {
        if key.len() < 4 {
            return Err(RecordError::InvalidControlRecord(
                "key shorter than 4 bytes",
            ));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(RecordError::InvalidControlRecord("negative key version"));
        }
        Ok(Self::from_id(i16::from_be_bytes([key[2], key[3]])))
    }

    /// The v0 control key for this type.
    pub fn key_bytes(self) -> [u8; 4] {
        let v = Self::CURRENT_KEY_VERSION.to_be_bytes();
        let t = self.id().to_be_bytes();
        [v[0], v[1], t[0], t[1]]
    }
}

/// The value of a transaction marker control record: `version: i16 = 0, coordinatorEpoch: i32`.
///
/// ```
/// use kafkit::record::{BatchOptions, ControlRecordType, EndTransactionMarker, RecordBatch};
///
/// let marker = EndTransactionMarker { control_type: ControlRecordType::Commit, coordinator_epoch: 7 };
/// let options = BatchOptions { producer_id: 42, producer_epoch: 1, ..BatchOptions::default() };
/// let batch = RecordBatch::parse(&marker.build_batch(options, 1_700_000_000_000)?)?;
/// assert!(batch.is_control() && batch.is_transactional());
/// let record = batch.records()?.next().unwrap()?;
/// assert_eq!(EndTransactionMarker::from_record(&record)?, marker);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EndTransactionMarker {
    /// Commit or abort.
    pub control_type: ControlRecordType,
    /// The transaction coordinator's epoch.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// The current marker value version.
    pub const CURRENT_VERSION: i16 = 0;

    /// Encodes the marker value.
    pub fn value_bytes(&self) -> [u8; 6] {
        let mut out = [0u8; 6];
        out[..2].copy_from_slice(&Self::CURRENT_VERSION.to_be_bytes());
        out[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        out
    }

    /// Decodes a marker from a control record (key gives the type, value the epoch).
    pub fn from_record(record: &Record) -> Result<Self, RecordError> {
        let key = record
            .key
            .as_deref()
            .ok_or(RecordError::InvalidControlRecord("null control key"))?;
        let control_type = ControlRecordType::parse_key(key)?;
        if !matches!(
            control_type,
            ControlRecordType::Abort | ControlRecordType::Commit
        ) {
            return Err(RecordError::InvalidControlRecord(
                "not a transaction marker",
            ));
        }
        let value = record
            .value
            .as_deref()
            .ok_or(RecordError::InvalidControlRecord("null marker value"))?;
        if value.len() < 6 {
            return Err(RecordError::InvalidControlRecord("marker value too short"));
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(RecordError::InvalidControlRecord("negative marker version"));
        }
        Ok(EndTransactionMarker {
            control_type,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }

    /// Builds the one-record control batch the coordinator writes to end a transaction
    /// (Java's `MemoryRecords.withEndTransactionMarker`): control and transactional flags set,
    /// base sequence -1, producer id and epoch and offsets from `options`.
    pub fn build_batch(
        &self,
        options: BatchOptions,
        timestamp_ms: i64,
    ) -> Result<bytes::Bytes, RecordError> {
        let mut builder = BatchBuilder::with_capacity(
            BatchOptions {
                is_control: true,
                is_transactional: true,
                base_sequence: -1,
                ..options
            },
            RECORD_BATCH_OVERHEAD + 32,
        );
        builder.append(
            timestamp_ms,
            Some(&self.control_type.key_bytes()),
            Some(&self.value_bytes()),
            &[],
        )?;
        builder.finish()
    }
}

#[cfg(test)]
mod tests;
