//! The async producer (Java's `KafkaProducer`): the [`Producer`] handle with its four send modes,
//! `flush`/`close`, metrics, and the background sender task that drives the accumulator, the
//! idempotence state and the per-broker Produce requests.
//!
//! Owns: the glue. Records are placed by [`super::partitioner`], encoded into batches by
//! [`super::accumulator`], stamped by [`super::idempotence`], turned into requests and judged by
//! [`super::sink`]; connections come from [`crate::net`] and leaders from [`crate::cluster`].
//! This module must not re-implement any of those rules; it only sequences them, owns the tokio
//! tasks, the locks and the wake-ups, and completes the records.
//!
//! # Design
//!
//! * One `std::sync::Mutex` guards the accumulator, the partitioner and the idempotence state;
//!   it is never held across an `.await`. Record completions (oneshot sends, callbacks) run
//!   after the lock is released.
//! * One sender task loops: expire → `ready` → `drain_with` per ready broker → spawn one task
//!   per Produce request (up to `max.in.flight.requests.per.connection` per broker) → sleep
//!   until the next linger/back-off deadline or a wake-up.
//! * **Up to `max.in.flight.requests.per.connection` batches per partition in flight** (at
//!   most five with idempotence), each in its own request, as Java. A partition's outcomes are
//!   handled strictly in send order (an early one waits, see `PartitionPipeline`). With
//!   idempotence, a retried batch goes back into its queue in sequence order (ahead of newer
//!   batches and of the later batches that failed behind it with
//!   `OUT_OF_ORDER_SEQUENCE_NUMBER`), is re-sent only once it is the partition's first in
//!   flight, and no new batch is drained while a retry is pending (Java's
//!   `insertInSequenceOrder` and `shouldStopDrainBatchesForPartition`). With 1, records of a
//!   partition are written in send order whatever the retries; above 1 without idempotence a
//!   retried batch may be written after later ones (Java's documented behaviour). Stricter
//!   than Java, an idempotent partition keeps one batch in flight until the broker has
//!   acknowledged one under the current producer epoch (see `is_muted`).
//! * Each request runs in its own task, but requests to one broker are queued on its
//!   connection in drain order (`WriteTurn`), as Java's single sender thread writes them.
//! * Each async-mode record gets its own tokio oneshot; a per-batch shared completion (one
//!   allocation per batch instead of per record) is the planned optimisation.
//!
//! * `MESSAGE_TOO_LARGE` on a batch of several records splits it into batches of at most half
//!   its size (and at most `batch.size`), re-queued in its place; idempotent parts take
//!   consecutive sequences from the batch's own (Java's `splitAndReenqueue`).
//! * Metadata is refreshed on errors and unknown leaders, and every `metadata.max.age.ms` for
//!   the topics in use, so added partitions and moved leaders are noticed.
//! * [`Producer::flush`] waits for the batches that existed when it was called (a flush mark),
//!   not for records sent after it.
//! * Fire-and-forget records allocate nothing per record; failures reach the error hook
//!   ([`Producer::set_error_hook`]) once per failed batch.
//!
//! # Not yet done
//!
//! * The adaptive partitioner gets no load statistics from the sender.
//!
//! # Example
//!
//! ```no_run
//! use kafkit::producer::client::Producer;
//! use kafkit::producer::config::ProducerConfig;
//! use kafkit::producer::record::ProducerRecord;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?;
//! let producer = Producer::new(config)?;
//! let meta = producer
//!     .send_and_wait(ProducerRecord::new("events", &b"hello"[..]).with_key(&b"k"[..]))
//!     .await?;
//! println!("written at {}-{}@{}", meta.topic, meta.partition, meta.offset);
//! producer.close().await;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProduceResponse};
use tokio::sync::{Notify, oneshot};
use tracing::Instrument;

use crate::cluster::{ClusterError, Metadata, MetadataSnapshot};
use crate::config::ConfigError;
use crate::hash::{FastMap, FastSet};
use crate::net::{ConnectionPool, NetError};
use crate::producer::accumulator::{
    AccumulatorConfig, AppendError, BatchProducerState, ProducerBatch, RecordAccumulator,
    TopicPartition,
};
use crate::producer::config::{Acks, ProducerConfig};
use crate::producer::idempotence::{
    BatchStamp, Decision, IdempotenceState, MAX_IN_FLIGHT_FOR_IDEMPOTENCE, ProducerIdAndEpoch,
};
use crate::producer::partitioner::{
    DefaultPartitioner, PartitionError, Partitioner, TopicPartitions, assign_partition,
};
use crate::producer::record::{InvalidRecord, ProducerRecord, RecordMetadata, with_batch_headers};
use crate::producer::sink::{
    self, BatchAction, MAX_PRODUCE_VERSION, MIN_PRODUCE_VERSION, PartitionOutcome, RetryContext,
    build_produce_request, classify, interpret_produce_response,
};
use crate::protocol::ErrorCode;
use crate::record::RecordError;
use crate::serde::{DefaultSerde, SerdeError, Serializer};

/// Why a record could not be handed to the producer (the send call itself failed; nothing was
/// queued).
///
/// ```
/// use kafkit::producer::client::ProducerError;
/// assert_eq!(ProducerError::Closed.to_string(), "the producer is closed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The configuration is invalid.
    #[error("invalid producer configuration: {0}")]
    Config(#[from] ConfigError),
    /// `Producer::new` was called outside a tokio runtime.
    #[error("the producer must be created inside a tokio runtime")]
    NoRuntime,
    /// `close()` was called (or the last handle dropped); no more records are taken.
    #[error("the producer is closed")]
    Closed,
    /// The topic's metadata could not be fetched within `max.block.ms`.
    #[error("metadata for topic {topic:?} unavailable: {source}")]
    Metadata {
        /// The topic.
        topic: String,
        /// Why.
        source: ClusterError,
    },
    /// The record (with a batch header) exceeds `max.request.size` or `buffer.memory`.
    #[error(
        "record of {size} bytes (with batch header) exceeds the limit of {max} bytes \
         (max.request.size / buffer.memory)"
    )]
    RecordTooLarge {
        /// The record's size with a batch header.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// `buffer.memory` stayed full for `max.block.ms`.
    #[error("buffer.memory exhausted: {needed} bytes not freed within max.block.ms ({waited:?})")]
    BufferExhausted {
        /// Bytes the record needed.
        needed: usize,
        /// How long the send waited.
        waited: Duration,
    },
    /// The record is malformed (negative partition or timestamp).
    #[error(transparent)]
    InvalidRecord(#[from] InvalidRecord),
    /// The partition is out of range (explicit or from the partitioner).
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The record could not be encoded into a batch.
    #[error("record encoding failed: {0}")]
    Encode(#[from] RecordError),
    /// The key or value serializer failed (typed producer).
    #[error("serialization failed: {0}")]
    Serialization(#[from] SerdeError),
    /// The idempotent producer hit a fatal error (e.g. `PRODUCER_FENCED`); it must be recreated.
    #[error("the producer hit a fatal error: {0}")]
    Fatal(ErrorCode),
}

/// Why a record that was accepted by a send call was not delivered (the delivery outcome).
///
/// ```
/// use kafkit::producer::client::ProduceError;
/// assert!(ProduceError::Aborted.to_string().contains("closed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker's final verdict on the batch (non-retriable error, retries or delivery
    /// timeout exhausted after retriable errors).
    #[error(transparent)]
    Broker(#[from] sink::ProduceError),
    /// `delivery.timeout.ms` passed while the batch waited in the producer (never sent, or
    /// awaiting a retry).
    #[error("delivery.timeout.ms expired before the record was acknowledged")]
    Expired,
    /// The producer was dropped or hit a fatal error before the record was sent.
    #[error("the producer was closed or failed before the record was sent")]
    Aborted,
    /// The idempotent producer hit a fatal error.
    #[error("fatal idempotent producer error: {0}")]
    Fatal(ErrorCode),
    /// The Produce request could not be built or sent (unsupported version, unknown topic id).
    #[error("produce request failed: {0}")]
    Request(String),
}

/// The result a record's completion receives.
pub type DeliveryResult = Result<RecordMetadata, ProduceError>;

type Callback = Box<dyn FnOnce(DeliveryResult) + Send + 'static>;

enum CompletionKind {
    Channel(oneshot::Sender<DeliveryResult>),
    /// In a mutex only so that batches (shared across the request task's awaits) are `Sync`.
    Callback(Mutex<Callback>),
    Forget,
}

/// A record's completion, stored beside it in the accumulator.
struct Completion {
    timestamp: i64,
    kind: CompletionKind,
}

impl Completion {
    /// Hands the record its outcome (counted in the metrics by the caller, per batch).
    fn complete(self, result: DeliveryResult) {
        match self.kind {
            CompletionKind::Channel(tx) => {
                let _ = tx.send(result);
            }
            CompletionKind::Callback(f) => {
                let f = f.into_inner().unwrap_or_else(|p| p.into_inner());
                // As Java: a throwing callback is logged; the producer carries on.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(result))).is_err() {
                    tracing::error!("a send callback panicked");
                }
            }
            // Counted, and reported when lost, per batch by `finish`.
            CompletionKind::Forget => {}
        }
    }
}

/// A future resolving to a record's delivery outcome ([`Producer::send`]). It can be held,
/// joined or dropped; dropping it does not cancel the record.
///
/// ```no_run
/// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), Box<dyn std::error::Error>> {
/// use kafkit::producer::record::ProducerRecord;
/// let futures: Vec<_> = {
///     let mut v = Vec::new();
///     for i in 0..10u8 {
///         v.push(producer.send(ProducerRecord::<&str, _>::new("t", vec![i])).await?);
///     }
///     v
/// };
/// for f in futures {
///     println!("offset {}", f.await?.offset);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<DeliveryResult>,
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ProduceError::Aborted)))
    }
}

/// Producer counters, readable from the handle ([`Producer::metrics`]), with the rates and
/// ratios Java's producer metrics report derived from them.
///
/// ```
/// use std::time::Duration;
/// let m = kafkit::producer::client::ProducerMetrics {
///     records_sent: 1_000,
///     batches_sent: 10,
///     bytes_sent: 40_000,
///     uncompressed_bytes_sent: 100_000,
///     uptime: Duration::from_secs(2),
///     ..Default::default()
/// };
/// assert_eq!(m.records_per_second(), 500.0);
/// assert_eq!(m.average_batch_bytes(), 4_000.0);
/// assert_eq!(m.compression_ratio(), 0.4);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerMetrics {
    /// Records acknowledged (or written, for `acks=0`).
    pub records_sent: u64,
    /// Records whose delivery failed.
    pub records_failed: u64,
    /// Batch retries.
    pub retries: u64,
    /// Batches sent in Produce requests (each attempt counts).
    pub batches_sent: u64,
    /// Record-batch bytes sent in Produce requests (each attempt counts).
    pub bytes_sent: u64,
    /// Produce requests sent.
    pub requests_sent: u64,
    /// Bytes of `buffer.memory` in use now.
    pub buffer_used: u64,
    /// `buffer.memory`: the most `buffer_used` can reach.
    pub buffer_total: u64,
    /// What `bytes_sent` would have been without compression.
    pub uncompressed_bytes_sent: u64,
    /// Time since the producer was created.
    pub uptime: Duration,
}

impl ProducerMetrics {
    /// Acknowledged records per second since the producer was created.
    pub fn records_per_second(&self) -> f64 {
        per_second(self.records_sent, self.uptime)
    }

    /// Record-batch bytes sent per second since the producer was created.
    pub fn bytes_per_second(&self) -> f64 {
        per_second(self.bytes_sent, self.uptime)
    }

