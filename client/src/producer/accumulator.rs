//! The record accumulator (Java's `RecordAccumulator`): per-partition queues of record batches
//! that records are encoded straight into, bounded by `buffer.memory`, and the rules that decide
//! which batches are ready to send at a given instant.
//!
//! Owns the batch queues, the buffer accounting, linger/flush/close readiness, fair draining
//! per broker, retry re-queueing with back-off and delivery-timeout expiry. It is sans-IO: it
//! must not touch sockets, tokio, clocks or metadata fetching, and it never blocks. Every method
//! that depends on time takes `now: Instant`; the caller (the async sender) owns the timer and
//! sleeps until [`ReadyCheck::next_check`]. Idempotence state (sequences, epochs) belongs to
//! [`crate::producer::idempotence`]; the accumulator only stamps what the caller hands it at
//! drain ([`RecordAccumulator::drain_with`]). Batch bytes are produced by [`crate::record`].
//!
//! # Life of a batch
//!
//! 1. [`append`](RecordAccumulator::append) encodes a record into its partition's open batch
//!    (opening a new one when the open one has no room for it, reserving its bytes from
//!    `buffer.memory`), and stores the record's completion value `C` beside it.
//! 2. [`ready`](RecordAccumulator::ready) names the brokers that lead a partition whose first
//!    batch is sendable (full, lingered long enough, flushing, buffer exhausted, closing).
//! 3. [`drain`](RecordAccumulator::drain) takes at most one batch per partition of one broker,
//!    up to the request size, and seals (compresses, checksums) them.
//! 4. The sender either finishes the batch and gives it to
//!    [`deallocate`](RecordAccumulator::deallocate) (which releases its bytes and returns the
//!    completions, in record order), or puts it back with
//!    [`reenqueue`](RecordAccumulator::reenqueue) to retry after a back-off.
//!    [`expired`](RecordAccumulator::expired) hands back queued batches older than
//!    `delivery.timeout.ms`; they too end in `deallocate`.
//!
//! The completion type `C` is the caller's: `()` for fire-and-forget (a `Vec<()>` never
//! allocates), a callback box or a oneshot sender for the other send modes.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use kafkit::producer::accumulator::{AccumulatorConfig, RecordAccumulator, TopicPartition};
//! use kafkit::record::BatchIter;
//!
//! let mut acc = RecordAccumulator::<()>::new(AccumulatorConfig {
//!     linger: Duration::from_millis(5),
//!     ..AccumulatorConfig::default()
//! });
//! let tp = TopicPartition::new("events", 0);
//! let t0 = Instant::now();
//! acc.append(&tp, 1_700_000_000_000, Some(b"k"), Some(b"v"), &[], (), t0)?;
//!
//! // Not ready before linger.ms; the sender should look again in 5 ms.
//! let check = acc.ready(t0, |_| Some(1), |_| false);
//! assert!(check.ready_nodes.is_empty());
//! assert_eq!(check.next_check, Some(Duration::from_millis(5)));
//!
//! let later = t0 + Duration::from_millis(5);
//! assert!(acc.ready(later, |_| Some(1), |_| false).ready_nodes.contains(&1));
//! let batches = acc.drain(1, &[tp.clone()], 1 << 20, later);
//! assert_eq!(batches.len(), 1);
//! let bytes = batches[0].records().unwrap().clone();
//! assert_eq!(BatchIter::new(bytes).next().unwrap()?.record_count(), 1);
//! for batch in batches {
//!     acc.deallocate(batch); // after the Produce response
//! }
//! assert_eq!(acc.buffer_used(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hash::FastMap;
use crate::producer::config::ProducerConfig;
use crate::producer::partitioner::PartitionLoad;
use crate::record::{
    BatchBuilder, BatchOptions, Header, RECORD_BATCH_OVERHEAD, RecordBatch, RecordError,
};

/// Extra capacity given to a new batch buffer beyond `batch.size`, so the record encoder's
/// scratch reservation never makes the buffer reallocate.
const BUFFER_SLACK: usize = 64;

/// The most completions a new batch reserves room for up front (it grows past that as needed).
const MAX_COMPLETIONS_CAPACITY: usize = 1024;

/// How many emptied completion lists the accumulator keeps for reuse.
const SPARE_COMPLETION_LISTS: usize = 64;

/// A topic partition (Java's `TopicPartition`). The topic is shared, so cloning is cheap.
///
/// ```
/// use kafkit::producer::accumulator::TopicPartition;
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!((&*tp.topic, tp.partition), ("orders", 3));
/// assert_eq!(tp.to_string(), "orders-3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What the accumulator needs from the producer configuration.
///
/// ```
/// use kafkit::producer::accumulator::AccumulatorConfig;
/// use kafkit::producer::config::ProducerConfig;
///
/// let config = ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?;
/// let acc = AccumulatorConfig::from_producer_config(&config);
/// assert_eq!(acc.batch_size, 16_384);
/// assert_eq!(acc, AccumulatorConfig::default());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccumulatorConfig {
    /// `batch.size`: a batch takes records while its uncompressed size stays within this.
    pub batch_size: usize,
    /// `linger.ms`: how long a batch that is not full waits for more records.
    pub linger: Duration,
    /// `buffer.memory`: bytes that open, queued and in-flight batches may hold together.
    pub buffer_memory: usize,
    /// `delivery.timeout.ms`, measured from a batch's creation.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`: the first retry's back-off.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the exponential back-off stops growing here (before jitter).
    pub retry_backoff_max: Duration,
    /// `max.request.size`: a record (with a batch header) larger than this fails at once.
    pub max_request_size: usize,
    /// The template for new batches: codec and level (producer fields are stamped at drain).
    pub batch_options: BatchOptions,
}

impl Default for AccumulatorConfig {
    /// The Java producer's defaults.
    fn default() -> Self {
        AccumulatorConfig {
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            delivery_timeout: Duration::from_millis(120_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            max_request_size: 1_048_576,
            batch_options: BatchOptions::default(),
        }
    }
}

impl AccumulatorConfig {
    /// The accumulator settings of a producer configuration.
    pub fn from_producer_config(config: &ProducerConfig) -> Self {
        AccumulatorConfig {
            batch_size: config.batch_size(),
            linger: config.linger(),
            buffer_memory: config.buffer_memory(),
            delivery_timeout: config.delivery_timeout(),
            retry_backoff: config.retry_backoff(),
            retry_backoff_max: config.retry_backoff_max(),
            max_request_size: config.max_request_size(),
            batch_options: config.batch_options(),
        }
    }
}

/// The idempotence/transaction fields of a batch (stamped at drain, kept across retries).
///
/// ```
/// use kafkit::producer::accumulator::BatchProducerState;
/// let s = BatchProducerState { producer_id: 7, producer_epoch: 0, base_sequence: 40, is_transactional: false };
/// # let _ = s;
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BatchProducerState {
    /// The producer id from InitProducerId.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The sequence of the batch's first record.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub is_transactional: bool,
}

#[derive(Debug)]
enum BatchState {
    /// Still taking records.
    Open(BatchBuilder),
    /// Sealed: the whole encoded batch.
    Closed(Bytes),
    /// Sealing failed (e.g. the codec failed); the batch must be failed with this error.
    Failed(RecordError),
}

/// One record batch of one partition, with the completion value of each of its records.
///
/// Records are encoded into it while it is open; [`RecordAccumulator::drain`] seals it
/// ([`records`](Self::records)). Every batch that leaves the accumulator (drained or expired)
/// must come back through [`RecordAccumulator::reenqueue`] or
/// [`RecordAccumulator::deallocate`], which releases its bytes from `buffer.memory`.
///
/// ```
/// use std::time::Instant;
/// use kafkit::producer::accumulator::{AccumulatorConfig, RecordAccumulator, TopicPartition};
///
/// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
/// let tp = TopicPartition::new("t", 0);
/// let now = Instant::now();
/// acc.append(&tp, 10, None, Some(b"a"), &[], "first", now).unwrap();
/// acc.append(&tp, 11, None, Some(b"b"), &[], "second", now).unwrap();
/// acc.begin_flush();
/// let batch = acc.drain(0, &[tp], 1 << 20, now).pop().unwrap();
/// assert_eq!((batch.record_count(), batch.attempts()), (2, 0));
/// assert_eq!(batch.completions(), ["first", "second"]);
/// assert_eq!(acc.deallocate(batch), vec!["first", "second"]);
/// ```
#[derive(Debug)]
pub struct ProducerBatch<C> {
    tp: TopicPartition,
    /// Creation order within the accumulator: a partition's queue is always sorted by it.
    id: u64,
    state: BatchState,
    record_count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    created: Instant,
    last_attempt: Instant,
    attempts: u32,
    retry_at: Option<Instant>,
    completions: Vec<C>,
    producer_state: Option<BatchProducerState>,
    reserved: usize,
}

impl<C> ProducerBatch<C> {
    /// The partition this batch is for.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// Number of records in the batch.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// The first record's timestamp.
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest record timestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// When the batch was created (its first record was appended).
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the batch was last put back for a retry (its creation before that).
    pub fn last_attempt(&self) -> Instant {
        self.last_attempt
    }

