//! Partitioners: which partition of its topic a producer record goes to.
//!
//! Owns Kafka's [`murmur2`] hash and the Java key placement ([`partition_for_key`]), the
//! [`Partitioner`] trait, the built-in [`DefaultPartitioner`] (keyed → murmur2, keyless →
//! sticky, KIP-480/794) and [`RoundRobinPartitioner`], and [`assign_partition`] (explicit
//! partition first, as Java's `KafkaProducer.partition`). It must not touch I/O, metadata
//! fetching, serialization or batches: the caller passes what metadata knows
//! ([`TopicPartitions`]) and reports appends back ([`Partitioner::on_append`]).
//!
//! # Calling protocol
//!
//! A partitioner takes `&mut self`: the producer calls it under the lock that guards the
//! append, so "choose the sticky partition, append, count the bytes, maybe switch" is one step
//! and needs none of Java's re-check-after-locking loop. Per record the producer does:
//!
//! 1. `p = assign_partition(&mut partitioner, topic, record.partition, key, value, &partitions)?`
//! 2. append the record to `p`'s open batch;
//! 3. `partitioner.on_append(topic, p, appended_bytes, batches_full)`;
//!
//! and, when it computes queue depths (Java does it in `RecordAccumulator.ready`),
//! `partitioner.update_load_stats(topic, num_partitions, &loads)` for adaptive partitioning.
//!
//! ```
//! use kafkit::producer::partitioner::{assign_partition, DefaultPartitioner, Partitioner, TopicPartitions};
//!
//! let partitions = TopicPartitions::all_available(12)?;
//! let mut partitioner = DefaultPartitioner::new(16_384);
//! // Keyed: the same partition as the Java client and kafka-python.
//! assert_eq!(assign_partition(&mut partitioner, "t", None, Some(b"foobar"), None, &partitions)?, 6);
//! // Explicit: used as is (checked against the partition count).
//! assert_eq!(assign_partition(&mut partitioner, "t", Some(3), Some(b"foobar"), None, &partitions)?, 3);
//! // Keyless: sticky; stays put until batch.size bytes went to it.
//! let p = assign_partition(&mut partitioner, "t", None, None, Some(b"v"), &partitions)?;
//! partitioner.on_append("t", p, 100, false);
//! assert_eq!(assign_partition(&mut partitioner, "t", None, None, Some(b"v"), &partitions)?, p);
//! # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
//! ```

use std::collections::HashMap;

use crate::hash::FastMap;
use std::hash::{BuildHasher, RandomState};

/// The seed of Kafka's murmur2 (`Utils.murmur2`).
pub const MURMUR2_SEED: u32 = 0x9747_b28c;

const MURMUR2_M: u32 = 0x5bd1_e995;
const MURMUR2_R: u32 = 24;

/// Kafka's 32-bit murmur2 hash, bit for bit as Java's `Utils.murmur2` (seed
/// [`MURMUR2_SEED`], little-endian 4-byte blocks, signed result).
///
/// ```
/// use kafkit::producer::partitioner::murmur2;
/// assert_eq!(murmur2(b"21"), -973932308);
/// assert_eq!(murmur2(b""), 275646681);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    // Java computes `seed ^ length` with an int length; arrays never exceed i32::MAX there.
    let mut h = MURMUR2_SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let &[b0, b1, b2, b3] = block else {
            continue; // chunks_exact yields exactly 4 bytes
        };
        let mut k = u32::from_le_bytes([b0, b1, b2, b3]);
        k = k.wrapping_mul(MURMUR2_M);
        k ^= k >> MURMUR2_R;
        k = k.wrapping_mul(MURMUR2_M);
        h = h.wrapping_mul(MURMUR2_M);
        h ^= k;
    }
    match *blocks.remainder() {
        [a] => h = (h ^ u32::from(a)).wrapping_mul(MURMUR2_M),
        [a, b] => h = (h ^ (u32::from(b) << 8) ^ u32::from(a)).wrapping_mul(MURMUR2_M),
        [a, b, c] => {
            h = (h ^ (u32::from(c) << 16) ^ (u32::from(b) << 8) ^ u32::from(a))
                .wrapping_mul(MURMUR2_M)
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(MURMUR2_M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clear the sign bit (`n & 0x7fffffff`), not `abs` (which would
/// overflow for `i32::MIN`).
///
/// ```
/// use kafkit::producer::partitioner::to_positive;
/// assert_eq!(to_positive(-1), i32::MAX);
/// assert_eq!(to_positive(i32::MIN), 0);
/// assert_eq!(to_positive(5), 5);
/// ```
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// Java's placement of a keyed record: `to_positive(murmur2(key)) % num_partitions`, over
/// **all** partitions of the topic (available or not). `None` when `num_partitions < 1`.
///
/// ```
/// use kafkit::producer::partitioner::partition_for_key;
/// assert_eq!(partition_for_key(b"foobar", 12), Some(6));
/// assert_eq!(partition_for_key(b"foobar", 0), None);
/// ```
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> Option<i32> {
    (num_partitions >= 1).then(|| to_positive(murmur2(key)) % num_partitions)
}

/// Why a record could not be placed.
///
/// ```
/// use kafkit::producer::partitioner::{assign_partition, DefaultPartitioner, PartitionError, TopicPartitions};
/// let partitions = TopicPartitions::all_available(3)?;
/// let err = assign_partition(&mut DefaultPartitioner::default(), "t", Some(3), None, None, &partitions)
///     .unwrap_err();
/// assert_eq!(err, PartitionError::RecordPartitionOutOfRange { partition: 3, num_partitions: 3 });
/// # Ok::<(), PartitionError>(())
/// ```
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionError {
    /// A topic must have at least one partition.
    #[error("a topic needs at least one partition, metadata says {0}")]
    NoPartitions(i32),
    /// An available partition id outside `[0, num_partitions)`.
    #[error("available partition {partition} is not in the range [0...{num_partitions})")]
    AvailableOutOfRange {
        /// The partition id.
        partition: i32,
        /// The topic's partition count.
        num_partitions: i32,
    },
    /// The record's explicit partition does not exist (Java: "Invalid partition given with
    /// record").
    #[error(
        "invalid partition given with record: {partition} is not in the range [0...{num_partitions})"
    )]
    RecordPartitionOutOfRange {
        /// The partition the record asked for.
        partition: i32,
        /// The topic's partition count.
        num_partitions: i32,
    },
    /// A partitioner returned a partition that does not exist.
    #[error(
        "the partitioner returned partition {partition}, not in the range [0...{num_partitions})"
    )]
    PartitionerResultOutOfRange {
        /// The partition the partitioner returned.
        partition: i32,
        /// The topic's partition count.
        num_partitions: i32,
    },
}

