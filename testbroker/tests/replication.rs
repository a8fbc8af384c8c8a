//! Replication, failover and fault injection, end to end over the wire: followers pulling with
//! Fetch, the ISR and high watermark, `acks=all` with `min.insync.replicas`, leader epochs and
//! truncation (KIP-101, KIP-279), unclean election, isolation, and request interception.

mod support;

use std::time::Duration;

use bytes::Bytes;
use kafkit::messages::ApiKey;
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::{Cluster, ClusterBuilder};
use support::*;

const WAIT: Duration = Duration::from_secs(15);

fn fast() -> ClusterBuilder {
    Cluster::builder()
        .replica_fetch_wait_max(Duration::from_millis(50))
        .auto_create_topics(false)
}

fn values(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

/// Every running replica holds byte-identical batches up to the high watermark.
async fn assert_replicas_identical(cluster: &Cluster, topic: &str, partition: i32) {
    cluster
        .wait_for_replicas_in_sync(topic, partition, WAIT)
        .await
        .expect("replicas catch up");
    let infos = cluster.replica_info(topic, partition);
    let hw = infos
        .iter()
        .find(|r| r.is_leader)
        .expect("leader")
        .high_watermark;
    let logs: Vec<Bytes> = infos
        .iter()
        .map(|r| {
            cluster
                .replica_records(r.broker, topic, partition, 0, hw)
                .expect("records")
        })
        .collect();
    assert!(
        logs.windows(2).all(|w| w[0] == w[1]),
        "replica logs differ: {infos:?}"
    );
}

#[tokio::test]
async fn followers_replicate_and_acks_all_waits_for_the_isr() {
    let cluster = fast().brokers(3).topic("t", 3, 3).build().await.unwrap();
    for partition in 0..3 {
        let (_, conn) = leader_connection(&cluster, "t", partition).await;
        for i in 0..20 {
            let v = values(&format!("p{partition}-b{i}"), 5);
            let (code, base) =
                produce(&conn, &cluster, "t", partition, batch(&refs(&v), None), -1).await;
            assert_eq!((code, base), (ErrorCode::None, i * 5));
        }
        // acks=all returned: the high watermark is past every batch on the leader.
        let info = cluster.replica_info("t", partition);
        assert!(
            info.iter().any(|r| r.is_leader && r.high_watermark == 100),
            "{info:?}"
        );
        assert_replicas_identical(&cluster, "t", partition).await;
    }
    assert_eq!(cluster.metadata().partition("t", 0).unwrap().isr.len(), 3);
    cluster.shutdown().await;
}

#[tokio::test]
async fn isr_shrinks_for_a_lagging_follower_and_expands_when_it_catches_up() {
    let cluster = fast()
        .brokers(3)
        .replica_lag_time_max(Duration::from_millis(300))
        .topic("t", 1, 3)
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    let follower = cluster
        .metadata()
        .partition("t", 0)
        .unwrap()
        .replicas
        .iter()
        .copied()
        .find(|&r| r != leader)
        .unwrap();
    cluster.pause_replication(follower);
    // The leader keeps taking acks=all writes: they complete once the lagging follower is out.
    let (code, _) = produce(&conn, &cluster, "t", 0, batch(&[b"a"], None), -1).await;
    assert_eq!(code, ErrorCode::None);
    let isr = cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert!(!isr.contains(&follower), "{follower} left the ISR {isr:?}");
    for _ in 0..10 {
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&[b"b"], None), -1)
                .await
                .0,
            ErrorCode::None
        );
    }
    cluster.resume_replication(follower);
    let isr = cluster.wait_for_isr("t", 0, 3, WAIT).await.unwrap();
    assert!(isr.contains(&follower));
    assert_replicas_identical(&cluster, "t", 0).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn acks_all_blocks_then_fails_below_min_insync_replicas() {
    let cluster = fast()
        .brokers(3)
        .replica_lag_time_max(Duration::from_millis(300))
        .topic("t", 1, 3)
        .topic_config("t", "min.insync.replicas", "2")
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"ok"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    for id in [1, 2, 3].into_iter().filter(|&id| id != leader) {
        cluster.pause_replication(id);
    }
    // Appended, but it cannot be committed by a full ISR: it blocks until the followers drop
    // out, and then the ISR is below min.insync.replicas.
    let (code, base) = produce(&conn, &cluster, "t", 0, batch(&[b"blocked"], None), -1).await;
    assert_eq!(code, ErrorCode::NotEnoughReplicasAfterAppend);
    assert_eq!(base, 1, "it was appended");
    cluster.wait_for_isr("t", 0, 1, WAIT).await.unwrap();
    // Now refused before appending.
    let (code, _) = produce(&conn, &cluster, "t", 0, batch(&[b"refused"], None), -1).await;
    assert_eq!(code, ErrorCode::NotEnoughReplicas);
    // acks=1 does not care.
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"acks1"], None), 1)
            .await
            .0,
        ErrorCode::None
    );
    cluster.shutdown().await;
}

