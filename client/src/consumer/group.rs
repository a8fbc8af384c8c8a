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
//! heartbeat: the partitions are then *lost*, not revoked), a fatal FENCED_INSTANCE_ID. No lock
//! is held across an `.await`; results of a heartbeat that belongs to an older join are ignored.
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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::assignor::{
    Assignment, Assignor, RebalanceProtocol, Subscription, decode_assignment, decode_subscription,
    encode_assignment, encode_subscription,
};
use crate::TopicPartition;
use crate::cluster::{ClusterError, Metadata};
use crate::net::{Connection, ConnectionConfig, NetError};
use crate::protocol::{ErrorCode, ProtocolError, VersionError};

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

/// The coordinator's broker id and the dedicated connection to it.
#[derive(Debug, Clone)]
struct CoordinatorLink {
    node_id: i32,
    conn: Arc<Connection>,
}

/// State shared by the membership handle and its heartbeat task.
#[derive(Debug)]
struct Inner {
    metadata: Arc<Metadata>,
    settings: GroupSettings,
    /// Settings of the dedicated coordinator connection (its request timeout covers JoinGroup).
    coordinator_config: ConnectionConfig,
    coordinator: Mutex<Option<CoordinatorLink>>,
    /// Serialises coordinator lookups so that concurrent callers share one.
    discovering: tokio::sync::Mutex<()>,
    status: watch::Sender<MembershipStatus>,
}

