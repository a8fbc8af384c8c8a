//! The consumer's fetch state, sans-IO: per-partition positions (Java's `SubscriptionState`),
//! Fetch requests and the judgement of Fetch responses (`AbstractFetch`), draining fetched
//! batches into [`ConsumerRecord`]s (`FetchCollector`/`CompletedFetch`), and offset resets
//! through ListOffsets (`OffsetFetcher`).
//!
//! Owns: [`Fetcher`] and its per-partition state, the Fetch and ListOffsets request shapes and
//! the version rules ([`fetch_version_for`]), and the consumer's fetch errors ([`FetchError`]).
//! Must not touch: sockets, tokio, timers or the wall clock (the caller passes `now` as an
//! [`Instant`]), metadata fetching (it reads a [`crate::cluster::MetadataSnapshot`] and raises
//! [`Fetcher::take_metadata_refresh`]), group membership and committed offsets (the group layer
//! seeks), deserialisation, and record parsing (that is [`crate::record`]'s).
//!
//! # Driving it
//!
//! The async consumer loops:
//!
//! 1. After an assignment, look up committed offsets for [`Fetcher::initializing_partitions`]
//!    and [`Fetcher::seek_position`] them; then [`Fetcher::reset_missing_positions`] applies
//!    `auto.offset.reset` to the rest.
//! 2. Send what [`Fetcher::build_list_offsets_requests`] (resets),
//!    [`Fetcher::build_validation_requests`] (KIP-320) and [`Fetcher::build_fetch_requests`]
//!    return, each to its broker at the version in its meta, and hand every answer back to the
//!    matching `handle_*_response` (or `handle_*_failure` when none came).
//! 3. When [`Fetcher::take_metadata_refresh`] says so, refresh metadata before the next round;
//!    [`Fetcher::next_retry_at`] says when backed-off partitions are due.
//! 4. [`Fetcher::poll_records`] drains what arrived.
//!
//! ```
//! use std::time::Instant;
//! use kafkit::TopicPartition;
//! use kafkit::cluster::MetadataSnapshot;
//! use kafkit::consumer::fetcher::{FetchSettings, Fetcher};
//! use kafkit::messages::FetchResponse;
//! # use kafkit::messages::{MetadataResponse, BrokerId, TopicName, metadata_response::*};
//! # use kafkit::messages::{fetch_response::{FetchableTopicResponse, PartitionData}};
//! # use kafkit::record::{BatchBuilder, BatchOptions};
//! # let snapshot = MetadataSnapshot::default().merged(&MetadataResponse::default()
//! #     .with_brokers(vec![MetadataResponseBroker::default().with_node_id(BrokerId(1))
//! #         .with_host("localhost".into()).with_port(9092)])
//! #     .with_topics(vec![MetadataResponseTopic::default()
//! #         .with_name(Some(TopicName("events".into())))
//! #         .with_partitions(vec![MetadataResponsePartition::default()
//! #             .with_partition_index(0).with_leader_id(BrokerId(1)).with_leader_epoch(3)])]), true);
//! # let mut batch = BatchBuilder::new(BatchOptions { base_offset: 10, partition_leader_epoch: 3,
//! #     ..BatchOptions::default() });
//! # batch.append(1_000, None, Some(b"hello"), &[])?;
//! # let records = batch.finish()?;
//! # let broker_answer = |request: &kafkit::messages::FetchRequest| FetchResponse::default()
//! #     .with_responses(vec![FetchableTopicResponse::default()
//! #         .with_topic(request.topics[0].topic.clone())
//! #         .with_partitions(vec![PartitionData::default().with_partition_index(0)
//! #             .with_high_watermark(11).with_records(Some(records.clone()))])]);
//!
//! let mut fetcher = Fetcher::new(FetchSettings::default());
//! let tp = TopicPartition::new("events", 0);
//! fetcher.assign([tp.clone()]);
//! fetcher.seek(&tp, 10)?; // e.g. the committed offset
//!
//! let now = Instant::now();
//! for (broker, request, meta) in fetcher.build_fetch_requests(&snapshot, 12, now) {
//!     assert_eq!((broker, meta.version()), (1, 12));
//!     // The driver sends `request` to `broker` at `meta.version()` and awaits the answer...
//!     let response: FetchResponse = broker_answer(&request);
//!     let outcome = fetcher.handle_fetch_response(&meta, &response, now);
//!     assert!(!outcome.refresh_metadata);
//! }
//! let records = fetcher.poll_records(500)?;
//! assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
//! assert_eq!(fetcher.position(&tp).unwrap().offset, 11);
//! assert_eq!(fetcher.lag(&tp), Some(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics (Java's, unless noted)
//!
//! - One Fetch per broker and one per partition at a time: a partition with a Fetch in flight
//!   to any broker, or with fetched data not yet drained, is not fetched again, and a broker
//!   with a Fetch in flight gets no other until it answers (Java's
//!   `nodesWithPendingFetchRequests`).
//! - Full fetches only: no fetch sessions (KIP-227), `session_id` 0 and `session_epoch` -1, which
//!   every broker supports.
//! - A response (or ListOffsets answer) for a partition whose position moved since the request
//!   (seek, reset, reassignment) is discarded. Paused partitions keep their buffered data (as the
//!   Java consumer does since 3.x) and are skipped when draining; they are not fetched while
//!   paused.
//! - Positions advance past each returned record, and past a whole batch that is consumed, a
//!   control batch, or an aborted transaction's batch (read_committed), so a consumer never gets
//!   stuck on a control batch or a compaction gap.
//! - Log truncation detection (KIP-320): fetches carry `current_leader_epoch`; when the metadata
//!   shows a new leader epoch for a partition whose position has an epoch, or after a seek to a
//!   position with an epoch, the position is checked with OffsetForLeaderEpoch
//!   ([`Fetcher::build_validation_requests`]) before fetching on. A truncated position is reset
//!   to the divergent offset, or reported ([`FetchError::LogTruncation`]) under
//!   `auto.offset.reset = none`.
//! - Not implemented: fetch-from-follower (`preferred_read_replica` is ignored), fetch sessions,
//!   and `check.crcs = false` (batches are always CRC-validated:
//!   [`crate::record::RecordBatch::parse`] has no unchecked path).

