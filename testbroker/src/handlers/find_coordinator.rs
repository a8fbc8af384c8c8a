//! FindCoordinator (not implemented yet: answers an empty response).

use kafkit::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::RequestContext;

/// Handle a FindCoordinator request.
pub(crate) async fn handle(
    _ctx: &RequestContext,
    _request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default()
}
