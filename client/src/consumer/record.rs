//! [`ConsumerRecord`]: one record handed to the user by the consumer.
//!
//! Owns: the record type and its header accessors. Must not touch: parsing (that is
//! [`crate::record`]'s: the fetcher builds these from [`crate::record::Record`]s), positions,
//! deserialisation. Keys, values and header bytes are zero-copy [`Bytes`] slices of the fetched
//! (or, for a compressed batch, the one decompressed) buffer, so a record keeps that buffer alive
//! while it lives.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::record::RecordHeader;
pub use crate::record::TimestampType;

/// One record read from a partition (Java's `ConsumerRecord`).
///
/// ```
/// use bytes::Bytes;
/// use kafkit::consumer::record::{ConsumerRecord, TimestampType};
///
/// let record = ConsumerRecord::new("orders", 3, 42, 1_700_000_000_000)
///     .with_key(Some(Bytes::from_static(b"id-1")))
///     .with_value(Some(Bytes::from_static(b"{\"qty\":2}")))
///     .with_header("trace", Some(Bytes::from_static(b"abc")))
///     .with_header("retry", None);
///
/// assert_eq!((&*record.topic, record.partition, record.offset), ("orders", 3, 42));
/// assert_eq!(record.timestamp_type, TimestampType::CreateTime);
/// let headers: Vec<_> = record.headers().collect();
/// assert_eq!(headers, [("trace", Some(&b"abc"[..])), ("retry", None)]);
/// assert_eq!(record.last_header("trace"), Some(Some(&b"abc"[..])));
/// assert_eq!(record.topic_partition().to_string(), "orders-3");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic (shared by every record of the partition).
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
    /// The record's offset in the partition.
    pub offset: i64,
    /// The timestamp: the producer's (CreateTime) or the broker's append time (LogAppendTime).
    pub timestamp: i64,
    /// What [`timestamp`](Self::timestamp) means.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key (distinct from an empty one).
    pub key: Option<Bytes>,
    /// The value; `None` is null (a tombstone), distinct from an empty value.
    pub value: Option<Bytes>,
    /// The leader epoch stamped on the record's batch, if the broker set one.
    pub leader_epoch: Option<i32>,
    /// Decoded headers (key bytes already checked to be UTF-8).
    headers: Vec<RecordHeader>,
}

impl ConsumerRecord {
    /// A record with no key, value or headers, CreateTime, no leader epoch. Mostly for tests and
    /// mocks; the fetcher builds records itself.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32, offset: i64, timestamp: i64) -> Self {
        ConsumerRecord {
            topic: topic.into(),
            partition,
            offset,
            timestamp,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: None,
            leader_epoch: None,
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: Option<Bytes>) -> Self {
        self.key = key;
        self
    }

    /// Sets the value.
    pub fn with_value(mut self, value: Option<Bytes>) -> Self {
        self.value = value;
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: &str, value: Option<Bytes>) -> Self {
        self.headers.push(RecordHeader {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value,
        });
        self
    }

    /// Sets the headers from decoded [`RecordHeader`]s (their keys must be UTF-8; the fetcher
    /// guarantees it, and [`headers`](Self::headers) shows an invalid key as "").
    pub(crate) fn with_decoded_headers(mut self, headers: Vec<RecordHeader>) -> Self {
        self.headers = headers;
        self
    }

    /// The headers in order, as `(key, value)`; a `None` value is a null header value.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use kafkit::consumer::record::ConsumerRecord;
    /// let r = ConsumerRecord::new("t", 0, 0, 0).with_header("k", Some(Bytes::from_static(b"v")));
    /// for (key, value) in r.headers() {
    ///     assert_eq!((key, value), ("k", Some(&b"v"[..])));
    /// }
    /// ```
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, Option<&[u8]>)> + '_ {
        self.headers
            .iter()
            .map(|h| (h.key_str(), h.value.as_deref()))
    }

    /// The headers as zero-copy [`RecordHeader`]s (clone one to keep its bytes).
    pub fn raw_headers(&self) -> &[RecordHeader] {
        &self.headers
    }

    /// The value of the last header with this key (Java's `Headers.lastHeader`); `Some(None)`
    /// when that header's value is null.
    pub fn last_header(&self, key: &str) -> Option<Option<&[u8]>> {
        self.headers()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// The record's topic and partition.
    pub fn topic_partition(&self) -> crate::TopicPartition {
        crate::TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}

impl fmt::Debug for ConsumerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("key_len", &self.key.as_ref().map(Bytes::len))
            .field("value_len", &self.value.as_ref().map(Bytes::len))
            .field("headers", &self.headers.len())
            .field("leader_epoch", &self.leader_epoch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_last_header() {
        let r = ConsumerRecord::new("t", 1, 5, 9)
            .with_header("a", Some(Bytes::from_static(b"1")))
            .with_header("a", None)
            .with_header("b", Some(Bytes::new()));
        assert_eq!(r.headers().len(), 3);
        assert_eq!(r.last_header("a"), Some(None));
        assert_eq!(r.last_header("b"), Some(Some(&b""[..])));
        assert_eq!(r.last_header("c"), None);
        assert_eq!(r.raw_headers()[0].key_str(), "a");
        let debug = format!("{r:?}");
        assert!(debug.contains("offset: 5") && debug.contains("headers: 3"));
    }
}
