//! Offset resets through ListOffsets (Java's `OffsetFetcher.resetPositionsIfNeeded` and the
//! request half of `offsetsForTimes` / `beginningOffsets` / `endOffsets`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Buffered, FetchError, FetchPosition, Fetcher, IsolationLevel, PositionState};
use crate::TopicPartition;
use crate::cluster::MetadataSnapshot;
use crate::protocol::ErrorCode;

/// The lowest ListOffsets version kafkit speaks (v0 is gone since Kafka 4.0).
pub const MIN_LIST_OFFSETS_VERSION: i16 = 1;
/// The highest ListOffsets version kafkit speaks (kafka-protocol 0.18 implements up to v10).
pub const MAX_LIST_OFFSETS_VERSION: i16 = 10;

/// Which offset a ListOffsets request asks for.
///
/// ```
/// use kafkit::consumer::fetcher::OffsetSpec;
/// assert_eq!(OffsetSpec::Earliest.timestamp(), -2);
/// assert_eq!(OffsetSpec::Latest.timestamp(), -1);
/// assert_eq!(OffsetSpec::Timestamp(1_700_000_000_000).timestamp(), 1_700_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset (timestamp -2).
    Earliest,
    /// The log end offset, or the last stable offset in read_committed (timestamp -1).
    Latest,
    /// The first offset whose timestamp is at or after this one (ms since the epoch); the end
    /// of the log when there is none.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The wire timestamp.
    pub fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// An offset found by ListOffsets (Java's `OffsetAndTimestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// The timestamp of the record at that offset (`None` for earliest/latest lookups).
    pub timestamp: Option<i64>,
    /// The leader epoch of that record (v4+, when known).
    pub leader_epoch: Option<i32>,
}

/// Builds one ListOffsets request for `targets` (partition, what to look up, current leader
/// epoch or -1) at `version` (clamped to [`MIN_LIST_OFFSETS_VERSION`]..=
/// [`MAX_LIST_OFFSETS_VERSION`]; the caller sends it at that clamped version). Fields the
/// version lacks are left at their defaults: `isolation_level` needs v2+ (below, Latest is the
/// high watermark), `current_leader_epoch` v4+, `timeout_ms` v10+.
///
/// ```
/// use std::time::Duration;
/// use kafkit::TopicPartition;
/// use kafkit::consumer::fetcher::{IsolationLevel, OffsetSpec, build_list_offsets_request};
///
/// let tp = TopicPartition::new("t", 2);
/// let request = build_list_offsets_request(
///     &[(tp, OffsetSpec::Timestamp(1_000), 5)], 7, IsolationLevel::ReadCommitted, Duration::from_secs(30));
/// assert_eq!(request.replica_id.0, -1);
/// assert_eq!(request.isolation_level, 1);
/// let p = &request.topics[0].partitions[0];
/// assert_eq!((p.partition_index, p.timestamp, p.current_leader_epoch), (2, 1_000, 5));
/// ```
pub fn build_list_offsets_request(
    targets: &[(TopicPartition, OffsetSpec, i32)],
    version: i16,
    isolation: IsolationLevel,
    timeout: Duration,
) -> ListOffsetsRequest {
    let version = version.clamp(MIN_LIST_OFFSETS_VERSION, MAX_LIST_OFFSETS_VERSION);
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, spec, epoch) in targets {
        topics.entry(&tp.topic).or_default().push(
            ListOffsetsPartition::default()
                .with_partition_index(tp.partition)
                .with_current_leader_epoch(if version >= 4 { *epoch } else { -1 })
                .with_timestamp(spec.timestamp()),
        );
    }
    let mut request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= 2 {
        request.isolation_level = isolation.id();
    }
    if version >= 10 {
        request.timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    }
    request
}

/// ListOffsets targets for `offsets_for_times`, `beginning_offsets` and `end_offsets`,
/// grouped by the leader of each partition (with its current leader epoch), plus the
/// partitions with no known leader (refresh metadata and retry those). Build one request per
/// broker with [`build_list_offsets_request`] and read answers with
/// [`parse_list_offsets_response`].
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::cluster::MetadataSnapshot;
/// use kafkit::consumer::fetcher::{OffsetSpec, list_offsets_targets_by_leader};
///
/// let tp = TopicPartition::new("t", 0);
/// let (by_leader, leaderless) =
///     list_offsets_targets_by_leader(&MetadataSnapshot::default(), [(tp.clone(), OffsetSpec::Latest)]);
/// assert!(by_leader.is_empty());
/// assert_eq!(leaderless, [tp]);
/// ```
pub fn list_offsets_targets_by_leader(
    snapshot: &MetadataSnapshot,
    targets: impl IntoIterator<Item = (TopicPartition, OffsetSpec)>,
) -> (ListOffsetsTargets, Vec<TopicPartition>) {
    let mut by_leader: ListOffsetsTargets = BTreeMap::new();
    let mut leaderless = Vec::new();
    for (tp, spec) in targets {
        match snapshot
            .partition(&tp.topic, tp.partition)
            .and_then(|p| Some((p.leader.filter(|l| snapshot.brokers.contains_key(l))?, p)))
        {
            Some((leader, p)) => {
                by_leader
                    .entry(leader)
                    .or_default()
                    .push((tp, spec, p.leader_epoch))
            }
            None => leaderless.push(tp),
        }
    }
    (by_leader, leaderless)
}

