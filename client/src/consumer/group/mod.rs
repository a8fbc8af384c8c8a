//! Classic consumer-group membership (Java's `AbstractCoordinator` + `ConsumerCoordinator`):
//! coordinator discovery, JoinGroup/SyncGroup (with the leader's assignment run), the heartbeat
//! task, LeaveGroup, and OffsetCommit/OffsetFetch.
//!
//! **Owns:** the group coordinator's location and a *dedicated* connection to it (so heartbeats
//! never queue behind a long-poll Fetch on the shared per-broker connection), the member id and
//! generation, the heartbeat task, and the judgement of every group API response.
//!
//! **Must not touch:** fetch positions, records, the consumer's poll loop and its rebalance
//! listener callbacks (the `Consumer` sequences those around [`GroupMembership::join`]), the
//! assignment algorithms and the ConsumerProtocol bytes (those are [`super::assignor`]'s: this
//! module only calls [`encode_subscription`], [`decode_subscription`], [`encode_assignment`] and
//! [`decode_assignment`]).
//!
//! # Driving it
//!
//! [`GroupMembership`] is driven by a poll loop: when [`GroupMembership::needs_rejoin`] says so,
//! the loop revokes what it must (all partitions for [`RebalanceProtocol::Eager`]) and calls
//! [`GroupMembership::join`], which runs FindCoordinator (if needed), JoinGroup (retrying
//! MEMBER_ID_REQUIRED at once), the leader's assignment, and SyncGroup, then starts the
//! heartbeat task. The heartbeat task reports through a `tokio::sync::watch` of
//! [`MembershipStatus`] ([`GroupMembership::status`]): a rebalance in progress, a reset member
//! (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, or a session that ran out without a successful
//! heartbeat: the partitions are then *lost*, not revoked), a fatal FENCED_INSTANCE_ID. No std
//! lock is held across an `.await`; results of a heartbeat that belongs to an older join are
//! ignored (each join starts a new epoch).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the public types, JoinGroup/SyncGroup and the leader's assignment run, LeaveGroup |
//! | `coordinator.rs` | FindCoordinator, the cached coordinator and its dedicated connection, the shared status |
//! | `heartbeat.rs` | the heartbeat task |
//! | `offsets.rs` | OffsetCommit and OffsetFetch |
//!
//! ```no_run
//! use std::sync::Arc;
//! use kafkit::cluster::Metadata;
//! use kafkit::consumer::group::{GroupMembership, GroupSettings};
//! use kafkit::net::{ConnectionConfig, ConnectionPool};
//!
//! # async fn example(assignor: Arc<dyn kafkit::consumer::assignor::Assignor>) -> Result<(), kafkit::consumer::group::GroupError> {
//! let pool = Arc::new(ConnectionPool::new(ConnectionConfig::default(), ["localhost:9092"]));
//! let metadata = Arc::new(Metadata::new(pool, true));
//! let mut group = GroupMembership::new(metadata, GroupSettings::new("billing"), vec![assignor])?;
//! group.subscribe(vec!["orders".to_owned()]);
//! loop {
//!     if group.needs_rejoin() {
//!         let generation = group.join(&[]).await?;
//!         println!("generation {} owns {:?}", generation.generation_id, generation.assignment);
//!     }
//!     // ... fetch and process records, commit offsets ...
//! #   break;
//! }
//! group.leave("shutting down").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Deviations from Java / not yet done
//!
//! * `max.poll.interval.ms` is only sent as the rebalance timeout; the poll-interval check that
//!   makes Java's heartbeat thread leave the group belongs to the `Consumer`.
//! * Back-off has no jitter.
//! * Regex subscriptions are not handled here (the caller resolves them to topics).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::assignor::{
    Assignment, Assignor, RebalanceProtocol, Subscription, decode_assignment, decode_subscription,
    encode_assignment, encode_subscription,
};
use crate::TopicPartition;
use crate::cluster::{ClusterError, Metadata};
use crate::net::{Connection, NetError};
use crate::protocol::{ErrorCode, ProtocolError, VersionError};
use coordinator::{Backoff, Inner, s};
use heartbeat::heartbeat_loop;

mod coordinator;
mod heartbeat;
mod offsets;
pub(crate) use offsets::offset_fetch_partitions;
#[cfg(test)]
mod tests;

/// The protocol type of consumer groups in JoinGroup/SyncGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
/// The highest ConsumerProtocol subscription/assignment version this member writes.
const CONSUMER_PROTOCOL_VERSION: i16 = 3;
/// FindCoordinator `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Java's `JOIN_GROUP_TIMEOUT_LAPSE`: JoinGroup may wait this much longer than the rebalance
/// timeout before the client gives up on it.
const JOIN_GROUP_TIMEOUT_LAPSE: Duration = Duration::from_secs(5);

/// The group settings membership needs, with the Java consumer's defaults.
///
/// ```
/// use std::time::Duration;
/// use kafkit::consumer::group::GroupSettings;
///
/// let settings = GroupSettings::new("billing");
/// assert_eq!(settings.session_timeout, Duration::from_secs(45));
/// assert_eq!(settings.heartbeat_interval, Duration::from_secs(3));
/// assert_eq!(settings.rebalance_timeout, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: set for a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (default 45 s).
    pub session_timeout: Duration,
    /// The rebalance timeout, `max.poll.interval.ms` (default 300 s).
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 s).
    pub heartbeat_interval: Duration,
    /// `retry.backoff.ms` (default 100 ms), doubled per failed attempt.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1 s).
    pub retry_backoff_max: Duration,
    /// `request.timeout.ms` (default 30 s) for every group request but JoinGroup/SyncGroup,
    /// which may wait up to the rebalance timeout plus 5 s.
    pub request_timeout: Duration,
    /// `default.api.timeout.ms` (default 60 s): how long commits, offset fetches and coordinator
    /// lookups for them keep retrying.
    pub api_timeout: Duration,
    /// `client.rack`, sent in the subscription (v3) for rack-aware assignors.
    pub client_rack: Option<String>,
}

