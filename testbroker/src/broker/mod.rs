//! One broker of the test cluster: its listener, its connections, the replicas it hosts and the
//! metadata image it last applied.
//!
//! A broker owns its replica logs outright. It learns about topics and leadership only from the
//! controller's published images (applied by its own task), so a broker that stops hearing the
//! controller keeps acting on stale metadata, as a real one would. Request handling lives in
//! [`crate::handlers`]; this module owns the lifecycle and the shared per-broker state.

mod connection;
pub(crate) mod replica;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::controller::Controller;
use crate::group::GroupCoordinator;
use crate::log::PartitionLog;
use crate::metadata::MetadataImage;
use crate::producer_state::ProducerStateTable;
use replica::{Replica, ReplicaState, TopicPartition};

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Settings shared by every broker of a cluster.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// The largest request frame accepted (`socket.request.max.bytes`).
    pub max_frame_size: usize,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Root directory for segment files (`<dir>/<broker>/<topic>-<partition>/`); in memory
    /// when `None`.
    pub data_dir: Option<PathBuf>,
    /// `message.max.bytes` for topics without their own `max.message.bytes`.
    pub message_max_bytes: usize,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval: Duration,
}

/// State shared by all brokers of one cluster (the in-process stand-ins for the controller
/// quorum and the replicated internal topics).
#[derive(Debug)]
pub struct ClusterShared {
    /// The controller.
    pub controller: Controller,
    /// Consumer group coordination (shared so that offsets survive a coordinator move, as
    /// the replicated `__consumer_offsets` topic makes them in Kafka).
    pub groups: GroupCoordinator,
    /// Next producer id handed out by InitProducerId.
    pub next_producer_id: AtomicI64,
    /// Broker settings.
    pub settings: BrokerSettings,
    /// Each running broker's last applied metadata version.
    pub applied: Mutex<HashMap<i32, watch::Receiver<u64>>>,
}

impl ClusterShared {
    /// Shared state for a cluster run by `controller`.
    pub fn new(controller: Controller, settings: BrokerSettings) -> ClusterShared {
        ClusterShared {
            controller,
            groups: GroupCoordinator::default(),
            next_producer_id: AtomicI64::new(1000),
            settings,
            applied: Mutex::new(HashMap::new()),
        }
    }

    /// Wait until every running broker has applied metadata `version` (or stopped), up to
    /// `timeout`. Returns whether they all did.
    pub async fn wait_for_propagation(&self, version: u64, timeout: Duration) -> bool {
        let receivers: Vec<watch::Receiver<u64>> = self
            .applied
            .lock()
            .expect("applied lock")
            .values()
            .cloned()
            .collect();
        let all = async move {
            for mut rx in receivers {
                // A stopped broker's sender is gone: nothing to wait for.
                let _ = rx.wait_for(|v| *v >= version).await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }
}

/// The state of one running broker, shared by its tasks and handlers.
#[derive(Debug)]
pub struct BrokerState {
    /// The broker id.
    pub id: i32,
    /// The cluster this broker belongs to.
    pub cluster: Arc<ClusterShared>,
    metadata: Mutex<Arc<MetadataImage>>,
    replicas: Mutex<HashMap<TopicPartition, Arc<Replica>>>,
    /// Bumped whenever any replica's log end offset or high watermark moves; long-poll fetches
    /// and `acks=all` produces wait on it.
    data_version: watch::Sender<u64>,
    /// The version of the last metadata image applied.
    applied_version: watch::Sender<u64>,
}

impl BrokerState {
    fn new(id: i32, cluster: Arc<ClusterShared>) -> BrokerState {
        let image = cluster.controller.image();
        BrokerState {
            id,
            cluster,
            metadata: Mutex::new(image),
            replicas: Mutex::new(HashMap::new()),
            data_version: watch::channel(0).0,
            applied_version: watch::channel(0).0,
        }
    }

    /// The metadata image this broker currently acts on.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.metadata.lock().expect("metadata lock").clone()
    }

    /// The replica of `topic`-`partition` hosted here, if any.
    pub fn replica(&self, topic: &str, partition: i32) -> Option<Arc<Replica>> {
        let key = TopicPartition::new(topic, partition);
        self.replicas
            .lock()
            .expect("replicas lock")
            .get(&key)
            .cloned()
    }

    /// Every replica hosted here.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.replicas
            .lock()
            .expect("replicas lock")
            .values()
            .cloned()
            .collect()
    }

    /// Advance what a leader append makes visible. Until follower replication lands, the
    /// leader's log end offset is the high watermark.
    pub fn after_leader_append(&self, state: &mut ReplicaState) {
        let leo = state.log.log_end_offset();
        state.log.set_high_watermark(leo);
    }

    /// Tell waiters that some replica's data or high watermark moved.
    pub fn notify_data_changed(&self) {
        self.data_version.send_modify(|v| *v += 1);
    }

    /// Subscribe to data changes (subscribe *before* checking the condition you wait for).
    pub fn subscribe_data(&self) -> watch::Receiver<u64> {
        self.data_version.subscribe()
    }

