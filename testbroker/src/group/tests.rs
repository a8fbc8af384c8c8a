//! Deterministic tests of the group state machine (virtual time: `now` is passed in) and a few
//! of the async coordinator.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit::protocol::ErrorCode;

use super::state::*;
use super::{GroupCoordinator, coordinator_for, offsets_partition_for};

const GROUP: &str = "g";
const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: n.to_string(),
            metadata: Bytes::from(format!("{n}-meta")),
        })
        .collect()
}

fn join_request(member_id: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: GROUP.to_string(),
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: protocols(names),
        require_known_member_id: true,
        supports_skip_assignment: false,
    }
}

fn static_join(instance: &str, member_id: &str, names: &[&str], v9: bool) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.to_string()),
        require_known_member_id: false,
        supports_skip_assignment: v9,
        ..join_request(member_id, names)
    }
}

/// A state machine with a virtual clock; waiters are numbers and their answers are collected.
struct Harness {
    state: GroupsState<u32>,
    now: Instant,
    next_waiter: u32,
    answers: HashMap<u32, Answer>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_config(GroupConfig::default())
    }

    fn with_config(config: GroupConfig) -> Harness {
        Harness {
            state: GroupsState::new(config),
            now: Instant::now(),
            next_waiter: 0,
            answers: HashMap::new(),
        }
    }

    fn collect(&mut self) {
        for (w, answer) in self.state.take_completions() {
            assert!(
                self.answers.insert(w, answer).is_none(),
                "waiter {w} answered twice"
            );
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.state.handle_timeout(self.now);
        self.collect();
    }

    fn waiter(&mut self) -> u32 {
        self.next_waiter += 1;
        self.next_waiter
    }

    fn join(&mut self, request: JoinRequest) -> u32 {
        let w = self.waiter();
        self.state.join(self.now, request, w);
        self.collect();
        w
    }

    fn sync(&mut self, member_id: &str, generation_id: i32, assignments: &[(&str, &str)]) -> u32 {
        let w = self.waiter();
        let request = SyncRequest {
            group_id: GROUP.to_string(),
            generation_id,
            member_id: member_id.to_string(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
        };
        self.state.sync(self.now, request, w);
        self.collect();
        w
    }

    fn heartbeat(&mut self, member_id: &str, generation_id: i32) -> ErrorCode {
        self.heartbeat_static(member_id, None, generation_id)
    }

    fn heartbeat_static(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        let request = HeartbeatRequest {
            group_id: GROUP.to_string(),
            generation_id,
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
        };
        let code = self.state.heartbeat(self.now, &request);
        self.collect();
        code
    }

    fn leave(&mut self, member_id: &str) -> ErrorCode {
        let outcome = self.state.leave(
            self.now,
            GROUP,
            vec![LeavingMember {
                member_id: member_id.to_string(),
                group_instance_id: None,
            }],
        );
        self.collect();
        assert_eq!(outcome.error, ErrorCode::None);
        outcome.members[0].1
    }

    fn joined(&self, w: u32) -> JoinOutcome {
        match self.answers.get(&w) {
            Some(Answer::Join(outcome)) => outcome.clone(),
            other => panic!("waiter {w}: expected a join answer, got {other:?}"),
        }
    }

    fn synced(&self, w: u32) -> SyncOutcome {
        match self.answers.get(&w) {
            Some(Answer::Sync(outcome)) => outcome.clone(),
            other => panic!("waiter {w}: expected a sync answer, got {other:?}"),
        }
    }

    fn parked(&self, w: u32) -> bool {
        !self.answers.contains_key(&w)
    }

    /// JoinGroup v4+ without an id: MEMBER_ID_REQUIRED and the id to rejoin with.
    fn member_id(&mut self) -> String {
        let w = self.join(join_request("", &["range"]));
        let outcome = self.joined(w);
        assert_eq!(outcome.error, ErrorCode::MemberIdRequired);
        assert!(
            outcome.member_id.starts_with("client-"),
            "{}",
            outcome.member_id
        );
        assert_eq!(outcome.generation_id, -1);
        outcome.member_id
    }

    fn group_state(&self) -> GroupState {
        self.state
            .describe(GROUP)
            .map_or(GroupState::Dead, |d| d.state)
    }

    fn members(&self) -> Vec<String> {
        self.state
            .describe(GROUP)
            .map(|d| d.members.into_iter().map(|m| m.member_id).collect())
            .unwrap_or_default()
    }

    /// A single member forms the group and gets the whole assignment: (member id, generation).
    fn one_member_stable(&mut self) -> (String, i32) {
        let a = self.member_id();
        let w = self.join(join_request(&a, &["range"]));
        let joined = self.joined(w);
        assert_eq!(joined.error, ErrorCode::None);
        let s = self.sync(&a, joined.generation_id, &[(&a, "all")]);
        assert_eq!(self.synced(s).assignment, Bytes::from("all"));
        (a, joined.generation_id)
    }

    /// Two members in a Stable group: (leader, follower, generation).
    fn two_members_stable(&mut self) -> (String, String, i32) {
        let (a, _) = self.one_member_stable();
        let b = self.member_id();
        let wb = self.join(join_request(&b, &["range"]));
        assert!(self.parked(wb));
        let wa = self.join(join_request(&a, &["range"]));
        let (ja, jb) = (self.joined(wa), self.joined(wb));
        let generation = ja.generation_id;
        let sb = self.sync(&b, generation, &[]);
        let sa = self.sync(&a, generation, &[(&a, "a-part"), (&b, "b-part")]);
        assert_eq!(self.synced(sa).assignment, Bytes::from("a-part"));
        assert_eq!(self.synced(sb).assignment, Bytes::from("b-part"));
        assert_eq!(jb.leader, a);
        (a, b, generation)
    }
}

#[test]
fn one_member_joins_syncs_and_becomes_stable() {
    let mut h = Harness::new();
    let a = h.member_id();
    // The id handed out is pending: the group exists but has no members yet.
    assert_eq!(h.group_state(), GroupState::Empty);
    let w = h.join(join_request(&a, &["range", "roundrobin"]));
    let joined = h.joined(w);
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, a);
    assert_eq!(joined.member_id, a);
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        joined.members,
        vec![JoinedMember {
            member_id: a.clone(),
            group_instance_id: None,
            metadata: Bytes::from("range-meta"),
        }]
    );
    assert_eq!(h.group_state(), GroupState::CompletingRebalance);
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::None);
    let s = h.sync(&a, 1, &[(&a, "p0,p1")]);
    let synced = h.synced(s);
    assert_eq!(synced.error, ErrorCode::None);
    assert_eq!(synced.assignment, Bytes::from("p0,p1"));
    assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    assert_eq!(h.group_state(), GroupState::Stable);
    let described = h.state.describe(GROUP).unwrap();
    assert_eq!(described.protocol, "range");
    assert_eq!(described.members[0].assignment, Bytes::from("p0,p1"));
    assert_eq!(described.members[0].metadata, Bytes::from("range-meta"));
    assert_eq!(described.members[0].client_host, "/127.0.0.1");
}