impl GroupSettings {
    /// Java's defaults for group `group_id`.
    ///
    /// ```
    /// let settings = kafkit::consumer::group::GroupSettings::new("billing");
    /// assert_eq!(settings.group_instance_id, None);
    /// ```
    pub fn new(group_id: impl Into<String>) -> Self {
        GroupSettings {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            rebalance_timeout: Duration::from_millis(300_000),
            heartbeat_interval: Duration::from_millis(3_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            request_timeout: Duration::from_millis(30_000),
            api_timeout: Duration::from_millis(60_000),
            client_rack: None,
        }
    }

    /// How long a JoinGroup/SyncGroup may take: Java's
    /// `max(request.timeout.ms, rebalance timeout + 5 s)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let settings = kafkit::consumer::group::GroupSettings::new("g");
    /// assert_eq!(settings.join_timeout(), Duration::from_secs(305));
    /// ```
    pub fn join_timeout(&self) -> Duration {
        self.request_timeout
            .max(self.rebalance_timeout + JOIN_GROUP_TIMEOUT_LAPSE)
    }
}

/// A committed offset: the *next* offset to read, the leader epoch of the last record read, and
/// free-form metadata.
///
/// ```
/// use kafkit::consumer::group::OffsetAndMetadata;
/// let committed = OffsetAndMetadata::new(42).with_leader_epoch(3).with_metadata("host-a");
/// assert_eq!((committed.offset, committed.leader_epoch), (42, Some(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known (OffsetCommit v6+).
    pub leader_epoch: Option<i32>,
    /// Metadata stored with the offset (may be empty).
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no leader epoch and empty metadata.
    ///
    /// ```
    /// let o = kafkit::consumer::group::OffsetAndMetadata::new(7);
    /// assert!(o.metadata.is_empty() && o.leader_epoch.is_none());
    /// ```
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }

    /// With the leader epoch of the last consumed record.
    ///
    /// ```
    /// let o = kafkit::consumer::group::OffsetAndMetadata::new(7).with_leader_epoch(2);
    /// assert_eq!(o.leader_epoch, Some(2));
    /// ```
    pub fn with_leader_epoch(mut self, leader_epoch: i32) -> Self {
        self.leader_epoch = Some(leader_epoch);
        self
    }

    /// With metadata.
    ///
    /// ```
    /// let o = kafkit::consumer::group::OffsetAndMetadata::new(7).with_metadata("m");
    /// assert_eq!(o.metadata, "m");
    /// ```
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// What one successful join gave this member.
///
/// ```
/// # fn example(generation: kafkit::consumer::group::JoinedGeneration) {
/// for tp in &generation.assignment {
///     println!("generation {} owns {tp}", generation.generation_id);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedGeneration {
    /// The group generation.
    pub generation_id: i32,
    /// This member's id.
    pub member_id: String,
    /// The assignor the group uses (the JoinGroup response's protocol name).
    pub protocol_name: String,
    /// How partitions move in rebalances of this member.
    pub rebalance_protocol: RebalanceProtocol,
    /// The leader's member id.
    pub leader_id: String,
    /// Whether this member is the leader (it ran the assignment, or was told to skip it).
    pub is_leader: bool,
    /// The partitions assigned to this member, sorted.
    pub assignment: Vec<TopicPartition>,
    /// The assignor's user data in the assignment.
    pub user_data: Option<Bytes>,
}

/// Why this member has to (re)join the group.
///
/// ```
/// use kafkit::consumer::group::RejoinReason;
/// assert_eq!(RejoinReason::RebalanceInProgress.to_string(), "the group is rebalancing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejoinReason {
    /// Not joined yet (or left).
    NotJoined,
    /// A heartbeat (or SyncGroup) answered REBALANCE_IN_PROGRESS.
    RebalanceInProgress,
    /// The coordinator no longer knows this member or generation (UNKNOWN_MEMBER_ID,
    /// ILLEGAL_GENERATION): the member was reset and its partitions are lost.
    MemberReset(ErrorCode),
    /// No heartbeat succeeded for `session.timeout.ms`: the partitions are lost.
    SessionTimedOut,
    /// [`GroupMembership::subscribe`] changed the subscription.
    SubscriptionChanged,
    /// The partition count of a subscribed topic changed (seen by the leader).
    PartitionCountChanged(String),
    /// A cooperative rebalance revoked partitions: rejoin so they can be reassigned.
    CooperativeRevocation,
    /// The assignment held topics this member does not subscribe to.
    UnsubscribedTopicAssigned,
    /// [`GroupMembership::join`] was called while no rejoin was needed (Java's
    /// `enforceRebalance`).
    Requested,
}

