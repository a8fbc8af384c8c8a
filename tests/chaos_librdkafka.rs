//! Chaos: librdkafka (through confluent-kafka) produces 50,000 records with idempotence and
//! `acks=all` to a replication-factor-3 topic with `min.insync.replicas=2`, while the test
//! stops, restarts, isolates and heals the current leader at least ten times. Afterwards:
//! zero acknowledged records lost, zero duplicates, per-partition order preserved, and every
//! replica's log byte-identical up to the high watermark.
//!
//! Needs python3 with `confluent-kafka`; skipped with a printed reason without it, unless
//! `KAFKIT_REQUIRE_INTEROP` is set.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::StrBytes;
use kafkit::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkit::messages::{FetchRequest, TopicName};
use kafkit::net::{Connection, ConnectionConfig};
use kafkit::record::BatchIter;
use kafkit_testbroker::Cluster;
use tokio::sync::mpsc;

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 50_000;
const FAULTS: usize = 12;
const WAIT: Duration = Duration::from_secs(30);

/// What the producer reported.
#[derive(Default)]
struct Reports {
    acked: HashMap<u64, (i32, i64)>,
    failed: Vec<String>,
    done: bool,
}

impl Reports {
    fn apply(&mut self, line: &str) {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["ack", p, o, v] => {
                let seq = v.strip_prefix("seq-").unwrap().parse().unwrap();
                let previous = self
                    .acked
                    .insert(seq, (p.parse().unwrap(), o.parse().unwrap()));
                assert!(previous.is_none(), "{v} acknowledged twice");
            }
            ["err", v, e] => self.failed.push(format!("{v}: {e}")),
            ["done", ..] => self.done = true,
            _ => eprintln!("producer: {line}"),
        }
    }
}

/// Drain reports until `enough` holds, the producer is done, or `limit` passes.
async fn progress(
    rx: &mut mpsc::UnboundedReceiver<String>,
    reports: &mut Reports,
    limit: Duration,
    enough: impl Fn(&Reports) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !reports.done && !enough(reports) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(line)) => reports.apply(&line),
            Ok(None) => reports.done = true,
            Err(_) => return,
        }
    }
}

