//! kafkit quickstart: a replicated topic, records sent with each of the producer's four send
//! modes, read back in a consumer group, and a broker stopped to show the partition leader
//! moving with no acknowledged record lost.
//!
//! Run it with `cargo run --example quickstart`. It starts an in-process 3-broker cluster
//! (`kafkit_testbroker::Cluster`); with `KAFKA_BOOTSTRAP_SERVERS` set it uses that cluster
//! instead, with a topic name of its own, and skips the failover step (which needs to stop a
//! broker).
//!
//! Every line it prints is stable, so a test can check it:
//!
//! ```text
//! produced send_and_wait key=k value=v -> orders-1@5
//! consumed orders-1@5 key=k value=v
//! leader of orders-0 moved from broker 1 (epoch 0) to broker 2 (epoch 1)
//! quickstart OK: N records produced, N consumed, none lost
//! ```
//!
//! It returns an error (a non-zero exit status) when any check fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::admin::{AdminClient, AdminConfig, AdminOptions, NewTopic, PartitionDescription};
use kafkit::consumer::client::Consumer;
use kafkit::consumer::config::{AutoOffsetReset, ConsumerConfig};
use kafkit::producer::partitioner::partition_for_key;
use kafkit::producer::{Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use kafkit_testbroker::Cluster;
use tokio::time::Instant;

const PARTITIONS: i32 = 3;
const WAIT: Duration = Duration::from_secs(20);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One record the producer had acknowledged: its key, value and where it landed (the offset is
/// `None` for fire-and-forget sends, which do not report it).
#[derive(Debug, Clone)]
struct Sent {
    key: String,
    value: String,
    partition: i32,
    offset: Option<i64>,
}

/// What a send callback reports: the record's key and value, and where it landed or why not.
type Acknowledged = (String, String, Result<RecordMetadata, String>);

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. A cluster: the one named by KAFKA_BOOTSTRAP_SERVERS, or three in-process brokers.
    let (cluster, bootstrap, topic) = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(servers) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            (None, servers, format!("quickstart-{nanos}"))
        }
        Err(_) => {
            let cluster = Cluster::builder().brokers(3).build().await?;
            let servers = cluster.bootstrap_servers();
            (Some(cluster), servers, "orders".to_string())
        }
    };
    println!("cluster: bootstrap.servers={bootstrap}");

    // 2. The topic, created with the admin client: 3 partitions, each on 3 brokers, and
    //    acks=all writes need 2 in-sync replicas.
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()?,
    )?;
    let created = admin
        .create_topics(
            vec![NewTopic::new(&topic, PARTITIONS, 3).with_config("min.insync.replicas", "2")],
            AdminOptions::default(),
        )
        .await?;
    let created = created[&topic].clone()?;
    println!(
        "created topic {topic}: {} partitions, replication factor {}",
        created.partitions, created.replication_factor
    );
    for p in describe(&admin, &topic).await? {
        print_partition(&topic, &p);
    }

    // 3. Produce with each of the four send modes (acks=all, idempotence on: Java's defaults).
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .set("client.id", "quickstart")?
            .build()?,
    )?;
    let mut sent: Vec<Sent> = Vec::new();

    // 3a. Fire-and-forget: enqueue and move on; where it landed is not reported (the partition
    //     follows from the key: murmur2, as in the Java client).
    for i in 0..2 {
        let (key, value) = (format!("forget-{i}"), format!("order-f{i}"));
        producer
            .send_and_forget(
                ProducerRecord::new(topic.clone(), value.clone()).with_key(key.clone()),
            )
            .await?;
        let partition = partition_for_key(key.as_bytes(), PARTITIONS).ok_or("no partition")?;
        println!(
            "produced send_and_forget key={key} value={value} -> {topic}-{partition}@(not reported)"
        );
        sent.push(Sent {
            key,
            value,
            partition,
            offset: None,
        });
    }

    // 3b. Sync: send and wait for the acknowledgement.
    for i in 0..2 {
        let (key, value) = (format!("sync-{i}"), format!("order-s{i}"));
        let meta = producer
            .send_and_wait(ProducerRecord::new(topic.clone(), value.clone()).with_key(key.clone()))
            .await?;
        sent.push(landed("send_and_wait", key, value, &meta));
    }

    // 3c. Callback: called once with the outcome, on the producer's I/O task.
    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    for i in 0..2 {
        let (key, value) = (format!("callback-{i}"), format!("order-c{i}"));
        let acknowledged = acknowledged.clone();
        let (k, v) = (key.clone(), value.clone());
        producer
            .send_with_callback(
                ProducerRecord::new(topic.clone(), value).with_key(key),
                move |result| {
                    let result = result.map_err(|e| e.to_string());
                    acknowledged.lock().unwrap().push((k, v, result));
                },
            )
            .await?;
    }

    // 3d. Async: a future per record; many can be in flight at once.
    let mut deliveries = Vec::new();
    for i in 0..2 {
        let (key, value) = (format!("async-{i}"), format!("order-a{i}"));
        let delivery = producer
            .send(ProducerRecord::new(topic.clone(), value.clone()).with_key(key.clone()))
            .await?;
        deliveries.push((key, value, delivery));
    }
    for (key, value, delivery) in deliveries {
        let meta = delivery.await?;
        sent.push(landed("send", key, value, &meta));
    }

    // flush() waits for everything sent so far, the fire-and-forget records included.
    producer.flush().await;
    let callbacks = std::mem::take(&mut *acknowledged.lock().unwrap());
    if callbacks.len() != 2 {
        return Err(format!("expected 2 callbacks, got {}", callbacks.len()).into());
    }
    for (key, value, result) in callbacks {
        let meta = result.map_err(|e| format!("callback record {key} failed: {e}"))?;
        sent.push(landed("send_with_callback", key, value, &meta));
    }
    let failed = producer.metrics().records_failed;
    if failed != 0 {
        return Err(format!("{failed} records failed").into());
    }

    // 4. Consume them back in a group.
    let group = format!("quickstart-{}", std::process::id());
    let consumed = consume_all(&bootstrap, &group, &topic, sent.len(), "consumed").await?;
    check_exactly_once(&sent, &consumed)?;
    println!(
        "consumer group {group} read all {} records and committed",
        consumed.len()
    );

    // 5. Stop the leader of partition 0: the controller elects a new leader from the in-sync
    //    replicas, the producer and the consumer follow it, and no acknowledged record is lost.
    match &cluster {
        None => println!(
            "skipping the failover step: it needs the in-process cluster (KAFKA_BOOTSTRAP_SERVERS is set)"
        ),
        Some(cluster) => {
            let before = partition(&admin, &topic, 0).await?;
            let old_leader = before.leader.ok_or("partition 0 has no leader")?;
            cluster.stop_broker(old_leader).await?;
            println!("stopped broker {old_leader}");
            cluster.wait_for_leader(&topic, 0, WAIT).await?;
            // Wait (with a deadline) until the brokers report the new leader.
            let deadline = Instant::now() + WAIT;
            let after = loop {
                let p = partition(&admin, &topic, 0).await?;
                if p.leader.is_some_and(|l| l != old_leader) {
                    break p;
                }
                if Instant::now() > deadline {
                    return Err("no new leader for partition 0".into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let new_leader = after.leader.ok_or("no leader")?;
            println!(
                "leader of {topic}-0 moved from broker {old_leader} (epoch {}) to broker {new_leader} (epoch {})",
                before.leader_epoch, after.leader_epoch
            );
            for p in describe(&admin, &topic).await? {
                print_partition(&topic, &p);
            }

            // A few more records with acks=all, sent through the new leaders.
            for i in 0..3 {
                let (key, value) = (format!("after-failover-{i}"), format!("order-x{i}"));
                let meta = producer
                    .send_and_wait(
                        ProducerRecord::new(topic.clone(), value.clone()).with_key(key.clone()),
                    )
                    .await?;
                sent.push(landed("send_and_wait", key, value, &meta));
            }

            // Everything again, from the beginning, in a fresh group.
            let group = format!("quickstart-after-failover-{}", std::process::id());
            let consumed = consume_all(&bootstrap, &group, &topic, sent.len(), "re-read").await?;
            check_exactly_once(&sent, &consumed)?;
            println!(
                "after the failover all {} acknowledged records are there exactly once",
                consumed.len()
            );
        }
    }

    producer.close().await;
    admin.close();
    if let Some(cluster) = cluster {
        cluster.shutdown().await;
    }
    println!(
        "quickstart OK: {} records produced, {} consumed, none lost",
        sent.len(),
        sent.len()
    );
    Ok(())
}

/// Print and record where an acknowledged record landed.
fn landed(mode: &str, key: String, value: String, meta: &RecordMetadata) -> Sent {
    println!(
        "produced {mode} key={key} value={value} -> {}-{}@{}",
        meta.topic, meta.partition, meta.offset
    );
    Sent {
        key,
        value,
        partition: meta.partition,
        offset: Some(meta.offset),
    }
}

/// The topic's partitions as the admin client describes them.
async fn describe(admin: &AdminClient, topic: &str) -> Result<Vec<PartitionDescription>, Error> {
    let described = admin
        .describe_topics(&[topic], AdminOptions::default())
        .await?;
    let description = described[topic].clone()?;
    Ok(description.partitions)
}

/// One partition as the admin client describes it.
async fn partition(
    admin: &AdminClient,
    topic: &str,
    index: i32,
) -> Result<PartitionDescription, Error> {
    describe(admin, topic)
        .await?
        .into_iter()
        .find(|p| p.partition == index)
        .ok_or_else(|| format!("{topic}-{index} not described").into())
}

fn print_partition(topic: &str, p: &PartitionDescription) {
    let leader = p
        .leader
        .map_or_else(|| "none".to_string(), |l| l.to_string());
    println!(
        "  {topic}-{}: leader {leader} (epoch {}), replicas {:?}, isr {:?}",
        p.partition, p.leader_epoch, p.replicas, p.isr
    );
}

/// Consume `topic` from the beginning in group `group` until `expected` records were read (or
/// the deadline passed), printing `<verb> topic-partition@offset key=.. value=..` per record,
/// commit and close. Returns (partition, offset, key, value) per record.
async fn consume_all(
    bootstrap: &str,
    group: &str,
    topic: &str,
    expected: usize,
    verb: &str,
) -> Result<Vec<(i32, i64, String, String)>, Error> {
    let mut config = ConsumerConfig::builder();
    config
        .bootstrap_servers(bootstrap)
        .group_id(group)
        .client_id("quickstart-consumer")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(10))
        .heartbeat_interval(Duration::from_millis(500));
    let mut consumer = Consumer::new(config.build()?)?;
    consumer.subscribe(&[topic])?;
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < expected && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await? {
            let text = |b: &Option<bytes::Bytes>| {
                String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
            };
            let (key, value) = (text(&r.key), text(&r.value));
            println!(
                "{verb} {}-{}@{} key={key} value={value}",
                r.topic, r.partition, r.offset
            );
            out.push((r.partition, r.offset, key, value));
        }
    }
    consumer.commit().await?;
    let owned: Vec<TopicPartition> = consumer.assignment();
    if owned.len() != PARTITIONS as usize {
        return Err(format!(
            "the consumer owned {} partitions, expected all",
            owned.len()
        )
        .into());
    }
    consumer.close().await?;
    Ok(out)
}

