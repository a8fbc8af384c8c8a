//! `kafkit produce`: lines from standard input to a topic (as `kafka-console-producer.sh`).
//!
//! Owns: splitting lines into key and value, the producer settings the flags choose, and
//! reporting failed deliveries. Must not touch: batching or partitioning (the producer's).

use std::sync::{Arc, Mutex};

use kafkit::producer::{Producer, ProducerConfig, ProducerRecord};
use tokio::io::AsyncBufReadExt;

use crate::progress::Progress;
use crate::{CliError, CliResult, ConnectArgs, admin_client, require_topic};

/// `kafkit produce` options.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic to write to (it must exist).
    #[arg(long)]
    pub topic: String,
    /// Split each line into key and value at the first occurrence of this separator (a line
    /// without it is an error); without the flag, lines are values with no key.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// `compression.type`: none, gzip, snappy, lz4 or zstd.
    #[arg(long, value_name = "CODEC", default_value = "none",
          value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// `acks`: all (or -1), 1 or 0.
    #[arg(long, value_name = "ACKS", default_value = "all",
          value_parser = ["all", "-1", "0", "1"], allow_hyphen_values = true)]
    pub acks: String,
    /// `linger.ms`.
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// Any other producer config, `KEY=VALUE` (repeatable).
    #[arg(long = "producer-property", value_name = "KEY=VALUE",
          value_parser = crate::topics::parse_config)]
    pub properties: Vec<(String, String)>,
}

/// Splits `line` at the first `sep`.
pub fn split_key<'a>(line: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    line.split_once(sep)
}

fn producer_config(args: &ProduceArgs, bootstrap: &str) -> Result<ProducerConfig, CliError> {
    let usage = |e: kafkit::config::ConfigError| CliError::Usage(format!("producer config: {e}"));
    let mut builder = ProducerConfig::builder();
    builder.bootstrap_servers(bootstrap);
    builder
        .set("compression.type", &args.compression)
        .map_err(usage)?;
    builder.set("acks", &args.acks).map_err(usage)?;
    if args.acks != "all" && args.acks != "-1" {
        // Idempotence needs acks=all; asking for fewer acks means not asking for it.
        builder.set("enable.idempotence", "false").map_err(usage)?;
    }
    if let Some(ms) = args.linger_ms {
        builder.set("linger.ms", &ms.to_string()).map_err(usage)?;
    }
    for (k, v) in &args.properties {
        builder.set(k, v).map_err(usage)?;
    }
    builder.build().map_err(usage)
}

/// Reads standard input to its end, sending one record per line.
pub async fn run(args: ProduceArgs) -> CliResult {
    if matches!(&args.key_separator, Some(s) if s.is_empty()) {
        return Err(CliError::Usage("--key-separator is empty".into()));
    }
    let bootstrap = args.connect.bootstrap();
    let config = producer_config(&args, &bootstrap)?;
    let admin = admin_client(&args.connect).await?;
    let checked = require_topic(&admin, &args.connect, &args.topic).await;
    admin.close();
    checked?;
    let producer = Producer::new(config)
        .map_err(|e| CliError::runtime(format!("cannot start the producer: {e}")))?;

    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let progress = Progress::start("sent");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut line_no: u64 = 0;
    let mut outcome = Ok(());
    loop {
        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            break;
        }
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                outcome = Err(CliError::runtime(format!("reading standard input: {e}")));
                break;
            }
        };
        line_no += 1;
        let record = match &args.key_separator {
            Some(sep) => match split_key(&line, sep) {
                Some((k, v)) => ProducerRecord::new(args.topic.clone(), v.as_bytes().to_vec())
                    .with_key(k.as_bytes().to_vec()),
                None => {
                    outcome = Err(CliError::runtime(format!(
                        "line {line_no}: no key separator '{sep}' in {line:?}"
                    )));
                    break;
                }
            },
            None => ProducerRecord::<Vec<u8>, Vec<u8>>::new(args.topic.clone(), line.into_bytes()),
        };
        let slot = first_error.clone();
        let topic = args.topic.clone();
        let sent = producer
            .send_with_callback(record, move |result| {
                if let Err(e) = result
                    && let Ok(mut slot) = slot.lock()
                    && slot.is_none()
                {
                    *slot = Some(format!("delivery to topic '{topic}' failed: {e}"));
                }
            })
            .await;
        if let Err(e) = sent {
            outcome = Err(CliError::runtime(format!(
                "line {line_no}: cannot send to topic '{}': {e}",
                args.topic
            )));
            break;
        }
        progress.add(1);
    }
    producer.flush().await;
    producer.close().await;
    progress.finish();
    outcome?;
    let metrics = producer.metrics();
    if let Some(e) = first_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(CliError::runtime(format!(
            "{e} ({} of {line_no} records failed)",
            metrics.records_failed.max(1)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_at_the_first_separator() {
        assert_eq!(split_key("k:v:w", ":"), Some(("k", "v:w")));
        assert_eq!(split_key(":v", ":"), Some(("", "v")));
        assert_eq!(split_key("kv", ":"), None);
        assert_eq!(split_key("k::v", "::"), Some(("k", "v")));
    }
}
