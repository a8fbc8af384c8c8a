//! Rebalances of `kafkit::consumer::client::Consumer` under load, against the in-process test
//! broker: a cooperative-sticky member keeps consuming the partitions it keeps while a rebalance
//! is in progress; members join and leave (close, drop, stop polling) while a producer writes
//! and every member commits by hand, for an eager and the cooperative protocol; two members
//! split the partitions with every assignor.
//!
//! Every wait is on a condition with a deadline; nothing sleeps to synchronise (the producer's
//! pacing tick only limits its rate).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::consumer::client::{Consumer, ConsumerError, RebalanceContext, RebalanceListener};
use kafkit::consumer::config::{AssignmentStrategy, AutoOffsetReset, ConsumerConfig};
use kafkit::consumer::record::ConsumerRecord;
use kafkit::messages::ApiKey;
use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use kafkit::protocol::ErrorCode;
use kafkit_testbroker::Cluster;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const PARTITIONS: i32 = 6;
const WAIT: Duration = Duration::from_secs(25);

async fn cluster(topic: &str) -> Cluster {
    Cluster::builder()
        .brokers(1)
        .auto_create_topics(false)
        .topic(topic, PARTITIONS, 1)
        .build()
        .await
        .expect("cluster starts")
}

fn config(
    cluster: &Cluster,
    group: &str,
    client_id: &str,
    strategy: AssignmentStrategy,
) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .client_id(client_id)
        .group_id(group)
        .partition_assignment_strategy([strategy])
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(100))
        .max_poll_interval(Duration::from_secs(3))
        .default_api_timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(20))
        .fetch_max_wait(Duration::from_millis(50))
        .max_poll_records(50)
        .build()
        .expect("valid config")
}

/// What a producer wrote: (partition, offset) of every acknowledged record.
type Produced = Arc<Mutex<Vec<(i32, i64)>>>;

/// Writes records to `topic` until `stop`, paced by a short tick, six at a time; `keyed`
/// records go where the default partitioner puts their key, the others round-robin.
fn spawn_producer(
    cluster: &Cluster,
    topic: &'static str,
    keyed: bool,
    stop: watch::Receiver<bool>,
) -> (JoinHandle<()>, Produced) {
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .linger(Duration::from_millis(1))
            .build()
            .unwrap(),
    )
    .unwrap();
    let produced: Produced = Arc::default();
    let out = produced.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut i = 0usize;
        while !*stop.borrow() {
            tick.tick().await;
            let mut deliveries = Vec::new();
            for _ in 0..PARTITIONS {
                let record = ProducerRecord::new(topic.to_string(), format!("v{i}"));
                let record = if keyed {
                    record.with_key(format!("k{i}"))
                } else {
                    record.with_partition(i as i32 % PARTITIONS)
                };
                deliveries.push(producer.send(record).await.expect("queued"));
                i += 1;
            }
            for d in deliveries {
                let meta = d.await.expect("delivered");
                out.lock().unwrap().push((meta.partition, meta.offset));
            }
        }
        producer.close().await;
    });
    (task, produced)
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

/// Listener callbacks as seen by one member.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Callback {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// Records the callbacks and commits what was consumed of revoked partitions.
#[derive(Clone, Default)]
struct CallbackLog(Arc<Mutex<Vec<Callback>>>);

impl CallbackLog {
    fn assigned_count(&self) -> usize {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|c| matches!(c, Callback::Assigned(_)))
            .count()
    }
}

impl RebalanceListener for CallbackLog {
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        let cb = Callback::Assigned(partitions.to_vec());
        self.0.lock().unwrap().push(cb);
    }
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        ctx.commit_consumed(partitions);
        let cb = Callback::Revoked(partitions.to_vec());
        self.0.lock().unwrap().push(cb);
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        let cb = Callback::Lost(partitions.to_vec());
        self.0.lock().unwrap().push(cb);
    }
}

/// JoinGroup requests the broker received from `client_id` so far.
fn join_groups_from(cluster: &Cluster, client_id: &str) -> usize {
    cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::JoinGroup && r.client_id.as_deref() == Some(client_id))
        .count()
}

/// Offsets of `records` per partition, in the order returned.
fn offsets_by_partition(records: &[ConsumerRecord]) -> BTreeMap<i32, Vec<i64>> {
    let mut out: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition).or_default().push(r.offset);
    }
    out
}

