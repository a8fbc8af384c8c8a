//! Heartbeat: keeps a member's session alive and tells it when to rejoin
//! (REBALANCE_IN_PROGRESS). The rules live in [`crate::group`].

use kafkit::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::group;

/// Handle a Heartbeat request.
pub(crate) async fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = request.group_id.0.to_string();
    let code = match group::check_group(&ctx.broker, &group_id, false) {
        Err(code) => code,
        Ok(()) => ctx
            .broker
            .cluster
            .groups
            .heartbeat(&group::HeartbeatRequest {
                group_id,
                generation_id: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            }),
    };
    HeartbeatResponse::default().with_error_code(code.code())
}
