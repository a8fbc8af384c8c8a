//! Consumer groups shared with other clients, and static members restarting, through
//! `kafkit::consumer::client::Consumer` against the in-process test broker (issue 6).
//!
//! * **Mixed groups.** A kafkit `Consumer` and a kafka-python or confluent-kafka (librdkafka)
//!   consumer in one group over a 6-partition topic, with an assignor both sides implement:
//!   `range` (eager) and `cooperative-sticky` (incremental), with each client. Each pairing
//!   runs twice, the kafkit member joining first and then the Python one, so each side is the
//!   group leader once and the other decodes the assignment it computed. The second member
//!   joins while records keep arriving, so partitions change hands mid-stream. Checked: the two
//!   assignments split the partitions evenly without overlap, as each member reports it
//!   (`Consumer::assignment`, the Python member's listener) and as the coordinator stores it
//!   (DescribeGroups); which member led (the Python member reports every assignment it runs);
//!   records produced once the group is stable are read by the owner of their partition and
//!   no assignment changes meanwhile; once the Python member has left, kafkit takes over every
//!   partition at the committed offsets, which are the log ends; the union of what both read is
//!   every record produced, and **no record is read twice**: both sides commit synchronously
//!   after each batch they process (and kafkit and librdkafka again when partitions are
//!   revoked), so no duplicate is allowed, not even across the rebalances.
//! * **Static member restart.** Two kafkit consumers with `group.instance.id`. One is closed
//!   (its listener sees the revocation, as in Java, but a static member sends no LeaveGroup:
//!   KIP-345) and restarted with the same instance id within the session timeout; later the
//!   other one is dropped without closing and restarted the same way. Each time the restarted
//!   member gets the same partitions back with a new member id, the other member sees no
//!   rebalance callback and sends no JoinGroup/SyncGroup (so it keeps its generation, and its
//!   commits keep succeeding in it), the group stays `Stable`, and consumption resumes at the
//!   committed offsets with nothing skipped or read twice.
//!
//! The Python member is `tests/interop/group_member.py`, a subprocess with a hard deadline (its
//! own, and a process-group kill from here). It prints `assignment`, `leader` and `record`
//! lines that the test waits on; nothing sleeps to synchronise. Without python3 and the client
//! library the mixed tests are skipped with a reason, or fail when `KAFKIT_REQUIRE_INTEROP` is
//! set.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkit::TopicPartition;
use kafkit::admin::{AdminClient, AdminConfig, GroupDescription};
use kafkit::consumer::client::{Consumer, RebalanceContext, RebalanceListener};
use kafkit::consumer::config::{AssignmentStrategy, AutoOffsetReset, ConsumerConfig};
use kafkit::messages::ApiKey;
use kafkit::producer::client::Producer;
use kafkit::producer::config::ProducerConfig;
use kafkit::producer::record::ProducerRecord;
use kafkit_testbroker::Cluster;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

const PARTITIONS: i32 = 6;
/// Records per batch (spread evenly over the partitions).
const BATCH: usize = 60;
/// The limit of every single wait.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The cluster and records
// ---------------------------------------------------------------------------------------------

async fn cluster(topic: &str) -> Cluster {
    Cluster::builder()
        .brokers(1)
        .auto_create_topics(false)
        .topic(topic, PARTITIONS, 1)
        .build()
        .await
        .expect("cluster starts")
}

/// A produced record: (partition, offset, value).
type Produced = (i32, i64, String);

fn producer(cluster: &Cluster) -> Producer {
    Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .linger(Duration::from_millis(2))
            .build()
            .expect("producer config"),
    )
    .expect("producer")
}

/// Produces `BATCH` records with values `"{tag}-{i}"` to partition `i % PARTITIONS`.
async fn produce(cluster: &Cluster, topic: &str, tag: &str) -> Vec<Produced> {
    let producer = producer(cluster);
    let mut pending = Vec::new();
    for i in 0..BATCH {
        let value = format!("{tag}-{i:03}");
        let record = ProducerRecord::<String, _>::new(topic.to_string(), value.clone())
            .with_partition(i as i32 % PARTITIONS);
        pending.push((value, producer.send(record).await.expect("enqueue")));
    }
    let mut out = Vec::new();
    for (value, delivery) in pending {
        let meta = delivery.await.expect("delivered");
        out.push((meta.partition, meta.offset, value));
    }
    producer.close().await;
    out
}