/// KIP-101 scenario 1: a follower that restarts while its high watermark lags its log must not
/// truncate committed records away; the leader then dies and the follower takes over with
/// every acknowledged record.
#[tokio::test]
async fn kip101_a_restarted_follower_keeps_committed_records() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .topic("t", 1, 2)
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    let follower = 3 - leader;
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m1"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    // Hold the leader's answers to the follower for a second: the follower appends m2, the
    // leader commits it on the follower's next fetch, but the answer that would tell the
    // follower so (high watermark 2) is still on its way when the follower stops.
    cluster.inject(kafkit_testbroker::FaultRule {
        matcher: kafkit_testbroker::FaultMatch {
            api: Some(ApiKey::Fetch),
            broker: Some(leader),
            include_replication: true,
            ..Default::default()
        },
        action: kafkit_testbroker::FaultAction::Delay(Duration::from_secs(1)),
        remaining: None,
    });
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m2"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    let f = cluster
        .replica_info("t", 0)
        .into_iter()
        .find(|r| r.broker == follower)
        .unwrap();
    assert_eq!(
        (f.log_end_offset, f.high_watermark),
        (2, 1),
        "the scenario's precondition: HW behind the log"
    );
    cluster.stop_broker(follower).await.unwrap();
    cluster.clear_faults();
    cluster.start_broker(follower).await.unwrap();
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    cluster.stop_broker(leader).await.unwrap();
    assert_eq!(
        cluster.wait_for_leader("t", 0, WAIT).await.unwrap(),
        follower
    );
    assert_eq!(
        read_all(&cluster, "t", 0).await,
        vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m2")]
    );
    cluster.shutdown().await;
}

