//! The classic group coordinator as a plain, synchronous state machine (sans-IO).
//!
//! It owns every group's membership, generation, protocol, assignments and committed offsets,
//! and decides what each JoinGroup, SyncGroup, Heartbeat, LeaveGroup and offset request gets.
//! It owns no clock, no timers, no sockets and no locks: callers pass `now`, ask
//! [`GroupsState::next_deadline`] when to call [`GroupsState::handle_timeout`], and hand in a
//! waiter `W` with each JoinGroup/SyncGroup. A waiter is either answered at once or parked on its
//! member until a later event (another member's join, the leader's SyncGroup, a timeout)
//! completes it; every answered waiter is queued with its [`Answer`] and drained with
//! [`GroupsState::take_completions`]. A waiter the state accepts is always answered eventually
//! (or dropped together with the whole state), never silently forgotten.
//!
//! The rules follow Kafka's `GroupCoordinator`/`GroupMetadata` (the classic protocol, Kafka
//! 3.x): `MEMBER_ID_REQUIRED` for v4+ dynamic members, protocol selection by vote, the initial
//! rebalance delay (`InitialDelayedJoin`), the rebalance timeout that removes members that did
//! not rejoin, the pending-sync timeout, session expiry (a member parked on a JoinGroup or
//! SyncGroup counts as alive unless it is new), static membership (KIP-345) with fencing and
//! the no-rebalance replacement of a static member (KIP-814 `skip_assignment` at JoinGroup v9),
//! and the offset commit validation of `validateOffsetCommit`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit::protocol::ErrorCode;

/// Coordinator settings (Kafka's `group.*` broker configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members. Kafka's default is 3 s; the test broker's is 0 so tests form groups at
    /// once.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms` (Kafka: 6 s).
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms` (Kafka: 30 min).
    pub max_session_timeout: Duration,
    /// How long a new member's pending JoinGroup may wait before the member is dropped
    /// (Kafka's fixed `NewMemberJoinTimeoutMs`, 5 min).
    pub new_member_join_timeout: Duration,
    /// `offset.metadata.max.bytes` (Kafka: 4096).
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay: Duration::ZERO,
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            new_member_join_timeout: Duration::from_millis(300_000),
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// A group's state, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members (the group may still hold committed offsets).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Does not exist (what DescribeGroups reports for an unknown group).
    Dead,
}

impl GroupState {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A member's protocol: its name and opaque metadata (for consumers, the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol (assignor) name.
    pub name: String,
    /// The protocol metadata.
    pub metadata: Bytes,
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The group.
    pub group_id: String,
    /// The member id; empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (v5+).
    pub group_instance_id: Option<String>,
    /// The client id from the request header.
    pub client_id: String,
    /// The client's host as DescribeGroups shows it.
    pub client_host: String,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` for consumers (the session timeout at v0).
    pub rebalance_timeout: Duration,
    /// The protocol type ("consumer" for consumers).
    pub protocol_type: String,
    /// The protocols the member supports, most preferred first.
    pub protocols: Vec<Protocol>,
    /// v4+: a dynamic member without an id gets MEMBER_ID_REQUIRED and a generated id.
    pub require_known_member_id: bool,
    /// v9+: a rejoining static leader of a stable group gets `skip_assignment`.
    pub supports_skip_assignment: bool,
}

/// A member as the leader's JoinGroup response lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// What a JoinGroup gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The error (`ErrorCode::None` on success).
    pub error: ErrorCode,
    /// The generation, -1 on error.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id ("" on error).
    pub leader: String,
    /// The leader should not run its assignor (KIP-814).
    pub skip_assignment: bool,
    /// The member's id (the generated one for MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// All members with their metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// A failed join.
    pub fn error(member_id: impl Into<String>, error: ErrorCode) -> JoinOutcome {
        JoinOutcome {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request, decoded.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
    /// The protocol type the member expects (v5+).
    pub protocol_type: Option<String>,
    /// The protocol the member expects (v5+).
    pub protocol_name: Option<String>,
    /// The leader's assignment: member id and bytes.
    pub assignments: Vec<(String, Bytes)>,
}

/// What a SyncGroup gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The error (`ErrorCode::None` on success).
    pub error: ErrorCode,
    /// The group's protocol type (on success).
    pub protocol_type: Option<String>,
    /// The group's protocol (on success).
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// A failed sync.
    pub fn error(error: ErrorCode) -> SyncOutcome {
        SyncOutcome {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// The answer for a parked waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// For a JoinGroup.
    Join(JoinOutcome),
    /// For a SyncGroup.
    Sync(SyncOutcome),
}

/// A Heartbeat request, decoded.
#[derive(Debug, Clone)]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The member's generation.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
}

/// One member named by a LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// The member id; empty to remove a static member by instance id (admin removal).
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
}

