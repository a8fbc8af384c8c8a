//! The controller: the single writer of cluster metadata.
//!
//! It validates and applies topic changes (create, delete, add partitions, configs) and
//! leadership changes, and publishes each result as a new immutable [`MetadataImage`] on a watch
//! channel. Brokers apply images to their own replicas; they never write metadata themselves.
//! It owns no sockets and no logs. All methods are synchronous and lock only for the update.

use std::sync::{Arc, Mutex};

use kafkit::protocol::ErrorCode;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::TopicConfig;
use crate::metadata::{
    BrokerRegistration, MetadataImage, PartitionMetadata, TopicMetadata, assign_replicas,
};

/// A refused controller operation: the Kafka error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ControllerError {
    /// The error code to answer with.
    pub code: ErrorCode,
    /// A human-readable explanation (sent as `error_message` where the API has one).
    pub message: String,
}

impl ControllerError {
    fn new(code: ErrorCode, message: impl Into<String>) -> ControllerError {
        ControllerError {
            code,
            message: message.into(),
        }
    }
}

/// What a new topic should look like.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// Partition count; -1 for the cluster default.
    pub partitions: i32,
    /// Replication factor; -1 for the cluster default.
    pub replication_factor: i16,
    /// Explicit replica assignment by partition (replaces `partitions`/`replication_factor`).
    pub assignment: Option<Vec<Vec<i32>>>,
    /// Config overrides.
    pub configs: Vec<(String, String)>,
}

/// A leader's request to change a partition's ISR (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrChange {
    /// A caught-up follower rejoins.
    Add(i32),
    /// Lagging followers leave.
    Remove(Vec<i32>),
}

/// Cluster-wide defaults the controller applies.
#[derive(Debug, Clone)]
pub struct ControllerDefaults {
    /// `num.partitions`.
    pub partitions: i32,
    /// `default.replication.factor`.
    pub replication_factor: i16,
    /// Config overrides applied to every new topic (below the topic's own).
    pub topic_configs: Vec<(String, String)>,
    /// `auto.leader.rebalance.enable`: give leadership back to the preferred replica as soon as
    /// it rejoins the ISR.
    pub auto_leader_rebalance: bool,
}