/// Produces `count` records `"{tag}-{i}"` (partition `i % PARTITIONS`), one every 5 ms, so
/// that records keep arriving while the group rebalances. (The pace only spreads the load; no
/// step of the test waits on it.)
fn trickle(
    cluster: &Cluster,
    topic: &str,
    tag: &str,
    count: usize,
) -> tokio::task::JoinHandle<Vec<Produced>> {
    let producer = producer(cluster);
    let (topic, tag) = (topic.to_string(), tag.to_string());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut pending = Vec::new();
        for i in 0..count {
            tick.tick().await;
            let value = format!("{tag}-{i:03}");
            let record = ProducerRecord::<String, _>::new(topic.clone(), value.clone())
                .with_partition(i as i32 % PARTITIONS);
            pending.push((value, producer.send(record).await.expect("enqueue")));
        }
        let mut out = Vec::new();
        for (value, delivery) in pending {
            let meta = delivery.await.expect("delivered");
            out.push((meta.partition, meta.offset, value));
        }
        producer.close().await;
        out
    })
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

/// Asserts that every produced record was read exactly once, at its partition and offset, by
/// one of the members (`reads`: (member, partition, offset, value)).
fn assert_each_read_once(produced: &[Produced], reads: &[(String, i32, i64, String)]) {
    let mut seen: BTreeMap<&str, (&str, i32, i64)> = BTreeMap::new();
    for (member, p, o, v) in reads {
        if let Some((first, fp, fo)) = seen.insert(v.as_str(), (member.as_str(), *p, *o)) {
            panic!("{v} read twice: by {first} at {fp}:{fo} and by {member} at {p}:{o}");
        }
    }
    for (p, o, v) in produced {
        let (member, rp, ro) = seen
            .get(v.as_str())
            .unwrap_or_else(|| panic!("{v} ({p}:{o}) was never read"));
        assert_eq!(
            (*rp, *ro),
            (*p, *o),
            "{v} read by {member} at the wrong place"
        );
    }
    assert_eq!(
        seen.len(),
        produced.len(),
        "records read that were never produced"
    );
}

fn admin(cluster: &Cluster) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(cluster.bootstrap_servers())
            .default_api_timeout(WAIT)
            .build()
            .expect("admin config"),
    )
    .expect("admin client")
}

/// The group as its coordinator describes it.
async fn describe(admin: &AdminClient, group: &str) -> GroupDescription {
    let mut groups = admin
        .describe_groups(&[group], Default::default())
        .await
        .expect("DescribeGroups");
    groups
        .remove(group)
        .expect("the group is answered")
        .expect("the group is described")
}

/// Partition numbers of `topic` in a member's assignment as the coordinator stores it.
fn stored_partitions(group: &GroupDescription, client_id: &str, topic: &str) -> BTreeSet<i32> {
    let member = group
        .members
        .iter()
        .find(|m| m.client_id == client_id)
        .unwrap_or_else(|| panic!("no member with client id {client_id}: {group:?}"));
    member
        .assignment
        .as_ref()
        .unwrap_or_else(|| panic!("{client_id} has no assignment: {group:?}"))
        .partitions
        .iter()
        .filter(|tp| &*tp.topic == topic)
        .map(|tp| tp.partition)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A kafkit member, driven by a task
// ---------------------------------------------------------------------------------------------

/// Records rebalance callbacks; commits the consumed positions of revoked partitions.
#[derive(Clone, Default)]
struct Callbacks(Arc<Mutex<Vec<String>>>);

impl Callbacks {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, what: &str, partitions: &[TopicPartition]) {
        let list: Vec<String> = partitions
            .iter()
            .map(|tp| tp.partition.to_string())
            .collect();
        self.0
            .lock()
            .unwrap()
            .push(format!("{what} {}", list.join(",")));
    }
}

impl RebalanceListener for Callbacks {
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        self.push("assigned", partitions);
    }

    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition], ctx: &mut RebalanceContext) {
        ctx.commit_consumed(partitions);
        self.push("revoked", partitions);
    }

    fn on_partitions_lost(&mut self, partitions: &[TopicPartition], _: &mut RebalanceContext) {
        self.push("lost", partitions);
    }
}

/// What a kafkit member has done so far.
#[derive(Debug, Default, Clone)]
struct KafkitView {
    assignment: BTreeSet<i32>,
    /// How many times the assignment changed.
    assignment_changes: usize,
    /// (partition, offset, value) in the order read.
    records: Vec<Produced>,
}

/// A kafkit `Consumer` in a poll loop: commits synchronously after every non-empty poll and
/// publishes its assignment and records.
struct KafkitMember {
    name: String,
    callbacks: Callbacks,
    view: watch::Receiver<KafkitView>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Consumer>,
}

