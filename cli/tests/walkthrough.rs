//! The CLI walkthrough, end to end, against a standalone test-broker cluster started with
//! `kafkit cluster --brokers 3 --port 0`: create a topic, list and describe it (3 replicas,
//! full ISR), produce 1,000 keyed lines, consume them back in order per key, and see zero lag
//! in `groups --describe`; then the error cases and their exit codes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KAFKIT: &str = env!("CARGO_BIN_EXE_kafkit");

/// The `kafkit cluster` child, killed when dropped.
struct ClusterProcess {
    child: Child,
    bootstrap: String,
}

impl ClusterProcess {
    fn start(brokers: u32) -> ClusterProcess {
        let mut child = Command::new(KAFKIT)
            .args(["cluster", "--brokers", &brokers.to_string(), "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kafkit cluster");
        let stdout = child.stdout.take().expect("cluster stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("kafkit cluster printed no bootstrap line within 60 s");
            }
        };
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap.servers=")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert_eq!(
            bootstrap.split(',').count(),
            brokers as usize,
            "{bootstrap}"
        );
        ClusterProcess { child, bootstrap }
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `kafkit ARGS` with `stdin` fed to it, waiting at most `limit`.
fn kafkit_with(
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
    limit: Duration,
) -> Output {
    let mut cmd = Command::new(KAFKIT);
    cmd.args(args)
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn kafkit");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("kafkit output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("kafkit {args:?} did not finish within {limit:?}");
        }
    }
}

fn kafkit(args: &[&str], stdin: Option<&str>) -> Output {
    kafkit_with(args, stdin, &[], Duration::from_secs(120))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Parses `Partition: P ... Replicas: a,b,c\tIsr: x,y` lines: (partition, replicas, isr).
fn partition_lines(describe: &str) -> Vec<(i32, Vec<i32>, Vec<i32>)> {
    let ids = |s: &str| -> Vec<i32> {
        let mut v: Vec<i32> = s
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().expect("broker id"))
            .collect();
        v.sort();
        v
    };
    describe
        .lines()
        .filter(|l| l.starts_with('\t'))
        .map(|l| {
            let fields: BTreeMap<&str, &str> = l
                .trim()
                .split('\t')
                .filter_map(|f| f.split_once(": "))
                .collect();
            (
                fields["Partition"].parse().expect("partition"),
                ids(fields["Replicas"]),
                ids(fields["Isr"]),
            )
        })
        .collect()
}

