//! InitProducerId (not implemented yet: answers an empty response).

use kafkit::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;

/// Handle a InitProducerId request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: InitProducerIdRequest) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
}
