//! IncrementalAlterConfigs (not implemented yet: answers an empty response).

use kafkit::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::RequestContext;

/// Handle a IncrementalAlterConfigs request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    IncrementalAlterConfigsResponse::default()
}
