//! `kafkit topics`: create, list, describe, delete and alter topics (as `kafka-topics.sh`).
//!
//! Owns: the subcommand's options and output format. Must not touch: how admin requests are
//! routed or retried (that is `kafkit::admin`'s).

use std::collections::BTreeMap;

use clap::ArgGroup;
use kafkit::admin::{AlterConfigOp, ConfigResource, ConfigSource, NewPartitions, NewTopic};

use crate::{
    CliError, CliResult, ConnectArgs, admin_client, admin_failure, admin_options, topic_failure,
};

/// `kafkit topics` options: exactly one action.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete", "alter"])))]
pub struct TopicsArgs {
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Create --topic.
    #[arg(long)]
    pub create: bool,
    /// List topic names, one per line.
    #[arg(long)]
    pub list: bool,
    /// Describe --topic (every topic when none is given).
    #[arg(long)]
    pub describe: bool,
    /// Delete --topic.
    #[arg(long)]
    pub delete: bool,
    /// Alter --topic: raise --partitions, set --config, remove --delete-config.
    #[arg(long)]
    pub alter: bool,
    /// The topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Partition count (create: default the broker's; alter: the new, larger count).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Replication factor (create only; default the broker's).
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// A topic config `KEY=VALUE` (create, alter; repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    pub configs: Vec<(String, String)>,
    /// A topic config to revert to its default (alter; repeatable).
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,
    /// With --create: succeed when the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// With --list and --describe: include internal topics.
    #[arg(long)]
    pub include_internal: bool,
}

/// Parses `KEY=VALUE`.
pub fn parse_config(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

fn need_topic(args: &TopicsArgs, action: &str) -> Result<String, CliError> {
    args.topic
        .clone()
        .ok_or_else(|| CliError::Usage(format!("--{action} needs --topic")))
}

/// Runs the chosen action.
pub async fn run(args: TopicsArgs) -> CliResult {
    // Argument checks first, so bad arguments exit 2 without touching the network.
    let topic = if args.create {
        Some(need_topic(&args, "create")?)
    } else if args.delete {
        Some(need_topic(&args, "delete")?)
    } else if args.alter {
        let t = need_topic(&args, "alter")?;
        if args.partitions.is_none() && args.configs.is_empty() && args.delete_configs.is_empty() {
            return Err(CliError::Usage(
                "--alter needs --partitions, --config or --delete-config".into(),
            ));
        }
        if args.replication_factor.is_some() {
            return Err(CliError::Usage(
                "--alter cannot change --replication-factor".into(),
            ));
        }
        Some(t)
    } else {
        args.topic.clone()
    };
    if matches!(args.partitions, Some(p) if p < 1) {
        return Err(CliError::Usage("--partitions must be at least 1".into()));
    }
    if matches!(args.replication_factor, Some(r) if r < 1) {
        return Err(CliError::Usage(
            "--replication-factor must be at least 1".into(),
        ));
    }
    let admin = admin_client(&args.connect).await?;
    let result = if args.create {
        create(&admin, &args, topic.as_deref().unwrap_or_default()).await
    } else if args.list {
        list(&admin, &args).await
    } else if args.describe {
        describe(&admin, &args, topic.as_deref()).await
    } else if args.delete {
        delete(&admin, &args, topic.as_deref().unwrap_or_default()).await
    } else {
        alter(&admin, &args, topic.as_deref().unwrap_or_default()).await
    };
    admin.close();
    result
}

async fn create(admin: &kafkit::admin::AdminClient, args: &TopicsArgs, topic: &str) -> CliResult {
    let mut new = NewTopic::with_defaults(topic);
    new.partitions = args.partitions;
    new.replication_factor = args.replication_factor;
    for (k, v) in &args.configs {
        new = new.with_config(k, v);
    }
    let mut results = admin
        .create_topics(vec![new], admin_options(&args.connect))
        .await
        .map_err(|e| admin_failure(&args.connect, e))?;
    match results.remove(topic) {
        Some(Ok(_)) => {
            println!("Created topic {topic}.");
            Ok(())
        }
        Some(Err(e))
            if args.if_not_exists
                && e.error_code() == Some(kafkit::protocol::ErrorCode::TopicAlreadyExists) =>
        {
            Ok(())
        }
        Some(Err(e)) => Err(CliError::runtime(format!(
            "cannot create topic '{topic}': {e}"
        ))),
        None => Err(CliError::runtime(format!(
            "cannot create topic '{topic}': no answer for it"
        ))),
    }
}

async fn list(admin: &kafkit::admin::AdminClient, args: &TopicsArgs) -> CliResult {
    let topics = admin
        .list_topics(args.include_internal, admin_options(&args.connect))
        .await
        .map_err(|e| admin_failure(&args.connect, e))?;
    for t in topics {
        println!("{}", t.name);
    }
    Ok(())
}

async fn describe(
    admin: &kafkit::admin::AdminClient,
    args: &TopicsArgs,
    topic: Option<&str>,
) -> CliResult {
    let names: Vec<String> = match topic {
        Some(t) => vec![t.to_string()],
        None => admin
            .list_topics(args.include_internal, admin_options(&args.connect))
            .await
            .map_err(|e| admin_failure(&args.connect, e))?
            .into_iter()
            .map(|t| t.name)
            .collect(),
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut described = admin
        .describe_topics(&refs, admin_options(&args.connect))
        .await
        .map_err(|e| admin_failure(&args.connect, e))?;
    let resources: Vec<ConfigResource> = names
        .iter()
        .map(|n| ConfigResource::Topic(n.clone()))
        .collect();
    // Configs are decoration: a failure to fetch them leaves the column empty.
    let configs = admin
        .describe_configs(resources, admin_options(&args.connect))
        .await
        .unwrap_or_default();
    for name in &names {
        let description = match described.remove(name) {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(topic_failure(name, e)),
            None => return Err(CliError::runtime(format!("topic '{name}': not described"))),
        };
        let overrides = configs
            .get(&ConfigResource::Topic(name.clone()))
            .and_then(|r| r.as_ref().ok())
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.source == ConfigSource::DynamicTopicConfig)
                    .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        print!("{}", format_description(&description, &overrides));
    }
    Ok(())
}

/// `kafka-topics.sh --describe` text for one topic: a header line and one line per partition.
pub fn format_description(d: &kafkit::admin::TopicDescription, configs: &str) -> String {
    let rf = d.partitions.first().map_or(0, |p| p.replicas.len());
    let mut out = format!(
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
        d.name,
        topic_id_string(d.topic_id.as_bytes()),
        d.partitions.len(),
        rf,
        configs
    );
    let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for p in &d.partitions {
        out.push_str(&format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            d.name,
            p.partition,
            p.leader.map_or("none".to_string(), |l| l.to_string()),
            ids(&p.replicas),
            ids(&p.isr),
        ));
        if !p.offline.is_empty() {
            out.push_str(&format!("\tOffline: {}", ids(&p.offline)));
        }
        out.push('\n');
    }
    out
}