struct MemberConfig<'a> {
    group: &'a str,
    client_id: &'a str,
    strategy: AssignmentStrategy,
    instance_id: Option<&'a str>,
    session_timeout: Duration,
}

fn start_kafkit(cluster: &Cluster, topic: &str, c: MemberConfig<'_>) -> KafkitMember {
    let mut b = ConsumerConfig::builder();
    b.bootstrap_servers(cluster.bootstrap_servers())
        .group_id(c.group)
        .client_id(c.client_id)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .partition_assignment_strategy([c.strategy])
        .session_timeout(c.session_timeout)
        .heartbeat_interval(Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .default_api_timeout(WAIT);
    if let Some(id) = c.instance_id {
        b.group_instance_id(id);
    }
    let config = b.build().expect("consumer config");
    let callbacks = Callbacks::default();
    let (view_tx, view) = watch::channel(KafkitView::default());
    let (stop, stop_rx) = watch::channel(false);
    let listener = callbacks.clone();
    let topic = topic.to_string();
    let name = c.client_id.to_string();
    let task = tokio::spawn(async move {
        let mut consumer = Consumer::new(config).expect("consumer");
        consumer
            .subscribe_with_listener(&[topic.as_str()], listener)
            .expect("subscribe");
        while !*stop_rx.borrow() {
            let records = consumer
                .poll(Duration::from_millis(100))
                .await
                .expect("kafkit poll");
            if !records.is_empty() {
                view_tx.send_modify(|v| {
                    v.records.extend(records.iter().map(|r| {
                        let value = r.value.as_deref().expect("a value");
                        let value = String::from_utf8(value.to_vec()).expect("ASCII value");
                        (r.partition, r.offset, value)
                    }))
                });
                // During a cooperative rebalance (run in the background, records of unmoved
                // partitions keep coming) commits are refused, as Java's
                // RebalanceInProgressException; the revoke callback commits what moves.
                match consumer.commit().await {
                    Ok(()) => {}
                    Err(e) if e.is_rebalance_in_progress() => {}
                    Err(e) => panic!("kafkit commit: {e}"),
                }
            }
            let assignment: BTreeSet<i32> = consumer
                .assignment()
                .iter()
                .map(|tp| tp.partition)
                .collect();
            view_tx.send_if_modified(|v| {
                let changed = v.assignment != assignment;
                if changed {
                    v.assignment = assignment;
                    v.assignment_changes += 1;
                }
                changed
            });
        }
        consumer
    });
    KafkitMember {
        name,
        callbacks,
        view,
        stop,
        task,
    }
}

impl KafkitMember {
    /// Waits until the member's view satisfies `done`.
    async fn wait(&mut self, what: &str, mut done: impl FnMut(&KafkitView) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            if done(&self.view.borrow_and_update()) {
                return;
            }
            match tokio::time::timeout_at(deadline, self.view.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => panic!("{}: the poll loop ended before {what}", self.name),
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; view {:?}, callbacks {:?}",
                    self.name,
                    self.view.borrow(),
                    self.callbacks.seen()
                ),
            }
        }
    }

    /// Stops the poll loop and hands back the consumer (not closed).
    async fn stop(self) -> (Consumer, KafkitView) {
        self.stop.send_replace(true);
        let consumer = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the poll loop stops")
            .expect("the poll loop did not panic");
        let view = self.view.borrow().clone();
        (consumer, view)
    }
}

// ---------------------------------------------------------------------------------------------
// A Python member (tests/interop/group_member.py)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PyClient {
    KafkaPython,
    Confluent,
}

impl PyClient {
    fn arg(self) -> &'static str {
        match self {
            PyClient::KafkaPython => "kafka-python",
            PyClient::Confluent => "confluent",
        }
    }
}

/// A python3 that can run `client`, or `None` (skipped, or a panic under
/// `KAFKIT_REQUIRE_INTEROP`).
fn python_for(test: &str, client: PyClient) -> Option<String> {
    let python = common::python_with_kafka(test)?;
    if client == PyClient::Confluent {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", "import confluent_kafka"]);
        let ok = common::try_run(cmd, None, Duration::from_secs(60))
            .is_ok_and(|o| !o.timed_out && o.status.success());
        if !ok {
            common::skip_or_fail(
                test,
                "python3 cannot import confluent_kafka (pip install confluent-kafka)",
            );
            return None;
        }
    }
    Some(python)
}

/// What the Python member has reported so far.
#[derive(Debug, Default)]
struct PyState {
    ready: bool,
    /// Its whole assignment after the last change (`None` before the first).
    assignment: Option<BTreeSet<i32>>,
    /// How many times its assignment changed.
    assignment_changes: usize,
    /// Group sizes it assigned as the leader.
    led: Vec<usize>,
    records: Vec<Produced>,
    commit_failures: Vec<String>,
    closed: bool,
    /// Its stdout ended.
    eof: bool,
}