    /// Mean size of a sent batch, in bytes (Java's `batch-size-avg`).
    pub fn average_batch_bytes(&self) -> f64 {
        ratio(self.bytes_sent, self.batches_sent)
    }

    /// Compressed over uncompressed bytes (Java's `compression-rate-avg`); 1.0 without
    /// compression, or before anything was sent.
    pub fn compression_ratio(&self) -> f64 {
        if self.uncompressed_bytes_sent == 0 {
            1.0
        } else {
            ratio(self.bytes_sent, self.uncompressed_bytes_sent)
        }
    }

    /// The share of `buffer.memory` in use now, 0.0 to 1.0.
    pub fn buffer_use(&self) -> f64 {
        ratio(self.buffer_used, self.buffer_total)
    }
}

fn per_second(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[derive(Debug, Default)]
struct Metrics {
    records_sent: AtomicU64,
    records_failed: AtomicU64,
    retries: AtomicU64,
    batches_sent: AtomicU64,
    bytes_sent: AtomicU64,
    uncompressed_bytes_sent: AtomicU64,
    requests_sent: AtomicU64,
}

struct State {
    acc: RecordAccumulator<Completion>,
    partitioner: DefaultPartitioner,
    /// `Some` when idempotence is on.
    idem: Option<IdempotenceState<TopicPartition>>,
    /// Topics the producer has sent to: interned names and partition lists.
    topics: FastMap<Box<str>, Arc<TopicEntry>>,
    /// The topic of the last append (also in `topics`): a record for the same topic, as of
    /// the same metadata version, finds it without hashing its name.
    recent_topic: Option<Arc<TopicEntry>>,
    /// Per partition, its batches on the wire in send order (at most
    /// [`Inner::max_in_flight_per_partition`]), and outcomes that came back early.
    in_flight: FastMap<TopicPartition, PartitionPipeline>,
    /// Numbers batches as they go on the wire: the order a partition's outcomes are handled in.
    next_send: u64,
    /// Per broker, the order its Produce requests are queued on the connection in
    /// ([`WriteTurn`]).
    turns: HashMap<i32, NodeTurns>,
    /// Produce requests awaiting a response, per broker.
    requests: HashMap<i32, usize>,
}

struct Inner {
    config: ProducerConfig,
    metadata: Arc<Metadata>,
    state: Mutex<State>,
    /// Wakes the sender task.
    wake: Notify,
    /// Signalled (to all waiters) whenever a batch is deallocated.
    progress: Notify,
    /// Signalled (to all waiters) when a Produce request has been queued on its connection and
    /// the next one to that broker may go ([`WriteTurn`]).
    turn_changed: Notify,
    metrics: Metrics,
    /// No more sends are accepted.
    closed: AtomicBool,
    /// The sender task should exit once nothing is left.
    shutdown: AtomicBool,
    refreshing: AtomicBool,
    /// When the metadata was last refreshed (for `metadata.max.age.ms`).
    last_refresh: Mutex<Instant>,
    /// Called with fire-and-forget records that were lost.
    error_hook: Mutex<Option<ErrorHook>>,
    /// When the producer was created (for rates).
    created: Instant,
    /// Completions waiting to run, in decision order ([`run_completions`]).
    completions: Mutex<VecDeque<Finished>>,
    /// Held by whoever runs the queued completions.
    completion_runner: Mutex<()>,
    idempotent: bool,
    acks: Acks,
    /// How many batches of one partition may be on the wire at once:
    /// `max.in.flight.requests.per.connection`, at most [`MAX_IN_FLIGHT_FOR_IDEMPOTENCE`] with
    /// idempotence ([`max_in_flight_per_partition`]).
    max_in_flight_per_partition: usize,
}

impl Inner {
    /// The shared state of a producer for `config`, with no sender task yet.
    fn new(config: ProducerConfig) -> Inner {
        let pool = Arc::new(ConnectionPool::new(
            config.connection_config(),
            config.bootstrap_servers().iter().cloned(),
        ));
        let metadata = Arc::new(Metadata::new(pool, true));
        let acks = config.acks();
        let idempotent = config.idempotence() && acks == Acks::All;
        let partitioner = DefaultPartitioner::new(config.batch_size())
            .ignore_keys(config.partitioner_ignore_keys())
            .adaptive(config.partitioner_adaptive_partitioning());
        let state = State {
            acc: RecordAccumulator::new(AccumulatorConfig::from_producer_config(&config)),
            partitioner,
            idem: idempotent.then(IdempotenceState::new),
            topics: FastMap::default(),
            recent_topic: None,
            in_flight: FastMap::default(),
            next_send: 0,
            turns: HashMap::new(),
            requests: HashMap::new(),
        };
        let max_in_flight_per_partition =
            max_in_flight_per_partition(config.max_in_flight_requests_per_connection(), idempotent);
        Inner {
            config,
            metadata,
            state: Mutex::new(state),
            wake: Notify::new(),
            progress: Notify::new(),
            turn_changed: Notify::new(),
            metrics: Metrics::default(),
            closed: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            last_refresh: Mutex::new(Instant::now()),
            error_hook: Mutex::new(None),
            created: Instant::now(),
            completions: Mutex::new(VecDeque::new()),
            completion_runner: Mutex::new(()),
            idempotent,
            acks,
            max_in_flight_per_partition,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn delivery_timeout(&self) -> Duration {
        self.config.delivery_timeout()
    }
}

/// The handle every clone shares; dropping the last one closes the producer without waiting.
struct Handle {
    inner: Arc<Inner>,
    sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.lock().acc.close();
        self.inner.wake.notify_one();
    }
}

/// The async, bytes-level Kafka producer. Cheap to clone (a shared handle); create it with
/// [`Producer::new`] inside a tokio runtime.
///
/// Keys and values are anything that is `AsRef<[u8]>` (`Bytes`, `Vec<u8>`, `&[u8]`, `&str`,
/// `String`); use [`TypedProducer`] to send your own types through a [`Serializer`].
///
/// Send modes:
/// * [`send`](Self::send): async, returns a [`DeliveryFuture`] per record;
/// * [`send_and_wait`](Self::send_and_wait): sync, waits for the record's [`RecordMetadata`];
/// * [`send_with_callback`](Self::send_with_callback): a closure called once with the result
///   (callbacks of one partition run in send order);
/// * [`send_and_forget`](Self::send_and_forget): no per-record channel; failures are logged
///   and counted in [`ProducerMetrics::records_failed`].
///
/// ```no_run
/// use kafkit::producer::client::Producer;
/// use kafkit::producer::config::ProducerConfig;
/// use kafkit::producer::record::ProducerRecord;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
/// producer.send_and_forget(ProducerRecord::<&str, _>::new("logs", "line 1")).await?;
/// producer.send_with_callback(ProducerRecord::<&str, _>::new("logs", "line 2"), |result| {
///     if let Err(e) = result { eprintln!("lost: {e}"); }
/// }).await?;
/// producer.flush().await;
/// println!("{:?}", producer.metrics());
/// producer.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.handle.inner.config.client_id())
            .field("idempotent", &self.handle.inner.idempotent)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Producer {
    /// A producer for `config`; spawns its sender task on the current tokio runtime. Nothing
    /// connects until the first send (or, with idempotence, the sender's `InitProducerId`).
    ///
    /// ```
    /// use kafkit::producer::client::{Producer, ProducerError};
    /// use kafkit::producer::config::ProducerConfig;
    /// let config = ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?;
    /// // Outside a runtime there is nowhere to run the sender.
    /// assert!(matches!(Producer::new(config), Err(ProducerError::NoRuntime)));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn new(config: ProducerConfig) -> Result<Producer, ProducerError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ProducerError::NoRuntime)?;
        let inner = Arc::new(Inner::new(config));
        // The sender and every request task it starts run in `kafka_producer{client_id}`.
        let span = tracing::debug_span!("kafka_producer", client_id = inner.config.client_id());
        let task = runtime.spawn(run_sender(inner.clone()).instrument(span));
        Ok(Producer {
            handle: Arc::new(Handle {
                inner,
                sender: Mutex::new(Some(task)),
            }),
        })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Async mode: queues the record and returns a future for its delivery outcome. Waits only
    /// for the topic's metadata (first use) and for `buffer.memory` space, each up to
    /// `max.block.ms`.
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// let delivery = producer.send(ProducerRecord::<&str, _>::new("t", "v")).await?;
    /// let meta = delivery.await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send<K, V>(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<DeliveryFuture, ProducerError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let (tx, rx) = oneshot::channel();
        self.append(&record, CompletionKind::Channel(tx)).await?;
        Ok(DeliveryFuture { rx })
    }

    /// Sync mode: sends the record and waits for its [`RecordMetadata`] (send errors and
    /// delivery errors both come back as a boxed error in [`SendError`]).
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// let meta = producer.send_and_wait(ProducerRecord::new("t", "v").with_key("k")).await?;
    /// assert!(meta.offset >= 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_and_wait<K, V>(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<RecordMetadata, SendError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let delivery = self.send(record).await?;
        Ok(delivery.await?)
    }

    /// Callback mode: queues the record; `callback` is called exactly once with its outcome
    /// (on the producer's I/O task: keep it short). Callbacks of one partition run in send
    /// order.
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// producer.send_with_callback(ProducerRecord::<&str, _>::new("t", "v"), |r| match r {
    ///     Ok(meta) => println!("at {}", meta.offset),
    ///     Err(e) => eprintln!("failed: {e}"),
    /// }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_with_callback<K, V, F>(
        &self,
        record: ProducerRecord<K, V>,
        callback: F,
    ) -> Result<(), ProducerError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        self.append(
            &record,
            CompletionKind::Callback(Mutex::new(Box::new(callback))),
        )
        .await
    }

    /// Fire-and-forget mode: queues the record with no per-record channel or allocation. A
    /// delivery failure is counted in [`ProducerMetrics::records_failed`] and reported, once
    /// per failed batch, to the error hook ([`set_error_hook`](Self::set_error_hook)), or
    /// logged (`tracing` warn) when none is set.
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// producer.send_and_forget(ProducerRecord::<&str, _>::new("t", "v")).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_and_forget<K, V>(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<(), ProducerError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.append(&record, CompletionKind::Forget).await
    }

    /// Waits until every record handed to the producer before the call is complete
    /// (acknowledged or failed); batches are sent at once regardless of `linger.ms`. Records
    /// sent concurrently after the call do not hold it up (as Java's `flush`), except those
    /// that joined a batch that was already open.
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) {
    /// producer.flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        let inner = self.inner();
        let mark = {
            let mut state = inner.lock();
            state.acc.begin_flush();
            state.acc.flush_mark()
        };
        struct FlushGuard<'a>(&'a Inner);
        impl Drop for FlushGuard<'_> {
            fn drop(&mut self) {
                self.0.lock().acc.flush_done();
            }
        }
        let _guard = FlushGuard(inner);
        inner.wake.notify_one();
        loop {
            let progress = inner.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if !inner.lock().acc.flush_pending(mark) {
                return;
            }
            progress.await;
        }
    }

    /// Sets the hook that receives fire-and-forget records that were not delivered
    /// ([`send_and_forget`](Self::send_and_forget)), once per failed batch. It runs on the
    /// producer's I/O task: keep it short. Replaces any earlier hook.
    ///
    /// ```no_run
    /// # fn example(producer: kafkit::producer::client::Producer) {
    /// producer.set_error_hook(|lost| eprintln!("{lost}"));
    /// # }
    /// ```
    pub fn set_error_hook(&self, hook: impl Fn(&LostRecords) + Send + Sync + 'static) {
        *self
            .inner()
            .error_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }

    /// Stops taking records, sends everything queued (waiting for each record's outcome, up to
    /// `delivery.timeout.ms`), then stops the sender task. Later sends fail with
    /// [`ProducerError::Closed`]. Idempotent: a second call returns once the first is done.
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) {
    /// producer.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        let inner = self.inner();
        inner.closed.store(true, Ordering::SeqCst);
        inner.lock().acc.close();
        inner.wake.notify_one();
        wait_until_empty(inner).await;
        inner.shutdown.store(true, Ordering::SeqCst);
        inner.wake.notify_one();
        let task = self
            .handle
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        inner.metadata.pool().close();
    }

    /// A snapshot of the producer's counters.
    ///
    /// ```no_run
    /// # fn example(producer: kafkit::producer::client::Producer) {
    /// let m = producer.metrics();
    /// println!("{} records sent, {} retries", m.records_sent, m.retries);
    /// # }
    /// ```
    pub fn metrics(&self) -> ProducerMetrics {
        let inner = self.inner();
        let m = &inner.metrics;
        ProducerMetrics {
            records_sent: m.records_sent.load(Ordering::Relaxed),
            records_failed: m.records_failed.load(Ordering::Relaxed),
            retries: m.retries.load(Ordering::Relaxed),
            batches_sent: m.batches_sent.load(Ordering::Relaxed),
            bytes_sent: m.bytes_sent.load(Ordering::Relaxed),
            requests_sent: m.requests_sent.load(Ordering::Relaxed),
            buffer_used: inner.lock().acc.buffer_used() as u64,
            buffer_total: inner.config.buffer_memory() as u64,
            uncompressed_bytes_sent: m.uncompressed_bytes_sent.load(Ordering::Relaxed),
            uptime: inner.created.elapsed(),
        }
    }

    /// The number of partitions of `topic` (fetching its metadata, up to `max.block.ms`).
    ///
    /// ```no_run
    /// # async fn example(producer: kafkit::producer::client::Producer) -> Result<(), kafkit::producer::client::ProducerError> {
    /// let n = producer.partition_count("events").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn partition_count(&self, topic: &str) -> Result<i32, ProducerError> {
        Ok(self.topic_partitions(topic).await?.num_partitions())
    }

    async fn topic_partitions(&self, topic: &str) -> Result<Arc<TopicPartitions>, ProducerError> {
        let inner = self.inner();
        if let Some(p) = topic_entry(&mut inner.lock(), &inner.metadata, topic) {
            return Ok(p.partitions.clone());
        }
        self.wait_for_topic(topic).await?;
        topic_entry(&mut inner.lock(), &inner.metadata, topic)
            .map(|e| e.partitions.clone())
            .ok_or_else(|| ProducerError::Metadata {
                topic: topic.to_string(),
                source: ClusterError::Timeout(inner.config.max_block()),
            })
    }

    async fn wait_for_topic(&self, topic: &str) -> Result<(), ProducerError> {
        let inner = self.inner();
        inner
            .metadata
            .wait_for_topic(topic, inner.config.max_block())
            .await
            .map(|_| ())
            .map_err(|source| ProducerError::Metadata {
                topic: topic.to_string(),
                source,
            })
    }

    /// The hot path: one lock, at most one clock read (the record's timestamp, when it has
    /// none; the monotonic clock only when it opens a batch), no allocation for a record that
    /// joins an open batch.
    async fn append<K, V>(
        &self,
        record: &ProducerRecord<K, V>,
        kind: CompletionKind,
    ) -> Result<(), ProducerError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let inner = self.inner();
        if inner.closed.load(Ordering::Relaxed) {
            return Err(ProducerError::Closed);
        }
        record.validate()?;
        let topic = &*record.topic;
        let key = record.key.as_ref().map(AsRef::as_ref);
        let value = record.value.as_ref().map(AsRef::as_ref);
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let mut completion = Some(Completion { timestamp, kind });
        let mut chosen: Option<i32> = None;
        let mut waited_for_metadata = false;
        // Set up only once `buffer.memory` ran out: (deadline, armed wake-up).
        let mut blocked: Option<(
            Instant,
            Instant,
            Pin<Box<tokio::sync::futures::Notified<'_>>>,
        )> = None;
        loop {
            let result = {
                let mut guard = inner.lock();
                if let Some(code) = guard.idem.as_ref().and_then(|i| i.fatal_error()) {
                    return Err(ProducerError::Fatal(code));
                }
                let state = &mut *guard;
                match topic_entry_fields(
                    &mut state.topics,
                    &mut state.recent_topic,
                    &inner.metadata,
                    topic,
                ) {
                    None => None,
                    Some(entry) => {
                        let partition = match chosen {
                            Some(p) => p,
                            None => assign_partition(
                                &mut state.partitioner,
                                topic,
                                record.partition,
                                key,
                                value,
                                &entry.partitions,
                            )?,
                        };
                        chosen = Some(partition);
                        let fresh_tp;
                        let tp = match usize::try_from(partition)
                            .ok()
                            .and_then(|p| entry.tps.get(p))
                        {
                            Some(tp) => tp,
                            None => {
                                // A partition chosen before the topic shrank: the append
                                // reports whatever the accumulator makes of it.
                                fresh_tp = TopicPartition::new(entry.name.clone(), partition);
                                &fresh_tp
                            }
                        };
                        // Always there: every failed append hands it back.
                        let Some(c) = completion.take() else {
                            return Err(ProducerError::Closed);
                        };
                        let result = with_batch_headers(&record.headers, |headers| {
                            state
                                .acc
                                .append_at(tp, timestamp, key, value, headers, c, Instant::now)
                        });
                        if let Ok(outcome) = &result {
                            state.partitioner.on_append(
                                topic,
                                partition,
                                outcome.appended_bytes,
                                outcome.batches_full,
                            );
                        }
                        Some(result)
                    }
                }
            };
            let Some(result) = result else {
                if waited_for_metadata {
                    return Err(ProducerError::Metadata {
                        topic: topic.to_string(),
                        source: ClusterError::Timeout(inner.config.max_block()),
                    });
                }
                self.wait_for_topic(topic).await?;
                waited_for_metadata = true;
                continue;
            };
            match result {
                Ok(outcome) => {
                    // Only appends that can make a batch sendable sooner wake the sender: a
                    // new batch (its linger starts, or the one before it is now full) or one
                    // that just reached `batch.size`. Waking it on every append to an already
                    // full queue cost a sender pass per record.
                    if outcome.new_batch || outcome.became_full {
                        inner.wake.notify_one();
                    }
                    return Ok(());
                }
                Err(AppendError::BufferFull {
                    needed,
                    completion: c,
                }) => {
                    completion = Some(c);
                    let now = Instant::now();
                    // The accumulator now counts as exhausted: everything is sendable.
                    inner.wake.notify_one();
                    match blocked.as_mut() {
                        None => {
                            // Arm the wake-up, then try once more: space freed between the
                            // failed append and now would otherwise be missed.
                            let mut space = Box::pin(inner.progress.notified());
                            space.as_mut().enable();
                            blocked = Some((now, now + inner.config.max_block(), space));
                        }
                        Some((started, deadline, space)) => {
                            let (started, deadline) = (*started, *deadline);
                            if now >= deadline
                                || tokio::time::timeout_at(deadline.into(), space.as_mut())
                                    .await
                                    .is_err()
                            {
                                return Err(ProducerError::BufferExhausted {
                                    needed,
                                    waited: started.elapsed(),
                                });
                            }
                            let mut next = Box::pin(inner.progress.notified());
                            next.as_mut().enable();
                            blocked = Some((started, deadline, next));
                        }
                    }
                }
                Err(AppendError::RecordTooLarge { size, max, .. }) => {
                    return Err(ProducerError::RecordTooLarge { size, max });
                }
                Err(AppendError::Closed { .. }) => return Err(ProducerError::Closed),
                Err(AppendError::Encode { source, .. }) => {
                    return Err(ProducerError::Encode(source));
                }
            }
        }
    }
}

