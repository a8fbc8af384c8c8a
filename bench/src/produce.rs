//! The producing clients under test: one function per client, each creating its client, sending
//! N records to one topic, waiting until every record is acknowledged (or failed), and returning
//! the wall and process CPU time of exactly that (client creation included, shutdown excluded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer as _,
    ProducerContext,
};
use rdkafka::types::RDKafkaErrorCode;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression as RsCompression, UnknownTopicHandling};
use rskafka::client::producer::BatchProducerBuilder;
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::record::Record;

use crate::BoxError;
use crate::cli::{Acks, Compression, ProduceClient};
use crate::report::Stopwatch;

/// The record values: a pool of distinct values of the requested size, built once before any
/// timing; record `i` carries value `i % pool size`.
#[derive(Debug, Clone)]
pub struct Payloads {
    values: Vec<Bytes>,
}

impl Payloads {
    /// Up to 1024 distinct values of `size` bytes drawn from a 16-letter alphabet (so the
    /// codecs have something to compress, roughly 2:1).
    pub fn new(size: usize, messages: u64) -> Payloads {
        let pool = usize::try_from(messages.clamp(1, 1024)).unwrap_or(1024);
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let values = (0..pool)
            .map(|_| {
                (0..size)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        b'a' + (state % 16) as u8
                    })
                    .collect::<Vec<u8>>()
                    .into()
            })
            .collect();
        Payloads { values }
    }

    /// The value of record `i`.
    pub fn get(&self, i: u64) -> &Bytes {
        &self.values[(i % self.values.len() as u64) as usize]
    }
}

/// What every producing client is given.
#[derive(Debug, Clone)]
pub struct ProduceSettings {
    /// `host:port,...`.
    pub bootstrap: String,
    /// Records to send.
    pub messages: u64,
    /// The values.
    pub payloads: Arc<Payloads>,
    /// Acknowledgements.
    pub acks: Acks,
    /// Codec.
    pub compression: Compression,
    /// linger.ms.
    pub linger_ms: u64,
    /// batch.size.
    pub batch_size: usize,
    /// Partitions of the topic (rskafka needs one producer per partition).
    pub partitions: i32,
    /// Replication factor of the topic.
    pub replication_factor: i16,
    /// Delivery futures kept in flight by the async clients.
    pub window: usize,
    /// Extra librdkafka properties.
    pub rdkafka_set: Vec<(String, String)>,
}

/// The measured part of one run.
#[derive(Debug, Clone, Copy)]
pub struct Produced {
    /// Wall time from client creation to the last acknowledgement.
    pub wall: Duration,
    /// Process CPU time over the same span.
    pub cpu: Duration,
    /// Records whose delivery reported an error.
    pub failed: u64,
}

/// Runs `client` once against `topic`.
pub async fn run(
    client: ProduceClient,
    s: &ProduceSettings,
    topic: &'static str,
) -> Result<Produced, BoxError> {
    match client {
        ProduceClient::Kafkit => kafkit(s, topic, false).await,
        ProduceClient::KafkitForget => kafkit(s, topic, true).await,
        ProduceClient::RdkafkaFuture => rdkafka_future(s, topic).await,
        ProduceClient::RdkafkaBase => {
            let s = s.clone();
            tokio::task::spawn_blocking(move || rdkafka_base(&s, topic)).await?
        }
        ProduceClient::Rskafka => rskafka(s, topic).await,
    }
}

/// The kafkit settings: kafkit defaults (idempotence on for acks=all, buffer.memory 32 MiB) plus
/// the benchmark's acks, compression, linger.ms and batch.size.
pub fn kafkit_config(s: &ProduceSettings) -> Result<ProducerConfig, BoxError> {
    let mut b = ProducerConfig::builder();
    b.bootstrap_servers(&s.bootstrap);
    b.set("acks", s.acks.config_value())?
        .set("compression.type", s.compression.name())?
        .set("linger.ms", &s.linger_ms.to_string())?
        .set("batch.size", &s.batch_size.to_string())?;
    Ok(b.build()?)
}

async fn kafkit(
    s: &ProduceSettings,
    topic: &'static str,
    forget: bool,
) -> Result<Produced, BoxError> {
    let sw = Stopwatch::start();
    let producer = Producer::new(kafkit_config(s)?)?;
    let mut failed = 0;
    if forget {
        for i in 0..s.messages {
            let record = ProducerRecord::<&[u8], Bytes>::new(topic, s.payloads.get(i).clone());
            producer.send_and_forget(record).await?;
        }
        producer.flush().await;
        failed = producer.metrics().records_failed;
    } else {
        let mut window = FuturesUnordered::new();
        for i in 0..s.messages {
            if window.len() >= s.window
                && let Some(Err(_)) = window.next().await
            {
                failed += 1;
            }
            let record = ProducerRecord::<&[u8], Bytes>::new(topic, s.payloads.get(i).clone());
            window.push(producer.send(record).await?);
        }
        while let Some(result) = window.next().await {
            failed += u64::from(result.is_err());
        }
    }
    let (wall, cpu) = sw.stop();
    let m = producer.metrics();
    eprintln!(
        "  kafkit metrics: {} records in {} batches ({:.0} records/batch), {} requests, {} bytes, \
         {} retries, {} failed",
        m.records_sent,
        m.batches_sent,
        m.records_sent as f64 / m.batches_sent.max(1) as f64,
        m.requests_sent,
        m.bytes_sent,
        m.retries,
        m.records_failed
    );
    producer.close().await;
    Ok(Produced { wall, cpu, failed })
}

