//! FindCoordinator: which broker coordinates a consumer group (see [`crate::group`] for the
//! placement rule). v0-3 carry one key in the top-level fields; v4+ batch `coordinator_keys`
//! into `coordinators`. Transactions are not supported, so a transaction key gets
//! COORDINATOR_NOT_AVAILABLE; other key types get INVALID_REQUEST.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::find_coordinator_response::Coordinator;
use kafkit::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::group::coordinator_for;

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where one key's coordinator is, or why there is none.
struct Found {
    error: ErrorCode,
    node_id: i32,
    host: String,
    port: i32,
}

fn find(ctx: &RequestContext, key: &str, key_type: i8) -> Found {
    let none = |error| Found {
        error,
        node_id: -1,
        host: String::new(),
        port: -1,
    };
    match key_type {
        KEY_TYPE_GROUP => {}
        KEY_TYPE_TRANSACTION => return none(ErrorCode::CoordinatorNotAvailable),
        _ => return none(ErrorCode::InvalidRequest),
    }
    let image = ctx.broker.metadata();
    match coordinator_for(key, &image) {
        Some(broker) => Found {
            error: ErrorCode::None,
            node_id: broker.id,
            host: broker.host.clone(),
            port: i32::from(broker.port),
        },
        None => none(ErrorCode::CoordinatorNotAvailable),
    }
}

fn message(error: ErrorCode) -> Option<StrBytes> {
    (error != ErrorCode::None).then(|| StrBytes::from_static_str(error.description()))
}

/// Handle a FindCoordinator request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if ctx.version() >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let found = find(ctx, key, request.key_type);
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(found.node_id))
                    .with_host(StrBytes::from_string(found.host))
                    .with_port(found.port)
                    .with_error_code(found.error.code())
                    .with_error_message(message(found.error))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let found = find(ctx, &request.key, request.key_type);
    FindCoordinatorResponse::default()
        .with_error_code(found.error.code())
        .with_error_message(message(found.error))
        .with_node_id(BrokerId(found.node_id))
        .with_host(StrBytes::from_string(found.host))
        .with_port(found.port)
}
