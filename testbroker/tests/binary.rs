//! The standalone `kafkit-testbroker` binary: one `bootstrap.servers=` line on stdout when ready,
//! a working cluster behind it, and a clean exit at end of stdin.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn prints_bootstrap_servers_serves_and_exits_at_end_of_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafkit-testbroker"))
        .args([
            "--brokers",
            "3",
            "--topic",
            "orders:6:3",
            "--topic",
            "audit:1:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let servers = first
        .strip_prefix("bootstrap.servers=")
        .expect("the bootstrap line");
    let addrs: Vec<&str> = servers.split(',').collect();
    assert_eq!(addrs.len(), 3);

    // The cluster answers Metadata with both topics.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topics = runtime.block_on(async {
        let conn =
            kafkit::net::Connection::connect(addrs[0], &kafkit::net::ConnectionConfig::default())
                .await
                .expect("connect");
        let response = conn
            .send(kafkit::messages::MetadataRequest::default().with_topics(None))
            .await
            .expect("metadata");
        let mut topics: Vec<(String, usize)> = response
            .topics
            .iter()
            .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.partitions.len()))
            .collect();
        topics.sort();
        topics
    });
    assert_eq!(
        topics,
        vec![("audit".to_string(), 1), ("orders".to_string(), 6)]
    );

    // Closing stdin shuts it down cleanly, and nothing more is printed on stdout.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the binary did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(lines.next().is_none(), "exactly one line on stdout");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafkit-testbroker"))
        .args(["--topic", "no-colons"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME:PARTITIONS:RF"));
    assert!(out.stdout.is_empty());
}
