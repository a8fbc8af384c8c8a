//! The admin client (Java's `Admin`): topics, partitions, configs, the cluster, consumer
//! groups, offsets and record deletion.
//!
//! **Owns:** [`AdminClient`] and its typed inputs, results and errors ([`AdminError`]); which
//! broker each admin request goes to (the controller for topic and partition changes, the
//! partition leader for ListOffsets and DeleteRecords, the group coordinator for group
//! requests, every broker for ListGroups, the named broker for broker configs); retrying
//! retriable errors with back-off within each operation's timeout.
//!
//! **Must not touch:** sockets (it uses [`crate::net::ConnectionPool`]), the producer's and
//! consumer's state, or group membership (it only reads and deletes groups).
//!
//! Every operation is bounded by [`AdminOptions::timeout`] (default `default.api.timeout.ms`).
//! Operations on several items (topics, groups, resources, partitions) return one result per
//! item, so one failure does not hide the others; the outer `Result` fails only when the
//! operation as a whole could not run.
//!
//! ```no_run
//! use kafkit::admin::{AdminClient, AdminConfig, AdminOptions, NewTopic};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let admin = AdminClient::new(AdminConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
//! let created = admin
//!     .create_topics(vec![NewTopic::new("orders", 6, 3)], AdminOptions::default())
//!     .await?;
//! created["orders"].as_ref().map_err(|e| e.clone())?;
//! let described = admin.describe_topics(&["orders"], AdminOptions::default()).await?;
//! println!("{:?}", described["orders"]);
//! # Ok(())
//! # }
//! ```

mod config;
mod configs;
mod error;
mod groups;
mod offsets;
mod topics;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    IncrementalAlterConfigsRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    MetadataResponse, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use crate::TopicPartition;
use crate::cluster::{BrokerNode, Metadata, MetadataSnapshot};
use crate::config::ConfigError;
use crate::consumer::assignor::decode_assignment;
use crate::consumer::group::{OffsetAndMetadata, offset_fetch_partitions};
use crate::net::{Connection, ConnectionPool};
use crate::protocol::ErrorCode;

pub use config::{ADMIN_CONFIG_KEYS, AdminConfig, AdminConfigBuilder};
pub use error::AdminError;
pub use types::{
    AdminOptions, AlterConfigOp, AlterOpType, ClusterDescription, ConfigEntry, ConfigResource,
    ConfigSource, CreatedTopic, GroupDescription, GroupListing, ListedOffset, MemberDescription,
    NewPartitions, NewTopic, OffsetSpec, PartitionDescription, PartitionLag, PartitionResults,
    TopicDescription, TopicListing,
};

/// Per-item results of an operation on several named items.
pub type ItemResults<K, T> = BTreeMap<K, Result<T, AdminError>>;

/// The FindCoordinator key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn remaining_ms(deadline: Instant) -> i32 {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    i32::try_from(left).unwrap_or(i32::MAX).max(1)
}

/// A request for a group of items (one broker's partitions, one target's resources) that
/// failed as a whole (no connection, no common version, a network error) fails each item of
/// the group with that error.
fn fail_group<K: Ord, T>(
    results: &mut ItemResults<K, T>,
    items: impl IntoIterator<Item = K>,
    outcome: Result<(), AdminError>,
) {
    if let Err(e) = outcome {
        for item in items {
            results.insert(item, Err(e.clone()));
        }
    }
}

fn missing(what: impl std::fmt::Display) -> AdminError {
    AdminError::broker(
        ErrorCode::UnknownServerError,
        Some(format!("the broker's response did not mention {what}")),
    )
}

/// Retriable, except that an unknown topic is an answer (deleting or describing a topic that
/// does not exist), not a transient state.
fn retriable_topic_error(e: &AdminError) -> bool {
    e.is_retriable() && e.error_code() != Some(ErrorCode::UnknownTopicOrPartition)
}

