//! The async [`Consumer`] (Java's `KafkaConsumer`): subscribe or assign, poll records, commit,
//! seek, pause, and the rebalance listener.
//!
//! **Owns:** the poll loop that drives the sans-IO [`Fetcher`] (sending its Fetch, ListOffsets
//! and OffsetForLeaderEpoch requests from spawned tasks), the sequencing of rebalances around
//! [`GroupMembership::join`] (listener callbacks, revocation, auto-commit), and auto-commit.
//! **Must not touch:** fetch positions' rules (the [`Fetcher`]'s), group protocol details (the
//! [`GroupMembership`]'s), sockets (only through [`crate::net`]).
//!
//! # Design
//!
//! * One [`Fetcher`] behind a `std::sync::Mutex`, shared with the request tasks. No std lock is
//!   held across an `.await`: a task sends its request, then locks the fetcher only to apply the
//!   answer, and wakes the poller through a [`Notify`].
//! * The fetcher allows one Fetch per broker at a time; every `poll` starts the Fetches it can
//!   before returning, so the next batch is fetched while the application processes this one.
//! * The group membership sits behind a `tokio::sync::RwLock`: joins take it exclusively,
//!   commits share it (so [`Consumer::commit_async`] can run in a task).
//! * Eager rebalances block `poll` as in Java: revoke everything, then join inside `poll`. So
//!   does the first join of a member that owns nothing (there is nothing to fetch meanwhile).
//! * Cooperative rebalances (KIP-429) of a member that owns partitions do not stop consumption:
//!   the join runs in a spawned task (which holds the membership lock exclusively and leaves
//!   its outcome in a slot, then wakes the poller), while `poll` keeps fetching and returning
//!   records of the owned partitions and returns on its own timeout. The `poll` that finds the
//!   outcome applies it: `on_partitions_revoked` with only the partitions that moved (committed
//!   first with `enable.auto.commit`), the fetcher's new assignment, `on_partitions_assigned`
//!   with the added ones, then the follow-up join when partitions were revoked. The task is
//!   aborted by `unsubscribe`, `close` and drop.
//! * Commits while such a join is running fail at once with REBALANCE_IN_PROGRESS
//!   ([`ConsumerError::is_rebalance_in_progress`]), as Java's `commitSync` throws
//!   `RebalanceInProgressException`: poll, then commit again. Auto-commit waits for the
//!   rebalance to be applied.
//! * Rebalance listener callbacks run inside `poll` (and `unsubscribe`/`close`), like Java.
//! * `max.poll.interval.ms`: a watchdog task (group members only) leaves the group when the
//!   application has not polled for that long outside a poll; the next poll reports the
//!   partitions lost and rejoins (Java's poll timeout).
//! * Heartbeats are the group layer's own task; auto-commit runs from `poll` in a background
//!   task every `auto.commit.interval.ms`, before a revocation, and on `close`.
//!
//! # Not done (vs. Java)
//!
//! * Regex subscriptions, `enforceRebalance`, `wakeup`, metrics, `beginningOffsets`/
//!   `endOffsets` as calls (use `seek_to_*` + `position`), the KIP-848 consumer protocol.
//! * An eager join (or the first join of a member owning nothing) inside `poll` is bounded by
//!   `default.api.timeout.ms`, not by the poll timeout; only cooperative rebalances of a member
//!   that owns partitions leave `poll` free (see Design). `committed` waits for a background
//!   join to finish.
//!
//! ```no_run
//! use std::time::Duration;
//! use kafkit::consumer::client::Consumer;
//! use kafkit::consumer::config::ConsumerConfig;
//!
//! # async fn example() -> Result<(), kafkit::consumer::client::ConsumerError> {
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers("localhost:9092")
//!     .group_id("billing")
//!     .build()?;
//! let mut consumer = Consumer::new(config)?;
//! consumer.subscribe(&["orders"])?;
//! for record in consumer.poll(Duration::from_secs(1)).await? {
//!     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//! }
//! consumer.commit().await?;
//! consumer.close().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Request;
use tokio::sync::{Notify, RwLock};
use tokio::time::Instant;
use tracing::Instrument;

use super::assignor::RebalanceProtocol;
use super::config::{AutoOffsetReset, ConsumerConfig};
use super::fetcher::{
    FetchError, FetchPosition, FetchSettings, Fetcher, IsolationLevel, OffsetResetStrategy,
    OffsetSpec, build_list_offsets_request, list_offsets_targets_by_leader,
    parse_list_offsets_response,
};
use super::group::{
    GroupError, GroupMembership, GroupSettings, JoinedGeneration, OffsetAndMetadata,
};
use super::record::ConsumerRecord;
use crate::TopicPartition;
use crate::cluster::{ClusterError, Metadata};
use crate::config::ConfigError;
use crate::net::{ConnectionPool, NetError};
use crate::protocol::ErrorCode;

/// Errors of the [`Consumer`].
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::client::ConsumerError;
/// let e = ConsumerError::NoOffsetForPartition(TopicPartition::new("t", 0));
/// assert!(e.to_string().contains("t-0"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The configuration is invalid.
    #[error("invalid consumer configuration: {0}")]
    Config(#[from] ConfigError),
    /// `Consumer::new` was called outside a tokio runtime.
    #[error("the consumer must be created inside a tokio runtime")]
    NoRuntime,
    /// A fetch error of one partition (out of range, corrupt record, authorization, ...).
    #[error(transparent)]
    Fetch(FetchError),
    /// A group membership or offset commit/fetch error.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// A network error.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A metadata error.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The partition has no committed offset and `auto.offset.reset` is `none`.
    #[error("no offset for partition {0} and auto.offset.reset is none")]
    NoOffsetForPartition(TopicPartition),
    /// A broker error for one partition (ListOffsets).
    #[error("error for partition {partition}: {error}")]
    Broker {
        /// The partition.
        partition: TopicPartition,
        /// The broker's error.
        error: ErrorCode,
    },
    /// A record's key or value could not be deserialized (a
    /// [`TypedConsumer`](super::typed::TypedConsumer)). The partition's position is left at
    /// the record: seek past it to go on.
    #[error("cannot deserialize the record at {partition} offset {offset}: {source}")]
    Deserialize {
        /// The partition.
        partition: TopicPartition,
        /// The record's offset.
        offset: i64,
        /// What was wrong.
        #[source]
        source: Arc<crate::serde::SerdeError>,
    },
    /// The operation needs a `group.id` (subscribe, commit, committed).
    #[error("this operation needs a group.id")]
    NoGroupId,
    /// The operation needs the partition to be assigned to this consumer.
    #[error("partition {0} is not assigned to this consumer")]
    NotAssigned(TopicPartition),
    /// An illegal call sequence (e.g. `assign` while subscribed).
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// The operation did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The consumer is closed.
    #[error("the consumer is closed")]
    Closed,
}

impl ConsumerError {
    /// Whether this is a commit refused because the group is rebalancing (REBALANCE_IN_PROGRESS,
    /// Java's `RebalanceInProgressException`): not fatal, poll (to complete the rebalance) and
    /// commit again.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use kafkit::TopicPartition;
    /// use kafkit::consumer::client::ConsumerError;
    /// use kafkit::consumer::group::GroupError;
    /// use kafkit::protocol::ErrorCode;
    /// let e = ConsumerError::Group(GroupError::Commit {
    ///     errors: BTreeMap::from([(TopicPartition::new("t", 0), ErrorCode::RebalanceInProgress)]),
    /// });
    /// assert!(e.is_rebalance_in_progress());
    /// assert!(!ConsumerError::Closed.is_rebalance_in_progress());
    /// ```
    pub fn is_rebalance_in_progress(&self) -> bool {
        matches!(self, ConsumerError::Group(g) if g.error_code() == Some(ErrorCode::RebalanceInProgress))
    }
}

