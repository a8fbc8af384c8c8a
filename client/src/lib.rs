//! # kafkit
//!
//! A pure-Rust Apache Kafka client.
//!
//! The crate is layered; each layer is usable and testable on its own:
//!
//! | module | owns | must not touch |
//! |---|---|---|
//! | [`protocol`] | request/response framing, header versions, error codes, version negotiation (sans-IO) | sockets, tokio, clocks |
//! | [`record`] | the record batch v2 codec and compression (sans-IO, the hot path) | sockets, tokio, clocks |
//! | [`net`] | TCP connections that pipeline requests, the per-broker connection pool | metadata, retries of user data |
//! | [`cluster`] | the metadata snapshot (brokers, topics, leaders, epochs) and its refresh | sockets directly |
//! | [`config`], [`serde`] | Java-style property tables; serializers and deserializers | I/O |
//! | [`producer`] | the async `Producer`: partitioners, batching, retries, idempotence, four send modes | framing details |
//! | [`consumer`] | consumer groups, assignors, fetch positions and records | framing details |
//! | [`admin`] | topics, partitions, configs, groups, offsets | framing details |
//!
//! API messages themselves come from the [`kafka_protocol`] crate, re-exported as
//! [`messages`]; kafkit owns the framing around them and the record batch format inside them.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod cluster;
pub mod config;
pub mod consumer;
pub(crate) mod hash;
pub mod net;
pub mod producer;
pub mod protocol;
pub mod record;
pub mod serde;

/// The Kafka API message structs (requests, responses, headers), from the `kafka-protocol` crate.
pub use kafka_protocol::messages;

/// A topic and a partition index, shared by the producer, the consumer and the admin client.
pub use producer::accumulator::TopicPartition;
