//! Command-line arguments of `kafkit-bench` (clap derive) and the pure parsing helpers behind
//! them. Owns argument shapes only; running clients lives in `produce` and `consume`.

use std::fmt;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Side-by-side throughput and CPU benchmark: kafkit vs rust-rdkafka vs rskafka.
#[derive(Debug, Parser)]
#[command(name = "kafkit-bench", version)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time producing N records with each client, each to a fresh topic.
    Produce(ProduceArgs),
    /// Produce a topic once (untimed), then time consuming it from the beginning with each client.
    Consume(ConsumeArgs),
    /// Run a standalone kafkit-testbroker cluster in the foreground (prints its bootstrap).
    Broker(BrokerArgs),
}

/// Settings shared by `produce` and `consume`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Broker to use; when omitted a kafkit-testbroker cluster is spawned as a child process.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Number of records.
    #[arg(long)]
    pub messages: u64,
    /// Value size in bytes.
    #[arg(long)]
    pub size: usize,
    /// Compression codec of the produced batches.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Partitions of each benchmark topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Replication factor of each benchmark topic.
    #[arg(long, default_value_t = 3)]
    pub replication_factor: i16,
    /// Brokers of the spawned test cluster (ignored with --bootstrap).
    #[arg(long, default_value_t = 3)]
    pub brokers: usize,
    /// Path of the kafkit-testbroker binary (default: next to this executable).
    #[arg(long)]
    pub testbroker: Option<String>,
    /// Runs per client (each on a fresh topic).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Extra librdkafka property for the rdkafka clients, KEY=VALUE (repeatable).
    #[arg(long = "rdkafka-set", value_parser = parse_key_value)]
    pub rdkafka_set: Vec<(String, String)>,
}

/// `kafkit-bench produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Acknowledgements: all, 1 or 0.
    #[arg(long, default_value = "all")]
    pub acks: Acks,
    /// linger.ms for every client.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// batch.size in bytes for every client.
    #[arg(long, default_value_t = 16384)]
    pub batch_size: usize,
    /// Delivery futures kept in flight by the async clients.
    #[arg(long, default_value_t = 100_000)]
    pub window: usize,
    /// Clients to run, in order (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kafkit,kafkit-forget,rdkafka-future,rdkafka-base,rskafka"
    )]
    pub clients: Vec<ProduceClient>,
}

/// `kafkit-bench consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Clients to run, in order (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rdkafka-stream,rdkafka-base,rskafka,kafkit"
    )]
    pub clients: Vec<ConsumeClient>,
}

/// `kafkit-bench broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Number of brokers.
    #[arg(long, default_value_t = 3)]
    pub brokers: usize,
    /// Path of the kafkit-testbroker binary (default: next to this executable).
    #[arg(long)]
    pub testbroker: Option<String>,
}

/// A compression codec, named as Kafka's `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The `compression.type` value (same for kafkit and librdkafka).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Producer acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// All in-sync replicas (`-1`).
    All,
    /// The leader only.
    Leader,
    /// No acknowledgement.
    None,
}

impl Acks {
    /// The value for `acks` (kafkit) and `request.required.acks` (librdkafka).
    pub fn config_value(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

impl FromStr for Acks {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" | "-1" => Ok(Acks::All),
            "1" => Ok(Acks::Leader),
            "0" => Ok(Acks::None),
            other => Err(format!("acks must be all, 1 or 0, not '{other}'")),
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_value())
    }
}

/// A producing client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProduceClient {
    /// kafkit `Producer::send` (a DeliveryFuture per record, bounded window).
    Kafkit,
    /// kafkit `Producer::send_and_forget` + `flush`.
    KafkitForget,
    /// rust-rdkafka `FutureProducer::send_result` (bounded window of futures).
    RdkafkaFuture,
    /// rust-rdkafka `BaseProducer::send` loop, poll on QueueFull, flush.
    RdkafkaBase,
    /// rskafka `BatchProducer` per partition over `PartitionClient`.
    Rskafka,
}

impl ProduceClient {
    /// The client's name in the CLI and the table.
    pub fn name(self) -> &'static str {
        match self {
            ProduceClient::Kafkit => "kafkit",
            ProduceClient::KafkitForget => "kafkit-forget",
            ProduceClient::RdkafkaFuture => "rdkafka-future",
            ProduceClient::RdkafkaBase => "rdkafka-base",
            ProduceClient::Rskafka => "rskafka",
        }
    }
}

