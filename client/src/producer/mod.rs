//! The producer: configuration, records, partitioners, the record accumulator, idempotence
//! state, the Produce request/response rules ([`sink`]) and the async [`Producer`] with its
//! four send modes ([`client`]).
//!
//! Owns producer behaviour; reaches brokers only through [`crate::net`] and batches only through
//! [`crate::record`].

pub mod accumulator;
pub mod client;
pub mod config;
pub mod idempotence;
pub mod partitioner;
pub mod record;
pub mod sink;

pub use client::{
    DeliveryFuture, DeliveryResult, ErrorHook, LostRecords, ProduceError, Producer, ProducerError,
    ProducerMetrics, SendError, TypedProducer,
};
pub use config::{ProducerConfig, ProducerConfigBuilder};
pub use record::{ProducerHeader, ProducerRecord, RecordMetadata};
