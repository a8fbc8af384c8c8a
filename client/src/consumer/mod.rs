//! The consumer: configuration, consumer records, partition assignors and the ConsumerProtocol
//! bytes, the sans-IO fetch state, and group membership.
//!
//! Owns consumer behaviour; reaches brokers only through [`crate::net`], leaders only through
//! [`crate::cluster`] and batches only through [`crate::record`].
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | `ConsumerConfig`: typed builder and Java property names, Java defaults |
//! | [`record`] | `ConsumerRecord`: one record handed to the user (zero-copy `Bytes`) |
//! | [`assignor`] | the `Assignor` trait, `range`, `roundrobin`, `sticky`, `cooperative-sticky`, and the ConsumerProtocol subscription/assignment bytes (sans-IO) |
//! | [`fetcher`] | per-partition fetch positions, Fetch requests and the judgement of Fetch responses (sans-IO) |
//! | [`client`] | the async `Consumer` (Java's `KafkaConsumer`), the rebalance listener, the record `Stream` |
//! | [`stream`] | `BatchStream`: the consumer as a `Stream` of poll batches |
//! | [`typed`] | `TypedConsumer`: the consumer with key/value deserializers |
//! | [`group`] | classic group membership: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit/OffsetFetch |

pub mod assignor;
pub mod client;
pub mod config;
pub mod fetcher;
pub mod group;
pub mod record;
pub mod stream;
pub mod typed;

pub use client::{Consumer, ConsumerError, RebalanceContext, RebalanceListener, RecordStream};
pub use stream::BatchStream;
pub use typed::{TypedConsumer, TypedConsumerRecord};
