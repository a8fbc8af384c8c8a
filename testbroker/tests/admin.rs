//! The admin and data APIs the test broker serves, pinned down over the wire: CreateTopics,
//! DeleteTopics, CreatePartitions, DescribeConfigs / AlterConfigs / IncrementalAlterConfigs (and
//! that config changes take effect on the produce path), DescribeCluster, ListOffsets and
//! leader-epoch fencing, InitProducerId with idempotent produce, and DeleteRecords. Requests go
//! through `kafkit::net::Connection`, so `send` uses the newest version both sides know; older
//! versions are checked with `send_with_version` where their layout or semantics differ.
//!
//! The last test cross-checks with an independent admin client, kafka-python's
//! `KafkaAdminClient` (`tests/interop/kafka_python_admin.py`), in both directions. It is skipped
//! when kafka-python is missing unless `KAFKIT_REQUIRE_INTEROP` is set.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafkit::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafkit::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafkit::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafkit::messages::delete_topics_request::DeleteTopicState;
use kafkit::messages::describe_configs_request::DescribeConfigsResource;
use kafkit::messages::describe_configs_response::DescribeConfigsResult;
use kafkit::messages::fetch_response::PartitionData;
use kafkit::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafkit::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafkit::messages::metadata_request::MetadataRequestTopic;
use kafkit::messages::metadata_response::MetadataResponseTopic;
use kafkit::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkit::messages::produce_response::PartitionProduceResponse;
use kafkit::messages::{
    AlterConfigsRequest, ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProducerId, TopicName, TransactionalId, alter_configs_request,
    incremental_alter_configs_request,
};
use kafkit::net::Connection;
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, TimestampType};
use kafkit_testbroker::{Cluster, ClusterBuilder};
use support::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// DescribeConfigs / AlterConfigs resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// DescribeConfigs config sources.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;
/// ListOffsets special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// A base for record timestamps (in the past, within every default timestamp limit).
const T0: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fast() -> ClusterBuilder {
    Cluster::builder()
        .replica_fetch_wait_max(Duration::from_millis(50))
        .auto_create_topics(false)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

fn code(c: i16) -> ErrorCode {
    ErrorCode::from_code(c)
}

fn new_topic(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(tn(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        )
}

fn assigned_topic(name: &str, assignment: &[&[i32]]) -> CreatableTopic {
    new_topic(name, -1, -1, &[]).with_assignments(
        assignment
            .iter()
            .enumerate()
            .map(|(p, brokers)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(p as i32)
                    .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
            })
            .collect(),
    )
}

fn create_request(topics: Vec<CreatableTopic>, validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
}

async fn create_topics(
    conn: &Connection,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    conn.send(create_request(topics, validate_only))
        .await
        .expect("CreateTopics response")
}

/// Create one topic over the wire and check it worked.
async fn create_topic(conn: &Connection, name: &str, partitions: i32, rf: i16) {
    let r = create_topics(conn, vec![new_topic(name, partitions, rf, &[])], false).await;
    assert_eq!(
        code(r.topics[0].error_code),
        ErrorCode::None,
        "create {name}: {:?}",
        r.topics[0].error_message
    );
}

/// How `broker` answers Metadata for one topic (auto-creation off).
async fn topic_metadata(cluster: &Cluster, broker: i32, topic: &str) -> MetadataResponseTopic {
    let conn = connect(cluster, broker).await;
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(tn(topic))),
        ]));
    let mut response = conn.send(request).await.expect("Metadata response");
    assert_eq!(response.topics.len(), 1);
    response.topics.remove(0)
}

/// How every running broker answers Metadata for one topic.
async fn metadata_everywhere(cluster: &Cluster, topic: &str) -> Vec<(i32, MetadataResponseTopic)> {
    let mut out = Vec::new();
    for b in cluster.brokers() {
        out.push((b.id, topic_metadata(cluster, b.id, topic).await));
    }
    out
}

fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// Every running broker knows the topic with `partitions` partitions, each with
/// `replication_factor` replicas, all in sync, led by one of them; returns the partitions'
/// replica lists as broker 1 reports them.
async fn assert_topic_everywhere(
    cluster: &Cluster,
    topic: &str,
    partitions: usize,
    replication_factor: usize,
) -> Vec<Vec<i32>> {
    let id = cluster
        .metadata()
        .topic(topic)
        .expect("in the controller")
        .id;
    let mut first = None;
    for (broker, m) in metadata_everywhere(cluster, topic).await {
        assert_eq!(code(m.error_code), ErrorCode::None, "{topic} on {broker}");
        assert_eq!(m.topic_id, id, "{topic} id on {broker}");
        assert_eq!(m.partitions.len(), partitions, "{topic} on {broker}");
        for (i, p) in m.partitions.iter().enumerate() {
            let replicas = ids(&p.replica_nodes);
            assert_eq!(p.partition_index, i as i32);
            assert_eq!(
                replicas.len(),
                replication_factor,
                "{topic}-{i} on {broker}"
            );
            assert_eq!(sorted(ids(&p.isr_nodes)), sorted(replicas.clone()));
            assert!(replicas.contains(&p.leader_id.0), "{topic}-{i}: {p:?}");
        }
        let replicas: Vec<Vec<i32>> = m.partitions.iter().map(|p| ids(&p.replica_nodes)).collect();
        match &first {
            None => first = Some(replicas),
            Some(f) => assert_eq!(f, &replicas, "brokers disagree on {topic}"),
        }
    }
    first.expect("a running broker")
}

/// No running broker (nor the controller) knows the topic.
async fn assert_topic_gone(cluster: &Cluster, topic: &str) {
    assert!(cluster.metadata().topic(topic).is_none(), "{topic}");
    for (broker, m) in metadata_everywhere(cluster, topic).await {
        assert_eq!(
            code(m.error_code),
            ErrorCode::UnknownTopicOrPartition,
            "{topic} on {broker}"
        );
    }
}

async fn describe_configs(
    conn: &Connection,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect())),
    ]);
    let mut r = conn.send(request).await.expect("DescribeConfigs response");
    r.results.remove(0)
}

/// name -> (value, config_source)
fn config_map(result: &DescribeConfigsResult) -> BTreeMap<String, (String, i8)> {
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                (
                    c.value.as_deref().unwrap_or_default().to_string(),
                    c.config_source,
                ),
            )
        })
        .collect()
}

/// The topic's effective configs (name -> (value, source)) as `conn`'s broker describes them.
async fn topic_configs(conn: &Connection, topic: &str) -> BTreeMap<String, (String, i8)> {
    let r = describe_configs(conn, TOPIC, topic, None).await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{:?}", r.error_message);
    config_map(&r)
}

fn config(map: &BTreeMap<String, (String, i8)>, name: &str) -> (String, i8) {
    map.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {map:?}"))
}

fn val(v: &str, source: i8) -> (String, i8) {
    (v.to_string(), source)
}

fn incremental_request(
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configs(
                    ops.iter()
                        .map(|(name, op, value)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(s(name))
                                .with_config_operation(*op)
                                .with_value(value.map(s))
                        })
                        .collect(),
                ),
        ])
}

/// IncrementalAlterConfigs on one topic; the resource's error code.
async fn alter_incremental(
    conn: &Connection,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> ErrorCode {
    let r = conn
        .send(incremental_request(topic, ops, validate_only))
        .await
        .expect("IncrementalAlterConfigs response");
    assert_eq!(r.responses[0].resource_name.as_str(), topic);
    code(r.responses[0].error_code)
}

fn legacy_alter_request(topic: &str, configs: &[(&str, &str)]) -> AlterConfigsRequest {
    AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s(topic))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            ),
    ])
}

/// A batch with one record per timestamp (values "r0", "r1", ...).
fn batch_at(timestamps: &[i64], producer: Option<(i64, i16, i32)>, value_size: usize) -> Bytes {
    let mut options = BatchOptions::default();
    if let Some((id, epoch, seq)) = producer {
        options.producer_id = id;
        options.producer_epoch = epoch;
        options.base_sequence = seq;
    }
    let mut b = BatchBuilder::new(options);
    for (i, t) in timestamps.iter().enumerate() {
        let mut value = format!("r{i}").into_bytes();
        value.resize(value.len().max(value_size), b'.');
        b.append(*t, None, Some(&value), &[]).unwrap();
    }
    b.finish().unwrap()
}

