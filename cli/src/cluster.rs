//! `kafkit cluster`: runs a `kafkit-testbroker` cluster in the foreground.
//!
//! Owns: the subcommand's options and its lifetime (ready line, signals). Must not touch:
//! broker behaviour (that is `kafkit_testbroker::Cluster`'s).

use std::io::Write;

use kafkit_testbroker::Cluster;

use crate::{CliError, CliResult};

/// `kafkit cluster` options.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Number of brokers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub brokers: u16,
    /// First listener port; broker i listens on PORT+i-1 (0: ephemeral ports).
    #[arg(long, default_value_t = 9092)]
    pub port: u16,
    /// Keep segments as files under this directory (default: in memory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Create a topic at start, `NAME:PARTITIONS:REPLICATION_FACTOR` (repeatable).
    #[arg(long = "topic", value_name = "NAME:P:RF", value_parser = parse_topic_spec)]
    pub topics: Vec<(String, i32, i16)>,
    /// Disable `auto.create.topics.enable`.
    #[arg(long)]
    pub no_auto_create: bool,
}

/// Parses `NAME:PARTITIONS:RF`.
pub fn parse_topic_spec(s: &str) -> Result<(String, i32, i16), String> {
    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
    let [rf, partitions, name] = parts[..] else {
        return Err(format!("'{s}' is not NAME:PARTITIONS:RF"));
    };
    if name.is_empty() {
        return Err(format!("'{s}': empty topic name"));
    }
    let partitions: i32 = partitions
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}': bad partition count"))?;
    let rf: i16 = rf
        .parse()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| format!("'{s}': bad replication factor"))?;
    Ok((name.to_string(), partitions, rf))
}

/// Starts the cluster, prints `bootstrap.servers=...` and waits for Ctrl-C or SIGTERM.
pub async fn run(args: ClusterArgs) -> CliResult {
    if args.port != 0 && u32::from(args.port) + u32::from(args.brokers) - 1 > u32::from(u16::MAX) {
        return Err(CliError::Usage(format!(
            "--port {} with {} brokers runs past port 65535",
            args.port, args.brokers
        )));
    }
    for (name, _, rf) in &args.topics {
        if *rf as u16 > args.brokers {
            return Err(CliError::Usage(format!(
                "--topic {name}: replication factor {rf} is larger than --brokers {}",
                args.brokers
            )));
        }
    }
    let mut builder = Cluster::builder()
        .brokers(usize::from(args.brokers))
        .port(args.port)
        .auto_create_topics(!args.no_auto_create);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    for (name, partitions, rf) in &args.topics {
        builder = builder.topic(name, *partitions, *rf);
    }
    let cluster = builder
        .build()
        .await
        .map_err(|e| CliError::runtime(format!("cannot start the cluster: {e}")))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "bootstrap.servers={}", cluster.bootstrap_servers());
        let _ = out.flush();
    }
    eprintln!(
        "kafkit: cluster {} with {} broker(s) ready; Ctrl-C to stop",
        cluster.cluster_id(),
        args.brokers
    );
    crate::consume::stop_signal().await;
    eprintln!("kafkit: shutting the cluster down");
    cluster.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_specs_parse() {
        assert_eq!(parse_topic_spec("t:3:2"), Ok(("t".to_string(), 3, 2)));
        assert!(parse_topic_spec("t:3").is_err());
        assert!(parse_topic_spec("t:0:1").is_err());
        assert!(parse_topic_spec(":1:1").is_err());
        assert!(parse_topic_spec("t:x:1").is_err());
    }
}
