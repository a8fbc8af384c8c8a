//! Cluster metadata: which brokers exist, which topics and partitions, who leads each partition
//! and at which leader epoch.
//!
//! [`MetadataSnapshot`] is the sans-IO part (Metadata responses in, lookups out); [`Metadata`]
//! keeps the current snapshot, refreshes it through [`crate::net::ConnectionPool`] (one refresh
//! in flight at a time, shared by every caller who asked meanwhile), and keeps the pool's broker
//! addresses in step. It owns no sockets of its own and retries nothing on behalf of callers
//! except while waiting for a topic to appear.

mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kafka_protocol::messages::MetadataRequest;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;

use crate::net::{ConnectionPool, NetError};
use crate::protocol::ErrorCode;

pub use snapshot::{BrokerNode, MetadataSnapshot, PartitionInfo, TopicInfo};

/// Errors from the metadata layer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// No broker could be reached, or the request failed on the wire.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The broker answered with a top-level error.
    #[error("metadata request failed: {0}")]
    Broker(ErrorCode),
    /// The topic does not exist (and was not created within the wait).
    #[error("topic '{topic}': {error}")]
    Topic {
        /// The topic.
        topic: String,
        /// What the broker said about it.
        error: ErrorCode,
    },
    /// A wait ran out of time.
    #[error("timed out after {0:?} waiting for metadata")]
    Timeout(Duration),
}

impl ClusterError {
    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClusterError::Net(e) => e.is_retriable(),
            ClusterError::Broker(code) | ClusterError::Topic { error: code, .. } => {
                code.is_retriable()
            }
            ClusterError::Timeout(_) => true,
        }
    }
}

/// The client's view of the cluster, refreshed on demand.
#[derive(Debug)]
pub struct Metadata {
    pool: Arc<ConnectionPool>,
    current: watch::Sender<Arc<MetadataSnapshot>>,
    /// The current snapshot's version, readable without touching the snapshot.
    version: AtomicU64,
    /// Serialises refreshes so that concurrent callers share one request.
    refreshing: tokio::sync::Mutex<()>,
    allow_auto_topic_creation: bool,
}

impl Metadata {
    /// Metadata fetched through `pool` (which holds the bootstrap addresses).
    /// `allow_auto_topic_creation` is sent with topic-specific requests, as the Java
    /// producer does (`allow.auto.create.topics`).
    pub fn new(pool: Arc<ConnectionPool>, allow_auto_topic_creation: bool) -> Metadata {
        Metadata {
            pool,
            current: watch::channel(Arc::new(MetadataSnapshot::default())).0,
            version: AtomicU64::new(MetadataSnapshot::default().version),
            refreshing: tokio::sync::Mutex::new(()),
            allow_auto_topic_creation,
        }
    }

    /// The connection pool the metadata keeps up to date.
    pub fn pool(&self) -> &Arc<ConnectionPool> {
        &self.pool
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<MetadataSnapshot> {
        self.current.borrow().clone()
    }

    /// The current snapshot's version: one atomic load, for hot paths that cache what they
    /// derived from a snapshot and only need to know whether it changed.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Subscribe to snapshot changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataSnapshot>> {
        self.current.subscribe()
    }

    /// Fetch metadata for `topics` (all topics for `None`) and merge it in. Callers that ask
    /// while a refresh is in flight get that refresh's result instead of sending another.
    pub async fn refresh(
        &self,
        topics: Option<&[&str]>,
    ) -> Result<Arc<MetadataSnapshot>, ClusterError> {
        let seen = self.snapshot().version;
        let _guard = self.refreshing.lock().await;
        let now = self.snapshot();
        if now.version > seen {
            // Someone refreshed while we waited; that is at least as new as what we asked for
            // unless we asked for topics it did not cover.
            let covered = topics.is_none_or(|ts| {
                ts.iter()
                    .all(|t| now.topics.contains_key(*t) || now.topic_errors.contains_key(*t))
            });
            if covered {
                return Ok(now);
            }
        }
        let request = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(self.allow_auto_topic_creation && topics.is_some());
        let (_, conn) = self.pool.any().await?;
        let response = conn.send(request).await?;
        let error = ErrorCode::from_code(response.error_code);
        if error != ErrorCode::None {
            return Err(ClusterError::Broker(error));
        }
        let next = Arc::new(self.snapshot().merged(&response, topics.is_none()));
        self.pool
            .update_brokers(next.brokers.values().map(|b| (b.id, b.address())));
        self.current.send_replace(next.clone());
        self.version.store(next.version, Ordering::Release);
        tracing::debug!(
            version = next.version,
            brokers = next.brokers.len(),
            topics = next.topics.len(),
            "metadata refreshed"
        );
        Ok(next)
    }

    /// The topic's metadata, refreshing until every partition has a leader or `timeout` passes
    /// (a just-created topic, or one being auto-created, may take a moment). A topic the
    /// broker reports with a non-retriable error fails at once.
    pub async fn wait_for_topic(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Arc<TopicInfo>, ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Duration::from_millis(10);
        loop {
            let snapshot = self.snapshot();
            if let Some(info) = snapshot.topic(topic) {
                if !info.partitions.is_empty() && info.partitions.iter().all(|p| p.leader.is_some())
                {
                    return Ok(info.clone());
                }
            }
            match tokio::time::timeout_at(deadline, self.refresh(Some(&[topic]))).await {
                Err(_) => return Err(ClusterError::Timeout(timeout)),
                Ok(Err(e)) if !e.is_retriable() => return Err(e),
                Ok(Ok(s)) => {
                    if let Some(&error) = s.topic_errors.get(topic) {
                        if !error.is_retriable() {
                            return Err(ClusterError::Topic {
                                topic: topic.to_string(),
                                error,
                            });
                        }
                    }
                    if let Some(info) = s.topic(topic) {
                        if !info.partitions.is_empty()
                            && info.partitions.iter().all(|p| p.leader.is_some())
                        {
                            return Ok(info.clone());
                        }
                    }
                }
                Ok(Err(_)) => {}
            }
            // Back off before asking again (metadata is not pushed to clients).
            if tokio::time::timeout_at(deadline, tokio::time::sleep(backoff))
                .await
                .is_err()
            {
                let snapshot = self.snapshot();
                return match snapshot.topic_errors.get(topic) {
                    Some(&error) => Err(ClusterError::Topic {
                        topic: topic.to_string(),
                        error,
                    }),
                    None => Err(ClusterError::Timeout(timeout)),
                };
            }
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }
}