/// The partitions of one topic as the producer's metadata knows them: how many there are and
/// which have a leader ("available", Java's `Cluster.availablePartitionsForTopic`).
///
/// Build it once per metadata update, not per record: [`new`](Self::new) validates, sorts and
/// de-duplicates the available ids.
///
/// ```
/// use kafkit::producer::partitioner::TopicPartitions;
/// let p = TopicPartitions::new(6, [4, 1, 4, 2])?;
/// assert_eq!(p.num_partitions(), 6);
/// assert_eq!(p.available(), &[1, 2, 4]);
/// assert!(p.is_available(2) && !p.is_available(3));
/// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitions {
    num_partitions: i32,
    available: Vec<i32>,
}

impl TopicPartitions {
    /// `num_partitions` partitions of which those in `available` have a leader.
    pub fn new(
        num_partitions: i32,
        available: impl IntoIterator<Item = i32>,
    ) -> Result<Self, PartitionError> {
        if num_partitions < 1 {
            return Err(PartitionError::NoPartitions(num_partitions));
        }
        let mut available: Vec<i32> = available.into_iter().collect();
        if let Some(&partition) = available.iter().find(|p| !(0..num_partitions).contains(*p)) {
            return Err(PartitionError::AvailableOutOfRange {
                partition,
                num_partitions,
            });
        }
        available.sort_unstable();
        available.dedup();
        Ok(TopicPartitions {
            num_partitions,
            available,
        })
    }

    /// `num_partitions` partitions, all with a leader.
    ///
    /// ```
    /// # use kafkit::producer::partitioner::TopicPartitions;
    /// assert_eq!(TopicPartitions::all_available(3)?.available(), &[0, 1, 2]);
    /// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
    /// ```
    pub fn all_available(num_partitions: i32) -> Result<Self, PartitionError> {
        Self::new(num_partitions, 0..num_partitions.max(0))
    }

    /// The partition count (at least 1).
    pub fn num_partitions(&self) -> i32 {
        self.num_partitions
    }

    /// The partitions with a leader, ascending (may be empty).
    pub fn available(&self) -> &[i32] {
        &self.available
    }

    /// Whether `partition` has a leader.
    pub fn is_available(&self, partition: i32) -> bool {
        self.available.binary_search(&partition).is_ok()
    }

    /// A partition chosen by `random` (any non-negative number) uniformly among the available
    /// partitions, or among all when none is available (Java's sticky and round-robin choice).
    fn pick(&self, random: i32) -> i32 {
        let random = to_positive(random);
        if self.available.is_empty() {
            random % self.num_partitions
        } else {
            self.available[random as usize % self.available.len()]
        }
    }
}

/// The queue depth of one partition, for adaptive partitioning (KIP-794): how many batches wait
/// in the producer for that partition.
///
/// ```
/// use kafkit::producer::partitioner::PartitionLoad;
/// let load = PartitionLoad { partition: 0, queued_batches: 3 };
/// # let _ = load;
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PartitionLoad {
    /// The partition.
    pub partition: i32,
    /// Batches queued for it (Java: the partition deque's size).
    pub queued_batches: u32,
}

/// Chooses a partition for each record that has no explicit one (Java's `Partitioner`), and
/// learns from what the producer appended.
///
/// Called under the producer's append lock, so `&mut self` (see the
/// [module docs](self#calling-protocol)). A custom partitioner usually only implements
/// [`partition`](Self::partition):
///
/// ```
/// use kafkit::producer::partitioner::{assign_partition, Partitioner, TopicPartitions};
///
/// /// Sends records whose key starts with "vip-" to partition 0, everything else elsewhere.
/// struct VipFirst;
/// impl Partitioner for VipFirst {
///     fn partition(&mut self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>,
///                  partitions: &TopicPartitions) -> i32 {
///         match key {
///             Some(k) if k.starts_with(b"vip-") => 0,
///             _ => partitions.num_partitions() - 1,
///         }
///     }
/// }
///
/// let partitions = TopicPartitions::all_available(4)?;
/// assert_eq!(assign_partition(&mut VipFirst, "t", None, Some(b"vip-1"), None, &partitions)?, 0);
/// assert_eq!(assign_partition(&mut VipFirst, "t", None, None, None, &partitions)?, 3);
/// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
/// ```
pub trait Partitioner: Send {
    /// The partition for a record of `topic` with serialized `key` and `value` (`None` is
    /// null). Must be in `[0, partitions.num_partitions())`; [`assign_partition`] rejects
    /// anything else. Not called for records with an explicit partition.
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> i32;

    /// After every append: `appended_bytes` went into `partition`'s queue (Java's
    /// `appendedBytes`: the record's size in the batch, plus the batch header when the append
    /// opened a new batch), and `batches_full` says whether that queue now holds only full
    /// batches (Java's `allBatchesFull`: its last batch is full, or a new one would be needed).
    /// The default ignores it.
    fn on_append(
        &mut self,
        topic: &str,
        partition: i32,
        appended_bytes: usize,
        batches_full: bool,
    ) {
        let _ = (topic, partition, appended_bytes, batches_full);
    }

