//! Producer configuration: a typed builder and Java's property names, with the Java 4.x
//! producer's defaults and validation rules. Sans-IO.
//!
//! **Owns:** the producer's settings, their defaults, and the rules between them (idempotence
//! and its conflicting settings, the delivery timeout floor). **Must not touch:** sockets,
//! tokio, clocks; what the settings drive (accumulator, sender) lives elsewhere in
//! [`crate::producer`].
//!
//! Settings are given through typed builder methods or with [`ProducerConfigBuilder::set`]
//! and the Java property names, so an existing Java config can be pasted; both write the same
//! values. [`ProducerConfigBuilder::build`] checks everything and applies Java's rules:
//!
//! - **Idempotence** (on by default). If `enable.idempotence=true` was given explicitly,
//!   `acks` other than `all` or `retries=0` is an error with Java's message. If it was left at
//!   its default, those settings silently turn idempotence off (KAFKA-13673), and
//!   [`ProducerConfig::adjustments`] records which. `max.in.flight.requests.per.connection`
//!   above 5 with idempotence on is an error even when idempotence was only defaulted (Java 4.0,
//!   KAFKA-17927): set `enable.idempotence=false` to allow more.
//! - **Delivery timeout.** `delivery.timeout.ms` must be at least `linger.ms +
//!   request.timeout.ms`: an explicit smaller value is an error; the default is raised to the
//!   sum (recorded in the adjustments), as Java does.
//! - **Retry backoff.** `retry.backoff.ms` above `retry.backoff.max.ms` gives a static backoff
//!   of `retry.backoff.max.ms` (recorded).
//! - **Transactions** are not supported yet: `transactional.id` is accepted by `set` (so it is
//!   listed and documented) and rejected by `build` with [`ConfigError::Unsupported`].
//! - **`client.id`** defaults to `producer-N` (a process-wide sequence), as in Java.
//! - Java producer keys kafkit does not implement (`key.serializer`, `ssl.*`, `sasl.*`, ...)
//!   are [`ConfigError::Unsupported`] with a reason; any other unknown key is
//!   [`ConfigError::UnknownKey`] naming the nearest known key.
//!
//! Deviations from Java, all stricter: `buffer.memory` must be at least 1 (Java accepts 0, which
//! fails every send), bootstrap hosts must not be empty and ports not 0, and
//! `socket.connection.setup.timeout.ms` must not be negative.
//!
//! After `build`, [`ProducerConfig::get`] returns the effective values: `enable.idempotence`
//! `false` when it was turned off, the generated `client.id`, a raised `delivery.timeout.ms`,
//! the static `retry.backoff.ms`. `acks=-1` reads back as `all`.
//!
//! ```
//! use std::time::Duration;
//! use kafkit::producer::config::{Acks, ProducerConfig};
//! use kafkit::record::Compression;
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("kafka-1:9092,kafka-2:9092")
//!     .linger(Duration::from_millis(10))
//!     .compression(Compression::Zstd)
//!     .set("batch.size", "65536")?
//!     .build()?;
//! assert_eq!(config.acks(), Acks::All);
//! assert!(config.idempotence());
//! assert_eq!(config.batch_size(), 65536);
//! assert_eq!(config.get("linger.ms")?, "10");
//! assert_eq!(config.compression_level(), Some(3));
//! # Ok::<(), kafkit::config::ConfigError>(())
//! ```
//!
//! # Properties
//!
//! | Key | Type | Default | Valid values | Description |
//! |---|---|---|---|---|
//! | `bootstrap.servers` | list | (required) | non-empty list of host:port | Brokers to ask for the cluster's metadata first, as `host:port,host:port`. |
//! | `client.id` | string | `""` |  | Name sent with every request, for broker logs and quotas; `producer-N` when unset. |
//! | `acks` | string | `all` | [all, -1, 0, 1] | Acknowledgements a write needs: `all` (= `-1`) the in-sync replicas, `1` the leader, `0` none. |
//! | `enable.idempotence` | boolean | `true` | | Give each batch a producer id and sequence so retries never duplicate or reorder records. |
//! | `linger.ms` | long | `5` | [0,...] | How long a partition's batch waits for more records before it is sent. |
//! | `batch.size` | int | `16384` | [0,...] | Target size in bytes of one partition's batch; 0 disables batching. |
//! | `buffer.memory` | long | `33554432` | [1,...] | Bytes the producer may hold for records not yet sent; `send` waits when it is full. |
//! | `max.block.ms` | long | `60000` | [0,...] | How long `send` may wait for metadata or buffer space before failing. |
//! | `max.in.flight.requests.per.connection` | int | `5` | [1,...] | Produce requests sent to one broker before waiting for a response; at most 5 with idempotence. |
//! | `retries` | int | `2147483647` | [0,...] | Resends of a batch after retriable errors, within `delivery.timeout.ms`; 0 disables retries. |
//! | `retry.backoff.ms` | long | `100` | [0,...] | First wait before retrying a failed request; doubles per attempt, with jitter. |
//! | `retry.backoff.max.ms` | long | `1000` | [0,...] | Upper bound of the retry backoff. |
//! | `delivery.timeout.ms` | int | `120000` | [0,...] | Upper bound from `send` to success or failure, retries included; at least `linger.ms + request.timeout.ms`. |
//! | `request.timeout.ms` | int | `30000` | [0,...] | How long to wait for a broker's response before failing or retrying the request. |
//! | `max.request.size` | int | `1048576` | [0,...] | Largest produce request in bytes, which also caps the size of one record. |
//! | `compression.type` | string | `none` | [none, gzip, snappy, lz4, zstd] | Codec for the producer's batches. |
//! | `compression.gzip.level` | int | `-1` | [1,...,9] or -1 | gzip level; -1 is zlib's default (6). |
//! | `compression.lz4.level` | int | `9` | [1,...,17] | lz4 level. |
//! | `compression.zstd.level` | int | `3` | [-131072,...,22] | zstd level. |
//! | `metadata.max.age.ms` | long | `300000` | [0,...] | Refresh cluster metadata at least this often, even without errors. |
//! | `metadata.max.idle.ms` | long | `300000` | [5000,...] | Forget a topic's metadata after this long without sends to it. |
//! | `partitioner.ignore.keys` | boolean | `false` |  | Place keyed records like keyless ones (sticky), ignoring the key. |
//! | `partitioner.adaptive.partitioning.enable` | boolean | `true` |  | Let sticky partitioning favour partitions on brokers that respond faster. |
//! | `partitioner.availability.timeout.ms` | long | `0` | [0,...] | Skip partitions whose broker has not accepted produce requests for this long; 0 disables. |
//! | `socket.connection.setup.timeout.ms` | long | `10000` | [0,...] | How long establishing a connection to a broker may take. |
//! | `connections.max.idle.ms` | long | `540000` |  | Close connections idle this long; -1 never closes them. |
//! | `transactional.id` | string | `null` | non-empty string | Transactional id; transactions are not supported yet, so `build` rejects it. |

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::config::{
    COMPRESSION_NAMES, ConfigError, Property, PropertyDef, PropertyDefault, PropertySet,
    PropertyTable, PropertyType, PropertyValue, check_host_port_list, duration_to_ms,
    ms_to_duration, parse_choice, parse_list, property,
};
use crate::net::ConnectionConfig;
use crate::record::{BatchOptions, Compression};
use PropertyDefault::{Null, Required, Value};

/// How many acknowledgements a produce request waits for (`acks`).
///
/// ```
/// use kafkit::producer::config::Acks;
///
/// let acks: Acks = "-1".parse()?;
/// assert_eq!(acks, Acks::All);
/// assert_eq!(acks.as_i16(), -1);
/// assert_eq!(Acks::Leader.to_string(), "1");
/// assert!("2".parse::<Acks>().is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response; a record counts as sent once written to the
    /// socket, and its offset is unknown (-1).
    None,
    /// `acks=1`: the leader's write is enough; a leader failure before replication loses it.
    Leader,
    /// `acks=all` (also `-1`, the default): every in-sync replica has the record.
    #[default]
    All,
}

impl Acks {
    /// The Java property values, in the order Java lists them.
    pub const JAVA_VALUES: &'static [&'static str] = &["all", "-1", "0", "1"];

    /// The value sent in Produce requests (0, 1 or -1).
    ///
    /// ```
    /// assert_eq!(kafkit::producer::config::Acks::None.as_i16(), 0);
    /// ```
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// The Java property value (`0`, `1`, `all`).
    ///
    /// ```
    /// assert_eq!(kafkit::producer::config::Acks::All.java_name(), "all");
    /// ```
    pub fn java_name(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }

    fn parse_java(key: &str, raw: &str) -> Result<Self, ConfigError> {
        Ok(match parse_choice(key, raw, Self::JAVA_VALUES)? {
            "0" => Acks::None,
            "1" => Acks::Leader,
            _ => Acks::All,
        })
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.java_name())
    }
}

impl FromStr for Acks {
    type Err = ConfigError;

    /// Parses a Java `acks` value: `all`, `-1`, `0` or `1` (case-sensitive, as Java).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Acks::parse_java("acks", s)
    }
}

impl PropertyValue for Acks {
    fn parse(key: &str, raw: &str, _ty: PropertyType) -> Result<Self, ConfigError> {
        Acks::parse_java(key, raw)
    }

