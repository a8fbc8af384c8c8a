//! DeleteTopics: remove topics (by name, or by id from v6) through the controller; every broker
//! drops its replicas (and their files) when it applies the new metadata.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::delete_topics_response::DeletableTopicResult;
use kafkit::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafkit::protocol::ErrorCode;

use super::RequestContext;

/// Handle a DeleteTopics request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let controller = &ctx.broker.cluster.controller;
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if ctx.version() >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let mut result = DeletableTopicResult::default().with_name(name.clone());
        let resolved = match &name {
            Some(n) => Some(n.0.to_string()),
            None => controller.image().topic_by_id(id).map(|t| t.name.clone()),
        };
        match resolved {
            None => result.error_code = ErrorCode::UnknownTopicId.code(),
            Some(topic) => match controller.delete_topic(&topic) {
                Ok(deleted) => {
                    if ctx.version() >= 6 {
                        result.topic_id = deleted.id;
                        result.name = Some(TopicName(StrBytes::from_string(topic)));
                    }
                }
                Err(e) => {
                    result.error_code = e.code.code();
                    if ctx.version() >= 5 {
                        result.error_message = Some(StrBytes::from_string(e.message));
                    }
                }
            },
        }
        responses.push(result);
    }
    super::wait_for_latest_metadata(ctx, super::request_timeout(request.timeout_ms)).await;
    DeleteTopicsResponse::default().with_responses(responses)
}
