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
    let ctx = RequestContext {
        broker: broker.clone(),
        header,
    };
    Some(Box::pin(async move { dispatch(ctx, request).await }))
}

async fn dispatch(ctx: RequestContext, request: ApiRequest) -> Reply {
    let h = &ctx.header;
    match request {
        ApiRequest::ApiVersions(r) => {
            encode(h, ApiKey::ApiVersions, &api_versions::handle(&ctx, r))
        }
        ApiRequest::Metadata(r) => encode(h, ApiKey::Metadata, &metadata::handle(&ctx, r).await),
        ApiRequest::Produce(r) => match produce::handle(&ctx, r).await {
            Some(response) => encode(h, ApiKey::Produce, &response),
            None => Reply::Nothing,
        },
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