    fn check(&self, _key: &str, _ty: PropertyType) -> Result<(), ConfigError> {
        Ok(())
    }

    fn to_java(&self) -> String {
        self.java_name().to_owned()
    }
}

/// A change `build` made to the given settings, as Java does (and logs).
///
/// ```
/// use kafkit::producer::config::{ConfigAdjustment, ProducerConfig};
///
/// let config = ProducerConfig::builder()
///     .bootstrap_servers("localhost:9092")
///     .set("acks", "1")?
///     .build()?;
/// assert!(!config.idempotence());
/// assert_eq!(
///     config.adjustments(),
///     [ConfigAdjustment::IdempotenceDisabled { key: "acks", value: "1".into() }]
/// );
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigAdjustment {
    /// `enable.idempotence` was left at its default and `key` conflicts with it, so
    /// idempotence is off.
    IdempotenceDisabled {
        /// The conflicting key (`acks` or `retries`).
        key: &'static str,
        /// Its value.
        value: String,
    },
    /// `delivery.timeout.ms` was left at its default, which is below `linger.ms +
    /// request.timeout.ms`, so it was raised to the sum.
    DeliveryTimeoutRaised {
        /// The value used.
        to: Duration,
    },
    /// `retry.backoff.ms` exceeds `retry.backoff.max.ms`: every retry waits the maximum.
    StaticRetryBackoff {
        /// The backoff used for every retry.
        backoff: Duration,
    },
}

impl fmt::Display for ConfigAdjustment {
    /// Java's log message for the same adjustment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigAdjustment::IdempotenceDisabled { key: "acks", value } => write!(
                f,
                "Idempotence will be disabled because acks is set to {value}, not set to 'all'."
            ),
            ConfigAdjustment::IdempotenceDisabled { key, value } => write!(
                f,
                "Idempotence will be disabled because {key} is set to {value}."
            ),
            ConfigAdjustment::DeliveryTimeoutRaised { to } => write!(
                f,
                "delivery.timeout.ms should be equal to or larger than linger.ms + \
                 request.timeout.ms. Setting it to {}.",
                to.as_millis()
            ),
            ConfigAdjustment::StaticRetryBackoff { backoff } => write!(
                f,
                "Configuration 'retry.backoff.ms' is greater than configuration \
                 'retry.backoff.max.ms'. A static backoff with value '{}' will be applied.",
                backoff.as_millis()
            ),
        }
    }
}

/// Every producer setting in Java's types (integers of both widths as `i64`, so typed setters
/// cannot overflow them unnoticed). Declared once in [`PRODUCER_PROPERTIES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ProducerProperties {
    bootstrap_servers: Vec<String>,
    client_id: String,
    acks: Acks,
    enable_idempotence: bool,
    linger_ms: i64,
    batch_size: i64,
    buffer_memory: i64,
    max_block_ms: i64,
    max_in_flight: i64,
    retries: i64,
    retry_backoff_ms: i64,
    retry_backoff_max_ms: i64,
    delivery_timeout_ms: i64,
    request_timeout_ms: i64,
    max_request_size: i64,
    compression_type: Compression,
    gzip_level: i64,
    lz4_level: i64,
    zstd_level: i64,
    metadata_max_age_ms: i64,
    metadata_max_idle_ms: i64,
    partitioner_ignore_keys: bool,
    partitioner_adaptive: bool,
    partitioner_availability_timeout_ms: i64,
    socket_connection_setup_timeout_ms: i64,
    connections_max_idle_ms: i64,
    transactional_id: Option<String>,
}

const INT_AT_LEAST_0: PropertyType = PropertyType::Int {
    min: 0,
    max: i32::MAX,
};
const INT_AT_LEAST_1: PropertyType = PropertyType::Int {
    min: 1,
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
/// Java's `GzipCompression` range: `Deflater.BEST_SPEED..=BEST_COMPRESSION`, or
/// `DEFAULT_COMPRESSION` (-1).
const GZIP_LEVELS: PropertyType = PropertyType::IntOr {
    min: 1,
    max: 9,
    or: -1,
};
/// Java's `Lz4Compression` range.
const LZ4_LEVELS: PropertyType = PropertyType::Int { min: 1, max: 17 };
/// Java's `ZstdCompression` range: `ZSTD_minCLevel()` (-131072) to `ZSTD_MAX_CLEVEL` (22).
const ZSTD_LEVELS: PropertyType = PropertyType::Int {
    min: -131_072,
    max: 22,
};

/// The producer's properties, in documentation order. Defaults and ranges are Java 4.x
/// `ProducerConfig`'s (ranges as its validators; see the module docs for the deviations).
static PRODUCER_PROPERTIES: &[Property<ProducerProperties>] = &[
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
        "Name sent with every request, for broker logs and quotas; `producer-N` when unset."
    ),
    property!(
        "acks",
        acks,
        PropertyType::Choice(Acks::JAVA_VALUES),
        Value("all"),
        "Acknowledgements a write needs: `all` (= `-1`) the in-sync replicas, `1` the leader, \
         `0` none."
    ),
    property!(
        "enable.idempotence",
        enable_idempotence,
        PropertyType::Boolean,
        Value("true"),
        "Give each batch a producer id and sequence so retries never duplicate or reorder records."
    ),
    property!(
        "linger.ms",
        linger_ms,
        LONG_AT_LEAST_0,
        Value("5"),
        "How long a partition's batch waits for more records before it is sent."
    ),
    property!(
        "batch.size",
        batch_size,
        INT_AT_LEAST_0,
        Value("16384"),
        "Target size in bytes of one partition's batch; 0 disables batching."
    ),
    property!(
        "buffer.memory",
        buffer_memory,
        PropertyType::Long {
            min: 1,
            max: i64::MAX
        },
        Value("33554432"),
        "Bytes the producer may hold for records not yet sent; `send` waits when it is full."
    ),
    property!(
        "max.block.ms",
        max_block_ms,
        LONG_AT_LEAST_0,
        Value("60000"),
        "How long `send` may wait for metadata or buffer space before failing."
    ),
    property!(
        "max.in.flight.requests.per.connection",
        max_in_flight,
        INT_AT_LEAST_1,
        Value("5"),
        "Produce requests sent to one broker before waiting for a response; at most 5 with \
         idempotence."
    ),
    property!(
        "retries",
        retries,
        INT_AT_LEAST_0,
        Value("2147483647"),
        "Resends of a batch after retriable errors, within `delivery.timeout.ms`; 0 disables \
         retries."
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
        "delivery.timeout.ms",
        delivery_timeout_ms,
        INT_AT_LEAST_0,
        Value("120000"),
        "Upper bound from `send` to success or failure, retries included; at least \
         `linger.ms + request.timeout.ms`."
    ),
    property!(
        "request.timeout.ms",
        request_timeout_ms,
        INT_AT_LEAST_0,
        Value("30000"),
        "How long to wait for a broker's response before failing or retrying the request."
    ),
    property!(
        "max.request.size",
        max_request_size,
        INT_AT_LEAST_0,
        Value("1048576"),
        "Largest produce request in bytes, which also caps the size of one record."
    ),
    property!(
        "compression.type",
        compression_type,
        PropertyType::Choice(COMPRESSION_NAMES),
        Value("none"),
        "Codec for the producer's batches."
    ),
    property!(
        "compression.gzip.level",
        gzip_level,
        GZIP_LEVELS,
        Value("-1"),
        "gzip level; -1 is zlib's default (6)."
    ),
    property!(
        "compression.lz4.level",
        lz4_level,
        LZ4_LEVELS,
        Value("9"),
        "lz4 level."
    ),
    property!(
        "compression.zstd.level",
        zstd_level,
        ZSTD_LEVELS,
        Value("3"),
        "zstd level."
    ),
    property!(
        "metadata.max.age.ms",
        metadata_max_age_ms,
        LONG_AT_LEAST_0,
        Value("300000"),
        "Refresh cluster metadata at least this often, even without errors."
    ),
    property!(
        "metadata.max.idle.ms",
        metadata_max_idle_ms,
        PropertyType::Long {
            min: 5000,
            max: i64::MAX
        },
        Value("300000"),
        "Forget a topic's metadata after this long without sends to it."
    ),
    property!(
        "partitioner.ignore.keys",
        partitioner_ignore_keys,
        PropertyType::Boolean,
        Value("false"),
        "Place keyed records like keyless ones (sticky), ignoring the key."
    ),
    property!(
        "partitioner.adaptive.partitioning.enable",
        partitioner_adaptive,
        PropertyType::Boolean,
        Value("true"),
        "Let sticky partitioning favour partitions on brokers that respond faster."
    ),
    property!(
        "partitioner.availability.timeout.ms",
        partitioner_availability_timeout_ms,
        LONG_AT_LEAST_0,
        Value("0"),
        "Skip partitions whose broker has not accepted produce requests for this long; 0 \
         disables."
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
    property!(
        "transactional.id",
        transactional_id,
        PropertyType::NonEmptyString,
        Null,
        "Transactional id; transactions are not supported yet, so `build` rejects it."
    ),
];

/// Java producer keys that kafkit does not implement, with the reason given to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "key.serializer",
        "serializers are Rust types given to the producer, not class names",
    ),
    (
        "value.serializer",
        "serializers are Rust types given to the producer, not class names",
    ),
    (
        "partitioner.class",
        "give the producer a `Partitioner` implementation instead",
    ),
    ("interceptor.classes", "interceptors are not supported"),
    (
        "transaction.timeout.ms",
        "transactions are not supported yet",
    ),
    (
        "transaction.two.phase.commit.enable",
        "transactions are not supported yet",
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
    ("reconnect.backoff.ms", "not configurable yet"),
    ("reconnect.backoff.max.ms", "not configurable yet"),
    (
        "socket.connection.setup.timeout.max.ms",
        "not configurable yet",
    ),
    ("metadata.recovery.strategy", "not supported yet"),
    (
        "metadata.recovery.rebootstrap.trigger.ms",
        "not supported yet",
    ),
    (
        "metric.reporters",
        "Java metric settings do not apply; read metrics from the producer handle",
    ),
    (
        "metrics.num.samples",
        "Java metric settings do not apply; read metrics from the producer handle",
    ),
    (
        "metrics.recording.level",
        "Java metric settings do not apply; read metrics from the producer handle",
    ),
    (
        "metrics.sample.window.ms",
        "Java metric settings do not apply; read metrics from the producer handle",
    ),
    (
        "enable.metrics.push",
        "Java metric settings do not apply; read metrics from the producer handle",
    ),
    ("config.providers", "config providers are a Java mechanism"),
];

