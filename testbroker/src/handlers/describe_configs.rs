//! DescribeConfigs: a topic's configs (overrides and defaults, with their source and type) or a
//! broker's.

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafkit::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::config::{ConfigSource, ConfigType, TOPIC_CONFIGS, broker_configs, resource_type};

/// Handle a DescribeConfigs request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = ctx.broker.metadata();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            let entry = |name: &str,
                         value: String,
                         source: ConfigSource,
                         config_type: ConfigType,
                         read_only: bool| {
                DescribeConfigsResourceResult::default()
                    .with_name(StrBytes::from_string(name.to_string()))
                    .with_value(Some(StrBytes::from_string(value)))
                    .with_read_only(read_only)
                    .with_config_source(source as i8)
                    .with_config_type(config_type as i8)
            };
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match resource.resource_type {
                resource_type::TOPIC => match image.topic(resource.resource_name.as_str()) {
                    Some(topic) => {
                        result.configs = TOPIC_CONFIGS
                            .iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| {
                                let (value, is_default) =
                                    topic.config.get(d.name).expect("known config");
                                let source = if is_default {
                                    ConfigSource::Default
                                } else {
                                    ConfigSource::DynamicTopic
                                };
                                entry(d.name, value.to_string(), source, d.config_type, false)
                            })
                            .collect();
                    }
                    None => {
                        result.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        result.error_message = Some(StrBytes::from_string(format!(
                            "topic '{}' does not exist",
                            resource.resource_name.as_str()
                        )));
                    }
                },
                resource_type::BROKER => {
                    let name = resource.resource_name.as_str();
                    if !name.is_empty()
                        && name
                            .parse::<i32>()
                            .ok()
                            .is_none_or(|id| !image.brokers.contains_key(&id))
                    {
                        result.error_code = ErrorCode::InvalidRequest.code();
                        result.error_message =
                            Some(StrBytes::from_string(format!("no broker '{name}'")));
                    } else {
                        let id = name.parse().unwrap_or(ctx.broker.id);
                        let cluster = &ctx.broker.cluster;
                        result.configs =
                            broker_configs(id, &cluster.settings, cluster.controller.defaults())
                                .into_iter()
                                .filter(|(n, _, _)| wanted(n))
                                .map(|(n, v, t)| entry(n, v, ConfigSource::StaticBroker, t, true))
                                .collect();
                    }
                }
                other => {
                    result.error_code = ErrorCode::InvalidRequest.code();
                    result.error_message = Some(StrBytes::from_string(format!(
                        "resource type {other} is not supported"
                    )));
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
