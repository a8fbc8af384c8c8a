//! Request handlers, one file per API, each a function from a request to its response over the
//! broker's shared state (as mini-redis and franz-go's kfake are laid out).
//!
//! [`prepare`] decodes a request body synchronously (so malformed input closes the connection
//! before anything runs) and returns the future that handles it and encodes the response with
//! the header version its API and version call for.

pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Encodable, Message};
use kafkit::messages::ApiKey;
use kafkit::protocol::frame::{ApiRequest, DecodedRequestHeader, encode_response};

use crate::broker::BrokerState;
use crate::broker::replica::{Replica, ReplicaState};
use crate::faults::FaultAction;
use kafkit::protocol::ErrorCode;

/// What a handled request produces for the connection's writer.
pub(crate) enum Reply {
    /// A complete response frame to write.
    Frame(Bytes),
    /// Nothing to write (`acks=0` produce).
    Nothing,
    /// The connection must close after the replies before this one.
    Close,
}

/// A request's future: runs the handler, yields the encoded reply.
pub(crate) type Pending = Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// The broker handling it.
    pub broker: Arc<BrokerState>,
    /// The request header.
    pub header: DecodedRequestHeader,
}

impl RequestContext {
    /// The request's API version.
    pub fn version(&self) -> i16 {
        self.header.api_version
    }
}