impl PropertyTable for ProducerProperties {
    fn properties() -> &'static [Property<Self>] {
        PRODUCER_PROPERTIES
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

/// The largest `max.in.flight.requests.per.connection` with idempotence: brokers remember the
/// last 5 batches per producer (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// Generated `client.id`s: `producer-1`, `producer-2`, ... per process, as Java's.
static CLIENT_ID_SEQUENCE: AtomicU32 = AtomicU32::new(1);

/// Builds a [`ProducerConfig`] from typed values or Java property names and values.
///
/// Methods take and return `&mut Self`, so settings chain, and [`set`](Self::set) chains with
/// `?`. Typed values are checked by [`build`](Self::build); `set` checks as it parses.
///
/// ```
/// use std::time::Duration;
/// use kafkit::producer::config::{Acks, ProducerConfig};
///
/// let mut builder = ProducerConfig::builder();
/// builder.bootstrap_servers("localhost:9092").acks(Acks::Leader);
/// for (key, value) in [("linger.ms", "20"), ("enable.idempotence", "false")] {
///     builder.set(key, value)?;
/// }
/// let config = builder.build()?;
/// assert_eq!(config.linger(), Duration::from_millis(20));
/// assert!(!config.idempotence());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProducerConfigBuilder {
    props: PropertySet<ProducerProperties>,
}

impl Default for ProducerConfigBuilder {
    fn default() -> Self {
        ProducerConfigBuilder {
            props: PropertySet::with_defaults(),
        }
    }
}

impl fmt::Debug for ProducerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfigBuilder")
            .field("properties", &self.props)
            .finish()
    }
}