/// What a LeaveGroup gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveOutcome {
    /// The request-level error.
    pub error: ErrorCode,
    /// One result per leaving member, in request order (empty with a request-level error).
    pub members: Vec<(LeavingMember, ErrorCode)>,
}

/// Who commits offsets (the OffsetCommit request header fields).
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// The group.
    pub group_id: String,
    /// The member's generation, or -1 for a commit outside group management.
    pub generation_id: i32,
    /// The member id, or empty.
    pub member_id: String,
    /// `group.instance.id` (v7+).
    pub group_instance_id: Option<String>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to read.
    pub offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown (v6+).
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
}

/// A topic-partition.
pub type TopicPartition = (String, i32);

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    /// The group id.
    pub group_id: String,
    /// Its protocol type ("" for a group that only stores offsets).
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Its host.
    pub client_host: String,
    /// Its metadata for the selected protocol (empty unless the group is Stable).
    pub metadata: Bytes,
    /// Its assignment (empty unless the group is Stable).
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Its state.
    pub state: GroupState,
    /// Its protocol type.
    pub protocol_type: String,
    /// The selected protocol (empty unless Stable).
    pub protocol: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
}

#[derive(Debug)]
struct Member<W> {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<Protocol>,
    assignment: Bytes,
    join_waiter: Option<W>,
    sync_waiter: Option<W>,
    /// Added in the current rebalance and not yet through a completed join.
    is_new: bool,
    /// When the member's session expires; `None` while it is kept alive by a parked request.
    heartbeat_deadline: Option<Instant>,
}

impl<W> Member<W> {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    /// Whether a missed heartbeat deadline is forgiven (Kafka's `hasSatisfiedHeartbeat`).
    fn kept_alive(&self) -> bool {
        !self.is_new && (self.join_waiter.is_some() || self.sync_waiter.is_some())
    }
}

/// The pending completion of a rebalance (Kafka's `InitialDelayedJoin` / `DelayedJoin`).
#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    /// The first rebalance of an empty group: waits `delay` at a time while members keep
    /// arriving, never longer than the rebalance timeout in total.
    Initial {
        deadline: Instant,
        remaining: Duration,
    },
    /// Completes when every member has rejoined, or at the deadline.
    Rebalance { deadline: Instant },
}

impl JoinTimer {
    fn deadline(self) -> Instant {
        match self {
            JoinTimer::Initial { deadline, .. } | JoinTimer::Rebalance { deadline } => deadline,
        }
    }
}

type Outbox<W> = Vec<(W, Answer)>;

#[derive(Debug)]
struct Group<W> {
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    /// In join order (the order the leader sees them in).
    members: Vec<Member<W>>,
    /// Ids handed out with MEMBER_ID_REQUIRED, with when they expire.
    pending_members: BTreeMap<String, Instant>,
    /// Members that have not sent SyncGroup since the last completed join.
    pending_sync: BTreeSet<String>,
    sync_deadline: Option<Instant>,
    join_timer: Option<JoinTimer>,
    new_member_added: bool,
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
}

impl<W> Group<W> {
    fn new() -> Group<W> {
        Group {
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: Vec::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            join_timer: None,
            new_member_added: false,
            offsets: BTreeMap::new(),
        }
    }