mod drain;
mod fetch;
mod list_offsets;
#[cfg(test)]
mod tests;
mod validation;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use fetch::{
    FetchOutcome, FetchRequestMeta, MAX_FETCH_VERSION, MIN_FETCH_VERSION, TOPIC_ID_FETCH_VERSION,
    fetch_version_for,
};
pub use list_offsets::{
    ListOffsetsMeta, ListOffsetsOutcome, ListOffsetsTargets, MAX_LIST_OFFSETS_VERSION,
    MIN_LIST_OFFSETS_VERSION, OffsetAndTimestamp, OffsetSpec, build_list_offsets_request,
    list_offsets_targets_by_leader, parse_list_offsets_response,
};
pub use validation::{
    MAX_OFFSET_FOR_LEADER_EPOCH_VERSION, MIN_OFFSET_FOR_LEADER_EPOCH_VERSION, ValidationMeta,
    ValidationOutcome,
};

use crate::TopicPartition;
use crate::consumer::record::ConsumerRecord;
use crate::protocol::ErrorCode;
use crate::record::RecordError;

use drain::CompletedFetch;

/// `isolation.level`: which records a fetch may return.
///
/// ```
/// use kafkit::consumer::fetcher::IsolationLevel;
/// assert_eq!(IsolationLevel::default(), IsolationLevel::ReadUncommitted);
/// assert_eq!(IsolationLevel::ReadCommitted.id(), 1);
/// assert_eq!("read_committed".parse::<IsolationLevel>(), Ok(IsolationLevel::ReadCommitted));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// Every record up to the high watermark, including those of open or aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only records up to the last stable offset, without aborted transactions' records.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value (0 or 1).
    pub fn id(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }

    /// The Java config name (`read_uncommitted`, `read_committed`).
    pub fn name(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
        }
    }
}

