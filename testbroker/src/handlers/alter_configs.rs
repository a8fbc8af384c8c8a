//! AlterConfigs: replace a topic's config overrides with the given set (the legacy,
//! non-incremental semantics). Broker configs are static on the test broker.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafkit::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use super::metadata::PROPAGATION_TIMEOUT;
use crate::config::{TopicConfig, resource_type};

/// Handle an AlterConfigs request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let controller = &ctx.broker.cluster.controller;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let mut response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let outcome = if resource.resource_type != resource_type::TOPIC {
                Err((
                    ErrorCode::InvalidRequest,
                    "only topic configs can be altered on the test broker".to_string(),
                ))
            } else {
                let topic = resource.resource_name.to_string();
                let entries = resource
                    .configs
                    .iter()
                    .filter_map(|c| c.value.as_ref().map(|v| (c.name.as_str(), v.as_str())));
                match TopicConfig::with_overrides(entries) {
                    Err(e) => Err((ErrorCode::InvalidConfig, e.to_string())),
                    Ok(_) if controller.image().topic(&topic).is_none() => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic '{topic}' does not exist"),
                    )),
                    Ok(_) if request.validate_only => Ok(()),
                    Ok(config) => controller
                        .set_topic_config(&topic, config)
                        .map_err(|e| (e.code, e.message)),
                }
            };
            if let Err((code, message)) = outcome {
                response.error_code = code.code();
                response.error_message = Some(StrBytes::from_string(message));
            }
            response
        })
        .collect();
    if !request.validate_only {
        // Answer once every running broker applies the change (as CreateTopics does), so the
        // next request anywhere sees it.
        super::wait_for_latest_metadata(ctx, PROPAGATION_TIMEOUT).await;
    }
    AlterConfigsResponse::default().with_responses(responses)
}