/// Exponential back-off: `retry.backoff.ms` doubling up to `retry.backoff.max.ms`.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(settings: &GroupSettings) -> Self {
        Backoff {
            next: settings.retry_backoff,
            max: settings.retry_backoff_max.max(settings.retry_backoff),
        }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Sleeps the next delay, or fails when it would end after `deadline`.
    async fn sleep(&mut self, deadline: Option<Instant>) -> Result<(), ()> {
        let wake = Instant::now() + self.next_delay();
        match deadline {
            Some(deadline) if wake >= deadline => {
                tokio::time::sleep_until(deadline).await;
                Err(())
            }
            _ => {
                tokio::time::sleep_until(wake).await;
                Ok(())
            }
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Whether a group API error means the coordinator moved or is unreachable.
fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

impl Inner {
    fn lock_coordinator(&self) -> MutexGuard<'_, Option<CoordinatorLink>> {
        self.coordinator
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current_coordinator(&self) -> Option<CoordinatorLink> {
        self.lock_coordinator()
            .as_ref()
            .filter(|link| !link.conn.is_closed())
            .cloned()
    }

    /// Forgets the coordinator reached through `conn` (unless another one was found since) and
    /// closes that connection, as Java's `markCoordinatorUnknown` does.
    fn mark_coordinator_unknown(&self, conn: &Arc<Connection>, why: &str) {
        let forgot = {
            let mut current = self.lock_coordinator();
            match current.as_ref() {
                Some(link) if Arc::ptr_eq(&link.conn, conn) => current.take(),
                _ => None,
            }
        };
        conn.close();
        if let Some(link) = forgot {
            tracing::info!(
                group = %self.settings.group_id,
                coordinator = link.node_id,
                reason = why,
                "group coordinator unknown; will rediscover"
            );
            self.status.send_if_modified(|s| {
                let changed = s.coordinator_id.is_some();
                s.coordinator_id = None;
                changed
            });
        }
    }

    /// The coordinator connection, discovering the coordinator first (with back-off) when it is
    /// unknown. Fails on a non-retriable error or when `deadline` passes.
    async fn coordinator(&self, deadline: Option<Instant>) -> Result<Arc<Connection>, GroupError> {
        let mut backoff = Backoff::new(&self.settings);
        loop {
            if let Some(link) = self.current_coordinator() {
                return Ok(link.conn);
            }
            let attempt = {
                let _guard = self.discovering.lock().await;
                if let Some(link) = self.current_coordinator() {
                    return Ok(link.conn);
                }
                let lookup = self.discover();
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, lookup)
                        .await
                        .unwrap_or(Err(GroupError::Timeout(self.settings.api_timeout))),
                    None => lookup.await,
                }
            };
            match attempt {
                Ok(link) => {
                    let conn = link.conn.clone();
                    tracing::info!(
                        group = %self.settings.group_id,
                        coordinator = link.node_id,
                        addr = conn.addr(),
                        "discovered group coordinator"
                    );
                    let node_id = link.node_id;
                    *self.lock_coordinator() = Some(link);
                    self.status.send_if_modified(|s| {
                        let changed = s.coordinator_id != Some(node_id);
                        s.coordinator_id = Some(node_id);
                        changed
                    });
                    return Ok(conn);
                }
                Err(e) if !e.is_retriable() => return Err(e),
                Err(e) => {
                    tracing::debug!(group = %self.settings.group_id, error = %e, "coordinator lookup failed; retrying");
                    if backoff.sleep(deadline).await.is_err() {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// One FindCoordinator round trip and a dedicated connection to the answer.
    async fn discover(&self) -> Result<CoordinatorLink, GroupError> {
        let (_, conn) = self.metadata.pool().any().await?;
        let version = conn.versions().version(ApiKey::FindCoordinator)?;
        let group_id = s(&self.settings.group_id);
        let mut request = FindCoordinatorRequest::default();
        if version >= 4 {
            request.coordinator_keys = vec![group_id.clone()];
        } else {
            request.key = group_id.clone();
        }
        if version >= 1 {
            request.key_type = KEY_TYPE_GROUP;
        }
        let response = tokio::time::timeout(
            self.settings.request_timeout,
            conn.send_with_version(request, version),
        )
        .await
        .map_err(|_| NetError::Timeout {
            api: ApiKey::FindCoordinator,
            timeout: self.settings.request_timeout,
        })??;
        let (code, node_id, host, port) = if version >= 4 {
            let found = response
                .coordinators
                .iter()
                .find(|c| c.key == group_id)
                .ok_or(GroupError::Broker {
                    api: ApiKey::FindCoordinator,
                    error: ErrorCode::CoordinatorNotAvailable,
                })?;
            (
                found.error_code,
                found.node_id.0,
                found.host.to_string(),
                found.port,
            )
        } else {
            (
                response.error_code,
                response.node_id.0,
                response.host.to_string(),
                response.port,
            )
        };
        let error = ErrorCode::from_code(code);
        if error != ErrorCode::None {
            return Err(GroupError::Broker {
                api: ApiKey::FindCoordinator,
                error,
            });
        }
        let addr = format!("{host}:{port}");
        let conn = Connection::connect(&addr, &self.coordinator_config).await?;
        Ok(CoordinatorLink {
            node_id,
            conn: Arc::new(conn),
        })
    }

    /// Sends `request` to the coordinator through `conn` within `timeout`; a wire failure or
    /// timeout forgets the coordinator.
    async fn call<R: Request>(
        &self,
        conn: &Arc<Connection>,
        api: ApiKey,
        version: i16,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response, GroupError> {
        let result =
            match tokio::time::timeout(timeout, conn.send_with_version(request, version)).await {
                Ok(result) => result,
                Err(_) => Err(NetError::Timeout { api, timeout }),
            };
        result.map_err(|e| {
            if e.is_retriable() {
                self.mark_coordinator_unknown(conn, &e.to_string());
            }
            GroupError::Net(e)
        })
    }

    /// Applies `f` to the status if `epoch` is still current; returns whether it did.
    fn update_if_current(&self, epoch: u64, f: impl FnOnce(&mut MembershipStatus)) -> bool {
        self.status.send_if_modified(|s| {
            if s.epoch != epoch {
                return false;
            }
            f(s);
            true
        })
    }

    /// Forgets member id and generation: the partitions are lost.
    fn reset_member(s: &mut MembershipStatus, reason: RejoinReason) {
        s.member_id.clear();
        if s.generation.take().is_some() {
            s.partitions_lost = true;
        }
        s.rejoin = Some(reason);
    }
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
        let reason = self
            .rejoin_reason()
            .unwrap_or(RejoinReason::RebalanceInProgress);
        let epoch = self.bump_epoch();
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

    /// Commits `offsets` with the current generation and member id (generation -1 and no member
    /// id when not joined: a commit for a group without members). Retries coordinator moves and
    /// retriable errors until `api_timeout`; ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID for the
    /// current generation also reset the member (its partitions are lost; rejoin).
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::TopicPartition;
    /// use kafkit::consumer::group::OffsetAndMetadata;
    /// let offsets = BTreeMap::from([(TopicPartition::new("orders", 0), OffsetAndMetadata::new(42))]);
    /// group.commit_offsets(&offsets).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        let (generation_id, member_id) = {
            let status = self.inner.status.borrow();
            match &status.generation {
                Some(g) => (g.generation_id, g.member_id.clone()),
                None => (-1, String::new()),
            }
        };
        self.commit(generation_id, &member_id, offsets).await
    }

    /// Commits `offsets` as a member of `generation` (for offsets of records consumed in that
    /// generation: if the group moved on, the commit fails with ILLEGAL_GENERATION instead of
    /// committing for partitions that may belong to someone else now).
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use std::collections::BTreeMap;
    /// let generation = group.generation().expect("joined");
    /// group.commit_offsets_in_generation(&generation, &BTreeMap::new()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit_offsets_in_generation(
        &self,
        generation: &JoinedGeneration,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        self.commit(generation.generation_id, &generation.member_id, offsets)
            .await
    }

    async fn commit(
        &self,
        generation_id: i32,
        member_id: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let settings = &inner.settings;
        let deadline = Instant::now() + settings.api_timeout;
        let mut backoff = Backoff::new(settings);
        loop {
            let conn = inner.coordinator(Some(deadline)).await?;
            let outcome = self
                .commit_once(&conn, generation_id, member_id, offsets)
                .await;
            let error = match outcome {
                Ok(()) => {
                    tracing::debug!(group = %settings.group_id, partitions = offsets.len(), generation_id, "offsets committed");
                    return Ok(());
                }
                Err(e) => e,
            };
            if let GroupError::Commit { errors } = &error {
                if let Some(&code) = errors.values().find(|c| {
                    matches!(
                        c,
                        ErrorCode::IllegalGeneration
                            | ErrorCode::UnknownMemberId
                            | ErrorCode::FencedInstanceId
                    )
                }) {
                    // Java's resetGenerationOnResponseError, only when the commit used the
                    // generation the member still has.
                    inner.status.send_if_modified(|s| {
                        let current = s.generation.as_ref().is_some_and(|g| {
                            g.generation_id == generation_id && g.member_id == member_id
                        });
                        if !current {
                            return false;
                        }
                        if code == ErrorCode::FencedInstanceId {
                            s.fatal = Some(GroupError::Broker {
                                api: ApiKey::OffsetCommit,
                                error: code,
                            });
                        }
                        Inner::reset_member(s, RejoinReason::MemberReset(code));
                        true
                    });
                }
                if let Some(&code) = errors.values().find(|c| is_coordinator_error(**c)) {
                    inner.mark_coordinator_unknown(&conn, code.name());
                }
            }
            if !error.is_retriable() {
                tracing::warn!(group = %settings.group_id, error = %error, "offset commit failed");
                return Err(error);
            }
            tracing::debug!(group = %settings.group_id, error = %error, "offset commit failed; retrying");
            if backoff.sleep(Some(deadline)).await.is_err() {
                return Err(error);
            }
        }
    }

    async fn commit_once(
        &self,
        conn: &Arc<Connection>,
        generation_id: i32,
        member_id: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        let settings = &self.inner.settings;
        let version = conn.versions().version(ApiKey::OffsetCommit)?;
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, committed) in offsets {
            let mut partition = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(committed.offset)
                .with_committed_metadata(Some(s(&committed.metadata)));
            if version >= 6 {
                partition.committed_leader_epoch = committed.leader_epoch.unwrap_or(-1);
            }
            match topics.last_mut() {
                Some(t) if t.name.0.as_str() == &*tp.topic => t.partitions.push(partition),
                _ => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(&tp.topic)))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let mut request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_topics(topics);
        if version >= 1 {
            request.generation_id_or_member_epoch = generation_id;
            request.member_id = s(member_id);
        }
        if (2..=4).contains(&version) {
            request.retention_time_ms = -1;
        }
        if version >= 7 {
            request.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        let response = self
            .inner
            .call(
                conn,
                ApiKey::OffsetCommit,
                version,
                request,
                settings.request_timeout,
            )
            .await?;
        let mut errors = BTreeMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                let code = ErrorCode::from_code(p.error_code);
                if code != ErrorCode::None {
                    errors.insert(
                        TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                        code,
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GroupError::Commit { errors })
        }
    }

    /// The committed offsets of `partitions` (OffsetFetch): `None` for a partition without a
    /// commit. Retries coordinator moves and retriable errors until `api_timeout`.
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use kafkit::TopicPartition;
    /// let committed = group.committed(&[TopicPartition::new("orders", 0)]).await?;
    /// for (tp, offset) in committed {
    ///     println!("{tp}: {:?}", offset.map(|o| o.offset));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, GroupError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let inner = &self.inner;
        let settings = &inner.settings;
        let deadline = Instant::now() + settings.api_timeout;
        let mut backoff = Backoff::new(settings);
        loop {
            let conn = inner.coordinator(Some(deadline)).await?;
            let error = match self.fetch_once(&conn, partitions).await {
                Ok(found) => return Ok(found),
                Err(e) => e,
            };
            if let Some(code) = error.error_code() {
                if is_coordinator_error(code) {
                    inner.mark_coordinator_unknown(&conn, code.name());
                }
            }
            if !error.is_retriable() {
                return Err(error);
            }
            tracing::debug!(group = %settings.group_id, error = %error, "offset fetch failed; retrying");
            if backoff.sleep(Some(deadline)).await.is_err() {
                return Err(error);
            }
        }
    }

    async fn fetch_once(
        &self,
        conn: &Arc<Connection>,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, GroupError> {
        let settings = &self.inner.settings;
        let version = conn.versions().version(ApiKey::OffsetFetch)?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let group_id = GroupId(s(&settings.group_id));
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(group_id)
                    .with_topics(Some(
                        by_topic
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(TopicName(s(t)))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect(),
                    )),
            ];
        } else {
            request.group_id = group_id;
            request.topics = Some(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect(),
            );
        }
        let response = self
            .inner
            .call(
                conn,
                ApiKey::OffsetFetch,
                version,
                request,
                settings.request_timeout,
            )
            .await?;
        // (topic, partition, offset, epoch, metadata, error) rows from either layout.
        let mut rows = Vec::new();
        let top_error = if version >= 8 {
            let group = response
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == settings.group_id);
            let Some(group) = group else {
                return Err(GroupError::Broker {
                    api: ApiKey::OffsetFetch,
                    error: ErrorCode::InvalidRequest,
                });
            };
            for t in &group.topics {
                for p in &t.partitions {
                    rows.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref().map(|m| m.to_string()),
                        p.error_code,
                    ));
                }
            }
            group.error_code
        } else {
            for t in &response.topics {
                for p in &t.partitions {
                    rows.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref().map(|m| m.to_string()),
                        p.error_code,
                    ));
                }
            }
            response.error_code
        };
        let top_error = ErrorCode::from_code(top_error);
        if top_error != ErrorCode::None {
            return Err(GroupError::Broker {
                api: ApiKey::OffsetFetch,
                error: top_error,
            });
        }
        let mut found: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
            partitions.iter().map(|tp| (tp.clone(), None)).collect();
        let mut errors = BTreeMap::new();
        for (topic, partition, offset, epoch, metadata, code) in rows {
            let tp = TopicPartition::new(topic, partition);
            let code = ErrorCode::from_code(code);
            if code != ErrorCode::None {
                errors.insert(tp, code);
                continue;
            }
            if offset < 0 || !found.contains_key(&tp) {
                continue;
            }
            let committed = OffsetAndMetadata {
                offset,
                leader_epoch: (version >= 5 && epoch >= 0).then_some(epoch),
                metadata: metadata.unwrap_or_default(),
            };
            found.insert(tp, Some(committed));
        }
        if errors.is_empty() {
            Ok(found)
        } else {
            Err(GroupError::OffsetFetch { errors })
        }
    }

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

