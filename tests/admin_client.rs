//! `kafkit::admin::AdminClient` against a 3-broker in-process cluster: every operation, its
//! errors, and cross-checks with an independent client, kafka-python's `KafkaAdminClient`
//! (`tests/interop/admin_kafka_python.py`): what kafkit creates, grows or reconfigures is read
//! back identically by kafka-python, and the other way round.
//!
//! Both clients' answers are rendered as the same canonical text lines and compared as
//! strings. The kafka-python tests are skipped with a printed reason when python3 with
//! kafka-python is missing, unless `KAFKIT_REQUIRE_INTEROP` is set. Nothing sleeps to
//! synchronise: every wait is on a condition with a deadline.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::admin::{
    AdminClient, AdminConfig, AdminError, AdminOptions, AlterConfigOp, ConfigEntry, ConfigResource,
    ConfigSource, GroupDescription, NewPartitions, NewTopic, OffsetSpec, TopicDescription,
};
use kafkit::cluster::Metadata;
use kafkit::consumer::assignor::{Assignor, RangeAssignor};
use kafkit::consumer::group::{GroupMembership, GroupSettings, OffsetAndMetadata};
use kafkit::net::{ConnectionConfig, ConnectionPool};
use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::Cluster;

const WAIT: Duration = Duration::from_secs(30);

async fn cluster() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .build()
        .await
        .expect("cluster starts")
}

fn admin(cluster: &Cluster) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .default_api_timeout(WAIT)
            .build()
            .expect("config"),
    )
    .expect("admin client")
}

fn opts() -> AdminOptions {
    AdminOptions::default()
}

fn code(result: &Result<impl std::fmt::Debug, AdminError>) -> Option<ErrorCode> {
    match result {
        Ok(_) => None,
        Err(e) => e.error_code(),
    }
}

async fn create(admin: &AdminClient, topic: NewTopic) {
    let name = topic.name.clone();
    let results = admin
        .create_topics(vec![topic], opts())
        .await
        .expect("create");
    results[&name].as_ref().expect("topic created");
}

async fn describe(admin: &AdminClient, topic: &str) -> TopicDescription {
    admin
        .describe_topics(&[topic], opts())
        .await
        .expect("describe")[topic]
        .clone()
        .expect("topic described")
}

async fn configs(admin: &AdminClient, resource: ConfigResource) -> Vec<ConfigEntry> {
    admin
        .describe_configs(vec![resource.clone()], opts())
        .await
        .expect("describe configs")[&resource]
        .clone()
        .expect("configs described")
}

fn config_value(entries: &[ConfigEntry], name: &str) -> Option<(String, ConfigSource)> {
    entries
        .iter()
        .find(|e| e.name == name)
        .map(|e| (e.value.clone().unwrap_or_default(), e.source))
}

/// Waits until every partition of `topic` has a leader and its full replica set in sync (a
/// just-created or grown topic settles quickly on the test broker).
async fn settled(admin: &AdminClient, topic: &str) -> TopicDescription {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = describe(admin, topic).await;
        if !d.partitions.is_empty()
            && d.partitions
                .iter()
                .all(|p| p.leader.is_some() && p.isr.len() == p.replicas.len())
        {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "topic {topic} did not settle: {d:?}"
        );
        // Metadata is not pushed to clients: ask again after a short back-off (the condition
        // above, not this pause, is what the test waits on).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Produces `count` records to each partition of `topic` and waits for every ack.
async fn produce(cluster: &Cluster, topic: &'static str, partitions: i32, count: usize) {
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .build()
            .expect("producer config"),
    )
    .expect("producer");
    let mut acks = Vec::new();
    for p in 0..partitions {
        for i in 0..count {
            acks.push(
                producer
                    .send(
                        ProducerRecord::<String, _>::new(topic, format!("v{i}")).with_partition(p),
                    )
                    .await
                    .expect("enqueued"),
            );
        }
    }
    for ack in acks {
        ack.await.expect("acked");
    }
    producer.close().await;
}

// ---- canonical text shared with tests/interop/admin_kafka_python.py -------------------------

fn ints(values: &[i32]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn render_topic(d: &TopicDescription) -> Vec<String> {
    let mut lines = vec![format!(
        "topic {} id {} internal {}",
        d.name, d.topic_id, d.internal
    )];
    for p in &d.partitions {
        lines.push(
            format!(
                "partition {} leader {} replicas {} isr {} offline {}",
                p.partition,
                p.leader.unwrap_or(-1),
                ints(&p.replicas),
                ints(&p.isr),
                ints(&p.offline)
            )
            .trim_end()
            .to_string(),
        );
    }
    lines
}

fn render_configs(entries: &[ConfigEntry]) -> Vec<String> {
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} value={} source={} read_only={} sensitive={}",
                e.name,
                e.value.as_deref().unwrap_or("null"),
                e.source.name(),
                e.read_only,
                e.sensitive
            )
        })
        .collect();
    lines.sort();
    lines
}