    /// The current queue depths of `topic`'s partitions that have a leader and are not excluded
    /// (e.g. by `partitioner.availability.timeout.ms`); an empty slice turns adaptive weighting
    /// off. The default ignores it.
    fn update_load_stats(&mut self, topic: &str, num_partitions: i32, loads: &[PartitionLoad]) {
        let _ = (topic, num_partitions, loads);
    }
}

impl<P: Partitioner + ?Sized> Partitioner for Box<P> {
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> i32 {
        (**self).partition(topic, key, value, partitions)
    }
    fn on_append(
        &mut self,
        topic: &str,
        partition: i32,
        appended_bytes: usize,
        batches_full: bool,
    ) {
        (**self).on_append(topic, partition, appended_bytes, batches_full)
    }
    fn update_load_stats(&mut self, topic: &str, num_partitions: i32, loads: &[PartitionLoad]) {
        (**self).update_load_stats(topic, num_partitions, loads)
    }
}

/// Place a record as Java's `KafkaProducer.partition` does: an explicit `record_partition` is
/// used as is (it must exist); otherwise `partitioner` chooses, and its answer must exist too.
///
/// ```
/// use kafkit::producer::partitioner::{assign_partition, RoundRobinPartitioner, TopicPartitions};
/// let partitions = TopicPartitions::all_available(2)?;
/// let mut rr = RoundRobinPartitioner::new();
/// assert_eq!(assign_partition(&mut rr, "t", Some(1), None, None, &partitions)?, 1);
/// assert_eq!(assign_partition(&mut rr, "t", None, None, None, &partitions)?, 0);
/// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
/// ```
pub fn assign_partition<P: Partitioner + ?Sized>(
    partitioner: &mut P,
    topic: &str,
    record_partition: Option<i32>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    partitions: &TopicPartitions,
) -> Result<i32, PartitionError> {
    let num_partitions = partitions.num_partitions();
    if let Some(partition) = record_partition {
        return if (0..num_partitions).contains(&partition) {
            Ok(partition)
        } else {
            Err(PartitionError::RecordPartitionOutOfRange {
                partition,
                num_partitions,
            })
        };
    }
    let partition = partitioner.partition(topic, key, value, partitions);
    if (0..num_partitions).contains(&partition) {
        Ok(partition)
    } else {
        Err(PartitionError::PartitionerResultOutOfRange {
            partition,
            num_partitions,
        })
    }
}

/// SplitMix64: a tiny, fast, seedable generator; plenty for spreading partitions.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn from_entropy() -> Self {
        SplitMix64(RandomState::new().hash_one(0x6b61_666b_6974_u64))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniformly random non-negative i32 (Java: `toPositive(nextInt())`).
    fn next_positive_i32(&mut self) -> i32 {
        (self.next_u64() >> 33) as i32
    }
}

/// The cumulative frequency table of KIP-794 adaptive partitioning: partition `ids[i]` is
/// chosen for random numbers in `[cumulative[i-1], cumulative[i])`.
#[derive(Clone, Debug, Default)]
struct LoadTable {
    active: bool,
    cumulative: Vec<u64>,
    ids: Vec<i32>,
}

impl LoadTable {
    /// Java's `BuiltInPartitioner.updatePartitionLoadStats`: weight each partition by
    /// `max_queue + 1 - queue`, so shorter queues (faster brokers) get more records.
    fn update(&mut self, num_partitions: i32, loads: &[PartitionLoad]) {
        self.active = false;
        self.cumulative.clear();
        self.ids.clear();
        let loads = || {
            loads
                .iter()
                .filter(move |l| (0..num_partitions).contains(&l.partition))
        };
        let count = loads().count();
        if count == 0 || num_partitions < 2 {
            return;
        }
        let Some(max) = loads().map(|l| l.queued_batches).max() else {
            return;
        };
        let all_equal = loads().all(|l| l.queued_batches == max);
        if all_equal && count >= num_partitions as usize {
            return; // no partition excluded and all equal: plain uniform
        }
        let mut running = 0u64;
        for load in loads() {
            running += u64::from(max - load.queued_batches) + 1;
            self.cumulative.push(running);
            self.ids.push(load.partition);
        }
        self.active = true;
    }

    /// The index whose range holds `weighted` (the first cumulative value strictly greater).
    fn index_for(&self, weighted: u64) -> usize {
        self.cumulative.partition_point(|&c| c <= weighted)
    }

    fn pick(&self, random: i32) -> Option<i32> {
        let total = *self.cumulative.last()?;
        let weighted = to_positive(random) as u64 % total;
        self.ids.get(self.index_for(weighted)).copied()
    }
}

/// Per-topic sticky state of the [`DefaultPartitioner`].
#[derive(Clone, Debug, Default)]
struct StickyTopic {
    /// The partition keyless records currently go to; `None` picks a new one.
    current: Option<i32>,
    /// Bytes appended to `current` since it was picked.
    produced: usize,
    /// Whether the last `partition` call for this topic returned the sticky choice (so its
    /// append counts; keyed and explicit records do not).
    last_was_sticky: bool,
    load: LoadTable,
}

