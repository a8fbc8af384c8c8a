//! Offset and record operations of [`AdminClient`]: list offsets, delete records.
//!
//! Owns: the ListOffsets and DeleteRecords requests, sent to each partition's leader. Must not
//! touch: retry policy (in `mod.rs`).

use super::*;

impl AdminClient {
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
                    fail_group(&mut results, partitions, outcome);
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
                    fail_group(&mut results, partitions, outcome);
                }
                Ok(results)
            },
        )
        .await
    }
}