/// The error of [`Producer::send_and_wait`]: the send failed, or the delivery did.
///
/// ```
/// use kafkit::producer::client::{ProduceError, SendError};
/// let e = SendError::from(ProduceError::Aborted);
/// assert!(matches!(e, SendError::Delivery(ProduceError::Aborted)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The record was not accepted.
    #[error(transparent)]
    Send(#[from] ProducerError),
    /// The record was accepted but not delivered.
    #[error(transparent)]
    Delivery(#[from] ProduceError),
}

/// A topic the producer sends to: its interned name and partition list, as of a metadata
/// version.
struct TopicEntry {
    name: Arc<str>,
    version: u64,
    partitions: Arc<TopicPartitions>,
    /// Partition `i` of the topic at index `i`, sharing `name`: an append borrows its
    /// `TopicPartition` instead of building one.
    tps: Vec<TopicPartition>,
}

/// `topic`'s entry ([`topic_entry_fields`] on the producer state).
fn topic_entry<'s>(
    state: &'s mut State,
    metadata: &Metadata,
    topic: &str,
) -> Option<&'s TopicEntry> {
    topic_entry_fields(&mut state.topics, &mut state.recent_topic, metadata, topic)
}

/// `topic`'s entry, rebuilt from the current metadata snapshot when the metadata changed since
/// (one atomic load and one name comparison when it did not and the topic is the last one
/// used); `None` when the metadata has no partitions for it.
fn topic_entry_fields<'s>(
    topics: &mut FastMap<Box<str>, Arc<TopicEntry>>,
    recent: &'s mut Option<Arc<TopicEntry>>,
    metadata: &Metadata,
    topic: &str,
) -> Option<&'s TopicEntry> {
    let version = metadata.version();
    let hit = recent
        .as_ref()
        .is_some_and(|e| e.version == version && *e.name == *topic);
    if !hit {
        let entry = match topics.get(topic) {
            Some(e) if e.version == version => e.clone(),
            known => {
                let name = match known {
                    Some(e) => e.name.clone(),
                    None => Arc::from(topic),
                };
                let snapshot = metadata.snapshot();
                let info = snapshot.topic(topic)?;
                let count = info
                    .partitions
                    .iter()
                    .map(|p| p.partition)
                    .max()
                    .map_or(0, |m| m + 1);
                let partitions =
                    Arc::new(TopicPartitions::new(count, info.available_partitions()).ok()?);
                let tps = (0..count)
                    .map(|p| TopicPartition::new(name.clone(), p))
                    .collect();
                let entry = Arc::new(TopicEntry {
                    name,
                    version: snapshot.version,
                    partitions,
                    tps,
                });
                topics.insert(topic.into(), entry.clone());
                entry
            }
        };
        *recent = Some(entry);
    }
    recent.as_deref()
}

async fn wait_until_empty(inner: &Inner) {
    loop {
        let progress = inner.progress.notified();
        tokio::pin!(progress);
        progress.as_mut().enable();
        if inner.lock().acc.incomplete_batches() == 0 {
            return;
        }
        progress.await;
    }
}

/// Finished batches whose completions run once the lock is released ([`finish`]).
#[derive(Default)]
struct Finished {
    /// In decision order, each with its records' completions still inside and its outcome.
    /// A record's [`RecordMetadata`] is built only when its completion runs, outside the lock;
    /// the batch is deallocated after that, so `flush`/`close` return after every callback
    /// and counter.
    batches: Vec<(ProducerBatch<Completion>, BatchOutcome)>,
}

/// How a finished batch ended.
enum BatchOutcome {
    /// Acknowledged at `base_offset` (-1 when unknown).
    Delivered {
        base_offset: i64,
        log_append_time: i64,
    },
    /// Failed; every record gets the error.
    Failed(ProduceError),
}

