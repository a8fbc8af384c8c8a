//! The embedding API: build a cluster, get its bootstrap servers, shut it down.
//!
//! [`Cluster`] owns the brokers and the shared controller; it is `Send + Sync`, shuts down on
//! drop or on [`Cluster::shutdown`], and many clusters can run in one test binary at once.
//! [`BlockingCluster`] runs one on its own runtime for tests that are not async.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::broker::{Broker, BrokerSettings, BrokerState, ClusterShared};
use crate::controller::{Controller, ControllerDefaults, ControllerError, NewTopic};
use crate::metadata::{BrokerRegistration, MetadataImage};

/// Errors building or driving a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A listener could not be bound.
    #[error("cannot bind broker {broker} on {addr}: {source}")]
    Bind {
        /// The broker id.
        broker: i32,
        /// The address tried.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The controller refused a topic or config.
    #[error("{0}")]
    Controller(#[from] ControllerError),
    /// The builder's settings do not make a cluster.
    #[error("invalid cluster settings: {0}")]
    InvalidSettings(String),
    /// A wait for a condition ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Metadata did not reach every broker in time.
    #[error("metadata did not propagate to every broker within {0:?}")]
    PropagationTimeout(Duration),
    /// The runtime for a blocking cluster could not start.
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A broker's id and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker id.
    pub id: i32,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Builds a [`Cluster`]. Start with [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: usize,
    host: String,
    first_port: u16,
    topics: Vec<NewTopic>,
    auto_create_topics: bool,
    default_partitions: i32,
    default_replication_factor: Option<i16>,
    default_topic_configs: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    cluster_id: String,
    max_frame_size: usize,
    retention_check_interval: Duration,
    auto_leader_rebalance: bool,
    replica_lag_time_max: Duration,
    replica_fetch_wait_max: Duration,
    flush_interval: Duration,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            brokers: 1,
            host: "127.0.0.1".into(),
            first_port: 0,
            topics: Vec::new(),
            auto_create_topics: true,
            default_partitions: 1,
            default_replication_factor: None,
            default_topic_configs: Vec::new(),
            data_dir: None,
            cluster_id: String::new(),
            max_frame_size: kafkit::protocol::frame::DEFAULT_MAX_FRAME_SIZE,
            retention_check_interval: Duration::from_secs(300),
            auto_leader_rebalance: true,
            replica_lag_time_max: Duration::from_secs(30),
            replica_fetch_wait_max: Duration::from_millis(500),
            flush_interval: Duration::from_secs(1),
        }
    }
}

impl ClusterBuilder {
    /// Number of brokers (ids 1..=n). Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// First listener port; broker `i` listens on `port + i - 1`. 0 (the default) picks free
    /// ephemeral ports.
    pub fn port(mut self, port: u16) -> Self {
        self.first_port = port;
        self
    }

