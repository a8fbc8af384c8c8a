//! Metadata: brokers, controller, and the topics asked for, from this broker's metadata image
//! (a broker cut off from the controller answers from its stale image, as Kafka's would).
//!
//! Auto-creation: when `auto.create.topics.enable` is on and the request allows it, an unknown
//! topic is created with the cluster defaults and, unlike Kafka (which answers
//! LEADER_NOT_AVAILABLE first), returned ready, because the test broker waits for the new
//! metadata to reach every running broker before answering.

use std::time::Duration;

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkit::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::controller::{NewTopic, validate_topic_name};
use crate::metadata::{MetadataImage, TopicMetadata};

/// How long a request waits for new metadata to reach every broker.
pub(crate) const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle a Metadata request.
pub(crate) async fn handle(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let version = ctx.version();
    let mut image = ctx.broker.metadata();

    // Which topics: null (or an empty list before v1) means all.
    let all = match &request.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    let auto_create = ctx.broker.cluster.settings.auto_create_topics
        && (version < 4 || request.allow_auto_topic_creation);

    if !all && auto_create {
        let missing: Vec<String> = request
            .topics
            .iter()
            .flatten()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .filter(|n| image.topic(n).is_none() && validate_topic_name(n).is_ok())
            .collect();
        if !missing.is_empty() {
            for name in missing {
                let new = NewTopic {
                    name,
                    partitions: -1,
                    replication_factor: -1,
                    ..NewTopic::default()
                };
                if let Err(e) = ctx.broker.cluster.controller.create_topic(&new, false) {
                    tracing::debug!(error = %e, "auto-create failed");
                }
            }
            super::wait_for_latest_metadata(ctx, PROPAGATION_TIMEOUT).await;
            image = ctx.broker.metadata();
        }
    }

    let topics = if all {
        image
            .topics
            .values()
            .map(|t| topic_entry(&image, t))
            .collect()
    } else {
        request
            .topics
            .iter()
            .flatten()
            .map(|requested| match (&requested.name, requested.topic_id) {
                (Some(name), _) => match image.topic(name) {
                    Some(t) => topic_entry(&image, t),
                    None => {
                        let code = if validate_topic_name(name).is_err() {
                            ErrorCode::InvalidTopicException
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        MetadataResponseTopic::default()
                            .with_name(Some(name.clone()))
                            .with_error_code(code.code())
                    }
                },
                (None, id) => match image.topic_by_id(id) {
                    Some(t) => topic_entry(&image, t),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ErrorCode::UnknownTopicId.code()),
                },
            })
            .collect()
    };

    MetadataResponse::default()
        .with_brokers(
            image
                .alive_brokers()
                .map(|b| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(b.id))
                        .with_host(StrBytes::from_string(b.host.clone()))
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone().map(StrBytes::from_string))
                })
                .collect(),
        )
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(BrokerId(image.controller_id))
        .with_topics(topics)
}

fn topic_entry(image: &MetadataImage, topic: &TopicMetadata) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let offline: Vec<BrokerId> = p
                .replicas
                .iter()
                .filter(|id| !image.brokers.get(id).is_some_and(|b| b.alive))
                .map(|&id| BrokerId(id))
                .collect();
            let error = if p.leader < 0 {
                ErrorCode::LeaderNotAvailable
            } else {
                ErrorCode::None
            };
            MetadataResponsePartition::default()
                .with_error_code(error.code())
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&id| BrokerId(id)).collect())
                .with_isr_nodes(p.isr.iter().map(|&id| BrokerId(id)).collect())
                .with_offline_replicas(offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}
