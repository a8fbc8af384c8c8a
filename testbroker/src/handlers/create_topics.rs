//! CreateTopics: validate and create topics through the controller, then wait (up to the
//! request's timeout) until every running broker has the new metadata.

use std::collections::HashMap;

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafkit::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::config::{ConfigSource, TOPIC_CONFIGS};
use crate::controller::NewTopic;

/// Handle a CreateTopics request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let controller = &ctx.broker.cluster.controller;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let fail = |result: &mut CreatableTopicResult, code: ErrorCode, message: String| {
            result.error_code = code.code();
            result.error_message = Some(StrBytes::from_string(message));
        };
        if seen[&name] > 1 {
            fail(
                &mut result,
                ErrorCode::InvalidRequest,
                format!("topic '{name}' appears more than once in the request"),
            );
            results.push(result);
            continue;
        }
        let assignment = if topic.assignments.is_empty() {
            None
        } else {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                fail(
                    &mut result,
                    ErrorCode::InvalidRequest,
                    "both a replica assignment and a partition count or replication factor were given".into(),
                );
                results.push(result);
                continue;
            }
            let mut by_partition: Vec<_> = topic.assignments.iter().collect();
            by_partition.sort_by_key(|a| a.partition_index);
            if by_partition
                .iter()
                .enumerate()
                .any(|(i, a)| a.partition_index != i as i32)
            {
                fail(
                    &mut result,
                    ErrorCode::InvalidReplicaAssignment,
                    "partitions in the assignment must be 0..n".into(),
                );
                results.push(result);
                continue;
            }
            Some(
                by_partition
                    .iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect(),
            )
        };
        let new = NewTopic {
            name: name.clone(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignment,
            configs: topic
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.to_string(), v.to_string()))
                })
                .collect(),
        };
        match controller.create_topic(&new, request.validate_only) {
            Ok(created) => {
                result.topic_id = created.id;
                result.num_partitions = created.partitions.len() as i32;
                result.replication_factor = created
                    .partitions
                    .first()
                    .map_or(0, |p| p.replicas.len() as i16);
                result.configs = Some(
                    TOPIC_CONFIGS
                        .iter()
                        .map(|def| {
                            let (value, is_default) =
                                created.config.get(def.name).expect("known config");
                            let source = if is_default {
                                ConfigSource::Default
                            } else {
                                ConfigSource::DynamicTopic
                            };
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(def.name))
                                .with_value(Some(StrBytes::from_string(value.to_string())))
                                .with_config_source(source as i8)
                        })
                        .collect(),
                );
            }
            Err(e) => fail(&mut result, e.code, e.message),
        }
        results.push(result);
    }
    if !request.validate_only {
        super::wait_for_latest_metadata(ctx, super::request_timeout(request.timeout_ms)).await;
    }
    CreateTopicsResponse::default().with_topics(results)
}