impl std::str::FromStr for IsolationLevel {
    type Err = String;

    /// Parses the Java name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, String> {
        [
            IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadCommitted,
        ]
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown isolation.level {s:?}"))
    }
}

/// `auto.offset.reset`: where a partition without a valid position starts.
///
/// ```
/// use kafkit::consumer::fetcher::{OffsetResetStrategy, OffsetSpec};
/// assert_eq!(OffsetResetStrategy::default(), OffsetResetStrategy::Latest);
/// assert_eq!(OffsetResetStrategy::Earliest.offset_spec(), Some(OffsetSpec::Earliest));
/// assert_eq!(OffsetResetStrategy::None.offset_spec(), None);
/// assert_eq!("earliest".parse::<OffsetResetStrategy>(), Ok(OffsetResetStrategy::Earliest));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OffsetResetStrategy {
    /// The log start offset.
    Earliest,
    /// The log end offset (the last stable offset in read_committed).
    #[default]
    Latest,
    /// No automatic reset: a missing or out-of-range position is an error for the user.
    None,
}

impl OffsetResetStrategy {
    /// The ListOffsets target, `None` for [`OffsetResetStrategy::None`].
    pub fn offset_spec(self) -> Option<OffsetSpec> {
        match self {
            OffsetResetStrategy::Earliest => Some(OffsetSpec::Earliest),
            OffsetResetStrategy::Latest => Some(OffsetSpec::Latest),
            OffsetResetStrategy::None => None,
        }
    }

    /// The Java config name.
    pub fn name(self) -> &'static str {
        match self {
            OffsetResetStrategy::Earliest => "earliest",
            OffsetResetStrategy::Latest => "latest",
            OffsetResetStrategy::None => "none",
        }
    }
}

impl std::str::FromStr for OffsetResetStrategy {
    type Err = String;

    /// Parses the Java name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, String> {
        [
            OffsetResetStrategy::Earliest,
            OffsetResetStrategy::Latest,
            OffsetResetStrategy::None,
        ]
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown auto.offset.reset {s:?}"))
    }
}

/// The consumer settings the fetcher needs, with the Java consumer's defaults. The consumer maps
/// its `ConsumerConfig` onto this.
///
/// ```
/// use std::time::Duration;
/// use kafkit::consumer::fetcher::{FetchSettings, IsolationLevel, OffsetResetStrategy};
///
/// let s = FetchSettings::default();
/// assert_eq!((s.fetch_min_bytes, s.fetch_max_bytes, s.max_partition_fetch_bytes), (1, 52_428_800, 1_048_576));
/// assert_eq!((s.fetch_max_wait, s.max_poll_records), (Duration::from_millis(500), 500));
/// assert_eq!((s.isolation_level, s.auto_offset_reset), (IsolationLevel::ReadUncommitted, OffsetResetStrategy::Latest));
/// assert!(s.check_crcs && s.client_rack.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSettings {
    /// `fetch.min.bytes` (1): the broker answers once this much data is available...
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms` (500): ...or once this long has passed.
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes` (50 MiB): the most data one Fetch response may carry (the first batch
    /// is returned even if larger, KIP-74).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` (1 MiB): the most data per partition in one response.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records` (500): the default for [`Fetcher::poll_records`]' limit.
    pub max_poll_records: usize,
    /// `isolation.level` (read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `check.crcs` (true). kafkit always validates batch CRCs; `false` is accepted and ignored.
    pub check_crcs: bool,
    /// `auto.offset.reset` (latest).
    pub auto_offset_reset: OffsetResetStrategy,
    /// `client.rack` (none): sent as the Fetch `rack_id` (v11+).
    pub client_rack: Option<String>,
    /// `retry.backoff.ms` (100): how long a partition waits after a failed fetch or ListOffsets
    /// before it is tried again.
    pub retry_backoff: Duration,
    /// `request.timeout.ms` (30000): sent as ListOffsets v10's `timeout_ms`.
    pub request_timeout: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            max_poll_records: 500,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            auto_offset_reset: OffsetResetStrategy::Latest,
            client_rack: None,
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_millis(30_000),
        }
    }
}