impl fmt::Display for RejoinReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejoinReason::NotJoined => f.write_str("not a member of the group yet"),
            RejoinReason::RebalanceInProgress => f.write_str("the group is rebalancing"),
            RejoinReason::MemberReset(code) => write!(f, "the member was reset ({code})"),
            RejoinReason::SessionTimedOut => {
                f.write_str("no successful heartbeat within the session timeout")
            }
            RejoinReason::SubscriptionChanged => f.write_str("the subscription changed"),
            RejoinReason::PartitionCountChanged(topic) => {
                write!(f, "the partition count of '{topic}' changed")
            }
            RejoinReason::CooperativeRevocation => {
                f.write_str("partitions were revoked in a cooperative rebalance")
            }
            RejoinReason::UnsubscribedTopicAssigned => {
                f.write_str("the assignment holds topics outside the subscription")
            }
            RejoinReason::Requested => f.write_str("the application asked for a rebalance"),
        }
    }
}

/// Errors of group membership.
///
/// ```
/// use kafkit::consumer::group::GroupError;
/// use kafkit::messages::ApiKey;
/// use kafkit::protocol::ErrorCode;
///
/// let fenced = GroupError::Broker { api: ApiKey::Heartbeat, error: ErrorCode::FencedInstanceId };
/// assert_eq!(fenced.error_code(), Some(ErrorCode::FencedInstanceId));
/// assert!(!fenced.is_retriable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// A request failed on the wire.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Metadata could not be fetched.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A group API answered with an error this member cannot recover from by retrying
    /// (FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, INCONSISTENT_GROUP_PROTOCOL,
    /// GROUP_AUTHORIZATION_FAILED, ...), or a retriable one after the time ran out.
    #[error("{api:?} failed: {error}")]
    Broker {
        /// The API.
        api: ApiKey,
        /// The error code.
        error: ErrorCode,
    },
    /// OffsetCommit failed for some partitions (each partition's error; partitions that
    /// succeeded are not listed).
    #[error("offset commit failed: {}", describe(.errors))]
    Commit {
        /// The error per failed partition, e.g. ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID.
        errors: BTreeMap<TopicPartition, ErrorCode>,
    },
    /// OffsetFetch failed for some partitions.
    #[error("offset fetch failed: {}", describe(.errors))]
    OffsetFetch {
        /// The error per failed partition.
        errors: BTreeMap<TopicPartition, ErrorCode>,
    },
    /// A member's subscription or this member's assignment could not be decoded.
    #[error("bad ConsumerProtocol bytes: {0}")]
    Protocol(#[from] ProtocolError),
    /// The coordinator selected an assignor this member was not configured with.
    #[error("the group selected assignor '{0}', which this member does not have")]
    UnknownAssignor(String),
    /// The settings or the call are not usable (no assignor, no common rebalance protocol,
    /// empty subscription, static membership against a broker without JoinGroup v5, ...).
    #[error("invalid group use: {0}")]
    Invalid(String),
    /// The operation did not finish within its timeout.
    #[error("group operation timed out after {0:?}")]
    Timeout(Duration),
}

impl From<VersionError> for GroupError {
    fn from(e: VersionError) -> Self {
        GroupError::Net(NetError::Version(e))
    }
}

fn describe(errors: &BTreeMap<TopicPartition, ErrorCode>) -> String {
    errors
        .iter()
        .map(|(tp, e)| format!("{tp}: {e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl GroupError {
    /// The Kafka error code behind this error: the broker's for [`GroupError::Broker`], the
    /// first partition's for [`GroupError::Commit`] and [`GroupError::OffsetFetch`].
    ///
    /// ```
    /// use kafkit::consumer::group::GroupError;
    /// assert_eq!(GroupError::Invalid("x".into()).error_code(), None);
    /// ```
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            GroupError::Broker { error, .. } => Some(*error),
            GroupError::Commit { errors } | GroupError::OffsetFetch { errors } => {
                errors.values().next().copied()
            }
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    ///
    /// ```
    /// use kafkit::consumer::group::GroupError;
    /// use kafkit::messages::ApiKey;
    /// use kafkit::protocol::ErrorCode;
    /// let e = GroupError::Broker { api: ApiKey::JoinGroup, error: ErrorCode::CoordinatorNotAvailable };
    /// assert!(e.is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            GroupError::Net(e) => e.is_retriable(),
            GroupError::Cluster(e) => e.is_retriable(),
            GroupError::Broker { error, .. } => error.is_retriable(),
            GroupError::Commit { errors } | GroupError::OffsetFetch { errors } => {
                errors.values().all(|e| e.is_retriable())
            }
            GroupError::Timeout(_) => true,
            GroupError::Protocol(_) | GroupError::UnknownAssignor(_) | GroupError::Invalid(_) => {
                false
            }
        }
    }
}

/// What the heartbeat task and the joins report, as a `watch` value
/// ([`GroupMembership::status`]).
///
/// ```no_run
/// # async fn example(group: &kafkit::consumer::group::GroupMembership) {
/// let mut status = group.status();
/// let _ = status.wait_for(|s| s.rejoin.is_some() || s.fatal.is_some()).await;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MembershipStatus {
    /// The member id (empty before the first JoinGroup, after a reset, or after leaving).
    pub member_id: String,
    /// The current generation, `None` when not joined (or reset).
    pub generation: Option<JoinedGeneration>,
    /// Why a rejoin is needed, if the heartbeat or a response said so.
    pub rejoin: Option<RejoinReason>,
    /// A fatal error (FENCED_INSTANCE_ID, ...): the member must stop.
    pub fatal: Option<GroupError>,
    /// The generation was reset without a rebalance (session timeout, UNKNOWN_MEMBER_ID,
    /// ILLEGAL_GENERATION, fencing): the partitions it held must be treated as *lost*. Cleared
    /// by the next successful join.
    pub partitions_lost: bool,
    /// The coordinator's broker id, when known.
    pub coordinator_id: Option<i32>,
    /// Successful heartbeats since this membership was created.
    pub heartbeats: u64,
    /// Bumped whenever a join starts or the member leaves; older heartbeat results are ignored.
    epoch: u64,
}

