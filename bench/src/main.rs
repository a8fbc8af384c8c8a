//! `kafkit-bench`: kafkit vs rust-rdkafka vs rskafka in one run against the same broker.
//!
//! Clients run one after another in this process, each on a fresh topic; per run it measures wall
//! time and this process's CPU time (`getrusage(RUSAGE_SELF)`, all threads, so librdkafka's
//! threads count). Without `--bootstrap` the broker is a kafkit-testbroker cluster in a child
//! process, so its CPU is never counted as the client's. See bench/README.md.

mod admin;
mod broker;
mod cli;
mod consume;
mod produce;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser;

use crate::broker::ChildBroker;
use crate::cli::{BrokerArgs, Cli, Command, CommonArgs, ConsumeArgs, ProduceArgs, ProduceClient};
use crate::report::Row;

/// The error type of the benchmark's plumbing.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkit-bench: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Produce(args) => runtime.block_on(produce_main(args)),
        Command::Consume(args) => runtime.block_on(consume_main(args)),
        Command::Broker(args) => broker_main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafkit-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `kafkit-bench broker`: the test cluster in the foreground (stdio inherited).
fn broker_main(args: &BrokerArgs) -> Result<(), BoxError> {
    let path = broker::testbroker_path(args.testbroker.as_deref())?;
    let status = std::process::Command::new(&path)
        .arg("--brokers")
        .arg(args.brokers.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {status}", path.display()).into())
    }
}

/// The broker of a run: given, or a child cluster (stopped on drop).
struct Target {
    bootstrap: String,
    child: Option<ChildBroker>,
}

impl Target {
    fn open(common: &CommonArgs) -> Result<Target, BoxError> {
        if let Some(b) = &common.bootstrap {
            return Ok(Target {
                bootstrap: b.clone(),
                child: None,
            });
        }
        let path = broker::testbroker_path(common.testbroker.as_deref())?;
        let child = ChildBroker::spawn(&path, common.brokers)?;
        eprintln!(
            "kafkit-bench: spawned kafkit-testbroker (pid {}, {} brokers) at {}",
            child.pid(),
            common.brokers,
            child.bootstrap()
        );
        Ok(Target {
            bootstrap: child.bootstrap().to_string(),
            child: Some(child),
        })
    }

    fn describe(&self, common: &CommonArgs) -> String {
        match &self.child {
            Some(_) => format!(
                "kafkit-testbroker, {} brokers, in-memory, child process",
                common.brokers
            ),
            None => format!("external cluster at {}", self.bootstrap),
        }
    }

    /// CPU seconds the child broker has used so far (None for an external cluster).
    fn broker_cpu(&self) -> Option<f64> {
        self.child
            .as_ref()
            .and_then(|c| broker::process_cpu_secs(c.pid()))
    }
}

/// A topic name no earlier run used, leaked to `'static` (kafkit's records take
/// `Cow<'static, str>` topics; a handful of names per process).
fn fresh_topic(kind: &str) -> &'static str {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("bench-{kind}-{}-{n}", std::process::id());
    Box::leak(name.into_boxed_str())
}

fn extra_rdkafka(common: &CommonArgs) -> String {
    if common.rdkafka_set.is_empty() {
        return String::new();
    }
    let kv: Vec<String> = common
        .rdkafka_set
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(" Extra rdkafka settings: {}.", kv.join(", "))
}

fn row_name(client: &str, run: u32, repeat: u32) -> String {
    if repeat > 1 {
        format!("{client} #{run}")
    } else {
        client.to_string()
    }
}

fn print_results(header: &str, rows: &[Row], broker_cpu: &[(String, f64)]) {
    println!("\n{header}\n");
    print!("{}", report::markdown_table(rows));
    if !broker_cpu.is_empty() {
        let notes: Vec<String> = broker_cpu
            .iter()
            .map(|(c, s)| format!("{c} {s:.1}"))
            .collect();
        println!(
            "\nBroker (child process) CPU s per run: {}",
            notes.join(", ")
        );
    }
}