impl Finished {
    fn new() -> Self {
        Self::default()
    }

    fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// Fire-and-forget records that were not delivered: what the error hook
/// ([`Producer::set_error_hook`]) receives, once per failed batch.
///
/// ```
/// use kafkit::producer::client::{LostRecords, ProduceError};
/// let lost = LostRecords { topic: "t".into(), partition: 0, records: 3, error: ProduceError::Expired };
/// assert_eq!(lost.to_string(), "3 fire-and-forget records for t-0 lost: delivery.timeout.ms expired before the record was acknowledged");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostRecords {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// How many fire-and-forget records of the batch were lost.
    pub records: usize,
    /// Why.
    pub error: ProduceError,
}

impl std::fmt::Display for LostRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fire-and-forget records for {}-{} lost: {}",
            self.records, self.topic, self.partition, self.error
        )
    }
}

/// The fire-and-forget error hook ([`Producer::set_error_hook`]).
pub type ErrorHook = Arc<dyn Fn(&LostRecords) + Send + Sync + 'static>;

fn complete_batch(
    batch: ProducerBatch<Completion>,
    base_offset: i64,
    log_append_time: i64,
    out: &mut Finished,
) {
    out.batches.push((
        batch,
        BatchOutcome::Delivered {
            base_offset,
            log_append_time,
        },
    ));
}

fn fail_batch(batch: ProducerBatch<Completion>, error: ProduceError, out: &mut Finished) {
    tracing::warn!(partition = %batch.topic_partition(), records = batch.record_count(), %error, "batch failed");
    out.batches.push((batch, BatchOutcome::Failed(error)));
}

fn stamp_of(state: BatchProducerState) -> BatchStamp {
    BatchStamp {
        producer_id: state.producer_id,
        epoch: state.producer_epoch,
        base_sequence: state.base_sequence,
    }
}

/// Queues a request's (or a sender pass's) completions. Called with the state lock held, so the
/// queue is in the order outcomes were decided: per partition, send order.
fn queue_completions(inner: &Inner, finished: Finished) {
    if finished.is_empty() {
        return;
    }
    inner
        .completions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(finished);
}

/// Runs queued completions in queue order, one runner at a time (whoever finds the runner
/// free drains the queue), without the state lock: callbacks may send. So callbacks of one
/// partition run in send order even when two requests finish at once on two threads.
fn run_completions(inner: &Inner) {
    loop {
        {
            let _runner = match inner.completion_runner.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                // Another thread is draining; it re-checks the queue before it stops.
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            loop {
                let next = inner
                    .completions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
                match next {
                    Some(finished) => finish(inner, finished),
                    None => break,
                }
            }
        }
        // Something queued between the last pop and the runner's release is ours to run.
        if inner
            .completions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            return;
        }
    }
}

fn finish(inner: &Inner, finished: Finished) {
    let m = &inner.metrics;
    let mut lost = Vec::new();
    let mut spent = Vec::with_capacity(finished.batches.len());
    for (mut batch, outcome) in finished.batches {
        let mut completions = batch.take_completions();
        let records = completions.len() as u64;
        match outcome {
            BatchOutcome::Delivered {
                base_offset,
                log_append_time,
            } => {
                // Counted before any completion runs: a caller woken by one sees it.
                m.records_sent.fetch_add(records, Ordering::Relaxed);
                let tp = batch.topic_partition();
                for (i, c) in completions.drain(..).enumerate() {
                    if matches!(c.kind, CompletionKind::Forget) {
                        continue;
                    }
                    let meta = RecordMetadata::from_batch(
                        tp.topic.clone(),
                        tp.partition,
                        base_offset,
                        i32::try_from(i).unwrap_or(i32::MAX),
                        log_append_time,
                        c.timestamp,
                    );
                    c.complete(Ok(meta));
                }
            }
            BatchOutcome::Failed(error) => {
                m.records_failed.fetch_add(records, Ordering::Relaxed);
                let mut forgotten = 0;
                for c in completions.drain(..) {
                    if matches!(c.kind, CompletionKind::Forget) {
                        forgotten += 1;
                    } else {
                        c.complete(Err(error.clone()));
                    }
                }
                if forgotten > 0 {
                    let tp = batch.topic_partition();
                    lost.push(LostRecords {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        records: forgotten,
                        error,
                    });
                }
            }
        }
        spent.push((batch, completions));
    }
    if !lost.is_empty() {
        let hook = inner
            .error_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for lost in &lost {
            match &hook {
                Some(hook) => hook(lost),
                None => tracing::warn!(%lost, "fire-and-forget records lost"),
            }
        }
    }
    if !spent.is_empty() {
        let mut state = inner.lock();
        for (batch, completions) in spent {
            state.acc.recycle_completions(completions);
            state.acc.deallocate(batch);
        }
    }
    inner.progress.notify_waiters();
    inner.wake.notify_one();
}

fn request_refresh(inner: &Arc<Inner>) {
    if inner.refreshing.swap(true, Ordering::SeqCst) {
        return;
    }
    let inner = inner.clone();
    let refresh = async move {
        let topics: Vec<String> = inner.lock().topics.keys().map(|t| t.to_string()).collect();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        match inner.metadata.refresh(Some(&names)).await {
            Ok(_) => *inner.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now(),
            Err(e) => {
                tracing::debug!(error = %e, "producer metadata refresh failed");
                // Try again after a back-off, not at once.
                let now = Instant::now();
                let retry_at = now
                    .checked_sub(inner.config.metadata_max_age())
                    .map_or(now, |t| t + inner.config.retry_backoff());
                *inner.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = retry_at;
            }
        }
        inner.refreshing.store(false, Ordering::SeqCst);
        inner.wake.notify_one();
    };
    tokio::spawn(refresh.in_current_span());
}

/// Asks any broker for a producer id until one is granted or the producer shuts down.
async fn init_producer_id(inner: &Arc<Inner>) {
    let mut attempt = 0u32;
    loop {
        if inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let result: Result<ProducerIdAndEpoch, String> = async {
            let (_, conn) = inner
                .metadata
                .pool()
                .any()
                .await
                .map_err(|e| e.to_string())?;
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX);
            let response = conn.send(request).await.map_err(|e| e.to_string())?;
            let code = ErrorCode::from_code(response.error_code);
            if code != ErrorCode::None {
                return Err(code.to_string());
            }
            Ok(ProducerIdAndEpoch::new(
                response.producer_id.0,
                response.producer_epoch,
            ))
        }
        .await;
        match result {
            Ok(pid) => {
                tracing::debug!(
                    producer_id = pid.producer_id,
                    epoch = pid.epoch,
                    "producer id granted"
                );
                if let Some(idem) = inner.lock().idem.as_mut() {
                    idem.set_producer_id(pid);
                }
                return;
            }
            Err(e) => {
                attempt = attempt.saturating_add(1);
                let backoff = crate::producer::accumulator::retry_backoff(
                    inner.config.retry_backoff(),
                    inner.config.retry_backoff_max(),
                    attempt,
                    0.5,
                );
                tracing::warn!(error = %e, ?backoff, "InitProducerId failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = inner.wake.notified() => {}
                }
            }
        }
    }
}

/// The sender task.
async fn run_sender(inner: Arc<Inner>) {
    loop {
        let needs_pid = inner
            .lock()
            .idem
            .as_ref()
            .is_some_and(|i| i.needs_producer_id() && i.fatal_error().is_none());
        if needs_pid {
            init_producer_id(&inner).await;
            let still_needed = inner
                .lock()
                .idem
                .as_ref()
                .is_some_and(|i| i.needs_producer_id());
            if still_needed && inner.shutdown.load(Ordering::SeqCst) {
                // Dropped without a producer id: nothing queued can ever be sent.
                let mut finished = Finished::new();
                {
                    let mut guard = inner.lock();
                    let state = &mut *guard;
                    for batch in state.acc.abort_queued() {
                        fail_batch(batch, ProduceError::Aborted, &mut finished);
                    }
                    queue_completions(&inner, finished);
                }
                run_completions(&inner);
                if inner.lock().acc.incomplete_batches() == 0 {
                    return;
                }
                // In-flight requests remain: wait for their responses.
                inner.wake.notified().await;
                continue;
            }
        }
        let mut finished = Finished::new();
        let mut sends: Vec<(i32, Request)> = Vec::new();
        let snapshot = inner.metadata.snapshot();
        let now = Instant::now();
        let mut stale_metadata = false;
        let (wait, unknown, empty) = {
            let mut guard = inner.lock();
            let state = &mut *guard;
            // Delivery timeout for batches waiting in the producer.
            for batch in state.acc.expired(now) {
                let tp = batch.topic_partition().clone();
                if let (Some(idem), Some(ps)) = (state.idem.as_mut(), batch.producer_state()) {
                    let _ = idem.on_unresolved(&tp, stamp_of(ps));
                }
                fail_batch(batch, ProduceError::Expired, &mut finished);
            }
            // A fatal idempotence error fails everything queued.
            if let Some(code) = state.idem.as_ref().and_then(|i| i.fatal_error()) {
                for batch in state.acc.abort_queued() {
                    fail_batch(batch, ProduceError::Fatal(code), &mut finished);
                }
            }
            let leader_of = |tp: &TopicPartition| {
                snapshot
                    .partition(&tp.topic, tp.partition)
                    .and_then(|p| p.leader)
                    .filter(|id| snapshot.brokers.contains_key(id))
            };
            let per_partition = inner.max_in_flight_per_partition;
            let check = state
                .acc
                .ready(now, leader_of, |tp| is_muted(state, tp, per_partition));
            let max_in_flight = inner.config.max_in_flight_requests_per_connection().max(1);
            for &node in &check.ready_nodes {
                if state.requests.get(&node).copied().unwrap_or(0) >= max_in_flight {
                    continue;
                }
                let mut parts = Vec::new();
                for (name, entry) in &state.topics {
                    let topic = &entry.name;
                    let Some(info) = snapshot.topic(name) else {
                        continue;
                    };
                    for p in &info.partitions {
                        if p.leader != Some(node) {
                            continue;
                        }
                        let tp = TopicPartition::new(topic.clone(), p.partition);
                        if state.acc.queued_batches(&tp) > 0 && !is_muted(state, &tp, per_partition)
                        {
                            parts.push(tp);
                        }
                    }
                }
                if parts.is_empty() {
                    continue;
                }
                // Stable order so drain's rotation is fair.
                parts.sort();
                if let Some(request) =
                    drain_request(&inner, state, node, &parts, now, &mut finished)
                {
                    sends.push((node, request));
                }
            }
            let mut wait = check.next_check;
            if let Some(expiry) = state.acc.next_expiry() {
                let until = expiry.saturating_duration_since(now);
                wait = Some(wait.map_or(until, |w| w.min(until)));
            }
            if !check.unknown_leaders.is_empty() {
                let backoff = inner.config.retry_backoff();
                wait = Some(wait.map_or(backoff, |w| w.min(backoff)));
            }
            // `metadata.max.age.ms`: refresh the topics in use even without errors, so added
            // partitions and moved leaders are noticed.
            if !state.topics.is_empty() {
                let last = *inner.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
                let due = last + inner.config.metadata_max_age();
                if now >= due {
                    stale_metadata = true;
                } else {
                    let until = due - now;
                    wait = Some(wait.map_or(until, |w| w.min(until)));
                }
            }
            queue_completions(&inner, std::mem::take(&mut finished));
            (
                wait,
                !check.unknown_leaders.is_empty(),
                state.acc.incomplete_batches() == 0,
            )
        };
        run_completions(&inner);
        if unknown || stale_metadata {
            request_refresh(&inner);
        }
        // A pass that sent something goes round once more at once: a partition may send its
        // next batch (up to `max_in_flight_per_partition`) before any response comes back.
        let sent_some = !sends.is_empty();
        for (node, request) in sends {
            let span = tracing::debug_span!(
                "produce_request",
                broker = node,
                batches = request.batches.len()
            );
            tokio::spawn(
                send_produce(inner.clone(), node, request, snapshot.clone()).instrument(span),
            );
        }
        if empty && inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let wait = if sent_some {
            Some(Duration::ZERO)
        } else {
            wait
        };
        match wait {
            Some(d) if !d.is_zero() => {
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(d) => {}
                }
            }
            Some(_) => tokio::task::yield_now().await,
            None => inner.wake.notified().await,
        }
    }
}

