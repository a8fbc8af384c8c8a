//! AlterConfigs (not implemented yet: answers an empty response).

use kafkit::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::RequestContext;

/// Handle a AlterConfigs request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: AlterConfigsRequest) -> AlterConfigsResponse {
    AlterConfigsResponse::default()
}