/// A partition's position: the next offset to fetch, and the leader epoch of the batch the last
/// consumed record came from (Java's `FetchPosition`).
///
/// ```
/// use kafkit::consumer::fetcher::FetchPosition;
/// let p = FetchPosition { offset: 7, offset_epoch: Some(2) };
/// assert_eq!(p, FetchPosition::new(7).with_epoch(Some(2)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FetchPosition {
    /// The next offset to fetch (a committed offset has the same meaning).
    pub offset: i64,
    /// Leader epoch of the last consumed record's batch, when known.
    pub offset_epoch: Option<i32>,
}

impl FetchPosition {
    /// A position with no epoch.
    pub fn new(offset: i64) -> Self {
        FetchPosition {
            offset,
            offset_epoch: None,
        }
    }

    /// The same position with `epoch`.
    pub fn with_epoch(mut self, epoch: Option<i32>) -> Self {
        self.offset_epoch = epoch;
        self
    }
}

/// Where a partition stands (Java's `FetchStates`).
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::fetcher::{FetchSettings, Fetcher, OffsetSpec, PositionState};
///
/// let mut f = Fetcher::new(FetchSettings::default());
/// let tp = TopicPartition::new("t", 0);
/// f.assign([tp.clone()]);
/// assert_eq!(f.position_state(&tp), Some(&PositionState::Initializing));
/// f.seek_to_beginning([&tp]);
/// assert_eq!(f.position_state(&tp), Some(&PositionState::AwaitingReset(OffsetSpec::Earliest)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PositionState {
    /// Just assigned: no position yet. The consumer looks up the committed offset and seeks, or
    /// calls [`Fetcher::reset_missing_positions`].
    Initializing,
    /// Has a valid position and can be fetched.
    Fetching(FetchPosition),
    /// Waiting for a ListOffsets answer for this target.
    AwaitingReset(OffsetSpec),
    /// The position is to be checked against the leader's log (KIP-320) before fetching on:
    /// after a leader change, or a seek to a position with a leader epoch (a committed
    /// offset). See [`Fetcher::build_validation_requests`].
    AwaitingValidation(FetchPosition),
}

/// One assigned partition's state.
#[derive(Debug)]
struct PartitionState {
    state: PositionState,
    /// Changes whenever the position is set other than by consuming (seek, reset, assignment):
    /// answers to requests made under another generation are stale.
    generation: u64,
    paused: bool,
    high_watermark: Option<i64>,
    last_stable_offset: Option<i64>,
    log_start_offset: Option<i64>,
    /// The id of the Fetch request in flight for this partition.
    fetch_in_flight: Option<u64>,
    /// The id of the ListOffsets request in flight for this partition.
    reset_in_flight: Option<u64>,
    /// Not fetched or reset again before this instant.
    backoff_until: Option<Instant>,
    /// The leader epoch (from metadata) the position was last validated against; `None` until
    /// the first fetch after the position was set adopts the current one.
    validated_leader_epoch: Option<i32>,
    /// The id of the OffsetForLeaderEpoch request in flight for this partition.
    validation_in_flight: Option<u64>,
    /// When records were last returned from this partition (a sequence number), for fetch
    /// order fairness.
    last_returned: u64,
}