    /// How many times the batch was re-enqueued for a retry.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When a retried batch may be sent again (`None` before the first retry).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether the batch is waiting to be retried at `now`.
    pub fn is_backing_off(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }

    /// The completion values, one per record in record (offset delta) order.
    pub fn completions(&self) -> &[C] {
        &self.completions
    }

    /// The producer id, epoch and base sequence stamped at drain, if any.
    pub fn producer_state(&self) -> Option<BatchProducerState> {
        self.producer_state
    }

    /// The sealed batch (`None` while open, or if sealing failed: see [`error`](Self::error)).
    pub fn records(&self) -> Option<&Bytes> {
        match &self.state {
            BatchState::Closed(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Why sealing the batch failed; the sender fails the batch's records with it.
    pub fn error(&self) -> Option<&RecordError> {
        match &self.state {
            BatchState::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The batch's size: the sealed size once closed, the uncompressed size while open.
    pub fn estimated_size(&self) -> usize {
        match &self.state {
            BatchState::Open(b) => b.size_in_bytes(),
            BatchState::Closed(bytes) => bytes.len(),
            BatchState::Failed(_) => RECORD_BATCH_OVERHEAD,
        }
    }

    /// The bytes this batch holds from `buffer.memory` until it is deallocated.
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Re-stamps the idempotence fields of a sealed batch (e.g. after an epoch bump or a
    /// sequence reset), in place when the bytes are not shared, else on a copy.
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::producer::accumulator::*;
    /// use kafkit::record::RecordBatch;
    ///
    /// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
    /// let tp = TopicPartition::new("t", 0);
    /// let now = Instant::now();
    /// acc.append(&tp, 10, None, Some(b"a"), &[], (), now).unwrap();
    /// acc.close();
    /// let mut batch = acc.drain(0, &[tp], 1 << 20, now).pop().unwrap();
    /// let state = BatchProducerState { producer_id: 9, producer_epoch: 1, base_sequence: 5, is_transactional: false };
    /// batch.set_producer_state(state)?;
    /// let parsed = RecordBatch::parse(batch.records().unwrap())?;
    /// assert_eq!((parsed.producer_id(), parsed.base_sequence()), (9, 5));
    /// # Ok::<(), kafkit::record::RecordError>(())
    /// ```
    pub fn set_producer_state(&mut self, state: BatchProducerState) -> Result<(), RecordError> {
        match &mut self.state {
            BatchState::Open(builder) => builder.set_producer_state(
                state.producer_id,
                state.producer_epoch,
                state.base_sequence,
                state.is_transactional,
            ),
            BatchState::Closed(bytes) => {
                let owned = std::mem::take(bytes);
                let mut buf = match owned.try_into_mut() {
                    Ok(buf) => buf,
                    Err(shared) => bytes::BytesMut::from(&shared[..]),
                };
                let result = crate::record::set_producer_state(
                    &mut buf,
                    state.producer_id,
                    state.producer_epoch,
                    state.base_sequence,
                    state.is_transactional,
                );
                *bytes = buf.freeze();
                result?;
            }
            BatchState::Failed(_) => {}
        }
        self.producer_state = Some(state);
        Ok(())
    }

    /// Takes the completion values out (in record order), e.g. to run them before the batch is
    /// [deallocated](RecordAccumulator::deallocate), which then returns none.
    pub fn take_completions(&mut self) -> Vec<C> {
        std::mem::take(&mut self.completions)
    }

    /// Seals an open batch (compression, header, CRC); a no-op once sealed. Batches drained
    /// with [`RecordAccumulator::drain_unsealed_with`] must be sealed before they are sent: the
    /// producer does it after releasing its lock, so compression never blocks appends.
    pub fn seal(&mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let BatchState::Open(_) = self.state {
            let BatchState::Open(builder) =
                std::mem::replace(&mut self.state, BatchState::Closed(Bytes::new()))
            else {
                unreachable!("checked open");
            };
            self.state = match builder.finish() {
                Ok(bytes) => BatchState::Closed(bytes),
                Err(e) => BatchState::Failed(e),
            };
        }
    }
}

/// What an [`append`](RecordAccumulator::append) did.
///
/// ```
/// use std::time::Instant;
/// use kafkit::producer::accumulator::*;
///
/// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
/// let tp = TopicPartition::new("t", 0);
/// let outcome = acc.append(&tp, 0, None, Some(b"v"), &[], (), Instant::now()).unwrap();
/// assert!(outcome.new_batch && !outcome.batches_full && !outcome.became_full);
/// assert_eq!(outcome.batch_index, 0);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The record's index (offset delta) in its batch.
    pub batch_index: i32,
    /// The append opened a new batch.
    pub new_batch: bool,
    /// The partition's queue now holds only full batches (Java's `batchIsFull`: more than one
    /// batch queued, or the open one reached `batch.size`); feed it to
    /// [`Partitioner::on_append`](crate::producer::partitioner::Partitioner::on_append).
    pub batches_full: bool,
    /// The append made the partition's queue newly full: it brought the open batch to
    /// `batch.size`, or opened a batch behind another one. Together with `new_batch`, the only
    /// appends that can make a partition sendable sooner, i.e. the only ones worth waking the
    /// sender for (`batches_full` stays true for every later append to a full queue).
    pub became_full: bool,
    /// Bytes the append added to the queue: the record's encoded size, plus the batch header
    /// when a new batch was opened (the partitioner's `appended_bytes`).
    pub appended_bytes: usize,
}

/// Why a record was not appended. Every variant gives the completion value back.
///
/// ```
/// use std::time::Instant;
/// use kafkit::producer::accumulator::*;
///
/// let mut acc = RecordAccumulator::new(AccumulatorConfig { max_request_size: 100, ..AccumulatorConfig::default() });
/// let tp = TopicPartition::new("t", 0);
/// let err = acc.append(&tp, 0, None, Some(&[0; 200]), &[], 42, Instant::now()).unwrap_err();
/// assert!(matches!(err, AppendError::RecordTooLarge { max: 100, .. }));
/// assert_eq!(err.into_completion(), 42);
/// ```
pub enum AppendError<C> {
    /// The record, in a batch of its own, is larger than `max.request.size` (or
    /// `buffer.memory`): it can never be sent.
    RecordTooLarge {
        /// The record's size with a batch header.
        size: usize,
        /// The limit it exceeds.
        max: usize,
        /// The record's completion.
        completion: C,
    },
    /// `buffer.memory` has not `needed` bytes free now. Wait for batches to complete (up to
    /// `max.block.ms`) and append again.
    BufferFull {
        /// Bytes the append must reserve.
        needed: usize,
        /// The record's completion.
        completion: C,
    },
    /// The accumulator is closed (the producer is closing).
    Closed {
        /// The record's completion.
        completion: C,
    },
    /// The record could not be encoded (a batch format limit).
    Encode {
        /// The encoder's error.
        source: RecordError,
        /// The record's completion.
        completion: C,
    },
}

impl<C> AppendError<C> {
    /// The completion value of the record that was not appended.
    pub fn into_completion(self) -> C {
        match self {
            AppendError::RecordTooLarge { completion, .. }
            | AppendError::BufferFull { completion, .. }
            | AppendError::Closed { completion }
            | AppendError::Encode { completion, .. } => completion,
        }
    }
}

impl<C> fmt::Display for AppendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::RecordTooLarge { size, max, .. } => write!(
                f,
                "record of {size} bytes (with batch header) exceeds the limit of {max} bytes \
                 (max.request.size / buffer.memory)"
            ),
            AppendError::BufferFull { needed, .. } => {
                write!(f, "buffer.memory exhausted: {needed} bytes needed")
            }
            AppendError::Closed { .. } => f.write_str("the producer is closed"),
            AppendError::Encode { source, .. } => write!(f, "record encoding failed: {source}"),
        }
    }
}

impl<C> fmt::Debug for AppendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::RecordTooLarge { size, max, .. } => f
                .debug_struct("RecordTooLarge")
                .field("size", size)
                .field("max", max)
                .finish_non_exhaustive(),
            AppendError::BufferFull { needed, .. } => f
                .debug_struct("BufferFull")
                .field("needed", needed)
                .finish_non_exhaustive(),
            AppendError::Closed { .. } => f.debug_struct("Closed").finish_non_exhaustive(),
            AppendError::Encode { source, .. } => f
                .debug_struct("Encode")
                .field("source", source)
                .finish_non_exhaustive(),
        }
    }
}

impl<C> std::error::Error for AppendError<C> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppendError::Encode { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The result of [`RecordAccumulator::ready`].
///
/// ```
/// use kafkit::producer::accumulator::ReadyCheck;
/// let check = ReadyCheck::default();
/// assert!(check.ready_nodes.is_empty() && check.next_check.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadyCheck {
    /// Brokers that lead at least one partition with a sendable batch.
    pub ready_nodes: BTreeSet<i32>,
    /// How long until some batch not ready now may become ready (linger or back-off ends);
    /// `None` when nothing is waiting on time.
    pub next_check: Option<Duration>,
    /// Topics with queued batches for a partition whose leader is unknown (refresh metadata).
    pub unknown_leaders: BTreeSet<Arc<str>>,
}

