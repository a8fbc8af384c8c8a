//! ListGroups (not implemented yet: answers an empty response).

use kafkit::messages::{ListGroupsRequest, ListGroupsResponse};

use super::RequestContext;

/// Handle a ListGroups request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: ListGroupsRequest,
) -> ListGroupsResponse {
    ListGroupsResponse::default()
}
