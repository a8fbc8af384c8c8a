//! Producer records: what a user hands to the producer ([`ProducerRecord`], [`ProducerHeader`])
//! and what the producer hands back once the broker has it ([`RecordMetadata`]).
//!
//! Owns those types, Java's record-level validation ([`ProducerRecord::validate`]) and the
//! metadata rules (offset and timestamp as Java's `FutureRecordMetadata` computes them). It must
//! not touch serialization ([`crate::serde`]), partition choice ([`super::partitioner`]), batch
//! encoding ([`crate::record`]) or I/O. Headers convert to [`crate::record::Header`] without
//! allocating ([`with_batch_headers`]).
//!
//! ```
//! use kafkit::producer::record::ProducerRecord;
//!
//! let record = ProducerRecord::new("orders", "{\"id\":7}")
//!     .with_key("customer-42")
//!     .with_header("content-type", "application/json")
//!     .with_timestamp(1_700_000_000_000);
//! assert_eq!(record.topic, "orders");
//! assert_eq!(record.partition, None); // the partitioner decides
//! assert!(record.validate().is_ok());
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

use crate::record::Header;

/// One header of a [`ProducerRecord`]: a UTF-8 key and an optional value (Java's `Header`).
///
/// Cheap to build: a `&'static str` key and a `&'static` value allocate nothing, and the value
/// is a shared [`Bytes`]. [`as_header`](Self::as_header) borrows it as the
/// [`crate::record::Header`] that [`crate::record::BatchBuilder::append`] takes.
///
/// ```
/// use kafkit::producer::record::ProducerHeader;
///
/// let h = ProducerHeader::new("trace-id", "4bf92f35");
/// assert_eq!(h.as_header().value, Some(&b"4bf92f35"[..]));
/// assert_eq!(ProducerHeader::null("deleted-by").as_header().value, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProducerHeader {
    /// Header key (UTF-8). Kafka allows repeated keys.
    pub key: Cow<'static, str>,
    /// Header value; `None` is a null value.
    pub value: Option<Bytes>,
}

impl ProducerHeader {
    /// A header with a value.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerHeader;
    /// let h = ProducerHeader::new(String::from("k"), vec![1u8, 2]);
    /// assert_eq!(h.key, "k");
    /// ```
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<Bytes>) -> Self {
        ProducerHeader {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A header with a null value.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerHeader;
    /// assert_eq!(ProducerHeader::null("k").value, None);
    /// ```
    pub fn null(key: impl Into<Cow<'static, str>>) -> Self {
        ProducerHeader {
            key: key.into(),
            value: None,
        }
    }

    /// This header borrowed in the form the batch builder appends.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerHeader;
    /// use kafkit::record::Header;
    /// let h = ProducerHeader::new("k", "v");
    /// assert_eq!(h.as_header(), Header { key: "k", value: Some(b"v") });
    /// ```
    pub fn as_header(&self) -> Header<'_> {
        Header {
            key: &self.key,
            value: self.value.as_deref(),
        }
    }
}

impl<'a> From<&'a ProducerHeader> for Header<'a> {
    fn from(header: &'a ProducerHeader) -> Self {
        header.as_header()
    }
}

/// How many headers [`with_batch_headers`] converts on the stack; more spill into a `Vec`.
pub const INLINE_BATCH_HEADERS: usize = 8;