/// The exponential retry back-off of Java's `ExponentialBackoff` (multiplier 2, jitter 0.2):
/// `retry_backoff * 2^(attempts - 1)`, capped at `retry_backoff_max` (or at `retry_backoff`
/// when that is larger), then scaled by a factor in `[0.8, 1.2)` taken from `random`
/// (uniform in `[0, 1)`). As in Java, jitter applies after the cap, so a back-off may exceed
/// `retry_backoff_max` by up to 20%.
///
/// ```
/// use std::time::Duration;
/// use kafkit::producer::accumulator::retry_backoff;
/// let (base, max) = (Duration::from_millis(100), Duration::from_millis(1000));
/// assert_eq!(retry_backoff(base, max, 1, 0.5), Duration::from_millis(100));
/// assert_eq!(retry_backoff(base, max, 3, 0.5), Duration::from_millis(400));
/// assert_eq!(retry_backoff(base, max, 30, 0.5), Duration::from_millis(1000));
/// assert_eq!(retry_backoff(base, max, 1, 0.0), Duration::from_millis(80));
/// ```
pub fn retry_backoff(base: Duration, max: Duration, attempts: u32, random: f64) -> Duration {
    let cap = max.max(base);
    let exp = attempts.saturating_sub(1);
    let term = if exp >= 32 {
        cap
    } else {
        base.checked_mul(1u32 << exp).map_or(cap, |t| t.min(cap))
    };
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.5
    };
    term.mul_f64(0.8 + 0.4 * random)
}

/// SplitMix64: a tiny seedable generator for back-off jitter.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A batch [`RecordAccumulator::split`] gave back: it holds one record, or its bytes could not
/// be read back (the error).
pub type Unsplittable<C> = (ProducerBatch<C>, Option<RecordError>);

/// Per-partition batch queues bounded by `buffer.memory` (Java's `RecordAccumulator`).
///
/// Not thread-safe by itself: the producer keeps it behind its append lock (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct RecordAccumulator<C> {
    config: AccumulatorConfig,
    queues: FastMap<TopicPartition, VecDeque<ProducerBatch<C>>>,
    drain_index: HashMap<i32, usize>,
    used: usize,
    /// Bytes the last failed append needed; set while someone waits for memory.
    memory_waiter: Option<usize>,
    incomplete: usize,
    /// Ids of the batches not yet deallocated (split batches share their parent's id), with
    /// how many batches carry each: what [`flush_pending`](Self::flush_pending) looks at.
    incomplete_ids: BTreeMap<u64, u32>,
    next_batch_id: u64,
    flushes_in_progress: usize,
    closed: bool,
    jitter: SplitMix64,
    /// Emptied completion lists of finished batches, for new batches to reuse.
    spare_completions: Vec<Vec<C>>,
}

impl<C> RecordAccumulator<C> {
    /// An empty accumulator; back-off jitter is seeded from the OS's hash keys.
    pub fn new(config: AccumulatorConfig) -> Self {
        let seed = RandomState::new().hash_one(0x6a69_7474_6572_u64);
        Self::with_jitter_seed(config, seed)
    }

    /// An empty accumulator whose back-off jitter sequence is fixed by `seed` (for tests).
    pub fn with_jitter_seed(config: AccumulatorConfig, seed: u64) -> Self {
        RecordAccumulator {
            config,
            queues: FastMap::default(),
            drain_index: HashMap::new(),
            used: 0,
            memory_waiter: None,
            incomplete: 0,
            incomplete_ids: BTreeMap::new(),
            next_batch_id: 0,
            flushes_in_progress: 0,
            closed: false,
            jitter: SplitMix64(seed),
            spare_completions: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.config
    }

    /// Bytes held by open, queued and in-flight (not yet deallocated) batches.
    pub fn buffer_used(&self) -> usize {
        self.used
    }

    /// Bytes of `buffer.memory` still free.
    pub fn buffer_available(&self) -> usize {
        self.config.buffer_memory.saturating_sub(self.used)
    }

    /// Whether an append is waiting for memory (the last append failed with
    /// [`AppendError::BufferFull`] and not enough has been freed since). While so, every
    /// partition is sendable, as Java's `exhausted`.
    pub fn buffer_exhausted(&self) -> bool {
        self.memory_waiter.is_some()
    }

    /// Appends one record to `tp`'s open batch, opening a new batch when the open one has no
    /// room for it (a record larger than `batch.size` gets a batch of its own).
    ///
    /// Never blocks: when a new batch's bytes do not fit in `buffer.memory`, it fails with
    /// [`AppendError::BufferFull`] and the caller waits for a
    /// [`deallocate`](Self::deallocate) before trying again.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        tp: &TopicPartition,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        completion: C,
        now: Instant,
    ) -> Result<AppendOutcome, AppendError<C>> {
        self.append_at(tp, timestamp_ms, key, value, headers, completion, || now)
    }