fn render_group(g: &GroupDescription) -> Vec<String> {
    let mut lines = vec![
        format!("state {}", g.state),
        format!("protocol_type {}", g.protocol_type),
        format!("protocol {}", g.protocol),
    ];
    let mut members: Vec<String> = g
        .members
        .iter()
        .map(|m| {
            let mut parts: Vec<(String, i32)> = m
                .assignment
                .iter()
                .flat_map(|a| a.partitions.iter())
                .map(|tp| (tp.topic.to_string(), tp.partition))
                .collect();
            parts.sort();
            let assignment = parts
                .iter()
                .map(|(t, p)| format!("{t}:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            format!(
                "member {} client {} host {} assignment {}",
                m.member_id, m.client_id, m.host, assignment
            )
            .trim_end()
            .to_string()
        })
        .collect();
    members.sort();
    lines.extend(members);
    lines.iter().map(|l| l.trim_end().to_string()).collect()
}

fn render_offsets(offsets: impl IntoIterator<Item = (TopicPartition, i64)>) -> Vec<String> {
    let mut lines: Vec<String> = offsets
        .into_iter()
        .map(|(tp, o)| format!("{}:{} {o}", tp.topic, tp.partition))
        .collect();
    lines.sort();
    lines
}

/// kafka-python's answer, run off the async runtime (the brokers run on it).
async fn py(python: &str, cluster: &Cluster, command: &str, arg: Option<String>) -> Vec<String> {
    let (python, bootstrap, command) = (
        python.to_string(),
        cluster.bootstrap_servers(),
        command.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        common::kafka_python_admin(&python, &bootstrap, &command, arg.as_deref())
    })
    .await
    .expect("python runner")
}

fn quoted(s: &str) -> Option<String> {
    Some(format!("\"{s}\""))
}