/// Classic consumer-group membership for one consumer (Java's `ConsumerCoordinator`).
///
/// See the [module docs](self) for how a poll loop drives it.
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use kafkit::TopicPartition;
/// use kafkit::consumer::group::{GroupMembership, OffsetAndMetadata};
///
/// # async fn example(group: &GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
/// let tp = TopicPartition::new("orders", 0);
/// group.commit_offsets(&BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(42))])).await?;
/// let committed = group.committed(&[tp.clone()]).await?;
/// assert_eq!(committed[&tp].as_ref().map(|c| c.offset), Some(42));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GroupMembership {
    inner: Arc<Inner>,
    assignors: Vec<Arc<dyn Assignor>>,
    rebalance_protocol: RebalanceProtocol,
    /// The subscribed topics, sorted and deduplicated.
    subscription: Vec<String>,
    /// The subscription of the last successful join.
    joined_subscription: Option<Vec<String>>,
    /// For the leader: partition counts of every topic the group subscribes to, as assigned.
    assigned_partition_counts: BTreeMap<String, Option<usize>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for GroupMembership {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// How one join attempt ended, short of success.
enum Retry {
    /// Rejoin at once (MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID, ...).
    Now,
    /// Rejoin after the back-off.
    Later,
}

impl GroupMembership {
    /// Membership of `settings.group_id`, using `metadata` (and its pool) for coordinator lookups
    /// and the leader's partition counts, offering `assignors` in preference order.
    ///
    /// Fails when there is no assignor, the assignors share no rebalance protocol (the group uses
    /// the highest protocol they all support, as Java does), or the group id is empty.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # fn example(metadata: Arc<kafkit::cluster::Metadata>, assignor: Arc<dyn kafkit::consumer::assignor::Assignor>) {
    /// use kafkit::consumer::group::{GroupMembership, GroupSettings};
    /// let group = GroupMembership::new(metadata, GroupSettings::new("billing"), vec![assignor]).unwrap();
    /// assert!(group.needs_rejoin());
    /// # }
    /// ```
    pub fn new(
        metadata: Arc<Metadata>,
        settings: GroupSettings,
        assignors: Vec<Arc<dyn Assignor>>,
    ) -> Result<Self, GroupError> {
        if settings.group_id.is_empty() {
            return Err(GroupError::Invalid("group.id is empty".into()));
        }
        let rebalance_protocol = common_rebalance_protocol(&assignors)?;
        let mut coordinator_config = metadata.pool().config().clone();
        coordinator_config.request_timeout = settings.join_timeout();
        let status = MembershipStatus {
            rejoin: Some(RejoinReason::NotJoined),
            ..MembershipStatus::default()
        };
        Ok(GroupMembership {
            inner: Arc::new(Inner {
                metadata,
                settings,
                coordinator_config,
                coordinator: Mutex::new(None),
                discovering: tokio::sync::Mutex::new(()),
                status: watch::channel(status).0,
            }),
            assignors,
            rebalance_protocol,
            subscription: Vec::new(),
            joined_subscription: None,
            assigned_partition_counts: BTreeMap::new(),
            heartbeat: None,
        })
    }

    /// The settings.
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// println!("group {}", group.settings().group_id);
    /// # }
    /// ```
    pub fn settings(&self) -> &GroupSettings {
        &self.inner.settings
    }

    /// The rebalance protocol of this member (the highest one every assignor supports).
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// use kafkit::consumer::assignor::RebalanceProtocol;
    /// if group.rebalance_protocol() == RebalanceProtocol::Eager { /* revoke all before join */ }
    /// # }
    /// ```
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.rebalance_protocol
    }

    /// Sets the subscribed topics; a change from the subscription of the last join makes
    /// [`GroupMembership::needs_rejoin`] true.
    ///
    /// ```no_run
    /// # fn example(group: &mut kafkit::consumer::group::GroupMembership) {
    /// group.subscribe(vec!["orders".into(), "refunds".into()]);
    /// # }
    /// ```
    pub fn subscribe(&mut self, topics: Vec<String>) {
        let topics: Vec<String> = topics
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if topics != self.subscription {
            tracing::debug!(group = %self.inner.settings.group_id, ?topics, "subscription changed");
        }
        self.subscription = topics;
    }

    /// The subscribed topics, sorted.
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// println!("{:?}", group.subscription());
    /// # }
    /// ```
    pub fn subscription(&self) -> &[String] {
        &self.subscription
    }

    /// Why this member must (re)join now, if it must: not joined yet, the heartbeat saw a
    /// rebalance or a member reset, the subscription changed, or (on the leader) the partition
    /// count of a subscribed topic changed in the current metadata.
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// if let Some(reason) = group.rejoin_reason() {
    ///     println!("rejoining: {reason}");
    /// }
    /// # }
    /// ```
    pub fn rejoin_reason(&self) -> Option<RejoinReason> {
        let status = self.inner.status.borrow();
        if let Some(reason) = &status.rejoin {
            return Some(reason.clone());
        }
        if status.generation.is_none() {
            return Some(RejoinReason::NotJoined);
        }
        drop(status);
        if self.joined_subscription.as_ref() != Some(&self.subscription) {
            return Some(RejoinReason::SubscriptionChanged);
        }
        if !self.assigned_partition_counts.is_empty() {
            let snapshot = self.inner.metadata.snapshot();
            for (topic, count) in &self.assigned_partition_counts {
                let now = snapshot.topic(topic).map(|t| t.partitions.len());
                // A topic missing from the snapshot was not asked about since; only a known
                // count that differs is a change.
                if now.is_some() && now != *count {
                    return Some(RejoinReason::PartitionCountChanged(topic.clone()));
                }
            }
        }
        None
    }

    /// Whether this member must (re)join the group ([`GroupMembership::rejoin_reason`]).
    ///
    /// ```no_run
    /// # async fn example(group: &mut kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// if group.needs_rejoin() {
    ///     group.join(&[]).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn needs_rejoin(&self) -> bool {
        self.rejoin_reason().is_some()
    }

    /// The current generation (`None` before the first join, after a reset, after leaving).
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// if let Some(generation) = group.generation() {
    ///     println!("member {} of generation {}", generation.member_id, generation.generation_id);
    /// }
    /// # }
    /// ```
    pub fn generation(&self) -> Option<JoinedGeneration> {
        self.inner.status.borrow().generation.clone()
    }

    /// A receiver of the membership status, which changes when the heartbeat task learns
    /// something (rebalance, reset, fatal error, coordinator change) and after joins.
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// let mut status = group.status();
    /// let _ = status.wait_for(|s| s.rejoin.is_some()).await;
    /// # }
    /// ```
    pub fn status(&self) -> watch::Receiver<MembershipStatus> {
        self.inner.status.subscribe()
    }

    /// A fatal error the heartbeat task or a join ran into (the member must stop), if any.
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// if let Some(e) = group.fatal_error() { eprintln!("consumer must stop: {e}"); }
    /// # }
    /// ```
    pub fn fatal_error(&self) -> Option<GroupError> {
        self.inner.status.borrow().fatal.clone()
    }

    /// The coordinator's broker id, when known.
    ///
    /// ```no_run
    /// # fn example(group: &kafkit::consumer::group::GroupMembership) {
    /// println!("coordinator: {:?}", group.coordinator_id());
    /// # }
    /// ```
    pub fn coordinator_id(&self) -> Option<i32> {
        self.inner.status.borrow().coordinator_id
    }

    fn stop_heartbeat(&mut self) {
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }

    /// Starts a new epoch: results of anything started before are ignored from now on.
    fn bump_epoch(&self) -> u64 {
        let mut epoch = 0;
        self.inner.status.send_modify(|s| {
            s.epoch += 1;
            epoch = s.epoch;
        });
        epoch
    }

    /// Joins (or rejoins) the group: FindCoordinator if needed, JoinGroup (retried at once on
    /// MEMBER_ID_REQUIRED and UNKNOWN_MEMBER_ID, after back-off on REBALANCE_IN_PROGRESS and
    /// coordinator errors), the assignment if this member leads, SyncGroup, then the heartbeat
    /// task. `owned` are the partitions the member still owns (empty after an eager revocation);
    /// they go into the subscription for sticky and cooperative assignors.
    ///
    /// Runs until it succeeds or fails fatally (FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED,
    /// INCONSISTENT_GROUP_PROTOCOL, authorization, bad ConsumerProtocol bytes, ...); wrap it in
    /// `tokio::time::timeout` to bound it. Dropping the future midway leaves the member needing a
    /// rejoin.
    ///
    /// ```no_run
    /// # async fn example(group: &mut kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// let generation = group.join(&[]).await?;
    /// println!("assigned {:?}", generation.assignment);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn join(&mut self, owned: &[TopicPartition]) -> Result<JoinedGeneration, GroupError> {
        if let Some(fatal) = self.fatal_error() {
            return Err(fatal);
        }
        if self.subscription.is_empty() {
            return Err(GroupError::Invalid(
                "cannot join a group without a subscription".into(),
            ));
        }
        self.stop_heartbeat();
        let reason = self.rejoin_reason().unwrap_or(RejoinReason::Requested);
        let epoch = self.bump_epoch();
        // Until this join completes the member needs one, even if this future is dropped.
        self.inner.status.send_modify(|s| {
            s.rejoin.get_or_insert_with(|| reason.clone());
        });
        let mut backoff = Backoff::new(&self.inner.settings);
        tracing::info!(group = %self.inner.settings.group_id, %reason, "joining group");
        loop {
            let conn = self.inner.coordinator(None).await?;
            match self.join_once(&conn, owned, &reason, epoch).await {
                Ok(generation) => return Ok(generation),
                Err(Ok(Retry::Now)) => {}
                Err(Ok(Retry::Later)) => {
                    let _ = backoff.sleep(None).await;
                }
                Err(Err(fatal)) => {
                    tracing::error!(group = %self.inner.settings.group_id, error = %fatal, "joining the group failed");
                    if matches!(
                        fatal.error_code(),
                        Some(ErrorCode::FencedInstanceId | ErrorCode::GroupMaxSizeReached)
                    ) {
                        let stored = fatal.clone();
                        self.inner.status.send_modify(|s| s.fatal = Some(stored));
                    }
                    return Err(fatal);
                }
            }
        }
    }

    /// The subscription this member sends with `assignor`'s protocol.
    fn subscription_bytes(
        &self,
        assignor: &dyn Assignor,
        owned: &[TopicPartition],
        generation_id: i32,
    ) -> Bytes {
        let mut owned_partitions = owned.to_vec();
        owned_partitions.sort();
        owned_partitions.dedup();
        let subscription = Subscription {
            topics: self.subscription.clone(),
            user_data: assignor.subscription_user_data(&self.subscription),
            owned_partitions,
            generation_id,
            rack_id: self.inner.settings.client_rack.clone(),
        };
        encode_subscription(&subscription, CONSUMER_PROTOCOL_VERSION)
    }

    /// One JoinGroup + SyncGroup round. `Err(Ok(_))` asks for another round, `Err(Err(_))` is
    /// fatal.
    async fn join_once(
        &mut self,
        conn: &Arc<Connection>,
        owned: &[TopicPartition],
        reason: &RejoinReason,
        epoch: u64,
    ) -> Result<JoinedGeneration, Result<Retry, GroupError>> {
        let inner = self.inner.clone();
        let settings = &inner.settings;
        let join_version = conn
            .versions()
            .version(ApiKey::JoinGroup)
            .map_err(|e| Err(GroupError::Net(e.into())))?;
        if settings.group_instance_id.is_some() && join_version < 5 {
            return Err(Err(GroupError::Invalid(format!(
                "static membership (group.instance.id) needs JoinGroup v5+, the coordinator offers v{join_version}"
            ))));
        }
        let (member_id, last_generation) = {
            let status = inner.status.borrow();
            (
                status.member_id.clone(),
                status.generation.as_ref().map_or(-1, |g| g.generation_id),
            )
        };
        let protocols = self
            .assignors
            .iter()
            .map(|a| {
                JoinGroupRequestProtocol::default()
                    .with_name(s(a.name()))
                    .with_metadata(self.subscription_bytes(a.as_ref(), owned, last_generation))
            })
            .collect();
        let mut request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_session_timeout_ms(millis(settings.session_timeout))
            .with_member_id(s(&member_id))
            .with_protocol_type(s(CONSUMER_PROTOCOL_TYPE))
            .with_protocols(protocols);
        if join_version >= 1 {
            request.rebalance_timeout_ms = millis(settings.rebalance_timeout);
        }
        if join_version >= 5 {
            request.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        if join_version >= 8 {
            request.reason = Some(s(&reason.to_string()));
        }
        tracing::debug!(group = %settings.group_id, %member_id, version = join_version, "sending JoinGroup");
        let response = inner
            .call(
                conn,
                ApiKey::JoinGroup,
                join_version,
                request,
                settings.join_timeout(),
            )
            .await
            .map_err(retry_if_retriable)?;
        let error = ErrorCode::from_code(response.error_code);
        match error {
            ErrorCode::None => {}
            ErrorCode::MemberIdRequired => {
                let id = response.member_id.to_string();
                tracing::debug!(group = %settings.group_id, member_id = %id, "MEMBER_ID_REQUIRED; rejoining with the given id");
                inner.status.send_modify(|s| s.member_id = id);
                return Err(Ok(Retry::Now));
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                tracing::info!(group = %settings.group_id, %error, "JoinGroup reset the member; rejoining");
                inner
                    .status
                    .send_modify(|s| Inner::reset_member(s, RejoinReason::MemberReset(error)));
                return Err(Ok(Retry::Now));
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                inner.mark_coordinator_unknown(conn, error.name());
                return Err(Ok(Retry::Later));
            }
            ErrorCode::RebalanceInProgress | ErrorCode::CoordinatorLoadInProgress => {
                return Err(Ok(Retry::Later));
            }
            other if other.is_retriable() => return Err(Ok(Retry::Later)),
            other => {
                return Err(Err(GroupError::Broker {
                    api: ApiKey::JoinGroup,
                    error: other,
                }));
            }
        }
        let generation_id = response.generation_id;
        let member_id = response.member_id.to_string();
        let leader_id = response.leader.to_string();
        let protocol_name = response
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        if let Some(protocol_type) = &response.protocol_type {
            if protocol_type.as_str() != CONSUMER_PROTOCOL_TYPE {
                return Err(Err(GroupError::Broker {
                    api: ApiKey::JoinGroup,
                    error: ErrorCode::InconsistentGroupProtocol,
                }));
            }
        }
        let is_leader = leader_id == member_id;
        inner
            .status
            .send_modify(|s| s.member_id = member_id.clone());
        tracing::debug!(
            group = %settings.group_id,
            generation_id, %member_id, %leader_id, protocol = %protocol_name,
            skip_assignment = response.skip_assignment,
            "joined; syncing"
        );
        let assignments = if is_leader {
            self.lead(&response, &protocol_name).await.map_err(Err)?
        } else {
            Vec::new()
        };

        // SyncGroup.
        let sync_version = conn
            .versions()
            .version(ApiKey::SyncGroup)
            .map_err(|e| Err(GroupError::Net(e.into())))?;
        let mut sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_generation_id(generation_id)
            .with_member_id(s(&member_id))
            .with_assignments(assignments);
        if sync_version >= 3 {
            sync.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        if sync_version >= 5 {
            sync.protocol_type = Some(s(CONSUMER_PROTOCOL_TYPE));
            sync.protocol_name = Some(s(&protocol_name));
        }
        let response = inner
            .call(
                conn,
                ApiKey::SyncGroup,
                sync_version,
                sync,
                settings.join_timeout(),
            )
            .await
            .map_err(retry_if_retriable)?;
        let error = ErrorCode::from_code(response.error_code);
        match error {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                tracing::info!(group = %settings.group_id, "SyncGroup: rebalance in progress; rejoining");
                return Err(Ok(Retry::Now));
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                tracing::info!(group = %settings.group_id, %error, "SyncGroup reset the member; rejoining");
                inner
                    .status
                    .send_modify(|s| Inner::reset_member(s, RejoinReason::MemberReset(error)));
                return Err(Ok(Retry::Now));
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                inner.mark_coordinator_unknown(conn, error.name());
                return Err(Ok(Retry::Later));
            }
            other if other.is_retriable() => return Err(Ok(Retry::Later)),
            other => {
                return Err(Err(GroupError::Broker {
                    api: ApiKey::SyncGroup,
                    error: other,
                }));
            }
        }
        let inconsistent = response
            .protocol_type
            .as_ref()
            .is_some_and(|t| t.as_str() != CONSUMER_PROTOCOL_TYPE)
            || response
                .protocol_name
                .as_ref()
                .is_some_and(|n| n.as_str() != protocol_name);
        if inconsistent {
            return Err(Err(GroupError::Broker {
                api: ApiKey::SyncGroup,
                error: ErrorCode::InconsistentGroupProtocol,
            }));
        }
        let assignment = decode_assignment(&response.assignment).map_err(|e| Err(e.into()))?;
        // Every member tells its assignor (the sticky ones remember it for the next round).
        if let Some(assignor) = self.assignors.iter().find(|a| a.name() == protocol_name) {
            assignor.on_assignment(&assignment, generation_id);
        }
        let mut partitions = assignment.partitions;
        partitions.sort();
        partitions.dedup();
        let generation = JoinedGeneration {
            generation_id,
            member_id: member_id.clone(),
            protocol_name,
            rebalance_protocol: self.rebalance_protocol,
            leader_id,
            is_leader,
            assignment: partitions,
            user_data: assignment.user_data,
        };

        // Anything that already calls for another round.
        let subscribed: BTreeSet<&str> = self.subscription.iter().map(String::as_str).collect();
        let mut next_rejoin = None;
        if generation
            .assignment
            .iter()
            .any(|tp| !subscribed.contains(&*tp.topic))
        {
            next_rejoin = Some(RejoinReason::UnsubscribedTopicAssigned);
        } else if self.rebalance_protocol == RebalanceProtocol::Cooperative {
            let assigned: BTreeSet<&TopicPartition> = generation.assignment.iter().collect();
            if owned.iter().any(|tp| !assigned.contains(tp)) {
                next_rejoin = Some(RejoinReason::CooperativeRevocation);
            }
        }
        self.joined_subscription = Some(self.subscription.clone());
        if !is_leader {
            self.assigned_partition_counts.clear();
        }
        let installed = generation.clone();
        inner.update_if_current(epoch, |s| {
            s.member_id = member_id.clone();
            s.generation = Some(installed);
            s.rejoin = next_rejoin;
            s.partitions_lost = false;
        });
        tracing::info!(
            group = %settings.group_id,
            generation_id, %member_id, leader = is_leader,
            partitions = generation.assignment.len(),
            "joined group"
        );
        self.heartbeat = Some(tokio::spawn(heartbeat_loop(
            inner.clone(),
            epoch,
            generation_id,
            member_id,
        )));
        Ok(generation)
    }

    /// The leader's part: decode every member's subscription, get partition counts for every
    /// subscribed topic, run the selected assignor and encode each member's assignment.
    async fn lead(
        &mut self,
        response: &JoinGroupResponse,
        protocol_name: &str,
    ) -> Result<Vec<SyncGroupRequestAssignment>, GroupError> {
        let mut subscriptions = BTreeMap::new();
        let mut versions = BTreeMap::new();
        for member in &response.members {
            let id = member.member_id.to_string();
            let subscription = decode_subscription(&member.metadata)?;
            versions.insert(id.clone(), subscription_version(&member.metadata));
            subscriptions.insert(id, subscription);
        }
        let topics: BTreeSet<String> = subscriptions
            .values()
            .flat_map(|s| s.topics.iter().cloned())
            .collect();
        if response.skip_assignment {
            // A static leader that rejoined a stable group (KIP-814): the group keeps its
            // assignment; the leader still watches the partition counts.
            tracing::debug!(group = %self.inner.settings.group_id, "leader skips the assignment");
            self.assigned_partition_counts = self.partition_counts(&topics).await;
            return Ok(Vec::new());
        }
        let assignor = self
            .assignors
            .iter()
            .find(|a| a.name() == protocol_name)
            .cloned()
            .ok_or_else(|| GroupError::UnknownAssignor(protocol_name.to_owned()))?;
        let counts = self.partition_counts(&topics).await;
        let partitions_per_topic: BTreeMap<String, i32> = counts
            .iter()
            .filter_map(|(t, c)| c.map(|c| (t.clone(), i32::try_from(c).unwrap_or(i32::MAX))))
            .collect();
        let mut assignments = assignor.assign(&partitions_per_topic, &subscriptions);
        for id in subscriptions.keys() {
            assignments
                .entry(id.clone())
                .or_insert_with(Assignment::default);
        }
        tracing::debug!(
            group = %self.inner.settings.group_id,
            assignor = protocol_name,
            members = subscriptions.len(),
            topics = partitions_per_topic.len(),
            "leader computed the assignment"
        );
        self.assigned_partition_counts = counts;
        Ok(assignments
            .into_iter()
            .filter(|(id, _)| subscriptions.contains_key(id))
            .map(|(id, assignment)| {
                let version = versions
                    .get(&id)
                    .copied()
                    .unwrap_or(CONSUMER_PROTOCOL_VERSION);
                SyncGroupRequestAssignment::default()
                    .with_member_id(s(&id))
                    .with_assignment(encode_assignment(&assignment, version))
            })
            .collect())
    }

    /// Partition counts of `topics` after a metadata refresh (`None` for unknown topics).
    async fn partition_counts(&self, topics: &BTreeSet<String>) -> BTreeMap<String, Option<usize>> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if !names.is_empty() {
            if let Err(e) = self.inner.metadata.refresh(Some(&names)).await {
                tracing::warn!(group = %self.inner.settings.group_id, error = %e, "leader metadata refresh failed; assigning from cached metadata");
            }
        }
        let snapshot = self.inner.metadata.snapshot();
        topics
            .iter()
            .map(|t| {
                let count = snapshot
                    .topic(t)
                    .map(|info| info.partitions.len())
                    .filter(|c| *c > 0);
                (t.clone(), count)
            })
            .collect()
    }
}