/// A Kafka admin client.
///
/// ```no_run
/// use kafkit::admin::{AdminClient, AdminConfig, AdminOptions};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let admin = AdminClient::new(AdminConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
/// let cluster = admin.describe_cluster(AdminOptions::default()).await?;
/// println!("cluster {} has {} brokers", cluster.cluster_id, cluster.brokers.len());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AdminClient {
    config: AdminConfig,
    pool: Arc<ConnectionPool>,
    metadata: Metadata,
}

impl AdminClient {
    /// A client for the cluster behind `config.bootstrap_servers`. Nothing connects until the
    /// first operation.
    ///
    /// ```
    /// use kafkit::admin::{AdminClient, AdminConfig};
    /// let admin = AdminClient::new(AdminConfig::builder().bootstrap_servers("localhost:9092").build()?)?;
    /// assert_eq!(admin.config().client_id, "kafkit-admin");
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn new(config: AdminConfig) -> Result<AdminClient, ConfigError> {
        let connection = config.connection_config();
        Self::with_connection_config(config, connection)
    }

    /// A client whose connections use `connection` instead of the settings `config` implies
    /// (for instance a narrower [`ApiVersionTable`](crate::protocol::versions::ApiVersionTable)
    /// to pin API versions).
    ///
    /// ```
    /// use kafkit::admin::{AdminClient, AdminConfig};
    /// use kafkit::messages::ApiKey;
    ///
    /// let config = AdminConfig::builder().bootstrap_servers("localhost:9092").build()?;
    /// let mut connection = config.connection_config();
    /// connection.api_versions = connection.api_versions.with_range(ApiKey::CreateTopics, 2, 4);
    /// let admin = AdminClient::with_connection_config(config, connection)?;
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn with_connection_config(
        config: AdminConfig,
        connection: crate::net::ConnectionConfig,
    ) -> Result<AdminClient, ConfigError> {
        config.validate()?;
        let pool = Arc::new(ConnectionPool::new(
            connection,
            config.bootstrap_servers.clone(),
        ));
        let metadata = Metadata::new(pool.clone(), false);
        Ok(AdminClient {
            config,
            pool,
            metadata,
        })
    }

    /// The configuration.
    ///
    /// ```
    /// # let admin = kafkit::admin::AdminClient::new(kafkit::admin::AdminConfig::builder().bootstrap_servers("h:1").build()?)?;
    /// assert_eq!(admin.config().bootstrap_servers, vec!["h:1".to_string()]);
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// Closes every connection; later operations fail.
    ///
    /// ```
    /// # let admin = kafkit::admin::AdminClient::new(kafkit::admin::AdminConfig::builder().bootstrap_servers("h:1").build()?)?;
    /// admin.close();
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn close(&self) {
        self.pool.close();
    }

    fn timeout(&self, opts: &AdminOptions) -> Duration {
        opts.timeout.unwrap_or(self.config.default_api_timeout)
    }

    // ---- retries ------------------------------------------------------------------------

    /// Runs `attempt` until it succeeds, fails with a non-retriable error, or `timeout` passes.
    async fn retry<T, F, Fut>(&self, timeout: Duration, mut attempt: F) -> Result<T, AdminError>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Result<T, AdminError>>,
    {
        let deadline = Instant::now() + timeout;
        let mut backoff = self.config.retry_backoff;
        loop {
            let error = match tokio::time::timeout_at(deadline, attempt(deadline)).await {
                Err(_) => return Err(AdminError::Timeout(timeout)),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if !e.is_retriable() => return Err(e),
                Ok(Err(e)) => e,
            };
            tracing::debug!(%error, "admin request failed; retrying");
            if Instant::now() + backoff >= deadline {
                return Err(error);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.config.retry_backoff_max);
        }
    }

