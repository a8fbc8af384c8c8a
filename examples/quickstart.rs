//! kafkit quickstart: an in-process 3-broker Kafka cluster, a replicated topic, records written
//! with every compression codec and read back, and a broker stopped to show the leader moving
//! with no acknowledged record lost.
//!
//! Run it with `cargo run --example quickstart`.
//!
//! Until kafkit's producer and consumer land, this drives the cluster with kafkit's lower
//! layers: `kafkit::cluster` for metadata, `kafkit::record` to build and read record batches,
//! and `kafkit::net` to send Produce and Fetch requests. Any Kafka client could take their place:
//! the cluster speaks the real wire protocol (`kcat -b <bootstrap> -L` works while it runs).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafkit::cluster::Metadata;
use kafkit::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkit::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkit::messages::{FetchRequest, ProduceRequest, TopicName};
use kafkit::net::{ConnectionConfig, ConnectionPool};
use kafkit::producer::partitioner::partition_for_key;
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression, Header};
use kafkit_testbroker::Cluster;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. A cluster of three brokers and a topic with 3 partitions, replication factor 3.
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, PARTITIONS, 3)
        .topic_config(TOPIC, "min.insync.replicas", "2")
        .build()
        .await?;
    println!(
        "cluster up: bootstrap.servers={}",
        cluster.bootstrap_servers()
    );

    let bootstrap: Vec<String> = cluster
        .bootstrap_servers()
        .split(',')
        .map(String::from)
        .collect();
    let pool = Arc::new(ConnectionPool::new(ConnectionConfig::default(), bootstrap));
    let metadata = Metadata::new(pool.clone(), false);
    let topic = metadata
        .wait_for_topic(TOPIC, Duration::from_secs(10))
        .await?;
    for p in &topic.partitions {
        println!(
            "  {TOPIC}-{}: leader {:?}, replicas {:?}, isr {:?}",
            p.partition, p.leader, p.replicas, p.isr
        );
    }

    // 2. Records keyed by customer, placed by murmur2 exactly as the Java client places them,
    //    one batch per codec, acks=all.
    let mut sent = 0;
    for (round, compression) in Compression::ALL.into_iter().enumerate() {
        for partition in 0..PARTITIONS {
            let mut batch = BatchBuilder::new(BatchOptions {
                compression,
                ..BatchOptions::default()
            });
            for i in 0..100 {
                let key = format!("customer-{}", i % 17);
                if partition_for_key(key.as_bytes(), PARTITIONS) != Some(partition) {
                    continue;
                }
                let value = format!("order {round}-{i} ({compression})");
                let headers = [Header {
                    key: "source",
                    value: Some(b"quickstart"),
                }];
                batch.append(
                    1_700_000_000_000 + i,
                    Some(key.as_bytes()),
                    Some(value.as_bytes()),
                    &headers,
                )?;
                sent += 1;
            }
            let (code, offset) = produce(&metadata, partition, batch.finish()?).await?;
            assert_eq!(code, ErrorCode::None);
            if partition == 0 {
                println!(
                    "  {compression:<6} batch acknowledged on {TOPIC}-{partition} at offset {offset}"
                );
            }
        }
    }
    println!("sent {sent} records with acks=all");

    // 3. Read everything back from each partition's leader.
    let read = read_all(&metadata).await?;
    println!(
        "read back {} records; first: {:?}",
        read.len(),
        read.first().map(|(k, v)| (k.clone(), v.clone()))
    );
    assert_eq!(read.len(), sent);

    // 4. Stop the leader of partition 0: the controller elects a new one from the in-sync
    //    replicas, and every acknowledged record is still there.
    let (old_leader, old_epoch) = {
        let snapshot = metadata.refresh(Some(&[TOPIC])).await?;
        let (node, epoch) = snapshot.leader(TOPIC, 0).expect("a leader");
        (node.id, epoch)
    };
    cluster.stop_broker(old_leader).await?;
    // The new leader's high watermark (what consumers may read) catches up as soon as the
    // other in-sync replica has fetched from it.
    cluster
        .wait_for_replicas_in_sync(TOPIC, 0, Duration::from_secs(10))
        .await?;
    let snapshot = metadata.refresh(Some(&[TOPIC])).await?;
    let (new_leader, new_epoch) = snapshot.leader(TOPIC, 0).expect("a new leader");
    println!(
        "stopped broker {old_leader}: {TOPIC}-0 now led by broker {} (epoch {old_epoch} -> {new_epoch})",
        new_leader.id
    );
    let after = read_all(&metadata).await?;
    assert_eq!(after.len(), sent, "no acknowledged record lost");
    println!(
        "after the failover all {} records are still readable",
        after.len()
    );

    cluster.start_broker(old_leader).await?;
    cluster
        .wait_for_isr(TOPIC, 0, 3, Duration::from_secs(10))
        .await?;
    println!("broker {old_leader} restarted and caught up; ISR full again");
    cluster.shutdown().await;
    Ok(())
}

/// Send one batch to the partition's leader with acks=all.
async fn produce(
    metadata: &Metadata,
    partition: i32,
    records: Bytes,
) -> Result<(ErrorCode, i64), Error> {
    let snapshot = metadata.snapshot();
    let topic = snapshot.topic(TOPIC).expect("known topic");
    let (leader, _) = snapshot.leader(TOPIC, partition).expect("a leader");
    let conn = metadata.pool().get(leader.id).await?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_topic_id(topic.id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = conn.send(request).await?;
    let p = &response.responses[0].partition_responses[0];
    Ok((ErrorCode::from_code(p.error_code), p.base_offset))
}

/// Every (key, value) of the topic, partition by partition, from each current leader.
async fn read_all(metadata: &Metadata) -> Result<Vec<(String, String)>, Error> {
    let snapshot = metadata.refresh(Some(&[TOPIC])).await?;
    let topic = snapshot.topic(TOPIC).expect("known topic");
    let mut out = Vec::new();
    for partition in 0..PARTITIONS {
        let (leader, epoch) = snapshot.leader(TOPIC, partition).expect("a leader");
        let conn = metadata.pool().get(leader.id).await?;
        let mut offset = 0;
        loop {
            let request = FetchRequest::default()
                .with_max_bytes(1 << 20)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                        .with_topic_id(topic.id)
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(partition)
                                .with_current_leader_epoch(epoch)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]);
            let response = conn.send(request).await?;
            let data = &response.responses[0].partitions[0];
            let before = out.len();
            for batch in BatchIter::new(data.records.clone().unwrap_or_default()) {
                for record in batch?.records()? {
                    let record = record?;
                    if record.offset < offset {
                        continue;
                    }
                    offset = record.offset + 1;
                    let text = |b: Option<Bytes>| {
                        String::from_utf8_lossy(&b.unwrap_or_default()).into_owned()
                    };
                    out.push((text(record.key), text(record.value)));
                }
            }
            if out.len() == before {
                break;
            }
        }
    }
    Ok(out)
}
