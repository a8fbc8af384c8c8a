//! Committed offsets of the group: OffsetCommit (with generation, member id and
//! `group.instance.id`) and OffsetFetch, each retried across coordinator moves until
//! `default.api.timeout.ms`.
//!
//! Must not touch: fetch positions (the caller decides what to commit and what a committed
//! offset means for its position).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use tokio::time::Instant;

use super::coordinator::{Backoff, Inner, is_coordinator_error, s};
use super::{GroupError, GroupMembership, JoinedGeneration, OffsetAndMetadata, RejoinReason};
use crate::TopicPartition;
use crate::net::Connection;
use crate::protocol::ErrorCode;

impl GroupMembership {
    /// Commits `offsets` with the current generation and member id (generation -1 and no member
    /// id when not joined: a commit for a group without members). Retries coordinator moves and
    /// retriable errors until `api_timeout`; ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID for the
    /// current generation also reset the member (its partitions are lost; rejoin).
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::TopicPartition;
    /// use kafkit::consumer::group::OffsetAndMetadata;
    /// let offsets = BTreeMap::from([(TopicPartition::new("orders", 0), OffsetAndMetadata::new(42))]);
    /// group.commit_offsets(&offsets).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit_offsets(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        let (generation_id, member_id) = {
            let status = self.inner.status.borrow();
            match &status.generation {
                Some(g) => (g.generation_id, g.member_id.clone()),
                None => (-1, String::new()),
            }
        };
        self.commit(generation_id, &member_id, offsets).await
    }

    /// Commits `offsets` as a member of `generation` (for offsets of records consumed in that
    /// generation: if the group moved on, the commit fails with ILLEGAL_GENERATION instead of
    /// committing for partitions that may belong to someone else now).
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use std::collections::BTreeMap;
    /// let generation = group.generation().expect("joined");
    /// group.commit_offsets_in_generation(&generation, &BTreeMap::new()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn commit_offsets_in_generation(
        &self,
        generation: &JoinedGeneration,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        self.commit(generation.generation_id, &generation.member_id, offsets)
            .await
    }

    async fn commit(
        &self,
        generation_id: i32,
        member_id: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let settings = &inner.settings;
        let deadline = Instant::now() + settings.api_timeout;
        let mut backoff = Backoff::new(settings);
        loop {
            let conn = inner.coordinator(Some(deadline)).await?;
            let outcome = self
                .commit_once(&conn, generation_id, member_id, offsets)
                .await;
            let error = match outcome {
                Ok(()) => {
                    tracing::debug!(group = %settings.group_id, partitions = offsets.len(), generation_id, "offsets committed");
                    return Ok(());
                }
                Err(e) => e,
            };
            if let GroupError::Commit { errors } = &error {
                if let Some(&code) = errors.values().find(|c| {
                    matches!(
                        c,
                        ErrorCode::IllegalGeneration
                            | ErrorCode::UnknownMemberId
                            | ErrorCode::FencedInstanceId
                    )
                }) {
                    // Java's resetGenerationOnResponseError, only when the commit used the
                    // generation the member still has.
                    inner.status.send_if_modified(|s| {
                        let current = s.generation.as_ref().is_some_and(|g| {
                            g.generation_id == generation_id && g.member_id == member_id
                        });
                        if !current {
                            return false;
                        }
                        if code == ErrorCode::FencedInstanceId {
                            s.fatal = Some(GroupError::Broker {
                                api: ApiKey::OffsetCommit,
                                error: code,
                            });
                        }
                        Inner::reset_member(s, RejoinReason::MemberReset(code));
                        true
                    });
                }
                if let Some(&code) = errors.values().find(|c| is_coordinator_error(**c)) {
                    inner.mark_coordinator_unknown(&conn, code.name());
                }
            }
            if !error.is_retriable() {
                tracing::warn!(group = %settings.group_id, error = %error, "offset commit failed");
                return Err(error);
            }
            tracing::debug!(group = %settings.group_id, error = %error, "offset commit failed; retrying");
            if backoff.sleep(Some(deadline)).await.is_err() {
                return Err(error);
            }
        }
    }

    async fn commit_once(
        &self,
        conn: &Arc<Connection>,
        generation_id: i32,
        member_id: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), GroupError> {
        let settings = &self.inner.settings;
        let version = conn.versions().version(ApiKey::OffsetCommit)?;
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, committed) in offsets {
            let mut partition = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(committed.offset)
                .with_committed_metadata(Some(s(&committed.metadata)));
            if version >= 6 {
                partition.committed_leader_epoch = committed.leader_epoch.unwrap_or(-1);
            }
            match topics.last_mut() {
                Some(t) if t.name.0.as_str() == &*tp.topic => t.partitions.push(partition),
                _ => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(&tp.topic)))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let mut request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_topics(topics);
        if version >= 1 {
            request.generation_id_or_member_epoch = generation_id;
            request.member_id = s(member_id);
        }
        if (2..=4).contains(&version) {
            request.retention_time_ms = -1;
        }
        if version >= 7 {
            request.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        let response = self
            .inner
            .call(
                conn,
                ApiKey::OffsetCommit,
                version,
                request,
                settings.request_timeout,
            )
            .await?;
        let mut errors = BTreeMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                let code = ErrorCode::from_code(p.error_code);
                if code != ErrorCode::None {
                    errors.insert(
                        TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                        code,
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GroupError::Commit { errors })
        }
    }

    /// The committed offsets of `partitions` (OffsetFetch): `None` for a partition without a
    /// commit. Retries coordinator moves and retriable errors until `api_timeout`.
    ///
    /// ```no_run
    /// # async fn example(group: &kafkit::consumer::group::GroupMembership) -> Result<(), kafkit::consumer::group::GroupError> {
    /// use kafkit::TopicPartition;
    /// let committed = group.committed(&[TopicPartition::new("orders", 0)]).await?;
    /// for (tp, offset) in committed {
    ///     println!("{tp}: {:?}", offset.map(|o| o.offset));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, GroupError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let inner = &self.inner;
        let settings = &inner.settings;
        let deadline = Instant::now() + settings.api_timeout;
        let mut backoff = Backoff::new(settings);
        loop {
            let conn = inner.coordinator(Some(deadline)).await?;
            let error = match self.fetch_once(&conn, partitions).await {
                Ok(found) => return Ok(found),
                Err(e) => e,
            };
            if let Some(code) = error.error_code() {
                if is_coordinator_error(code) {
                    inner.mark_coordinator_unknown(&conn, code.name());
                }
            }
            if !error.is_retriable() {
                return Err(error);
            }
            tracing::debug!(group = %settings.group_id, error = %error, "offset fetch failed; retrying");
            if backoff.sleep(Some(deadline)).await.is_err() {
                return Err(error);
            }
        }
    }

    async fn fetch_once(
        &self,
        conn: &Arc<Connection>,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, GroupError> {
        let settings = &self.inner.settings;
        let version = conn.versions().version(ApiKey::OffsetFetch)?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let group_id = GroupId(s(&settings.group_id));
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(group_id)
                    .with_topics(Some(
                        by_topic
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(TopicName(s(t)))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect(),
                    )),
            ];
        } else {
            request.group_id = group_id;
            request.topics = Some(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect(),
            );
        }
        let response = self
            .inner
            .call(
                conn,
                ApiKey::OffsetFetch,
                version,
                request,
                settings.request_timeout,
            )
            .await?;
        let Some((top_error, rows)) =
            offset_fetch_partitions(&response, version, &settings.group_id)
        else {
            return Err(GroupError::Broker {
                api: ApiKey::OffsetFetch,
                error: ErrorCode::InvalidRequest,
            });
        };
        let top_error = ErrorCode::from_code(top_error);
        if top_error != ErrorCode::None {
            return Err(GroupError::Broker {
                api: ApiKey::OffsetFetch,
                error: top_error,
            });
        }
        let mut found: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
            partitions.iter().map(|tp| (tp.clone(), None)).collect();
        let mut errors = BTreeMap::new();
        for FetchedOffset {
            topic,
            partition,
            offset,
            leader_epoch: epoch,
            metadata,
            error_code,
        } in rows
        {
            let tp = TopicPartition::new(topic, partition);
            let code = ErrorCode::from_code(error_code);
            if code != ErrorCode::None {
                errors.insert(tp, code);
                continue;
            }
            if offset < 0 || !found.contains_key(&tp) {
                continue;
            }
            let committed = OffsetAndMetadata {
                offset,
                leader_epoch: (version >= 5 && epoch >= 0).then_some(epoch),
                metadata: metadata.unwrap_or_default(),
            };
            found.insert(tp, Some(committed));
        }
        if errors.is_empty() {
            Ok(found)
        } else {
            Err(GroupError::OffsetFetch { errors })
        }
    }
}

/// One partition of an OffsetFetch answer.
pub(crate) struct FetchedOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// -1: nothing committed.
    pub(crate) offset: i64,
    /// -1: unknown.
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
    pub(crate) error_code: i16,
}

/// The group-level error code and the partitions of `group_id` in an OffsetFetch answer of
/// `version`, from either layout (v8+: one entry per group; older: at the top level). `None`
/// when a v8+ answer does not mention the group. Shared by the group layer and the admin
/// client.
pub(crate) fn offset_fetch_partitions(
    response: &OffsetFetchResponse,
    version: i16,
    group_id: &str,
) -> Option<(i16, Vec<FetchedOffset>)> {
    let mut rows = Vec::new();
    if version >= 8 {
        let group = response
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group_id)?;
        for t in &group.topics {
            rows.extend(t.partitions.iter().map(|p| FetchedOffset {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_ref().map(|m| m.to_string()),
                error_code: p.error_code,
            }));
        }
        Some((group.error_code, rows))
    } else {
        for t in &response.topics {
            rows.extend(t.partitions.iter().map(|p| FetchedOffset {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_ref().map(|m| m.to_string()),
                error_code: p.error_code,
            }));
        }
        Some((response.error_code, rows))
    }
}
