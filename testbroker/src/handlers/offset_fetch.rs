//! OffsetFetch (not implemented yet: answers an empty response).

use kafkit::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::RequestContext;

/// Handle a OffsetFetch request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    OffsetFetchResponse::default()
}
