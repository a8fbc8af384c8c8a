//! A consumer group of two: produce records, consume them with two `Consumer`s in one group
//! (each gets some of the partitions), print where each record came from, commit, close.
//!
//! Run it with `cargo run --example consumer_group`. It starts an in-process 3-broker cluster,
//! or uses `KAFKA_BOOTSTRAP_SERVERS` when set (the topic `consumer-group-demo` is then
//! auto-created by the broker, if it allows that).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::consumer::client::{Consumer, RebalanceContext, RebalanceListener};
use kafkit::consumer::config::{AutoOffsetReset, ConsumerConfig};
use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use kafkit_testbroker::Cluster;

const TOPIC: &str = "consumer-group-demo";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 40;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Prints assignments and commits what was consumed from revoked partitions.
struct PrintRebalance(&'static str);

impl RebalanceListener for PrintRebalance {
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        println!("[{}] assigned {}", self.0, names(partitions));
    }
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        println!("[{}] revoked {}", self.0, names(partitions));
        ctx.commit_consumed(partitions);
    }
}

/// "topic-0, topic-1".
fn names(partitions: &[TopicPartition]) -> String {
    let names: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    names.join(", ")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cluster, bootstrap) = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(servers) => (None, servers),
        Err(_) => {
            let cluster = Cluster::builder()
                .brokers(3)
                .topic(TOPIC, PARTITIONS, 3)
                .build()
                .await?;
            let servers = cluster.bootstrap_servers();
            (Some(cluster), servers)
        }
    };
    println!("bootstrap.servers={bootstrap}");

    // Produce some keyed records.
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()?,
    )?;
    for i in 0..RECORDS {
        producer
            .send(ProducerRecord::new(TOPIC, format!("record-{i}")).with_key(format!("key-{i}")))
            .await?;
    }
    producer.flush().await;
    producer.close().await;
    println!("produced {RECORDS} records");

    // Two members of one group, each in its own task, until every record was read.
    let consumed = Arc::new(AtomicUsize::new(0));
    let group = format!("demo-{}", std::process::id());
    let mut members = Vec::new();
    for name in ["alice", "bob"] {
        let mut config = ConsumerConfig::builder();
        config
            .bootstrap_servers(&bootstrap)
            .group_id(&group)
            .client_id(name)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_millis(500));
        let config = config.build()?;
        let consumed = consumed.clone();
        members.push(tokio::spawn(async move {
            let mut consumer = Consumer::new(config)?;
            consumer.subscribe_with_listener(&[TOPIC], PrintRebalance(name))?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while consumed.load(Ordering::SeqCst) < RECORDS
                && tokio::time::Instant::now() < deadline
            {
                let records = consumer.poll(Duration::from_millis(200)).await?;
                for r in &records {
                    println!(
                        "[{name}] {}-{} offset {}: {}",
                        r.topic,
                        r.partition,
                        r.offset,
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                    );
                }
                if !records.is_empty() {
                    consumed.fetch_add(records.len(), Ordering::SeqCst);
                    match consumer.commit().await {
                        Ok(()) => {}
                        // With cooperative-sticky, records keep flowing during a rebalance but
                        // commits wait for it; the listener commits revoked partitions.
                        Err(e) if e.is_rebalance_in_progress() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            println!("[{name}] owns {}; closing", names(&consumer.assignment()));
            consumer.close().await?;
            Ok::<(), Error>(())
        }));
    }
    for member in members {
        member.await??;
    }
    println!("consumed {} records", consumed.load(Ordering::SeqCst));
    if let Some(cluster) = cluster {
        cluster.shutdown().await;
    }
    Ok(())
}
