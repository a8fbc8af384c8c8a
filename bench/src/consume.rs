//! The consuming clients under test: one function per client, each reading every record of an
//! already produced topic from the beginning (no consumer group membership) and returning the
//! count, value bytes, wall and process CPU time.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;

use crate::BoxError;
use crate::cli::ConsumeClient;
use crate::produce::bootstrap_list;
use crate::report::Stopwatch;

/// A run stops when no record arrives for this long.
const STALL: Duration = Duration::from_secs(30);

/// What every consuming client is given.
#[derive(Debug, Clone)]
pub struct ConsumeSettings {
    /// `host:port,...`.
    pub bootstrap: String,
    /// The topic to read.
    pub topic: String,
    /// Records in the topic.
    pub messages: u64,
    /// High watermark of each partition (read before the run), in partition order.
    pub watermarks: Vec<i64>,
    /// Extra librdkafka properties.
    pub rdkafka_set: Vec<(String, String)>,
}

/// The measured part of one run.
#[derive(Debug, Clone, Copy)]
pub struct Consumed {
    /// Records received.
    pub records: u64,
    /// Value bytes received.
    pub bytes: u64,
    /// Wall time from client creation to the last record.
    pub wall: Duration,
    /// Process CPU time over the same span.
    pub cpu: Duration,
}

/// Runs `client` once.
pub async fn run(client: ConsumeClient, s: &ConsumeSettings) -> Result<Consumed, BoxError> {
    match client {
        ConsumeClient::RdkafkaStream => rdkafka_stream(s).await,
        ConsumeClient::RdkafkaBase => {
            let s = s.clone();
            tokio::task::spawn_blocking(move || rdkafka_base(&s)).await?
        }
        ConsumeClient::Rskafka => rskafka(s).await,
        ConsumeClient::Kafkit => kafkit(s).await,
    }
}

/// The kafkit consumer: every partition assigned (no group), from the beginning, `poll` with
/// `max.poll.records` 10,000 (librdkafka hands out records one by one from a prefetched queue;
/// kafkit's `poll` returns what the fetcher holds, up to that many).
async fn kafkit(s: &ConsumeSettings) -> Result<Consumed, BoxError> {
    use kafkit::TopicPartition;
    use kafkit::consumer::client::Consumer;
    use kafkit::consumer::config::ConsumerConfig;

    let sw = Stopwatch::start();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&s.bootstrap)
        .set("auto.offset.reset", "earliest")?
        .set("max.poll.records", "10000")?
        .build()?;
    let mut consumer = Consumer::new(config)?;
    let partitions: Vec<TopicPartition> = (0..s.watermarks.len())
        .map(|p| TopicPartition::new(s.topic.as_str(), i32::try_from(p).unwrap_or(i32::MAX)))
        .collect();
    consumer.assign(partitions.clone())?;
    consumer.seek_to_beginning(&partitions);
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while records < s.messages && last.elapsed() < STALL {
        let batch = consumer.poll(Duration::from_millis(100)).await?;
        if !batch.is_empty() {
            last = Instant::now();
        }
        for r in &batch {
            records += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
    }
    let (wall, cpu) = sw.stop();
    consumer.close().await?;
    Ok(Consumed {
        records,
        bytes,
        wall,
        cpu,
    })
}

/// The prefetch settings the rdkafka consumers get on top of librdkafka's defaults: without them
/// librdkafka stops fetching a partition once 100,000 records are queued locally and then backs off
/// for `fetch.queue.backoff.ms` (1 s), which makes a read-everything run mostly idle waiting.
pub const RDKAFKA_CONSUMER_TUNING: [(&str, &str); 3] = [
    ("fetch.queue.backoff.ms", "0"),
    ("queued.min.messages", "1000000"),
    ("queued.max.messages.kbytes", "1048576"),
];

