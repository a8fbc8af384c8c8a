//! Fault injection state shared by a cluster's brokers: which brokers are cut off (from the
//! controller and their peers, optionally from clients), whose replication is paused, and the
//! request interception rules with the log of requests seen.
//!
//! Brokers consult it at the points where a real network partition or a misbehaving broker
//! would show: the metadata applier (an isolated broker stops hearing the controller), the
//! replica fetchers (no replication traffic across a cut), the accept loop and request
//! pipeline (clients cut off, injected errors, delays, dropped connections).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use kafkit::messages::ApiKey;
use kafkit::protocol::ErrorCode;
use tokio::sync::watch;

/// How many requests the request log keeps (oldest dropped first).
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// What an interception rule does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error code instead of handling the request: on every partition the
    /// request names (Produce, Fetch, ListOffsets, OffsetCommit), on every topic (Metadata,
    /// CreateTopics, DeleteTopics, CreatePartitions), on every group (DescribeGroups,
    /// DeleteGroups), or at the top level (FindCoordinator, Join/Sync/Heartbeat/LeaveGroup,
    /// ListGroups, InitProducerId). Other APIs have no such place and are handled normally.
    Error(ErrorCode),
    /// Handle the request, but hold the response this long first.
    Delay(Duration),
    /// Close the connection without answering.
    DropConnection,
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultMatch {
    /// Only requests of this API.
    pub api: Option<ApiKey>,
    /// Only requests received by this broker.
    pub broker: Option<i32>,
    /// Only requests naming this topic (and partition, when given): Produce, Fetch, ListOffsets
    /// and OffsetCommit. Produce and Fetch v13+ name topics by id; the id is resolved through
    /// the receiving broker's metadata.
    pub topic_partition: Option<(String, Option<i32>)>,
    /// Whether replication traffic (follower fetches) may match too; off by default so client
    /// faults do not stall replication.
    pub include_replication: bool,
}

/// A request interception rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Which requests.
    pub matcher: FaultMatch,
    /// What to do.
    pub action: FaultAction,
    /// How many more requests it applies to; `None` for a persistent rule.
    pub remaining: Option<u32>,
}

/// A request as the request log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The broker that received it.
    pub broker: i32,
    /// Its API.
    pub api: ApiKey,
    /// Its version.
    pub version: i16,
    /// The client id it carried.
    pub client_id: Option<String>,
    /// Whether an injected fault applied to it.
    pub faulted: bool,
}

#[derive(Debug, Default)]
struct FaultState {
    /// Isolated brokers, and whether clients are cut off too.
    isolated: BTreeMap<i32, bool>,
    paused: BTreeSet<i32>,
    /// Brokers that do not apply new metadata images (slow to learn of changes).
    metadata_held: BTreeSet<i32>,
    rules: Vec<FaultRule>,
    log: VecDeque<RequestRecord>,
}