#[test]
fn second_member_triggers_rebalance_and_follower_waits_for_leader_sync() {
    let mut h = Harness::new();
    let (a, gen1) = h.one_member_stable();
    let b = h.member_id();
    let wb = h.join(join_request(&b, &["range"]));
    assert!(
        h.parked(wb),
        "the new member waits for the others to rejoin"
    );
    assert_eq!(h.group_state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, gen1), ErrorCode::RebalanceInProgress);
    // A commit during PreparingRebalance is still accepted.
    let commit = CommitRequest {
        group_id: GROUP.into(),
        generation_id: gen1,
        member_id: a.clone(),
        group_instance_id: None,
    };
    let offset = CommittedOffset {
        offset: 5,
        leader_epoch: -1,
        metadata: String::new(),
    };
    assert_eq!(
        h.state
            .commit_offsets(h.now, &commit, vec![(("t".into(), 0), offset)]),
        vec![ErrorCode::None]
    );
    let wa = h.join(join_request(&a, &["range"]));
    let (ja, jb) = (h.joined(wa), h.joined(wb));
    assert_eq!(ja.generation_id, gen1 + 1);
    assert_eq!(jb.generation_id, gen1 + 1);
    assert_eq!(ja.leader, a);
    assert_eq!(jb.leader, a);
    assert_eq!(
        ja.members.len(),
        2,
        "the leader gets every member's metadata"
    );
    assert!(jb.members.is_empty(), "followers get none");
    let sb = h.sync(&b, jb.generation_id, &[]);
    assert!(
        h.parked(sb),
        "the follower waits for the leader's assignment"
    );
    let sa = h.sync(&a, ja.generation_id, &[(&a, "a-part"), (&b, "b-part")]);
    assert_eq!(h.synced(sa).assignment, Bytes::from("a-part"));
    assert_eq!(h.synced(sb).assignment, Bytes::from("b-part"));
    assert_eq!(h.group_state(), GroupState::Stable);
    // The old generation is gone.
    assert_eq!(h.heartbeat(&b, gen1), ErrorCode::IllegalGeneration);
    assert_eq!(h.heartbeat(&b, gen1 + 1), ErrorCode::None);
}

