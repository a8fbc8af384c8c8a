//! One partition replica hosted by one broker: its own log, its producer state, and what it
//! believes about leadership. Replicas are never shared between brokers.

use std::sync::{Mutex, MutexGuard};

use crate::config::TopicConfig;
use crate::log::PartitionLog;
use crate::producer_state::ProducerStateTable;
use crate::replication::LeaderProgress;

/// A topic-partition key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A key for `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Mutable replica state, behind the replica's lock (held only for synchronous work, never
/// across an `.await`).
#[derive(Debug)]
pub struct ReplicaState {
    /// The replica's log.
    pub log: PartitionLog,
    /// Idempotent producer state rebuilt from and kept in step with the log.
    pub producers: ProducerStateTable,
    /// The leader this replica last learned of (-1 for none).
    pub leader_id: i32,
    /// The leader epoch this replica last learned of.
    pub leader_epoch: i32,
    /// Whether this replica is the leader.
    pub is_leader: bool,
    /// The topic's config as of the last metadata image applied.
    pub config: TopicConfig,
    /// The partition's replicas, as of the last metadata image applied.
    pub replicas: Vec<i32>,
    /// The partition's in-sync replicas, as of the last metadata image applied.
    pub isr: Vec<i32>,
    /// As leader: followers it asked the controller to add to the ISR, until an image shows
    /// them in it (or the leadership changes, or the controller refuses). The high watermark
    /// counts them (KIP-497's maximal ISR).
    pub pending_isr: Vec<i32>,
    /// As leader: what it knows of each follower.
    pub leader_progress: Option<LeaderProgress>,
    /// As leader: the log end offset when this leadership began.
    pub leader_epoch_start_offset: i64,
    /// As follower: the log must be reconciled with the leader's (OffsetsForLeaderEpoch and
    /// truncation) before fetching.
    pub needs_truncation: bool,
}

/// A partition replica on one broker.
#[derive(Debug)]
pub struct Replica {
    /// Which partition.
    pub tp: TopicPartition,
    /// The id of the topic this replica belongs to (a re-created topic of the same name has a
    /// new id and gets fresh replicas).
    pub topic_id: uuid::Uuid,
    state: Mutex<ReplicaState>,
}

impl Replica {
    /// A replica with the given state.
    pub fn new(tp: TopicPartition, topic_id: uuid::Uuid, state: ReplicaState) -> Replica {
        Replica {
            tp,
            topic_id,
            state: Mutex::new(state),
        }
    }

    /// Lock the replica's state. Never hold the guard across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, ReplicaState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
