//! The consumer group coordinator (classic protocol): group membership, rebalances and
//! committed offsets for the whole cluster.
//!
//! It owns every group's state and every committed offset. It does not touch replicas, logs or
//! metadata (it only reads a broker's metadata image to decide which broker coordinates a
//! group) and does not encode responses (the `handlers` do, per API version).
//!
//! Layout: [`state`] is the sans-IO state machine (plain methods that take `now` and return or
//! queue answers); [`GroupCoordinator`] is the thin async layer around it: it parks each
//! JoinGroup/SyncGroup on a oneshot channel and runs one timer task that fires the state's
//! deadlines (session expiry, rebalance and pending-sync timeouts, the initial rebalance delay).
//! The state's mutex is never held across an `.await`.
//!
//! Coordinator placement: the coordinator of group `g` is the broker at index
//! `abs(javaHashCode(g)) % 50 % n` among the `n` alive brokers of the asking broker's metadata
//! image, sorted by id. This is Kafka's `__consumer_offsets` partition choice (50 partitions)
//! mapped onto the alive brokers instead of onto that partition's leader. Requests for a group
//! that reach another broker get NOT_COORDINATOR.
//!
//! Deviations from Kafka:
//! - One coordinator state is shared by all brokers of the cluster in place of the replicated
//!   `__consumer_offsets` topic, so groups and committed offsets survive a coordinator move
//!   (when brokers die or come back, clients rediscover the coordinator and carry on; nothing
//!   is reloaded). Nothing is persisted to `data_dir`.
//! - `group.initial.rebalance.delay.ms` defaults to 0 (Kafka: 3000) so tests form groups at
//!   once; see [`GroupConfig`].
//! - Only the classic protocol (JoinGroup/SyncGroup). The KIP-848 consumer protocol
//!   (ConsumerGroupHeartbeat) is not offered; ListGroups reports every group as type "classic".
//! - No transactional offset commits, no offset retention/expiry, no `group.max.size`, and
//!   offsets of deleted topics are kept.
//! - DescribeGroups reports `client_host` as "/127.0.0.1" (the request context carries no peer
//!   address; the broker only listens on loopback).

mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafkit::protocol::ErrorCode;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::broker::BrokerState;
use crate::metadata::{BrokerRegistration, MetadataImage};
pub use state::{
    Answer, CommitRequest, CommittedOffset, GroupConfig, GroupDescription, GroupOverview,
    GroupState, GroupsState, HeartbeatRequest, JoinOutcome, JoinRequest, LeaveOutcome,
    LeavingMember, Protocol, SyncOutcome, SyncRequest, TopicPartition,
};

/// What DescribeGroups shows as every member's host.
pub const CLIENT_HOST: &str = "/127.0.0.1";

/// The partitions of Kafka's `__consumer_offsets` (`offsets.topic.num.partitions`), used to
/// spread groups over brokers the way Kafka does.
const OFFSETS_TOPIC_PARTITIONS: i32 = 50;

/// Kafka's `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with Java's
/// `String.hashCode` over UTF-16 code units.
pub fn offsets_partition_for(group_id: &str) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // Kafka's Utils.abs maps i32::MIN to 0.
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % OFFSETS_TOPIC_PARTITIONS
}

/// The broker coordinating `group_id` according to `image`, if any broker is alive.
pub fn coordinator_for<'a>(
    group_id: &str,
    image: &'a MetadataImage,
) -> Option<&'a BrokerRegistration> {
    let alive: Vec<&BrokerRegistration> = image.alive_brokers().collect();
    if alive.is_empty() {
        return None;
    }
    let index = offsets_partition_for(group_id) as usize % alive.len();
    Some(alive[index])
}

/// Kafka's `validateGroupStatus`: the group id must be valid (non-empty unless
/// `allow_empty_id`, which the offset, describe and delete APIs allow) and this broker must be
/// its coordinator.
pub(crate) fn check_group(
    broker: &BrokerState,
    group_id: &str,
    allow_empty_id: bool,
) -> Result<(), ErrorCode> {
    if group_id.is_empty() && !allow_empty_id {
        return Err(ErrorCode::InvalidGroupId);
    }
    match coordinator_for(group_id, &broker.metadata()) {
        None => Err(ErrorCode::CoordinatorNotAvailable),
        Some(coordinator) if coordinator.id != broker.id => Err(ErrorCode::NotCoordinator),
        Some(_) => Ok(()),
    }
}

