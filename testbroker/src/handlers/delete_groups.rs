//! DeleteGroups (v0-2): delete Empty groups and their committed offsets; a group with members
//! gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.

use kafkit::messages::delete_groups_response::DeletableGroupResult;
use kafkit::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::group;

/// Handle a DeleteGroups request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let results = request
        .groups_names
        .iter()
        .map(|group_id| {
            let code = match group::check_group(&ctx.broker, group_id, true) {
                Err(code) => code,
                Ok(()) => ctx.broker.cluster.groups.delete(group_id),
            };
            DeletableGroupResult::default()
                .with_group_id(group_id.clone())
                .with_error_code(code.code())
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
