//! Partition assignors (SKELETON: the interface the group layer compiles against; the
//! implementation lands with the assignor work).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::TopicPartition;

/// How members give up partitions during a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining (range, roundrobin, sticky).
    Eager,
    /// Members keep their partitions and revoke only those that move (KIP-429).
    Cooperative,
}

/// One member's subscription (ConsumerProtocolSubscription, v0-v3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation those partitions were assigned in (v2+; -1 unknown).
    pub generation_id: i32,
    /// `client.rack` (v3+).
    pub rack_id: Option<String>,
}

/// One member's assignment (ConsumerProtocolAssignment, v0-v3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
}

/// A partition assignor (Java's `ConsumerPartitionAssignor`). Runs on the group leader.
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name sent in JoinGroup (`range`, `roundrobin`, `sticky`, `cooperative-sticky`).
    fn name(&self) -> &str;
    /// The rebalance protocols it supports, preferred first.
    fn supported_protocols(&self) -> &[RebalanceProtocol];
    /// Assignor-specific subscription bytes for this member.
    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        None
    }
    /// Assign `partitions_per_topic` (topic -> partition count) to the members
    /// (member id -> subscription). Every member id gets an entry.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment>;
}

/// Encode a subscription as ConsumerProtocolSubscription bytes of `version`.
pub fn encode_subscription(_subscription: &Subscription, _version: i16) -> Bytes {
    todo!("assignor work")
}

/// Decode ConsumerProtocolSubscription bytes (any version 0-3; unknown higher versions read as 3).
pub fn decode_subscription(_bytes: &Bytes) -> Result<Subscription, crate::protocol::ProtocolError> {
    todo!("assignor work")
}

/// Encode an assignment as ConsumerProtocolAssignment bytes of `version`.
pub fn encode_assignment(_assignment: &Assignment, _version: i16) -> Bytes {
    todo!("assignor work")
}

/// Decode ConsumerProtocolAssignment bytes (an empty byte string is an empty assignment).
pub fn decode_assignment(_bytes: &Bytes) -> Result<Assignment, crate::protocol::ProtocolError> {
    todo!("assignor work")
}
