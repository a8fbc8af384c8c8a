use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::messages::HeartbeatRequest;

use super::*;
use crate::net::fake_broker::{Behavior, FakeBroker, Script};

const PROMPTLY: Duration = Duration::from_secs(5);

async fn dead_addr() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
    // dropped: nothing listens there any more
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_connects_once_and_reuses_the_connection() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let pool = Arc::new(ConnectionPool::new(
        ConnectionConfig::default(),
        Vec::<String>::new(),
    ));
    pool.update_brokers([(1, broker.addr.clone())]);
    let gets: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get(1).await.unwrap() })
        })
        .collect();
    let mut conns = Vec::new();
    for g in gets {
        conns.push(g.await.unwrap());
    }
    assert!(conns.iter().all(|c| Arc::ptr_eq(c, &conns[0])));
    assert!(Arc::ptr_eq(&pool.get(1).await.unwrap(), &conns[0]));
    assert_eq!(broker.stats.accepted.load(Ordering::SeqCst), 1);
    conns[0].send(HeartbeatRequest::default()).await.unwrap();
}

#[tokio::test]
async fn a_dropped_connection_is_replaced() {
    let broker = FakeBroker::start(Script::modern(vec![
        Behavior::CloseAfter(1),
        Behavior::Echo,
    ]))
    .await;
    let pool = ConnectionPool::new(ConnectionConfig::default(), Vec::<String>::new());
    pool.update_brokers([(1, broker.addr.clone())]);
    let first = pool.get(1).await.unwrap();
    let err = first.send(HeartbeatRequest::default()).await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    tokio::time::timeout(PROMPTLY, first.closed())
        .await
        .unwrap();
    let second = pool.get(1).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    second.send(HeartbeatRequest::default()).await.unwrap();
    assert_eq!(broker.stats.accepted.load(Ordering::SeqCst), 2);
    assert!(Arc::ptr_eq(&second, &pool.get(1).await.unwrap()));
}

#[tokio::test]
async fn a_failed_connect_is_retried_on_the_next_get() {
    let addr = dead_addr().await;
    let pool = ConnectionPool::new(ConnectionConfig::default(), Vec::<String>::new());
    pool.update_brokers([(3, addr)]);
    let err = pool.get(3).await.unwrap_err();
    assert!(
        matches!(err, NetError::Connect { .. }) && err.is_retriable(),
        "{err}"
    );
    // The broker comes up at a new address.
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    pool.update_brokers([(3, broker.addr.clone())]);
    pool.get(3).await.unwrap();
}

#[tokio::test]
async fn update_brokers_drops_removed_and_moved_brokers() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let pool = ConnectionPool::new(ConnectionConfig::default(), ["seed:9092"]);
    pool.update_brokers([(1, broker.addr.clone()), (2, broker.addr.clone())]);
    let one = pool.get(1).await.unwrap();
    let two = pool.get(2).await.unwrap();
    pool.update_brokers([(1, broker.addr.clone())]);
    assert!(two.is_closed());
    assert!(!one.is_closed());
    assert!(matches!(pool.get(2).await, Err(NetError::UnknownBroker(2))));
    assert!(Arc::ptr_eq(&one, &pool.get(1).await.unwrap()));
    pool.update_brokers([(1, "elsewhere:9092".to_owned())]);
    assert!(one.is_closed());
    assert_eq!(pool.addr(-1).as_deref(), Some("seed:9092"));
}

#[tokio::test]
async fn any_prefers_live_connections_then_tries_addresses_in_order() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let pool = ConnectionPool::new(
        ConnectionConfig::default(),
        [dead_addr().await, broker.addr.clone()],
    );
    let (id, conn) = pool.any().await.unwrap();
    assert_eq!(id, -2);
    let (again, same) = pool.any().await.unwrap();
    assert_eq!(again, -2);
    assert!(Arc::ptr_eq(&conn, &same));
    conn.send(HeartbeatRequest::default()).await.unwrap();

    let nothing = ConnectionPool::new(ConnectionConfig::default(), [dead_addr().await]);
    let err = nothing.any().await.unwrap_err();
    assert!(
        matches!(err, NetError::NoBrokerAvailable(_)) && err.is_retriable(),
        "{err}"
    );
}

#[tokio::test]
async fn close_closes_connections_and_refuses_gets() {
    let broker = FakeBroker::start(Script::modern(vec![Behavior::Echo])).await;
    let pool = ConnectionPool::new(ConnectionConfig::default(), [broker.addr.clone()]);
    let conn = pool.get(-1).await.unwrap();
    pool.close();
    assert!(conn.is_closed());
    assert!(matches!(pool.get(-1).await, Err(NetError::PoolClosed)));
    assert!(matches!(pool.any().await, Err(NetError::PoolClosed)));
    assert!(matches!(pool.get(7).await, Err(NetError::PoolClosed)));
}
