//! Shared helpers for the third-party interop tests (`tests/interop_*.rs`): running a peer
//! program under a hard deadline, deciding whether a missing peer skips or fails the test,
//! Kafka's murmur2 partitioner, deterministic test messages, and the round-trip verifier.
//!
//! Owns nothing of the broker or the client: it only drives external programs against a
//! [`kafkit_testbroker::Cluster`] and checks what comes back.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root (the root package's manifest directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/interop/`, where the Python and Node helper scripts live.
pub fn interop_dir() -> PathBuf {
    workspace_root().join("tests").join("interop")
}

/// Whether a missing peer must fail the test (`KAFKIT_REQUIRE_INTEROP` set, not empty, not "0").
pub fn interop_required() -> bool {
    std::env::var_os("KAFKIT_REQUIRE_INTEROP").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Checks that `program args...` runs and exits 0 within 60 s. When it does not, the test is
/// skipped with a printed reason (returns false), or fails when [`interop_required`].
pub fn peer_available(test: &str, program: &str, args: &[&str]) -> bool {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let reason = match try_run(cmd, None, Duration::from_secs(60)) {
        Err(e) => format!("cannot run `{program}`: {e}"),
        Ok(out) if out.timed_out => {
            format!("`{program} {}` did not finish in 60 s", args.join(" "))
        }
        Ok(out) if !out.status.success() => format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => return true,
    };
    skip_or_fail(test, &reason);
    false
}

/// Prints why `test` is skipped, or panics when [`interop_required`].
pub fn skip_or_fail(test: &str, reason: &str) {
    if interop_required() {
        panic!(
            "{test}: {reason} (KAFKIT_REQUIRE_INTEROP is set, so this fails instead of skipping)"
        );
    }
    println!("SKIPPED {test}: {reason} (set KAFKIT_REQUIRE_INTEROP=1 to make this a failure)");
    eprintln!("SKIPPED {test}: {reason}");
}

/// What a finished (or killed) peer process left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status (a signal when it was killed).
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote on stderr.
    pub stderr: Vec<u8>,
    /// Whether it was killed at the deadline.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` with `stdin` fed to it (then closed), collecting stdout and stderr, and kills
/// its whole process group once `limit` has passed. Returns an error only if it cannot start.
pub fn try_run(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
) -> std::io::Result<Finished> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group, so that a deadline kill also reaches its children (npm, node).
    .process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let feeder = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => Some(thread::spawn(move || {
            // A peer that exits early closes the pipe: that is its business, not an error here.
            let _ = pipe.write_all(&data);
        })),
        _ => None,
    };
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = done_tx.send(());
        status
    });
    let timed_out = match done_rx.recv_timeout(limit) {
        Ok(()) => false,
        Err(_) => {
            // Kill the process group we created (negative pid), by id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            true
        }
    };
    let status = waiter.join().expect("waiter thread")?;
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    Ok(Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        timed_out,
        elapsed: started.elapsed(),
    })
}

/// [`try_run`], panicking (with the peer's stderr) unless it exits 0 within `limit`.
pub fn run_ok(what: &str, cmd: Command, stdin: Option<Vec<u8>>, limit: Duration) -> Finished {
    let shown = format!("{cmd:?}");
    let out =
        try_run(cmd, stdin, limit).unwrap_or_else(|e| panic!("{what}: cannot start {shown}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.timed_out,
        "{what}: killed after {limit:?}: {shown}\nstderr:\n{stderr}"
    );
    assert!(
        out.status.success(),
        "{what}: {shown} failed with {}\nstderr:\n{stderr}",
        out.status
    );
    out
}

/// A Python interpreter that has kafka-python, if any (`python3`, then `python`).
pub fn python_with_kafka(test: &str) -> Option<String> {
    for python in ["python3", "python"] {
        let mut cmd = Command::new(python);
        cmd.args(["-c", "import kafka, lz4, snappy, zstandard"]);
        if try_run(cmd, None, Duration::from_secs(60))
            .is_ok_and(|o| !o.timed_out && o.status.success())
        {
            return Some(python.to_string());
        }
    }
    skip_or_fail(
        test,
        "no python3 with kafka-python and its codecs (pip install kafka-python python-snappy lz4 zstandard)",
    );
    None
}

// ---------------------------------------------------------------------------------------------
// Kafka's murmur2 partitioner
// ---------------------------------------------------------------------------------------------

/// The partition Kafka's default partitioner picks for a non-null key: kafkit's own
/// murmur2 placement (cross-checked against Kafka's vectors and kafka-python in its tests).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    kafkit::producer::partitioner::partition_for_key(key, partitions)
        .expect("a positive partition count")
}

