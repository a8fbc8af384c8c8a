//! `kafkit`: the command-line tool — a local test cluster, topics, a console producer and
//! consumer, and consumer groups, with the flags a Kafka user knows from `kafka-topics.sh`,
//! `kafka-console-producer.sh`, `kafka-console-consumer.sh` and `kafka-consumer-groups.sh`.
//!
//! **Owns:** argument parsing, output formats, exit codes. **Must not touch:** protocol
//! details; it only uses `kafkit`'s public admin, producer and consumer APIs and
//! `kafkit-testbroker`'s `Cluster`.
//!
//! Exit codes: 0 success, 1 runtime error (unreachable broker, unknown topic or group, broker
//! error), 2 bad arguments. Data goes to stdout, errors and progress to stderr.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod cluster;
mod consume;
mod groups;
mod produce;
mod progress;
mod topics;

/// The bootstrap servers used when neither `--bootstrap-server` nor the environment names any.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";
/// The environment variable that supplies the bootstrap servers.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// Command-line tool for Kafka clusters, built on kafkit.
#[derive(Debug, Parser)]
#[command(name = "kafkit", version, about, propagate_version = true)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Brokers to bootstrap from, `HOST:PORT[,HOST:PORT...]` (default: $KAFKA_BOOTSTRAP_SERVERS,
    /// else 127.0.0.1:9092).
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT,...")]
    pub bootstrap_server: Option<String>,
    /// Upper bound of each admin operation, in milliseconds.
    #[arg(
        long = "request-timeout-ms",
        value_name = "MS",
        default_value_t = 30_000
    )]
    pub request_timeout_ms: u64,
}

impl ConnectArgs {
    /// The bootstrap servers: the flag, else the environment, else the default.
    pub fn bootstrap(&self) -> String {
        self.bootstrap_server
            .clone()
            .or_else(|| std::env::var(BOOTSTRAP_ENV).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_string())
    }

    /// The admin operations' timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an in-process test-broker cluster in the foreground (until Ctrl-C or SIGTERM).
    Cluster(cluster::ClusterArgs),
    /// Create, list, describe, delete and alter topics.
    Topics(topics::TopicsArgs),
    /// Send lines from standard input to a topic.
    Produce(produce::ProduceArgs),
    /// Print records of a topic to standard output.
    Consume(ConsumeArgs),
    /// List and describe consumer groups (members, assignment, committed offsets, lag).
    Groups(groups::GroupsArgs),
}

/// `kafkit consume` options.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic to read.
    #[arg(long)]
    pub topic: String,
    /// Consume as a member of this group (committing offsets); without it, every partition is
    /// assigned directly and nothing is committed.
    #[arg(long)]
    pub group: Option<String>,
    /// Start from the earliest offset when there is no committed offset (default: latest).
    #[arg(long)]
    pub from_beginning: bool,
    /// Exit after this many records.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Exit when no record arrives for this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Print each record's key before its value.
    #[arg(long)]
    pub print_key: bool,
    /// Print each record's partition (`Partition:P`).
    #[arg(long)]
    pub print_partition: bool,
    /// Print each record's offset (`Offset:O`).
    #[arg(long)]
    pub print_offset: bool,
    /// Print each record's timestamp (`CreateTime:T` or `LogAppendTime:T`).
    #[arg(long)]
    pub print_timestamp: bool,
    /// Separator between the printed fields.
    #[arg(long, value_name = "SEP", default_value = "\t")]
    pub separator: String,
}

/// Why a subcommand failed, and so the exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments (exit 2).
    Usage(String),
    /// A runtime failure: broker unreachable, unknown topic, broker error (exit 1).
    Runtime(String),
}

impl CliError {
    /// A runtime error from anything displayable.
    pub fn runtime(msg: impl std::fmt::Display) -> CliError {
        CliError::Runtime(msg.to_string())
    }
}

/// A subcommand's result.
pub type CliResult = Result<(), CliError>;