#[test]
fn three_members_select_a_protocol_everyone_supports_by_vote() {
    let mut h = Harness::new();
    let ids: Vec<String> = (0..3).map(|_| h.member_id()).collect();
    // A rebalance in progress (the first member joined with the initial delay of 0 and then
    // the group started over when the others arrived): all three join the same generation.
    let prefs: [&[&str]; 3] = [
        &["range", "roundrobin"],
        &["roundrobin", "range"],
        &["range", "sticky", "roundrobin"],
    ];
    let w0 = h.join(join_request(&ids[0], prefs[0]));
    let gen1 = h.joined(w0).generation_id;
    let w1 = h.join(join_request(&ids[1], prefs[1]));
    let w2 = h.join(join_request(&ids[2], prefs[2]));
    assert!(h.parked(w1) && h.parked(w2));
    let w0 = h.join(join_request(&ids[0], prefs[0]));
    let outcomes: Vec<JoinOutcome> = [w0, w1, w2].iter().map(|w| h.joined(*w)).collect();
    for o in &outcomes {
        assert_eq!(o.error, ErrorCode::None);
        assert_eq!(o.generation_id, gen1 + 1);
        // "sticky" is not supported by all; "range" has two votes, "roundrobin" one.
        assert_eq!(o.protocol_name.as_deref(), Some("range"));
    }
    let leader = &outcomes[0];
    assert_eq!(leader.members.len(), 3);
    assert!(leader.members.iter().all(|m| m.metadata == "range-meta"));
    // Members in join order.
    assert_eq!(
        leader
            .members
            .iter()
            .map(|m| &m.member_id)
            .collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );

    // A fourth member speaking no common protocol, or another protocol type, is refused.
    let mut other = join_request("", &["other"]);
    let w = h.join(other.clone());
    assert_eq!(h.joined(w).error, ErrorCode::InconsistentGroupProtocol);
    other.protocols = protocols(&["range"]);
    other.protocol_type = "connect".into();
    let w = h.join(other);
    assert_eq!(h.joined(w).error, ErrorCode::InconsistentGroupProtocol);
}

#[test]
fn member_id_required_only_for_dynamic_members_of_v4_and_later() {
    let mut h = Harness::new();
    let mut old = join_request("", &["range"]);
    old.require_known_member_id = false; // JoinGroup v0-3
    let w = h.join(old);
    let joined = h.joined(w);
    assert_eq!(joined.error, ErrorCode::None);
    assert!(joined.member_id.starts_with("client-"));
    let w = h.join(static_join("instance-1", "", &["range"], false));
    assert!(
        h.parked(w),
        "static members join directly (and here wait for the rebalance)"
    );
    assert!(
        h.members().iter().any(|m| m.starts_with("instance-1-")),
        "{:?}",
        h.members()
    );
    // Rejoining with an id nobody handed out.
    let w = h.join(join_request("made-up", &["range"]));
    assert_eq!(h.joined(w).error, ErrorCode::UnknownMemberId);
    // Unknown group with a member id.
    let mut r = join_request("made-up", &["range"]);
    r.group_id = "nope".into();
    let w = h.join(r);
    assert_eq!(h.joined(w).error, ErrorCode::UnknownMemberId);
}

#[test]
fn session_timeout_outside_the_configured_range_is_refused() {
    let mut h = Harness::new();
    let mut r = join_request("", &["range"]);
    r.session_timeout = Duration::from_millis(100);
    let w = h.join(r);
    assert_eq!(h.joined(w).error, ErrorCode::InvalidSessionTimeout);
    let mut r = join_request("", &["range"]);
    r.group_id = String::new();
    let w = h.join(r);
    assert_eq!(h.joined(w).error, ErrorCode::InvalidGroupId);
}

#[test]
fn rebalance_timeout_removes_a_member_that_does_not_rejoin() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    let c = h.member_id();
    let wc = h.join(join_request(&c, &["range"]));
    let wa = h.join(join_request(&a, &["range"]));
    assert!(h.parked(wa) && h.parked(wc), "b has not rejoined yet");
    // b keeps heartbeating (a consumer stuck in processing does) but never rejoins.
    for _ in 0..5 {
        h.advance(Duration::from_secs(5));
        assert_eq!(h.heartbeat(&b, generation), ErrorCode::RebalanceInProgress);
    }
    h.advance(Duration::from_secs(5) - Duration::from_millis(1));
    assert!(h.parked(wa));
    h.advance(Duration::from_millis(1));
    let (ja, jc) = (h.joined(wa), h.joined(wc));
    assert_eq!(ja.generation_id, generation + 1);
    assert_eq!(jc.generation_id, generation + 1);
    assert_eq!(ja.members.len(), 2);
    assert!(!h.members().contains(&b));
    assert_eq!(h.heartbeat(&b, generation), ErrorCode::UnknownMemberId);
}

#[test]
fn session_expiry_removes_a_silent_member_and_rebalances() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    for _ in 0..3 {
        h.advance(Duration::from_secs(3));
        assert_eq!(h.heartbeat(&a, generation), ErrorCode::None);
    }
    assert!(h.members().contains(&b));
    h.advance(Duration::from_secs(3));
    // 12 s without a heartbeat from b: its 10 s session is over.
    assert!(!h.members().contains(&b));
    assert_eq!(h.group_state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::RebalanceInProgress);
    let wa = h.join(join_request(&a, &["range"]));
    let ja = h.joined(wa);
    assert_eq!(ja.generation_id, generation + 1);
    assert_eq!(ja.members.len(), 1);
}

