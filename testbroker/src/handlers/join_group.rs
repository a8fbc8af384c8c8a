//! JoinGroup (not implemented yet: answers an empty response).

use kafkit::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;

/// Handle a JoinGroup request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: JoinGroupRequest) -> JoinGroupResponse {
    JoinGroupResponse::default()
}