    /// Runs `attempt` on the items still pending until each has a final result or `timeout`
    /// passes; items whose result is retriable (per `retriable`) are sent again after a
    /// back-off. A failure of the whole attempt is retried for every pending item.
    async fn retry_items<K, V, F, Fut>(
        &self,
        timeout: Duration,
        keys: impl IntoIterator<Item = K>,
        retriable: fn(&AdminError) -> bool,
        mut attempt: F,
    ) -> Result<ItemResults<K, V>, AdminError>
    where
        K: Ord + Clone,
        F: FnMut(Vec<K>, Instant) -> Fut,
        Fut: Future<Output = Result<ItemResults<K, V>, AdminError>>,
    {
        let deadline = Instant::now() + timeout;
        let mut done: ItemResults<K, V> = BTreeMap::new();
        let mut pending: BTreeMap<K, AdminError> = keys
            .into_iter()
            .map(|k| (k, AdminError::Timeout(timeout)))
            .collect();
        let mut backoff = self.config.retry_backoff;
        while !pending.is_empty() {
            let keys: Vec<K> = pending.keys().cloned().collect();
            match tokio::time::timeout_at(deadline, attempt(keys, deadline)).await {
                Err(_) => {
                    for e in pending.values_mut() {
                        if !e.is_retriable() {
                            *e = AdminError::Timeout(timeout);
                        }
                    }
                    break;
                }
                Ok(Err(e)) if !e.is_retriable() => {
                    if done.is_empty() {
                        return Err(e);
                    }
                    for (k, _) in std::mem::take(&mut pending) {
                        done.insert(k, Err(e.clone()));
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "admin request failed; retrying");
                    for v in pending.values_mut() {
                        *v = e.clone();
                    }
                }
                Ok(Ok(results)) => {
                    for (k, result) in results {
                        if !pending.contains_key(&k) {
                            continue;
                        }
                        match result {
                            Err(e) if retriable(&e) => {
                                tracing::debug!(error = %e, "admin item failed; retrying");
                                pending.insert(k, e);
                            }
                            result => {
                                pending.remove(&k);
                                done.insert(k, result);
                            }
                        }
                    }
                }
            }
            if pending.is_empty() || Instant::now() + backoff >= deadline {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.config.retry_backoff_max);
        }
        for (k, e) in pending {
            done.insert(k, Err(e));
        }
        Ok(done)
    }

    // ---- routing ------------------------------------------------------------------------

    /// Brokers and controller, refreshed.
    async fn cluster_snapshot(&self) -> Result<Arc<MetadataSnapshot>, AdminError> {
        Ok(self.metadata.refresh(Some(&[])).await?)
    }

    /// A connection to the controller (any broker when the controller is unknown).
    async fn controller(&self) -> Result<Arc<Connection>, AdminError> {
        let snapshot = self.cluster_snapshot().await?;
        if snapshot.controller_id >= 0 && snapshot.brokers.contains_key(&snapshot.controller_id) {
            return Ok(self.pool.get(snapshot.controller_id).await?);
        }
        Ok(self.pool.any().await?.1)
    }

    /// A connection to broker `id`, learning its address first if needed.
    async fn broker(&self, id: i32) -> Result<Arc<Connection>, AdminError> {
        if self.pool.addr(id).is_none() {
            self.cluster_snapshot().await?;
        }
        Ok(self.pool.get(id).await?)
    }

    /// The coordinator of `group` (FindCoordinator) and a connection to it.
    async fn coordinator(&self, group: &str) -> Result<(i32, Arc<Connection>), AdminError> {
        let (_, conn) = self.pool.any().await?;
        let version = conn.versions().version(ApiKey::FindCoordinator)?;
        let mut request = FindCoordinatorRequest::default();
        if version >= 4 {
            request.coordinator_keys = vec![s(group)];
        } else {
            request.key = s(group);
        }
        if version >= 1 {
            request.key_type = KEY_TYPE_GROUP;
        }
        let response = conn.send_with_version(request, version).await?;
        let (code, message, node) = if version >= 4 {
            let c = response
                .coordinators
                .first()
                .ok_or_else(|| missing(format!("group '{group}'")))?;
            (c.error_code, c.error_message.clone(), c.node_id.0)
        } else {
            (
                response.error_code,
                response.error_message.clone(),
                response.node_id.0,
            )
        };
        if let Some(e) = AdminError::from_response(code, message.as_ref()) {
            return Err(e);
        }
        Ok((node, self.broker(node).await?))
    }

