//! Heartbeat (not implemented yet: answers an empty response).

use kafkit::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

/// Handle a Heartbeat request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse::default()
}
