//! DescribeCluster: the cluster id, the controller and the brokers (fenced ones too when asked,
//! v2+).

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::describe_cluster_response::DescribeClusterBroker;
use kafkit::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::RequestContext;

/// Handle a DescribeCluster request.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.broker.metadata();
    let include_fenced = ctx.version() >= 2 && request.include_fenced_brokers;
    let brokers = image
        .brokers
        .values()
        .filter(|b| b.alive || include_fenced)
        .map(|b| {
            let mut broker = DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(StrBytes::from_string));
            if ctx.version() >= 2 {
                broker.is_fenced = !b.alive;
            }
            broker
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(image.controller_id))
        .with_brokers(brokers)
}