/// Java's built-in partitioning (`KafkaProducer` with no `partitioner.class`, 3.3+):
///
/// - **keyed** records: [`partition_for_key`] (murmur2 over all partitions), unless
///   `partitioner.ignore.keys` ([`ignore_keys`](Self::ignore_keys)) is set;
/// - **keyless** records: sticky (KIP-480, reworked by KIP-794's `BuiltInPartitioner`): every
///   keyless record goes to the topic's current sticky partition; once `batch.size` bytes went
///   to it *and* its queue holds only full batches (or once `2 × batch.size` bytes went to it
///   regardless), the next keyless record picks a new one. The pick is uniform over available
///   partitions (all partitions when none is available) and may land on the same partition
///   again, as in Java. With adaptive partitioning ([`adaptive`](Self::adaptive), on by
///   default as `partitioner.adaptive.partitioning.enable`) and load stats from
///   [`Partitioner::update_load_stats`], the pick is weighted by `max_queue + 1 - queue`.
///
/// One deliberate difference from Java: when the current sticky partition loses its leader
/// (drops out of [`TopicPartitions::available`] while others are available), the next keyless
/// record picks again instead of queueing behind the missing leader.
///
/// Explicit partitions are handled by [`assign_partition`] before this is called.
///
/// ```
/// use kafkit::producer::partitioner::{DefaultPartitioner, Partitioner, TopicPartitions};
///
/// let partitions = TopicPartitions::new(4, [0, 2])?; // partitions 1 and 3 have no leader
/// let mut p = DefaultPartitioner::new(1_000).with_seed(7);
/// let sticky = p.partition("t", None, None, &partitions);
/// assert!(sticky == 0 || sticky == 2);
/// p.on_append("t", sticky, 999, true);
/// assert_eq!(p.partition("t", None, None, &partitions), sticky); // 999 < batch.size
/// p.on_append("t", sticky, 1, true); // batch.size reached, batches full: switch
/// assert_eq!(p.sticky_partition("t"), None);
/// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DefaultPartitioner {
    batch_size: usize,
    ignore_keys: bool,
    adaptive: bool,
    rng: SplitMix64,
    /// Each topic's index in `states` (topics are never removed, so indexes hold).
    topics: FastMap<Box<str>, usize>,
    /// Per-topic sticky state, with the topic's name.
    states: Vec<(Box<str>, StickyTopic)>,
    /// Index in `states` of the topic looked up last: a record of the same topic, as the next
    /// one usually is, finds its state with one name comparison instead of a hash lookup.
    last: usize,
}

impl Default for DefaultPartitioner {
    /// Java's defaults: `batch.size=16384`, keys used, adaptive on.
    fn default() -> Self {
        Self::new(16_384)
    }
}

impl DefaultPartitioner {
    /// Switch keyless records after `batch_size` bytes (`batch.size`; at least 1), randomly
    /// seeded.
    ///
    /// ```
    /// # use kafkit::producer::partitioner::DefaultPartitioner;
    /// let p = DefaultPartitioner::new(32_768).ignore_keys(true).adaptive(false);
    /// # let _ = p;
    /// ```
    pub fn new(batch_size: usize) -> Self {
        DefaultPartitioner {
            batch_size: batch_size.max(1),
            ignore_keys: false,
            adaptive: true,
            rng: SplitMix64::from_entropy(),
            topics: FastMap::default(),
            states: Vec::new(),
            last: 0,
        }
    }

    /// Seed the random choice of sticky partitions (for reproducible tests).
    ///
    /// ```
    /// # use kafkit::producer::partitioner::{DefaultPartitioner, Partitioner, TopicPartitions};
    /// let all = TopicPartitions::all_available(100)?;
    /// let a = DefaultPartitioner::new(1).with_seed(1).partition("t", None, None, &all);
    /// let b = DefaultPartitioner::new(1).with_seed(1).partition("t", None, None, &all);
    /// assert_eq!(a, b);
    /// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix64(seed);
        self
    }

    /// `partitioner.ignore.keys`: place keyed records like keyless ones (sticky), as Java's
    /// deprecated `UniformStickyPartitioner` did.
    ///
    /// ```
    /// # use kafkit::producer::partitioner::{DefaultPartitioner, Partitioner, TopicPartitions};
    /// let all = TopicPartitions::all_available(8)?;
    /// let mut p = DefaultPartitioner::new(16_384).ignore_keys(true);
    /// let first = p.partition("t", Some(b"a"), None, &all);
    /// assert_eq!(p.partition("t", Some(b"b"), None, &all), first);
    /// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
    /// ```
    pub fn ignore_keys(mut self, ignore: bool) -> Self {
        self.ignore_keys = ignore;
        self
    }

    /// `partitioner.adaptive.partitioning.enable`: weight sticky picks by queue depth when load
    /// stats are supplied (on by default).
    pub fn adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        if !adaptive {
            for (_, topic) in &mut self.states {
                topic.load = LoadTable::default();
            }
        }
        self
    }

    /// The topic's current sticky partition, if one is chosen (for metrics and tests).
    ///
    /// ```
    /// # use kafkit::producer::partitioner::DefaultPartitioner;
    /// assert_eq!(DefaultPartitioner::default().sticky_partition("t"), None);
    /// ```
    pub fn sticky_partition(&self, topic: &str) -> Option<i32> {
        let index = *self.topics.get(topic)?;
        self.states[index].1.current
    }

    /// `topic`'s index in `states`, if it has state.
    fn find(&mut self, topic: &str) -> Option<usize> {
        if self
            .states
            .get(self.last)
            .is_some_and(|(name, _)| **name == *topic)
        {
            return Some(self.last);
        }
        let index = *self.topics.get(topic)?;
        self.last = index;
        Some(index)
    }

    /// `topic`'s index in `states`, adding a fresh state for a new topic.
    fn find_or_insert(&mut self, topic: &str) -> usize {
        if let Some(index) = self.find(topic) {
            return index;
        }
        let index = self.states.len();
        self.states.push((topic.into(), StickyTopic::default()));
        self.topics.insert(topic.into(), index);
        self.last = index;
        index
    }

    fn sticky(rng: &mut SplitMix64, state: &mut StickyTopic, partitions: &TopicPartitions) -> i32 {
        state.last_was_sticky = true;
        if let Some(current) = state.current {
            let still_there = current < partitions.num_partitions()
                && (partitions.available().is_empty() || partitions.is_available(current));
            if still_there {
                return current;
            }
        }
        let random = rng.next_positive_i32();
        let weighted = if state.load.active {
            state
                .load
                .pick(random)
                .filter(|&p| p < partitions.num_partitions())
        } else {
            None
        };
        let partition = weighted.unwrap_or_else(|| partitions.pick(random));
        state.current = Some(partition);
        state.produced = 0;
        partition
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> i32 {
        if let (Some(key), false) = (key, self.ignore_keys) {
            if let Some(index) = self.find(topic) {
                self.states[index].1.last_was_sticky = false;
            }
            return to_positive(murmur2(key)) % partitions.num_partitions();
        }
        let index = self.find_or_insert(topic);
        Self::sticky(&mut self.rng, &mut self.states[index].1, partitions)
    }

    fn on_append(
        &mut self,
        topic: &str,
        partition: i32,
        appended_bytes: usize,
        batches_full: bool,
    ) {
        let Some(index) = self.find(topic) else {
            return;
        };
        let state = &mut self.states[index].1;
        let counts = state.last_was_sticky && state.current == Some(partition);
        state.last_was_sticky = false;
        if !counts {
            return;
        }
        state.produced = state.produced.saturating_add(appended_bytes);
        // Java: switch once batch.size bytes went to the partition and its batches are full,
        // or after 2 × batch.size regardless (so a never-full batch cannot pin it forever).
        if (state.produced >= self.batch_size && batches_full)
            || state.produced >= self.batch_size.saturating_mul(2)
        {
            state.current = None;
            state.produced = 0;
        }
    }

    fn update_load_stats(&mut self, topic: &str, num_partitions: i32, loads: &[PartitionLoad]) {
        if !self.adaptive {
            return;
        }
        if loads.is_empty() && self.find(topic).is_none() {
            return;
        }
        let index = self.find_or_insert(topic);
        self.states[index].1.load.update(num_partitions, loads);
    }
}

