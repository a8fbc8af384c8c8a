//! ListOffsets: earliest (-2), latest (-1, the high watermark for consumers), max timestamp
//! (-3, KIP-734), earliest local (-4, the log start without tiered storage), latest tiered (-5,
//! answered with -1 since nothing is tiered), or the first record at or after a timestamp.

use kafkit::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafkit::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafkit::protocol::ErrorCode;

use super::{RequestContext, check_leadership, local_replica};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Handle a ListOffsets request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let code = lookup(
                        ctx,
                        &name,
                        p.partition_index,
                        p.current_leader_epoch,
                        p.timestamp,
                        &mut out,
                    );
                    out.error_code = code.code();
                    out
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    ctx: &RequestContext,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    timestamp: i64,
    out: &mut ListOffsetsPartitionResponse,
) -> ErrorCode {
    let replica = match local_replica(ctx, topic, partition) {
        Ok(replica) => replica,
        Err(code) => return code,
    };
    let state = replica.lock();
    if let Err(code) = check_leadership(&state, current_leader_epoch) {
        return code;
    }
    if ctx.version() >= 4 {
        out.leader_epoch = state.leader_epoch;
    }
    let log = &state.log;
    match timestamp {
        LATEST => out.offset = log.high_watermark(),
        EARLIEST | EARLIEST_LOCAL => out.offset = log.log_start_offset(),
        LATEST_TIERED => {}
        MAX_TIMESTAMP | 0.. => {
            let found = if timestamp == MAX_TIMESTAMP {
                log.max_timestamp_offset()
            } else {
                log.offset_for_timestamp(timestamp)
            };
            match found {
                Ok(Some(found)) if found.offset < log.high_watermark() => {
                    out.offset = found.offset;
                    out.timestamp = found.timestamp;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(%topic, partition, error = %e, "offset lookup failed");
                    return ErrorCode::KafkaStorageError;
                }
            }
        }
        _ => return ErrorCode::InvalidRequest,
    }
    ErrorCode::None
}