/// The error of a commit attempted while a cooperative join runs in the background.
fn rebalance_in_progress(offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>) -> GroupError {
    GroupError::Commit {
        errors: offsets
            .keys()
            .map(|tp| (tp.clone(), ErrorCode::RebalanceInProgress))
            .collect(),
    }
}

/// A cooperative join running in a spawned task while `poll` goes on fetching.
#[derive(Debug)]
struct BackgroundJoin {
    task: tokio::task::JoinHandle<()>,
    /// The join's outcome, left by the task (after releasing the membership lock) as it ends.
    outcome: Arc<Mutex<Option<Result<JoinedGeneration, ConsumerError>>>>,
}

impl BackgroundJoin {
    fn is_running(&self) -> bool {
        lock(&self.outcome).is_none()
    }
}

impl From<FetchError> for ConsumerError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::NoOffsetForPartition(tp) => ConsumerError::NoOffsetForPartition(tp),
            other => ConsumerError::Fetch(other),
        }
    }
}

/// What a [`RebalanceListener`] callback may ask the consumer to do. The requests are carried
/// out right after the callback returns, inside the same `poll`: offsets to commit are
/// committed synchronously (before the group moves on, so a revoked partition's progress is
/// saved under the generation that owned it), seeks apply to the newly assigned partitions.
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::client::{RebalanceContext, RebalanceListener};
///
/// struct SaveProgress;
/// impl RebalanceListener for SaveProgress {
///     fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
///         // Commit what was consumed from the partitions being taken away.
///         ctx.commit_consumed(partitions);
///     }
///     fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
///         for tp in partitions { println!("now own {tp} (position {:?})", ctx.position(tp)); }
///     }
/// }
/// ```
#[derive(Debug, Default)]
pub struct RebalanceContext {
    positions: BTreeMap<TopicPartition, FetchPosition>,
    commits: BTreeMap<TopicPartition, OffsetAndMetadata>,
    seeks: Vec<(TopicPartition, i64)>,
}

impl RebalanceContext {
    /// The consumed position of an assigned partition, if it has one.
    ///
    /// ```
    /// let ctx = kafkit::consumer::client::RebalanceContext::default();
    /// assert_eq!(ctx.position(&kafkit::TopicPartition::new("t", 0)), None);
    /// ```
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).map(|p| p.offset)
    }

    /// Commits these offsets once the callback returns (ignored in `on_partitions_lost`: the
    /// partitions already belong to someone else).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use kafkit::consumer::group::OffsetAndMetadata;
    /// let mut ctx = kafkit::consumer::client::RebalanceContext::default();
    /// ctx.commit_offsets(BTreeMap::from([(kafkit::TopicPartition::new("t", 0), OffsetAndMetadata::new(5))]));
    /// ```
    pub fn commit_offsets(&mut self, offsets: BTreeMap<TopicPartition, OffsetAndMetadata>) {
        self.commits.extend(offsets);
    }

    /// Commits the consumed positions of `partitions` once the callback returns.
    ///
    /// ```
    /// let mut ctx = kafkit::consumer::client::RebalanceContext::default();
    /// ctx.commit_consumed(&[kafkit::TopicPartition::new("t", 0)]); // no position: nothing to commit
    /// ```
    pub fn commit_consumed(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(p) = self.positions.get(tp) {
                self.commits.insert(tp.clone(), offset_of(p));
            }
        }
    }

    /// Seeks an assigned partition once the callback returns (from `on_partitions_assigned`).
    ///
    /// ```
    /// let mut ctx = kafkit::consumer::client::RebalanceContext::default();
    /// ctx.seek(kafkit::TopicPartition::new("t", 0), 42);
    /// ```
    pub fn seek(&mut self, tp: TopicPartition, offset: i64) {
        self.seeks.push((tp, offset));
    }
}

/// Callbacks around rebalances (Java's `ConsumerRebalanceListener`), run inside
/// [`Consumer::poll`]. Each gets a [`RebalanceContext`] through which it can commit offsets or
/// seek; the consumer performs those right after the callback returns.
///
/// * `on_partitions_revoked`: before an eager rebalance (all partitions) or after a cooperative
///   one (only those taken away); with `enable.auto.commit` the consumer has already committed
///   the consumed positions.
/// * `on_partitions_assigned`: after every successful join, with the newly added partitions.
/// * `on_partitions_lost`: the member was reset (session timeout, fenced): the partitions may
///   already be someone else's; nothing is committed. Defaults to `on_partitions_revoked`, as
///   in Java (commits asked for there are then ignored).
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::client::{RebalanceContext, RebalanceListener};
/// struct Log;
/// impl RebalanceListener for Log {
///     fn on_partitions_assigned(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) { println!("+{p:?}"); }
///     fn on_partitions_revoked(&mut self, p: &[TopicPartition], _: &mut RebalanceContext) { println!("-{p:?}"); }
/// }
/// ```
pub trait RebalanceListener: Send {
    /// Partitions were assigned to this consumer.
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext);
    /// Partitions are being taken away.
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext);
    /// Partitions were lost without a rebalance.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        self.on_partitions_revoked(partitions, ctx);
    }
}

/// The Java `OffsetAndMetadata` for a consumed position.
fn offset_of(p: &FetchPosition) -> OffsetAndMetadata {
    let o = OffsetAndMetadata::new(p.offset);
    match p.offset_epoch {
        Some(e) => o.with_leader_epoch(e),
        None => o,
    }
}

/// What the consumer reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subscription {
    None,
    Topics(Vec<String>),
    Manual,
}

/// State shared with request tasks.
#[derive(Debug)]
struct Shared {
    fetcher: Mutex<Fetcher>,
    /// Woken when a response was applied.
    wake: Notify,
    /// Negotiated versions learned from connections (lowered when a broker knows less).
    versions: Mutex<ApiVersionsSeen>,
    /// When the application last polled (for `max.poll.interval.ms`).
    poll_clock: Mutex<PollClock>,
}

/// The `max.poll.interval.ms` bookkeeping shared with the watchdog task.
#[derive(Debug)]
struct PollClock {
    /// When the last poll returned (or the consumer was created).
    last_poll: Instant,
    /// A poll is running (a join inside it may take long; that is not the application's fault).
    in_poll: bool,
    /// The watchdog left the group because the application did not poll in time.
    left_for_poll_timeout: bool,
}

/// Marks a poll as running; on drop (return or cancellation) restarts the poll clock.
struct InPoll<'a>(&'a Mutex<PollClock>);

impl<'a> InPoll<'a> {
    fn start(clock: &'a Mutex<PollClock>) -> Self {
        lock(clock).in_poll = true;
        InPoll(clock)
    }
}

impl Drop for InPoll<'_> {
    fn drop(&mut self) {
        let mut c = lock(self.0);
        c.in_poll = false;
        c.last_poll = Instant::now();
    }
}

