//! Runs the examples `quickstart`, `admin` and `testing_with_testbroker` and checks what they
//! print.
//!
//! The examples are not run through cargo (that would be slow and recursive): `cargo test`
//! builds every example of this package into `target/<profile>/examples/`, next to the
//! `deps/` folder this test runs from, and the tests run those executables. Running only this
//! test (`cargo test --test examples`) does not build the examples; build them first with
//! `cargo build --examples` (a test fails with that advice when one is missing or older than
//! its source).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one example may run.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// The compiled example `name`, checked to exist and to be newer than its source.
fn example_exe(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let exe = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&exe).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "example `{name}` is not built at {}: run `cargo build --examples` (or a plain \
             `cargo test`, which builds them) before `cargo test --test examples`",
            exe.display()
        );
    };
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.rs"));
    if let Ok(changed) = std::fs::metadata(&source).and_then(|m| m.modified()) {
        assert!(
            built >= changed,
            "example `{name}` at {} is older than {}: run `cargo build --examples`",
            exe.display(),
            source.display()
        );
    }
    exe
}

/// Run example `name` against its in-process cluster (never an external one), within
/// [`TIME_LIMIT`]; returns its stdout after checking it exited with status 0.
fn run_example(name: &str) -> String {
    let exe = example_exe(name);
    let mut child = Command::new(&exe)
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "example `{name}` did not finish within {TIME_LIMIT:?}; stdout so far:\n{}",
                stdout.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "example `{name}` failed ({status}) after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        started.elapsed()
    );
    stdout
}

/// `key=<k> value=<v>` at the end of a line, as (k, v).
fn key_value(line: &str) -> Option<(String, String)> {
    let rest = &line[line.find(" key=")? + " key=".len()..];
    let (key, rest) = rest.split_once(" value=")?;
    let value = rest.split_once(' ').map_or(rest, |(v, _)| v);
    Some((key.to_string(), value.to_string()))
}

#[test]
fn quickstart_produces_consumes_and_survives_a_leader_failover() {
    let out = run_example("quickstart");

    // `produced <mode> key=k value=v -> orders-1@5`, one line per record.
    let mut produced: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with("produced ")) {
        let mode = line
            .split_whitespace()
            .nth(1)
            .expect("a send mode")
            .to_string();
        let kv = key_value(line).unwrap_or_else(|| panic!("no key/value in {line:?}"));
        let place = line
            .split_once(" -> ")
            .unwrap_or_else(|| panic!("no destination in {line:?}"))
            .1
            .to_string();
        assert!(
            produced.insert(kv, (mode, place)).is_none(),
            "record produced twice: {line}"
        );
    }
    for mode in [
        "send_and_forget",
        "send_and_wait",
        "send_with_callback",
        "send",
    ] {
        assert!(
            produced.values().any(|(m, _)| m == mode),
            "no record sent with {mode}:\n{out}"
        );
    }

    // `consumed orders-1@5 key=k value=v` (first read, in a group) and `re-read ...` (after
    // the failover, from the beginning): every produced record is read back where it landed.
    let mut read: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in out
        .lines()
        .filter(|l| l.starts_with("consumed ") || l.starts_with("re-read "))
    {
        let kv = key_value(line).unwrap_or_else(|| panic!("no key/value in {line:?}"));
        let place = line.split_whitespace().nth(1).expect("a place").to_string();
        read.entry(kv).or_default().push(place);
    }
    for ((key, value), (mode, place)) in &produced {
        let places = read
            .get(&(key.clone(), value.clone()))
            .unwrap_or_else(|| panic!("record key={key} value={value} never consumed:\n{out}"));
        if !place.ends_with("(not reported)") {
            assert!(
                places.iter().all(|p| p == place),
                "{mode} record key={key} produced to {place}, consumed at {places:?}"
            );
        }
    }
    assert_eq!(read.len(), produced.len(), "no unexpected records:\n{out}");

    // The failover step ran and moved the leadership to another broker with a newer epoch.
    let moved = out
        .lines()
        .find(|l| l.starts_with("leader of orders-0 moved from broker "))
        .unwrap_or_else(|| panic!("no leader move reported:\n{out}"));
    let numbers: Vec<i32> = moved
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // [0 (of orders-0), old broker, old epoch, new broker, new epoch]
    assert_eq!(numbers.len(), 5, "unexpected line {moved:?}");
    assert_ne!(numbers[1], numbers[3], "the leader changed: {moved}");
    assert!(numbers[4] > numbers[2], "the epoch grew: {moved}");
    assert!(
        out.contains("after the failover all "),
        "no re-read after the failover:\n{out}"
    );

    // The final line counts every record.
    let n = produced.len();
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("quickstart OK: {n} records produced, {n} consumed, none lost")
    );
}

#[test]
fn admin_example_runs_every_operation() {
    let out = run_example("admin");
    for step in [
        "describe_cluster: ",
        "create_topics: payments ",
        "describe_topics: payments-0: ",
        "incremental_alter_configs: ",
        "describe_configs: topic payments: min.insync.replicas=2 ",
        "create_partitions: payments now has 3 partitions",
        "describe_topics: payments-2: ",
        "list_offsets (latest): payments-0 -> ",
        "delete_records: ",
        "delete_topics: payments deleted",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(step)),
            "no `{step}` line:\n{out}"
        );
    }
    assert_eq!(out.lines().last(), Some("admin OK"));
}

#[test]
fn testing_with_testbroker_example_passes() {
    let out = run_example("testing_with_testbroker");
    assert_eq!(out.lines().filter(|l| l.ends_with(" ... ok")).count(), 2);
    assert_eq!(
        out.lines().last(),
        Some("testing_with_testbroker OK: 2 tests passed")
    );
}