/// Produce one batch; the whole partition response.
async fn produce_full(
    conn: &Connection,
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> PartitionProduceResponse {
    let topic_id = cluster
        .metadata()
        .topic(topic)
        .map(|t| t.id)
        .unwrap_or_default();
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(tn(topic))
                .with_topic_id(topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let mut response = conn.send(request).await.expect("Produce response");
    response.responses.remove(0).partition_responses.remove(0)
}

fn list_offsets_request(
    topic: &str,
    partition: i32,
    timestamp: i64,
    current_leader_epoch: i32,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(tn(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp)
                        .with_current_leader_epoch(current_leader_epoch),
                ]),
        ])
}

/// ListOffsets for one partition at the negotiated version (or `version`).
async fn list_offset(
    conn: &Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
    current_leader_epoch: i32,
    version: Option<i16>,
) -> ListOffsetsPartitionResponse {
    let request = list_offsets_request(topic, partition, timestamp, current_leader_epoch);
    let mut r = match version {
        Some(v) => conn.send_with_version(request, v).await,
        None => conn.send(request).await,
    }
    .expect("ListOffsets response");
    r.topics.remove(0).partitions.remove(0)
}

/// (error, offset, timestamp) of a ListOffsets lookup at the negotiated version.
async fn offset_for(conn: &Connection, topic: &str, timestamp: i64) -> (ErrorCode, i64, i64) {
    let p = list_offset(conn, topic, 0, timestamp, -1, None).await;
    (code(p.error_code), p.offset, p.timestamp)
}

/// One consumer fetch of partition 0 with a `current_leader_epoch`; the partition's data.
async fn fetch_at_epoch(
    conn: &Connection,
    cluster: &Cluster,
    topic: &str,
    offset: i64,
    current_leader_epoch: i32,
) -> PartitionData {
    fetch_partition(conn, cluster, topic, 0, offset, current_leader_epoch).await
}

fn delete_records_request(topic: &str, partition: i32, offset: i64) -> DeleteRecordsRequest {
    DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(tn(topic))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ])
}

/// DeleteRecords on partition 0: (error, low watermark).
async fn delete_records(conn: &Connection, topic: &str, offset: i64) -> (ErrorCode, i64) {
    let r: DeleteRecordsResponse = conn
        .send(delete_records_request(topic, 0, offset))
        .await
        .expect("DeleteRecords response");
    let p = &r.topics[0].partitions[0];
    (code(p.error_code), p.low_watermark)
}

fn partitions_request(
    topic: &str,
    count: i32,
    assignment: Option<&[&[i32]]>,
    validate_only: bool,
) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(tn(topic))
                .with_count(count)
                .with_assignments(assignment.map(|a| {
                    a.iter()
                        .map(|brokers| {
                            CreatePartitionsAssignment::default()
                                .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
                        })
                        .collect()
                })),
        ])
}

