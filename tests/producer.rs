//! `kafkit::producer::client::Producer` against the in-process test broker (3 brokers, RF 3):
//! every send mode delivers and reads back at the reported offsets, keyed placement follows
//! murmur2, flush/close deliver everything, acks=0/1, retries after injected
//! NOT_LEADER_OR_FOLLOWER, and a leader stopped mid-stream with idempotence.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafkit::messages::ApiKey;
use kafkit::producer::client::{
    DeliveryResult, ProduceError, Producer, ProducerError, TypedProducer,
};
use kafkit::producer::config::{Acks, ProducerConfig};
use kafkit::producer::partitioner::partition_for_key;
use kafkit::producer::record::ProducerRecord;
use kafkit::protocol::ErrorCode;
use kafkit::record::BatchIter;
use kafkit_testbroker::Cluster;

const WAIT: Duration = Duration::from_secs(20);

async fn cluster_with(topics: &[(&str, i32)]) -> Cluster {
    let mut builder = Cluster::builder().brokers(3).auto_create_topics(false);
    for (name, partitions) in topics {
        builder = builder.topic(name, *partitions, 3);
    }
    builder.build().await.unwrap()
}

fn config(cluster: &Cluster) -> kafkit::producer::config::ProducerConfigBuilder {
    let mut b = ProducerConfig::builder();
    b.bootstrap_servers(cluster.bootstrap_servers())
        .linger(Duration::from_millis(5));
    b
}

/// (offset, key, value) of every record of a partition, read from its leader's log up to its
/// high watermark after waiting for it to reach `at_least`.
async fn read_partition(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    at_least: i64,
) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    cluster
        .wait_for_high_watermark(topic, partition, at_least, WAIT)
        .await
        .unwrap();
    let leader = cluster
        .replica_info(topic, partition)
        .into_iter()
        .find(|r| r.is_leader)
        .expect("a leader");
    let bytes = cluster
        .replica_records(leader.broker, topic, partition, 0, leader.high_watermark)
        .unwrap();
    let mut out = Vec::new();
    for batch in BatchIter::new(bytes) {
        let batch = batch.unwrap();
        for record in batch.records().unwrap() {
            let r = record.unwrap();
            out.push((r.offset, r.key, r.value));
        }
    }
    out
}

/// value → offset over all partitions of a topic, asserting each value appears once.
async fn read_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    expected: &HashMap<i32, i64>,
) -> HashMap<Bytes, (i32, i64)> {
    let mut out = HashMap::new();
    for p in 0..partitions {
        let at_least = expected.get(&p).copied().unwrap_or(0);
        for (offset, _, value) in read_partition(cluster, topic, p, at_least).await {
            let value = value.expect("a value");
            assert!(
                out.insert(value.clone(), (p, offset)).is_none(),
                "{value:?} written twice"
            );
        }
    }
    out
}