    /// Create a topic at start.
    pub fn topic(mut self, name: &str, partitions: i32, replication_factor: i16) -> Self {
        self.topics.push(NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            ..NewTopic::default()
        });
        self
    }

    /// Set a config on a topic declared with [`ClusterBuilder::topic`] (e.g.
    /// `("orders", "min.insync.replicas", "2")`).
    pub fn topic_config(mut self, topic: &str, key: &str, value: &str) -> Self {
        if let Some(t) = self.topics.iter_mut().find(|t| t.name == topic) {
            t.configs.push((key.into(), value.into()));
        } else {
            self.topics.push(NewTopic {
                name: topic.into(),
                partitions: -1,
                replication_factor: -1,
                configs: vec![(key.into(), value.into())],
                ..NewTopic::default()
            });
        }
        self
    }

    /// A config applied to every topic created in this cluster unless the topic overrides it.
    pub fn default_topic_config(mut self, key: &str, value: &str) -> Self {
        self.default_topic_configs.push((key.into(), value.into()));
        self
    }

    /// `auto.create.topics.enable` (default true, as in Kafka).
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.auto_create_topics = enabled;
        self
    }

    /// `num.partitions` for auto-created topics and CreateTopics with -1 (default 1).
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.default_partitions = n;
        self
    }

    /// `default.replication.factor` (default: the broker count, capped at 3).
    pub fn default_replication_factor(mut self, n: i16) -> Self {
        self.default_replication_factor = Some(n);
        self
    }

    /// Keep segments as files under `dir` (`<dir>/<broker id>/<topic>-<partition>/`), so they
    /// survive a broker restart. In memory without it.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The cluster id reported in Metadata and DescribeCluster (default: random).
    pub fn cluster_id(mut self, id: &str) -> Self {
        self.cluster_id = id.into();
        self
    }

    /// The largest request a broker accepts (`socket.request.max.bytes`, default 100 MiB).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// How often brokers apply `retention.ms` / `retention.bytes`
    /// (`log.retention.check.interval.ms`, default 5 minutes). Tests can also call
    /// [`Cluster::enforce_retention`].
    pub fn retention_check_interval(mut self, interval: Duration) -> Self {
        self.retention_check_interval = interval;
        self
    }

    /// `auto.leader.rebalance.enable` (default true): leadership returns to a partition's
    /// preferred replica as soon as it is back in the ISR.
    pub fn auto_leader_rebalance(mut self, enabled: bool) -> Self {
        self.auto_leader_rebalance = enabled;
        self
    }

    /// `replica.lag.time.max.ms` (default 30 s): a follower that has not caught up for this
    /// long leaves the ISR.
    pub fn replica_lag_time_max(mut self, lag: Duration) -> Self {
        self.replica_lag_time_max = lag;
        self
    }

    /// `replica.fetch.wait.max.ms` (default 500 ms): how long a follower's fetch waits at the
    /// leader for new data.
    pub fn replica_fetch_wait_max(mut self, wait: Duration) -> Self {
        self.replica_fetch_wait_max = wait;
        self
    }

    /// How often replica logs are flushed (default 1 s). What was appended since a replica's
    /// last flush is lost when its broker is crashed with [`Cluster::crash_broker`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Start the cluster: bind every listener, create the declared topics, start the brokers
    /// and wait until every broker has the topics' metadata.
    pub async fn build(self) -> Result<Cluster, ClusterError> {
        if self.brokers == 0 || self.brokers > 1000 {
            return Err(ClusterError::InvalidSettings(format!(
                "{} brokers",
                self.brokers
            )));
        }
        let mut listeners = Vec::with_capacity(self.brokers);
        let mut registrations = Vec::with_capacity(self.brokers);
        for i in 0..self.brokers {
            let id = i as i32 + 1;
            let port = if self.first_port == 0 {
                0
            } else {
                self.first_port + i as u16
            };
            let addr = format!("{}:{port}", self.host);
            let listener = TcpListener::bind(&addr)
                .await
                .map_err(|source| ClusterError::Bind {
                    broker: id,
                    addr: addr.clone(),
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| ClusterError::Bind {
                broker: id,
                addr,
                source,
            })?;
            registrations.push(BrokerRegistration {
                id,
                host: local.ip().to_string(),
                port: local.port(),
                rack: None,
                alive: true,
            });
            listeners.push((id, listener));
        }
        let cluster_id = if self.cluster_id.is_empty() {
            uuid::Uuid::new_v4().simple().to_string()[..22].to_string()
        } else {
            self.cluster_id.clone()
        };
        let defaults = ControllerDefaults {
            partitions: self.default_partitions,
            replication_factor: self
                .default_replication_factor
                .unwrap_or(self.brokers.min(3) as i16),
            topic_configs: self.default_topic_configs.clone(),
            auto_leader_rebalance: self.auto_leader_rebalance,
        };
        let controller = Controller::new(cluster_id, registrations, defaults);
        for topic in &self.topics {
            controller.create_topic(topic, false)?;
        }
        if let Some(dir) = &self.data_dir {
            for topic in recover_topics(dir, self.brokers) {
                if controller.image().topic(&topic.name).is_none() {
                    tracing::info!(topic = %topic.name, "recovered topic from the data directory");
                    controller.create_topic(&topic, false)?;
                }
            }
        }
        let settings = BrokerSettings {
            max_frame_size: self.max_frame_size,
            auto_create_topics: self.auto_create_topics,
            data_dir: self.data_dir.clone(),
            message_max_bytes: 1_048_588,
            retention_check_interval: self.retention_check_interval,
            replica_lag_time_max: self.replica_lag_time_max,
            replica_fetch_wait_max: self.replica_fetch_wait_max,
            flush_interval: self.flush_interval,
        };
        let shared = Arc::new(ClusterShared::new(controller, settings));
        let mut brokers = BTreeMap::new();
        for (id, listener) in listeners {
            let broker = Broker::start(id, listener, shared.clone()).map_err(|source| {
                ClusterError::Bind {
                    broker: id,
                    addr: "listener".into(),
                    source,
                }
            })?;
            brokers.insert(id, broker);
        }
        let cluster = Cluster {
            shared,
            brokers: Mutex::new(brokers),
            stopped: Mutex::new(BTreeMap::new()),
        };
        cluster.wait_for_metadata().await?;
        Ok(cluster)
    }

    /// Start the cluster on a runtime of its own, for tests that are not async.
    pub fn build_blocking(self) -> Result<BlockingCluster, ClusterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kafkit-testbroker")
            .enable_all()
            .build()
            .map_err(ClusterError::Runtime)?;
        let cluster = runtime.block_on(self.build())?;
        Ok(BlockingCluster {
            cluster: Some(cluster),
            runtime: Some(runtime),
        })
    }
}