/// CreatePartitions for one topic; its error code.
async fn create_partitions(
    conn: &Connection,
    topic: &str,
    count: i32,
    assignment: Option<&[&[i32]]>,
    validate_only: bool,
) -> ErrorCode {
    let r: CreatePartitionsResponse = conn
        .send(partitions_request(topic, count, assignment, validate_only))
        .await
        .expect("CreatePartitions response");
    assert_eq!(r.results[0].name.0.as_str(), topic);
    let c = code(r.results[0].error_code);
    if c != ErrorCode::None {
        assert!(r.results[0].error_message.is_some(), "{c:?} has a message");
    }
    c
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("kafkit-admin-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn partition_dir(root: &Path, broker: i32, topic: &str, partition: i32) -> PathBuf {
    root.join(broker.to_string())
        .join(format!("{topic}-{partition}"))
}

// ---------------------------------------------------------------------------------------------
// CreateTopics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_topics_creates_everywhere_with_the_asked_layout() {
    let cluster = fast()
        .brokers(3)
        .default_partitions(2)
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 2).await;
    assert_eq!(version(&conn, ApiKey::CreateTopics), 7);

    let r = create_topics(
        &conn,
        vec![new_topic("orders", 6, 3, &[("retention.ms", "3600000")])],
        false,
    )
    .await;
    let t = &r.topics[0];
    assert_eq!(t.name.0.as_str(), "orders");
    assert_eq!(code(t.error_code), ErrorCode::None, "{:?}", t.error_message);
    assert_eq!((t.num_partitions, t.replication_factor), (6, 3));
    let id = cluster.metadata().topic("orders").unwrap().id;
    assert!(!id.is_nil());
    assert_eq!(t.topic_id, id, "v7 returns the topic id");
    let configs: BTreeMap<&str, (&str, i8)> = t
        .configs
        .as_ref()
        .expect("v5+ returns the configs")
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                (c.value.as_deref().unwrap(), c.config_source),
            )
        })
        .collect();
    assert_eq!(configs["retention.ms"], ("3600000", DYNAMIC_TOPIC_CONFIG));
    assert_eq!(configs["cleanup.policy"], ("delete", DEFAULT_CONFIG));
    assert_eq!(configs["min.insync.replicas"], ("1", DEFAULT_CONFIG));
    // Every broker answers Metadata with the new topic at once: no retry needed.
    assert_topic_everywhere(&cluster, "orders", 6, 3).await;
    let image = cluster.metadata();
    let topic = image.topic("orders").unwrap();
    assert_eq!(
        topic
            .config
            .overrides()
            .get("retention.ms")
            .map(String::as_str),
        Some("3600000")
    );

    // An explicit replica assignment is used as given; the first replica leads.
    let r = create_topics(
        &conn,
        vec![assigned_topic("placed", &[&[3, 1], &[2, 3], &[1, 2]])],
        false,
    )
    .await;
    let t = &r.topics[0];
    assert_eq!(code(t.error_code), ErrorCode::None, "{:?}", t.error_message);
    assert_eq!((t.num_partitions, t.replication_factor), (3, 2));
    let replicas = assert_topic_everywhere(&cluster, "placed", 3, 2).await;
    assert_eq!(replicas, vec![vec![3, 1], vec![2, 3], vec![1, 2]]);
    let leaders: Vec<i32> = (0..3)
        .map(|p| cluster.metadata().partition("placed", p).unwrap().leader)
        .collect();
    assert_eq!(leaders, vec![3, 2, 1]);

    // -1/-1: num.partitions (2 here) and default.replication.factor (3 brokers -> 3).
    let r = create_topics(&conn, vec![new_topic("defaults", -1, -1, &[])], false).await;
    let t = &r.topics[0];
    assert_eq!(code(t.error_code), ErrorCode::None, "{:?}", t.error_message);
    assert_eq!((t.num_partitions, t.replication_factor), (2, 3));
    assert_topic_everywhere(&cluster, "defaults", 2, 3).await;

    // validate_only answers as if created, and creates nothing.
    let version_before = cluster.metadata().version;
    let r = create_topics(&conn, vec![new_topic("dry", 4, 2, &[])], true).await;
    let t = &r.topics[0];
    assert_eq!(code(t.error_code), ErrorCode::None, "{:?}", t.error_message);
    assert_eq!((t.num_partitions, t.replication_factor), (4, 2));
    assert_eq!(cluster.metadata().version, version_before);
    assert_topic_gone(&cluster, "dry").await;
    // ... and still validates.
    let r = create_topics(
        &conn,
        vec![new_topic("dry", 0, 1, &[]), new_topic("orders", 1, 1, &[])],
        true,
    )
    .await;
    let codes: Vec<ErrorCode> = r.topics.iter().map(|t| code(t.error_code)).collect();
    assert_eq!(
        codes,
        vec![ErrorCode::InvalidPartitions, ErrorCode::TopicAlreadyExists]
    );

    // Every version creates the topic everywhere; v5+ reports the layout and configs, v7 the id.
    for v in 2..=7 {
        let name = format!("created-at-v{v}");
        let request = create_request(
            vec![new_topic(&name, 2, 2, &[("cleanup.policy", "compact")])],
            false,
        );
        let r = conn.send_with_version(request, v).await.unwrap();
        let t = &r.topics[0];
        assert_eq!(t.name.0.as_str(), name);
        assert_eq!(
            code(t.error_code),
            ErrorCode::None,
            "v{v}: {:?}",
            t.error_message
        );
        let id = cluster.metadata().topic(&name).unwrap().id;
        if v >= 5 {
            assert_eq!((t.num_partitions, t.replication_factor), (2, 2), "v{v}");
            let policy = t
                .configs
                .iter()
                .flatten()
                .find(|c| c.name.as_str() == "cleanup.policy")
                .unwrap();
            assert_eq!(
                (policy.value.as_deref(), policy.config_source),
                (Some("compact"), DYNAMIC_TOPIC_CONFIG),
                "v{v}"
            );
        }
        if v >= 7 {
            assert_eq!(t.topic_id, id);
        } else {
            assert!(t.topic_id.is_nil(), "v{v} has no topic id");
        }
        assert_topic_everywhere(&cluster, &name, 2, 2).await;
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn create_topics_refuses_what_kafka_refuses_topic_by_topic() {
    let cluster = fast()
        .brokers(3)
        .topic("orders", 1, 1)
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 1).await;
    let long = "x".repeat(250);
    let request = vec![
        (new_topic("", 1, 1, &[]), ErrorCode::InvalidTopicException),
        (new_topic(".", 1, 1, &[]), ErrorCode::InvalidTopicException),
        (new_topic("..", 1, 1, &[]), ErrorCode::InvalidTopicException),
        (
            new_topic("a b", 1, 1, &[]),
            ErrorCode::InvalidTopicException,
        ),
        (
            new_topic(&long, 1, 1, &[]),
            ErrorCode::InvalidTopicException,
        ),
        (
            new_topic("orders", 1, 1, &[]),
            ErrorCode::TopicAlreadyExists,
        ),
        (new_topic("zero", 0, 1, &[]), ErrorCode::InvalidPartitions),
        (
            new_topic("negative", -2, 1, &[]),
            ErrorCode::InvalidPartitions,
        ),
        (
            new_topic("too-wide", 1, 4, &[]),
            ErrorCode::InvalidReplicationFactor,
        ),
        (
            new_topic("no-replicas", 1, 0, &[]),
            ErrorCode::InvalidReplicationFactor,
        ),
        (
            new_topic("bad-value", 1, 1, &[("retention.ms", "soon")]),
            ErrorCode::InvalidConfig,
        ),
        (
            new_topic("bad-enum", 1, 1, &[("cleanup.policy", "shred")]),
            ErrorCode::InvalidConfig,
        ),
        (
            new_topic("bad-name", 1, 1, &[("no.such.config", "1")]),
            ErrorCode::InvalidConfig,
        ),
        (
            assigned_topic("same-broker-twice", &[&[1, 1]]),
            ErrorCode::InvalidReplicaAssignment,
        ),
        (
            assigned_topic("unknown-broker", &[&[1, 9]]),
            ErrorCode::InvalidReplicaAssignment,
        ),
        (
            assigned_topic("uneven", &[&[1, 2], &[3]]),
            ErrorCode::InvalidReplicaAssignment,
        ),
        (
            assigned_topic("both", &[&[1]]).with_num_partitions(1),
            ErrorCode::InvalidRequest,
        ),
        (new_topic("fine", 1, 1, &[]), ErrorCode::None),
    ];
    let (topics, expected): (Vec<_>, Vec<_>) = request.into_iter().unzip();
    let names: Vec<String> = topics.iter().map(|t| t.name.0.to_string()).collect();
    let r = create_topics(&conn, topics, false).await;
    assert_eq!(
        r.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .collect::<Vec<_>>(),
        names,
        "one result per topic, in order"
    );
    for (t, expected) in r.topics.iter().zip(expected) {
        let name = t.name.0.as_str();
        assert_eq!(
            code(t.error_code),
            expected,
            "{name:?}: {:?}",
            t.error_message
        );
        if expected != ErrorCode::None {
            assert!(t.error_message.is_some(), "{name:?} explains {expected:?}");
            assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
            if name != "orders" {
                assert!(cluster.metadata().topic(name).is_none(), "{name:?}");
            }
        }
    }
    assert_topic_everywhere(&cluster, "fine", 1, 1).await;
    assert_eq!(
        cluster.metadata().topics.keys().collect::<Vec<_>>(),
        vec!["fine", "orders"]
    );

    // A name given twice in one request is refused for both entries (Kafka: INVALID_REQUEST).
    let r = create_topics(
        &conn,
        vec![new_topic("twice", 1, 1, &[]), new_topic("twice", 2, 1, &[])],
        false,
    )
    .await;
    assert!(
        r.topics
            .iter()
            .all(|t| code(t.error_code) == ErrorCode::InvalidRequest)
    );
    assert_topic_gone(&cluster, "twice").await;
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// DeleteTopics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_topics_by_name_and_by_id_removes_metadata_and_files() {
    let dir = temp_dir("delete");
    let cluster = fast().brokers(3).data_dir(&dir).build().await.unwrap();
    let conn = connect(&cluster, 1).await;
    assert_eq!(version(&conn, ApiKey::DeleteTopics), 6);
    let topics = ["by-name-v5", "by-id", "by-name-v6", "by-name-v1", "kept"];
    for t in topics {
        create_topic(&conn, t, 2, 3).await;
        for p in 0..2 {
            let (_, leader) = leader_connection(&cluster, t, p).await;
            let (c, _) = produce(&leader, &cluster, t, p, batch(&[b"x"], None), -1).await;
            assert_eq!(c, ErrorCode::None);
        }
    }
    for t in topics {
        for broker in 1..=3 {
            for p in 0..2 {
                assert!(
                    partition_dir(&dir, broker, t, p).is_dir(),
                    "{t}-{p} on {broker}"
                );
            }
        }
    }
    let assert_files_gone = |topic: &str| {
        for broker in 1..=3 {
            for p in 0..2 {
                let path = partition_dir(&dir, broker, topic, p);
                assert!(!path.exists(), "{} still exists", path.display());
            }
        }
    };

    // v5 and older name topics.
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topic_names(vec![tn("by-name-v5"), tn("missing")]);
    let r = conn.send_with_version(request, 5).await.unwrap();
    let results: Vec<(Option<String>, ErrorCode)> = r
        .responses
        .iter()
        .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), code(t.error_code)))
        .collect();
    assert_eq!(
        results,
        vec![
            (Some("by-name-v5".into()), ErrorCode::None),
            (Some("missing".into()), ErrorCode::UnknownTopicOrPartition),
        ]
    );
    assert_topic_gone(&cluster, "by-name-v5").await;
    assert_files_gone("by-name-v5");

    // v6 names topics by id or by name.
    let by_id = cluster.metadata().topic("by-id").unwrap().id;
    let by_name = cluster.metadata().topic("by-name-v6").unwrap().id;
    let unknown = Uuid::new_v4();
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteTopicState::default().with_topic_id(by_id),
            DeleteTopicState::default().with_topic_id(unknown),
            DeleteTopicState::default().with_name(Some(tn("by-name-v6"))),
            DeleteTopicState::default().with_name(Some(tn("missing"))),
        ]);
    let r = conn.send(request).await.unwrap();
    let results: Vec<(Option<String>, Uuid, ErrorCode)> = r
        .responses
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()),
                t.topic_id,
                code(t.error_code),
            )
        })
        .collect();
    assert_eq!(results[0], (Some("by-id".into()), by_id, ErrorCode::None));
    assert_eq!(results[1].2, ErrorCode::UnknownTopicId);
    assert_eq!(
        results[2],
        (Some("by-name-v6".into()), by_name, ErrorCode::None)
    );
    assert_eq!(results[3].2, ErrorCode::UnknownTopicOrPartition);
    for t in ["by-id", "by-name-v6"] {
        assert_topic_gone(&cluster, t).await;
        assert_files_gone(t);
    }
    // Deleting an id again: it is unknown now.
    let again = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![DeleteTopicState::default().with_topic_id(by_id)]);
    let r = conn.send(again).await.unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::UnknownTopicId);

    // The oldest version still served.
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topic_names(vec![tn("by-name-v1")]);
    let r = conn.send_with_version(request, 1).await.unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::None);
    assert_topic_gone(&cluster, "by-name-v1").await;
    assert_files_gone("by-name-v1");

    // Untouched topics keep their data; a re-created name is a new, empty topic.
    assert_topic_everywhere(&cluster, "kept", 2, 3).await;
    assert_eq!(
        read_all(&cluster, "kept", 0).await,
        vec![Bytes::from_static(b"x")]
    );
    create_topic(&conn, "by-id", 2, 3).await;
    assert_ne!(cluster.metadata().topic("by-id").unwrap().id, by_id);
    let (_, leader) = leader_connection(&cluster, "by-id", 0).await;
    assert_eq!(offset_for(&leader, "by-id", LATEST).await.1, 0);
    assert!(read_all(&cluster, "by-id", 0).await.is_empty());

    cluster.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// CreatePartitions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_partitions_grows_topics_and_never_shrinks_them() {
    let cluster = fast().brokers(3).topic("t", 3, 3).build().await.unwrap();
    let conn = connect(&cluster, 3).await;
    assert_eq!(version(&conn, ApiKey::CreatePartitions), 3);

    assert_eq!(
        create_partitions(&conn, "t", 5, None, false).await,
        ErrorCode::None
    );
    assert_topic_everywhere(&cluster, "t", 5, 3).await;
    // A new partition takes writes at once, acks=all with its full ISR.
    let (_, leader) = leader_connection(&cluster, "t", 4).await;
    let (c, base) = produce(&leader, &cluster, "t", 4, batch(&[b"new"], None), -1).await;
    assert_eq!((c, base), (ErrorCode::None, 0));
    assert_eq!(
        read_all(&cluster, "t", 4).await,
        vec![Bytes::from_static(b"new")]
    );

    // Never shrink, never stay equal.
    for count in [5, 4, 0] {
        assert_eq!(
            create_partitions(&conn, "t", count, None, false).await,
            ErrorCode::InvalidPartitions,
            "count {count}"
        );
    }
    // validate_only checks and changes nothing.
    assert_eq!(
        create_partitions(&conn, "t", 9, None, true).await,
        ErrorCode::None
    );
    assert_eq!(cluster.metadata().topic("t").unwrap().partitions.len(), 5);

    // An explicit assignment for the new partitions.
    let assignment: &[&[i32]] = &[&[3, 1, 2], &[2, 3, 1]];
    assert_eq!(
        create_partitions(&conn, "t", 7, Some(assignment), false).await,
        ErrorCode::None
    );
    let replicas = assert_topic_everywhere(&cluster, "t", 7, 3).await;
    assert_eq!(&replicas[5..], &[vec![3, 1, 2], vec![2, 3, 1]]);
    assert_eq!(cluster.metadata().partition("t", 5).unwrap().leader, 3);
    // Bad assignments: a broker twice, the wrong replication factor, the wrong count, an
    // unknown broker.
    let bad: [&[&[i32]]; 4] = [
        &[&[1, 1, 2]],
        &[&[1, 2]],
        &[&[1, 2, 3], &[2, 3, 1]],
        &[&[1, 2, 9]],
    ];
    for assignment in bad {
        assert_eq!(
            create_partitions(&conn, "t", 8, Some(assignment), false).await,
            ErrorCode::InvalidReplicaAssignment,
            "{assignment:?}"
        );
    }
    assert_eq!(
        create_partitions(&conn, "missing", 2, None, false).await,
        ErrorCode::UnknownTopicOrPartition
    );
    // v0 (not flexible) works the same.
    let r = conn
        .send_with_version(partitions_request("t", 8, None, false), 0)
        .await
        .unwrap();
    assert_eq!(code(r.results[0].error_code), ErrorCode::None);
    assert_topic_everywhere(&cluster, "t", 8, 3).await;
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn describe_configs_reports_defaults_overrides_filters_and_brokers() {
    let cluster = fast()
        .brokers(3)
        .topic("plain", 1, 1)
        .topic("tuned", 1, 3)
        .topic_config("tuned", "retention.ms", "3600000")
        .topic_config("tuned", "min.insync.replicas", "2")
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 1).await;
    assert_eq!(version(&conn, ApiKey::DescribeConfigs), 4);

    let plain = describe_configs(&conn, TOPIC, "plain", None).await;
    assert_eq!(code(plain.error_code), ErrorCode::None);
    assert_eq!(
        (plain.resource_type, plain.resource_name.as_str()),
        (TOPIC, "plain")
    );
    let plain_map = config_map(&plain);
    assert_eq!(
        config(&plain_map, "retention.ms"),
        val("604800000", DEFAULT_CONFIG)
    );
    assert_eq!(
        config(&plain_map, "cleanup.policy"),
        val("delete", DEFAULT_CONFIG)
    );
    assert_eq!(
        config(&plain_map, "min.insync.replicas"),
        val("1", DEFAULT_CONFIG)
    );
    assert_eq!(
        config(&plain_map, "max.message.bytes"),
        val("1048588", DEFAULT_CONFIG)
    );
    assert_eq!(
        config(&plain_map, "message.timestamp.type"),
        val("CreateTime", DEFAULT_CONFIG)
    );
    assert!(
        plain_map
            .values()
            .all(|(_, source)| *source == DEFAULT_CONFIG)
    );
    let retention = plain
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(
        (retention.config_type, retention.read_only),
        (5, false),
        "LONG"
    );

    let tuned = topic_configs(&conn, "tuned").await;
    assert_eq!(
        config(&tuned, "retention.ms"),
        val("3600000", DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        config(&tuned, "min.insync.replicas"),
        val("2", DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        config(&tuned, "cleanup.policy"),
        val("delete", DEFAULT_CONFIG)
    );
    assert_eq!(tuned.len(), plain_map.len(), "every known config is listed");

    // configuration_keys filters (an unknown key just matches nothing).
    let filtered = describe_configs(
        &conn,
        TOPIC,
        "tuned",
        Some(&["retention.ms", "cleanup.policy", "no.such.config"]),
    )
    .await;
    assert_eq!(
        config_map(&filtered).into_iter().collect::<Vec<_>>(),
        vec![
            ("cleanup.policy".to_string(), val("delete", DEFAULT_CONFIG)),
            (
                "retention.ms".to_string(),
                val("3600000", DYNAMIC_TOPIC_CONFIG)
            ),
        ]
    );
    let none = describe_configs(&conn, TOPIC, "tuned", Some(&[])).await;
    assert!(none.configs.is_empty());

    let missing = describe_configs(&conn, TOPIC, "missing", None).await;
    assert_eq!(code(missing.error_code), ErrorCode::UnknownTopicOrPartition);
    assert!(missing.error_message.is_some() && missing.configs.is_empty());

    // A broker resource.
    let broker = describe_configs(&conn, BROKER, "1", None).await;
    assert_eq!(code(broker.error_code), ErrorCode::None);
    let broker_map = config_map(&broker);
    assert_eq!(
        config(&broker_map, "node.id"),
        val("1", STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        config(&broker_map, "broker.id"),
        val("1", STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        config(&broker_map, "auto.create.topics.enable"),
        val("false", STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        config(&broker_map, "default.replication.factor"),
        val("3", STATIC_BROKER_CONFIG)
    );
    assert!(broker.configs.iter().all(|c| c.read_only));
    let keyed = describe_configs(&conn, BROKER, "1", Some(&["num.partitions"])).await;
    assert_eq!(
        config_map(&keyed).into_iter().collect::<Vec<_>>(),
        vec![("num.partitions".to_string(), val("1", STATIC_BROKER_CONFIG))]
    );
    let unknown_broker = describe_configs(&conn, BROKER, "9", None).await;
    assert_eq!(code(unknown_broker.error_code), ErrorCode::InvalidRequest);

    // Every version: v1+ has config_source, v3+ config_type.
    for v in 1..=4 {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s("tuned"))
                .with_configuration_keys(Some(vec![s("retention.ms"), s("segment.bytes")])),
        ]);
        let r = conn.send_with_version(request, v).await.unwrap();
        let result = &r.results[0];
        assert_eq!(code(result.error_code), ErrorCode::None, "v{v}");
        let map = config_map(result);
        assert_eq!(
            config(&map, "retention.ms"),
            val("3600000", DYNAMIC_TOPIC_CONFIG),
            "v{v}"
        );
        assert_eq!(
            config(&map, "segment.bytes"),
            val("1073741824", DEFAULT_CONFIG),
            "v{v}"
        );
        if v >= 3 {
            assert!(
                result
                    .configs
                    .iter()
                    .all(|c| c.config_type == 5 || c.config_type == 3)
            );
        }
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn alter_configs_replaces_the_whole_override_set() {
    let cluster = fast()
        .brokers(3)
        .topic("t", 1, 3)
        .topic_config("t", "retention.ms", "1000")
        .topic_config("t", "min.insync.replicas", "2")
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 2).await;
    assert_eq!(version(&conn, ApiKey::AlterConfigs), 2);

    let r = conn
        .send(legacy_alter_request(
            "t",
            &[("retention.ms", "2000"), ("cleanup.policy", "compact")],
        ))
        .await
        .unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::None);
    assert_eq!(
        (
            r.responses[0].resource_type,
            r.responses[0].resource_name.as_str()
        ),
        (TOPIC, "t")
    );
    let expected_overrides: BTreeMap<String, String> = [
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("retention.ms".to_string(), "2000".to_string()),
    ]
    .into();
    assert_eq!(
        cluster.metadata().topic("t").unwrap().config.overrides(),
        &expected_overrides
    );
    // Every broker describes the new set at once; the unlisted override is gone.
    for b in cluster.brokers() {
        let configs = topic_configs(&connect(&cluster, b.id).await, "t").await;
        assert_eq!(
            config(&configs, "retention.ms"),
            val("2000", DYNAMIC_TOPIC_CONFIG)
        );
        assert_eq!(
            config(&configs, "cleanup.policy"),
            val("compact", DYNAMIC_TOPIC_CONFIG)
        );
        assert_eq!(
            config(&configs, "min.insync.replicas"),
            val("1", DEFAULT_CONFIG)
        );
    }

    // validate_only and refused changes leave everything as it was.
    let r = conn
        .send(legacy_alter_request("t", &[("segment.bytes", "4096")]).with_validate_only(true))
        .await
        .unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::None);
    for bad in [
        &[("retention.ms", "soon")][..],
        &[("segment.bytes", "4096"), ("min.insync.replicas", "0")][..],
        &[("no.such.config", "1")][..],
    ] {
        let r = conn.send(legacy_alter_request("t", bad)).await.unwrap();
        assert_eq!(
            code(r.responses[0].error_code),
            ErrorCode::InvalidConfig,
            "{bad:?}"
        );
        assert!(r.responses[0].error_message.is_some());
    }
    assert_eq!(
        cluster.metadata().topic("t").unwrap().config.overrides(),
        &expected_overrides
    );
    let r = conn
        .send(legacy_alter_request("missing", &[("retention.ms", "1")]))
        .await
        .unwrap();
    assert_eq!(
        code(r.responses[0].error_code),
        ErrorCode::UnknownTopicOrPartition
    );
    // Broker configs are static on the test broker.
    let mut broker = legacy_alter_request("1", &[("num.partitions", "3")]);
    broker.resources[0].resource_type = BROKER;
    let r = conn.send(broker).await.unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::InvalidRequest);

    // v0 (not flexible): an empty set removes every override.
    let r = conn
        .send_with_version(legacy_alter_request("t", &[]), 0)
        .await
        .unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::None);
    assert!(
        cluster
            .metadata()
            .topic("t")
            .unwrap()
            .config
            .overrides()
            .is_empty()
    );
    let configs = topic_configs(&conn, "t").await;
    assert!(
        configs
            .values()
            .all(|(_, source)| *source == DEFAULT_CONFIG)
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn incremental_alter_configs_set_delete_append_subtract() {
    let cluster = fast()
        .brokers(3)
        .topic("t", 1, 3)
        .topic_config("t", "retention.ms", "1000")
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 3).await;
    assert_eq!(version(&conn, ApiKey::IncrementalAlterConfigs), 1);
    let policy = |configs: BTreeMap<String, (String, i8)>| config(&configs, "cleanup.policy");

    let steps: [(i8, Option<&str>, (String, i8)); 5] = [
        (SET, Some("compact"), val("compact", DYNAMIC_TOPIC_CONFIG)),
        (
            APPEND,
            Some("delete"),
            val("compact,delete", DYNAMIC_TOPIC_CONFIG),
        ),
        // Appending what is there already changes nothing.
        (
            APPEND,
            Some("compact"),
            val("compact,delete", DYNAMIC_TOPIC_CONFIG),
        ),
        (
            SUBTRACT,
            Some("compact"),
            val("delete", DYNAMIC_TOPIC_CONFIG),
        ),
        (DELETE, None, val("delete", DEFAULT_CONFIG)),
    ];
    for (op, value, expected) in steps {
        let c = alter_incremental(&conn, "t", &[("cleanup.policy", op, value)], false).await;
        assert_eq!(c, ErrorCode::None, "op {op} {value:?}");
        // Every broker sees the change at once.
        for b in cluster.brokers() {
            let configs = topic_configs(&connect(&cluster, b.id).await, "t").await;
            assert_eq!(policy(configs), expected, "op {op} {value:?} on {}", b.id);
        }
    }
    // Other overrides are untouched by incremental changes.
    assert_eq!(
        config(&topic_configs(&conn, "t").await, "retention.ms"),
        val("1000", DYNAMIC_TOPIC_CONFIG)
    );

    // Refusals are atomic per resource: nothing of a refused resource is applied.
    let before = cluster.metadata().topic("t").unwrap().config.clone();
    let refused: [&[(&str, i8, Option<&str>)]; 5] = [
        &[("retention.ms", SET, Some("soon"))],
        &[
            ("segment.bytes", SET, Some("4096")),
            ("cleanup.policy", SET, Some("shred")),
        ],
        // APPEND and SUBTRACT apply only to list configs.
        &[("retention.ms", APPEND, Some("5"))],
        &[("no.such.config", SET, Some("1"))],
        &[
            ("segment.bytes", SET, Some("4096")),
            ("min.insync.replicas", SET, Some("0")),
        ],
    ];
    for ops in refused {
        assert_eq!(
            alter_incremental(&conn, "t", ops, false).await,
            ErrorCode::InvalidConfig,
            "{ops:?}"
        );
    }
    // validate_only changes nothing, even when valid.
    assert_eq!(
        alter_incremental(&conn, "t", &[("retention.ms", SET, Some("5"))], true).await,
        ErrorCode::None
    );
    assert_eq!(
        alter_incremental(&conn, "t", &[("retention.ms", SET, Some("x"))], true).await,
        ErrorCode::InvalidConfig
    );
    assert_eq!(cluster.metadata().topic("t").unwrap().config, before);
    assert_eq!(
        alter_incremental(&conn, "missing", &[("retention.ms", SET, Some("5"))], false).await,
        ErrorCode::UnknownTopicOrPartition
    );

    // v0 (not flexible) works the same.
    let request = incremental_request("t", &[("retention.ms", DELETE, None)], false);
    let r = conn.send_with_version(request, 0).await.unwrap();
    assert_eq!(code(r.responses[0].error_code), ErrorCode::None);
    assert_eq!(
        config(&topic_configs(&conn, "t").await, "retention.ms"),
        val("604800000", DEFAULT_CONFIG)
    );
    assert!(
        cluster
            .metadata()
            .topic("t")
            .unwrap()
            .config
            .overrides()
            .is_empty()
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn config_changes_take_effect_on_the_produce_path() {
    let cluster = fast()
        .brokers(3)
        .replica_lag_time_max(Duration::from_millis(300))
        .topic("t", 1, 3)
        .build()
        .await
        .unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    let admin = connect(&cluster, if leader == 1 { 2 } else { 1 }).await;

    // max.message.bytes: a batch over the limit is refused whole.
    let big = batch_at(&[T0], None, 500);
    let small = batch_at(&[T0], None, 10);
    assert!(big.len() > 300 && small.len() < 300);
    let r = produce_full(&conn, &cluster, "t", 0, big.clone(), -1).await;
    assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, 0));
    let c = alter_incremental(
        &admin,
        "t",
        &[("max.message.bytes", SET, Some("300"))],
        false,
    )
    .await;
    assert_eq!(c, ErrorCode::None);
    let r = produce_full(&conn, &cluster, "t", 0, big.clone(), -1).await;
    assert_eq!(code(r.error_code), ErrorCode::MessageTooLarge);
    let r = produce_full(&conn, &cluster, "t", 0, small.clone(), -1).await;
    assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, 1));
    let c = alter_incremental(&admin, "t", &[("max.message.bytes", DELETE, None)], false).await;
    assert_eq!(c, ErrorCode::None);
    let r = produce_full(&conn, &cluster, "t", 0, big, -1).await;
    assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, 2));

    // message.timestamp.type=LogAppendTime: the broker stamps the batch and says when.
    let r = produce_full(&conn, &cluster, "t", 0, small.clone(), -1).await;
    assert_eq!(
        (code(r.error_code), r.log_append_time_ms),
        (ErrorCode::None, -1)
    );
    let c = alter_incremental(
        &admin,
        "t",
        &[("message.timestamp.type", SET, Some("LogAppendTime"))],
        false,
    )
    .await;
    assert_eq!(c, ErrorCode::None);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r = produce_full(
        &conn,
        &cluster,
        "t",
        0,
        batch_at(&[T0, T0 + 1], None, 0),
        -1,
    )
    .await;
    assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, 4));
    let append_time = r.log_append_time_ms;
    assert!(append_time >= before, "{append_time} >= {before}");
    let data = fetch_at_epoch(&conn, &cluster, "t", 4, -1).await;
    let batch = BatchIter::new(data.records.unwrap())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.max_timestamp(), append_time);
    let stamps: Vec<(i64, i64)> = batch
        .records()
        .unwrap()
        .map(|r| r.map(|r| (r.offset, r.timestamp)).unwrap())
        .collect();
    assert_eq!(stamps, vec![(4, append_time), (5, append_time)]);
    // ... and ListOffsets by timestamp goes by the append time.
    assert_eq!(
        offset_for(&conn, "t", T0).await,
        (ErrorCode::None, 0, T0),
        "CreateTime"
    );
    assert_eq!(
        offset_for(&conn, "t", T0 + 1).await,
        (ErrorCode::None, 4, append_time)
    );
    assert_eq!(
        offset_for(&conn, "t", append_time).await,
        (ErrorCode::None, 4, append_time)
    );

    // min.insync.replicas=3: acks=all writes fail once a follower has left the ISR.
    let c = alter_incremental(
        &admin,
        "t",
        &[("min.insync.replicas", SET, Some("3"))],
        false,
    )
    .await;
    assert_eq!(c, ErrorCode::None);
    let r = produce_full(&conn, &cluster, "t", 0, small.clone(), -1).await;
    assert_eq!(code(r.error_code), ErrorCode::None, "3 in sync");
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
    // acks=1 does not care; the write makes the paused follower lag.
    let r = produce_full(&conn, &cluster, "t", 0, small.clone(), 1).await;
    assert_eq!(code(r.error_code), ErrorCode::None);
    let isr = cluster.wait_for_isr("t", 0, 2, WAIT).await.unwrap();
    assert!(!isr.contains(&follower));
    let end = cluster
        .replica_info("t", 0)
        .into_iter()
        .find(|r| r.is_leader)
        .unwrap()
        .log_end_offset;
    let r = produce_full(&conn, &cluster, "t", 0, small.clone(), -1).await;
    assert_eq!(code(r.error_code), ErrorCode::NotEnoughReplicas);
    let info = cluster.replica_info("t", 0);
    assert_eq!(
        info.iter().find(|r| r.is_leader).unwrap().log_end_offset,
        end,
        "a refused write is not appended"
    );
    // Lowering the requirement lets acks=all writes through again.
    let c = alter_incremental(
        &admin,
        "t",
        &[("min.insync.replicas", SET, Some("2"))],
        false,
    )
    .await;
    assert_eq!(c, ErrorCode::None);
    let r = produce_full(&conn, &cluster, "t", 0, small, -1).await;
    assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, end));
    cluster.resume_replication(follower);
    cluster.wait_for_isr("t", 0, 3, WAIT).await.unwrap();
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// DescribeCluster
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn describe_cluster_reports_id_controller_and_fenced_brokers() {
    let cluster = fast()
        .brokers(3)
        .cluster_id("admin-test-cluster-01")
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 3).await;
    assert_eq!(version(&conn, ApiKey::DescribeCluster), 2);
    let expected: Vec<(i32, String, i32, bool)> = cluster
        .brokers()
        .iter()
        .map(|b| {
            (
                b.id,
                b.addr.ip().to_string(),
                i32::from(b.addr.port()),
                false,
            )
        })
        .collect();
    let brokers = |r: &kafkit::messages::DescribeClusterResponse| -> Vec<(i32, String, i32, bool)> {
        r.brokers
            .iter()
            .map(|b| (b.broker_id.0, b.host.to_string(), b.port, b.is_fenced))
            .collect()
    };
    for v in 0..=2 {
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(v >= 2);
        let r = conn.send_with_version(request, v).await.unwrap();
        assert_eq!(code(r.error_code), ErrorCode::None);
        assert_eq!(r.cluster_id.as_str(), "admin-test-cluster-01");
        assert_eq!(r.cluster_id.as_str(), cluster.cluster_id());
        assert_eq!(r.controller_id.0, 1);
        assert_eq!(brokers(&r), expected, "v{v}");
    }

    // The controller (lowest live id) stops: it is fenced, and another broker controls.
    cluster.stop_broker(1).await.unwrap();
    let r = conn
        .send(DescribeClusterRequest::default().with_include_fenced_brokers(true))
        .await
        .unwrap();
    assert_eq!(r.controller_id.0, 2);
    let mut fenced = expected.clone();
    fenced[0].3 = true;
    assert_eq!(brokers(&r), fenced);
    let r = conn.send(DescribeClusterRequest::default()).await.unwrap();
    assert_eq!(
        brokers(&r),
        expected[1..].to_vec(),
        "fenced brokers left out"
    );
    let r = conn
        .send_with_version(DescribeClusterRequest::default(), 1)
        .await
        .unwrap();
    assert_eq!(
        brokers(&r),
        expected[1..].to_vec(),
        "v1 never lists fenced brokers"
    );
    // Back: unfenced.
    cluster.start_broker(1).await.unwrap();
    let r = conn
        .send(DescribeClusterRequest::default().with_include_fenced_brokers(true))
        .await
        .unwrap();
    assert!(r.brokers.iter().all(|b| !b.is_fenced) && r.brokers.len() == 3);
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// ListOffsets and leader epochs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_offsets_earliest_latest_by_timestamp_and_max_timestamp() {
    let cluster = fast().brokers(1).topic("t", 1, 1).build().await.unwrap();
    let conn = connect(&cluster, 1).await;
    assert_eq!(version(&conn, ApiKey::ListOffsets), 10);
    // Empty log.
    assert_eq!(
        offset_for(&conn, "t", EARLIEST).await,
        (ErrorCode::None, 0, -1)
    );
    assert_eq!(
        offset_for(&conn, "t", LATEST).await,
        (ErrorCode::None, 0, -1)
    );
    assert_eq!(offset_for(&conn, "t", T0).await, (ErrorCode::None, -1, -1));
    assert_eq!(
        offset_for(&conn, "t", MAX_TIMESTAMP).await,
        (ErrorCode::None, -1, -1)
    );

    // offsets 0..=2 at T0, T0+10, T0+20; 3..=4 at T0+50, T0+30 (out of order); 5 at T0+40.
    for (timestamps, base) in [
        (&[T0, T0 + 10, T0 + 20][..], 0),
        (&[T0 + 50, T0 + 30][..], 3),
        (&[T0 + 40][..], 5),
    ] {
        let r = produce_full(&conn, &cluster, "t", 0, batch_at(timestamps, None, 0), -1).await;
        assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, base));
    }
    assert_eq!(offset_for(&conn, "t", EARLIEST).await.1, 0);
    assert_eq!(
        offset_for(&conn, "t", LATEST).await.1,
        6,
        "the high watermark"
    );
    // The first record whose timestamp is at or after the target.
    for (target, expected) in [
        (0, (0, T0)),
        (T0, (0, T0)),
        (T0 + 10, (1, T0 + 10)),
        (T0 + 11, (2, T0 + 20)),
        (T0 + 21, (3, T0 + 50)),
        (T0 + 50, (3, T0 + 50)),
    ] {
        assert_eq!(
            offset_for(&conn, "t", target).await,
            (ErrorCode::None, expected.0, expected.1),
            "target {target}"
        );
    }
    // After every record: no offset.
    assert_eq!(
        offset_for(&conn, "t", T0 + 51).await,
        (ErrorCode::None, -1, -1)
    );
    // KIP-734: the record with the largest timestamp.
    assert_eq!(
        offset_for(&conn, "t", MAX_TIMESTAMP).await,
        (ErrorCode::None, 3, T0 + 50)
    );

    // v4+ carries the leader epoch; older versions answer the same offsets without it.
    let epoch = cluster.metadata().partition("t", 0).unwrap().leader_epoch;
    for v in 1..=10 {
        let p = list_offset(&conn, "t", 0, T0 + 11, -1, Some(v)).await;
        assert_eq!(
            (code(p.error_code), p.offset, p.timestamp),
            (ErrorCode::None, 2, T0 + 20),
            "v{v}"
        );
        let latest = list_offset(&conn, "t", 0, LATEST, -1, Some(v)).await;
        assert_eq!(latest.offset, 6, "v{v}");
        let expected_epoch = if v >= 4 { epoch } else { -1 };
        assert_eq!(latest.leader_epoch, expected_epoch, "v{v}");
    }
    let p = list_offset(&conn, "t", 7, LATEST, -1, None).await;
    assert_eq!(code(p.error_code), ErrorCode::UnknownTopicOrPartition);
    let p = list_offset(&conn, "missing", 0, LATEST, -1, None).await;
    assert_eq!(code(p.error_code), ErrorCode::UnknownTopicOrPartition);
    cluster.shutdown().await;
}

