//! DeleteTopics (not implemented yet: answers an empty response).

use kafkit::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::RequestContext;

/// Handle a DeleteTopics request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    DeleteTopicsResponse::default()
}
