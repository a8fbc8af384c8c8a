//! Untimed helpers around the runs, done with rust-rdkafka: creating a fresh topic and reading
//! partition high watermarks. Each call makes and drops its own short-lived client, so no idle
//! librdkafka threads are left running during another client's measurement.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::BoxError;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` with `partitions` partitions and replication factor `rf`, then waits until
/// every partition has a leader in the metadata.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rf: i16,
) -> Result<(), BoxError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(i32::from(rf)));
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    for result in admin.create_topics([&new], &opts).await? {
        result.map_err(|(t, e)| format!("create topic {t}: {e}"))?;
    }
    drop(admin);
    let topic = topic.to_string();
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || wait_for_leaders(&bootstrap, &topic, partitions)).await?
}

fn metadata_consumer(bootstrap: &str) -> Result<BaseConsumer, BoxError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kafkit-bench-admin")
        .create()?)
}

fn wait_for_leaders(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), BoxError> {
    let consumer = metadata_consumer(bootstrap)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let md = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        let ready = md.topics().iter().any(|t| {
            t.name() == topic
                && t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("topic {topic} has no leaders after {TIMEOUT:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The high watermark of each partition of `topic` (ListOffsets latest), in partition order.
pub async fn high_watermarks(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<i64>, BoxError> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer = metadata_consumer(&bootstrap)?;
        (0..partitions)
            .map(|p| {
                let (_low, high) = consumer.fetch_watermarks(&topic, p, TIMEOUT)?;
                Ok(high)
            })
            .collect()
    })
    .await?
}

/// `ok` when the watermarks sum to `expected`, else a `FAILED: ...` verdict.
pub fn verdict(watermarks: &[i64], expected: u64, failed_deliveries: u64) -> String {
    let total: i64 = watermarks.iter().sum();
    match (u64::try_from(total) == Ok(expected), failed_deliveries) {
        (true, 0) => "ok".to_string(),
        (true, f) => format!("FAILED: {f} delivery errors (but {total} records in the log)"),
        (false, 0) => format!("FAILED: {total} records in the log, expected {expected}"),
        (false, f) => {
            format!("FAILED: {total} records in the log, expected {expected}; {f} delivery errors")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&[3, 4, 3], 10, 0), "ok");
        assert_eq!(
            verdict(&[3, 4, 4], 10, 0),
            "FAILED: 11 records in the log, expected 10"
        );
        assert!(verdict(&[10], 10, 2).starts_with("FAILED: 2 delivery errors"));
        assert!(verdict(&[9], 10, 1).contains("1 delivery errors"));
    }
}
