//! LeaveGroup: members leave (v0-2: one member id; v3+: a batch of members, which may name a
//! static member by `group.instance.id` alone). Leaving triggers a rebalance of the rest.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::leave_group_response::MemberResponse;
use kafkit::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::group::{self, LeaveOutcome, LeavingMember};

/// Handle a LeaveGroup request.
pub(crate) async fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let version = ctx.version();
    let group_id = request.group_id.0.to_string();
    let leaving: Vec<LeavingMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let outcome = match group::check_group(&ctx.broker, &group_id, false) {
        Err(code) => LeaveOutcome {
            error: code,
            members: Vec::new(),
        },
        Ok(()) => ctx.broker.cluster.groups.leave(&group_id, leaving),
    };
    if version >= 3 {
        let members = outcome
            .members
            .into_iter()
            .map(|(m, code)| {
                MemberResponse::default()
                    .with_member_id(StrBytes::from_string(m.member_id))
                    .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                    .with_error_code(code.code())
            })
            .collect();
        return LeaveGroupResponse::default()
            .with_error_code(outcome.error.code())
            .with_members(members);
    }
    // v0-2: the single member's error is the response's.
    let error = if outcome.error != ErrorCode::None {
        outcome.error
    } else {
        outcome
            .members
            .iter()
            .map(|(_, code)| *code)
            .find(|code| *code != ErrorCode::None)
            .unwrap_or(ErrorCode::None)
    };
    LeaveGroupResponse::default().with_error_code(error.code())
}