    /// Groups `keys` by the leader of each partition; partitions that cannot be routed get an
    /// error instead.
    async fn by_leader(
        &self,
        keys: Vec<TopicPartition>,
    ) -> Result<
        (
            BTreeMap<i32, Vec<TopicPartition>>,
            Vec<(TopicPartition, AdminError)>,
        ),
        AdminError,
    > {
        let topics: BTreeSet<&str> = keys.iter().map(|tp| &*tp.topic).collect();
        let topics: Vec<&str> = topics.into_iter().collect();
        let snapshot = self.metadata.refresh(Some(&topics)).await?;
        let mut leaders: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        let mut failed = Vec::new();
        for tp in keys {
            if let Some(&code) = snapshot.topic_errors.get(&*tp.topic) {
                failed.push((tp, AdminError::broker(code, None)));
                continue;
            }
            let Some(topic) = snapshot.topic(&tp.topic) else {
                failed.push((
                    tp,
                    AdminError::broker(ErrorCode::UnknownTopicOrPartition, None),
                ));
                continue;
            };
            match topic
                .partitions
                .iter()
                .find(|p| p.partition == tp.partition)
            {
                None => {
                    let message = format!(
                        "topic '{}' has {} partitions; partition {} does not exist",
                        tp.topic,
                        topic.partitions.len(),
                        tp.partition
                    );
                    failed.push((
                        tp,
                        AdminError::broker(ErrorCode::UnknownTopicOrPartition, Some(message)),
                    ));
                }
                Some(p) => match p.leader {
                    Some(leader) => leaders.entry(leader).or_default().push(tp),
                    None => {
                        failed.push((tp, AdminError::broker(ErrorCode::LeaderNotAvailable, None)))
                    }
                },
            }
        }
        Ok((leaders, failed))
    }

