//! Consumer configuration: a typed builder and Java's property names, with the Java 4.x
//! consumer's defaults and validation rules. Sans-IO.
//!
//! **Owns:** the consumer's settings, their defaults, and the rules between them (auto commit
//! without a group, heartbeat below the session timeout, the rebalance protocol, assignor names).
//! **Must not touch:** sockets, tokio, clocks; what the settings drive (fetcher, group
//! membership, assignors) lives elsewhere in [`crate::consumer`].
//!
//! Settings are given through typed builder methods or with [`ConsumerConfigBuilder::set`] and
//! the Java property names, so an existing Java config can be pasted; both write the same
//! values. [`ConsumerConfigBuilder::build`] checks everything and applies Java's rules:
//!
//! - **Auto commit without a group.** With no `group.id`, `enable.auto.commit` defaults to
//!   `false`; an explicit `true` is an error with Java's message (`ConsumerConfig.
//!   maybeOverrideEnableAutoCommit`). The change is recorded in
//!   [`ConsumerConfig::adjustments`].
//! - **Heartbeat.** `heartbeat.interval.ms` must be below `session.timeout.ms` (Java's
//!   `Heartbeat`: "Heartbeat must be set lower than the session timeout").
//! - **Rebalance protocol.** Only `group.protocol=classic` is implemented; `consumer` (KIP-848)
//!   is [`ConfigError::Unsupported`].
//! - **Assignors.** `partition.assignment.strategy` takes assignor names (`range`,
//!   `roundrobin`, `sticky`, `cooperative-sticky`) or the Java class names
//!   (`org.apache.kafka.clients.consumer.RangeAssignor`, ...), which map to the names. The
//!   default is Java 4's `RangeAssignor, CooperativeStickyAssignor`, read back as
//!   `range,cooperative-sticky`. With a `group.id` the list must not be empty.
//! - **Retry backoff.** `retry.backoff.ms` above `retry.backoff.max.ms` gives a static backoff
//!   of `retry.backoff.max.ms` (recorded).
//! - **`client.id`** defaults to `consumer-<group.id>-N` (or `consumer-N` without a group), a
//!   process-wide sequence, as in Java.
//! - Java consumer keys kafkit does not implement (`key.deserializer`, `ssl.*`, `sasl.*`, ...)
//!   are [`ConfigError::Unsupported`] with a reason; any other unknown key is
//!   [`ConfigError::UnknownKey`] naming the nearest known key.
//!
//! Deviations from Java: `group.id` and `group.instance.id`, when set, must not be empty (Java
//! accepts an empty `group.id` and fails later at the coordinator); `auto.offset.reset` does not
//! take Java 4's `by_duration:<ISO-8601>` form; choices are matched ignoring ASCII case (Java does
//! so for `group.protocol` and `isolation.level`).
//!
//! ```
//! use std::time::Duration;
//! use kafkit::consumer::config::{AssignmentStrategy, AutoOffsetReset, ConsumerConfig};
//!
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers("kafka-1:9092,kafka-2:9092")
//!     .group_id("billing")
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .set("max.poll.records", "100")?
//!     .build()?;
//! assert!(config.enable_auto_commit());
//! assert_eq!(config.max_poll_records(), 100);
//! assert_eq!(config.session_timeout(), Duration::from_secs(45));
//! assert_eq!(
//!     config.partition_assignment_strategy(),
//!     [AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky]
//! );
//! assert_eq!(config.get("auto.offset.reset")?, "earliest");
//! # Ok::<(), kafkit::config::ConfigError>(())
//! ```
//!
//! # Properties
//!
//! | Key | Type | Default | Valid values | Description |
//! |---|---|---|---|---|
//! | `bootstrap.servers` | list | (required) | non-empty list of host:port | Brokers to ask for the cluster's metadata first, as `host:port,host:port`. |
//! | `client.id` | string | `""` | | Name sent with every request, for broker logs and quotas; `consumer-<group.id>-N` when unset. |
//! | `group.id` | string | `null` | non-empty string | The consumer group this consumer joins; without it, no group membership and no offset commits. |
//! | `group.instance.id` | string | `null` | non-empty string | Static membership id (KIP-345): a restart with the same id within the session timeout keeps the assignment. |
//! | `group.protocol` | string | `classic` | [classic, consumer] | Rebalance protocol: `classic` (JoinGroup/SyncGroup); `consumer` (KIP-848) is not supported yet. |
//! | `partition.assignment.strategy` | list | `range,cooperative-sticky` | | Assignors the group leader may use, preferred first: `range`, `roundrobin`, `sticky`, `cooperative-sticky` or Java class names. |
//! | `auto.offset.reset` | string | `latest` | [latest, earliest, none] | Where to start when there is no committed offset or it is out of range: `earliest`, `latest`, or `none` (error). |
//! | `enable.auto.commit` | boolean | `true` | | Commit consumed offsets in the background every `auto.commit.interval.ms`; `false` without a `group.id`. |
//! | `auto.commit.interval.ms` | int | `5000` | [0,...] | How often offsets are committed when `enable.auto.commit` is on. |
//! | `fetch.min.bytes` | int | `1` | [0,...] | Bytes a fetch waits for before the broker answers (up to `fetch.max.wait.ms`). |
//! | `fetch.max.wait.ms` | int | `500` | [0,...] | How long the broker may hold a fetch to gather `fetch.min.bytes`. |
//! | `fetch.max.bytes` | int | `52428800` | [0,...] | Upper bound of a fetch response's data; the first batch is returned even if larger. |
//! | `max.partition.fetch.bytes` | int | `1048576` | [0,...] | Upper bound of one partition's data in a fetch response; the first batch is returned even if larger. |
//! | `max.poll.records` | int | `500` | [1,...] | Records one `poll` returns at most. |
//! | `max.poll.interval.ms` | int | `300000` | [1,...] | Longest time between polls before the member leaves the group and its partitions are reassigned. |
//! | `session.timeout.ms` | int | `45000` | | How long the coordinator waits for a heartbeat before removing the member. |
//! | `heartbeat.interval.ms` | int | `3000` | | How often the member heartbeats to the coordinator; must be below `session.timeout.ms`. |
//! | `isolation.level` | string | `read_uncommitted` | [read_uncommitted, read_committed] | `read_committed` returns only committed transactional records and stops at the last stable offset. |
//! | `client.rack` | string | `""` | | The rack of this consumer, for rack-aware assignment and fetching from the closest replica (KIP-392). |
//! | `request.timeout.ms` | int | `30000` | [0,...] | How long to wait for a broker's response before failing or retrying the request. |
//! | `default.api.timeout.ms` | int | `60000` | [0,...] | Timeout of consumer calls that take no explicit timeout (commitSync, position, ...). |
//! | `retry.backoff.ms` | long | `100` | [0,...] | First wait before retrying a failed request; doubles per attempt, with jitter. |
//! | `retry.backoff.max.ms` | long | `1000` | [0,...] | Upper bound of the retry backoff. |
//! | `reconnect.backoff.ms` | long | `50` | [0,...] | First wait before reconnecting to a broker; doubles per failure, with jitter. |
//! | `reconnect.backoff.max.ms` | long | `1000` | [0,...] | Upper bound of the reconnect backoff. |
//! | `metadata.max.age.ms` | long | `300000` | [0,...] | Refresh cluster metadata at least this often, even without errors. |
//! | `allow.auto.create.topics` | boolean | `true` | | Let a subscription to a missing topic create it, when the broker allows auto-creation. |
//! | `check.crcs` | boolean | `true` | | Check the CRC-32C of fetched record batches. |
//! | `exclude.internal.topics` | boolean | `true` | | Keep internal topics (`__consumer_offsets`) out of pattern subscriptions. |
//! | `socket.connection.setup.timeout.ms` | long | `10000` | [0,...] | How long establishing a connection to a broker may take. |
//! | `connections.max.idle.ms` | long | `540000` | | Close connections idle this long; -1 never closes them. |

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::config::{
    ConfigError, Property, PropertyDef, PropertyDefault, PropertySet, PropertyTable, PropertyType,
    PropertyValue, check_host_port_list, duration_to_ms, ms_to_duration, parse_list, property,
};
use crate::consumer::assignor::{Assignor, assignor_by_name};
use crate::net::ConnectionConfig;
use PropertyDefault::{Null, Required, Value};

/// Trims like Java's `String.trim()` and finds `raw` among `choices`, ignoring ASCII case.
fn parse_choice_ignore_case<'a>(
    key: &str,
    raw: &str,
    choices: &[&'a str],
) -> Result<&'a str, ConfigError> {
    let s = raw.trim_matches(|c: char| c <= ' ');
    choices
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                s,
                format!("String must be one of: {}", choices.join(", ")),
            )
        })
}

