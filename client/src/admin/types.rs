//! The admin client's typed inputs and results (Java's `NewTopic`, `TopicDescription`,
//! `ConfigEntry`, `ConsumerGroupDescription`, `OffsetSpec`, ...).
//!
//! Owns: plain data. Must not touch: I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::TopicPartition;
use crate::cluster::BrokerNode;
use crate::consumer::assignor::Assignment;

/// Per-call options: the operation's timeout and, for operations that change the cluster,
/// whether the broker should only validate.
///
/// ```
/// use std::time::Duration;
/// use kafkit::admin::AdminOptions;
/// let opts = AdminOptions::default().timeout(Duration::from_secs(5)).validate_only(true);
/// assert_eq!(opts.timeout, Some(Duration::from_secs(5)));
/// assert!(opts.validate_only);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminOptions {
    /// Bound of the whole operation, retries included (`default.api.timeout.ms` when `None`).
    pub timeout: Option<Duration>,
    /// Validate without changing anything (CreateTopics, CreatePartitions, the alter-configs
    /// operations; ignored elsewhere).
    pub validate_only: bool,
}

impl AdminOptions {
    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets validate-only.
    pub fn validate_only(mut self, validate_only: bool) -> Self {
        self.validate_only = validate_only;
        self
    }
}

/// A topic to create (Java's `NewTopic`).
///
/// ```
/// use kafkit::admin::NewTopic;
/// let topic = NewTopic::new("orders", 6, 3).with_config("cleanup.policy", "compact");
/// assert_eq!(topic.partitions, Some(6));
/// let placed = NewTopic::with_assignment("audit", [(0, vec![1, 2]), (1, vec![2, 0])]);
/// assert_eq!(placed.assignment.unwrap()[&1], vec![2, 0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic name.
    pub name: String,
    /// Partition count (`None`: the broker's `num.partitions`).
    pub partitions: Option<i32>,
    /// Replication factor (`None`: the broker's `default.replication.factor`).
    pub replication_factor: Option<i16>,
    /// Explicit replica placement: partition → broker ids, first is the preferred leader.
    /// Excludes `partitions` and `replication_factor`.
    pub assignment: Option<BTreeMap<i32, Vec<i32>>>,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with a partition count and replication factor.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            assignment: None,
            configs: BTreeMap::new(),
        }
    }

    /// A topic with the brokers' default partition count and replication factor.
    pub fn with_defaults(name: impl Into<String>) -> Self {
        NewTopic {
            name: name.into(),
            partitions: None,
            replication_factor: None,
            assignment: None,
            configs: BTreeMap::new(),
        }
    }

    /// A topic with an explicit replica assignment.
    pub fn with_assignment(
        name: impl Into<String>,
        assignment: impl IntoIterator<Item = (i32, Vec<i32>)>,
    ) -> Self {
        NewTopic {
            name: name.into(),
            partitions: None,
            replication_factor: None,
            assignment: Some(assignment.into_iter().collect()),
            configs: BTreeMap::new(),
        }
    }

    /// Adds a topic config.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// What the controller reports about a created (or validated) topic.
///
/// ```
/// let created = kafkit::admin::CreatedTopic { topic_id: Default::default(), partitions: 3, replication_factor: 2 };
/// assert_eq!(created.partitions, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// The new topic's id (nil when the broker's version does not report it).
    pub topic_id: uuid::Uuid,
    /// Its partition count (-1 when not reported).
    pub partitions: i32,
    /// Its replication factor (-1 when not reported).
    pub replication_factor: i16,
}

/// Partitions to add to a topic (Java's `NewPartitions`).
///
/// ```
/// use kafkit::admin::NewPartitions;
/// let grow = NewPartitions::increase_to(8);
/// assert_eq!(grow.total_count, 8);
/// let placed = NewPartitions::increase_to(4).with_assignment(vec![vec![1, 2]]);
/// assert_eq!(placed.assignment.unwrap().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The partition count after the change (must exceed the current one).
    pub total_count: i32,
    /// Replicas of each new partition, in order (optional).
    pub assignment: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grow the topic to `total_count` partitions.
    pub fn increase_to(total_count: i32) -> Self {
        NewPartitions {
            total_count,
            assignment: None,
        }
    }

    /// With explicit replicas for the new partitions.
    pub fn with_assignment(mut self, assignment: Vec<Vec<i32>>) -> Self {
        self.assignment = Some(assignment);
        self
    }
}

/// The cluster as DescribeCluster (or Metadata) reports it.
///
/// ```
/// let c = kafkit::admin::ClusterDescription { cluster_id: "abc".into(), controller: Some(1), brokers: vec![] };
/// assert_eq!(c.controller, Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's broker id, if known.
    pub controller: Option<i32>,
    /// The brokers, by id.
    pub brokers: Vec<BrokerNode>,
}

