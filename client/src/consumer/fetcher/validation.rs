//! Position validation after a leader change (KIP-320): OffsetForLeaderEpoch asks the leader
//! where the epoch of the consumer's position ends in its log; a position beyond that end was
//! truncated away (Java's `OffsetFetcher.validatePositionsIfNeeded` and
//! `SubscriptionState.maybeCompleteValidation`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{Buffered, FetchError, FetchPosition, Fetcher, PositionState};
use crate::TopicPartition;
use crate::cluster::MetadataSnapshot;
use crate::protocol::ErrorCode;

/// The lowest OffsetForLeaderEpoch version usable by a consumer (v3 added `replica_id`, so the
/// broker knows a consumer asks; Java needs v3 too).
pub const MIN_OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 3;
/// The highest OffsetForLeaderEpoch version kafkit speaks (kafka-protocol 0.18: v4).
pub const MAX_OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;

/// What the fetcher remembers about an OffsetForLeaderEpoch request it built.
#[derive(Clone, Debug)]
pub struct ValidationMeta {
    id: u64,
    broker: i32,
    version: i16,
    /// partition -> (position being validated, generation when asked, leader epoch asked at)
    partitions: HashMap<TopicPartition, (FetchPosition, u64, i32)>,
}

impl ValidationMeta {
    /// The OffsetForLeaderEpoch version the request must be sent with.
    pub fn version(&self) -> i16 {
        self.version
    }

    /// The broker the request must be sent to.
    pub fn broker(&self) -> i32 {
        self.broker
    }
}

/// What one OffsetForLeaderEpoch response did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationOutcome {
    /// Partitions whose position was confirmed.
    pub validated: Vec<TopicPartition>,
    /// Partitions whose log was truncated below the position, with the position they were
    /// moved to (under `auto.offset.reset = none` they are reported instead, and not listed).
    pub truncated: Vec<(TopicPartition, FetchPosition)>,
    /// Some partition's error means the metadata is stale: refresh it.
    pub refresh_metadata: bool,
    /// Partition errors, whatever was done about them.
    pub errors: Vec<(TopicPartition, ErrorCode)>,
    /// Partitions whose answer was discarded (position changed or unassigned meanwhile).
    pub discarded: Vec<TopicPartition>,
}

fn needs_refresh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::KafkaStorageError
            | ErrorCode::ReplicaNotAvailable
    )
}

