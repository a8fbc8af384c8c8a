//! OffsetForLeaderEpoch (KIP-101): where a leader epoch ends in the leader's log, so a
//! follower (or a consumer validating its position after a leader change, KIP-320) can find
//! where its log diverged. Answered only by the partition's leader.

use kafkit::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafkit::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafkit::protocol::ErrorCode;

use super::{RequestContext, check_leadership, local_replica};

/// Handle an OffsetForLeaderEpoch request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let answer = local_replica(ctx, &name, p.partition).and_then(|replica| {
                        let state = replica.lock();
                        check_leadership(&state, p.current_leader_epoch)?;
                        Ok(state.log.end_offset_for_epoch(p.leader_epoch))
                    });
                    let code = match answer {
                        Ok((epoch, end)) => {
                            out.leader_epoch = epoch;
                            out.end_offset = end;
                            ErrorCode::None
                        }
                        Err(code) => code,
                    };
                    out.error_code = code.code();
                    out
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
