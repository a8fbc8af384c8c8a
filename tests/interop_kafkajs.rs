//! Interop with kafkajs (an independent pure-JavaScript client) against a 3-broker in-process
//! cluster, through `tests/interop/kafkajs_roundtrip.js`.
//!
//! kafkajs's idempotent producer sends 500 keyed binary messages (100 per `send()` call) with
//! and without gzip; its admin client then reports each partition's offsets. The data is read
//! back with kafka-python (manual assignment, no group) and must be byte-identical, on the
//! partitions murmur2 assigns (kafkajs 2's default partitioner is Java-compatible), at the base
//! offsets kafkajs was acknowledged with, and stored with the codec kafkajs was asked for.
//!
//! kafkajs's consumer always joins a consumer group, so its read-back test also exercises the
//! test broker's group coordinator (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! OffsetCommit/Fetch, LeaveGroup).
//!
//! The Node dependencies are pinned in `tests/interop/package.json` / `package-lock.json`; when
//! `tests/interop/node_modules` is missing the test runs `npm ci` there itself. Skipped with a
//! printed reason when node, npm or kafka-python is missing, unless `KAFKIT_REQUIRE_INTEROP` is
//! set.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::TestMessage;
use kafkit_testbroker::Cluster;

const MESSAGES: usize = 500;
const KEYS: usize = 4;
const PARTITIONS: i32 = 3;
const CHUNK: usize = 100;

/// Installs the pinned kafkajs into `tests/interop/node_modules` unless it is there; false
/// (after printing why) when node or npm cannot be used.
fn kafkajs_installed(test: &str) -> bool {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !common::peer_available(test, "node", &["--version"]) {
        return false;
    }
    let dir = common::interop_dir();
    if dir.join("node_modules/kafkajs/package.json").exists() {
        return true;
    }
    if !common::peer_available(test, "npm", &["--version"]) {
        return false;
    }
    let mut npm = Command::new("npm");
    npm.current_dir(&dir)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    match common::try_run(npm, None, Duration::from_secs(300)) {
        Ok(out) if out.status.success() && !out.timed_out => true,
        Ok(out) => {
            let reason = format!(
                "`npm ci` in {} failed ({}{}): {}",
                dir.display(),
                out.status,
                if out.timed_out {
                    ", killed after 300 s"
                } else {
                    ""
                },
                String::from_utf8_lossy(&out.stderr).trim()
            );
            common::skip_or_fail(test, &reason);
            false
        }
        Err(e) => {
            common::skip_or_fail(test, &format!("cannot run npm: {e}"));
            false
        }
    }
}

fn node_script(args: &[&str]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(common::interop_script("kafkajs_roundtrip.js"))
        .args(args)
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1");
    cmd
}

/// What the kafkajs producer reported.
#[derive(Debug, Default)]
struct KafkajsReport {
    /// (send index, partition) -> base offset.
    acks: BTreeMap<(usize, i32), i64>,
    /// partition -> (low, high) from admin.fetchTopicOffsets.
    offsets: BTreeMap<i32, (i64, i64)>,
}

fn parse_report(stdout: &[u8]) -> KafkajsReport {
    let mut report = KafkajsReport::default();
    for line in String::from_utf8_lossy(stdout).lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["ack", chunk, partition, base_offset, error_code] => {
                assert_eq!(error_code, "0", "kafkajs ack with an error: {line}");
                let key = (
                    chunk.parse().expect("chunk"),
                    partition.parse().expect("partition"),
                );
                report
                    .acks
                    .insert(key, base_offset.parse().expect("base offset"));
            }
            ["offsets", partition, low, high] => {
                report.offsets.insert(
                    partition.parse().expect("partition"),
                    (low.parse().expect("low"), high.parse().expect("high")),
                );
            }
            _ => panic!("unexpected kafkajs output line {line:?}"),
        }
    }
    report
}

fn kafkajs_produce(
    bootstrap: &str,
    topic: &str,
    codec: &str,
    messages: &[TestMessage],
) -> KafkajsReport {
    let cmd = node_script(&["produce", bootstrap, topic, codec, &CHUNK.to_string()]);
    let out = common::run_ok(
        &format!("kafkajs produce {codec}"),
        cmd,
        Some(common::hex_lines(messages)),
        Duration::from_secs(60),
    );
    parse_report(&out.stdout)
}

#[test]
fn kafkajs_producer_data_reads_back_intact() {
    const TEST: &str = "kafkajs_producer_data_reads_back_intact";
    if !kafkajs_installed(TEST) {
        return;
    }
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("js-none", PARTITIONS, 3)
        .topic("js-gzip", PARTITIONS, 3)
        .build_blocking()
        .expect("cluster starts");
    let bootstrap = cluster.bootstrap_servers();

    for (n, codec) in ["none", "gzip"].into_iter().enumerate() {
        let topic = format!("js-{codec}");
        let messages = common::keyed_messages(MESSAGES, KEYS, 0x6a73_0000 + n as u64, &[]);
        let report = kafkajs_produce(&bootstrap, &topic, codec, &messages);

        let consumed = common::kafka_python_consume(&python, &bootstrap, &topic, messages.len());
        let summary = common::verify_round_trip(
            &format!("kafkajs {codec}"),
            &messages,
            &consumed,
            PARTITIONS,
        );

        // Each send()'s base offset per partition is where its first message there landed.
        let mut expected_acks = BTreeMap::new();
        for (id, (partition, offset)) in summary.placement.iter().enumerate() {
            expected_acks
                .entry((id / CHUNK, *partition))
                .or_insert(*offset);
        }
        assert_eq!(
            report.acks, expected_acks,
            "kafkajs {codec}: acknowledged base offsets"
        );
        // The admin client's view matches what was read.
        for p in 0..PARTITIONS {
            let count = summary.per_partition.get(&p).copied().unwrap_or(0) as i64;
            assert_eq!(
                report.offsets.get(&p),
                Some(&(0, count)),
                "kafkajs {codec}: offsets of partition {p}"
            );
        }
        common::assert_stored_codec(&cluster, &topic, codec);
        println!(
            "kafkajs {codec}: produced {} messages ({} keys) in {} sends, read back {} with kafka-python; per partition {:?}",
            messages.len(),
            summary.keys,
            MESSAGES.div_ceil(CHUNK),
            consumed.len(),
            summary.per_partition
        );
    }
    cluster.shutdown();
}

#[test]
fn kafkajs_consumer_reads_back_kafkajs_data() {
    const TEST: &str = "kafkajs_consumer_reads_back_kafkajs_data";
    if !kafkajs_installed(TEST) {
        return;
    }
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("js-group", PARTITIONS, 3)
        .build_blocking()
        .expect("cluster starts");
    let bootstrap = cluster.bootstrap_servers();
    let messages = common::keyed_messages(MESSAGES, KEYS, 0x6a73_6772, &[]);
    kafkajs_produce(&bootstrap, "js-group", "gzip", &messages);
    let cmd = node_script(&[
        "consume",
        &bootstrap,
        "js-group",
        &MESSAGES.to_string(),
        "kafkit-interop-js",
    ]);
    let out = common::run_ok("kafkajs consume", cmd, None, Duration::from_secs(60));
    let consumed = common::parse_consumed_records(&out.stdout);
    let summary = common::verify_round_trip("kafkajs consumer", &messages, &consumed, PARTITIONS);
    println!(
        "kafkajs consumer: read back {} messages; per partition {:?}",
        consumed.len(),
        summary.per_partition
    );
    cluster.shutdown();
}