async fn produce_main(args: ProduceArgs) -> Result<(), BoxError> {
    let common = &args.common;
    let target = Target::open(common)?;
    let settings = produce::ProduceSettings {
        bootstrap: target.bootstrap.clone(),
        messages: common.messages,
        payloads: Arc::new(produce::Payloads::new(common.size, common.messages)),
        acks: args.acks,
        compression: common.compression,
        linger_ms: args.linger_ms,
        batch_size: args.batch_size,
        partitions: common.partitions,
        replication_factor: common.replication_factor,
        window: args.window,
        rdkafka_set: common.rdkafka_set.clone(),
    };
    let header = format!(
        "`kafkit-bench produce`: {} records x {} B values (keyless), acks={}, compression={}, \
         linger.ms={}, batch.size={}, topic {} partitions x RF {}, window {} futures; \
         broker: {}; machine: {}. Idempotence: kafkit {}, rdkafka off (librdkafka default), \
         rskafka none (it always sends acks=-1, whatever --acks says). rdkafka local queue: \
         queue.buffering.max.messages=1000000, queue.buffering.max.kbytes=2097151.",
        report::thousands(common.messages),
        common.size,
        args.acks,
        common.compression.name(),
        args.linger_ms,
        args.batch_size,
        common.partitions,
        common.replication_factor,
        args.window,
        target.describe(common),
        report::machine(),
        if args.acks == cli::Acks::All {
            "on (its default with acks=all)"
        } else {
            "off (it needs acks=all)"
        },
    );
    let header = header + &extra_rdkafka(common);
    eprintln!("{header}");
    let mut rows = Vec::new();
    let mut broker_cpu = Vec::new();
    for run in 1..=common.repeat {
        for &client in &args.clients {
            let name = row_name(client.name(), run, common.repeat);
            let topic = fresh_topic(client.name());
            let row = produce_one(&target, &settings, client, topic, &name, &mut broker_cpu).await;
            eprintln!(
                "{}",
                report::markdown_table(std::slice::from_ref(&row))
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            rows.push(row);
        }
    }
    print_results(&header, &rows, &broker_cpu);
    drop(target);
    Ok(())
}

async fn produce_one(
    target: &Target,
    s: &produce::ProduceSettings,
    client: ProduceClient,
    topic: &'static str,
    name: &str,
    broker_cpu: &mut Vec<(String, f64)>,
) -> Row {
    let failed_row = |e: BoxError| Row::skipped(name, &format!("FAILED: {e}"));
    let partitions = s.partitions;
    if let Err(e) = admin::create_topic(&s.bootstrap, topic, partitions, s.replication_factor).await
    {
        return failed_row(e);
    }
    let broker_before = target.broker_cpu();
    let measured = match produce::run(client, s, topic).await {
        Ok(m) => m,
        Err(e) => return failed_row(e),
    };
    if let (Some(a), Some(b)) = (broker_before, target.broker_cpu()) {
        broker_cpu.push((name.to_string(), b - a));
    }
    // With acks=0 "sent" does not mean "appended": give the broker a moment to catch up.
    let settle = if s.acks == cli::Acks::None {
        std::time::Duration::from_secs(10)
    } else {
        std::time::Duration::ZERO
    };
    let deadline = std::time::Instant::now() + settle;
    let result = loop {
        match admin::high_watermarks(&s.bootstrap, topic, partitions).await {
            Ok(w) => {
                let total: i64 = w.iter().sum();
                if u64::try_from(total).is_ok_and(|t| t >= s.messages)
                    || std::time::Instant::now() >= deadline
                {
                    break admin::verdict(&w, s.messages, measured.failed);
                }
            }
            Err(e) => break format!("FAILED: cannot read watermarks: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    Row {
        client: name.to_string(),
        messages: s.messages,
        bytes: s.messages * s.payloads.get(0).len() as u64,
        wall: measured.wall,
        cpu: measured.cpu,
        result,
    }
}

async fn consume_main(args: ConsumeArgs) -> Result<(), BoxError> {
    let common = &args.common;
    let target = Target::open(common)?;
    let topic = fresh_topic("consume");
    admin::create_topic(
        &target.bootstrap,
        topic,
        common.partitions,
        common.replication_factor,
    )
    .await?;
    // Fill the topic once, untimed, with rdkafka's BaseProducer (acks=all, linger 5 ms).
    let fill = produce::ProduceSettings {
        bootstrap: target.bootstrap.clone(),
        messages: common.messages,
        payloads: Arc::new(produce::Payloads::new(common.size, common.messages)),
        acks: cli::Acks::All,
        compression: common.compression,
        linger_ms: 5,
        batch_size: 16384,
        partitions: common.partitions,
        replication_factor: common.replication_factor,
        window: 0,
        rdkafka_set: Vec::new(),
    };
    let t = topic.to_string();
    let produced = tokio::task::spawn_blocking(move || produce::rdkafka_base(&fill, &t)).await??;
    let watermarks = admin::high_watermarks(&target.bootstrap, topic, common.partitions).await?;
    let check = admin::verdict(&watermarks, common.messages, produced.failed);
    if check != "ok" {
        return Err(format!("filling the topic failed: {check}").into());
    }
    let settings = consume::ConsumeSettings {
        bootstrap: target.bootstrap.clone(),
        topic: topic.to_string(),
        messages: common.messages,
        watermarks,
        rdkafka_set: common.rdkafka_set.clone(),
    };
    let header = format!(
        "`kafkit-bench consume`: {} records x {} B values, compression={} (written by rdkafka \
         BaseProducer, linger.ms=5, batch.size=16384), topic {} partitions x RF {}, read from the \
         beginning with assigned partitions (no group); rdkafka consumers: {}; \
         rskafka: fetch_records(offset, 1..1 MiB, 500 ms) per partition, concurrently; \
         broker: {}; machine: {}.",
        report::thousands(common.messages),
        common.size,
        common.compression.name(),
        common.partitions,
        common.replication_factor,
        consume::RDKAFKA_CONSUMER_TUNING
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        target.describe(common),
        report::machine(),
    );
    let header = header + &extra_rdkafka(common);
    eprintln!("{header}");
    let mut rows = Vec::new();
    let mut broker_cpu = Vec::new();
    for run in 1..=common.repeat {
        for &client in &args.clients {
            let name = row_name(client.name(), run, common.repeat);
            let broker_before = target.broker_cpu();
            let row = match consume::run(client, &settings).await {
                Ok(c) => Row {
                    client: name.clone(),
                    messages: c.records,
                    bytes: c.bytes,
                    wall: c.wall,
                    cpu: c.cpu,
                    result: consume::verdict(c.records, c.bytes, common.messages, common.size),
                },
                Err(e) if client == cli::ConsumeClient::Kafkit => {
                    Row::skipped(&name, &e.to_string())
                }
                Err(e) => Row::skipped(&name, &format!("FAILED: {e}")),
            };
            if let (Some(a), Some(b)) = (broker_before, target.broker_cpu()) {
                broker_cpu.push((name.clone(), b - a));
            }
            eprintln!(
                "{}",
                report::markdown_table(std::slice::from_ref(&row))
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            rows.push(row);
        }
    }
    print_results(&header, &rows, &broker_cpu);
    drop(target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(row_name("kafkit", 1, 1), "kafkit");
        assert_eq!(row_name("kafkit", 2, 3), "kafkit #2");
        let a = fresh_topic("x");
        let b = fresh_topic("x");
        assert_ne!(a, b);
        assert!(a.starts_with("bench-x-"));
    }
}
