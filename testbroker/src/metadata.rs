//! The cluster metadata image: brokers, topics, partitions (replicas, ISR, leader, leader epoch)
//! and topic configs, as the controller publishes it.
//!
//! An image is immutable once published; the controller builds the next one and every broker
//! that can still hear the controller switches to it. A broker cut off from the controller keeps
//! the last image it saw, which is how a stale leader keeps believing it leads.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::config::TopicConfig;

/// A broker as registered with the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// The broker id (`node.id`).
    pub id: i32,
    /// The host it listens on.
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// Its rack, if any.
    pub rack: Option<String>,
    /// Whether the controller considers it alive (unfenced).
    pub alive: bool,
}

impl BrokerRegistration {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition index.
    pub partition: i32,
    /// Replica broker ids; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replica ids.
    pub isr: Vec<i32>,
    /// The leader's id, or -1 when the partition is offline.
    pub leader: i32,
    /// Bumped on every leader change.
    pub leader_epoch: i32,
    /// Bumped on every change of this partition's state (leader or ISR).
    pub partition_epoch: i32,
}

/// One topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// The topic id.
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<PartitionMetadata>,
    /// The topic's configuration (overrides on top of the defaults).
    pub config: TopicConfig,
}

/// What the controller publishes: everything a broker needs to know about the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataImage {
    /// Increases with every published change.
    pub version: u64,
    /// The cluster id.
    pub cluster_id: String,
    /// The broker that acts as controller.
    pub controller_id: i32,
    /// Registered brokers by id.
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Topics by name.
    pub topics: BTreeMap<String, Arc<TopicMetadata>>,
}

impl MetadataImage {
    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicMetadata>> {
        self.topics.values().find(|t| t.id == id)
    }

    /// A partition's state.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    /// Ids of the brokers the controller considers alive.
    pub fn alive_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| b.alive)
    }
}

/// Kafka's rack-unaware replica assignment: partition `p`'s first replica is broker
/// `(start + p) % n`, the others follow at a shift that changes every `n` partitions, so replicas
/// and leaders spread evenly.
pub fn assign_replicas(
    brokers: &[i32],
    partitions: std::ops::Range<i32>,
    replication_factor: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut shift = start % n;
    for p in partitions {
        let p = p as usize;
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (start + p) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..replication_factor.saturating_sub(1) {
            let gap = if n > 1 { 1 + (shift + j) % (n - 1) } else { 0 };
            replicas.push(brokers[(first + gap) % n]);
        }
        out.push(replicas);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_spreads_leaders_and_never_repeats_a_broker() {
        let brokers = [1, 2, 3];
        let a = assign_replicas(&brokers, 0..6, 3, 0);
        assert_eq!(a.len(), 6);
        for replicas in &a {
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "{replicas:?}");
        }
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1, 2, 3]);
        // Adding partitions continues the pattern.
        let more = assign_replicas(&brokers, 6..9, 2, 0);
        assert_eq!(more.iter().map(|r| r[0]).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(more.iter().all(|r| r.len() == 2 && r[0] != r[1]));
        assert_eq!(assign_replicas(&[7], 0..2, 1, 5), vec![vec![7], vec![7]]);
    }
}
