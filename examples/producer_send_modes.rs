//! The producer's four send modes, side by side: fire-and-forget, sync, callback and async,
//! then `flush()` and `close()`.
//!
//! Run it with `cargo run --example producer_send_modes`. It starts an in-process 3-broker
//! cluster; with `KAFKA_BOOTSTRAP_SERVERS` set it uses that cluster instead (the topic
//! `send-modes` must exist there or be auto-created).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kafkit::producer::{Producer, ProducerRecord, config::ProducerConfig};
use kafkit_testbroker::Cluster;

const TOPIC: &str = "send-modes";

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // An in-process cluster, unless the environment points at a real one.
    let (cluster, bootstrap) = match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        Ok(servers) => (None, servers),
        Err(_) => {
            let cluster = Cluster::builder()
                .brokers(3)
                .topic(TOPIC, 3, 3)
                .build()
                .await?;
            let bootstrap = cluster.bootstrap_servers();
            (Some(cluster), bootstrap)
        }
    };
    println!("bootstrap.servers={bootstrap}");

    // Java's defaults: acks=all, idempotence on, linger.ms=5, batch.size=16384.
    let config = ProducerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .set("client.id", "send-modes-example")?
        .build()?;
    let producer = Producer::new(config)?;

    // 1. Fire-and-forget: enqueue and move on. Nothing is allocated per record; failures are
    //    counted in the metrics and handed to the error hook, once per failed batch.
    producer.set_error_hook(|lost| eprintln!("error hook: {lost}"));
    for i in 0..100 {
        producer
            .send_and_forget(ProducerRecord::new(TOPIC, format!("forget-{i}")).with_key("f"))
            .await?;
    }

    // 2. Sync: send one record and wait for where it landed.
    let meta = producer
        .send_and_wait(ProducerRecord::new(TOPIC, "sync").with_key("s"))
        .await?;
    println!(
        "sync:     {}-{} @ offset {} (timestamp {})",
        meta.topic, meta.partition, meta.offset, meta.timestamp
    );

    // 3. Callback: called once with the outcome, on the producer's I/O task; callbacks of one
    //    partition run in send order.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    for i in 0..10 {
        let acknowledged = acknowledged.clone();
        producer
            .send_with_callback(
                ProducerRecord::new(TOPIC, format!("callback-{i}")).with_key("c"),
                move |result| match result {
                    Ok(meta) => {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                        if i == 9 {
                            println!(
                                "callback: last one at {}-{}@{}",
                                meta.topic, meta.partition, meta.offset
                            );
                        }
                    }
                    Err(e) => eprintln!("callback: record {i} failed: {e}"),
                },
            )
            .await?;
    }

    // 4. Async: a future per record, held, joined or dropped; many in flight at once.
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries.push(
            producer
                .send(ProducerRecord::new(TOPIC, format!("async-{i}")).with_key(format!("a{i}")))
                .await?,
        );
    }
    for delivery in deliveries {
        let meta = delivery.await?;
        println!(
            "async:    {}-{} @ offset {}",
            meta.topic, meta.partition, meta.offset
        );
    }

    // flush() waits for everything sent so far (the fire-and-forget and callback records too).
    producer.flush().await;
    println!(
        "flushed:  {} callbacks acknowledged; metrics {:?}",
        acknowledged.load(Ordering::Relaxed),
        producer.metrics()
    );
    assert_eq!(acknowledged.load(Ordering::Relaxed), 10);
    assert_eq!(producer.metrics().records_sent, 121);

    // close() flushes, then stops; later sends fail with ProducerError::Closed.
    producer.close().await;
    if let Some(cluster) = cluster {
        cluster.shutdown().await;
    }
    Ok(())
}
