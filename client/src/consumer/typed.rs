//! [`TypedConsumer`]: a [`Consumer`] that deserializes keys and values with
//! [`crate::serde::Deserializer`]s (the mirror of the producer's `TypedProducer`).
//!
//! Owns only the deserialization step; everything else is the wrapped [`Consumer`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::client::{Consumer, ConsumerError};
use super::record::ConsumerRecord;
use crate::TopicPartition;
use crate::serde::{DefaultSerde, Deserializer};

/// A deserialized record: the key and value as `K` and `V` (`None` for Kafka null), and the
/// raw [`ConsumerRecord`] (topic, partition, offset, timestamp, headers, raw bytes).
///
/// ```
/// use kafkit::consumer::record::ConsumerRecord;
/// use kafkit::consumer::typed::TypedConsumerRecord;
/// let r = TypedConsumerRecord { key: Some("k".to_string()), value: Some(7i64),
///     record: ConsumerRecord::new("t", 0, 5, 1_000) };
/// assert_eq!((r.record.offset, r.value), (5, Some(7)));
/// ```
#[derive(Debug, Clone)]
pub struct TypedConsumerRecord<K, V> {
    /// The deserialized key.
    pub key: Option<K>,
    /// The deserialized value.
    pub value: Option<V>,
    /// The record as fetched.
    pub record: ConsumerRecord,
}

/// A [`Consumer`] that hands out deserialized records.
///
/// A record that fails to deserialize is reported as [`ConsumerError::Deserialize`] once the
/// records before it were returned; the partitions are sought back so that nothing after it is
/// skipped, and the failing record comes again until the application seeks past it (Java's
/// `RecordDeserializationException`).
///
/// ```no_run
/// # async fn example() -> Result<(), kafkit::consumer::client::ConsumerError> {
/// use std::time::Duration;
/// use kafkit::consumer::{client::Consumer, config::ConsumerConfig, typed::TypedConsumer};
/// let consumer = Consumer::new(ConsumerConfig::builder()
///     .bootstrap_servers("localhost:9092").group_id("counts").build()?)?;
/// let mut typed: TypedConsumer<String, i64> = TypedConsumer::new(consumer);
/// typed.consumer_mut().subscribe(&["counts"])?;
/// for r in typed.poll(Duration::from_secs(1)).await? {
///     println!("{:?} = {:?}", r.key, r.value);
/// }
/// # Ok(())
/// # }
/// ```
pub struct TypedConsumer<K, V, KD = DefaultSerde, VD = DefaultSerde> {
    consumer: Consumer,
    key_deserializer: KD,
    value_deserializer: VD,
    _types: std::marker::PhantomData<fn() -> (K, V)>,
}

impl<K, V, KD, VD> std::fmt::Debug for TypedConsumer<K, V, KD, VD> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedConsumer")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl<K, V> TypedConsumer<K, V, DefaultSerde, DefaultSerde>
where
    DefaultSerde: Deserializer<K> + Deserializer<V>,
{
    /// A typed consumer over `consumer` with the default deserializers.
    ///
    /// ```no_run
    /// # fn example(consumer: kafkit::consumer::client::Consumer) {
    /// let typed = kafkit::consumer::typed::TypedConsumer::<String, String>::new(consumer);
    /// # }
    /// ```
    pub fn new(consumer: Consumer) -> Self {
        Self::with_deserializers(consumer, DefaultSerde, DefaultSerde)
    }
}

impl<K, V, KD, VD> TypedConsumer<K, V, KD, VD>
where
    KD: Deserializer<K>,
    VD: Deserializer<V>,
{
    /// A typed consumer over `consumer` with explicit deserializers.
    ///
    /// ```no_run
    /// # fn example(consumer: kafkit::consumer::client::Consumer) {
    /// use kafkit::serde::DefaultSerde;
    /// let typed = kafkit::consumer::typed::TypedConsumer::<i32, String, _, _>::with_deserializers(
    ///     consumer, DefaultSerde, DefaultSerde);
    /// # }
    /// ```
    pub fn with_deserializers(
        consumer: Consumer,
        key_deserializer: KD,
        value_deserializer: VD,
    ) -> Self {
        TypedConsumer {
            consumer,
            key_deserializer,
            value_deserializer,
            _types: std::marker::PhantomData,
        }
    }

    /// The underlying consumer (subscribe, commit, seek, ...).
    ///
    /// ```no_run
    /// # fn example(typed: &mut kafkit::consumer::typed::TypedConsumer<String, String>) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// typed.consumer_mut().subscribe(&["orders"])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn consumer_mut(&mut self) -> &mut Consumer {
        &mut self.consumer
    }

    /// The underlying consumer, by reference.
    ///
    /// ```no_run
    /// # fn example(typed: &kafkit::consumer::typed::TypedConsumer<String, String>) {
    /// println!("{:?}", typed.consumer().assignment());
    /// # }
    /// ```
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// The consumer back.
    ///
    /// ```no_run
    /// # fn example(typed: kafkit::consumer::typed::TypedConsumer<String, String>) {
    /// let consumer = typed.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> Consumer {
        self.consumer
    }

    fn decode(&self, record: &ConsumerRecord) -> Result<(Option<K>, Option<V>), ConsumerError> {
        let fail = |e| ConsumerError::Deserialize {
            partition: record.topic_partition(),
            offset: record.offset,
            source: Arc::new(e),
        };
        let key = self
            .key_deserializer
            .deserialize_bytes(&record.topic, record.key.as_ref())
            .map_err(fail)?;
        let value = self
            .value_deserializer
            .deserialize_bytes(&record.topic, record.value.as_ref())
            .map_err(fail)?;
        Ok((key, value))
    }

    /// [`Consumer::poll`], deserialized (see the type docs for failures).
    ///
    /// ```no_run
    /// # async fn example(typed: &mut kafkit::consumer::typed::TypedConsumer<String, String>) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// let records = typed.poll(std::time::Duration::from_millis(500)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn poll(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<TypedConsumerRecord<K, V>>, ConsumerError> {
        let records = self.consumer.poll(timeout).await?;
        let mut out = Vec::with_capacity(records.len());
        let mut iter = records.into_iter();
        while let Some(record) = iter.next() {
            match self.decode(&record) {
                Ok((key, value)) => out.push(TypedConsumerRecord { key, value, record }),
                Err(e) => {
                    // Rewind every partition to its first record not handed out.
                    let mut rewind: BTreeMap<TopicPartition, i64> = BTreeMap::new();
                    for r in std::iter::once(&record).chain(iter.as_slice()) {
                        rewind.entry(r.topic_partition()).or_insert(r.offset);
                    }
                    for (tp, offset) in rewind {
                        self.consumer.seek(&tp, offset)?;
                    }
                    if out.is_empty() {
                        return Err(e);
                    }
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}
