//! `kafkit::consumer::Consumer` against the in-process test broker (3 brokers): subscribe and
//! poll, groups splitting partitions, commits and restarts, manual assignment and seeks,
//! `auto.offset.reset`, pause/resume, offsets_for_times, leader failover, every codec, the
//! Stream API and leaving on close.
//!
//! Every wait polls until a condition holds, with a deadline; nothing sleeps to synchronise.

#![allow(clippy::cloned_ref_to_slice_refs)] // `&[tp.clone()]` reads better in tests

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::consumer::client::{Consumer, ConsumerError, RebalanceContext, RebalanceListener};
use kafkit::consumer::config::{
    AssignmentStrategy, AutoOffsetReset, ConsumerConfig, ConsumerConfigBuilder,
};
use kafkit::consumer::group::OffsetAndMetadata;
use kafkit::consumer::record::ConsumerRecord;
use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use kafkit::record::Compression;
use kafkit_testbroker::Cluster;
use tokio::time::Instant;

const PARTITIONS: i32 = 3;
const WAIT: Duration = Duration::from_secs(40);

async fn cluster(topics: &[&str]) -> Cluster {
    let mut b = Cluster::builder().brokers(3).auto_create_topics(false);
    for t in topics {
        b = b.topic(t, PARTITIONS, 3);
    }
    b.build().await.expect("cluster starts")
}

fn config(cluster: &Cluster, group: Option<&str>) -> ConsumerConfigBuilder {
    let mut b = ConsumerConfig::builder();
    b.bootstrap_servers(cluster.bootstrap_servers())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100));
    if let Some(g) = group {
        b.group_id(g);
    }
    b
}

/// Produces `n` records "{topic}-{i}" keyed "k{i}" to partition i % PARTITIONS; returns
/// (partition, offset, value).
async fn produce(
    cluster: &Cluster,
    topic: &str,
    from: usize,
    n: usize,
    codec: Compression,
) -> Vec<(i32, i64, String)> {
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .linger(Duration::from_millis(5))
            .compression(codec)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut futures = Vec::new();
    for i in from..from + n {
        let value = format!("{topic}-{i}");
        futures.push((
            value.clone(),
            producer
                .send(
                    ProducerRecord::new(topic.to_string(), value)
                        .with_key(format!("k{i}"))
                        .with_partition(i as i32 % PARTITIONS),
                )
                .await
                .unwrap(),
        ));
    }
    let mut out = Vec::new();
    for (value, f) in futures {
        let meta = f.await.expect("delivered");
        out.push((meta.partition, meta.offset, value));
    }
    producer.close().await;
    out
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.as_deref().unwrap_or_default().to_vec()).unwrap()
}

/// Polls until `done(all records so far)` or the deadline.
async fn poll_until(
    consumer: &mut Consumer,
    mut done: impl FnMut(&[ConsumerRecord]) -> bool,
) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + WAIT;
    let mut all = Vec::new();
    while !done(&all) {
        assert!(
            Instant::now() < deadline,
            "condition not reached; got {} records",
            all.len()
        );
        all.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    all
}

