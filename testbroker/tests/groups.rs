//! Consumer groups over the wire: raw FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, LeaveGroup and DeleteGroups requests
//! against a three-broker cluster, every version of each API, and a kafka-python consumer group
//! (see `tests/interop/kafka_python_groups.py`).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::{Request, StrBytes};
use kafkit::messages::join_group_request::JoinGroupRequestProtocol;
use kafkit::messages::leave_group_request::MemberIdentity;
use kafkit::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafkit::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafkit::messages::sync_group_request::SyncGroupRequestAssignment;
use kafkit::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafkit::protocol::ErrorCode;
use kafkit::protocol::frame::{FrameDecoder, decode_response_frame, encode_request};
use kafkit_testbroker::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOPIC: &str = "orders";

/// One client connection speaking raw requests.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
    correlation_id: i32,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
            decoder: FrameDecoder::default(),
            correlation_id: 0,
        }
    }

    async fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.correlation_id += 1;
        let mut out = BytesMut::new();
        encode_request(
            &mut out,
            self.correlation_id,
            Some("groups-test"),
            version,
            request,
        )
        .expect("encode request");
        self.stream.write_all(&out).await.expect("write");
        let frame = loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("frame") {
                break frame;
            }
            let read =
                tokio::time::timeout(Duration::from_secs(30), self.stream.read_buf(&mut self.buf))
                    .await;
            let n = read.expect("response in time").expect("read");
            assert!(
                n > 0,
                "the broker closed the connection on API {} v{version}",
                R::KEY
            );
        };
        let (id, response) = decode_response_frame::<R>(version, frame).expect("decode response");
        assert_eq!(id, self.correlation_id);
        response
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn code(c: i16) -> ErrorCode {
    ErrorCode::from_code(c)
}

/// A ConsumerProtocol subscription (v0): the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// A ConsumerProtocol assignment (v0) of `partitions` of `topic`.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(partitions.len() as i32);
    for p in partitions {
        b.put_i32(*p);
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_request(group: &str, member_id: &str, version: i16) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(&[TOPIC])),
        ]);
    if version >= 1 {
        r.rebalance_timeout_ms = 10_000;
    }
    r
}

fn sync_request(
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&m))
                        .with_assignment(a)
                })
                .collect(),
        )
}

fn heartbeat_request(group: &str, member_id: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(member_id))
        .with_generation_id(generation)
}

fn commit_request(
    group: &str,
    member_id: &str,
    generation: i32,
    offsets: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_metadata(Some(s(&format!("meta-{partition}"))));
        match topics.iter_mut().find(|t| &*t.name.0 == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

/// Committed offsets via OffsetFetch v8 (batched form), `None` topics = all.
async fn fetch_committed(
    conn: &mut Conn,
    group: &str,
    partitions: Option<&[i32]>,
) -> Vec<(i32, i64)> {
    let topics = partitions.map(|ps| {
        vec![
            OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(ps.to_vec()),
        ]
    });
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(gid(group))
            .with_topics(topics),
    ]);
    let response = conn.call(8, &request).await;
    assert_eq!(response.groups.len(), 1);
    let g = &response.groups[0];
    assert_eq!(code(g.error_code), ErrorCode::None);
    g.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect()
}

/// The coordinator of `group` as broker `ask` reports it (FindCoordinator v3).
async fn find_coordinator(addr: SocketAddr, group: &str) -> (i32, SocketAddr) {
    let mut conn = Conn::connect(addr).await;
    let r = conn
        .call(3, &FindCoordinatorRequest::default().with_key(s(group)))
        .await;
    assert_eq!(code(r.error_code), ErrorCode::None);
    (
        r.node_id.0,
        format!("{}:{}", &*r.host, r.port).parse().unwrap(),
    )
}

async fn cluster() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 6, 3)
        .build()
        .await
        .expect("cluster")
}