impl GroupMembership {
    /// Leaves the group: stops heartbeating and, for a dynamic member, sends LeaveGroup so the
    /// others rebalance at once. A static member (`group.instance.id`) sends nothing, as in Java:
    /// its session timeout decides, so a restart within it keeps its partitions. The member id
    /// and generation are forgotten either way; UNKNOWN_MEMBER_ID counts as success.
    ///
    /// ```no_run
    /// # async fn example(group: &mut kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// group.leave("the consumer is closing").await?;
    /// assert!(group.generation().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn leave(&mut self, reason: &str) -> Result<(), GroupError> {
        self.stop_heartbeat();
        self.bump_epoch();
        let member_id = {
            let mut member_id = String::new();
            self.inner.status.send_modify(|s| {
                member_id = std::mem::take(&mut s.member_id);
                s.generation = None;
                s.rejoin = Some(RejoinReason::NotJoined);
                s.partitions_lost = false;
            });
            member_id
        };
        self.joined_subscription = None;
        self.assigned_partition_counts.clear();
        let settings = &self.inner.settings;
        if settings.group_instance_id.is_some() {
            tracing::info!(group = %settings.group_id, "static member stops without LeaveGroup");
            return Ok(());
        }
        if member_id.is_empty() {
            return Ok(());
        }
        let Some(link) = self.inner.current_coordinator() else {
            tracing::info!(group = %settings.group_id, "coordinator unknown; not sending LeaveGroup");
            return Ok(());
        };
        let conn = link.conn;
        let version = conn.versions().version(ApiKey::LeaveGroup)?;
        let mut request =
            LeaveGroupRequest::default().with_group_id(GroupId(s(&settings.group_id)));
        if version >= 3 {
            let mut member = MemberIdentity::default().with_member_id(s(&member_id));
            if version >= 5 {
                member.reason = Some(s(reason));
            }
            request.members = vec![member];
        } else {
            request.member_id = s(&member_id);
        }
        tracing::info!(group = %settings.group_id, %member_id, reason, "leaving group");
        let response = self
            .inner
            .call(
                &conn,
                ApiKey::LeaveGroup,
                version,
                request,
                settings.request_timeout,
            )
            .await?;
        let error = std::iter::once(response.error_code)
            .chain(response.members.iter().map(|m| m.error_code))
            .map(ErrorCode::from_code)
            .find(|c| !matches!(c, ErrorCode::None | ErrorCode::UnknownMemberId))
            .unwrap_or(ErrorCode::None);
        if error == ErrorCode::None {
            Ok(())
        } else {
            Err(GroupError::Broker {
                api: ApiKey::LeaveGroup,
                error,
            })
        }
    }
}