#[tokio::test]
async fn stale_and_future_leader_epochs_are_fenced_in_list_offsets_and_fetch() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let (old_leader, old_conn) = leader_connection(&cluster, "t", 0).await;
    for i in 0..3 {
        let (c, base) = produce(&old_conn, &cluster, "t", 0, batch(&[b"v"], None), -1).await;
        assert_eq!((c, base), (ErrorCode::None, i));
    }
    let epoch0 = cluster.metadata().partition("t", 0).unwrap().leader_epoch;
    let p = list_offset(&old_conn, "t", 0, LATEST, epoch0, None).await;
    assert_eq!(
        (code(p.error_code), p.offset, p.leader_epoch),
        (ErrorCode::None, 3, epoch0)
    );

    cluster
        .wait_for_replicas_in_sync("t", 0, WAIT)
        .await
        .unwrap();
    let new_leader = cluster.metadata().partition("t", 0).unwrap().replicas[1];
    assert_ne!(new_leader, old_leader);
    cluster.move_leader("t", 0, new_leader).await.unwrap();
    let epoch1 = cluster.metadata().partition("t", 0).unwrap().leader_epoch;
    assert_eq!(epoch1, epoch0 + 1);
    let conn = connect(&cluster, new_leader).await;

    // ListOffsets.
    let cases = [
        (epoch0, ErrorCode::FencedLeaderEpoch),
        (epoch1 + 1, ErrorCode::UnknownLeaderEpoch),
        (epoch1, ErrorCode::None),
        (-1, ErrorCode::None),
    ];
    for (epoch, expected) in cases {
        let p = list_offset(&conn, "t", 0, EARLIEST, epoch, None).await;
        assert_eq!(code(p.error_code), expected, "ListOffsets at epoch {epoch}");
        if expected == ErrorCode::None {
            assert_eq!((p.offset, p.leader_epoch), (0, epoch1));
        }
    }
    // Fetch.
    for (epoch, expected) in cases {
        let data = fetch_at_epoch(&conn, &cluster, "t", 0, epoch).await;
        assert_eq!(code(data.error_code), expected, "Fetch at epoch {epoch}");
        let records = BatchIter::new(data.records.unwrap_or_default()).count();
        assert_eq!(records > 0, expected == ErrorCode::None, "epoch {epoch}");
    }
    // The old leader no longer answers for the partition.
    let p = list_offset(&old_conn, "t", 0, LATEST, epoch0, None).await;
    assert_eq!(code(p.error_code), ErrorCode::NotLeaderOrFollower);
    let data = fetch_at_epoch(&old_conn, &cluster, "t", 0, epoch1).await;
    assert_eq!(code(data.error_code), ErrorCode::NotLeaderOrFollower);
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// InitProducerId and idempotent produce
// ---------------------------------------------------------------------------------------------

