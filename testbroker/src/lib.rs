//! # kafkit-testbroker
//!
//! An in-process Apache Kafka cluster for test suites. Several brokers listen on 127.0.0.1
//! ephemeral ports and speak the real wire protocol, so any client (kafkit, librdkafka,
//! kafka-python, kafkajs, the Java client) can use it unchanged. It reuses
//! [`kafkit::protocol`] for framing and [`kafkit::record`] for record batches.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kafkit_testbroker::Cluster;
//!
//! let cluster = Cluster::builder()
//!     .brokers(3)
//!     .topic("orders", 6, 3)
//!     .topic_config("orders", "min.insync.replicas", "2")
//!     .build()
//!     .await?;
//! // Point any Kafka client at this.
//! let bootstrap_servers = cluster.bootstrap_servers();
//! # assert_eq!(bootstrap_servers.split(',').count(), 3);
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Layout
//!
//! | module | owns |
//! |---|---|
//! | [`cluster`] | the embedding API: builder, handle, shutdown |
//! | [`controller`] | the single writer of metadata: topics, partitions, leaders, configs |
//! | [`faults`] | fault injection: isolation, paused replication, request interception |
//! | [`metadata`] | the immutable metadata image the controller publishes |
//! | `broker` | one broker: listener, connections, the replicas it hosts |
//! | `handlers` | one file per Kafka API |
//! | [`log`] | a replica's log: segments, indexes, retention, truncation |
//! | [`producer_state`] | idempotent producer sequence checks |
//! | [`replication`] | ISR, high watermark and truncation rules as plain functions |
//! | [`config`] | topic configs, names and defaults |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod broker;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod faults;
mod faults_api;
mod group;
mod handlers;
pub mod log;
pub mod metadata;
pub mod producer_state;
pub mod replication;

pub use cluster::{BlockingCluster, BrokerInfo, Cluster, ClusterBuilder, ClusterError};
pub use faults::{FaultAction, FaultMatch, FaultRule, RequestRecord};
pub use faults_api::ReplicaInfo;