#[test]
fn a_member_parked_on_join_or_sync_stays_alive_past_its_session() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    // b rejoins with new metadata: a rebalance that a never joins; b waits past its session.
    let wb = h.join(join_request(&b, &["range", "roundrobin"]));
    h.advance(SESSION + Duration::from_secs(1));
    assert!(h.members().contains(&b), "parked on JoinGroup: alive");
    assert!(
        !h.members().contains(&a),
        "a neither heartbeated nor rejoined"
    );
    let jb = h.joined(wb);
    assert_eq!(jb.generation_id, generation + 1);
    assert_eq!(jb.leader, b, "leadership moved to the member that rejoined");
}

#[test]
fn leaving_triggers_a_rebalance_and_moves_leadership() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    assert_eq!(h.leave(&a), ErrorCode::None);
    assert_eq!(h.group_state(), GroupState::PreparingRebalance);
    assert_eq!(h.leave(&a), ErrorCode::UnknownMemberId);
    assert_eq!(h.heartbeat(&b, generation), ErrorCode::RebalanceInProgress);
    let wb = h.join(join_request(&b, &["range"]));
    let jb = h.joined(wb);
    assert_eq!(jb.leader, b);
    assert_eq!(jb.generation_id, generation + 1);
    let s = h.sync(&b, jb.generation_id, &[(&b, "everything")]);
    assert_eq!(h.synced(s).assignment, Bytes::from("everything"));
    // The last member leaving empties the group (a new generation with no members).
    assert_eq!(h.leave(&b), ErrorCode::None);
    assert_eq!(h.group_state(), GroupState::Empty);
    assert!(h.members().is_empty());
}

#[test]
fn leave_of_unknown_group_answers_unknown_member_per_member() {
    let mut h = Harness::new();
    let outcome = h.state.leave(
        h.now,
        "nope",
        vec![LeavingMember {
            member_id: "m".into(),
            group_instance_id: None,
        }],
    );
    assert_eq!(outcome.error, ErrorCode::None);
    assert_eq!(outcome.members[0].1, ErrorCode::UnknownMemberId);
}

#[test]
fn a_pending_member_id_holds_the_rebalance_until_it_joins_or_expires() {
    let mut h = Harness::new();
    let (a, generation) = h.one_member_stable();
    let c = h.member_id();
    let wc = h.join(join_request(&c, &["range"]));
    let _pending = h.member_id(); // handed out, never used
    let wa = h.join(join_request(&a, &["range"]));
    assert!(h.parked(wa), "a pending member id is still expected");
    h.advance(SESSION);
    assert_eq!(h.joined(wa).generation_id, generation + 1);
    assert_eq!(h.joined(wc).members.len(), 0);
    assert_eq!(h.joined(wa).members.len(), 2);
}

#[test]
fn initial_rebalance_delay_waits_for_more_members() {
    let mut h = Harness::with_config(GroupConfig {
        initial_rebalance_delay: Duration::from_secs(3),
        ..GroupConfig::default()
    });
    let a = h.member_id();
    let b = h.member_id();
    let wa = h.join(join_request(&a, &["range"]));
    assert!(h.parked(wa));
    h.advance(Duration::from_secs(2));
    let wb = h.join(join_request(&b, &["range"]));
    h.advance(Duration::from_secs(1));
    assert!(
        h.parked(wa),
        "a member arrived during the delay: wait another delay"
    );
    h.advance(Duration::from_secs(2));
    assert!(h.parked(wa));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.joined(wa).generation_id, 1);
    assert_eq!(h.joined(wa).members.len(), 2);
    assert_eq!(h.joined(wb).generation_id, 1);
}

#[test]
fn leader_that_never_syncs_is_removed_and_followers_are_told_to_rejoin() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    // b changes its subscription: a new generation where a is leader again.
    let wb = h.join(join_request(&b, &["range", "roundrobin"]));
    let wa = h.join(join_request(&a, &["range"]));
    let new_generation = h.joined(wa).generation_id;
    assert_eq!(h.joined(wb).generation_id, new_generation);
    assert!(new_generation > generation);
    let sb = h.sync(&b, new_generation, &[]);
    assert!(h.parked(sb));
    // a heartbeats (so its session is fine) but never sends SyncGroup.
    for _ in 0..5 {
        h.advance(REBALANCE / 6);
        assert_eq!(h.heartbeat(&a, new_generation), ErrorCode::None);
    }
    assert!(h.parked(sb));
    h.advance(REBALANCE / 6);
    assert!(!h.members().contains(&a), "the leader never sent SyncGroup");
    let synced = h.synced(sb);
    assert_eq!(synced.error, ErrorCode::RebalanceInProgress);
    assert!(synced.assignment.is_empty());
}