/// The highest rebalance protocol every assignor supports (Java's rule).
fn common_rebalance_protocol(
    assignors: &[Arc<dyn Assignor>],
) -> Result<RebalanceProtocol, GroupError> {
    let mut assignors = assignors.iter();
    let first = assignors
        .next()
        .ok_or_else(|| GroupError::Invalid("no partition assignor configured".into()))?;
    let mut common: BTreeSet<RebalanceProtocol> =
        first.supported_protocols().iter().copied().collect();
    for a in assignors {
        let theirs: BTreeSet<RebalanceProtocol> = a.supported_protocols().iter().copied().collect();
        common = common.intersection(&theirs).copied().collect();
    }
    common
        .last()
        .copied()
        .ok_or_else(|| GroupError::Invalid("the assignors share no rebalance protocol".into()))
}

/// The ConsumerProtocol version at the start of subscription bytes, clamped to what this member
/// writes (assignments go back at the member's own version).
fn subscription_version(metadata: &Bytes) -> i16 {
    match metadata.first_chunk::<2>() {
        Some(b) => i16::from_be_bytes(*b).clamp(0, CONSUMER_PROTOCOL_VERSION),
        None => 0,
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// A failed request during a join: retry (after back-off) when retriable, else fatal.
fn retry_if_retriable(e: GroupError) -> Result<Retry, GroupError> {
    if e.is_retriable() {
        Ok(Retry::Later)
    } else {
        Err(e)
    }
}