/// The replica of `topic`-`partition` on this broker, or the error a client gets for a
/// partition it does not know (UNKNOWN_TOPIC_OR_PARTITION) or that lives elsewhere
/// (NOT_LEADER_OR_FOLLOWER).
pub(crate) fn local_replica(
    ctx: &RequestContext,
    topic: &str,
    partition: i32,
) -> Result<Arc<Replica>, ErrorCode> {
    if ctx.broker.metadata().partition(topic, partition).is_none() {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    ctx.broker
        .replica(topic, partition)
        .ok_or(ErrorCode::NotLeaderOrFollower)
}

/// Whether this replica may answer a leader-only request from a client that believes the leader
/// epoch is `current_leader_epoch` (-1: not checked). KIP-320: a stale epoch is fenced, a newer
/// one is unknown here.
pub(crate) fn check_leadership(
    state: &ReplicaState,
    current_leader_epoch: i32,
) -> Result<(), ErrorCode> {
    if !state.is_leader {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    match current_leader_epoch {
        e if e < 0 => Ok(()),
        e if e < state.leader_epoch => Err(ErrorCode::FencedLeaderEpoch),
        e if e > state.leader_epoch => Err(ErrorCode::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

/// Wait (up to the request's timeout, at most a minute) until every running broker has the
/// controller's latest metadata, so that an admin request's effect is visible everywhere once
/// it is answered.
pub(crate) async fn wait_for_latest_metadata(ctx: &RequestContext, timeout: std::time::Duration) {
    let version = ctx.broker.cluster.controller.image().version;
    let timeout = timeout.min(std::time::Duration::from_secs(60));
    ctx.broker
        .cluster
        .wait_for_propagation(version, timeout)
        .await;
}

/// A request's `timeout_ms` field as a duration (negative means none).
pub(crate) fn request_timeout(timeout_ms: i32) -> std::time::Duration {
    std::time::Duration::from_millis(timeout_ms.max(0) as u64)
}

/// The APIs this broker serves, with the version ranges it answers (those `kafka-protocol`
/// implements).
pub(crate) fn supported_apis() -> impl Iterator<Item = (ApiKey, i16, i16)> {
    use ApiKey::*;
    [
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        DescribeConfigs,
        AlterConfigs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        DescribeCluster,
    ]
    .into_iter()
    .map(|api| {
        let range = api.valid_versions();
        (api, range.min, range.max)
    })
}

fn encode<M: Message + Encodable>(
    header: &DecodedRequestHeader,
    api: ApiKey,
    response: &M,
) -> Reply {
    let mut buf = BytesMut::new();
    match encode_response(
        &mut buf,
        header.correlation_id,
        api,
        header.api_version,
        response,
    ) {
        Ok(()) => Reply::Frame(buf.freeze()),
        Err(e) => {
            tracing::error!(?api, version = header.api_version, error = %e, "cannot encode response; closing connection");
            Reply::Close
        }
    }
}

/// Decode the body after `header` and return the future that answers it, or `None` when the
/// connection must close (unknown API, unsupported version, malformed body).
pub(crate) fn prepare(
    broker: &Arc<BrokerState>,
    header: DecodedRequestHeader,
    mut body: Bytes,
) -> Option<Pending> {
    let api = match header.api() {
        Ok(api) => api,
        Err(e) => {
            tracing::warn!(broker = broker.id, api_key = header.api_key, error = %e, "unknown API key; closing connection");
            return None;
        }
    };
    let supported = supported_apis().find(|(a, _, _)| *a == api);
    let in_range = supported.is_some_and(|(_, min, max)| (min..=max).contains(&header.api_version));
    if api == ApiKey::ApiVersions && !in_range {
        // Kafka answers an unknown ApiVersions version in the v0 layout with UNSUPPORTED_VERSION
        // and its ranges, so the client can retry at a version both know.
        let response = api_versions::unsupported_version_response();
        let mut v0 = header.clone();
        v0.api_version = 0;
        return Some(Box::pin(async move { encode(&v0, api, &response) }));
    }
    if !in_range {
        tracing::warn!(
            broker = broker.id,
            ?api,
            version = header.api_version,
            "unsupported API or version; closing connection"
        );
        return None;
    }
    let request = match ApiRequest::decode(&header, &mut body) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(broker = broker.id, ?api, version = header.api_version, error = %e, "malformed request; closing connection");
            return None;
        }
    };
    let client_id = header.client_id.as_ref().map(|c| c.as_str().to_string());
    // Naming the request's topic-partitions allocates (and may read metadata): only when a
    // rule matches by topic.
    let topics = if broker.cluster.faults.has_topic_rules() {
        topic_partitions(&request, header.api_version, &broker.metadata())
    } else {
        Vec::new()
    };
    let action = broker.cluster.faults.intercept(
        broker.id,
        api,
        header.api_version,
        client_id.as_deref(),
        &topics,
    );
    let ctx = RequestContext {
        broker: broker.clone(),
        header,
    };
    match action {
        None => Some(Box::pin(async move { dispatch(ctx, request).await })),
        Some(FaultAction::DropConnection) => Some(Box::pin(async { Reply::Close })),
        Some(FaultAction::Delay(delay)) => Some(Box::pin(async move {
            let reply = dispatch(ctx, request).await;
            tokio::time::sleep(delay).await;
            reply
        })),
        Some(FaultAction::Error(code)) => match injected_error(&ctx.header, request, code) {
            Ok(reply) => Some(Box::pin(async move { reply })),
            // No way to express an error for this API: handle it normally.
            Err(request) => Some(Box::pin(async move { dispatch(ctx, *request).await })),
        },
    }
}

/// The topic-partitions a request names, for fault matching. Produce and Fetch v13+ name
/// topics by id; those are resolved through this broker's metadata image (an unknown id
/// matches no topic rule).
fn topic_partitions(
    request: &ApiRequest,
    version: i16,
    image: &crate::metadata::MetadataImage,
) -> Vec<(String, i32)> {
    let name_of = |name: &str, id: uuid::Uuid| -> String {
        if version >= 13 {
            image
                .topic_by_id(id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        } else {
            name.to_string()
        }
    };
    let mut out = Vec::new();
    match request {
        ApiRequest::Produce(r) => {
            for t in &r.topic_data {
                let name = name_of(&t.name.0, t.topic_id);
                out.extend(t.partition_data.iter().map(|p| (name.clone(), p.index)));
            }
        }
        ApiRequest::Fetch(r) => {
            for t in &r.topics {
                let name = name_of(&t.topic.0, t.topic_id);
                out.extend(t.partitions.iter().map(|p| (name.clone(), p.partition)));
            }
        }
        ApiRequest::OffsetCommit(r) => {
            for t in &r.topics {
                out.extend(
                    t.partitions
                        .iter()
                        .map(|p| (t.name.0.to_string(), p.partition_index)),
                );
            }
        }
        ApiRequest::ListOffsets(r) => {
            for t in &r.topics {
                out.extend(
                    t.partitions
                        .iter()
                        .map(|p| (t.name.0.to_string(), p.partition_index)),
                );
            }
        }
        _ => {}
    }
    out
}

/// An injected error as the API's response: the error code on every partition (Produce,
/// Fetch, ListOffsets, OffsetCommit), on every topic (Metadata, CreateTopics, DeleteTopics,
/// CreatePartitions), on every group (DescribeGroups, DeleteGroups) or at the top level (the
/// other group APIs, ListGroups, InitProducerId).
/// Gives the request back for APIs with no such place.
fn injected_error(
    header: &DecodedRequestHeader,
    request: ApiRequest,
    code: ErrorCode,
) -> Result<Reply, Box<ApiRequest>> {
    use kafkit::messages::*;
    let c = code.code();
    let v = header.api_version;
    Ok(match request {
        ApiRequest::Produce(r) => {
            if r.acks == 0 {
                return Ok(Reply::Nothing);
            }
            let responses = r
                .topic_data
                .into_iter()
                .map(|t| {
                    produce_response::TopicProduceResponse::default()
                        .with_name(t.name)
                        .with_topic_id(t.topic_id)
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| {
                                    produce_response::PartitionProduceResponse::default()
                                        .with_index(p.index)
                                        .with_error_code(c)
                                        .with_base_offset(-1)
                                })
                                .collect(),
                        )
                })
                .collect();
            encode(
                header,
                ApiKey::Produce,
                &ProduceResponse::default().with_responses(responses),
            )
        }
        ApiRequest::Fetch(r) => {
            let responses = r
                .topics
                .into_iter()
                .map(|t| {
                    fetch_response::FetchableTopicResponse::default()
                        .with_topic(t.topic)
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    fetch_response::PartitionData::default()
                                        .with_partition_index(p.partition)
                                        .with_error_code(c)
                                        .with_high_watermark(-1)
                                })
                                .collect(),
                        )
                })
                .collect();
            encode(
                header,
                ApiKey::Fetch,
                &FetchResponse::default().with_responses(responses),
            )
        }
        ApiRequest::ListOffsets(r) => {
            let topics = r
                .topics
                .into_iter()
                .map(|t| {
                    list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(t.name)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    list_offsets_response::ListOffsetsPartitionResponse::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(c)
                                        .with_offset(-1)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )
                })
                .collect();
            encode(
                header,
                ApiKey::ListOffsets,
                &ListOffsetsResponse::default().with_topics(topics),
            )
        }
        ApiRequest::Metadata(r) => {
            let topics = r
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(t.name)
                        .with_topic_id(t.topic_id)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::Metadata,
                &MetadataResponse::default().with_topics(topics),
            )
        }
        ApiRequest::FindCoordinator(r) => {
            let mut response = FindCoordinatorResponse::default();
            if v >= 4 {
                response.coordinators = r
                    .coordinator_keys
                    .into_iter()
                    .map(|k| {
                        find_coordinator_response::Coordinator::default()
                            .with_key(k)
                            .with_error_code(c)
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                    })
                    .collect();
            } else {
                response = response
                    .with_error_code(c)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1);
            }
            encode(header, ApiKey::FindCoordinator, &response)
        }
        ApiRequest::JoinGroup(_) => encode(
            header,
            ApiKey::JoinGroup,
            &JoinGroupResponse::default().with_error_code(c),
        ),
        ApiRequest::SyncGroup(_) => encode(
            header,
            ApiKey::SyncGroup,
            &SyncGroupResponse::default().with_error_code(c),
        ),
        ApiRequest::Heartbeat(_) => encode(
            header,
            ApiKey::Heartbeat,
            &HeartbeatResponse::default().with_error_code(c),
        ),
        ApiRequest::LeaveGroup(_) => encode(
            header,
            ApiKey::LeaveGroup,
            &LeaveGroupResponse::default().with_error_code(c),
        ),
        ApiRequest::InitProducerId(_) => encode(
            header,
            ApiKey::InitProducerId,
            &InitProducerIdResponse::default()
                .with_error_code(c)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        ApiRequest::OffsetCommit(r) => {
            let topics = r
                .topics
                .into_iter()
                .map(|t| {
                    offset_commit_response::OffsetCommitResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    offset_commit_response::OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(c)
                                })
                                .collect(),
                        )
                })
                .collect();
            encode(
                header,
                ApiKey::OffsetCommit,
                &OffsetCommitResponse::default().with_topics(topics),
            )
        }
        ApiRequest::CreateTopics(r) => {
            let topics = r
                .topics
                .into_iter()
                .map(|t| {
                    create_topics_response::CreatableTopicResult::default()
                        .with_name(t.name)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::CreateTopics,
                &CreateTopicsResponse::default().with_topics(topics),
            )
        }
        ApiRequest::DeleteTopics(r) => {
            let names: Vec<_> = if v >= 6 {
                r.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
            } else {
                r.topic_names
                    .into_iter()
                    .map(|n| (Some(n), Default::default()))
                    .collect()
            };
            let responses = names
                .into_iter()
                .map(|(name, id)| {
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(name)
                        .with_topic_id(id)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::DeleteTopics,
                &DeleteTopicsResponse::default().with_responses(responses),
            )
        }
        ApiRequest::CreatePartitions(r) => {
            let results = r
                .topics
                .into_iter()
                .map(|t| {
                    create_partitions_response::CreatePartitionsTopicResult::default()
                        .with_name(t.name)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::CreatePartitions,
                &CreatePartitionsResponse::default().with_results(results),
            )
        }
        ApiRequest::DescribeGroups(r) => {
            let groups = r
                .groups
                .into_iter()
                .map(|g| {
                    describe_groups_response::DescribedGroup::default()
                        .with_group_id(g)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::DescribeGroups,
                &DescribeGroupsResponse::default().with_groups(groups),
            )
        }
        ApiRequest::DeleteGroups(r) => {
            let results = r
                .groups_names
                .into_iter()
                .map(|g| {
                    delete_groups_response::DeletableGroupResult::default()
                        .with_group_id(g)
                        .with_error_code(c)
                })
                .collect();
            encode(
                header,
                ApiKey::DeleteGroups,
                &DeleteGroupsResponse::default().with_results(results),
            )
        }
        ApiRequest::ListGroups(_) => encode(
            header,
            ApiKey::ListGroups,
            &ListGroupsResponse::default().with_error_code(c),
        ),
        other => return Err(Box::new(other)),
    })
}

async fn dispatch(ctx: RequestContext, request: ApiRequest) -> Reply {
    let h = &ctx.header;
    match request {
        ApiRequest::ApiVersions(r) => {
            encode(h, ApiKey::ApiVersions, &api_versions::handle(&ctx, r))
        }
        ApiRequest::Metadata(r) => encode(h, ApiKey::Metadata, &metadata::handle(&ctx, r).await),
        ApiRequest::Produce(r) => {
            let acks = r.acks;
            match produce::handle(&ctx, r).await {
                // acks=0 is never answered; Kafka closes the connection when it failed.
                Some(_) if acks == 0 => Reply::Close,
                Some(response) => encode(h, ApiKey::Produce, &response),
                None => Reply::Nothing,
            }
        }
        ApiRequest::Fetch(r) => encode(h, ApiKey::Fetch, &fetch::handle(&ctx, r).await),
        ApiRequest::ListOffsets(r) => {
            encode(h, ApiKey::ListOffsets, &list_offsets::handle(&ctx, r).await)
        }
        ApiRequest::FindCoordinator(r) => encode(
            h,
            ApiKey::FindCoordinator,
            &find_coordinator::handle(&ctx, r).await,
        ),
        ApiRequest::JoinGroup(r) => {
            encode(h, ApiKey::JoinGroup, &join_group::handle(&ctx, r).await)
        }
        ApiRequest::SyncGroup(r) => {
            encode(h, ApiKey::SyncGroup, &sync_group::handle(&ctx, r).await)
        }
        ApiRequest::Heartbeat(r) => encode(h, ApiKey::Heartbeat, &heartbeat::handle(&ctx, r).await),
        ApiRequest::LeaveGroup(r) => {
            encode(h, ApiKey::LeaveGroup, &leave_group::handle(&ctx, r).await)
        }
        ApiRequest::OffsetCommit(r) => encode(
            h,
            ApiKey::OffsetCommit,
            &offset_commit::handle(&ctx, r).await,
        ),
        ApiRequest::OffsetFetch(r) => {
            encode(h, ApiKey::OffsetFetch, &offset_fetch::handle(&ctx, r).await)
        }
        ApiRequest::ListGroups(r) => {
            encode(h, ApiKey::ListGroups, &list_groups::handle(&ctx, r).await)
        }
        ApiRequest::DescribeGroups(r) => encode(
            h,
            ApiKey::DescribeGroups,
            &describe_groups::handle(&ctx, r).await,
        ),
        ApiRequest::DeleteGroups(r) => encode(
            h,
            ApiKey::DeleteGroups,
            &delete_groups::handle(&ctx, r).await,
        ),
        ApiRequest::CreateTopics(r) => encode(
            h,
            ApiKey::CreateTopics,
            &create_topics::handle(&ctx, r).await,
        ),
        ApiRequest::DeleteTopics(r) => encode(
            h,
            ApiKey::DeleteTopics,
            &delete_topics::handle(&ctx, r).await,
        ),
        ApiRequest::CreatePartitions(r) => encode(
            h,
            ApiKey::CreatePartitions,
            &create_partitions::handle(&ctx, r).await,
        ),
        ApiRequest::DescribeConfigs(r) => encode(
            h,
            ApiKey::DescribeConfigs,
            &describe_configs::handle(&ctx, r).await,
        ),
        ApiRequest::AlterConfigs(r) => encode(
            h,
            ApiKey::AlterConfigs,
            &alter_configs::handle(&ctx, r).await,
        ),
        ApiRequest::IncrementalAlterConfigs(r) => encode(
            h,
            ApiKey::IncrementalAlterConfigs,
            &incremental_alter_configs::handle(&ctx, r).await,
        ),
        ApiRequest::DescribeCluster(r) => encode(
            h,
            ApiKey::DescribeCluster,
            &describe_cluster::handle(&ctx, r).await,
        ),
        ApiRequest::InitProducerId(r) => encode(
            h,
            ApiKey::InitProducerId,
            &init_producer_id::handle(&ctx, r).await,
        ),
        ApiRequest::DeleteRecords(r) => encode(
            h,
            ApiKey::DeleteRecords,
            &delete_records::handle(&ctx, r).await,
        ),
        ApiRequest::OffsetForLeaderEpoch(r) => encode(
            h,
            ApiKey::OffsetForLeaderEpoch,
            &offset_for_leader_epoch::handle(&ctx, r).await,
        ),
        other => {
            tracing::warn!(api = ?other.api_key(), "no handler; closing connection");
            Reply::Close
        }
    }
}