fn init_producer_id(producer: Option<(i64, i16)>) -> InitProducerIdRequest {
    let (id, epoch) = producer.unwrap_or((-1, -1));
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

#[tokio::test]
async fn idempotent_produce_dedups_resends_and_fences_old_epochs() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    assert!(version(&conn, ApiKey::InitProducerId) >= 3);
    let r = conn.send(init_producer_id(None)).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert!(pid >= 0);
    assert_eq!(epoch, 0);
    // Another producer (any broker, v0) gets another id.
    let other = connect(&cluster, if leader == 1 { 2 } else { 1 }).await;
    let r = other
        .send_with_version(init_producer_id(None), 0)
        .await
        .unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None);
    assert_ne!(r.producer_id.0, pid);

    let log_end = || {
        cluster
            .replica_info("t", 0)
            .into_iter()
            .find(|r| r.is_leader)
            .unwrap()
            .log_end_offset
    };
    let b0 = batch(&[b"a", b"b", b"c"], Some((pid, epoch, 0)));
    let b3 = batch(&[b"d", b"e"], Some((pid, epoch, 3)));
    let b5 = batch(&[b"f"], Some((pid, epoch, 5)));
    for (b, expected) in [(&b0, 0), (&b3, 3), (&b5, 5)] {
        let (c, base) = produce(&conn, &cluster, "t", 0, b.clone(), -1).await;
        assert_eq!((c, base), (ErrorCode::None, expected));
    }
    assert_eq!(log_end(), 6);
    // Resends of appended batches answer with the original offsets and append nothing.
    for (b, expected) in [(&b3, 3), (&b0, 0), (&b5, 5)] {
        let (c, base) = produce(&conn, &cluster, "t", 0, b.clone(), -1).await;
        assert_eq!((c, base), (ErrorCode::None, expected), "duplicate");
        assert_eq!(log_end(), 6);
    }
    // A gap in the sequence.
    let gap = batch(&[b"g"], Some((pid, epoch, 10)));
    let (c, _) = produce(&conn, &cluster, "t", 0, gap, -1).await;
    assert_eq!(c, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(log_end(), 6);

    // KIP-360: InitProducerId with the current id and epoch bumps the epoch.
    let r = conn
        .send(init_producer_id(Some((pid, epoch))))
        .await
        .unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None);
    assert_eq!((r.producer_id.0, r.producer_epoch), (pid, epoch + 1));
    let bumped = r.producer_epoch;
    // The new epoch starts at sequence 0 ...
    let (c, _) = produce(
        &conn,
        &cluster,
        "t",
        0,
        batch(&[b"h"], Some((pid, bumped, 6))),
        -1,
    )
    .await;
    assert_eq!(c, ErrorCode::OutOfOrderSequenceNumber);
    let (c, base) = produce(
        &conn,
        &cluster,
        "t",
        0,
        batch(&[b"h"], Some((pid, bumped, 0))),
        -1,
    )
    .await;
    assert_eq!((c, base), (ErrorCode::None, 6));
    // ... and fences the old one.
    let (c, _) = produce(
        &conn,
        &cluster,
        "t",
        0,
        batch(&[b"z"], Some((pid, epoch, 6))),
        -1,
    )
    .await;
    assert_eq!(c, ErrorCode::InvalidProducerEpoch);
    assert_eq!(log_end(), 7);
    let values = read_all(&cluster, "t", 0).await;
    assert_eq!(
        values,
        ["a", "b", "c", "d", "e", "f", "h"]
            .iter()
            .map(|v| Bytes::from(v.as_bytes().to_vec()))
            .collect::<Vec<_>>()
    );

    // Transactions are not supported: an error at once, not a hang.
    let transactional =
        init_producer_id(None).with_transactional_id(Some(TransactionalId(s("tx-1"))));
    let r = tokio::time::timeout(WAIT, conn.send(transactional))
        .await
        .expect("InitProducerId with a transactional id answers")
        .unwrap();
    assert_eq!(code(r.error_code), ErrorCode::InvalidRequest);
    assert_eq!(r.producer_id.0, -1);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(Some(TransactionalId(s("tx-1"))))
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(tn("t"))
                .with_topic_id(cluster.metadata().topic("t").unwrap().id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[b"tx"], None))),
                ]),
        ]);
    let r = tokio::time::timeout(WAIT, conn.send(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        code(r.responses[0].partition_responses[0].error_code),
        ErrorCode::InvalidTxnState
    );
    assert_eq!(log_end(), 7);
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// DeleteRecords
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_records_moves_the_log_start_offset() {
    let cluster = fast().brokers(3).topic("t", 1, 3).build().await.unwrap();
    let (leader, conn) = leader_connection(&cluster, "t", 0).await;
    assert_eq!(version(&conn, ApiKey::DeleteRecords), 2);
    for i in 0..10 {
        let v = format!("v{i}");
        let (c, base) = produce(&conn, &cluster, "t", 0, batch(&[v.as_bytes()], None), -1).await;
        assert_eq!((c, base), (ErrorCode::None, i));
    }

    assert_eq!(delete_records(&conn, "t", 4).await, (ErrorCode::None, 4));
    let data = fetch_at_epoch(&conn, &cluster, "t", 2, -1).await;
    assert_eq!(code(data.error_code), ErrorCode::OffsetOutOfRange);
    assert_eq!(data.log_start_offset, 4);
    let (c, values) = fetch(&conn, &cluster, "t", 0, 4).await;
    assert_eq!(c, ErrorCode::None);
    assert_eq!(
        values.first().map(|(o, v)| (*o, v.clone())),
        Some((4, Bytes::from("v4")))
    );
    assert_eq!(
        offset_for(&conn, "t", EARLIEST).await,
        (ErrorCode::None, 4, -1)
    );
    assert_eq!(offset_for(&conn, "t", LATEST).await.1, 10);

    // Below the current start: nothing moves back.
    assert_eq!(delete_records(&conn, "t", 2).await, (ErrorCode::None, 4));
    // Beyond the high watermark.
    assert_eq!(
        delete_records(&conn, "t", 11).await,
        (ErrorCode::OffsetOutOfRange, -1)
    );
    assert_eq!(offset_for(&conn, "t", EARLIEST).await.1, 4);
    // -1: up to the high watermark.
    assert_eq!(delete_records(&conn, "t", -1).await, (ErrorCode::None, 10));
    assert_eq!(offset_for(&conn, "t", EARLIEST).await.1, 10);
    assert_eq!(offset_for(&conn, "t", LATEST).await.1, 10);
    let (c, values) = fetch(&conn, &cluster, "t", 0, 10).await;
    assert_eq!((c, values.len()), (ErrorCode::None, 0));
    // The log goes on from there.
    let (c, base) = produce(&conn, &cluster, "t", 0, batch(&[b"after"], None), -1).await;
    assert_eq!((c, base), (ErrorCode::None, 10));
    let (c, values) = fetch(&conn, &cluster, "t", 0, 10).await;
    assert_eq!(
        (c, values),
        (ErrorCode::None, vec![(10, Bytes::from("after"))])
    );

    let r = conn
        .send(delete_records_request("missing", 0, 1))
        .await
        .unwrap();
    assert_eq!(
        code(r.topics[0].partitions[0].error_code),
        ErrorCode::UnknownTopicOrPartition
    );

    // The followers moved their log start too (they had to fetch past it for the acks=all
    // write to complete), so after a leader change the deleted records stay deleted.
    let infos = cluster.replica_info("t", 0);
    assert_eq!(infos.len(), 3);
    assert!(infos.iter().all(|r| r.log_start_offset == 10), "{infos:?}");
    let follower = cluster
        .metadata()
        .partition("t", 0)
        .unwrap()
        .replicas
        .iter()
        .copied()
        .find(|&r| r != leader)
        .unwrap();
    cluster.move_leader("t", 0, follower).await.unwrap();
    let new_leader = connect(&cluster, follower).await;
    assert_eq!(offset_for(&new_leader, "t", EARLIEST).await.1, 10);
    assert_eq!(
        code(
            fetch_at_epoch(&new_leader, &cluster, "t", 9, -1)
                .await
                .error_code
        ),
        ErrorCode::OffsetOutOfRange
    );
    // Only the leader deletes records.
    assert_eq!(
        delete_records(&conn, "t", 11).await.0,
        ErrorCode::NotLeaderOrFollower
    );
    for v in 0..=2 {
        let r = new_leader
            .send_with_version(delete_records_request("t", 0, 11), v)
            .await
            .unwrap();
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (code(p.error_code), p.low_watermark),
            (ErrorCode::None, 11),
            "v{v}"
        );
    }
    cluster.shutdown().await;
}

