use super::coordinator::{Backoff, Inner, is_coordinator_error};
use super::*;
use crate::net::ConnectionConfig;

#[derive(Debug)]
struct Fixed(&'static str, &'static [RebalanceProtocol]);

impl Assignor for Fixed {
    fn name(&self) -> &str {
        self.0
    }
    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        self.1
    }
    fn assign(
        &self,
        _: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        subscriptions
            .keys()
            .map(|m| (m.clone(), Assignment::default()))
            .collect()
    }
}

const EAGER: &[RebalanceProtocol] = &[RebalanceProtocol::Eager];
const BOTH: &[RebalanceProtocol] = &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager];

fn assignors(list: &[(&'static str, &'static [RebalanceProtocol])]) -> Vec<Arc<dyn Assignor>> {
    list.iter()
        .map(|(n, p)| Arc::new(Fixed(n, p)) as Arc<dyn Assignor>)
        .collect()
}

#[test]
fn rebalance_protocol_is_the_highest_common_one() {
    assert_eq!(
        common_rebalance_protocol(&assignors(&[("cooperative-sticky", BOTH)])).unwrap(),
        RebalanceProtocol::Cooperative
    );
    assert_eq!(
        common_rebalance_protocol(&assignors(&[
            ("range", EAGER),
            ("cooperative-sticky", BOTH)
        ]))
        .unwrap(),
        RebalanceProtocol::Eager
    );
    assert!(matches!(
        common_rebalance_protocol(&[]),
        Err(GroupError::Invalid(_))
    ));
    assert!(matches!(
        common_rebalance_protocol(&assignors(&[
            ("a", &[RebalanceProtocol::Cooperative]),
            ("b", EAGER)
        ])),
        Err(GroupError::Invalid(_))
    ));
}

#[test]
fn defaults_follow_java() {
    let s = GroupSettings::new("g");
    assert_eq!(s.retry_backoff, Duration::from_millis(100));
    assert_eq!(s.retry_backoff_max, Duration::from_secs(1));
    assert_eq!(s.request_timeout, Duration::from_secs(30));
    assert_eq!(s.api_timeout, Duration::from_secs(60));
    let mut short = s.clone();
    short.rebalance_timeout = Duration::from_secs(1);
    assert_eq!(short.join_timeout(), Duration::from_secs(30));
}

#[test]
fn backoff_doubles_up_to_the_max() {
    let mut settings = GroupSettings::new("g");
    settings.retry_backoff = Duration::from_millis(100);
    settings.retry_backoff_max = Duration::from_millis(350);
    let mut b = Backoff::new(&settings);
    let delays: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
    assert_eq!(delays, [100, 200, 350, 350]);
}

#[test]
fn subscription_version_is_read_and_clamped() {
    assert_eq!(subscription_version(&Bytes::from_static(&[0, 1, 9])), 1);
    assert_eq!(subscription_version(&Bytes::from_static(&[0, 7])), 3);
    assert_eq!(subscription_version(&Bytes::from_static(&[0xff, 0xff])), 0);
    assert_eq!(subscription_version(&Bytes::new()), 0);
}

#[test]
fn errors_are_typed_and_classified() {
    let tp = TopicPartition::new("t", 0);
    let commit = GroupError::Commit {
        errors: BTreeMap::from([(tp.clone(), ErrorCode::IllegalGeneration)]),
    };
    assert_eq!(commit.error_code(), Some(ErrorCode::IllegalGeneration));
    assert!(!commit.is_retriable());
    assert!(commit.to_string().contains("t-0: ILLEGAL_GENERATION"));
    let moved = GroupError::Commit {
        errors: BTreeMap::from([(tp, ErrorCode::NotCoordinator)]),
    };
    assert!(moved.is_retriable());
    assert!(is_coordinator_error(ErrorCode::CoordinatorNotAvailable));
    assert!(!is_coordinator_error(ErrorCode::CoordinatorLoadInProgress));
}

#[test]
fn reset_marks_partitions_lost_only_with_a_generation() {
    let mut status = MembershipStatus {
        member_id: "m".into(),
        ..MembershipStatus::default()
    };
    Inner::reset_member(&mut status, RejoinReason::SessionTimedOut);
    assert!(!status.partitions_lost);
    assert!(status.member_id.is_empty());
    status.generation = Some(JoinedGeneration {
        generation_id: 3,
        member_id: "m".into(),
        protocol_name: "range".into(),
        rebalance_protocol: RebalanceProtocol::Eager,
        leader_id: "m".into(),
        is_leader: true,
        assignment: vec![],
        user_data: None,
    });
    Inner::reset_member(
        &mut status,
        RejoinReason::MemberReset(ErrorCode::UnknownMemberId),
    );
    assert!(status.partitions_lost);
    assert_eq!(
        status.rejoin,
        Some(RejoinReason::MemberReset(ErrorCode::UnknownMemberId))
    );
}

#[tokio::test]
async fn new_membership_needs_a_join_and_a_subscription() {
    let pool = Arc::new(crate::net::ConnectionPool::new(
        ConnectionConfig::default(),
        ["127.0.0.1:1"],
    ));
    let metadata = Arc::new(Metadata::new(pool, false));
    assert!(matches!(
        GroupMembership::new(
            metadata.clone(),
            GroupSettings::new(""),
            assignors(&[("range", EAGER)])
        ),
        Err(GroupError::Invalid(_))
    ));
    let mut group = GroupMembership::new(
        metadata,
        GroupSettings::new("g"),
        assignors(&[("range", EAGER)]),
    )
    .unwrap();
    assert_eq!(group.rejoin_reason(), Some(RejoinReason::NotJoined));
    assert_eq!(group.generation(), None);
    assert!(matches!(group.join(&[]).await, Err(GroupError::Invalid(_))));
    group.subscribe(vec!["b".into(), "a".into(), "b".into()]);
    assert_eq!(group.subscription(), ["a", "b"]);
    // Leaving without ever joining sends nothing.
    group.leave("test").await.unwrap();
    assert!(group.needs_rejoin());
}