/// Topics found in a data directory from an earlier run (`<dir>/<broker>/<topic>-<partition>/`),
/// with the replica assignment their directories show. Topic configs are not kept on disk, so
/// recovered topics get the defaults.
fn recover_topics(dir: &std::path::Path, brokers: usize) -> Vec<NewTopic> {
    let mut found: BTreeMap<String, BTreeMap<i32, Vec<i32>>> = BTreeMap::new();
    for id in 1..=brokers as i32 {
        let Ok(entries) = std::fs::read_dir(dir.join(id.to_string())) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((topic, partition)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(partition) = partition.parse::<i32>() else {
                continue;
            };
            if crate::controller::validate_topic_name(topic).is_ok() && partition >= 0 {
                found
                    .entry(topic.to_string())
                    .or_default()
                    .entry(partition)
                    .or_default()
                    .push(id);
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(name, partitions)| {
            // Only complete topics: partitions 0..n, each with the same replication factor.
            let n = partitions.len() as i32;
            let rf = partitions.values().next()?.len();
            let complete =
                partitions.keys().copied().eq(0..n) && partitions.values().all(|r| r.len() == rf);
            complete.then(|| NewTopic {
                name,
                partitions: -1,
                replication_factor: -1,
                assignment: Some(partitions.into_values().collect()),
                configs: Vec::new(),
            })
        })
        .collect()
}

/// A running in-process Kafka cluster.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kafkit_testbroker::Cluster;
///
/// let cluster = Cluster::builder().brokers(3).topic("orders", 6, 3).build().await?;
/// let bootstrap = cluster.bootstrap_servers(); // "127.0.0.1:PORT,127.0.0.1:PORT,127.0.0.1:PORT"
/// assert_eq!(bootstrap.split(',').count(), 3);
/// cluster.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<ClusterShared>,
    brokers: Mutex<BTreeMap<i32, Broker>>,
    /// Stopped brokers: their state (replica logs) and last address, for a restart.
    stopped: Mutex<BTreeMap<i32, (Arc<BrokerState>, SocketAddr)>>,
}

impl Cluster {
    /// A builder with one broker, auto topic creation on, everything in memory.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// `host:port` of every running broker, comma-separated, for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers()
            .iter()
            .map(|b| b.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Id and address of every running broker.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        self.brokers
            .lock()
            .expect("brokers lock")
            .values()
            .map(|b| BrokerInfo {
                id: b.id(),
                addr: b.addr(),
            })
            .collect()
    }

    /// The address of broker `id`, if it is running.
    pub fn broker_addr(&self, id: i32) -> Option<SocketAddr> {
        self.brokers
            .lock()
            .expect("brokers lock")
            .get(&id)
            .map(Broker::addr)
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> String {
        self.shared.controller.image().cluster_id.clone()
    }

    /// The controller's current metadata image.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.shared.controller.image()
    }

    /// Create a topic (as CreateTopics would) and wait until every broker knows it.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<(), ClusterError> {
        self.create_topic_with(NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            ..NewTopic::default()
        })
        .await
    }

    /// Create a topic with configs or an explicit assignment, and wait until every broker
    /// knows it.
    pub async fn create_topic_with(&self, topic: NewTopic) -> Result<(), ClusterError> {
        self.shared.controller.create_topic(&topic, false)?;
        self.wait_for_metadata().await
    }

    /// Delete a topic (as DeleteTopics would) and wait until every broker knows.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClusterError> {
        self.shared.controller.delete_topic(name)?;
        self.wait_for_metadata().await
    }

    /// Wait until every running broker has applied the controller's latest metadata.
    pub async fn wait_for_metadata(&self) -> Result<(), ClusterError> {
        let timeout = Duration::from_secs(10);
        let version = self.shared.controller.image().version;
        if self.shared.wait_for_propagation(version, timeout).await {
            Ok(())
        } else {
            Err(ClusterError::PropagationTimeout(timeout))
        }
    }

    pub(crate) fn brokers_map(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Broker>> {
        self.brokers.lock().expect("brokers lock")
    }

    pub(crate) fn stopped_map(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<i32, (Arc<BrokerState>, SocketAddr)>> {
        self.stopped.lock().expect("stopped lock")
    }

    pub(crate) fn shared(&self) -> &Arc<ClusterShared> {
        &self.shared
    }

    /// Apply retention on every broker now; returns the number of segments deleted.
    pub fn enforce_retention(&self) -> usize {
        self.brokers
            .lock()
            .expect("brokers lock")
            .values()
            .map(|b| b.state().enforce_retention())
            .sum()
    }

    /// Stop every broker and wait for them to finish (logs are flushed).
    pub async fn shutdown(self) {
        let brokers = std::mem::take(&mut *self.brokers.lock().expect("brokers lock"));
        for (_, broker) in brokers {
            broker.shutdown(true).await;
        }
    }
}

/// A [`Cluster`] running on its own Tokio runtime, for synchronous tests.
///
/// ```
/// use kafkit_testbroker::Cluster;
///
/// let cluster = Cluster::builder().brokers(1).topic("events", 3, 1).build_blocking().unwrap();
/// assert!(cluster.bootstrap_servers().starts_with("127.0.0.1:"));
/// ```
#[derive(Debug)]
pub struct BlockingCluster {
    cluster: Option<Cluster>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BlockingCluster {
    /// The running cluster (its async methods can be driven with [`BlockingCluster::block_on`]).
    pub fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("cluster is running")
    }

    /// `bootstrap.servers` for the cluster.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster().bootstrap_servers()
    }

    /// Run a future on the cluster's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("runtime is running")
            .block_on(future)
    }

    /// Stop every broker and wait for them to finish.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let (Some(cluster), Some(runtime)) = (self.cluster.take(), self.runtime.as_ref()) {
            runtime.block_on(cluster.shutdown());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::ops::Deref for BlockingCluster {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        self.cluster()
    }
}