impl PartitionState {
    fn new(generation: u64) -> Self {
        PartitionState {
            state: PositionState::Initializing,
            generation,
            paused: false,
            high_watermark: None,
            last_stable_offset: None,
            log_start_offset: None,
            fetch_in_flight: None,
            reset_in_flight: None,
            backoff_until: None,
            validated_leader_epoch: None,
            validation_in_flight: None,
            last_returned: 0,
        }
    }

    fn position(&self) -> Option<FetchPosition> {
        match self.state {
            PositionState::Fetching(p) => Some(p),
            _ => None,
        }
    }

    fn backed_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }
}

/// A user-visible error for one partition (or a misuse of the API).
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::fetcher::FetchError;
/// let e = FetchError::OffsetOutOfRange { partition: TopicPartition::new("t", 0), offset: 99 };
/// assert_eq!(e.partition(), Some(&TopicPartition::new("t", 0)));
/// assert!(e.to_string().contains("out of range"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The partition is not assigned to this consumer.
    #[error("partition {0} is not assigned")]
    NotAssigned(TopicPartition),
    /// The fetch offset is out of the log's range and `auto.offset.reset` is `none` (Java's
    /// `OffsetOutOfRangeException`). Seek to recover.
    #[error("fetch offset {offset} is out of range for partition {partition}")]
    OffsetOutOfRange {
        /// The partition.
        partition: TopicPartition,
        /// The offset that was out of range.
        offset: i64,
    },
    /// The partition has no position and `auto.offset.reset` is `none` (Java's
    /// `NoOffsetForPartitionException`).
    #[error("no offset for partition {0} and auto.offset.reset is none")]
    NoOffsetForPartition(TopicPartition),
    /// Not authorized to read the topic.
    #[error("not authorized to read topic {topic}")]
    TopicAuthorizationFailed {
        /// The topic.
        topic: Arc<str>,
    },
    /// A fetched batch or record is corrupt (CRC mismatch, malformed, undecompressable). The
    /// position stays at the corrupt record; seek past it to continue.
    #[error("corrupt record in partition {partition} at offset {offset}: {source}")]
    CorruptRecord {
        /// The partition.
        partition: TopicPartition,
        /// The position when the corruption was found.
        offset: i64,
        /// What was wrong.
        #[source]
        source: Arc<RecordError>,
    },
    /// The broker returned data but not one complete batch (should not happen with KIP-74).
    #[error(
        "no progress reading partition {partition} at offset {offset}: the response held no complete batch"
    )]
    NoCompleteBatch {
        /// The partition.
        partition: TopicPartition,
        /// The fetch offset.
        offset: i64,
    },
    /// The log was truncated below the position (an unclean leader election) and
    /// `auto.offset.reset` is `none` (Java's `LogTruncationException`). Seek to recover, e.g.
    /// to `divergent_offset`.
    #[error(
        "log truncation detected for partition {partition} at offset {offset} (divergent offset {divergent_offset:?})"
    )]
    LogTruncation {
        /// The partition.
        partition: TopicPartition,
        /// The position that was found beyond the leader's log.
        offset: i64,
        /// The end offset of the last epoch the consumer and the leader share, when known.
        divergent_offset: Option<FetchPosition>,
    },
    /// Any other error the broker reported for the partition that retrying will not fix.
    #[error("error fetching partition {partition}: {error}")]
    Broker {
        /// The partition.
        partition: TopicPartition,
        /// The broker's error.
        error: ErrorCode,
    },
}

impl FetchError {
    /// The partition the error is about, if any.
    pub fn partition(&self) -> Option<&TopicPartition> {
        match self {
            FetchError::NotAssigned(p)
            | FetchError::NoOffsetForPartition(p)
            | FetchError::OffsetOutOfRange { partition: p, .. }
            | FetchError::CorruptRecord { partition: p, .. }
            | FetchError::NoCompleteBatch { partition: p, .. }
            | FetchError::LogTruncation { partition: p, .. }
            | FetchError::Broker { partition: p, .. } => Some(p),
            FetchError::TopicAuthorizationFailed { .. } => None,
        }
    }
}