/// A topic as `list_topics` reports it (Java's `TopicListing`).
///
/// ```
/// let t = kafkit::admin::TopicListing { name: "orders".into(), topic_id: Default::default(), internal: false };
/// assert!(!t.internal);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The topic name.
    pub name: String,
    /// The topic id.
    pub topic_id: uuid::Uuid,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub internal: bool,
}

/// One topic's partitions and replicas (Java's `TopicDescription`).
///
/// ```
/// let d = kafkit::admin::TopicDescription { name: "t".into(), topic_id: Default::default(), internal: false, partitions: vec![] };
/// assert!(d.partitions.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic name.
    pub name: String,
    /// The topic id.
    pub topic_id: uuid::Uuid,
    /// Whether it is internal.
    pub internal: bool,
    /// Partitions in index order.
    pub partitions: Vec<PartitionDescription>,
}

/// One partition's replication state (Java's `TopicPartitionInfo`).
///
/// ```
/// let p = kafkit::admin::PartitionDescription { partition: 0, leader: Some(1), leader_epoch: 0, replicas: vec![1, 2], isr: vec![1, 2], offline: vec![] };
/// assert_eq!(p.replicas.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, if it has one.
    pub leader: Option<i32>,
    /// The leader epoch (-1 when not reported).
    pub leader_epoch: i32,
    /// Replica broker ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica ids.
    pub isr: Vec<i32>,
    /// Replicas that are offline.
    pub offline: Vec<i32>,
}

/// A resource whose configuration can be described or altered (Java's `ConfigResource`).
///
/// ```
/// use kafkit::admin::ConfigResource;
/// assert_eq!(ConfigResource::Broker(2).to_string(), "broker 2");
/// assert_eq!(ConfigResource::Topic("t".into()).resource_type(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic's configuration.
    Topic(String),
    /// A broker's configuration.
    Broker(i32),
}

impl ConfigResource {
    /// The protocol's resource type (TOPIC = 2, BROKER = 4).
    pub fn resource_type(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) => 4,
        }
    }

    /// The protocol's resource name (the topic, or the broker id as a string).
    pub fn resource_name(&self) -> String {
        match self {
            ConfigResource::Topic(t) => t.clone(),
            ConfigResource::Broker(id) => id.to_string(),
        }
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigResource::Topic(t) => write!(f, "topic {t}"),
            ConfigResource::Broker(id) => write!(f, "broker {id}"),
        }
    }
}

/// Where a config value comes from (Java's `ConfigEntry.ConfigSource`).
///
/// ```
/// use kafkit::admin::ConfigSource;
/// assert_eq!(ConfigSource::from_code(1), ConfigSource::DynamicTopicConfig);
/// assert_eq!(ConfigSource::from_code(5), ConfigSource::DefaultConfig);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// Not known (or a code this build does not know).
    Unknown,
    /// Set on the topic.
    DynamicTopicConfig,
    /// Set dynamically for this broker.
    DynamicBrokerConfig,
    /// Set dynamically as the default for all brokers.
    DynamicDefaultBrokerConfig,
    /// From the broker's properties file.
    StaticBrokerConfig,
    /// Kafka's built-in default.
    DefaultConfig,
    /// A broker logger level.
    DynamicBrokerLoggerConfig,
    /// A client metrics subscription.
    ClientMetricsConfig,
    /// A group config.
    GroupConfig,
}

impl ConfigSource {
    /// From the DescribeConfigs `config_source` code.
    pub fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::ClientMetricsConfig,
            8 => ConfigSource::GroupConfig,
            _ => ConfigSource::Unknown,
        }
    }

    /// Kafka's name for the source (`DYNAMIC_TOPIC_CONFIG`, `DEFAULT_CONFIG`, ...).
    ///
    /// ```
    /// assert_eq!(kafkit::admin::ConfigSource::StaticBrokerConfig.name(), "STATIC_BROKER_CONFIG");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::ClientMetricsConfig => "CLIENT_METRICS_CONFIG",
            ConfigSource::GroupConfig => "GROUP_CONFIG",
        }
    }
}

/// One configuration value (Java's `ConfigEntry`).
///
/// ```
/// use kafkit::admin::{ConfigEntry, ConfigSource};
/// let e = ConfigEntry { name: "retention.ms".into(), value: Some("1000".into()), source: ConfigSource::DynamicTopicConfig, read_only: false, sensitive: false };
/// assert!(!e.is_default());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The config name.
    pub name: String,
    /// Its value (`None` when sensitive or unset).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Whether the value is sensitive (and so hidden).
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is Kafka's built-in default.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::DefaultConfig
    }
}

