//! DeleteRecords (not implemented yet: answers an empty response).

use kafkit::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;

/// Handle a DeleteRecords request.
pub(crate) async fn handle(_ctx: &RequestContext, _request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    DeleteRecordsResponse::default()
}
