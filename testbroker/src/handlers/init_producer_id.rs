//! InitProducerId: hand out a producer id and epoch for idempotent producers; with a known id and
//! epoch (v3+, KIP-360) bump the epoch instead. Transactions are not supported: a transactional
//! id is answered with INVALID_REQUEST.

use kafkit::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::broker::allocate_producer_id;

/// Handle an InitProducerId request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        return response
            .with_error_code(ErrorCode::InvalidRequest.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let (id, epoch) = if request.producer_id.0 >= 0
        && request.producer_epoch >= 0
        && request.producer_epoch < i16::MAX - 1
    {
        (request.producer_id.0, request.producer_epoch + 1)
    } else {
        (allocate_producer_id(&ctx.broker.cluster), 0)
    };
    response
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}