/// (a) Member A owns all six partitions of a topic being written to; member B joins. With
/// cooperative-sticky, A keeps returning records of the partitions it keeps while the
/// rebalance is in progress (after A's own JoinGroup went out, before the rebalance completes
/// in A's `on_partitions_assigned`), is told only of the moved partitions as revoked, and reads
/// its retained partitions without gap or duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_keeps_unmoved_partitions_consuming_through_a_rebalance() {
    const TOPIC: &str = "moving";
    let cluster = cluster(TOPIC).await;
    let (stop_tx, stop) = watch::channel(false);
    let (producer, produced) = spawn_producer(&cluster, TOPIC, false, stop.clone());
    let strategy = AssignmentStrategy::CooperativeSticky;
    let a_events = CallbackLog::default();
    let mut a =
        Consumer::new(config(&cluster, "coop-keepers", "member-a", strategy)).expect("consumer");
    a.subscribe_with_listener(&[TOPIC], a_events.clone())
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut a_records: Vec<ConsumerRecord> = Vec::new();
    while a.assignment().len() < PARTITIONS as usize || a_records.len() < 60 {
        assert!(Instant::now() < deadline, "a never owned every partition");
        a_records.extend(a.poll(Duration::from_millis(100)).await.unwrap());
    }
    assert_eq!(a_events.assigned_count(), 1);

    // Widen the rebalance: every SyncGroup answer is held back.
    cluster.delay_responses(ApiKey::SyncGroup, Duration::from_millis(1500));
    let joins_before = join_groups_from(&cluster, "member-a");
    let b_events = CallbackLog::default();
    let b_config = config(&cluster, "coop-keepers", "member-b", strategy);
    let (b_stop_tx, b_stop) = watch::channel(false);
    let b_listener = b_events.clone();
    let b = tokio::spawn(async move {
        let mut b = Consumer::new(b_config).unwrap();
        b.subscribe_with_listener(&[TOPIC], b_listener).unwrap();
        let mut got = Vec::new();
        while !*b_stop.borrow() {
            got.extend(b.poll(Duration::from_millis(100)).await.unwrap());
        }
        (b, got)
    });

    // A keeps polling; a poll counts as "during the rebalance" when A's JoinGroup of this
    // rebalance had reached the broker before it started and the rebalance had not completed
    // (no new on_partitions_assigned) when it returned.
    let mut during: Vec<ConsumerRecord> = Vec::new();
    let mut slowest_during = Duration::ZERO;
    let done = |a: &Consumer, b_events: &CallbackLog| {
        let b_owned: usize = b_events
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|c| match c {
                Callback::Assigned(p) => p.len() as isize,
                Callback::Revoked(p) | Callback::Lost(p) => -(p.len() as isize),
            })
            .sum::<isize>() as usize;
        a.assignment().len() == 3 && b_owned == 3
    };
    while !done(&a, &b_events) {
        assert!(Instant::now() < deadline, "the partitions never moved");
        let rejoining = join_groups_from(&cluster, "member-a") > joins_before;
        let assigned_before = a_events.assigned_count();
        let started = Instant::now();
        let records = a.poll(Duration::from_millis(100)).await.unwrap();
        if rejoining && a_events.assigned_count() == assigned_before && assigned_before == 1 {
            during.extend(records.iter().cloned());
            slowest_during = slowest_during.max(started.elapsed());
        }
        a_records.extend(records);
    }
    cluster.clear_faults();
    let retained: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    assert_eq!(retained.len(), 3);

    // Drain: stop writing, then read everything written to the retained partitions.
    stop_tx.send_replace(true);
    producer.await.unwrap();
    let produced = produced.lock().unwrap().clone();
    let ends: BTreeMap<i32, i64> = produced.iter().fold(BTreeMap::new(), |mut m, (p, o)| {
        let e = m.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
        m
    });
    let caught_up = |records: &[ConsumerRecord]| {
        let by = offsets_by_partition(records);
        retained.iter().all(|t| {
            by.get(&t.partition).and_then(|o| o.last()).copied() == Some(ends[&t.partition] - 1)
        })
    };
    while !caught_up(&a_records) {
        assert!(Instant::now() < deadline, "a never caught up");
        a_records.extend(a.poll(Duration::from_millis(100)).await.unwrap());
    }
    b_stop_tx.send_replace(true);
    let (b, b_records) = b.await.unwrap();

    // A returned records of retained partitions while the rebalance was in progress.
    let during_retained = during
        .iter()
        .filter(|r| retained.contains(&tp(TOPIC, r.partition)))
        .count();
    assert!(
        during_retained > 0,
        "a returned no records of its retained partitions while the rebalance was in progress \
         ({} records in that window)",
        during.len()
    );
    // Those polls kept to their 100 ms timeout rather than waiting out the held SyncGroup.
    assert!(
        slowest_during < Duration::from_millis(1000),
        "a poll during the rebalance took {slowest_during:?}"
    );
    // Only moved partitions were revoked, and they are exactly B's.
    let b_owned: BTreeSet<TopicPartition> = b.assignment().into_iter().collect();
    assert_eq!(b_owned.len(), 3);
    assert!(retained.is_disjoint(&b_owned));
    let a_log = a_events.0.lock().unwrap().clone();
    let mut revoked = BTreeSet::new();
    for c in &a_log {
        match c {
            Callback::Revoked(p) => {
                for t in p {
                    assert!(!retained.contains(t), "unmoved {t} revoked: {a_log:?}");
                    revoked.insert(t.clone());
                }
            }
            Callback::Lost(p) => panic!("a lost {p:?}: {a_log:?}"),
            Callback::Assigned(_) => {}
        }
    }
    assert_eq!(revoked, b_owned, "{a_log:?}");
    // Retained partitions: every offset from 0 to the end, once, in order.
    let by = offsets_by_partition(&a_records);
    for t in &retained {
        let got = &by[&t.partition];
        let want: Vec<i64> = (0..ends[&t.partition]).collect();
        assert_eq!(got, &want, "gap or duplicate in retained {t}");
    }
    // B never read a retained partition.
    assert!(
        b_records
            .iter()
            .all(|r| !retained.contains(&tp(TOPIC, r.partition)))
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
    cluster.shutdown().await;
}

