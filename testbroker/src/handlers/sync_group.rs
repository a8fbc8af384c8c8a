//! SyncGroup: the leader hands in the assignment; every member (leader included) gets its
//! own part once the leader's arrives. The rules live in [`crate::group`].

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;
use crate::group::{self, SyncOutcome, SyncRequest};

/// Handle a SyncGroup request.
pub(crate) async fn handle(ctx: &RequestContext, request: SyncGroupRequest) -> SyncGroupResponse {
    let group_id = request.group_id.0.to_string();
    let outcome = match group::check_group(&ctx.broker, &group_id, false) {
        Err(code) => SyncOutcome::error(code),
        Ok(()) => {
            let sync = SyncRequest {
                group_id,
                generation_id: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
                protocol_type: request.protocol_type.as_ref().map(|s| s.to_string()),
                protocol_name: request.protocol_name.as_ref().map(|s| s.to_string()),
                assignments: request
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id.to_string(), a.assignment))
                    .collect(),
            };
            ctx.broker.cluster.groups.sync(sync).await
        }
    };
    let mut response = SyncGroupResponse::default()
        .with_error_code(outcome.error.code())
        .with_assignment(outcome.assignment);
    if ctx.version() >= 5 {
        response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
        response.protocol_name = outcome.protocol_name.map(StrBytes::from_string);
    }
    response
}