// ---- kafkit alone ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_partitions_and_their_errors() {
    let cluster = cluster().await;
    let admin = admin(&cluster);

    // Cluster.
    let described = admin
        .describe_cluster(opts())
        .await
        .expect("describe cluster");
    assert_eq!(described.cluster_id, cluster.cluster_id());
    assert_eq!(
        described.brokers.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(described.controller.is_some_and(|c| (1..=3).contains(&c)));

    // Create: one good, one with an explicit assignment, one invalid RF, one validate-only.
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("orders", 3, 2).with_config("retention.ms", "123456"),
                NewTopic::with_assignment("placed", [(0, vec![3, 1]), (1, vec![2, 3])]),
                NewTopic::new("too-replicated", 1, 4),
                NewTopic::new("bad-partitions", 0, 1),
            ],
            opts(),
        )
        .await
        .expect("create topics");
    let orders = results["orders"].clone().expect("orders created");
    assert_eq!((orders.partitions, orders.replication_factor), (3, 2));
    assert!(!orders.topic_id.is_nil());
    results["placed"].as_ref().expect("placed created");
    assert_eq!(
        code(&results["too-replicated"]),
        Some(ErrorCode::InvalidReplicationFactor),
        "{:?}",
        results["too-replicated"]
    );
    assert_eq!(
        code(&results["bad-partitions"]),
        Some(ErrorCode::InvalidPartitions),
        "{:?}",
        results["bad-partitions"]
    );
    let validated = admin
        .create_topics(
            vec![NewTopic::new("dry-run", 2, 1)],
            opts().validate_only(true),
        )
        .await
        .expect("validate");
    validated["dry-run"].as_ref().expect("valid");
    let names: Vec<String> = admin
        .list_topics(false, opts())
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(!names.contains(&"dry-run".to_string()), "{names:?}");
    let defaults = admin
        .create_topics(vec![NewTopic::with_defaults("defaults")], opts())
        .await
        .expect("create with broker defaults")["defaults"]
        .clone()
        .expect("created with broker defaults");
    let described = settled(&admin, "defaults").await;
    assert_eq!(described.partitions.len() as i32, defaults.partitions);
    assert_eq!(
        described.partitions[0].replicas.len() as i16,
        defaults.replication_factor
    );
    admin
        .delete_topics(&["defaults"], opts())
        .await
        .expect("delete")["defaults"]
        .as_ref()
        .expect("deleted");
    let again = admin
        .create_topics(vec![NewTopic::new("orders", 3, 2)], opts())
        .await
        .expect("create again");
    let err = again["orders"].clone().unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::TopicAlreadyExists),
        "{err}"
    );
    assert!(!err.is_retriable());

    // List and describe.
    let names: Vec<String> = admin
        .list_topics(false, opts())
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["orders".to_string(), "placed".to_string()]);
    let orders = settled(&admin, "orders").await;
    assert_eq!(orders.partitions.len(), 3);
    assert!(orders.partitions.iter().all(|p| p.replicas.len() == 2));
    let placed = settled(&admin, "placed").await;
    assert_eq!(placed.partitions[0].replicas, vec![3, 1]);
    assert_eq!(placed.partitions[1].replicas, vec![2, 3]);
    assert_eq!(placed.partitions[0].leader, Some(3));
    let missing = admin
        .describe_topics(&["no-such-topic"], opts())
        .await
        .expect("describe");
    assert_eq!(
        code(&missing["no-such-topic"]),
        Some(ErrorCode::UnknownTopicOrPartition)
    );

    // Partitions: grow; never shrink or stay (a clear error naming both counts).
    let grown = admin
        .create_partitions(
            BTreeMap::from([("orders".to_string(), NewPartitions::increase_to(5))]),
            opts(),
        )
        .await
        .expect("create partitions");
    grown["orders"].as_ref().expect("grown");
    assert_eq!(settled(&admin, "orders").await.partitions.len(), 5);
    let validated = admin
        .create_partitions(
            BTreeMap::from([("orders".to_string(), NewPartitions::increase_to(9))]),
            opts().validate_only(true),
        )
        .await
        .expect("validate partitions");
    validated["orders"].as_ref().expect("valid");
    assert_eq!(describe(&admin, "orders").await.partitions.len(), 5);
    for requested in [5, 2] {
        let refused = admin
            .create_partitions(
                BTreeMap::from([("orders".to_string(), NewPartitions::increase_to(requested))]),
                opts(),
            )
            .await
            .expect("create partitions");
        let err = refused["orders"].clone().unwrap_err();
        assert_eq!(err.error_code(), Some(ErrorCode::InvalidPartitions));
        let text = err.to_string();
        assert!(
            text.contains("5 partitions") && text.contains(&requested.to_string()),
            "{text}"
        );
    }
    let unknown = admin
        .create_partitions(
            BTreeMap::from([("no-such-topic".to_string(), NewPartitions::increase_to(4))]),
            opts(),
        )
        .await
        .expect("create partitions");
    assert_eq!(
        code(&unknown["no-such-topic"]),
        Some(ErrorCode::UnknownTopicOrPartition)
    );

    // Delete.
    let deleted = admin
        .delete_topics(&["placed", "no-such-topic"], opts())
        .await
        .expect("delete");
    deleted["placed"].as_ref().expect("placed deleted");
    assert_eq!(
        code(&deleted["no-such-topic"]),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let names: Vec<String> = admin
        .list_topics(false, opts())
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["orders".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_are_described_and_altered() {
    let cluster = cluster().await;
    let admin = admin(&cluster);
    create(
        &admin,
        NewTopic::new("cfg", 1, 3).with_config("retention.ms", "123456"),
    )
    .await;
    let topic = ConfigResource::Topic("cfg".into());
    let entries = configs(&admin, topic.clone()).await;
    assert_eq!(
        config_value(&entries, "retention.ms"),
        Some(("123456".into(), ConfigSource::DynamicTopicConfig))
    );
    let (_, source) = config_value(&entries, "cleanup.policy").expect("cleanup.policy listed");
    assert_eq!(source, ConfigSource::DefaultConfig);

    // Incremental: set one, append to a list, revert another.
    let results = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                topic.clone(),
                vec![
                    AlterConfigOp::set("max.message.bytes", "65536"),
                    AlterConfigOp::delete("retention.ms"),
                ],
            )]),
            opts(),
        )
        .await
        .expect("alter");
    results[&topic].as_ref().expect("altered");
    let entries = configs(&admin, topic.clone()).await;
    assert_eq!(
        config_value(&entries, "max.message.bytes"),
        Some(("65536".into(), ConfigSource::DynamicTopicConfig))
    );
    assert_eq!(
        config_value(&entries, "retention.ms").map(|(_, s)| s),
        Some(ConfigSource::DefaultConfig)
    );

    // Validate-only changes nothing.
    let results = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                topic.clone(),
                vec![AlterConfigOp::set("max.message.bytes", "1000")],
            )]),
            opts().validate_only(true),
        )
        .await
        .expect("validate");
    results[&topic].as_ref().expect("valid");
    assert_eq!(
        config_value(&configs(&admin, topic.clone()).await, "max.message.bytes").map(|(v, _)| v),
        Some("65536".to_string())
    );

    // Legacy AlterConfigs replaces the whole dynamic set.
    let results = admin
        .alter_configs(
            BTreeMap::from([(
                topic.clone(),
                BTreeMap::from([("segment.ms".to_string(), "3600000".to_string())]),
            )]),
            opts(),
        )
        .await
        .expect("legacy alter");
    results[&topic].as_ref().expect("legacy altered");
    let entries = configs(&admin, topic.clone()).await;
    assert_eq!(
        config_value(&entries, "segment.ms"),
        Some(("3600000".into(), ConfigSource::DynamicTopicConfig))
    );
    assert_eq!(
        config_value(&entries, "max.message.bytes").map(|(_, s)| s),
        Some(ConfigSource::DefaultConfig)
    );

    // Broker configs come from the named broker; unknown topics and brokers fail per item.
    let broker = ConfigResource::Broker(2);
    let entries = configs(&admin, broker.clone()).await;
    assert_eq!(
        config_value(&entries, "broker.id").map(|(v, _)| v),
        Some("2".to_string())
    );
    let missing = ConfigResource::Topic("no-such-topic".into());
    let results = admin
        .describe_configs(vec![missing.clone(), ConfigResource::Broker(99)], opts())
        .await
        .expect("describe");
    assert_eq!(
        code(&results[&missing]),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    assert!(results[&ConfigResource::Broker(99)].is_err());
    let results = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                topic.clone(),
                vec![AlterConfigOp::set("no.such.config", "1")],
            )]),
            opts(),
        )
        .await
        .expect("alter");
    assert!(results[&topic].is_err(), "{:?}", results[&topic]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_listed_and_records_deleted() {
    let cluster = cluster().await;
    let admin = admin(&cluster);
    create(&admin, NewTopic::new("log", 2, 3)).await;
    settled(&admin, "log").await;
    produce(&cluster, "log", 2, 10).await;
    let tp0 = TopicPartition::new("log", 0);
    let tp1 = TopicPartition::new("log", 1);
    let listed = admin
        .list_offsets(
            BTreeMap::from([
                (tp0.clone(), OffsetSpec::Earliest),
                (tp1.clone(), OffsetSpec::Latest),
                (TopicPartition::new("log", 7), OffsetSpec::Latest),
            ]),
            opts(),
        )
        .await
        .expect("list offsets");
    assert_eq!(listed[&tp0].clone().expect("earliest").offset, 0);
    assert_eq!(listed[&tp1].clone().expect("latest").offset, 10);
    assert_eq!(
        code(&listed[&TopicPartition::new("log", 7)]),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let by_time = admin
        .list_offsets(
            BTreeMap::from([
                (tp0.clone(), OffsetSpec::ForTimestamp(0)),
                (tp1.clone(), OffsetSpec::MaxTimestamp),
            ]),
            opts(),
        )
        .await
        .expect("list offsets by time");
    assert_eq!(by_time[&tp0].clone().expect("by time").offset, 0);
    let max = by_time[&tp1].clone().expect("max timestamp");
    assert!((0..10).contains(&max.offset), "{max:?}");
    assert!(max.timestamp > 0);

    let deleted = admin
        .delete_records(
            BTreeMap::from([(tp0.clone(), 4), (tp1.clone(), -1)]),
            opts(),
        )
        .await
        .expect("delete records");
    assert_eq!(deleted[&tp0].clone().expect("deleted"), 4);
    assert_eq!(deleted[&tp1].clone().expect("deleted to hw"), 10);
    let earliest = admin
        .list_offsets(
            BTreeMap::from([(tp0.clone(), OffsetSpec::Earliest)]),
            opts(),
        )
        .await
        .expect("list");
    assert_eq!(earliest[&tp0].clone().expect("earliest").offset, 4);
    let beyond = admin
        .delete_records(BTreeMap::from([(tp0.clone(), 99)]), opts())
        .await
        .expect("delete records");
    assert_eq!(code(&beyond[&tp0]), Some(ErrorCode::OffsetOutOfRange));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_is_bounded_by_its_timeout() {
    // A peer that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(addr.to_string())
            .build()
            .unwrap(),
    )
    .unwrap();
    let limit = Duration::from_millis(300);
    let o = opts().timeout(limit);
    let started = tokio::time::Instant::now();
    let is_timeout = |e: &AdminError| matches!(e, AdminError::Timeout(_));
    assert!(is_timeout(&admin.describe_cluster(o).await.unwrap_err()));
    assert!(is_timeout(&admin.list_topics(true, o).await.unwrap_err()));
    assert!(is_timeout(&admin.list_groups(o).await.unwrap_err()));
    assert!(is_timeout(
        &admin.list_group_offsets("g", o).await.unwrap_err()
    ));
    let created = admin
        .create_topics(vec![NewTopic::new("t", 1, 1)], o)
        .await
        .expect("per-topic results");
    assert!(is_timeout(created["t"].as_ref().unwrap_err()));
    let described = admin.describe_topics(&["t"], o).await.expect("per-topic");
    assert!(is_timeout(described["t"].as_ref().unwrap_err()));
    let offsets = admin
        .list_offsets(
            BTreeMap::from([(TopicPartition::new("t", 0), OffsetSpec::Latest)]),
            o,
        )
        .await
        .expect("per-partition");
    assert!(is_timeout(
        offsets[&TopicPartition::new("t", 0)].as_ref().unwrap_err()
    ));
    // Seven operations, each bounded (generously, for a loaded machine).
    assert!(started.elapsed() < limit * 7 + Duration::from_secs(10));
    keep.abort();
}

// ---- groups ---------------------------------------------------------------------------------

async fn member(cluster: &Cluster, group: &str, topic: &str) -> GroupMembership {
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig::default(),
        cluster.bootstrap_servers().split(',').map(str::to_owned),
    ));
    let metadata = Arc::new(Metadata::new(pool, false));
    let assignors: Vec<Arc<dyn Assignor>> = vec![Arc::new(RangeAssignor)];
    let mut settings = GroupSettings::new(group);
    settings.session_timeout = Duration::from_secs(10);
    settings.heartbeat_interval = Duration::from_millis(200);
    let mut membership = GroupMembership::new(metadata, settings, assignors).expect("membership");
    membership.subscribe(vec![topic.to_string()]);
    tokio::time::timeout(WAIT, membership.join(&[]))
        .await
        .expect("joined in time")
        .expect("joined");
    membership
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_described_and_deleted() {
    let cluster = cluster().await;
    let admin = admin(&cluster);
    create(&admin, NewTopic::new("events", 3, 2)).await;
    settled(&admin, "events").await;
    produce(&cluster, "events", 3, 5).await;

    let mut membership = member(&cluster, "billing", "events").await;
    let generation = membership.generation().expect("joined");
    assert_eq!(generation.assignment.len(), 3);
    membership
        .commit_offsets(&BTreeMap::from([
            (TopicPartition::new("events", 0), OffsetAndMetadata::new(2)),
            (TopicPartition::new("events", 1), OffsetAndMetadata::new(5)),
        ]))
        .await
        .expect("commit");

    let groups = admin.list_groups(opts()).await.expect("list groups");
    let billing = groups
        .iter()
        .find(|g| g.group_id == "billing")
        .expect("listed");
    assert_eq!(billing.protocol_type, "consumer");
    assert_eq!(billing.coordinator, membership.coordinator_id().unwrap());

    let described = admin
        .describe_groups(&["billing"], opts())
        .await
        .expect("describe")["billing"]
        .clone()
        .expect("described");
    assert_eq!(described.state, "Stable");
    assert_eq!(described.protocol, "range");
    assert_eq!(described.members.len(), 1);
    let m = &described.members[0];
    assert_eq!(m.member_id, generation.member_id);
    let mut assigned = m.assignment.clone().expect("decoded").partitions;
    assigned.sort();
    assert_eq!(assigned, {
        let mut a = generation.assignment.clone();
        a.sort();
        a
    });

    let offsets = admin
        .list_group_offsets("billing", opts())
        .await
        .expect("offsets");
    assert_eq!(
        offsets
            .iter()
            .map(|(tp, o)| (tp.partition, o.offset))
            .collect::<Vec<_>>(),
        vec![(0, 2), (1, 5)]
    );
    let lag = admin.group_lag("billing", opts()).await.expect("lag");
    assert_eq!(
        lag.iter()
            .map(|(tp, l)| (tp.partition, l.committed, l.end_offset, l.lag))
            .collect::<Vec<_>>(),
        vec![(0, 2, 5, 3), (1, 5, 5, 0)]
    );

    let busy = admin
        .delete_groups(&["billing"], opts())
        .await
        .expect("delete");
    assert_eq!(code(&busy["billing"]), Some(ErrorCode::NonEmptyGroup));
    membership.leave("test done").await.expect("leave");
    let deleted = admin
        .delete_groups(&["billing", "no-such-group"], opts())
        .await
        .expect("delete");
    deleted["billing"].as_ref().expect("deleted");
    assert_eq!(
        code(&deleted["no-such-group"]),
        Some(ErrorCode::GroupIdNotFound)
    );
    let groups = admin.list_groups(opts()).await.expect("list groups");
    assert!(groups.iter().all(|g| g.group_id != "billing"), "{groups:?}");
    let gone = admin
        .describe_groups(&["billing"], opts())
        .await
        .expect("describe")["billing"]
        .clone();
    match gone {
        Ok(g) => assert_eq!(g.state, "Dead"),
        Err(e) => assert_eq!(e.error_code(), Some(ErrorCode::GroupIdNotFound)),
    }
}

// ---- cross-checks with kafka-python ---------------------------------------------------------

/// kafkit's and kafka-python's views of a topic and its configs, which must be identical.
async fn assert_same_topic_view(python: &str, cluster: &Cluster, admin: &AdminClient, topic: &str) {
    let ours = render_topic(&settled(admin, topic).await);
    let theirs = py(python, cluster, "describe_topic", quoted(topic)).await;
    assert_eq!(ours, theirs, "describe_topics of {topic}");
    let ours = render_configs(&configs(admin, ConfigResource::Topic(topic.into())).await);
    let theirs = py(python, cluster, "topic_configs", quoted(topic)).await;
    assert_eq!(ours, theirs, "describe_configs of {topic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_reads_back_what_kafkit_changes() {
    const TEST: &str = "kafka_python_reads_back_what_kafkit_changes";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let cluster = cluster().await;
    let admin = admin(&cluster);

    // The cluster itself.
    let c = admin.describe_cluster(opts()).await.expect("cluster");
    let mut ours = vec![
        format!("cluster_id {}", c.cluster_id),
        format!("controller {}", c.controller.unwrap_or(-1)),
    ];
    ours.extend(
        c.brokers
            .iter()
            .map(|b| format!("broker {} {} {}", b.id, b.host, b.port)),
    );
    assert_eq!(ours, py(&python, &cluster, "describe_cluster", None).await);
    let ours = render_configs(&configs(&admin, ConfigResource::Broker(3)).await);
    assert_eq!(
        ours,
        py(&python, &cluster, "broker_configs", Some("3".into())).await
    );

    // A topic created by kafkit: partitions, replication factor, configs.
    create(
        &admin,
        NewTopic::new("from-kafkit", 3, 2)
            .with_config("retention.ms", "7200000")
            .with_config("cleanup.policy", "compact"),
    )
    .await;
    assert_same_topic_view(&python, &cluster, &admin, "from-kafkit").await;
    let theirs = py(&python, &cluster, "list_topics", None).await;
    let ours: Vec<String> = admin
        .list_topics(false, opts())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(ours, theirs);

    // Partitions added by kafkit.
    let grown = admin
        .create_partitions(
            BTreeMap::from([("from-kafkit".to_string(), NewPartitions::increase_to(5))]),
            opts(),
        )
        .await
        .unwrap();
    grown["from-kafkit"].as_ref().expect("grown");
    assert_same_topic_view(&python, &cluster, &admin, "from-kafkit").await;
    let theirs = py(&python, &cluster, "describe_topic", quoted("from-kafkit")).await;
    assert_eq!(theirs.len(), 1 + 5, "{theirs:?}");

    // Configs altered by kafkit.
    let topic = ConfigResource::Topic("from-kafkit".into());
    let altered = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                topic.clone(),
                vec![
                    AlterConfigOp::set("retention.ms", "60000"),
                    AlterConfigOp::delete("cleanup.policy"),
                    AlterConfigOp::set("segment.bytes", "1048576"),
                ],
            )]),
            opts(),
        )
        .await
        .unwrap();
    altered[&topic].as_ref().expect("altered");
    assert_same_topic_view(&python, &cluster, &admin, "from-kafkit").await;
    let theirs = py(&python, &cluster, "topic_configs", quoted("from-kafkit")).await;
    assert!(
        theirs.contains(
            &"retention.ms value=60000 source=DYNAMIC_TOPIC_CONFIG read_only=false sensitive=false"
                .to_string()
        ),
        "{theirs:?}"
    );

    // Offsets and deleted records.
    produce(&cluster, "from-kafkit", 2, 6).await;
    let deleted = admin
        .delete_records(
            BTreeMap::from([(TopicPartition::new("from-kafkit", 1), 3)]),
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(
        deleted[&TopicPartition::new("from-kafkit", 1)]
            .clone()
            .unwrap(),
        3
    );
    for (spec, name) in [
        (OffsetSpec::Earliest, "earliest"),
        (OffsetSpec::Latest, "latest"),
    ] {
        let request: BTreeMap<TopicPartition, OffsetSpec> = (0..5)
            .map(|p| (TopicPartition::new("from-kafkit", p), spec))
            .collect();
        let ours = admin.list_offsets(request, opts()).await.unwrap();
        let ours = render_offsets(ours.into_iter().map(|(tp, o)| (tp, o.unwrap().offset)));
        let arg = format!(
            "{{{}}}",
            (0..5)
                .map(|p| format!("\"from-kafkit:{p}\": \"{name}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(ours, py(&python, &cluster, "list_offsets", Some(arg)).await);
    }

    // A topic deleted by kafkit is gone for kafka-python.
    admin.delete_topics(&["from-kafkit"], opts()).await.unwrap()["from-kafkit"]
        .as_ref()
        .expect("deleted");
    assert!(py(&python, &cluster, "list_topics", None).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_reads_back_what_kafka_python_changes() {
    const TEST: &str = "kafkit_reads_back_what_kafka_python_changes";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let cluster = cluster().await;
    let admin = admin(&cluster);

    let created = py(
        &python,
        &cluster,
        "create_topic",
        Some(r#"{"name": "from-python", "partitions": 2, "replication_factor": 3, "configs": {"retention.ms": "86400000", "max.message.bytes": "200000"}}"#.into()),
    )
    .await;
    assert_eq!(created, vec!["error 0"]);
    let d = settled(&admin, "from-python").await;
    assert_eq!(d.partitions.len(), 2);
    assert!(d.partitions.iter().all(|p| p.replicas.len() == 3));
    let entries = configs(&admin, ConfigResource::Topic("from-python".into())).await;
    assert_eq!(
        config_value(&entries, "max.message.bytes"),
        Some(("200000".into(), ConfigSource::DynamicTopicConfig))
    );
    assert_same_topic_view(&python, &cluster, &admin, "from-python").await;

    // kafka-python creating it again, and kafkit too: the same error code.
    let again = py(
        &python,
        &cluster,
        "create_topic",
        Some(r#"{"name": "from-python", "partitions": 2, "replication_factor": 3}"#.into()),
    )
    .await;
    let ours = admin
        .create_topics(vec![NewTopic::new("from-python", 2, 3)], opts())
        .await
        .unwrap();
    assert!(again[0].starts_with(&format!("error {}", ErrorCode::TopicAlreadyExists.code())));
    assert_eq!(
        code(&ours["from-python"]),
        Some(ErrorCode::TopicAlreadyExists)
    );

    // Partitions added by kafka-python.
    let grown = py(
        &python,
        &cluster,
        "create_partitions",
        Some(r#"{"topic": "from-python", "count": 4}"#.into()),
    )
    .await;
    assert_eq!(grown, vec!["error 0"]);
    assert_eq!(settled(&admin, "from-python").await.partitions.len(), 4);
    assert_same_topic_view(&python, &cluster, &admin, "from-python").await;
    // Too few, from either client: INVALID_PARTITIONS.
    let shrink = py(
        &python,
        &cluster,
        "create_partitions",
        Some(r#"{"topic": "from-python", "count": 3}"#.into()),
    )
    .await;
    assert!(shrink[0].starts_with(&format!("error {}", ErrorCode::InvalidPartitions.code())));
    let ours = admin
        .create_partitions(
            BTreeMap::from([("from-python".to_string(), NewPartitions::increase_to(3))]),
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(
        code(&ours["from-python"]),
        Some(ErrorCode::InvalidPartitions)
    );

    // Configs altered by kafka-python.
    let altered = py(
        &python,
        &cluster,
        "alter_configs",
        Some(r#"{"topic": "from-python", "set": {"retention.ms": "1000"}, "delete": ["max.message.bytes"]}"#.into()),
    )
    .await;
    assert_eq!(altered, vec!["error none"]);
    let entries = configs(&admin, ConfigResource::Topic("from-python".into())).await;
    assert_eq!(
        config_value(&entries, "retention.ms"),
        Some(("1000".into(), ConfigSource::DynamicTopicConfig))
    );
    assert_eq!(
        config_value(&entries, "max.message.bytes").map(|(_, s)| s),
        Some(ConfigSource::DefaultConfig)
    );
    assert_same_topic_view(&python, &cluster, &admin, "from-python").await;

    // Records deleted by kafka-python: kafkit sees the new log start.
    produce(&cluster, "from-python", 1, 8).await;
    let low = py(
        &python,
        &cluster,
        "delete_records",
        Some(r#"{"from-python:0": 5}"#.into()),
    )
    .await;
    assert_eq!(low, vec!["from-python:0 5"]);
    let tp = TopicPartition::new("from-python", 0);
    let earliest = admin
        .list_offsets(BTreeMap::from([(tp.clone(), OffsetSpec::Earliest)]), opts())
        .await
        .unwrap();
    assert_eq!(earliest[&tp].clone().unwrap().offset, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_agree_between_kafkit_and_kafka_python() {
    const TEST: &str = "groups_agree_between_kafkit_and_kafka_python";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let cluster = cluster().await;
    let admin = admin(&cluster);
    create(&admin, NewTopic::new("clicks", 3, 2)).await;
    settled(&admin, "clicks").await;
    produce(&cluster, "clicks", 3, 4).await;

    // A group made by kafka-python's consumer (commits and leaves): kafkit reads it.
    let consumed = py(
        &python,
        &cluster,
        "consume_commit",
        Some(r#"{"topic": "clicks", "group": "py-group", "count": 12}"#.into()),
    )
    .await;
    assert_eq!(consumed, vec!["consumed 12"]);
    let ours = admin
        .list_group_offsets("py-group", opts())
        .await
        .expect("offsets");
    let ours = render_offsets(ours.into_iter().map(|(tp, o)| (tp, o.offset)));
    assert_eq!(
        ours,
        py(&python, &cluster, "group_offsets", quoted("py-group")).await
    );
    assert_eq!(ours, vec!["clicks:0 4", "clicks:1 4", "clicks:2 4"]);
    let lag = admin.group_lag("py-group", opts()).await.expect("lag");
    assert!(
        lag.values().all(|l| l.lag == 0 && l.end_offset == 4),
        "{lag:?}"
    );
    let d = admin.describe_groups(&["py-group"], opts()).await.unwrap()["py-group"]
        .clone()
        .unwrap();
    assert_eq!(
        render_group(&d),
        py(&python, &cluster, "describe_group", quoted("py-group")).await
    );
    assert_eq!(d.state, "Empty");

    // A group with a live kafkit member: kafka-python sees the same members and assignment.
    let mut membership = member(&cluster, "kafkit-group", "clicks").await;
    membership
        .commit_offsets(&BTreeMap::from([(
            TopicPartition::new("clicks", 2),
            OffsetAndMetadata::new(1),
        )]))
        .await
        .expect("commit");
    let d = admin
        .describe_groups(&["kafkit-group"], opts())
        .await
        .unwrap()["kafkit-group"]
        .clone()
        .unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(
        render_group(&d),
        py(&python, &cluster, "describe_group", quoted("kafkit-group")).await
    );
    let mut ours: Vec<String> = admin
        .list_groups(opts())
        .await
        .unwrap()
        .into_iter()
        .map(|g| {
            format!(
                "group {} protocol_type {} state {}",
                g.group_id,
                g.protocol_type,
                g.state.unwrap_or_default()
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours, py(&python, &cluster, "list_groups", None).await);
    assert_eq!(
        py(&python, &cluster, "group_offsets", quoted("kafkit-group")).await,
        vec!["clicks:2 1"]
    );

    // Deleted by kafkit: gone for kafka-python; deleted by kafka-python: gone for kafkit.
    admin.delete_groups(&["py-group"], opts()).await.unwrap()["py-group"]
        .as_ref()
        .expect("deleted");
    membership.leave("test done").await.expect("leave");
    assert_eq!(
        py(&python, &cluster, "delete_group", quoted("kafkit-group")).await,
        vec!["error none"]
    );
    assert!(py(&python, &cluster, "list_groups", None).await.is_empty());
    assert!(admin.list_groups(opts()).await.unwrap().is_empty());
}

// ---- retries and routing --------------------------------------------------------------------

/// The admin client's requests of `api` so far, as (broker, faulted).
fn admin_requests(cluster: &Cluster, api: kafkit::messages::ApiKey) -> Vec<(i32, bool)> {
    cluster
        .request_log()
        .into_iter()
        .filter(|r| r.api == api && r.client_id.as_deref() == Some("kafkit-admin"))
        .map(|r| (r.broker, r.faulted))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_errors_are_retried_and_requests_routed() {
    use kafkit::messages::ApiKey;
    let cluster = cluster().await;
    let admin = admin(&cluster);
    let controller = admin
        .describe_cluster(opts())
        .await
        .unwrap()
        .controller
        .expect("a controller");

    // Topic changes go to the controller; a dropped connection is retried.
    cluster.drop_connections(ApiKey::CreateTopics, 2);
    create(&admin, NewTopic::new("routed", 3, 3)).await;
    let sent = admin_requests(&cluster, ApiKey::CreateTopics);
    assert_eq!(
        sent,
        vec![(controller, true), (controller, true), (controller, false)]
    );
    let d = settled(&admin, "routed").await;
    cluster.drop_connections(ApiKey::CreatePartitions, 1);
    let grown = admin
        .create_partitions(
            BTreeMap::from([("routed".to_string(), NewPartitions::increase_to(4))]),
            opts(),
        )
        .await
        .unwrap();
    grown["routed"]
        .as_ref()
        .expect("grown after a dropped connection");
    assert!(
        admin_requests(&cluster, ApiKey::CreatePartitions)
            .iter()
            .all(|(b, _)| *b == controller)
    );

    // ListOffsets and DeleteRecords go to each partition's leader.
    produce(&cluster, "routed", 3, 3).await;
    cluster.inject_error(ApiKey::ListOffsets, ErrorCode::NotLeaderOrFollower, 1);
    let specs: BTreeMap<TopicPartition, OffsetSpec> = (0..3)
        .map(|p| (TopicPartition::new("routed", p), OffsetSpec::Latest))
        .collect();
    let listed = admin.list_offsets(specs, opts()).await.unwrap();
    assert!(listed.values().all(|r| r.as_ref().unwrap().offset == 3));
    let leaders: std::collections::BTreeSet<i32> =
        d.partitions.iter().filter_map(|p| p.leader).collect();
    let sent = admin_requests(&cluster, ApiKey::ListOffsets);
    assert!(sent.iter().all(|(b, _)| leaders.contains(b)), "{sent:?}");
    assert_eq!(sent.iter().filter(|(_, f)| *f).count(), 1);
    let deleted = admin
        .delete_records(
            BTreeMap::from([(TopicPartition::new("routed", 0), 1)]),
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(
        deleted[&TopicPartition::new("routed", 0)].clone().unwrap(),
        1
    );
    assert_eq!(
        admin_requests(&cluster, ApiKey::DeleteRecords),
        vec![(d.partitions[0].leader.unwrap(), false)]
    );

    // Broker configs go to the named broker; ListGroups to every broker.
    configs(&admin, ConfigResource::Broker(2)).await;
    assert_eq!(
        admin_requests(&cluster, ApiKey::DescribeConfigs),
        vec![(2, false)]
    );
    admin.list_groups(opts()).await.unwrap();
    let mut sent: Vec<i32> = admin_requests(&cluster, ApiKey::ListGroups)
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    sent.sort();
    assert_eq!(sent, vec![1, 2, 3]);

    // Group requests go to the coordinator; COORDINATOR_LOAD_IN_PROGRESS is retried.
    let membership = member(&cluster, "routed-group", "routed").await;
    let coordinator = membership.coordinator_id().expect("coordinator");
    cluster.inject_error(
        ApiKey::FindCoordinator,
        ErrorCode::CoordinatorNotAvailable,
        1,
    );
    cluster.drop_connections(ApiKey::DescribeGroups, 1);
    let g = admin
        .describe_groups(&["routed-group"], opts())
        .await
        .unwrap()["routed-group"]
        .clone()
        .expect("described after a retry");
    assert_eq!(g.coordinator, coordinator);
    assert_eq!(
        admin_requests(&cluster, ApiKey::DescribeGroups),
        vec![(coordinator, true), (coordinator, false)]
    );
}

/// NOT_CONTROLLER (and other per-topic CreateTopics errors) retried against the controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_controller_is_retried() {
    use kafkit::messages::ApiKey;
    let cluster = cluster().await;
    let admin = admin(&cluster);
    cluster.inject_error(ApiKey::CreateTopics, ErrorCode::NotController, 2);
    create(&admin, NewTopic::new("retried", 1, 1)).await;
    assert_eq!(admin_requests(&cluster, ApiKey::CreateTopics).len(), 3);
    cluster.inject_error(ApiKey::CreateTopics, ErrorCode::PolicyViolation, 1);
    let refused = admin
        .create_topics(vec![NewTopic::new("refused", 1, 1)], opts())
        .await
        .unwrap();
    assert_eq!(code(&refused["refused"]), Some(ErrorCode::PolicyViolation));
    assert_eq!(admin_requests(&cluster, ApiKey::CreateTopics).len(), 4);

    // A per-group COORDINATOR_LOAD_IN_PROGRESS in DescribeGroups is retried too.
    let _membership = member(&cluster, "loading-group", "loading").await;
    cluster.inject_error(
        ApiKey::DescribeGroups,
        ErrorCode::CoordinatorLoadInProgress,
        1,
    );
    let g = admin
        .describe_groups(&["loading-group"], opts())
        .await
        .unwrap()["loading-group"]
        .clone()
        .expect("described after a retry");
    assert_eq!(g.members.len(), 1);
    assert_eq!(
        admin_requests(&cluster, ApiKey::DescribeGroups)
            .iter()
            .filter(|(_, faulted)| *faulted)
            .count(),
        1
    );
}

/// The same operations with every admin API pinned to its oldest version kafkit implements
/// (the older request and response layouts: DeleteTopics topic names, OffsetFetch without
/// groups, FindCoordinator with one key, ...).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oldest_versions_work_too() {
    use kafkit::messages::ApiKey;
    let cluster = cluster().await;
    let config = AdminConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .default_api_timeout(WAIT)
        .build()
        .unwrap();
    let mut connection = config.connection_config();
    for api in [
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::CreatePartitions,
        ApiKey::DescribeConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::AlterConfigs,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
        ApiKey::DeleteGroups,
        ApiKey::OffsetFetch,
        ApiKey::ListOffsets,
        ApiKey::DeleteRecords,
        ApiKey::DescribeCluster,
        ApiKey::FindCoordinator,
    ] {
        let range = connection.api_versions.range(api).expect("implemented");
        // Listing all of a group's offsets needs OffsetFetch v2 (v1 needs the partitions).
        let oldest = if api == ApiKey::OffsetFetch {
            range.min.max(2)
        } else {
            range.min
        };
        connection.api_versions = connection.api_versions.with_range(api, oldest, oldest);
    }
    let admin = AdminClient::with_connection_config(config, connection).unwrap();

    // CreateTopics v2 cannot ask for broker defaults: a clear error, nothing sent.
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("old", 2, 2).with_config("retention.ms", "100000"),
                NewTopic::with_defaults("old-defaults"),
            ],
            opts(),
        )
        .await
        .unwrap();
    results["old"]
        .as_ref()
        .expect("created at the oldest version");
    assert_eq!(
        code(&results["old-defaults"]),
        Some(ErrorCode::UnsupportedVersion)
    );
    assert_eq!(settled(&admin, "old").await.partitions.len(), 2);
    let c = admin.describe_cluster(opts()).await.unwrap();
    assert_eq!(c.brokers.len(), 3);
    let grown = admin
        .create_partitions(
            BTreeMap::from([("old".to_string(), NewPartitions::increase_to(3))]),
            opts(),
        )
        .await
        .unwrap();
    grown["old"].as_ref().expect("grown");
    let topic = ConfigResource::Topic("old".into());
    assert_eq!(
        config_value(&configs(&admin, topic.clone()).await, "retention.ms").map(|(v, _)| v),
        Some("100000".to_string())
    );
    let altered = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                topic.clone(),
                vec![AlterConfigOp::set("retention.ms", "5000")],
            )]),
            opts(),
        )
        .await
        .unwrap();
    altered[&topic].as_ref().expect("altered");
    assert_eq!(
        config_value(&configs(&admin, topic.clone()).await, "retention.ms").map(|(v, _)| v),
        Some("5000".to_string())
    );

    settled(&admin, "old").await;
    produce(&cluster, "old", 3, 4).await;
    let tp = TopicPartition::new("old", 2);
    let latest = admin
        .list_offsets(BTreeMap::from([(tp.clone(), OffsetSpec::Latest)]), opts())
        .await
        .unwrap();
    assert_eq!(latest[&tp].clone().unwrap().offset, 4);
    let low = admin
        .delete_records(BTreeMap::from([(tp.clone(), 2)]), opts())
        .await
        .unwrap();
    assert_eq!(low[&tp].clone().unwrap(), 2);

    let mut membership = member(&cluster, "old-group", "old").await;
    membership
        .commit_offsets(&BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(3))]))
        .await
        .unwrap();
    let g = admin.describe_groups(&["old-group"], opts()).await.unwrap()["old-group"]
        .clone()
        .unwrap();
    assert_eq!(g.members.len(), 1);
    assert!(
        admin
            .list_groups(opts())
            .await
            .unwrap()
            .iter()
            .any(|g| g.group_id == "old-group" && g.state.is_none())
    );
    let lag = admin.group_lag("old-group", opts()).await.unwrap();
    assert_eq!(lag[&tp].lag, 1);
    membership.leave("done").await.unwrap();
    admin.delete_groups(&["old-group"], opts()).await.unwrap()["old-group"]
        .as_ref()
        .expect("deleted");
    admin.delete_topics(&["old"], opts()).await.unwrap()["old"]
        .as_ref()
        .expect("deleted");
}