/// Validate a topic name as Kafka does: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    let invalid = |why: &str| {
        ControllerError::new(
            ErrorCode::InvalidTopicException,
            format!("topic name '{name}' is invalid: {why}"),
        )
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.len() > 249 {
        return Err(invalid("it is longer than 249 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "only ASCII alphanumerics, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

/// The controller.
#[derive(Debug)]
pub struct Controller {
    image: Mutex<MetadataImage>,
    defaults: ControllerDefaults,
    publisher: watch::Sender<Arc<MetadataImage>>,
}

impl Controller {
    /// A controller for a cluster of the given brokers, with no topics yet.
    pub fn new(
        cluster_id: String,
        brokers: Vec<BrokerRegistration>,
        defaults: ControllerDefaults,
    ) -> Controller {
        let controller_id = brokers.iter().map(|b| b.id).min().unwrap_or(-1);
        let image = MetadataImage {
            version: 1,
            cluster_id,
            controller_id,
            brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
            topics: Default::default(),
        };
        let (publisher, _) = watch::channel(Arc::new(image.clone()));
        Controller {
            image: Mutex::new(image),
            defaults,
            publisher,
        }
    }

    /// The cluster-wide defaults.
    pub fn defaults(&self) -> &ControllerDefaults {
        &self.defaults
    }

    /// The latest published image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.publisher.borrow().clone()
    }

    /// Subscribe to published images.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.publisher.subscribe()
    }

    /// Apply `change` to a copy of the image and publish it if the change succeeds.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut MetadataImage) -> Result<T, ControllerError>,
    ) -> Result<T, ControllerError> {
        let mut image = self.image.lock().expect("controller lock");
        let mut next = image.clone();
        let out = change(&mut next)?;
        if next != *image {
            next.version += 1;
            *image = next.clone();
            self.publisher.send_replace(Arc::new(next));
        }
        Ok(out)
    }

    /// Register a broker's (possibly new) address, e.g. after a restart on another port.
    pub fn register_broker(&self, registration: BrokerRegistration) {
        let _ = self.update(|image| {
            image.brokers.insert(registration.id, registration);
            Ok(())
        });
    }

    /// Create a topic (or only validate it). Returns the topic as it would be created.
    pub fn create_topic(
        &self,
        new: &NewTopic,
        validate_only: bool,
    ) -> Result<Arc<TopicMetadata>, ControllerError> {
        validate_topic_name(&new.name)?;
        let mut config = TopicConfig::default();
        for (k, v) in self.defaults.topic_configs.iter().chain(&new.configs) {
            config
                .set(k, v)
                .map_err(|e| ControllerError::new(ErrorCode::InvalidConfig, e.to_string()))?;
        }
        let defaults = &self.defaults;
        let topic = |image: &mut MetadataImage| -> Result<Arc<TopicMetadata>, ControllerError> {
            if image.topics.contains_key(&new.name) {
                return Err(ControllerError::new(
                    ErrorCode::TopicAlreadyExists,
                    format!("topic '{}' already exists", new.name),
                ));
            }
            let assignment = match &new.assignment {
                Some(assignment) => {
                    validate_assignment(image, assignment, None)?;
                    assignment.clone()
                }
                None => {
                    let partitions = if new.partitions == -1 {
                        defaults.partitions
                    } else {
                        new.partitions
                    };
                    if partitions <= 0 {
                        return Err(ControllerError::new(
                            ErrorCode::InvalidPartitions,
                            format!("number of partitions must be larger than 0, got {partitions}"),
                        ));
                    }
                    let rf = if new.replication_factor == -1 {
                        defaults.replication_factor
                    } else {
                        new.replication_factor
                    };
                    let brokers: Vec<i32> = image.alive_brokers().map(|b| b.id).collect();
                    if rf <= 0 || rf as usize > brokers.len() {
                        return Err(ControllerError::new(
                            ErrorCode::InvalidReplicationFactor,
                            format!(
                                "replication factor {rf} must be between 1 and the {} available brokers",
                                brokers.len()
                            ),
                        ));
                    }
                    let start = image.topics.len();
                    assign_replicas(&brokers, 0..partitions, rf as usize, start)
                }
            };
            let partitions = assignment
                .into_iter()
                .enumerate()
                .map(|(p, replicas)| new_partition(image, p as i32, replicas))
                .collect();
            let topic = Arc::new(TopicMetadata {
                name: new.name.clone(),
                id: Uuid::new_v4(),
                partitions,
                config: config.clone(),
            });
            if !validate_only {
                image.topics.insert(new.name.clone(), topic.clone());
            }
            Ok(topic)
        };
        self.update(topic)
    }

    /// Delete a topic.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<TopicMetadata>, ControllerError> {
        self.update(|image| {
            image.topics.remove(name).ok_or_else(|| {
                ControllerError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic '{name}' does not exist"),
                )
            })
        })
    }

    /// Grow a topic to `count` partitions (never shrink), optionally with an explicit assignment
    /// for the new partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ControllerError> {
        self.update(|image| {
            let topic = image
                .topics
                .get(name)
                .cloned()
                .ok_or_else(|| ControllerError::new(ErrorCode::UnknownTopicOrPartition, format!("topic '{name}' does not exist")))?;
            let current = topic.partitions.len() as i32;
            if count <= current {
                return Err(ControllerError::new(
                    ErrorCode::InvalidPartitions,
                    format!("topic '{name}' has {current} partitions; the count can only grow, not become {count}"),
                ));
            }
            let rf = topic.partitions[0].replicas.len();
            let assignment = match assignment {
                Some(a) => {
                    if a.len() as i32 != count - current {
                        return Err(ControllerError::new(
                            ErrorCode::InvalidReplicaAssignment,
                            format!("{} assignments given for {} new partitions", a.len(), count - current),
                        ));
                    }
                    validate_assignment(image, &a, Some(rf))?;
                    a
                }
                None => {
                    let brokers: Vec<i32> = image.alive_brokers().map(|b| b.id).collect();
                    if rf > brokers.len() {
                        return Err(ControllerError::new(
                            ErrorCode::InvalidReplicationFactor,
                            format!("replication factor {rf} exceeds the {} available brokers", brokers.len()),
                        ));
                    }
                    assign_replicas(&brokers, current..count, rf, 0)
                }
            };
            if validate_only {
                return Ok(());
            }
            let mut topic = (*topic).clone();
            for (i, replicas) in assignment.into_iter().enumerate() {
                let p = new_partition(image, current + i as i32, replicas);
                topic.partitions.push(p);
            }
            image.topics.insert(name.to_string(), Arc::new(topic));
            Ok(())
        })
    }

    /// Replace a topic's config (AlterConfigs semantics: the given set becomes the overrides).
    pub fn set_topic_config(&self, name: &str, config: TopicConfig) -> Result<(), ControllerError> {
        self.update(|image| {
            let topic = image.topics.get(name).ok_or_else(|| {
                ControllerError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic '{name}' does not exist"),
                )
            })?;
            let mut topic = (**topic).clone();
            topic.config = config;
            image.topics.insert(name.to_string(), Arc::new(topic));
            Ok(())
        })
    }

    /// A leader at `leader_epoch` asks to change its partition's ISR. Refused with
    /// FENCED_LEADER_EPOCH / NOT_LEADER_OR_FOLLOWER when it no longer leads at that epoch (a
    /// stale leader cannot shrink the ISR to keep accepting writes). When the preferred replica
    /// rejoins and `auto_leader_rebalance` is on, leadership moves back to it.
    pub fn alter_isr(
        &self,
        topic: &str,
        partition: i32,
        leader_id: i32,
        leader_epoch: i32,
        change: IsrChange,
    ) -> Result<PartitionMetadata, ControllerError> {
        let rebalance = self.defaults.auto_leader_rebalance;
        let alive: Vec<i32> = self.image().alive_brokers().map(|b| b.id).collect();
        self.update_partition(topic, partition, |p| {
            if p.leader != leader_id {
                return Err(ControllerError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("broker {leader_id} does not lead {topic}-{partition}"),
                ));
            }
            if p.leader_epoch != leader_epoch {
                return Err(ControllerError::new(
                    ErrorCode::FencedLeaderEpoch,
                    format!("leader epoch {leader_epoch} is stale for {topic}-{partition}"),
                ));
            }
            match &change {
                IsrChange::Add(id) => {
                    if !p.replicas.contains(id) || !alive.contains(id) {
                        return Err(ControllerError::new(
                            ErrorCode::InvalidRequest,
                            format!("broker {id} cannot join the ISR"),
                        ));
                    }
                    if !p.isr.contains(id) {
                        p.isr.push(*id);
                    }
                    let preferred = p.replicas[0];
                    if rebalance && *id == preferred && p.leader != preferred {
                        p.leader = preferred;
                    }
                }
                IsrChange::Remove(ids) => {
                    p.isr.retain(|r| *r == p.leader || !ids.contains(r));
                }
            }
            Ok(())
        })
    }

    /// A broker stopped or was cut off: it is fenced, leaves every ISR, and each partition it
    /// led gets a new leader from the remaining ISR (bumping the leader epoch). With no ISR
    /// member left the partition goes offline (leader -1, the ISR kept as it was), unless the
    /// topic allows unclean election, in which case any live replica takes over with an ISR of
    /// itself (possibly losing committed data).
    pub fn broker_down(&self, id: i32) {
        let _ = self.update(|image| {
            if let Some(b) = image.brokers.get_mut(&id) {
                b.alive = false;
            }
            let alive: Vec<i32> = image.alive_brokers().map(|b| b.id).collect();
            image.controller_id = alive.iter().copied().min().unwrap_or(-1);
            for (name, topic) in image.topics.iter_mut() {
                if !topic.partitions.iter().any(|p| p.replicas.contains(&id)) {
                    continue;
                }
                let unclean = topic.config.unclean_leader_election();
                let mut t = (**topic).clone();
                for p in t.partitions.iter_mut().filter(|p| p.replicas.contains(&id)) {
                    let before = p.clone();
                    if p.leader == id {
                        let next = p.isr.iter().copied().find(|r| *r != id && alive.contains(r));
                        match next {
                            Some(next) => {
                                p.leader = next;
                                p.isr.retain(|r| *r != id);
                            }
                            None if unclean => match p.replicas.iter().copied().find(|r| alive.contains(r)) {
                                Some(next) => {
                                    tracing::warn!(topic = %name, partition = p.partition, leader = next, "unclean leader election");
                                    p.leader = next;
                                    p.isr = vec![next];
                                }
                                None => p.leader = -1,
                            },
                            None => p.leader = -1,
                        }
                    } else if p.isr.len() > 1 {
                        p.isr.retain(|r| *r != id);
                    }
                    bump_epochs(&before, p);
                }
                *topic = Arc::new(t);
            }
            Ok(())
        });
    }

    /// A broker is back (possibly at a new address): unfenced, and offline partitions whose ISR
    /// names it (or, with unclean election allowed, any offline partition it replicates) get it
    /// as leader. It rejoins other ISRs by catching up.
    pub fn broker_up(&self, registration: BrokerRegistration) {
        let id = registration.id;
        let _ = self.update(|image| {
            image.brokers.insert(
                id,
                BrokerRegistration {
                    alive: true,
                    ..registration
                },
            );
            let alive: Vec<i32> = image.alive_brokers().map(|b| b.id).collect();
            image.controller_id = alive.iter().copied().min().unwrap_or(-1);
            for topic in image.topics.values_mut() {
                let unclean = topic.config.unclean_leader_election();
                if !topic
                    .partitions
                    .iter()
                    .any(|p| p.leader < 0 && p.replicas.contains(&id))
                {
                    continue;
                }
                let mut t = (**topic).clone();
                for p in t
                    .partitions
                    .iter_mut()
                    .filter(|p| p.leader < 0 && p.replicas.contains(&id))
                {
                    let before = p.clone();
                    if p.isr.contains(&id) {
                        p.leader = id;
                    } else if unclean {
                        p.leader = id;
                        p.isr = vec![id];
                    }
                    bump_epochs(&before, p);
                }
                *topic = Arc::new(t);
            }
            Ok(())
        });
    }

    /// Move a partition's leadership to `broker`, which must be in the ISR and alive.
    pub fn move_leader(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<PartitionMetadata, ControllerError> {
        let alive: Vec<i32> = self.image().alive_brokers().map(|b| b.id).collect();
        self.update_partition(topic, partition, |p| {
            if !p.isr.contains(&broker) || !alive.contains(&broker) {
                return Err(ControllerError::new(
                    ErrorCode::EligibleLeadersNotAvailable,
                    format!("broker {broker} is not a live in-sync replica of {topic}-{partition} (ISR {:?})", p.isr),
                ));
            }
            p.leader = broker;
            Ok(())
        })
    }

    /// Change one partition's leader/ISR state, bumping the partition epoch (and the leader
    /// epoch when the leader changes).
    pub fn update_partition(
        &self,
        topic: &str,
        partition: i32,
        change: impl FnOnce(&mut PartitionMetadata) -> Result<(), ControllerError>,
    ) -> Result<PartitionMetadata, ControllerError> {
        self.update(|image| {
            let t = image.topics.get(topic).ok_or_else(|| {
                ControllerError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic '{topic}' does not exist"),
                )
            })?;
            let mut t = (**t).clone();
            let p = t.partitions.get_mut(partition as usize).ok_or_else(|| {
                ControllerError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("{topic}-{partition} does not exist"),
                )
            })?;
            let before = p.clone();
            change(p)?;
            bump_epochs(&before, p);
            let out = p.clone();
            image.topics.insert(topic.to_string(), Arc::new(t));
            Ok(out)
        })
    }
}