/// An incremental config change (Java's `AlterConfigOp`).
///
/// ```
/// use kafkit::admin::{AlterConfigOp, AlterOpType};
/// let op = AlterConfigOp::set("retention.ms", "60000");
/// assert_eq!(op.op, AlterOpType::Set);
/// assert_eq!(AlterConfigOp::delete("retention.ms").value, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// The config name.
    pub name: String,
    /// What to do.
    pub op: AlterOpType,
    /// The value (`None` for [`AlterOpType::Delete`]).
    pub value: Option<String>,
}

impl AlterConfigOp {
    /// Set `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::with(name, AlterOpType::Set, Some(value.into()))
    }

    /// Revert `name` to its default.
    pub fn delete(name: impl Into<String>) -> Self {
        Self::with(name, AlterOpType::Delete, None)
    }

    /// Append `value` to the list config `name`.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::with(name, AlterOpType::Append, Some(value.into()))
    }

    /// Remove `value` from the list config `name`.
    pub fn subtract(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::with(name, AlterOpType::Subtract, Some(value.into()))
    }

    fn with(name: impl Into<String>, op: AlterOpType, value: Option<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            op,
            value,
        }
    }
}

/// The kind of an [`AlterConfigOp`] (protocol codes 0-3).
///
/// ```
/// assert_eq!(kafkit::admin::AlterOpType::Subtract as i8, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlterOpType {
    /// Set the value.
    Set = 0,
    /// Revert to the default.
    Delete = 1,
    /// Append to a list value.
    Append = 2,
    /// Remove from a list value.
    Subtract = 3,
}

/// A group as `list_groups` reports it (Java's `GroupListing`).
///
/// ```
/// let g = kafkit::admin::GroupListing { group_id: "g".into(), protocol_type: "consumer".into(), state: Some("Stable".into()), coordinator: 1 };
/// assert_eq!(g.protocol_type, "consumer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups, empty for offsets-only groups).
    pub protocol_type: String,
    /// The group state (`Stable`, `Empty`, ...) when the broker reports it (ListGroups v4+).
    pub state: Option<String>,
    /// The broker that coordinates it (the one that listed it).
    pub coordinator: i32,
}

/// A group's state and members (Java's `ConsumerGroupDescription`).
///
/// ```
/// let g = kafkit::admin::GroupDescription { group_id: "g".into(), state: "Empty".into(), protocol_type: "consumer".into(), protocol: String::new(), members: vec![], coordinator: 0 };
/// assert!(g.members.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state (`Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`).
    pub state: String,
    /// The protocol type (`consumer`, ...).
    pub protocol_type: String,
    /// The chosen protocol (the assignor's name for consumer groups).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// The coordinator's broker id.
    pub coordinator: i32,
}

/// One group member (Java's `MemberDescription`).
///
/// ```
/// let m = kafkit::admin::MemberDescription { member_id: "m-1".into(), group_instance_id: None, client_id: "c".into(), host: "/127.0.0.1".into(), assignment: None };
/// assert!(m.assignment.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The static member's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub host: String,
    /// The member's partitions, decoded for `consumer` groups (`None` for other protocol types
    /// or before the first assignment).
    pub assignment: Option<Assignment>,
}

/// What offset to look up for a partition (Java's `OffsetSpec`).
///
/// ```
/// use kafkit::admin::OffsetSpec;
/// assert_eq!(OffsetSpec::Latest.timestamp(), -1);
/// assert_eq!(OffsetSpec::ForTimestamp(1_700_000_000_000).timestamp(), 1_700_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark).
    Latest,
    /// The offset of the record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    ForTimestamp(i64),
}

impl OffsetSpec {
    /// The ListOffsets `timestamp` field for this spec (-2 earliest, -1 latest, -3 max).
    pub fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::ForTimestamp(ts) => ts,
        }
    }
}

/// A ListOffsets answer for one partition (Java's `ListOffsetsResultInfo`).
///
/// ```
/// let o = kafkit::admin::ListedOffset { offset: 10, timestamp: -1, leader_epoch: Some(0) };
/// assert_eq!(o.offset, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 when no record matches a timestamp).
    pub offset: i64,
    /// The matching record's timestamp (-1 for earliest/latest).
    pub timestamp: i64,
    /// The leader epoch of that offset, when reported.
    pub leader_epoch: Option<i32>,
}

/// A group's position on one partition against the log end.
///
/// ```
/// let lag = kafkit::admin::PartitionLag { committed: 7, end_offset: 10, lag: 3 };
/// assert_eq!(lag.end_offset - lag.committed, lag.lag);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// The committed offset (the next offset the group will read).
    pub committed: i64,
    /// The partition's log end offset (high watermark).
    pub end_offset: i64,
    /// `end_offset - committed`, never below 0.
    pub lag: i64,
}

/// Results keyed by topic partition.
pub type PartitionResults<T> = BTreeMap<TopicPartition, Result<T, super::AdminError>>;
