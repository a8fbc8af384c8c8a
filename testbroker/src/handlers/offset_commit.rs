//! OffsetCommit (not implemented yet: answers an empty response).

use kafkit::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;

/// Handle a OffsetCommit request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    OffsetCommitResponse::default()
}