impl Fetcher {
    /// OffsetForLeaderEpoch requests for the partitions awaiting validation, one per leader
    /// broker (skipping those in flight or backed off). `negotiated_version` is the
    /// OffsetForLeaderEpoch version agreed with the brokers, `None` when they lack the API; below
    /// [`MIN_OFFSET_FOR_LEADER_EPOCH_VERSION`] positions are accepted unvalidated, as Java does.
    ///
    /// ```
    /// use std::time::Instant;
    /// use kafkit::TopicPartition;
    /// use kafkit::cluster::MetadataSnapshot;
    /// use kafkit::consumer::fetcher::{FetchPosition, FetchSettings, Fetcher, PositionState};
    ///
    /// let mut f = Fetcher::new(FetchSettings::default());
    /// let tp = TopicPartition::new("t", 0);
    /// f.assign([tp.clone()]);
    /// f.seek_position(&tp, FetchPosition::new(40).with_epoch(Some(3)))?; // a committed offset
    /// assert!(matches!(f.position_state(&tp), Some(PositionState::AwaitingValidation(_))));
    /// // A broker without OffsetForLeaderEpoch v3+: the position is accepted as it is.
    /// assert!(f.build_validation_requests(&MetadataSnapshot::default(), None, Instant::now()).is_empty());
    /// assert_eq!(f.position(&tp).unwrap().offset, 40);
    /// # Ok::<(), kafkit::consumer::fetcher::FetchError>(())
    /// ```
    pub fn build_validation_requests(
        &mut self,
        snapshot: &MetadataSnapshot,
        negotiated_version: Option<i16>,
        now: Instant,
    ) -> Vec<(i32, OffsetForLeaderEpochRequest, ValidationMeta)> {
        let version = match negotiated_version {
            Some(v) if v >= MIN_OFFSET_FOR_LEADER_EPOCH_VERSION => {
                v.min(MAX_OFFSET_FOR_LEADER_EPOCH_VERSION)
            }
            _ => {
                // Unsupported: complete validation without asking (Java's behaviour).
                for s in self.partitions.values_mut() {
                    if let PositionState::AwaitingValidation(p) = s.state {
                        s.state = PositionState::Fetching(p);
                        s.validated_leader_epoch = None;
                    }
                }
                return Vec::new();
            }
        };
        // broker -> topic -> [(partition, position, generation, current leader epoch)]
        type Target = (i32, FetchPosition, u64, i32);
        let mut by_broker: BTreeMap<i32, BTreeMap<Arc<str>, Vec<Target>>> = BTreeMap::new();
        let buffered: std::collections::HashSet<&TopicPartition> =
            self.buffer.iter().map(|(tp, _, _)| tp).collect();
        for (tp, s) in self.partitions.iter_mut() {
            let PositionState::AwaitingValidation(position) = s.state else {
                continue;
            };
            // A partition with an unreported error waits for the user to see it.
            if s.validation_in_flight.is_some() || s.backed_off(now) || buffered.contains(tp) {
                continue;
            }
            if position.offset_epoch.is_none() {
                // Nothing to validate against.
                s.state = PositionState::Fetching(position);
                continue;
            }
            let Some(info) = snapshot.partition(&tp.topic, tp.partition) else {
                self.metadata_refresh = true;
                continue;
            };
            let Some(leader) = info.leader.filter(|id| snapshot.brokers.contains_key(id)) else {
                self.metadata_refresh = true;
                continue;
            };
            by_broker
                .entry(leader)
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                .push((tp.partition, position, s.generation, info.leader_epoch));
        }
        drop(buffered);
        let mut out = Vec::with_capacity(by_broker.len());
        for (broker, topics) in by_broker {
            let id = self.request_id();
            let mut meta = ValidationMeta {
                id,
                broker,
                version,
                partitions: HashMap::new(),
            };
            let mut request_topics = Vec::with_capacity(topics.len());
            for (topic, targets) in topics {
                let mut partitions = Vec::with_capacity(targets.len());
                for (partition, position, generation, current_epoch) in targets {
                    partitions.push(
                        OffsetForLeaderPartition::default()
                            .with_partition(partition)
                            .with_current_leader_epoch(current_epoch)
                            .with_leader_epoch(position.offset_epoch.unwrap_or(-1)),
                    );
                    let tp = TopicPartition {
                        topic: topic.clone(),
                        partition,
                    };
                    if let Some(s) = self.partitions.get_mut(&tp) {
                        s.validation_in_flight = Some(id);
                    }
                    meta.partitions
                        .insert(tp, (position, generation, current_epoch));
                }
                request_topics.push(
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(partitions),
                );
            }
            let request = OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(request_topics);
            out.push((broker, request, meta));
        }
        out
    }

    /// Clears the in-flight marks of an OffsetForLeaderEpoch request that failed without a
    /// response and backs its partitions off.
    pub fn handle_validation_failure(&mut self, meta: &ValidationMeta, now: Instant) {
        // The broker may be gone: as Java's NetworkClient does on a disconnect, ask for fresh
        // metadata so the next round goes to the current leaders.
        self.metadata_refresh = true;
        let until = now + self.settings.retry_backoff;
        self.clear_in_flight(
            meta.partitions.keys(),
            meta.id,
            |s| &mut s.validation_in_flight,
            Some(until),
        );
    }