// ---------------------------------------------------------------------------------------------
// Test messages
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a small deterministic generator, so every run sends the same bytes.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One test message: a unique id (the value starts with it), a key and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMessage {
    /// Index in send order.
    pub id: usize,
    /// The key (never null, never empty).
    pub key: Vec<u8>,
    /// The value: `"{id:06}:"` followed by text mixed with random bytes.
    pub value: Vec<u8>,
}

const TEXT: &[u8] =
    b"The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";

/// `count` keyed messages over `keys` distinct keys. Keys and values mix ASCII with arbitrary
/// bytes (NUL, high bytes, `\r`); bytes in `forbidden` never appear (kcat's line framing needs
/// newline-free data and a key without its delimiter).
pub fn keyed_messages(count: usize, keys: usize, seed: u64, forbidden: &[u8]) -> Vec<TestMessage> {
    let mut rng = SplitMix64(seed);
    let byte = |rng: &mut SplitMix64| loop {
        let b = rng.below(256) as u8;
        if !forbidden.contains(&b) {
            break b;
        }
    };
    let key_set: Vec<Vec<u8>> = (0..keys)
        .map(|k| {
            let mut key = format!("key-{k}-").into_bytes();
            let extra = rng.below(12) as usize;
            for _ in 0..extra {
                key.push(byte(&mut rng));
            }
            key
        })
        .collect();
    (0..count)
        .map(|id| {
            let key = key_set[rng.below(keys as u64) as usize].clone();
            let mut value = format!("{id:06}:").into_bytes();
            // Mostly text with some arbitrary bytes: compressible enough that librdkafka keeps
            // the compressed batch (it sends a batch uncompressed when compression does not help).
            let extra = rng.below(200) as usize;
            let start = rng.below(TEXT.len() as u64) as usize;
            for i in 0..extra {
                if rng.below(8) == 0 {
                    value.push(byte(&mut rng));
                } else {
                    value.push(TEXT[(start + i) % TEXT.len()]);
                }
            }
            TestMessage { id, key, value }
        })
        .collect()
}

/// One message as a consumer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key (`None` for null).
    pub key: Option<Vec<u8>>,
    /// Its value (`None` for null).
    pub value: Option<Vec<u8>>,
}

/// What a verified round trip looked like.
#[derive(Debug, Default)]
pub struct RoundTrip {
    /// Messages read back per partition.
    pub per_partition: BTreeMap<i32, usize>,
    /// Distinct keys seen.
    pub keys: usize,
    /// Where each message (by id) was found: (partition, offset).
    pub placement: Vec<(i32, i64)>,
}