/// What happened, in one total order across every member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `poll` returned this record to `member`.
    Consumed {
        member: usize,
        partition: i32,
        offset: i64,
    },
    /// `member` committed `offset` (the next to read) for `partition`: a `commit()` that
    /// succeeded, or a commit asked for in `on_partitions_revoked`.
    Committed {
        member: usize,
        partition: i32,
        offset: i64,
    },
    /// `on_partitions_assigned` gave `member` these partitions.
    Assigned { member: usize, partitions: Vec<i32> },
    /// `on_partitions_revoked` took these partitions from `member`.
    Revoked { member: usize, partitions: Vec<i32> },
    /// `on_partitions_lost` took these partitions from `member`.
    Lost { member: usize, partitions: Vec<i32> },
}

type Journal = Arc<Mutex<Vec<Entry>>>;

/// A member's listener: journals the callbacks and commits revoked partitions' progress.
struct JournalListener {
    member: usize,
    journal: Journal,
}

impl RebalanceListener for JournalListener {
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        let partitions = partitions.iter().map(|t| t.partition).collect();
        let member = self.member;
        self.journal
            .lock()
            .unwrap()
            .push(Entry::Assigned { member, partitions });
    }
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        ctx.commit_consumed(partitions);
        let mut journal = self.journal.lock().unwrap();
        for t in partitions {
            if let Some(offset) = ctx.position(t) {
                journal.push(Entry::Committed {
                    member: self.member,
                    partition: t.partition,
                    offset,
                });
            }
        }
        journal.push(Entry::Revoked {
            member: self.member,
            partitions: partitions.iter().map(|t| t.partition).collect(),
        });
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        let partitions = partitions.iter().map(|t| t.partition).collect();
        let member = self.member;
        self.journal
            .lock()
            .unwrap()
            .push(Entry::Lost { member, partitions });
    }
}

/// What the test asks of a member task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Poll, journal, commit after every non-empty batch.
    Run,
    /// Stop polling (the consumer stays alive) until told otherwise.
    Pause,
    /// `close()` the consumer.
    Close,
    /// Drop the consumer without closing it.
    Drop,
}

