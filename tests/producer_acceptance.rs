//! Issue 5's acceptance tests for `kafkit::producer::client::Producer` against the in-process
//! test broker (3 brokers, RF 3), covering what `tests/producer.rs` does not:
//!
//! * every codec (none, gzip, snappy, lz4, zstd): keyed and keyless records, headers (repeated
//!   keys, empty and null values), null keys and values, explicit and stamped timestamps,
//!   sizes from 0 bytes to 200 KB, read back by `kcat` (librdkafka) and by kafka-python at
//!   exactly the partition, offset and timestamp each `RecordMetadata` reported, with the
//!   broker storing batches of that codec;
//! * keyed placement for 10,000 distinct keys equal to kafka-python's own `DefaultPartitioner`
//!   (its pure-Python murmur2, computed in Python) on topics of 7 and 12 partitions;
//! * idempotent streams of 20,000 keyed records with up to 2,000 outstanding under injected
//!   `REQUEST_TIMED_OUT` (answered unwritten, and written but answered too late),
//!   `NOT_LEADER_OR_FOLLOWER`, dropped connections, a leader stopped or crashed and restarted,
//!   leader moves, an isolated stale leader, `NOT_ENOUGH_REPLICAS`, sequence errors, all of
//!   them at once, and batches that expire after being written: every acknowledged record is
//!   in the log exactly once, at its reported offset, each partition in send order;
//! * send modes: callbacks and every mode mixed keep send order per partition across
//!   retries; dropped async futures still deliver; `buffer.memory` back-pressure blocks then
//!   proceeds; a record over the topic's `max.message.bytes` fails with a typed
//!   `MESSAGE_TOO_LARGE` without breaking the sequence of the records around it, and a batch
//!   over it is split.
//!
//! Two ignored tests reproduce producer bugs: callbacks of one partition can run out of send
//! order, and `flush()` can return before earlier callbacks ran.
//!
//! The interop parts are skipped with a printed reason when `kcat` or python3 with
//! kafka-python is missing, unless `KAFKIT_REQUIRE_INTEROP` is set.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::SplitMix64;
use kafkit::messages::ApiKey;
use kafkit::producer::client::{
    DeliveryFuture, DeliveryResult, ProduceError, Producer, ProducerError,
};
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::{ProducerRecord, RecordMetadata};
use kafkit::producer::sink;
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchIter, Compression};
use kafkit_testbroker::{Cluster, FaultAction, FaultMatch, FaultRule};

const WAIT: Duration = Duration::from_secs(20);
const PEER_LIMIT: Duration = Duration::from_secs(60);

async fn cluster_with(topics: &[(&str, i32)]) -> Cluster {
    let mut builder = Cluster::builder().brokers(3).auto_create_topics(false);
    for (name, partitions) in topics {
        builder = builder.topic(name, *partitions, 3);
    }
    builder.build().await.unwrap()
}

fn config(cluster: &Cluster) -> kafkit::producer::config::ProducerConfigBuilder {
    let mut b = ProducerConfig::builder();
    b.bootstrap_servers(cluster.bootstrap_servers())
        .linger(Duration::from_millis(5));
    b
}

// ---------------------------------------------------------------------------------------------
// Records as sent and as read back
// ---------------------------------------------------------------------------------------------

/// A header as sent or read: its key and its value (`None` is null).
type Header = (String, Option<Vec<u8>>);

/// A record's content, as sent or as a reader saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Content {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

/// A record a reader returned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadBack {
    partition: i32,
    offset: i64,
    /// The record's timestamp (create time on these topics).
    timestamp: i64,
    content: Content,
}

/// The explicit create time [`varied_contents`] gives every third record (`None`: the
/// producer stamps the send time).
fn explicit_timestamp(id: usize) -> Option<i64> {
    id.is_multiple_of(3)
        .then(|| 1_600_000_000_000 + id as i64 * 1_001)
}

impl Content {
    fn to_record(&self, topic: &str) -> ProducerRecord<Vec<u8>, Vec<u8>> {
        let mut record = ProducerRecord::<Vec<u8>, Vec<u8>>::new(topic.to_string(), Vec::new());
        record.key = self.key.clone();
        record.value = self.value.clone();
        for (name, value) in &self.headers {
            record = match value {
                Some(v) => record.with_header(name.clone(), v.clone()),
                None => record.with_null_header(name.clone()),
            };
        }
        record
    }
}

/// Header values `kcat -f %h` can print unambiguously: no `,`, `=`, newline or NUL.
fn header_text(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/ ";
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

/// Compressible bytes with some arbitrary ones mixed in.
fn mixed_bytes(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"kafkit sends batches; the broker keeps them; readers agree. ";
    let start = rng.below(TEXT.len() as u64) as usize;
    (0..len)
        .map(|i| {
            if rng.below(10) == 0 {
                rng.below(256) as u8
            } else {
                TEXT[(start + i) % TEXT.len()]
            }
        })
        .collect()
}

/// `count` records of every shape: keyed and keyless, null keys and values, empty values,
/// 0..4 headers (repeated keys, empty and null values), values from 0 bytes to 200 KB.
fn varied_contents(count: usize, seed: u64) -> Vec<Content> {
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|id| {
            let binary_key = {
                let mut k = format!("key-{}-", id % 37).into_bytes();
                let extra = rng.below(8) as usize;
                k.extend((0..extra).map(|_| rng.below(256) as u8));
                k
            };
            let size = match id % 50 {
                0 => 200_000,
                7 | 31 => 20_000 + rng.below(20_000) as usize,
                _ => rng.below(600) as usize,
            };
            let (key, value) = match id % 8 {
                0..=2 => (Some(binary_key), Some(mixed_bytes(&mut rng, size))),
                3 => (None, Some(mixed_bytes(&mut rng, size))),
                4 => (Some(binary_key), None),
                5 => (Some(binary_key), Some(Vec::new())),
                6 => (None, None),
                _ => (Some(Vec::new()), Some(mixed_bytes(&mut rng, size))),
            };
            let headers = match id % 5 {
                // More headers than the producer converts on the stack (it spills past 8).
                0 if id % 50 == 25 => (0..12)
                    .map(|h| {
                        (
                            format!("h{h}"),
                            (h % 4 != 3).then(|| header_text(&mut rng, h)),
                        )
                    })
                    .collect(),
                0 => Vec::new(),
                1 => vec![("trace".to_string(), Some(header_text(&mut rng, 16)))],
                2 => vec![
                    ("dup".to_string(), Some(header_text(&mut rng, 3))),
                    ("empty".to_string(), Some(Vec::new())),
                    ("dup".to_string(), Some(header_text(&mut rng, 40))),
                ],
                3 => vec![("nothing".to_string(), None)],
                _ => vec![
                    ("a".to_string(), Some(header_text(&mut rng, 1))),
                    ("nothing".to_string(), None),
                    ("b".to_string(), Some(header_text(&mut rng, 200))),
                    ("c-é".to_string(), Some(header_text(&mut rng, 5))),
                ],
            };
            Content {
                key,
                value,
                headers,
            }
        })
        .collect()
}

/// Sends every content with [`Producer::send`] (all in flight at once) and returns each one's
/// metadata, in send order. Every third record carries an [`explicit_timestamp`].
async fn send_all(producer: &Producer, topic: &str, contents: &[Content]) -> Vec<RecordMetadata> {
    let mut futures = Vec::with_capacity(contents.len());
    for (id, c) in contents.iter().enumerate() {
        let mut record = c.to_record(topic);
        record.timestamp = explicit_timestamp(id);
        futures.push(producer.send(record).await.unwrap());
    }
    let mut metas = Vec::with_capacity(futures.len());
    for (id, f) in futures.into_iter().enumerate() {
        let meta = f
            .await
            .unwrap_or_else(|e| panic!("record {id} not delivered: {e}"));
        assert_eq!(&*meta.topic, topic);
        if let Some(ts) = explicit_timestamp(id) {
            assert_eq!(
                meta.timestamp, ts,
                "record {id}: the create time it was given"
            );
        } else {
            assert!(
                meta.timestamp > 1_700_000_000_000,
                "record {id}: stamped at send"
            );
        }
        metas.push(meta);
    }
    metas
}