#[tokio::test]
async fn find_coordinator_agrees_across_brokers_and_versions_and_others_refuse() {
    let cluster = cluster().await;
    let groups: Vec<String> = (0..12).map(|i| format!("group-{i}")).collect();
    let first = cluster.brokers()[0].addr;
    let mut expected = Vec::new();
    for g in &groups {
        expected.push(find_coordinator(first, g).await.0);
    }
    let distinct: std::collections::BTreeSet<i32> = expected.iter().copied().collect();
    assert!(
        distinct.len() > 1,
        "groups spread over brokers: {expected:?}"
    );
    for broker in cluster.brokers() {
        let mut conn = Conn::connect(broker.addr).await;
        for version in 0..=3 {
            for (g, want) in groups.iter().zip(&expected) {
                let r = conn
                    .call(version, &FindCoordinatorRequest::default().with_key(s(g)))
                    .await;
                assert_eq!(code(r.error_code), ErrorCode::None);
                assert_eq!(
                    r.node_id.0, *want,
                    "v{version} {g} via broker {}",
                    broker.id
                );
                assert_eq!(cluster.broker_addr(*want).unwrap().port(), r.port as u16);
            }
        }
        for version in 4..=6 {
            let keys = groups.iter().map(|g| s(g)).collect();
            let r = conn
                .call(
                    version,
                    &FindCoordinatorRequest::default().with_coordinator_keys(keys),
                )
                .await;
            let got: Vec<i32> = r.coordinators.iter().map(|c| c.node_id.0).collect();
            assert_eq!(got, expected, "v{version}");
            assert!(
                r.coordinators
                    .iter()
                    .all(|c| c.error_code == 0 && &*c.host == "127.0.0.1")
            );
            // Transactions are not supported.
            let txn = FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn")]);
            let r = conn.call(version, &txn).await;
            assert_eq!(
                code(r.coordinators[0].error_code),
                ErrorCode::CoordinatorNotAvailable
            );
        }
        let r = conn
            .call(
                3,
                &FindCoordinatorRequest::default()
                    .with_key(s("txn"))
                    .with_key_type(1),
            )
            .await;
        assert_eq!(code(r.error_code), ErrorCode::CoordinatorNotAvailable);
        assert_eq!(r.node_id.0, -1);
    }

    // Group requests at a broker that is not the coordinator.
    let group = &groups[0];
    let coordinator = expected[0];
    let other = cluster
        .brokers()
        .into_iter()
        .find(|b| b.id != coordinator)
        .unwrap();
    let mut conn = Conn::connect(other.addr).await;
    let r = conn.call(5, &join_request(group, "", 5)).await;
    assert_eq!(code(r.error_code), ErrorCode::NotCoordinator);
    let r = conn.call(4, &heartbeat_request(group, "m", 1)).await;
    assert_eq!(code(r.error_code), ErrorCode::NotCoordinator);
    let r = conn
        .call(8, &commit_request(group, "", -1, &[(TOPIC, 0, 1)]))
        .await;
    assert_eq!(
        code(r.topics[0].partitions[0].error_code),
        ErrorCode::NotCoordinator
    );
    let r = conn
        .call(
            8,
            &OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(gid(group))
                    .with_topics(None),
            ]),
        )
        .await;
    assert_eq!(code(r.groups[0].error_code), ErrorCode::NotCoordinator);
    let r = conn
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
        )
        .await;
    assert_eq!(code(r.groups[0].error_code), ErrorCode::NotCoordinator);
    let r = conn.call(5, &join_request("", "", 5)).await;
    assert_eq!(code(r.error_code), ErrorCode::InvalidGroupId);
    cluster.shutdown().await;
}

