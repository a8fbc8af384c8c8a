//! `kafkit::cluster::Metadata` against the in-process test broker: bootstrap, topic lookups,
//! leaders and epochs following a failover, and errors for topics that cannot exist.

use std::sync::Arc;
use std::time::Duration;

use kafkit::cluster::{ClusterError, Metadata};
use kafkit::net::{ConnectionConfig, ConnectionPool};
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::Cluster;

const WAIT: Duration = Duration::from_secs(10);

fn metadata_for(cluster: &Cluster, auto_create: bool) -> Metadata {
    let bootstrap: Vec<String> = cluster
        .bootstrap_servers()
        .split(',')
        .map(str::to_string)
        .collect();
    let pool = Arc::new(ConnectionPool::new(ConnectionConfig::default(), bootstrap));
    Metadata::new(pool, auto_create)
}

#[tokio::test]
async fn bootstraps_and_follows_leadership() {
    let cluster = Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .topic("orders", 6, 3)
        .build()
        .await
        .unwrap();
    let metadata = metadata_for(&cluster, false);
    let all = metadata.refresh(None).await.unwrap();
    assert_eq!(all.brokers.len(), 3);
    assert_eq!(
        all.cluster_id.as_deref(),
        Some(cluster.cluster_id().as_str())
    );
    let orders = all.topic("orders").unwrap();
    assert_eq!(orders.partitions.len(), 6);
    assert_eq!(orders.id, cluster.metadata().topic("orders").unwrap().id);
    for p in &orders.partitions {
        assert_eq!(p.replicas.len(), 3);
        assert_eq!(
            p.leader,
            Some(
                cluster
                    .metadata()
                    .partition("orders", p.partition)
                    .unwrap()
                    .leader
            )
        );
    }
    // The pool learned every broker's address.
    for b in cluster.brokers() {
        assert_eq!(metadata.pool().addr(b.id), Some(b.addr.to_string()));
    }

    // After a failover, a refresh shows the new leader and the bumped epoch.
    let (old_leader, old_epoch) = {
        let (node, epoch) = all.leader("orders", 0).unwrap();
        (node.id, epoch)
    };
    cluster.stop_broker(old_leader).await.unwrap();
    let after = metadata.refresh(Some(&["orders"])).await.unwrap();
    let (node, epoch) = after.leader("orders", 0).unwrap();
    assert_ne!(node.id, old_leader);
    assert_eq!(epoch, old_epoch + 1);
    assert!(
        after
            .partition("orders", 0)
            .unwrap()
            .offline_replicas
            .contains(&old_leader)
    );
    assert_eq!(after.brokers.len(), 2, "a stopped broker is not advertised");
    cluster.shutdown().await;
}

#[tokio::test]
async fn waits_for_auto_created_topics_and_reports_bad_ones() {
    let cluster = Cluster::builder()
        .brokers(1)
        .auto_create_topics(true)
        .build()
        .await
        .unwrap();
    let metadata = metadata_for(&cluster, true);
    let created = metadata.wait_for_topic("fresh", WAIT).await.unwrap();
    assert_eq!(created.partitions.len(), 1);
    assert!(cluster.metadata().topic("fresh").is_some());
    match metadata.wait_for_topic("bad name", WAIT).await {
        Err(ClusterError::Topic { error, .. }) => {
            assert_eq!(error, ErrorCode::InvalidTopicException)
        }
        other => panic!("expected an invalid topic error, got {other:?}"),
    }
    cluster.shutdown().await;

    // Without auto-creation, an unknown topic is retriable: the wait ends at its deadline.
    let cluster = Cluster::builder()
        .brokers(1)
        .auto_create_topics(false)
        .build()
        .await
        .unwrap();
    let metadata = metadata_for(&cluster, true);
    let started = tokio::time::Instant::now();
    let waited = metadata
        .wait_for_topic("missing", Duration::from_millis(300))
        .await;
    assert!(
        matches!(
            waited,
            Err(ClusterError::Topic {
                error: ErrorCode::UnknownTopicOrPartition,
                ..
            })
        ),
        "{waited:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    cluster.shutdown().await;
}

#[tokio::test]
async fn concurrent_refreshes_share_one_request() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("t", 1, 1)
        .build()
        .await
        .unwrap();
    let metadata = Arc::new(metadata_for(&cluster, false));
    metadata.refresh(None).await.unwrap();
    let before = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == kafkit::messages::ApiKey::Metadata)
        .count();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let m = metadata.clone();
            tokio::spawn(async move { m.refresh(Some(&["t"])).await.unwrap().version })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let sent = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == kafkit::messages::ApiKey::Metadata)
        .count()
        - before;
    assert!(
        sent < 20,
        "{sent} Metadata requests for 20 concurrent refreshes"
    );
    cluster.shutdown().await;
}