/// The heartbeat task of one generation: a Heartbeat every `heartbeat.interval.ms`, reporting
/// through the status watch; ends when the member must rejoin from scratch, on a fatal error,
/// when the session runs out, or when aborted (a new join, leave, drop).
async fn heartbeat_loop(inner: Arc<Inner>, epoch: u64, generation_id: i32, member_id: String) {
    let settings = &inner.settings;
    let mut last_success = Instant::now();
    let mut backoff = Backoff::new(settings);
    let mut delay = settings.heartbeat_interval;
    loop {
        tokio::time::sleep(delay).await;
        let session_end = last_success + settings.session_timeout;
        if Instant::now() >= session_end {
            tracing::warn!(group = %settings.group_id, %member_id, "no successful heartbeat within the session timeout; partitions lost");
            if let Some(link) = inner.current_coordinator() {
                inner.mark_coordinator_unknown(&link.conn, "session timed out");
            }
            inner.update_if_current(epoch, |s| {
                Inner::reset_member(s, RejoinReason::SessionTimedOut);
            });
            return;
        }
        let conn = match inner.coordinator(Some(session_end)).await {
            Ok(conn) => conn,
            Err(e) if !e.is_retriable() => {
                inner.update_if_current(epoch, |s| s.fatal = Some(e));
                return;
            }
            Err(_) => {
                // The session ran out while looking: the check above reports it.
                delay = Duration::ZERO;
                continue;
            }
        };
        let version = match conn.versions().version(ApiKey::Heartbeat) {
            Ok(v) => v,
            Err(e) => {
                inner.update_if_current(epoch, |s| s.fatal = Some(GroupError::Net(e.into())));
                return;
            }
        };
        let mut request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_generation_id(generation_id)
            .with_member_id(s(&member_id));
        if version >= 3 {
            request.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        let timeout = settings
            .request_timeout
            .min(session_end.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(1));
        let code = match inner
            .call(&conn, ApiKey::Heartbeat, version, request, timeout)
            .await
        {
            Ok(response) => ErrorCode::from_code(response.error_code),
            Err(e) => {
                tracing::debug!(group = %settings.group_id, error = %e, "heartbeat failed");
                delay = backoff.next_delay();
                continue;
            }
        };
        match code {
            ErrorCode::None => {
                last_success = Instant::now();
                backoff = Backoff::new(settings);
                delay = settings.heartbeat_interval;
                inner.update_if_current(epoch, |s| s.heartbeats += 1);
            }
            ErrorCode::RebalanceInProgress => {
                // The member is alive; it must rejoin. Keep heartbeating until it does.
                last_success = Instant::now();
                delay = settings.heartbeat_interval;
                let reported = inner.update_if_current(epoch, |s| {
                    s.heartbeats += 1;
                    if s.rejoin.is_none() {
                        s.rejoin = Some(RejoinReason::RebalanceInProgress);
                    }
                });
                if reported {
                    tracing::info!(group = %settings.group_id, "heartbeat: rebalance in progress; rejoin needed");
                }
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                tracing::info!(group = %settings.group_id, %code, "heartbeat: member reset; partitions lost");
                inner.update_if_current(epoch, |s| {
                    Inner::reset_member(s, RejoinReason::MemberReset(code));
                });
                return;
            }
            ErrorCode::FencedInstanceId => {
                tracing::error!(group = %settings.group_id, "heartbeat: fenced by another instance with the same group.instance.id");
                inner.update_if_current(epoch, |s| {
                    s.fatal = Some(GroupError::Broker {
                        api: ApiKey::Heartbeat,
                        error: code,
                    });
                    Inner::reset_member(s, RejoinReason::MemberReset(code));
                });
                return;
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                inner.mark_coordinator_unknown(&conn, code.name());
                delay = backoff.next_delay();
            }
            other if other.is_retriable() => {
                delay = backoff.next_delay();
            }
            other => {
                tracing::error!(group = %settings.group_id, error = %other, "heartbeat failed fatally");
                inner.update_if_current(epoch, |s| {
                    s.fatal = Some(GroupError::Broker {
                        api: ApiKey::Heartbeat,
                        error: other,
                    });
                });
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(&'static str, &'static [RebalanceProtocol]);

    impl Assignor for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn supported_protocols(&self) -> &[RebalanceProtocol] {
            self.1
        }
        fn assign(
            &self,
            _: &BTreeMap<String, i32>,
            subscriptions: &BTreeMap<String, Subscription>,
        ) -> BTreeMap<String, Assignment> {
            subscriptions
                .keys()
                .map(|m| (m.clone(), Assignment::default()))
                .collect()
        }
    }

    const EAGER: &[RebalanceProtocol] = &[RebalanceProtocol::Eager];
    const BOTH: &[RebalanceProtocol] = &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager];

    fn assignors(list: &[(&'static str, &'static [RebalanceProtocol])]) -> Vec<Arc<dyn Assignor>> {
        list.iter()
            .map(|(n, p)| Arc::new(Fixed(n, p)) as Arc<dyn Assignor>)
            .collect()
    }

    #[test]
    fn rebalance_protocol_is_the_highest_common_one() {
        assert_eq!(
            common_rebalance_protocol(&assignors(&[("cooperative-sticky", BOTH)])).unwrap(),
            RebalanceProtocol::Cooperative
        );
        assert_eq!(
            common_rebalance_protocol(&assignors(&[
                ("range", EAGER),
                ("cooperative-sticky", BOTH)
            ]))
            .unwrap(),
            RebalanceProtocol::Eager
        );
        assert!(matches!(
            common_rebalance_protocol(&[]),
            Err(GroupError::Invalid(_))
        ));
        assert!(matches!(
            common_rebalance_protocol(&assignors(&[
                ("a", &[RebalanceProtocol::Cooperative]),
                ("b", EAGER)
            ])),
            Err(GroupError::Invalid(_))
        ));
    }

    #[test]
    fn defaults_follow_java() {
        let s = GroupSettings::new("g");
        assert_eq!(s.retry_backoff, Duration::from_millis(100));
        assert_eq!(s.retry_backoff_max, Duration::from_secs(1));
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.api_timeout, Duration::from_secs(60));
        let mut short = s.clone();
        short.rebalance_timeout = Duration::from_secs(1);
        assert_eq!(short.join_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn backoff_doubles_up_to_the_max() {
        let mut settings = GroupSettings::new("g");
        settings.retry_backoff = Duration::from_millis(100);
        settings.retry_backoff_max = Duration::from_millis(350);
        let mut b = Backoff::new(&settings);
        let delays: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
    }

    #[test]
    fn subscription_version_is_read_and_clamped() {
        assert_eq!(subscription_version(&Bytes::from_static(&[0, 1, 9])), 1);
        assert_eq!(subscription_version(&Bytes::from_static(&[0, 7])), 3);
        assert_eq!(subscription_version(&Bytes::from_static(&[0xff, 0xff])), 0);
        assert_eq!(subscription_version(&Bytes::new()), 0);
    }

    #[test]
    fn errors_are_typed_and_classified() {
        let tp = TopicPartition::new("t", 0);
        let commit = GroupError::Commit {
            errors: BTreeMap::from([(tp.clone(), ErrorCode::IllegalGeneration)]),
        };
        assert_eq!(commit.error_code(), Some(ErrorCode::IllegalGeneration));
        assert!(!commit.is_retriable());
        assert!(commit.to_string().contains("t-0: ILLEGAL_GENERATION"));
        let moved = GroupError::Commit {
            errors: BTreeMap::from([(tp, ErrorCode::NotCoordinator)]),
        };
        assert!(moved.is_retriable());
        assert!(is_coordinator_error(ErrorCode::CoordinatorNotAvailable));
        assert!(!is_coordinator_error(ErrorCode::CoordinatorLoadInProgress));
    }

    #[test]
    fn reset_marks_partitions_lost_only_with_a_generation() {
        let mut status = MembershipStatus {
            member_id: "m".into(),
            ..MembershipStatus::default()
        };
        Inner::reset_member(&mut status, RejoinReason::SessionTimedOut);
        assert!(!status.partitions_lost);
        assert!(status.member_id.is_empty());
        status.generation = Some(JoinedGeneration {
            generation_id: 3,
            member_id: "m".into(),
            protocol_name: "range".into(),
            rebalance_protocol: RebalanceProtocol::Eager,
            leader_id: "m".into(),
            is_leader: true,
            assignment: vec![],
            user_data: None,
        });
        Inner::reset_member(
            &mut status,
            RejoinReason::MemberReset(ErrorCode::UnknownMemberId),
        );
        assert!(status.partitions_lost);
        assert_eq!(
            status.rejoin,
            Some(RejoinReason::MemberReset(ErrorCode::UnknownMemberId))
        );
    }

    #[tokio::test]
    async fn new_membership_needs_a_join_and_a_subscription() {
        let pool = Arc::new(crate::net::ConnectionPool::new(
            ConnectionConfig::default(),
            ["127.0.0.1:1"],
        ));
        let metadata = Arc::new(Metadata::new(pool, false));
        assert!(matches!(
            GroupMembership::new(
                metadata.clone(),
                GroupSettings::new(""),
                assignors(&[("range", EAGER)])
            ),
            Err(GroupError::Invalid(_))
        ));
        let mut group = GroupMembership::new(
            metadata,
            GroupSettings::new("g"),
            assignors(&[("range", EAGER)]),
        )
        .unwrap();
        assert_eq!(group.rejoin_reason(), Some(RejoinReason::NotJoined));
        assert_eq!(group.generation(), None);
        assert!(matches!(group.join(&[]).await, Err(GroupError::Invalid(_))));
        group.subscribe(vec!["b".into(), "a".into(), "b".into()]);
        assert_eq!(group.subscription(), ["a", "b"]);
        // Leaving without ever joining sends nothing.
        group.leave("test").await.unwrap();
        assert!(group.needs_rejoin());
    }
}