/// ListOffsets targets by leader broker: (partition, target, current leader epoch).
pub type ListOffsetsTargets = BTreeMap<i32, Vec<(TopicPartition, OffsetSpec, i32)>>;

/// Reads every partition of a ListOffsets response: `Ok(None)` when no offset matched (a
/// timestamp after the last record: offset -1), the partition error otherwise.
///
/// ```
/// use kafkit::consumer::fetcher::parse_list_offsets_response;
/// use kafkit::messages::{ListOffsetsResponse, TopicName, list_offsets_response::*};
///
/// let response = ListOffsetsResponse::default().with_topics(vec![
///     ListOffsetsTopicResponse::default().with_name(TopicName("t".into())).with_partitions(vec![
///         ListOffsetsPartitionResponse::default().with_partition_index(0).with_offset(42)
///             .with_timestamp(7).with_leader_epoch(3),
///         ListOffsetsPartitionResponse::default().with_partition_index(1).with_error_code(6),
///     ]),
/// ]);
/// let parsed = parse_list_offsets_response(&response);
/// assert_eq!(parsed[0].1.unwrap().unwrap().offset, 42);
/// assert_eq!(parsed[1].1.unwrap_err().code(), 6);
/// ```
pub fn parse_list_offsets_response(
    response: &ListOffsetsResponse,
) -> Vec<(
    TopicPartition,
    Result<Option<OffsetAndTimestamp>, ErrorCode>,
)> {
    let mut out = Vec::new();
    for topic in &response.topics {
        let name: Arc<str> = Arc::from(topic.name.0.as_str());
        for p in &topic.partitions {
            let tp = TopicPartition {
                topic: name.clone(),
                partition: p.partition_index,
            };
            let error = ErrorCode::from_code(p.error_code);
            let result = if error != ErrorCode::None {
                Err(error)
            } else if p.offset < 0 {
                Ok(None)
            } else {
                Ok(Some(OffsetAndTimestamp {
                    offset: p.offset,
                    timestamp: (p.timestamp >= 0).then_some(p.timestamp),
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                }))
            };
            out.push((tp, result));
        }
    }
    out
}

/// What the fetcher remembers about a ListOffsets request it built.
#[derive(Clone, Debug)]
pub struct ListOffsetsMeta {
    id: u64,
    broker: i32,
    version: i16,
    /// partition -> (target, generation when asked)
    partitions: HashMap<TopicPartition, (OffsetSpec, u64)>,
}

impl ListOffsetsMeta {
    /// The ListOffsets version the request must be sent with.
    pub fn version(&self) -> i16 {
        self.version
    }

    /// The broker the request must be sent to.
    pub fn broker(&self) -> i32 {
        self.broker
    }
}

/// What one ListOffsets response did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOffsetsOutcome {
    /// Partitions given a position.
    pub reset: Vec<(TopicPartition, FetchPosition)>,
    /// Some partition's error means the metadata is stale: refresh it.
    pub refresh_metadata: bool,
    /// Partition errors, whatever was done about them.
    pub errors: Vec<(TopicPartition, ErrorCode)>,
    /// Partitions whose answer was discarded (position changed or unassigned meanwhile).
    pub discarded: Vec<TopicPartition>,
}

fn list_offsets_needs_refresh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::UnknownTopicId
            | ErrorCode::KafkaStorageError
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::ReplicaNotAvailable
    )
}

