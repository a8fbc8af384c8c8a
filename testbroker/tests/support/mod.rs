//! Wire-level helpers for the test broker's integration tests: produce and fetch through
//! `kafkit::net` with batches built by `kafkit::record`, the way any client would.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafkit::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkit::messages::fetch_response::PartitionData;
use kafkit::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkit::messages::{ApiKey, FetchRequest, ProduceRequest, TopicName};
use kafkit::net::{Connection, ConnectionConfig};
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions};
use kafkit_testbroker::Cluster;

/// A connection to broker `id`.
pub async fn connect(cluster: &Cluster, id: i32) -> Connection {
    let addr = cluster
        .broker_addr(id)
        .expect("broker is running")
        .to_string();
    let config = ConnectionConfig {
        request_timeout: Duration::from_secs(20),
        ..ConnectionConfig::default()
    };
    Connection::connect(&addr, &config).await.expect("connect")
}

/// A connection to the current leader of a partition (waiting for one to be elected).
pub async fn leader_connection(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
) -> (i32, Connection) {
    let leader = cluster
        .wait_for_leader(topic, partition, Duration::from_secs(10))
        .await
        .expect("a leader");
    (leader, connect(cluster, leader).await)
}

/// A batch of `values` with optional idempotent producer fields.
pub fn batch(values: &[&[u8]], producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut options = BatchOptions::default();
    if let Some((id, epoch, seq)) = producer {
        options.producer_id = id;
        options.producer_epoch = epoch;
        options.base_sequence = seq;
    }
    let mut b = BatchBuilder::new(options);
    for (i, v) in values.iter().enumerate() {
        b.append(1_700_000_000_000 + i as i64, Some(b"k"), Some(v), &[])
            .unwrap();
    }
    b.finish().unwrap()
}

/// Produce one batch; the partition's error code and base offset.
pub async fn produce(
    conn: &Connection,
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> (ErrorCode, i64) {
    let topic_id = cluster
        .metadata()
        .topic(topic)
        .map(|t| t.id)
        .unwrap_or_default();
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(15_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_topic_id(topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = conn.send(request).await.expect("produce response");
    let p = &response.responses[0].partition_responses[0];
    (ErrorCode::from_code(p.error_code), p.base_offset)
}

/// One consumer fetch (no waiting) from `offset`, claiming `current_leader_epoch` (-1: none);
/// the partition's data as the broker answered it.
pub async fn fetch_partition(
    conn: &Connection,
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    offset: i64,
    current_leader_epoch: i32,
) -> PartitionData {
    let topic_id = cluster
        .metadata()
        .topic(topic)
        .map(|t| t.id)
        .unwrap_or_default();
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(50 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_topic_id(topic_id)
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(current_leader_epoch)
                        .with_partition_max_bytes(50 << 20),
                ]),
        ]);
    let mut response = conn.send(request).await.expect("fetch response");
    response.responses.remove(0).partitions.remove(0)
}

/// Fetch everything committed from `offset` (one fetch); the error and the values read.
pub async fn fetch(
    conn: &Connection,
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (ErrorCode, Vec<(i64, Bytes)>) {
    let data = &fetch_partition(conn, cluster, topic, partition, offset, -1).await;
    let mut values = Vec::new();
    for batch in BatchIter::new(data.records.clone().unwrap_or_default()) {
        for record in batch.unwrap().records().unwrap() {
            let record = record.unwrap();
            if record.offset >= offset {
                values.push((record.offset, record.value.unwrap_or_default()));
            }
        }
    }
    (ErrorCode::from_code(data.error_code), values)
}

/// Every committed value of a partition, read from its current leader.
pub async fn read_all(cluster: &Cluster, topic: &str, partition: i32) -> Vec<Bytes> {
    let (_, conn) = leader_connection(cluster, topic, partition).await;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (code, values) = fetch(&conn, cluster, topic, partition, offset).await;
        assert_eq!(code, ErrorCode::None, "fetch from {offset}");
        if values.is_empty() {
            return out;
        }
        offset = values.last().unwrap().0 + 1;
        out.extend(values.into_iter().map(|(_, v)| v));
    }
}

/// The API version the connection negotiated for `api`.
pub fn version(conn: &Connection, api: ApiKey) -> i16 {
    conn.versions().version(api).unwrap()
}

/// The Python interpreter the interop tests run (`PYTHON`, default `python3`).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether `python -c probe` succeeds. If not, the test must skip: this prints why, or panics
/// when `KAFKIT_REQUIRE_INTEROP` is set (CI), so a missing peer never passes silently there.
pub fn python_peer(probe: &str, what: &str) -> bool {
    let out = std::process::Command::new(python())
        .args(["-c", probe])
        .output();
    let ok = matches!(&out, Ok(out) if out.status.success());
    if !ok {
        let why = match out {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        if std::env::var_os("KAFKIT_REQUIRE_INTEROP").is_some() {
            panic!("KAFKIT_REQUIRE_INTEROP is set but {what} is not usable: {why}");
        }
        eprintln!("skipping {what} interop: {why}");
    }
    ok
}
