//! OffsetFetch (v1-9): a group's committed offsets. v1-7 ask for one group, v8+ for a batch.
//! `topics` null (v2+) means every partition the group has committed; a partition without a
//! commit answers offset -1. `require_stable` is ignored (no transactions, so nothing is
//! ever pending).

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafkit::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::group::{self, CommittedOffset, TopicPartition};

/// One topic's answer: partition, committed offset (if any).
type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);

/// The committed offsets of `group_id` for `wanted` (topic, partitions), grouped by topic in
/// request order (or by name for "all").
fn lookup(
    ctx: &RequestContext,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<TopicOffsets>, ErrorCode> {
    group::check_group(&ctx.broker, group_id, true)?;
    let partitions: Option<Vec<TopicPartition>> = wanted.map(|topics| {
        topics
            .into_iter()
            .flat_map(|(topic, partitions)| partitions.into_iter().map(move |p| (topic.clone(), p)))
            .collect()
    });
    let mut out: Vec<TopicOffsets> = Vec::new();
    for ((topic, partition), committed) in ctx
        .broker
        .cluster
        .groups
        .fetch_offsets(group_id, partitions)
    {
        match out.last_mut() {
            Some((last, entries)) if *last == topic => entries.push((partition, committed)),
            _ => out.push((topic, vec![(partition, committed)])),
        }
    }
    Ok(out)
}

fn metadata(committed: &Option<CommittedOffset>) -> Option<StrBytes> {
    Some(StrBytes::from_string(
        committed
            .as_ref()
            .map(|c| c.metadata.clone())
            .unwrap_or_default(),
    ))
}

/// Handle an OffsetFetch request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.version();
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let mut group =
                    OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match lookup(ctx, &g.group_id, wanted) {
                    Err(code) => group.error_code = code.code(),
                    Ok(topics) => {
                        group.topics = topics
                            .into_iter()
                            .map(|(name, partitions)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(StrBytes::from_string(name)))
                                    .with_partitions(
                                        partitions
                                            .into_iter()
                                            .map(|(p, c)| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(
                                                        c.as_ref().map_or(-1, |c| c.offset),
                                                    )
                                                    .with_committed_leader_epoch(
                                                        c.as_ref().map_or(-1, |c| c.leader_epoch),
                                                    )
                                                    .with_metadata(metadata(&c))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect();
                    }
                }
                group
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }

    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let partition = |p: i32, c: &Option<CommittedOffset>, code: ErrorCode| {
        OffsetFetchResponsePartition::default()
            .with_partition_index(p)
            .with_committed_offset(c.as_ref().map_or(-1, |c| c.offset))
            .with_committed_leader_epoch(c.as_ref().map_or(-1, |c| c.leader_epoch))
            .with_metadata(metadata(c))
            .with_error_code(code.code())
    };
    match lookup(ctx, &request.group_id, wanted.clone()) {
        Ok(topics) => {
            let topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|(p, c)| partition(*p, c, ErrorCode::None))
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
        // v2+ report a group error at the top level; v1 only has per-partition errors.
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code.code()),
        Err(code) => {
            let topics = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|p| partition(*p, &None, code))
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
    }
}
