//! Keyed placement interoperability with kafka-python, an independent implementation of Java's
//! murmur2 partitioner.
//!
//! 10,000 keys (ASCII, UTF-8, arbitrary bytes, lengths 0..=96, every tail length) go to one
//! `python3` run, which answers with kafka-python's `murmur2` and the partition its
//! `DefaultPartitioner` chooses for several partition counts, with some partitions unavailable
//! (keyed placement must ignore availability). kafkit must agree on every one.
//!
//! Needs `python3` with `kafka-python`. Without it the test prints why and passes, unless
//! `KAFKIT_REQUIRE_INTEROP=1` is set (CI sets it), in which case a missing peer is a failure.

use std::io::Write;
use std::process::{Command, Stdio};

use kafkit::producer::partitioner::{
    DefaultPartitioner, Partitioner, TopicPartitions, murmur2, partition_for_key,
};

const KEYS: usize = 10_000;
const PARTITION_COUNTS: [i32; 8] = [1, 2, 3, 7, 12, 16, 100, 997];

/// Reads hex keys from stdin; prints `hash p1 p2 ...` per key, the hash as kafka-python's
/// (unsigned) murmur2 and one partition per count from kafka-python's DefaultPartitioner, with
/// every third partition unavailable.
const SCRIPT: &str = r#"
import sys
from kafka.partitioner.default import DefaultPartitioner, murmur2

COUNTS = [int(c) for c in sys.argv[1:]]

class Cluster:
    def __init__(self, n):
        self.all = set(range(n))
        self.available = set(p for p in range(n) if p % 3 != 2)
    def topics(self):
        return {"t"}
    def partitions_for_topic(self, topic):
        return self.all
    def available_partitions_for_topic(self, topic):
        return self.available

clusters = [Cluster(n) for n in COUNTS]
partitioner = DefaultPartitioner()
out = []
for line in sys.stdin:
    key = bytes.fromhex(line.strip())
    parts = [partitioner.partition("t", key, key, None, None, c) for c in clusters]
    out.append(" ".join([str(murmur2(key))] + [str(p) for p in parts]))
sys.stdout.write("\n".join(out) + "\n")
"#;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether kafka-python's partitioner is importable; panics if it must be.
fn peer_available() -> bool {
    let probe = Command::new(python())
        .args([
            "-c",
            "from kafka.partitioner.default import DefaultPartitioner, murmur2",
        ])
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    if !ok {
        let why = match probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        if std::env::var_os("KAFKIT_REQUIRE_INTEROP").is_some() {
            panic!("KAFKIT_REQUIRE_INTEROP is set but kafka-python is not usable: {why}");
        }
        eprintln!("skipping kafka-python partitioner interop: {why}");
    }
    ok
}

/// Deterministic keys: the Java test vectors, short ASCII ids, UTF-8 text and random bytes.
fn keys() -> Vec<Vec<u8>> {
    let mut state = 0x1234_5678_9abc_def0_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut keys: Vec<Vec<u8>> = [
        &b"21"[..],
        b"foobar",
        b"a-little-bit-long-string",
        b"a-little-bit-longer-string",
        b"abc",
        b"",
    ]
    .iter()
    .map(|k| k.to_vec())
    .collect();
    while keys.len() < KEYS {
        let i = keys.len();
        let key = match i % 4 {
            0 => format!("user-{i}").into_bytes(),
            1 => format!("ключ-{}-🔑", next() % 100_000).into_bytes(),
            _ => {
                let len = (next() % 97) as usize;
                (0..len).map(|_| next() as u8).collect()
            }
        };
        keys.push(key);
    }
    keys
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn keyed_placement_matches_kafka_python_for_10000_keys() {
    if !peer_available() {
        return;
    }
    let keys = keys();
    let mut child = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .args(PARTITION_COUNTS.map(|n| n.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let input: String = keys.iter().map(|k| hex(k) + "\n").collect();
    let mut stdin = child.stdin.take().expect("stdin");
    // Write from a thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 output");
    writer.join().expect("writer thread").expect("write keys");
    assert!(
        out.status.success(),
        "kafka-python script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), keys.len(), "one answer per key");

    let topics: Vec<TopicPartitions> = PARTITION_COUNTS
        .iter()
        .map(|&n| TopicPartitions::new(n, (0..n).filter(|p| p % 3 != 2)).unwrap())
        .collect();
    let mut partitioner = DefaultPartitioner::default();
    let mut distinct_partitions = std::collections::HashSet::new();
    for (key, line) in keys.iter().zip(&lines) {
        let mut fields = line.split(' ');
        let python_hash: u32 = fields.next().unwrap().parse().expect("hash");
        assert_eq!(murmur2(key) as u32, python_hash, "murmur2 of {key:02x?}");
        for (topic, field) in topics.iter().zip(fields) {
            let python_partition: i32 = field.parse().expect("partition");
            let n = topic.num_partitions();
            assert_eq!(
                partition_for_key(key, n),
                Some(python_partition),
                "partition_for_key({key:02x?}, {n})"
            );
            assert_eq!(
                partitioner.partition("t", Some(key), None, topic),
                python_partition,
                "DefaultPartitioner for {key:02x?} over {n} partitions"
            );
            if n == 997 {
                distinct_partitions.insert(python_partition);
            }
        }
    }
    // Keyed placement ignores availability: unavailable partitions (p % 3 == 2) get keys too.
    assert!(distinct_partitions.iter().any(|p| p % 3 == 2));
    assert!(
        distinct_partitions.len() > 900,
        "keys spread over 997 partitions"
    );
}