/// Drains one Produce request's batches for broker `node` from `parts` (partitions it leads
/// that have queued batches and are not muted): stamps new idempotent batches, re-stamps
/// retried ones if an epoch bump re-sequenced them, fails the ones that cannot be sent, and
/// puts each batch it returns on its partition's wire ([`PartitionPipeline`]).
fn drain_request(
    inner: &Inner,
    state: &mut State,
    node: i32,
    parts: &[TopicPartition],
    now: Instant,
    finished: &mut Finished,
) -> Option<Request> {
    // Idempotent batches already stamped (retries, split parts) are re-sent under
    // the stamp they carry; the others are stamped by `drain_with`.
    let resends: FastSet<TopicPartition> = if state.idem.is_some() {
        parts
            .iter()
            .filter(|tp| {
                state
                    .acc
                    .front(tp)
                    .is_some_and(|b| b.producer_state().is_some())
            })
            .cloned()
            .collect()
    } else {
        FastSet::default()
    };
    let idem = &mut state.idem;
    let mut batches = state.acc.drain_unsealed_with(
        node,
        parts,
        inner.config.max_request_size(),
        now,
        |tp, count| {
            let idem = idem.as_mut()?;
            match idem.assign(tp, count) {
                Ok(s) => Some(BatchProducerState {
                    producer_id: s.producer_id,
                    producer_epoch: s.epoch,
                    base_sequence: s.base_sequence,
                    is_transactional: false,
                }),
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "cannot stamp batch");
                    None
                }
            }
        },
    );
    if batches.is_empty() {
        return None;
    }
    // Retried idempotent batches: take the stamp they must carry now.
    let mut keep = Vec::with_capacity(batches.len());
    let mut numbers = Vec::with_capacity(batches.len());
    for mut batch in batches.drain(..) {
        let tp = batch.topic_partition().clone();
        let sent_as = batch
            .producer_state()
            .filter(|_| resends.contains(&tp))
            .map(stamp_of);
        if let (Some(idem), Some(sent_as)) = (state.idem.as_mut(), sent_as) {
            match idem.resend(&tp, sent_as) {
                Ok(stamp) if stamp != sent_as => {
                    let ps = BatchProducerState {
                        producer_id: stamp.producer_id,
                        producer_epoch: stamp.epoch,
                        base_sequence: stamp.base_sequence,
                        is_transactional: false,
                    };
                    if let Err(e) = batch.set_producer_state(ps) {
                        let _ = idem.on_unresolved(&tp, stamp);
                        fail_batch(batch, ProduceError::Request(e.to_string()), finished);
                        continue;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "cannot resend batch");
                    let _ = idem.on_unresolved(&tp, sent_as);
                    fail_batch(batch, ProduceError::Request(e.to_string()), finished);
                    continue;
                }
            }
        }
        if let Some(e) = batch.error() {
            let e = e.to_string();
            if let (Some(idem), Some(ps)) = (state.idem.as_mut(), batch.producer_state()) {
                let _ = idem.on_unresolved(&tp, stamp_of(ps));
            }
            fail_batch(batch, ProduceError::Request(e), finished);
            continue;
        }
        // On the wire: its outcome is handled after those of the partition's
        // batches sent before it ([`settle`]).
        let number = state.next_send;
        state.next_send += 1;
        state
            .in_flight
            .entry(tp)
            .or_default()
            .on_wire
            .push_back(number);
        keep.push(batch);
        numbers.push(number);
    }
    if keep.is_empty() {
        return None;
    }
    *state.requests.entry(node).or_insert(0) += 1;
    let turns = state.turns.entry(node).or_default();
    let turn = turns.issued;
    turns.issued += 1;
    Some(Request {
        batches: keep,
        numbers,
        turn,
    })
}

/// The batches of one Produce request (at most one per partition), each with its send number.
struct Request {
    batches: Vec<ProducerBatch<Completion>>,
    /// `numbers[i]` is the send number of `batches[i]` ([`PartitionPipeline::on_wire`]).
    numbers: Vec<u64>,
    /// Its place among the broker's requests ([`WriteTurn`]).
    turn: u64,
}

/// The order in which one broker's Produce requests are queued on its connection.
#[derive(Debug, Default)]
struct NodeTurns {
    /// The next turn to hand out (in drain order).
    issued: u64,
    /// The turn whose request may be queued now.
    serving: u64,
    /// Turns given up before they came up (a request task that ended early); skipped.
    abandoned: Vec<u64>,
}

impl NodeTurns {
    /// Ends `turn`: the next one may go (at once if it is `turn`'s successor's).
    fn end(&mut self, turn: u64) {
        if turn == self.serving {
            self.serving += 1;
            while let Some(i) = self.abandoned.iter().position(|&t| t == self.serving) {
                self.abandoned.swap_remove(i);
                self.serving += 1;
            }
        } else if turn > self.serving {
            self.abandoned.push(turn);
        }
    }
}

/// A request's turn to be queued on its broker's connection.
///
/// Each request runs in its own task, and a connection queues requests in the order their
/// tasks reach it, not the order the sender drained them. With several batches of one partition
/// in flight that order matters: an idempotent batch queued ahead of its predecessor is refused
/// with `OUT_OF_ORDER_SEQUENCE_NUMBER`, and without idempotence its records would be written
/// out of order. Java's single sender thread writes requests in drain order; here each task
/// waits for its turn ([`WriteTurn::wait`]), starts its send (which takes the connection's next
/// correlation id and queue slot, or the first place in line for one) and ends its turn, so the
/// next request to that broker may go while this one awaits its response.
struct WriteTurn<'a> {
    inner: &'a Inner,
    node: i32,
    turn: u64,
}

