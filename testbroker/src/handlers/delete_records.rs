//! DeleteRecords: move a partition's log start offset forward (to the high watermark for -1);
//! whole segments below it are deleted.

use kafkit::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafkit::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafkit::protocol::ErrorCode;

use super::{RequestContext, check_leadership, local_replica};

/// Handle a DeleteRecords request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let mut result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let deleted =
                        local_replica(ctx, &name, p.partition_index).and_then(|replica| {
                            let mut state = replica.lock();
                            check_leadership(&state, -1)?;
                            let offset = if p.offset == -1 {
                                state.log.high_watermark()
                            } else {
                                p.offset
                            };
                            state
                                .log
                                .delete_records_before(offset)
                                .map_err(|_| ErrorCode::OffsetOutOfRange)
                        });
                    let code = match deleted {
                        Ok(low) => {
                            result.low_watermark = low;
                            ErrorCode::None
                        }
                        Err(code) => code,
                    };
                    result.error_code = code.code();
                    result
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ctx.broker.notify_data_changed();
    DeleteRecordsResponse::default().with_topics(topics)
}
