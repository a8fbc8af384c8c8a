//! DeleteGroups (not implemented yet: answers an empty response).

use kafkit::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;

/// Handle a DeleteGroups request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    DeleteGroupsResponse::default()
}
