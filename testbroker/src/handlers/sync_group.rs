//! SyncGroup (not implemented yet: answers an empty response).

use kafkit::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;

/// Handle a SyncGroup request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: SyncGroupRequest) -> SyncGroupResponse {
    SyncGroupResponse::default()
}