/// Every record of a partition, read from its leader: (offset, seq).
async fn read_partition(cluster: &Cluster, partition: i32) -> Vec<(i64, u64)> {
    let leader = cluster
        .wait_for_leader(TOPIC, partition, WAIT)
        .await
        .unwrap();
    let addr = cluster.broker_addr(leader).unwrap().to_string();
    let conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    let topic_id = cluster.metadata().topic(TOPIC).unwrap().id;
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let request = FetchRequest::default()
            .with_max_bytes(8 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_topic_id(topic_id)
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(8 << 20),
                    ]),
            ]);
        let response = conn.send(request).await.unwrap();
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "fetch {partition} at {offset}");
        let before = out.len();
        for batch in BatchIter::new(data.records.clone().unwrap_or_default()) {
            for record in batch.unwrap().records().unwrap() {
                let record = record.unwrap();
                if record.offset >= offset {
                    let value = String::from_utf8(record.value.unwrap().to_vec()).unwrap();
                    out.push((
                        record.offset,
                        value.strip_prefix("seq-").unwrap().parse().unwrap(),
                    ));
                }
            }
        }
        if out.len() == before {
            return out;
        }
        offset = out.last().unwrap().0 + 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_idempotent_producer_loses_nothing_through_leader_failures() {
    const TEST: &str = "librdkafka_idempotent_producer_loses_nothing_through_leader_failures";
    let Some(python) = common::python_with_kafka(TEST) else {
        return;
    };
    let probe = Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .output();
    if !matches!(probe, Ok(ref out) if out.status.success()) {
        common::skip_or_fail(
            TEST,
            "python3 cannot import confluent_kafka (pip install confluent-kafka)",
        );
        return;
    }

    let cluster = Cluster::builder()
        .brokers(3)
        .auto_create_topics(false)
        .replica_fetch_wait_max(Duration::from_millis(100))
        .replica_lag_time_max(Duration::from_secs(5))
        .topic(TOPIC, PARTITIONS, 3)
        .topic_config(TOPIC, "min.insync.replicas", "2")
        .build()
        .await
        .unwrap();

    let mut child = Command::new(&python)
        .arg(common::interop_script("librdkafka_chaos_producer.py"))
        .args([
            &cluster.bootstrap_servers(),
            TOPIC,
            &RECORDS.to_string(),
            "10000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start the producer");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let mut reports = Reports::default();
    let mut faults = Vec::new();
    for event in 0..FAULTS {
        // Let the producer get going between faults.
        let mark = reports.acked.len();
        progress(&mut rx, &mut reports, Duration::from_secs(20), |r| {
            r.acked.len() >= mark + 2_000
        })
        .await;
        let partition = event as i32 % PARTITIONS;
        let leader = cluster
            .wait_for_leader(TOPIC, partition, WAIT)
            .await
            .unwrap();
        let during = reports.acked.len();
        assert!(
            !reports.done,
            "fault {event} came after the producer finished: slow the producer down"
        );
        if event % 2 == 0 {
            cluster.stop_broker(leader).await.unwrap();
            progress(&mut rx, &mut reports, Duration::from_secs(3), |r| {
                r.acked.len() >= during + 1000
            })
            .await;
            cluster.start_broker(leader).await.unwrap();
            faults.push(format!(
                "stop/start broker {leader} (leader of {TOPIC}-{partition}) at {during} acks"
            ));
        } else {
            cluster.isolate(leader).await.unwrap();
            progress(&mut rx, &mut reports, Duration::from_secs(3), |r| {
                r.acked.len() >= during + 1000
            })
            .await;
            cluster.heal().await.unwrap();
            faults.push(format!(
                "isolate/heal broker {leader} (leader of {TOPIC}-{partition}) at {during} acks"
            ));
        }
        for p in 0..PARTITIONS {
            cluster.wait_for_isr(TOPIC, p, 3, WAIT).await.unwrap();
        }
    }
    progress(&mut rx, &mut reports, Duration::from_secs(240), |_| false).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        reports.done,
        "the producer finished ({} acked so far)",
        reports.acked.len()
    );

    // Everything replicated: identical replica logs up to the high watermark.
    let mut logs = BTreeMap::new();
    for p in 0..PARTITIONS {
        cluster
            .wait_for_replicas_in_sync(TOPIC, p, WAIT)
            .await
            .unwrap();
        let infos = cluster.replica_info(TOPIC, p);
        let hw = infos.iter().find(|r| r.is_leader).unwrap().high_watermark;
        let bytes: Vec<_> = infos
            .iter()
            .map(|r| cluster.replica_records(r.broker, TOPIC, p, 0, hw).unwrap())
            .collect();
        assert!(
            bytes.windows(2).all(|w| w[0] == w[1]),
            "replicas of {TOPIC}-{p} differ: {infos:?}"
        );
        logs.insert(p, read_partition(&cluster, p).await);
    }

    // Every acknowledged record is where it was acknowledged; nothing twice; order kept.
    let mut seen: HashMap<u64, (i32, i64)> = HashMap::new();
    let mut out_of_order = 0;
    for (&p, records) in &logs {
        let mut last_for_key: HashMap<u64, u64> = HashMap::new();
        for &(offset, seq) in records {
            assert!(
                seen.insert(seq, (p, offset)).is_none(),
                "seq-{seq} stored twice"
            );
            let key = seq % 97;
            if last_for_key.insert(key, seq).is_some_and(|prev| prev > seq) {
                out_of_order += 1;
            }
        }
    }
    let mut lost = 0;
    for (seq, at) in &reports.acked {
        match seen.get(seq) {
            Some(stored) => assert_eq!(
                stored, at,
                "seq-{seq} acknowledged at {at:?} but stored at {stored:?}"
            ),
            None => lost += 1,
        }
    }
    let stored: usize = logs.values().map(Vec::len).sum();
    println!(
        "chaos: {} faults in {:.1} s; {RECORDS} sent, {} acknowledged, {} failed, {stored} stored, {lost} acknowledged-but-lost, 0 duplicates, {out_of_order} out of order",
        faults.len(),
        started.elapsed().as_secs_f64(),
        reports.acked.len(),
        reports.failed.len(),
    );
    for f in &faults {
        println!("  {f}");
    }
    assert_eq!(lost, 0, "acknowledged records lost");
    assert_eq!(out_of_order, 0, "records of one key out of order");
    assert!(faults.len() >= 10);
    assert_eq!(
        reports.acked.len() + reports.failed.len(),
        RECORDS,
        "every record got a delivery report"
    );
    assert!(
        reports.failed.is_empty(),
        "delivery failures: {:?}",
        &reports.failed[..reports.failed.len().min(5)]
    );
    cluster.shutdown().await;
}