impl PyState {
    fn owned(&self) -> BTreeSet<i32> {
        self.assignment.clone().unwrap_or_default()
    }

    fn apply(&mut self, line: &str) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["ready"] => self.ready = true,
            ["leader", n] => self.led.push(n.parse().expect("member count")),
            ["assignment", list] => {
                let owned = if *list == "-" {
                    BTreeSet::new()
                } else {
                    list.split(',')
                        .map(|p| p.parse().expect("partition"))
                        .collect()
                };
                // librdkafka reports every cooperative round, also one that changes nothing.
                if self.assignment.as_ref() != Some(&owned) {
                    self.assignment_changes += 1;
                }
                self.assignment = Some(owned);
            }
            ["record", p, o, v] => self.records.push((
                p.parse().expect("partition"),
                o.parse().expect("offset"),
                v.to_string(),
            )),
            ["commit-failed", why] => self.commit_failures.push(why.to_string()),
            ["closed"] => self.closed = true,
            _ => panic!("unexpected line from the Python member: {line:?}"),
        }
    }
}

/// `tests/interop/group_member.py` running as a subprocess in its own process group.
struct PyMember {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    state: PyState,
}

impl PyMember {
    fn start(
        python: &str,
        client: PyClient,
        cluster: &Cluster,
        topic: &str,
        group: &str,
        assignor: &str,
        client_id: &str,
    ) -> PyMember {
        let mut child = Command::new(python)
            .arg(common::interop_script("group_member.py"))
            .args(["--client", client.arg()])
            .args(["--bootstrap", &cluster.bootstrap_servers()])
            .args(["--topic", topic, "--group", group, "--assignor", assignor])
            .args(["--client-id", client_id, "--timeout", "40"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start tests/interop/group_member.py");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        PyMember {
            name: client_id.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            state: PyState::default(),
        }
    }

    fn stderr_tail(&self) -> String {
        let err = self.stderr.lock().unwrap();
        let text = String::from_utf8_lossy(&err);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Applies the next line; false at the end of its output.
    fn take(&mut self, line: Option<String>) -> bool {
        match line {
            Some(line) => {
                self.state.apply(&line);
                true
            }
            None => {
                self.state.eof = true;
                false
            }
        }
    }

    /// Waits until the Python member's state satisfies `done`.
    async fn wait(&mut self, what: &str, mut done: impl FnMut(&PyState) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.state) {
            assert!(
                !self.state.eof,
                "{}: exited before {what}; state {:?}\nstderr:\n{}",
                self.name,
                self.state,
                self.stderr_tail()
            );
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(line) => {
                    self.take(line);
                }
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; state {:?}\nstderr:\n{}",
                    self.name,
                    self.state,
                    self.stderr_tail()
                ),
            }
        }
    }

    /// Asks it to commit, leave and exit, and waits (with a deadline) for it to do so.
    async fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // It may be gone already; `wait` below tells.
            let _ = stdin.write_all(b"stop\n");
        }
        self.wait("it to close", |s| s.eof).await;
        assert!(self.state.closed, "{}: no `closed` line", self.name);
        let deadline = std::time::Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the Python member") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: does not exit after closing",
                self.name
            );
            // Its stdout is closed, so it is exiting: look again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(
            status.success(),
            "{}: exited with {status}\nstderr:\n{}",
            self.name,
            self.stderr_tail()
        );
    }
}