/// Declares a Java string enum setting: its values, parsing, printing and property plumbing.
macro_rules! choice_enum {
    ($ty:ident, $key:literal, [$(($variant:ident, $java:literal)),+ $(,)?]) => {
        impl $ty {
            /// The Java property values, in the order Java lists them.
            pub const JAVA_VALUES: &'static [&'static str] = &[$($java),+];

            /// The Java property value.
            pub fn java_name(self) -> &'static str {
                match self {
                    $($ty::$variant => $java,)+
                }
            }

            fn parse_java(key: &str, raw: &str) -> Result<Self, ConfigError> {
                let name = parse_choice_ignore_case(key, raw, Self::JAVA_VALUES)?;
                $(if name == $java {
                    return Ok($ty::$variant);
                })+
                Err(ConfigError::invalid(key, raw, "unreachable choice"))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.java_name())
            }
        }

        impl FromStr for $ty {
            type Err = ConfigError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse_java($key, s)
            }
        }

        impl PropertyValue for $ty {
            fn parse(key: &str, raw: &str, _ty: PropertyType) -> Result<Self, ConfigError> {
                $ty::parse_java(key, raw)
            }

            fn check(&self, _key: &str, _ty: PropertyType) -> Result<(), ConfigError> {
                Ok(())
            }

            fn to_java(&self) -> String {
                self.java_name().to_owned()
            }
        }
    };
}

/// Where a partition without a usable committed offset starts (`auto.offset.reset`).
///
/// ```
/// use kafkit::consumer::config::AutoOffsetReset;
///
/// assert_eq!("earliest".parse::<AutoOffsetReset>()?, AutoOffsetReset::Earliest);
/// assert_eq!(AutoOffsetReset::default().to_string(), "latest");
/// assert!("by_duration:PT1H".parse::<AutoOffsetReset>().is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset (the default): only records produced from now on.
    #[default]
    Latest,
    /// No reset: the consumer reports an error for the partition.
    None,
}

choice_enum!(
    AutoOffsetReset,
    "auto.offset.reset",
    [(Latest, "latest"), (Earliest, "earliest"), (None, "none")]
);

/// Which records a fetch returns (`isolation.level`).
///
/// ```
/// use kafkit::consumer::config::IsolationLevel;
///
/// let level: IsolationLevel = "read_committed".parse()?;
/// assert_eq!(level.as_i8(), 1);
/// assert_eq!(IsolationLevel::default(), IsolationLevel::ReadUncommitted);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark, aborted transactions included (the default).
    #[default]
    ReadUncommitted,
    /// Only committed records, up to the last stable offset.
    ReadCommitted,
}

choice_enum!(
    IsolationLevel,
    "isolation.level",
    [
        (ReadUncommitted, "read_uncommitted"),
        (ReadCommitted, "read_committed")
    ]
);

impl IsolationLevel {
    /// The value sent in Fetch and ListOffsets requests (0 or 1).
    ///
    /// ```
    /// assert_eq!(kafkit::consumer::config::IsolationLevel::ReadUncommitted.as_i8(), 0);
    /// ```
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// The group rebalance protocol (`group.protocol`).
///
/// ```
/// use kafkit::consumer::config::GroupProtocol;
/// assert_eq!("CLASSIC".parse::<GroupProtocol>()?, GroupProtocol::Classic);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup with client-side assignors (the default; the only one kafkit runs).
    #[default]
    Classic,
    /// KIP-848's broker-side protocol (ConsumerGroupHeartbeat); not supported yet.
    Consumer,
}

choice_enum!(
    GroupProtocol,
    "group.protocol",
    [(Classic, "classic"), (Consumer, "consumer")]
);

/// A partition assignor named in `partition.assignment.strategy`.
///
/// ```
/// use kafkit::consumer::config::AssignmentStrategy;
///
/// let s: AssignmentStrategy = "org.apache.kafka.clients.consumer.StickyAssignor".parse()?;
/// assert_eq!(s, AssignmentStrategy::Sticky);
/// assert_eq!(s.name(), "sticky");
/// assert_eq!("roundrobin".parse::<AssignmentStrategy>()?, AssignmentStrategy::RoundRobin);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssignmentStrategy {
    /// `range`: contiguous ranges of each topic's partitions (eager).
    Range,
    /// `roundrobin`: all partitions dealt round-robin (eager).
    RoundRobin,
    /// `sticky`: balanced, keeping previous assignments (eager).
    Sticky,
    /// `cooperative-sticky`: balanced and sticky, with incremental rebalances (KIP-429).
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// Every strategy.
    pub const ALL: [AssignmentStrategy; 4] = [
        AssignmentStrategy::Range,
        AssignmentStrategy::RoundRobin,
        AssignmentStrategy::Sticky,
        AssignmentStrategy::CooperativeSticky,
    ];

    /// The protocol name sent in JoinGroup (also what [`crate::consumer::assignor::assignor_by_name`] takes).
    ///
    /// ```
    /// use kafkit::consumer::config::AssignmentStrategy;
    /// assert_eq!(AssignmentStrategy::CooperativeSticky.name(), "cooperative-sticky");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::Sticky => "sticky",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The Java class implementing it.
    ///
    /// ```
    /// use kafkit::consumer::config::AssignmentStrategy;
    /// assert_eq!(
    ///     AssignmentStrategy::Range.java_class(),
    ///     "org.apache.kafka.clients.consumer.RangeAssignor"
    /// );
    /// ```
    pub fn java_class(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "org.apache.kafka.clients.consumer.RangeAssignor",
            AssignmentStrategy::RoundRobin => {
                "org.apache.kafka.clients.consumer.RoundRobinAssignor"
            }
            AssignmentStrategy::Sticky => "org.apache.kafka.clients.consumer.StickyAssignor",
            AssignmentStrategy::CooperativeSticky => {
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            }
        }
    }

    /// A name or Java class name; `None` when it is neither.
    ///
    /// ```
    /// use kafkit::consumer::config::AssignmentStrategy;
    /// assert_eq!(AssignmentStrategy::from_name("range"), Some(AssignmentStrategy::Range));
    /// assert_eq!(AssignmentStrategy::from_name("com.example.MyAssignor"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name || s.java_class() == name)
    }
}

impl fmt::Display for AssignmentStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AssignmentStrategy {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_matches(|c: char| c <= ' ');
        Self::from_name(s).ok_or_else(|| {
            ConfigError::invalid(
                "partition.assignment.strategy",
                s,
                format!(
                    "Class {s} cannot be found; kafkit knows range, roundrobin, sticky, \
                     cooperative-sticky and their Java class names"
                ),
            )
        })
    }
}

/// The `partition.assignment.strategy` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Strategies(Vec<AssignmentStrategy>);

