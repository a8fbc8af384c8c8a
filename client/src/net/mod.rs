//! TCP connections to Kafka brokers.
//!
//! **Owns:** sockets. A [`Connection`] is one TCP connection that performs the ApiVersions
//! handshake, then pipelines many requests and matches responses to them by correlation id,
//! with a per-request timeout. A [`ConnectionPool`] keeps one connection per broker id,
//! connecting lazily and replacing dead connections.
//!
//! **Must not touch:** cluster metadata (which broker leads what; the pool is only told broker
//! addresses), and retries of user data: a request that fails here fails once, with an error
//! that says whether retrying may help ([`NetError::is_retriable`]). Deciding to retry, and with
//! which sequence numbers, belongs to the producer/consumer layers.
//!
//! ```no_run
//! use kafkit::messages::MetadataRequest;
//! use kafkit::net::{ConnectionConfig, ConnectionPool};
//!
//! # async fn example() -> Result<(), kafkit::net::NetError> {
//! let pool = ConnectionPool::new(ConnectionConfig::default(), ["localhost:9092"]);
//! let (_, bootstrap) = pool.any().await?;
//! let metadata = bootstrap.send(MetadataRequest::default()).await?;
//! pool.update_brokers(
//!     metadata.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port))),
//! );
//! # Ok(())
//! # }
//! ```

use std::io;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use crate::protocol::frame::{DEFAULT_MAX_FRAME_SIZE, ProtocolError};
use crate::protocol::versions::{ApiVersionTable, VersionError};

mod connection;
mod pool;

#[cfg(test)]
mod fake_broker;

pub use connection::Connection;
pub use pool::ConnectionPool;

/// Settings for connections to brokers.
///
/// ```
/// use std::time::Duration;
/// use kafkit::net::ConnectionConfig;
///
/// let config = ConnectionConfig {
///     client_id: Some("billing-service".into()),
///     request_timeout: Duration::from_secs(10),
///     ..ConnectionConfig::default()
/// };
/// assert_eq!(config.connect_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The `client.id` sent in every request header (default `Some("kafkit")`).
    pub client_id: Option<String>,
    /// `client_software_name` in ApiVersions v3+ (default `"kafkit"`).
    pub client_software_name: String,
    /// `client_software_version` in ApiVersions v3+ (default: this crate's version).
    pub client_software_version: String,
    /// How long a request may wait for its response (`request.timeout.ms`, default 30 s). A
    /// timed-out request fails with [`NetError::Timeout`] and the connection is closed, since
    /// the state of the requests in flight on it is unknown.
    pub request_timeout: Duration,
    /// How long establishing the TCP connection may take
    /// (`socket.connection.setup.timeout.ms`, default 10 s).
    pub connect_timeout: Duration,
    /// The largest response frame accepted (default 100 MiB); a bigger one closes the
    /// connection with [`ProtocolError::FrameTooLarge`].
    pub max_frame_size: usize,
    /// How many requests may wait to be written before `send` waits for room (default 1024).
    pub max_queued_requests: usize,
    /// The API versions the client implements, negotiated with each broker on connect.
    pub api_versions: ApiVersionTable,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: Some("kafkit".to_owned()),
            client_software_name: "kafkit".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_queued_requests: 1024,
            api_versions: ApiVersionTable::default(),
        }
    }
}

/// Errors from connections and the pool.
///
/// ```
/// use kafkit::net::NetError;
/// assert!(NetError::Disconnected("connection reset".into()).is_retriable());
/// assert!(!NetError::UnknownBroker(7).is_retriable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The TCP connection could not be established.
    #[error("failed to connect to {addr}: {source}")]
    Connect {
        /// The broker address.
        addr: String,
        /// The I/O error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The TCP connection was not established within `connect_timeout`.
    #[error("timed out connecting to {addr} after {timeout:?}")]
    ConnectTimeout {
        /// The broker address.
        addr: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The connection is gone (closed by the broker, an I/O error, a protocol error, a timeout of
    /// another request, or closed locally) and the request's outcome is unknown.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// No response arrived within `request_timeout`; the connection has been closed.
    #[error("{api:?} request timed out after {timeout:?}")]
    Timeout {
        /// The API of the request.
        api: ApiKey,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// A request could not be encoded or its response could not be decoded.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The API or version is not supported on this connection.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The broker answered the ApiVersions handshake with an error code.
    #[error("ApiVersions handshake with {addr} failed with error code {error_code}")]
    Handshake {
        /// The broker address.
        addr: String,
        /// The Kafka error code.
        error_code: i16,
    },
    /// The pool has no address for this broker id.
    #[error("unknown broker id {0}")]
    UnknownBroker(i32),
    /// None of the known brokers could be reached.
    #[error("no broker could be reached: {0}")]
    NoBrokerAvailable(String),
    /// The pool has been closed.
    #[error("connection pool is closed")]
    PoolClosed,
}

impl NetError {
    /// Whether the same operation may succeed if tried again later (possibly on a new
    /// connection): connection failures, disconnects and timeouts. The outcome of a request that
    /// failed this way is unknown: it may have been applied by the broker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kafkit::messages::ApiKey;
    /// use kafkit::net::NetError;
    /// assert!(NetError::Timeout { api: ApiKey::Produce, timeout: Duration::from_secs(30) }.is_retriable());
    /// assert!(!NetError::PoolClosed.is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            NetError::Connect { .. }
                | NetError::ConnectTimeout { .. }
                | NetError::Disconnected(_)
                | NetError::Timeout { .. }
                | NetError::NoBrokerAvailable(_)
        )
    }
}
