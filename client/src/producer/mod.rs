//! The producer: configuration, records, partitioners (and, to come, the accumulator, the
//! per-broker sink and the send modes).
//!
//! Owns producer behaviour; reaches brokers only through [`crate::net`] and batches only through
//! [`crate::record`].

pub mod config;
pub mod partitioner;
pub mod record;