impl PropertyValue for Strategies {
    fn parse(key: &str, raw: &str, _ty: PropertyType) -> Result<Self, ConfigError> {
        parse_list(raw)
            .iter()
            .map(|name| {
                AssignmentStrategy::from_name(name).ok_or_else(|| {
                    ConfigError::invalid(
                        key,
                        name,
                        format!(
                            "Class {name} cannot be found; kafkit knows range, roundrobin, \
                             sticky, cooperative-sticky and their Java class names"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Strategies)
    }

    fn check(&self, _key: &str, _ty: PropertyType) -> Result<(), ConfigError> {
        Ok(())
    }

    fn to_java(&self) -> String {
        self.0
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A change `build` made to the given settings, as Java does (and logs).
///
/// ```
/// use kafkit::consumer::config::{ConsumerConfig, ConsumerConfigAdjustment};
///
/// let config = ConsumerConfig::builder().bootstrap_servers("localhost:9092").build()?;
/// assert!(!config.enable_auto_commit());
/// assert_eq!(config.adjustments(), [ConsumerConfigAdjustment::AutoCommitDisabledWithoutGroup]);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerConfigAdjustment {
    /// No `group.id` and `enable.auto.commit` left at its default: auto commit is off.
    AutoCommitDisabledWithoutGroup,
    /// `retry.backoff.ms` exceeds `retry.backoff.max.ms`: every retry waits the maximum.
    StaticRetryBackoff {
        /// The backoff used for every retry.
        backoff: Duration,
    },
}

impl fmt::Display for ConsumerConfigAdjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumerConfigAdjustment::AutoCommitDisabledWithoutGroup => f.write_str(
                "enable.auto.commit is false because no group.id is set (the default group id \
                 (null) cannot commit offsets).",
            ),
            ConsumerConfigAdjustment::StaticRetryBackoff { backoff } => write!(
                f,
                "Configuration 'retry.backoff.ms' is greater than configuration \
                 'retry.backoff.max.ms'. A static backoff with value '{}' will be applied.",
                backoff.as_millis()
            ),
        }
    }
}

/// Every consumer setting in Java's types (integers of both widths as `i64`). Declared once in
/// [`CONSUMER_PROPERTIES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ConsumerProperties {
    bootstrap_servers: Vec<String>,
    client_id: String,
    group_id: Option<String>,
    group_instance_id: Option<String>,
    group_protocol: GroupProtocol,
    strategies: Strategies,
    auto_offset_reset: AutoOffsetReset,
    enable_auto_commit: bool,
    auto_commit_interval_ms: i64,
    fetch_min_bytes: i64,
    fetch_max_wait_ms: i64,
    fetch_max_bytes: i64,
    max_partition_fetch_bytes: i64,
    max_poll_records: i64,
    max_poll_interval_ms: i64,
    session_timeout_ms: i64,
    heartbeat_interval_ms: i64,
    isolation_level: IsolationLevel,
    client_rack: String,
    request_timeout_ms: i64,
    default_api_timeout_ms: i64,
    retry_backoff_ms: i64,
    retry_backoff_max_ms: i64,
    reconnect_backoff_ms: i64,
    reconnect_backoff_max_ms: i64,
    metadata_max_age_ms: i64,
    allow_auto_create_topics: bool,
    check_crcs: bool,
    exclude_internal_topics: bool,
    socket_connection_setup_timeout_ms: i64,
    connections_max_idle_ms: i64,
}

const INT_AT_LEAST_0: PropertyType = PropertyType::Int {
    min: 0,
    max: i32::MAX,
};
const INT_AT_LEAST_1: PropertyType = PropertyType::Int {
    min: 1,
    max: i32::MAX,
};
const INT_ANY: PropertyType = PropertyType::Int {
    min: i32::MIN,
    max: i32::MAX,
};
const LONG_AT_LEAST_0: PropertyType = PropertyType::Long {
    min: 0,
    max: i64::MAX,
};
const LONG_ANY: PropertyType = PropertyType::Long {
    min: i64::MIN,
    max: i64::MAX,
};

/// The consumer's properties, in documentation order. Defaults and ranges are Java 4.x
/// `ConsumerConfig`'s (see the module docs for the deviations).
static CONSUMER_PROPERTIES: &[Property<ConsumerProperties>] = &[
    property!(
        "bootstrap.servers",
        bootstrap_servers,
        PropertyType::HostPortList,
        Required,
        "Brokers to ask for the cluster's metadata first, as `host:port,host:port`."
    ),
    property!(
        "client.id",
        client_id,
        PropertyType::String,
        Value(""),
        "Name sent with every request, for broker logs and quotas; `consumer-<group.id>-N` when \
         unset."
    ),
    property!(
        "group.id",
        group_id,
        PropertyType::NonEmptyString,
        Null,
        "The consumer group this consumer joins; without it, no group membership and no offset \
         commits."
    ),
    property!(
        "group.instance.id",
        group_instance_id,
        PropertyType::NonEmptyString,
        Null,
        "Static membership id (KIP-345): a restart with the same id within the session timeout \
         keeps the assignment."
    ),
    property!(
        "group.protocol",
        group_protocol,
        PropertyType::Choice(GroupProtocol::JAVA_VALUES),
        Value("classic"),
        "Rebalance protocol: `classic` (JoinGroup/SyncGroup); `consumer` (KIP-848) is not \
         supported yet."
    ),
    property!(
        "partition.assignment.strategy",
        strategies,
        PropertyType::List,
        Value("range,cooperative-sticky"),
        "Assignors the group leader may use, preferred first: `range`, `roundrobin`, `sticky`, \
         `cooperative-sticky` or Java class names."
    ),
    property!(
        "auto.offset.reset",
        auto_offset_reset,
        PropertyType::Choice(AutoOffsetReset::JAVA_VALUES),
        Value("latest"),
        "Where to start when there is no committed offset or it is out of range: `earliest`, \
         `latest`, or `none` (error)."
    ),
    property!(
        "enable.auto.commit",
        enable_auto_commit,
        PropertyType::Boolean,
        Value("true"),
        "Commit consumed offsets in the background every `auto.commit.interval.ms`; `false` \
         without a `group.id`."
    ),
    property!(
        "auto.commit.interval.ms",
        auto_commit_interval_ms,
        INT_AT_LEAST_0,
        Value("5000"),
        "How often offsets are committed when `enable.auto.commit` is on."
    ),
    property!(
        "fetch.min.bytes",
        fetch_min_bytes,
        INT_AT_LEAST_0,
        Value("1"),
        "Bytes a fetch waits for before the broker answers (up to `fetch.max.wait.ms`)."
    ),
    property!(
        "fetch.max.wait.ms",
        fetch_max_wait_ms,
        INT_AT_LEAST_0,
        Value("500"),
        "How long the broker may hold a fetch to gather `fetch.min.bytes`."
    ),
    property!(
        "fetch.max.bytes",
        fetch_max_bytes,
        INT_AT_LEAST_0,
        Value("52428800"),
        "Upper bound of a fetch response's data; the first batch is returned even if larger."
    ),
    property!(
        "max.partition.fetch.bytes",
        max_partition_fetch_bytes,
        INT_AT_LEAST_0,
        Value("1048576"),
        "Upper bound of one partition's data in a fetch response; the first batch is returned \
         even if larger."
    ),
    property!(
        "max.poll.records",
        max_poll_records,
        INT_AT_LEAST_1,
        Value("500"),
        "Records one `poll` returns at most."
    ),
    property!(
        "max.poll.interval.ms",
        max_poll_interval_ms,
        INT_AT_LEAST_1,
        Value("300000"),
        "Longest time between polls before the member leaves the group and its partitions are \
         reassigned."
    ),
    property!(
        "session.timeout.ms",
        session_timeout_ms,
        INT_ANY,
        Value("45000"),
        "How long the coordinator waits for a heartbeat before removing the member."
    ),
    property!(
        "heartbeat.interval.ms",
        heartbeat_interval_ms,
        INT_ANY,
        Value("3000"),
        "How often the member heartbeats to the coordinator; must be below `session.timeout.ms`."
    ),
    property!(
        "isolation.level",
        isolation_level,
        PropertyType::Choice(IsolationLevel::JAVA_VALUES),
        Value("read_uncommitted"),
        "`read_committed` returns only committed transactional records and stops at the last \
         stable offset."
    ),
    property!(
        "client.rack",
        client_rack,
        PropertyType::String,
        Value(""),
        "The rack of this consumer, for rack-aware assignment and fetching from the closest \
         replica (KIP-392)."
    ),
    property!(
        "request.timeout.ms",
        request_timeout_ms,
        INT_AT_LEAST_0,
        Value("30000"),
        "How long to wait for a broker's response before failing or retrying the request."
    ),
    property!(
        "default.api.timeout.ms",
        default_api_timeout_ms,
        INT_AT_LEAST_0,
        Value("60000"),
        "Timeout of consumer calls that take no explicit timeout (commitSync, position, ...)."
    ),
    property!(
        "retry.backoff.ms",
        retry_backoff_ms,
        LONG_AT_LEAST_0,
        Value("100"),
        "First wait before retrying a failed request; doubles per attempt, with jitter."
    ),
    property!(
        "retry.backoff.max.ms",
        retry_backoff_max_ms,
        LONG_AT_LEAST_0,
        Value("1000"),
        "Upper bound of the retry backoff."
    ),
    property!(
        "reconnect.backoff.ms",
        reconnect_backoff_ms,
        LONG_AT_LEAST_0,
        Value("50"),
        "First wait before reconnecting to a broker; doubles per failure, with jitter."
    ),
    property!(
        "reconnect.backoff.max.ms",
        reconnect_backoff_max_ms,
        LONG_AT_LEAST_0,
        Value("1000"),
        "Upper bound of the reconnect backoff."
    ),
    property!(
        "metadata.max.age.ms",
        metadata_max_age_ms,
        LONG_AT_LEAST_0,
        Value("300000"),
        "Refresh cluster metadata at least this often, even without errors."
    ),
    property!(
        "allow.auto.create.topics",
        allow_auto_create_topics,
        PropertyType::Boolean,
        Value("true"),
        "Let a subscription to a missing topic create it, when the broker allows auto-creation."
    ),
    property!(
        "check.crcs",
        check_crcs,
        PropertyType::Boolean,
        Value("true"),
        "Check the CRC-32C of fetched record batches."
    ),
    property!(
        "exclude.internal.topics",
        exclude_internal_topics,
        PropertyType::Boolean,
        Value("true"),
        "Keep internal topics (`__consumer_offsets`) out of pattern subscriptions."
    ),
    property!(
        "socket.connection.setup.timeout.ms",
        socket_connection_setup_timeout_ms,
        LONG_AT_LEAST_0,
        Value("10000"),
        "How long establishing a connection to a broker may take."
    ),
    property!(
        "connections.max.idle.ms",
        connections_max_idle_ms,
        LONG_ANY,
        Value("540000"),
        "Close connections idle this long; -1 never closes them."
    ),
];

const METRICS: &str = "Java metric settings do not apply; read metrics from the consumer handle";

/// Java consumer keys that kafkit does not implement, with the reason given to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "key.deserializer",
        "deserializers are Rust types given to the consumer, not class names",
    ),
    (
        "value.deserializer",
        "deserializers are Rust types given to the consumer, not class names",
    ),
    ("interceptor.classes", "interceptors are not supported"),
    (
        "group.remote.assignor",
        "only used by group.protocol=consumer, which is not supported yet",
    ),
    (
        "security.protocol",
        "TLS and SASL are not supported yet (plaintext only)",
    ),
    (
        "security.providers",
        "TLS and SASL are not supported yet (plaintext only)",
    ),
    (
        "client.dns.lookup",
        "bootstrap hosts are resolved with the system resolver",
    ),
    (
        "send.buffer.bytes",
        "socket buffer sizes are not configurable yet",
    ),
    (
        "receive.buffer.bytes",
        "socket buffer sizes are not configurable yet",
    ),
    (
        "socket.connection.setup.timeout.max.ms",
        "not configurable yet",
    ),
    ("metadata.recovery.strategy", "not supported yet"),
    (
        "metadata.recovery.rebootstrap.trigger.ms",
        "not supported yet",
    ),
    ("metric.reporters", METRICS),
    ("metrics.num.samples", METRICS),
    ("metrics.recording.level", METRICS),
    ("metrics.sample.window.ms", METRICS),
    ("enable.metrics.push", METRICS),
    ("config.providers", "config providers are a Java mechanism"),
];

