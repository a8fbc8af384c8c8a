//! CreatePartitions (not implemented yet: answers an empty response).

use kafkit::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::RequestContext;

/// Handle a CreatePartitions request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    CreatePartitionsResponse::default()
}
