//! [`AdminError`]: why an admin operation (or one item of it) failed.
//!
//! Owns: the admin layer's error type and its retriability. Must not touch: retry policy
//! (the client decides when to retry, bounded by the operation's timeout).

use std::time::Duration;

use crate::cluster::ClusterError;
use crate::net::NetError;
use crate::protocol::ErrorCode;
use crate::protocol::frame::ProtocolError;
use crate::protocol::versions::VersionError;

/// An admin operation's failure, or the failure of one topic, group, resource or partition
/// within it.
///
/// ```
/// use kafkit::admin::AdminError;
/// use kafkit::protocol::ErrorCode;
///
/// let err = AdminError::broker(ErrorCode::TopicAlreadyExists, Some("Topic 'x' already exists.".into()));
/// assert_eq!(err.error_code(), Some(ErrorCode::TopicAlreadyExists));
/// assert!(!err.is_retriable());
/// assert!(err.to_string().contains("already exists"));
/// assert!(AdminError::broker(ErrorCode::NotController, None).is_retriable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The broker answered with an error code (and usually a message saying why).
    #[error("{}: {}", code.name(), message.as_deref().unwrap_or(code.description()))]
    Broker {
        /// The error code.
        code: ErrorCode,
        /// The broker's error message, or one kafkit wrote when it decided without asking.
        message: Option<String>,
    },
    /// No broker could be reached, or the request failed on the wire.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Cluster metadata could not be fetched.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// No API version is shared with the broker, or the chosen version cannot express the
    /// request.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A response could not be decoded (e.g. a group member's assignment bytes).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The request is invalid before it is sent (kafkit checks what it can locally).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The operation did not finish within its timeout.
    #[error("admin operation timed out after {0:?}")]
    Timeout(Duration),
}

impl AdminError {
    /// A broker error with its message.
    pub fn broker(code: ErrorCode, message: Option<String>) -> AdminError {
        AdminError::Broker { code, message }
    }

    /// A broker error from raw response fields, `None` when `code` is 0.
    pub(crate) fn from_response(code: i16, message: Option<&impl ToString>) -> Option<AdminError> {
        let code = ErrorCode::from_code(code);
        (code != ErrorCode::None).then(|| AdminError::Broker {
            code,
            message: message.map(|m| m.to_string()).filter(|m| !m.is_empty()),
        })
    }

    /// The Kafka error code behind this error, if there is one.
    ///
    /// ```
    /// use kafkit::admin::AdminError;
    /// assert_eq!(AdminError::InvalidRequest("x".into()).error_code(), None);
    /// ```
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Broker { code, .. } => Some(*code),
            AdminError::Cluster(ClusterError::Broker(code))
            | AdminError::Cluster(ClusterError::Topic { error: code, .. }) => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying (after a back-off, with fresh metadata) may succeed: Kafka's retriable
    /// codes, controller and coordinator moves, disconnects.
    ///
    /// ```
    /// use kafkit::admin::AdminError;
    /// use kafkit::protocol::ErrorCode;
    /// assert!(AdminError::broker(ErrorCode::CoordinatorLoadInProgress, None).is_retriable());
    /// assert!(!AdminError::broker(ErrorCode::InvalidPartitions, None).is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            AdminError::Broker { code, .. } => {
                code.is_retriable()
                    || matches!(
                        code,
                        ErrorCode::NotController
                            | ErrorCode::NotCoordinator
                            | ErrorCode::CoordinatorNotAvailable
                            | ErrorCode::CoordinatorLoadInProgress
                    )
            }
            AdminError::Net(e) => e.is_retriable(),
            AdminError::Cluster(e) => e.is_retriable(),
            AdminError::Version(_)
            | AdminError::Protocol(_)
            | AdminError::InvalidRequest(_)
            | AdminError::Timeout(_) => false,
        }
    }
}