/// A consuming client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsumeClient {
    /// rust-rdkafka `StreamConsumer` (assigned partitions, no group membership).
    RdkafkaStream,
    /// rust-rdkafka `BaseConsumer` poll loop (assigned partitions).
    RdkafkaBase,
    /// rskafka `PartitionClient::fetch_records`, all partitions concurrently.
    Rskafka,
    /// The kafkit consumer (not implemented yet).
    Kafkit,
}

impl ConsumeClient {
    /// The client's name in the CLI and the table.
    pub fn name(self) -> &'static str {
        match self {
            ConsumeClient::RdkafkaStream => "rdkafka-stream",
            ConsumeClient::RdkafkaBase => "rdkafka-base",
            ConsumeClient::Rskafka => "rskafka",
            ConsumeClient::Kafkit => "kafkit",
        }
    }
}

/// Parses `KEY=VALUE`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, not '{s}'")),
    }
}

/// Parses the `bootstrap.servers=HOST:PORT,...` line kafkit-testbroker prints when ready.
pub fn parse_bootstrap_line(line: &str) -> Option<&str> {
    let servers = line.trim().strip_prefix("bootstrap.servers=")?;
    (!servers.is_empty()).then_some(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_defaults_and_client_list() {
        let cli = Cli::try_parse_from([
            "kafkit-bench",
            "produce",
            "--messages",
            "1000",
            "--size",
            "100",
            "--acks",
            "1",
            "--compression",
            "lz4",
            "--clients",
            "kafkit,rskafka",
        ])
        .unwrap();
        let Command::Produce(p) = cli.command else {
            panic!("not produce")
        };
        assert_eq!(p.common.messages, 1000);
        assert_eq!(p.common.size, 100);
        assert_eq!(p.acks, Acks::Leader);
        assert_eq!(p.common.compression, Compression::Lz4);
        assert_eq!(
            p.clients,
            vec![ProduceClient::Kafkit, ProduceClient::Rskafka]
        );
        assert_eq!(
            (
                p.linger_ms,
                p.batch_size,
                p.common.partitions,
                p.common.replication_factor
            ),
            (5, 16384, 6, 3)
        );
        assert_eq!(p.common.bootstrap, None);
    }

    #[test]
    fn produce_default_clients_are_all() {
        let cli =
            Cli::try_parse_from(["kafkit-bench", "produce", "--messages", "1", "--size", "1"])
                .unwrap();
        let Command::Produce(p) = cli.command else {
            panic!("not produce")
        };
        let names: Vec<_> = p.clients.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "kafkit",
                "kafkit-forget",
                "rdkafka-future",
                "rdkafka-base",
                "rskafka"
            ]
        );
        assert_eq!(p.acks, Acks::All);
    }

    #[test]
    fn consume_clients_and_bad_values() {
        let cli = Cli::try_parse_from([
            "kafkit-bench",
            "consume",
            "--bootstrap",
            "h:1",
            "--messages",
            "5",
            "--size",
            "10",
        ])
        .unwrap();
        let Command::Consume(c) = cli.command else {
            panic!("not consume")
        };
        assert_eq!(c.common.bootstrap.as_deref(), Some("h:1"));
        assert_eq!(c.clients.len(), 4);
        assert_eq!(c.clients[3], ConsumeClient::Kafkit);
        for bad in [
            &["--acks", "2"][..],
            &["--compression", "brotli"][..],
            &["--clients", "kafka"][..],
        ] {
            let mut args = vec!["kafkit-bench", "produce", "--messages", "1", "--size", "1"];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn acks_parse_and_display() {
        assert_eq!("all".parse::<Acks>(), Ok(Acks::All));
        assert_eq!("-1".parse::<Acks>(), Ok(Acks::All));
        assert_eq!("0".parse::<Acks>(), Ok(Acks::None));
        assert_eq!(Acks::Leader.to_string(), "1");
        assert!("x".parse::<Acks>().is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("fetch.wait.max.ms=10"),
            Ok(("fetch.wait.max.ms".into(), "10".into()))
        );
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn bootstrap_line() {
        assert_eq!(
            parse_bootstrap_line("bootstrap.servers=127.0.0.1:1,127.0.0.1:2\n"),
            Some("127.0.0.1:1,127.0.0.1:2")
        );
        assert_eq!(parse_bootstrap_line("bootstrap.servers="), None);
        assert_eq!(parse_bootstrap_line("INFO ready"), None);
    }
}
