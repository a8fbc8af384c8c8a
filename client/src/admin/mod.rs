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
mod error;
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
use crate::consumer::group::OffsetAndMetadata;
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
        config.validate()?;
        let pool = Arc::new(ConnectionPool::new(
            config.connection_config(),
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

    // ---- topics -------------------------------------------------------------------------

    /// Creates topics (CreateTopics, sent to the controller). Each topic gets its own result:
    /// the created topic's id, partition count and replication factor, or why not
    /// (`TOPIC_ALREADY_EXISTS`, `INVALID_REPLICATION_FACTOR`, `INVALID_PARTITIONS`,
    /// `POLICY_VIOLATION`, ... with the broker's message). With
    /// [`AdminOptions::validate_only`] nothing is created.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use kafkit::admin::{AdminOptions, NewTopic};
    /// let results = admin
    ///     .create_topics(vec![NewTopic::new("events", 3, 2).with_config("retention.ms", "3600000")], AdminOptions::default())
    ///     .await?;
    /// let created = results["events"].clone()?;
    /// assert_eq!(created.partitions, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        opts: AdminOptions,
    ) -> Result<ItemResults<String, CreatedTopic>, AdminError> {
        let mut by_name: BTreeMap<String, NewTopic> = BTreeMap::new();
        let mut invalid: ItemResults<String, CreatedTopic> = BTreeMap::new();
        for topic in topics {
            if by_name.contains_key(&topic.name) || invalid.contains_key(&topic.name) {
                return Err(AdminError::InvalidRequest(format!(
                    "topic '{}' is listed twice",
                    topic.name
                )));
            }
            if topic.assignment.is_some()
                && (topic.partitions.is_some() || topic.replication_factor.is_some())
            {
                invalid.insert(
                    topic.name.clone(),
                    Err(AdminError::InvalidRequest(format!(
                        "topic '{}': give either an explicit assignment or partitions and a replication factor, not both",
                        topic.name
                    ))),
                );
                continue;
            }
            by_name.insert(topic.name.clone(), topic);
        }
        let by_name = &by_name;
        let mut results = self
            .retry_items(
                self.timeout(&opts),
                by_name.keys().cloned(),
                AdminError::is_retriable,
                |pending, deadline| async move {
                    let conn = self.controller().await?;
                    let version = conn.versions().version(ApiKey::CreateTopics)?;
                    let mut results = BTreeMap::new();
                    let mut request = CreateTopicsRequest::default()
                        .with_timeout_ms(remaining_ms(deadline))
                        .with_validate_only(opts.validate_only);
                    for name in pending {
                        let topic = &by_name[&name];
                        let uses_defaults = topic.assignment.is_none()
                            && (topic.partitions.is_none() || topic.replication_factor.is_none());
                        if uses_defaults && version < 4 {
                            results.insert(
                                name,
                                Err(AdminError::broker(
                                    ErrorCode::UnsupportedVersion,
                                    Some("broker defaults for partitions or replication factor need CreateTopics v4+".into()),
                                )),
                            );
                            continue;
                        }
                        request.topics.push(
                            CreatableTopic::default()
                                .with_name(TopicName(s(&topic.name)))
                                .with_num_partitions(topic.partitions.unwrap_or(-1))
                                .with_replication_factor(topic.replication_factor.unwrap_or(-1))
                                .with_assignments(
                                    topic
                                        .assignment
                                        .iter()
                                        .flatten()
                                        .map(|(p, brokers)| {
                                            CreatableReplicaAssignment::default()
                                                .with_partition_index(*p)
                                                .with_broker_ids(
                                                    brokers.iter().map(|b| BrokerId(*b)).collect(),
                                                )
                                        })
                                        .collect(),
                                )
                                .with_configs(
                                    topic
                                        .configs
                                        .iter()
                                        .map(|(k, v)| {
                                            CreatableTopicConfig::default()
                                                .with_name(s(k))
                                                .with_value(Some(s(v)))
                                        })
                                        .collect(),
                                ),
                        );
                        results.insert(name, Err(missing("the topic")));
                    }
                    if request.topics.is_empty() {
                        return Ok(results);
                    }
                    let response = conn.send_with_version(request, version).await?;
                    for t in response.topics {
                        let name = t.name.0.to_string();
                        if !results.contains_key(&name) {
                            continue;
                        }
                        let result = match AdminError::from_response(t.error_code, t.error_message.as_ref()) {
                            Some(e) => Err(e),
                            None => Ok(CreatedTopic {
                                topic_id: t.topic_id,
                                partitions: t.num_partitions,
                                replication_factor: t.replication_factor,
                            }),
                        };
                        results.insert(name, result);
                    }
                    Ok(results)
                },
            )
            .await?;
        results.append(&mut invalid);
        Ok(results)
    }

    /// Deletes topics (DeleteTopics, sent to the controller). A topic that does not exist
    /// fails with `UNKNOWN_TOPIC_OR_PARTITION`.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let results = admin.delete_topics(&["old-events"], Default::default()).await?;
    /// results["old-events"].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_topics(
        &self,
        names: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, ()>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            names.iter().map(|n| n.to_string()),
            retriable_topic_error,
            |pending, deadline| async move {
                let conn = self.controller().await?;
                let version = conn.versions().version(ApiKey::DeleteTopics)?;
                let mut request =
                    DeleteTopicsRequest::default().with_timeout_ms(remaining_ms(deadline));
                if version >= 6 {
                    request.topics = pending
                        .iter()
                        .map(|n| DeleteTopicState::default().with_name(Some(TopicName(s(n)))))
                        .collect();
                } else {
                    request.topic_names = pending.iter().map(|n| TopicName(s(n))).collect();
                }
                let response = conn.send_with_version(request, version).await?;
                let mut results: ItemResults<String, ()> = pending
                    .into_iter()
                    .map(|n| (n, Err(missing("the topic"))))
                    .collect();
                for t in response.responses {
                    let Some(name) = t.name.map(|n| n.0.to_string()) else {
                        continue;
                    };
                    if let Some(slot) = results.get_mut(&name) {
                        *slot =
                            match AdminError::from_response(t.error_code, t.error_message.as_ref())
                            {
                                Some(e) => Err(e),
                                None => Ok(()),
                            };
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    /// Raises topics' partition counts (CreatePartitions, sent to the controller). Partitions
    /// are never removed: a count at or below the current one fails with `INVALID_PARTITIONS`
    /// naming both counts (checked against fresh metadata before asking the broker).
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::admin::NewPartitions;
    /// let results = admin
    ///     .create_partitions(BTreeMap::from([("events".to_string(), NewPartitions::increase_to(6))]), Default::default())
    ///     .await?;
    /// results["events"].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_partitions(
        &self,
        topics: BTreeMap<String, NewPartitions>,
        opts: AdminOptions,
    ) -> Result<ItemResults<String, ()>, AdminError> {
        let mut refused: ItemResults<String, ()> = BTreeMap::new();
        let names: Vec<&str> = topics.keys().map(String::as_str).collect();
        if !names.is_empty() {
            if let Ok(snapshot) = self.metadata.refresh(Some(&names)).await {
                for (name, change) in &topics {
                    let Some(info) = snapshot.topic(name) else {
                        continue;
                    };
                    let current = info.partitions.len();
                    let requested = change.total_count;
                    if usize::try_from(requested).is_ok_and(|r| r > current) {
                        continue;
                    }
                    let message = if usize::try_from(requested).is_ok_and(|r| r == current) {
                        format!(
                            "topic '{name}' already has {current} partitions (requested {requested}); partitions can only be added"
                        )
                    } else {
                        format!(
                            "topic '{name}' has {current} partitions, more than the requested {requested}; partitions can only be added, never removed"
                        )
                    };
                    refused.insert(
                        name.clone(),
                        Err(AdminError::broker(
                            ErrorCode::InvalidPartitions,
                            Some(message),
                        )),
                    );
                }
            }
        }
        let topics = &topics;
        let to_send: Vec<String> = topics
            .keys()
            .filter(|n| !refused.contains_key(*n))
            .cloned()
            .collect();
        let mut results = if to_send.is_empty() {
            BTreeMap::new()
        } else {
            self.retry_items(
                self.timeout(&opts),
                to_send,
                retriable_topic_error,
                |pending, deadline| async move {
                    let conn = self.controller().await?;
                    let version = conn.versions().version(ApiKey::CreatePartitions)?;
                    let request = CreatePartitionsRequest::default()
                        .with_timeout_ms(remaining_ms(deadline))
                        .with_validate_only(opts.validate_only)
                        .with_topics(
                            pending
                                .iter()
                                .map(|n| {
                                    let change = &topics[n];
                                    CreatePartitionsTopic::default()
                                        .with_name(TopicName(s(n)))
                                        .with_count(change.total_count)
                                        .with_assignments(change.assignment.as_ref().map(|a| {
                                            a.iter()
                                                .map(|replicas| {
                                                    CreatePartitionsAssignment::default()
                                                        .with_broker_ids(
                                                            replicas
                                                                .iter()
                                                                .map(|b| BrokerId(*b))
                                                                .collect(),
                                                        )
                                                })
                                                .collect()
                                        }))
                                })
                                .collect(),
                        );
                    let response = conn.send_with_version(request, version).await?;
                    let mut results: ItemResults<String, ()> = pending
                        .into_iter()
                        .map(|n| (n, Err(missing("the topic"))))
                        .collect();
                    for t in response.results {
                        if let Some(slot) = results.get_mut(t.name.0.as_str()) {
                            *slot = match AdminError::from_response(
                                t.error_code,
                                t.error_message.as_ref(),
                            ) {
                                Some(e) => Err(e),
                                None => Ok(()),
                            };
                        }
                    }
                    Ok(results)
                },
            )
            .await?
        };
        results.append(&mut refused);
        Ok(results)
    }

    /// The cluster id, controller and brokers (DescribeCluster; Metadata on brokers without it).
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let cluster = admin.describe_cluster(Default::default()).await?;
    /// println!("controller: {:?}", cluster.controller);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_cluster(
        &self,
        opts: AdminOptions,
    ) -> Result<ClusterDescription, AdminError> {
        self.retry(self.timeout(&opts), |_| async {
            let (_, conn) = self.pool.any().await?;
            if conn.versions().supports(ApiKey::DescribeCluster) {
                let response = conn.send(DescribeClusterRequest::default()).await?;
                if let Some(e) =
                    AdminError::from_response(response.error_code, response.error_message.as_ref())
                {
                    return Err(e);
                }
                let mut brokers: Vec<BrokerNode> = response
                    .brokers
                    .iter()
                    .filter_map(|b| {
                        Some(BrokerNode {
                            id: b.broker_id.0,
                            host: b.host.to_string(),
                            port: u16::try_from(b.port).ok()?,
                            rack: b.rack.as_ref().map(|r| r.to_string()),
                        })
                    })
                    .collect();
                brokers.sort_by_key(|b| b.id);
                return Ok(ClusterDescription {
                    cluster_id: response.cluster_id.to_string(),
                    controller: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
                    brokers,
                });
            }
            let snapshot = self.cluster_snapshot().await?;
            Ok(ClusterDescription {
                cluster_id: snapshot.cluster_id.clone().unwrap_or_default(),
                controller: (snapshot.controller_id >= 0).then_some(snapshot.controller_id),
                brokers: snapshot.brokers.values().cloned().collect(),
            })
        })
        .await
    }

    /// Every topic's name and id, sorted by name; internal topics only with
    /// `include_internal`.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// for topic in admin.list_topics(false, Default::default()).await? {
    ///     println!("{}", topic.name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_topics(
        &self,
        include_internal: bool,
        opts: AdminOptions,
    ) -> Result<Vec<TopicListing>, AdminError> {
        self.retry(self.timeout(&opts), |_| async {
            let response = self.raw_metadata(None).await?;
            let mut topics: Vec<TopicListing> = response
                .topics
                .iter()
                .filter(|t| t.error_code == 0 && (include_internal || !t.is_internal))
                .filter_map(|t| {
                    Some(TopicListing {
                        name: t.name.as_ref()?.0.to_string(),
                        topic_id: t.topic_id,
                        internal: t.is_internal,
                    })
                })
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(topics)
        })
        .await
    }

    /// Partitions, leaders, replicas, ISR and offline replicas of topics (Metadata). A topic
    /// that does not exist fails with `UNKNOWN_TOPIC_OR_PARTITION`.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let described = admin.describe_topics(&["events"], Default::default()).await?;
    /// let events = described["events"].clone()?;
    /// for p in &events.partitions {
    ///     println!("{}: leader {:?} replicas {:?} isr {:?}", p.partition, p.leader, p.replicas, p.isr);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_topics(
        &self,
        names: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, TopicDescription>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            names.iter().map(|n| n.to_string()),
            retriable_topic_error,
            |pending, _| async move {
                let names: Vec<&str> = pending.iter().map(String::as_str).collect();
                let response = self.raw_metadata(Some(&names)).await?;
                let mut results: ItemResults<String, TopicDescription> = pending
                    .iter()
                    .map(|n| (n.clone(), Err(missing("the topic"))))
                    .collect();
                for t in &response.topics {
                    let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                        continue;
                    };
                    let Some(slot) = results.get_mut(&name) else {
                        continue;
                    };
                    if let Some(e) = AdminError::from_response(t.error_code, None::<&String>) {
                        *slot = Err(e);
                        continue;
                    }
                    let mut partitions: Vec<PartitionDescription> = t
                        .partitions
                        .iter()
                        .map(|p| PartitionDescription {
                            partition: p.partition_index,
                            leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.partition);
                    *slot = Ok(TopicDescription {
                        name,
                        topic_id: t.topic_id,
                        internal: t.is_internal,
                        partitions,
                    });
                }
                Ok(results)
            },
        )
        .await
    }

    // ---- configs ------------------------------------------------------------------------

    /// Splits config resources by the broker that must answer for them: broker resources go
    /// to that broker, topic resources to any broker (`None`).
    fn config_targets(pending: Vec<ConfigResource>) -> BTreeMap<Option<i32>, Vec<ConfigResource>> {
        let mut targets: BTreeMap<Option<i32>, Vec<ConfigResource>> = BTreeMap::new();
        for r in pending {
            let target = match &r {
                ConfigResource::Broker(id) => Some(*id),
                ConfigResource::Topic(_) => None,
            };
            targets.entry(target).or_default().push(r);
        }
        targets
    }

    async fn config_conn(&self, target: Option<i32>) -> Result<Arc<Connection>, AdminError> {
        match target {
            Some(id) => self.broker(id).await,
            None => Ok(self.pool.any().await?.1),
        }
    }

    fn resource_of(resource_type: i8, name: &str) -> Option<ConfigResource> {
        match resource_type {
            2 => Some(ConfigResource::Topic(name.to_owned())),
            4 => name.parse().ok().map(ConfigResource::Broker),
            _ => None,
        }
    }

    /// Every config entry of each resource (DescribeConfigs), with its source and flags.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use kafkit::admin::ConfigResource;
    /// let topic = ConfigResource::Topic("events".into());
    /// let configs = admin.describe_configs(vec![topic.clone()], Default::default()).await?;
    /// for entry in configs[&topic].clone()? {
    ///     println!("{} = {:?} ({:?})", entry.name, entry.value, entry.source);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_configs(
        &self,
        resources: Vec<ConfigResource>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, Vec<ConfigEntry>>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            resources,
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, Vec<ConfigEntry>> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::DescribeConfigs)?;
                        let request = DescribeConfigsRequest::default().with_resources(
                            resources
                                .iter()
                                .map(|r| {
                                    DescribeConfigsResource::default()
                                        .with_resource_type(r.resource_type())
                                        .with_resource_name(s(&r.resource_name()))
                                        .with_configuration_keys(None)
                                })
                                .collect(),
                        );
                        let response = conn.send_with_version(request, version).await?;
                        for r in &resources {
                            results.insert(r.clone(), Err(missing(r)));
                        }
                        for result in response.results {
                            let Some(resource) =
                                Self::resource_of(result.resource_type, &result.resource_name)
                            else {
                                continue;
                            };
                            let Some(slot) = results.get_mut(&resource) else {
                                continue;
                            };
                            *slot = match AdminError::from_response(
                                result.error_code,
                                result.error_message.as_ref(),
                            ) {
                                Some(e) => Err(e),
                                None => Ok(result
                                    .configs
                                    .iter()
                                    .map(|c| ConfigEntry {
                                        name: c.name.to_string(),
                                        value: c.value.as_ref().map(|v| v.to_string()),
                                        source: ConfigSource::from_code(c.config_source),
                                        read_only: c.read_only,
                                        sensitive: c.is_sensitive,
                                    })
                                    .collect()),
                            };
                        }
                        Ok(())
                    }
                    .await;
                    if let Err(e) = outcome {
                        for r in resources {
                            results.insert(r, Err(e.clone()));
                        }
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    /// Changes configs one key at a time (IncrementalAlterConfigs, KIP-339): set, delete
    /// (revert to default), append to or subtract from a list. Keys not named are untouched.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::admin::{AlterConfigOp, ConfigResource};
    /// let topic = ConfigResource::Topic("events".into());
    /// let results = admin
    ///     .incremental_alter_configs(
    ///         BTreeMap::from([(topic.clone(), vec![AlterConfigOp::set("retention.ms", "600000")])]),
    ///         Default::default(),
    ///     )
    ///     .await?;
    /// results[&topic].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn incremental_alter_configs(
        &self,
        changes: BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, ()>, AdminError> {
        use kafka_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let changes = &changes;
        self.retry_items(
            self.timeout(&opts),
            changes.keys().cloned(),
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, ()> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::IncrementalAlterConfigs)?;
                        let request = IncrementalAlterConfigsRequest::default()
                            .with_validate_only(opts.validate_only)
                            .with_resources(
                                resources
                                    .iter()
                                    .map(|r| {
                                        AlterConfigsResource::default()
                                            .with_resource_type(r.resource_type())
                                            .with_resource_name(s(&r.resource_name()))
                                            .with_configs(
                                                changes[r]
                                                    .iter()
                                                    .map(|op| {
                                                        AlterableConfig::default()
                                                            .with_name(s(&op.name))
                                                            .with_config_operation(op.op as i8)
                                                            .with_value(op.value.as_deref().map(s))
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            );
                        let response = conn.send_with_version(request, version).await?;
                        for r in &resources {
                            results.insert(r.clone(), Err(missing(r)));
                        }
                        for result in response.responses {
                            let Some(resource) =
                                Self::resource_of(result.resource_type, &result.resource_name)
                            else {
                                continue;
                            };
                            if let Some(slot) = results.get_mut(&resource) {
                                *slot = match AdminError::from_response(
                                    result.error_code,
                                    result.error_message.as_ref(),
                                ) {
                                    Some(e) => Err(e),
                                    None => Ok(()),
                                };
                            }
                        }
                        Ok(())
                    }
                    .await;
                    if let Err(e) = outcome {
                        for r in resources {
                            results.insert(r, Err(e.clone()));
                        }
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    /// Replaces resources' whole dynamic configs (the legacy AlterConfigs): keys not given
    /// revert to their defaults. Prefer [`Self::incremental_alter_configs`].
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::admin::ConfigResource;
    /// let topic = ConfigResource::Topic("events".into());
    /// let configs = BTreeMap::from([("retention.ms".to_string(), "600000".to_string())]);
    /// let results = admin.alter_configs(BTreeMap::from([(topic.clone(), configs)]), Default::default()).await?;
    /// results[&topic].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_configs(
        &self,
        configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, ()>, AdminError> {
        use kafka_protocol::messages::alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let configs = &configs;
        self.retry_items(
            self.timeout(&opts),
            configs.keys().cloned(),
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, ()> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::AlterConfigs)?;
                        let request = AlterConfigsRequest::default()
                            .with_validate_only(opts.validate_only)
                            .with_resources(
                                resources
                                    .iter()
                                    .map(|r| {
                                        AlterConfigsResource::default()
                                            .with_resource_type(r.resource_type())
                                            .with_resource_name(s(&r.resource_name()))
                                            .with_configs(
                                                configs[r]
                                                    .iter()
                                                    .map(|(k, v)| {
                                                        AlterableConfig::default()
                                                            .with_name(s(k))
                                                            .with_value(Some(s(v)))
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            );
                        let response = conn.send_with_version(request, version).await?;
                        for r in &resources {
                            results.insert(r.clone(), Err(missing(r)));
                        }
                        for result in response.responses {
                            let Some(resource) =
                                Self::resource_of(result.resource_type, &result.resource_name)
                            else {
                                continue;
                            };
                            if let Some(slot) = results.get_mut(&resource) {
                                *slot = match AdminError::from_response(
                                    result.error_code,
                                    result.error_message.as_ref(),
                                ) {
                                    Some(e) => Err(e),
                                    None => Ok(()),
                                };
                            }
                        }
                        Ok(())
                    }
                    .await;
                    if let Err(e) = outcome {
                        for r in resources {
                            results.insert(r, Err(e.clone()));
                        }
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    // ---- groups -------------------------------------------------------------------------

    /// Every group on every broker (ListGroups to each), sorted by group id.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// for group in admin.list_groups(Default::default()).await? {
    ///     println!("{} ({}) {:?}", group.group_id, group.protocol_type, group.state);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_groups(&self, opts: AdminOptions) -> Result<Vec<GroupListing>, AdminError> {
        self.retry(self.timeout(&opts), |_| async {
            let snapshot = self.cluster_snapshot().await?;
            let mut groups = Vec::new();
            for &broker in snapshot.brokers.keys() {
                let conn = self.pool.get(broker).await?;
                let version = conn.versions().version(ApiKey::ListGroups)?;
                let response = conn
                    .send_with_version(ListGroupsRequest::default(), version)
                    .await?;
                if let Some(e) = AdminError::from_response(response.error_code, None::<&String>) {
                    return Err(e);
                }
                groups.extend(response.groups.iter().map(|g| GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: (version >= 4).then(|| g.group_state.to_string()),
                    coordinator: broker,
                }));
            }
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            Ok(groups)
        })
        .await
    }

    /// Groups' state, protocol and members with their decoded assignments (DescribeGroups,
    /// sent to each group's coordinator). A group that does not exist is reported in state
    /// `Dead` (or with `GROUP_ID_NOT_FOUND` by newer brokers).
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let groups = admin.describe_groups(&["billing"], Default::default()).await?;
    /// let billing = groups["billing"].clone()?;
    /// for m in &billing.members {
    ///     println!("{} on {}: {:?}", m.member_id, m.host, m.assignment);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_groups(
        &self,
        group_ids: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, GroupDescription>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            group_ids.iter().map(|g| g.to_string()),
            AdminError::is_retriable,
            |pending, _| async move {
                let mut results = BTreeMap::new();
                for group in pending {
                    let outcome = self.describe_group(&group).await;
                    results.insert(group, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    async fn describe_group(&self, group: &str) -> Result<GroupDescription, AdminError> {
        let (coordinator, conn) = self.coordinator(group).await?;
        let version = conn.versions().version(ApiKey::DescribeGroups)?;
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
        let response = conn.send_with_version(request, version).await?;
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| missing(format!("group '{group}'")))?;
        if let Some(e) =
            AdminError::from_response(described.error_code, described.error_message.as_ref())
        {
            return Err(e);
        }
        let consumer =
            described.protocol_type.as_str() == crate::consumer::group::CONSUMER_PROTOCOL_TYPE;
        let mut members = Vec::with_capacity(described.members.len());
        for m in &described.members {
            let assignment = if consumer && !m.member_assignment.is_empty() {
                Some(decode_assignment(&m.member_assignment)?)
            } else {
                None
            };
            members.push(MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment,
            });
        }
        Ok(GroupDescription {
            group_id: group.to_owned(),
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members,
            coordinator,
        })
    }

    /// Deletes groups with no members (DeleteGroups, sent to each group's coordinator):
    /// `NON_EMPTY_GROUP` while members remain, `GROUP_ID_NOT_FOUND` for an unknown group.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let results = admin.delete_groups(&["old-group"], Default::default()).await?;
    /// results["old-group"].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_groups(
        &self,
        group_ids: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, ()>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            group_ids.iter().map(|g| g.to_string()),
            AdminError::is_retriable,
            |pending, _| async move {
                let mut results = BTreeMap::new();
                for group in pending {
                    let outcome: Result<(), AdminError> = async {
                        let (_, conn) = self.coordinator(&group).await?;
                        let version = conn.versions().version(ApiKey::DeleteGroups)?;
                        let request = DeleteGroupsRequest::default()
                            .with_groups_names(vec![GroupId(s(&group))]);
                        let response = conn.send_with_version(request, version).await?;
                        let result = response
                            .results
                            .iter()
                            .find(|r| r.group_id.0.as_str() == group)
                            .ok_or_else(|| missing(format!("group '{group}'")))?;
                        match AdminError::from_response(result.error_code, None::<&String>) {
                            Some(e) => Err(e),
                            None => Ok(()),
                        }
                    }
                    .await;
                    results.insert(group, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    /// A group's committed offsets (OffsetFetch for all its partitions, sent to its
    /// coordinator). Partitions without a commit are left out.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// for (tp, committed) in admin.list_group_offsets("billing", Default::default()).await? {
    ///     println!("{tp}: {}", committed.offset);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_group_offsets(
        &self,
        group: &str,
        opts: AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        self.retry(self.timeout(&opts), |_| self.fetch_group_offsets(group))
            .await
    }

    async fn fetch_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let version = conn.versions().version(ApiKey::OffsetFetch)?;
        if version < 2 {
            return Err(AdminError::broker(
                ErrorCode::UnsupportedVersion,
                Some("fetching all of a group's offsets needs OffsetFetch v2+".into()),
            ));
        }
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(group)))
                    .with_topics(None),
            ];
        } else {
            request.group_id = GroupId(s(group));
            request.topics = None;
        }
        let response = conn.send_with_version(request, version).await?;
        // (topic, partition, offset, epoch, metadata, error) from either layout.
        let mut rows = Vec::new();
        if version >= 8 {
            let g = response
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == group)
                .ok_or_else(|| missing(format!("group '{group}'")))?;
            if let Some(e) = AdminError::from_response(g.error_code, None::<&String>) {
                return Err(e);
            }
            for t in &g.topics {
                for p in &t.partitions {
                    rows.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.clone(),
                        p.error_code,
                    ));
                }
            }
        } else {
            if let Some(e) = AdminError::from_response(response.error_code, None::<&String>) {
                return Err(e);
            }
            for t in &response.topics {
                for p in &t.partitions {
                    rows.push((
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.clone(),
                        p.error_code,
                    ));
                }
            }
        }
        let mut offsets = BTreeMap::new();
        for (topic, partition, offset, epoch, metadata, error) in rows {
            if let Some(e) = AdminError::from_response(error, None::<&String>) {
                return Err(e);
            }
            if offset < 0 {
                continue;
            }
            offsets.insert(
                TopicPartition::new(topic, partition),
                OffsetAndMetadata {
                    offset,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: metadata.map(|m| m.to_string()).unwrap_or_default(),
                },
            );
        }
        Ok(offsets)
    }

    /// A group's lag per partition: its committed offset against the partition's log end
    /// offset (OffsetFetch, then ListOffsets latest), both within one timeout.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let total: i64 = admin.group_lag("billing", Default::default()).await?.values().map(|l| l.lag).sum();
    /// println!("billing is {total} records behind");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn group_lag(
        &self,
        group: &str,
        opts: AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, PartitionLag>, AdminError> {
        let timeout = self.timeout(&opts);
        let started = Instant::now();
        let committed = self.list_group_offsets(group, opts).await?;
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(AdminError::Timeout(timeout));
        }
        let ends = self
            .list_offsets(
                committed
                    .keys()
                    .map(|tp| (tp.clone(), OffsetSpec::Latest))
                    .collect(),
                opts.timeout(left),
            )
            .await?;
        let mut lag = BTreeMap::new();
        for (tp, end) in ends {
            let end = end?.offset;
            let committed = committed[&tp].offset;
            lag.insert(
                tp,
                PartitionLag {
                    committed,
                    end_offset: end,
                    lag: (end - committed).max(0),
                },
            );
        }
        Ok(lag)
    }

    // ---- offsets and records ------------------------------------------------------------

    /// Offsets by spec (ListOffsets, sent to each partition's leader): the earliest, the
    /// latest, the one with the largest timestamp (v7+), or the first at or after a timestamp.
    /// A partition that fresh metadata does not know fails with `UNKNOWN_TOPIC_OR_PARTITION`.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::TopicPartition;
    /// use kafkit::admin::OffsetSpec;
    /// let tp = TopicPartition::new("events", 0);
    /// let offsets = admin.list_offsets(BTreeMap::from([(tp.clone(), OffsetSpec::Latest)]), Default::default()).await?;
    /// println!("end of {tp}: {}", offsets[&tp].clone()?.offset);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_offsets(
        &self,
        specs: BTreeMap<TopicPartition, OffsetSpec>,
        opts: AdminOptions,
    ) -> Result<PartitionResults<ListedOffset>, AdminError> {
        let specs = &specs;
        self.retry_items(
            self.timeout(&opts),
            specs.keys().cloned(),
            retriable_topic_error,
            |pending, deadline| async move {
                let mut results: PartitionResults<ListedOffset> = BTreeMap::new();
                let (leaders, failed) = self.by_leader(pending).await?;
                for (tp, e) in failed {
                    results.insert(tp, Err(e));
                }
                for (leader, partitions) in leaders {
                    let outcome = self
                        .list_offsets_on(leader, &partitions, specs, deadline, &mut results)
                        .await;
                    if let Err(e) = outcome {
                        for tp in partitions {
                            results.insert(tp, Err(e.clone()));
                        }
                    }
                }
                Ok(results)
            },
        )
        .await
    }

    async fn list_offsets_on(
        &self,
        leader: i32,
        partitions: &[TopicPartition],
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
        deadline: Instant,
        results: &mut PartitionResults<ListedOffset>,
    ) -> Result<(), AdminError> {
        let conn = self.broker(leader).await?;
        let version = conn.versions().version(ApiKey::ListOffsets)?;
        let mut by_topic: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for tp in partitions {
            let spec = specs[tp];
            if spec == OffsetSpec::MaxTimestamp && version < 7 {
                results.insert(
                    tp.clone(),
                    Err(AdminError::broker(
                        ErrorCode::UnsupportedVersion,
                        Some("the max-timestamp offset needs ListOffsets v7+".into()),
                    )),
                );
                continue;
            }
            by_topic.entry(&tp.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_timestamp(spec.timestamp()),
            );
            results.insert(tp.clone(), Err(missing(tp)));
        }
        if by_topic.is_empty() {
            return Ok(());
        }
        let mut request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        if version >= 10 {
            request.timeout_ms = remaining_ms(deadline);
        }
        let response = conn.send_with_version(request, version).await?;
        for t in response.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                if let Some(slot) = results.get_mut(&tp) {
                    *slot = match AdminError::from_response(p.error_code, None::<&String>) {
                        Some(e) => Err(e),
                        None => Ok(ListedOffset {
                            offset: p.offset,
                            timestamp: p.timestamp,
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        }),
                    };
                }
            }
        }
        Ok(())
    }

    /// Deletes records below an offset (DeleteRecords, sent to each partition's leader; -1
    /// means the high watermark). Returns each partition's new low watermark (log start
    /// offset).
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::TopicPartition;
    /// let tp = TopicPartition::new("events", 0);
    /// let results = admin.delete_records(BTreeMap::from([(tp.clone(), 100)]), Default::default()).await?;
    /// assert_eq!(results[&tp].clone()?, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_records(
        &self,
        before: BTreeMap<TopicPartition, i64>,
        opts: AdminOptions,
    ) -> Result<PartitionResults<i64>, AdminError> {
        let before = &before;
        self.retry_items(
            self.timeout(&opts),
            before.keys().cloned(),
            retriable_topic_error,
            |pending, deadline| async move {
                let mut results: PartitionResults<i64> = BTreeMap::new();
                let (leaders, failed) = self.by_leader(pending).await?;
                for (tp, e) in failed {
                    results.insert(tp, Err(e));
                }
                for (leader, partitions) in leaders {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.broker(leader).await?;
                        let version = conn.versions().version(ApiKey::DeleteRecords)?;
                        let mut by_topic: BTreeMap<&str, Vec<DeleteRecordsPartition>> =
                            BTreeMap::new();
                        for tp in &partitions {
                            by_topic.entry(&tp.topic).or_default().push(
                                DeleteRecordsPartition::default()
                                    .with_partition_index(tp.partition)
                                    .with_offset(before[tp]),
                            );
                            results.insert(tp.clone(), Err(missing(tp)));
                        }
                        let request = DeleteRecordsRequest::default()
                            .with_timeout_ms(remaining_ms(deadline))
                            .with_topics(
                                by_topic
                                    .into_iter()
                                    .map(|(t, ps)| {
                                        DeleteRecordsTopic::default()
                                            .with_name(TopicName(s(t)))
                                            .with_partitions(ps)
                                    })
                                    .collect(),
                            );
                        let response = conn.send_with_version(request, version).await?;
                        for t in response.topics {
                            for p in t.partitions {
                                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                                if let Some(slot) = results.get_mut(&tp) {
                                    *slot = match AdminError::from_response(
                                        p.error_code,
                                        None::<&String>,
                                    ) {
                                        Some(e) => Err(e),
                                        None => Ok(p.low_watermark),
                                    };
                                }
                            }
                        }
                        Ok(())
                    }
                    .await;
                    if let Err(e) = outcome {
                        for tp in partitions {
                            results.insert(tp, Err(e.clone()));
                        }
                    }
                }
                Ok(results)
            },
        )
        .await
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
