//! The producer: configuration, records, partitioners, the record accumulator and idempotence
//! state (and, to come, the per-broker sink and the send modes).
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