/// What a partition holds that has been fetched but not yet handed to the user.
#[derive(Debug)]
enum Buffered {
    /// Records to drain.
    Data(Box<CompletedFetch>),
    /// An error to report once, at the partition's turn.
    Error(FetchError),
}

/// The consumer's fetch state: assignment, positions, buffered fetches (Java's
/// `SubscriptionState` + `FetchBuffer` + the sans-IO halves of `Fetcher` and `OffsetFetcher`).
/// See the [module docs](self) for the drive loop.
#[derive(Debug)]
pub struct Fetcher {
    settings: FetchSettings,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Fetched data per partition, in arrival order (drained front first, like Java's buffer).
    buffer: VecDeque<(TopicPartition, u64, Buffered)>,
    next_generation: u64,
    next_request_id: u64,
    metadata_refresh: bool,
    validate_positions: bool,
    /// Brokers with a Fetch in flight, and its request id.
    fetching_brokers: std::collections::HashMap<i32, u64>,
    /// Sequence for `PartitionState::last_returned`.
    drain_sequence: u64,
}

impl Fetcher {
    /// An empty fetcher (no assignment).
    pub fn new(settings: FetchSettings) -> Self {
        Fetcher {
            settings,
            partitions: BTreeMap::new(),
            buffer: VecDeque::new(),
            next_generation: 1,
            next_request_id: 1,
            metadata_refresh: false,
            validate_positions: true,
            fetching_brokers: std::collections::HashMap::new(),
            drain_sequence: 0,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Changes the settings (they apply to the next requests).
    pub fn settings_mut(&mut self) -> &mut FetchSettings {
        &mut self.settings
    }

    fn generation(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }

    fn request_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// Replaces the assignment with `partitions` (Java's `assignFromUser` /
    /// `assignFromSubscribed`). Partitions kept keep their position, pause flag and buffered
    /// data; new ones start [`PositionState::Initializing`]; dropped ones lose everything, and
    /// answers still in flight for them will be discarded.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let wanted: std::collections::BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let dropped: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !wanted.contains(*tp))
            .cloned()
            .collect();
        self.remove_assignment(&dropped);
        self.add_assignment(wanted);
    }

    /// Adds partitions to the assignment (incremental, KIP-429); ones already assigned are
    /// untouched.
    pub fn add_assignment(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        for tp in partitions {
            if !self.partitions.contains_key(&tp) {
                let g = self.generation();
                self.partitions.insert(tp, PartitionState::new(g));
            }
        }
    }

    /// Removes partitions from the assignment, dropping their buffered data.
    pub fn remove_assignment<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) {
        for tp in partitions {
            self.partitions.remove(tp);
            self.buffer.retain(|(b, _, _)| b != tp);
        }
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Whether `tp` is assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState, FetchError> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| FetchError::NotAssigned(tp.clone()))
    }

    /// Sets the position and invalidates everything fetched or asked under the old one.
    fn set_position_state(
        &mut self,
        tp: &TopicPartition,
        state: PositionState,
    ) -> Result<(), FetchError> {
        let g = self.generation();
        let ps = self.state_mut(tp)?;
        ps.state = state;
        ps.generation = g;
        ps.fetch_in_flight = None;
        ps.reset_in_flight = None;
        ps.validation_in_flight = None;
        ps.backoff_until = None;
        ps.validated_leader_epoch = None;
        self.buffer.retain(|(b, _, _)| b != tp);
        Ok(())
    }

