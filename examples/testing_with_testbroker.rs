//! How to test your Kafka code against `kafkit-testbroker`: an in-process, replicated Kafka
//! cluster that speaks the real wire protocol and lets a test inject faults (error codes,
//! stopped brokers, delays, dropped connections).
//!
//! Run it with `cargo run --example testing_with_testbroker`. Each `async fn` below is written
//! the way it would sit in your crate's `tests/` folder: put `#[tokio::test]` on it and return
//! `()`. Here `main` runs them one after the other so the example is runnable on its own; a
//! failed assertion panics, which makes the example exit non-zero.
//!
//! In your `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! kafkit-testbroker = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! The rules the test broker makes easy to follow: no fixed ports (every broker binds
//! `127.0.0.1:0`; ask the cluster for `bootstrap_servers()`), and no sleeps to wait for the
//! cluster (use `wait_for_leader`, `wait_for_isr`, `wait_until`, each with a deadline).

use std::collections::BTreeMap;
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::consumer::client::Consumer;
use kafkit::consumer::config::ConsumerConfig;
use kafkit::messages::ApiKey;
use kafkit::producer::{Producer, ProducerConfig, ProducerRecord};
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::Cluster;
use tokio::time::Instant;

/// How long any wait in these tests may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    not_leader_errors_are_retried_and_every_record_arrives_once().await;
    println!("test not_leader_errors_are_retried_and_every_record_arrives_once ... ok");
    no_acknowledged_record_is_lost_when_the_leader_stops().await;
    println!("test no_acknowledged_record_is_lost_when_the_leader_stops ... ok");
    println!("testing_with_testbroker OK: 2 tests passed");
}

// #[tokio::test]
async fn not_leader_errors_are_retried_and_every_record_arrives_once() {
    // Arrange: three brokers and a topic with one partition on all three.
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("payments", 1, 3)
        .build()
        .await
        .expect("cluster starts");
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .retry_backoff(Duration::from_millis(10))
            .build()
            .expect("valid config"),
    )
    .expect("producer");
    // Load the metadata first, so the injected errors hit Produce requests, not Metadata.
    assert_eq!(producer.partition_count("payments").await.unwrap(), 1);

    // The fault: the next 3 Produce requests, on any broker, are answered with
    // NOT_LEADER_OR_FOLLOWER, as a broker answers while leadership is moving.
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 3);

    // Act: send 50 records and wait for every acknowledgement.
    let mut deliveries = Vec::new();
    for i in 0..50 {
        let record = ProducerRecord::new("payments", format!("payment-{i}")).with_key("account");
        deliveries.push(producer.send(record).await.expect("enqueued"));
    }
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let meta = delivery
            .await
            .expect("acknowledged despite the injected errors");
        // Idempotence (on by default) keeps the order and prevents duplicates on retry.
        assert_eq!(meta.offset, i as i64, "in order, each record once");
    }
    assert!(producer.metrics().retries >= 1, "the errors were retried");
    producer.close().await;

    // Assert: the log holds each record exactly once, in order.
    let log = read_partition(&cluster, "payments", 0, 50).await;
    let expected: Vec<String> = (0..50).map(|i| format!("payment-{i}")).collect();
    assert_eq!(log, expected);

    cluster.shutdown().await;
}

// #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_record_is_lost_when_the_leader_stops() {
    // Arrange: acks=all (the default) with min.insync.replicas=2 means an acknowledged record
    // is on at least two brokers, so it survives losing one.
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("ledger", 1, 3)
        .topic_config("ledger", "min.insync.replicas", "2")
        .build()
        .await
        .expect("cluster starts");
    let leader = cluster
        .wait_for_leader("ledger", 0, WAIT)
        .await
        .expect("a leader");
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .batch_size(1024)
            .retry_backoff(Duration::from_millis(20))
            .request_timeout(Duration::from_secs(5))
            .build()
            .expect("valid config"),
    )
    .expect("producer");

    // Act: stop the partition's leader half-way through the stream. Records already sent to
    // it are retried on the new leader.
    let mut deliveries = Vec::new();
    for i in 0..200 {
        if i == 100 {
            cluster.stop_broker(leader).await.expect("broker stops");
        }
        let record = ProducerRecord::new("ledger", format!("entry-{i}")).with_key("book");
        deliveries.push(producer.send(record).await.expect("enqueued"));
    }
    let mut offsets = Vec::new();
    for delivery in deliveries {
        offsets.push(delivery.await.expect("acknowledged").offset);
    }
    producer.close().await;

    // The controller moved the leadership to another in-sync replica.
    let new_leader = cluster
        .wait_for_leader("ledger", 0, WAIT)
        .await
        .expect("a new leader");
    assert_ne!(new_leader, leader, "leadership moved");

    // Assert: every acknowledged record is there exactly once, in the order it was sent.
    assert_eq!(offsets, (0..200).collect::<Vec<i64>>());
    let log = read_partition(&cluster, "ledger", 0, 200).await;
    let expected: Vec<String> = (0..200).map(|i| format!("entry-{i}")).collect();
    assert_eq!(log, expected);

    cluster.shutdown().await;
}

/// The values of one partition from the beginning, read with a kafkit consumer (manual
/// assignment, no group), until `expected` records arrived or the deadline passed.
async fn read_partition(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    expected: usize,
) -> Vec<String> {
    let mut config = ConsumerConfig::builder();
    config.bootstrap_servers(cluster.bootstrap_servers());
    let mut consumer = Consumer::new(config.build().expect("valid config")).expect("consumer");
    let tp = TopicPartition::new(topic, partition);
    consumer.assign(vec![tp.clone()]).expect("assigned");
    consumer.seek_to_beginning(&[tp]);
    let mut by_offset = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while by_offset.len() < expected && Instant::now() < deadline {
        for record in consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
        {
            let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
            let previous = by_offset.insert(record.offset, value.into_owned());
            assert!(previous.is_none(), "offset {} read twice", record.offset);
        }
    }
    consumer.close().await.expect("closed");
    by_offset.into_values().collect()
}