impl Drop for BlockingCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}

    #[tokio::test]
    async fn the_handle_is_send_and_sync_and_its_futures_can_be_spawned() {
        let cluster = Cluster::builder()
            .brokers(2)
            .topic("t", 2, 2)
            .build()
            .await
            .unwrap();
        send_sync(&cluster);
        let cluster = Arc::new(cluster);
        // The fault-injection futures hold no lock across an await, so they are Send.
        send(cluster.stop_broker(1));
        send(cluster.start_broker(1));
        send(cluster.isolate(2));
        send(cluster.wait_for_leader("t", 0, Duration::from_secs(1)));
        let spawned = tokio::spawn({
            let cluster = cluster.clone();
            async move {
                cluster
                    .wait_for_isr("t", 0, 2, Duration::from_secs(5))
                    .await
            }
        });
        assert_eq!(spawned.await.unwrap().unwrap().len(), 2);
    }

    #[test]
    fn many_blocking_clusters_run_at_once() {
        let clusters: Vec<BlockingCluster> = (0..4)
            .map(|_| Cluster::builder().brokers(3).build_blocking().unwrap())
            .collect();
        let mut addrs: Vec<String> = clusters.iter().map(|c| c.bootstrap_servers()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 4, "distinct ephemeral ports");
    }
}
