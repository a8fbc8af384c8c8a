//! Interop with librdkafka through the real `kcat` binary, against a 3-broker in-process cluster.
//!
//! For every codec (none, gzip, snappy, lz4, zstd): kcat produces 10,000 keyed messages with
//! Kafka's murmur2 partitioner (`partitioner=murmur2_random`), idempotence on and `acks=all`;
//! kcat then reads each partition back from the beginning. Every message must come back
//! byte-identical, once, on the partition murmur2 assigns its key, with contiguous offsets and
//! each key's messages in send order.
//!
//! Skipped with a printed reason when `kcat` is missing, unless `KAFKIT_REQUIRE_INTEROP` is set.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Consumed, TestMessage};
use kafkit_testbroker::Cluster;

const MESSAGES: usize = 10_000;
const KEYS: usize = 97;
const PARTITIONS: i32 = 6;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// kcat's key delimiter; never inside a key.
const KEY_DELIMITER: u8 = b'\t';
const PRODUCE_LIMIT: Duration = Duration::from_secs(60);
const CONSUME_LIMIT: Duration = Duration::from_secs(60);

/// `key<TAB>value\n` lines for `kcat -P -K '\t'`.
fn kcat_input(messages: &[TestMessage]) -> Vec<u8> {
    let mut input = Vec::with_capacity(messages.len() * 128);
    for m in messages {
        input.extend_from_slice(&m.key);
        input.push(KEY_DELIMITER);
        input.extend_from_slice(&m.value);
        input.push(b'\n');
    }
    input
}

/// Parses `kcat -C -f '%p %o %K %S:%k%s\n'` output: the key and value lengths say exactly how
/// many bytes follow, so binary data parses unambiguously.
fn parse_kcat_output(mut out: &[u8]) -> Vec<Consumed> {
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
        let [partition, offset, key_len, value_len] = fields[..] else {
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
            Some(&b'\n'),
            "kcat record at {partition}:{offset} not followed by a newline"
        );
        out = &out[1..];
        records.push(Consumed {
            partition: partition as i32,
            offset,
            key,
            value,
        });
    }
    records
}

fn kcat_produce(bootstrap: &str, topic: &str, codec: &str, messages: &[TestMessage]) -> Duration {
    let mut cmd = Command::new("kcat");
    cmd.args(["-P", "-b", bootstrap, "-t", topic, "-z", codec])
        .arg("-K")
        .arg(std::str::from_utf8(&[KEY_DELIMITER]).expect("ASCII delimiter"))
        .args([
            "-X",
            "partitioner=murmur2_random",
            "-X",
            "acks=all",
            "-X",
            "enable.idempotence=true",
        ]);
    let out = common::run_ok(
        &format!("kcat produce {codec}"),
        cmd,
        Some(kcat_input(messages)),
        PRODUCE_LIMIT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("Failed"),
        "kcat produce {codec} reported errors:\n{stderr}"
    );
    out.elapsed
}

fn kcat_consume_partition(bootstrap: &str, topic: &str, partition: i32) -> Vec<Consumed> {
    let mut cmd = Command::new("kcat");
    cmd.args([
        "-C",
        "-b",
        bootstrap,
        "-t",
        topic,
        "-p",
        &partition.to_string(),
    ])
    .args(["-o", "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=100"])
    .args(["-f", "%p %o %K %S:%k%s\n"]);
    let out = common::run_ok(
        &format!("kcat consume {topic}/{partition}"),
        cmd,
        None,
        CONSUME_LIMIT,
    );
    let records = parse_kcat_output(&out.stdout);
    for r in &records {
        assert_eq!(
            r.partition, partition,
            "kcat -p {partition} returned a record of partition {}",
            r.partition
        );
    }
    records
}

#[test]
fn kcat_round_trips_every_codec_with_murmur2_placement() {
    if !common::peer_available(
        "kcat_round_trips_every_codec_with_murmur2_placement",
        "kcat",
        &["-V"],
    ) {
        return;
    }
    let mut builder = Cluster::builder().brokers(3);
    for codec in CODECS {
        builder = builder.topic(&format!("kcat-{codec}"), PARTITIONS, 3);
    }
    let cluster = builder.build_blocking().expect("cluster starts");
    let bootstrap = cluster.bootstrap_servers();

    for (n, codec) in CODECS.into_iter().enumerate() {
        let topic = format!("kcat-{codec}");
        let messages = common::keyed_messages(
            MESSAGES,
            KEYS,
            0x6b63_6174 + n as u64,
            &[b'\n', KEY_DELIMITER],
        );
        let produce_time = kcat_produce(&bootstrap, &topic, codec, &messages);

        let started = Instant::now();
        let consumed: Vec<Consumed> = thread::scope(|s| {
            let readers: Vec<_> = (0..PARTITIONS)
                .map(|p| {
                    let (bootstrap, topic) = (&bootstrap, &topic);
                    s.spawn(move || kcat_consume_partition(bootstrap, topic, p))
                })
                .collect();
            readers
                .into_iter()
                .flat_map(|r| r.join().expect("kcat reader"))
                .collect()
        });
        let consume_time = started.elapsed();

        let summary =
            common::verify_round_trip(&format!("kcat {codec}"), &messages, &consumed, PARTITIONS);
        common::assert_stored_codec(&cluster, &topic, codec);
        let bytes: usize = messages.iter().map(|m| m.key.len() + m.value.len()).sum();
        println!(
            "kcat {codec}: produced {} messages ({bytes} bytes, {} keys) in {produce_time:?}, read back {} in {consume_time:?}; per partition {:?}",
            messages.len(),
            summary.keys,
            consumed.len(),
            summary.per_partition
        );
        assert_eq!(
            summary.per_partition.len(),
            PARTITIONS as usize,
            "{codec}: some partition got no key"
        );
    }
    cluster.shutdown();
}

#[test]
fn kcat_output_parser_reads_binary_fields() {
    let out = b"2 7 3 4:k\n\x00v\t\rx\n0 0 -1 0:\n";
    let records = parse_kcat_output(out);
    assert_eq!(
        records,
        vec![
            Consumed {
                partition: 2,
                offset: 7,
                key: Some(b"k\n\x00".to_vec()),
                value: Some(b"v\t\rx".to_vec())
            },
            Consumed {
                partition: 0,
                offset: 0,
                key: None,
                value: Some(Vec::new())
            },
        ]
    );
}
