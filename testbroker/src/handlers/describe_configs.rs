//! DescribeConfigs (not implemented yet: answers an empty response).

use kafkit::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::RequestContext;

/// Handle a DescribeConfigs request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    DescribeConfigsResponse::default()
}