#[test]
fn a_follower_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (a, _) = h.one_member_stable();
    let b = h.member_id();
    let wb = h.join(join_request(&b, &["range"]));
    let wa = h.join(join_request(&a, &["range"]));
    let generation = h.joined(wa).generation_id;
    assert_eq!(h.joined(wb).generation_id, generation);
    let sa = h.sync(&a, generation, &[(&a, "x"), (&b, "y")]);
    assert_eq!(h.synced(sa).assignment, Bytes::from("x"));
    assert_eq!(h.group_state(), GroupState::Stable);
    // b heartbeats but never syncs.
    for _ in 0..10 {
        h.advance(REBALANCE / 10);
        let _ = h.heartbeat(&b, generation);
        let _ = h.heartbeat(&a, generation);
    }
    assert!(!h.members().contains(&b));
    assert_eq!(h.group_state(), GroupState::PreparingRebalance);
}

#[test]
fn illegal_generation_and_unknown_member_are_reported() {
    let mut h = Harness::new();
    let (a, b, generation) = h.two_members_stable();
    assert_eq!(
        h.heartbeat(&a, generation - 1),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        h.heartbeat("stranger", generation),
        ErrorCode::UnknownMemberId
    );
    let s = h.sync(&b, generation + 7, &[]);
    assert_eq!(h.synced(s).error, ErrorCode::IllegalGeneration);
    let s = h.sync("stranger", generation, &[]);
    assert_eq!(h.synced(s).error, ErrorCode::UnknownMemberId);
    let commit = CommitRequest {
        group_id: GROUP.into(),
        generation_id: generation - 1,
        member_id: b.clone(),
        group_instance_id: None,
    };
    let offset = CommittedOffset {
        offset: 1,
        leader_epoch: -1,
        metadata: String::new(),
    };
    assert_eq!(
        h.state
            .commit_offsets(h.now, &commit, vec![(("t".into(), 0), offset)]),
        vec![ErrorCode::IllegalGeneration]
    );
    // A Stable member re-sending SyncGroup gets its assignment again.
    let s = h.sync(&b, generation, &[]);
    assert_eq!(h.synced(s).assignment, Bytes::from("b-part"));
    // A follower rejoining with unchanged metadata keeps the generation (no rebalance).
    let w = h.join(join_request(&b, &["range"]));
    assert_eq!(h.joined(w).generation_id, generation);
    assert_eq!(h.group_state(), GroupState::Stable);
    // The leader rejoining forces a rebalance.
    let w = h.join(join_request(&a, &["range"]));
    assert!(h.parked(w));
    assert_eq!(h.group_state(), GroupState::PreparingRebalance);
}

#[test]
fn a_static_member_rejoining_replaces_its_old_self_without_a_rebalance() {
    let mut h = Harness::new();
    // Two static members.
    let wa = h.join(static_join("ia", "", &["range"], false));
    let a = h.joined(wa).member_id;
    let s = h.sync(&a, 1, &[(&a, "a-only")]);
    assert_eq!(h.synced(s).error, ErrorCode::None);
    let wb = h.join(static_join("ib", "", &["range"], false));
    let b = {
        let wa = h.join(static_join("ia", &a, &["range"], false));
        let jb = h.joined(wb);
        let ja = h.joined(wa);
        assert!(ja.member_id.starts_with("ia-") && jb.member_id.starts_with("ib-"));
        let sb = h.sync(&jb.member_id, jb.generation_id, &[]);
        let sa = h.sync(
            &a,
            ja.generation_id,
            &[(&a, "a-part"), (&jb.member_id, "b-part")],
        );
        assert_eq!(h.synced(sa).assignment, Bytes::from("a-part"));
        assert_eq!(h.synced(sb).assignment, Bytes::from("b-part"));
        jb.member_id
    };
    let generation = 2;
    assert_eq!(h.group_state(), GroupState::Stable);

    // b restarts: same instance id, no member id, same subscription.
    let w = h.join(static_join("ib", "", &["range"], false));
    let rejoined = h.joined(w);
    assert_eq!(rejoined.error, ErrorCode::None);
    assert_ne!(rejoined.member_id, b);
    assert_eq!(rejoined.generation_id, generation, "no new generation");
    assert_eq!(rejoined.leader, a);
    assert!(rejoined.members.is_empty());
    assert_eq!(h.group_state(), GroupState::Stable);
    let new_b = rejoined.member_id;
    // The old incarnation is fenced; the new one gets the old assignment.
    assert_eq!(
        h.heartbeat_static(&b, Some("ib"), generation),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        h.heartbeat_static(&new_b, Some("ib"), generation),
        ErrorCode::None
    );
    let s = h.sync(&new_b, generation, &[]);
    assert_eq!(h.synced(s).assignment, Bytes::from("b-part"));
    assert_eq!(
        h.heartbeat(&a, generation),
        ErrorCode::None,
        "a did not have to rejoin"
    );

    // The static leader restarting with JoinGroup v9 is told it leads but must skip the
    // assignment; before v9 it is given the old leader id instead.
    let w = h.join(static_join("ia", "", &["range"], true));
    let leader = h.joined(w);
    assert_eq!(leader.generation_id, generation);
    assert!(leader.skip_assignment);
    assert_eq!(leader.leader, leader.member_id);
    assert_eq!(leader.members.len(), 2);
    let w = h.join(static_join("ia", "", &["range"], false));
    let again = h.joined(w);
    assert!(!again.skip_assignment);
    assert_eq!(again.leader, leader.member_id, "the previous leader id");
    assert_ne!(again.member_id, leader.member_id);
    assert_eq!(h.group_state(), GroupState::Stable);

    // A restart with new subscription bytes but the same protocol: still no rebalance (the
    // selected protocol is what Kafka compares).
    let mut changed = static_join("ib", "", &["range"], false);
    changed.protocols[0].metadata = Bytes::from("range-meta-v2");
    let w = h.join(changed);
    assert_eq!(h.joined(w).generation_id, generation);
    assert_eq!(h.group_state(), GroupState::Stable);
}