    /// Moves the position to `offset` (Java's `seek`): buffered data and answers in flight for
    /// the old position are discarded.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), FetchError> {
        self.seek_position(tp, FetchPosition::new(offset))
    }

    /// Moves the position to `position`, e.g. a committed offset with its leader epoch. A
    /// position with an epoch is validated against the leader's log first (KIP-320, as Java's
    /// `seekUnvalidated`), unless validation is off.
    pub fn seek_position(
        &mut self,
        tp: &TopicPartition,
        position: FetchPosition,
    ) -> Result<(), FetchError> {
        let state = if position.offset_epoch.is_some() && self.validate_positions {
            PositionState::AwaitingValidation(position)
        } else {
            PositionState::Fetching(position)
        };
        self.set_position_state(tp, state)
    }

    /// Turns KIP-320 position validation on (the default) or off. Turn it off when the
    /// brokers lack OffsetForLeaderEpoch v3+; positions awaiting validation are then accepted
    /// as they are.
    pub fn set_position_validation(&mut self, enabled: bool) {
        self.validate_positions = enabled;
        if !enabled {
            for s in self.partitions.values_mut() {
                if let PositionState::AwaitingValidation(p) = s.state {
                    s.state = PositionState::Fetching(p);
                    s.validation_in_flight = None;
                }
            }
        }
    }

    /// Asks for a reset of each partition to `spec` through ListOffsets (the consumer's
    /// `seekToBeginning`, `seekToEnd`, or a seek to a timestamp). Unassigned partitions are
    /// ignored, as Java's lazy seeks do.
    pub fn request_reset<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        spec: OffsetSpec,
    ) {
        for tp in partitions {
            let _ = self.set_position_state(tp, PositionState::AwaitingReset(spec));
        }
    }

    /// Resets to the log start offset (lazily: the position is known after ListOffsets).
    pub fn seek_to_beginning<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) {
        self.request_reset(partitions, OffsetSpec::Earliest);
    }

    /// Resets to the log end offset (the last stable offset in read_committed).
    pub fn seek_to_end<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        self.request_reset(partitions, OffsetSpec::Latest);
    }

    /// Partitions still [`PositionState::Initializing`]: the consumer fetches their committed
    /// offsets and seeks, then calls [`reset_missing_positions`](Self::reset_missing_positions)
    /// for the rest.
    pub fn initializing_partitions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.state == PositionState::Initializing)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Puts every partition without a position into reset by `auto.offset.reset` (Java's
    /// `resetInitializingPositions`). With `none`, returns
    /// [`FetchError::NoOffsetForPartition`] for the first such partition and changes nothing.
    pub fn reset_missing_positions(&mut self) -> Result<(), FetchError> {
        let missing = self.initializing_partitions();
        let Some(spec) = self.settings.auto_offset_reset.offset_spec() else {
            return match missing.into_iter().next() {
                Some(tp) => Err(FetchError::NoOffsetForPartition(tp)),
                None => Ok(()),
            };
        };
        self.request_reset(&missing, spec);
        Ok(())
    }

    /// Stops fetching (and draining) these partitions; buffered data is kept.
    pub fn pause<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        for tp in partitions {
            if let Some(s) = self.partitions.get_mut(tp) {
                s.paused = true;
            }
        }
    }

    /// Resumes fetching these partitions.
    pub fn resume<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        for tp in partitions {
            if let Some(s) = self.partitions.get_mut(tp) {
                s.paused = false;
            }
        }
    }

    /// Whether `tp` is paused.
    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|s| s.paused)
    }

    /// The paused partitions.
    pub fn paused_partitions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The position of `tp`, when it has a valid one.
    pub fn position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.partitions.get(tp)?.position()
    }

    /// The valid position of every assigned partition (Java's `allConsumed`): what the consumer
    /// commits, offset and leader epoch, for partitions that have one.
    ///
    /// ```
    /// use kafkit::TopicPartition;
    /// use kafkit::consumer::fetcher::{FetchPosition, FetchSettings, Fetcher};
    ///
    /// let mut f = Fetcher::new(FetchSettings::default());
    /// f.assign([TopicPartition::new("t", 0), TopicPartition::new("t", 1)]);
    /// f.seek(&TopicPartition::new("t", 1), 9)?;
    /// assert_eq!(f.all_consumed(), [(TopicPartition::new("t", 1), FetchPosition::new(9))]);
    /// # Ok::<(), kafkit::consumer::fetcher::FetchError>(())
    /// ```
    pub fn all_consumed(&self) -> Vec<(TopicPartition, FetchPosition)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| Some((tp.clone(), s.position()?)))
            .collect()
    }

    /// Where `tp` stands, `None` when not assigned.
    pub fn position_state(&self, tp: &TopicPartition) -> Option<&PositionState> {
        self.partitions.get(tp).map(|s| &s.state)
    }

    /// Whether every assigned partition has a valid position.
    pub fn has_all_positions(&self) -> bool {
        self.partitions.values().all(|s| s.position().is_some())
    }

    /// The high watermark from the last fetch response.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.high_watermark
    }

    /// The last stable offset from the last fetch response.
    pub fn last_stable_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.last_stable_offset
    }

    /// The log start offset from the last fetch response.
    pub fn log_start_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.log_start_offset
    }

    /// Records between the position and the end of the readable log: the high watermark, or
    /// the last stable offset in read_committed (Java's `partitionLag`). `None` until both a
    /// position and a fetch response are known.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let s = self.partitions.get(tp)?;
        let end = match self.settings.isolation_level {
            IsolationLevel::ReadUncommitted => s.high_watermark?,
            IsolationLevel::ReadCommitted => s.last_stable_offset?,
        };
        Some(end.saturating_sub(s.position()?.offset))
    }

    /// Records between the log start offset and the position (Java's `partitionLead`).
    pub fn lead(&self, tp: &TopicPartition) -> Option<i64> {
        let s = self.partitions.get(tp)?;
        Some(s.position()?.offset.saturating_sub(s.log_start_offset?))
    }

    /// Partitions that may be fetched now: assigned, not paused, with a valid position (Java's
    /// `fetchablePartitions`). Does not look at in-flight fetches or buffered data.
    pub fn fetchable_partitions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| !s.paused && s.position().is_some())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Whether some response asked for a metadata refresh since the last call (clears the flag).
    pub fn take_metadata_refresh(&mut self) -> bool {
        std::mem::take(&mut self.metadata_refresh)
    }

    /// Whether there are records (or errors) ready for [`poll_records`](Self::poll_records) on
    /// a partition that is not paused.
    pub fn has_buffered_data(&self) -> bool {
        self.buffer.iter().any(|(tp, _, _)| !self.is_paused(tp))
    }

    /// The earliest instant at which a partition now backed off may be fetched or reset again
    /// (so the driver knows how long to sleep when nothing is in flight).
    pub fn next_retry_at(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter_map(|s| s.backoff_until)
            .min()
    }

    /// Returns up to `max_records` records (use [`FetchSettings::max_poll_records`]) from
    /// buffered fetches, advancing positions; see the [module docs](self) for the rules.
    ///
    /// An error for a partition is returned only when no records were collected before it in
    /// this call (as Java does); it is reported at the next call otherwise. Corrupt data keeps
    /// failing until the user seeks past it.
    pub fn poll_records(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>, FetchError> {
        self.drain(max_records)
    }
}

impl Fetcher {
    /// Clears the in-flight mark `mark` picks (fetch, reset or validation) on those of
    /// `partitions` still marked with request `id`; with `backoff_until`, they also back off
    /// until then. Every answer and failure of a request goes through here.
    fn clear_in_flight<'a>(
        &mut self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        id: u64,
        mark: fn(&mut PartitionState) -> &mut Option<u64>,
        backoff_until: Option<Instant>,
    ) {
        for tp in partitions {
            if let Some(s) = self.partitions.get_mut(tp) {
                let in_flight = mark(s);
                if *in_flight == Some(id) {
                    *in_flight = None;
                    if backoff_until.is_some() {
                        s.backoff_until = backoff_until;
                    }
                }
            }
        }
    }
}