/// librdkafka defaults, [`RDKAFKA_CONSUMER_TUNING`], then `--rdkafka-set`, plus a fresh group id
/// (never joined: partitions are assigned directly, from the beginning, no commits).
fn rdkafka_config(s: &ConsumeSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.bootstrap)
        .set(
            "group.id",
            format!("kafkit-bench-{}-{}", std::process::id(), unique()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    for (k, v) in RDKAFKA_CONSUMER_TUNING {
        c.set(k, v);
    }
    for (k, v) in &s.rdkafka_set {
        c.set(k, v);
    }
    c
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn assignment(s: &ConsumeSettings) -> Result<TopicPartitionList, BoxError> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..s.watermarks.len() {
        tpl.add_partition_offset(&s.topic, i32::try_from(p)?, Offset::Beginning)?;
    }
    Ok(tpl)
}

async fn rdkafka_stream(s: &ConsumeSettings) -> Result<Consumed, BoxError> {
    let sw = Stopwatch::start();
    let consumer: StreamConsumer = rdkafka_config(s).create()?;
    consumer.assign(&assignment(s)?)?;
    let mut stream = consumer.stream();
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < s.messages {
        match tokio::time::timeout(STALL, stream.next()).await {
            Ok(Some(Ok(m))) => {
                records += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) | Err(_) => break,
        }
    }
    let (wall, cpu) = sw.stop();
    drop(stream);
    drop(consumer);
    Ok(Consumed {
        records,
        bytes,
        wall,
        cpu,
    })
}

fn rdkafka_base(s: &ConsumeSettings) -> Result<Consumed, BoxError> {
    let sw = Stopwatch::start();
    let consumer: BaseConsumer = rdkafka_config(s).create()?;
    consumer.assign(&assignment(s)?)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    while records < s.messages && last.elapsed() < STALL {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                last = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    let (wall, cpu) = sw.stop();
    drop(consumer);
    Ok(Consumed {
        records,
        bytes,
        wall,
        cpu,
    })
}

/// rskafka: one `PartitionClient` per partition, all fetching concurrently
/// (`fetch_records(offset, 1..1 MiB, 500 ms)`) until each reaches its high watermark.
async fn rskafka(s: &ConsumeSettings) -> Result<Consumed, BoxError> {
    let sw = Stopwatch::start();
    let client = ClientBuilder::new(bootstrap_list(&s.bootstrap))
        .build()
        .await?;
    let client = &client;
    let per_partition = s.watermarks.iter().enumerate().map(|(p, &hw)| async move {
        let pc = client
            .partition_client(
                s.topic.clone(),
                i32::try_from(p)?,
                UnknownTopicHandling::Retry,
            )
            .await?;
        let (mut offset, mut records, mut bytes) = (0i64, 0u64, 0u64);
        let mut last = Instant::now();
        while offset < hw && last.elapsed() < STALL {
            let (batch, _hw) = pc.fetch_records(offset, 1..1_048_576, 500).await?;
            if let Some(tail) = batch.last() {
                offset = tail.offset + 1;
                last = Instant::now();
            }
            records += batch.len() as u64;
            bytes += batch
                .iter()
                .map(|r| r.record.value.as_ref().map_or(0, |v| v.len() as u64))
                .sum::<u64>();
        }
        Ok::<_, BoxError>((records, bytes))
    });
    let results = futures::future::join_all(per_partition).await;
    let (wall, cpu) = sw.stop();
    let (mut records, mut bytes) = (0, 0);
    for r in results {
        let (n, b) = r?;
        records += n;
        bytes += b;
    }
    Ok(Consumed {
        records,
        bytes,
        wall,
        cpu,
    })
}

/// `ok` when `records` and `bytes` match what was produced, else a `FAILED: ...` verdict.
pub fn verdict(records: u64, bytes: u64, messages: u64, size: usize) -> String {
    let want_bytes = messages * size as u64;
    if records == messages && bytes == want_bytes {
        "ok".to_string()
    } else {
        format!("FAILED: {records} records / {bytes} bytes, expected {messages} / {want_bytes}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(10, 1000, 10, 100), "ok");
        assert_eq!(
            verdict(9, 900, 10, 100),
            "FAILED: 9 records / 900 bytes, expected 10 / 1000"
        );
    }
}