/// Every acknowledged record was consumed exactly once, where the producer said it landed.
fn check_exactly_once(sent: &[Sent], consumed: &[(i32, i64, String, String)]) -> Result<(), Error> {
    let mut seen: BTreeMap<(&str, &str), Vec<(i32, i64)>> = BTreeMap::new();
    for (partition, offset, key, value) in consumed {
        seen.entry((key.as_str(), value.as_str()))
            .or_default()
            .push((*partition, *offset));
    }
    let expected: BTreeSet<(&str, &str)> = sent
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    for s in sent {
        let places = seen
            .get(&(s.key.as_str(), s.value.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match places {
            [] => return Err(format!("record key={} value={} is missing", s.key, s.value).into()),
            [(partition, offset)] => {
                if *partition != s.partition || s.offset.is_some_and(|o| o != *offset) {
                    return Err(format!(
                        "record key={} was consumed at partition {partition} offset {offset}, \
                         produced to partition {} offset {:?}",
                        s.key, s.partition, s.offset
                    )
                    .into());
                }
            }
            more => {
                return Err(format!(
                    "record key={} value={} was consumed {} times",
                    s.key,
                    s.value,
                    more.len()
                )
                .into());
            }
        }
    }
    if let Some((key, value)) = seen.keys().find(|k| !expected.contains(*k)) {
        return Err(format!("unexpected record key={key} value={value}").into());
    }
    Ok(())
}
