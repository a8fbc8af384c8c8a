//! `kafkit-testbroker`: run an in-process Kafka cluster in the foreground.
//!
//! ```text
//! kafkit-testbroker [--brokers N] [--port P] [--data-dir DIR] [--topic NAME:PARTITIONS:RF]...
//! ```
//!
//! When the cluster is ready it prints exactly one line, `bootstrap.servers=HOST:PORT,...`, on
//! stdout; logs go to stderr (`RUST_LOG` sets the level, default `info`). It exits cleanly on
//! SIGINT, SIGTERM or end of standard input.

use std::process::ExitCode;

use kafkit_testbroker::Cluster;

const USAGE: &str = "usage: kafkit-testbroker [--brokers N] [--port P] [--data-dir DIR] [--topic NAME:PARTITIONS:RF]...

  --brokers N                  number of brokers (default 1)
  --port P                     first listener port; broker i listens on P+i-1 (default 0: ephemeral)
  --data-dir DIR               keep segments as files under DIR (default: in memory)
  --topic NAME:PARTITIONS:RF   create a topic at start (repeatable)
  --no-auto-create             disable auto.create.topics.enable

Prints `bootstrap.servers=...` on stdout when ready; exits on SIGINT, SIGTERM or end of stdin.";

struct Args {
    brokers: usize,
    port: u16,
    data_dir: Option<String>,
    topics: Vec<(String, i32, i16)>,
    auto_create: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        brokers: 1,
        port: 0,
        data_dir: None,
        topics: Vec::new(),
        auto_create: true,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--brokers" => {
                let v = value("--brokers")?;
                out.brokers = v
                    .parse()
                    .map_err(|_| format!("--brokers: '{v}' is not a number"))?;
            }
            "--port" => {
                let v = value("--port")?;
                out.port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port"))?;
            }
            "--data-dir" => out.data_dir = Some(value("--data-dir")?),
            "--topic" => {
                let v = value("--topic")?;
                let parts: Vec<&str> = v.split(':').collect();
                let [name, partitions, rf] = parts[..] else {
                    return Err(format!("--topic: '{v}' is not NAME:PARTITIONS:RF"));
                };
                let partitions = partitions
                    .parse()
                    .map_err(|_| format!("--topic: bad partition count in '{v}'"))?;
                let rf = rf
                    .parse()
                    .map_err(|_| format!("--topic: bad replication factor in '{v}'"))?;
                out.topics.push((name.to_string(), partitions, rf));
            }
            "--no-auto-create" => out.auto_create = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("kafkit-testbroker: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let mut builder = Cluster::builder()
        .brokers(args.brokers)
        .port(args.port)
        .auto_create_topics(args.auto_create);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    for (name, partitions, rf) in &args.topics {
        builder = builder.topic(name, *partitions, *rf);
    }
    let cluster = match builder.build().await {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("kafkit-testbroker: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("bootstrap.servers={}", cluster.bootstrap_servers());
    tracing::info!(brokers = args.brokers, cluster_id = %cluster.cluster_id(), "cluster ready");

    // A plain thread watches stdin: tokio's stdin would hold runtime shutdown on a blocking read.
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        while matches!(std::io::Read::read(&mut stdin, &mut buf), Ok(n) if n > 0) {}
        let _ = eof_tx.send(());
    });
    let stdin_closed = async {
        let _ = eof_rx.await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
        _ = stdin_closed => tracing::info!("end of stdin: shutting down"),
    }
    cluster.shutdown().await;
    ExitCode::SUCCESS
}