impl WriteTurn<'_> {
    /// Waits until every earlier request to the broker has been queued (or given up).
    async fn wait(&self) {
        loop {
            let changed = self.inner.turn_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let serving = self
                .inner
                .lock()
                .turns
                .get(&self.node)
                .map_or(u64::MAX, |t| t.serving);
            if serving >= self.turn {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for WriteTurn<'_> {
    /// Ends the turn (or abandons it, if it has not come up yet). Never dropped with the state
    /// lock held.
    fn drop(&mut self) {
        if let Some(turns) = self.inner.lock().turns.get_mut(&self.node) {
            turns.end(self.turn);
        }
        self.inner.turn_changed.notify_waiters();
    }
}

/// One partition's batches on the wire, and the outcomes that came back before an older
/// batch's.
///
/// A partition may have up to `max.in.flight.requests.per.connection` batches on the wire (at
/// most [`MAX_IN_FLIGHT_FOR_IDEMPOTENCE`] with idempotence), each in its own request. Their
/// outcomes are handled strictly in send order, as Java's single sender thread reads one
/// connection's responses in order: the idempotence state sees a partition's answers in sequence
/// order, a retried batch is re-queued before the later batches that failed behind it, and
/// callbacks run in send order. Two request tasks racing for the lock, or requests that went
/// to two brokers across a leader change, can deliver them in another order; an early outcome
/// waits here until the older ones were handled.
#[derive(Default)]
struct PartitionPipeline {
    /// Send numbers of the batches on the wire, oldest first.
    on_wire: VecDeque<u64>,
    /// Outcomes that arrived before an older batch's, with their send numbers.
    early: Vec<(u64, ProducerBatch<Completion>, WireOutcome)>,
}

impl PartitionPipeline {
    /// Takes `number` off the wire if it is the oldest; otherwise (an older batch is still
    /// unanswered) returns `false` and the caller parks the outcome in `early`. A number not on
    /// the wire at all is handled at once.
    fn take_if_oldest(&mut self, number: u64) -> bool {
        match self.on_wire.front() {
            Some(&first) if first == number => {
                self.on_wire.pop_front();
                true
            }
            Some(_) if self.on_wire.contains(&number) => false,
            _ => true,
        }
    }

    /// The parked outcome of the oldest batch on the wire, taking it off the wire.
    fn next_ready(&mut self) -> Option<(ProducerBatch<Completion>, WireOutcome)> {
        let &first = self.on_wire.front()?;
        let index = self.early.iter().position(|(n, _, _)| *n == first)?;
        self.on_wire.pop_front();
        let (_, batch, outcome) = self.early.swap_remove(index);
        Some((batch, outcome))
    }
}

/// What became of a batch that was on the wire.
enum WireOutcome {
    /// The broker's answer for its partition (or the retriable error every batch of a failed
    /// request is treated as having got).
    Response(PartitionOutcome),
    /// Not sendable (sealing failed) or the request failed for good: fail the batch; its
    /// sequence, if any, is unresolved.
    Failed(ProduceError),
}

/// Hands the batch with send number `number` its outcome once every batch of its partition
/// sent before it has had its own (an early outcome waits in the partition's
/// [`PartitionPipeline`]), then any parked outcomes that were waiting for this one.
#[allow(clippy::too_many_arguments)]
fn settle(
    inner: &Inner,
    state: &mut State,
    number: u64,
    batch: ProducerBatch<Completion>,
    outcome: WireOutcome,
    now: Instant,
    finished: &mut Finished,
    refresh: &mut bool,
) {
    let waiting = match state.in_flight.get_mut(batch.topic_partition()) {
        None => false,
        Some(pipe) => {
            if !pipe.take_if_oldest(number) {
                pipe.early.push((number, batch, outcome));
                return;
            }
            !pipe.early.is_empty()
        }
    };
    // Cloned only when parked outcomes may follow (rare).
    let tp = waiting.then(|| batch.topic_partition().clone());
    handle_outcome(inner, state, batch, outcome, now, finished, refresh);
    let Some(tp) = tp else {
        return;
    };
    while let Some((batch, outcome)) = state
        .in_flight
        .get_mut(&tp)
        .and_then(PartitionPipeline::next_ready)
    {
        handle_outcome(inner, state, batch, outcome, now, finished, refresh);
    }
}

/// Sends one Produce request and handles its outcome.
async fn send_produce(
    inner: Arc<Inner>,
    node: i32,
    request: Request,
    snapshot: Arc<MetadataSnapshot>,
) {
    let Request {
        mut batches,
        mut numbers,
        turn,
    } = request;
    let turn = WriteTurn {
        inner: &inner,
        node,
        turn,
    };
    // Seal (compress, CRC) here, outside the producer's lock, so appends never wait on it.
    let mut uncompressed = 0u64;
    for batch in &mut batches {
        uncompressed += batch.estimated_size() as u64;
        batch.seal();
    }
    inner
        .metrics
        .uncompressed_bytes_sent
        .fetch_add(uncompressed, Ordering::Relaxed);
    if batches.iter().any(|b| b.error().is_some()) {
        let mut finished = Finished::new();
        let mut refresh = false;
        {
            let mut guard = inner.lock();
            let state = &mut *guard;
            let now = Instant::now();
            let mut kept = Vec::with_capacity(batches.len());
            let mut kept_numbers = Vec::with_capacity(batches.len());
            for (batch, number) in batches.into_iter().zip(numbers) {
                let Some(e) = batch.error().map(|e| e.to_string()) else {
                    kept.push(batch);
                    kept_numbers.push(number);
                    continue;
                };
                let outcome = WireOutcome::Failed(ProduceError::Request(e));
                settle(
                    &inner,
                    state,
                    number,
                    batch,
                    outcome,
                    now,
                    &mut finished,
                    &mut refresh,
                );
            }
            batches = kept;
            numbers = kept_numbers;
            if batches.is_empty() {
                release_request(state, node);
            }
            queue_completions(&inner, finished);
        }
        run_completions(&inner);
        inner.wake.notify_one();
        if batches.is_empty() {
            return;
        }
    }
    let sent: Vec<TopicPartition> = batches
        .iter()
        .map(|b| b.topic_partition().clone())
        .collect();
    let bytes: usize = batches
        .iter()
        .map(|b| b.records().map_or(0, |r| r.len()))
        .sum();
    let outcome = exchange(&inner, node, &batches, &sent, &snapshot, turn).await;
    let m = &inner.metrics;
    m.requests_sent.fetch_add(1, Ordering::Relaxed);
    m.batches_sent
        .fetch_add(batches.len() as u64, Ordering::Relaxed);
    m.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    let outcomes: Vec<WireOutcome> = match outcome {
        Exchange::Response(list) => list.into_iter().map(WireOutcome::Response).collect(),
        Exchange::NoResponse => sent
            .iter()
            .map(|_| {
                WireOutcome::Response(PartitionOutcome::Success {
                    base_offset: RecordMetadata::UNKNOWN_OFFSET,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                })
            })
            .collect(),
        // Not retriable: fail the request's batches.
        Exchange::Failed {
            fatal: Some(message),
            ..
        } => sent
            .iter()
            .map(|_| WireOutcome::Failed(ProduceError::Request(message.clone())))
            .collect(),
        Exchange::Failed { code, fatal: None } => sent
            .iter()
            .map(|_| {
                WireOutcome::Response(PartitionOutcome::Error {
                    code,
                    message: None,
                    record_errors: Vec::new(),
                    current_leader: None,
                    log_start_offset: -1,
                })
            })
            .collect(),
    };
    let mut refresh = false;
    let mut finished = Finished::new();
    {
        let mut guard = inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        for ((batch, number), outcome) in batches.into_iter().zip(numbers).zip(outcomes) {
            settle(
                &inner,
                state,
                number,
                batch,
                outcome,
                now,
                &mut finished,
                &mut refresh,
            );
        }
        release_request(state, node);
        queue_completions(&inner, finished);
    }
    run_completions(&inner);
    // Whatever was decided (re-queued, split, completed) may let the sender move.
    inner.wake.notify_one();
    if refresh {
        request_refresh(&inner);
    }
}

/// Decides what becomes of a batch that left the wire (its partition's older batches were
/// handled already): complete, re-queue (in sequence order), split or fail it.
fn handle_outcome(
    inner: &Inner,
    state: &mut State,
    batch: ProducerBatch<Completion>,
    outcome: WireOutcome,
    now: Instant,
    finished: &mut Finished,
    refresh: &mut bool,
) {
    let m = &inner.metrics;
    let tp = batch.topic_partition().clone();
    let stamp = batch.producer_state().map(stamp_of);
    let outcome = match outcome {
        WireOutcome::Response(outcome) => outcome,
        WireOutcome::Failed(error) => {
            if let (Some(idem), Some(stamp)) = (state.idem.as_mut(), stamp) {
                let _ = idem.on_unresolved(&tp, stamp);
            }
            fail_batch(batch, error, finished);
            return;
        }
    };
    let ctx = RetryContext {
        record_count: batch.record_count(),
        attempts: batch.attempts(),
        retries: inner.config.retries(),
        delivery_timeout_passed: now.saturating_duration_since(batch.created())
            >= inner.delivery_timeout(),
        idempotent: stamp.is_some() && state.idem.is_some(),
    };
    let action = classify(&outcome, ctx);
    *refresh |= action.refresh_metadata();
    match action {
        BatchAction::Complete {
            base_offset,
            log_append_time_ms,
            ..
        } => {
            if let (Some(idem), Some(stamp)) = (state.idem.as_mut(), stamp)
                && let Err(e) = idem.on_success(&tp, stamp, base_offset)
            {
                tracing::warn!(partition = %tp, error = %e, "idempotence state out of step");
            }
            complete_batch(batch, base_offset, log_append_time_ms, finished);
        }
        BatchAction::Retry { .. } => {
            tracing::debug!(partition = %tp, code = %outcome.error_code(), "retrying batch");
            m.retries.fetch_add(1, Ordering::Relaxed);
            state.acc.reenqueue(batch, now);
        }
        BatchAction::Split => {
            split_batch(state, batch, None, finished);
        }
        BatchAction::Fail { error, .. } => {
            fail_batch(batch, error.into(), finished);
        }
        BatchAction::Idempotent { may_retry, .. } => {
            let (Some(idem), Some(stamp)) = (state.idem.as_mut(), stamp) else {
                // Unreachable: `idempotent` was only set for stamped batches.
                let error = ProduceError::Request("unstamped idempotent batch".into());
                fail_batch(batch, error, finished);
                return;
            };
            let (code, log_start_offset) = match &outcome {
                PartitionOutcome::Error {
                    code,
                    log_start_offset,
                    ..
                } => (*code, *log_start_offset),
                PartitionOutcome::Success { .. } => (ErrorCode::None, -1),
            };
            if !may_retry && code.is_retriable() {
                let _ = idem.on_unresolved(&tp, stamp);
                let error =
                    if now.saturating_duration_since(batch.created()) >= inner.delivery_timeout() {
                        sink::ProduceError::DeliveryTimeout { code }
                    } else {
                        sink::ProduceError::RetriesExhausted {
                            code,
                            attempts: batch.attempts(),
                        }
                    };
                fail_batch(batch, error.into(), finished);
                return;
            }
            let broker_error = || {
                ProduceError::Broker(sink::ProduceError::Broker {
                    code,
                    message: match &outcome {
                        PartitionOutcome::Error { message, .. } => message.clone(),
                        PartitionOutcome::Success { .. } => None,
                    },
                    record_errors: Vec::new(),
                })
            };
            match idem.on_error_with_log_start_offset(&tp, stamp, code, log_start_offset) {
                Ok(Decision::Complete) => {
                    complete_batch(batch, -1, -1, finished);
                }
                Ok(Decision::Retry) | Ok(Decision::BumpEpochAndResetSequences { .. }) => {
                    m.retries.fetch_add(1, Ordering::Relaxed);
                    state.acc.reenqueue(batch, now);
                }
                Ok(Decision::Split) => {
                    split_batch(state, batch, Some(stamp), finished);
                }
                Ok(Decision::FailBatch { fatal }) => {
                    let error = if fatal {
                        ProduceError::Fatal(code)
                    } else {
                        broker_error()
                    };
                    fail_batch(batch, error, finished);
                }
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "idempotence state out of step");
                    fail_batch(batch, broker_error(), finished);
                }
            }
        }
    }
}

/// Whether `tp` may not send now: `per_partition` batches of it are on the wire, or
/// idempotence forbids it (a retry that is not the first in flight, a retry pending before new
/// batches, an epoch bump, an unresolved sequence, the five-batch window).
///
/// With idempotence, a partition that has no acknowledged batch under the current producer id
/// and epoch keeps a single batch on the wire (stricter than Java). A broker with no state for
/// the producer on a partition accepts any sequence as its first (Kafka's
/// `ProducerAppendInfo.checkSequence`: the state may have been removed by retention): if the
/// first batch failed with a retriable error and the second were written in its place, the
/// first could then never be written and would be retried until `delivery.timeout.ms`. After
/// one acknowledgement the broker holds the producer's state and refuses any gap.
fn is_muted(state: &State, tp: &TopicPartition, per_partition: usize) -> bool {
    let on_wire = state.in_flight.get(tp).map_or(0, |p| p.on_wire.len());
    let limit = match &state.idem {
        Some(idem) if idem.last_acked_sequence(tp).is_none() => 1,
        _ => per_partition,
    };
    if on_wire >= limit {
        return true;
    }
    match &state.idem {
        None => false,
        Some(idem) => match state.acc.front(tp).and_then(|b| b.producer_state()) {
            Some(ps) => idem.check_resend(tp, stamp_of(ps)).is_err(),
            None => idem.check_send(tp).is_err(),
        },
    }
}

/// `MESSAGE_TOO_LARGE` on a batch of several records: split it into smaller batches re-queued
/// in its place (idempotent parts get consecutive sequences from the batch's own, as Java's
/// `ProducerBatch.split`); a batch that cannot be split fails with the broker's error.
fn split_batch(
    state: &mut State,
    batch: ProducerBatch<Completion>,
    stamp: Option<BatchStamp>,
    finished: &mut Finished,
) {
    let tp = batch.topic_partition().clone();
    let too_large = |detail: String| {
        ProduceError::Broker(sink::ProduceError::Broker {
            code: ErrorCode::MessageTooLarge,
            message: Some(detail),
            record_errors: Vec::new(),
        })
    };
    let mut parts = match state.acc.split(batch) {
        Ok(parts) => parts,
        Err((batch, error)) => {
            if let (Some(idem), Some(stamp)) = (state.idem.as_mut(), stamp) {
                let _ = idem.on_unresolved(&tp, stamp);
            }
            let detail = match error {
                Some(e) => format!("the batch could not be split: {e}"),
                None => "the batch is larger than the broker accepts and cannot be split".into(),
            };
            fail_batch(batch, too_large(detail), finished);
            return;
        }
    };
    tracing::info!(partition = %tp, parts = parts.len(), "MESSAGE_TOO_LARGE: batch split");
    if let (Some(idem), Some(stamp)) = (state.idem.as_mut(), stamp) {
        let counts: Vec<i32> = parts.iter().map(|p| p.record_count()).collect();
        match idem.on_split(&tp, stamp, &counts) {
            Ok(stamps) => {
                for (part, s) in parts.iter_mut().zip(stamps) {
                    let ps = BatchProducerState {
                        producer_id: s.producer_id,
                        producer_epoch: s.epoch,
                        base_sequence: s.base_sequence,
                        is_transactional: false,
                    };
                    if let Err(e) = part.set_producer_state(ps) {
                        tracing::error!(partition = %tp, error = %e, "cannot stamp split batch");
                    }
                }
            }
            Err(e) => {
                tracing::error!(partition = %tp, error = %e, "idempotence state refused the split");
                let _ = idem.on_unresolved(&tp, stamp);
                for part in parts {
                    fail_batch(part, too_large(e.to_string()), finished);
                }
                return;
            }
        }
    }
    state.acc.requeue_split(parts);
}

/// How many batches of one partition may be on the wire at once: Java's
/// `max.in.flight.requests.per.connection` (at least 1), and with idempotence at most
/// [`MAX_IN_FLIGHT_FOR_IDEMPOTENCE`] (the broker remembers the last five batches per producer
/// and partition). With 1 a partition's records are written in send order whatever the
/// retries; above 1 without idempotence a retried batch may land after later ones, as in Java.
fn max_in_flight_per_partition(configured: usize, idempotent: bool) -> usize {
    let n = configured.max(1);
    if idempotent {
        n.min(MAX_IN_FLIGHT_FOR_IDEMPOTENCE)
    } else {
        n
    }
}

fn release_request(state: &mut State, node: i32) {
    if let Some(n) = state.requests.get_mut(&node) {
        *n = n.saturating_sub(1);
    }
}