/// KIP-101 scenario 2: after two failovers the old leader holds a record the new leader never
/// had at the same offset; on returning it truncates to the divergence point and the logs
/// converge on the new leader's.
#[tokio::test]
async fn kip101_diverged_logs_converge_after_two_failovers() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .topic("t", 1, 2)
        .build()
        .await
        .unwrap();
    let (a, conn_a) = leader_connection(&cluster, "t", 0).await;
    let b = 3 - a;
    assert_eq!(
        produce(&conn_a, &cluster, "t", 0, batch(&[b"m1"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    // m2 reaches only A (acks=1 while B is paused).
    cluster.pause_replication(b);
    assert_eq!(
        produce(&conn_a, &cluster, "t", 0, batch(&[b"m2"], None), 1).await,
        (ErrorCode::None, 1)
    );
    cluster.stop_broker(a).await.unwrap();
    cluster.resume_replication(b);
    assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), b);
    let conn_b = connect(&cluster, b).await;
    // m3 takes offset 1 in the new epoch.
    assert_eq!(
        produce(&conn_b, &cluster, "t", 0, batch(&[b"m3"], None), 1).await,
        (ErrorCode::None, 1)
    );
    cluster.start_broker(a).await.unwrap();
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert_replicas_identical(&cluster, "t", 0).await;
    assert_eq!(
        read_all(&cluster, "t", 0).await,
        vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m3")]
    );
    cluster.shutdown().await;
}

/// Epochs that each side never saw (KIP-279): A and B alternate as leader without
/// replicating, then reconcile: the follower walks back through the epochs and converges.
#[tokio::test]
async fn kip279_alternating_leaders_converge() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .topic("t", 1, 2)
        .topic_config("t", "unclean.leader.election.enable", "true")
        .build()
        .await
        .unwrap();
    let (a, conn) = leader_connection(&cluster, "t", 0).await;
    let b = 3 - a;
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m1"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    drop(conn);
    // Round 1: A writes alone, then is cut off; B leads (epoch +1) and writes alone.
    cluster.pause_replication(b);
    let conn_a = connect(&cluster, a).await;
    assert_eq!(
        produce(&conn_a, &cluster, "t", 0, batch(&[b"a1", b"a2"], None), 1)
            .await
            .0,
        ErrorCode::None
    );
    cluster.pause_replication(a);
    cluster.isolate(a).await.unwrap();
    cluster.resume_replication(b);
    assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), b);
    let conn_b = connect(&cluster, b).await;
    assert_eq!(
        produce(&conn_b, &cluster, "t", 0, batch(&[b"b1"], None), 1)
            .await
            .0,
        ErrorCode::None
    );
    // Round 2: A comes back without replicating, B dies: A leads again (unclean) and writes.
    cluster.heal().await.unwrap();
    cluster.stop_broker(b).await.unwrap();
    assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), a);
    cluster.resume_replication(a);
    let conn_a = connect(&cluster, a).await;
    assert_eq!(
        produce(&conn_a, &cluster, "t", 0, batch(&[b"a3"], None), 1)
            .await
            .0,
        ErrorCode::None
    );
    // B returns as follower with an epoch A never saw, and must converge on A's log.
    cluster.start_broker(b).await.unwrap();
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert_replicas_identical(&cluster, "t", 0).await;
    let all = read_all(&cluster, "t", 0).await;
    assert_eq!(
        all,
        vec![
            Bytes::from_static(b"m1"),
            Bytes::from_static(b"a1"),
            Bytes::from_static(b"a2"),
            Bytes::from_static(b"a3")
        ]
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn unclean_election_loses_data_only_when_enabled() {
    for unclean in [false, true] {
        let cluster = fast()
            .brokers(2)
            .replica_lag_time_max(Duration::from_millis(200))
            .auto_leader_rebalance(false)
            .topic("t", 1, 2)
            .topic_config(
                "t",
                "unclean.leader.election.enable",
                if unclean { "true" } else { "false" },
            )
            .build()
            .await
            .unwrap();
        let (a, conn) = leader_connection(&cluster, "t", 0).await;
        let b = 3 - a;
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&[b"m1"], None), -1)
                .await
                .0,
            ErrorCode::None
        );
        cluster
            .wait_for_replicas_in_sync("t", 0, WAIT)
            .await
            .unwrap();
        cluster.pause_replication(b);
        cluster.wait_for_isr("t", 0, 1, WAIT).await.unwrap();
        // Committed with an ISR of the leader alone, never replicated.
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&[b"m2"], None), -1)
                .await
                .0,
            ErrorCode::None
        );
        cluster.stop_broker(a).await.unwrap();
        cluster.resume_replication(b);
        let p = cluster.metadata().partition("t", 0).unwrap().clone();
        if unclean {
            assert_eq!(p.leader, b, "unclean election");
            let read = read_all(&cluster, "t", 0).await;
            assert_eq!(
                read,
                vec![Bytes::from_static(b"m1")],
                "the committed m2 is lost, and the test sees it"
            );
        } else {
            assert_eq!(p.leader, -1, "offline rather than losing data");
            cluster.start_broker(a).await.unwrap();
            assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), a);
            assert_eq!(
                read_all(&cluster, "t", 0).await,
                vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m2")]
            );
        }
        cluster.shutdown().await;
    }
}