/// Asserts that `got` holds exactly the sent records, each at the partition and offset its
/// metadata reported, with the timestamp it reported, identical in key, value and headers,
/// and nothing else.
fn assert_read_back(label: &str, sent: &[Content], metas: &[RecordMetadata], got: &[ReadBack]) {
    let mut by_position: HashMap<(i32, i64), usize> = HashMap::new();
    for (id, meta) in metas.iter().enumerate() {
        assert!(
            by_position
                .insert((meta.partition, meta.offset), id)
                .is_none(),
            "{label}: two records reported at {}:{}",
            meta.partition,
            meta.offset
        );
    }
    let mut seen = HashSet::new();
    for r in got {
        let id = *by_position
            .get(&(r.partition, r.offset))
            .unwrap_or_else(|| {
                panic!(
                    "{label}: unexpected record at {}:{}: {:?}",
                    r.partition, r.offset, r.content
                )
            });
        assert!(
            seen.insert(id),
            "{label}: record {id} ({}:{}) read twice",
            r.partition,
            r.offset
        );
        let want = &sent[id];
        assert_eq!(
            r.timestamp, metas[id].timestamp,
            "{label}: timestamp of record {id} at {}:{}",
            r.partition, r.offset
        );
        assert_eq!(
            r.content.key, want.key,
            "{label}: key of record {id} at {}:{}",
            r.partition, r.offset
        );
        assert_eq!(
            r.content.value, want.value,
            "{label}: value of record {id} at {}:{}",
            r.partition, r.offset
        );
        assert_eq!(
            r.content.headers, want.headers,
            "{label}: headers of record {id} at {}:{}",
            r.partition, r.offset
        );
    }
    assert_eq!(
        seen.len(),
        sent.len(),
        "{label}: read back {} of {} records",
        seen.len(),
        sent.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Readers: kcat, kafka-python, the leader's log
// ---------------------------------------------------------------------------------------------

/// `kcat -C` over every partition of `topic` from the beginning to the end, with a format
/// whose key and value lengths make binary data unambiguous: `%p %o %T %K %S:%k%s|%h\n`.
fn kcat_read(bootstrap: &str, topic: &str) -> Vec<ReadBack> {
    let mut cmd = Command::new("kcat");
    cmd.args(["-C", "-b", bootstrap, "-t", topic])
        .args(["-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=100"])
        .args(["-f", "%p %o %T %K %S:%k%s|%h\n"]);
    let out = common::run_ok(&format!("kcat consume {topic}"), cmd, None, PEER_LIMIT);
    parse_kcat(&out.stdout)
}

/// Parses [`kcat_read`]'s output (headers: see [`parse_kcat_headers`]).
fn parse_kcat(mut out: &[u8]) -> Vec<ReadBack> {
    let mut records = Vec::new();
    while !out.is_empty() {
        let colon = out
            .iter()
            .position(|&b| b == b':')
            .expect("kcat record header ends with ':'");
        let header = std::str::from_utf8(&out[..colon]).expect("kcat header is ASCII");
        let fields: Vec<i64> = header
            .split(' ')
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|_| panic!("bad kcat header {header:?}"))
            })
            .collect();
        let [partition, offset, timestamp, key_len, value_len] = fields[..] else {
            panic!("bad kcat header {header:?}");
        };
        out = &out[colon + 1..];
        let mut take = |len: i64| {
            if len < 0 {
                return None;
            }
            let (field, rest) = out.split_at(len as usize);
            out = rest;
            Some(field.to_vec())
        };
        let key = take(key_len);
        let value = take(value_len);
        assert_eq!(
            out.first(),
            Some(&b'|'),
            "kcat record at {partition}:{offset}: no '|' after the value"
        );
        let newline = out
            .iter()
            .position(|&b| b == b'\n')
            .expect("kcat record ends with a newline");
        let headers = parse_kcat_headers(&out[1..newline]);
        out = &out[newline + 1..];
        records.push(ReadBack {
            partition: partition as i32,
            offset,
            timestamp,
            content: Content {
                key,
                value,
                headers,
            },
        });
    }
    records
}

/// kcat's `%h`: empty for no headers, else `name=value` joined by `,`, a null value printed as
/// the text `NULL` (taken literally here; the caller compares with [`kcat_view`]).
fn parse_kcat_headers(text: &[u8]) -> Vec<Header> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|&b| b == b',')
        .map(|pair| {
            let eq = pair
                .iter()
                .position(|&b| b == b'=')
                .unwrap_or_else(|| panic!("kcat header without '=': {pair:?}"));
            (
                String::from_utf8(pair[..eq].to_vec()).expect("UTF-8 header name"),
                Some(pair[eq + 1..].to_vec()),
            )
        })
        .collect()
}

/// What kcat shows of a record: a null header value is printed as `NULL` (which
/// [`header_text`] never produces: its values are 1, 3, 5, 16, 40 or 200 bytes long).
fn kcat_view(contents: &[Content]) -> Vec<Content> {
    contents
        .iter()
        .map(|c| Content {
            headers: c
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Some(v.clone().unwrap_or_else(|| b"NULL".to_vec())),
                    )
                })
                .collect(),
            ..c.clone()
        })
        .collect()
}

/// What kafka-python read: the records and, for keyed ones, the partition its own
/// `DefaultPartitioner` picks for the key (`None` for a null key).
struct PythonRead {
    records: Vec<(ReadBack, Option<i32>)>,
    end_offsets: BTreeMap<i32, i64>,
}

fn kafka_python_read(python: &str, bootstrap: &str, topic: &str) -> PythonRead {
    let mut cmd = Command::new(python);
    cmd.arg(common::interop_script("kafka_python_readback.py"))
        .args(["consume", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--timeout", "40"]);
    let out = common::run_ok(
        &format!("kafka-python consume {topic}"),
        cmd,
        None,
        PEER_LIMIT,
    );
    parse_python(&out.stdout)
}

fn parse_python(stdout: &[u8]) -> PythonRead {
    let mut read = PythonRead {
        records: Vec::new(),
        end_offsets: BTreeMap::new(),
    };
    for line in String::from_utf8_lossy(stdout).lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["end", partition, offset] => {
                read.end_offsets
                    .insert(partition.parse().unwrap(), offset.parse().unwrap());
            }
            [
                "record",
                partition,
                offset,
                timestamp,
                placement,
                key,
                value,
                headers,
            ] => {
                let headers = if headers == "-" {
                    Vec::new()
                } else {
                    headers
                        .split(',')
                        .map(|h| {
                            let (name, value) = h.split_once(':').expect("NAMEHEX:VALUEHEX");
                            let name = common::unhex(name).expect("a header name");
                            (String::from_utf8(name).unwrap(), common::unhex(value))
                        })
                        .collect()
                };
                let record = ReadBack {
                    partition: partition.parse().unwrap(),
                    offset: offset.parse().unwrap(),
                    timestamp: timestamp.parse().unwrap(),
                    content: Content {
                        key: common::unhex(key),
                        value: common::unhex(value),
                        headers,
                    },
                };
                let placement = (placement != "-").then(|| placement.parse().unwrap());
                read.records.push((record, placement));
            }
            _ => panic!("unexpected kafka-python line {line:?}"),
        }
    }
    read
}

