//! ListGroups: the groups this broker coordinates (clients ask every broker and merge), with
//! their state (v4+, filterable) and type (v5+: always "classic", filterable).

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::list_groups_response::ListedGroup;
use kafkit::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::RequestContext;
use crate::group::coordinator_for;

/// The group type of every group here (Kafka's `Group.GroupType.CLASSIC`).
const GROUP_TYPE: &str = "classic";

/// Handle a ListGroups request.
pub(crate) async fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> ListGroupsResponse {
    let version = ctx.version();
    let states: Vec<String> = if version >= 4 {
        request
            .states_filter
            .iter()
            .map(|s| s.to_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let type_ok = version < 5
        || request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(GROUP_TYPE));
    let image = ctx.broker.metadata();
    let groups = ctx
        .broker
        .cluster
        .groups
        .list()
        .into_iter()
        .filter(|g| coordinator_for(&g.group_id, &image).is_some_and(|b| b.id == ctx.broker.id))
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
        .filter(|_| type_ok)
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state.name()))
                .with_group_type(StrBytes::from_static_str(GROUP_TYPE))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