#[tokio::test]
async fn an_isolated_stale_leader_accepts_acks1_writes_that_are_truncated_after_heal() {
    let cluster = fast()
        .brokers(3)
        .auto_leader_rebalance(false)
        .topic("t", 1, 3)
        .build()
        .await
        .unwrap();
    let (old, old_conn) = leader_connection(&cluster, "t", 0).await;
    assert_eq!(
        produce(&old_conn, &cluster, "t", 0, batch(&[b"m1"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    cluster.isolate(old).await.unwrap();
    let new = cluster.wait_for_leader("t", 0, WAIT).await.unwrap();
    assert_ne!(new, old);
    // The stale leader still thinks it leads.
    let (code, offset) = produce(&old_conn, &cluster, "t", 0, batch(&[b"stale"], None), 1).await;
    assert_eq!((code, offset), (ErrorCode::None, 1));
    // acks=all cannot complete there: its followers fetch from the new leader.
    let new_conn = connect(&cluster, new).await;
    assert_eq!(
        produce(&new_conn, &cluster, "t", 0, batch(&[b"m2"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster.heal().await.unwrap();
    cluster.wait_for_isr("t", 0, 3, WAIT).await.unwrap();
    assert_replicas_identical(&cluster, "t", 0).await;
    assert_eq!(
        read_all(&cluster, "t", 0).await,
        vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m2")]
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn failover_bumps_the_epoch_and_the_preferred_leader_returns() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let preferred = cluster.metadata().partition("t", 0).unwrap().replicas[0];
    let epoch = cluster.metadata().partition("t", 0).unwrap().leader_epoch;
    let (_, conn) = leader_connection(&cluster, "t", 0).await;
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"before"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster.stop_broker(preferred).await.unwrap();
    let next = cluster.wait_for_leader("t", 0, WAIT).await.unwrap();
    assert_ne!(next, preferred);
    let p = cluster.metadata().partition("t", 0).unwrap().clone();
    assert_eq!(p.leader_epoch, epoch + 1);
    assert!(!p.isr.contains(&preferred));
    // The old connection's broker is gone; a stale epoch is fenced at the new leader.
    let conn = connect(&cluster, next).await;
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"after"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster.start_broker(preferred).await.unwrap();
    cluster
        .wait_until(WAIT, |image| {
            image
                .partition("t", 0)
                .is_some_and(|p| p.leader == preferred)
        })
        .await
        .expect("preferred leader election");
    assert_eq!(
        cluster.metadata().partition("t", 0).unwrap().leader_epoch,
        epoch + 2
    );
    assert_eq!(
        read_all(&cluster, "t", 0).await,
        vec![Bytes::from_static(b"before"), Bytes::from_static(b"after")]
    );
    assert_replicas_identical(&cluster, "t", 0).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn crash_loses_unflushed_records_and_replication_restores_them() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .flush_interval(Duration::from_secs(3600))
        .topic("t", 1, 2)
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    let follower = 3 - leader;
    for i in 0..5 {
        let v = format!("m{i}");
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&[v.as_bytes()], None), -1)
                .await
                .0,
            ErrorCode::None
        );
    }
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    // Nothing was flushed: the crashed follower comes back empty and re-replicates.
    cluster.crash_broker(follower).await.unwrap();
    cluster.start_broker(follower).await.unwrap();
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert_replicas_identical(&cluster, "t", 0).await;
    assert_eq!(read_all(&cluster, "t", 0).await.len(), 5);
    cluster.shutdown().await;
}

#[tokio::test]
async fn move_leader_and_request_interception() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let (leader, _) = leader_connection(&cluster, "t", 0).await;
    let target = cluster
        .metadata()
        .partition("t", 0)
        .unwrap()
        .isr
        .iter()
        .copied()
        .find(|&b| b != leader)
        .unwrap();
    cluster.move_leader("t", 0, target).await.unwrap();
    assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), target);
    let conn = connect(&cluster, target).await;

    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 2);
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"x"], None), -1)
            .await
            .0,
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"x"], None), -1)
            .await
            .0,
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"x"], None), -1).await,
        (ErrorCode::None, 0),
        "the rule is used up"
    );

    cluster.delay_responses(ApiKey::Produce, Duration::from_millis(300));
    let started = tokio::time::Instant::now();
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"slow"], None), -1)
            .await
            .0,
        ErrorCode::None
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    cluster.clear_faults();

    cluster.drop_connections(ApiKey::Fetch, 1);
    let request_log_before = cluster.request_log().len();
    let doomed = connect(&cluster, target).await;
    let fetch = doomed.send(kafkit::messages::FetchRequest::default()).await;
    assert!(fetch.is_err(), "connection dropped instead of an answer");
    assert!(cluster.request_log().len() > request_log_before);
    assert!(
        cluster
            .request_log()
            .iter()
            .any(|r| r.api == ApiKey::Fetch && r.faulted)
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn data_dir_logs_survive_a_restart_from_their_files() {
    let dir = std::env::temp_dir().join(format!("kafkit-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .data_dir(&dir)
        .topic("t", 1, 2)
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    for i in 0..10 {
        let v = format!("m{i}");
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&[v.as_bytes()], None), -1)
                .await
                .0,
            ErrorCode::None
        );
    }
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    assert!(
        dir.join(leader.to_string())
            .join("t-0")
            .join("00000000000000000000.log")
            .exists()
    );
    // Both brokers restart from their files, one after the other.
    for id in [3 - leader, leader] {
        cluster.stop_broker(id).await.unwrap();
        cluster.start_broker(id).await.unwrap();
        cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    }
    let read = read_all(&cluster, "t", 0).await;
    assert_eq!(read.len(), 10);
    assert_eq!(read[9], Bytes::from_static(b"m9"));
    assert_replicas_identical(&cluster, "t", 0).await;
    cluster.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// KIP-279's case: leadership alternates so fast that each broker writes in epochs the other
/// never sees (follower: 0, 1, 3; leader: 0, 2, 4). The follower asks where its latest epoch
/// ends, learns only of an epoch it does not have, truncates part way and asks again with an
/// older one, until the logs agree; then it copies the leader's log.
#[tokio::test]
async fn kip279_follower_walks_back_through_epochs_the_leader_never_saw() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .topic("t", 1, 2)
        .topic_config("t", "unclean.leader.election.enable", "true")
        .build()
        .await
        .unwrap();
    let (a, conn) = leader_connection(&cluster, "t", 0).await;
    let b = 3 - a;
    let v = values("m", 5);
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&refs(&v), None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    cluster.pause_replication(a);
    cluster.pause_replication(b);
    // Alternate leadership four times without replication; each leader writes alone.
    let mut writes = Vec::new();
    for (leader, other, n) in [(b, a, 2), (a, b, 4), (b, a, 1), (a, b, 1)] {
        cluster.heal().await.unwrap();
        cluster.isolate(other).await.unwrap();
        assert_eq!(cluster.wait_for_leader("t", 0, WAIT).await.unwrap(), leader);
        let conn = connect(&cluster, leader).await;
        let v = values(
            &format!(
                "e{}",
                cluster.metadata().partition("t", 0).unwrap().leader_epoch
            ),
            n,
        );
        assert_eq!(
            produce(&conn, &cluster, "t", 0, batch(&refs(&v), None), 1)
                .await
                .0,
            ErrorCode::None
        );
        writes.push((leader, v));
    }
    let epochs_before = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::OffsetForLeaderEpoch)
        .count();
    cluster.heal().await.unwrap();
    cluster.resume_replication(a);
    cluster.resume_replication(b);
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert_replicas_identical(&cluster, "t", 0).await;
    let asked = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::OffsetForLeaderEpoch)
        .count()
        - epochs_before;
    assert!(
        asked >= 2,
        "the follower walked back through epochs ({asked} OffsetsForLeaderEpoch)"
    );
    // The log is the final leader's: m0-m4, then what `a` wrote in its two epochs.
    let mut expected: Vec<Bytes> = values("m", 5).into_iter().map(Bytes::from).collect();
    for (leader, v) in &writes {
        if *leader == a {
            expected.extend(v.iter().cloned().map(Bytes::from));
        }
    }
    assert_eq!(read_all(&cluster, "t", 0).await, expected);
    cluster.shutdown().await;
}

