//! `kafkit consume`: records of a topic to standard output (as `kafka-console-consumer.sh`).
//!
//! Owns: the consumer settings the flags choose, when to stop, and the output format. Must not
//! touch: fetching, positions or group membership (the consumer's).
//!
//! Output: one line per record, the enabled fields in this order, joined by `--separator`
//! (default a tab): `CreateTime:T` (or `LogAppendTime:T`, with `--print-timestamp`),
//! `Partition:P` (`--print-partition`), `Offset:O` (`--print-offset`), the key
//! (`--print-key`), then the value. Keys and values are printed as UTF-8 (invalid bytes
//! replaced); a null key or value prints as `null`.
//!
//! With `--group`, offsets are committed after each printed batch and at exit, and only for
//! records actually printed (records fetched beyond `--max-messages` stay unconsumed).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kafkit::TopicPartition;
use kafkit::consumer::client::Consumer;
use kafkit::consumer::config::ConsumerConfig;
use kafkit::consumer::group::OffsetAndMetadata;
use kafkit::consumer::record::ConsumerRecord;

use crate::progress::Progress;
use crate::{CliError, CliResult, ConsumeArgs, admin_client, require_topic};

/// How long one poll waits before the loop checks its stop conditions again.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Turns what a consumer set-up call returns (`()` or a `Result`) into a [`CliResult`], so
/// this file does not depend on which of the two the consumer chose.
trait OrFail {
    fn or_fail(self, context: impl FnOnce() -> String) -> CliResult;
}

impl OrFail for () {
    fn or_fail(self, _context: impl FnOnce() -> String) -> CliResult {
        Ok(())
    }
}

impl<T, E: std::fmt::Display> OrFail for Result<T, E> {
    fn or_fail(self, context: impl FnOnce() -> String) -> CliResult {
        self.map(|_| ())
            .map_err(|e| CliError::runtime(format!("{}: {e}", context())))
    }
}

/// One output line for `record` (without the newline).
pub fn format_record(args: &ConsumeArgs, record: &ConsumerRecord) -> String {
    let text = |b: &Option<bytes::Bytes>| match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "null".to_string(),
    };
    let mut fields = Vec::with_capacity(5);
    if args.print_timestamp {
        fields.push(format!("{:?}:{}", record.timestamp_type, record.timestamp));
    }
    if args.print_partition {
        fields.push(format!("Partition:{}", record.partition));
    }
    if args.print_offset {
        fields.push(format!("Offset:{}", record.offset));
    }
    if args.print_key {
        fields.push(text(&record.key));
    }
    fields.push(text(&record.value));
    fields.join(&args.separator)
}