/// Checks a round trip: every sent message read back exactly once and byte-identical, on the
/// partition Kafka's murmur2 partitioner assigns its key, each partition's offsets contiguous
/// from 0, and each key's messages in send order. Panics with `label` on the first violation.
pub fn verify_round_trip(
    label: &str,
    sent: &[TestMessage],
    got: &[Consumed],
    partitions: i32,
) -> RoundTrip {
    assert_eq!(
        got.len(),
        sent.len(),
        "{label}: read back {} messages, sent {}",
        got.len(),
        sent.len()
    );
    let mut placement = vec![(-1, -1); sent.len()];
    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for c in got {
        let value = c
            .value
            .as_deref()
            .unwrap_or_else(|| panic!("{label}: null value at {}:{}", c.partition, c.offset));
        let id = value
            .iter()
            .position(|&b| b == b':')
            .and_then(|colon| {
                std::str::from_utf8(&value[..colon])
                    .ok()?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|id| *id < sent.len())
            .unwrap_or_else(|| {
                panic!(
                    "{label}: unrecognised value at {}:{}: {value:?}",
                    c.partition, c.offset
                )
            });
        let expected = &sent[id];
        assert_eq!(
            placement[id],
            (-1, -1),
            "{label}: message {id} read twice ({}:{})",
            c.partition,
            c.offset
        );
        assert_eq!(
            value,
            &expected.value[..],
            "{label}: value of message {id} differs"
        );
        assert_eq!(
            c.key.as_deref(),
            Some(&expected.key[..]),
            "{label}: key of message {id} differs"
        );
        let want = partition_for_key(&expected.key, partitions);
        assert_eq!(
            c.partition, want,
            "{label}: message {id} with key {:?} is on partition {}, murmur2 says {want}",
            expected.key, c.partition
        );
        placement[id] = (c.partition, c.offset);
        by_partition
            .entry(c.partition)
            .or_default()
            .push((c.offset, id));
    }
    let mut summary = RoundTrip::default();
    for (partition, mut entries) in by_partition {
        entries.sort_unstable();
        for (i, (offset, _)) in entries.iter().enumerate() {
            assert_eq!(
                *offset, i as i64,
                "{label}: partition {partition} offsets are not contiguous from 0"
            );
        }
        // Per-key order: along the partition's offsets, each key's ids only grow.
        let mut last_id: HashMap<&[u8], usize> = HashMap::new();
        for (offset, id) in &entries {
            let key = &sent[*id].key[..];
            if let Some(previous) = last_id.insert(key, *id) {
                assert!(
                    previous < *id,
                    "{label}: key {key:?} out of order on partition {partition}: message {id} at offset {offset} after message {previous}"
                );
            }
        }
        summary.per_partition.insert(partition, entries.len());
    }
    summary.keys = sent.iter().map(|m| &m.key).collect::<HashSet<_>>().len();
    summary.placement = placement;
    summary
}

// ---------------------------------------------------------------------------------------------
// Hex lines, the format the Python and Node helpers speak
// ---------------------------------------------------------------------------------------------

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string, or `None` for `-` (null).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return None;
    }
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    Some(
        (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}"))
            })
            .collect(),
    )
}

/// The helpers' stdin format: one `keyhex valuehex` line per message.
pub fn hex_lines(messages: &[TestMessage]) -> Vec<u8> {
    let mut out = String::new();
    for m in messages {
        out.push_str(&hex(&m.key));
        out.push(' ');
        out.push_str(&hex(&m.value));
        out.push('\n');
    }
    out.into_bytes()
}

/// Reads `tests/interop/kafka_python_client.py consume` output (`record P OFFSET KEYHEX VALUEHEX`
/// lines; other lines are ignored).
pub fn parse_consumed_records(stdout: &[u8]) -> Vec<Consumed> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter_map(|line| line.strip_prefix("record "))
        .map(|rest| {
            let fields: Vec<&str> = rest.split(' ').collect();
            let [partition, offset, key, value] = fields[..] else {
                panic!("bad record line {rest:?}");
            };
            Consumed {
                partition: partition.parse().expect("partition"),
                offset: offset.parse().expect("offset"),
                key: unhex(key),
                value: unhex(value),
            }
        })
        .collect()
}

