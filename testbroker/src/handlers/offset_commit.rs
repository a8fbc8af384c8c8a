//! OffsetCommit (v2-9): store the committed offsets of a group's partitions. Partitions the
//! metadata image does not know get UNKNOWN_TOPIC_OR_PARTITION; the group checks (generation,
//! member, rebalance in progress) live in [`crate::group`]. `retention_time_ms` (v2-4) is
//! ignored: offsets never expire here.

use kafkit::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafkit::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::group::{self, CommitRequest, CommittedOffset};

/// Handle an OffsetCommit request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_id = request.group_id.0.to_string();
    let image = ctx.broker.metadata();
    // One code per partition, in request order; `None` = to be decided by the coordinator.
    let mut codes: Vec<Vec<Option<ErrorCode>>> = Vec::with_capacity(request.topics.len());
    let mut to_commit = Vec::new();
    let group_error = group::check_group(&ctx.broker, &group_id, true).err();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            if let Some(code) = group_error {
                topic_codes.push(Some(code));
            } else if image.partition(&name, p.partition_index).is_none() {
                topic_codes.push(Some(ErrorCode::UnknownTopicOrPartition));
            } else {
                topic_codes.push(None);
                let committed = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if ctx.version() >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                };
                to_commit.push(((name.clone(), p.partition_index), committed));
            }
        }
        codes.push(topic_codes);
    }
    let mut decided = if to_commit.is_empty() {
        Vec::new()
    } else {
        let commit = CommitRequest {
            group_id,
            generation_id: request.generation_id_or_member_epoch,
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        };
        ctx.broker.cluster.groups.commit_offsets(&commit, to_commit)
    }
    .into_iter();
    let topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|(topic, topic_codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(topic_codes)
                .map(|(p, code)| {
                    let code = code
                        .or_else(|| decided.next())
                        .unwrap_or(ErrorCode::UnknownServerError);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