#[tokio::test]
async fn two_members_share_a_topic_commit_describe_list_and_leave() {
    let cluster = cluster().await;
    let group = "shop";
    let (coordinator, addr) = find_coordinator(cluster.brokers()[0].addr, group).await;
    let mut a = Conn::connect(addr).await;
    let mut b = Conn::connect(addr).await;

    // a joins alone: MEMBER_ID_REQUIRED, then generation 1 with a as leader.
    let r = a.call(5, &join_request(group, "", 5)).await;
    assert_eq!(code(r.error_code), ErrorCode::MemberIdRequired);
    let a_id = r.member_id.to_string();
    assert!(a_id.starts_with("groups-test-"), "{a_id}");
    let r = a.call(5, &join_request(group, &a_id, 5)).await;
    assert_eq!((code(r.error_code), r.generation_id), (ErrorCode::None, 1));
    assert_eq!(&*r.leader, a_id.as_str());
    let r = a
        .call(
            3,
            &sync_request(
                group,
                &a_id,
                1,
                vec![(a_id.clone(), assignment(TOPIC, &[0, 1, 2, 3, 4, 5]))],
            ),
        )
        .await;
    assert_eq!(r.assignment, assignment(TOPIC, &[0, 1, 2, 3, 4, 5]));

    // b joins: its JoinGroup waits until a rejoins.
    let r = b.call(7, &join_request(group, "", 7)).await;
    assert_eq!(code(r.error_code), ErrorCode::MemberIdRequired);
    let b_id = r.member_id.to_string();
    let b_join = tokio::spawn({
        let b_id = b_id.clone();
        async move {
            let r: JoinGroupResponse = b.call(7, &join_request(group, &b_id, 7)).await;
            (b, r)
        }
    });
    let mut rebalancing = false;
    for _ in 0..200 {
        let r = a.call(4, &heartbeat_request(group, &a_id, 1)).await;
        if code(r.error_code) == ErrorCode::RebalanceInProgress {
            rebalancing = true;
            break;
        }
        assert_eq!(code(r.error_code), ErrorCode::None);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rebalancing, "a is told to rejoin");
    let ra = a.call(5, &join_request(group, &a_id, 5)).await;
    let (mut b, rb) = b_join.await.unwrap();
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(&*ra.leader, a_id.as_str());
    assert_eq!(&*rb.leader, a_id.as_str());
    assert_eq!(rb.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(rb.protocol_name.as_deref(), Some("range"));
    assert!(rb.members.is_empty());
    let mut members: Vec<String> = ra.members.iter().map(|m| m.member_id.to_string()).collect();
    members.sort();
    let mut want = vec![a_id.clone(), b_id.clone()];
    want.sort();
    assert_eq!(members, want);
    assert!(
        ra.members
            .iter()
            .all(|m| m.metadata == subscription(&[TOPIC]))
    );

    // b's SyncGroup waits for the leader's.
    let b_sync = tokio::spawn({
        let b_id = b_id.clone();
        async move {
            let r = b.call(5, &sync_request(group, &b_id, 2, Vec::new())).await;
            (b, r)
        }
    });
    let a_part = assignment(TOPIC, &[0, 1, 2]);
    let b_part = assignment(TOPIC, &[3, 4, 5]);
    let r = a
        .call(
            5,
            &sync_request(
                group,
                &a_id,
                2,
                vec![
                    (a_id.clone(), a_part.clone()),
                    (b_id.clone(), b_part.clone()),
                ],
            ),
        )
        .await;
    assert_eq!(r.assignment, a_part);
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    let (mut b, r) = b_sync.await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None);
    assert_eq!(r.assignment, b_part);

    // Commits: each member its own partitions; stale generation and unknown partitions fail.
    let r = a
        .call(
            8,
            &commit_request(
                group,
                &a_id,
                2,
                &[(TOPIC, 0, 10), (TOPIC, 1, 11), (TOPIC, 2, 12)],
            ),
        )
        .await;
    assert!(
        r.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{r:?}"
    );
    let r = b
        .call(
            2,
            &commit_request(
                group,
                &b_id,
                2,
                &[(TOPIC, 3, 13), (TOPIC, 4, 14), (TOPIC, 5, 15)],
            ),
        )
        .await;
    assert!(
        r.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{r:?}"
    );
    let r = b
        .call(8, &commit_request(group, &b_id, 1, &[(TOPIC, 3, 99)]))
        .await;
    assert_eq!(
        code(r.topics[0].partitions[0].error_code),
        ErrorCode::IllegalGeneration
    );
    let r = b
        .call(
            8,
            &commit_request(
                group,
                &b_id,
                2,
                &[(TOPIC, 6, 1), ("nope", 0, 1), (TOPIC, 5, 16)],
            ),
        )
        .await;
    let codes: Vec<ErrorCode> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| code(p.error_code)))
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition
        ]
    );
    let r = a
        .call(8, &commit_request(group, "", -1, &[(TOPIC, 0, 1)]))
        .await;
    assert_eq!(
        code(r.topics[0].partitions[0].error_code),
        ErrorCode::UnknownMemberId,
        "outsiders cannot commit"
    );

    // Fetch: all, some (one never committed... all are, so ask for one the topic lacks), v1-7.
    let all = fetch_committed(&mut a, group, None).await;
    assert_eq!(
        all,
        vec![(0, 10), (1, 11), (2, 12), (3, 13), (4, 14), (5, 16)]
    );
    let some = fetch_committed(&mut a, group, Some(&[5, 0, 9])).await;
    assert_eq!(some, vec![(5, 16), (0, 10), (9, -1)]);
    let v7 = a
        .call(
            7,
            &OffsetFetchRequest::default()
                .with_group_id(gid(group))
                .with_topics(None),
        )
        .await;
    assert_eq!(v7.topics[0].partitions.len(), 6);
    assert_eq!(
        v7.topics[0].partitions[1].metadata.as_deref(),
        Some("meta-1")
    );
    let v1 = a
        .call(
            1,
            &OffsetFetchRequest::default()
                .with_group_id(gid(group))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s(TOPIC)))
                        .with_partition_indexes(vec![4]),
                ])),
        )
        .await;
    assert_eq!(v1.topics[0].partitions[0].committed_offset, 14);

    // Describe: Stable, both members with their assignment.
    for version in [0, 5] {
        let r = a
            .call(
                version,
                &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
            )
            .await;
        let g = &r.groups[0];
        assert_eq!(
            (
                code(g.error_code),
                &*g.group_state,
                &*g.protocol_type,
                &*g.protocol_data
            ),
            (ErrorCode::None, "Stable", "consumer", "range")
        );
        assert_eq!(g.members.len(), 2);
        let mb = g.members.iter().find(|m| *m.member_id == *b_id).unwrap();
        assert_eq!(mb.member_assignment, b_part);
        assert_eq!(mb.member_metadata, subscription(&[TOPIC]));
        assert_eq!(
            (&*mb.client_id, &*mb.client_host),
            ("groups-test", "/127.0.0.1")
        );
    }
    let (_, elsewhere) = find_coordinator(addr, "no-such-group").await;
    let r = Conn::connect(elsewhere)
        .await
        .call(
            6,
            &DescribeGroupsRequest::default().with_groups(vec![gid("no-such-group")]),
        )
        .await;
    assert_eq!(
        (code(r.groups[0].error_code), &*r.groups[0].group_state),
        (ErrorCode::GroupIdNotFound, "Dead")
    );

    // List: only the coordinator lists the group; filters by state and type.
    for broker in cluster.brokers() {
        let mut conn = Conn::connect(broker.addr).await;
        let r = conn
            .call(
                4,
                &ListGroupsRequest::default().with_states_filter(vec![s("stable")]),
            )
            .await;
        let listed = r.groups.iter().any(|g| *g.group_id.0 == *group);
        assert_eq!(listed, broker.id == coordinator, "broker {}", broker.id);
    }
    let r = a
        .call(
            5,
            &ListGroupsRequest::default().with_types_filter(vec![s("classic")]),
        )
        .await;
    let g = r.groups.iter().find(|g| *g.group_id.0 == *group).unwrap();
    assert_eq!(
        (&*g.protocol_type, &*g.group_state, &*g.group_type),
        ("consumer", "Stable", "classic")
    );
    let r = a
        .call(
            5,
            &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        )
        .await;
    assert!(r.groups.is_empty());
    let r = a.call(0, &ListGroupsRequest::default()).await;
    assert!(r.groups.iter().any(|g| *g.group_id.0 == *group));
    let r = a
        .call(
            4,
            &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
        )
        .await;
    assert!(r.groups.is_empty());

    // A group with members cannot be deleted.
    let r = a
        .call(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]),
        )
        .await;
    assert_eq!(code(r.results[0].error_code), ErrorCode::NonEmptyGroup);

    // b leaves (v3 batch form): a is told to rejoin and gets generation 3 alone.
    let leave = LeaveGroupRequest::default()
        .with_group_id(gid(group))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&b_id))]);
    let r = b.call(3, &leave).await;
    assert_eq!(
        (code(r.error_code), code(r.members[0].error_code)),
        (ErrorCode::None, ErrorCode::None)
    );
    let r = a.call(4, &heartbeat_request(group, &a_id, 2)).await;
    assert_eq!(code(r.error_code), ErrorCode::RebalanceInProgress);
    let r = a.call(5, &join_request(group, &a_id, 5)).await;
    assert_eq!((r.generation_id, r.members.len()), (3, 1));
    // a leaves (v1 single form); leaving twice is an unknown member.
    let leave = LeaveGroupRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(&a_id));
    assert_eq!(a.call(1, &leave).await.error_code, 0);
    assert_eq!(
        code(a.call(1, &leave).await.error_code),
        ErrorCode::UnknownMemberId
    );
    let r = a
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
        )
        .await;
    assert_eq!(
        (&*r.groups[0].group_state, r.groups[0].members.len()),
        ("Empty", 0)
    );

    // Offsets outlive the members; deleting the empty group removes them.
    assert_eq!(
        fetch_committed(&mut a, group, Some(&[3])).await,
        vec![(3, 13)]
    );
    let r = a
        .call(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]),
        )
        .await;
    assert_eq!(code(r.results[0].error_code), ErrorCode::None);
    let r = a
        .call(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]),
        )
        .await;
    assert_eq!(code(r.results[0].error_code), ErrorCode::GroupIdNotFound);
    assert_eq!(
        fetch_committed(&mut a, group, Some(&[3])).await,
        vec![(3, -1)]
    );
    cluster.shutdown().await;
}

