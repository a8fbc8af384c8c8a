//! Interop with kafka-python (an independent pure-Python client) against a 3-broker in-process
//! cluster: its KafkaProducer sends keyed, fully binary messages with each compression codec
//! (none, gzip, snappy, lz4, zstd; `acks=all`), and its KafkaConsumer reads them back with
//! manual `assign()` (no consumer group).
//!
//! Checks: every message back once and byte-identical, at the partition and offset the producer
//! was acknowledged with, on the partition Kafka's murmur2 assigns its key (kafka-python's
//! default partitioner is Java-compatible), offsets contiguous from 0, per-key order kept.
//!
//! The helper is `tests/interop/kafka_python_client.py`. Skipped with a printed reason when
//! python3 with kafka-python and its codec modules is missing, unless `KAFKIT_REQUIRE_INTEROP`
//! is set.

mod common;

use std::process::Command;
use std::time::Duration;

use kafkit_testbroker::Cluster;

const MESSAGES: usize = 2_000;
const KEYS: usize = 41;
const PARTITIONS: i32 = 4;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Parses the producer's `ack INDEX PARTITION OFFSET` lines.
fn parse_acks(stdout: &[u8], count: usize) -> Vec<(i32, i64)> {
    let mut acks = vec![(-1, -1); count];
    for line in String::from_utf8_lossy(stdout).lines() {
        let Some(rest) = line.strip_prefix("ack ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        let [index, partition, offset] = fields[..] else {
            panic!("bad ack line {line:?}");
        };
        let index: usize = index.parse().expect("index");
        acks[index] = (
            partition.parse().expect("partition"),
            offset.parse().expect("offset"),
        );
    }
    acks
}

#[test]
fn kafka_python_producer_round_trips_every_codec() {
    const TEST: &str = "kafka_python_producer_round_trips_every_codec";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let mut builder = Cluster::builder().brokers(3);
    for codec in CODECS {
        builder = builder.topic(&format!("py-{codec}"), PARTITIONS, 3);
    }
    let cluster = builder.build_blocking().expect("cluster starts");
    let bootstrap = cluster.bootstrap_servers();

    for (n, codec) in CODECS.into_iter().enumerate() {
        let topic = format!("py-{codec}");
        // Any byte at all, newlines included: the helper speaks hex.
        let messages = common::keyed_messages(MESSAGES, KEYS, 0x7079_0000 + n as u64, &[]);
        let mut cmd = Command::new(&python);
        cmd.arg(common::interop_script("kafka_python_client.py"))
            .args([
                "produce",
                "--bootstrap",
                &bootstrap,
                "--topic",
                &topic,
                "--compression",
                codec,
            ]);
        let produced = common::run_ok(
            &format!("kafka-python produce {codec}"),
            cmd,
            Some(common::hex_lines(&messages)),
            Duration::from_secs(60),
        );
        let acks = parse_acks(&produced.stdout, messages.len());
        assert!(
            !acks.contains(&(-1, -1)),
            "{codec}: some sends were not acknowledged"
        );

        let consumed = common::kafka_python_consume(&python, &bootstrap, &topic, messages.len());
        let summary = common::verify_round_trip(
            &format!("kafka-python {codec}"),
            &messages,
            &consumed,
            PARTITIONS,
        );
        assert_eq!(
            summary.placement, acks,
            "{codec}: records are not where the produce responses said"
        );
        common::assert_stored_codec(&cluster, &topic, codec);
        println!(
            "kafka-python {codec}: produced {} messages ({} keys) in {:?}, read back {}; per partition {:?}",
            messages.len(),
            summary.keys,
            produced.elapsed,
            consumed.len(),
            summary.per_partition
        );
    }
    cluster.shutdown();
}