/// The cluster's fault injection state.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<FaultState>,
    changed: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::new(FaultState::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl Faults {
    fn with<T>(&self, f: impl FnOnce(&mut FaultState) -> T) -> T {
        f(&mut self.state.lock().expect("faults lock"))
    }

    fn changed(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Subscribe to changes of isolation and pausing.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Cut `broker` off from the controller and its peers (and from clients if asked).
    pub fn isolate(&self, broker: i32, from_clients: bool) {
        self.with(|s| s.isolated.insert(broker, from_clients));
        self.changed();
    }

    /// Undo every isolation; returns the brokers that were isolated.
    pub fn heal(&self) -> Vec<i32> {
        let healed = self.with(|s| std::mem::take(&mut s.isolated).into_keys().collect());
        self.changed();
        healed
    }

    /// Whether `broker` is cut off from the controller and its peers.
    pub fn is_isolated(&self, broker: i32) -> bool {
        self.with(|s| s.isolated.contains_key(&broker))
    }

    /// Whether `broker` is cut off from clients too.
    pub fn clients_cut_off(&self, broker: i32) -> bool {
        self.with(|s| s.isolated.get(&broker).copied().unwrap_or(false))
    }

    /// Stop `broker` from applying new metadata images until released.
    pub fn hold_metadata(&self, broker: i32) {
        self.with(|s| s.metadata_held.insert(broker));
        self.changed();
    }

    /// Let `broker` apply metadata again.
    pub fn release_metadata(&self, broker: i32) {
        self.with(|s| s.metadata_held.remove(&broker));
        self.changed();
    }

    /// Whether `broker` applies metadata images now (not isolated, not held).
    pub fn applies_metadata(&self, broker: i32) -> bool {
        self.with(|s| !s.isolated.contains_key(&broker) && !s.metadata_held.contains(&broker))
    }

    /// Stop `follower` from replicating (its fetchers pause) until resumed.
    pub fn pause_replication(&self, follower: i32) {
        self.with(|s| s.paused.insert(follower));
        self.changed();
    }

    /// Let `follower` replicate again.
    pub fn resume_replication(&self, follower: i32) {
        self.with(|s| s.paused.remove(&follower));
        self.changed();
    }

    /// Whether `follower` may fetch from `leader` now.
    pub fn replication_allowed(&self, follower: i32, leader: i32) -> bool {
        self.with(|s| {
            !s.paused.contains(&follower)
                && !s.isolated.contains_key(&follower)
                && !s.isolated.contains_key(&leader)
        })
    }

    /// Whether any rule matches by topic, i.e. whether a request's topic-partitions need to
    /// be worked out for [`Faults::intercept`] at all.
    pub fn has_topic_rules(&self) -> bool {
        self.with(|s| s.rules.iter().any(|r| r.matcher.topic_partition.is_some()))
    }

    /// Add an interception rule.
    pub fn add_rule(&self, rule: FaultRule) {
        self.with(|s| s.rules.push(rule));
    }

    /// Remove every interception rule.
    pub fn clear_rules(&self) {
        self.with(|s| s.rules.clear());
    }

    /// Record a request and find the first rule that applies to it (consuming one use of a
    /// counted rule). `topics` are the topic-partitions the request names.
    pub fn intercept(
        &self,
        broker: i32,
        api: ApiKey,
        version: i16,
        client_id: Option<&str>,
        topics: &[(String, i32)],
    ) -> Option<FaultAction> {
        let replication = client_id.is_some_and(|c| c.starts_with("kafkit-testbroker-replica-"));
        self.with(|s| {
            let mut action = None;
            for rule in s.rules.iter_mut() {
                let m = &rule.matcher;
                let matches = m.api.is_none_or(|a| a == api)
                    && m.broker.is_none_or(|b| b == broker)
                    && (m.include_replication || !replication)
                    && m.topic_partition.as_ref().is_none_or(|(t, p)| {
                        topics
                            .iter()
                            .any(|(tt, pp)| tt == t && p.is_none_or(|p| p == *pp))
                    });
                if matches && rule.remaining != Some(0) {
                    if let Some(n) = rule.remaining.as_mut() {
                        *n -= 1;
                    }
                    action = Some(rule.action.clone());
                    break;
                }
            }
            s.rules.retain(|r| r.remaining != Some(0));
            if s.log.len() == REQUEST_LOG_CAPACITY {
                s.log.pop_front();
            }
            s.log.push_back(RequestRecord {
                broker,
                api,
                version,
                client_id: client_id.map(str::to_string),
                faulted: action.is_some(),
            });
            action
        })
    }

    /// The requests seen so far (the newest 10,000), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.with(|s| s.log.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_and_persistent_rules_and_the_request_log() {
        let f = Faults::default();
        f.add_rule(FaultRule {
            matcher: FaultMatch {
                api: Some(ApiKey::Produce),
                topic_partition: Some(("t".into(), Some(1))),
                ..FaultMatch::default()
            },
            action: FaultAction::Error(ErrorCode::NotLeaderOrFollower),
            remaining: Some(2),
        });
        f.add_rule(FaultRule {
            matcher: FaultMatch {
                api: Some(ApiKey::Fetch),
                broker: Some(2),
                ..FaultMatch::default()
            },
            action: FaultAction::Delay(Duration::from_millis(5)),
            remaining: None,
        });
        let tp1 = [("t".to_string(), 1)];
        let tp0 = [("t".to_string(), 0)];
        assert_eq!(
            f.intercept(1, ApiKey::Produce, 9, None, &tp0),
            None,
            "other partition"
        );
        assert_eq!(
            f.intercept(1, ApiKey::Produce, 9, None, &tp1),
            Some(FaultAction::Error(ErrorCode::NotLeaderOrFollower))
        );
        assert_eq!(
            f.intercept(1, ApiKey::Produce, 9, None, &tp1),
            Some(FaultAction::Error(ErrorCode::NotLeaderOrFollower))
        );
        assert_eq!(
            f.intercept(1, ApiKey::Produce, 9, None, &tp1),
            None,
            "used up"
        );
        for _ in 0..3 {
            assert!(matches!(
                f.intercept(2, ApiKey::Fetch, 12, None, &[]),
                Some(FaultAction::Delay(_))
            ));
        }
        assert_eq!(
            f.intercept(1, ApiKey::Fetch, 12, None, &[]),
            None,
            "other broker"
        );
        assert_eq!(
            f.intercept(
                2,
                ApiKey::Fetch,
                12,
                Some("kafkit-testbroker-replica-3"),
                &[]
            ),
            None,
            "replication traffic is spared unless asked"
        );
        let log = f.request_log();
        assert_eq!(log.len(), 9);
        assert_eq!(log.iter().filter(|r| r.faulted).count(), 5);
    }

    #[test]
    fn isolation_and_pausing() {
        let f = Faults::default();
        let rx = f.subscribe();
        f.isolate(2, false);
        assert!(rx.has_changed().unwrap());
        assert!(
            !f.replication_allowed(2, 1)
                && !f.replication_allowed(3, 2)
                && f.replication_allowed(3, 1)
        );
        assert!(!f.clients_cut_off(2));
        f.pause_replication(3);
        assert!(!f.replication_allowed(3, 1));
        f.resume_replication(3);
        assert_eq!(f.heal(), vec![2]);
        assert!(f.replication_allowed(2, 1));
    }
}