/// Java's `RoundRobinPartitioner`: each record of a topic (keyed or not) goes to the next
/// partition in turn, cycling over the available partitions, or over all partitions when none
/// is available. One counter per topic.
///
/// (Java's version can skip partitions when its deprecated `onNewBatch` re-partitions a record,
/// KAFKA-9965; kafkit has no such callback, so the cycle is exact.)
///
/// ```
/// use kafkit::producer::partitioner::{Partitioner, RoundRobinPartitioner, TopicPartitions};
/// let partitions = TopicPartitions::new(4, [0, 1, 3])?;
/// let mut rr = RoundRobinPartitioner::new();
/// let picks: Vec<i32> = (0..5).map(|_| rr.partition("t", None, None, &partitions)).collect();
/// assert_eq!(picks, [0, 1, 3, 0, 1]);
/// # Ok::<(), kafkit::producer::partitioner::PartitionError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: HashMap<String, i32>,
}

impl RoundRobinPartitioner {
    /// Counters start at zero, so each topic's first record goes to its first partition.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &mut self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: &TopicPartitions,
    ) -> i32 {
        let next = match self.counters.get_mut(topic) {
            Some(counter) => {
                let next = *counter;
                *counter = next.wrapping_add(1);
                next
            }
            None => {
                self.counters.insert(topic.to_owned(), 1);
                0
            }
        };
        partitions.pick(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line-by-line transcription of Java's `Utils.murmur2` in Java's int arithmetic
    /// (wrapping, `>>>` as a logical shift, bytes sign-extended then masked), independent of
    /// the optimised version above.
    fn java_murmur2(data: &[u8]) -> i32 {
        let length = data.len() as i32;
        let seed: i32 = 0x9747_b28c_u32 as i32;
        let m: i32 = 0x5bd1_e995;
        let r = 24;
        let byte = |i: i32| i32::from(data[i as usize] as i8); // Java byte
        let ushr = |x: i32, n: u32| ((x as u32) >> n) as i32; // Java >>>

        let mut h: i32 = seed ^ length;
        let length4 = length / 4;
        for i in 0..length4 {
            let i4 = i * 4;
            let mut k: i32 = (byte(i4) & 0xff)
                + ((byte(i4 + 1) & 0xff) << 8)
                + ((byte(i4 + 2) & 0xff) << 16)
                + ((byte(i4 + 3) & 0xff) << 24);
            k = k.wrapping_mul(m);
            k ^= ushr(k, r);
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        // Java's switch with fall-through.
        let rem = length % 4;
        if rem >= 3 {
            h ^= (byte((length & !3) + 2) & 0xff) << 16;
        }
        if rem >= 2 {
            h ^= (byte((length & !3) + 1) & 0xff) << 8;
        }
        if rem >= 1 {
            h ^= byte(length & !3) & 0xff;
            h = h.wrapping_mul(m);
        }
        h ^= ushr(h, 13);
        h = h.wrapping_mul(m);
        h ^= ushr(h, 15);
        h
    }

    /// From ../shared/KAFKA.md (the Java client's own test vectors).
    const KAFKA_VECTORS: [(&[u8], i32); 6] = [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"abc", 479470107),
        (b"", 275646681),
    ];

    #[test]
    fn murmur2_matches_the_kafka_vectors() {
        for (key, hash) in KAFKA_VECTORS {
            assert_eq!(murmur2(key), hash, "{:?}", String::from_utf8_lossy(key));
            assert_eq!(java_murmur2(key), hash, "reference {key:?}");
        }
    }

    #[test]
    fn murmur2_tails_high_bytes_and_long_keys() {
        // Computed with kafka-python's pure-Python murmur2 (a third implementation),
        // converted to signed. Covers every tail length 0..=3 and bytes >= 0x80.
        let vectors: [(&[u8], i32); 15] = [
            (b"a", -1563381124),
            (b"ab", 316155434),
            (b"abcd", -1323649548),
            (b"abcde", 461995741),
            (b"abcdef", 1870650108),
            (b"abcdefg", -346467175),
            (b"\x00", 375494588),
            (b"\x00\x00\x00\x00", 850957120),
            (b"\xff", -311467685),
            (b"\x80\x81", 1642145146),
            (b"\xff\xfe\xfd", 998637092),
            (b"\xf0\x9f\x92\xa9\x80", 1783638710),
            (b"kafkit-key-000001", 1042296534),
            (b"The quick brown fox jumps over the lazy dog", 495243318),
            (&[], 275646681),
        ];
        for (key, hash) in vectors {
            assert_eq!(murmur2(key), hash, "{key:?}");
            assert_eq!(java_murmur2(key), hash, "reference {key:?}");
        }
        let all_bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(murmur2(&all_bytes), -1948347274);
    }

    #[test]
    fn murmur2_agrees_with_the_reference_on_pseudo_random_keys() {
        let mut rng = SplitMix64(42);
        for len in 0..=300usize {
            for _ in 0..8 {
                let key: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                assert_eq!(murmur2(&key), java_murmur2(&key), "{key:?}");
            }
        }
    }

    #[test]
    fn key_placement_is_over_all_partitions() {
        assert_eq!(partition_for_key(b"21", 12), Some(0));
        assert_eq!(partition_for_key(b"foobar", 12), Some(6));
        assert_eq!(partition_for_key(b"a-little-bit-long-string", 12), Some(8));
        assert_eq!(
            partition_for_key(b"a-little-bit-longer-string", 12),
            Some(11)
        );
        assert_eq!(partition_for_key(b"abc", 12), Some(3));
        assert_eq!(partition_for_key(b"", 12), Some(9));
        assert_eq!(partition_for_key(b"x", 1), Some(0));
        assert_eq!(partition_for_key(b"x", -3), None);

        // Unavailable partitions do not move keyed records.
        let some_down = TopicPartitions::new(12, [1, 2]).unwrap();
        let mut p = DefaultPartitioner::default();
        for (key, hash) in KAFKA_VECTORS {
            let expected = (hash & 0x7fff_ffff) % 12;
            assert_eq!(p.partition("t", Some(key), None, &some_down), expected);
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(-973932308), -973932308 & 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
    }

    #[test]
    fn topic_partitions_validate() {
        assert_eq!(
            TopicPartitions::new(0, []),
            Err(PartitionError::NoPartitions(0))
        );
        assert_eq!(
            TopicPartitions::all_available(-1),
            Err(PartitionError::NoPartitions(-1))
        );
        assert_eq!(
            TopicPartitions::new(3, [0, 3]),
            Err(PartitionError::AvailableOutOfRange {
                partition: 3,
                num_partitions: 3
            })
        );
        assert_eq!(
            TopicPartitions::new(3, [-1]),
            Err(PartitionError::AvailableOutOfRange {
                partition: -1,
                num_partitions: 3
            })
        );
        let p = TopicPartitions::new(5, [4, 0, 4]).unwrap();
        assert_eq!(p.available(), &[0, 4]);
        assert!(TopicPartitions::new(5, []).unwrap().available().is_empty());
    }

    #[test]
    fn assign_partition_checks_explicit_and_partitioner_results() {
        struct Fixed(i32);
        impl Partitioner for Fixed {
            fn partition(
                &mut self,
                _: &str,
                _: Option<&[u8]>,
                _: Option<&[u8]>,
                _: &TopicPartitions,
            ) -> i32 {
                self.0
            }
        }
        let parts = TopicPartitions::all_available(4).unwrap();
        assert_eq!(
            assign_partition(&mut Fixed(9), "t", Some(2), None, None, &parts),
            Ok(2)
        );
        assert_eq!(
            assign_partition(&mut Fixed(1), "t", Some(-1), None, None, &parts),
            Err(PartitionError::RecordPartitionOutOfRange {
                partition: -1,
                num_partitions: 4
            })
        );
        assert_eq!(
            assign_partition(&mut Fixed(1), "t", Some(4), None, None, &parts),
            Err(PartitionError::RecordPartitionOutOfRange {
                partition: 4,
                num_partitions: 4
            })
        );
        assert_eq!(
            assign_partition(&mut Fixed(3), "t", None, None, None, &parts),
            Ok(3)
        );
        for bad in [-1, 4, i32::MIN] {
            assert_eq!(
                assign_partition(&mut Fixed(bad), "t", None, None, None, &parts),
                Err(PartitionError::PartitionerResultOutOfRange {
                    partition: bad,
                    num_partitions: 4
                })
            );
        }
        let mut boxed: Box<dyn Partitioner> = Box::new(Fixed(1));
        assert_eq!(
            assign_partition(&mut boxed, "t", None, None, None, &parts),
            Ok(1)
        );
        assert_eq!(
            assign_partition(boxed.as_mut(), "t", None, None, None, &parts),
            Ok(1)
        );
    }

    /// Append `records` keyless records of `size` bytes to topic "t", returning the partitions.
    fn produce_keyless(
        p: &mut DefaultPartitioner,
        parts: &TopicPartitions,
        records: usize,
        size: usize,
        batches_full: bool,
    ) -> Vec<i32> {
        (0..records)
            .map(|_| {
                let partition = p.partition("t", None, Some(b"v"), parts);
                p.on_append("t", partition, size, batches_full);
                partition
            })
            .collect()
    }

    /// Lengths of runs of equal consecutive values.
    fn runs(values: &[i32]) -> Vec<usize> {
        values.chunk_by(|a, b| a == b).map(<[i32]>::len).collect()
    }

    #[test]
    fn sticky_stays_until_batch_size_bytes_then_switches() {
        let parts = TopicPartitions::all_available(6).unwrap();
        let mut p = DefaultPartitioner::new(100).with_seed(1);
        // 10-byte records, batch.size 100: exactly 10 records per sticky period.
        for period in 0..200 {
            let chosen = produce_keyless(&mut p, &parts, 10, 10, true);
            assert!(
                chosen.iter().all(|&c| c == chosen[0]),
                "{period}: {chosen:?}"
            );
            assert_eq!(p.sticky_partition("t"), None, "switch due after 100 bytes");
        }
        // Over many periods every partition gets its turn.
        let chosen = produce_keyless(&mut p, &parts, 2000, 10, true);
        let mut seen: Vec<i32> = chosen.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        // Runs are multiples of 10 (a new pick can land on the same partition, as in Java).
        assert!(runs(&chosen).iter().all(|r| r % 10 == 0), "{chosen:?}");
        // ...and usually a different partition: most runs are exactly one period.
        let exact = runs(&chosen).iter().filter(|&&r| r == 10).count();
        assert!(exact > 100, "{exact} single-period runs of 200");
    }

    #[test]
    fn sticky_waits_for_full_batches_up_to_twice_batch_size() {
        let parts = TopicPartitions::all_available(6).unwrap();
        let mut p = DefaultPartitioner::new(100).with_seed(2);
        // Batches never full: the switch comes only at 2 × batch.size = 20 records.
        let chosen = produce_keyless(&mut p, &parts, 20, 10, false);
        assert!(chosen.iter().all(|&c| c == chosen[0]));
        assert_eq!(p.sticky_partition("t"), None);
        // Past batch.size, the first append that leaves the batches full switches.
        let first = produce_keyless(&mut p, &parts, 12, 10, false);
        assert!(first.iter().all(|&c| c == first[0]));
        assert_eq!(p.sticky_partition("t"), Some(first[0]));
        produce_keyless(&mut p, &parts, 1, 1, true);
        assert_eq!(p.sticky_partition("t"), None);
        // A single record larger than batch.size switches at once (when its batch is full).
        produce_keyless(&mut p, &parts, 1, 5_000, true);
        assert_eq!(p.sticky_partition("t"), None);
    }

    #[test]
    fn sticky_picks_only_available_partitions() {
        let parts = TopicPartitions::new(10, [2, 5, 7]).unwrap();
        let mut p = DefaultPartitioner::new(1).with_seed(3);
        let chosen = produce_keyless(&mut p, &parts, 3000, 1, true);
        let mut seen = chosen;
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [2, 5, 7]);

        // None available: any partition.
        let none = TopicPartitions::new(4, []).unwrap();
        let mut seen = produce_keyless(&mut p, &none, 1000, 1, true);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn sticky_repicks_when_its_partition_loses_its_leader() {
        let all = TopicPartitions::all_available(8).unwrap();
        let mut p = DefaultPartitioner::new(1_000_000).with_seed(4);
        let first = produce_keyless(&mut p, &all, 5, 10, true)[0];
        let without: Vec<i32> = (0..8).filter(|&x| x != first).collect();
        let degraded = TopicPartitions::new(8, without).unwrap();
        let next = produce_keyless(&mut p, &degraded, 5, 10, true);
        assert!(next.iter().all(|&c| c == next[0] && c != first), "{next:?}");
        // With no partition available at all, it keeps its choice.
        let none = TopicPartitions::new(8, []).unwrap();
        assert_eq!(
            produce_keyless(&mut p, &none, 3, 10, true),
            vec![next[0]; 3]
        );
    }

    #[test]
    fn keyed_and_other_appends_do_not_count_toward_the_switch() {
        let parts = TopicPartitions::all_available(3).unwrap();
        let mut p = DefaultPartitioner::new(100).with_seed(5);
        let sticky = p.partition("t", None, None, &parts);
        p.on_append("t", sticky, 10, true);
        // Keyed records, even when they hash to the sticky partition, do not count.
        for i in 0..1000u32 {
            let key = i.to_be_bytes();
            let partition = p.partition("t", Some(&key), None, &parts);
            assert_eq!(partition, partition_for_key(&key, 3).unwrap());
            p.on_append("t", partition, 1_000, true);
        }
        // Appends the partitioner did not choose (explicit partitions) do not count either.
        p.on_append("t", sticky, 1_000, true);
        p.on_append("other-topic", 0, 1_000, true);
        assert_eq!(p.sticky_partition("t"), Some(sticky));
        assert_eq!(p.partition("t", None, None, &parts), sticky);
    }

    #[test]
    fn ignore_keys_makes_keyed_records_sticky() {
        let parts = TopicPartitions::all_available(50).unwrap();
        let mut p = DefaultPartitioner::new(100).with_seed(6).ignore_keys(true);
        let chosen: Vec<i32> = (0..10u8)
            .map(|i| {
                let partition = p.partition("t", Some(&[i]), None, &parts);
                p.on_append("t", partition, 10, true);
                partition
            })
            .collect();
        assert!(chosen.iter().all(|&c| c == chosen[0]));
        assert_eq!(p.sticky_partition("t"), None);
    }

    #[test]
    fn sticky_state_is_per_topic_and_seeds_reproduce() {
        let parts = TopicPartitions::all_available(1000).unwrap();
        let mut a = DefaultPartitioner::new(10).with_seed(99);
        let mut b = DefaultPartitioner::new(10).with_seed(99);
        let picks = |p: &mut DefaultPartitioner| -> Vec<i32> {
            (0..500)
                .map(|i| {
                    let topic = if i % 3 == 0 { "x" } else { "y" };
                    let partition = p.partition(topic, None, None, &parts);
                    p.on_append(topic, partition, 3, true);
                    partition
                })
                .collect()
        };
        assert_eq!(picks(&mut a), picks(&mut b));
        let x = a.sticky_partition("x");
        produce_keyless(&mut a, &parts, 3, 10, true);
        assert_eq!(a.sticky_partition("x"), x, "topic t does not move x");
    }

    #[test]
    fn interleaved_topics_each_count_their_own_bytes() {
        // The last-topic shortcut must never hand one topic's state to another.
        let parts = TopicPartitions::all_available(6).unwrap();
        let mut p = DefaultPartitioner::new(100).with_seed(5);
        let mut sent: Vec<(&str, i32)> = Vec::new();
        for i in 0..400 {
            let topic = ["a", "b", "c"][i % 3];
            let partition = p.partition(topic, None, None, &parts);
            p.on_append(topic, partition, 10, true);
            sent.push((topic, partition));
        }
        for topic in ["a", "b", "c"] {
            let mine: Vec<i32> = sent
                .iter()
                .filter(|(t, _)| *t == topic)
                .map(|&(_, p)| p)
                .collect();
            // 10-byte records, batch.size 100: a new pick every 10 records of the topic.
            for (period, chunk) in mine.chunks(10).enumerate() {
                assert!(
                    chunk.iter().all(|&c| c == chunk[0]),
                    "{topic} {period}: {chunk:?}"
                );
            }
        }
        // A keyed record of a known topic clears that topic's sticky flag only.
        let before = p.sticky_partition("b");
        let _ = p.partition("a", Some(b"k"), None, &parts);
        assert_eq!(p.sticky_partition("b"), before);
        // Load stats for a new topic create its state; a later lookup finds it.
        p.update_load_stats("d", 6, &[]);
        assert_eq!(p.sticky_partition("d"), None);
        let d = p.partition("d", None, None, &parts);
        assert_eq!(p.sticky_partition("d"), Some(d));
    }

    #[test]
    fn load_table_follows_the_kip_794_example() {
        // Queue sizes 0 3 1 → weights 4 1 3 → cumulative 4 5 8.
        let loads = [
            PartitionLoad {
                partition: 0,
                queued_batches: 0,
            },
            PartitionLoad {
                partition: 1,
                queued_batches: 3,
            },
            PartitionLoad {
                partition: 2,
                queued_batches: 1,
            },
        ];
        let mut table = LoadTable::default();
        table.update(3, &loads);
        assert!(table.active);
        assert_eq!(table.cumulative, [4, 5, 8]);
        let indexes: Vec<usize> = (0..8).map(|r| table.index_for(r)).collect();
        assert_eq!(indexes, [0, 0, 0, 0, 1, 2, 2, 2]);
        for r in 0..16 {
            assert_eq!(
                table.pick(r),
                Some([0, 0, 0, 0, 1, 2, 2, 2][r as usize % 8])
            );
        }

        // All equal with every partition present: uniform, no table.
        let equal = [0, 1, 2].map(|partition| PartitionLoad {
            partition,
            queued_batches: 2,
        });
        table.update(3, &equal);
        assert!(!table.active);
        // All equal but one partition excluded: the table covers only the others.
        table.update(3, &equal[..2]);
        assert!(table.active);
        assert_eq!(table.ids, [0, 1]);
        // One partition, or none given: no table.
        table.update(1, &equal[..1]);
        assert!(!table.active);
        table.update(3, &[]);
        assert!(!table.active);
        // Out-of-range entries are ignored.
        table.update(2, &equal);
        assert!(!table.active);
    }

    #[test]
    fn adaptive_picks_follow_the_load_and_can_be_disabled() {
        let parts = TopicPartitions::all_available(4).unwrap();
        // Partition 3 is excluded (slow broker); partition 0 has a deep queue.
        let loads = [
            PartitionLoad {
                partition: 0,
                queued_batches: 9,
            },
            PartitionLoad {
                partition: 1,
                queued_batches: 0,
            },
            PartitionLoad {
                partition: 2,
                queued_batches: 0,
            },
        ];
        let mut p = DefaultPartitioner::new(1).with_seed(8);
        p.update_load_stats("t", 4, &loads);
        let mut counts = [0usize; 4];
        for partition in produce_keyless(&mut p, &parts, 21_000, 1, true) {
            counts[partition as usize] += 1;
        }
        // Weights 1 : 10 : 10 : 0.
        assert_eq!(counts[3], 0, "{counts:?}");
        assert!((600..1400).contains(&counts[0]), "{counts:?}");
        assert!((9000..11000).contains(&counts[1]), "{counts:?}");
        assert!((9000..11000).contains(&counts[2]), "{counts:?}");

        // Empty stats turn it off again: uniform over the available partitions.
        p.update_load_stats("t", 4, &[]);
        let mut counts = [0usize; 4];
        for partition in produce_keyless(&mut p, &parts, 4000, 1, true) {
            counts[partition as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");

        let mut off = DefaultPartitioner::new(1).with_seed(8).adaptive(false);
        off.update_load_stats("t", 4, &loads);
        let mut seen = produce_keyless(&mut off, &parts, 1000, 1, true);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn round_robin_cycles_per_topic_over_available_partitions() {
        let mut rr = RoundRobinPartitioner::new();
        let all = TopicPartitions::all_available(3).unwrap();
        let picks: Vec<i32> = (0..7)
            .map(|i| rr.partition("a", Some(&[i]), None, &all)) // keys are ignored
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        // Another topic has its own counter.
        assert_eq!(rr.partition("b", None, None, &all), 0);
        // Only available partitions, in ascending order.
        let some = TopicPartitions::new(6, [5, 1]).unwrap();
        let picks: Vec<i32> = (0..4)
            .map(|_| rr.partition("c", None, None, &some))
            .collect();
        assert_eq!(picks, [1, 5, 1, 5]);
        // None available: all partitions.
        let none = TopicPartitions::new(2, []).unwrap();
        let picks: Vec<i32> = (0..3)
            .map(|_| rr.partition("d", None, None, &none))
            .collect();
        assert_eq!(picks, [0, 1, 0]);
    }

    #[test]
    fn round_robin_counter_wraps_like_java() {
        // Java's AtomicInteger wraps to i32::MIN; toPositive(i32::MIN) = 0.
        let mut rr = RoundRobinPartitioner::new();
        rr.counters.insert("t".to_owned(), i32::MAX - 1);
        let all = TopicPartitions::all_available(10).unwrap();
        let picks: Vec<i32> = (0..4)
            .map(|_| rr.partition("t", None, None, &all))
            .collect();
        // i32::MAX-1 → 6, i32::MAX → 7, i32::MIN → 0, i32::MIN+1 → 1.
        assert_eq!(picks, [6, 7, 0, 1]);
    }
}