enum Exchange {
    Response(Vec<PartitionOutcome>),
    NoResponse,
    Failed {
        /// The error to treat every batch as having got (retriable).
        code: ErrorCode,
        /// `Some(message)`: not retriable, fail the batches with it.
        fatal: Option<String>,
    },
}

fn net_failure(e: &NetError) -> Exchange {
    tracing::debug!(error = %e, "produce request failed");
    if let NetError::UnknownBroker(_) = e {
        // The metadata the batch was routed by named a broker the pool no longer knows (it left
        // the cluster): nothing was sent, so retry on fresh metadata, as Java does.
        return Exchange::Failed {
            code: ErrorCode::NotLeaderOrFollower,
            fatal: None,
        };
    }
    if e.is_retriable() {
        let code = match e {
            NetError::Timeout { .. } => ErrorCode::RequestTimedOut,
            _ => ErrorCode::NetworkException,
        };
        Exchange::Failed { code, fatal: None }
    } else {
        Exchange::Failed {
            code: ErrorCode::NetworkException,
            fatal: Some(e.to_string()),
        }
    }
}

/// Polls `send` once (which queues the request on its connection, or takes the first place in
/// line for a queue slot), ends the turn, then waits for the rest.
async fn start_in_turn<T>(send: impl Future<Output = T>, turn: WriteTurn<'_>) -> T {
    // Unconstrained: tokio's cooperative budget must not turn the first poll into a no-op.
    let mut send = std::pin::pin!(tokio::task::unconstrained(send));
    let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
    drop(turn);
    match first {
        Poll::Ready(result) => result,
        Poll::Pending => send.await,
    }
}