#[test]
fn a_static_member_changing_the_selected_protocol_forces_a_rebalance() {
    let mut h = Harness::new();
    let w = h.join(static_join("ia", "", &["range", "roundrobin"], false));
    let first = h.joined(w);
    assert_eq!(first.protocol_name.as_deref(), Some("range"));
    let s = h.sync(&first.member_id, first.generation_id, &[]);
    assert_eq!(h.synced(s).error, ErrorCode::None);
    let w = h.join(static_join("ia", "", &["roundrobin", "range"], false));
    let rejoined = h.joined(w);
    assert_eq!(rejoined.generation_id, first.generation_id + 1);
    assert_eq!(rejoined.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(rejoined.leader, rejoined.member_id);
}

#[test]
fn a_parked_static_member_is_fenced_when_its_instance_rejoins() {
    let mut h = Harness::new();
    let wa = h.join(static_join("ia", "", &["range"], false));
    let a = h.joined(wa).member_id;
    let wb = h.join(static_join("ib", "", &["range"], false));
    assert!(h.parked(wb));
    let wa = h.join(static_join("ia", &a, &["range"], false));
    let b = h.joined(wb).member_id;
    assert_eq!(h.joined(wa).generation_id, 2);
    // b waits for the leader's assignment when another process with b's instance id arrives.
    let s = h.sync(&b, 2, &[]);
    assert!(h.parked(s));
    let w = h.join(static_join("ib", "", &["range"], false));
    assert_eq!(h.synced(s).error, ErrorCode::FencedInstanceId);
    assert!(
        h.parked(w),
        "CompletingRebalance: the replacement forces a rebalance"
    );
    let outcome = h.state.leave(
        h.now,
        GROUP,
        vec![LeavingMember {
            member_id: b.clone(),
            group_instance_id: Some("ib".into()),
        }],
    );
    h.collect();
    assert_eq!(outcome.members[0].1, ErrorCode::FencedInstanceId);
    // Admin removal by instance id alone; the parked join of the new incarnation is answered.
    let outcome = h.state.leave(
        h.now,
        GROUP,
        vec![LeavingMember {
            member_id: String::new(),
            group_instance_id: Some("ib".into()),
        }],
    );
    h.collect();
    assert_eq!(outcome.members[0].1, ErrorCode::None);
    assert_eq!(h.joined(w).error, ErrorCode::UnknownMemberId);
    assert!(h.members().iter().all(|m| !m.starts_with("ib-")));
}

#[test]
fn offset_commit_rules() {
    let mut h = Harness::new();
    let offset = |o: i64, epoch: i32, meta: &str| CommittedOffset {
        offset: o,
        leader_epoch: epoch,
        metadata: meta.into(),
    };
    let request = |group: &str, generation: i32, member: &str| CommitRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
    };
    // A simple (manual assignment) commit creates an Empty group holding offsets.
    let codes = h.state.commit_offsets(
        h.now,
        &request("simple", -1, ""),
        vec![
            (("t".into(), 0), offset(42, 3, "meta")),
            (("t".into(), 1), offset(7, -1, "")),
        ],
    );
    assert_eq!(codes, vec![ErrorCode::None, ErrorCode::None]);
    let listed = h.state.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, GroupState::Empty);
    assert_eq!(listed[0].protocol_type, "");
    let fetched = h
        .state
        .fetch_offsets("simple", Some(vec![("t".into(), 0), ("t".into(), 5)]));
    assert_eq!(fetched[0].1, Some(offset(42, 3, "meta")));
    assert_eq!(fetched[1].1, None, "never committed");
    let all = h.state.fetch_offsets("simple", None);
    assert_eq!(all.len(), 2);
    assert!(h.state.fetch_offsets("unknown", None).is_empty());
    assert_eq!(
        h.state
            .fetch_offsets("unknown", Some(vec![("t".into(), 0)]))[0]
            .1,
        None
    );

    // A generation for a group that does not exist.
    let codes = h.state.commit_offsets(
        h.now,
        &request("ghost", 3, "m"),
        vec![(("t".into(), 0), offset(1, -1, ""))],
    );
    assert_eq!(codes, vec![ErrorCode::IllegalGeneration]);
    // Metadata over offset.metadata.max.bytes.
    let codes = h.state.commit_offsets(
        h.now,
        &request("simple", -1, ""),
        vec![(("t".into(), 0), offset(1, -1, &"x".repeat(5000)))],
    );
    assert_eq!(codes, vec![ErrorCode::OffsetMetadataTooLarge]);

    // A managed group: outsiders cannot commit, members can (with the right generation).
    let (a, generation) = h.one_member_stable();
    let tp = || ("t".to_string(), 0);
    assert_eq!(
        h.state.commit_offsets(
            h.now,
            &request(GROUP, -1, ""),
            vec![(tp(), offset(1, -1, ""))]
        ),
        vec![ErrorCode::UnknownMemberId]
    );
    assert_eq!(
        h.state.commit_offsets(
            h.now,
            &request(GROUP, generation, "stranger"),
            vec![(tp(), offset(1, -1, ""))]
        ),
        vec![ErrorCode::UnknownMemberId]
    );
    assert_eq!(
        h.state.commit_offsets(
            h.now,
            &request(GROUP, generation, &a),
            vec![(tp(), offset(10, 0, "m"))]
        ),
        vec![ErrorCode::None]
    );
    assert_eq!(
        h.state.fetch_offsets(GROUP, Some(vec![tp()]))[0].1,
        Some(offset(10, 0, "m"))
    );
    // CompletingRebalance: the member must finish the rebalance first.
    let b = h.member_id();
    let wb = h.join(join_request(&b, &["range"]));
    let wa = h.join(join_request(&a, &["range"]));
    let new_generation = h.joined(wa).generation_id;
    assert_eq!(h.joined(wb).generation_id, new_generation);
    assert_eq!(
        h.state.commit_offsets(
            h.now,
            &request(GROUP, new_generation, &a),
            vec![(tp(), offset(11, 0, ""))]
        ),
        vec![ErrorCode::RebalanceInProgress]
    );
}