/// Every version of every group API gets a response the client can decode (the response
/// encoders refuse fields a version lacks, which would close the connection).
#[tokio::test]
async fn every_version_of_every_group_api_answers() {
    let cluster = cluster().await;
    for join_version in 0..=9i16 {
        let group = format!("versions-{join_version}");
        let find_version = join_version.min(6);
        let any = cluster.brokers()[0].addr;
        let mut finder = Conn::connect(any).await;
        let addr = if find_version >= 4 {
            let r = finder
                .call(
                    find_version,
                    &FindCoordinatorRequest::default().with_coordinator_keys(vec![s(&group)]),
                )
                .await;
            cluster.broker_addr(r.coordinators[0].node_id.0).unwrap()
        } else {
            let r = finder
                .call(
                    find_version,
                    &FindCoordinatorRequest::default().with_key(s(&group)),
                )
                .await;
            cluster.broker_addr(r.node_id.0).unwrap()
        };
        let mut conn = Conn::connect(addr).await;
        let mut r = conn
            .call(join_version, &join_request(&group, "", join_version))
            .await;
        if join_version >= 4 {
            assert_eq!(
                code(r.error_code),
                ErrorCode::MemberIdRequired,
                "v{join_version}"
            );
            r = conn
                .call(
                    join_version,
                    &join_request(&group, &r.member_id, join_version),
                )
                .await;
        }
        assert_eq!(
            (code(r.error_code), r.generation_id),
            (ErrorCode::None, 1),
            "JoinGroup v{join_version}"
        );
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        let member = r.member_id.to_string();

        let sync_version = join_version.min(5);
        let r = conn
            .call(
                sync_version,
                &sync_request(
                    &group,
                    &member,
                    1,
                    vec![(member.clone(), assignment(TOPIC, &[0]))],
                ),
            )
            .await;
        assert_eq!(
            (code(r.error_code), r.assignment.clone()),
            (ErrorCode::None, assignment(TOPIC, &[0])),
            "SyncGroup v{sync_version}"
        );

        let hb_version = join_version.min(4);
        let r = conn
            .call(hb_version, &heartbeat_request(&group, &member, 1))
            .await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::None,
            "Heartbeat v{hb_version}"
        );

        let commit_version = join_version.clamp(2, 9);
        let r = conn
            .call(
                commit_version,
                &commit_request(&group, &member, 1, &[(TOPIC, 0, 42)]),
            )
            .await;
        assert_eq!(
            code(r.topics[0].partitions[0].error_code),
            ErrorCode::None,
            "OffsetCommit v{commit_version}"
        );

        let fetch_version = join_version.clamp(1, 9);
        let committed = if fetch_version >= 8 {
            fetch_committed_at(&mut conn, fetch_version, &group).await
        } else {
            let r = conn
                .call(
                    fetch_version,
                    &OffsetFetchRequest::default()
                        .with_group_id(gid(&group))
                        .with_topics(Some(vec![
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(s(TOPIC)))
                                .with_partition_indexes(vec![0]),
                        ])),
                )
                .await;
            r.topics[0].partitions[0].committed_offset
        };
        assert_eq!(committed, 42, "OffsetFetch v{fetch_version}");

        let describe_version = join_version.min(6);
        let r = conn
            .call(
                describe_version,
                &DescribeGroupsRequest::default().with_groups(vec![gid(&group)]),
            )
            .await;
        assert_eq!(
            &*r.groups[0].group_state, "Stable",
            "DescribeGroups v{describe_version}"
        );

        let list_version = join_version.min(5);
        let r = conn.call(list_version, &ListGroupsRequest::default()).await;
        assert!(
            r.groups.iter().any(|g| *g.group_id.0 == *group),
            "ListGroups v{list_version}"
        );

        let leave_version = join_version.min(5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(gid(&group))
                .with_members(vec![MemberIdentity::default().with_member_id(s(&member))])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(gid(&group))
                .with_member_id(s(&member))
        };
        let r = conn.call(leave_version, &leave).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::None,
            "LeaveGroup v{leave_version}"
        );

        let delete_version = join_version.min(2);
        let r = conn
            .call(
                delete_version,
                &DeleteGroupsRequest::default().with_groups_names(vec![gid(&group)]),
            )
            .await;
        assert_eq!(
            code(r.results[0].error_code),
            ErrorCode::None,
            "DeleteGroups v{delete_version}"
        );
    }
    cluster.shutdown().await;
}