impl Drop for PyMember {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Kill its process group (it leads one), by id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mixed groups
// ---------------------------------------------------------------------------------------------

/// Waits, feeding both members' reports, until their assignments split every partition
/// between them without overlap.
async fn wait_for_split(py: &mut PyMember, kafkit: &mut KafkitMember) {
    let deadline = Instant::now() + WAIT;
    loop {
        let k = kafkit.view.borrow_and_update().assignment.clone();
        let p = py.state.owned();
        if !k.is_empty()
            && !p.is_empty()
            && k.is_disjoint(&p)
            && k.len() + p.len() == PARTITIONS as usize
        {
            return;
        }
        assert!(
            !py.state.eof,
            "{} exited; stderr:\n{}",
            py.name,
            py.stderr_tail()
        );
        tokio::select! {
            line = py.lines.recv() => { py.take(line); }
            changed = kafkit.view.changed() => changed.expect("the kafkit poll loop runs"),
            _ = tokio::time::sleep_until(deadline) => panic!(
                "the group never split the partitions: kafkit {k:?} (callbacks {:?}), {} {:?}\nstderr:\n{}",
                kafkit.callbacks.seen(),
                py.name,
                py.state,
                py.stderr_tail()
            ),
        }
    }
}

/// Waits, feeding both members' reports, until together they have read `count` records.
async fn wait_for_records(py: &mut PyMember, kafkit: &mut KafkitMember, count: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let k = kafkit.view.borrow_and_update().records.len();
        if k + py.state.records.len() >= count {
            return;
        }
        assert!(
            !py.state.eof,
            "{} exited; stderr:\n{}",
            py.name,
            py.stderr_tail()
        );
        tokio::select! {
            line = py.lines.recv() => { py.take(line); }
            changed = kafkit.view.changed() => changed.expect("the kafkit poll loop runs"),
            _ = tokio::time::sleep_until(deadline) => panic!(
                "only {} + {} of {count} records read",
                k,
                py.state.records.len()
            ),
        }
    }
}

