//! JoinGroup: join (or rejoin) a consumer group; the answer waits until the rebalance
//! completes. The rules live in [`crate::group`].

use std::time::Duration;

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::join_group_response::JoinGroupResponseMember;
use kafkit::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;
use crate::group::{self, JoinOutcome, JoinRequest, Protocol};

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Handle a JoinGroup request.
pub(crate) async fn handle(ctx: &RequestContext, request: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    let group_id = request.group_id.0.to_string();
    let outcome = match group::check_group(&ctx.broker, &group_id, false) {
        Err(code) => JoinOutcome::error(request.member_id.to_string(), code),
        Ok(()) => {
            // v0 has no rebalance timeout: the session timeout stands in for it.
            let rebalance_timeout_ms = if version >= 1 {
                request.rebalance_timeout_ms
            } else {
                request.session_timeout_ms
            };
            let join = JoinRequest {
                group_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
                client_id: ctx
                    .header
                    .client_id
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                client_host: group::CLIENT_HOST.to_string(),
                session_timeout: millis(request.session_timeout_ms),
                rebalance_timeout: millis(rebalance_timeout_ms),
                protocol_type: request.protocol_type.to_string(),
                protocols: request
                    .protocols
                    .iter()
                    .map(|p| Protocol {
                        name: p.name.to_string(),
                        metadata: p.metadata.clone(),
                    })
                    .collect(),
                require_known_member_id: version >= 4 && request.group_instance_id.is_none(),
                supports_skip_assignment: version >= 9,
            };
            ctx.broker.cluster.groups.join(join).await
        }
    };
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                .with_metadata(m.metadata)
        })
        .collect();
    let protocol_name = outcome.protocol_name.map(StrBytes::from_string);
    let mut response = JoinGroupResponse::default()
        .with_error_code(outcome.error.code())
        .with_generation_id(outcome.generation_id)
        // Before v7 the protocol name is not nullable.
        .with_protocol_name(if version >= 7 {
            protocol_name
        } else {
            Some(protocol_name.unwrap_or_default())
        })
        .with_leader(StrBytes::from_string(outcome.leader))
        .with_member_id(StrBytes::from_string(outcome.member_id))
        .with_members(members);
    if version >= 7 {
        response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
    }
    if version >= 9 {
        response.skip_assignment = outcome.skip_assignment;
    }
    response
}