/// A broker that misses a topic's deletion and re-creation (it was cut off) must not keep the
/// old topic's records under the new topic of the same name.
#[tokio::test]
async fn a_recreated_topic_does_not_inherit_old_replicas() {
    let cluster = fast()
        .brokers(2)
        .auto_leader_rebalance(false)
        .topic("t", 1, 2)
        .build()
        .await
        .unwrap();
    let (_, conn) = leader_connection(&cluster, "t", 0).await;
    let v = values("old", 3);
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&refs(&v), None), -1)
            .await
            .0,
        ErrorCode::None
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    let cut_off = cluster.metadata().partition("t", 0).unwrap().replicas[1];
    cluster.isolate(cut_off).await.unwrap();
    let replicas = cluster
        .metadata()
        .partition("t", 0)
        .unwrap()
        .replicas
        .clone();
    cluster.delete_topic("t").await.unwrap();
    cluster
        .create_topic_with(kafkit_testbroker::controller::NewTopic {
            name: "t".into(),
            partitions: -1,
            replication_factor: -1,
            assignment: Some(vec![replicas]),
            configs: Vec::new(),
        })
        .await
        .unwrap();
    cluster.heal().await.unwrap();
    cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    for info in cluster.replica_info("t", 0) {
        assert_eq!(
            info.log_end_offset, 0,
            "broker {} kept the old topic's records",
            info.broker
        );
    }
    assert!(read_all(&cluster, "t", 0).await.is_empty());
    cluster.shutdown().await;
}