    /// Applies an OffsetForLeaderEpoch response. Per partition still awaiting the same
    /// validation: an end offset at or past the position confirms it; an end offset below it
    /// is a truncation: the position moves to the end offset (with its epoch), or, under
    /// `auto.offset.reset = none`, [`FetchError::LogTruncation`] is reported; an unknown epoch
    /// (end offset -1) resets by `auto.offset.reset` (or reports). Leadership errors back off and
    /// ask for a metadata refresh; authorization errors are reported.
    pub fn handle_validation_response(
        &mut self,
        meta: &ValidationMeta,
        response: &OffsetForLeaderEpochResponse,
        now: Instant,
    ) -> ValidationOutcome {
        let mut outcome = ValidationOutcome::default();
        self.clear_in_flight(
            meta.partitions.keys(),
            meta.id,
            |s| &mut s.validation_in_flight,
            None,
        );
        let until = now + self.settings.retry_backoff;
        let reset = self.settings.auto_offset_reset.offset_spec();
        for topic in &response.topics {
            let name: Arc<str> = Arc::from(topic.topic.0.as_str());
            for p in &topic.partitions {
                let tp = TopicPartition {
                    topic: name.clone(),
                    partition: p.partition,
                };
                let Some(&(position, generation, asked_epoch)) = meta.partitions.get(&tp) else {
                    continue;
                };
                let Some(s) = self.partitions.get_mut(&tp) else {
                    outcome.discarded.push(tp);
                    continue;
                };
                if s.generation != generation
                    || s.state != PositionState::AwaitingValidation(position)
                {
                    outcome.discarded.push(tp);
                    continue;
                }
                let error = ErrorCode::from_code(p.error_code);
                let mut report = None;
                match error {
                    ErrorCode::None => {
                        if p.end_offset < 0 || p.leader_epoch < 0 {
                            // The leader knows no such epoch: nothing to resume from.
                            match reset {
                                Some(spec) => s.state = PositionState::AwaitingReset(spec),
                                None => {
                                    report = Some(FetchError::LogTruncation {
                                        partition: tp.clone(),
                                        offset: position.offset,
                                        divergent_offset: None,
                                    })
                                }
                            }
                        } else if p.end_offset < position.offset {
                            let divergent = FetchPosition {
                                offset: p.end_offset,
                                offset_epoch: Some(p.leader_epoch),
                            };
                            if reset.is_some() {
                                s.state = PositionState::Fetching(divergent);
                                s.validated_leader_epoch =
                                    (asked_epoch >= 0).then_some(asked_epoch);
                                outcome.truncated.push((tp.clone(), divergent));
                            } else {
                                report = Some(FetchError::LogTruncation {
                                    partition: tp.clone(),
                                    offset: position.offset,
                                    divergent_offset: Some(divergent),
                                });
                            }
                        } else {
                            s.state = PositionState::Fetching(position);
                            s.validated_leader_epoch = (asked_epoch >= 0).then_some(asked_epoch);
                            outcome.validated.push(tp.clone());
                        }
                        if report.is_none() {
                            s.generation = self.next_generation;
                            self.next_generation += 1;
                        } else {
                            // Stays awaiting validation (asked again after the back-off, and
                            // reported again) until the user seeks, as Java does.
                            s.backoff_until = Some(until);
                        }
                    }
                    code if needs_refresh(code) => {
                        s.backoff_until = Some(until);
                        outcome.refresh_metadata = true;
                        outcome.errors.push((tp.clone(), code));
                    }
                    ErrorCode::TopicAuthorizationFailed => {
                        s.backoff_until = Some(until);
                        outcome.errors.push((tp.clone(), error));
                        report = Some(FetchError::TopicAuthorizationFailed {
                            topic: tp.topic.clone(),
                        });
                    }
                    code => {
                        // Java retries any other error.
                        s.backoff_until = Some(until);
                        outcome.errors.push((tp.clone(), code));
                    }
                }
                if let Some(e) = report {
                    let generation = s.generation;
                    self.buffer.push_back((tp, generation, Buffered::Error(e)));
                }
            }
        }
        if outcome.refresh_metadata {
            self.metadata_refresh = true;
        }
        outcome
    }
}