/// Call `f` with `headers` borrowed as [`crate::record::Header`]s, the slice that
/// [`crate::record::BatchBuilder::append`] takes. Up to [`INLINE_BATCH_HEADERS`] headers are
/// converted in a stack array, so the common case allocates nothing.
///
/// ```
/// use kafkit::producer::record::{with_batch_headers, ProducerRecord};
/// use kafkit::record::{BatchBuilder, BatchOptions};
///
/// let record = ProducerRecord::<Vec<u8>, _>::new("t", b"v".to_vec()).with_header("k", "h");
/// let mut builder = BatchBuilder::new(BatchOptions::default());
/// with_batch_headers(&record.headers, |headers| {
///     builder.append(0, None, record.value.as_deref(), headers)
/// })?;
/// assert_eq!(builder.len(), 1);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
pub fn with_batch_headers<'a, R>(
    headers: &'a [ProducerHeader],
    f: impl FnOnce(&[Header<'a>]) -> R,
) -> R {
    if headers.len() <= INLINE_BATCH_HEADERS {
        let mut inline = [Header {
            key: "",
            value: None,
        }; INLINE_BATCH_HEADERS];
        for (slot, header) in inline.iter_mut().zip(headers) {
            *slot = header.as_header();
        }
        f(&inline[..headers.len()])
    } else {
        let spilled: Vec<Header<'a>> = headers.iter().map(ProducerHeader::as_header).collect();
        f(&spilled)
    }
}

/// A record to send (Java's `ProducerRecord<K, V>`): the topic, an optional explicit partition,
/// an optional key and value (`None` is Kafka null), an optional timestamp and headers.
///
/// Without a partition, the producer's partitioner chooses one (murmur2 of the serialized key,
/// or sticky for keyless records). Without a timestamp, the producer stamps the send time. The
/// topic is a `Cow<'static, str>`, so a literal topic name costs no allocation per record.
///
/// ```
/// use kafkit::producer::record::ProducerRecord;
///
/// // Keyed, to an explicit partition, with an explicit create time.
/// let r: ProducerRecord<&str, i64> = ProducerRecord::new("metrics", 99)
///     .with_key("cpu")
///     .with_partition(3)
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!((r.partition, r.key, r.value), (Some(3), Some("cpu"), Some(99)));
///
/// // A tombstone (null value) deletes "cpu" from a compacted topic.
/// let t = ProducerRecord::<&str, i64>::tombstone("metrics", "cpu");
/// assert_eq!(t.value, None);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerRecord<K, V> {
    /// The topic to write to.
    pub topic: Cow<'static, str>,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` is a null key (keyless placement).
    pub key: Option<K>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<V>,
    /// Create time in milliseconds since the epoch; `None` means "now" at send time. A topic
    /// with `message.timestamp.type=LogAppendTime` replaces it with the broker's time.
    pub timestamp: Option<i64>,
    /// Headers, in order (keys may repeat).
    pub headers: Vec<ProducerHeader>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A keyless record carrying `value`.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<(), _>::new("t", "v");
    /// assert_eq!((r.key, r.value), (None, Some("v")));
    /// ```
    pub fn new(topic: impl Into<Cow<'static, str>>, value: V) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value),
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// A record with `key` and a null value (a tombstone on compacted topics).
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<_, String>::tombstone("t", "k");
    /// assert_eq!((r.key, r.value), (Some("k"), None));
    /// ```
    pub fn tombstone(topic: impl Into<Cow<'static, str>>, key: K) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: Some(key),
            value: None,
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// Set the key.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// assert_eq!(ProducerRecord::new("t", 1).with_key(2).key, Some(2));
    /// ```
    pub fn with_key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Send to this partition instead of asking the partitioner.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<(), _>::new("t", 1).with_partition(0);
    /// assert_eq!(r.partition, Some(0));
    /// ```
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Set the create time (milliseconds since the epoch).
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<(), _>::new("t", 1).with_timestamp(5);
    /// assert_eq!(r.timestamp, Some(5));
    /// ```
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Append a header with a value.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<(), _>::new("t", 1).with_header("a", "1").with_header("a", "2");
    /// assert_eq!(r.headers.len(), 2);
    /// ```
    pub fn with_header(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Bytes>,
    ) -> Self {
        self.headers.push(ProducerHeader::new(key, value));
        self
    }

    /// Append a header with a null value.
    ///
    /// ```
    /// # use kafkit::producer::record::ProducerRecord;
    /// let r = ProducerRecord::<(), _>::new("t", 1).with_null_header("a");
    /// assert_eq!(r.headers[0].value, None);
    /// ```
    pub fn with_null_header(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push(ProducerHeader::null(key));
        self
    }

    /// Java's `ProducerRecord` constructor checks: a partition and a timestamp, when given, must
    /// not be negative. (Whether the partition exists is checked against metadata when the
    /// record is placed.)
    ///
    /// ```
    /// use kafkit::producer::record::{InvalidRecord, ProducerRecord};
    /// let bad = ProducerRecord::<(), _>::new("t", 1).with_timestamp(-5);
    /// assert_eq!(bad.validate(), Err(InvalidRecord::NegativeTimestamp(-5)));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if let Some(p) = self.partition.filter(|p| *p < 0) {
            return Err(InvalidRecord::NegativePartition(p));
        }
        if let Some(ts) = self.timestamp.filter(|ts| *ts < 0) {
            return Err(InvalidRecord::NegativeTimestamp(ts));
        }
        Ok(())
    }
}