/// A leader change bumps the leader epoch; any change bumps the partition epoch.
fn bump_epochs(before: &PartitionMetadata, p: &mut PartitionMetadata) {
    if p.leader != before.leader {
        p.leader_epoch = before.leader_epoch + 1;
    }
    if *p != *before {
        p.partition_epoch = before.partition_epoch + 1;
    }
}

fn new_partition(image: &MetadataImage, partition: i32, replicas: Vec<i32>) -> PartitionMetadata {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|id| image.brokers.get(id).is_some_and(|b| b.alive))
        .collect();
    PartitionMetadata {
        partition,
        leader: isr.first().copied().unwrap_or(-1),
        replicas,
        isr,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

fn validate_assignment(
    image: &MetadataImage,
    assignment: &[Vec<i32>],
    rf: Option<usize>,
) -> Result<(), ControllerError> {
    let invalid = |m: String| ControllerError::new(ErrorCode::InvalidReplicaAssignment, m);
    if assignment.is_empty() {
        return Err(invalid("the replica assignment is empty".into()));
    }
    let rf = rf.unwrap_or(assignment[0].len());
    for (p, replicas) in assignment.iter().enumerate() {
        if replicas.is_empty() || replicas.len() != rf {
            return Err(invalid(format!(
                "partition {p} has {} replicas, expected {rf}",
                replicas.len()
            )));
        }
        let mut seen = replicas.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != replicas.len() {
            return Err(invalid(format!(
                "partition {p} lists a broker twice: {replicas:?}"
            )));
        }
        if let Some(unknown) = replicas.iter().find(|id| !image.brokers.contains_key(id)) {
            return Err(invalid(format!(
                "partition {p} names unknown broker {unknown}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(n: i32) -> Controller {
        let brokers = (1..=n)
            .map(|id| BrokerRegistration {
                id,
                host: "127.0.0.1".into(),
                port: 9000 + id as u16,
                rack: None,
                alive: true,
            })
            .collect();
        Controller::new(
            "test-cluster".into(),
            brokers,
            ControllerDefaults {
                partitions: 1,
                replication_factor: 1,
                topic_configs: vec![],
                auto_leader_rebalance: true,
            },
        )
    }

    fn topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: rf,
            ..NewTopic::default()
        }
    }

    #[test]
    fn create_validate_and_publish() {
        let c = controller(3);
        let mut rx = c.subscribe();
        let t = c.create_topic(&topic("orders", 6, 3), false).unwrap();
        assert_eq!(t.partitions.len(), 6);
        assert!(
            t.partitions
                .iter()
                .all(|p| p.isr.len() == 3 && p.leader == p.replicas[0])
        );
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().topic("orders").is_some());
        assert_eq!(
            c.create_topic(&topic("orders", 1, 1), false)
                .unwrap_err()
                .code,
            ErrorCode::TopicAlreadyExists
        );
        assert_eq!(
            c.create_topic(&topic("big", 1, 4), false).unwrap_err().code,
            ErrorCode::InvalidReplicationFactor
        );
        assert_eq!(
            c.create_topic(&topic("none", 0, 1), false)
                .unwrap_err()
                .code,
            ErrorCode::InvalidPartitions
        );
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert_eq!(
                c.create_topic(&topic(bad, 1, 1), false).unwrap_err().code,
                ErrorCode::InvalidTopicException,
                "{bad:?}"
            );
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        // Validate-only changes nothing.
        let version = c.image().version;
        c.create_topic(&topic("dry", 2, 2), true).unwrap();
        assert!(c.image().topic("dry").is_none());
        assert_eq!(c.image().version, version);
        // Defaults.
        let d = c.create_topic(&topic("defaults", -1, -1), false).unwrap();
        assert_eq!((d.partitions.len(), d.partitions[0].replicas.len()), (1, 1));
        let mut bad_config = topic("cfg", 1, 1);
        bad_config.configs = vec![("retention.ms".into(), "never".into())];
        assert_eq!(
            c.create_topic(&bad_config, false).unwrap_err().code,
            ErrorCode::InvalidConfig
        );
    }

    #[test]
    fn partitions_grow_never_shrink() {
        let c = controller(3);
        c.create_topic(&topic("t", 2, 2), false).unwrap();
        assert_eq!(
            c.create_partitions("t", 2, None, false).unwrap_err().code,
            ErrorCode::InvalidPartitions
        );
        assert_eq!(
            c.create_partitions("t", 1, None, false).unwrap_err().code,
            ErrorCode::InvalidPartitions
        );
        c.create_partitions("t", 5, None, false).unwrap();
        let t = c.image().topic("t").unwrap().clone();
        assert_eq!(t.partitions.len(), 5);
        assert!(
            t.partitions
                .iter()
                .enumerate()
                .all(|(i, p)| p.partition == i as i32 && p.replicas.len() == 2)
        );
        assert_eq!(
            c.create_partitions("t", 6, Some(vec![vec![1, 1]]), false)
                .unwrap_err()
                .code,
            ErrorCode::InvalidReplicaAssignment
        );
        c.create_partitions("t", 6, Some(vec![vec![3, 1]]), false)
            .unwrap();
        assert_eq!(c.image().partition("t", 5).unwrap().replicas, vec![3, 1]);
        assert_eq!(
            c.create_partitions("nope", 3, None, false)
                .unwrap_err()
                .code,
            ErrorCode::UnknownTopicOrPartition
        );
    }

    #[test]
    fn leader_change_bumps_epochs() {
        let c = controller(3);
        c.create_topic(&topic("t", 1, 3), false).unwrap();
        let before = c.image().partition("t", 0).unwrap().clone();
        let after = c
            .update_partition("t", 0, |p| {
                p.isr.retain(|&id| id != before.leader);
                p.leader = p.isr[0];
                Ok(())
            })
            .unwrap();
        assert_eq!(after.leader_epoch, before.leader_epoch + 1);
        assert_eq!(after.partition_epoch, before.partition_epoch + 1);
        let isr_only = c.update_partition("t", 0, |p| {
            p.isr.push(before.leader);
            Ok(())
        });
        let isr_only = isr_only.unwrap();
        assert_eq!(isr_only.leader_epoch, after.leader_epoch);
        assert_eq!(isr_only.partition_epoch, after.partition_epoch + 1);
        assert!(c.delete_topic("t").is_ok());
    }

    #[test]
    fn failover_elects_from_the_isr_and_preferred_leader_returns() {
        let c = controller(3);
        c.create_topic(&topic("t", 3, 3), false).unwrap();
        let p0 = c.image().partition("t", 0).unwrap().clone();
        assert_eq!(p0.leader, 1);
        c.broker_down(1);
        let image = c.image();
        let after = image.partition("t", 0).unwrap();
        assert_eq!(after.leader, 2, "next ISR member in replica order");
        assert_eq!(after.leader_epoch, p0.leader_epoch + 1);
        assert!(!after.isr.contains(&1));
        assert!(
            image.topics["t"]
                .partitions
                .iter()
                .all(|p| !p.isr.contains(&1))
        );
        assert_eq!(image.controller_id, 2);
        assert!(!image.brokers[&1].alive);
        // A stale leader cannot change the ISR.
        let stale = c.alter_isr("t", 0, 1, p0.leader_epoch, IsrChange::Remove(vec![3]));
        assert_eq!(stale.unwrap_err().code, ErrorCode::NotLeaderOrFollower);
        let stale_epoch = c.alter_isr("t", 0, 2, p0.leader_epoch, IsrChange::Remove(vec![3]));
        assert_eq!(stale_epoch.unwrap_err().code, ErrorCode::FencedLeaderEpoch);
        // Broker 1 returns and catches up: it rejoins and, being preferred, leads again.
        let reg = image.brokers[&1].clone();
        c.broker_up(reg);
        let epoch = c.image().partition("t", 0).unwrap().leader_epoch;
        let back = c.alter_isr("t", 0, 2, epoch, IsrChange::Add(1)).unwrap();
        assert_eq!((back.leader, back.leader_epoch), (1, epoch + 1));
    }

    #[test]
    fn offline_without_isr_unless_unclean_election() {
        let c = controller(2);
        c.create_topic(&topic("clean", 1, 2), false).unwrap();
        let mut unclean = topic("unclean", 1, 2);
        unclean.configs = vec![("unclean.leader.election.enable".into(), "true".into())];
        unclean.assignment = Some(vec![vec![1, 2]]);
        c.create_topic(&unclean, false).unwrap();
        // Follower 2 drops out of both ISRs, then leader 1 dies.
        for t in ["clean", "unclean"] {
            let epoch = c.image().partition(t, 0).unwrap().leader_epoch;
            c.alter_isr(t, 0, 1, epoch, IsrChange::Remove(vec![2]))
                .unwrap();
        }
        c.broker_down(1);
        let image = c.image();
        assert_eq!(image.partition("clean", 0).unwrap().leader, -1, "offline");
        assert_eq!(
            image.partition("clean", 0).unwrap().isr,
            vec![1],
            "ISR kept"
        );
        assert_eq!(
            image.partition("unclean", 0).unwrap().leader,
            2,
            "unclean election"
        );
        assert_eq!(image.partition("unclean", 0).unwrap().isr, vec![2]);
        // The last ISR member returning brings the clean partition back.
        c.broker_up(image.brokers[&1].clone());
        assert_eq!(c.image().partition("clean", 0).unwrap().leader, 1);
        assert_eq!(
            c.move_leader("unclean", 0, 1).unwrap_err().code,
            ErrorCode::EligibleLeadersNotAvailable
        );
        assert_eq!(
            c.delete_topic("t").unwrap_err().code,
            ErrorCode::UnknownTopicOrPartition
        );
    }
}