/// The partitions each running member reported after its last poll.
type Owned = Arc<Mutex<BTreeMap<usize, Vec<i32>>>>;

/// How commits ended, counted over every member.
#[derive(Debug, Default)]
struct CommitStats {
    ok: usize,
    rebalancing: usize,
    fenced: usize,
}

struct Member {
    commands: watch::Sender<Command>,
    task: JoinHandle<()>,
}

impl Member {
    async fn stop(self, how: Command) {
        self.commands.send_replace(how);
        self.task.await.expect("member task");
    }
}

#[allow(clippy::too_many_arguments)]
fn spawn_member(
    cluster: &Cluster,
    group: &str,
    topic: &'static str,
    strategy: AssignmentStrategy,
    member: usize,
    journal: Journal,
    owned: Owned,
    stats: Arc<Mutex<CommitStats>>,
) -> Member {
    let config = config(cluster, group, &format!("member-{member}"), strategy);
    let (commands, mut rx) = watch::channel(Command::Run);
    let task = tokio::spawn(async move {
        let mut consumer = Consumer::new(config).expect("consumer");
        let listener = JournalListener {
            member,
            journal: journal.clone(),
        };
        consumer
            .subscribe_with_listener(&[topic], listener)
            .unwrap();
        loop {
            let command = *rx.borrow_and_update();
            match command {
                Command::Run => {}
                Command::Pause => {
                    rx.wait_for(|c| *c != Command::Pause).await.unwrap();
                    continue;
                }
                Command::Close => {
                    consumer.close().await.expect("close");
                    owned.lock().unwrap().remove(&member);
                    return;
                }
                Command::Drop => {
                    drop(consumer);
                    owned.lock().unwrap().remove(&member);
                    return;
                }
            }
            let records = consumer.poll(Duration::from_millis(100)).await.unwrap();
            let mut next: BTreeMap<i32, i64> = BTreeMap::new();
            {
                let mut j = journal.lock().unwrap();
                for r in &records {
                    j.push(Entry::Consumed {
                        member,
                        partition: r.partition,
                        offset: r.offset,
                    });
                    next.insert(r.partition, r.offset + 1);
                }
            }
            if *rx.borrow() == Command::Drop {
                // A crash after processing, before committing: the batch will be read again.
                drop(consumer);
                owned.lock().unwrap().remove(&member);
                return;
            }
            if !records.is_empty() {
                match consumer.commit().await {
                    Ok(()) => {
                        stats.lock().unwrap().ok += 1;
                        let mut j = journal.lock().unwrap();
                        for (partition, offset) in next {
                            j.push(Entry::Committed {
                                member,
                                partition,
                                offset,
                            });
                        }
                    }
                    // Not fatal: the next batch's commit covers this one.
                    Err(e) if e.is_rebalance_in_progress() => {
                        stats.lock().unwrap().rebalancing += 1;
                    }
                    Err(ConsumerError::Group(g))
                        if matches!(
                            g.error_code(),
                            Some(ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)
                        ) =>
                    {
                        stats.lock().unwrap().fenced += 1;
                    }
                    Err(e) => panic!("member {member}: commit failed: {e}"),
                }
            }
            let mine: Vec<i32> = consumer.assignment().iter().map(|t| t.partition).collect();
            owned.lock().unwrap().insert(member, mine);
        }
    });
    Member { commands, task }
}