async fn exchange(
    inner: &Inner,
    node: i32,
    batches: &[ProducerBatch<Completion>],
    sent: &[TopicPartition],
    snapshot: &MetadataSnapshot,
    turn: WriteTurn<'_>,
) -> Exchange {
    let conn = match inner.metadata.pool().get(node).await {
        Ok(c) => c,
        Err(e) => return net_failure(&e),
    };
    let negotiated = match conn.versions().version(ApiKey::Produce) {
        Ok(v) => v,
        Err(e) => {
            return Exchange::Failed {
                code: ErrorCode::UnsupportedVersion,
                fatal: Some(e.to_string()),
            };
        }
    };
    let version = negotiated.min(MAX_PRODUCE_VERSION);
    if version < MIN_PRODUCE_VERSION {
        return Exchange::Failed {
            code: ErrorCode::UnsupportedVersion,
            fatal: Some(format!("broker {node} only speaks Produce v{negotiated}")),
        };
    }
    let request = match build_produce_request(
        batches,
        inner.acks.as_i16(),
        inner.config.request_timeout(),
        version,
        |t| snapshot.topic(t).map(|i| i.id),
    ) {
        Ok(r) => r,
        Err(e) => {
            return Exchange::Failed {
                code: ErrorCode::UnknownServerError,
                fatal: Some(e.to_string()),
            };
        }
    };
    // Connecting and encoding happen concurrently with the broker's other requests; queueing
    // on the connection waits for this request's turn.
    turn.wait().await;
    if inner.acks == Acks::None {
        let send = conn.send_no_response(request);
        return match start_in_turn(send, turn).await {
            Ok(()) => Exchange::NoResponse,
            Err(e) => net_failure(&e),
        };
    }
    let send = conn.send_with_version(request, version);
    let response: ProduceResponse = match start_in_turn(send, turn).await {
        Ok(r) => r,
        Err(e) => return net_failure(&e),
    };
    let names: BTreeMap<uuid::Uuid, String> = if version >= sink::TOPIC_ID_PRODUCE_VERSION {
        snapshot
            .topics
            .values()
            .map(|t| (t.id, t.name.clone()))
            .collect()
    } else {
        BTreeMap::new()
    };
    let outcomes =
        interpret_produce_response(&response, version, sent, |id| names.get(&id).cloned());
    Exchange::Response(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// A producer of typed records: keys and values are serialized with `KS` and `VS` (by default
/// [`DefaultSerde`]: bytes, strings, big-endian integers) and handed to a [`Producer`].
///
/// ```no_run
/// use kafkit::producer::client::{Producer, TypedProducer};
/// use kafkit::producer::config::ProducerConfig;
/// use kafkit::producer::record::ProducerRecord;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
/// let typed: TypedProducer<String, i64> = TypedProducer::new(producer);
/// let meta = typed
///     .send_and_wait(ProducerRecord::new("counts", 42i64).with_key("clicks".to_string()))
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct TypedProducer<K, V, KS = DefaultSerde, VS = DefaultSerde> {
    producer: Producer,
    key_serializer: KS,
    value_serializer: VS,
    _types: std::marker::PhantomData<fn(K, V)>,
}

impl<K, V, KS: Clone, VS: Clone> Clone for TypedProducer<K, V, KS, VS> {
    fn clone(&self) -> Self {
        TypedProducer {
            producer: self.producer.clone(),
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<K, V> TypedProducer<K, V, DefaultSerde, DefaultSerde>
where
    DefaultSerde: Serializer<K> + Serializer<V>,
{
    /// A typed producer over `producer` with the default serializers.
    ///
    /// ```no_run
    /// # fn example(producer: kafkit::producer::client::Producer) {
    /// let typed = kafkit::producer::client::TypedProducer::<String, String>::new(producer);
    /// # }
    /// ```
    pub fn new(producer: Producer) -> Self {
        Self::with_serializers(producer, DefaultSerde, DefaultSerde)
    }
}

impl<K, V, KS, VS> TypedProducer<K, V, KS, VS>
where
    KS: Serializer<K>,
    VS: Serializer<V>,
{
    /// A typed producer over `producer` with explicit serializers.
    ///
    /// ```no_run
    /// # fn example(producer: kafkit::producer::client::Producer) {
    /// use kafkit::serde::DefaultSerde;
    /// let typed = kafkit::producer::client::TypedProducer::<i32, String, _, _>::with_serializers(
    ///     producer, DefaultSerde, DefaultSerde);
    /// # }
    /// ```
    pub fn with_serializers(producer: Producer, key_serializer: KS, value_serializer: VS) -> Self {
        TypedProducer {
            producer,
            key_serializer,
            value_serializer,
            _types: std::marker::PhantomData,
        }
    }

    /// The underlying bytes-level producer (for `flush`, `close`, metrics).
    ///
    /// ```no_run
    /// # async fn example(typed: kafkit::producer::client::TypedProducer<String, String>) {
    /// typed.producer().flush().await;
    /// # }
    /// ```
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    fn serialize(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<ProducerRecord<bytes::Bytes, bytes::Bytes>, ProducerError> {
        let key = match &record.key {
            Some(k) => self.key_serializer.serialize(&record.topic, k)?,
            None => None,
        };
        let value = match &record.value {
            Some(v) => self.value_serializer.serialize(&record.topic, v)?,
            None => None,
        };
        Ok(ProducerRecord {
            topic: record.topic,
            partition: record.partition,
            key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
        })
    }

    /// [`Producer::send`] for a typed record.
    ///
    /// ```no_run
    /// # async fn example(typed: kafkit::producer::client::TypedProducer<String, String>) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// let f = typed.send(ProducerRecord::new("t", "v".to_string())).await?;
    /// f.await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<DeliveryFuture, ProducerError> {
        let record = self.serialize(record)?;
        self.producer.send(record).await
    }

    /// [`Producer::send_and_wait`] for a typed record.
    ///
    /// ```no_run
    /// # async fn example(typed: kafkit::producer::client::TypedProducer<String, String>) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// typed.send_and_wait(ProducerRecord::new("t", "v".to_string())).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_and_wait(
        &self,
        record: ProducerRecord<K, V>,
    ) -> Result<RecordMetadata, SendError> {
        let record = self.serialize(record)?;
        self.producer.send_and_wait(record).await
    }

    /// [`Producer::send_with_callback`] for a typed record.
    ///
    /// ```no_run
    /// # async fn example(typed: kafkit::producer::client::TypedProducer<String, String>) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// typed.send_with_callback(ProducerRecord::new("t", "v".to_string()), |r| { let _ = r; }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_with_callback<F>(
        &self,
        record: ProducerRecord<K, V>,
        callback: F,
    ) -> Result<(), ProducerError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let record = self.serialize(record)?;
        self.producer.send_with_callback(record, callback).await
    }

    /// [`Producer::send_and_forget`] for a typed record.
    ///
    /// ```no_run
    /// # async fn example(typed: kafkit::producer::client::TypedProducer<String, String>) -> Result<(), Box<dyn std::error::Error>> {
    /// use kafkit::producer::record::ProducerRecord;
    /// typed.send_and_forget(ProducerRecord::new("t", "v".to_string())).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_and_forget(&self, record: ProducerRecord<K, V>) -> Result<(), ProducerError> {
        let record = self.serialize(record)?;
        self.producer.send_and_forget(record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_outside_a_runtime_fails() {
        let config = ProducerConfig::builder()
            .bootstrap_servers("127.0.0.1:1")
            .build()
            .unwrap();
        assert!(matches!(
            Producer::new(config),
            Err(ProducerError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn closed_producer_refuses_sends() {
        let config = ProducerConfig::builder()
            .bootstrap_servers("127.0.0.1:1")
            .idempotence(false)
            .build()
            .unwrap();
        let producer = Producer::new(config).unwrap();
        producer.close().await;
        let err = producer
            .send_and_forget(ProducerRecord::new("t", "v").with_key("k"))
            .await
            .unwrap_err();
        assert!(matches!(err, ProducerError::Closed));
    }

    /// A producer's shared state with no sender task, for driving the sender's steps by hand:
    /// one partition led by broker 0, producer id 7 when idempotent.
    fn pipeline_inner(idempotent: bool, max_in_flight: usize) -> Inner {
        let config = ProducerConfig::builder()
            .bootstrap_servers("127.0.0.1:1")
            .idempotence(idempotent)
            .max_in_flight_requests_per_connection(max_in_flight)
            .retry_backoff(Duration::from_millis(1))
            .retry_backoff_max(Duration::from_millis(1))
            .build()
            .unwrap();
        let inner = Inner::new(config);
        if let Some(idem) = inner.lock().idem.as_mut() {
            idem.set_producer_id(ProducerIdAndEpoch::new(7, 0));
        }
        inner
    }

    fn pipeline_tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    /// Appends a batch of `records` records tagged `tag` (the completions' timestamp).
    fn append_batch(state: &mut State, tag: i64, records: usize) {
        let tp = pipeline_tp();
        for _ in 0..records {
            let completion = Completion {
                timestamp: tag,
                kind: CompletionKind::Forget,
            };
            state
                .acc
                .append(&tp, tag, None, Some(b"v"), &[], completion, Instant::now())
                .unwrap();
        }
    }

    /// What the sender does for the partition: drain one request if it is not muted, and seal
    /// its batch.
    fn send_next(inner: &Inner, state: &mut State, now: Instant) -> Option<Request> {
        let tp = pipeline_tp();
        if state.acc.queued_batches(&tp) == 0
            || is_muted(state, &tp, inner.max_in_flight_per_partition)
        {
            return None;
        }
        let mut finished = Finished::new();
        let mut request = drain_request(inner, state, 0, &[tp], now, &mut finished);
        assert!(finished.is_empty());
        // As `send_produce` does before the request goes out.
        for batch in request.iter_mut().flat_map(|r| r.batches.iter_mut()) {
            batch.seal();
        }
        request
    }

    /// The request's only batch: its tag, base sequence (-1 without idempotence) and send
    /// number.
    fn only_batch(request: &Request) -> (i64, i32, u64) {
        assert_eq!(request.batches.len(), 1);
        let batch = &request.batches[0];
        let sequence = batch.producer_state().map_or(-1, |s| s.base_sequence);
        (
            batch.completions()[0].timestamp,
            sequence,
            request.numbers[0],
        )
    }

    fn success(base_offset: i64) -> WireOutcome {
        WireOutcome::Response(PartitionOutcome::Success {
            base_offset,
            log_append_time_ms: -1,
            log_start_offset: 0,
        })
    }

    fn error(code: ErrorCode) -> WireOutcome {
        WireOutcome::Response(PartitionOutcome::Error {
            code,
            message: None,
            record_errors: Vec::new(),
            current_leader: None,
            log_start_offset: 0,
        })
    }

    /// Settles the request's batch with `outcome`; returns the batches finished by it, as
    /// (tag, base offset or `None` when failed).
    fn answer(
        inner: &Inner,
        state: &mut State,
        request: Request,
        outcome: WireOutcome,
        now: Instant,
    ) -> Vec<(i64, Option<i64>)> {
        let mut finished = Finished::new();
        let mut refresh = false;
        let Request {
            mut batches,
            numbers,
            ..
        } = request;
        let batch = batches.pop().unwrap();
        settle(
            inner,
            state,
            numbers[0],
            batch,
            outcome,
            now,
            &mut finished,
            &mut refresh,
        );
        finished
            .batches
            .iter()
            .map(|(batch, outcome)| {
                let offset = match outcome {
                    BatchOutcome::Delivered { base_offset, .. } => Some(*base_offset),
                    BatchOutcome::Failed(_) => None,
                };
                (batch.completions()[0].timestamp, offset)
            })
            .collect()
    }

    fn front_tag(state: &State) -> Option<i64> {
        state
            .acc
            .front(&pipeline_tp())
            .map(|b| b.completions()[0].timestamp)
    }

    #[test]
    fn a_brokers_requests_take_their_turns_in_order_skipping_abandoned_ones() {
        let mut turns = NodeTurns {
            issued: 5,
            ..NodeTurns::default()
        };
        // Turns 2 and 1 are given up before they come up; 0 ends: 3 is next.
        turns.end(2);
        turns.end(1);
        assert_eq!(turns.serving, 0);
        turns.end(0);
        assert_eq!(turns.serving, 3);
        assert!(turns.abandoned.is_empty());
        turns.end(3);
        turns.end(4);
        assert_eq!(turns.serving, 5);
    }

    #[test]
    fn batches_in_flight_per_partition_follow_max_in_flight() {
        assert_eq!(max_in_flight_per_partition(5, true), 5);
        assert_eq!(max_in_flight_per_partition(10, true), 5);
        assert_eq!(max_in_flight_per_partition(10, false), 10);
        assert_eq!(max_in_flight_per_partition(1, true), 1);
        assert_eq!(max_in_flight_per_partition(0, false), 1);
        for (idempotent, max, expected) in [(false, 1, 1), (false, 3, 3), (true, 5, 5)] {
            let inner = pipeline_inner(idempotent, max);
            let mut guard = inner.lock();
            let state = &mut *guard;
            let now = Instant::now();
            // A first batch acknowledged (idempotence pipelines only after one).
            append_batch(state, -1, 1);
            let first = send_next(&inner, state, now).unwrap();
            assert_eq!(
                answer(&inner, state, first, success(0), now),
                [(-1, Some(0))]
            );
            let mut sent = Vec::new();
            for tag in 0..8 {
                append_batch(state, tag, 1);
                if let Some(request) = send_next(&inner, state, now) {
                    sent.push(only_batch(&request).0);
                }
            }
            assert_eq!(
                sent,
                (0..expected).collect::<Vec<_>>(),
                "max.in.flight {max}"
            );
            assert!(is_muted(
                state,
                &pipeline_tp(),
                inner.max_in_flight_per_partition
            ));
        }
    }

    #[test]
    fn an_idempotent_partition_pipelines_only_after_its_first_acknowledgement() {
        let inner = pipeline_inner(true, 5);
        let mut guard = inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        append_batch(state, 1, 1);
        let r1 = send_next(&inner, state, now).unwrap();
        // The broker may have no state for the producer: it would take any sequence first.
        append_batch(state, 2, 1);
        assert!(send_next(&inner, state, now).is_none());
        // A retriable failure of the first: it is re-sent alone, still one on the wire.
        let not_enough = error(ErrorCode::NotEnoughReplicas);
        assert!(answer(&inner, state, r1, not_enough, now).is_empty());
        let later = now + Duration::from_secs(1);
        let r1 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&r1).0, only_batch(&r1).1), (1, 0));
        assert!(send_next(&inner, state, later).is_none());
        assert_eq!(answer(&inner, state, r1, success(0), later), [(1, Some(0))]);
        // Acknowledged: now several go.
        let r2 = send_next(&inner, state, later).unwrap();
        append_batch(state, 3, 1);
        let r3 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&r2).0, only_batch(&r3).0), (2, 3));
        assert!(answer(&inner, state, r3, success(2), later).is_empty());
        let done = answer(&inner, state, r2, success(1), later);
        assert_eq!(done, [(2, Some(1)), (3, Some(2))]);
        // An epoch bump restarts the partition's sequences: one batch again until acknowledged.
        state.idem.as_mut().unwrap().bump_epoch();
        append_batch(state, 4, 1);
        let r4 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&r4).0, only_batch(&r4).1), (4, 0));
        append_batch(state, 5, 1);
        assert!(send_next(&inner, state, later).is_none());
    }

    #[test]
    fn a_partitions_outcomes_are_handled_in_send_order_whatever_order_they_arrive_in() {
        let inner = pipeline_inner(false, 5);
        let mut guard = inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let mut requests = Vec::new();
        for tag in 1..=4 {
            append_batch(state, tag, 1);
            requests.push(send_next(&inner, state, now).unwrap());
        }
        let mut requests = requests.into_iter();
        let (r1, r2, r3, r4) = (
            requests.next().unwrap(),
            requests.next().unwrap(),
            requests.next().unwrap(),
            requests.next().unwrap(),
        );
        // The third and the fourth come back first: they wait for the first two.
        assert!(answer(&inner, state, r4, success(30), now).is_empty());
        assert!(answer(&inner, state, r3, success(20), now).is_empty());
        // The first frees itself only; the second (a failed request) frees the rest, in order.
        assert_eq!(answer(&inner, state, r1, success(0), now), [(1, Some(0))]);
        let failed = WireOutcome::Failed(ProduceError::Request("gone".into()));
        assert_eq!(
            answer(&inner, state, r2, failed, now),
            [(2, None), (3, Some(20)), (4, Some(30))]
        );
        let pipe = &state.in_flight[&pipeline_tp()];
        assert!(pipe.on_wire.is_empty() && pipe.early.is_empty());
    }

    #[test]
    fn a_failed_middle_batch_is_resent_first_and_later_ones_follow_in_sequence_order() {
        let inner = pipeline_inner(true, 5);
        let mut guard = inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        // A first batch (sequences 0 and 1) acknowledged, then three batches of two records in
        // flight: sequences 2, 4, 6.
        append_batch(state, 0, 2);
        let r0 = send_next(&inner, state, now).unwrap();
        assert_eq!(answer(&inner, state, r0, success(0), now), [(0, Some(0))]);
        let mut requests = Vec::new();
        for tag in 1..=3 {
            append_batch(state, tag, 2);
            requests.push(send_next(&inner, state, now).unwrap());
        }
        let wire: Vec<_> = requests.iter().map(only_batch).collect();
        assert_eq!(
            wire.iter().map(|&(t, s, _)| (t, s)).collect::<Vec<_>>(),
            [(1, 2), (2, 4), (3, 6)]
        );
        let mut requests = requests.into_iter();
        let (r1, r2, r3) = (
            requests.next().unwrap(),
            requests.next().unwrap(),
            requests.next().unwrap(),
        );
        // The second fails; the third's OUT_OF_ORDER_SEQUENCE_NUMBER arrives first (say,
        // through another connection) and waits for the second's NOT_ENOUGH_REPLICAS.
        let out_of_order = error(ErrorCode::OutOfOrderSequenceNumber);
        assert!(answer(&inner, state, r3, out_of_order, now).is_empty());
        assert_eq!(answer(&inner, state, r1, success(2), now), [(1, Some(2))]);
        let not_enough = error(ErrorCode::NotEnoughReplicas);
        assert!(answer(&inner, state, r2, not_enough, now).is_empty());
        // Both are re-queued in sequence order, ahead of a newer batch; no epoch bump (the
        // third's error only says that the second had to come first).
        append_batch(state, 4, 2);
        assert_eq!(front_tag(state), Some(2));
        assert_eq!(state.acc.queued_batches(&pipeline_tp()), 3);
        let idem = state.idem.as_ref().unwrap();
        assert_eq!(idem.producer_id_and_epoch(), ProducerIdAndEpoch::new(7, 0));
        assert_eq!(idem.in_flight_count(&pipeline_tp()), 2);

        // After the back-off the second goes alone: neither the third nor the new one passes it.
        let later = now + Duration::from_secs(1);
        let resent2 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&resent2).0, only_batch(&resent2).1), (2, 4));
        assert!(send_next(&inner, state, later).is_none());
        assert_eq!(front_tag(state), Some(3));
        let done = answer(&inner, state, resent2, success(4), later);
        assert_eq!(done, [(2, Some(4))]);

        // Now the third, then (no retry pending any more) the new batch behind it.
        let resent3 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&resent3).0, only_batch(&resent3).1), (3, 6));
        let new4 = send_next(&inner, state, later).unwrap();
        assert_eq!((only_batch(&new4).0, only_batch(&new4).1), (4, 8));
        assert!(answer(&inner, state, new4, success(8), later).is_empty());
        let done = answer(&inner, state, resent3, success(6), later);
        assert_eq!(done, [(3, Some(6)), (4, Some(8))]);
        let idem = state.idem.as_ref().unwrap();
        assert_eq!(idem.in_flight_count(&pipeline_tp()), 0);
        assert_eq!(idem.last_acked_sequence(&pipeline_tp()), Some(9));
    }

    #[test]
    fn without_idempotence_a_retried_batch_goes_back_in_front_of_newer_ones() {
        // Java's documented behaviour with max.in.flight > 1 and no idempotence: the retry is
        // re-sent while later batches are in flight, so it may be written after them.
        let inner = pipeline_inner(false, 3);
        let mut guard = inner.lock();
        let state = &mut *guard;
        let now = Instant::now();
        append_batch(state, 1, 1);
        let r1 = send_next(&inner, state, now).unwrap();
        append_batch(state, 2, 1);
        let r2 = send_next(&inner, state, now).unwrap();
        append_batch(state, 3, 1);
        assert!(answer(&inner, state, r1, error(ErrorCode::RequestTimedOut), now).is_empty());
        assert_eq!(front_tag(state), Some(1));
        let later = now + Duration::from_secs(1);
        let resent1 = send_next(&inner, state, later).unwrap();
        assert_eq!(only_batch(&resent1).0, 1);
        assert_eq!(answer(&inner, state, r2, success(0), later), [(2, Some(0))]);
        assert_eq!(
            answer(&inner, state, resent1, success(1), later),
            [(1, Some(1))]
        );
    }

    #[tokio::test]
    async fn delivery_future_reports_abort_when_dropped() {
        let (tx, rx) = oneshot::channel::<DeliveryResult>();
        drop(tx);
        assert_eq!(DeliveryFuture { rx }.await, Err(ProduceError::Aborted));
    }
}