/// One mixed group: a kafkit member and a Python `client` member with `strategy`, the kafkit
/// member joining first (and leading) or second.
async fn mixed_group(
    test: &str,
    client: PyClient,
    strategy: AssignmentStrategy,
    kafkit_first: bool,
) {
    let Some(python) = python_for(test, client) else {
        return;
    };
    let started = std::time::Instant::now();
    let topic = "mixed";
    let group = format!("mixed-{}", strategy.name());
    let (kafkit_id, py_id) = ("kafkit-member", "python-member");
    let cluster = cluster(topic).await;
    let mut produced = produce(&cluster, topic, "before").await;
    let kafkit_config = MemberConfig {
        group: &group,
        client_id: kafkit_id,
        strategy,
        instance_id: None,
        session_timeout: Duration::from_secs(10),
    };
    let start_py = || {
        PyMember::start(
            &python,
            client,
            &cluster,
            topic,
            &group,
            strategy.name(),
            py_id,
        )
    };

    // The first member alone gets every partition; then the second joins while records keep
    // arriving, so partitions change hands in the middle of a stream.
    let during = |cluster: &Cluster| trickle(cluster, topic, "during", 240);
    let (mut kafkit, mut py, during) = if kafkit_first {
        let mut kafkit = start_kafkit(&cluster, topic, kafkit_config);
        kafkit
            .wait("every partition", |v| v.assignment == all_partitions())
            .await;
        let during = during(&cluster);
        let py = start_py();
        (kafkit, py, during)
    } else {
        let mut py = start_py();
        py.wait("every partition", |s| s.owned() == all_partitions())
            .await;
        // kafka-python may run a second assignment alone (its metadata grew after the first).
        assert!(
            !py.state.led.is_empty() && py.state.led.iter().all(|n| *n == 1),
            "{py_id} led the group alone: {:?}",
            py.state.led
        );
        let during = during(&cluster);
        (start_kafkit(&cluster, topic, kafkit_config), py, during)
    };
    wait_for_split(&mut py, &mut kafkit).await;
    produced.extend(
        tokio::time::timeout(WAIT, during)
            .await
            .expect("the trickle finishes")
            .expect("the trickle producer"),
    );
    let kafkit_owns = kafkit.view.borrow().assignment.clone();
    let py_owns = py.state.owned();
    assert_eq!(
        kafkit_owns.len(),
        3,
        "an even split: {kafkit_owns:?} / {py_owns:?}"
    );

    // Who led the two-member generation: the Python member reports every assignment it ran.
    if kafkit_first {
        assert!(
            py.state.led.is_empty(),
            "kafkit joined first and stays the leader, but {py_id} assigned {:?}",
            py.state.led
        );
    } else {
        assert_eq!(
            py.state.led.last(),
            Some(&2),
            "{py_id} joined first and assigns both members"
        );
    }

    // The coordinator stores the same split (the leader's SyncGroup, decoded).
    let admin = admin(&cluster);
    let described = describe(&admin, &group).await;
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.protocol, strategy.name());
    assert_eq!(described.members.len(), 2, "{described:?}");
    assert_eq!(stored_partitions(&described, kafkit_id, topic), kafkit_owns);
    assert_eq!(stored_partitions(&described, py_id, topic), py_owns);

    // Records produced into the stable group go to their partition's owner, with no rebalance.
    let kafkit_changes = kafkit.view.borrow().assignment_changes;
    let py_changes = py.state.assignment_changes;
    let stable = produce(&cluster, topic, "stable").await;
    produced.extend(stable.iter().cloned());
    wait_for_records(&mut py, &mut kafkit, produced.len()).await;
    for (p, o, v) in &stable {
        let reader_owns = if kafkit_owns.contains(p) {
            let view = kafkit.view.borrow();
            view.records.iter().any(|r| &r.2 == v)
        } else {
            py.state.records.iter().any(|r| &r.2 == v)
        };
        assert!(
            reader_owns,
            "{v} ({p}:{o}) was not read by its partition's owner"
        );
    }
    assert_eq!(
        kafkit.view.borrow().assignment_changes,
        kafkit_changes,
        "kafkit's assignment changed"
    );
    assert_eq!(
        py.state.assignment_changes, py_changes,
        "{py_id}'s assignment changed"
    );
    assert_eq!(py.state.owned(), py_owns);
    assert_eq!(kafkit.view.borrow().assignment, kafkit_owns);

    // The Python member commits and leaves; kafkit takes everything over at the committed
    // offsets, which are the end of every partition.
    py.stop().await;
    kafkit
        .wait("every partition after the Python member left", |v| {
            v.assignment == all_partitions()
        })
        .await;
    let (mut consumer, view) = kafkit.stop().await;
    let per_partition = (produced.len() / PARTITIONS as usize) as i64;
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let committed = consumer.committed(&tps).await.expect("committed offsets");
    for tp in &tps {
        assert_eq!(
            committed[tp].as_ref().map(|c| c.offset),
            Some(per_partition),
            "committed offset of {tp}"
        );
        assert_eq!(
            consumer.position(tp).await.expect("position"),
            per_partition,
            "kafkit resumes {tp} at the committed offset"
        );
    }

    // Everything read once, by somebody; no commit failed on the Python side.
    assert!(
        py.state.commit_failures.is_empty(),
        "{py_id} commits failed: {:?}",
        py.state.commit_failures
    );
    let reads: Vec<(String, i32, i64, String)> = view
        .records
        .iter()
        .map(|(p, o, v)| (kafkit_id.to_string(), *p, *o, v.clone()))
        .chain(
            py.state
                .records
                .iter()
                .map(|(p, o, v)| (py_id.to_string(), *p, *o, v.clone())),
        )
        .collect();
    assert_each_read_once(&produced, &reads);
    println!(
        "{test}: kafkit {kafkit_owns:?} ({} records), {py_id} {py_owns:?} ({} records), in {:.1} s",
        view.records.len(),
        py.state.records.len(),
        started.elapsed().as_secs_f64()
    );
    consumer.close().await.expect("close");
    admin.close();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_range_member_follows_a_kafkit_leader() {
    mixed_group(
        "kafka_python_range_member_follows_a_kafkit_leader",
        PyClient::KafkaPython,
        AssignmentStrategy::Range,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_range_member_follows_a_kafka_python_leader() {
    mixed_group(
        "kafkit_range_member_follows_a_kafka_python_leader",
        PyClient::KafkaPython,
        AssignmentStrategy::Range,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_cooperative_member_follows_a_kafkit_leader() {
    mixed_group(
        "librdkafka_cooperative_member_follows_a_kafkit_leader",
        PyClient::Confluent,
        AssignmentStrategy::CooperativeSticky,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_cooperative_member_follows_a_librdkafka_leader() {
    mixed_group(
        "kafkit_cooperative_member_follows_a_librdkafka_leader",
        PyClient::Confluent,
        AssignmentStrategy::CooperativeSticky,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_cooperative_member_follows_a_kafkit_leader() {
    mixed_group(
        "kafka_python_cooperative_member_follows_a_kafkit_leader",
        PyClient::KafkaPython,
        AssignmentStrategy::CooperativeSticky,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_cooperative_member_follows_a_kafka_python_leader() {
    mixed_group(
        "kafkit_cooperative_member_follows_a_kafka_python_leader",
        PyClient::KafkaPython,
        AssignmentStrategy::CooperativeSticky,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_range_member_follows_a_kafkit_leader() {
    mixed_group(
        "librdkafka_range_member_follows_a_kafkit_leader",
        PyClient::Confluent,
        AssignmentStrategy::Range,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkit_range_member_follows_a_librdkafka_leader() {
    mixed_group(
        "kafkit_range_member_follows_a_librdkafka_leader",
        PyClient::Confluent,
        AssignmentStrategy::Range,
        false,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Static member restart
// ---------------------------------------------------------------------------------------------

/// Group-protocol requests the broker logged from `client_id`.
fn group_requests(cluster: &Cluster, client_id: &str, api: ApiKey) -> usize {
    cluster
        .request_log()
        .iter()
        .filter(|r| r.api == api && r.client_id.as_deref() == Some(client_id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarts_without_a_rebalance() {
    let started = std::time::Instant::now();
    let topic = "statics";
    let group = "statics";
    let cluster = cluster(topic).await;
    let admin = admin(&cluster);
    // Long enough that the restart is well within it.
    let session_timeout = Duration::from_secs(20);
    let config = |client_id, instance| MemberConfig {
        group,
        client_id,
        strategy: AssignmentStrategy::Range,
        instance_id: Some(instance),
        session_timeout,
    };
    let mut a = start_kafkit(&cluster, topic, config("static-a", "instance-a"));
    a.wait("every partition", |v| v.assignment == all_partitions())
        .await;
    let mut b = start_kafkit(&cluster, topic, config("static-b", "instance-b"));
    b.wait("partitions", |v| v.assignment.len() == 3).await;
    a.wait("the split", |v| v.assignment.len() == 3).await;
    let a_owns = a.view.borrow().assignment.clone();
    let b_owns = b.view.borrow().assignment.clone();
    assert!(a_owns.is_disjoint(&b_owns));

    let mut produced = produce(&cluster, topic, "first").await;
    let mine = |owns: &BTreeSet<i32>, records: &[Produced]| {
        records.iter().filter(|r| owns.contains(&r.0)).count()
    };
    let a_first = mine(&a_owns, &produced);
    a.wait("its share of the first batch", |v| {
        v.records.len() == a_first
    })
    .await;
    let before = describe(&admin, group).await;
    assert_eq!(before.state, "Stable");
    let member_of = |g: &GroupDescription, instance: &str| {
        g.members
            .iter()
            .find(|m| m.group_instance_id.as_deref() == Some(instance))
            .unwrap_or_else(|| panic!("no member {instance}: {g:?}"))
            .member_id
            .clone()
    };
    let b_callbacks = b.callbacks.seen();
    let b_joins = group_requests(&cluster, "static-b", ApiKey::JoinGroup);
    let b_syncs = group_requests(&cluster, "static-b", ApiKey::SyncGroup);
    assert!(
        b_joins >= 1 && b_syncs >= 1,
        "the broker's request log names instance-b's client id"
    );

    // instance-a closes: its listener sees the revocation (and commits), but a static member
    // sends no LeaveGroup, so nothing happens to the group.
    let a_callbacks = a.callbacks.clone();
    let (consumer, a_view) = a.stop().await;
    consumer.close().await.expect("close instance-a");
    assert_eq!(
        a_callbacks.seen().last(),
        Some(&format!("revoked {}", join(&a_owns))),
        "{:?}",
        a_callbacks.seen()
    );
    let leaves = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::LeaveGroup)
        .count();
    assert_eq!(leaves, 0, "a static member sent LeaveGroup on close");

    // Records arrive while it is away; instance-b keeps reading its own.
    let second = produce(&cluster, topic, "second").await;
    produced.extend(second.iter().cloned());
    let b_total = mine(&b_owns, &produced);
    b.wait("its share of both batches", |v| v.records.len() == b_total)
        .await;

    // instance-a restarts with the same group.instance.id: same partitions, same generation,
    // a new member id; it reads on from its committed offsets.
    let mut a2 = start_kafkit(&cluster, topic, config("static-a", "instance-a"));
    a2.wait("its partitions back", |v| !v.assignment.is_empty())
        .await;
    assert_eq!(a2.view.borrow().assignment, a_owns, "the same partitions");
    let a_second = mine(&a_owns, &second);
    a2.wait("its share of the second batch", |v| {
        v.records.len() == a_second
    })
    .await;
    assert_eq!(a2.callbacks.seen(), [format!("assigned {}", join(&a_owns))]);
    // The first record it reads per partition is the one after what instance-a committed.
    for p in &a_owns {
        let last_read = a_view
            .records
            .iter()
            .filter(|r| r.0 == *p)
            .map(|r| r.1)
            .max();
        let first_now = a2
            .view
            .borrow()
            .records
            .iter()
            .filter(|r| r.0 == *p)
            .map(|r| r.1)
            .min();
        assert_eq!(
            first_now,
            last_read.map(|o| o + 1),
            "partition {p} resumes right after the last record read before the restart"
        );
    }

    // Both read and commit on in their generations (a commit from an older generation fails
    // and would end the poll loop).
    let third = produce(&cluster, topic, "third").await;
    produced.extend(third.iter().cloned());
    let b_total = mine(&b_owns, &produced);
    b.wait("its share of the third batch", |v| {
        v.records.len() == b_total
    })
    .await;
    let a2_total = mine(&a_owns, &second) + mine(&a_owns, &third);
    a2.wait("its share of the third batch", |v| {
        v.records.len() == a2_total
    })
    .await;

    // instance-b noticed nothing: no callback, no JoinGroup or SyncGroup, the same member id.
    assert_eq!(
        b.callbacks.seen(),
        b_callbacks,
        "instance-b saw a rebalance"
    );
    assert_eq!(
        group_requests(&cluster, "static-b", ApiKey::JoinGroup),
        b_joins,
        "instance-b rejoined"
    );
    assert_eq!(
        group_requests(&cluster, "static-b", ApiKey::SyncGroup),
        b_syncs,
        "instance-b synced again"
    );
    let after = describe(&admin, group).await;
    assert_eq!(after.state, "Stable", "{after:?}");
    assert_eq!(after.members.len(), 2, "{after:?}");
    assert_eq!(
        member_of(&after, "instance-b"),
        member_of(&before, "instance-b")
    );
    assert_ne!(
        member_of(&after, "instance-a"),
        member_of(&before, "instance-a")
    );
    assert_eq!(stored_partitions(&after, "static-a", topic), a_owns);
    assert_eq!(stored_partitions(&after, "static-b", topic), b_owns);

    // instance-b goes away without even closing (the process dies) and comes back: the same
    // again, the other way round.
    let (b_consumer, b_view) = b.stop().await;
    drop(b_consumer);
    let a2_callbacks = a2.callbacks.seen();
    let a_joins = group_requests(&cluster, "static-a", ApiKey::JoinGroup);
    let a_syncs = group_requests(&cluster, "static-a", ApiKey::SyncGroup);
    let fourth = produce(&cluster, topic, "fourth").await;
    produced.extend(fourth.iter().cloned());
    let mut b2 = start_kafkit(&cluster, topic, config("static-b", "instance-b"));
    b2.wait("its partitions back", |v| !v.assignment.is_empty())
        .await;
    assert_eq!(b2.view.borrow().assignment, b_owns, "the same partitions");
    let b2_total = mine(&b_owns, &fourth);
    b2.wait("its share of the fourth batch", |v| {
        v.records.len() == b2_total
    })
    .await;
    let a2_total = a2_total + mine(&a_owns, &fourth);
    a2.wait("its share of the fourth batch", |v| {
        v.records.len() == a2_total
    })
    .await;
    assert_eq!(b2.callbacks.seen(), [format!("assigned {}", join(&b_owns))]);
    assert_eq!(
        a2.callbacks.seen(),
        a2_callbacks,
        "instance-a saw a rebalance"
    );
    assert_eq!(
        group_requests(&cluster, "static-a", ApiKey::JoinGroup),
        a_joins
    );
    assert_eq!(
        group_requests(&cluster, "static-a", ApiKey::SyncGroup),
        a_syncs
    );
    let leaves = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::LeaveGroup)
        .count();
    assert_eq!(leaves, 0, "a static member sent LeaveGroup");

    // Every record read exactly once across the four incarnations.
    let (mut b_consumer, b2_view) = b2.stop().await;
    let (a2_consumer, a2_view) = a2.stop().await;
    let reads: Vec<(String, i32, i64, String)> = [
        ("a", &a_view),
        ("a2", &a2_view),
        ("b", &b_view),
        ("b2", &b2_view),
    ]
    .into_iter()
    .flat_map(|(who, view)| {
        view.records
            .iter()
            .map(move |(p, o, v)| (who.to_string(), *p, *o, v.clone()))
    })
    .collect();
    assert_each_read_once(&produced, &reads);
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let committed = b_consumer.committed(&tps).await.expect("committed");
    let per_partition = (produced.len() / PARTITIONS as usize) as i64;
    for tp in &tps {
        assert_eq!(
            committed[tp].as_ref().map(|c| c.offset),
            Some(per_partition),
            "{tp}"
        );
    }
    let join_version = cluster
        .request_log()
        .iter()
        .filter(|r| r.api == ApiKey::JoinGroup)
        .map(|r| r.version)
        .max()
        .unwrap_or(-1);
    println!(
        "static restart: instance-a {a_owns:?}, instance-b {b_owns:?}, {} records, JoinGroup v{join_version} (a returning leader gets skip_assignment from v9), in {:.1} s",
        produced.len(),
        started.elapsed().as_secs_f64()
    );
    a2_consumer.close().await.expect("close");
    b_consumer.close().await.expect("close");
    admin.close();
    cluster.shutdown().await;
}

fn join(partitions: &BTreeSet<i32>) -> String {
    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
    list.join(",")
}