/// Waits until the members' last reported assignments satisfy `condition`.
async fn wait_owned(
    owned: &Owned,
    what: &str,
    deadline: Instant,
    mut condition: impl FnMut(&BTreeMap<usize, Vec<i32>>) -> bool,
) {
    loop {
        if condition(&owned.lock().unwrap()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            owned.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Exactly these members own partitions, every partition once, none of them empty-handed.
fn split_among(members: &[usize]) -> impl FnMut(&BTreeMap<usize, Vec<i32>>) -> bool + '_ {
    move |owned| {
        let mut all = Vec::new();
        for m in members {
            match owned.get(m) {
                Some(p) if !p.is_empty() => all.extend(p.iter().copied()),
                _ => return false,
            }
        }
        let others_empty = owned
            .iter()
            .filter(|(m, _)| !members.contains(m))
            .all(|(_, p)| p.is_empty());
        all.sort();
        others_empty && all == (0..PARTITIONS).collect::<Vec<_>>()
    }
}

/// Checks the journal: every produced record consumed at least once; a member reads each
/// partition it owns in increasing offsets; every record consumed again is at or after the
/// offset last committed for its partition before the new owner got it.
fn check_journal(journal: &[Entry], produced: &[(i32, i64)]) {
    let consumed: BTreeSet<(i32, i64)> = journal
        .iter()
        .filter_map(|e| match e {
            Entry::Consumed {
                partition, offset, ..
            } => Some((*partition, *offset)),
            _ => None,
        })
        .collect();
    let missing: Vec<&(i32, i64)> = produced.iter().filter(|r| !consumed.contains(r)).collect();
    assert!(missing.is_empty(), "never consumed: {missing:?}");

    let mut last_commit: BTreeMap<i32, i64> = BTreeMap::new();
    // Per (member, partition): the committed offset when the member got the partition, and
    // the last offset it read since.
    let mut ownership: BTreeMap<(usize, i32), (i64, Option<i64>)> = BTreeMap::new();
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut duplicates = 0usize;
    for (i, e) in journal.iter().enumerate() {
        match e {
            Entry::Assigned { member, partitions } => {
                for p in partitions {
                    let bound = last_commit.get(p).copied().unwrap_or(0);
                    ownership.insert((*member, *p), (bound, None));
                }
            }
            Entry::Committed {
                partition, offset, ..
            } => {
                last_commit.insert(*partition, *offset);
            }
            Entry::Consumed {
                member,
                partition,
                offset,
            } => {
                let (bound, last) = ownership
                    .get_mut(&(*member, *partition))
                    .unwrap_or_else(|| panic!("#{i}: member {member} read unassigned {partition}"));
                assert!(
                    last.is_none_or(|l| *offset > l),
                    "#{i}: member {member} read {partition}@{offset} after @{last:?} in one ownership"
                );
                *last = Some(*offset);
                if !seen.insert((*partition, *offset)) {
                    duplicates += 1;
                    assert!(
                        *offset >= *bound,
                        "#{i}: member {member} read {partition}@{offset} again, below the offset \
                         {bound} committed before it got the partition"
                    );
                }
            }
            Entry::Revoked { member, partitions } | Entry::Lost { member, partitions } => {
                for p in partitions {
                    ownership.remove(&(*member, *p));
                }
            }
        }
    }
    eprintln!(
        "{} records produced, {} consumed, {duplicates} duplicates",
        produced.len(),
        seen.len()
    );
}

/// (b) Members join and leave (close, drop, stop polling) while keyed records are written,
/// each committing by hand after every batch and in `on_partitions_revoked`.
async fn churn_under_load(strategy: AssignmentStrategy, group: &str) {
    const TOPIC: &str = "churn";
    let cluster = cluster(TOPIC).await;
    let deadline = Instant::now() + WAIT;
    let (stop_tx, stop) = watch::channel(false);
    let (producer, produced) = spawn_producer(&cluster, TOPIC, true, stop);
    let journal: Journal = Arc::default();
    let owned: Owned = Arc::default();
    let stats: Arc<Mutex<CommitStats>> = Arc::default();
    let start = |m: usize| {
        spawn_member(
            &cluster,
            group,
            TOPIC,
            strategy,
            m,
            journal.clone(),
            owned.clone(),
            stats.clone(),
        )
    };
    let m0 = start(0);
    let m1 = start(1);
    wait_owned(&owned, "0 and 1 split", deadline, split_among(&[0, 1])).await;
    let m2 = start(2);
    wait_owned(
        &owned,
        "0, 1 and 2 split",
        deadline,
        split_among(&[0, 1, 2]),
    )
    .await;
    m0.stop(Command::Close).await;
    wait_owned(&owned, "1 and 2 split", deadline, split_among(&[1, 2])).await;
    // 1 vanishes without a word as 3 joins: the rebalance drops 1 when it does not rejoin.
    m1.stop(Command::Drop).await;
    let m3 = start(3);
    wait_owned(&owned, "2 and 3 split", deadline, split_among(&[2, 3])).await;
    // 2 stops polling: it leaves after max.poll.interval.ms and 3 takes everything.
    m2.commands.send_replace(Command::Pause);
    wait_owned(&owned, "3 alone", deadline, |o| {
        o.get(&3).is_some_and(|p| p.len() == PARTITIONS as usize)
    })
    .await;
    // 2 polls again: it finds its partitions lost and rejoins.
    owned.lock().unwrap().remove(&2);
    m2.commands.send_replace(Command::Run);
    wait_owned(
        &owned,
        "2 and 3 split again",
        deadline,
        split_among(&[2, 3]),
    )
    .await;

    stop_tx.send_replace(true);
    producer.await.unwrap();
    let produced = produced.lock().unwrap().clone();
    let want: BTreeSet<(i32, i64)> = produced.iter().copied().collect();
    loop {
        let got: BTreeSet<(i32, i64)> = journal
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Entry::Consumed {
                    partition, offset, ..
                } => Some((*partition, *offset)),
                _ => None,
            })
            .collect();
        if want.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} records consumed",
            want.intersection(&got).count(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m2.stop(Command::Close).await;
    m3.stop(Command::Close).await;
    let journal = journal.lock().unwrap().clone();
    check_journal(&journal, &produced);
    let lost = journal
        .iter()
        .any(|e| matches!(e, Entry::Lost { member: 2, .. }));
    assert!(lost, "member 2 never reported its partitions lost");
    eprintln!("{strategy:?}: commits {:?}", stats.lock().unwrap());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_under_load_eager_range() {
    churn_under_load(AssignmentStrategy::Range, "churn-range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_under_load_cooperative_sticky() {
    churn_under_load(AssignmentStrategy::CooperativeSticky, "churn-coop").await;
}

/// (c) Two members of a group split the partitions through `Consumer` with every assignor, and
/// together read every record exactly once (commits after every batch and on revocation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_with_every_assignor() {
    const TOPIC: &str = "split";
    let cluster = cluster(TOPIC).await;
    let (stop_tx, stop) = watch::channel(false);
    let (producer, produced) = spawn_producer(&cluster, TOPIC, false, stop);
    for strategy in AssignmentStrategy::ALL {
        let group = format!("split-{}", strategy.name());
        let deadline = Instant::now() + WAIT;
        let journal: Journal = Arc::default();
        let owned: Owned = Arc::default();
        let stats: Arc<Mutex<CommitStats>> = Arc::default();
        let start = |m: usize| {
            spawn_member(
                &cluster,
                &group,
                TOPIC,
                strategy,
                m,
                journal.clone(),
                owned.clone(),
                stats.clone(),
            )
        };
        let a = start(0);
        wait_owned(&owned, "a alone", deadline, split_among(&[0])).await;
        let b = start(1);
        wait_owned(&owned, "a and b split", deadline, split_among(&[0, 1])).await;
        // Both read what is written after the split, from their own partitions.
        let written = produced.lock().unwrap().len();
        let target: Vec<(i32, i64)> = loop {
            let p = produced.lock().unwrap().clone();
            if p.len() >= written + 60 {
                break p;
            }
            assert!(Instant::now() < deadline, "the producer stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        loop {
            let got: BTreeSet<(i32, i64)> = journal
                .lock()
                .unwrap()
                .iter()
                .filter_map(|e| match e {
                    Entry::Consumed {
                        partition, offset, ..
                    } => Some((*partition, *offset)),
                    _ => None,
                })
                .collect();
            if target.iter().all(|r| got.contains(r)) {
                break;
            }
            assert!(Instant::now() < deadline, "{strategy:?}: records missing");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        a.stop(Command::Close).await;
        b.stop(Command::Close).await;
        let journal = journal.lock().unwrap().clone();
        check_journal(&journal, &target);
        let mut reads: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for e in &journal {
            if let Entry::Consumed {
                partition, offset, ..
            } = e
            {
                *reads.entry((*partition, *offset)).or_default() += 1;
            }
        }
        let twice: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{strategy:?}: read more than once: {twice:?}"
        );
        for member in [0, 1] {
            let after_split = target[written..].iter().any(|(p, o)| {
                journal.iter().any(|e| {
                    *e == Entry::Consumed {
                        member,
                        partition: *p,
                        offset: *o,
                    }
                })
            });
            assert!(
                after_split,
                "{strategy:?}: member {member} read nothing after the split"
            );
        }
    }
    stop_tx.send_replace(true);
    producer.await.unwrap();
    cluster.shutdown().await;
}
