//! The admin client, one operation after another: describe the cluster, create a topic,
//! describe it, alter and read back its configuration, add partitions, list offsets, delete
//! records, and delete the topic.
//!
//! Run it with `cargo run --example admin`. It starts an in-process 3-broker cluster; with
//! `KAFKA_BOOTSTRAP_SERVERS` set it uses that cluster instead (with a topic name of its own).
//! It returns an error (a non-zero exit status) when an operation fails.

use std::collections::BTreeMap;
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::admin::{
    AdminClient, AdminConfig, AdminOptions, AlterConfigOp, ConfigResource, NewPartitions, NewTopic,
    OffsetSpec,
};
use kafkit::producer::{Producer, ProducerConfig, ProducerRecord};
use kafkit_testbroker::Cluster;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cluster, bootstrap, topic) = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(servers) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            (None, servers, format!("admin-example-{nanos}"))
        }
        Err(_) => {
            let cluster = Cluster::builder().brokers(3).build().await?;
            let servers = cluster.bootstrap_servers();
            (Some(cluster), servers, "payments".to_string())
        }
    };
    println!("cluster: bootstrap.servers={bootstrap}");

    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .client_id("admin-example")
            .build()?,
    )?;
    // Every operation is bounded by a timeout (default.api.timeout.ms unless set here).
    let opts = || AdminOptions::default().timeout(Duration::from_secs(20));

    // The cluster: its id, controller and brokers.
    let description = admin.describe_cluster(opts()).await?;
    println!(
        "describe_cluster: id {}, controller {:?}, brokers {:?}",
        description.cluster_id,
        description.controller,
        description.brokers.iter().map(|b| b.id).collect::<Vec<_>>()
    );

    // Create a topic: 2 partitions on 3 brokers each, with a topic config. `validate_only`
    // first asks the controller whether it would accept it, without creating anything.
    let new_topic = NewTopic::new(&topic, 2, 3).with_config("retention.ms", "3600000");
    let checked = admin
        .create_topics(vec![new_topic.clone()], opts().validate_only(true))
        .await?;
    println!(
        "create_topics (validate only): {topic} -> {:?}",
        checked[&topic]
    );
    let created = admin.create_topics(vec![new_topic], opts()).await?;
    let created = created[&topic].clone()?;
    println!(
        "create_topics: {topic} id {} with {} partitions, replication factor {}",
        created.topic_id, created.partitions, created.replication_factor
    );
    let listed = admin.list_topics(false, opts()).await?;
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    if !names.contains(&topic.as_str()) {
        return Err(format!("list_topics does not show {topic}: {names:?}").into());
    }
    println!("list_topics: {} topic(s), {topic} among them", names.len());
    describe(&admin, &topic).await?;

    // Alter its configuration (IncrementalAlterConfigs) and read it back (DescribeConfigs).
    let resource = ConfigResource::Topic(topic.clone());
    let altered = admin
        .incremental_alter_configs(
            BTreeMap::from([(
                resource.clone(),
                vec![
                    AlterConfigOp::set("min.insync.replicas", "2"),
                    AlterConfigOp::set("retention.bytes", "1073741824"),
                    AlterConfigOp::delete("retention.ms"),
                ],
            )]),
            opts(),
        )
        .await?;
    altered[&resource].clone()?;
    println!(
        "incremental_alter_configs: {resource}: min.insync.replicas=2, retention.bytes=1073741824, retention.ms reset"
    );
    let configs = admin
        .describe_configs(vec![resource.clone()], opts())
        .await?;
    let entries = configs[&resource].clone()?;
    for entry in entries.iter().filter(|e| {
        ["min.insync.replicas", "retention.bytes", "retention.ms"].contains(&e.name.as_str())
    }) {
        println!(
            "describe_configs: {resource}: {}={} ({})",
            entry.name,
            entry.value.as_deref().unwrap_or("null"),
            entry.source.name()
        );
    }
    let min_isr = entries
        .iter()
        .find(|e| e.name == "min.insync.replicas")
        .and_then(|e| e.value.clone());
    if min_isr.as_deref() != Some("2") {
        return Err(format!("min.insync.replicas reads back as {min_isr:?}").into());
    }

    // Add a partition.
    let grown = admin
        .create_partitions(
            BTreeMap::from([(topic.clone(), NewPartitions::increase_to(3))]),
            opts(),
        )
        .await?;
    grown[&topic].clone()?;
    println!("create_partitions: {topic} now has 3 partitions");
    describe(&admin, &topic).await?;

    // Some records to have offsets to list (keys go to partitions by murmur2).
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()?,
    )?;
    for i in 0..30 {
        producer
            .send_and_forget(
                ProducerRecord::new(topic.clone(), format!("payment-{i}"))
                    .with_key(format!("account-{}", i % 7)),
            )
            .await?;
    }
    producer.flush().await;
    producer.close().await;
    println!("produced 30 records");

    // List offsets: the earliest and latest offset of each partition.
    let partitions: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let mut latest = BTreeMap::new();
    for (spec, name) in [
        (OffsetSpec::Earliest, "earliest"),
        (OffsetSpec::Latest, "latest"),
    ] {
        let listed = admin
            .list_offsets(
                partitions.iter().map(|tp| (tp.clone(), spec)).collect(),
                opts(),
            )
            .await?;
        for (tp, offset) in listed {
            let offset = offset?;
            println!("list_offsets ({name}): {tp} -> {}", offset.offset);
            if spec == OffsetSpec::Latest {
                latest.insert(tp, offset.offset);
            }
        }
    }
    let total: i64 = latest.values().sum();
    if total != 30 {
        return Err(format!("the latest offsets add up to {total}, expected 30").into());
    }

    // Delete records: everything before offset 1 on the partitions that have any.
    let before: BTreeMap<TopicPartition, i64> = latest
        .iter()
        .filter(|(_, end)| **end > 0)
        .map(|(tp, _)| (tp.clone(), 1))
        .collect();
    for (tp, low_watermark) in admin.delete_records(before, opts()).await? {
        println!(
            "delete_records: {tp} now starts at offset {}",
            low_watermark?
        );
    }

    // Delete the topic.
    let deleted = admin.delete_topics(&[&topic], opts()).await?;
    deleted[&topic].clone()?;
    println!("delete_topics: {topic} deleted");

    admin.close();
    if let Some(cluster) = cluster {
        cluster.shutdown().await;
    }
    println!("admin OK");
    Ok(())
}

/// Print each partition's leader, leader epoch, replicas and in-sync replicas.
async fn describe(admin: &AdminClient, topic: &str) -> Result<(), Error> {
    let described = admin
        .describe_topics(&[topic], AdminOptions::default())
        .await?;
    let description = described[topic].clone()?;
    for p in &description.partitions {
        println!(
            "describe_topics: {topic}-{}: leader {:?} (epoch {}), replicas {:?}, isr {:?}",
            p.partition, p.leader, p.leader_epoch, p.replicas, p.isr
        );
    }
    Ok(())
}