/// Java's poll timeout: when the application has not polled for `max.poll.interval.ms`, the
/// member leaves the group so the others can take its partitions; the next poll reports them
/// lost and rejoins.
async fn poll_watchdog(
    shared: std::sync::Weak<Shared>,
    group: Arc<RwLock<GroupMembership>>,
    interval: Duration,
) {
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let (due, in_poll, left) = {
            let c = lock(&s.poll_clock);
            (c.last_poll + interval, c.in_poll, c.left_for_poll_timeout)
        };
        drop(s);
        let now = Instant::now();
        if in_poll || left || now < due {
            let next = if now < due {
                due
            } else {
                now + interval.min(Duration::from_secs(1))
            };
            tokio::time::sleep_until(next).await;
            continue;
        }
        let mut g = group.write().await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        let still_late = {
            let c = lock(&s.poll_clock);
            !c.in_poll && Instant::now() >= c.last_poll + interval
        };
        if still_late && g.generation().is_some() {
            tracing::warn!(
                group = %g.settings().group_id,
                ?interval,
                "no poll within max.poll.interval.ms: leaving the group"
            );
            if let Err(e) = g.leave("consumer poll timeout has expired").await {
                tracing::warn!(error = %e, "leaving the group failed");
            }
            lock(&s.poll_clock).left_for_poll_timeout = true;
        } else {
            // Not a member (or polled meanwhile): look again later.
            lock(&s.poll_clock).last_poll = Instant::now();
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ApiVersionsSeen {
    fetch: Option<i16>,
    list_offsets: Option<i16>,
    /// `Some(None)`: known that brokers lack the API.
    offset_for_leader_epoch: Option<Option<i16>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A Kafka consumer (Java's `KafkaConsumer`). See the [module docs](self).
pub struct Consumer {
    config: ConsumerConfig,
    metadata: Arc<Metadata>,
    shared: Arc<Shared>,
    group: Option<Arc<RwLock<GroupMembership>>>,
    subscription: Subscription,
    listener: Option<Mutex<Box<dyn RebalanceListener>>>,
    next_auto_commit: Instant,
    /// Error of the last `commit_async`, reported by the next poll.
    async_commit_error: Arc<Mutex<Option<GroupError>>>,
    last_metadata_refresh: Option<Instant>,
    /// `unsubscribe` was called while in the group: leave before anything else.
    leave_pending: bool,
    closed: bool,
    /// The `max.poll.interval.ms` watchdog (group members only).
    watchdog: Option<tokio::task::JoinHandle<()>>,
    /// A cooperative join running while `poll` keeps fetching, until a `poll` applies it.
    background_join: Option<BackgroundJoin>,
    /// `kafka_consumer{client_id, group_id}`: the parent of every task this consumer spawns.
    span: tracing::Span,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        self.abort_background_join();
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("client_id", &self.config.client_id())
            .field("group_id", &self.config.group_id())
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

fn fetch_settings(config: &ConsumerConfig) -> FetchSettings {
    FetchSettings {
        fetch_min_bytes: i32::try_from(config.fetch_min_bytes()).unwrap_or(i32::MAX),
        fetch_max_wait: config.fetch_max_wait(),
        fetch_max_bytes: i32::try_from(config.fetch_max_bytes()).unwrap_or(i32::MAX),
        max_partition_fetch_bytes: i32::try_from(config.max_partition_fetch_bytes())
            .unwrap_or(i32::MAX),
        max_poll_records: config.max_poll_records(),
        isolation_level: match config.isolation_level() {
            super::config::IsolationLevel::ReadUncommitted => IsolationLevel::ReadUncommitted,
            super::config::IsolationLevel::ReadCommitted => IsolationLevel::ReadCommitted,
        },
        check_crcs: config.check_crcs(),
        auto_offset_reset: match config.auto_offset_reset() {
            AutoOffsetReset::Earliest => OffsetResetStrategy::Earliest,
            AutoOffsetReset::Latest => OffsetResetStrategy::Latest,
            AutoOffsetReset::None => OffsetResetStrategy::None,
        },
        client_rack: config.client_rack().map(str::to_owned),
        retry_backoff: config.retry_backoff(),
        request_timeout: config.request_timeout(),
    }
}

fn group_settings(config: &ConsumerConfig, group_id: &str) -> GroupSettings {
    let mut s = GroupSettings::new(group_id);
    s.group_instance_id = config.group_instance_id().map(str::to_owned);
    s.session_timeout = config.session_timeout();
    s.rebalance_timeout = config.max_poll_interval();
    s.heartbeat_interval = config.heartbeat_interval();
    s.retry_backoff = config.retry_backoff();
    s.retry_backoff_max = config.retry_backoff_max();
    s.request_timeout = config.request_timeout();
    s.api_timeout = config.default_api_timeout();
    s
}

/// Sends `request` to `broker` at `version`, or fails when the broker negotiated less.
async fn send_to<R: Request>(
    pool: &ConnectionPool,
    broker: i32,
    api: ApiKey,
    request: R,
    version: i16,
) -> Result<R::Response, (NetError, Option<i16>)> {
    let conn = pool.get(broker).await.map_err(|e| (e, None))?;
    let negotiated = conn.versions().version(api).ok();
    if negotiated.is_none_or(|v| v < version) {
        return Err((
            NetError::Disconnected(format!(
                "broker {broker} supports {api:?} only up to {negotiated:?}"
            )),
            negotiated,
        ));
    }
    conn.send_with_version(request, version)
        .await
        .map_err(|e| (e, None))
}

impl Consumer {
    /// A consumer for `config`; must be called inside a tokio runtime. Connects lazily.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// use kafkit::consumer::{client::Consumer, config::ConsumerConfig};
    /// let consumer = Consumer::new(ConsumerConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(config: ConsumerConfig) -> Result<Consumer, ConsumerError> {
        tokio::runtime::Handle::try_current().map_err(|_| ConsumerError::NoRuntime)?;
        let pool = Arc::new(ConnectionPool::new(
            config.connection_config(),
            config.bootstrap_servers().iter().cloned(),
        ));
        let metadata = Arc::new(Metadata::new(pool, config.allow_auto_create_topics()));
        let group = match config.group_id() {
            Some(id) if !id.is_empty() => Some(Arc::new(RwLock::new(GroupMembership::new(
                metadata.clone(),
                group_settings(&config, id),
                config.assignors(),
            )?))),
            _ => None,
        };
        let span = tracing::debug_span!(
            "kafka_consumer",
            client_id = config.client_id(),
            group_id = config.group_id().unwrap_or("")
        );
        let consumer = Consumer {
            span,
            shared: Arc::new(Shared {
                fetcher: Mutex::new(Fetcher::new(fetch_settings(&config))),
                wake: Notify::new(),
                versions: Mutex::new(ApiVersionsSeen::default()),
                poll_clock: Mutex::new(PollClock {
                    last_poll: Instant::now(),
                    in_poll: false,
                    left_for_poll_timeout: false,
                }),
            }),
            next_auto_commit: Instant::now() + config.auto_commit_interval(),
            config,
            metadata,
            group,
            subscription: Subscription::None,
            listener: None,
            async_commit_error: Arc::new(Mutex::new(None)),
            last_metadata_refresh: None,
            leave_pending: false,
            closed: false,
            watchdog: None,
            background_join: None,
        };
        let mut consumer = consumer;
        if let Some(group) = &consumer.group {
            consumer.watchdog = Some(tokio::spawn(
                poll_watchdog(
                    Arc::downgrade(&consumer.shared),
                    group.clone(),
                    consumer.config.max_poll_interval(),
                )
                .instrument(consumer.span.clone()),
            ));
        }
        Ok(consumer)
    }

    fn check_open(&self) -> Result<(), ConsumerError> {
        if self.closed {
            Err(ConsumerError::Closed)
        } else {
            Ok(())
        }
    }

    /// A cooperative join is running in the background (it holds the membership lock).
    fn join_running(&self) -> bool {
        self.background_join
            .as_ref()
            .is_some_and(BackgroundJoin::is_running)
    }

    /// Stops a background join (the member then still needs a rejoin).
    fn abort_background_join(&mut self) {
        if let Some(join) = self.background_join.take() {
            join.task.abort();
        }
    }

    /// Subscribes to `topics` with group management (needs `group.id`); replaces a previous
    /// subscription. The assignment arrives in a later [`poll`](Self::poll).
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.subscribe(&["orders", "refunds"])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<(), ConsumerError> {
        self.check_open()?;
        if self.subscription == Subscription::Manual {
            return Err(ConsumerError::IllegalState(
                "subscribe() after assign(): call unsubscribe() first".into(),
            ));
        }
        let Some(group) = &self.group else {
            return Err(ConsumerError::NoGroupId);
        };
        if topics.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        // The membership learns the topics now if its lock is free (a background commit may
        // share it), else at the next poll, before any join.
        if let Ok(mut g) = group.try_write() {
            g.subscribe(topics.clone());
        }
        self.subscription = Subscription::Topics(topics);
        Ok(())
    }

    /// [`subscribe`](Self::subscribe) with a [`RebalanceListener`].
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer, listener: impl kafkit::consumer::client::RebalanceListener + 'static) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.subscribe_with_listener(&["orders"], listener)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), ConsumerError> {
        self.subscribe(topics)?;
        self.listener = Some(Mutex::new(Box::new(listener)));
        Ok(())
    }

    /// Assigns partitions manually (no group management; `group.id` is only needed to commit).
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.assign(vec![kafkit::TopicPartition::new("orders", 0)])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) -> Result<(), ConsumerError> {
        self.check_open()?;
        if matches!(self.subscription, Subscription::Topics(_)) {
            return Err(ConsumerError::IllegalState(
                "assign() while subscribed: call unsubscribe() first".into(),
            ));
        }
        if partitions.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        lock(&self.shared.fetcher).assign(partitions);
        self.subscription = Subscription::Manual;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Drops the subscription or manual assignment. A group member leaves at the next `poll`
    /// (or `close`); its partitions are revoked now (listener called, no commit).
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.unsubscribe();
    /// assert!(consumer.assignment().is_empty());
    /// # }
    /// ```
    pub fn unsubscribe(&mut self) {
        self.abort_background_join();
        let assigned = self.assignment();
        if matches!(self.subscription, Subscription::Topics(_)) && !assigned.is_empty() {
            let mut ctx = self.context();
            if let Some(l) = &self.listener {
                lock(l).on_partitions_revoked(&assigned, &mut ctx);
            }
        }
        lock(&self.shared.fetcher).assign(Vec::new());
        if matches!(self.subscription, Subscription::Topics(_)) {
            // LeaveGroup goes out at the next poll or close (before any new join).
            self.leave_pending = true;
        }
        self.subscription = Subscription::None;
    }

    /// The partitions currently assigned to this consumer, sorted.
    ///
    /// ```no_run
    /// # fn example(consumer: &kafkit::consumer::client::Consumer) {
    /// for tp in consumer.assignment() { println!("{tp}"); }
    /// # }
    /// ```
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut v: Vec<_> = lock(&self.shared.fetcher).assignment().cloned().collect();
        v.sort();
        v
    }

    fn context(&self) -> RebalanceContext {
        RebalanceContext {
            positions: lock(&self.shared.fetcher)
                .all_consumed()
                .into_iter()
                .collect(),
            ..RebalanceContext::default()
        }
    }

    /// Fetches records: runs a pending rebalance, resolves starting positions, and returns up to
    /// `max.poll.records` records as soon as some are available, or an empty batch after
    /// `timeout`. Auto-commits every `auto.commit.interval.ms` (in the background).
    ///
    /// An eager rebalance (the group join) runs inside `poll`, bounded by
    /// `default.api.timeout.ms`, not by `timeout`. A cooperative rebalance of a member that owns
    /// partitions runs in the background: `poll` keeps returning records of the owned
    /// partitions, returns within `timeout`, and applies the rebalance once the join is done.
    /// Cancelling the future loses no records: records leave the fetcher only when it returns.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// let records = consumer.poll(std::time::Duration::from_millis(500)).await?;
    /// println!("{} records", records.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        let max = self.config.max_poll_records().max(1);
        self.poll_max(timeout, max).await
    }

    async fn poll_max(
        &mut self,
        timeout: Duration,
        max: usize,
    ) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        self.check_open()?;
        let shared = self.shared.clone();
        let _in_poll = InPoll::start(&shared.poll_clock);
        self.leave_if_pending().await;
        if self.subscription == Subscription::None {
            return Err(ConsumerError::IllegalState(
                "poll() without subscribe() or assign()".into(),
            ));
        }
        if let Some(e) = lock(&self.async_commit_error).take() {
            return Err(e.into());
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Subscription::Topics(_) = self.subscription {
                self.maybe_rebalance().await?;
            }
            self.maybe_auto_commit();
            self.update_positions().await?;
            self.maybe_refresh_metadata(deadline).await;
            self.learn_versions(deadline).await;
            // Register for wake-ups before looking, so an answer in between is not missed.
            let notified = self.shared.wake.notified();
            let records = {
                let mut fetcher = lock(&self.shared.fetcher);
                fetcher.poll_records(max)?
            };
            self.send_requests();
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let mut wake_at = deadline.min(self.next_auto_commit);
            if let Some(retry) = lock(&self.shared.fetcher).next_retry_at() {
                wake_at = wake_at.min(Instant::from_std(retry));
            }
            // Look again at least every retry.backoff (metadata, resets, group status).
            wake_at = wake_at.min(now + self.config.retry_backoff().max(Duration::from_millis(10)));
            let mut status = self.group.as_ref().map(|g| {
                // A try_read suffices: commits share the lock, joins happen only here.
                g.try_read().map(|g| g.status()).ok()
            });
            let group_changed = async {
                match status.as_mut().and_then(|s| s.as_mut()) {
                    Some(s) => {
                        let _ = s.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = group_changed => {}
            }
        }
    }

    /// For the stream: a record that can be handed out without any housekeeping (no rebalance
    /// pending, no auto-commit due, no commit error to report), or `None` to go through `poll`.
    fn take_ready_record(&mut self) -> Option<Result<ConsumerRecord, ConsumerError>> {
        if self.closed || self.subscription == Subscription::None {
            return None;
        }
        if self.config.enable_auto_commit()
            && self.group.is_some()
            && Instant::now() >= self.next_auto_commit
        {
            return None;
        }
        if lock(&self.async_commit_error).is_some() || self.background_join.is_some() {
            return None;
        }
        if let (Subscription::Topics(_), Some(group)) = (&self.subscription, &self.group) {
            match group.try_read() {
                Ok(g) if !g.needs_rejoin() && g.fatal_error().is_none() => {}
                _ => return None,
            }
        }
        let taken = lock(&self.shared.fetcher).poll_records(1);
        match taken {
            Ok(mut records) => {
                let record = records.pop()?;
                // Handing out a record counts as a poll for `max.poll.interval.ms`.
                lock(&self.shared.poll_clock).last_poll = Instant::now();
                self.send_requests();
                Some(Ok(record))
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Sends the LeaveGroup an `unsubscribe` asked for.
    async fn leave_if_pending(&mut self) {
        if !std::mem::take(&mut self.leave_pending) {
            return;
        }
        if let Some(group) = &self.group {
            let mut g = group.write().await;
            g.subscribe(Vec::new());
            if g.generation().is_some() {
                if let Err(e) = g.leave("the consumer unsubscribed").await {
                    tracing::warn!(error = %e, "leaving the group failed");
                }
            }
        }
    }

    /// Runs a rebalance if the group needs one: applies a finished background join (and goes
    /// on to the follow-up join if it needs one), starts a cooperative join in the background
    /// when partitions are owned, else joins here.
    async fn maybe_rebalance(&mut self) -> Result<(), ConsumerError> {
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        if let Some(join) = &self.background_join {
            let outcome = lock(&join.outcome).take();
            let Some(outcome) = outcome else {
                // Still joining: keep fetching the owned partitions.
                return Ok(());
            };
            self.background_join = None;
            self.apply_join(&group, outcome?).await;
        }
        if let Subscription::Topics(topics) = &self.subscription {
            let mut sorted = topics.clone();
            sorted.sort();
            sorted.dedup();
            let stale = group.read().await.subscription() != sorted.as_slice();
            if stale {
                group.write().await.subscribe(sorted);
            }
        }
        let (needs, lost, protocol, fatal) = {
            let g = group.read().await;
            let lost = g.status().borrow().partitions_lost;
            (
                g.needs_rejoin(),
                lost,
                g.rebalance_protocol(),
                g.fatal_error(),
            )
        };
        if let Some(e) = fatal {
            return Err(e.into());
        }
        if !needs {
            return Ok(());
        }
        let owned = self.assignment();
        let poll_timeout = std::mem::take(&mut lock(&self.shared.poll_clock).left_for_poll_timeout);
        if (lost || poll_timeout) && !owned.is_empty() {
            tracing::warn!(partitions = ?owned, "partitions lost");
            let mut ctx = self.context();
            if let Some(l) = &self.listener {
                lock(l).on_partitions_lost(&owned, &mut ctx);
            }
            lock(&self.shared.fetcher).assign(Vec::new());
        } else if protocol == RebalanceProtocol::Eager && !owned.is_empty() {
            self.revoke(&group, &owned).await;
        }
        let owned = self.assignment();
        let api_timeout = self.config.default_api_timeout();
        if protocol == RebalanceProtocol::Cooperative && !owned.is_empty() {
            self.start_background_join(&group, owned);
            return Ok(());
        }
        let generation = {
            let mut g = group.write().await;
            tokio::time::timeout(api_timeout, g.join(&owned))
                .await
                .map_err(|_| ConsumerError::Timeout(api_timeout))??
        };
        self.apply_join(&group, generation).await;
        Ok(())
    }

    /// Runs the join in a spawned task; a later `poll` applies its outcome.
    fn start_background_join(
        &mut self,
        group: &Arc<RwLock<GroupMembership>>,
        owned: Vec<TopicPartition>,
    ) {
        let outcome = Arc::new(Mutex::new(None));
        let (group, slot, shared) = (group.clone(), outcome.clone(), self.shared.clone());
        let api_timeout = self.config.default_api_timeout();
        tracing::debug!(
            partitions = owned.len(),
            "cooperative rebalance: joining in the background"
        );
        let task = tokio::spawn(
            async move {
                let result = tokio::time::timeout(api_timeout, async {
                    let mut g = group.write().await;
                    g.join(&owned).await
                })
                .await;
                let result = match result {
                    Ok(joined) => joined.map_err(ConsumerError::from),
                    Err(_) => Err(ConsumerError::Timeout(api_timeout)),
                };
                // The membership lock is released: commits may go on once the outcome is seen.
                *lock(&slot) = Some(result);
                shared.wake.notify_one();
            }
            .instrument(self.span.clone()),
        );
        self.background_join = Some(BackgroundJoin { task, outcome });
    }

    /// Installs a joined generation: revokes the partitions that moved (auto-commit, listener),
    /// updates the fetcher, tells the listener what was added, then carries out what the
    /// callbacks asked for.
    async fn apply_join(
        &mut self,
        group: &Arc<RwLock<GroupMembership>>,
        generation: JoinedGeneration,
    ) {
        let owned = self.assignment();
        let new: BTreeSet<TopicPartition> = generation.assignment.iter().cloned().collect();
        let old: BTreeSet<TopicPartition> = owned.into_iter().collect();
        let revoked: Vec<TopicPartition> = old.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&old).cloned().collect();
        tracing::info!(
            generation = generation.generation_id,
            assigned = ?generation.assignment,
            "joined the group"
        );
        // Everything up to the commits below is synchronous, so a poll cancelled after the join
        // still leaves the new assignment installed.
        let mut revoke_ctx = self.context();
        if !revoked.is_empty() {
            if self.config.enable_auto_commit() {
                revoke_ctx.commit_consumed(&revoked);
            }
            if let Some(l) = &self.listener {
                lock(l).on_partitions_revoked(&revoked, &mut revoke_ctx);
            }
        }
        {
            let mut f = lock(&self.shared.fetcher);
            f.remove_assignment(&revoked);
            f.add_assignment(added.clone());
        }
        let mut ctx = self.context();
        if let Some(l) = &self.listener {
            lock(l).on_partitions_assigned(&added, &mut ctx);
        }
        self.apply_seeks(&mut ctx);
        self.shared.wake.notify_one();
        self.apply_context(group, revoke_ctx).await;
        self.apply_context(group, ctx).await;
    }

    /// Commits (auto-commit) and revokes `partitions`: listener, then removal from the fetcher.
    async fn revoke(
        &mut self,
        group: &Arc<RwLock<GroupMembership>>,
        partitions: &[TopicPartition],
    ) {
        let mut ctx = self.context();
        if self.config.enable_auto_commit() {
            ctx.commit_consumed(partitions);
        }
        if let Some(l) = &self.listener {
            lock(l).on_partitions_revoked(partitions, &mut ctx);
        }
        self.apply_context(group, ctx).await;
        lock(&self.shared.fetcher).remove_assignment(partitions);
    }

    /// Seeks a listener asked for.
    fn apply_seeks(&mut self, ctx: &mut RebalanceContext) {
        let mut fetcher = lock(&self.shared.fetcher);
        for (tp, offset) in ctx.seeks.drain(..) {
            if let Err(e) = fetcher.seek(&tp, offset) {
                tracing::warn!(error = %e, "seek from a rebalance listener failed");
            }
        }
    }

    /// Carries out what a listener asked for: seeks, then commits.
    async fn apply_context(
        &mut self,
        group: &Arc<RwLock<GroupMembership>>,
        mut ctx: RebalanceContext,
    ) {
        self.apply_seeks(&mut ctx);
        if !ctx.commits.is_empty() {
            let g = group.read().await;
            if let Err(e) = g.commit_offsets(&ctx.commits).await {
                tracing::warn!(error = %e, "commit in a rebalance failed");
            }
        }
    }

    /// Committed offsets (if any group) for partitions without a position, then
    /// `auto.offset.reset` for the rest.
    async fn update_positions(&mut self) -> Result<(), ConsumerError> {
        let initializing = lock(&self.shared.fetcher).initializing_partitions();
        if initializing.is_empty() || self.join_running() {
            // During a background join the committed offsets wait for it (it holds the lock).
            return Ok(());
        }
        if let Some(group) = &self.group {
            let committed = {
                let g = group.read().await;
                g.committed(&initializing).await?
            };
            let mut fetcher = lock(&self.shared.fetcher);
            for (tp, offset) in committed {
                if let Some(o) = offset {
                    if fetcher.is_assigned(&tp)
                        && fetcher.position(&tp).is_none()
                        && fetcher.initializing_partitions().contains(&tp)
                    {
                        fetcher.seek_position(
                            &tp,
                            FetchPosition::new(o.offset).with_epoch(o.leader_epoch),
                        )?;
                    }
                }
            }
        }
        lock(&self.shared.fetcher).reset_missing_positions()?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Refreshes metadata when the fetcher asks (throttled by `retry.backoff.ms`) or when an
    /// assigned topic is missing from it.
    async fn maybe_refresh_metadata(&mut self, deadline: Instant) {
        let topics: BTreeSet<String> = self
            .assignment()
            .into_iter()
            .map(|tp| tp.topic.to_string())
            .collect();
        if topics.is_empty() {
            return;
        }
        let snapshot = self.metadata.snapshot();
        let missing = topics.iter().any(|t| snapshot.topic(t).is_none());
        let wanted = lock(&self.shared.fetcher).take_metadata_refresh() || missing;
        if !wanted {
            return;
        }
        let now = Instant::now();
        if self
            .last_metadata_refresh
            .is_some_and(|at| now < at + self.config.retry_backoff())
        {
            // Too soon: ask again at the next round.
            lock(&self.shared.fetcher).take_metadata_refresh();
            self.shared.wake.notify_one();
            return;
        }
        self.last_metadata_refresh = Some(now);
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        // Bounded by the caller's deadline (at least a short moment, so a zero-timeout poll
        // still makes progress; an abandoned refresh is harmless).
        let limit = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(100));
        match tokio::time::timeout(limit, self.metadata.refresh(Some(&names))).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "metadata refresh failed"),
            Err(_) => tracing::debug!("metadata refresh timed out"),
        }
    }

    /// Learns the API versions from any broker once (giving up at `deadline`, to try again at
    /// the next round).
    async fn learn_versions(&mut self, deadline: Instant) {
        if lock(&self.shared.versions).fetch.is_some() {
            return;
        }
        let limit = deadline.max(Instant::now() + Duration::from_millis(100));
        if let Ok(Ok((_, conn))) = tokio::time::timeout_at(limit, self.metadata.pool().any()).await
        {
            let v = conn.versions();
            let mut seen = lock(&self.shared.versions);
            seen.fetch = v.version(ApiKey::Fetch).ok();
            seen.list_offsets = v.version(ApiKey::ListOffsets).ok();
            seen.offset_for_leader_epoch = Some(v.version(ApiKey::OffsetForLeaderEpoch).ok());
        }
    }

    /// Builds and spawns every request the fetcher wants now.
    fn send_requests(&self) {
        let seen = *lock(&self.shared.versions);
        let snapshot = self.metadata.snapshot();
        let now = std::time::Instant::now();
        let (resets, validations, fetches) = {
            let mut f = lock(&self.shared.fetcher);
            let resets = match seen.list_offsets {
                Some(v) => f.build_list_offsets_requests(&snapshot, v, now),
                None => Vec::new(),
            };
            let validations = match seen.offset_for_leader_epoch {
                Some(v) => f.build_validation_requests(&snapshot, v, now),
                None => Vec::new(),
            };
            let fetches = match seen.fetch {
                Some(v) => f.build_fetch_requests(&snapshot, v, now),
                None => Vec::new(),
            };
            (resets, validations, fetches)
        };
        let pool = self.metadata.pool();
        for (broker, request, meta) in resets {
            let (shared, pool) = (self.shared.clone(), pool.clone());
            tokio::spawn(
                async move {
                    let r =
                        send_to(&pool, broker, ApiKey::ListOffsets, request, meta.version()).await;
                    let now = std::time::Instant::now();
                    match r {
                        Ok(resp) => {
                            let mut f = lock(&shared.fetcher);
                            let outcome = f.handle_list_offsets_response(&meta, &resp, now);
                            tracing::debug!(broker, ?outcome, "ListOffsets answered");
                        }
                        Err((e, lower)) => {
                            tracing::debug!(broker, error = %e, "ListOffsets failed");
                            if let Some(v) = lower {
                                lock(&shared.versions).list_offsets = Some(v);
                            }
                            lock(&shared.fetcher).handle_list_offsets_failure(&meta, now);
                        }
                    }
                    shared.wake.notify_one();
                }
                .instrument(self.span.clone()),
            );
        }
        for (broker, request, meta) in validations {
            let (shared, pool) = (self.shared.clone(), pool.clone());
            tokio::spawn(
                async move {
                    let r = send_to(
                        &pool,
                        broker,
                        ApiKey::OffsetForLeaderEpoch,
                        request,
                        meta.version(),
                    )
                    .await;
                    let now = std::time::Instant::now();
                    match r {
                        Ok(resp) => {
                            let outcome =
                                lock(&shared.fetcher).handle_validation_response(&meta, &resp, now);
                            tracing::debug!(broker, ?outcome, "OffsetForLeaderEpoch answered");
                        }
                        Err((e, lower)) => {
                            tracing::debug!(broker, error = %e, "OffsetForLeaderEpoch failed");
                            if let Some(v) = lower {
                                lock(&shared.versions).offset_for_leader_epoch = Some(Some(v));
                            }
                            lock(&shared.fetcher).handle_validation_failure(&meta, now);
                        }
                    }
                    shared.wake.notify_one();
                }
                .instrument(self.span.clone()),
            );
        }
        for (broker, request, meta) in fetches {
            let (shared, pool) = (self.shared.clone(), pool.clone());
            tokio::spawn(
                async move {
                    let r = send_to(&pool, broker, ApiKey::Fetch, request, meta.version()).await;
                    let now = std::time::Instant::now();
                    match r {
                        Ok(resp) => {
                            let outcome =
                                lock(&shared.fetcher).handle_fetch_response(&meta, &resp, now);
                            if !outcome.errors.is_empty() || outcome.top_level_error.is_some() {
                                let (errors, top) = (&outcome.errors, outcome.top_level_error);
                                tracing::debug!(broker, ?errors, ?top, "Fetch errors");
                            }
                        }
                        Err((e, lower)) => {
                            tracing::debug!(broker, error = %e, "Fetch failed");
                            if let Some(v) = lower {
                                lock(&shared.versions).fetch = Some(v);
                            }
                            lock(&shared.fetcher).handle_fetch_failure(&meta, now);
                        }
                    }
                    shared.wake.notify_one();
                }
                .instrument(self.span.clone()),
            );
        }
    }

    fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit() || self.group.is_none() {
            return;
        }
        let now = Instant::now();
        if now < self.next_auto_commit || self.join_running() {
            // During a background join the commit waits until the rebalance is applied.
            return;
        }
        self.next_auto_commit = now + self.config.auto_commit_interval();
        self.spawn_commit(false);
    }

    fn consumed_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        lock(&self.shared.fetcher)
            .all_consumed()
            .iter()
            .map(|(tp, p)| (tp.clone(), offset_of(p)))
            .collect()
    }

    fn spawn_commit(&self, report: bool) {
        let Some(group) = self.group.clone() else {
            return;
        };
        let offsets = self.consumed_offsets();
        if offsets.is_empty() {
            return;
        }
        let slot = self.async_commit_error.clone();
        if self.join_running() {
            tracing::warn!("asynchronous offset commit refused: the group is rebalancing");
            if report {
                *lock(&slot) = Some(rebalance_in_progress(&offsets));
            }
            return;
        }
        tokio::spawn(
            async move {
                let g = group.read().await;
                if let Err(e) = g.commit_offsets(&offsets).await {
                    tracing::warn!(error = %e, "asynchronous offset commit failed");
                    if report {
                        *lock(&slot) = Some(e);
                    }
                }
            }
            .instrument(self.span.clone()),
        );
    }

    /// Commits the consumed positions of every assigned partition and waits for the answer.
    /// While a cooperative rebalance runs in the background it fails at once with
    /// REBALANCE_IN_PROGRESS ([`ConsumerError::is_rebalance_in_progress`]): poll, then commit
    /// again (Java's `RebalanceInProgressException`).
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit(&mut self) -> Result<(), ConsumerError> {
        let offsets = self.consumed_offsets();
        self.commit_offsets(offsets).await
    }

    /// Commits `offsets` (the next offset to read, per partition) and waits for the answer.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::consumer::group::OffsetAndMetadata;
    /// consumer.commit_offsets(BTreeMap::from([(kafkit::TopicPartition::new("orders", 0), OffsetAndMetadata::new(42))])).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), ConsumerError> {
        self.check_open()?;
        let group = self.group.clone().ok_or(ConsumerError::NoGroupId)?;
        if offsets.is_empty() {
            return Ok(());
        }
        if self.join_running() {
            return Err(rebalance_in_progress(&offsets).into());
        }
        let g = group.read().await;
        g.commit_offsets(&offsets).await?;
        Ok(())
    }

    /// Commits the consumed positions in the background; a failure (REBALANCE_IN_PROGRESS
    /// during a background cooperative rebalance, as for [`commit`](Self::commit)) is logged
    /// and returned by the next [`poll`](Self::poll).
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.commit_async();
    /// # }
    /// ```
    pub fn commit_async(&mut self) {
        if self.closed {
            return;
        }
        self.spawn_commit(true);
    }

    /// The committed offsets of `partitions` (`None`: nothing committed).
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// let tp = kafkit::TopicPartition::new("orders", 0);
    /// let committed = consumer.committed(&[tp.clone()]).await?;
    /// println!("{:?}", committed[&tp]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, ConsumerError> {
        self.check_open()?;
        let group = self.group.clone().ok_or(ConsumerError::NoGroupId)?;
        let g = group.read().await;
        Ok(g.committed(partitions).await?)
    }

    /// The next offset this consumer will return for an assigned partition; a partition
    /// without a position gets one first (committed offset, else `auto.offset.reset`), waiting
    /// at most `default.api.timeout.ms`.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// let next = consumer.position(&kafkit::TopicPartition::new("orders", 0)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64, ConsumerError> {
        self.check_open()?;
        let timeout = self.config.default_api_timeout();
        let deadline = Instant::now() + timeout;
        loop {
            {
                let f = lock(&self.shared.fetcher);
                if !f.is_assigned(tp) {
                    return Err(ConsumerError::NotAssigned(tp.clone()));
                }
                if let Some(p) = f.position(tp) {
                    return Ok(p.offset);
                }
            }
            if Instant::now() >= deadline {
                return Err(ConsumerError::Timeout(timeout));
            }
            self.update_positions().await?;
            self.maybe_refresh_metadata(deadline).await;
            self.learn_versions(deadline).await;
            let notified = self.shared.wake.notified();
            // Errors of the reset (e.g. authorization) surface through poll_records.
            if lock(&self.shared.fetcher).position(tp).is_some() {
                continue;
            }
            self.send_requests();
            let wake_at = deadline.min(Instant::now() + self.config.retry_backoff());
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Sets the next offset to fetch for an assigned partition.
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.seek(&kafkit::TopicPartition::new("orders", 0), 42)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), ConsumerError> {
        if offset < 0 {
            return Err(ConsumerError::IllegalState(format!(
                "seek offset must not be negative: {offset}"
            )));
        }
        lock(&self.shared.fetcher).seek(tp, offset)?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Moves these partitions (all assigned ones if empty) to the log start, lazily.
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.seek_to_beginning(&[]);
    /// # }
    /// ```
    pub fn seek_to_beginning(&mut self, tps: &[TopicPartition]) {
        let tps = if tps.is_empty() {
            self.assignment()
        } else {
            tps.to_vec()
        };
        lock(&self.shared.fetcher).seek_to_beginning(&tps);
        self.shared.wake.notify_one();
    }

    /// Moves these partitions (all assigned ones if empty) to the log end, lazily.
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.seek_to_end(&[]);
    /// # }
    /// ```
    pub fn seek_to_end(&mut self, tps: &[TopicPartition]) {
        let tps = if tps.is_empty() {
            self.assignment()
        } else {
            tps.to_vec()
        };
        lock(&self.shared.fetcher).seek_to_end(&tps);
        self.shared.wake.notify_one();
    }

    /// For each partition, the earliest offset whose timestamp is at or after the given one
    /// (`None` when there is none), with that record's timestamp.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// use std::collections::BTreeMap;
    /// let tp = kafkit::TopicPartition::new("orders", 0);
    /// let found = consumer.offsets_for_times(BTreeMap::from([(tp.clone(), 1_700_000_000_000)])).await?;
    /// if let Some((offset, timestamp)) = found[&tp] { println!("{offset} at {timestamp}"); }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn offsets_for_times(
        &mut self,
        query: BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<(i64, i64)>>, ConsumerError> {
        self.check_open()?;
        let timeout = self.config.default_api_timeout();
        let deadline = Instant::now() + timeout;
        let mut result = BTreeMap::new();
        let mut pending: BTreeMap<TopicPartition, i64> = query;
        let mut backoff = self.config.retry_backoff();
        while !pending.is_empty() {
            if Instant::now() >= deadline {
                return Err(ConsumerError::Timeout(timeout));
            }
            let topics: BTreeSet<String> = pending.keys().map(|tp| tp.topic.to_string()).collect();
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let snapshot = match tokio::time::timeout_at(
                deadline,
                self.metadata.refresh(Some(&names)),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) if !e.is_retriable() => return Err(e.into()),
                _ => self.metadata.snapshot(),
            };
            let (by_leader, _leaderless) = list_offsets_targets_by_leader(
                &snapshot,
                pending
                    .iter()
                    .map(|(tp, ts)| (tp.clone(), OffsetSpec::Timestamp(*ts))),
            );
            let isolation = lock(&self.shared.fetcher).settings().isolation_level;
            for (broker, targets) in by_leader {
                let conn = match self.metadata.pool().get(broker).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(broker, error = %e, "offsets_for_times: no connection");
                        continue;
                    }
                };
                let Ok(version) = conn.versions().version(ApiKey::ListOffsets) else {
                    continue;
                };
                let version = version.clamp(
                    super::fetcher::MIN_LIST_OFFSETS_VERSION,
                    super::fetcher::MAX_LIST_OFFSETS_VERSION,
                );
                let request = build_list_offsets_request(
                    &targets,
                    version,
                    isolation,
                    self.config.request_timeout(),
                );
                let response = match conn.send_with_version(request, version).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(broker, error = %e, "offsets_for_times failed");
                        continue;
                    }
                };
                for (tp, answer) in parse_list_offsets_response(&response) {
                    match answer {
                        Ok(found) => {
                            pending.remove(&tp);
                            result.insert(tp, found.map(|o| (o.offset, o.timestamp.unwrap_or(-1))));
                        }
                        Err(code) if code.is_retriable() => {}
                        Err(code) => {
                            return Err(ConsumerError::Broker {
                                partition: tp,
                                error: code,
                            });
                        }
                    }
                }
            }
            if !pending.is_empty() {
                tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
                backoff = (backoff * 2).min(self.config.retry_backoff_max());
            }
        }
        Ok(result)
    }

    /// Stops fetching these partitions (their positions are kept).
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.pause(&[kafkit::TopicPartition::new("orders", 0)]);
    /// # }
    /// ```
    pub fn pause(&mut self, tps: &[TopicPartition]) {
        lock(&self.shared.fetcher).pause(tps);
    }

    /// Resumes fetching these partitions.
    ///
    /// ```no_run
    /// # fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// consumer.resume(&[kafkit::TopicPartition::new("orders", 0)]);
    /// # }
    /// ```
    pub fn resume(&mut self, tps: &[TopicPartition]) {
        lock(&self.shared.fetcher).resume(tps);
        self.shared.wake.notify_one();
    }

    /// The paused partitions.
    ///
    /// ```no_run
    /// # fn example(consumer: &kafkit::consumer::client::Consumer) {
    /// println!("{:?}", consumer.paused());
    /// # }
    /// ```
    pub fn paused(&self) -> Vec<TopicPartition> {
        lock(&self.shared.fetcher).paused_partitions()
    }

    /// How far the position is behind the high watermark (last stable offset in
    /// read_committed), once a fetch has told.
    ///
    /// ```no_run
    /// # fn example(consumer: &kafkit::consumer::client::Consumer) {
    /// println!("{:?}", consumer.lag(&kafkit::TopicPartition::new("orders", 0)));
    /// # }
    /// ```
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        lock(&self.shared.fetcher).lag(tp)
    }

    /// The records as a [`Stream`], fetched with the same rules as [`poll`](Self::poll).
    /// Cancellation-safe: a record is taken from the fetcher only when the stream yields it, so
    /// dropping the stream loses nothing and commits never cover a record not yet yielded.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// let stream = consumer.stream();
    /// # drop(stream);
    /// # }
    /// ```
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream {
            state: StreamState::Idle(self),
        }
    }

    /// Closes the consumer: commits the consumed positions (with `enable.auto.commit`), revokes
    /// the partitions (listener), leaves the group (not a static member), closes connections.
    ///
    /// ```no_run
    /// # async fn example(consumer: kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
    /// consumer.close().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(mut self) -> Result<(), ConsumerError> {
        if self.closed {
            return Ok(());
        }
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        self.abort_background_join();
        let mut result = Ok(());
        if let Some(group) = self.group.clone() {
            let owned = self.assignment();
            if matches!(self.subscription, Subscription::Topics(_)) && !owned.is_empty() {
                let lost = group.read().await.status().borrow().partitions_lost
                    || lock(&self.shared.poll_clock).left_for_poll_timeout;
                if lost {
                    let mut ctx = self.context();
                    if let Some(l) = &self.listener {
                        lock(l).on_partitions_lost(&owned, &mut ctx);
                    }
                } else {
                    self.revoke(&group, &owned).await;
                }
            } else if self.config.enable_auto_commit() {
                let offsets = self.consumed_offsets();
                if !offsets.is_empty() {
                    if let Err(e) = group.read().await.commit_offsets(&offsets).await {
                        result = Err(e.into());
                    }
                }
            }
            let mut g = group.write().await;
            if g.generation().is_some() || !g.subscription().is_empty() {
                if let Err(e) = g.leave("the consumer is closing").await {
                    tracing::warn!(error = %e, "leaving the group failed");
                }
            }
        }
        self.closed = true;
        lock(&self.shared.fetcher).assign(Vec::new());
        self.metadata.pool().close();
        result
    }
}