/// Checks that `records` hold exactly `expected`, in offset order per partition.
fn assert_exactly(records: &[ConsumerRecord], expected: &[(i32, i64, String)]) {
    let mut per_partition: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
    for r in records {
        per_partition
            .entry((r.topic.to_string(), r.partition))
            .or_default()
            .push(r.offset);
    }
    for offsets in per_partition.values() {
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "out of order: {offsets:?}"
        );
    }
    let got: BTreeSet<(i32, i64, String)> = records
        .iter()
        .map(|r| (r.partition, r.offset, value(r)))
        .collect();
    assert_eq!(got.len(), records.len(), "duplicates");
    let want: BTreeSet<(i32, i64, String)> = expected.iter().cloned().collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_and_poll_read_every_codec_in_order() {
    let codecs = [
        ("plain", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    let topics: Vec<&str> = codecs.iter().map(|(t, _)| *t).collect();
    let cluster = cluster(&topics).await;
    let mut expected = Vec::new();
    for (topic, codec) in codecs {
        let produced = produce(&cluster, topic, 0, 60, codec).await;
        expected.extend(
            produced
                .into_iter()
                .map(|(p, o, v)| (topic.to_string(), p, o, v)),
        );
    }
    let mut consumer = Consumer::new(
        config(&cluster, Some("codecs"))
            .max_poll_records(25)
            .build()
            .unwrap(),
    )
    .unwrap();
    consumer.subscribe(&topics).unwrap();
    let records = poll_until(&mut consumer, |r| r.len() >= expected.len()).await;
    assert_eq!(
        consumer.assignment().len(),
        topics.len() * PARTITIONS as usize
    );
    for (topic, _) in codecs {
        let got: Vec<ConsumerRecord> = records
            .iter()
            .filter(|r| &*r.topic == topic)
            .cloned()
            .collect();
        let want: Vec<(i32, i64, String)> = expected
            .iter()
            .filter(|e| e.0 == topic)
            .map(|e| (e.1, e.2, e.3.clone()))
            .collect();
        assert_exactly(&got, &want);
        assert!(got.iter().all(|r| r.key.is_some()));
    }
    // Nothing more arrives.
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

/// Runs one group member in a task: polls, commits after every poll (and in
/// `on_partitions_revoked`), until `stop`. A commit refused because a cooperative rebalance is
/// in progress is left to the revocation commit, as in Java. Groups named `coop-*` use the
/// cooperative-sticky assignor, others the default (range, eager).
fn member(
    cluster: &Cluster,
    group: &str,
    topic: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
    seen: tokio::sync::mpsc::UnboundedSender<(String, i32, i64, String)>,
    name: &'static str,
    assigned: std::sync::Arc<std::sync::Mutex<Vec<TopicPartition>>>,
) -> tokio::task::JoinHandle<Consumer> {
    let mut config = config(cluster, Some(group));
    config.enable_auto_commit(false);
    if group.starts_with("coop-") {
        config.partition_assignment_strategy([AssignmentStrategy::CooperativeSticky]);
    }
    let config = config.build().unwrap();
    tokio::spawn(async move {
        let mut consumer = Consumer::new(config).unwrap();
        consumer
            .subscribe_with_listener(&[topic], Recorder::default())
            .unwrap();
        while !*stop.borrow() {
            let records = consumer.poll(Duration::from_millis(100)).await.unwrap();
            for r in &records {
                seen.send((name.to_string(), r.partition, r.offset, value(r)))
                    .unwrap();
            }
            if !records.is_empty() {
                match consumer.commit().await {
                    Ok(()) => {}
                    Err(e) if e.is_rebalance_in_progress() => {}
                    Err(e) => panic!("{name}: commit failed: {e}"),
                }
            }
            *assigned.lock().unwrap() = consumer.assignment();
        }
        consumer
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_partitions_and_read_every_record_once() {
    split_between_two_members("splitters").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cooperative_members_split_partitions_and_read_every_record_once() {
    split_between_two_members("coop-splitters").await;
}

async fn split_between_two_members(group: &str) {
    let cluster = cluster(&["split"]).await;
    let first = produce(&cluster, "split", 0, 90, Compression::None).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (a_has, b_has) = (Default::default(), Default::default());
    let a = member(
        &cluster,
        group,
        "split",
        stop.clone(),
        tx.clone(),
        "a",
        std::sync::Arc::clone(&a_has),
    );
    let b = member(
        &cluster,
        group,
        "split",
        stop.clone(),
        tx,
        "b",
        std::sync::Arc::clone(&b_has),
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    // Wait (collecting records) until the group is stable with both members owning partitions.
    let split = |x: &std::sync::Mutex<Vec<TopicPartition>>,
                 y: &std::sync::Mutex<Vec<TopicPartition>>| {
        let (x, y) = (x.lock().unwrap(), y.lock().unwrap());
        !x.is_empty() && !y.is_empty() && x.len() + y.len() == PARTITIONS as usize
    };
    while !split(&a_has, &b_has) {
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            seen.push(got);
        }
        assert!(
            Instant::now() < deadline,
            "the group never split the partitions"
        );
    }
    // More records while both run.
    let second = produce(&cluster, "split", 90, 90, Compression::None).await;
    let total = first.len() + second.len();
    while seen.len() < total {
        let got = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("every record within the deadline")
            .unwrap();
        seen.push(got);
    }
    stop_tx.send_replace(true);
    let a = a.await.unwrap();
    let b = b.await.unwrap();
    let (aa, ba) = (a.assignment(), b.assignment());
    let union: BTreeSet<_> = aa.iter().chain(&ba).cloned().collect();
    let values: BTreeSet<&String> = seen.iter().map(|s| &s.3).collect();
    assert_eq!(values.len(), total, "every record exactly once: {seen:?}");
    assert_eq!(seen.len(), total);
    // Both members ended up with partitions, disjoint, covering the topic.
    assert!(!aa.is_empty() && !ba.is_empty(), "{aa:?} / {ba:?}");
    assert_eq!(union.len(), PARTITIONS as usize);
    assert_eq!(aa.len() + ba.len(), PARTITIONS as usize);
    a.close().await.unwrap();
    b.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_round_trip_and_a_restarted_consumer_resumes() {
    let cluster = cluster(&["resume"]).await;
    let produced = produce(&cluster, "resume", 0, 30, Compression::None).await;
    let cfg = || {
        config(&cluster, Some("resumers"))
            .enable_auto_commit(false)
            .max_poll_records(4)
            .build()
            .unwrap()
    };
    let mut consumer = Consumer::new(cfg()).unwrap();
    consumer.subscribe(&["resume"]).unwrap();
    let read = poll_until(&mut consumer, |r| !r.is_empty()).await;
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new("resume", p))
        .collect();
    // position() resolves partitions that have no position yet; commit() covers them all.
    let mut positions = BTreeMap::new();
    for tp in &tps {
        positions.insert(tp.clone(), consumer.position(tp).await.unwrap());
    }
    consumer.commit().await.unwrap();
    let committed = consumer.committed(&tps).await.unwrap();
    for tp in &tps {
        assert_eq!(
            committed[tp].as_ref().map(|c| c.offset),
            Some(positions[tp]),
            "{tp}"
        );
    }
    // An explicit commit with metadata.
    let tp0 = TopicPartition::new("resume", 0);
    consumer
        .commit_offsets(BTreeMap::from([(
            tp0.clone(),
            OffsetAndMetadata::new(2).with_metadata("checkpoint"),
        )]))
        .await
        .unwrap();
    let c = consumer.committed(&[tp0.clone()]).await.unwrap();
    assert_eq!(
        c[&tp0].as_ref().map(|c| (c.offset, c.metadata.as_str())),
        Some((2, "checkpoint"))
    );
    consumer.close().await.unwrap();

    // A new consumer in the group starts at the committed offsets.
    let committed_before: BTreeMap<TopicPartition, i64> = {
        let mut probe = Consumer::new(cfg()).unwrap();
        let c = probe.committed(&tps).await.unwrap();
        probe.close().await.unwrap();
        c.into_iter()
            .map(|(tp, o)| (tp, o.map_or(0, |o| o.offset)))
            .collect()
    };
    let mut restarted = Consumer::new(cfg()).unwrap();
    restarted.subscribe(&["resume"]).unwrap();
    let expected: Vec<(i32, i64, String)> = produced
        .iter()
        .filter(|(p, o, _)| *o >= committed_before[&TopicPartition::new("resume", *p)])
        .cloned()
        .collect();
    let records = poll_until(&mut restarted, |r| r.len() >= expected.len()).await;
    assert_exactly(&records, &expected);
    assert!(read.len() <= produced.len());
    restarted.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_without_a_group_and_seek() {
    let cluster = cluster(&["manual"]).await;
    let produced = produce(&cluster, "manual", 0, 30, Compression::None).await;
    let tp = TopicPartition::new("manual", 1);
    let in_tp: Vec<(i32, i64, String)> = produced.iter().filter(|e| e.0 == 1).cloned().collect();
    let mut consumer = Consumer::new(config(&cluster, None).build().unwrap()).unwrap();
    consumer.assign(vec![tp.clone()]).unwrap();
    assert_eq!(consumer.assignment(), [tp.clone()]);
    let records = poll_until(&mut consumer, |r| r.len() >= in_tp.len()).await;
    assert_exactly(&records, &in_tp);
    assert_eq!(consumer.position(&tp).await.unwrap(), 10);
    assert_eq!(consumer.lag(&tp), Some(0));

    consumer.seek(&tp, 7).unwrap();
    let records = poll_until(&mut consumer, |r| r.len() >= 3).await;
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [7, 8, 9]
    );

    consumer.seek_to_beginning(&[tp.clone()]);
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    let records = poll_until(&mut consumer, |r| r.len() >= 10).await;
    assert_eq!(records[0].offset, 0);

    consumer.seek_to_end(&[]);
    assert_eq!(consumer.position(&tp).await.unwrap(), 10);
    // Committing needs a group.
    assert!(matches!(
        consumer.commit().await,
        Err(ConsumerError::NoGroupId)
    ));
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_offset_reset_earliest_latest_and_none() {
    let cluster = cluster(&["reset"]).await;
    produce(&cluster, "reset", 0, 9, Compression::None).await;
    let tp = TopicPartition::new("reset", 0);

    let mut earliest =
        Consumer::new(config(&cluster, Some("r-earliest")).build().unwrap()).unwrap();
    earliest.subscribe(&["reset"]).unwrap();
    let records = poll_until(&mut earliest, |r| r.len() >= 9).await;
    assert_eq!(records.len(), 9);

    let mut latest = Consumer::new(
        config(&cluster, Some("r-latest"))
            .auto_offset_reset(AutoOffsetReset::Latest)
            .build()
            .unwrap(),
    )
    .unwrap();
    latest.assign(vec![tp.clone()]).unwrap();
    assert_eq!(latest.position(&tp).await.unwrap(), 3);
    let fresh = produce(&cluster, "reset", 9, 3, Compression::None).await;
    let records = poll_until(&mut latest, |r| !r.is_empty()).await;
    assert_eq!(value(&records[0]), fresh[0].2);
    assert_eq!(records[0].offset, 3);

    let mut none = Consumer::new(
        config(&cluster, Some("r-none"))
            .auto_offset_reset(AutoOffsetReset::None)
            .build()
            .unwrap(),
    )
    .unwrap();
    none.assign(vec![tp.clone()]).unwrap();
    match none.poll(Duration::from_secs(5)).await {
        Err(ConsumerError::NoOffsetForPartition(p)) => assert_eq!(p, tp),
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    // After a seek it reads.
    none.seek(&tp, 1).unwrap();
    let records = poll_until(&mut none, |r| !r.is_empty()).await;
    assert_eq!(records[0].offset, 1);
    for c in [earliest, latest, none] {
        c.close().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume() {
    let cluster = cluster(&["paused"]).await;
    produce(&cluster, "paused", 0, 30, Compression::None).await;
    let (tp0, tp1) = (
        TopicPartition::new("paused", 0),
        TopicPartition::new("paused", 1),
    );
    let mut consumer = Consumer::new(config(&cluster, None).build().unwrap()).unwrap();
    consumer.assign(vec![tp0.clone(), tp1.clone()]).unwrap();
    consumer.pause(&[tp1.clone()]);
    assert_eq!(consumer.paused(), [tp1.clone()]);
    let records = poll_until(&mut consumer, |r| r.len() >= 10).await;
    assert!(records.iter().all(|r| r.partition == 0));
    // Still nothing from the paused partition.
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.resume(&[tp1.clone()]);
    assert!(consumer.paused().is_empty());
    let records = poll_until(&mut consumer, |r| r.len() >= 10).await;
    assert!(records.iter().all(|r| r.partition == 1));
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_the_first_record_at_or_after() {
    let cluster = cluster(&["times"]).await;
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .build()
            .unwrap(),
    )
    .unwrap();
    for (i, ts) in [1_000i64, 2_000, 3_000].into_iter().enumerate() {
        producer
            .send_and_wait(
                ProducerRecord::<String, _>::new("times", format!("t{i}"))
                    .with_partition(0)
                    .with_timestamp(ts),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    let tp = TopicPartition::new("times", 0);
    let mut consumer = Consumer::new(config(&cluster, None).build().unwrap()).unwrap();
    let found = consumer
        .offsets_for_times(BTreeMap::from([(tp.clone(), 1_500)]))
        .await
        .unwrap();
    assert_eq!(found[&tp], Some((1, 2_000)));
    let found = consumer
        .offsets_for_times(BTreeMap::from([(tp.clone(), 9_000)]))
        .await
        .unwrap();
    assert_eq!(found[&tp], None);
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_mid_consumption_leaves_no_gap() {
    let cluster = cluster(&["failover"]).await;
    let first = produce(&cluster, "failover", 0, 60, Compression::None).await;
    let tp = TopicPartition::new("failover", 0);
    let mut consumer =
        Consumer::new(config(&cluster, None).max_poll_records(5).build().unwrap()).unwrap();
    consumer.assign(vec![tp.clone()]).unwrap();
    let mut records = poll_until(&mut consumer, |r| r.len() >= 5).await;
    let leader = cluster.metadata().partition("failover", 0).unwrap().leader;
    cluster.stop_broker(leader).await.unwrap();
    let second = produce(&cluster, "failover", 60, 30, Compression::None).await;
    let expected: Vec<_> = first
        .iter()
        .chain(&second)
        .filter(|e| e.0 == 0)
        .cloned()
        .collect();
    let rest = poll_until(&mut consumer, |r| records.len() + r.len() >= expected.len()).await;
    records.extend(rest);
    assert_exactly(&records, &expected);
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

/// The sum of the group's committed offsets over the topic's partitions (records committed,
/// when every partition starts at 0).
async fn committed_total(consumer: &mut Consumer, topic: &str) -> i64 {
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let committed = consumer.committed(&tps).await.unwrap();
    committed
        .values()
        .map(|c| c.as_ref().map_or(0, |c| c.offset))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_yields_every_record_and_commits_only_what_it_yielded() {
    let cluster = cluster(&["streamed"]).await;
    let produced = produce(&cluster, "streamed", 0, 30, Compression::Lz4).await;
    let mut consumer = Consumer::new(
        config(&cluster, Some("streamers"))
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    consumer.subscribe(&["streamed"]).unwrap();
    let mut got = Vec::new();
    {
        let mut stream = consumer.stream();
        let deadline = Instant::now() + WAIT;
        while got.len() < 20 {
            let next = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("records within the deadline");
            got.push(next.expect("stream open").expect("no error"));
        }
    }
    // The positions cover exactly the 20 records yielded.
    consumer.commit().await.unwrap();
    assert_eq!(committed_total(&mut consumer, "streamed").await, 20);
    let rest = poll_until(&mut consumer, |r| got.len() + r.len() >= produced.len()).await;
    got.extend(rest);
    assert_exactly(&got, &produced);
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_stream_yields_poll_batches_of_at_most_max_poll_records() {
    let cluster = cluster(&["batched"]).await;
    let produced = produce(&cluster, "batched", 0, 30, Compression::None).await;
    let mut consumer = Consumer::new(
        config(&cluster, Some("batchers"))
            .enable_auto_commit(false)
            .max_poll_records(7)
            .build()
            .unwrap(),
    )
    .unwrap();
    consumer.subscribe(&["batched"]).unwrap();
    let mut got = Vec::new();
    {
        let mut batches = consumer.batches();
        let deadline = Instant::now() + WAIT;
        while got.len() < produced.len() {
            let batch = tokio::time::timeout_at(deadline, batches.next())
                .await
                .expect("batches within the deadline")
                .expect("stream open")
                .expect("no error");
            assert!((1..=7).contains(&batch.len()), "a batch of {}", batch.len());
            got.extend(batch);
        }
    }
    assert_exactly(&got, &produced);
    // Positions cover exactly what the stream yielded.
    consumer.commit().await.unwrap();
    assert_eq!(
        committed_total(&mut consumer, "batched").await,
        produced.len() as i64
    );
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

/// Records what the listener saw.
#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl RebalanceListener for Recorder {
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", partitions.len()));
    }
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        ctx.commit_consumed(partitions);
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", partitions.len()));
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        self.0
            .lock()
            .unwrap()
            .push(format!("lost {}", partitions.len()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_the_group_and_the_other_member_takes_over_quickly() {
    let cluster = cluster(&["handover"]).await;
    produce(&cluster, "handover", 0, 30, Compression::None).await;
    let cfg = || {
        config(&cluster, Some("handovers"))
            .enable_auto_commit(false)
            .build()
            .unwrap()
    };
    let events = Recorder::default();
    let mut a = Consumer::new(cfg()).unwrap();
    a.subscribe_with_listener(&["handover"], events.clone())
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while a.assignment().len() < PARTITIONS as usize {
        assert!(Instant::now() < deadline, "a never joined");
        a.poll(Duration::from_millis(100)).await.unwrap();
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let b = member(
        &cluster,
        "handovers",
        "handover",
        stop,
        tx,
        "b",
        Default::default(),
    );
    // Keep `a` polling until the partitions are split.
    let deadline = Instant::now() + WAIT;
    while a.assignment().len() == PARTITIONS as usize {
        assert!(Instant::now() < deadline, "b never got partitions");
        a.poll(Duration::from_millis(100)).await.unwrap();
    }
    stop_tx.send_replace(true);
    let b = b.await.unwrap();
    let closed_at = Instant::now();
    b.close().await.unwrap();
    while a.assignment().len() < PARTITIONS as usize {
        assert!(
            closed_at.elapsed() < Duration::from_secs(5),
            "a took over only by session timeout"
        );
        a.poll(Duration::from_millis(100)).await.unwrap();
    }
    let seen = events.0.lock().unwrap().clone();
    assert!(seen.first().is_some_and(|e| e == "assigned 3"), "{seen:?}");
    assert!(seen.iter().any(|e| e.starts_with("revoked")), "{seen:?}");
    a.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_consumer_deserializes_and_stops_at_a_bad_record() {
    use kafkit::consumer::typed::TypedConsumer;
    let cluster = cluster(&["typed"]).await;
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .build()
            .unwrap(),
    )
    .unwrap();
    let values: [&[u8]; 4] = [
        &1i64.to_be_bytes(),
        &2i64.to_be_bytes(),
        b"bad",
        &4i64.to_be_bytes(),
    ];
    for v in values {
        producer
            .send_and_wait(
                ProducerRecord::new("typed".to_string(), v.to_vec())
                    .with_key(b"k".to_vec())
                    .with_partition(0),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    let tp = TopicPartition::new("typed", 0);
    let mut typed: TypedConsumer<String, i64> =
        TypedConsumer::new(Consumer::new(config(&cluster, None).build().unwrap()).unwrap());
    typed.consumer_mut().assign(vec![tp.clone()]).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let error = loop {
        assert!(Instant::now() < deadline, "no deserialization error");
        match typed.poll(Duration::from_millis(200)).await {
            Ok(records) => got.extend(records),
            Err(e) => break e,
        }
    };
    assert_eq!(
        got.iter()
            .map(|r| (r.key.clone(), r.value))
            .collect::<Vec<_>>(),
        [
            (Some("k".to_string()), Some(1)),
            (Some("k".to_string()), Some(2))
        ]
    );
    match error {
        ConsumerError::Deserialize {
            partition, offset, ..
        } => {
            assert_eq!((partition, offset), (tp.clone(), 2));
        }
        other => panic!("expected Deserialize, got {other:?}"),
    }
    // Seeking past the bad record goes on.
    typed.consumer_mut().seek(&tp, 3).unwrap();
    let deadline = Instant::now() + WAIT;
    let next = loop {
        assert!(Instant::now() < deadline, "record after the bad one");
        let records = typed.poll(Duration::from_millis(200)).await.unwrap();
        if let Some(r) = records.into_iter().next() {
            break r;
        }
    };
    assert_eq!((next.record.offset, next.value), (3, Some(4)));
    typed.into_inner().close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_revokes_and_a_new_subscription_rejoins() {
    let cluster = cluster(&["first", "second"]).await;
    produce(&cluster, "second", 0, 6, Compression::None).await;
    let events = Recorder::default();
    let mut consumer = Consumer::new(config(&cluster, Some("switchers")).build().unwrap()).unwrap();
    consumer
        .subscribe_with_listener(&["first"], events.clone())
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().is_empty() {
        assert!(Instant::now() < deadline, "never joined");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    consumer.unsubscribe();
    assert!(consumer.assignment().is_empty());
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(ConsumerError::IllegalState(_))
    ));
    consumer.subscribe(&["second"]).unwrap();
    let records = poll_until(&mut consumer, |r| r.len() >= 6).await;
    assert!(records.iter().all(|r| &*r.topic == "second"));
    assert!(
        consumer
            .assignment()
            .iter()
            .all(|tp| &*tp.topic == "second")
    );
    let seen = events.0.lock().unwrap().clone();
    assert_eq!(seen[..2], ["assigned 3", "revoked 3"], "{seen:?}");
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

/// A rough throughput number: `cargo test --release -p kafkit-examples --test consumer
/// throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn throughput() {
    const N: usize = 200_000;
    let cluster = cluster(&["bulk"]).await;
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .linger(Duration::from_millis(5))
            .compression(Compression::None)
            .build()
            .unwrap(),
    )
    .unwrap();
    let payload = vec![b'x'; 100];
    let mut last = None;
    for i in 0..N {
        last = Some(
            producer
                .send(
                    ProducerRecord::<Vec<u8>, _>::new("bulk".to_string(), {
                        let mut v = payload.clone();
                        v[..8].copy_from_slice(&(i as u64).to_be_bytes());
                        v
                    })
                    .with_partition(i as i32 % PARTITIONS),
                )
                .await
                .unwrap(),
        );
    }
    last.unwrap().await.unwrap();
    producer.flush().await;
    producer.close().await;
    let mut consumer = Consumer::new(config(&cluster, None).build().unwrap()).unwrap();
    consumer
        .assign(
            (0..PARTITIONS)
                .map(|p| TopicPartition::new("bulk", p))
                .collect(),
        )
        .unwrap();
    let start = std::time::Instant::now();
    let mut n = 0;
    while n < N {
        n += consumer.poll(Duration::from_secs(1)).await.unwrap().len();
    }
    let elapsed = start.elapsed();
    println!(
        "consumed {n} uncompressed records of 100 B in {elapsed:?}: {:.0} records/s",
        n as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(n, N);
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_and_reports_its_partitions_lost() {
    let cluster = cluster(&["slow"]).await;
    let events = Recorder::default();
    let interval = Duration::from_millis(1500);
    let mut consumer = Consumer::new(
        config(&cluster, Some("slowpokes"))
            .max_poll_interval(interval)
            .build()
            .unwrap(),
    )
    .unwrap();
    consumer
        .subscribe_with_listener(&["slow"], events.clone())
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().is_empty() {
        assert!(Instant::now() < deadline, "never joined");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    // The scenario itself: the application does not poll for longer than max.poll.interval.ms.
    tokio::time::sleep(interval * 2).await;
    let deadline = Instant::now() + WAIT;
    while !events
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("lost"))
    {
        assert!(Instant::now() < deadline, "{:?}", events.0.lock().unwrap());
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    // It rejoins and owns the partitions again.
    while consumer.assignment().len() < PARTITIONS as usize {
        assert!(Instant::now() < deadline, "never rejoined");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}