type Waiter = oneshot::Sender<Answer>;

#[derive(Debug)]
struct Shared {
    state: Mutex<GroupsState<Waiter>>,
    /// Wakes the timer task after any change that may move a deadline.
    wake: Notify,
}

impl Shared {
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Run `f` on the state under the lock, then answer whatever it completed (outside the
    /// lock).
    fn apply<T>(&self, f: impl FnOnce(&mut GroupsState<Waiter>, Instant) -> T) -> T {
        let (result, done) = {
            let mut state = self.state.lock().expect("group state lock");
            let result = f(&mut state, Self::now());
            (result, state.take_completions())
        };
        for (waiter, answer) in done {
            // The requester may be gone (connection closed); nothing to do then.
            let _ = waiter.send(answer);
        }
        result
    }
}

/// Consumer group state for the whole cluster: the async face of [`GroupsState`].
///
/// Each method takes the state's lock briefly; JoinGroup and SyncGroup then wait (without the
/// lock) for their answer. A timer task, started on first use in the current tokio runtime
/// and stopped when the coordinator is dropped, fires the state's deadlines.
#[derive(Debug)]
pub struct GroupCoordinator {
    shared: Arc<Shared>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl Default for GroupCoordinator {
    fn default() -> Self {
        GroupCoordinator::new(GroupConfig::default())
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        if let Ok(Some(driver)) = self.driver.get_mut().map(Option::take) {
            driver.abort();
        }
    }
}

impl GroupCoordinator {
    /// A coordinator with the given settings and no groups.
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            shared: Arc::new(Shared {
                state: Mutex::new(GroupsState::new(config)),
                wake: Notify::new(),
            }),
            driver: Mutex::new(None),
        }
    }

    /// Apply `f` and wake the timer task, starting it if needed.
    fn apply<T>(&self, f: impl FnOnce(&mut GroupsState<Waiter>, Instant) -> T) -> T {
        self.ensure_timer_task();
        let result = self.shared.apply(f);
        self.shared.wake.notify_one();
        result
    }

    fn ensure_timer_task(&self) {
        let mut driver = self.driver.lock().expect("group driver lock");
        if driver.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            *driver = Some(runtime.spawn(run_timers(self.shared.clone())));
        }
    }

    /// JoinGroup: waits until the member's join completes (or fails).
    pub async fn join(&self, request: JoinRequest) -> JoinOutcome {
        let member_id = request.member_id.clone();
        let (tx, rx) = oneshot::channel();
        self.apply(|state, now| state.join(now, request, tx));
        match rx.await {
            Ok(Answer::Join(outcome)) => outcome,
            _ => JoinOutcome::error(member_id, ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// SyncGroup: a follower waits for the leader's assignment.
    pub async fn sync(&self, request: SyncRequest) -> SyncOutcome {
        let (tx, rx) = oneshot::channel();
        self.apply(|state, now| state.sync(now, request, tx));
        match rx.await {
            Ok(Answer::Sync(outcome)) => outcome,
            _ => SyncOutcome::error(ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&self, request: &HeartbeatRequest) -> ErrorCode {
        self.apply(|state, now| state.heartbeat(now, request))
    }

    /// LeaveGroup.
    pub fn leave(&self, group_id: &str, members: Vec<LeavingMember>) -> LeaveOutcome {
        self.apply(|state, now| state.leave(now, group_id, members))
    }

    /// OffsetCommit: one error per offset.
    pub fn commit_offsets(
        &self,
        request: &CommitRequest,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    ) -> Vec<ErrorCode> {
        self.apply(|state, now| state.commit_offsets(now, request, offsets))
    }

    /// OffsetFetch (`None`: every committed partition).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        self.shared
            .apply(|state, _| state.fetch_offsets(group_id, partitions))
    }

    /// Every group.
    pub fn list(&self) -> Vec<GroupOverview> {
        self.shared.apply(|state, _| state.list())
    }

    /// One group, `None` if unknown.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.shared.apply(|state, _| state.describe(group_id))
    }

    /// DeleteGroups for one group.
    pub fn delete(&self, group_id: &str) -> ErrorCode {
        self.apply(|state, _| state.delete(group_id))
    }
}

/// The timer task: fire due deadlines, then sleep until the next one or until woken.
async fn run_timers(shared: Arc<Shared>) {
    loop {
        let next = shared.apply(|state, now| {
            state.handle_timeout(now);
            state.next_deadline()
        });
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
                    _ = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}