#[test]
fn delete_only_empty_groups_and_their_offsets() {
    let mut h = Harness::new();
    assert_eq!(h.state.delete(GROUP), ErrorCode::GroupIdNotFound);
    let (a, generation) = h.one_member_stable();
    let commit = CommitRequest {
        group_id: GROUP.into(),
        generation_id: generation,
        member_id: a.clone(),
        group_instance_id: None,
    };
    let offset = CommittedOffset {
        offset: 3,
        leader_epoch: -1,
        metadata: String::new(),
    };
    h.state
        .commit_offsets(h.now, &commit, vec![(("t".into(), 0), offset)]);
    assert_eq!(h.state.delete(GROUP), ErrorCode::NonEmptyGroup);
    assert_eq!(h.leave(&a), ErrorCode::None);
    let described = h.state.describe(GROUP).unwrap();
    assert_eq!(described.state, GroupState::Empty);
    assert_eq!(
        described.protocol_type, "consumer",
        "an empty group keeps its protocol type"
    );
    assert_eq!(
        h.state.fetch_offsets(GROUP, None).len(),
        1,
        "offsets outlive the members"
    );
    assert_eq!(h.state.delete(GROUP), ErrorCode::None);
    assert!(h.state.describe(GROUP).is_none());
    assert!(h.state.fetch_offsets(GROUP, None).is_empty());
}

#[test]
fn describe_hides_metadata_and_assignment_unless_stable() {
    let mut h = Harness::new();
    let (a, _, _) = h.two_members_stable();
    let w = h.join(join_request(&a, &["range"]));
    assert!(h.parked(w));
    let described = h.state.describe(GROUP).unwrap();
    assert_eq!(described.state, GroupState::PreparingRebalance);
    assert_eq!(described.protocol, "");
    assert_eq!(described.members.len(), 2);
    assert!(
        described
            .members
            .iter()
            .all(|m| m.metadata.is_empty() && m.assignment.is_empty())
    );
    assert_eq!(
        GroupState::CompletingRebalance.name(),
        "CompletingRebalance"
    );
}

