//! Kafka wire framing, error codes and API version negotiation.
//!
//! Sans-IO: everything here takes and gives bytes and structs. No sockets, no tokio, no clock.
//! The API message structs come from the `kafka-protocol` crate; this module owns the framing
//! around them (size prefix, request/response headers chosen per API version) and the typed
//! [`ErrorCode`].

pub mod error;
pub mod frame;
pub mod versions;

pub use error::ErrorCode;
pub use frame::ProtocolError;
pub use versions::{ApiVersionTable, NegotiatedVersions, VersionError};