/// A topic id as Kafka prints it: URL-safe base64 of the 16 bytes, without padding.
pub fn topic_id_string(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn delete(admin: &kafkit::admin::AdminClient, args: &TopicsArgs, topic: &str) -> CliResult {
    let mut results = admin
        .delete_topics(&[topic], admin_options(&args.connect))
        .await
        .map_err(|e| admin_failure(&args.connect, e))?;
    match results.remove(topic) {
        Some(Ok(())) => {
            println!("Deleted topic {topic}.");
            Ok(())
        }
        Some(Err(e)) => Err(topic_failure(topic, e)),
        None => Err(CliError::runtime(format!(
            "cannot delete topic '{topic}': no answer for it"
        ))),
    }
}

async fn alter(admin: &kafkit::admin::AdminClient, args: &TopicsArgs, topic: &str) -> CliResult {
    crate::require_topic(admin, &args.connect, topic).await?;
    if let Some(count) = args.partitions {
        let mut results = admin
            .create_partitions(
                BTreeMap::from([(topic.to_string(), NewPartitions::increase_to(count))]),
                admin_options(&args.connect),
            )
            .await
            .map_err(|e| admin_failure(&args.connect, e))?;
        if let Some(Err(e)) = results.remove(topic) {
            return Err(CliError::runtime(format!(
                "cannot raise topic '{topic}' to {count} partitions: {e}"
            )));
        }
        println!("Topic {topic} now has {count} partitions.");
    }
    if !args.configs.is_empty() || !args.delete_configs.is_empty() {
        let resource = ConfigResource::Topic(topic.to_string());
        let ops: Vec<AlterConfigOp> = args
            .configs
            .iter()
            .map(|(k, v)| AlterConfigOp::set(k, v))
            .chain(args.delete_configs.iter().map(AlterConfigOp::delete))
            .collect();
        let mut results = admin
            .incremental_alter_configs(
                BTreeMap::from([(resource.clone(), ops)]),
                admin_options(&args.connect),
            )
            .await
            .map_err(|e| admin_failure(&args.connect, e))?;
        if let Some(Err(e)) = results.remove(&resource) {
            return Err(CliError::runtime(format!(
                "cannot alter the configs of topic '{topic}': {e}"
            )));
        }
        println!("Altered the configs of topic {topic}.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkit::admin::{PartitionDescription, TopicDescription};

    #[test]
    fn configs_parse() {
        assert_eq!(
            parse_config("retention.ms=1000"),
            Ok(("retention.ms".into(), "1000".into()))
        );
        assert_eq!(parse_config("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_config("novalue").is_err());
        assert!(parse_config("=x").is_err());
    }

    #[test]
    fn topic_ids_print_as_kafka_does() {
        assert_eq!(topic_id_string(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(topic_id_string(&[0xff; 16]), "_____________________w");
        assert_eq!(topic_id_string(&[0xfb; 16]).len(), 22);
    }

    #[test]
    fn description_has_kafka_layout() {
        let d = TopicDescription {
            name: "t".into(),
            topic_id: Default::default(),
            internal: false,
            partitions: vec![PartitionDescription {
                partition: 0,
                leader: Some(2),
                leader_epoch: 0,
                replicas: vec![2, 3, 1],
                isr: vec![2, 3],
                offline: vec![],
            }],
        };
        assert_eq!(
            format_description(&d, "retention.ms=1"),
            "Topic: t\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: retention.ms=1\n\
             \tTopic: t\tPartition: 0\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3\n"
        );
    }
}