/// ListOffsets by timestamp after DeleteRecords moved the log start into the middle of a
/// segment: the answer is the first record at or after the target that is still in the log
/// (Kafka's `LogSegment.searchForTimestamp` goes on to later batches).
#[tokio::test]
async fn list_offsets_by_timestamp_skips_records_below_the_log_start() {
    let cluster = fast().brokers(1).topic("t", 1, 1).build().await.unwrap();
    let conn = connect(&cluster, 1).await;
    for i in 0..10 {
        let r = produce_full(&conn, &cluster, "t", 0, batch_at(&[T0 + i], None, 0), -1).await;
        assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, i));
    }
    assert_eq!(delete_records(&conn, "t", 4).await, (ErrorCode::None, 4));
    assert_eq!(
        offset_for(&conn, "t", 0).await,
        (ErrorCode::None, 4, T0 + 4)
    );
    assert_eq!(
        offset_for(&conn, "t", T0 + 2).await,
        (ErrorCode::None, 4, T0 + 4)
    );
    assert_eq!(
        offset_for(&conn, "t", T0 + 6).await,
        (ErrorCode::None, 6, T0 + 6)
    );
    assert_eq!(
        offset_for(&conn, "t", MAX_TIMESTAMP).await,
        (ErrorCode::None, 9, T0 + 9)
    );
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// kafka-python's KafkaAdminClient
// ---------------------------------------------------------------------------------------------