impl PropertyTable for ConsumerProperties {
    fn properties() -> &'static [Property<Self>] {
        CONSUMER_PROPERTIES
    }

    fn unsupported(key: &str) -> Option<&'static str> {
        if key.starts_with("ssl.") || key.starts_with("sasl.") {
            return Some("TLS and SASL are not supported yet (plaintext only)");
        }
        UNSUPPORTED
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, reason)| *reason)
    }
}

/// Generated `client.id`s: `consumer-<group>-1`, `consumer-<group>-2`, ... per process, as
/// Java's.
static CLIENT_ID_SEQUENCE: AtomicU32 = AtomicU32::new(1);

/// Builds a [`ConsumerConfig`] from typed values or Java property names and values.
///
/// Methods take and return `&mut Self`, so settings chain, and [`set`](Self::set) chains with
/// `?`. Typed values are checked by [`build`](Self::build); `set` checks as it parses.
///
/// ```
/// use std::time::Duration;
/// use kafkit::consumer::config::{ConsumerConfig, IsolationLevel};
///
/// let mut builder = ConsumerConfig::builder();
/// builder.bootstrap_servers("localhost:9092").group_id("g");
/// for (key, value) in [("fetch.max.wait.ms", "100"), ("isolation.level", "read_committed")] {
///     builder.set(key, value)?;
/// }
/// let config = builder.build()?;
/// assert_eq!(config.fetch_max_wait(), Duration::from_millis(100));
/// assert_eq!(config.isolation_level(), IsolationLevel::ReadCommitted);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConsumerConfigBuilder {
    props: PropertySet<ConsumerProperties>,
}

impl Default for ConsumerConfigBuilder {
    fn default() -> Self {
        ConsumerConfigBuilder {
            props: PropertySet::with_defaults(),
        }
    }
}

impl fmt::Debug for ConsumerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerConfigBuilder")
            .field("properties", &self.props)
            .finish()
    }
}

