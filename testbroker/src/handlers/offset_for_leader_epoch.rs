//! OffsetForLeaderEpoch (not implemented yet: answers an empty response).

use kafkit::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;

/// Handle a OffsetForLeaderEpoch request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse::default()
}
