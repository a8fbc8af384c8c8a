//! CreateTopics (not implemented yet: answers an empty response).

use kafkit::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::RequestContext;

/// Handle a CreateTopics request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: CreateTopicsRequest) -> CreateTopicsResponse {
    CreateTopicsResponse::default()
}