    /// Apply `retention.ms` / `retention.bytes` to every replica now. Returns the number of
    /// segments deleted.
    pub fn enforce_retention(&self) -> usize {
        let now = now_ms();
        let mut deleted = 0;
        for replica in self.replicas() {
            match replica.lock().log.apply_retention(now) {
                Ok(n) => deleted += n,
                Err(e) => {
                    tracing::warn!(broker = self.id, tp = %replica.tp, error = %e, "retention failed")
                }
            }
        }
        if deleted > 0 {
            self.notify_data_changed();
        }
        deleted
    }

    fn partition_dir(&self, tp: &TopicPartition) -> Option<PathBuf> {
        self.cluster
            .settings
            .data_dir
            .as_ref()
            .map(|d| d.join(self.id.to_string()).join(tp.to_string()))
    }

    /// Make this broker's replicas match `image`: create the replicas it now hosts, update
    /// leadership and configs, and drop (deleting their files) the ones it no longer hosts.
    fn apply_image(&self, image: Arc<MetadataImage>) {
        let now = now_ms();
        {
            let mut replicas = self.replicas.lock().expect("replicas lock");
            let mut hosted = std::collections::HashSet::new();
            for topic in image.topics.values() {
                for p in &topic.partitions {
                    if !p.replicas.contains(&self.id) {
                        continue;
                    }
                    let tp = TopicPartition::new(topic.name.clone(), p.partition);
                    hosted.insert(tp.clone());
                    let replica = match replicas.get(&tp) {
                        Some(r) => r.clone(),
                        None => {
                            let dir = self.partition_dir(&tp);
                            let log_config = topic.config.log_config();
                            let log = match dir {
                                Some(dir) => PartitionLog::open(dir, log_config, now),
                                None => PartitionLog::create(None, log_config, now),
                            };
                            let log = match log {
                                Ok(log) => log,
                                Err(e) => {
                                    tracing::error!(broker = self.id, %tp, error = %e, "cannot open replica log");
                                    continue;
                                }
                            };
                            let producers = ProducerStateTable::rebuild(log.batch_headers());
                            let replica = Arc::new(Replica::new(
                                tp.clone(),
                                ReplicaState {
                                    log,
                                    producers,
                                    leader_id: -1,
                                    leader_epoch: -1,
                                    is_leader: false,
                                    config: topic.config.clone(),
                                },
                            ));
                            replicas.insert(tp.clone(), replica.clone());
                            replica
                        }
                    };
                    let mut state = replica.lock();
                    state.config = topic.config.clone();
                    state.log.set_config(topic.config.log_config());
                    state.leader_id = p.leader;
                    state.leader_epoch = p.leader_epoch;
                    state.is_leader = p.leader == self.id;
                    if state.is_leader {
                        // Until follower replication lands, the leader's log is the committed log.
                        let leo = state.log.log_end_offset();
                        state.log.set_high_watermark(leo);
                    }
                }
            }
            let gone: Vec<TopicPartition> = replicas
                .keys()
                .filter(|tp| !hosted.contains(*tp))
                .cloned()
                .collect();
            for tp in gone {
                replicas.remove(&tp);
                if let Some(dir) = self.partition_dir(&tp) {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
        let version = image.version;
        *self.metadata.lock().expect("metadata lock") = image;
        self.applied_version.send_replace(version);
        self.notify_data_changed();
    }
}

/// A running broker: its address and the tasks serving it.
#[derive(Debug)]
pub struct Broker {
    state: Arc<BrokerState>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Broker {
    /// Start a broker on an already bound listener.
    pub fn start(
        id: i32,
        listener: TcpListener,
        cluster: Arc<ClusterShared>,
    ) -> std::io::Result<Broker> {
        let addr = listener.local_addr()?;
        let state = Arc::new(BrokerState::new(id, cluster));
        state
            .cluster
            .applied
            .lock()
            .expect("applied lock")
            .insert(id, state.applied_version.subscribe());
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();

        // Apply metadata images as the controller publishes them.
        let mut images = state.cluster.controller.subscribe();
        state.apply_image(images.borrow_and_update().clone());
        let applier = state.clone();
        let mut stop = shutdown.subscribe();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    changed = images.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let image = images.borrow_and_update().clone();
                        applier.apply_image(image);
                    }
                    _ = stop.changed() => break,
                }
            }
        });

        // Apply retention periodically.
        let retainer = state.clone();
        let mut stop = shutdown.subscribe();
        let interval = state.cluster.settings.retention_check_interval;
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        retainer.enforce_retention();
                    }
                    _ = stop.changed() => break,
                }
            }
        });

        // Accept connections.
        let acceptor = state.clone();
        let stop = shutdown.subscribe();
        tasks.spawn(connection::accept_loop(listener, acceptor, stop));
        Ok(Broker {
            state,
            addr,
            shutdown,
            tasks,
        })
    }

    /// The broker id.
    pub fn id(&self) -> i32 {
        self.state.id
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its shared state.
    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Stop accepting, close every connection and wait for the broker's tasks to end. Logs are
    /// flushed.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        while self.tasks.join_next().await.is_some() {}
        for replica in self.state.replicas() {
            let _ = replica.lock().log.flush();
        }
    }

    /// Ask the broker's tasks to stop without waiting.
    pub fn signal_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

/// Next producer id (InitProducerId).
pub fn allocate_producer_id(cluster: &ClusterShared) -> i64 {
    cluster.next_producer_id.fetch_add(1, Ordering::Relaxed)
}