/// A [`ProducerRecord`] that Java would refuse to construct.
///
/// ```
/// use kafkit::producer::record::InvalidRecord;
/// assert_eq!(
///     InvalidRecord::NegativePartition(-1).to_string(),
///     "invalid partition -1: the partition must be non-negative or unset"
/// );
/// ```
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRecord {
    /// An explicit partition below zero.
    #[error("invalid partition {0}: the partition must be non-negative or unset")]
    NegativePartition(i32),
    /// An explicit timestamp below zero.
    #[error("invalid timestamp {0}: the timestamp must be non-negative or unset")]
    NegativeTimestamp(i64),
}

/// Where a sent record ended up (Java's `RecordMetadata`).
///
/// `offset` is [`UNKNOWN_OFFSET`](Self::UNKNOWN_OFFSET) (-1) when the producer does not wait
/// for the broker (`acks=0`). `timestamp` is the broker's append time when the topic uses
/// `LogAppendTime`, otherwise the record's create time.
///
/// ```
/// use std::sync::Arc;
/// use kafkit::producer::record::RecordMetadata;
///
/// let topic: Arc<str> = Arc::from("orders");
/// // The third record (index 2) of a batch the broker wrote at base offset 100, CreateTime topic.
/// let m = RecordMetadata::from_batch(topic.clone(), 0, 100, 2, -1, 1_700_000_000_123);
/// assert_eq!((m.offset, m.timestamp), (102, 1_700_000_000_123));
/// // acks=0: no offset is known.
/// let m = RecordMetadata::from_batch(topic, 0, -1, 2, -1, 5);
/// assert!(!m.has_offset());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic (shared: one allocation per topic, not per record).
    pub topic: Arc<str>,
    /// The partition the record was written to.
    pub partition: i32,
    /// The record's offset, or -1 when unknown (`acks=0`).
    pub offset: i64,
    /// The broker's `LogAppendTime` when the topic uses it, else the record's create time;
    /// -1 when neither is known.
    pub timestamp: i64,
}

impl RecordMetadata {
    /// The offset of a record whose write was not acknowledged with one (`acks=0`).
    pub const UNKNOWN_OFFSET: i64 = -1;
    /// No timestamp (Java's `RecordBatch.NO_TIMESTAMP`).
    pub const NO_TIMESTAMP: i64 = -1;

    /// The metadata of the record at `batch_index` in a batch written at `base_offset`, as
    /// Java's `FutureRecordMetadata` computes it: the offset is `base_offset + batch_index`
    /// unless `base_offset` is -1 (`acks=0`); the timestamp is `log_append_time` when the
    /// Produce response carried one (not -1), else `create_time`.
    ///
    /// ```
    /// use kafkit::producer::record::RecordMetadata;
    /// // LogAppendTime topic: the broker's time wins over the create time.
    /// let m = RecordMetadata::from_batch("t".into(), 1, 40, 0, 1_700_000_009_999, 1_700_000_000_000);
    /// assert_eq!((m.offset, m.timestamp), (40, 1_700_000_009_999));
    /// ```
    pub fn from_batch(
        topic: Arc<str>,
        partition: i32,
        base_offset: i64,
        batch_index: i32,
        log_append_time: i64,
        create_time: i64,
    ) -> Self {
        let offset = if base_offset == Self::UNKNOWN_OFFSET {
            Self::UNKNOWN_OFFSET
        } else {
            base_offset.saturating_add(i64::from(batch_index))
        };
        let timestamp = if log_append_time != Self::NO_TIMESTAMP {
            log_append_time
        } else {
            create_time
        };
        RecordMetadata {
            topic,
            partition,
            offset,
            timestamp,
        }
    }

    /// Whether the broker reported an offset (false for `acks=0`).
    ///
    /// ```
    /// # use kafkit::producer::record::RecordMetadata;
    /// let m = RecordMetadata { topic: "t".into(), partition: 0, offset: 7, timestamp: 1 };
    /// assert!(m.has_offset());
    /// ```
    pub fn has_offset(&self) -> bool {
        self.offset != Self::UNKNOWN_OFFSET
    }

    /// Whether a timestamp is known.
    ///
    /// ```
    /// # use kafkit::producer::record::RecordMetadata;
    /// let m = RecordMetadata { topic: "t".into(), partition: 0, offset: 7, timestamp: -1 };
    /// assert!(!m.has_timestamp());
    /// ```
    pub fn has_timestamp(&self) -> bool {
        self.timestamp != Self::NO_TIMESTAMP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, BatchIter, BatchOptions};