/// Every record of a partition (offset, key, value) from its leader's log, after waiting for
/// the high watermark to reach `at_least`.
async fn leader_log(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    at_least: i64,
) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    cluster
        .wait_for_high_watermark(topic, partition, at_least, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{topic}/{partition} never reached {at_least}: {e}"));
    let leader = cluster
        .replica_info(topic, partition)
        .into_iter()
        .find(|r| r.is_leader)
        .expect("a leader");
    let bytes = cluster
        .replica_records(leader.broker, topic, partition, 0, leader.high_watermark)
        .expect("the leader's log");
    let mut out = Vec::new();
    for batch in BatchIter::new(bytes) {
        let batch = batch.expect("a stored batch parses");
        for record in batch.records().expect("its records decode") {
            let r = record.expect("a record decodes");
            out.push((r.offset, r.key, r.value));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Every codec, read back by kcat and kafka-python
// ---------------------------------------------------------------------------------------------

async fn every_codec_reads_back(codec: Compression) {
    let name = codec.name();
    let test = format!("codec_{name}_reads_back_in_kcat_and_kafka_python");
    let kcat = common::peer_available(&test, "kcat", &["-V"]);
    let python = common::python_with_kafka(&test);
    let topic = format!("codec-{name}");
    let cluster = cluster_with(&[(&topic, 3)]).await;
    let producer = Producer::new(config(&cluster).compression(codec).build().unwrap()).unwrap();
    let sent = varied_contents(400, 0xc0de_c000 + codec.id() as u64);
    let metas = send_all(&producer, &topic, &sent).await;
    producer.close().await;
    assert_eq!(producer.metrics().records_sent, sent.len() as u64);
    for (c, meta) in sent.iter().zip(&metas) {
        if let Some(key) = &c.key {
            assert_eq!(
                meta.partition,
                common::partition_for_key(key, 3),
                "keyed placement"
            );
        }
    }
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for meta in &metas {
        let e = ends.entry(meta.partition).or_insert(0);
        *e = (*e).max(meta.offset + 1);
    }
    for (p, end) in &ends {
        cluster
            .wait_for_high_watermark(&topic, *p, *end, WAIT)
            .await
            .unwrap();
    }
    let bootstrap = cluster.bootstrap_servers();
    tokio::task::block_in_place(|| {
        common::assert_stored_codec(&cluster, &topic, name);
        if kcat {
            let got = kcat_read(&bootstrap, &topic);
            assert_read_back(&format!("kcat {name}"), &kcat_view(&sent), &metas, &got);
        }
        if let Some(python) = &python {
            let read = kafka_python_read(python, &bootstrap, &topic);
            let got: Vec<ReadBack> = read.records.iter().map(|(r, _)| r.clone()).collect();
            assert_read_back(&format!("kafka-python {name}"), &sent, &metas, &got);
            for (p, end) in &read.end_offsets {
                assert_eq!(ends.get(p).copied().unwrap_or(0), *end, "end of {p}");
            }
        }
    });
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_none_reads_back_in_kcat_and_kafka_python() {
    every_codec_reads_back(Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_gzip_reads_back_in_kcat_and_kafka_python() {
    every_codec_reads_back(Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_snappy_reads_back_in_kcat_and_kafka_python() {
    every_codec_reads_back(Compression::Snappy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_lz4_reads_back_in_kcat_and_kafka_python() {
    every_codec_reads_back(Compression::Lz4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_zstd_reads_back_in_kcat_and_kafka_python() {
    every_codec_reads_back(Compression::Zstd).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Keyed placement equal to kafka-python's murmur2 for 10,000 keys
// ---------------------------------------------------------------------------------------------

/// 10,000 distinct keys of every length from 0 to 63 bytes: the empty key, every single byte,
/// two- and three-byte keys over all first bytes (murmur2's tail cases, with high bytes that a
/// sign-extension bug would mishandle), then a unique 4-byte prefix with 0..60 random bytes.
fn distinct_keys(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SplitMix64(seed);
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|i| match i {
            0 => Vec::new(),
            1..=255 => vec![i as u8],
            256..=511 => vec![(i - 256) as u8, 0x80],
            512..=767 => vec![(i - 512) as u8, 0xff, 0x7f],
            _ => {
                let mut k = (i as u32).to_be_bytes().to_vec();
                let extra = rng.below(60) as usize;
                k.extend((0..extra).map(|_| rng.below(256) as u8));
                k
            }
        })
        .collect();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), count);
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_placement_equals_kafka_python_murmur2_for_10000_keys() {
    const TEST: &str = "keyed_placement_equals_kafka_python_murmur2_for_10000_keys";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let topics = [("placement-7", 7), ("placement-12", 12)];
    let cluster = cluster_with(&topics).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let keys = distinct_keys(10_000, 0x6d75_726d);
    let mut futures = Vec::new();
    for (topic, _) in topics {
        for (i, key) in keys.iter().enumerate() {
            let record = ProducerRecord::<Vec<u8>, Vec<u8>>::new(topic, i.to_string().into_bytes())
                .with_key(key.clone());
            futures.push((topic, i, producer.send(record).await.unwrap()));
        }
    }
    // Where kafkit put each key, per topic.
    let mut placed: HashMap<(&str, Vec<u8>), (i32, i64)> = HashMap::new();
    for (topic, i, f) in futures {
        let meta = f.await.unwrap();
        placed.insert((topic, keys[i].clone()), (meta.partition, meta.offset));
    }
    producer.close().await;
    let bootstrap = cluster.bootstrap_servers();
    for (topic, partitions) in topics {
        for p in 0..partitions {
            let end = placed
                .iter()
                .filter(|((t, _), (pp, _))| *t == topic && *pp == p)
                .count() as i64;
            cluster
                .wait_for_high_watermark(topic, p, end, WAIT)
                .await
                .unwrap();
        }
        let read = tokio::task::block_in_place(|| kafka_python_read(&python, &bootstrap, topic));
        assert_eq!(read.records.len(), keys.len(), "{topic}: every record once");
        let mut seen = HashSet::new();
        let mut per_partition = vec![0usize; partitions as usize];
        for (r, placement) in &read.records {
            let key = r.content.key.clone().expect("a keyed record");
            assert_eq!(
                *placement,
                Some(r.partition),
                "{topic}: key {key:02x?} is on partition {}, kafka-python's murmur2 says {placement:?}",
                r.partition
            );
            assert_eq!(
                placed.get(&(topic, key.clone())),
                Some(&(r.partition, r.offset)),
                "{topic}: key {key:02x?} not where its RecordMetadata said"
            );
            assert!(seen.insert(key), "{topic}: a key read twice");
            per_partition[r.partition as usize] += 1;
        }
        assert!(
            per_partition.iter().all(|n| *n > 0),
            "{topic}: {per_partition:?}"
        );
        println!("{topic}: 10,000 keys placed as kafka-python places them: {per_partition:?}");
    }
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Idempotent streams under faults: every acknowledged record once, in send order
// ---------------------------------------------------------------------------------------------

const STREAM_RECORDS: usize = 20_000;
const STREAM_KEYS: u64 = 64;
const STREAM_PARTITIONS: i32 = 4;
/// Records awaiting their outcome at any time (the stream waits for the oldest beyond this).
const STREAM_WINDOW: usize = 2_000;
const STREAM_REQUEST_TIMEOUT: Duration = Duration::from_millis(1_500);

/// A fault injected when the stream reaches a given record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The next 3 Produce requests are answered `REQUEST_TIMED_OUT` without being written.
    TimedOutAnswer,
    /// The next 2 Produce requests are written, but answered only after the producer's
    /// `request.timeout.ms`: the producer must retry a batch the log already holds.
    TimedOutAfterWrite,
    /// The next 4 Produce requests are answered `NOT_LEADER_OR_FOLLOWER`.
    NotLeader,
    /// The connections of the next 2 Produce requests are closed without an answer.
    Disconnect,
    /// The leader of partition 0 is stopped (in the background, while records flow).
    StopLeader,
    /// The leader of partition 1 crashes (losing its unflushed log tail; in the background).
    CrashLeader,
    /// The broker stopped by `StopLeader` or `CrashLeader` is started again.
    RestartLeader,
    /// The leadership of partition 2 moves to another in-sync replica (the old leader answers
    /// NOT_LEADER_OR_FOLLOWER for real).
    MoveLeader,
    /// The leader of partition 3 is cut off from the controller and its peers but not from
    /// clients: a stale leader that appends `acks=all` batches it can never commit, answers
    /// them REQUEST_TIMED_OUT, and truncates them once healed. Healed (in the background) once
    /// the producer has retried at least once since.
    IsolateLeader,
    /// A broker other than partition 0's leader is stopped,
    /// and started again (in the background) once the producer has retried twice since: with
    /// `min.insync.replicas=3` every `acks=all` write meanwhile gets NOT_ENOUGH_REPLICAS.
    StopFollowerUntilRetried,
    /// The next Produce request is answered OUT_OF_ORDER_SEQUENCE_NUMBER (nothing written).
    OutOfOrderSequence,
    /// The next Produce request is answered UNKNOWN_PRODUCER_ID (nothing written).
    UnknownProducerId,
    /// Every Produce request is written but answered only after 4 s, longer than the
    /// producer's request timeout and delivery timeout, until `Heal`.
    SlowResponses,
    /// Like `SlowResponses`, for Produce requests that carry partition 0 (other partitions
    /// in the same request are held too).
    SlowPartition0Leader,
    /// Remove every interception rule.
    Heal,
}

impl Fault {
    /// How many Produce requests the fault intercepts.
    fn intercepts(self) -> usize {
        match self {
            Fault::TimedOutAnswer => 3,
            Fault::TimedOutAfterWrite => 2,
            Fault::NotLeader => 4,
            Fault::Disconnect => 2,
            Fault::OutOfOrderSequence | Fault::UnknownProducerId => 1,
            Fault::StopLeader
            | Fault::CrashLeader
            | Fault::RestartLeader
            | Fault::MoveLeader
            | Fault::IsolateLeader
            | Fault::StopFollowerUntilRetried
            | Fault::SlowResponses
            | Fault::SlowPartition0Leader
            | Fault::Heal => 0,
        }
    }
}

/// How a stream is set up and which failures it may see.
#[derive(Default)]
struct Setup {
    /// `delivery.timeout.ms`, when not the default.
    delivery_timeout: Option<Duration>,
    /// Topic configs.
    topic_configs: &'static [(&'static str, &'static str)],
    /// `None`: every send must be acknowledged.
    failures: Option<Failures>,
}

/// The failures a stream may see.
struct Failures {
    /// Whether a delivery error is one of the expected, typed ones.
    allowed: fn(&ProduceError) -> bool,
    /// Whether at least one send must fail.
    required: bool,
    /// Every record from this one on must be acknowledged.
    all_acked_from: usize,
}

fn is_delivery_timeout(e: &ProduceError) -> bool {
    matches!(
        e,
        ProduceError::Expired | ProduceError::Broker(sink::ProduceError::DeliveryTimeout { .. })
    )
}

/// An idempotence error the broker answered (Java fails such a batch with a typed exception
/// and bumps the epoch; retrying it is fine too), never a fatal producer error.
fn is_sequence_error(e: &ProduceError) -> bool {
    matches!(
        e,
        ProduceError::Broker(sink::ProduceError::Broker {
            code: ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId,
            ..
        })
    )
}

/// One stream record: its key index and that key's sequence number (from 1).
struct StreamRecord {
    key: u64,
    seq: u64,
}

fn stream_value(id: usize, r: &StreamRecord, rng: &mut SplitMix64) -> Vec<u8> {
    let mut v = format!("{id}:{}:{}:", r.key, r.seq).into_bytes();
    let pad = rng.below(80) as usize;
    v.extend(std::iter::repeat_n(b'x', pad));
    v
}

/// Parses `id:key:seq:` from the front of a stream value.
fn parse_stream_value(value: &[u8]) -> (usize, u64, u64) {
    let text = String::from_utf8_lossy(value);
    let mut fields = text.split(':');
    let mut next = || -> u64 {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("not a stream value: {text:?}"))
    };
    (next() as usize, next(), next())
}

/// Sends [`STREAM_RECORDS`] keyed records (sequence numbers per key in the value) with
/// idempotence on, async mode, up to [`STREAM_WINDOW`] outcomes outstanding, applying each
/// fault when the stream reaches its record; then checks the topic: every acknowledged record
/// exactly once at its reported offset, each partition in send order (so each key's sequence
/// numbers rise by one with no gap or repeat), nothing else in the log.
///
/// Unless [`Setup::failures`] says otherwise every send must be acknowledged (the default
/// `delivery.timeout.ms`, 120 s, outlasts every fault here). Records that failed may or may not
/// be in the log, but at most once and in send order.
async fn idempotent_stream_under(topic: &'static str, faults: &[(usize, Fault)], setup: Setup) {
    let mut cluster_builder = Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .topic(topic, STREAM_PARTITIONS, 3);
    for (key, value) in setup.topic_configs {
        cluster_builder = cluster_builder.topic_config(topic, key, value);
    }
    let cluster = Arc::new(cluster_builder.build().await.unwrap());
    let mut builder = config(&cluster);
    builder
        .retry_backoff(Duration::from_millis(10))
        .request_timeout(STREAM_REQUEST_TIMEOUT);
    if let Some(timeout) = setup.delivery_timeout {
        builder.delivery_timeout(timeout);
    }
    let producer = Producer::new(builder.build().unwrap()).unwrap();
    // Metadata first, so that the injected faults hit Produce requests only.
    assert_eq!(
        producer.partition_count(topic).await.unwrap(),
        STREAM_PARTITIONS
    );
    let mut rng = SplitMix64(0x5717_ea00 ^ topic.len() as u64);
    let mut next_seq = vec![0u64; STREAM_KEYS as usize];
    let mut records = Vec::with_capacity(STREAM_RECORDS);
    let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::new();
    let mut outcomes: Vec<Option<DeliveryResult>> = (0..STREAM_RECORDS).map(|_| None).collect();
    let mut stopping: Option<(i32, tokio::task::JoinHandle<()>)> = None;
    let mut starting: Option<tokio::task::JoinHandle<()>> = None;
    let mut stopped_leader = None;
    let mut isolating: Option<tokio::task::JoinHandle<()>> = None;
    let mut follower_bounce: Option<tokio::task::JoinHandle<()>> = None;
    let mut moved = 0;
    for id in 0..STREAM_RECORDS {
        for (_, fault) in faults.iter().filter(|(at, _)| *at == id) {
            match fault {
                Fault::TimedOutAnswer => {
                    cluster.inject_error(ApiKey::Produce, ErrorCode::RequestTimedOut, 3)
                }
                Fault::TimedOutAfterWrite => cluster.inject(FaultRule {
                    matcher: FaultMatch {
                        api: Some(ApiKey::Produce),
                        ..FaultMatch::default()
                    },
                    action: FaultAction::Delay(STREAM_REQUEST_TIMEOUT + Duration::from_secs(1)),
                    remaining: Some(2),
                }),
                Fault::NotLeader => {
                    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 4)
                }
                Fault::Disconnect => cluster.drop_connections(ApiKey::Produce, 2),
                Fault::OutOfOrderSequence => {
                    cluster.inject_error(ApiKey::Produce, ErrorCode::OutOfOrderSequenceNumber, 1)
                }
                Fault::UnknownProducerId => {
                    cluster.inject_error(ApiKey::Produce, ErrorCode::UnknownProducerId, 1)
                }
                Fault::StopFollowerUntilRetried => {
                    let leader = cluster.wait_for_leader(topic, 0, WAIT).await.unwrap();
                    let follower = cluster
                        .brokers()
                        .iter()
                        .map(|b| b.id)
                        .find(|b| *b != leader)
                        .expect("a follower");
                    let retries = producer.metrics().retries;
                    let (c, p) = (cluster.clone(), producer.clone());
                    follower_bounce = Some(tokio::spawn(async move {
                        c.stop_broker(follower).await.unwrap();
                        let deadline = tokio::time::Instant::now() + WAIT;
                        while p.metrics().retries < retries + 2
                            && tokio::time::Instant::now() < deadline
                        {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        c.start_broker(follower).await.unwrap();
                    }));
                    stopped_leader = Some(follower);
                }
                Fault::SlowResponses => {
                    cluster.delay_responses(ApiKey::Produce, Duration::from_secs(4))
                }
                Fault::SlowPartition0Leader => {
                    let leader = cluster.wait_for_leader(topic, 0, WAIT).await.unwrap();
                    cluster.inject(FaultRule {
                        matcher: FaultMatch {
                            api: Some(ApiKey::Produce),
                            broker: Some(leader),
                            topic_partition: Some((topic.to_string(), Some(0))),
                            ..FaultMatch::default()
                        },
                        action: FaultAction::Delay(Duration::from_secs(4)),
                        remaining: None,
                    });
                }
                Fault::Heal => cluster.clear_faults(),
                Fault::StopLeader | Fault::CrashLeader => {
                    let crash = *fault == Fault::CrashLeader;
                    let leader = cluster
                        .wait_for_leader(topic, i32::from(crash), WAIT)
                        .await
                        .unwrap();
                    let c = cluster.clone();
                    stopping = Some((
                        leader,
                        tokio::spawn(async move {
                            if crash {
                                c.crash_broker(leader).await.unwrap()
                            } else {
                                c.stop_broker(leader).await.unwrap()
                            }
                        }),
                    ));
                }
                Fault::MoveLeader => {
                    let leader = cluster.wait_for_leader(topic, 2, WAIT).await.unwrap();
                    let partition = cluster.metadata().partition(topic, 2).cloned().unwrap();
                    let to = partition
                        .isr
                        .iter()
                        .copied()
                        .find(|b| *b != leader)
                        .expect("another in-sync replica");
                    cluster.move_leader(topic, 2, to).await.unwrap();
                    moved += 1;
                }
                Fault::IsolateLeader => {
                    let leader = cluster.wait_for_leader(topic, 3, WAIT).await.unwrap();
                    let retries = producer.metrics().retries;
                    cluster.isolate(leader).await.unwrap();
                    let (c, p) = (cluster.clone(), producer.clone());
                    isolating = Some(tokio::spawn(async move {
                        // Hold the isolation until the producer has noticed (a condition with
                        // a deadline, polled: the producer offers no retry notification).
                        let deadline = tokio::time::Instant::now() + WAIT;
                        while p.metrics().retries == retries
                            && tokio::time::Instant::now() < deadline
                        {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        c.heal().await.unwrap();
                    }));
                }
                Fault::RestartLeader => {
                    let (leader, stop) = stopping.take().expect("StopLeader first");
                    stop.await.unwrap();
                    stopped_leader = Some(leader);
                    let c = cluster.clone();
                    starting = Some(tokio::spawn(async move {
                        c.start_broker(leader).await.unwrap()
                    }));
                }
            }
        }
        let key = rng.below(STREAM_KEYS);
        next_seq[key as usize] += 1;
        let r = StreamRecord {
            key,
            seq: next_seq[key as usize],
        };
        let value = stream_value(id, &r, &mut rng);
        records.push(r);
        let f = producer
            .send(
                ProducerRecord::<Vec<u8>, Vec<u8>>::new(topic, value)
                    .with_key(format!("key-{key}").into_bytes()),
            )
            .await
            .unwrap();
        pending.push_back((id, f));
        while pending.len() > STREAM_WINDOW {
            let (i, f) = pending.pop_front().unwrap();
            outcomes[i] = Some(f.await);
        }
    }
    for (i, f) in pending {
        outcomes[i] = Some(f.await);
    }
    producer.flush().await;
    if let Some((_, stop)) = stopping {
        stop.await.unwrap();
    }
    if let Some(start) = starting {
        start.await.unwrap();
    }
    if let Some(isolation) = isolating {
        isolation.await.unwrap();
    }
    if let Some(bounce) = follower_bounce {
        bounce.await.unwrap();
    }
    let metrics = producer.metrics();
    producer.close().await;

    let mut acked: HashMap<usize, (i32, i64)> = HashMap::new();
    let mut failed: Vec<(usize, ProduceError)> = Vec::new();
    for (id, outcome) in outcomes.into_iter().enumerate() {
        match outcome.expect("every outcome awaited") {
            Ok(meta) => {
                acked.insert(id, (meta.partition, meta.offset));
            }
            Err(e) => failed.push((id, e)),
        }
    }
    let mut ends = vec![0i64; STREAM_PARTITIONS as usize];
    for (p, o) in acked.values() {
        ends[*p as usize] = ends[*p as usize].max(o + 1);
    }
    let mut found: HashMap<usize, (i32, i64)> = HashMap::new();
    for p in 0..STREAM_PARTITIONS {
        let mut last_id: Option<usize> = None;
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        for (offset, key, value) in leader_log(&cluster, topic, p, ends[p as usize]).await {
            let (id, k, seq) = parse_stream_value(&value.expect("a value"));
            assert!(id < STREAM_RECORDS, "{topic}: unknown record {id}");
            let sent = &records[id];
            assert_eq!((k, seq), (sent.key, sent.seq), "{topic}: record {id}");
            let key = key.expect("a key");
            assert_eq!(&key[..], format!("key-{k}").as_bytes());
            assert_eq!(common::partition_for_key(&key, STREAM_PARTITIONS), p);
            if let Some((pp, oo)) = found.insert(id, (p, offset)) {
                panic!("{topic}: record {id} written twice: {pp}:{oo} and {p}:{offset}");
            }
            assert!(
                last_id.is_none_or(|l| l < id),
                "{topic}/{p}: record {id} at offset {offset} after record {last_id:?}: send order broken"
            );
            last_id = Some(id);
            let previous = last_seq.insert(k, seq).unwrap_or(0);
            assert!(
                seq > previous,
                "{topic}/{p}: key {k} sequence {seq} after {previous} at offset {offset}"
            );
        }
    }
    for (id, at) in &acked {
        assert_eq!(
            found.get(id),
            Some(at),
            "{topic}: acknowledged record {id} not (only) where its RecordMetadata said"
        );
    }
    let faulted = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::Produce && r.faulted)
        .count();
    let injected: usize = faults.iter().map(|(_, f)| f.intercepts()).sum();
    println!(
        "{topic}: {} acknowledged, {} failed, {} in the log; {faulted} Produce requests faulted; {metrics:?}; stopped {stopped_leader:?}",
        acked.len(),
        failed.len(),
        found.len()
    );
    if let Some(failures) = &setup.failures {
        assert!(
            !failures.required || !failed.is_empty(),
            "{topic}: no send failed"
        );
        for (id, e) in &failed {
            assert!(
                (failures.allowed)(e),
                "{topic}: record {id} failed with an unexpected error: {e:?}"
            );
            assert!(
                *id < failures.all_acked_from,
                "{topic}: record {id}, sent after the faults were gone, failed: {e}"
            );
        }
        let failed_in_log = failed
            .iter()
            .filter(|(id, _)| found.contains_key(id))
            .count();
        println!(
            "{topic}: {failed_in_log} of {} failed records are in the log anyway",
            failed.len()
        );
        // Every record present is acknowledged or failed: nothing appeared from nowhere.
        assert_eq!(found.len(), acked.len() + failed_in_log);
    } else {
        assert!(
            failed.is_empty(),
            "{topic}: {} sends failed, first: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        // Nothing failed, so nothing is missing: each key's sequence numbers are 1..=n on its
        // partition, with no gap (send order per partition was checked above).
        assert_eq!(found.len(), STREAM_RECORDS, "{topic}: records missing");
    }
    assert!(
        faulted >= injected,
        "{topic}: only {faulted} of {injected} injected faults hit a Produce request"
    );
    if injected > 0 || stopped_leader.is_some() || moved > 0 {
        assert!(metrics.retries >= 1, "{topic}: the faults caused no retry");
    }
    if let Ok(cluster) = Arc::try_unwrap(cluster) {
        cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_request_timed_out_answers() {
    idempotent_stream_under(
        "timed-out",
        &[
            (3_000, Fault::TimedOutAnswer),
            (9_000, Fault::TimedOutAnswer),
            (15_000, Fault::TimedOutAnswer),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_timeouts_of_written_requests() {
    idempotent_stream_under(
        "written-late",
        &[
            (4_000, Fault::TimedOutAfterWrite),
            (12_000, Fault::TimedOutAfterWrite),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_not_leader_or_follower() {
    idempotent_stream_under(
        "not-leader",
        &[
            (2_000, Fault::NotLeader),
            (6_000, Fault::NotLeader),
            (10_000, Fault::NotLeader),
            (14_000, Fault::NotLeader),
            (18_000, Fault::NotLeader),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_disconnects() {
    idempotent_stream_under(
        "disconnects",
        &[
            (4_000, Fault::Disconnect),
            (11_000, Fault::Disconnect),
            (17_000, Fault::Disconnect),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_a_leader_stopped_and_restarted() {
    idempotent_stream_under(
        "leader-bounce",
        &[(5_000, Fault::StopLeader), (12_000, Fault::RestartLeader)],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_a_leader_crash_and_restart() {
    idempotent_stream_under(
        "leader-crash",
        &[(5_000, Fault::CrashLeader), (12_000, Fault::RestartLeader)],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_leader_moves() {
    idempotent_stream_under(
        "leader-moves",
        &[
            (3_000, Fault::MoveLeader),
            (8_000, Fault::MoveLeader),
            (13_000, Fault::MoveLeader),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_an_isolated_stale_leader() {
    idempotent_stream_under(
        "stale-leader",
        &[(5_000, Fault::IsolateLeader)],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_every_fault_at_once() {
    idempotent_stream_under(
        "all-faults",
        &[
            (2_000, Fault::NotLeader),
            (3_000, Fault::StopLeader),
            (3_000, Fault::TimedOutAnswer),
            (5_000, Fault::Disconnect),
            (7_000, Fault::TimedOutAfterWrite),
            (9_000, Fault::NotLeader),
            (9_500, Fault::MoveLeader),
            (10_000, Fault::RestartLeader),
            (10_000, Fault::Disconnect),
            (13_000, Fault::TimedOutAnswer),
            (15_000, Fault::TimedOutAfterWrite),
            (16_000, Fault::NotLeader),
            (18_000, Fault::Disconnect),
        ],
        Setup::default(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_keeps_order_when_written_batches_expire() {
    // Batches are written but never acknowledged in time: they fail with a delivery timeout
    // while the log may hold them. The producer must not reuse their sequence numbers for
    // later records (the broker would take those as duplicates and drop them silently).
    idempotent_stream_under(
        "expired",
        &[(4_000, Fault::SlowResponses), (7_000, Fault::Heal)],
        Setup {
            delivery_timeout: Some(Duration::from_secs(3)),
            failures: Some(Failures {
                allowed: is_delivery_timeout,
                required: true,
                all_acked_from: 9_100,
            }),
            ..Setup::default()
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Send modes: order of callbacks and of mixed modes, dropped futures
// ---------------------------------------------------------------------------------------------

/// The ids (`"{id}:..."` values) of a partition's records in log order, asserting the
/// offsets run from 0 without a gap.
async fn ids_in_log(cluster: &Cluster, topic: &str, partition: i32, at_least: i64) -> Vec<usize> {
    leader_log(cluster, topic, partition, at_least)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, (offset, _, value))| {
            assert_eq!(offset, i as i64, "{topic}/{partition}: offsets from 0");
            let value = value.expect("a value");
            let text = String::from_utf8_lossy(&value);
            text.split(':').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// Receives `n` callback results from `rx` (a condition with a deadline: callbacks may still
/// be running when `flush` returns, see [`flush_returns_after_every_callback_ran`]).
async fn receive_callbacks<T>(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    n: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => out.push(item),
            _ => panic!("only {} of {n} callbacks ran", out.len()),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_report_every_record_once_at_its_offset_across_retries() {
    const N: usize = 5_000;
    const PARTITIONS: i32 = 5;
    let cluster = cluster_with(&[("callbacks", PARTITIONS)]).await;
    let producer = Producer::new(
        config(&cluster)
            .batch_size(2_048)
            .retry_backoff(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        producer.partition_count("callbacks").await.unwrap(),
        PARTITIONS
    );
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 6);
    cluster.drop_connections(ApiKey::Produce, 2);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut rng = SplitMix64(0xca11_bac4);
    for id in 0..N {
        let tx = tx.clone();
        let key = format!("key-{}", rng.below(100));
        producer
            .send_with_callback(
                ProducerRecord::<String, String>::new("callbacks", format!("{id}:cb"))
                    .with_key(key),
                move |r: DeliveryResult| tx.send((id, r)).unwrap(),
            )
            .await
            .unwrap();
    }
    producer.flush().await;
    let calls = receive_callbacks(&mut rx, N).await;
    let mut per_partition: BTreeMap<i32, BTreeMap<i64, usize>> = BTreeMap::new();
    let mut called = HashSet::new();
    for (id, r) in calls {
        assert!(called.insert(id), "callback of record {id} ran twice");
        let meta = r.unwrap_or_else(|e| panic!("record {id} failed: {e}"));
        assert!(
            per_partition
                .entry(meta.partition)
                .or_default()
                .insert(meta.offset, id)
                .is_none(),
            "two callbacks reported {}:{}",
            meta.partition,
            meta.offset
        );
    }
    assert!(
        producer.metrics().retries >= 1,
        "the faults caused no retry"
    );
    for (p, by_offset) in &per_partition {
        let log = ids_in_log(&cluster, "callbacks", *p, by_offset.len() as i64).await;
        let reported: Vec<usize> = by_offset.values().copied().collect();
        assert_eq!(
            log, reported,
            "partition {p}: each record at the offset its callback got"
        );
        assert!(
            log.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: send order"
        );
    }
    producer.close().await;
    cluster.shutdown().await;
}

/// A callback that takes a while (Java runs callbacks on its I/O thread too; the time widens
/// a race the producer must not have, it does not synchronise anything).
fn slow_callback() {
    std::thread::sleep(Duration::from_millis(5));
}

/// Sends `n` records to partition 0 of `topic` with slow callbacks (each reports its id and
/// outcome on the returned channel), waits until the first callback runs, then sends one
/// record to partition 1: its new batch wakes the producer's sender while partition 0's first
/// batch is still running its callbacks.
async fn slow_callbacks_then_other_partition(
    producer: &Producer,
    topic: &'static str,
    n: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<(usize, DeliveryResult)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    for id in 0..n {
        let (tx, started_tx) = (tx.clone(), started_tx.clone());
        producer
            .send_with_callback(
                ProducerRecord::<String, String>::new(topic, format!("{id}:{:080}", 0))
                    .with_partition(0),
                move |r: DeliveryResult| {
                    if id == 0 {
                        let _ = started_tx.send(());
                    }
                    slow_callback();
                    let _ = tx.send((id, r));
                },
            )
            .await
            .unwrap();
    }
    tokio::time::timeout(WAIT, started.recv())
        .await
        .expect("the first callback runs");
    producer
        .send_and_forget(
            ProducerRecord::<String, String>::new(topic, "other".into()).with_partition(1),
        )
        .await
        .unwrap();
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_of_a_partition_run_in_send_order() {
    const N: usize = 200;
    let cluster = cluster_with(&[("callback-order", 2)]).await;
    // ~40 records a batch: partition 0's records go out in several consecutive batches.
    let producer = Producer::new(config(&cluster).batch_size(4_096).build().unwrap()).unwrap();
    let mut rx = slow_callbacks_then_other_partition(&producer, "callback-order", N).await;
    let calls = receive_callbacks(&mut rx, N).await;
    let order: Vec<usize> = calls.iter().map(|(id, _)| *id).collect();
    let first_inversion = order.windows(2).position(|w| w[0] > w[1]);
    assert_eq!(
        first_inversion,
        None,
        "callbacks of partition 0 ran out of send order: {:?}",
        first_inversion.map(|i| &order[i.saturating_sub(2)..(i + 3).min(N)])
    );
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_returns_after_every_callback_ran() {
    const N: usize = 100;
    let cluster = cluster_with(&[("flush-callbacks", 2)]).await;
    // One batch for all of partition 0's records.
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let mut rx = slow_callbacks_then_other_partition(&producer, "flush-callbacks", N).await;
    producer.flush().await;
    // Java: flush() returns once every earlier send's callback has run (a batch's callbacks
    // fire before it counts as done).
    let mut ran = 0;
    while rx.try_recv().is_ok() {
        ran += 1;
    }
    assert_eq!(ran, N, "callbacks still running after flush()");
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_send_modes_keep_send_order_per_partition() {
    const N: usize = 2_000;
    let cluster = cluster_with(&[("mixed", 2)]).await;
    let producer = Producer::new(config(&cluster).batch_size(4_096).build().unwrap()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut callbacks = 0;
    let mut futures = Vec::new();
    let mut reported: HashMap<usize, (i32, i64)> = HashMap::new();
    for id in 0..N {
        let record = ProducerRecord::<String, String>::new("mixed", format!("{id}:mode"))
            .with_partition((id % 2) as i32);
        match id % 4 {
            0 => futures.push((id, producer.send(record).await.unwrap())),
            1 => {
                let tx = tx.clone();
                producer
                    .send_with_callback(record, move |r: DeliveryResult| {
                        tx.send((id, r.unwrap())).unwrap()
                    })
                    .await
                    .unwrap();
                callbacks += 1;
            }
            2 => producer.send_and_forget(record).await.unwrap(),
            _ if id % 100 == 3 => {
                let meta = producer.send_and_wait(record).await.unwrap();
                reported.insert(id, (meta.partition, meta.offset));
            }
            _ => futures.push((id, producer.send(record).await.unwrap())),
        }
    }
    for (id, f) in futures {
        let meta = f.await.unwrap();
        reported.insert(id, (meta.partition, meta.offset));
    }
    producer.flush().await;
    for (id, meta) in receive_callbacks(&mut rx, callbacks).await {
        reported.insert(id, (meta.partition, meta.offset));
    }
    assert_eq!(producer.metrics().records_failed, 0);
    for p in 0..2 {
        let log = ids_in_log(&cluster, "mixed", p, (N / 2) as i64).await;
        let expected: Vec<usize> = (0..N).filter(|id| id % 2 == p as usize).collect();
        assert_eq!(
            log, expected,
            "partition {p}: every mode's records in send order"
        );
        for (offset, id) in log.iter().enumerate() {
            if let Some(at) = reported.get(id) {
                assert_eq!(*at, (p, offset as i64), "record {id} where reported");
            }
        }
    }
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_delivery_futures_still_deliver() {
    const N: usize = 3_000;
    let cluster = cluster_with(&[("dropped", 3)]).await;
    let producer = Producer::new(
        config(&cluster)
            .batch_size(2_048)
            .retry_backoff(Duration::from_millis(10))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(producer.partition_count("dropped").await.unwrap(), 3);
    // Retries happen while nobody holds the futures.
    cluster.drop_connections(ApiKey::Produce, 2);
    cluster.inject_error(ApiKey::Produce, ErrorCode::NotLeaderOrFollower, 3);
    for id in 0..N {
        let future = producer
            .send(
                ProducerRecord::<String, String>::new("dropped", format!("{id}:dropped"))
                    .with_partition((id % 3) as i32),
            )
            .await
            .unwrap();
        drop(future);
    }
    // close() delivers everything queued, with no future left to drive anything. (No check
    // of metrics().records_sent here: see flush_returns_after_every_callback_ran.)
    producer.close().await;
    let m = producer.metrics();
    assert_eq!(m.records_failed, 0);
    assert!(m.retries >= 1, "the faults caused no retry");
    for p in 0..3 {
        let log = ids_in_log(&cluster, "dropped", p, (N / 3) as i64).await;
        let expected: Vec<usize> = (0..N).filter(|id| id % 3 == p as usize).collect();
        assert_eq!(
            log, expected,
            "partition {p}: every dropped-future record once, in order"
        );
    }
    cluster.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. buffer.memory back-pressure that clears, and records too large for the topic
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_memory_back_pressure_blocks_sends_until_space_frees() {
    const BUFFER: usize = 64 * 1024;
    const N: usize = 3_000;
    let cluster = cluster_with(&[("blocking", 2)]).await;
    let producer = Producer::new(
        config(&cluster)
            .batch_size(8 * 1024)
            .buffer_memory(BUFFER)
            .max_block(Duration::from_secs(15))
            .build()
            .unwrap(),
    )
    .unwrap();
    // A record larger than the whole buffer (but within max.request.size) can never fit.
    let err = producer
        .send(ProducerRecord::<String, _>::new(
            "blocking",
            vec![1u8; BUFFER + 1],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::RecordTooLarge { .. }), "{err}");
    // 1.5 MB through a 64 KiB buffer: sends wait for space instead of failing.
    let mut futures = Vec::new();
    let mut max_used = 0;
    for id in 0..N {
        let mut value = format!("{id}:").into_bytes();
        value.resize(500, b'p');
        futures.push(
            producer
                .send(
                    ProducerRecord::<String, Vec<u8>>::new("blocking", value)
                        .with_partition((id % 2) as i32),
                )
                .await
                .unwrap_or_else(|e| panic!("send {id} failed: {e}")),
        );
        let used = producer.metrics().buffer_used;
        assert!(used <= BUFFER as u64, "buffer.memory exceeded: {used}");
        max_used = max_used.max(used);
    }
    assert!(
        max_used > (BUFFER / 2) as u64,
        "the buffer never filled ({max_used} bytes): no back-pressure was exercised"
    );
    for f in futures {
        f.await.unwrap();
    }
    for p in 0..2 {
        let log = ids_in_log(&cluster, "blocking", p, (N / 2) as i64).await;
        let expected: Vec<usize> = (0..N).filter(|id| id % 2 == p as usize).collect();
        assert_eq!(log, expected, "partition {p}");
    }
    producer.close().await;
    cluster.shutdown().await;
}

async fn small_max_message_bytes_cluster(topic: &str) -> Cluster {
    Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .topic(topic, 1, 3)
        .topic_config(topic, "max.message.bytes", "2000")
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_topic_max_message_bytes_fails_typed_and_the_stream_goes_on() {
    let cluster = small_max_message_bytes_cluster("small-max").await;
    for idempotent in [true, false] {
        let producer =
            Producer::new(config(&cluster).idempotence(idempotent).build().unwrap()).unwrap();
        let send = |value: Vec<u8>| {
            let producer = producer.clone();
            async move {
                tokio::time::timeout(
                    WAIT,
                    producer.send_and_wait(ProducerRecord::<String, _>::new("small-max", value)),
                )
                .await
                .expect("a verdict, not a hang")
            }
        };
        let before = send(b"small-before".to_vec()).await.unwrap();
        // Larger than the topic's max.message.bytes, far below max.request.size (1 MiB).
        let err = send(vec![b'L'; 5_000]).await.unwrap_err();
        assert!(
            matches!(
                &err,
                kafkit::producer::client::SendError::Delivery(ProduceError::Broker(
                    sink::ProduceError::Broker {
                        code: ErrorCode::MessageTooLarge,
                        ..
                    }
                ))
            ),
            "idempotent={idempotent}: {err:?}"
        );
        // The rejected batch must not break the partition's sequence: the next record goes in.
        let after = send(b"small-after".to_vec()).await.unwrap();
        assert_eq!(after.offset, before.offset + 1, "idempotent={idempotent}");
        let m = producer.metrics();
        assert_eq!((m.records_sent, m.records_failed), (2, 1));
        producer.close().await;
    }
    let log = leader_log(&cluster, "small-max", 0, 4).await;
    let values: Vec<Bytes> = log.into_iter().map(|(_, _, v)| v.unwrap()).collect();
    assert_eq!(
        values,
        ["small-before", "small-after", "small-before", "small-after"]
            .map(|v| Bytes::from_static(v.as_bytes()))
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_topic_limit_in_flight_with_others_fails_alone() {
    // Several records in flight around one too large for the topic: only that one fails, and
    // the idempotent sequence of the records after it is not broken. batch.size 1,000 with
    // 900-byte records puts every record in a batch of its own (splitting is another matter:
    // see the next test).
    let cluster = small_max_message_bytes_cluster("small-max-async").await;
    let producer = Producer::new(config(&cluster).batch_size(1_000).build().unwrap()).unwrap();
    let mut futures = Vec::new();
    for i in 0..20 {
        let value = if i == 10 {
            vec![b'L'; 5_000]
        } else {
            let mut v = format!("{i}:").into_bytes();
            v.resize(900, b's');
            v
        };
        futures.push(
            producer
                .send(ProducerRecord::<String, _>::new("small-max-async", value))
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::new();
    for (i, f) in futures.into_iter().enumerate() {
        let r = tokio::time::timeout(WAIT, f).await.expect("a verdict");
        if i == 10 {
            assert!(
                matches!(
                    r,
                    Err(ProduceError::Broker(sink::ProduceError::Broker {
                        code: ErrorCode::MessageTooLarge,
                        ..
                    }))
                ),
                "{r:?}"
            );
        } else {
            offsets.push(r.unwrap_or_else(|e| panic!("record {i}: {e}")).offset);
        }
    }
    assert_eq!(offsets, (0..19).collect::<Vec<i64>>());
    let ids = ids_in_log(&cluster, "small-max-async", 0, 19).await;
    assert_eq!(ids, (0..20).filter(|i| *i != 10).collect::<Vec<usize>>());
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_topic_limit_is_split_and_delivered() {
    // Records that each fit the topic's max.message.bytes but not together: the batch the
    // broker rejects with MESSAGE_TOO_LARGE is split and every record delivered, in order.
    let cluster = small_max_message_bytes_cluster("split").await;
    // batch.size 16 KiB lets ten 600-byte records share one batch: 6 KB > max.message.bytes.
    let producer = Producer::new(
        config(&cluster)
            .linger(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut futures = Vec::new();
    for i in 0..10 {
        let mut v = format!("{i}:").into_bytes();
        v.resize(600, b's');
        futures.push(
            producer
                .send(ProducerRecord::<String, _>::new("split", v))
                .await
                .unwrap(),
        );
    }
    for (i, f) in futures.into_iter().enumerate() {
        let meta = tokio::time::timeout(WAIT, f)
            .await
            .expect("a verdict")
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert_eq!(meta.offset, i as i64);
    }
    assert_eq!(
        ids_in_log(&cluster, "split", 0, 10).await,
        (0..10).collect::<Vec<usize>>()
    );
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_not_enough_replicas() {
    idempotent_stream_under(
        "not-enough-replicas",
        &[(5_000, Fault::StopFollowerUntilRetried)],
        Setup {
            topic_configs: &[("min.insync.replicas", "3")],
            ..Setup::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_sequence_errors() {
    // Java fails the batch answered with the sequence error (typed) and bumps the epoch; the
    // stream must go on either way, never turning fatal, duplicating or reordering.
    idempotent_stream_under(
        "sequence-errors",
        &[
            (4_000, Fault::OutOfOrderSequence),
            (9_000, Fault::UnknownProducerId),
            (14_000, Fault::OutOfOrderSequence),
        ],
        Setup {
            failures: Some(Failures {
                allowed: is_sequence_error,
                required: false,
                all_acked_from: 14_000 + 2 * STREAM_WINDOW,
            }),
            ..Setup::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_after_every_callback_ran() {
    const N: usize = 100;
    let cluster = cluster_with(&[("close-callbacks", 2)]).await;
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let mut rx = slow_callbacks_then_other_partition(&producer, "close-callbacks", N).await;
    producer.close().await;
    let mut ran = 0;
    while rx.try_recv().is_ok() {
        ran += 1;
    }
    assert_eq!(ran, N, "callbacks still running after close()");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_topics_report_the_broker_timestamp() {
    let cluster = Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .topic("append-time", 1, 3)
        .topic_config("append-time", "message.timestamp.type", "LogAppendTime")
        .build()
        .await
        .unwrap();
    let producer = Producer::new(config(&cluster).build().unwrap()).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut futures = Vec::new();
    for i in 0..20 {
        futures.push(
            producer
                .send(
                    ProducerRecord::<String, String>::new("append-time", format!("{i}:"))
                        .with_timestamp(1_000 + i),
                )
                .await
                .unwrap(),
        );
    }
    let mut metas = Vec::new();
    for f in futures {
        metas.push(f.await.unwrap());
    }
    cluster
        .wait_for_high_watermark("append-time", 0, 20, WAIT)
        .await
        .unwrap();
    let leader = cluster
        .wait_for_leader("append-time", 0, WAIT)
        .await
        .unwrap();
    let bytes = cluster
        .replica_records(leader, "append-time", 0, 0, 20)
        .unwrap();
    let mut stored = Vec::new();
    for batch in BatchIter::new(bytes) {
        for record in batch.unwrap().records().unwrap() {
            let r = record.unwrap();
            stored.push((r.offset, r.timestamp));
        }
    }
    assert_eq!(stored.len(), 20);
    for meta in &metas {
        // Java: RecordMetadata.timestamp() is the broker's append time on such a topic.
        assert!(
            meta.timestamp >= before,
            "offset {}: reported {} (the create time), not the log append time",
            meta.offset,
            meta.timestamp
        );
        assert_eq!(
            Some(meta.timestamp),
            stored
                .iter()
                .find(|(o, _)| *o == meta.offset)
                .map(|(_, t)| *t),
            "offset {}: the stored timestamp",
            meta.offset
        );
    }
    producer.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_keeps_order_when_one_partitions_batches_expire() {
    // Only partition 0's leader is slow: its batches expire (possibly written) while the
    // partitions led by the other brokers keep going, so whatever the producer does to recover (an epoch bump)
    // happens with other partitions' batches in flight.
    idempotent_stream_under(
        "expired-one",
        &[(4_000, Fault::SlowPartition0Leader), (7_000, Fault::Heal)],
        Setup {
            delivery_timeout: Some(Duration::from_secs(3)),
            failures: Some(Failures {
                allowed: is_delivery_timeout,
                required: true,
                all_acked_from: 9_100,
            }),
            ..Setup::default()
        },
    )
    .await;
}