    /// A Metadata request for `topics` (all for `None`), sent as is (nothing auto-created).
    async fn raw_metadata(&self, topics: Option<&[&str]>) -> Result<MetadataResponse, AdminError> {
        let (_, conn) = self.pool.any().await?;
        let version = conn.versions().version(ApiKey::Metadata)?;
        let mut request = MetadataRequest::default().with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(s(t)))))
                .collect()
        }));
        if version >= 4 {
            request.allow_auto_topic_creation = false;
        }
        let response = conn.send_with_version(request, version).await?;
        if let Some(e) = AdminError::from_response(response.error_code, None::<&String>) {
            return Err(e);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn client() -> AdminClient {
        AdminClient::new(
            AdminConfig::builder()
                .bootstrap_servers("127.0.0.1:9")
                .build()
                .unwrap(),
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn retriable_items_are_resent_alone_and_final_ones_kept() {
        let admin = client();
        let sent: Mutex<Vec<Vec<&str>>> = Mutex::new(Vec::new());
        let results = admin
            .retry_items(
                Duration::from_secs(10),
                ["a", "b", "c"],
                AdminError::is_retriable,
                |pending, _| {
                    let round = {
                        let mut sent = sent.lock().unwrap();
                        sent.push(pending.clone());
                        sent.len()
                    };
                    async move {
                        Ok(pending
                            .into_iter()
                            .map(|k| {
                                let r = match (k, round) {
                                    ("a", 1) => {
                                        Err(AdminError::broker(ErrorCode::NotController, None))
                                    }
                                    ("b", _) => {
                                        Err(AdminError::broker(ErrorCode::TopicAlreadyExists, None))
                                    }
                                    _ => Ok(round),
                                };
                                (k, r)
                            })
                            .collect())
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(*sent.lock().unwrap(), vec![vec!["a", "b", "c"], vec!["a"]]);
        assert_eq!(results["a"].as_ref().unwrap(), &2);
        assert_eq!(
            results["b"].as_ref().unwrap_err().error_code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
        assert_eq!(results["c"].as_ref().unwrap(), &1);
    }

    #[tokio::test(start_paused = true)]
    async fn items_still_failing_at_the_deadline_keep_their_last_error() {
        let admin = client();
        let started = Instant::now();
        let results: ItemResults<&str, ()> = admin
            .retry_items(
                Duration::from_secs(3),
                ["a"],
                AdminError::is_retriable,
                |pending, _| async move {
                    Ok(pending
                        .into_iter()
                        .map(|k| {
                            (
                                k,
                                Err(AdminError::broker(ErrorCode::LeaderNotAvailable, None)),
                            )
                        })
                        .collect())
                },
            )
            .await
            .unwrap();
        assert_eq!(
            results["a"].as_ref().unwrap_err().error_code(),
            Some(ErrorCode::LeaderNotAvailable)
        );
        assert!(started.elapsed() <= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_hangs_times_out() {
        let admin = client();
        let err = admin
            .retry(Duration::from_secs(2), |_| {
                std::future::pending::<Result<(), AdminError>>()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::Timeout(d) if d == Duration::from_secs(2)));
        let results: ItemResults<&str, ()> = admin
            .retry_items(
                Duration::from_secs(2),
                ["x"],
                AdminError::is_retriable,
                |_, _| std::future::pending(),
            )
            .await
            .unwrap();
        assert!(matches!(results["x"], Err(AdminError::Timeout(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_non_retriable_failure_is_not_retried() {
        let admin = client();
        let calls = Mutex::new(0);
        let err = admin
            .retry(Duration::from_secs(5), |_| {
                *calls.lock().unwrap() += 1;
                async { Err::<(), _>(AdminError::broker(ErrorCode::InvalidPartitions, None)) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.error_code(), Some(ErrorCode::InvalidPartitions));
        assert_eq!(*calls.lock().unwrap(), 1);
    }

    #[test]
    fn unknown_topics_are_final_for_topic_operations() {
        let unknown = AdminError::broker(ErrorCode::UnknownTopicOrPartition, None);
        assert!(unknown.is_retriable());
        assert!(!retriable_topic_error(&unknown));
        assert!(retriable_topic_error(&AdminError::broker(
            ErrorCode::NotController,
            None
        )));
    }

    #[test]
    fn config_resources_are_routed_and_recognised() {
        let targets = AdminClient::config_targets(vec![
            ConfigResource::Topic("a".into()),
            ConfigResource::Broker(2),
            ConfigResource::Topic("b".into()),
        ]);
        assert_eq!(targets[&None].len(), 2);
        assert_eq!(targets[&Some(2)], vec![ConfigResource::Broker(2)]);
        assert_eq!(
            AdminClient::resource_of(4, "2"),
            Some(ConfigResource::Broker(2))
        );
        assert_eq!(
            AdminClient::resource_of(2, "t"),
            Some(ConfigResource::Topic("t".into()))
        );
        assert_eq!(AdminClient::resource_of(4, "x"), None);
        assert_eq!(AdminClient::resource_of(8, "x"), None);
    }

    #[test]
    fn remaining_time_is_positive_and_bounded() {
        let now = Instant::now();
        assert_eq!(remaining_ms(now), 1);
        assert!(remaining_ms(now + Duration::from_secs(1)) <= 1000);
        assert_eq!(
            remaining_ms(now + Duration::from_secs(u32::MAX as u64)),
            i32::MAX
        );
    }
}