/// Whether a kafka-python with the 3.x admin API (dict-style `create_topics`, `alter_configs`
/// with `incremental=`) is importable.
fn kafka_python_available() -> bool {
    python_peer(
        "import inspect; from kafka.admin import KafkaAdminClient as A; \
         assert 'incremental' in inspect.signature(A.alter_configs).parameters, \
         'kafka-python >= 3 is needed for the admin interop test'",
        "kafka-python admin",
    )
}

#[test]
fn kafka_python_admin_client_agrees_with_the_wire_both_ways() {
    if !kafka_python_available() {
        return;
    }
    let (rust_topic, py_topic) = ("from-rust", "from-python");
    let cluster = fast()
        .brokers(3)
        .cluster_id("interop-admin-cluster")
        .build_blocking()
        .expect("cluster");
    // Rust creates a topic over the wire for kafka-python to read back.
    cluster.block_on(async {
        let conn = connect(&cluster, 1).await;
        let r = create_topics(
            &conn,
            vec![new_topic(rust_topic, 4, 3, &[("retention.ms", "123456")])],
            false,
        )
        .await;
        assert_eq!(code(r.topics[0].error_code), ErrorCode::None);
        let c = alter_incremental(
            &conn,
            rust_topic,
            &[("cleanup.policy", SET, Some("compact"))],
            false,
        )
        .await;
        assert_eq!(c, ErrorCode::None);
    });

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python_admin.py");
    let out = Command::new(python())
        .arg(&script)
        .args([&cluster.bootstrap_servers(), rust_topic, py_topic])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kafka_python_admin.py failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let has = |line: &str| {
        assert!(
            lines.contains(&line),
            "missing '{line}' in:\n{stdout}\nstderr:\n{stderr}"
        );
    };

    // What Rust made, kafka-python read.
    has("cluster interop-admin-cluster controller 1 brokers 1,2,3");
    has("from-rust partitions 4 replication 3 in-sync yes");
    has("from-rust config cleanup.policy compact DYNAMIC_TOPIC_CONFIG");
    has("from-rust config retention.ms 123456 DYNAMIC_TOPIC_CONFIG");
    has("from-rust modified cleanup.policy,retention.ms");
    // What kafka-python did, as it saw it.
    has("from-python created");
    has("from-python altered incremental");
    has("from-python altered legacy");
    has("from-python partitions 5 replication 2 in-sync yes");
    has("from-python config max.message.bytes 65536 DYNAMIC_TOPIC_CONFIG");
    has("from-python config retention.ms 7200000 DYNAMIC_TOPIC_CONFIG");
    has("from-python config segment.ms 3600000 DYNAMIC_TOPIC_CONFIG");
    has("from-python-doomed listed yes");
    has("from-python-doomed deleted");
    has("from-python-doomed listed no");
    has("done");

    // What kafka-python did, as the cluster and the wire see it.
    let image = cluster.metadata();
    let topic = image.topic(py_topic).expect("kafka-python created it");
    assert_eq!(topic.partitions.len(), 5);
    assert!(
        topic
            .partitions
            .iter()
            .all(|p| p.replicas.len() == 2 && p.isr.len() == 2)
    );
    let overrides: Vec<(&str, &str)> = topic
        .config
        .overrides()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        overrides,
        vec![
            ("max.message.bytes", "65536"),
            ("retention.ms", "7200000"),
            ("segment.ms", "3600000"),
        ]
    );
    assert!(image.topic("from-python-doomed").is_none());
    assert!(image.topic(rust_topic).is_some());
    cluster.block_on(async {
        assert_topic_everywhere(&cluster, py_topic, 5, 2).await;
        assert_topic_gone(&cluster, "from-python-doomed").await;
        let conn = connect(&cluster, 2).await;
        let configs = topic_configs(&conn, py_topic).await;
        assert_eq!(
            config(&configs, "max.message.bytes"),
            val("65536", DYNAMIC_TOPIC_CONFIG)
        );
        assert_eq!(
            config(&configs, "retention.ms"),
            val("7200000", DYNAMIC_TOPIC_CONFIG)
        );
        assert_eq!(
            config(&configs, "cleanup.policy"),
            val("delete", DEFAULT_CONFIG)
        );
        // The new max.message.bytes holds on the produce path.
        let (_, leader) = leader_connection(&cluster, py_topic, 4).await;
        let r = produce_full(
            &leader,
            &cluster,
            py_topic,
            4,
            batch_at(&[T0], None, 70_000),
            -1,
        )
        .await;
        assert_eq!(code(r.error_code), ErrorCode::MessageTooLarge);
        let r = produce_full(
            &leader,
            &cluster,
            py_topic,
            4,
            batch_at(&[T0], None, 10),
            -1,
        )
        .await;
        assert_eq!((code(r.error_code), r.base_offset), (ErrorCode::None, 0));
    });
    cluster.shutdown();
}
