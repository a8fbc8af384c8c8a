use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, HeartbeatRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::net::fake_broker::{Behavior, FakeBroker, Script};
use crate::protocol::versions::VersionError;

/// Deadline for anything that must happen "promptly".
const PROMPTLY: Duration = Duration::from_secs(5);

fn metadata_for(names: &[String]) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(
        names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
            })
            .collect(),
    ))
}

async fn connect(broker: &FakeBroker) -> Connection {
    Connection::connect(&broker.addr, &ConnectionConfig::default())
        .await
        .unwrap()
}

fn assert_disconnected(result: Result<impl std::fmt::Debug, NetError>, needle: &str) {
    match result {
        Err(e @ NetError::Disconnected(_)) => {
            assert!(e.is_retriable());
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle:?}"
            );
        }
        other => panic!("expected Disconnected({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn handshake_negotiates_versions_with_the_broker_ranges() {
    let broker = FakeBroker::start(Script {
        api_versions_max: 4,
        api_keys: vec![(18, 0, 4), (0, 0, 7), (1, 0, 3), (3, 0, 12), (12, 0, 4)],
        behaviors: vec![Behavior::Echo],
    })
    .await;
    let conn = connect(&broker).await;
    assert_eq!(conn.addr(), broker.addr);
    let software = format!("kafkit/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        *broker.stats.api_versions_requests.lock().unwrap(),
        vec![(4, Some(software))]
    );
    let v = conn.versions();
    assert_eq!(v.version(ApiKey::Produce), Ok(7));
    assert_eq!(v.version(ApiKey::Metadata), Ok(12));
    assert_eq!(v.version(ApiKey::Heartbeat), Ok(4));
    assert_eq!(
        v.version(ApiKey::Fetch).unwrap_err().to_string(),
        "Fetch: client supports v4..v18, broker supports v0..v3"
    );
    assert!(matches!(
        v.version(ApiKey::ListOffsets),
        Err(VersionError::NotSupportedByBroker { .. })
    ));
    // An unsupported API fails before anything is sent.
    let err = conn.send(FetchRequest::default()).await.unwrap_err();
    assert!(
        matches!(err, NetError::Version(VersionError::NoOverlap { .. })),
        "{err}"
    );
    assert!(!err.is_retriable());
    assert!(!conn.is_closed());
    // A supported one goes through at the negotiated version.
    let names = vec!["a".to_owned(), "b".to_owned()];
    let resp = conn.send(metadata_for(&names)).await.unwrap();
    let got: Vec<String> = resp
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(got, names);
    assert_eq!(broker.stats.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unsupported_api_versions_version_falls_back_to_the_broker_max() {
    let mut script = Script::modern(vec![Behavior::Echo]);
    script.api_versions_max = 2;
    let broker = FakeBroker::start(script).await;
    let conn = connect(&broker).await;
    assert_eq!(
        *broker.stats.api_versions_requests.lock().unwrap(),
        vec![(4, None), (2, None)]
    );
    assert_eq!(conn.versions().version(ApiKey::ApiVersions), Ok(2));
    conn.send(HeartbeatRequest::default()).await.unwrap();
}

#[tokio::test]
async fn unsupported_api_versions_without_ranges_falls_back_to_v0() {
    let mut script = Script::modern(vec![Behavior::Echo]);
    script.api_versions_max = 0;
    script
        .api_keys
        .retain(|k| k.0 != ApiKey::ApiVersions as i16);
    let broker = FakeBroker::start(script).await;
    let conn = connect(&broker).await;
    assert_eq!(
        *broker.stats.api_versions_requests.lock().unwrap(),
        vec![(4, None), (0, None)]
    );
    assert!(conn.versions().supports(ApiKey::Metadata));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pipelined_requests_are_all_answered_correctly() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let conn = Arc::new(connect(&broker).await);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let names = vec![format!("topic-{i}"), format!("other-{i}")];
                let resp = conn.send(metadata_for(&names)).await.unwrap();
                let got: Vec<String> = resp
                    .topics
                    .iter()
                    .map(|t| t.name.as_ref().unwrap().to_string())
                    .collect();
                assert_eq!(got, names);
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(broker.stats.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(broker.stats.requests.load(Ordering::SeqCst), 1000);
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn large_frames_span_many_reads_and_writes() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let conn = connect(&broker).await;
    let names: Vec<String> = (0..40_000)
        .map(|i| format!("a-fairly-long-topic-name-{i:08}"))
        .collect();
    let resp = conn.send(metadata_for(&names)).await.unwrap();
    assert_eq!(resp.topics.len(), names.len());
    assert_eq!(
        resp.topics[39_999].name.as_ref().unwrap().as_str(),
        names[39_999]
    );
}

#[tokio::test]
async fn out_of_order_responses_close_the_connection() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Reorder])).await;
    let conn = connect(&broker).await;
    let (a, b) = tokio::time::timeout(PROMPTLY, async {
        tokio::join!(
            conn.send(HeartbeatRequest::default()),
            conn.send(HeartbeatRequest::default())
        )
    })
    .await
    .unwrap();
    assert_disconnected(a, "correlation id");
    assert_disconnected(b, "correlation id");
    assert!(conn.is_closed());
    assert_disconnected(
        conn.send(HeartbeatRequest::default()).await,
        "correlation id",
    );
}