    /// [`append`](Self::append) with the current instant read only when it is needed: when
    /// the record opens a new batch (its creation time, for `linger.ms` and
    /// `delivery.timeout.ms`). A record joining an open batch costs no clock read.
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::producer::accumulator::*;
    ///
    /// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
    /// let tp = TopicPartition::new("t", 0);
    /// let first = acc.append_at(&tp, 0, None, Some(b"a"), &[], (), Instant::now).unwrap();
    /// assert!(first.new_batch);
    /// let second = acc.append_at(&tp, 0, None, Some(b"b"), &[], (), || unreachable!()).unwrap();
    /// assert_eq!(second.batch_index, 1);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn append_at(
        &mut self,
        tp: &TopicPartition,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        completion: C,
        now: impl FnOnce() -> Instant,
    ) -> Result<AppendOutcome, AppendError<C>> {
        if self.closed {
            return Err(AppendError::Closed { completion });
        }
        let batch_size = self.config.batch_size;
        // Fast path: the open batch at the back of the queue has room.
        if let Some(queue) = self.queues.get_mut(tp) {
            let queued = queue.len();
            if let Some(batch) = queue.back_mut()
                && let BatchState::Open(builder) = &mut batch.state
                && builder.has_room_for(batch_size, timestamp_ms, key, value, headers)
            {
                let before = builder.size_in_bytes();
                if let Err(source) = builder.append(timestamp_ms, key, value, headers) {
                    return Err(AppendError::Encode { source, completion });
                }
                let size = builder.size_in_bytes();
                let index = batch.record_count;
                batch.record_count += 1;
                if timestamp_ms > batch.max_timestamp {
                    batch.max_timestamp = timestamp_ms;
                }
                batch.completions.push(completion);
                return Ok(AppendOutcome {
                    batch_index: index,
                    new_batch: false,
                    batches_full: queued > 1 || size >= batch_size,
                    became_full: queued == 1 && before < batch_size && size >= batch_size,
                    appended_bytes: size - before,
                });
            }
        }
        self.append_new_batch(tp, timestamp_ms, key, value, headers, completion, now())
    }

    #[allow(clippy::too_many_arguments)]
    fn append_new_batch(
        &mut self,
        tp: &TopicPartition,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
        completion: C,
        now: Instant,
    ) -> Result<AppendOutcome, AppendError<C>> {
        let alone = RECORD_BATCH_OVERHEAD + BatchBuilder::record_size(0, 0, key, value, headers);
        let max = self.config.max_request_size.min(self.config.buffer_memory);
        if alone > max {
            return Err(AppendError::RecordTooLarge {
                size: alone,
                max,
                completion,
            });
        }
        let reserve = alone.max(self.config.batch_size);
        if reserve > self.buffer_available() {
            self.memory_waiter = Some(reserve);
            return Err(AppendError::BufferFull {
                needed: reserve,
                completion,
            });
        }
        let mut builder =
            BatchBuilder::with_capacity(self.config.batch_options.clone(), reserve + BUFFER_SLACK);
        if let Err(source) = builder.append(timestamp_ms, key, value, headers) {
            return Err(AppendError::Encode { source, completion });
        }
        let size = builder.size_in_bytes();
        // Room up front for as many completions as records like this one fill the batch with
        // (nothing for `C = ()`), so a batch's list does not grow record by record.
        let expected = (self.config.batch_size / (alone - RECORD_BATCH_OVERHEAD).max(1))
            .clamp(1, MAX_COMPLETIONS_CAPACITY);
        let mut completions = match self.spare_completions.pop() {
            Some(mut list) => {
                list.reserve(expected);
                list
            }
            None => Vec::with_capacity(expected),
        };
        completions.push(completion);
        let id = self.next_batch_id;
        self.next_batch_id += 1;
        let batch = ProducerBatch {
            tp: tp.clone(),
            id,
            state: BatchState::Open(builder),
            record_count: 1,
            base_timestamp: timestamp_ms,
            max_timestamp: timestamp_ms,
            created: now,
            last_attempt: now,
            attempts: 0,
            retry_at: None,
            completions,
            producer_state: None,
            reserved: reserve,
        };
        self.used += reserve;
        self.incomplete += 1;
        *self.incomplete_ids.entry(id).or_insert(0) += 1;
        self.memory_waiter = None;
        let queue = match self.queues.get_mut(tp) {
            Some(queue) => queue,
            None => self.queues.entry(tp.clone()).or_default(),
        };
        queue.push_back(batch);
        let full = queue.len() > 1 || size >= self.config.batch_size;
        Ok(AppendOutcome {
            batch_index: 0,
            new_batch: true,
            batches_full: full,
            became_full: full,
            appended_bytes: size,
        })
    }

    /// Which brokers have something to send at `now` (Java's `RecordAccumulator.ready`).
    ///
    /// A partition's first batch is sendable when it is full (another batch is queued behind
    /// it, or it reached `batch.size`), has waited `linger` since creation, a flush is in
    /// progress, an append waits for memory, or the accumulator is closing. A batch being
    /// retried is sendable only once its back-off has passed, whatever else holds. Partitions
    /// for which `muted` is true (in-flight limit, ordering) and partitions whose leader
    /// already counts as ready are skipped; a partition without a leader puts its topic in
    /// `unknown_leaders`.
    pub fn ready(
        &self,
        now: Instant,
        mut leader_of: impl FnMut(&TopicPartition) -> Option<i32>,
        mut muted: impl FnMut(&TopicPartition) -> bool,
    ) -> ReadyCheck {
        let mut check = ReadyCheck::default();
        let eager = self.closed || self.flushes_in_progress > 0 || self.memory_waiter.is_some();
        for (tp, queue) in &self.queues {
            let Some(first) = queue.front() else {
                continue;
            };
            let Some(leader) = leader_of(tp) else {
                if !check.unknown_leaders.contains(&tp.topic) {
                    check.unknown_leaders.insert(tp.topic.clone());
                }
                continue;
            };
            if check.ready_nodes.contains(&leader) || muted(tp) {
                continue;
            }
            let ready_at = match first.retry_at {
                Some(at) => Some(at),
                None => {
                    let full = queue.len() > 1 || first.estimated_size() >= self.config.batch_size;
                    if full || eager {
                        None
                    } else {
                        Some(first.last_attempt + self.config.linger)
                    }
                }
            };
            match ready_at {
                Some(at) if at > now => {
                    let wait = at - now;
                    check.next_check = Some(check.next_check.map_or(wait, |w| w.min(wait)));
                }
                _ => {
                    check.ready_nodes.insert(leader);
                }
            }
        }
        check
    }

    /// Takes batches for one Produce request to broker `node` (Java's `drain` for one node):
    /// at most one batch per partition (its first, unless it is backing off), starting at a
    /// rotating position among `partitions_of_node` so none starves, until the next batch would
    /// take the request past `max_request_size` (the first batch always goes). Each batch is
    /// sealed. Pass only the partitions this node leads that are not muted.
    pub fn drain(
        &mut self,
        node: i32,
        partitions_of_node: &[TopicPartition],
        max_request_size: usize,
        now: Instant,
    ) -> Vec<ProducerBatch<C>> {
        self.drain_with(node, partitions_of_node, max_request_size, now, |_, _| None)
    }

    /// [`drain`](Self::drain), stamping idempotence state: for each batch that has none yet,
    /// `stamp(tp, record_count)` may return the producer id, epoch and base sequence to write
    /// into its header before it is sealed (the caller advances its sequence by
    /// `record_count`). Retried batches keep the state they were first sent with.
    pub fn drain_with(
        &mut self,
        node: i32,
        partitions_of_node: &[TopicPartition],
        max_request_size: usize,
        now: Instant,
        mut stamp: impl FnMut(&TopicPartition, i32) -> Option<BatchProducerState>,
    ) -> Vec<ProducerBatch<C>> {
        self.drain_inner(
            node,
            partitions_of_node,
            max_request_size,
            now,
            &mut stamp,
            true,
        )
    }

    /// [`drain_with`](Self::drain_with) without sealing the batches: the caller seals each one
    /// ([`ProducerBatch::seal`]) before sending it, e.g. outside a lock.
    pub fn drain_unsealed_with(
        &mut self,
        node: i32,
        partitions_of_node: &[TopicPartition],
        max_request_size: usize,
        now: Instant,
        mut stamp: impl FnMut(&TopicPartition, i32) -> Option<BatchProducerState>,
    ) -> Vec<ProducerBatch<C>> {
        self.drain_inner(
            node,
            partitions_of_node,
            max_request_size,
            now,
            &mut stamp,
            false,
        )
    }

    fn drain_inner(
        &mut self,
        node: i32,
        partitions_of_node: &[TopicPartition],
        max_request_size: usize,
        now: Instant,
        stamp: &mut impl FnMut(&TopicPartition, i32) -> Option<BatchProducerState>,
        seal: bool,
    ) -> Vec<ProducerBatch<C>> {
        let n = partitions_of_node.len();
        let mut out = Vec::new();
        if n == 0 {
            return out;
        }
        let start = self.drain_index.get(&node).copied().unwrap_or(0) % n;
        let mut next_start = (start + 1) % n;
        let mut size = 0usize;
        for i in 0..n {
            let k = (start + i) % n;
            let tp = &partitions_of_node[k];
            let Some(queue) = self.queues.get_mut(tp) else {
                continue;
            };
            let Some(first) = queue.front() else {
                continue;
            };
            if first.is_backing_off(now) {
                continue;
            }
            let batch_size = first.estimated_size();
            if !out.is_empty() && size.saturating_add(batch_size) > max_request_size {
                next_start = k;
                break;
            }
            let mut batch = queue.pop_front().expect("front exists");
            if batch.producer_state.is_none()
                && let Some(state) = stamp(tp, batch.record_count)
            {
                // Stamping an open batch cannot fail; a sealed one is re-stamped in place.
                if let Err(e) = batch.set_producer_state(state) {
                    batch.state = BatchState::Failed(e);
                }
            }
            if seal {
                batch.close();
            }
            size = size.saturating_add(batch.estimated_size());
            out.push(batch);
        }
        self.drain_index.insert(node, next_start);
        out
    }

    /// Puts a batch that must be retried back at the front of its partition's queue (in
    /// creation order among retried batches, so the sequence order of idempotent batches
    /// holds however the retries come back), with one more attempt
    /// and a jittered exponential back-off ([`retry_backoff`]) before it is ready again.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch<C>, now: Instant) {
        batch.attempts = batch.attempts.saturating_add(1);
        batch.last_attempt = batch.last_attempt.max(now);
        let backoff = retry_backoff(
            self.config.retry_backoff,
            self.config.retry_backoff_max,
            batch.attempts,
            self.jitter.next_f64(),
        );
        batch.retry_at = Some(now + backoff);
        let queue = self.queues.entry(batch.tp.clone()).or_default();
        // Back in creation order (= sequence order), whatever order retries come back in:
        // usually the front.
        // Queued batches with the same id are later parts of the same split batch: they come
        // after this one, which was drained before them.
        let position = queue.partition_point(|b| b.id < batch.id);
        queue.insert(position, batch);
    }

    fn forget_id(&mut self, id: u64) {
        if let Some(n) = self.incomplete_ids.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.incomplete_ids.remove(&id);
            }
        }
    }

    /// Splits a sealed batch the broker refused as too large (`MESSAGE_TOO_LARGE`) into
    /// batches of at most `batch.size` bytes and at most half its size (at least one record
    /// each), as Java's
    /// `RecordAccumulator.splitAndReenqueue`. The parts keep the parent's creation time,
    /// attempts and place in the queue, carry no producer state (the caller stamps them,
    /// e.g. with [`IdempotenceState::on_split`](crate::producer::idempotence::IdempotenceState::on_split))
    /// and are handed back for [`requeue_split`](Self::requeue_split).
    ///
    /// A batch of one record cannot be split: it comes back as `Err` with no error inside; a
    /// batch whose bytes cannot be read back comes back with the reader's error. Either way the
    /// caller fails it.
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::producer::accumulator::*;
    ///
    /// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
    /// let tp = TopicPartition::new("t", 0);
    /// let now = Instant::now();
    /// for i in 0..3 {
    ///     acc.append(&tp, 0, None, Some(&[i; 40]), &[], i, now).unwrap();
    /// }
    /// acc.close();
    /// let batch = acc.drain(0, &[tp.clone()], 1 << 20, now).pop().unwrap();
    /// assert_eq!(batch.record_count(), 3);
    /// // Say the broker answered MESSAGE_TOO_LARGE.
    /// let parts = acc.split(batch).map_err(|_| "split").unwrap();
    /// // Each part is at most half the refused batch: here one record each.
    /// assert_eq!(parts.iter().map(|b| b.record_count()).collect::<Vec<_>>(), [1, 1, 1]);
    /// acc.requeue_split(parts);
    /// assert_eq!(acc.queued_batches(&tp), 3);
    /// let first = acc.drain(0, &[tp.clone()], 1 << 20, now).pop().unwrap();
    /// assert_eq!(acc.deallocate(first), [0]);
    /// ```
    #[allow(clippy::result_large_err)] // the rare path; the batch is handed back, not copied
    pub fn split(
        &mut self,
        mut batch: ProducerBatch<C>,
    ) -> Result<Vec<ProducerBatch<C>>, Unsplittable<C>> {
        if batch.record_count <= 1 {
            return Err((batch, None));
        }
        let bytes = match &batch.state {
            BatchState::Closed(bytes) => bytes.clone(),
            BatchState::Open(_) | BatchState::Failed(_) => return Err((batch, None)),
        };
        let records = match RecordBatch::parse(&bytes).and_then(|b| b.records()) {
            Ok(records) => records,
            Err(e) => return Err((batch, Some(e))),
        };
        // At most half the refused batch, so every split makes progress even when the batch
        // was within `batch.size` (e.g. a topic's `max.message.bytes` is smaller).
        let batch_size = self.config.batch_size.min((bytes.len() / 2).max(1));
        let mut parts: Vec<ProducerBatch<C>> = Vec::new();
        let mut builder: Option<BatchBuilder> = None;
        let mut counts: Vec<i32> = Vec::new();
        let mut headers: Vec<(Bytes, Option<Bytes>)> = Vec::new();
        for record in records {
            let record = match record {
                Ok(r) => r,
                Err(e) => return Err((batch, Some(e))),
            };
            headers.clear();
            for h in record.headers.iter() {
                match h {
                    Ok(h) => headers.push((h.key.clone(), h.value.clone())),
                    Err(e) => return Err((batch, Some(e))),
                }
            }
            let mut borrowed = Vec::with_capacity(headers.len());
            for (k, v) in &headers {
                let key = std::str::from_utf8(k).unwrap_or_default();
                borrowed.push(Header {
                    key,
                    value: v.as_deref(),
                });
            }
            let (key, value) = (record.key.as_deref(), record.value.as_deref());
            let fits = builder.as_ref().is_some_and(|b| {
                b.has_room_for(batch_size, record.timestamp, key, value, &borrowed)
            });
            if !fits {
                if let Some(b) = builder.take() {
                    parts.push(self.split_part(&batch, b, &mut counts));
                }
                builder = Some(BatchBuilder::with_capacity(
                    self.config.batch_options.clone(),
                    batch_size + BUFFER_SLACK,
                ));
                counts.push(0);
            }
            let b = builder.as_mut().expect("opened above");
            if let Err(e) = b.append(record.timestamp, key, value, &borrowed) {
                return Err((batch, Some(e)));
            }
            *counts.last_mut().expect("pushed above") += 1;
        }
        if let Some(b) = builder.take() {
            parts.push(self.split_part(&batch, b, &mut counts));
        }
        let total: i32 = parts.iter().map(|p| p.record_count).sum();
        if total != batch.record_count || parts.len() < 2 {
            return Err((batch, None));
        }
        // Hand the completions out in record order.
        let mut completions = std::mem::take(&mut batch.completions).into_iter();
        for part in &mut parts {
            part.completions = completions
                .by_ref()
                .take(usize::try_from(part.record_count).unwrap_or(0))
                .collect();
        }
        // The parts replace the parent in the memory and flush accounting.
        for part in &parts {
            self.used += part.reserved;
            self.incomplete += 1;
            *self.incomplete_ids.entry(part.id).or_insert(0) += 1;
        }
        drop(self.deallocate(batch));
        Ok(parts)
    }

    fn split_part(
        &mut self,
        parent: &ProducerBatch<C>,
        builder: BatchBuilder,
        counts: &mut [i32],
    ) -> ProducerBatch<C> {
        let record_count = counts.last().copied().unwrap_or(0);
        let state = match builder.finish() {
            Ok(bytes) => BatchState::Closed(bytes),
            Err(e) => BatchState::Failed(e),
        };
        let reserved = match &state {
            BatchState::Closed(bytes) => bytes.len(),
            _ => 0,
        };
        ProducerBatch {
            tp: parent.tp.clone(),
            id: parent.id,
            state,
            record_count,
            base_timestamp: parent.base_timestamp,
            max_timestamp: parent.max_timestamp,
            created: parent.created,
            last_attempt: parent.last_attempt,
            attempts: parent.attempts,
            retry_at: None,
            completions: Vec::new(),
            producer_state: None,
            reserved,
        }
    }

    /// Puts the parts of a [`split`](Self::split) batch back at the front of their partition's
    /// queue, in record order, ready at once (no back-off, no extra attempt: as Java).
    pub fn requeue_split(&mut self, parts: Vec<ProducerBatch<C>>) {
        let Some(first) = parts.first() else {
            return;
        };
        let queue = self.queues.entry(first.tp.clone()).or_default();
        // Before any queued part of an earlier split of the same batch (those come later in
        // record order), after older batches.
        let position = queue.partition_point(|b| b.id < first.id);
        for (i, part) in parts.into_iter().enumerate() {
            queue.insert(position + i, part);
        }
    }

    /// The first queued batch of `tp` (the next one to drain), if any.
    pub fn front(&self, tp: &TopicPartition) -> Option<&ProducerBatch<C>> {
        self.queues.get(tp).and_then(VecDeque::front)
    }

    /// A flush mark: every batch created before this call has an id below it
    /// ([`flush_pending`](Self::flush_pending)).
    pub fn flush_mark(&self) -> u64 {
        self.next_batch_id
    }

    /// Whether a batch created before `mark` ([`flush_mark`](Self::flush_mark)) is still
    /// incomplete (queued or in flight): what a flush started at `mark` waits for, so records
    /// sent after the flush began do not hold it up (Java's `awaitFlushCompletion`).
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::producer::accumulator::*;
    ///
    /// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
    /// let now = Instant::now();
    /// acc.append(&TopicPartition::new("t", 0), 0, None, Some(b"a"), &[], (), now).unwrap();
    /// let mark = acc.flush_mark();
    /// acc.append(&TopicPartition::new("t", 1), 0, None, Some(b"b"), &[], (), now).unwrap();
    /// assert!(acc.flush_pending(mark));
    /// acc.close();
    /// let first = acc.drain(0, &[TopicPartition::new("t", 0)], 1 << 20, now);
    /// for b in first { acc.deallocate(b); }
    /// assert!(!acc.flush_pending(mark)); // the later batch of partition 1 does not count
    /// ```
    pub fn flush_pending(&self, mark: u64) -> bool {
        self.incomplete_ids
            .first_key_value()
            .is_some_and(|(&id, _)| id < mark)
    }

    /// Gives back a batch's completion list, emptied after its completions ran
    /// ([`ProducerBatch::take_completions`]), for a later batch to reuse instead of allocating
    /// one. At most a few lists are kept.
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::producer::accumulator::*;
    ///
    /// let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
    /// let tp = TopicPartition::new("t", 0);
    /// acc.append(&tp, 0, None, Some(b"v"), &[], 7u32, Instant::now()).unwrap();
    /// acc.close();
    /// let mut batch = acc.drain(0, &[tp], 1 << 20, Instant::now()).pop().unwrap();
    /// let mut done = batch.take_completions();
    /// assert_eq!(done.drain(..).collect::<Vec<_>>(), [7]);
    /// acc.recycle_completions(done);
    /// acc.deallocate(batch);
    /// ```
    pub fn recycle_completions(&mut self, mut list: Vec<C>) {
        if list.capacity() > 0 && self.spare_completions.len() < SPARE_COMPLETION_LISTS {
            list.clear();
            self.spare_completions.push(list);
        }
    }

    /// Releases a finished batch's bytes from `buffer.memory` and returns its completions in
    /// record order. Every batch taken out (drained, expired, aborted) ends here exactly once.
    pub fn deallocate(&mut self, batch: ProducerBatch<C>) -> Vec<C> {
        self.used = self.used.saturating_sub(batch.reserved);
        self.incomplete = self.incomplete.saturating_sub(1);
        self.forget_id(batch.id);
        if self
            .memory_waiter
            .is_some_and(|needed| needed <= self.buffer_available())
        {
            self.memory_waiter = None;
        }
        batch.completions
    }

    /// Removes and returns the queued (not in-flight) batches created at least
    /// `delivery_timeout` ago (Java's `delivery.timeout.ms`), to be failed with a timeout and
    /// deallocated.
    pub fn expired(&mut self, now: Instant) -> Vec<ProducerBatch<C>> {
        let timeout = self.config.delivery_timeout;
        let mut out = Vec::new();
        for queue in self.queues.values_mut() {
            // Queues are in creation order (retries go back in front, in order).
            while queue
                .front()
                .is_some_and(|b| now.saturating_duration_since(b.created) >= timeout)
            {
                out.push(queue.pop_front().expect("front exists"));
            }
        }
        out
    }

    /// When the oldest queued batch reaches `delivery_timeout` (for the sender's timer).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter_map(|q| q.front())
            .map(|b| b.created + self.config.delivery_timeout)
            .min()
    }

    /// Starts a flush: until [`flush_done`](Self::flush_done), batches are ready regardless of
    /// `linger`. Flushes nest.
    pub fn begin_flush(&mut self) {
        self.flushes_in_progress += 1;
    }

    /// Ends one [`begin_flush`](Self::begin_flush).
    pub fn flush_done(&mut self) {
        self.flushes_in_progress = self.flushes_in_progress.saturating_sub(1);
    }

    /// Whether a flush is in progress.
    pub fn flush_in_progress(&self) -> bool {
        self.flushes_in_progress > 0
    }

    /// Closes the accumulator: appends fail with [`AppendError::Closed`] and every queued
    /// batch is ready regardless of `linger`, so the sender can send them all.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Removes every queued batch (for a forced close or a fatal error); the caller fails and
    /// deallocates them.
    pub fn abort_queued(&mut self) -> Vec<ProducerBatch<C>> {
        let mut out = Vec::new();
        for queue in self.queues.values_mut() {
            out.extend(queue.drain(..));
        }
        out
    }

    /// Whether any batch is still queued (not yet drained).
    pub fn has_undrained(&self) -> bool {
        self.queues.values().any(|q| !q.is_empty())
    }

    /// Number of batches created and not yet deallocated (queued or in flight): zero means a
    /// flush or close has nothing left to wait for.
    pub fn incomplete_batches(&self) -> usize {
        self.incomplete
    }

    /// Number of batches queued for `tp`.
    pub fn queued_batches(&self, tp: &TopicPartition) -> usize {
        self.queues.get(tp).map_or(0, VecDeque::len)
    }

    /// Queue depths of `topic`'s partitions that have (or had) a queue, by partition, for
    /// [`Partitioner::update_load_stats`](crate::producer::partitioner::Partitioner::update_load_stats).
    pub fn partition_loads(&self, topic: &str) -> Vec<PartitionLoad> {
        let mut loads: Vec<PartitionLoad> = self
            .queues
            .iter()
            .filter(|(tp, _)| &*tp.topic == topic)
            .map(|(tp, q)| PartitionLoad {
                partition: tp.partition,
                queued_batches: u32::try_from(q.len()).unwrap_or(u32::MAX),
            })
            .collect();
        loads.sort_by_key(|l| l.partition);
        loads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchIter, Compression, RecordBatch};

    const MS: Duration = Duration::from_millis(1);

    fn config() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 1_000,
            linger: 5 * MS,
            buffer_memory: 100_000,
            delivery_timeout: 1_000 * MS,
            retry_backoff: 100 * MS,
            retry_backoff_max: 1_000 * MS,
            max_request_size: 10_000,
            batch_options: BatchOptions::default(),
        }
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    /// Appends a keyless record with a `size`-byte value at timestamp 1000.
    fn put<C>(
        acc: &mut RecordAccumulator<C>,
        tp: &TopicPartition,
        size: usize,
        completion: C,
        now: Instant,
    ) -> AppendOutcome {
        let value = vec![b'x'; size];
        acc.append(tp, 1_000, None, Some(&value), &[], completion, now)
            .unwrap()
    }

    fn decode(batch: &ProducerBatch<impl Sized>) -> RecordBatch {
        let mut it = BatchIter::new(batch.records().expect("sealed").clone());
        let parsed = it.next().expect("one batch").expect("valid batch");
        assert!(it.next().is_none());
        parsed
    }

    #[test]
    fn became_full_marks_only_the_appends_that_fill_a_queue() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let first = put(&mut acc, &tp(0), 100, (), now);
        assert!(first.new_batch && !first.batches_full && !first.became_full);
        // Fill the first batch; the append that opens the second is the one that fills.
        let mut filled = 0;
        for _ in 0..20 {
            let out = put(&mut acc, &tp(0), 100, (), now);
            if out.new_batch {
                assert!(out.batches_full && out.became_full);
                filled += 1;
                break;
            }
            assert!(!out.became_full);
        }
        assert_eq!(filled, 1);
        // Later appends to the full queue stay `batches_full` but fill nothing new.
        for _ in 0..3 {
            let out = put(&mut acc, &tp(0), 100, (), now);
            assert!(out.batches_full && !out.became_full && !out.new_batch);
        }
        // A record that brings the open batch to exactly batch.size fills it.
        let mut exact = RecordAccumulator::new(config());
        put(&mut exact, &tp(1), 10, (), now);
        let open = exact.queues[&tp(1)][0].estimated_size();
        let record = |len: usize| BatchBuilder::record_size(0, 1, None, Some(&vec![0; len]), &[]);
        let len = (0..1_000)
            .find(|&l| open + record(l) == 1_000)
            .expect("a value length that fills the batch exactly");
        let out = put(&mut exact, &tp(1), len, (), now);
        assert!(!out.new_batch && out.batches_full && out.became_full);
    }

    #[test]
    fn append_at_reads_the_clock_only_for_a_new_batch() {
        let mut acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        let mut reads = 0;
        for _ in 0..30 {
            acc.append_at(&tp(0), 1_000, None, Some(&[0; 100]), &[], (), || {
                reads += 1;
                t0
            })
            .unwrap();
        }
        // 30 records of ~108 bytes in 1000-byte batches: 4 batches, 4 clock reads.
        assert_eq!(reads, acc.incomplete_batches());
        assert_eq!(acc.queues[&tp(0)][0].created(), t0);
    }

    #[test]
    fn completion_lists_are_reused_and_presized() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        put(&mut acc, &tp(0), 100, 1u32, now);
        // batch.size 1000 / ~108-byte records: room for 9 completions up front.
        assert!(acc.queues[&tp(0)][0].completions.capacity() >= 9);
        acc.close();
        let mut batch = acc.drain(0, &[tp(0)], 1 << 20, now).pop().unwrap();
        let mut list = batch.take_completions();
        let capacity = list.capacity();
        assert_eq!(list.pop(), Some(1));
        assert!(list.is_empty());
        acc.recycle_completions(list);
        assert!(acc.deallocate(batch).is_empty());
        let mut reopened = RecordAccumulator::new(config());
        std::mem::swap(&mut reopened.spare_completions, &mut acc.spare_completions);
        put(&mut reopened, &tp(0), 100, 2u32, now);
        let reused = &reopened.queues[&tp(0)][0].completions;
        assert_eq!((reused.as_slice(), reused.capacity()), (&[2][..], capacity));
        // The pool is bounded.
        for _ in 0..2 * SPARE_COMPLETION_LISTS {
            reopened.recycle_completions(Vec::with_capacity(4));
        }
        assert_eq!(reopened.spare_completions.len(), SPARE_COMPLETION_LISTS);
    }

    #[test]
    fn batches_fill_to_batch_size_and_roll() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let tp0 = tp(0);
        let mut rolled_at = None;
        for i in 0..40u32 {
            let out = put(&mut acc, &tp0, 100, i, now);
            if i == 0 {
                assert!(out.new_batch);
            } else if out.new_batch {
                rolled_at = Some(i);
                assert_eq!(out.batch_index, 0);
                assert!(out.batches_full, "a second batch means the first is full");
                break;
            } else {
                assert_eq!(out.batch_index, i as i32);
            }
        }
        let rolled_at = rolled_at.expect("the batch rolled");
        assert_eq!(acc.queued_batches(&tp0), 2);
        acc.begin_flush();
        let first = acc
            .drain(1, std::slice::from_ref(&tp0), 1 << 20, now)
            .remove(0);
        assert_eq!(first.record_count() as u32, rolled_at);
        // Full: within batch.size, and one more record would not have fit.
        let size = first.records().unwrap().len();
        assert!(size <= 1_000 && size + 100 > 1_000, "size {size}");
        assert_eq!(first.completions(), (0..rolled_at).collect::<Vec<_>>());
    }

    #[test]
    fn drained_bytes_decode_with_offsets_timestamps_keys_values_headers() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let tp0 = tp(0);
        let headers = [Header {
            key: "h",
            value: Some(b"hv"),
        }];
        acc.append(&tp0, 500, Some(b"k0"), Some(b"v0"), &headers, (), now)
            .unwrap();
        acc.append(&tp0, 507, None, None, &[], (), now).unwrap();
        acc.append(&tp0, 503, Some(b"k2"), Some(b"v2"), &[], (), now)
            .unwrap();
        acc.begin_flush();
        let batch = acc.drain(1, &[tp0], 1 << 20, now).remove(0);
        assert_eq!((batch.base_timestamp(), batch.max_timestamp()), (500, 507));
        let parsed = decode(&batch);
        assert_eq!(parsed.record_count(), 3);
        assert_eq!(parsed.max_timestamp(), 507);
        assert_eq!(parsed.producer_id(), -1);
        let records: Vec<_> = parsed.records().unwrap().map(Result::unwrap).collect();
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 2]);
        let ts: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, [500, 507, 503]);
        assert_eq!(records[0].key.as_deref(), Some(&b"k0"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"v0"[..]));
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].value, None);
        assert_eq!(records[2].value.as_deref(), Some(&b"v2"[..]));
        let h: Vec<_> = records[0].headers.iter().map(Result::unwrap).collect();
        assert_eq!(h.len(), 1);
        assert_eq!(&*h[0].key, b"h");
        assert_eq!(h[0].value.as_deref(), Some(&b"hv"[..]));
        assert_eq!(acc.deallocate(batch).len(), 3);
    }

    #[test]
    fn compressed_batches_are_sealed_with_the_codec() {
        let mut acc = RecordAccumulator::new(AccumulatorConfig {
            batch_options: BatchOptions {
                compression: Compression::Lz4,
                ..BatchOptions::default()
            },
            ..config()
        });
        let now = Instant::now();
        for _ in 0..5 {
            put(&mut acc, &tp(0), 100, (), now);
        }
        acc.close();
        let batch = acc.drain(0, &[tp(0)], 1 << 20, now).remove(0);
        let parsed = decode(&batch);
        assert_eq!(parsed.compression(), Compression::Lz4);
        assert!(batch.records().unwrap().len() < 5 * 100, "compressed");
        let values: Vec<_> = parsed
            .records()
            .unwrap()
            .map(|r| r.unwrap().value)
            .collect();
        assert!(
            values
                .iter()
                .all(|v| v.as_deref() == Some(&[b'x'; 100][..]))
        );
        assert_eq!(values.len(), 5);
    }

    #[test]
    fn linger_readiness_and_next_check() {
        let mut acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        put(&mut acc, &tp(0), 10, (), t0);
        put(&mut acc, &tp(1), 10, (), t0 + 2 * MS);
        let leader = |tp: &TopicPartition| Some(if tp.partition == 0 { 1 } else { 2 });
        let check = acc.ready(t0 + MS, leader, |_| false);
        assert!(check.ready_nodes.is_empty());
        assert_eq!(check.next_check, Some(4 * MS));
        let check = acc.ready(t0 + 5 * MS, leader, |_| false);
        assert_eq!(check.ready_nodes, BTreeSet::from([1]));
        assert_eq!(check.next_check, Some(2 * MS));
        let check = acc.ready(t0 + 7 * MS, leader, |_| false);
        assert_eq!(check.ready_nodes, BTreeSet::from([1, 2]));
        assert_eq!(check.next_check, None);
        // A full batch is ready at once.
        for _ in 0..20 {
            put(&mut acc, &tp(3), 100, (), t0);
        }
        let check = acc.ready(t0, |_| Some(3), |_| false);
        assert_eq!(check.ready_nodes, BTreeSet::from([3]));
    }

    #[test]
    fn muted_partitions_and_unknown_leaders() {
        let mut acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        put(&mut acc, &tp(0), 10, (), t0);
        put(&mut acc, &TopicPartition::new("other", 0), 10, (), t0);
        let later = t0 + 10 * MS;
        let check = acc.ready(later, |tp| (&*tp.topic == "t").then_some(1), |_| false);
        assert_eq!(check.ready_nodes, BTreeSet::from([1]));
        assert_eq!(check.unknown_leaders, BTreeSet::from([Arc::from("other")]));
        let check = acc.ready(later, |_| Some(1), |tp| tp.partition == 0);
        assert!(check.ready_nodes.is_empty());
    }

    #[test]
    fn flush_and_close_ignore_linger() {
        let mut acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        put(&mut acc, &tp(0), 10, (), t0);
        assert!(acc.ready(t0, |_| Some(1), |_| false).ready_nodes.is_empty());
        acc.begin_flush();
        assert!(acc.flush_in_progress());
        assert_eq!(
            acc.ready(t0, |_| Some(1), |_| false).ready_nodes,
            BTreeSet::from([1])
        );
        acc.flush_done();
        assert!(acc.ready(t0, |_| Some(1), |_| false).ready_nodes.is_empty());
        acc.close();
        assert!(acc.is_closed());
        assert_eq!(
            acc.ready(t0, |_| Some(1), |_| false).ready_nodes,
            BTreeSet::from([1])
        );
        let err = acc.append(&tp(0), 0, None, None, &[], (), t0).unwrap_err();
        assert!(matches!(err, AppendError::Closed { .. }));
    }

    #[test]
    fn a_big_record_gets_a_batch_of_its_own() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        put(&mut acc, &tp(0), 10, (), now);
        let big = put(&mut acc, &tp(0), 3_000, (), now);
        assert!(big.new_batch && big.batches_full);
        let after = put(&mut acc, &tp(0), 10, (), now);
        assert!(after.new_batch);
        assert_eq!(acc.queued_batches(&tp(0)), 3);
        acc.close();
        let mut sizes = Vec::new();
        while acc.has_undrained() {
            for b in acc.drain(0, &[tp(0)], 1 << 20, now) {
                sizes.push((b.record_count(), b.reserved_bytes()));
                acc.deallocate(b);
            }
        }
        let big_size =
            RECORD_BATCH_OVERHEAD + BatchBuilder::record_size(0, 0, None, Some(&[0; 3_000]), &[]);
        assert_eq!(sizes, [(1, 1_000), (1, big_size), (1, 1_000)]);
        assert_eq!(acc.buffer_used(), 0);
        assert_eq!(acc.incomplete_batches(), 0);
    }

    #[test]
    fn record_too_large_gives_the_completion_back() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let err = acc
            .append(&tp(0), 0, None, Some(&[0; 10_000]), &[], "cb", now)
            .unwrap_err();
        match err {
            AppendError::RecordTooLarge {
                size,
                max,
                completion,
            } => {
                assert_eq!(max, 10_000);
                assert!(size > 10_000);
                assert_eq!(completion, "cb");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err_message(&mut acc).contains("exceeds"));
        // buffer.memory below max.request.size bounds records too.
        let mut small = RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 2_000,
            ..config()
        });
        let err = small
            .append(&tp(0), 0, None, Some(&[0; 5_000]), &[], (), now)
            .unwrap_err();
        assert!(matches!(
            err,
            AppendError::RecordTooLarge { max: 2_000, .. }
        ));
        assert_eq!(acc.buffer_used(), 0);
        assert!(!acc.has_undrained());
    }

    fn err_message(acc: &mut RecordAccumulator<&'static str>) -> String {
        acc.append(
            &tp(0),
            0,
            None,
            Some(&[0; 20_000]),
            &[],
            "x",
            Instant::now(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn buffer_full_until_deallocate() {
        let mut acc = RecordAccumulator::new(AccumulatorConfig {
            buffer_memory: 3_000,
            ..config()
        });
        let now = Instant::now();
        for p in 0..3 {
            put(&mut acc, &tp(p), 10, p, now);
        }
        assert_eq!((acc.buffer_used(), acc.buffer_available()), (3_000, 0));
        // Appending to an open batch with room needs no new memory.
        put(&mut acc, &tp(0), 10, 10, now);
        let err = acc
            .append(&tp(3), 0, None, Some(b"v"), &[], 3, now)
            .unwrap_err();
        assert!(matches!(err, AppendError::BufferFull { needed: 1_000, .. }));
        assert_eq!(err.into_completion(), 3);
        assert!(acc.buffer_exhausted());
        // Someone waits for memory: everything is sendable, linger or not.
        let check = acc.ready(now, |tp| Some(tp.partition), |_| false);
        assert_eq!(check.ready_nodes, BTreeSet::from([0, 1, 2]));
        let batch = acc.drain(0, &[tp(0)], 1 << 20, now).remove(0);
        assert_eq!(acc.buffer_used(), 3_000, "in flight still holds memory");
        assert_eq!(acc.deallocate(batch), vec![0, 10]);
        assert!(!acc.buffer_exhausted());
        assert_eq!(acc.buffer_available(), 1_000);
        let out = put(&mut acc, &tp(3), 10, 3, now);
        assert!(out.new_batch);
        assert_eq!(acc.buffer_available(), 0);
    }

    #[test]
    fn drain_rotates_across_partitions_and_caps_request_size() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let parts: Vec<_> = (0..3).map(tp).collect();
        for round in 0..3 {
            for p in &parts {
                // 600 bytes: one per batch (two do not fit in 1000).
                put(&mut acc, p, 600, (p.partition, round), now);
            }
        }
        // Each request fits one ~700-byte batch: the partitions take turns.
        let mut order = Vec::new();
        for _ in 0..6 {
            let batches = acc.drain(1, &parts, 1_000, now);
            assert_eq!(batches.len(), 1);
            order.push(batches[0].topic_partition().partition);
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        // A big limit takes one batch per partition, never two of the same one.
        let batches = acc.drain(1, &parts, 1 << 20, now);
        let got: BTreeSet<_> = batches.iter().map(|b| b.completions()[0]).collect();
        assert_eq!(got, BTreeSet::from([(0, 2), (1, 2), (2, 2)]));
        assert!(!acc.has_undrained());
        // The first batch always goes, even above the limit.
        put(&mut acc, &parts[0], 600, (9, 9), now);
        let batches = acc.drain(1, &parts, 10, now);
        assert_eq!(batches.len(), 1);
        assert!(batches[0].records().unwrap().len() > 10);
        assert!(acc.drain(1, &[], 10, now).is_empty());
    }

    #[test]
    fn reenqueue_goes_to_the_front_and_backs_off() {
        let mut acc = RecordAccumulator::with_jitter_seed(config(), 7);
        let t0 = Instant::now();
        let tp0 = tp(0);
        put(&mut acc, &tp0, 10, "a", t0);
        acc.begin_flush();
        let batch = acc
            .drain(1, std::slice::from_ref(&tp0), 1 << 20, t0)
            .remove(0);
        let bytes = batch.records().unwrap().clone();
        put(&mut acc, &tp0, 10, "b", t0);
        let t1 = t0 + 10 * MS;
        acc.reenqueue(batch, t1);
        assert_eq!(acc.queued_batches(&tp0), 2);
        let retry_at = acc.queues[&tp0].front().unwrap().retry_at().unwrap();
        assert_eq!(acc.queues[&tp0].front().unwrap().attempts(), 1);
        let backoff = retry_at - t1;
        assert!(backoff >= 80 * MS && backoff < 120 * MS, "{backoff:?}");
        // Backing off: not ready although flushing and another batch waits behind it.
        let check = acc.ready(t1, |_| Some(1), |_| false);
        assert!(check.ready_nodes.is_empty());
        assert_eq!(check.next_check, Some(backoff));
        assert!(
            acc.drain(1, std::slice::from_ref(&tp0), 1 << 20, t1)
                .is_empty()
        );
        // After the back-off the retried batch goes first, with the same bytes.
        assert!(
            acc.ready(retry_at, |_| Some(1), |_| false)
                .ready_nodes
                .contains(&1)
        );
        let mut batch = acc
            .drain(1, std::slice::from_ref(&tp0), 1 << 20, retry_at)
            .remove(0);
        assert_eq!(batch.completions(), ["a"]);
        assert_eq!(batch.records(), Some(&bytes));
        // Growing, capped (before jitter), jittered back-off.
        let mut last = retry_at;
        for attempt in 2..=8u32 {
            acc.reenqueue(batch, last);
            let b = acc.queues[&tp0].front().unwrap();
            assert_eq!(b.attempts(), attempt);
            let got = b.retry_at().unwrap() - last;
            let term = (100 * MS * 2u32.pow(attempt - 1)).min(1_000 * MS);
            assert!(
                got >= term.mul_f64(0.8) && got < term.mul_f64(1.2),
                "{attempt}: {got:?}"
            );
            last = b.retry_at().unwrap();
            batch = acc
                .drain(1, std::slice::from_ref(&tp0), 1 << 20, last)
                .remove(0);
        }
        // Same seed, same jitter.
        let mut other = RecordAccumulator::with_jitter_seed(config(), 7);
        put(&mut other, &tp0, 10, "a", t0);
        other.close();
        let b = other
            .drain(1, std::slice::from_ref(&tp0), 1 << 20, t0)
            .remove(0);
        other.reenqueue(b, t1);
        assert_eq!(other.queues[&tp0][0].retry_at(), Some(retry_at));
    }

    #[test]
    fn retry_backoff_grows_caps_and_jitters() {
        let (base, max) = (100 * MS, 1_000 * MS);
        assert_eq!(retry_backoff(base, max, 1, 0.5), 100 * MS);
        assert_eq!(retry_backoff(base, max, 2, 0.5), 200 * MS);
        assert_eq!(retry_backoff(base, max, 4, 0.5), 800 * MS);
        assert_eq!(retry_backoff(base, max, 5, 0.5), 1_000 * MS);
        assert_eq!(retry_backoff(base, max, u32::MAX, 0.5), 1_000 * MS);
        assert_eq!(retry_backoff(base, max, 5, 0.0), 800 * MS);
        assert!(retry_backoff(base, max, 5, 0.999_999) < 1_200 * MS);
        assert_eq!(retry_backoff(base, max, 1, f64::NAN), 100 * MS);
        // A max below the base: the base is the cap.
        assert_eq!(retry_backoff(base, 10 * MS, 3, 0.5), 100 * MS);
    }

    #[test]
    fn drain_with_stamps_once_and_reenqueue_keeps_sequence_order() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let tp0 = tp(0);
        let mut next_seq = 0;
        let mut drained = Vec::new();
        for i in 0..3 {
            put(&mut acc, &tp0, 600, i, now); // one record per batch
        }
        acc.close();
        for _ in 0..2 {
            let mut got = acc.drain_with(1, std::slice::from_ref(&tp0), 1 << 20, now, |_, n| {
                let seq = next_seq;
                next_seq += n;
                Some(BatchProducerState {
                    producer_id: 42,
                    producer_epoch: 3,
                    base_sequence: seq,
                    is_transactional: false,
                })
            });
            drained.push(got.remove(0));
        }
        assert_eq!(next_seq, 2);
        let parsed = decode(&drained[1]);
        assert_eq!(
            (
                parsed.producer_id(),
                parsed.producer_epoch(),
                parsed.base_sequence()
            ),
            (42, 3, 1)
        );
        // Retried out of order: they go back in creation (= sequence) order, before the unsent
        // batch.
        let second = drained.pop().unwrap();
        let first = drained.pop().unwrap();
        acc.reenqueue(second, now);
        acc.reenqueue(first, now);
        let order: Vec<_> = acc.queues[&tp0]
            .iter()
            .map(|b| b.completions()[0])
            .collect();
        assert_eq!(order, [0, 1, 2]);
        // A retried batch is not stamped again.
        let later = now + 10 * 1_000 * MS;
        let b = acc
            .drain_with(1, std::slice::from_ref(&tp0), 1 << 20, later, |_, _| {
                panic!("must not restamp")
            })
            .remove(0);
        assert_eq!(b.producer_state().unwrap().base_sequence, 0);
        // Re-stamping a sealed batch (epoch bump) rewrites the header and keeps the CRC valid.
        let mut b = b;
        b.set_producer_state(BatchProducerState {
            producer_id: 42,
            producer_epoch: 4,
            base_sequence: 0,
            is_transactional: false,
        })
        .unwrap();
        assert_eq!(decode(&b).producer_epoch(), 4);
    }

    #[test]
    fn expired_batches_after_delivery_timeout() {
        let mut acc = RecordAccumulator::new(config());
        let t0 = Instant::now();
        put(&mut acc, &tp(0), 600, 0, t0);
        put(&mut acc, &tp(0), 600, 1, t0 + 500 * MS);
        put(&mut acc, &tp(1), 10, 2, t0 + 600 * MS);
        assert_eq!(acc.next_expiry(), Some(t0 + 1_000 * MS));
        assert!(acc.expired(t0 + 999 * MS).is_empty());
        let expired = acc.expired(t0 + 1_000 * MS);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].completions(), [0]);
        assert_eq!(acc.next_expiry(), Some(t0 + 1_500 * MS));
        let used = acc.buffer_used();
        for b in expired {
            acc.deallocate(b);
        }
        assert_eq!(acc.buffer_used(), used - 1_000);
        // In-flight batches are not the accumulator's to expire.
        acc.close();
        let in_flight = acc.drain(1, &[tp(0), tp(1)], 1 << 20, t0 + 1_000 * MS);
        assert_eq!(in_flight.len(), 2);
        assert!(acc.expired(t0 + 10_000 * MS).is_empty());
        assert_eq!(acc.next_expiry(), None);
        assert_eq!(acc.incomplete_batches(), 2);
    }

    #[test]
    fn fire_and_forget_completions_cost_nothing() {
        let mut acc = RecordAccumulator::<()>::new(config());
        let now = Instant::now();
        for _ in 0..5 {
            put(&mut acc, &tp(0), 10, (), now);
        }
        acc.begin_flush();
        let batch = acc.drain(0, &[tp(0)], 1 << 20, now).remove(0);
        assert_eq!(batch.completions().len(), 5);
        assert_eq!(
            batch.completions.capacity(),
            usize::MAX,
            "a Vec<()> never allocates"
        );
        assert_eq!(acc.deallocate(batch).len(), 5);
    }

    #[test]
    fn completions_come_back_in_record_order() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        let mut expected = Vec::new();
        for i in 0..50u32 {
            let p = (i % 2) as i32;
            let out = put(&mut acc, &tp(p), 30, format!("r{i}"), now);
            if p == 0 {
                expected.push((out.batch_index, format!("r{i}")));
            }
        }
        acc.close();
        let mut got = Vec::new();
        while acc.queued_batches(&tp(0)) > 0 {
            for b in acc.drain(0, &[tp(0)], 1 << 20, now) {
                let parsed = decode(&b);
                assert_eq!(parsed.record_count() as usize, b.completions().len());
                for (i, c) in acc.deallocate(b).into_iter().enumerate() {
                    got.push((i as i32, c));
                }
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn partition_loads_and_abort() {
        let mut acc = RecordAccumulator::new(config());
        let now = Instant::now();
        for _ in 0..3 {
            put(&mut acc, &tp(2), 600, (), now);
        }
        put(&mut acc, &tp(0), 10, (), now);
        put(&mut acc, &TopicPartition::new("u", 1), 10, (), now);
        assert_eq!(
            acc.partition_loads("t"),
            [
                PartitionLoad {
                    partition: 0,
                    queued_batches: 1
                },
                PartitionLoad {
                    partition: 2,
                    queued_batches: 3
                }
            ]
        );
        let aborted = acc.abort_queued();
        assert_eq!(aborted.len(), 5);
        for b in aborted {
            acc.deallocate(b);
        }
        assert_eq!((acc.buffer_used(), acc.incomplete_batches()), (0, 0));
        assert!(!acc.has_undrained());
    }

    #[test]
    fn config_from_producer_config() {
        let config = ProducerConfig::builder()
            .bootstrap_servers("localhost:9092")
            .linger(Duration::from_millis(20))
            .batch_size(64 * 1024)
            .compression(Compression::Zstd)
            .build()
            .unwrap();
        let acc = AccumulatorConfig::from_producer_config(&config);
        assert_eq!((acc.linger, acc.batch_size), (20 * MS, 64 * 1024));
        assert_eq!(acc.batch_options.compression, Compression::Zstd);
    }
}
