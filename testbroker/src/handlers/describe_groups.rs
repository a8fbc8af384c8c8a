//! DescribeGroups (not implemented yet: answers an empty response).

use kafkit::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::RequestContext;

/// Handle a DescribeGroups request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    DescribeGroupsResponse::default()
}