fn consumer_config(args: &ConsumeArgs, bootstrap: &str) -> Result<ConsumerConfig, CliError> {
    let usage = |e: kafkit::config::ConfigError| CliError::Usage(format!("consumer config: {e}"));
    let mut builder = ConsumerConfig::builder();
    builder.bootstrap_servers(bootstrap);
    builder
        .set(
            "auto.offset.reset",
            if args.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .map_err(usage)?;
    // Offsets are committed by the loop, after the records are printed.
    builder.set("enable.auto.commit", "false").map_err(usage)?;
    if let Some(group) = &args.group {
        builder.set("group.id", group).map_err(usage)?;
    }
    builder.build().map_err(usage)
}

/// Resolves on Ctrl-C or SIGTERM, so the consumer can leave its group cleanly (and the
/// foreground cluster can shut down).
pub(crate) async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Consumes until `--max-messages`, `--timeout-ms` of silence, Ctrl-C or SIGTERM, or a
/// closed stdout.
pub async fn run(args: ConsumeArgs) -> CliResult {
    if args.max_messages == Some(0) {
        return Ok(());
    }
    let bootstrap = args.connect.bootstrap();
    let config = consumer_config(&args, &bootstrap)?;
    let admin = admin_client(&args.connect).await?;
    let partitions = require_topic(&admin, &args.connect, &args.topic).await;
    admin.close();
    let partitions = partitions?;
    let mut consumer = Consumer::new(config)
        .map_err(|e| CliError::runtime(format!("cannot start the consumer: {e}")))?;
    if args.group.is_some() {
        consumer
            .subscribe(&[args.topic.as_str()])
            .or_fail(|| format!("cannot subscribe to '{}'", args.topic))?;
    } else {
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(args.topic.as_str(), p))
            .collect();
        consumer
            .assign(tps.clone())
            .or_fail(|| format!("cannot assign the partitions of '{}'", args.topic))?;
        if args.from_beginning {
            consumer
                .seek_to_beginning(&tps)
                .or_fail(|| format!("cannot seek to the beginning of '{}'", args.topic))?;
        }
    }

    let progress = Progress::start("received");
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut printed: u64 = 0;
    let mut outcome: CliResult = Ok(());
    let stdout = std::io::stdout();
    // Next offset to commit per partition: only records actually printed count as consumed.
    let mut to_commit: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    'poll: loop {
        let records = tokio::select! {
            r = consumer.poll(POLL_INTERVAL) => r,
            _ = &mut stop => break 'poll,
        };
        let records = match records {
            Ok(records) => records,
            Err(e) => {
                outcome = Err(CliError::runtime(format!(
                    "consuming topic '{}' from {bootstrap}: {e}",
                    args.topic
                )));
                break;
            }
        };
        if records.is_empty() {
            if idle_limit.is_some_and(|limit| last_record.elapsed() >= limit) {
                break;
            }
            continue;
        }
        last_record = Instant::now();
        let mut out = stdout.lock();
        for record in &records {
            if writeln!(out, "{}", format_record(&args, record)).is_err() {
                // The reader went away (e.g. `| head`): stop quietly.
                break 'poll;
            }
            printed += 1;
            progress.add(1);
            to_commit.insert(
                record.topic_partition(),
                OffsetAndMetadata::new(record.offset + 1),
            );
            if args.max_messages.is_some_and(|max| printed >= max) {
                let _ = out.flush();
                break 'poll;
            }
        }
        let _ = out.flush();
        drop(out);
        if args.group.is_some() && !to_commit.is_empty() {
            match consumer.commit_offsets(to_commit.clone()).await {
                Ok(()) => to_commit.clear(),
                // A cooperative rebalance is under way: commit these after the next poll.
                Err(e) if e.is_rebalance_in_progress() => {}
                Err(e) => {
                    outcome = Err(CliError::runtime(format!(
                        "committing offsets of group '{}': {e}",
                        args.group.as_deref().unwrap_or_default()
                    )));
                    break;
                }
            }
        }
    }
    if outcome.is_ok()
        && args.group.is_some()
        && !to_commit.is_empty()
        && let Err(e) = consumer.commit_offsets(to_commit).await
    {
        outcome = Err(CliError::runtime(format!(
            "committing offsets of group '{}': {e}",
            args.group.as_deref().unwrap_or_default()
        )));
    }
    progress.finish();
    let _ = consumer.close().await;
    eprintln!("Processed a total of {printed} messages");
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ConsumeArgs {
        let mut argv = vec!["kafkit", "consume", "--topic", "t"];
        argv.extend_from_slice(extra);
        match crate::Cli::parse_from(argv).command {
            crate::Command::Consume(a) => a,
            _ => unreachable!("consume parses as consume"),
        }
    }

    #[test]
    fn records_print_with_the_chosen_prefixes() {
        let record = ConsumerRecord::new("t", 2, 5, 1000)
            .with_key(Some(bytes::Bytes::from_static(b"k")))
            .with_value(Some(bytes::Bytes::from_static(b"v")));
        assert_eq!(format_record(&args(&[]), &record), "v");
        assert_eq!(
            format_record(
                &args(&["--print-key", "--print-partition", "--print-offset"]),
                &record
            ),
            "Partition:2\tOffset:5\tk\tv"
        );
        assert_eq!(
            format_record(&args(&["--print-timestamp", "--separator", " | "]), &record),
            "CreateTime:1000 | v"
        );
        let tombstone = ConsumerRecord::new("t", 0, 0, 0);
        assert_eq!(
            format_record(&args(&["--print-key"]), &tombstone),
            "null\tnull"
        );
    }
}