    fn index(&self, member_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == member_id)
    }

    fn member_mut(&mut self, member_id: &str) -> Option<&mut Member<W>> {
        self.members.iter_mut().find(|m| m.id == member_id)
    }

    fn has(&self, member_id: &str) -> bool {
        self.index(member_id).is_some()
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// Kafka's `validateCurrentMember`: the instance id (if any) must map to `member_id`, and
    /// the member must exist.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            return match self.static_member_id(instance) {
                Some(current) if current != member_id => Err(ErrorCode::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(ErrorCode::UnknownMemberId),
            };
        }
        if self.has(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols
                    .iter()
                    .any(|p| self.members.iter().all(|m| m.supports(&p.name)))
        }
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes
    /// for its most preferred one; the most votes win (ties go to the protocol voted for
    /// first, in member order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.iter().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in &self.members {
            let Some(vote) = member
                .protocols
                .iter()
                .map(|p| p.name.as_str())
                .find(|n| candidates.contains(n))
            else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, n)) => *n += 1,
                None => votes.push((vote, 1)),
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, n) in votes {
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((name, n));
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some())
    }

    fn current_member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    fn join_success(
        &self,
        member_id: &str,
        with_members: bool,
        leader: String,
        skip_assignment: bool,
    ) -> JoinOutcome {
        JoinOutcome {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            skip_assignment,
            member_id: member_id.to_string(),
            members: if with_members {
                self.current_member_metadata()
            } else {
                Vec::new()
            },
        }
    }

    fn add_member(&mut self, member: Member<W>) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.push(member);
    }

    /// Remove a member; a parked JoinGroup or SyncGroup of it is answered UNKNOWN_MEMBER_ID.
    fn remove_member(&mut self, member_id: &str, out: &mut Outbox<W>) {
        if let Some(i) = self.index(member_id) {
            let member = self.members.remove(i);
            if let Some(w) = member.join_waiter {
                out.push((
                    w,
                    Answer::Join(JoinOutcome::error("", ErrorCode::UnknownMemberId)),
                ));
            }
            if let Some(w) = member.sync_waiter {
                out.push((
                    w,
                    Answer::Sync(SyncOutcome::error(ErrorCode::UnknownMemberId)),
                ));
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.first().map(|m| m.id.clone());
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`.
    fn remove_member_and_update(
        &mut self,
        member_id: &str,
        now: Instant,
        config: &GroupConfig,
        out: &mut Outbox<W>,
    ) {
        self.remove_member(member_id, out);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now, config, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Replace the join waiter of member `i`, answering a superseded one.
    fn park_join(&mut self, i: usize, waiter: W, out: &mut Outbox<W>) {
        let member = &mut self.members[i];
        if let Some(old) = member.join_waiter.replace(waiter) {
            out.push((
                old,
                Answer::Join(JoinOutcome::error(
                    member.id.clone(),
                    ErrorCode::RebalanceInProgress,
                )),
            ));
        }
    }

    fn update_member(&mut self, i: usize, request: &JoinRequest, waiter: W, out: &mut Outbox<W>) {
        let member = &mut self.members[i];
        member.protocols = request.protocols.clone();
        member.rebalance_timeout = request.rebalance_timeout;
        member.session_timeout = request.session_timeout;
        self.park_join(i, waiter, out);
    }

    fn maybe_prepare_rebalance(&mut self, now: Instant, config: &GroupConfig, out: &mut Outbox<W>) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now, config, out);
        }
    }

    fn prepare_rebalance(&mut self, now: Instant, config: &GroupConfig, out: &mut Outbox<W>) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(ErrorCode::RebalanceInProgress, now, out);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let rebalance_timeout = self.rebalance_timeout();
        self.join_timer = Some(if self.state == GroupState::Empty {
            let delay = config.initial_rebalance_delay;
            JoinTimer::Initial {
                deadline: now + delay,
                remaining: rebalance_timeout.saturating_sub(delay),
            }
        } else {
            JoinTimer::Rebalance {
                deadline: now + rebalance_timeout,
            }
        });
        self.state = GroupState::PreparingRebalance;
        // As Kafka's purgatory does on `tryCompleteElseWatch`: maybe everyone is here already.
        self.try_complete_join(now, out);
    }

    /// Kafka's `tryCompleteJoin`: the delayed join completes early once everyone has joined
    /// (not during the initial delay, which always runs out).
    fn try_complete_join(&mut self, now: Instant, out: &mut Outbox<W>) {
        if self.state == GroupState::PreparingRebalance
            && matches!(self.join_timer, Some(JoinTimer::Rebalance { .. }))
            && self.has_all_members_joined()
        {
            self.complete_join(now, out);
        }
    }

    /// Kafka's `onCompleteJoin`.
    fn complete_join(&mut self, now: Instant, out: &mut Outbox<W>) {
        let not_rejoined: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in not_rejoined {
            self.remove_member(&id, out);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Nobody rejoined (only silent static members are left): wait another round.
            self.join_timer = Some(JoinTimer::Rebalance {
                deadline: now + self.rebalance_timeout().max(Duration::from_millis(1)),
            });
            return;
        }
        self.join_timer = None;
        self.new_member_added = false;
        self.generation_id += 1;
        self.pending_sync.clear();
        self.sync_deadline = None;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        let leader = self.leader_id.clone().unwrap_or_default();
        for i in 0..self.members.len() {
            let id = self.members[i].id.clone();
            if let Some(w) = self.members[i].join_waiter.take() {
                let outcome = self.join_success(&id, self.is_leader(&id), leader.clone(), false);
                out.push((w, Answer::Join(outcome)));
            }
            let member = &mut self.members[i];
            member.heartbeat_deadline = Some(now + member.session_timeout);
            member.is_new = false;
            self.pending_sync.insert(id);
        }
        self.sync_deadline = Some(now + self.rebalance_timeout());
    }

    /// Kafka's `maybeElectNewJoinedLeader`: if the leader did not rejoin, any member that did
    /// becomes leader. False when there is no leader or nobody rejoined.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else {
            return false;
        };
        let leader_joined = self
            .members
            .iter()
            .any(|m| m.id == leader && m.join_waiter.is_some());
        if leader_joined {
            return true;
        }
        match self.members.iter().find(|m| m.join_waiter.is_some()) {
            Some(m) => {
                self.leader_id = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    fn reset_and_propagate_assignment_error(
        &mut self,
        error: ErrorCode,
        now: Instant,
        out: &mut Outbox<W>,
    ) {
        for m in &mut self.members {
            m.assignment = Bytes::new();
        }
        self.propagate_assignment(error, now, out);
    }

    fn propagate_assignment(&mut self, error: ErrorCode, now: Instant, out: &mut Outbox<W>) {
        let (protocol_type, protocol_name) = if error == ErrorCode::None {
            (self.protocol_type.clone(), self.protocol_name.clone())
        } else {
            (None, None)
        };
        for m in &mut self.members {
            if let Some(w) = m.sync_waiter.take() {
                let outcome = SyncOutcome {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                out.push((w, Answer::Sync(outcome)));
                m.heartbeat_deadline = Some(now + m.session_timeout);
            }
        }
    }

    fn schedule_heartbeat(&mut self, member_id: &str, now: Instant) {
        if let Some(m) = self.member_mut(member_id) {
            m.heartbeat_deadline = Some(now + m.session_timeout);
        }
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.iter().filter_map(|m| m.heartbeat_deadline);
        let pending = self.pending_members.values().copied();
        let timers = self
            .join_timer
            .map(JoinTimer::deadline)
            .into_iter()
            .chain(self.sync_deadline);
        members.chain(pending).chain(timers).min()
    }

    /// Fire every deadline at or before `now`.
    fn expire(&mut self, now: Instant, config: &GroupConfig, out: &mut Outbox<W>) {
        // Every step removes something, disarms a deadline or clears the initial-delay flag,
        // so this ends.
        while self.next_deadline().is_some_and(|d| d <= now) {
            self.expire_one(now, config, out);
        }
    }

    fn expire_one(&mut self, now: Instant, config: &GroupConfig, out: &mut Outbox<W>) {
        if let Some(id) = self
            .pending_members
            .iter()
            .find(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
        {
            self.pending_members.remove(&id);
            self.try_complete_join(now, out);
            return;
        }
        if let Some(i) = self
            .members
            .iter()
            .position(|m| m.heartbeat_deadline.is_some_and(|d| d <= now))
        {
            if self.members[i].kept_alive() {
                self.members[i].heartbeat_deadline = None;
            } else {
                let id = self.members[i].id.clone();
                tracing::info!(member = %id, "member session expired; removing it from the group");
                self.remove_member_and_update(&id, now, config, out);
            }
            return;
        }
        if let Some(timer) = self.join_timer.filter(|t| t.deadline() <= now) {
            match timer {
                JoinTimer::Initial { remaining, .. }
                    if self.new_member_added && !remaining.is_zero() =>
                {
                    self.new_member_added = false;
                    let delay = config.initial_rebalance_delay.min(remaining);
                    self.join_timer = Some(JoinTimer::Initial {
                        deadline: now + delay,
                        remaining: remaining - delay,
                    });
                }
                _ => self.complete_join(now, out),
            }
            return;
        }
        if self.sync_deadline.is_some_and(|d| d <= now) {
            self.sync_deadline = None;
            if matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) && !self.pending_sync.is_empty()
            {
                let missing: Vec<String> =
                    std::mem::take(&mut self.pending_sync).into_iter().collect();
                tracing::info!(members = ?missing, "members did not send SyncGroup in time; removing them");
                for id in &missing {
                    self.remove_member(id, out);
                }
                self.prepare_rebalance(now, config, out);
            }
        }
    }
}

/// Every group of the cluster: the state machine behind the group coordinator.
///
/// `W` is whatever the caller uses to deliver a parked JoinGroup/SyncGroup answer (a oneshot
/// sender in the broker, a label in tests).
#[derive(Debug)]
pub struct GroupsState<W> {
    config: GroupConfig,
    groups: BTreeMap<String, Group<W>>,
    completions: Outbox<W>,
}

impl<W> GroupsState<W> {
    /// No groups yet.
    pub fn new(config: GroupConfig) -> GroupsState<W> {
        GroupsState {
            config,
            groups: BTreeMap::new(),
            completions: Vec::new(),
        }
    }

    /// Answers ready for parked waiters (and for waiters answered at once), oldest first.
    pub fn take_completions(&mut self) -> Vec<(W, Answer)> {
        std::mem::take(&mut self.completions)
    }

    /// The earliest moment [`GroupsState::handle_timeout`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// Fire every timer due at `now`: session expiry, pending member expiry, rebalance and
    /// initial-delay completion, pending-sync expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        for group in self.groups.values_mut() {
            group.expire(now, &self.config, &mut self.completions);
        }
    }

    fn settle(&mut self, group_id: &str, now: Instant) {
        if let Some(group) = self.groups.get_mut(group_id) {
            group.expire(now, &self.config, &mut self.completions);
        }
    }

    /// A JoinGroup. `waiter` is answered (see [`GroupsState::take_completions`]) at once or when
    /// the rebalance completes.
    pub fn join(&mut self, now: Instant, request: JoinRequest, waiter: W) {
        self.join_inner(now, &request, waiter);
        self.settle(&request.group_id, now);
    }

    fn join_inner(&mut self, now: Instant, request: &JoinRequest, waiter: W) {
        let config = &self.config;
        let out = &mut self.completions;
        let reply = |out: &mut Outbox<W>, waiter: W, outcome: JoinOutcome| {
            out.push((waiter, Answer::Join(outcome)))
        };
        if request.group_id.is_empty() {
            return reply(
                out,
                waiter,
                JoinOutcome::error(&request.member_id, ErrorCode::InvalidGroupId),
            );
        }
        if request.session_timeout < config.min_session_timeout
            || request.session_timeout > config.max_session_timeout
        {
            return reply(
                out,
                waiter,
                JoinOutcome::error(&request.member_id, ErrorCode::InvalidSessionTimeout),
            );
        }
        let unknown_member = request.member_id.is_empty();
        let group = if unknown_member {
            self.groups
                .entry(request.group_id.clone())
                .or_insert_with(Group::new)
        } else {
            match self.groups.get_mut(&request.group_id) {
                Some(group) => group,
                None => {
                    return reply(
                        out,
                        waiter,
                        JoinOutcome::error(&request.member_id, ErrorCode::UnknownMemberId),
                    );
                }
            }
        };
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            let member_id = if unknown_member {
                ""
            } else {
                request.member_id.as_str()
            };
            return reply(
                out,
                waiter,
                JoinOutcome::error(member_id, ErrorCode::InconsistentGroupProtocol),
            );
        }
        if unknown_member {
            let prefix = request
                .group_instance_id
                .as_deref()
                .unwrap_or(&request.client_id);
            let new_member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
            match &request.group_instance_id {
                Some(instance) => match group.static_member_id(instance).map(str::to_string) {
                    Some(old_member_id) => {
                        update_static_member(
                            group,
                            now,
                            config,
                            out,
                            request,
                            &old_member_id,
                            new_member_id,
                            waiter,
                        );
                    }
                    None => add_member_and_rebalance(
                        group,
                        now,
                        config,
                        out,
                        request,
                        new_member_id,
                        waiter,
                    ),
                },
                None if request.require_known_member_id => {
                    group
                        .pending_members
                        .insert(new_member_id.clone(), now + request.session_timeout);
                    reply(
                        out,
                        waiter,
                        JoinOutcome::error(new_member_id, ErrorCode::MemberIdRequired),
                    );
                }
                None => add_member_and_rebalance(
                    group,
                    now,
                    config,
                    out,
                    request,
                    new_member_id,
                    waiter,
                ),
            }
        } else if group.pending_members.contains_key(&request.member_id) {
            add_member_and_rebalance(
                group,
                now,
                config,
                out,
                request,
                request.member_id.clone(),
                waiter,
            );
        } else if let Err(code) =
            group.validate_member(&request.member_id, request.group_instance_id.as_deref())
        {
            reply(out, waiter, JoinOutcome::error(&request.member_id, code));
        } else {
            let i = group.index(&request.member_id).expect("validated member");
            match group.state {
                GroupState::PreparingRebalance => {
                    group.update_member(i, request, waiter, out);
                }
                GroupState::CompletingRebalance => {
                    if group.members[i].matches(&request.protocols) {
                        // A retry of a join whose answer was lost: the current generation.
                        let leader = group.leader_id.clone().unwrap_or_default();
                        let outcome = group.join_success(
                            &request.member_id,
                            group.is_leader(&request.member_id),
                            leader,
                            false,
                        );
                        reply(out, waiter, outcome);
                    } else {
                        group.update_member(i, request, waiter, out);
                        group.maybe_prepare_rebalance(now, config, out);
                    }
                }
                GroupState::Stable => {
                    if group.is_leader(&request.member_id)
                        || !group.members[i].matches(&request.protocols)
                    {
                        // The leader rejoining forces a rebalance (it may have seen metadata
                        // change); so does a follower with new metadata.
                        group.update_member(i, request, waiter, out);
                        group.maybe_prepare_rebalance(now, config, out);
                    } else {
                        let leader = group.leader_id.clone().unwrap_or_default();
                        let outcome = group.join_success(&request.member_id, false, leader, false);
                        reply(out, waiter, outcome);
                    }
                }
                GroupState::Empty | GroupState::Dead => {
                    reply(
                        out,
                        waiter,
                        JoinOutcome::error(&request.member_id, ErrorCode::UnknownMemberId),
                    );
                }
            }
        }
        group.try_complete_join(now, out);
    }

    /// A SyncGroup. `waiter` is answered at once, or (for a member of a rebalancing group)
    /// when the leader's assignment arrives or the group starts another rebalance.
    pub fn sync(&mut self, now: Instant, request: SyncRequest, waiter: W) {
        let out = &mut self.completions;
        let reply = |out: &mut Outbox<W>, waiter: W, outcome: SyncOutcome| {
            out.push((waiter, Answer::Sync(outcome)))
        };
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return reply(out, waiter, SyncOutcome::error(ErrorCode::UnknownMemberId));
        };
        let validation = group
            .validate_member(&request.member_id, request.group_instance_id.as_deref())
            .and_then(|()| {
                if request.generation_id != group.generation_id {
                    Err(ErrorCode::IllegalGeneration)
                } else if request
                    .protocol_type
                    .as_ref()
                    .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
                    || request
                        .protocol_name
                        .as_ref()
                        .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
                {
                    Err(ErrorCode::InconsistentGroupProtocol)
                } else {
                    Ok(())
                }
            });
        if let Err(code) = validation {
            return reply(out, waiter, SyncOutcome::error(code));
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                reply(out, waiter, SyncOutcome::error(ErrorCode::UnknownMemberId))
            }
            GroupState::PreparingRebalance => reply(
                out,
                waiter,
                SyncOutcome::error(ErrorCode::RebalanceInProgress),
            ),
            GroupState::CompletingRebalance => {
                let member = group
                    .member_mut(&request.member_id)
                    .expect("validated member");
                if let Some(old) = member.sync_waiter.replace(waiter) {
                    out.push((
                        old,
                        Answer::Sync(SyncOutcome::error(ErrorCode::RebalanceInProgress)),
                    ));
                }
                group.remove_pending_sync(&request.member_id);
                if group.is_leader(&request.member_id) {
                    let mut by_member: BTreeMap<&str, &Bytes> = BTreeMap::new();
                    for (member_id, assignment) in &request.assignments {
                        by_member.insert(member_id, assignment);
                    }
                    for m in &mut group.members {
                        m.assignment = by_member
                            .get(m.id.as_str())
                            .map(|b| (*b).clone())
                            .unwrap_or_default();
                    }
                    group.propagate_assignment(ErrorCode::None, now, out);
                    group.state = GroupState::Stable;
                }
            }
            GroupState::Stable => {
                group.remove_pending_sync(&request.member_id);
                group.schedule_heartbeat(&request.member_id, now);
                let assignment = group
                    .member_mut(&request.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let outcome = SyncOutcome {
                    error: ErrorCode::None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment,
                };
                reply(out, waiter, outcome);
            }
        }
        self.settle(&request.group_id, now);
    }

    /// A Heartbeat.
    pub fn heartbeat(&mut self, now: Instant, request: &HeartbeatRequest) -> ErrorCode {
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if let Err(code) =
            group.validate_member(&request.member_id, request.group_instance_id.as_deref())
        {
            return code;
        }
        if request.generation_id != group.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        let code = match group.state {
            GroupState::Empty | GroupState::Dead => return ErrorCode::UnknownMemberId,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
        };
        group.schedule_heartbeat(&request.member_id, now);
        self.settle(&request.group_id, now);
        code
    }

    /// A LeaveGroup for `members`.
    pub fn leave(
        &mut self,
        now: Instant,
        group_id: &str,
        members: Vec<LeavingMember>,
    ) -> LeaveOutcome {
        let config = &self.config;
        let out = &mut self.completions;
        let Some(group) = self.groups.get_mut(group_id) else {
            return LeaveOutcome {
                error: ErrorCode::None,
                members: members
                    .into_iter()
                    .map(|m| (m, ErrorCode::UnknownMemberId))
                    .collect(),
            };
        };
        let mut results = Vec::with_capacity(members.len());
        for leaving in members {
            let code = if leaving.member_id.is_empty() {
                match leaving
                    .group_instance_id
                    .as_deref()
                    .and_then(|i| group.static_member_id(i))
                    .map(str::to_string)
                {
                    Some(current) => {
                        group.remove_member_and_update(&current, now, config, out);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if group.pending_members.contains_key(&leaving.member_id) {
                group.pending_members.remove(&leaving.member_id);
                group.try_complete_join(now, out);
                ErrorCode::None
            } else {
                match group
                    .validate_member(&leaving.member_id, leaving.group_instance_id.as_deref())
                {
                    Ok(()) => {
                        group.remove_member_and_update(&leaving.member_id, now, config, out);
                        ErrorCode::None
                    }
                    Err(code) => code,
                }
            };
            results.push((leaving, code));
        }
        self.settle(group_id, now);
        LeaveOutcome {
            error: ErrorCode::None,
            members: results,
        }
    }

    /// An OffsetCommit of `offsets`; one error per offset, in order. Committing with
    /// generation -1 and no member id to a group without members (or to no group at all)
    /// is a "simple" commit and creates the group.
    pub fn commit_offsets(
        &mut self,
        now: Instant,
        request: &CommitRequest,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    ) -> Vec<ErrorCode> {
        let max_metadata = self.config.offset_metadata_max_bytes;
        let error = self.validate_commit(now, request);
        let codes = match error {
            Err(code) => vec![code; offsets.len()],
            Ok(group) => offsets
                .into_iter()
                .map(|(tp, committed)| {
                    if committed.metadata.len() > max_metadata {
                        ErrorCode::OffsetMetadataTooLarge
                    } else {
                        group.offsets.insert(tp, committed);
                        ErrorCode::None
                    }
                })
                .collect(),
        };
        self.settle(&request.group_id, now);
        codes
    }

    fn validate_commit(
        &mut self,
        now: Instant,
        request: &CommitRequest,
    ) -> Result<&mut Group<W>, ErrorCode> {
        if !self.groups.contains_key(&request.group_id) {
            if request.generation_id >= 0 {
                return Err(ErrorCode::IllegalGeneration);
            }
            self.groups.insert(request.group_id.clone(), Group::new());
        }
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("group exists");
        let instance = request.group_instance_id.as_deref();
        if request.generation_id < 0 && group.state == GroupState::Empty {
            return Ok(group);
        }
        if request.generation_id >= 0 || !request.member_id.is_empty() || instance.is_some() {
            group.validate_member(&request.member_id, instance)?;
            if request.generation_id != group.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if group.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        match group.state {
            GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                group.schedule_heartbeat(&request.member_id, now);
                Ok(group)
            }
            GroupState::Empty => Ok(group),
            GroupState::Dead => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// Committed offsets of `group_id`: for `partitions`, or every committed partition when
    /// `None`. A partition without a commit maps to `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        let group = self.groups.get(group_id);
        match partitions {
            Some(partitions) => partitions
                .into_iter()
                .map(|tp| {
                    let committed = group.and_then(|g| g.offsets.get(&tp).cloned());
                    (tp, committed)
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Every group, by id.
    pub fn list(&self) -> Vec<GroupOverview> {
        self.groups
            .iter()
            .map(|(id, g)| GroupOverview {
                group_id: id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    /// A group's description, `None` if it does not exist. Member metadata and assignments
    /// are only shown while the group is Stable, as Kafka does.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let group = self.groups.get(group_id)?;
        let stable = group.state == GroupState::Stable;
        let protocol = if stable {
            group.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = group
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Some(GroupDescription {
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        })
    }

    /// DeleteGroups for one group: only an Empty group can go (with its offsets).
    pub fn delete(&mut self, group_id: &str) -> ErrorCode {
        match self.groups.get(group_id).map(|g| g.state) {
            None | Some(GroupState::Dead) => ErrorCode::GroupIdNotFound,
            Some(GroupState::Empty) => {
                self.groups.remove(group_id);
                ErrorCode::None
            }
            Some(_) => ErrorCode::NonEmptyGroup,
        }
    }
}

/// Kafka's `addMemberAndRebalance`.
fn add_member_and_rebalance<W>(
    group: &mut Group<W>,
    now: Instant,
    config: &GroupConfig,
    out: &mut Outbox<W>,
    request: &JoinRequest,
    member_id: String,
    waiter: W,
) {
    if group.state == GroupState::PreparingRebalance && group.generation_id == 0 {
        group.new_member_added = true;
    }
    group.add_member(Member {
        id: member_id,
        instance_id: request.group_instance_id.clone(),
        client_id: request.client_id.clone(),
        client_host: request.client_host.clone(),
        session_timeout: request.session_timeout,
        rebalance_timeout: request.rebalance_timeout,
        protocol_type: request.protocol_type.clone(),
        protocols: request.protocols.clone(),
        assignment: Bytes::new(),
        join_waiter: Some(waiter),
        sync_waiter: None,
        is_new: true,
        // A new member cannot heartbeat yet; its join is what must not hang forever.
        heartbeat_deadline: Some(now + config.new_member_join_timeout),
    });
    group.maybe_prepare_rebalance(now, config, out);
}

/// Kafka's `updateStaticMemberAndRebalance`: a static member rejoined with a new member id.
#[allow(clippy::too_many_arguments)]
fn update_static_member<W>(
    group: &mut Group<W>,
    now: Instant,
    config: &GroupConfig,
    out: &mut Outbox<W>,
    request: &JoinRequest,
    old_member_id: &str,
    new_member_id: String,
    waiter: W,
) {
    let current_leader = group.leader_id.clone().unwrap_or_default();
    let i = group.index(old_member_id).expect("static member exists");
    // Fence the old incarnation: anything it has parked is answered FENCED_INSTANCE_ID.
    {
        let member = &mut group.members[i];
        if let Some(w) = member.join_waiter.take() {
            out.push((
                w,
                Answer::Join(JoinOutcome::error(
                    old_member_id,
                    ErrorCode::FencedInstanceId,
                )),
            ));
        }
        if let Some(w) = member.sync_waiter.take() {
            out.push((
                w,
                Answer::Sync(SyncOutcome::error(ErrorCode::FencedInstanceId)),
            ));
        }
        member.id = new_member_id.clone();
        member.heartbeat_deadline = Some(now + member.session_timeout);
    }
    if group.is_leader(old_member_id) {
        group.leader_id = Some(new_member_id.clone());
    }
    if group.pending_sync.remove(old_member_id) {
        group.pending_sync.insert(new_member_id.clone());
    }
    group.update_member(i, request, waiter, out);
    match group.state {
        GroupState::Stable => {
            if group.select_protocol() == group.protocol_name {
                // Same protocol: keep the generation and the assignment; no rebalance.
                let waiter = group.members[i].join_waiter.take().expect("just parked");
                let outcome = if request.supports_skip_assignment {
                    let is_leader = group.is_leader(&new_member_id);
                    let leader = group.leader_id.clone().unwrap_or_default();
                    group.join_success(&new_member_id, is_leader, leader, is_leader)
                } else {
                    // Name the old leader id so that a returning leader does not run a
                    // pointless assignment (its new id will not match).
                    group.join_success(&new_member_id, false, current_leader, false)
                };
                out.push((waiter, Answer::Join(outcome)));
            } else {
                group.maybe_prepare_rebalance(now, config, out);
            }
        }
        GroupState::CompletingRebalance => group.prepare_rebalance(now, config, out),
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
    }
}