async fn fetch_committed_at(conn: &mut Conn, version: i16, group: &str) -> i64 {
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(gid(group))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let r = conn.call(version, &request).await;
    r.groups[0].topics[0].partitions[0].committed_offset
}

// ---------------------------------------------------------------------------------------------
// kafka-python interoperability
// ---------------------------------------------------------------------------------------------

/// Whether kafka-python is importable.
fn kafka_python_available() -> bool {
    support::python_peer("import kafka", "kafka-python group")
}

#[test]
fn kafka_python_group_splits_partitions_commits_and_resumes() {
    if !kafka_python_available() {
        return;
    }
    let topic = "interop-groups";
    let group = "py-group";
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(topic, 6, 3)
        .build_blocking()
        .expect("cluster");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python_groups.py");
    let out = Command::new(support::python())
        .arg(&script)
        .args([&cluster.bootstrap_servers(), topic, group])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kafka_python_groups.py failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Each partition belonged to exactly one of the two members.
    let mut owner: std::collections::BTreeMap<i32, String> = Default::default();
    let mut members = 0;
    for line in stdout.lines().filter_map(|l| l.strip_prefix("assignment ")) {
        let (name, partitions) = line.split_once(' ').unwrap_or((line, ""));
        members += 1;
        let partitions: Vec<i32> = partitions
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(!partitions.is_empty(), "{name} got partitions: {stdout}");
        for p in partitions {
            assert!(
                owner.insert(p, name.to_string()).is_none(),
                "partition {p} owned twice: {stdout}"
            );
        }
    }
    assert_eq!(members, 2, "{stdout}");
    assert_eq!(
        owner.keys().copied().collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>(),
        "{stdout}"
    );
    // The restarted member started every partition at the committed offset (10), not at 0.
    let resumed: Vec<(i32, i64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("resumed "))
        .map(|l| {
            let (p, o) = l.split_once(' ').unwrap();
            (p.parse().unwrap(), o.parse().unwrap())
        })
        .collect();
    assert_eq!(
        resumed,
        (0..6).map(|p| (p, 10)).collect::<Vec<_>>(),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "done"), "{stdout}");

    // The broker agrees: every partition committed at its end (15), and the group is empty.
    cluster.block_on(async {
        let (_, addr) = find_coordinator(cluster.brokers()[0].addr, group).await;
        let mut conn = Conn::connect(addr).await;
        let request = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(gid(group))
                .with_topics(None),
        ]);
        let r = conn.call(8, &request).await;
        let committed: Vec<(i32, i64)> = r.groups[0]
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
            })
            .collect();
        assert_eq!(committed, (0..6).map(|p| (p, 15)).collect::<Vec<_>>());
        let r = conn
            .call(
                5,
                &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
            )
            .await;
        assert_eq!(
            (&*r.groups[0].group_state, &*r.groups[0].protocol_type),
            ("Empty", "consumer")
        );
    });
    cluster.shutdown();
}