/// Fails with a clear message when no bootstrap server accepts a TCP connection within
/// `timeout` (the clients would otherwise retry until their own, longer, timeouts).
pub async fn check_reachable(bootstrap: &str, timeout: Duration) -> CliResult {
    let addrs: Vec<&str> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if addrs.is_empty() {
        return Err(CliError::Usage("--bootstrap-server is empty".into()));
    }
    let per_attempt = timeout.min(Duration::from_secs(5));
    let mut failures = Vec::new();
    for addr in &addrs {
        match tokio::time::timeout(per_attempt, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => failures.push(format!("{addr}: {e}")),
            Err(_) => failures.push(format!("{addr}: no answer within {per_attempt:?}")),
        }
    }
    Err(CliError::Runtime(format!(
        "cannot reach any broker at {bootstrap} ({})",
        failures.join("; ")
    )))
}

/// Admin client for `connect` after checking that a broker answers.
pub async fn admin_client(connect: &ConnectArgs) -> Result<kafkit::admin::AdminClient, CliError> {
    let bootstrap = connect.bootstrap();
    check_reachable(&bootstrap, connect.timeout()).await?;
    let config = kafkit::admin::AdminConfig::builder()
        .bootstrap_servers(&bootstrap)
        .default_api_timeout(connect.timeout())
        .build()
        .map_err(|e| CliError::Usage(format!("bad client configuration: {e}")))?;
    kafkit::admin::AdminClient::new(config)
        .map_err(|e| CliError::Usage(format!("bad client configuration: {e}")))
}

/// Admin options bounded by `--request-timeout-ms`.
pub fn admin_options(connect: &ConnectArgs) -> kafkit::admin::AdminOptions {
    kafkit::admin::AdminOptions::default().timeout(connect.timeout())
}

/// Fails with "unknown topic" unless `topic` exists; returns its partition count.
pub async fn require_topic(
    admin: &kafkit::admin::AdminClient,
    connect: &ConnectArgs,
    topic: &str,
) -> Result<i32, CliError> {
    let mut described = admin
        .describe_topics(&[topic], admin_options(connect))
        .await
        .map_err(|e| admin_failure(connect, e))?;
    match described.remove(topic) {
        Some(Ok(d)) => Ok(d.partitions.len() as i32),
        Some(Err(e)) => Err(topic_failure(topic, e)),
        None => Err(CliError::Runtime(format!(
            "topic '{topic}': the broker did not describe it"
        ))),
    }
}

/// The message for a failed admin operation as a whole.
pub fn admin_failure(connect: &ConnectArgs, e: kafkit::admin::AdminError) -> CliError {
    CliError::Runtime(format!("brokers {}: {e}", connect.bootstrap()))
}

/// The message for one topic's failure (unknown topics named as such).
pub fn topic_failure(topic: &str, e: kafkit::admin::AdminError) -> CliError {
    if e.error_code() == Some(kafkit::protocol::ErrorCode::UnknownTopicOrPartition) {
        CliError::Runtime(format!("unknown topic '{topic}' ({e})"))
    } else {
        CliError::Runtime(format!("topic '{topic}': {e}"))
    }
}

async fn run_consume(args: ConsumeArgs) -> CliResult {
    consume::run(args).await
}

async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Cluster(args) => cluster::run(args).await,
        Command::Topics(args) => topics::run(args).await,
        Command::Produce(args) => produce::run(args).await,
        Command::Consume(args) => run_consume(args).await,
        Command::Groups(args) => groups::run(args).await,
    }
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2 (0 for --help and --version).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("kafkit: error: {msg}");
            eprintln!("For more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(CliError::Runtime(msg)) => {
            eprintln!("kafkit: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bootstrap_flag_wins_over_default() {
        let cli = Cli::try_parse_from(["kafkit", "topics", "--list", "--bootstrap-server", "h:1"])
            .unwrap();
        let Command::Topics(t) = cli.command else {
            panic!("not topics")
        };
        assert_eq!(t.connect.bootstrap(), "h:1");
    }

    #[test]
    fn usage_errors_are_rejected() {
        let err = Cli::try_parse_from(["kafkit", "topics", "--list", "--create"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["kafkit", "produce"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[tokio::test]
    async fn unreachable_bootstrap_is_reported() {
        // Bind then drop: the port is free, so connecting is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = check_reachable(&format!("127.0.0.1:{port}"), Duration::from_secs(2))
            .await
            .unwrap_err();
        let CliError::Runtime(msg) = err else {
            panic!("not a runtime error")
        };
        assert!(msg.contains("cannot reach any broker"), "{msg}");
    }
}