/// The librdkafka settings: its defaults (enable.idempotence=false) plus the benchmark's acks,
/// compression, linger.ms and batch.size, and a local queue big enough for the whole run.
pub fn rdkafka_config(s: &ProduceSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.bootstrap)
        .set("acks", s.acks.config_value())
        .set("compression.type", s.compression.name())
        .set("linger.ms", s.linger_ms.to_string())
        .set("batch.size", s.batch_size.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "2097151");
    for (k, v) in &s.rdkafka_set {
        c.set(k, v);
    }
    c
}

async fn rdkafka_future(s: &ProduceSettings, topic: &'static str) -> Result<Produced, BoxError> {
    let sw = Stopwatch::start();
    let producer: FutureProducer = rdkafka_config(s).create()?;
    let mut failed = 0u64;
    let mut window = FuturesUnordered::new();
    let count = |r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, _>| {
        u64::from(!matches!(r, Ok(Ok(_))))
    };
    for i in 0..s.messages {
        let mut record = FutureRecord::<(), [u8]>::to(topic).payload(&s.payloads.get(i)[..]);
        loop {
            if window.len() >= s.window
                && let Some(r) = window.next().await
            {
                failed += count(r);
            }
            match producer.send_result(record) {
                Ok(delivery) => {
                    window.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    match window.next().await {
                        Some(r) => failed += count(r),
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    while let Some(r) = window.next().await {
        failed += count(r);
    }
    let (wall, cpu) = sw.stop();
    drop(producer);
    Ok(Produced { wall, cpu, failed })
}

/// Counts failed deliveries of the BaseProducer.
#[derive(Debug, Default)]
struct CountingContext {
    failed: AtomicU64,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The BaseProducer loop (blocking): send, poll for delivery reports every 1024 records and
/// whenever the local queue is full, then flush.
pub fn rdkafka_base(s: &ProduceSettings, topic: &str) -> Result<Produced, BoxError> {
    let sw = Stopwatch::start();
    let producer: BaseProducer<CountingContext> =
        rdkafka_config(s).create_with_context(CountingContext::default())?;
    for i in 0..s.messages {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&s.payloads.get(i)[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if i.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let (wall, cpu) = sw.stop();
    let failed = producer.context().failed.load(Ordering::Relaxed);
    drop(producer);
    Ok(Produced { wall, cpu, failed })
}

fn rskafka_compression(c: Compression) -> RsCompression {
    match c {
        Compression::None => RsCompression::NoCompression,
        Compression::Gzip => RsCompression::Gzip,
        Compression::Snappy => RsCompression::Snappy,
        Compression::Lz4 => RsCompression::Lz4,
        Compression::Zstd => RsCompression::Zstd,
    }
}

/// The current time as rskafka's records want it (its chrono has no `clock` feature).
fn now_utc() -> DateTime<Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The bootstrap list as rskafka wants it.
pub fn bootstrap_list(bootstrap: &str) -> Vec<String> {
    bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// rskafka: a `BatchProducer` (RecordAggregator of batch.size bytes, linger.ms) per partition,
/// records spread round-robin, up to `window` produce futures in flight. rskafka always sends
/// acks=-1 and has no idempotence; each record's value is copied into the `Vec<u8>` its
/// `Record` requires (part of the API's cost, so inside the timed region).
async fn rskafka(s: &ProduceSettings, topic: &'static str) -> Result<Produced, BoxError> {
    let sw = Stopwatch::start();
    let client = ClientBuilder::new(bootstrap_list(&s.bootstrap))
        .build()
        .await?;
    let mut producers = Vec::new();
    for p in 0..s.partitions {
        let pc = client
            .partition_client(topic, p, UnknownTopicHandling::Retry)
            .await?;
        producers.push(
            BatchProducerBuilder::new(Arc::new(pc))
                .with_linger(Duration::from_millis(s.linger_ms))
                .with_compression(rskafka_compression(s.compression))
                .build(RecordAggregator::new(s.batch_size)),
        );
    }
    let mut failed = 0u64;
    let mut window = FuturesUnordered::new();
    for i in 0..s.messages {
        if window.len() >= s.window
            && let Some(r) = window.next().await
        {
            failed += u64::from(Result::is_err(&r));
        }
        let record = Record {
            key: None,
            value: Some(s.payloads.get(i).to_vec()),
            headers: BTreeMap::new(),
            timestamp: now_utc(),
        };
        let producer = &producers[(i % producers.len() as u64) as usize];
        window.push(producer.produce(record));
    }
    while let Some(r) = window.next().await {
        failed += u64::from(r.is_err());
    }
    let (wall, cpu) = sw.stop();
    drop(window);
    drop(producers);
    drop(client);
    Ok(Produced { wall, cpu, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_pool() {
        let p = Payloads::new(100, 5);
        assert_eq!(p.values.len(), 5);
        assert!(p.values.iter().all(|v| v.len() == 100));
        assert_eq!(p.get(7), p.get(2));
        assert_ne!(p.get(0), p.get(1));
        assert!(p.get(3).iter().all(|b| (b'a'..b'a' + 16).contains(b)));
        assert_eq!(Payloads::new(10, 1_000_000).values.len(), 1024);
    }

    #[test]
    fn bootstrap_split() {
        assert_eq!(bootstrap_list("a:1, b:2,"), vec!["a:1", "b:2"]);
    }
}