fn usize_to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl ConsumerConfigBuilder {
    /// A builder with every setting at its Java default.
    ///
    /// ```
    /// let builder = kafkit::consumer::config::ConsumerConfigBuilder::new();
    /// assert_eq!(builder.get("auto.offset.reset")?, "latest");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a property by its Java name and string value (`set("max.poll.records", "10")`),
    /// parsed and range-checked as Java does.
    ///
    /// ```
    /// use kafkit::config::ConfigError;
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let mut builder = ConsumerConfig::builder();
    /// builder.set("group.id", "g")?.set("auto.offset.reset", "earliest")?;
    /// let err = builder.set("group.idd", "g").unwrap_err();
    /// assert!(matches!(err, ConfigError::UnknownKey { suggestion: Some(ref s), .. } if s == "group.id"));
    /// assert!(builder.set("max.poll.records", "0").is_err());
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        self.props.set(key, value)?;
        Ok(self)
    }

    /// Sets many properties, as from a Java `.properties` file; stops at the first error.
    ///
    /// ```
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let config = ConsumerConfig::builder()
    ///     .set_all([("bootstrap.servers", "localhost:9092"), ("group.id", "g")])?
    ///     .build()?;
    /// assert_eq!(config.group_id(), Some("g"));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn set_all<K, V>(
        &mut self,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<&mut Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in properties {
            self.props.set(key.as_ref(), value.as_ref())?;
        }
        Ok(self)
    }

    /// A property's current value in Java's string form (unset `group.id` reads as the empty
    /// string).
    ///
    /// ```
    /// let builder = kafkit::consumer::config::ConsumerConfig::builder();
    /// assert_eq!(builder.get("max.poll.records")?, "500");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        self.props.get(key)
    }

    fn update(&mut self, key: &str, change: impl FnOnce(&mut ConsumerProperties)) -> &mut Self {
        self.props.update(key, change);
        self
    }

    /// `bootstrap.servers`: comma-separated `host:port` entries (checked by `build`).
    pub fn bootstrap_servers(&mut self, servers: impl AsRef<str>) -> &mut Self {
        let list = parse_list(servers.as_ref());
        self.update("bootstrap.servers", |p| p.bootstrap_servers = list)
    }

    /// `client.id`.
    pub fn client_id(&mut self, client_id: impl Into<String>) -> &mut Self {
        let client_id = client_id.into();
        self.update("client.id", |p| p.client_id = client_id)
    }

    /// `group.id`.
    pub fn group_id(&mut self, group_id: impl Into<String>) -> &mut Self {
        let group_id = group_id.into();
        self.update("group.id", |p| p.group_id = Some(group_id))
    }

    /// `group.instance.id` (static membership).
    pub fn group_instance_id(&mut self, id: impl Into<String>) -> &mut Self {
        let id = id.into();
        self.update("group.instance.id", |p| p.group_instance_id = Some(id))
    }

    /// `group.protocol`.
    pub fn group_protocol(&mut self, protocol: GroupProtocol) -> &mut Self {
        self.update("group.protocol", |p| p.group_protocol = protocol)
    }

    /// `partition.assignment.strategy`, preferred first.
    pub fn partition_assignment_strategy(
        &mut self,
        strategies: impl IntoIterator<Item = AssignmentStrategy>,
    ) -> &mut Self {
        let list = Strategies(strategies.into_iter().collect());
        self.update("partition.assignment.strategy", |p| p.strategies = list)
    }

    /// `auto.offset.reset`.
    pub fn auto_offset_reset(&mut self, reset: AutoOffsetReset) -> &mut Self {
        self.update("auto.offset.reset", |p| p.auto_offset_reset = reset)
    }

    /// `enable.auto.commit`.
    pub fn enable_auto_commit(&mut self, enable: bool) -> &mut Self {
        self.update("enable.auto.commit", |p| p.enable_auto_commit = enable)
    }

    /// `auto.commit.interval.ms`.
    pub fn auto_commit_interval(&mut self, interval: Duration) -> &mut Self {
        self.update("auto.commit.interval.ms", |p| {
            p.auto_commit_interval_ms = duration_to_ms(interval)
        })
    }

    /// `fetch.min.bytes`.
    pub fn fetch_min_bytes(&mut self, bytes: usize) -> &mut Self {
        self.update("fetch.min.bytes", |p| {
            p.fetch_min_bytes = usize_to_i64(bytes)
        })
    }

    /// `fetch.max.wait.ms`.
    pub fn fetch_max_wait(&mut self, wait: Duration) -> &mut Self {
        self.update("fetch.max.wait.ms", |p| {
            p.fetch_max_wait_ms = duration_to_ms(wait)
        })
    }

    /// `fetch.max.bytes`.
    pub fn fetch_max_bytes(&mut self, bytes: usize) -> &mut Self {
        self.update("fetch.max.bytes", |p| {
            p.fetch_max_bytes = usize_to_i64(bytes)
        })
    }

    /// `max.partition.fetch.bytes`.
    pub fn max_partition_fetch_bytes(&mut self, bytes: usize) -> &mut Self {
        self.update("max.partition.fetch.bytes", |p| {
            p.max_partition_fetch_bytes = usize_to_i64(bytes)
        })
    }

    /// `max.poll.records`.
    pub fn max_poll_records(&mut self, records: usize) -> &mut Self {
        self.update("max.poll.records", |p| {
            p.max_poll_records = usize_to_i64(records)
        })
    }

    /// `max.poll.interval.ms`.
    pub fn max_poll_interval(&mut self, interval: Duration) -> &mut Self {
        self.update("max.poll.interval.ms", |p| {
            p.max_poll_interval_ms = duration_to_ms(interval)
        })
    }

    /// `session.timeout.ms`.
    pub fn session_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("session.timeout.ms", |p| {
            p.session_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `heartbeat.interval.ms`.
    pub fn heartbeat_interval(&mut self, interval: Duration) -> &mut Self {
        self.update("heartbeat.interval.ms", |p| {
            p.heartbeat_interval_ms = duration_to_ms(interval)
        })
    }

    /// `isolation.level`.
    pub fn isolation_level(&mut self, level: IsolationLevel) -> &mut Self {
        self.update("isolation.level", |p| p.isolation_level = level)
    }

    /// `client.rack`.
    pub fn client_rack(&mut self, rack: impl Into<String>) -> &mut Self {
        let rack = rack.into();
        self.update("client.rack", |p| p.client_rack = rack)
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("request.timeout.ms", |p| {
            p.request_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `default.api.timeout.ms`.
    pub fn default_api_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("default.api.timeout.ms", |p| {
            p.default_api_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `retry.backoff.ms`.
    pub fn retry_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.update("retry.backoff.ms", |p| {
            p.retry_backoff_ms = duration_to_ms(backoff)
        })
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&mut self, backoff: Duration) -> &mut Self {
        self.update("retry.backoff.max.ms", |p| {
            p.retry_backoff_max_ms = duration_to_ms(backoff)
        })
    }

    /// `reconnect.backoff.ms`.
    pub fn reconnect_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.update("reconnect.backoff.ms", |p| {
            p.reconnect_backoff_ms = duration_to_ms(backoff)
        })
    }

    /// `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff_max(&mut self, backoff: Duration) -> &mut Self {
        self.update("reconnect.backoff.max.ms", |p| {
            p.reconnect_backoff_max_ms = duration_to_ms(backoff)
        })
    }

    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(&mut self, age: Duration) -> &mut Self {
        self.update("metadata.max.age.ms", |p| {
            p.metadata_max_age_ms = duration_to_ms(age)
        })
    }

    /// `allow.auto.create.topics`.
    pub fn allow_auto_create_topics(&mut self, allow: bool) -> &mut Self {
        self.update("allow.auto.create.topics", |p| {
            p.allow_auto_create_topics = allow
        })
    }

    /// `check.crcs`.
    pub fn check_crcs(&mut self, check: bool) -> &mut Self {
        self.update("check.crcs", |p| p.check_crcs = check)
    }

    /// `exclude.internal.topics`.
    pub fn exclude_internal_topics(&mut self, exclude: bool) -> &mut Self {
        self.update("exclude.internal.topics", |p| {
            p.exclude_internal_topics = exclude
        })
    }

    /// `socket.connection.setup.timeout.ms`.
    pub fn socket_connection_setup_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("socket.connection.setup.timeout.ms", |p| {
            p.socket_connection_setup_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `connections.max.idle.ms`; `None` (-1) never closes idle connections.
    pub fn connections_max_idle(&mut self, idle: Option<Duration>) -> &mut Self {
        let ms = idle.map_or(-1, duration_to_ms);
        self.update("connections.max.idle.ms", |p| {
            p.connections_max_idle_ms = ms
        })
    }

    /// Checks every setting and applies Java's rules (see the [module docs](self)).
    ///
    /// ```
    /// use kafkit::config::ConfigError;
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let err = ConsumerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .enable_auto_commit(true)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "enable.auto.commit cannot be set to true when default group id (null) is used."
    /// );
    /// ```
    pub fn build(&self) -> Result<ConsumerConfig, ConfigError> {
        let mut props = self.props.clone();
        props.validate()?;
        let bootstrap =
            check_host_port_list("bootstrap.servers", &props.values().bootstrap_servers)?;
        let mut adjustments = Vec::new();
        let p = props.values();

        if p.group_protocol == GroupProtocol::Consumer {
            return Err(ConfigError::Unsupported {
                key: "group.protocol".to_owned(),
                reason: "the consumer rebalance protocol (KIP-848) is not supported yet; use \
                         group.protocol=classic"
                    .to_owned(),
            });
        }

        // Java ConsumerConfig.maybeOverrideEnableAutoCommit.
        let mut enable_auto_commit = p.enable_auto_commit;
        if p.group_id.is_none() {
            if !props.is_explicit("enable.auto.commit") {
                if enable_auto_commit {
                    adjustments.push(ConsumerConfigAdjustment::AutoCommitDisabledWithoutGroup);
                }
                enable_auto_commit = false;
            } else if enable_auto_commit {
                return Err(ConfigError::conflict(
                    "enable.auto.commit cannot be set to true when default group id (null) is \
                     used.",
                ));
            }
        }

        // Java Heartbeat's constructor.
        if p.heartbeat_interval_ms >= p.session_timeout_ms {
            return Err(ConfigError::conflict(
                "Heartbeat must be set lower than the session timeout",
            ));
        }

        if p.group_id.is_some() && p.strategies.0.is_empty() {
            return Err(ConfigError::invalid(
                "partition.assignment.strategy",
                "",
                "a consumer with a group.id needs at least one assignor",
            ));
        }

        // Java CommonClientConfigs.warnDisablingExponentialBackoff.
        let mut retry_backoff_ms = p.retry_backoff_ms;
        if retry_backoff_ms > p.retry_backoff_max_ms {
            retry_backoff_ms = p.retry_backoff_max_ms;
            adjustments.push(ConsumerConfigAdjustment::StaticRetryBackoff {
                backoff: ms_to_duration(retry_backoff_ms),
            });
        }

        // Java ConsumerConfig.maybeOverrideClientId.
        let generated_client_id = (!props.is_explicit("client.id")).then(|| {
            let n = CLIENT_ID_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            match &p.group_id {
                Some(group) => format!("consumer-{group}-{n}"),
                None => format!("consumer-{n}"),
            }
        });

        let values = props.values_mut();
        values.enable_auto_commit = enable_auto_commit;
        values.retry_backoff_ms = retry_backoff_ms;
        if let Some(id) = generated_client_id {
            values.client_id = id;
        }
        for adjustment in &adjustments {
            tracing::info!(client_id = %values.client_id, "{adjustment}");
        }
        Ok(ConsumerConfig {
            props,
            bootstrap,
            adjustments,
        })
    }
}

/// A checked consumer configuration. Build one with [`ConsumerConfig::builder`].
///
/// Typed getters give the values the consumer uses; [`get`](Self::get) gives them in Java's
/// string form.
///
/// ```
/// use std::time::Duration;
/// use kafkit::consumer::config::{AutoOffsetReset, ConsumerConfig};
///
/// let config = ConsumerConfig::builder()
///     .bootstrap_servers("localhost:9092")
///     .group_id("orders")
///     .build()?;
/// assert_eq!(config.auto_offset_reset(), AutoOffsetReset::Latest);
/// assert_eq!(config.heartbeat_interval(), Duration::from_secs(3));
/// assert!(config.client_id().starts_with("consumer-orders-"));
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Effective values (after Java's post-processing).
    props: PropertySet<ConsumerProperties>,
    /// `bootstrap.servers` normalised to `host:port`.
    bootstrap: Vec<String>,
    adjustments: Vec<ConsumerConfigAdjustment>,
}

impl fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("properties", &self.props)
            .field("adjustments", &self.adjustments)
            .finish()
    }
}

impl ConsumerConfig {
    /// A builder with every setting at its Java default.
    ///
    /// ```
    /// let config = kafkit::consumer::config::ConsumerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .build()?;
    /// assert_eq!(config.max_poll_records(), 500);
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder::new()
    }

    /// Every consumer property's declaration (name, type, default, doc), in documentation
    /// order. See [`crate::config::markdown_table`].
    ///
    /// ```
    /// use kafkit::consumer::config::ConsumerConfig;
    /// assert_eq!(ConsumerConfig::properties().next().unwrap().name, "bootstrap.servers");
    /// ```
    pub fn properties() -> impl Iterator<Item = &'static PropertyDef> {
        PropertySet::<ConsumerProperties>::defs()
    }

    /// Every property name the consumer accepts.
    ///
    /// ```
    /// use kafkit::consumer::config::ConsumerConfig;
    /// assert!(ConsumerConfig::known_keys().contains(&"group.id"));
    /// ```
    pub fn known_keys() -> Vec<&'static str> {
        PropertySet::<ConsumerProperties>::known_keys().collect()
    }

    /// A property's effective value in Java's string form.
    ///
    /// ```
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let config = ConsumerConfig::builder().bootstrap_servers("localhost:9092").build()?;
    /// assert_eq!(config.get("enable.auto.commit")?, "false");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        self.props.get(key)
    }

    /// What `build` changed from the given settings, in the order Java applies them.
    pub fn adjustments(&self) -> &[ConsumerConfigAdjustment] {
        &self.adjustments
    }

    fn p(&self) -> &ConsumerProperties {
        self.props.values()
    }

    /// `bootstrap.servers`, each normalised to `host:port`.
    pub fn bootstrap_servers(&self) -> &[String] {
        &self.bootstrap
    }

    /// `client.id`: as given, or `consumer-<group.id>-N` when it was not set.
    pub fn client_id(&self) -> &str {
        &self.p().client_id
    }

    /// `group.id`, if any.
    pub fn group_id(&self) -> Option<&str> {
        self.p().group_id.as_deref()
    }

    /// `group.instance.id`, if any.
    pub fn group_instance_id(&self) -> Option<&str> {
        self.p().group_instance_id.as_deref()
    }

    /// `group.protocol` (always [`GroupProtocol::Classic`] after `build`).
    pub fn group_protocol(&self) -> GroupProtocol {
        self.p().group_protocol
    }

    /// `partition.assignment.strategy`, preferred first.
    pub fn partition_assignment_strategy(&self) -> &[AssignmentStrategy] {
        &self.p().strategies.0
    }

    /// A fresh instance of each `partition.assignment.strategy` assignor, preferred first.
    /// The sticky assignors remember the member's last assignment, so a consumer creates its
    /// assignors once and keeps them across rebalances.
    ///
    /// ```
    /// use kafkit::consumer::assignor::{RebalanceProtocol, rebalance_protocol};
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let config = ConsumerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .group_id("g")
    ///     .build()?;
    /// let assignors = config.assignors();
    /// let names: Vec<&str> = assignors.iter().map(|a| a.name()).collect();
    /// assert_eq!(names, ["range", "cooperative-sticky"]);
    /// // Java 4's default list rebalances eagerly until `range` is removed.
    /// assert_eq!(rebalance_protocol(&assignors), Some(RebalanceProtocol::Eager));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn assignors(&self) -> Vec<Arc<dyn Assignor>> {
        self.partition_assignment_strategy()
            .iter()
            .filter_map(|s| assignor_by_name(s.name()))
            .collect()
    }

    /// `auto.offset.reset`.
    pub fn auto_offset_reset(&self) -> AutoOffsetReset {
        self.p().auto_offset_reset
    }

    /// Whether offsets are committed automatically (`false` without a `group.id`).
    pub fn enable_auto_commit(&self) -> bool {
        self.p().enable_auto_commit
    }

    /// `auto.commit.interval.ms`.
    pub fn auto_commit_interval(&self) -> Duration {
        ms_to_duration(self.p().auto_commit_interval_ms)
    }

    /// `fetch.min.bytes`.
    pub fn fetch_min_bytes(&self) -> usize {
        to_usize(self.p().fetch_min_bytes)
    }

    /// `fetch.max.wait.ms`.
    pub fn fetch_max_wait(&self) -> Duration {
        ms_to_duration(self.p().fetch_max_wait_ms)
    }

    /// `fetch.max.bytes`.
    pub fn fetch_max_bytes(&self) -> usize {
        to_usize(self.p().fetch_max_bytes)
    }

    /// `max.partition.fetch.bytes`.
    pub fn max_partition_fetch_bytes(&self) -> usize {
        to_usize(self.p().max_partition_fetch_bytes)
    }

    /// `max.poll.records`.
    pub fn max_poll_records(&self) -> usize {
        to_usize(self.p().max_poll_records)
    }

    /// `max.poll.interval.ms` (also the JoinGroup rebalance timeout, as in Java).
    pub fn max_poll_interval(&self) -> Duration {
        ms_to_duration(self.p().max_poll_interval_ms)
    }

    /// `session.timeout.ms`.
    pub fn session_timeout(&self) -> Duration {
        ms_to_duration(self.p().session_timeout_ms)
    }

    /// `heartbeat.interval.ms`.
    pub fn heartbeat_interval(&self) -> Duration {
        ms_to_duration(self.p().heartbeat_interval_ms)
    }

    /// `isolation.level`.
    pub fn isolation_level(&self) -> IsolationLevel {
        self.p().isolation_level
    }

    /// `client.rack`; `None` when empty.
    pub fn client_rack(&self) -> Option<&str> {
        Some(self.p().client_rack.as_str()).filter(|r| !r.is_empty())
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        ms_to_duration(self.p().request_timeout_ms)
    }

    /// `default.api.timeout.ms`.
    pub fn default_api_timeout(&self) -> Duration {
        ms_to_duration(self.p().default_api_timeout_ms)
    }

    /// The first retry backoff: `retry.backoff.ms`, or `retry.backoff.max.ms` when smaller.
    pub fn retry_backoff(&self) -> Duration {
        ms_to_duration(self.p().retry_backoff_ms)
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&self) -> Duration {
        ms_to_duration(self.p().retry_backoff_max_ms)
    }

    /// `reconnect.backoff.ms`.
    pub fn reconnect_backoff(&self) -> Duration {
        ms_to_duration(self.p().reconnect_backoff_ms)
    }

    /// `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff_max(&self) -> Duration {
        ms_to_duration(self.p().reconnect_backoff_max_ms)
    }

    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(&self) -> Duration {
        ms_to_duration(self.p().metadata_max_age_ms)
    }

    /// `allow.auto.create.topics`.
    pub fn allow_auto_create_topics(&self) -> bool {
        self.p().allow_auto_create_topics
    }

    /// `check.crcs`.
    pub fn check_crcs(&self) -> bool {
        self.p().check_crcs
    }

    /// `exclude.internal.topics`.
    pub fn exclude_internal_topics(&self) -> bool {
        self.p().exclude_internal_topics
    }

    /// `socket.connection.setup.timeout.ms`.
    pub fn socket_connection_setup_timeout(&self) -> Duration {
        ms_to_duration(self.p().socket_connection_setup_timeout_ms)
    }

    /// `connections.max.idle.ms`; `None` when negative (never close idle connections).
    pub fn connections_max_idle(&self) -> Option<Duration> {
        let ms = self.p().connections_max_idle_ms;
        (ms >= 0).then(|| ms_to_duration(ms))
    }

    /// Connection settings for [`crate::net`]: `client.id`, `request.timeout.ms` and
    /// `socket.connection.setup.timeout.ms`; the rest at their defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kafkit::consumer::config::ConsumerConfig;
    ///
    /// let config = ConsumerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .client_id("reader")
    ///     .build()?;
    /// assert_eq!(config.connection_config().client_id.as_deref(), Some("reader"));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn connection_config(&self) -> ConnectionConfig {
        ConnectionConfig {
            client_id: Some(self.client_id().to_owned()),
            request_timeout: self.request_timeout(),
            connect_timeout: self.socket_connection_setup_timeout(),
            ..ConnectionConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::markdown_table;

    fn base() -> ConsumerConfigBuilder {
        let mut b = ConsumerConfig::builder();
        b.bootstrap_servers("localhost:9092").group_id("g");
        b
    }

    fn conflict(err: ConfigError) -> String {
        match err {
            ConfigError::Conflict { message } => message,
            other => panic!("expected Conflict, got {other:?}"),
        }
    }

    /// Java 4.x `ConsumerConfig` defaults, written out independently of the table.
    const JAVA_DEFAULTS: &[(&str, &str)] = &[
        ("client.id", ""),
        ("group.protocol", "classic"),
        ("partition.assignment.strategy", "range,cooperative-sticky"),
        ("auto.offset.reset", "latest"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "5000"),
        ("fetch.min.bytes", "1"),
        ("fetch.max.wait.ms", "500"),
        ("fetch.max.bytes", "52428800"),
        ("max.partition.fetch.bytes", "1048576"),
        ("max.poll.records", "500"),
        ("max.poll.interval.ms", "300000"),
        ("session.timeout.ms", "45000"),
        ("heartbeat.interval.ms", "3000"),
        ("isolation.level", "read_uncommitted"),
        ("client.rack", ""),
        ("request.timeout.ms", "30000"),
        ("default.api.timeout.ms", "60000"),
        ("retry.backoff.ms", "100"),
        ("retry.backoff.max.ms", "1000"),
        ("reconnect.backoff.ms", "50"),
        ("reconnect.backoff.max.ms", "1000"),
        ("metadata.max.age.ms", "300000"),
        ("allow.auto.create.topics", "true"),
        ("check.crcs", "true"),
        ("exclude.internal.topics", "true"),
        ("socket.connection.setup.timeout.ms", "10000"),
        ("connections.max.idle.ms", "540000"),
    ];

    #[test]
    fn every_default_equals_javas() {
        let builder = ConsumerConfig::builder();
        for (key, java) in JAVA_DEFAULTS {
            assert_eq!(builder.get(key).unwrap(), *java, "{key}");
            let def = ConsumerConfig::properties()
                .find(|d| d.name == *key)
                .unwrap();
            assert_eq!(def.default, PropertyDefault::Value(java), "{key}");
        }
        assert_eq!(builder.get("group.id").unwrap(), "");
        assert_eq!(builder.get("group.instance.id").unwrap(), "");
        // Every key is in JAVA_DEFAULTS or one of the three without a value default.
        assert_eq!(ConsumerConfig::known_keys().len(), JAVA_DEFAULTS.len() + 3);

        let c = base().client_id("c").build().unwrap();
        assert!(c.adjustments().is_empty());
        assert_eq!(c.bootstrap_servers(), ["localhost:9092"]);
        assert_eq!(c.client_id(), "c");
        assert_eq!(c.group_id(), Some("g"));
        assert_eq!(c.group_instance_id(), None);
        assert_eq!(c.group_protocol(), GroupProtocol::Classic);
        assert_eq!(
            c.partition_assignment_strategy(),
            [
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky
            ]
        );
        assert_eq!(c.auto_offset_reset(), AutoOffsetReset::Latest);
        assert!(c.enable_auto_commit());
        assert_eq!(c.auto_commit_interval(), Duration::from_secs(5));
        assert_eq!(c.fetch_min_bytes(), 1);
        assert_eq!(c.fetch_max_wait(), Duration::from_millis(500));
        assert_eq!(c.fetch_max_bytes(), 50 * 1024 * 1024);
        assert_eq!(c.max_partition_fetch_bytes(), 1024 * 1024);
        assert_eq!(c.max_poll_records(), 500);
        assert_eq!(c.max_poll_interval(), Duration::from_secs(300));
        assert_eq!(c.session_timeout(), Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(3));
        assert_eq!(c.isolation_level(), IsolationLevel::ReadUncommitted);
        assert_eq!(c.client_rack(), None);
        assert_eq!(c.request_timeout(), Duration::from_secs(30));
        assert_eq!(c.default_api_timeout(), Duration::from_secs(60));
        assert_eq!(c.retry_backoff(), Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max(), Duration::from_secs(1));
        assert_eq!(c.reconnect_backoff(), Duration::from_millis(50));
        assert_eq!(c.reconnect_backoff_max(), Duration::from_secs(1));
        assert_eq!(c.metadata_max_age(), Duration::from_secs(300));
        assert!(c.allow_auto_create_topics());
        assert!(c.check_crcs());
        assert!(c.exclude_internal_topics());
        assert_eq!(c.socket_connection_setup_timeout(), Duration::from_secs(10));
        assert_eq!(c.connections_max_idle(), Some(Duration::from_secs(540)));
        for (key, java) in JAVA_DEFAULTS.iter().filter(|(k, _)| *k != "client.id") {
            assert_eq!(c.get(key).unwrap(), *java, "{key} after build");
        }
    }

    #[test]
    fn the_module_docs_list_every_property_as_generated() {
        let source = include_str!("config.rs");
        for row in markdown_table(ConsumerConfig::properties()).lines() {
            let row = row.replace(" |  |", " | |");
            let doc_row = format!("//! {row}");
            let in_docs = source
                .lines()
                .any(|l| l.replace(" |  |", " | |") == doc_row);
            assert!(in_docs, "module docs lack or differ from:\n{doc_row}");
        }
    }

    #[test]
    fn auto_commit_without_a_group_follows_java() {
        let mut b = ConsumerConfig::builder();
        b.bootstrap_servers("localhost:9092");
        let c = b.build().unwrap();
        assert!(!c.enable_auto_commit());
        assert_eq!(c.get("enable.auto.commit").unwrap(), "false");
        assert_eq!(
            c.adjustments(),
            [ConsumerConfigAdjustment::AutoCommitDisabledWithoutGroup]
        );
        assert!(c.client_id().starts_with("consumer-"));
        assert!(!c.client_id().contains("--"));
        let err = b.clone().enable_auto_commit(true).build().unwrap_err();
        assert_eq!(
            conflict(err),
            "enable.auto.commit cannot be set to true when default group id (null) is used."
        );
        let mut explicit = b.clone();
        explicit.set("enable.auto.commit", "false").unwrap();
        let c = explicit.build().unwrap();
        assert!(!c.enable_auto_commit());
        assert!(c.adjustments().is_empty());
        // With a group, an explicit false stays false and the default stays true.
        assert!(
            !base()
                .enable_auto_commit(false)
                .build()
                .unwrap()
                .enable_auto_commit()
        );
        assert!(base().build().unwrap().enable_auto_commit());
    }

    #[test]
    fn heartbeat_must_be_below_session_timeout() {
        for (hb, session) in [(45_000, 45_000), (50_000, 45_000), (10, 5)] {
            let err = base()
                .heartbeat_interval(Duration::from_millis(hb))
                .session_timeout(Duration::from_millis(session))
                .build()
                .unwrap_err();
            assert_eq!(
                conflict(err),
                "Heartbeat must be set lower than the session timeout"
            );
        }
        let c = base()
            .set("heartbeat.interval.ms", "44999")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(44_999));
    }

    #[test]
    fn only_the_classic_group_protocol_is_supported() {
        let mut b = base();
        b.set("group.protocol", "CONSUMER").unwrap();
        assert_eq!(b.get("group.protocol").unwrap(), "consumer");
        match b.build().unwrap_err() {
            ConfigError::Unsupported { key, reason } => {
                assert_eq!(key, "group.protocol");
                assert!(reason.contains("KIP-848"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(b.set("group.protocol", "eager").is_err());
        b.set("group.protocol", " Classic ").unwrap();
        assert!(b.build().is_ok());
        assert!(matches!(
            b.set("group.remote.assignor", "uniform"),
            Err(ConfigError::Unsupported { .. })
        ));
    }

    #[test]
    fn assignment_strategies_accept_names_and_java_class_names() {
        let mut b = base();
        b.set(
            "partition.assignment.strategy",
            "org.apache.kafka.clients.consumer.RoundRobinAssignor, sticky,\
             org.apache.kafka.clients.consumer.CooperativeStickyAssignor,\
             org.apache.kafka.clients.consumer.RangeAssignor",
        )
        .unwrap();
        assert_eq!(
            b.get("partition.assignment.strategy").unwrap(),
            "roundrobin,sticky,cooperative-sticky,range"
        );
        let c = b.build().unwrap();
        assert_eq!(
            c.partition_assignment_strategy(),
            [
                AssignmentStrategy::RoundRobin,
                AssignmentStrategy::Sticky,
                AssignmentStrategy::CooperativeSticky,
                AssignmentStrategy::Range
            ]
        );
        for s in AssignmentStrategy::ALL {
            assert_eq!(AssignmentStrategy::from_name(s.name()), Some(s));
            assert_eq!(AssignmentStrategy::from_name(s.java_class()), Some(s));
            assert_eq!(s.java_class().parse::<AssignmentStrategy>().unwrap(), s);
            assert!(
                crate::consumer::assignor::assignor_by_name(s.name()).is_some(),
                "{s}"
            );
        }
        let err = b
            .set("partition.assignment.strategy", "range,com.example.Mine")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value com.example.Mine for configuration partition.assignment.strategy: \
             Class com.example.Mine cannot be found; kafkit knows range, roundrobin, sticky, \
             cooperative-sticky and their Java class names"
        );
        assert!(b.set("partition.assignment.strategy", "Range").is_err());
        // Empty is allowed without a group only.
        b.set("partition.assignment.strategy", "").unwrap();
        assert!(matches!(b.build(), Err(ConfigError::InvalidValue { .. })));
        let mut no_group = ConsumerConfig::builder();
        no_group
            .bootstrap_servers("a:1")
            .partition_assignment_strategy([]);
        assert!(no_group.build().is_ok());
    }

    #[test]
    fn enum_settings_parse_like_java() {
        let mut b = base();
        for (raw, want) in [
            ("earliest", AutoOffsetReset::Earliest),
            (" LATEST ", AutoOffsetReset::Latest),
            ("none", AutoOffsetReset::None),
        ] {
            b.set("auto.offset.reset", raw).unwrap();
            assert_eq!(b.build().unwrap().auto_offset_reset(), want);
        }
        let err = b.set("auto.offset.reset", "smallest").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value smallest for configuration auto.offset.reset: \
             String must be one of: latest, earliest, none"
        );
        assert!(b.set("auto.offset.reset", "by_duration:PT1H").is_err());
        b.set("isolation.level", "READ_COMMITTED").unwrap();
        assert_eq!(b.get("isolation.level").unwrap(), "read_committed");
        assert_eq!(
            b.build().unwrap().isolation_level(),
            IsolationLevel::ReadCommitted
        );
        assert!(b.set("isolation.level", "serializable").is_err());
    }

    #[test]
    fn unknown_keys_name_the_nearest_known_key() {
        let cases = [
            ("group.idd", "group.id"),
            ("groupid", "group.id"),
            ("auto.offset.rest", "auto.offset.reset"),
            ("enable.autocommit", "enable.auto.commit"),
            ("max.poll.record", "max.poll.records"),
            ("session.timeout", "session.timeout.ms"),
            ("heartbeat.interval", "heartbeat.interval.ms"),
            ("isolation_level", "isolation.level"),
            (
                "partition.assignment.strategies",
                "partition.assignment.strategy",
            ),
            ("fetch.max.wait", "fetch.max.wait.ms"),
        ];
        let mut b = ConsumerConfig::builder();
        for (key, want) in cases {
            match b.set(key, "1").unwrap_err() {
                ConfigError::UnknownKey { suggestion, .. } => {
                    assert_eq!(suggestion.as_deref(), Some(want), "{key}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        assert!(matches!(
            b.set("key.deserializer", "x"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            b.set("ssl.truststore.location", "x"),
            Err(ConfigError::Unsupported { .. })
        ));
    }

    #[test]
    fn ranges_are_checked() {
        let mut b = base();
        for (key, bad) in [
            ("max.poll.records", "0"),
            ("max.poll.interval.ms", "0"),
            ("fetch.min.bytes", "-1"),
            ("fetch.max.bytes", "2147483648"),
            ("request.timeout.ms", "-1"),
            ("retry.backoff.ms", "-1"),
            ("group.id", " "),
            ("group.instance.id", ""),
            ("bootstrap.servers", "nohost"),
        ] {
            assert!(b.set(key, bad).is_err(), "{key}={bad}");
        }
        let err = base().max_poll_records(0).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
        let missing = ConsumerConfig::builder().build().unwrap_err();
        assert_eq!(
            missing,
            ConfigError::Missing {
                key: "bootstrap.servers".into()
            }
        );
    }

    #[test]
    fn retry_backoff_above_its_maximum_becomes_static() {
        let c = base()
            .retry_backoff(Duration::from_secs(5))
            .retry_backoff_max(Duration::from_secs(2))
            .build()
            .unwrap();
        assert_eq!(c.retry_backoff(), Duration::from_secs(2));
        assert_eq!(
            c.adjustments(),
            [ConsumerConfigAdjustment::StaticRetryBackoff {
                backoff: Duration::from_secs(2)
            }]
        );
        assert!(c.adjustments()[0].to_string().contains("'2000'"));
    }

    fn every_setting_typed() -> ConsumerConfigBuilder {
        let mut b = ConsumerConfig::builder();
        b.bootstrap_servers("k1:9092,k2:9093")
            .client_id("reader")
            .group_id("billing")
            .group_instance_id("host-1")
            .group_protocol(GroupProtocol::Classic)
            .partition_assignment_strategy([AssignmentStrategy::Sticky])
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .auto_commit_interval(Duration::from_secs(1))
            .fetch_min_bytes(10)
            .fetch_max_wait(Duration::from_millis(100))
            .fetch_max_bytes(1 << 20)
            .max_partition_fetch_bytes(1 << 16)
            .max_poll_records(10)
            .max_poll_interval(Duration::from_secs(60))
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_secs(1))
            .isolation_level(IsolationLevel::ReadCommitted)
            .client_rack("rack-a")
            .request_timeout(Duration::from_secs(40))
            .default_api_timeout(Duration::from_secs(20))
            .retry_backoff(Duration::from_millis(50))
            .retry_backoff_max(Duration::from_secs(2))
            .reconnect_backoff(Duration::from_millis(20))
            .reconnect_backoff_max(Duration::from_secs(3))
            .metadata_max_age(Duration::from_secs(60))
            .allow_auto_create_topics(false)
            .check_crcs(false)
            .exclude_internal_topics(false)
            .socket_connection_setup_timeout(Duration::from_secs(3))
            .connections_max_idle(None);
        b
    }

    const EVERY_SETTING_JAVA: &[(&str, &str)] = &[
        ("bootstrap.servers", "k1:9092, k2:9093"),
        ("client.id", "reader"),
        ("group.id", "billing"),
        ("group.instance.id", "host-1"),
        ("group.protocol", "classic"),
        (
            "partition.assignment.strategy",
            "org.apache.kafka.clients.consumer.StickyAssignor",
        ),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("auto.commit.interval.ms", "1000"),
        ("fetch.min.bytes", "10"),
        ("fetch.max.wait.ms", "100"),
        ("fetch.max.bytes", "1048576"),
        ("max.partition.fetch.bytes", "65536"),
        ("max.poll.records", "10"),
        ("max.poll.interval.ms", "60000"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
        ("isolation.level", "read_committed"),
        ("client.rack", "rack-a"),
        ("request.timeout.ms", "40000"),
        ("default.api.timeout.ms", "20000"),
        ("retry.backoff.ms", "50"),
        ("retry.backoff.max.ms", "2000"),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "3000"),
        ("metadata.max.age.ms", "60000"),
        ("allow.auto.create.topics", "false"),
        ("check.crcs", "false"),
        ("exclude.internal.topics", "false"),
        ("socket.connection.setup.timeout.ms", "3000"),
        ("connections.max.idle.ms", "-1"),
    ];

    #[test]
    fn typed_builder_and_java_properties_are_equivalent() {
        let typed = every_setting_typed();
        let mut java = ConsumerConfig::builder();
        java.set_all(EVERY_SETTING_JAVA.iter().copied()).unwrap();
        assert_eq!(typed, java);
        assert_eq!(typed.build().unwrap(), java.build().unwrap());
        assert_eq!(EVERY_SETTING_JAVA.len(), ConsumerConfig::known_keys().len());
        let c = typed.build().unwrap();
        assert_eq!(c.client_rack(), Some("rack-a"));
        assert_eq!(c.group_instance_id(), Some("host-1"));
        assert_eq!(c.connections_max_idle(), None);
        // get() round-trips through set().
        let mut copy = ConsumerConfig::builder();
        for key in ConsumerConfig::known_keys() {
            copy.set(key, &typed.get(key).unwrap()).unwrap();
        }
        assert_eq!(copy, typed);
        let text = format!("{c:?}");
        assert!(text.contains("\"max.poll.records\": \"10\""), "{text}");
    }

    #[test]
    fn client_id_is_generated_like_javas_when_unset() {
        let a = base().build().unwrap();
        let b = base().build().unwrap();
        for c in [&a, &b] {
            let n: u32 = c
                .client_id()
                .strip_prefix("consumer-g-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{}", c.client_id()));
            assert!(n >= 1);
            assert_eq!(c.get("client.id").unwrap(), c.client_id());
            assert_eq!(
                c.connection_config().client_id.as_deref(),
                Some(c.client_id())
            );
        }
        assert_ne!(a.client_id(), b.client_id());
        assert_eq!(base().client_id("").build().unwrap().client_id(), "");
    }
}
