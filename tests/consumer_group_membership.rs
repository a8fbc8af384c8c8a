//! `kafkit::consumer::group::GroupMembership` against the in-process test broker: joining,
//! splitting partitions, heartbeat-driven rejoins, leaving, offset commit/fetch, stale
//! generations, static membership and a coordinator that moves when its broker stops.
//!
//! A test-only assignor (sorted round robin) stands in for the real ones. Every wait is on a
//! condition (the membership status `watch`) with a deadline; nothing sleeps to synchronise.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::cluster::Metadata;
use kafkit::consumer::assignor::{Assignment, Assignor, RebalanceProtocol, Subscription};
use kafkit::consumer::group::{
    GroupError, GroupMembership, GroupSettings, JoinedGeneration, MembershipStatus,
    OffsetAndMetadata, RejoinReason,
};
use kafkit::messages::ApiKey;
use kafkit::net::{ConnectionConfig, ConnectionPool};
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::Cluster;
use tokio::sync::watch;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;
const WAIT: Duration = Duration::from_secs(30);

/// Every partition of every subscribed topic, in (topic, partition) order, dealt to the
/// subscribed members in member-id order.
#[derive(Debug)]
struct SortedRoundRobin;

impl Assignor for SortedRoundRobin {
    fn name(&self) -> &str {
        "test-round-robin"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let mut out: BTreeMap<String, Assignment> = subscriptions
            .keys()
            .map(|m| (m.clone(), Assignment::default()))
            .collect();
        for (topic, count) in partitions_per_topic {
            let members: Vec<&String> = subscriptions
                .iter()
                .filter(|(_, s)| s.topics.contains(topic))
                .map(|(m, _)| m)
                .collect();
            if members.is_empty() {
                continue;
            }
            for p in 0..*count {
                let member = members[p as usize % members.len()];
                out.get_mut(member)
                    .expect("every member has an entry")
                    .partitions
                    .push(TopicPartition::new(topic.as_str(), p));
            }
        }
        out
    }
}

async fn cluster(brokers: usize) -> Cluster {
    Cluster::builder()
        .brokers(brokers)
        .auto_create_topics(false)
        .topic(TOPIC, PARTITIONS, brokers as i16)
        .build()
        .await
        .expect("cluster starts")
}

/// Short timeouts: the broker's minimum session timeout is 6 s; heartbeats every 100 ms.
fn settings(group: &str, instance: Option<&str>) -> GroupSettings {
    let mut s = GroupSettings::new(group);
    s.group_instance_id = instance.map(str::to_owned);
    s.session_timeout = Duration::from_secs(6);
    s.rebalance_timeout = Duration::from_secs(10);
    s.heartbeat_interval = Duration::from_millis(100);
    s.retry_backoff = Duration::from_millis(20);
    s.retry_backoff_max = Duration::from_millis(200);
    s.request_timeout = Duration::from_secs(5);
    s.api_timeout = Duration::from_secs(20);
    s
}

/// A member with its own connection pool and metadata (as a separate consumer would have).
fn member(cluster: &Cluster, settings: GroupSettings) -> GroupMembership {
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig {
            client_id: Some("group-membership-test".into()),
            ..ConnectionConfig::default()
        },
        cluster.bootstrap_servers().split(',').map(str::to_owned),
    ));
    let metadata = Arc::new(Metadata::new(pool, false));
    let mut m = GroupMembership::new(metadata, settings, vec![Arc::new(SortedRoundRobin)])
        .expect("valid settings");
    m.subscribe(vec![TOPIC.to_owned()]);
    m
}

fn all_partitions() -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits until `member`'s status satisfies `condition`.
async fn wait_status(
    member: &GroupMembership,
    what: &str,
    condition: impl FnMut(&MembershipStatus) -> bool,
) -> MembershipStatus {
    let mut status = member.status();
    within(what, status.wait_for(condition))
        .await
        .expect("status sender lives with the member")
        .clone()
}