#[tokio::test]
async fn every_send_mode_delivers_at_the_reported_offsets() {
    let cluster = cluster_with(&[("modes", 3)]).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();

    let mut metas = Vec::new();
    // Async: many futures in flight at once.
    let mut futures = Vec::new();
    for i in 0..30 {
        futures.push(
            producer
                .send(
                    ProducerRecord::<String, _>::new("modes", format!("async-{i}"))
                        .with_key(format!("k{i}")),
                )
                .await
                .unwrap(),
        );
    }
    for (i, f) in futures.into_iter().enumerate() {
        metas.push((format!("async-{i}"), f.await.unwrap()));
    }
    // Sync.
    for i in 0..5 {
        let value = format!("sync-{i}");
        let meta = producer
            .send_and_wait(ProducerRecord::<String, _>::new("modes", value.clone()))
            .await
            .unwrap();
        metas.push((value, meta));
    }
    // Callback: results arrive in send order per partition.
    let results: Arc<Mutex<Vec<(String, DeliveryResult)>>> = Arc::default();
    for i in 0..20 {
        let value = format!("callback-{i}");
        let results = results.clone();
        producer
            .send_with_callback(
                ProducerRecord::<String, _>::new("modes", value.clone()).with_partition(i % 3),
                move |r| results.lock().unwrap().push((value, r)),
            )
            .await
            .unwrap();
    }
    // Fire and forget.
    for i in 0..10 {
        producer
            .send_and_forget(ProducerRecord::<String, _>::new(
                "modes",
                format!("forget-{i}"),
            ))
            .await
            .unwrap();
    }
    producer.flush().await;
    let callbacks = std::mem::take(&mut *results.lock().unwrap());
    assert_eq!(callbacks.len(), 20, "flush waits for every callback");
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    for (value, r) in callbacks {
        let meta = r.unwrap();
        let last = last_offset.entry(meta.partition).or_insert(-1);
        assert!(
            meta.offset > *last,
            "callbacks of a partition run in send order"
        );
        *last = meta.offset;
        metas.push((value, meta));
    }
    let m = producer.metrics();
    assert_eq!(m.records_sent, 65);
    assert_eq!(m.records_failed, 0);
    assert!(m.batches_sent > 0 && m.bytes_sent > 0);

    let mut ends: HashMap<i32, i64> = HashMap::new();
    for (_, meta) in &metas {
        let e = ends.entry(meta.partition).or_insert(0);
        *e = (*e).max(meta.offset + 1);
    }
    let log = read_topic(&cluster, "modes", 3, &ends).await;
    assert_eq!(log.len(), 65, "every record exactly once");
    for (value, meta) in &metas {
        assert_eq!(&*meta.topic, "modes");
        assert_eq!(
            log.get(value.as_bytes()),
            Some(&(meta.partition, meta.offset)),
            "{value} where its RecordMetadata says"
        );
    }
    for i in 0..10 {
        assert!(log.contains_key(format!("forget-{i}").as_bytes()));
    }
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn keyed_records_land_on_the_murmur2_partition() {
    let cluster = cluster_with(&[("keyed", 6)]).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let mut futures = Vec::new();
    for i in 0..300 {
        let key = format!("key-{i}");
        let f = producer
            .send(ProducerRecord::<String, _>::new("keyed", format!("v{i}")).with_key(key.clone()))
            .await
            .unwrap();
        futures.push((key, f));
    }
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for (key, f) in futures {
        let meta = f.await.unwrap();
        assert_eq!(
            Some(meta.partition),
            partition_for_key(key.as_bytes(), 6),
            "{key}"
        );
        let e = ends.entry(meta.partition).or_insert(0);
        *e = (*e).max(meta.offset + 1);
    }
    for p in 0..6 {
        for (_, key, _) in
            read_partition(&cluster, "keyed", p, ends.get(&p).copied().unwrap_or(0)).await
        {
            assert_eq!(partition_for_key(&key.unwrap(), 6), Some(p));
        }
    }
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn typed_producer_serializes_with_default_serde() {
    let cluster = cluster_with(&[("typed", 1)]).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let typed: TypedProducer<String, i64> = TypedProducer::new(producer.clone());
    let meta = typed
        .send_and_wait(ProducerRecord::<String, _>::new("typed", 258i64).with_key("k".to_string()))
        .await
        .unwrap();
    let log = read_partition(&cluster, "typed", 0, meta.offset + 1).await;
    assert_eq!(log[meta.offset as usize].1.as_deref(), Some(&b"k"[..]));
    assert_eq!(
        log[meta.offset as usize].2.as_deref(),
        Some(&258i64.to_be_bytes()[..])
    );
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn close_delivers_everything_then_refuses_sends() {
    let cluster = cluster_with(&[("closing", 2)]).await;
    // A long linger: only close() makes the batches ready.
    let producer = Producer::new(
        config(&cluster)
            .linger(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .unwrap();
    for i in 0..200 {
        producer
            .send_and_forget(
                ProducerRecord::<String, _>::new("closing", format!("c{i}")).with_partition(i % 2),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    assert_eq!(producer.metrics().records_sent, 200);
    let err = producer
        .send_and_forget(ProducerRecord::<String, _>::new("closing", "late"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::Closed), "{err}");
    let ends = HashMap::from([(0, 100), (1, 100)]);
    let log = read_topic(&cluster, "closing", 2, &ends).await;
    assert_eq!(log.len(), 200);
    cluster.shutdown().await;
}

#[tokio::test]
async fn acks_zero_and_one_deliver() {
    let cluster = cluster_with(&[("acks", 1)]).await;
    let zero = Producer::new(
        config(&cluster)
            .acks(Acks::None)
            .idempotence(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut futures = Vec::new();
    for i in 0..50 {
        futures.push(
            zero.send(ProducerRecord::<String, _>::new(
                "acks",
                format!("zero-{i}"),
            ))
            .await
            .unwrap(),
        );
    }
    for f in futures {
        assert_eq!(f.await.unwrap().offset, -1, "acks=0 knows no offset");
    }
    zero.close().await;
    let log = read_partition(&cluster, "acks", 0, 50).await;
    assert_eq!(log.len(), 50);
    for (i, (offset, _, value)) in log.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value.as_deref(), Some(format!("zero-{i}").as_bytes()));
    }

    let one = Producer::new(
        config(&cluster)
            .acks(Acks::Leader)
            .idempotence(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    for i in 0..20 {
        let meta = one
            .send_and_wait(ProducerRecord::<String, _>::new("acks", format!("one-{i}")))
            .await
            .unwrap();
        assert_eq!(meta.offset, 50 + i);
    }
    one.close().await;
    let log = read_partition(&cluster, "acks", 0, 70).await;
    assert_eq!(log.len(), 70);
    assert_eq!(log[69].2.as_deref(), Some(&b"one-19"[..]));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_record_too_large_fails_at_once() {
    let cluster = cluster_with(&[("large", 1)]).await;
    let producer =
        Producer::new(config(&cluster).max_request_size(10_000).build().unwrap()).unwrap();
    let err = producer
        .send(ProducerRecord::<String, _>::new("large", vec![0u8; 20_000]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProducerError::RecordTooLarge { max: 10_000, .. }),
        "{err}"
    );
    producer.close().await;
    cluster.shutdown().await;
}

async fn injected_not_leader_is_retried(idempotent: bool) {
    let topic = if idempotent {
        "retry-idem"
    } else {
        "retry-plain"
    };
    let cluster = cluster_with(&[(topic, 1)]).await;
    let producer = Producer::new(
        config(&cluster)
            .idempotence(idempotent)
            // Without idempotence only one batch in flight keeps retries in order (as Java).
            .max_in_flight_requests_per_connection(if idempotent { 5 } else { 1 })
            .retry_backoff(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    // Metadata first, so the injected errors hit Produce requests only.
    assert_eq!(producer.partition_count(topic).await.unwrap(), 1);
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 3);
    let mut futures = Vec::new();
    for i in 0..40 {
        futures.push(
            producer
                .send(ProducerRecord::<String, _>::new(topic, format!("r{i}")))
                .await
                .unwrap(),
        );
    }
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.await.unwrap().offset, i as i64, "in order, exactly once");
    }
    assert!(producer.metrics().retries >= 1);
    let log = read_partition(&cluster, topic, 0, 40).await;
    assert_eq!(log.len(), 40, "no duplicates");
    for (i, (offset, _, value)) in log.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value.as_deref(), Some(format!("r{i}").as_bytes()));
    }
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn injected_not_leader_is_retried_idempotent() {
    injected_not_leader_is_retried(true).await;
}

#[tokio::test]
async fn injected_not_leader_is_retried_without_idempotence() {
    injected_not_leader_is_retried(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_stopped_mid_stream_with_idempotence() {
    let cluster = Arc::new(cluster_with(&[("failover", 1)]).await);
    let producer = Producer::new(
        config(&cluster)
            .batch_size(1024)
            .retry_backoff(Duration::from_millis(20))
            .request_timeout(Duration::from_secs(5))
            .delivery_timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .unwrap();
    let leader = cluster.wait_for_leader("failover", 0, WAIT).await.unwrap();
    let mut futures = Vec::new();
    let mut acked = Vec::new();
    let mut stopper = None;
    for i in 0..400 {
        if i == 200 {
            // Stop the leader while records are being produced.
            let cluster = cluster.clone();
            stopper = Some(tokio::spawn(async move {
                cluster.stop_broker(leader).await.unwrap()
            }));
        }
        let f = producer
            .send(ProducerRecord::<String, _>::new(
                "failover",
                format!("f{i}"),
            ))
            .await
            .unwrap();
        if i < 200 && i % 50 == 49 {
            // Let the first half go out in several batches before the failure.
            acked.push((i, f.await.unwrap().offset));
            continue;
        }
        futures.push((i, f));
    }
    stopper.unwrap().await.unwrap();
    for (i, f) in futures {
        match f.await {
            Ok(meta) => acked.push((i, meta.offset)),
            Err(e) => assert!(
                !matches!(e, ProduceError::Fatal(_)),
                "record {i}: fatal {e}"
            ),
        }
    }
    assert!(!acked.is_empty());
    eprintln!(
        "failover: {} of 400 acknowledged, {:?}",
        acked.len(),
        producer.metrics()
    );
    let new_leader = cluster.wait_for_leader("failover", 0, WAIT).await.unwrap();
    assert_ne!(new_leader, leader);
    let end = acked.iter().map(|(_, o)| o + 1).max().unwrap();
    let log = read_partition(&cluster, "failover", 0, end).await;
    let mut seen: HashMap<Bytes, i64> = HashMap::new();
    for (offset, _, value) in &log {
        let value = value.clone().unwrap();
        assert!(
            seen.insert(value.clone(), *offset).is_none(),
            "{value:?} duplicated"
        );
    }
    acked.sort_unstable();
    let mut previous = -1;
    for (i, offset) in acked {
        let at = seen.get(format!("f{i}").as_bytes()).copied();
        assert_eq!(at, Some(offset), "acknowledged record f{i} where reported");
        assert!(offset > previous, "send order kept");
        previous = offset;
    }
    producer.close().await;
    if let Ok(cluster) = Arc::try_unwrap(cluster) {
        cluster.shutdown().await;
    }
}

#[tokio::test]
async fn buffer_memory_back_pressure_fails_after_max_block() {
    let cluster = cluster_with(&[("pressure", 3)]).await;
    let producer = Producer::new(
        config(&cluster)
            .batch_size(1024)
            .buffer_memory(4096)
            .max_block(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(producer.partition_count("pressure").await.unwrap(), 3);
    // Hold every Produce response: batches stay in flight and keep their memory.
    cluster.delay_responses(ApiKey::Produce, Duration::from_millis(1500));
    let value = vec![7u8; 1100]; // one record per batch, > batch.size
    let mut futures = Vec::new();
    let err = loop {
        let i = futures.len() as i32;
        match producer
            .send(ProducerRecord::<String, _>::new("pressure", value.clone()).with_partition(i % 3))
            .await
        {
            Ok(f) => futures.push(f),
            Err(e) => break e,
        }
        assert!(
            futures.len() < 10,
            "buffer.memory must bound the queued bytes"
        );
    };
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(producer.metrics().buffer_used <= 4096);
    cluster.clear_faults();
    let sent = futures.len();
    for f in futures {
        f.await.unwrap();
    }
    // Memory is back: sends succeed again.
    producer
        .send_and_wait(ProducerRecord::<String, _>::new("pressure", value.clone()))
        .await
        .unwrap();
    assert_eq!(producer.metrics().records_sent, sent as u64 + 1);
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_retried_exactly_once_with_idempotence() {
    let cluster = cluster_with(&[("drops", 1)]).await;
    let producer = Producer::new(
        config(&cluster)
            .batch_size(512)
            .retry_backoff(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(producer.partition_count("drops").await.unwrap(), 1);
    cluster.drop_connections(ApiKey::Produce, 2);
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            producer
                .send(ProducerRecord::<String, _>::new("drops", format!("d{i}")))
                .await
                .unwrap(),
        );
    }
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.await.unwrap().offset, i as i64);
    }
    assert!(producer.metrics().retries >= 1);
    let log = read_partition(&cluster, "drops", 0, 100).await;
    assert_eq!(log.len(), 100, "no duplicates after disconnects");
    producer.close().await;
    cluster.shutdown().await;
}

/// A rough throughput figure (not a benchmark): `cargo test --release --test producer
/// throughput_smoke -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_smoke() {
    let cluster = cluster_with(&[("speed", 6)]).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    assert_eq!(producer.partition_count("speed").await.unwrap(), 6);
    let n = 200_000u64;
    let value = Bytes::from(vec![b'x'; 100]);
    let start = std::time::Instant::now();
    for _ in 0..n {
        producer
            .send_and_forget(ProducerRecord::<Bytes, _>::new("speed", value.clone()))
            .await
            .unwrap();
    }
    producer.flush().await;
    let elapsed = start.elapsed();
    let m = producer.metrics();
    assert_eq!(m.records_sent, n);
    eprintln!(
        "{n} records of 100 B, acks=all: {:.0} records/s, {} requests, {} batches",
        n as f64 / elapsed.as_secs_f64(),
        m.requests_sent,
        m.batches_sent
    );
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn message_too_large_splits_the_batch_and_delivers_every_record() {
    // The topic takes batches of at most 2,000 bytes; the producer builds 16 KiB batches.
    let cluster = Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .topic("small-batches", 1, 3)
        .topic_config("small-batches", "max.message.bytes", "2000")
        .build()
        .await
        .unwrap();
    for idempotent in [true, false] {
        let producer = Producer::new(
            config(&cluster)
                .idempotence(idempotent)
                .acks(if idempotent { Acks::All } else { Acks::Leader })
                // Without idempotence only one batch in flight keeps a split batch's parts
                // ahead of the later batches (as Java).
                .max_in_flight_requests_per_connection(if idempotent { 5 } else { 1 })
                .linger(Duration::from_millis(50))
                .build()
                .unwrap(),
        )
        .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..40u32 {
            let value = format!("{idempotent}-{i:04}-{}", "x".repeat(200));
            deliveries.push(
                producer
                    .send(ProducerRecord::<String, _>::new("small-batches", value))
                    .await
                    .unwrap(),
            );
        }
        let mut offsets = Vec::new();
        for d in deliveries {
            offsets.push(
                d.await
                    .unwrap_or_else(|e| panic!("idempotent={idempotent}: {e}"))
                    .offset,
            );
        }
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "in send order: {offsets:?}"
        );
        producer.close().await;
    }
    let records = read_partition(&cluster, "small-batches", 0, 80).await;
    let values: Vec<String> = records
        .iter()
        .map(|(_, _, v)| String::from_utf8(v.clone().unwrap().to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = [true, false]
        .iter()
        .flat_map(|idem| (0..40u32).map(move |i| format!("{idem}-{i:04}-{}", "x".repeat(200))))
        .collect();
    assert_eq!(values, expected, "every record once, in send order");
    cluster.shutdown().await;
}

#[tokio::test]
async fn fire_and_forget_failures_reach_the_error_hook() {
    let cluster = cluster_with(&[("forget", 1)]).await;
    let producer = Producer::new(
        config(&cluster)
            .idempotence(false)
            .acks(Acks::Leader)
            .build()
            .unwrap(),
    )
    .unwrap();
    let lost = Arc::new(Mutex::new(Vec::new()));
    let sink = lost.clone();
    producer.set_error_hook(move |l| sink.lock().unwrap().push(l.clone()));
    // Make sure the metadata is there, then make the next Produce fail for good.
    assert_eq!(producer.partition_count("forget").await.unwrap(), 1);
    cluster.inject_error(ApiKey::Produce, ErrorCode::TopicAuthorizationFailed, 1);
    for i in 0..3u8 {
        producer
            .send_and_forget(ProducerRecord::<String, _>::new("forget", vec![i]))
            .await
            .unwrap();
    }
    producer.flush().await;
    let lost = lost.lock().unwrap().clone();
    assert_eq!(lost.len(), 1, "one failed batch: {lost:?}");
    assert_eq!(
        (&*lost[0].topic, lost[0].partition, lost[0].records),
        ("forget", 0, 3)
    );
    assert!(
        lost[0]
            .error
            .to_string()
            .contains("TOPIC_AUTHORIZATION_FAILED"),
        "{}",
        lost[0].error
    );
    let m = producer.metrics();
    assert_eq!((m.records_failed, m.records_sent), (3, 0));
    // Later records are delivered and counted.
    producer
        .send_and_forget(ProducerRecord::<String, _>::new("forget", "ok"))
        .await
        .unwrap();
    producer.flush().await;
    assert_eq!(producer.metrics().records_sent, 1);
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn metadata_max_age_notices_added_partitions() {
    use kafkit::messages::create_partitions_request::CreatePartitionsTopic;
    use kafkit::messages::{CreatePartitionsRequest, TopicName};

    let cluster = cluster_with(&[("growing", 2)]).await;
    let producer = Producer::new(
        config(&cluster)
            .metadata_max_age(Duration::from_millis(100))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(producer.partition_count("growing").await.unwrap(), 2);
    producer
        .send_and_wait(ProducerRecord::<String, _>::new("growing", "before"))
        .await
        .unwrap();
    // Grow the topic behind the producer's back.
    let conn = kafkit::net::Connection::connect(
        cluster.bootstrap_servers().split(',').next().unwrap(),
        &kafkit::net::ConnectionConfig::default(),
    )
    .await
    .unwrap();
    let response = conn
        .send(
            CreatePartitionsRequest::default()
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(TopicName::from(
                            kafka_protocol::protocol::StrBytes::from_static_str("growing"),
                        ))
                        .with_count(4)
                        .with_assignments(None),
                ])
                .with_timeout_ms(10_000),
        )
        .await
        .unwrap();
    assert_eq!(response.results[0].error_code, 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while producer.partition_count("growing").await.unwrap() != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the producer never saw the new partitions"
        );
        // Wait for the producer's own periodic refresh (no error drives it).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let meta = producer
        .send_and_wait(ProducerRecord::<String, _>::new("growing", "after").with_partition(3))
        .await
        .unwrap();
    assert_eq!(meta.partition, 3);
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn metrics_report_rates_batch_sizes_and_compression() {
    let cluster = cluster_with(&[("metered", 2)]).await;
    let producer = Producer::new(
        config(&cluster)
            .set("compression.type", "gzip")
            .unwrap()
            .build()
            .unwrap(),
    )
    .unwrap();
    for i in 0..500u32 {
        producer
            .send_and_forget(ProducerRecord::<String, _>::new(
                "metered",
                format!("{i:05} the same words again and again and again"),
            ))
            .await
            .unwrap();
    }
    producer.flush().await;
    let m = producer.metrics();
    assert_eq!(m.records_sent, 500);
    assert!(
        m.batches_sent >= 1 && m.average_batch_bytes() > 0.0,
        "{m:?}"
    );
    assert!(
        m.compression_ratio() < 0.5,
        "gzip of repetitive values: {}",
        m.compression_ratio()
    );
    assert!(m.records_per_second() > 0.0 && m.bytes_per_second() > 0.0);
    assert_eq!(m.buffer_used, 0, "everything released after flush");
    assert_eq!(m.buffer_total, 32 * 1024 * 1024);
    assert_eq!(m.buffer_use(), 0.0);
    producer.close().await;
    cluster.shutdown().await;
}
