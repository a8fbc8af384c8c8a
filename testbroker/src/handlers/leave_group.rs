//! LeaveGroup (not implemented yet: answers an empty response).

use kafkit::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;

/// Handle a LeaveGroup request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    LeaveGroupResponse::default()
}