    #[test]
    fn builder_sets_every_field() {
        let r = ProducerRecord::new(String::from("dyn-topic"), b"v".to_vec())
            .with_key(b"k".to_vec())
            .with_partition(2)
            .with_timestamp(10)
            .with_header("a", "1")
            .with_null_header("b")
            .with_header("a", Bytes::from_static(b"2"));
        assert_eq!(r.topic, "dyn-topic");
        assert!(matches!(r.topic, Cow::Owned(_)));
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(r.timestamp, Some(10));
        assert_eq!(
            r.headers,
            vec![
                ProducerHeader::new("a", "1"),
                ProducerHeader::null("b"),
                ProducerHeader::new("a", "2"),
            ]
        );
        let literal = ProducerRecord::<(), ()>::new("static", ());
        assert!(matches!(literal.topic, Cow::Borrowed("static")));
    }

    #[test]
    fn validate_matches_java_constructor_checks() {
        let ok = ProducerRecord::<(), u8>::new("t", 1)
            .with_partition(0)
            .with_timestamp(0);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            ProducerRecord::<(), u8>::new("t", 1)
                .with_partition(-1)
                .validate(),
            Err(InvalidRecord::NegativePartition(-1))
        );
        assert_eq!(
            ProducerRecord::<(), u8>::new("t", 1)
                .with_timestamp(-1)
                .validate(),
            Err(InvalidRecord::NegativeTimestamp(-1))
        );
    }

    fn headers(n: usize) -> Vec<ProducerHeader> {
        (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    ProducerHeader::null(format!("h{i}"))
                } else {
                    ProducerHeader::new(format!("h{i}"), format!("v{i}"))
                }
            })
            .collect()
    }

    #[test]
    fn batch_headers_match_for_inline_and_spilled_counts() {
        for n in [
            0,
            1,
            INLINE_BATCH_HEADERS - 1,
            INLINE_BATCH_HEADERS,
            INLINE_BATCH_HEADERS + 1,
            30,
        ] {
            let owned = headers(n);
            let expected: Vec<Header<'_>> = owned.iter().map(Header::from).collect();
            let seen = with_batch_headers(&owned, |h| h.to_vec());
            assert_eq!(seen, expected, "{n} headers");
        }
    }

    #[test]
    fn headers_reach_the_batch_intact() {
        let record = ProducerRecord::new("t", Bytes::from_static(b"value"))
            .with_key(Bytes::from_static(b"key"));
        let record = headers(10).into_iter().fold(record, |r, h| match h.value {
            Some(v) => r.with_header(h.key, v),
            None => r.with_null_header(h.key),
        });
        let mut builder = BatchBuilder::new(BatchOptions::default());
        with_batch_headers(&record.headers, |h| {
            builder.append(5, record.key.as_deref(), record.value.as_deref(), h)
        })
        .unwrap();
        let batch = builder.finish().unwrap();
        let batch = BatchIter::new(batch).next().unwrap().unwrap();
        let decoded = batch.records().unwrap().next().unwrap().unwrap();
        let decoded_headers: Vec<_> = decoded.headers.iter().map(|h| h.unwrap()).collect();
        assert_eq!(decoded_headers.len(), 10);
        for (got, want) in decoded_headers.iter().zip(&record.headers) {
            assert_eq!(&got.key[..], want.key.as_bytes());
            assert_eq!(got.value, want.value);
        }
    }

    #[test]
    fn metadata_offset_and_timestamp_rules() {
        let t: Arc<str> = Arc::from("t");
        // CreateTime topic: offset = base + index, timestamp = create time.
        let m = RecordMetadata::from_batch(t.clone(), 3, 1000, 4, -1, 77);
        assert_eq!(
            m,
            RecordMetadata {
                topic: t.clone(),
                partition: 3,
                offset: 1004,
                timestamp: 77
            }
        );
        assert!(m.has_offset() && m.has_timestamp());
        // LogAppendTime topic: the broker's time.
        let m = RecordMetadata::from_batch(t.clone(), 3, 1000, 0, 555, 77);
        assert_eq!(m.timestamp, 555);
        // acks=0: offset unknown, create time kept.
        let m = RecordMetadata::from_batch(t.clone(), 3, -1, 4, -1, 77);
        assert_eq!((m.offset, m.timestamp), (-1, 77));
        assert!(!m.has_offset());
        // Nothing known.
        let m = RecordMetadata::from_batch(t, 0, -1, 0, -1, -1);
        assert!(!m.has_timestamp());
    }
}