#[tokio::test]
async fn a_wrong_correlation_id_closes_the_connection() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::WrongCorrelationId])).await;
    let conn = connect(&broker).await;
    let result = tokio::time::timeout(PROMPTLY, conn.send(HeartbeatRequest::default()))
        .await
        .unwrap();
    assert_disconnected(result, "does not match");
    tokio::time::timeout(PROMPTLY, conn.closed()).await.unwrap();
}

#[tokio::test]
async fn garbage_from_the_broker_closes_the_connection() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Garbage])).await;
    let conn = connect(&broker).await;
    let result = tokio::time::timeout(PROMPTLY, conn.send(HeartbeatRequest::default()))
        .await
        .unwrap();
    // "HTTP" read as a size prefix is 1.2 GB: refused before buffering any of it.
    assert_disconnected(result, "exceeds the maximum frame size");
    assert!(conn.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_closing_mid_flight_fails_every_request_promptly() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::CloseAfter(50)])).await;
    let conn = Arc::new(connect(&broker).await);
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send(HeartbeatRequest::default()).await })
        })
        .collect();
    let results = tokio::time::timeout(PROMPTLY, async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    })
    .await
    .expect("every request finishes promptly");
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(ok < 50, "{ok}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_disconnected(result, "");
    }
    assert!(conn.is_closed());
    let started = tokio::time::Instant::now();
    // The reason is EOF or a reset, whichever the client noticed first.
    assert_disconnected(conn.send(HeartbeatRequest::default()).await, "");
    assert!(started.elapsed() < PROMPTLY);
}

#[tokio::test]
async fn a_request_without_a_response_times_out_and_closes_the_connection() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::NeverAnswer])).await;
    let conn = connect(&broker).await;
    // Virtual time from here: the runtime jumps to the 30 s deadline once everything is idle.
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let (first, second) = tokio::join!(
        conn.send(HeartbeatRequest::default()),
        conn.send(MetadataRequest::default())
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    // Both deadlines fall on the same instant: whichever fires first times out and closes the
    // connection, and the other sees the close (or its own timeout).
    let results = [first.map(drop), second.map(drop)];
    let timeouts = results
        .iter()
        .filter(|r| matches!(r, Err(NetError::Timeout { timeout, .. }) if *timeout == Duration::from_secs(30)))
        .count();
    assert!(timeouts >= 1, "{results:?}");
    for result in &results {
        assert!(
            matches!(result, Err(e @ (NetError::Timeout { .. } | NetError::Disconnected(_))) if e.is_retriable()),
            "{result:?}"
        );
    }
    assert!(conn.is_closed());
    assert_disconnected(conn.send(HeartbeatRequest::default()).await, "timed out");
}

#[tokio::test]
async fn acks_zero_produce_gets_no_response_and_the_stream_stays_in_sync() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let conn = connect(&broker).await;
    for _ in 0..3 {
        conn.send_no_response(ProduceRequest::default().with_acks(0))
            .await
            .unwrap();
    }
    // Responses come in order, so once this one is back the broker has read the produces.
    conn.send(ProduceRequest::default().with_acks(-1))
        .await
        .unwrap();
    assert_eq!(broker.stats.produce_acks0.load(Ordering::SeqCst), 3);
    conn.send(HeartbeatRequest::default()).await.unwrap();
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn explicit_close_fails_later_sends_at_once() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let conn = connect(&broker).await;
    conn.close();
    assert!(conn.is_closed());
    assert_disconnected(
        conn.send(HeartbeatRequest::default()).await,
        "closed by the client",
    );
    assert_disconnected(
        conn.send_no_response(ProduceRequest::default()).await,
        "closed by the client",
    );
}

#[tokio::test]
async fn connection_refused_is_a_retriable_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Connect { .. }), "{err}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn a_broker_that_never_answers_the_handshake_times_out() {
    // Accept the connection but never read from it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let config = ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let connect = tokio::spawn(async move { Connection::connect(&addr, &config).await });
    let (mut socket, _) = listener.accept().await.unwrap();
    // Wait until the ApiVersions request has arrived (so the TCP connect is done), then let
    // virtual time run to the request timeout.
    let mut first_bytes = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut socket, &mut first_bytes)
        .await
        .unwrap();
    tokio::time::pause();
    let err = connect.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            NetError::Timeout {
                api: ApiKey::ApiVersions,
                ..
            }
        ),
        "{err}"
    );
}
