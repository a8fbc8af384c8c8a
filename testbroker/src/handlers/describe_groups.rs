//! DescribeGroups (v0-6): state, protocol and members of each group. Member metadata and
//! assignments are only shown for a Stable group, as Kafka does. An unknown group is reported
//! as "Dead" (v6+: with GROUP_ID_NOT_FOUND).

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafkit::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::group::{self, GroupState};

/// Handle a DescribeGroups request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.version();
    let groups = request
        .groups
        .iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            if let Err(code) = group::check_group(&ctx.broker, group_id, true) {
                return described.with_error_code(code.code());
            }
            let Some(description) = ctx.broker.cluster.groups.describe(group_id) else {
                let mut dead =
                    described.with_group_state(StrBytes::from_static_str(GroupState::Dead.name()));
                if version >= 6 {
                    dead.error_code = ErrorCode::GroupIdNotFound.code();
                    dead.error_message = Some(StrBytes::from_string(format!(
                        "Group {} not found.",
                        &**group_id
                    )));
                }
                return dead;
            };
            let members = description
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(description.state.name()))
                .with_protocol_type(StrBytes::from_string(description.protocol_type))
                .with_protocol_data(StrBytes::from_string(description.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
