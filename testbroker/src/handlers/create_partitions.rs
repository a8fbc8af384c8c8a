//! CreatePartitions: grow topics (never shrink: INVALID_PARTITIONS), optionally with an explicit
//! assignment for the new partitions.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafkit::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::RequestContext;

/// Handle a CreatePartitions request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let controller = &ctx.broker.cluster.controller;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let assignment = topic.assignments.map(|a| {
            a.into_iter()
                .map(|p| p.broker_ids.into_iter().map(|b| b.0).collect())
                .collect()
        });
        if let Err(e) = controller.create_partitions(
            &topic.name.0,
            topic.count,
            assignment,
            request.validate_only,
        ) {
            result.error_code = e.code.code();
            result.error_message = Some(StrBytes::from_string(e.message));
        }
        results.push(result);
    }
    if !request.validate_only {
        super::wait_for_latest_metadata(ctx, super::request_timeout(request.timeout_ms)).await;
    }
    CreatePartitionsResponse::default().with_results(results)
}