impl Fetcher {
    /// ListOffsets requests for the partitions awaiting reset, one per leader broker, skipping
    /// partitions with a reset in flight or backed off. Partitions without a leader raise the
    /// metadata refresh flag. `negotiated_version` is clamped as in
    /// [`build_list_offsets_request`]; the meta says the version to send.
    pub fn build_list_offsets_requests(
        &mut self,
        snapshot: &MetadataSnapshot,
        negotiated_version: i16,
        now: Instant,
    ) -> Vec<(i32, ListOffsetsRequest, ListOffsetsMeta)> {
        let version = negotiated_version.clamp(MIN_LIST_OFFSETS_VERSION, MAX_LIST_OFFSETS_VERSION);
        let mut wanted = Vec::new();
        for (tp, s) in &self.partitions {
            let PositionState::AwaitingReset(spec) = s.state else {
                continue;
            };
            if s.reset_in_flight.is_none() && !s.backed_off(now) {
                wanted.push((tp.clone(), spec));
            }
        }
        let (by_broker, leaderless) = list_offsets_targets_by_leader(snapshot, wanted);
        if !leaderless.is_empty() {
            self.metadata_refresh = true;
        }
        let mut out = Vec::with_capacity(by_broker.len());
        for (broker, targets) in by_broker {
            let id = self.request_id();
            let request = build_list_offsets_request(
                &targets,
                version,
                self.settings.isolation_level,
                self.settings.request_timeout,
            );
            let mut partitions = HashMap::with_capacity(targets.len());
            for (tp, spec, _) in targets {
                if let Some(s) = self.partitions.get_mut(&tp) {
                    s.reset_in_flight = Some(id);
                    partitions.insert(tp, (spec, s.generation));
                }
            }
            out.push((
                broker,
                request,
                ListOffsetsMeta {
                    id,
                    broker,
                    version,
                    partitions,
                },
            ));
        }
        out
    }

    /// Clears the in-flight marks of a ListOffsets that failed without a response and backs
    /// its partitions off.
    pub fn handle_list_offsets_failure(&mut self, meta: &ListOffsetsMeta, now: Instant) {
        // The broker may be gone: as Java's NetworkClient does on a disconnect, ask for fresh
        // metadata so the next round goes to the current leaders.
        self.metadata_refresh = true;
        let until = now + self.settings.retry_backoff;
        self.clear_in_flight(
            meta.partitions.keys(),
            meta.id,
            |s| &mut s.reset_in_flight,
            Some(until),
        );
    }

    /// Applies a ListOffsets response: partitions still awaiting the same reset get their
    /// position (with the leader epoch); a timestamp with no matching record falls back to the
    /// end of the log (as Java's `by_duration` reset does); leadership errors back off and ask for
    /// a metadata refresh; authorization and other errors are reported by the next
    /// [`poll_records`](Fetcher::poll_records) and retried after the back-off.
    pub fn handle_list_offsets_response(
        &mut self,
        meta: &ListOffsetsMeta,
        response: &ListOffsetsResponse,
        now: Instant,
    ) -> ListOffsetsOutcome {
        let mut outcome = ListOffsetsOutcome::default();
        self.clear_in_flight(
            meta.partitions.keys(),
            meta.id,
            |s| &mut s.reset_in_flight,
            None,
        );
        let until = now + self.settings.retry_backoff;
        for (tp, result) in parse_list_offsets_response(response) {
            let Some(&(spec, generation)) = meta.partitions.get(&tp) else {
                continue;
            };
            let Some(s) = self.partitions.get_mut(&tp) else {
                outcome.discarded.push(tp);
                continue;
            };
            if s.generation != generation || s.state != PositionState::AwaitingReset(spec) {
                outcome.discarded.push(tp);
                continue;
            }
            match result {
                Ok(Some(found)) => {
                    let position = FetchPosition {
                        offset: found.offset,
                        offset_epoch: found.leader_epoch,
                    };
                    s.state = PositionState::Fetching(position);
                    s.validated_leader_epoch = None;
                    s.generation = self.next_generation;
                    self.next_generation += 1;
                    s.backoff_until = None;
                    outcome.reset.push((tp, position));
                }
                Ok(None) => {
                    // No record at or after the timestamp: start at the end.
                    s.state = PositionState::AwaitingReset(OffsetSpec::Latest);
                }
                Err(code) if list_offsets_needs_refresh(code) => {
                    s.backoff_until = Some(until);
                    outcome.refresh_metadata = true;
                    outcome.errors.push((tp, code));
                }
                Err(code) if code.is_retriable() => {
                    s.backoff_until = Some(until);
                    outcome.errors.push((tp, code));
                }
                Err(code) => {
                    s.backoff_until = Some(until);
                    outcome.errors.push((tp.clone(), code));
                    let error = if code == ErrorCode::TopicAuthorizationFailed {
                        FetchError::TopicAuthorizationFailed {
                            topic: tp.topic.clone(),
                        }
                    } else {
                        FetchError::Broker {
                            partition: tp.clone(),
                            error: code,
                        }
                    };
                    self.buffer
                        .push_back((tp, generation, Buffered::Error(error)));
                }
            }
        }
        if outcome.refresh_metadata {
            self.metadata_refresh = true;
        }
        outcome
    }
}