/// Asserts that the generations are the same and split every partition without overlap.
fn assert_split(generations: &[&JoinedGeneration]) {
    let first = generations[0].generation_id;
    let mut seen = BTreeSet::new();
    for g in generations {
        assert_eq!(g.generation_id, first, "every member is in one generation");
        assert!(!g.assignment.is_empty(), "every member got partitions");
        for tp in &g.assignment {
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all_partitions());
}

/// Two members in one stable generation: `a` joins alone, `b` joins, `a` rejoins when its
/// heartbeat reports the rebalance. Returns both, their generation, and `a`'s first one.
async fn two_members(
    cluster: &Cluster,
    a: GroupSettings,
    b: GroupSettings,
) -> (
    GroupMembership,
    GroupMembership,
    JoinedGeneration,
    JoinedGeneration,
    JoinedGeneration,
) {
    let mut m1 = member(cluster, a);
    let first = within("first join", m1.join(&[]))
        .await
        .expect("first join");
    assert_eq!(first.assignment, all_partitions());

    let mut m2 = member(cluster, b);
    let second = tokio::spawn(async move {
        let joined = m2.join(&[]).await;
        (m2, joined)
    });
    let status = wait_status(&m1, "the first member to see the rebalance", |s| {
        s.rejoin.is_some()
    })
    .await;
    assert_eq!(status.rejoin, Some(RejoinReason::RebalanceInProgress));
    assert!(m1.needs_rejoin());
    let g1 = within("rejoin", m1.join(&[])).await.expect("rejoin");
    let (m2, g2) = within("second join", second).await.expect("join task");
    let g2 = g2.expect("second join");
    assert!(g1.generation_id > first.generation_id);
    assert_split(&[&g1, &g2]);
    (m1, m2, first, g1, g2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_gets_every_partition() {
    let cluster = cluster(1).await;
    let mut m = member(&cluster, settings("solo", None));
    assert_eq!(m.rejoin_reason(), Some(RejoinReason::NotJoined));
    let g = within("join", m.join(&[])).await.expect("join");
    assert_eq!(g.assignment, all_partitions());
    assert!(g.is_leader);
    assert_eq!(g.leader_id, g.member_id);
    assert_eq!(g.protocol_name, "test-round-robin");
    assert_eq!(g.rebalance_protocol, RebalanceProtocol::Eager);
    assert!(g.generation_id >= 1);
    assert_eq!(m.generation(), Some(g.clone()));
    assert!(m.coordinator_id().is_some());
    // Heartbeats keep it in the group without a rebalance.
    let status = wait_status(&m, "three heartbeats", |s| s.heartbeats >= 3).await;
    assert_eq!(status.rejoin, None);
    assert!(!m.needs_rejoin());
    // A new subscription asks for a rejoin.
    m.subscribe(vec![TOPIC.to_owned(), "refunds".to_owned()]);
    assert_eq!(m.rejoin_reason(), Some(RejoinReason::SubscriptionChanged));
    m.leave("test done").await.expect("leave");
    assert_eq!(m.generation(), None);
    cluster.shutdown().await;
}

/// A poll-loop stand-in: rejoins whenever the member needs it and publishes each generation.
struct Driven {
    stop: watch::Sender<bool>,
    joined: watch::Receiver<Option<JoinedGeneration>>,
    task: tokio::task::JoinHandle<GroupMembership>,
}

fn drive(mut m: GroupMembership) -> Driven {
    let (stop, mut stop_rx) = watch::channel(false);
    let (joined_tx, joined) = watch::channel(None);
    let task = tokio::spawn(async move {
        let mut status = m.status();
        loop {
            if *stop_rx.borrow() {
                return m;
            }
            if m.needs_rejoin() {
                let stopped = tokio::select! {
                    joined = m.join(&[]) => {
                        joined_tx.send_replace(Some(joined.expect("join")));
                        false
                    }
                    _ = stop_rx.changed() => true,
                };
                if stopped {
                    return m;
                }
                continue;
            }
            status.borrow_and_update();
            tokio::select! {
                _ = status.changed() => {}
                _ = stop_rx.changed() => {}
            }
        }
    });
    Driven { stop, joined, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_partitions_in_one_generation() {
    let cluster = cluster(1).await;
    let a = drive(member(&cluster, settings("pair", None)));
    let b = drive(member(&cluster, settings("pair", None)));
    let (mut ja, mut jb) = (a.joined.clone(), b.joined.clone());
    let settled = |ja: &Option<JoinedGeneration>, jb: &Option<JoinedGeneration>| match (ja, jb) {
        (Some(x), Some(y)) => x.generation_id == y.generation_id,
        _ => false,
    };
    within("both members in one generation", async {
        loop {
            if settled(&ja.borrow_and_update(), &jb.borrow_and_update()) {
                break;
            }
            tokio::select! {
                _ = ja.changed() => {}
                _ = jb.changed() => {}
            }
        }
    })
    .await;
    let (ga, gb) = (
        ja.borrow().clone().expect("a joined"),
        jb.borrow().clone().expect("b joined"),
    );
    assert_split(&[&ga, &gb]);
    assert_eq!(ga.assignment.len(), 3);
    assert_eq!(gb.assignment.len(), 3);
    assert_ne!(ga.member_id, gb.member_id);
    assert_eq!(ga.leader_id, gb.leader_id);
    for d in [a, b] {
        d.stop.send_replace(true);
        let mut m = within("driver stops", d.task).await.expect("driver");
        m.leave("test done").await.expect("leave");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_makes_the_first_rejoin_and_they_split() {
    let cluster = cluster(1).await;
    // two_members asserts the heartbeat-reported rebalance, the rejoin and the split.
    let (m1, m2, _, g1, g2) =
        two_members(&cluster, settings("grow", None), settings("grow", None)).await;
    assert_eq!(g1.leader_id, g2.leader_id);
    // Both stay in the group: heartbeats succeed and nobody needs to rejoin.
    for m in [&m1, &m2] {
        let before = m.status().borrow().heartbeats;
        let status = wait_status(m, "more heartbeats", |s| s.heartbeats >= before + 3).await;
        assert_eq!(status.rejoin, None);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_rebalances_the_remaining_member() {
    let cluster = cluster(1).await;
    let (mut m1, mut m2, _, g1, _) =
        two_members(&cluster, settings("shrink", None), settings("shrink", None)).await;
    m2.leave("scaling down").await.expect("leave");
    assert_eq!(m2.generation(), None);
    assert!(m2.needs_rejoin());
    let status = wait_status(&m1, "the rebalance after the leave", |s| s.rejoin.is_some()).await;
    assert_eq!(status.rejoin, Some(RejoinReason::RebalanceInProgress));
    let g = within("rejoin", m1.join(&[])).await.expect("rejoin");
    assert_eq!(g.assignment, all_partitions());
    assert!(g.generation_id > g1.generation_id);
    assert!(g.is_leader);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_fetch_round_trip_metadata_and_leader_epoch() {
    let cluster = cluster(1).await;
    let mut m = member(&cluster, settings("offsets", None));
    within("join", m.join(&[])).await.expect("join");
    let p0 = TopicPartition::new(TOPIC, 0);
    let p1 = TopicPartition::new(TOPIC, 1);
    let p2 = TopicPartition::new(TOPIC, 2);
    let offsets = BTreeMap::from([
        (
            p0.clone(),
            OffsetAndMetadata::new(42)
                .with_leader_epoch(3)
                .with_metadata("host-a"),
        ),
        (p1.clone(), OffsetAndMetadata::new(7)),
    ]);
    m.commit_offsets(&offsets).await.expect("commit");
    let committed = m
        .committed(&[p0.clone(), p1.clone(), p2.clone()])
        .await
        .expect("fetch");
    assert_eq!(committed.len(), 3);
    assert_eq!(committed[&p0], Some(offsets[&p0].clone()));
    assert_eq!(committed[&p1], Some(OffsetAndMetadata::new(7)));
    assert_eq!(committed[&p2], None);

    // Another (not joined) client of the group reads the same offsets.
    let reader = member(&cluster, settings("offsets", None));
    let seen = reader
        .committed(std::slice::from_ref(&p0))
        .await
        .expect("fetch");
    assert_eq!(seen[&p0], Some(offsets[&p0].clone()));

    // A later commit overwrites.
    m.commit_offsets(&BTreeMap::from([(p0.clone(), OffsetAndMetadata::new(50))]))
        .await
        .expect("commit");
    let committed = m.committed(std::slice::from_ref(&p0)).await.expect("fetch");
    assert_eq!(committed[&p0], Some(OffsetAndMetadata::new(50)));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_a_stale_generation_fails_with_illegal_generation() {
    let cluster = cluster(1).await;
    let (m1, _m2, first, current, _) =
        two_members(&cluster, settings("stale", None), settings("stale", None)).await;
    assert_eq!(first.member_id, current.member_id);
    let tp = current.assignment[0].clone();
    let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(10))]);
    let err = m1
        .commit_offsets_in_generation(&first, &offsets)
        .await
        .expect_err("stale generation");
    match &err {
        GroupError::Commit { errors } => {
            assert_eq!(errors.get(&tp), Some(&ErrorCode::IllegalGeneration));
        }
        other => panic!("expected a commit error, got {other:?}"),
    }
    assert_eq!(err.error_code(), Some(ErrorCode::IllegalGeneration));
    assert!(!err.is_retriable());
    // The stale commit does not disturb the current generation.
    assert!(!m1.needs_rejoin());
    m1.commit_offsets(&offsets)
        .await
        .expect("commit with the current generation");
    assert_eq!(
        m1.committed(std::slice::from_ref(&tp))
            .await
            .expect("fetch")[&tp],
        Some(OffsetAndMetadata::new(10))
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let cluster = cluster(1).await;
    let (a, b, _, ga, gb) = two_members(
        &cluster,
        settings("static", Some("instance-a")),
        settings("static", Some("instance-b")),
    )
    .await;
    assert!(ga.is_leader, "instance-a joined first and leads");

    // instance-a restarts: a new membership with the same group.instance.id, no LeaveGroup.
    let mut a2 = member(&cluster, settings("static", Some("instance-a")));
    let ga2 = within("static rejoin", a2.join(&[]))
        .await
        .expect("static rejoin");
    assert_eq!(ga2.generation_id, ga.generation_id, "no new generation");
    assert_eq!(ga2.assignment, ga.assignment, "the same partitions");
    assert_ne!(ga2.member_id, ga.member_id, "a new member id");

    // The old incarnation is fenced.
    let old = wait_status(&a, "the old incarnation to be fenced", |s| {
        s.fatal.is_some()
    })
    .await;
    assert_eq!(
        old.fatal.as_ref().and_then(GroupError::error_code),
        Some(ErrorCode::FencedInstanceId)
    );
    assert!(old.partitions_lost);
    drop(a);

    // instance-b keeps heartbeating in its generation and never needs to rejoin.
    let before = b.status().borrow().heartbeats;
    let status = wait_status(&b, "instance-b heartbeats", |s| s.heartbeats >= before + 5).await;
    assert_eq!(status.rejoin, None);
    assert!(!b.needs_rejoin());
    assert_eq!(b.generation(), Some(gb));
    let status = wait_status(&a2, "the new incarnation heartbeats", |s| s.heartbeats >= 3).await;
    assert_eq!(status.rejoin, None);
    assert_eq!(status.fatal.map(|e| e.to_string()), None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_follows_the_coordinator_when_its_broker_stops() {
    let cluster = cluster(3).await;
    let mut m = member(&cluster, settings("moving", None));
    let g = within("join", m.join(&[])).await.expect("join");
    let old = m.coordinator_id().expect("coordinator known");
    let before = wait_status(&m, "a heartbeat", |s| s.heartbeats >= 1)
        .await
        .heartbeats;

    cluster
        .stop_broker(old)
        .await
        .expect("stop the coordinator");
    let status = wait_status(&m, "a heartbeat to the new coordinator", |s| {
        s.coordinator_id.is_some_and(|c| c != old) && s.heartbeats >= before + 3
    })
    .await;
    assert_eq!(
        status.rejoin, None,
        "the group state moved with the coordinator"
    );
    assert!(status.fatal.is_none());
    assert_eq!(m.generation(), Some(g.clone()));

    // Offsets commit through the new coordinator.
    let tp = TopicPartition::new(TOPIC, 0);
    m.commit_offsets(&BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(5))]))
        .await
        .expect("commit after the move");
    assert_eq!(
        m.committed(std::slice::from_ref(&tp)).await.expect("fetch")[&tp],
        Some(OffsetAndMetadata::new(5))
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_errors_and_dropped_connections_are_retried() {
    let cluster = cluster(1).await;
    cluster.inject_error(ApiKey::JoinGroup, ErrorCode::NotCoordinator, 1);
    cluster.inject_error(ApiKey::SyncGroup, ErrorCode::CoordinatorNotAvailable, 1);
    let mut m = member(&cluster, settings("flaky", None));
    let g = within("join", m.join(&[]))
        .await
        .expect("join despite errors");
    assert_eq!(g.assignment, all_partitions());

    // A heartbeat whose connection drops: the member rediscovers and keeps heartbeating.
    cluster.drop_connections(ApiKey::Heartbeat, 1);
    let before = m.status().borrow().heartbeats;
    let status = wait_status(&m, "heartbeats after a dropped connection", |s| {
        s.heartbeats >= before + 3
    })
    .await;
    assert_eq!(status.rejoin, None);

    cluster.inject_error(
        ApiKey::OffsetCommit,
        ErrorCode::CoordinatorLoadInProgress,
        2,
    );
    cluster.inject_error(ApiKey::OffsetFetch, ErrorCode::NotCoordinator, 1);
    let tp = TopicPartition::new(TOPIC, 3);
    m.commit_offsets(&BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(9))]))
        .await
        .expect("commit after retries");
    assert_eq!(
        m.committed(std::slice::from_ref(&tp)).await.expect("fetch")[&tp],
        Some(OffsetAndMetadata::new(9))
    );
    let finds = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::FindCoordinator)
        .count();
    assert!(
        finds >= 3,
        "the coordinator was looked up again ({finds} lookups)"
    );
    assert_eq!(m.generation(), Some(g));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_failing_for_the_session_timeout_lose_the_partitions() {
    let cluster = cluster(1).await;
    let mut m = member(&cluster, settings("expiring", None));
    let g = within("join", m.join(&[])).await.expect("join");
    cluster.inject_error(
        ApiKey::Heartbeat,
        ErrorCode::CoordinatorLoadInProgress,
        u32::MAX,
    );
    let status = wait_status(&m, "the session to run out", |s| s.partitions_lost).await;
    assert_eq!(status.rejoin, Some(RejoinReason::SessionTimedOut));
    assert_eq!(status.generation, None);
    assert!(status.member_id.is_empty());
    assert!(m.needs_rejoin());
    cluster.clear_faults();
    let again = within("rejoin", m.join(&[])).await.expect("rejoin");
    assert_eq!(again.assignment, all_partitions());
    assert_ne!(again.member_id, g.member_id, "a fresh member id");
    assert!(!m.status().borrow().partitions_lost);
    cluster.shutdown().await;
}

/// A cooperative test assignor that records the subscriptions it sees and hands out at most
/// `limit` partitions.
#[derive(Debug, Default)]
struct RecordingCooperative {
    seen: std::sync::Mutex<Vec<BTreeMap<String, Subscription>>>,
    limit: std::sync::atomic::AtomicUsize,
}

impl Assignor for RecordingCooperative {
    fn name(&self) -> &str {
        "test-cooperative"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        self.seen.lock().unwrap().push(subscriptions.clone());
        let limit = self.limit.load(std::sync::atomic::Ordering::SeqCst);
        let mut out = SortedRoundRobin.assign(partitions_per_topic, subscriptions);
        for a in out.values_mut() {
            a.partitions.truncate(limit);
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_members_send_owned_partitions_and_rejoin_after_revocation() {
    let cluster = cluster(1).await;
    let assignor = Arc::new(RecordingCooperative::default());
    assignor
        .limit
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig::default(),
        cluster.bootstrap_servers().split(',').map(str::to_owned),
    ));
    let metadata = Arc::new(Metadata::new(pool, false));
    let mut s = settings("cooperative", None);
    s.client_rack = Some("rack-1".into());
    let mut m = GroupMembership::new(metadata, s, vec![assignor.clone()]).expect("settings");
    assert_eq!(m.rebalance_protocol(), RebalanceProtocol::Cooperative);
    m.subscribe(vec![TOPIC.to_owned()]);
    let g1 = within("join", m.join(&[])).await.expect("join");
    assert_eq!(g1.assignment, all_partitions());
    assert_eq!(g1.rebalance_protocol, RebalanceProtocol::Cooperative);
    assert!(!m.needs_rejoin());

    // Forced rejoin while owning everything; the assignor now revokes half.
    assignor.limit.store(3, std::sync::atomic::Ordering::SeqCst);
    let g2 = within("rejoin", m.join(&g1.assignment))
        .await
        .expect("rejoin");
    assert_eq!(g2.assignment, all_partitions()[..3].to_vec());
    assert_eq!(
        m.rejoin_reason(),
        Some(RejoinReason::CooperativeRevocation),
        "revoked partitions call for another round"
    );
    let seen = assignor.seen.lock().unwrap().clone();
    let last = seen.last().expect("the assignor ran").clone();
    let subscription = last.get(&g2.member_id).expect("own subscription");
    assert_eq!(subscription.topics, [TOPIC]);
    assert_eq!(subscription.owned_partitions, all_partitions());
    assert_eq!(subscription.generation_id, g1.generation_id);
    assert_eq!(subscription.rack_id.as_deref(), Some("rack-1"));

    let g3 = within("second rejoin", m.join(&g2.assignment))
        .await
        .expect("rejoin");
    assert_eq!(g3.assignment, g2.assignment);
    assert!(!m.needs_rejoin());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_rejoins_when_a_subscribed_topic_grows() {
    use kafka_protocol::protocol::StrBytes;
    use kafkit::messages::create_partitions_request::CreatePartitionsTopic;
    use kafkit::messages::{CreatePartitionsRequest, TopicName};

    let cluster = cluster(1).await;
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig::default(),
        cluster.bootstrap_servers().split(',').map(str::to_owned),
    ));
    let metadata = Arc::new(Metadata::new(pool.clone(), false));
    let mut m = GroupMembership::new(
        metadata.clone(),
        settings("growing", None),
        vec![Arc::new(SortedRoundRobin)],
    )
    .expect("settings");
    m.subscribe(vec![TOPIC.to_owned()]);
    let g = within("join", m.join(&[])).await.expect("join");
    assert_eq!(g.assignment.len(), PARTITIONS as usize);
    assert!(!m.needs_rejoin());

    let (_, conn) = pool.any().await.expect("a broker");
    let response = conn
        .send(
            CreatePartitionsRequest::default()
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                        .with_count(PARTITIONS + 2)
                        .with_assignments(None),
                ])
                .with_timeout_ms(10_000),
        )
        .await
        .expect("CreatePartitions");
    assert!(
        response.results.iter().all(|r| r.error_code == 0),
        "{response:?}"
    );
    cluster
        .wait_for_leader(TOPIC, PARTITIONS + 1, WAIT)
        .await
        .expect("the new partitions have leaders");
    metadata.refresh(Some(&[TOPIC])).await.expect("refresh");
    assert_eq!(
        m.rejoin_reason(),
        Some(RejoinReason::PartitionCountChanged(TOPIC.to_owned()))
    );
    let g2 = within("rejoin", m.join(&[])).await.expect("rejoin");
    assert_eq!(g2.assignment.len(), PARTITIONS as usize + 2);
    assert!(!m.needs_rejoin());
    cluster.shutdown().await;
}