/// Runs `tests/interop/kafka_python_client.py consume` for `topic` (all `partitions`, manual
/// assignment, no group) until `expected` records or the deadline.
pub fn kafka_python_consume(
    python: &str,
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> Vec<Consumed> {
    let mut cmd = Command::new(python);
    cmd.arg(interop_script("kafka_python_client.py"))
        .args(["consume", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--expect", &expected.to_string(), "--timeout", "40"]);
    let out = run_ok("kafka-python consume", cmd, None, Duration::from_secs(60));
    parse_consumed_records(&out.stdout)
}

/// Path of a helper script in `tests/interop/`.
pub fn interop_script(name: &str) -> PathBuf {
    let path = interop_dir().join(name);
    assert!(
        Path::new(&path).exists(),
        "missing helper script {}",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------------
// Looking at what the broker stored
// ---------------------------------------------------------------------------------------------

/// Sends one Fetch request to `addr` on a fresh connection and returns its response (10 s limit).
pub fn raw_fetch(
    addr: std::net::SocketAddr,
    version: i16,
    request: &kafkit::messages::FetchRequest,
) -> kafkit::messages::FetchResponse {
    use kafkit::protocol::frame::{FrameDecoder, decode_response_frame, encode_request};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = bytes::BytesMut::new();
    encode_request(&mut buf, 1, Some("kafkit-interop-test"), version, request)
        .expect("encode request");
    stream.write_all(&buf).expect("send request");
    buf.clear();
    let decoder = FrameDecoder::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let frame = loop {
        if let Some(frame) = decoder.decode(&mut buf).expect("response frame") {
            break frame;
        }
        let n = stream.read(&mut chunk).expect("read response");
        assert!(n > 0, "broker closed the connection before answering");
        buf.extend_from_slice(&chunk[..n]);
    };
    let (correlation_id, response) =
        decode_response_frame::<kafkit::messages::FetchRequest>(version, frame)
            .expect("decode response");
    assert_eq!(correlation_id, 1);
    response
}

/// The codecs of every record batch the leaders of `topic` hold (read with one Fetch v13 per
/// partition), to prove a peer really compressed what it sent.
pub fn stored_codecs(
    cluster: &kafkit_testbroker::Cluster,
    topic: &str,
) -> std::collections::BTreeSet<String> {
    use kafkit::messages::FetchRequest;
    use kafkit::messages::fetch_request::{FetchPartition, FetchTopic};
    let image = cluster.metadata();
    let meta = image
        .topic(topic)
        .unwrap_or_else(|| panic!("no topic {topic}"));
    let mut codecs = std::collections::BTreeSet::new();
    for p in &meta.partitions {
        let addr = cluster.broker_addr(p.leader).expect("leader is running");
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(i32::MAX)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic_id(meta.id)
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(p.partition)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(i32::MAX),
                    ]),
            ]);
        let response = raw_fetch(addr, 13, &request);
        for t in response.responses {
            for data in t.partitions {
                assert_eq!(data.error_code, 0, "fetch {topic}/{} failed", p.partition);
                for batch in kafkit::record::BatchIter::new(data.records.unwrap_or_default()) {
                    let batch = batch.expect("stored batch parses");
                    codecs.insert(batch.compression().name().to_string());
                }
            }
        }
    }
    codecs
}

/// Asserts that `topic` holds batches compressed with `codec` and no other codec, except that
/// uncompressed batches are allowed next to them: clients (librdkafka, kafka-python) send a
/// batch uncompressed when compressing it would not make it smaller.
pub fn assert_stored_codec(cluster: &kafkit_testbroker::Cluster, topic: &str, codec: &str) {
    let stored = stored_codecs(cluster, topic);
    assert!(
        stored.contains(codec),
        "{topic}: no batch is stored with {codec} (stored: {stored:?})"
    );
    assert!(
        stored.iter().all(|c| c == codec || c == "none"),
        "{topic}: batches stored with other codecs than {codec}: {stored:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// kafka-python's admin client (tests/admin_client.rs)
// ---------------------------------------------------------------------------------------------

/// Runs `tests/interop/admin_kafka_python.py BOOTSTRAP COMMAND [ARG]` with `python` and
/// returns its output lines (trailing whitespace trimmed). Panics when it fails.
pub fn kafka_python_admin(
    python: &str,
    bootstrap: &str,
    command: &str,
    arg: Option<&str>,
) -> Vec<String> {
    let mut cmd = Command::new(python);
    cmd.arg(interop_script("admin_kafka_python.py"))
        .arg(bootstrap)
        .arg(command);
    if let Some(arg) = arg {
        cmd.arg(arg);
    }
    let out = run_ok(
        &format!("kafka-python admin {command}"),
        cmd,
        None,
        Duration::from_secs(120),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}
