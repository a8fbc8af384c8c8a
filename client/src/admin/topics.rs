//! Topic operations of [`AdminClient`]: create, delete, add partitions, list, describe, and the
//! cluster description.
//!
//! Owns: building the CreateTopics, DeleteTopics, CreatePartitions, DescribeCluster and Metadata
//! requests and reading their answers. Must not touch: routing and retry policy (in `mod.rs`).

use super::*;

impl AdminClient {
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
}