/// A topic-partition fault rule matches Fetch requests that name topics by id (v13+), and only
/// the partition it names.
#[tokio::test]
async fn topic_partition_rules_match_requests_that_name_topics_by_id() {
    let cluster = fast()
        .brokers(1)
        .topic("t", 2, 1)
        .topic("u", 1, 1)
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 1).await;
    assert!(
        version(&conn, ApiKey::Fetch) >= 13,
        "the scenario needs Fetch by topic id"
    );
    cluster.inject(kafkit_testbroker::FaultRule {
        matcher: kafkit_testbroker::FaultMatch {
            api: Some(ApiKey::Fetch),
            topic_partition: Some(("t".into(), Some(1))),
            ..Default::default()
        },
        action: kafkit_testbroker::FaultAction::Error(ErrorCode::NotLeaderOrFollower),
        remaining: Some(1),
    });
    let code =
        |d: kafkit::messages::fetch_response::PartitionData| ErrorCode::from_code(d.error_code);
    for (topic, partition) in [("u", 0), ("t", 0)] {
        assert_eq!(
            code(fetch_partition(&conn, &cluster, topic, partition, 0, -1).await),
            ErrorCode::None,
            "{topic}-{partition} is not matched"
        );
    }
    assert_eq!(
        code(fetch_partition(&conn, &cluster, "t", 1, 0, -1).await),
        ErrorCode::NotLeaderOrFollower
    );
    assert_eq!(
        code(fetch_partition(&conn, &cluster, "t", 1, 0, -1).await),
        ErrorCode::None,
        "the rule is used up"
    );
    cluster.shutdown().await;
}

/// KIP-497's maximal ISR. The preferred leader returns and catches up; its leader asks the
/// controller to take it back into the ISR, and the controller makes it leader again at once.
/// A leader (and a follower) slow to learn that keep going on the old ISR: the old leader takes
/// a write that the follower copies, and must not acknowledge it, because the new leader never
/// had it. The high watermark counts a follower from the moment its addition is asked for.
#[tokio::test]
async fn a_follower_asked_into_the_isr_counts_for_the_high_watermark_at_once() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let preferred = cluster.metadata().partition("t", 0).unwrap().replicas[0];
    let (first, conn) = leader_connection(&cluster, "t", 0).await;
    assert_eq!(first, preferred);
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m1"], None), -1).await,
        (ErrorCode::None, 0)
    );
    cluster.stop_broker(preferred).await.unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    let follower = (1..=3).find(|b| *b != preferred && *b != leader).unwrap();
    assert_eq!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m2"], None), -1).await,
        (ErrorCode::None, 1)
    );
    cluster.hold_metadata(leader);
    cluster.hold_metadata(follower);
    cluster.start_broker(preferred).await.unwrap();
    let replica = |broker: i32| {
        cluster
            .replica_info("t", 0)
            .into_iter()
            .find(|r| r.broker == broker)
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !replica(preferred).is_some_and(|r| r.is_leader) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the preferred replica leads again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The old leader still believes it leads with the ISR {leader, follower}, and the follower
    // still fetches from it.
    let check = async {
        while replica(follower).map(|r| r.log_end_offset) != Some(3) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the follower copies m3"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Without the rule the old leader commits m3 on the follower's next fetch, within
        // milliseconds; give it ample time to (wrongly) do so.
        let committed = tokio::time::timeout(Duration::from_secs(2), async {
            while replica(leader).map(|r| r.high_watermark) != Some(3) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            committed.is_err(),
            "the old leader committed m3 without the new leader"
        );
        cluster.release_metadata(leader);
        cluster.release_metadata(follower);
    };
    let ((code, _), ()) = tokio::join!(
        produce(&conn, &cluster, "t", 0, batch(&[b"m3"], None), -1),
        check
    );
    assert_ne!(
        code,
        ErrorCode::None,
        "m3 acknowledged but the new leader never had it"
    );
    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    assert_eq!(
        read_all(&cluster, "t", 0).await,
        vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m2")]
    );
    assert_replicas_identical(&cluster, "t", 0).await;
    cluster.shutdown().await;
}