/// A poll running for a stream, giving the consumer back with its result.
pub(super) type PollFuture<'a> = Pin<
    Box<
        dyn Future<Output = (&'a mut Consumer, Result<Vec<ConsumerRecord>, ConsumerError>)>
            + Send
            + 'a,
    >,
>;

/// Where a stream ([`RecordStream`], [`super::stream::BatchStream`]) stands.
pub(super) enum StreamState<'a> {
    Idle(&'a mut Consumer),
    Polling(PollFuture<'a>),
    Empty,
}

/// The records of a [`Consumer`] as a [`futures_core::Stream`] (from [`Consumer::stream`]).
/// It ends (`None`) when the consumer is closed; errors are yielded and the stream goes on.
///
/// ```no_run
/// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) -> Result<(), kafkit::consumer::client::ConsumerError> {
/// let mut records = consumer.stream();
/// while let Some(record) = records.next().await {
///     let record = record?;
///     println!("{}@{}", record.partition, record.offset);
/// #   break;
/// }
/// # Ok(())
/// # }
/// ```
pub struct RecordStream<'a> {
    state: StreamState<'a>,
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream").finish_non_exhaustive()
    }
}

impl RecordStream<'_> {
    /// The next record (as `StreamExt::next` would give), without needing a stream utility
    /// crate. Cancellation-safe.
    ///
    /// ```no_run
    /// # async fn example(consumer: &mut kafkit::consumer::client::Consumer) {
    /// if let Some(Ok(record)) = consumer.stream().next().await { println!("{}", record.offset); }
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord, ConsumerError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord, ConsumerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, StreamState::Empty) {
                StreamState::Idle(consumer) => {
                    if let Some(ready) = consumer.take_ready_record() {
                        self.state = StreamState::Idle(consumer);
                        return Poll::Ready(Some(ready));
                    }
                    // One record per poll: positions never run ahead of what was yielded.
                    let fut: PollFuture<'_> = Box::pin(async move {
                        let r = consumer.poll_max(Duration::from_secs(3600), 1).await;
                        (consumer, r)
                    });
                    self.state = StreamState::Polling(fut);
                }
                StreamState::Polling(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = StreamState::Polling(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready((consumer, result)) => {
                        self.state = StreamState::Idle(consumer);
                        match result {
                            Ok(records) => {
                                let mut records = VecDeque::from(records);
                                if let Some(r) = records.pop_front() {
                                    return Poll::Ready(Some(Ok(r)));
                                }
                            }
                            Err(ConsumerError::Closed) => return Poll::Ready(None),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                },
                StreamState::Empty => return Poll::Ready(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_outside_a_runtime_fails() {
        let config = ConsumerConfig::builder()
            .bootstrap_servers("127.0.0.1:1")
            .build()
            .unwrap();
        assert!(matches!(
            Consumer::new(config),
            Err(ConsumerError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn subscribe_needs_a_group_and_poll_needs_a_subscription() {
        let config = ConsumerConfig::builder()
            .bootstrap_servers("127.0.0.1:1")
            .build()
            .unwrap();
        let mut consumer = Consumer::new(config).unwrap();
        assert!(matches!(
            consumer.subscribe(&["t"]),
            Err(ConsumerError::NoGroupId)
        ));
        assert!(matches!(
            consumer.poll(Duration::from_millis(1)).await,
            Err(ConsumerError::IllegalState(_))
        ));
        consumer.assign(vec![TopicPartition::new("t", 0)]).unwrap();
        assert_eq!(consumer.assignment(), [TopicPartition::new("t", 0)]);
        consumer.pause(&[TopicPartition::new("t", 0)]);
        assert_eq!(consumer.paused(), [TopicPartition::new("t", 0)]);
        consumer.seek(&TopicPartition::new("t", 0), 5).unwrap();
        assert_eq!(
            consumer
                .position(&TopicPartition::new("t", 0))
                .await
                .unwrap(),
            5
        );
        assert!(matches!(
            consumer.seek(&TopicPartition::new("u", 0), 5),
            Err(ConsumerError::Fetch(FetchError::NotAssigned(_)))
        ));
    }

    #[test]
    fn context_commits_consumed_positions() {
        let tp = TopicPartition::new("t", 1);
        let mut ctx = RebalanceContext::default();
        ctx.positions
            .insert(tp.clone(), FetchPosition::new(9).with_epoch(Some(2)));
        ctx.commit_consumed(&[tp.clone(), TopicPartition::new("t", 2)]);
        assert_eq!(ctx.commits.len(), 1);
        assert_eq!(
            ctx.commits[&tp],
            OffsetAndMetadata::new(9).with_leader_epoch(2)
        );
    }
}