#[test]
fn walkthrough() {
    let cluster = ClusterProcess::start(3);
    let bs = cluster.bootstrap.as_str();
    let topic = "walkthrough";

    // Create, list.
    let created = kafkit(
        &[
            "topics",
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "retention.ms=3600000",
            "--bootstrap-server",
            bs,
        ],
        None,
    );
    assert_ok(&created, "topics --create");
    assert_eq!(stdout(&created).trim(), format!("Created topic {topic}."));
    let again = kafkit(
        &[
            "topics",
            "--create",
            "--topic",
            topic,
            "--bootstrap-server",
            bs,
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        stderr(&again)
    );

    // The bootstrap servers may also come from the environment.
    let listed = kafkit_with(
        &["topics", "--list"],
        None,
        &[("KAFKA_BOOTSTRAP_SERVERS", bs)],
        Duration::from_secs(60),
    );
    assert_ok(&listed, "topics --list");
    assert!(
        stdout(&listed).lines().any(|l| l == topic),
        "{}",
        stdout(&listed)
    );

    // Describe: 3 partitions, 3 replicas each, full ISR (waiting for the followers to join,
    // with a deadline).
    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let d = kafkit(
            &[
                "topics",
                "--describe",
                "--topic",
                topic,
                "--bootstrap-server",
                bs,
            ],
            None,
        );
        assert_ok(&d, "topics --describe");
        let text = stdout(&d);
        let parts = partition_lines(&text);
        let full = parts.len() == 3 && parts.iter().all(|(_, r, isr)| r.len() == 3 && isr == r);
        if full || Instant::now() > deadline {
            break text;
        }
    };
    let header = described.lines().next().expect("header line");
    assert!(
        header.starts_with(&format!("Topic: {topic}\tTopicId: ")),
        "{header}"
    );
    assert!(
        header.contains("\tPartitionCount: 3\tReplicationFactor: 3\t"),
        "{header}"
    );
    assert!(header.contains("retention.ms=3600000"), "{header}");
    let parts = partition_lines(&described);
    assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 2]);
    for (p, replicas, isr) in &parts {
        assert_eq!(replicas, &[1, 2, 3], "partition {p}: {described}");
        assert_eq!(isr, replicas, "partition {p} ISR not full: {described}");
    }

    // Produce 1,000 keyed lines.
    let keys = 10;
    let input: String = (0..1000)
        .map(|i| format!("key-{}:value-{i}\n", i % keys))
        .collect();
    let produced = kafkit(
        &[
            "produce",
            "--topic",
            topic,
            "--key-separator",
            ":",
            "--compression",
            "lz4",
            "--acks",
            "all",
            "--bootstrap-server",
            bs,
        ],
        Some(&input),
    );
    assert_ok(&produced, "produce");

    {
        let group = "walkthrough-group";
        let consumed = kafkit(
            &[
                "consume",
                "--topic",
                topic,
                "--group",
                group,
                "--from-beginning",
                "--max-messages",
                "1000",
                "--timeout-ms",
                "60000",
                "--print-key",
                "--print-partition",
                "--print-offset",
                "--bootstrap-server",
                bs,
            ],
            None,
        );
        assert_ok(&consumed, "consume");
        let text = stdout(&consumed);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000, "{}", stderr(&consumed));
        let mut per_key: BTreeMap<String, (i32, Vec<u32>)> = BTreeMap::new();
        let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 4, "{line}");
            let partition: i32 = f[0]
                .strip_prefix("Partition:")
                .expect(line)
                .parse()
                .unwrap();
            let offset: i64 = f[1].strip_prefix("Offset:").expect(line).parse().unwrap();
            let n: u32 = f[3].strip_prefix("value-").expect(line).parse().unwrap();
            assert_eq!(f[2], format!("key-{}", n % keys), "{line}");
            let prev = last_offset.insert(partition, offset);
            assert!(
                prev.is_none_or(|p| p < offset),
                "offsets out of order: {line}"
            );
            let entry = per_key
                .entry(f[2].to_string())
                .or_insert((partition, Vec::new()));
            assert_eq!(entry.0, partition, "key {} on two partitions", f[2]);
            entry.1.push(n);
        }
        assert_eq!(per_key.len(), keys as usize);
        for (key, (_, values)) in &per_key {
            let k: u32 = key.strip_prefix("key-").unwrap().parse().unwrap();
            let expected: Vec<u32> = (0..1000).filter(|i| i % keys == k).collect();
            assert_eq!(values, &expected, "values of {key} out of order or missing");
        }

        let groups = kafkit(&["groups", "--list", "--bootstrap-server", bs], None);
        assert_ok(&groups, "groups --list");
        assert!(
            stdout(&groups).lines().any(|l| l == group),
            "{}",
            stdout(&groups)
        );
        let described = kafkit(
            &["groups", "--describe", group, "--bootstrap-server", bs],
            None,
        );
        assert_ok(&described, "groups --describe");
        let text = stdout(&described);
        let mut rows = text
            .lines()
            .skip_while(|l| !l.starts_with("GROUP"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            rows.next().expect("header")[..6],
            [
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG"
            ]
        );
        let rows: Vec<Vec<&str>> = rows.collect();
        assert_eq!(rows.len(), 3, "{text}");
        let mut committed = 0;
        for row in &rows {
            assert_eq!(row[0], group);
            assert_eq!(row[1], topic);
            assert_eq!(row[5], "0", "lag not zero: {text}");
            assert_eq!(row[3], row[4], "{text}");
            committed += row[3].parse::<i64>().expect("current offset");
        }
        assert_eq!(committed, 1000, "{text}");

        let unknown = kafkit(
            &[
                "consume",
                "--topic",
                "no-such-topic",
                "--bootstrap-server",
                bs,
            ],
            None,
        );
        assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
        assert!(
            stderr(&unknown).contains("unknown topic"),
            "{}",
            stderr(&unknown)
        );
    }

    // Unknown topic: exit 1 with the topic named.
    let unknown = kafkit(
        &[
            "topics",
            "--describe",
            "--topic",
            "no-such-topic",
            "--bootstrap-server",
            bs,
        ],
        None,
    );
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("unknown topic 'no-such-topic'"),
        "{}",
        stderr(&unknown)
    );
    let unknown_produce = kafkit(
        &[
            "produce",
            "--topic",
            "no-such-topic",
            "--bootstrap-server",
            bs,
        ],
        Some("x\n"),
    );
    assert_eq!(unknown_produce.status.code(), Some(1));
    assert!(
        stderr(&unknown_produce).contains("unknown topic"),
        "{}",
        stderr(&unknown_produce)
    );
    let no_group = kafkit(
        &[
            "groups",
            "--describe",
            "no-such-group",
            "--bootstrap-server",
            bs,
        ],
        None,
    );
    assert_eq!(no_group.status.code(), Some(1), "{}", stderr(&no_group));
    assert!(
        stderr(&no_group).contains("does not exist"),
        "{}",
        stderr(&no_group)
    );
    // A line without the key separator is an error naming the line.
    let no_sep = kafkit(
        &[
            "produce",
            "--topic",
            topic,
            "--key-separator",
            ":",
            "--bootstrap-server",
            bs,
        ],
        Some("k:v\nnoseparator\n"),
    );
    assert_eq!(no_sep.status.code(), Some(1));
    assert!(stderr(&no_sep).contains("line 2"), "{}", stderr(&no_sep));

    // Delete.
    let deleted = kafkit(
        &[
            "topics",
            "--delete",
            "--topic",
            topic,
            "--bootstrap-server",
            bs,
        ],
        None,
    );
    assert_ok(&deleted, "topics --delete");
    drop(cluster);
}

#[test]
fn unreachable_broker_fails_fast_with_a_clear_message() {
    // Bind and drop: nothing listens on the port, so connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = kafkit_with(
        &["topics", "--list", "--bootstrap-server", &addr],
        None,
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach any broker"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_arguments_exit_2() {
    let cases: &[&[&str]] = &[
        &["topics", "--list", "--create"],
        &["topics"],
        &["topics", "--create"],
        &["topics", "--create", "--topic", "t", "--partitions", "0"],
        &["topics", "--create", "--topic", "t", "--config", "novalue"],
        &["topics", "--alter", "--topic", "t"],
        &["produce"],
        &["produce", "--topic", "t", "--compression", "brotli"],
        &["consume"],
        &["groups"],
        &["no-such-subcommand"],
    ];
    for args in cases {
        let out = kafkit_with(args, None, &[], Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    let help = kafkit(&["--help"], None);
    assert_ok(&help, "--help");
    for sub in ["cluster", "topics", "produce", "consume", "groups"] {
        assert!(stdout(&help).contains(sub), "{}", stdout(&help));
    }
}
