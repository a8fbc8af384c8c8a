//! IncrementalAlterConfigs (KIP-339): SET, DELETE, APPEND and SUBTRACT on a topic's configs.
//! Broker configs are static on the test broker.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafkit::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use super::metadata::PROPAGATION_TIMEOUT;
use crate::config::{AlterOp, resource_type};

/// Handle an IncrementalAlterConfigs request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let controller = &ctx.broker.cluster.controller;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let mut response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let topic = resource.resource_name.to_string();
            let outcome = (|| {
                if resource.resource_type != resource_type::TOPIC {
                    return Err((
                        ErrorCode::InvalidRequest,
                        "only topic configs can be altered on the test broker".to_string(),
                    ));
                }
                let current = controller
                    .image()
                    .topic(&topic)
                    .map(|t| t.config.clone())
                    .ok_or_else(|| {
                        (
                            ErrorCode::UnknownTopicOrPartition,
                            format!("topic '{topic}' does not exist"),
                        )
                    })?;
                let mut config = current;
                for c in &resource.configs {
                    let op = AlterOp::from_i8(c.config_operation).ok_or_else(|| {
                        (
                            ErrorCode::InvalidRequest,
                            format!("unknown config operation {}", c.config_operation),
                        )
                    })?;
                    config
                        .apply(c.name.as_str(), op, c.value.as_ref().map(|v| v.as_str()))
                        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
                }
                if request.validate_only {
                    return Ok(());
                }
                controller
                    .set_topic_config(&topic, config)
                    .map_err(|e| (e.code, e.message))
            })();
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