#[test]
fn no_deadline_without_groups_and_timers_follow_the_members() {
    let mut h = Harness::new();
    assert_eq!(h.state.next_deadline(), None);
    let (a, generation) = h.one_member_stable();
    assert_eq!(h.state.next_deadline(), Some(h.now + SESSION));
    h.advance(Duration::from_secs(4));
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::None);
    assert_eq!(h.state.next_deadline(), Some(h.now + SESSION));
}

#[test]
fn coordinator_placement_matches_javas_string_hash_code() {
    // Java: "hello".hashCode() == 99162322.
    assert_eq!(offsets_partition_for("hello"), 99_162_322 % 50);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
    assert_eq!(offsets_partition_for("polygenelubricants"), 0);
    // "my-group".hashCode() == -1906497762: abs, not a sign mask.
    assert_eq!(offsets_partition_for("my-group"), 1_906_497_762 % 50);
    assert_eq!(offsets_partition_for(""), 0);
    let partitions: Vec<i32> = (0..200)
        .map(|i| offsets_partition_for(&format!("group-{i}")))
        .collect();
    assert!(partitions.iter().all(|p| (0..50).contains(p)));
    assert!(
        partitions
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 30
    );

    let broker = |id: i32, alive: bool| crate::metadata::BrokerRegistration {
        id,
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        rack: None,
        alive,
    };
    let mut image = crate::metadata::MetadataImage {
        version: 1,
        cluster_id: "c".into(),
        controller_id: 1,
        brokers: [broker(1, true), broker(2, true), broker(3, true)]
            .into_iter()
            .map(|b| (b.id, b))
            .collect(),
        topics: Default::default(),
    };
    // Partition 12 over three alive brokers: index 12 % 3 == 0, broker 1.
    assert_eq!(coordinator_for("my-group", &image).map(|b| b.id), Some(1));
    // "hello": partition 22, index 1, broker 2.
    assert_eq!(coordinator_for("hello", &image).map(|b| b.id), Some(2));
    image.brokers.get_mut(&1).unwrap().alive = false;
    // Over brokers 2 and 3: index 12 % 2 == 0, broker 2.
    assert_eq!(coordinator_for("my-group", &image).map(|b| b.id), Some(2));
    for b in image.brokers.values_mut() {
        b.alive = false;
    }
    assert!(coordinator_for("my-group", &image).is_none());
}

/// Wait (up to 10 s) until `check` holds.
async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn coordinator_with_short_sessions() -> GroupCoordinator {
    GroupCoordinator::new(GroupConfig {
        min_session_timeout: Duration::from_millis(1),
        ..GroupConfig::default()
    })
}

#[tokio::test]
async fn coordinator_parks_the_new_member_until_the_old_one_rejoins() {
    let coordinator = std::sync::Arc::new(coordinator_with_short_sessions());
    let first = coordinator.join(join_request("", &["range"])).await;
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    let a = first.member_id;
    let ja = coordinator.join(join_request(&a, &["range"])).await;
    assert_eq!(ja.generation_id, 1);
    let sa = coordinator
        .sync(SyncRequest {
            group_id: GROUP.into(),
            generation_id: 1,
            member_id: a.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![(a.clone(), Bytes::from_static(b"x"))],
        })
        .await;
    assert_eq!(sa.error, ErrorCode::None);
    assert_eq!(sa.protocol_type.as_deref(), Some("consumer"));

    let b = coordinator
        .join(join_request("", &["range"]))
        .await
        .member_id;
    let pending_b = tokio::spawn({
        let coordinator = coordinator.clone();
        let b = b.clone();
        async move { coordinator.join(join_request(&b, &["range"])).await }
    });
    eventually(|| {
        coordinator
            .describe(GROUP)
            .is_some_and(|d| d.state == GroupState::PreparingRebalance)
    })
    .await;
    let heartbeat = HeartbeatRequest {
        group_id: GROUP.into(),
        generation_id: 1,
        member_id: a.clone(),
        group_instance_id: None,
    };
    assert_eq!(
        coordinator.heartbeat(&heartbeat),
        ErrorCode::RebalanceInProgress
    );
    let ja = coordinator.join(join_request(&a, &["range"])).await;
    let jb = pending_b.await.unwrap();
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.members.len(), 2);
}

#[tokio::test]
async fn coordinator_timer_expires_sessions() {
    let coordinator = coordinator_with_short_sessions();
    let a = coordinator
        .join(join_request("", &["range"]))
        .await
        .member_id;
    let mut request = join_request(&a, &["range"]);
    request.session_timeout = Duration::from_millis(50);
    let joined = coordinator.join(request).await;
    assert_eq!(joined.error, ErrorCode::None);
    // No heartbeat, no sync: the timer task removes the member (and the pending-sync timeout
    // would too, later) without any request arriving.
    eventually(|| {
        coordinator
            .describe(GROUP)
            .is_some_and(|d| d.members.is_empty())
    })
    .await;
    assert_eq!(
        coordinator.describe(GROUP).unwrap().state,
        GroupState::Empty
    );
}
