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
//! ## A complete test: a write survives a leader failover
//!
//! The cluster replicates for real (followers pull with Fetch), so a test can stop the leader
//! and check that what was acknowledged with `acks=all` is still there on the new leader. Here
//! the client is kafkit's wire layer; any Kafka client works the same way.
//!
//! ```
//! use std::time::Duration;
//!
//! use kafka_protocol::protocol::StrBytes;
//! use kafkit::messages::fetch_request::{FetchPartition, FetchTopic};
//! use kafkit::messages::produce_request::{PartitionProduceData, TopicProduceData};
//! use kafkit::messages::{FetchRequest, ProduceRequest, TopicName};
//! use kafkit::net::{Connection, ConnectionConfig};
//! use kafkit::record::{BatchBuilder, BatchIter, BatchOptions};
//! use kafkit_testbroker::Cluster;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder().brokers(3).topic("orders", 1, 3).build().await?;
//! let topic = cluster.metadata().topic("orders").unwrap().id;
//! let wait = Duration::from_secs(10);
//!
//! // Produce one record with acks=all to the partition leader.
//! let leader = cluster.wait_for_leader("orders", 0, wait).await?;
//! let addr = cluster.broker_addr(leader).unwrap().to_string();
//! let conn = Connection::connect(&addr, &ConnectionConfig::default()).await?;
//! let mut batch = BatchBuilder::new(BatchOptions::default());
//! batch.append(1_700_000_000_000, Some(b"order-1"), Some(b"paid"), &[])?;
//! let produce = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
//!     TopicProduceData::default()
//!         .with_name(TopicName(StrBytes::from_static_str("orders")))
//!         .with_topic_id(topic)
//!         .with_partition_data(vec![PartitionProduceData::default().with_records(Some(batch.finish()?))]),
//! ]);
//! let response = conn.send(produce).await?;
//! assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
//!
//! // The leader dies; the controller elects a new one from the in-sync replicas.
//! cluster.stop_broker(leader).await?;
//! let new_leader = cluster.wait_for_leader("orders", 0, wait).await?;
//! assert_ne!(new_leader, leader);
//! // Its high watermark catches up once the other in-sync replica fetched from it.
//! cluster.wait_for_replicas_in_sync("orders", 0, wait).await?;
//!
//! // The acknowledged record is on the new leader.
//! let addr = cluster.broker_addr(new_leader).unwrap().to_string();
//! let conn = Connection::connect(&addr, &ConnectionConfig::default()).await?;
//! let fetch = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
//!     FetchTopic::default()
//!         .with_topic(TopicName(StrBytes::from_static_str("orders")))
//!         .with_topic_id(topic)
//!         .with_partitions(vec![FetchPartition::default().with_partition_max_bytes(1 << 20)]),
//! ]);
//! let response = conn.send(fetch).await?;
//! let records = response.responses[0].partitions[0].records.clone().unwrap_or_default();
//! let batch = BatchIter::new(records).next().expect("one batch")?;
//! let record = batch.records()?.next().expect("one record")?;
//! assert_eq!(record.value.as_deref(), Some(&b"paid"[..]));
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Fault injection
//!
//! On the [`Cluster`] handle: [`Cluster::stop_broker`], [`Cluster::crash_broker`] (also loses
//! what was not flushed), [`Cluster::start_broker`], [`Cluster::isolate`] /
//! [`Cluster::isolate_with_clients`] / [`Cluster::heal`] (a stale leader keeps accepting
//! `acks=1` writes that are truncated after healing), [`Cluster::pause_replication`] /
//! [`Cluster::resume_replication`] (ISR shrinkage), [`Cluster::move_leader`], request
//! interception ([`Cluster::inject_error`], [`Cluster::delay_responses`],
//! [`Cluster::drop_connections`], or any [`FaultRule`] with [`Cluster::inject`]; one-shot,
//! counted or persistent), [`Cluster::request_log`], and waits with a deadline
//! ([`Cluster::wait_for_leader`], [`Cluster::wait_for_isr`], [`Cluster::wait_for_high_watermark`],
//! [`Cluster::wait_for_replicas_in_sync`], [`Cluster::wait_until`]).
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
//! | `group` | the consumer group coordinator (classic protocol) |
//! | [`log`] | a replica's log: segments, indexes, retention, truncation, leader epoch cache |
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
