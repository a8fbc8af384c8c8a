//! DescribeCluster (not implemented yet: answers an empty response).

use kafkit::messages::{DescribeClusterRequest, DescribeClusterResponse};

use super::RequestContext;

/// Handle a DescribeCluster request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: DescribeClusterRequest) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
}