impl ProducerConfigBuilder {
    /// A builder with every setting at its Java default.
    ///
    /// ```
    /// let builder = kafkit::producer::config::ProducerConfigBuilder::new();
    /// assert_eq!(builder.get("acks")?, "all");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a property by its Java name and string value (`set("linger.ms", "5")`), parsed and
    /// range-checked as Java does.
    ///
    /// ```
    /// use kafkit::config::ConfigError;
    /// use kafkit::producer::config::ProducerConfig;
    ///
    /// let mut builder = ProducerConfig::builder();
    /// builder.set("linger.ms", "5")?.set("compression.type", "lz4")?;
    /// let err = builder.set("lingr.ms", "5").unwrap_err();
    /// assert!(matches!(err, ConfigError::UnknownKey { suggestion: Some(ref s), .. } if s == "linger.ms"));
    /// assert!(builder.set("batch.size", "-1").is_err());
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        self.props.set(key, value)?;
        Ok(self)
    }

    /// Sets many properties, as from a Java `.properties` file; stops at the first error.
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    ///
    /// let config = ProducerConfig::builder()
    ///     .set_all([("bootstrap.servers", "localhost:9092"), ("acks", "all")])?
    ///     .build()?;
    /// assert_eq!(config.bootstrap_servers(), ["localhost:9092"]);
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

    /// A property's current value in Java's string form (unset `transactional.id` reads as
    /// the empty string).
    ///
    /// ```
    /// let builder = kafkit::producer::config::ProducerConfig::builder();
    /// assert_eq!(builder.get("batch.size")?, "16384");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        self.props.get(key)
    }

    fn update(&mut self, key: &str, change: impl FnOnce(&mut ProducerProperties)) -> &mut Self {
        self.props.update(key, change);
        self
    }

    /// `bootstrap.servers`: comma-separated `host:port` entries (checked by `build`).
    ///
    /// ```
    /// let mut builder = kafkit::producer::config::ProducerConfig::builder();
    /// builder.bootstrap_servers("a:9092, b:9092");
    /// assert_eq!(builder.get("bootstrap.servers")?, "a:9092,b:9092");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn bootstrap_servers(&mut self, servers: impl AsRef<str>) -> &mut Self {
        let list = parse_list(servers.as_ref());
        self.update("bootstrap.servers", |p| p.bootstrap_servers = list)
    }

    /// `client.id`.
    pub fn client_id(&mut self, client_id: impl Into<String>) -> &mut Self {
        let client_id = client_id.into();
        self.update("client.id", |p| p.client_id = client_id)
    }

    /// `acks`.
    pub fn acks(&mut self, acks: Acks) -> &mut Self {
        self.update("acks", |p| p.acks = acks)
    }

    /// `enable.idempotence`. Setting it (either way) makes conflicting settings errors
    /// instead of silently turning idempotence off.
    pub fn idempotence(&mut self, enable: bool) -> &mut Self {
        self.update("enable.idempotence", |p| p.enable_idempotence = enable)
    }

    /// `linger.ms` (whole milliseconds; finer parts are dropped).
    pub fn linger(&mut self, linger: Duration) -> &mut Self {
        self.update("linger.ms", |p| p.linger_ms = duration_to_ms(linger))
    }

    /// `batch.size` in bytes.
    pub fn batch_size(&mut self, bytes: usize) -> &mut Self {
        self.update("batch.size", |p| p.batch_size = usize_to_i64(bytes))
    }

    /// `buffer.memory` in bytes.
    pub fn buffer_memory(&mut self, bytes: usize) -> &mut Self {
        self.update("buffer.memory", |p| p.buffer_memory = usize_to_i64(bytes))
    }

    /// `max.block.ms`.
    pub fn max_block(&mut self, max_block: Duration) -> &mut Self {
        self.update("max.block.ms", |p| {
            p.max_block_ms = duration_to_ms(max_block)
        })
    }

    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight_requests_per_connection(&mut self, requests: usize) -> &mut Self {
        self.update("max.in.flight.requests.per.connection", |p| {
            p.max_in_flight = usize_to_i64(requests)
        })
    }

    /// `retries`.
    pub fn retries(&mut self, retries: u32) -> &mut Self {
        self.update("retries", |p| p.retries = retries.into())
    }

    /// `retry.backoff.ms`.
    pub fn retry_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.update("retry.backoff.ms", |p| {
            p.retry_backoff_ms = duration_to_ms(backoff)
        })
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&mut self, max: Duration) -> &mut Self {
        self.update("retry.backoff.max.ms", |p| {
            p.retry_backoff_max_ms = duration_to_ms(max)
        })
    }

    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("delivery.timeout.ms", |p| {
            p.delivery_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.update("request.timeout.ms", |p| {
            p.request_timeout_ms = duration_to_ms(timeout)
        })
    }

    /// `max.request.size` in bytes.
    pub fn max_request_size(&mut self, bytes: usize) -> &mut Self {
        self.update("max.request.size", |p| {
            p.max_request_size = usize_to_i64(bytes)
        })
    }

    /// `compression.type`.
    pub fn compression(&mut self, codec: Compression) -> &mut Self {
        self.update("compression.type", |p| p.compression_type = codec)
    }

    /// `compression.gzip.level`: 1 to 9, or -1 for zlib's default.
    pub fn gzip_level(&mut self, level: i32) -> &mut Self {
        self.update("compression.gzip.level", |p| p.gzip_level = level.into())
    }

    /// `compression.lz4.level`: 1 to 17.
    pub fn lz4_level(&mut self, level: i32) -> &mut Self {
        self.update("compression.lz4.level", |p| p.lz4_level = level.into())
    }

    /// `compression.zstd.level`: -131072 to 22.
    pub fn zstd_level(&mut self, level: i32) -> &mut Self {
        self.update("compression.zstd.level", |p| p.zstd_level = level.into())
    }

    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(&mut self, age: Duration) -> &mut Self {
        self.update("metadata.max.age.ms", |p| {
            p.metadata_max_age_ms = duration_to_ms(age)
        })
    }

    /// `metadata.max.idle.ms` (at least 5 s).
    pub fn metadata_max_idle(&mut self, idle: Duration) -> &mut Self {
        self.update("metadata.max.idle.ms", |p| {
            p.metadata_max_idle_ms = duration_to_ms(idle)
        })
    }

    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(&mut self, ignore: bool) -> &mut Self {
        self.update("partitioner.ignore.keys", |p| {
            p.partitioner_ignore_keys = ignore
        })
    }

    /// `partitioner.adaptive.partitioning.enable`.
    pub fn partitioner_adaptive_partitioning(&mut self, enable: bool) -> &mut Self {
        self.update("partitioner.adaptive.partitioning.enable", |p| {
            p.partitioner_adaptive = enable
        })
    }

    /// `partitioner.availability.timeout.ms`; `None` (0) disables the check.
    pub fn partitioner_availability_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        let ms = timeout.map_or(0, duration_to_ms);
        self.update("partitioner.availability.timeout.ms", |p| {
            p.partitioner_availability_timeout_ms = ms
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

    /// `transactional.id`. Transactions are not supported yet: `build` rejects a config that
    /// sets it.
    pub fn transactional_id(&mut self, id: impl Into<String>) -> &mut Self {
        let id = id.into();
        self.update("transactional.id", |p| p.transactional_id = Some(id))
    }

    /// Checks every setting and applies Java's rules (see the [module docs](self)).
    ///
    /// ```
    /// use kafkit::config::ConfigError;
    /// use kafkit::producer::config::{Acks, ProducerConfig};
    ///
    /// let err = ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .idempotence(true)
    ///     .acks(Acks::Leader)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::Conflict { .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Must set acks to all in order to use the idempotent producer. \
    ///      Otherwise we cannot guarantee idempotence."
    /// );
    /// ```
    pub fn build(&self) -> Result<ProducerConfig, ConfigError> {
        let mut props = self.props.clone();
        props.validate()?;
        let bootstrap =
            check_host_port_list("bootstrap.servers", &props.values().bootstrap_servers)?;
        let mut adjustments = Vec::new();

        // Java ProducerConfig.postProcessAndValidateIdempotenceConfigs.
        let p = props.values();
        let explicit_idempotence = props.is_explicit("enable.idempotence");
        let mut disable_idempotence = false;
        if p.enable_idempotence {
            if p.retries == 0 {
                if explicit_idempotence {
                    return Err(ConfigError::conflict(
                        "Must set retries to non-zero when using the idempotent producer.",
                    ));
                }
                adjustments.push(ConfigAdjustment::IdempotenceDisabled {
                    key: "retries",
                    value: "0".to_owned(),
                });
                disable_idempotence = true;
            }
            if p.acks != Acks::All {
                if explicit_idempotence {
                    return Err(ConfigError::conflict(
                        "Must set acks to all in order to use the idempotent producer. \
                         Otherwise we cannot guarantee idempotence.",
                    ));
                }
                adjustments.push(ConfigAdjustment::IdempotenceDisabled {
                    key: "acks",
                    value: p.acks.as_i16().to_string(),
                });
                disable_idempotence = true;
            }
            if p.max_in_flight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE as i64 {
                return Err(ConfigError::conflict(format!(
                    "To use the idempotent producer, max.in.flight.requests.per.connection must \
                     be set to at most {MAX_IN_FLIGHT_FOR_IDEMPOTENCE}. Current value is {}.",
                    p.max_in_flight
                )));
            }
        }
        let idempotence = p.enable_idempotence && !disable_idempotence;
        if props.is_explicit("transactional.id") {
            if !idempotence {
                return Err(ConfigError::conflict(
                    "Cannot set a transactional.id without also enabling idempotence.",
                ));
            }
            return Err(ConfigError::Unsupported {
                key: "transactional.id".to_owned(),
                reason: "transactions are not supported yet; leave it unset (the producer is \
                         idempotent by default)"
                    .to_owned(),
            });
        }

        // Java KafkaProducer.configureDeliveryTimeout (linger.ms capped at an int).
        let linger = p.linger_ms.min(i32::MAX.into());
        let floor = (linger + p.request_timeout_ms).min(i32::MAX.into());
        let mut delivery_timeout_ms = p.delivery_timeout_ms;
        if delivery_timeout_ms < floor {
            if props.is_explicit("delivery.timeout.ms") {
                return Err(ConfigError::conflict(
                    "delivery.timeout.ms should be equal to or larger than linger.ms + \
                     request.timeout.ms",
                ));
            }
            delivery_timeout_ms = floor;
            adjustments.push(ConfigAdjustment::DeliveryTimeoutRaised {
                to: ms_to_duration(floor),
            });
        }

        // Java CommonClientConfigs.warnDisablingExponentialBackoff / ExponentialBackoff.
        let mut retry_backoff_ms = p.retry_backoff_ms;
        if retry_backoff_ms > p.retry_backoff_max_ms {
            retry_backoff_ms = p.retry_backoff_max_ms;
            adjustments.push(ConfigAdjustment::StaticRetryBackoff {
                backoff: ms_to_duration(retry_backoff_ms),
            });
        }

        // Java ProducerConfig.maybeOverrideClientId.
        let generated_client_id = (!props.is_explicit("client.id")).then(|| {
            format!(
                "producer-{}",
                CLIENT_ID_SEQUENCE.fetch_add(1, Ordering::Relaxed)
            )
        });

        let values = props.values_mut();
        values.enable_idempotence = idempotence;
        values.delivery_timeout_ms = delivery_timeout_ms;
        values.retry_backoff_ms = retry_backoff_ms;
        if let Some(id) = generated_client_id {
            values.client_id = id;
        }
        for adjustment in &adjustments {
            // Java logs the idempotence change at info, the others at warn.
            match adjustment {
                ConfigAdjustment::IdempotenceDisabled { .. } => {
                    tracing::info!(client_id = %values.client_id, "{adjustment}")
                }
                _ => tracing::warn!(client_id = %values.client_id, "{adjustment}"),
            }
        }
        Ok(ProducerConfig {
            props,
            bootstrap,
            adjustments,
        })
    }
}

fn usize_to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Converts a checked non-negative Java integer to `usize`.
fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A checked producer configuration. Build one with [`ProducerConfig::builder`].
///
/// Typed getters give the values the producer uses; [`get`](Self::get) gives them in Java's
/// string form.
///
/// ```
/// use std::time::Duration;
/// use kafkit::producer::config::ProducerConfig;
///
/// let config = ProducerConfig::builder().bootstrap_servers("localhost:9092").build()?;
/// assert_eq!(config.linger(), Duration::from_millis(5));
/// assert_eq!(config.delivery_timeout(), Duration::from_secs(120));
/// assert!(config.client_id().starts_with("producer-"));
/// assert!(ProducerConfig::known_keys().contains(&"max.in.flight.requests.per.connection"));
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Effective values (after Java's post-processing).
    props: PropertySet<ProducerProperties>,
    /// `bootstrap.servers` normalised to `host:port`.
    bootstrap: Vec<String>,
    adjustments: Vec<ConfigAdjustment>,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("properties", &self.props)
            .field("adjustments", &self.adjustments)
            .finish()
    }
}

impl ProducerConfig {
    /// A builder with every setting at its Java default.
    ///
    /// ```
    /// let config = kafkit::producer::config::ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .build()?;
    /// assert_eq!(config.batch_size(), 16384);
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::new()
    }

    /// Every producer property's declaration (name, type, default, doc), in documentation
    /// order. See [`crate::config::markdown_table`].
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    /// assert_eq!(ProducerConfig::properties().next().unwrap().name, "bootstrap.servers");
    /// ```
    pub fn properties() -> impl Iterator<Item = &'static PropertyDef> {
        PropertySet::<ProducerProperties>::defs()
    }

    /// Every property name the producer accepts.
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    /// assert!(ProducerConfig::known_keys().contains(&"linger.ms"));
    /// ```
    pub fn known_keys() -> Vec<&'static str> {
        PropertySet::<ProducerProperties>::known_keys().collect()
    }

    /// A property's effective value in Java's string form.
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    ///
    /// let config = ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .set("retries", "0")?
    ///     .build()?;
    /// assert_eq!(config.get("enable.idempotence")?, "false");
    /// assert!(config.get("linger").is_err());
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        self.props.get(key)
    }

    /// What `build` changed from the given settings (idempotence turned off, delivery timeout
    /// raised, static retry backoff), in the order Java applies them.
    pub fn adjustments(&self) -> &[ConfigAdjustment] {
        &self.adjustments
    }

    fn p(&self) -> &ProducerProperties {
        self.props.values()
    }

    /// `bootstrap.servers`, each normalised to `host:port` (scheme prefixes dropped, IPv6 hosts
    /// in brackets), ready for [`crate::net::ConnectionPool::new`].
    pub fn bootstrap_servers(&self) -> &[String] {
        &self.bootstrap
    }

    /// `client.id`: as given, or `producer-N` when it was not set.
    pub fn client_id(&self) -> &str {
        &self.p().client_id
    }

    /// `acks`.
    pub fn acks(&self) -> Acks {
        self.p().acks
    }

    /// Whether the producer is idempotent: `enable.idempotence`, unless conflicting settings
    /// turned the default off (see [`adjustments`](Self::adjustments)).
    pub fn idempotence(&self) -> bool {
        self.p().enable_idempotence
    }

    /// `linger.ms`.
    pub fn linger(&self) -> Duration {
        ms_to_duration(self.p().linger_ms)
    }

    /// `batch.size` in bytes (0: no batching).
    pub fn batch_size(&self) -> usize {
        to_usize(self.p().batch_size)
    }

    /// `buffer.memory` in bytes.
    pub fn buffer_memory(&self) -> usize {
        to_usize(self.p().buffer_memory)
    }

    /// `max.block.ms`.
    pub fn max_block(&self) -> Duration {
        ms_to_duration(self.p().max_block_ms)
    }

    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight_requests_per_connection(&self) -> usize {
        to_usize(self.p().max_in_flight)
    }

    /// `retries`.
    pub fn retries(&self) -> u32 {
        u32::try_from(self.p().retries).unwrap_or(0)
    }

    /// The first retry backoff: `retry.backoff.ms`, or `retry.backoff.max.ms` when that is
    /// smaller.
    pub fn retry_backoff(&self) -> Duration {
        ms_to_duration(self.p().retry_backoff_ms)
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&self) -> Duration {
        ms_to_duration(self.p().retry_backoff_max_ms)
    }

    /// `delivery.timeout.ms` (raised to `linger.ms + request.timeout.ms` if it was defaulted
    /// below that).
    pub fn delivery_timeout(&self) -> Duration {
        ms_to_duration(self.p().delivery_timeout_ms)
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        ms_to_duration(self.p().request_timeout_ms)
    }

    /// `max.request.size` in bytes.
    pub fn max_request_size(&self) -> usize {
        to_usize(self.p().max_request_size)
    }

    /// `compression.type`.
    pub fn compression(&self) -> Compression {
        self.p().compression_type
    }

    /// The level for [`compression`](Self::compression): `compression.<codec>.level`, or
    /// `None` for `none` and `snappy` (gzip's -1 means zlib's default, 6).
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    /// use kafkit::record::Compression;
    ///
    /// let config = ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .compression(Compression::Gzip)
    ///     .build()?;
    /// assert_eq!(config.compression_level(), Some(-1));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn compression_level(&self) -> Option<i32> {
        self.compression_level_of(self.compression())
    }

    /// `compression.<codec>.level` for any codec (`None` for `none` and `snappy`).
    pub fn compression_level_of(&self, codec: Compression) -> Option<i32> {
        let p = self.p();
        let level = match codec {
            Compression::Gzip => p.gzip_level,
            Compression::Lz4 => p.lz4_level,
            Compression::Zstd => p.zstd_level,
            Compression::None | Compression::Snappy => return None,
        };
        i32::try_from(level).ok()
    }

    /// Batch options for the record layer with this config's codec and level (other fields
    /// at their defaults, for the producer to fill in).
    ///
    /// ```
    /// use kafkit::producer::config::ProducerConfig;
    /// use kafkit::record::Compression;
    ///
    /// let config = ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .set("compression.type", "zstd")?
    ///     .set("compression.zstd.level", "9")?
    ///     .build()?;
    /// let options = config.batch_options();
    /// assert_eq!((options.compression, options.compression_level), (Compression::Zstd, Some(9)));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn batch_options(&self) -> BatchOptions {
        BatchOptions {
            compression: self.compression(),
            compression_level: self.compression_level(),
            ..BatchOptions::default()
        }
    }

    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(&self) -> Duration {
        ms_to_duration(self.p().metadata_max_age_ms)
    }

    /// `metadata.max.idle.ms`.
    pub fn metadata_max_idle(&self) -> Duration {
        ms_to_duration(self.p().metadata_max_idle_ms)
    }

    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(&self) -> bool {
        self.p().partitioner_ignore_keys
    }

    /// `partitioner.adaptive.partitioning.enable`.
    pub fn partitioner_adaptive_partitioning(&self) -> bool {
        self.p().partitioner_adaptive
    }

    /// `partitioner.availability.timeout.ms`; `None` when 0 (disabled).
    pub fn partitioner_availability_timeout(&self) -> Option<Duration> {
        let ms = self.p().partitioner_availability_timeout_ms;
        (ms > 0).then(|| ms_to_duration(ms))
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
    /// use kafkit::producer::config::ProducerConfig;
    ///
    /// let config = ProducerConfig::builder()
    ///     .bootstrap_servers("localhost:9092")
    ///     .client_id("billing")
    ///     .request_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// let net = config.connection_config();
    /// assert_eq!(net.client_id.as_deref(), Some("billing"));
    /// assert_eq!(net.request_timeout, Duration::from_secs(5));
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
    use crate::record::BatchBuilder;

    fn base() -> ProducerConfigBuilder {
        let mut b = ProducerConfig::builder();
        b.bootstrap_servers("localhost:9092");
        b
    }

    fn conflict(err: ConfigError) -> String {
        match err {
            ConfigError::Conflict { message } => message,
            other => panic!("expected Conflict, got {other:?}"),
        }
    }

    /// Java 4.x `ProducerConfig` defaults (clients/.../producer/ProducerConfig.java, the
    /// `CONFIG = new ConfigDef()...` block, and CommonClientConfigs' DEFAULT_* constants),
    /// written out independently of the table.
    const JAVA_DEFAULTS: &[(&str, &str)] = &[
        ("client.id", ""),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("buffer.memory", "33554432"),
        ("max.block.ms", "60000"),
        ("max.in.flight.requests.per.connection", "5"),
        ("retries", "2147483647"),
        ("retry.backoff.ms", "100"),
        ("retry.backoff.max.ms", "1000"),
        ("delivery.timeout.ms", "120000"),
        ("request.timeout.ms", "30000"),
        ("max.request.size", "1048576"),
        ("compression.type", "none"),
        ("compression.gzip.level", "-1"),
        ("compression.lz4.level", "9"),
        ("compression.zstd.level", "3"),
        ("metadata.max.age.ms", "300000"),
        ("metadata.max.idle.ms", "300000"),
        ("partitioner.ignore.keys", "false"),
        ("partitioner.adaptive.partitioning.enable", "true"),
        ("partitioner.availability.timeout.ms", "0"),
        ("socket.connection.setup.timeout.ms", "10000"),
        ("connections.max.idle.ms", "540000"),
    ];

    #[test]
    fn every_default_equals_javas() {
        let builder = ProducerConfig::builder();
        for (key, java) in JAVA_DEFAULTS {
            assert_eq!(builder.get(key).unwrap(), *java, "{key}");
            let def = ProducerConfig::properties()
                .find(|d| d.name == *key)
                .unwrap();
            assert_eq!(def.default, PropertyDefault::Value(java), "{key}");
        }
        assert_eq!(builder.get("transactional.id").unwrap(), "");
        let bootstrap = ProducerConfig::properties().next().unwrap();
        assert_eq!(bootstrap.default, PropertyDefault::Required);
        // Every key is either in JAVA_DEFAULTS or one of the two without a value default.
        assert_eq!(ProducerConfig::known_keys().len(), JAVA_DEFAULTS.len() + 2);

        let c = base().client_id("c").build().unwrap();
        assert!(c.adjustments().is_empty());
        assert_eq!(c.bootstrap_servers(), ["localhost:9092"]);
        assert_eq!(c.client_id(), "c");
        assert_eq!(c.acks(), Acks::All);
        assert!(c.idempotence());
        assert_eq!(c.linger(), Duration::from_millis(5));
        assert_eq!(c.batch_size(), 16 * 1024);
        assert_eq!(c.buffer_memory(), 32 * 1024 * 1024);
        assert_eq!(c.max_block(), Duration::from_secs(60));
        assert_eq!(c.max_in_flight_requests_per_connection(), 5);
        assert_eq!(c.retries(), i32::MAX as u32);
        assert_eq!(c.retry_backoff(), Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max(), Duration::from_secs(1));
        assert_eq!(c.delivery_timeout(), Duration::from_secs(120));
        assert_eq!(c.request_timeout(), Duration::from_secs(30));
        assert_eq!(c.max_request_size(), 1024 * 1024);
        assert_eq!(c.compression(), Compression::None);
        assert_eq!(c.compression_level(), None);
        assert_eq!(c.compression_level_of(Compression::Gzip), Some(-1));
        assert_eq!(c.compression_level_of(Compression::Lz4), Some(9));
        assert_eq!(c.compression_level_of(Compression::Zstd), Some(3));
        assert_eq!(c.compression_level_of(Compression::Snappy), None);
        assert_eq!(c.metadata_max_age(), Duration::from_secs(300));
        assert_eq!(c.metadata_max_idle(), Duration::from_secs(300));
        assert!(!c.partitioner_ignore_keys());
        assert!(c.partitioner_adaptive_partitioning());
        assert_eq!(c.partitioner_availability_timeout(), None);
        assert_eq!(c.socket_connection_setup_timeout(), Duration::from_secs(10));
        assert_eq!(c.connections_max_idle(), Some(Duration::from_secs(540)));
        for (key, java) in JAVA_DEFAULTS.iter().filter(|(k, _)| *k != "client.id") {
            assert_eq!(c.get(key).unwrap(), *java, "{key} after build");
        }
    }

    #[test]
    fn the_module_docs_list_every_property_as_generated() {
        let source = include_str!("config.rs");
        for row in markdown_table(ProducerConfig::properties()).lines() {
            let row = row.replace(" |  |", " | |");
            let doc_row = format!("//! {row}");
            let in_docs = source
                .lines()
                .any(|l| l.replace(" |  |", " | |") == doc_row);
            assert!(in_docs, "module docs lack or differ from:\n{doc_row}");
        }
    }

    #[test]
    fn unknown_keys_name_the_nearest_known_key() {
        let cases = [
            ("lingr.ms", "linger.ms"),
            ("linger", "linger.ms"),
            ("LINGER_MS", "linger.ms"),
            ("batch_size", "batch.size"),
            ("bacth.size", "batch.size"),
            ("ack", "acks"),
            ("compresion.type", "compression.type"),
            ("compression", "compression.type"),
            ("compression.zstd.levels", "compression.zstd.level"),
            ("enable.idempotency", "enable.idempotence"),
            ("retry.backof.ms", "retry.backoff.ms"),
            ("retries.backoff.max.ms", "retry.backoff.max.ms"),
            ("delivery.timeout", "delivery.timeout.ms"),
            ("bootstrap.server", "bootstrap.servers"),
            ("bootstrap-servers", "bootstrap.servers"),
            (
                "max.in.flight.request.per.connection",
                "max.in.flight.requests.per.connection",
            ),
            ("max.in.flight", "max.in.flight.requests.per.connection"),
            ("metadata.max.age", "metadata.max.age.ms"),
            ("transaction.id", "transactional.id"),
        ];
        for (key, want) in cases {
            let err = ProducerConfig::builder().set(key, "1").unwrap_err();
            assert_eq!(
                err,
                ConfigError::UnknownKey {
                    key: key.into(),
                    suggestion: Some(want.into())
                },
                "{key}"
            );
            assert!(
                err.to_string()
                    .ends_with(&format!("did you mean `{want}`?")),
                "{err}"
            );
            assert!(ProducerConfig::builder().get(key).is_err());
        }
        let err = ProducerConfig::builder().set("xyz", "1").unwrap_err();
        assert_eq!(err.to_string(), "unknown configuration `xyz`");
    }

    #[test]
    fn java_keys_kafkit_lacks_are_unsupported_with_a_reason() {
        for key in [
            "key.serializer",
            "value.serializer",
            "security.protocol",
            "ssl.truststore.location",
            "sasl.mechanism",
            "transaction.timeout.ms",
            "interceptor.classes",
            "partitioner.class",
            "send.buffer.bytes",
        ] {
            let err = ProducerConfig::builder().set(key, "x").unwrap_err();
            assert!(
                matches!(&err, ConfigError::Unsupported { key: k, reason } if k == key && !reason.is_empty()),
                "{key}: {err:?}"
            );
        }
    }

    #[test]
    fn set_accepts_java_names_and_values() {
        let mut b = ProducerConfig::builder();
        b.set_all([
            ("bootstrap.servers", " a:1 , PLAINTEXT://b:2 "),
            ("client.id", " svc "),
            ("acks", "-1"),
            ("enable.idempotence", "TRUE"),
            ("linger.ms", "0"),
            ("batch.size", "0"),
            ("buffer.memory", "1"),
            ("max.block.ms", "9223372036854775807"),
            ("max.in.flight.requests.per.connection", "1"),
            ("retries", "+7"),
            ("retry.backoff.ms", "0"),
            ("retry.backoff.max.ms", "0"),
            ("delivery.timeout.ms", "2147483647"),
            ("request.timeout.ms", "0"),
            ("max.request.size", "0"),
            ("compression.type", "snappy"),
            ("compression.gzip.level", "9"),
            ("compression.lz4.level", "17"),
            ("compression.zstd.level", "-131072"),
            ("metadata.max.age.ms", "0"),
            ("metadata.max.idle.ms", "5000"),
            ("partitioner.ignore.keys", "true"),
            ("partitioner.adaptive.partitioning.enable", "False"),
            ("partitioner.availability.timeout.ms", "250"),
            ("socket.connection.setup.timeout.ms", "0"),
            ("connections.max.idle.ms", "-1"),
        ])
        .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.bootstrap_servers(), ["a:1", "b:2"]);
        assert_eq!(c.get("bootstrap.servers").unwrap(), "a:1,PLAINTEXT://b:2");
        assert_eq!(c.client_id(), "svc");
        assert_eq!(c.acks(), Acks::All);
        assert_eq!(c.get("acks").unwrap(), "all");
        assert!(c.idempotence());
        assert_eq!(c.linger(), Duration::ZERO);
        assert_eq!(c.batch_size(), 0);
        assert_eq!(c.buffer_memory(), 1);
        assert_eq!(c.max_block(), Duration::from_millis(i64::MAX as u64));
        assert_eq!(c.max_in_flight_requests_per_connection(), 1);
        assert_eq!(c.retries(), 7);
        assert_eq!(c.retry_backoff(), Duration::ZERO);
        assert_eq!(c.delivery_timeout(), Duration::from_millis(i32::MAX as u64));
        assert_eq!(c.request_timeout(), Duration::ZERO);
        assert_eq!(c.compression(), Compression::Snappy);
        assert_eq!(c.compression_level(), None);
        assert_eq!(c.compression_level_of(Compression::Gzip), Some(9));
        assert_eq!(c.compression_level_of(Compression::Lz4), Some(17));
        assert_eq!(c.compression_level_of(Compression::Zstd), Some(-131_072));
        assert_eq!(c.metadata_max_age(), Duration::ZERO);
        assert_eq!(c.metadata_max_idle(), Duration::from_secs(5));
        assert!(c.partitioner_ignore_keys());
        assert!(!c.partitioner_adaptive_partitioning());
        assert_eq!(
            c.partitioner_availability_timeout(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(c.socket_connection_setup_timeout(), Duration::ZERO);
        assert_eq!(c.connections_max_idle(), None);
        assert_eq!(c.get("connections.max.idle.ms").unwrap(), "-1");
        assert!(c.adjustments().is_empty(), "{:?}", c.adjustments());
    }

    #[test]
    fn set_rejects_bad_values_with_javas_messages() {
        let cases: &[(&str, &str, &str)] = &[
            ("acks", "2", "String must be one of: all, -1, 0, 1"),
            ("acks", "ALL", "String must be one of: all, -1, 0, 1"),
            (
                "enable.idempotence",
                "yes",
                "Expected value to be either true or false",
            ),
            ("linger.ms", "-1", "Value must be at least 0"),
            ("linger.ms", "5ms", "Not a number of type LONG"),
            ("batch.size", "-1", "Value must be at least 0"),
            ("batch.size", "2147483648", "Not a number of type INT"),
            ("buffer.memory", "0", "Value must be at least 1"),
            ("max.block.ms", "-5", "Value must be at least 0"),
            (
                "max.in.flight.requests.per.connection",
                "0",
                "Value must be at least 1",
            ),
            ("retries", "-1", "Value must be at least 0"),
            ("retry.backoff.ms", "", "Not a number of type LONG"),
            ("delivery.timeout.ms", "1.5", "Not a number of type INT"),
            ("request.timeout.ms", "-1", "Value must be at least 0"),
            ("max.request.size", "-1", "Value must be at least 0"),
            (
                "compression.type",
                "brotli",
                "String must be one of: none, gzip, snappy, lz4, zstd",
            ),
            (
                "compression.type",
                "GZIP",
                "String must be one of: none, gzip, snappy, lz4, zstd",
            ),
            (
                "compression.gzip.level",
                "0",
                "Value must be between 1 and 9 or equal to -1",
            ),
            (
                "compression.gzip.level",
                "10",
                "Value must be between 1 and 9 or equal to -1",
            ),
            ("compression.lz4.level", "0", "Value must be at least 1"),
            (
                "compression.lz4.level",
                "18",
                "Value must be no more than 17",
            ),
            (
                "compression.zstd.level",
                "23",
                "Value must be no more than 22",
            ),
            (
                "compression.zstd.level",
                "-131073",
                "Value must be at least -131072",
            ),
            ("metadata.max.age.ms", "-1", "Value must be at least 0"),
            (
                "metadata.max.idle.ms",
                "4999",
                "Value must be at least 5000",
            ),
            (
                "partitioner.ignore.keys",
                "1",
                "Expected value to be either true or false",
            ),
            (
                "partitioner.availability.timeout.ms",
                "-1",
                "Value must be at least 0",
            ),
            (
                "connections.max.idle.ms",
                "never",
                "Not a number of type LONG",
            ),
            ("transactional.id", " ", "String must be non-empty"),
            (
                "bootstrap.servers",
                "",
                "must not be empty; expected a list of host:port",
            ),
            (
                "bootstrap.servers",
                "a:1,a:1",
                "values must not be duplicated",
            ),
            ("bootstrap.servers", "a:1,,b:2", "values must not be empty"),
            (
                "bootstrap.servers",
                "localhost",
                "Invalid url: expected host:port, as kafka-1:9092",
            ),
            (
                "bootstrap.servers",
                "localhost:123456",
                "Invalid port: expected 1 to 65535",
            ),
        ];
        for (key, value, want) in cases {
            let mut b = ProducerConfig::builder();
            let before = b.clone();
            match b.set(key, value) {
                Err(ConfigError::InvalidValue { key: k, reason, .. }) => {
                    assert_eq!(
                        (k.as_str(), reason.as_str()),
                        (*key, *want),
                        "{key}={value}"
                    )
                }
                other => panic!("{key}={value}: {other:?}"),
            }
            assert_eq!(b, before, "a rejected value leaves the builder unchanged");
        }
        let err = ProducerConfig::builder()
            .set("batch.size", "-1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value -1 for configuration batch.size: Value must be at least 0"
        );
    }

    #[test]
    fn bootstrap_servers_are_required_and_well_formed() {
        let err = ProducerConfig::builder().build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing required configuration \"bootstrap.servers\" which has no default value."
        );
        for bad in ["", "localhost", "a:1,a:1", "host:0", "a b:1"] {
            let err = ProducerConfig::builder()
                .bootstrap_servers(bad)
                .build()
                .unwrap_err();
            assert!(
                matches!(&err, ConfigError::InvalidValue { key, .. } if key == "bootstrap.servers"),
                "{bad:?}: {err:?}"
            );
        }
        let c = ProducerConfig::builder()
            .bootstrap_servers("SSL://k1:9093,[::1]:9092,fe80::2:9094")
            .build()
            .unwrap();
        assert_eq!(
            c.bootstrap_servers(),
            ["k1:9093", "[::1]:9092", "[fe80::2]:9094"]
        );
    }

    #[test]
    fn typed_values_out_of_javas_ranges_fail_at_build() {
        let cases: Vec<(ProducerConfigBuilder, &str)> = vec![
            (base().batch_size(usize::MAX).clone(), "batch.size"),
            (base().batch_size(1 << 31).clone(), "batch.size"),
            (base().buffer_memory(0).clone(), "buffer.memory"),
            (
                base().max_in_flight_requests_per_connection(0).clone(),
                "max.in.flight.requests.per.connection",
            ),
            (base().retries(u32::MAX).clone(), "retries"),
            (
                base().delivery_timeout(Duration::MAX).clone(),
                "delivery.timeout.ms",
            ),
            (
                base().request_timeout(Duration::from_secs(1 << 40)).clone(),
                "request.timeout.ms",
            ),
            (
                base().max_request_size(usize::MAX).clone(),
                "max.request.size",
            ),
            (base().gzip_level(0).clone(), "compression.gzip.level"),
            (base().lz4_level(18).clone(), "compression.lz4.level"),
            (base().zstd_level(23).clone(), "compression.zstd.level"),
            (
                base().metadata_max_idle(Duration::from_secs(4)).clone(),
                "metadata.max.idle.ms",
            ),
            (base().transactional_id("").clone(), "transactional.id"),
        ];
        for (builder, key) in cases {
            match builder.build() {
                Err(ConfigError::InvalidValue { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        // Large durations are fine for `long` settings (Java's Long.MAX_VALUE = forever);
        // linger.ms counts as at most i32::MAX toward the delivery timeout floor, as in Java.
        let c = base()
            .max_block(Duration::MAX)
            .linger(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(c.max_block(), Duration::from_millis(i64::MAX as u64));
        assert_eq!(c.linger(), Duration::from_millis(i64::MAX as u64));
        assert_eq!(c.delivery_timeout(), Duration::from_millis(i32::MAX as u64));
    }

    // ---- Idempotence (Java ProducerConfig.postProcessAndValidateIdempotenceConfigs) ----

    const ACKS_MESSAGE: &str = "Must set acks to all in order to use the idempotent producer. \
                                Otherwise we cannot guarantee idempotence.";
    const RETRIES_MESSAGE: &str =
        "Must set retries to non-zero when using the idempotent producer.";

    #[test]
    fn explicit_idempotence_with_conflicting_settings_is_an_error() {
        for acks in ["0", "1"] {
            let err = base()
                .set("enable.idempotence", "true")
                .unwrap()
                .set("acks", acks)
                .unwrap()
                .build()
                .unwrap_err();
            assert_eq!(conflict(err), ACKS_MESSAGE, "acks={acks}");
        }
        let err = base().idempotence(true).retries(0).build().unwrap_err();
        assert_eq!(conflict(err), RETRIES_MESSAGE);
        // Java checks retries first.
        let err = base()
            .idempotence(true)
            .retries(0)
            .acks(Acks::None)
            .build()
            .unwrap_err();
        assert_eq!(conflict(err), RETRIES_MESSAGE);
        let err = base()
            .idempotence(true)
            .max_in_flight_requests_per_connection(6)
            .build()
            .unwrap_err();
        assert_eq!(
            conflict(err),
            "To use the idempotent producer, max.in.flight.requests.per.connection must be set \
             to at most 5. Current value is 6."
        );
        // The allowed edge.
        let c = base()
            .idempotence(true)
            .acks(Acks::All)
            .retries(1)
            .max_in_flight_requests_per_connection(5)
            .build()
            .unwrap();
        assert!(c.idempotence());
        assert!(c.adjustments().is_empty());
    }

    #[test]
    fn defaulted_idempotence_is_silently_disabled_by_conflicts() {
        let c = base().acks(Acks::Leader).build().unwrap();
        assert!(!c.idempotence());
        assert_eq!(c.get("enable.idempotence").unwrap(), "false");
        assert_eq!(
            c.adjustments(),
            [ConfigAdjustment::IdempotenceDisabled {
                key: "acks",
                value: "1".into()
            }]
        );
        assert_eq!(
            c.adjustments()[0].to_string(),
            "Idempotence will be disabled because acks is set to 1, not set to 'all'."
        );

        let c = base().set("retries", "0").unwrap().build().unwrap();
        assert!(!c.idempotence());
        assert_eq!(
            c.adjustments()[0].to_string(),
            "Idempotence will be disabled because retries is set to 0."
        );

        let c = base().retries(0).acks(Acks::None).build().unwrap();
        assert!(!c.idempotence());
        assert_eq!(
            c.adjustments(),
            [
                ConfigAdjustment::IdempotenceDisabled {
                    key: "retries",
                    value: "0".into()
                },
                ConfigAdjustment::IdempotenceDisabled {
                    key: "acks",
                    value: "0".into()
                },
            ]
        );
    }

    #[test]
    fn more_than_five_in_flight_needs_idempotence_off_explicitly() {
        // Java 4.0 (KAFKA-17927): an error even when idempotence was only defaulted, and even
        // when another setting would have turned it off.
        for builder in [
            base().max_in_flight_requests_per_connection(6).clone(),
            base()
                .acks(Acks::Leader)
                .max_in_flight_requests_per_connection(10)
                .clone(),
        ] {
            let err = builder.build().unwrap_err();
            assert!(conflict(err).starts_with("To use the idempotent producer"));
        }
        let c = base()
            .idempotence(false)
            .max_in_flight_requests_per_connection(100)
            .acks(Acks::Leader)
            .retries(0)
            .build()
            .unwrap();
        assert!(!c.idempotence());
        assert_eq!(c.max_in_flight_requests_per_connection(), 100);
        assert!(
            c.adjustments().is_empty(),
            "explicitly off: nothing disabled"
        );
    }

    #[test]
    fn transactional_id_is_recognised_but_not_supported_yet() {
        let mut b = base();
        b.set("transactional.id", "tx-1").unwrap();
        assert_eq!(b.get("transactional.id").unwrap(), "tx-1");
        match b.build().unwrap_err() {
            ConfigError::Unsupported { key, reason } => {
                assert_eq!(key, "transactional.id");
                assert!(reason.contains("transactions are not supported yet"));
            }
            other => panic!("{other:?}"),
        }
        // Java's own rule comes first when idempotence is off.
        let err = base()
            .transactional_id("tx-1")
            .idempotence(false)
            .build()
            .unwrap_err();
        assert_eq!(
            conflict(err),
            "Cannot set a transactional.id without also enabling idempotence."
        );
        let err = base()
            .transactional_id("tx-1")
            .acks(Acks::Leader)
            .build()
            .unwrap_err();
        assert_eq!(
            conflict(err),
            "Cannot set a transactional.id without also enabling idempotence."
        );
    }

    // ---- Delivery timeout (Java KafkaProducer.configureDeliveryTimeout) ----

    #[test]
    fn explicit_delivery_timeout_below_linger_plus_request_timeout_is_an_error() {
        let err = base()
            .delivery_timeout(Duration::from_millis(30_004))
            .build()
            .unwrap_err();
        assert_eq!(
            conflict(err),
            "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms"
        );
        // Exactly the sum is fine.
        let c = base()
            .set("delivery.timeout.ms", "30005")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.delivery_timeout(), Duration::from_millis(30_005));
        assert!(c.adjustments().is_empty());
        let err = base()
            .linger(Duration::from_secs(100))
            .delivery_timeout(Duration::from_secs(120))
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }));
    }

    #[test]
    fn defaulted_delivery_timeout_is_raised_to_linger_plus_request_timeout() {
        let c = base()
            .request_timeout(Duration::from_secs(200))
            .build()
            .unwrap();
        let raised = Duration::from_millis(200_005);
        assert_eq!(c.delivery_timeout(), raised);
        assert_eq!(c.get("delivery.timeout.ms").unwrap(), "200005");
        assert_eq!(
            c.adjustments(),
            [ConfigAdjustment::DeliveryTimeoutRaised { to: raised }]
        );
        assert_eq!(
            c.adjustments()[0].to_string(),
            "delivery.timeout.ms should be equal to or larger than linger.ms + \
             request.timeout.ms. Setting it to 200005."
        );
        // The sum saturates at i32::MAX as in Java.
        let c = base()
            .request_timeout(Duration::from_millis(i32::MAX as u64))
            .build()
            .unwrap();
        assert_eq!(c.delivery_timeout(), Duration::from_millis(i32::MAX as u64));
    }

    #[test]
    fn retry_backoff_above_its_maximum_becomes_static() {
        let c = base()
            .retry_backoff(Duration::from_secs(5))
            .retry_backoff_max(Duration::from_secs(2))
            .build()
            .unwrap();
        assert_eq!(c.retry_backoff(), Duration::from_secs(2));
        assert_eq!(c.retry_backoff_max(), Duration::from_secs(2));
        assert_eq!(
            c.adjustments(),
            [ConfigAdjustment::StaticRetryBackoff {
                backoff: Duration::from_secs(2)
            }]
        );
        assert!(c.adjustments()[0].to_string().contains("'2000'"));
    }

    // ---- Builder and set() agree ----

    fn every_setting_typed() -> ProducerConfigBuilder {
        let mut b = ProducerConfig::builder();
        b.bootstrap_servers("k1:9092,k2:9093")
            .client_id("billing")
            .acks(Acks::All)
            .idempotence(true)
            .linger(Duration::from_millis(20))
            .batch_size(65_536)
            .buffer_memory(64 << 20)
            .max_block(Duration::from_secs(5))
            .max_in_flight_requests_per_connection(3)
            .retries(10)
            .retry_backoff(Duration::from_millis(50))
            .retry_backoff_max(Duration::from_secs(2))
            .delivery_timeout(Duration::from_secs(300))
            .request_timeout(Duration::from_secs(40))
            .max_request_size(2 << 20)
            .compression(Compression::Zstd)
            .gzip_level(4)
            .lz4_level(1)
            .zstd_level(-5)
            .metadata_max_age(Duration::from_secs(60))
            .metadata_max_idle(Duration::from_secs(30))
            .partitioner_ignore_keys(true)
            .partitioner_adaptive_partitioning(false)
            .partitioner_availability_timeout(Some(Duration::from_millis(500)))
            .socket_connection_setup_timeout(Duration::from_secs(3))
            .connections_max_idle(None);
        b
    }

    const EVERY_SETTING_JAVA: &[(&str, &str)] = &[
        ("bootstrap.servers", "k1:9092, k2:9093"),
        ("client.id", "billing"),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "20"),
        ("batch.size", "65536"),
        ("buffer.memory", "67108864"),
        ("max.block.ms", "5000"),
        ("max.in.flight.requests.per.connection", "3"),
        ("retries", "10"),
        ("retry.backoff.ms", "50"),
        ("retry.backoff.max.ms", "2000"),
        ("delivery.timeout.ms", "300000"),
        ("request.timeout.ms", "40000"),
        ("max.request.size", "2097152"),
        ("compression.type", "zstd"),
        ("compression.gzip.level", "4"),
        ("compression.lz4.level", "1"),
        ("compression.zstd.level", "-5"),
        ("metadata.max.age.ms", "60000"),
        ("metadata.max.idle.ms", "30000"),
        ("partitioner.ignore.keys", "true"),
        ("partitioner.adaptive.partitioning.enable", "false"),
        ("partitioner.availability.timeout.ms", "500"),
        ("socket.connection.setup.timeout.ms", "3000"),
        ("connections.max.idle.ms", "-1"),
    ];

    #[test]
    fn typed_builder_and_java_properties_are_equivalent() {
        let typed = every_setting_typed();
        let mut java = ProducerConfig::builder();
        java.set_all(EVERY_SETTING_JAVA.iter().copied()).unwrap();
        // Same values and same set of explicitly given keys.
        assert_eq!(typed, java);
        assert_eq!(typed.build().unwrap(), java.build().unwrap());
        // Every settable key except transactional.id is covered, with a non-default value.
        assert_eq!(
            EVERY_SETTING_JAVA.len(),
            ProducerConfig::known_keys().len() - 1
        );
        let defaults = ProducerConfig::builder();
        // (acks and enable.idempotence stay at their defaults so that idempotence holds; the
        // single-setter cases below cover their other values.)
        for (key, value) in EVERY_SETTING_JAVA
            .iter()
            .filter(|(k, _)| !matches!(*k, "acks" | "enable.idempotence"))
        {
            let default = defaults.get(key).unwrap();
            assert_ne!(
                default, *value,
                "{key} should differ from its default in this test"
            );
        }
        // Each typed setter alone matches the corresponding set() (and marks only its key).
        let singles: Vec<(&str, &str, ProducerConfigBuilder)> = vec![
            (
                "acks",
                "0",
                ProducerConfig::builder().acks(Acks::None).clone(),
            ),
            (
                "acks",
                "1",
                ProducerConfig::builder().acks(Acks::Leader).clone(),
            ),
            (
                "enable.idempotence",
                "false",
                ProducerConfig::builder().idempotence(false).clone(),
            ),
            (
                "partitioner.availability.timeout.ms",
                "0",
                ProducerConfig::builder()
                    .partitioner_availability_timeout(None)
                    .clone(),
            ),
            (
                "connections.max.idle.ms",
                "1000",
                ProducerConfig::builder()
                    .connections_max_idle(Some(Duration::from_secs(1)))
                    .clone(),
            ),
            (
                "transactional.id",
                "tx",
                ProducerConfig::builder().transactional_id("tx").clone(),
            ),
        ];
        for (key, value, typed) in singles {
            let mut java = ProducerConfig::builder();
            java.set(key, value).unwrap();
            assert_eq!(typed, java, "{key}={value}");
        }
    }

    #[test]
    fn get_round_trips_through_set() {
        let original = every_setting_typed();
        let mut copy = ProducerConfig::builder();
        for key in ProducerConfig::known_keys() {
            if key == "transactional.id" {
                continue;
            }
            let value = original.get(key).unwrap();
            copy.set(key, &value).unwrap();
        }
        assert_eq!(copy, original);
        let built = original.build().unwrap();
        for key in ProducerConfig::known_keys() {
            assert_eq!(built.get(key).unwrap(), original.get(key).unwrap(), "{key}");
        }
    }

    #[test]
    fn client_id_is_generated_like_javas_when_unset() {
        let a = base().build().unwrap();
        let b = base().build().unwrap();
        for c in [&a, &b] {
            let n: u32 = c
                .client_id()
                .strip_prefix("producer-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{}", c.client_id()));
            assert!(n >= 1);
            assert_eq!(c.get("client.id").unwrap(), c.client_id());
        }
        assert_ne!(a.client_id(), b.client_id());
        // An explicit client.id, even empty, is kept.
        assert_eq!(base().client_id("").build().unwrap().client_id(), "");
        assert_eq!(
            base()
                .client_id("svc")
                .build()
                .unwrap()
                .connection_config()
                .client_id,
            Some("svc".to_owned())
        );
    }

    #[test]
    fn compression_levels_agree_with_the_record_layer() {
        let codecs = [Compression::Gzip, Compression::Lz4, Compression::Zstd];
        let levels = [
            -131_073, -131_072, -5, -2, -1, 0, 1, 3, 9, 10, 17, 18, 22, 23,
        ];
        for codec in codecs {
            for level in levels {
                let mut b = base();
                b.compression(codec);
                match codec {
                    Compression::Gzip => b.gzip_level(level),
                    Compression::Lz4 => b.lz4_level(level),
                    _ => b.zstd_level(level),
                };
                let config = b.build();
                let mut batch = BatchBuilder::new(BatchOptions {
                    compression: codec,
                    compression_level: Some(level),
                    ..BatchOptions::default()
                });
                batch.append(0, None, Some(b"v"), &[]).unwrap();
                let record_ok = batch.finish().is_ok();
                assert_eq!(config.is_ok(), record_ok, "{codec:?} level {level}");
                if let Ok(config) = config {
                    assert_eq!(config.compression_level(), Some(level));
                    let options = config.batch_options();
                    assert_eq!(options.compression, codec);
                    assert_eq!(options.compression_level, Some(level));
                }
            }
        }
    }

    #[test]
    fn acks_parse_print_and_map_to_the_wire() {
        for (java, acks, wire) in [
            ("all", Acks::All, -1),
            ("-1", Acks::All, -1),
            ("0", Acks::None, 0),
            ("1", Acks::Leader, 1),
        ] {
            let parsed: Acks = java.parse().unwrap();
            assert_eq!(parsed, acks);
            assert_eq!(parsed.as_i16(), wire);
        }
        assert_eq!(Acks::default(), Acks::All);
        assert_eq!(Acks::All.to_string(), "all");
        assert!(" 1 ".parse::<Acks>().is_ok(), "trimmed like Java");
        assert!("-2".parse::<Acks>().is_err());
    }

    #[test]
    fn debug_shows_java_keys_and_values() {
        let builder = every_setting_typed();
        let text = format!("{builder:?}");
        assert!(text.contains("\"linger.ms\": \"20\""), "{text}");
        let config = base().client_id("c").acks(Acks::Leader).build().unwrap();
        let text = format!("{config:?}");
        assert!(text.contains("\"enable.idempotence\": \"false\""), "{text}");
        assert!(text.contains("IdempotenceDisabled"), "{text}");
    }

    #[test]
    fn connection_settings_follow_the_producer_config() {
        let c = base()
            .client_id("svc")
            .request_timeout(Duration::from_secs(7))
            .socket_connection_setup_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let net = c.connection_config();
        assert_eq!(net.client_id.as_deref(), Some("svc"));
        assert_eq!(net.request_timeout, Duration::from_secs(7));
        assert_eq!(net.connect_timeout, Duration::from_secs(2));
        assert_eq!(
            net.max_frame_size,
            ConnectionConfig::default().max_frame_size
        );
    }
}
