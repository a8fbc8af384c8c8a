//! An immutable view of cluster metadata built from Metadata responses: brokers, controller,
//! topics, partitions, leaders and leader epochs. Sans-IO: responses in, lookups out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::MetadataResponse;

use crate::protocol::ErrorCode;

/// A broker as the cluster advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    /// The broker id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerNode {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader, if the partition has one.
    pub leader: Option<i32>,
    /// The leader epoch (-1 when the broker did not say).
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica ids.
    pub isr: Vec<i32>,
    /// Replicas on brokers that are down.
    pub offline_replicas: Vec<i32>,
    /// The partition-level error the broker reported (LEADER_NOT_AVAILABLE, ...).
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// The topic id (nil when the broker did not report one).
    pub id: uuid::Uuid,
    /// Whether it is an internal topic.
    pub internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Indexes of the partitions that currently have a leader.
    pub fn available_partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.partitions
            .iter()
            .filter(|p| p.leader.is_some())
            .map(|p| p.partition)
    }
}

/// Cluster metadata at one point in time.
///
/// ```
/// use kafkit::cluster::MetadataSnapshot;
/// use kafkit::messages::MetadataResponse;
///
/// let snapshot = MetadataSnapshot::default().merged(&MetadataResponse::default(), true);
/// assert!(snapshot.brokers.is_empty());
/// assert_eq!(snapshot.version, 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    /// Increases with every merged response.
    pub version: u64,
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's broker id (-1 unknown).
    pub controller_id: i32,
    /// Live brokers by id.
    pub brokers: BTreeMap<i32, BrokerNode>,
    /// Known topics by name.
    pub topics: HashMap<String, Arc<TopicInfo>>,
    /// Topics the last response reported an error for (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub topic_errors: HashMap<String, ErrorCode>,
}

impl MetadataSnapshot {
    /// The snapshot after applying a Metadata response. With `complete`, the response listed
    /// every topic, so topics it does not mention are dropped; otherwise they are kept.
    pub fn merged(&self, response: &MetadataResponse, complete: bool) -> MetadataSnapshot {
        let mut next = MetadataSnapshot {
            version: self.version + 1,
            cluster_id: response
                .cluster_id
                .as_ref()
                .map(|c| c.to_string())
                .or_else(|| self.cluster_id.clone()),
            controller_id: response.controller_id.0,
            brokers: response
                .brokers
                .iter()
                .filter_map(|b| {
                    Some((
                        b.node_id.0,
                        BrokerNode {
                            id: b.node_id.0,
                            host: b.host.to_string(),
                            port: u16::try_from(b.port).ok()?,
                            rack: b.rack.as_ref().map(|r| r.to_string()),
                        },
                    ))
                })
                .collect(),
            topics: if complete {
                HashMap::new()
            } else {
                self.topics.clone()
            },
            topic_errors: if complete {
                HashMap::new()
            } else {
                self.topic_errors.clone()
            },
        };
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            let error = ErrorCode::from_code(topic.error_code);
            if error != ErrorCode::None {
                next.topics.remove(&name);
                next.topic_errors.insert(name, error);
                continue;
            }
            next.topic_errors.remove(&name);
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    error: ErrorCode::from_code(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            next.topics.insert(
                name.clone(),
                Arc::new(TopicInfo {
                    name,
                    id: topic.topic_id,
                    internal: topic.is_internal,
                    partitions,
                }),
            );
        }
        next
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    /// A partition's state.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionInfo> {
        let index = usize::try_from(partition).ok()?;
        self.topics
            .get(topic)?
            .partitions
            .get(index)
            .filter(|p| p.partition == partition)
    }

    /// The leader broker of a partition, with the leader epoch.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(&BrokerNode, i32)> {
        let p = self.partition(topic, partition)?;
        let node = self.brokers.get(&p.leader?)?;
        Some((node, p.leader_epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// (partition, leader, leader epoch)
    type Partition = (i32, i32, i32);

    fn response(topics: &[(&str, i16, &[Partition])]) -> MetadataResponse {
        MetadataResponse::default()
            .with_cluster_id(Some(StrBytes::from_static_str("c1")))
            .with_controller_id(BrokerId(2))
            .with_brokers(
                (1..=3)
                    .map(|id| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(id))
                            .with_host(StrBytes::from_static_str("127.0.0.1"))
                            .with_port(9000 + id)
                    })
                    .collect(),
            )
            .with_topics(
                topics
                    .iter()
                    .map(|(name, error, partitions)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
                            .with_error_code(*error)
                            .with_partitions(
                                partitions
                                    .iter()
                                    .map(|&(index, leader, epoch)| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(index)
                                            .with_leader_id(BrokerId(leader))
                                            .with_leader_epoch(epoch)
                                            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                                            .with_isr_nodes(vec![BrokerId(1)])
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    #[test]
    fn merge_lookups_and_errors() {
        let s = MetadataSnapshot::default().merged(
            &response(&[("a", 0, &[(1, 2, 5), (0, 1, 4)]), ("gone", 3, &[])]),
            true,
        );
        assert_eq!(s.cluster_id.as_deref(), Some("c1"));
        assert_eq!(s.controller_id, 2);
        assert_eq!(s.brokers.len(), 3);
        let a = s.topic("a").unwrap();
        assert_eq!(
            a.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
            vec![0, 1]
        );
        let (leader, epoch) = s.leader("a", 1).unwrap();
        assert_eq!((leader.address().as_str(), epoch), ("127.0.0.1:9002", 5));
        assert_eq!(
            s.topic_errors.get("gone"),
            Some(&ErrorCode::UnknownTopicOrPartition)
        );
        assert!(s.partition("a", 2).is_none());

        // A partial response keeps other topics; a leaderless partition is not available.
        let s2 = s.merged(&response(&[("b", 0, &[(0, -1, 0)])]), false);
        assert!(s2.topic("a").is_some());
        assert_eq!(s2.topic("b").unwrap().available_partitions().count(), 0);
        assert!(s2.leader("b", 0).is_none());
        assert_eq!(s2.version, 2);
        // A complete response replaces everything.
        let s3 = s2.merged(&response(&[("b", 0, &[(0, 3, 1)])]), true);
        assert!(s3.topic("a").is_none());
        assert_eq!(s3.leader("b", 0).unwrap().0.id, 3);
    }
}
