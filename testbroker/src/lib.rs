//! # kafkit-testbroker
//!
//! An in-process, replicated Apache Kafka cluster for test suites. It speaks the real Kafka wire
//! protocol on 127.0.0.1 ephemeral ports, reusing `kafkit::protocol` and `kafkit::record`.
//!
//! Status: the cluster itself is built in the test-broker issues; this crate currently exposes
//! only the wire-level pieces it shares with the client.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use kafkit::protocol;
pub use kafkit::record;
