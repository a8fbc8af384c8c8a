//! One broker of the test cluster: its listener, its connections, the replicas it hosts and the
//! metadata image it last applied.
//!
//! A broker owns its replica logs outright. It learns about topics and leadership only from the
//! controller's published images (applied by its own task), so a broker that stops hearing the
//! controller keeps acting on stale metadata, as a real one would. Request handling lives in
//! [`crate::handlers`]; this module owns the lifecycle and the shared per-broker state.

mod connection;
pub(crate) mod fetcher;
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
use crate::faults::Faults;
use crate::group::GroupCoordinator;
use crate::log::PartitionLog;
use crate::metadata::MetadataImage;
use crate::producer_state::ProducerStateTable;
use crate::replication::LeaderProgress;
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
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max: Duration,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max: Duration,
    /// How often logs are flushed (what a crash does not lose).
    pub flush_interval: Duration,
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
    /// Fault injection state.
    pub faults: Faults,
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
            faults: Faults::default(),
        }
    }

    /// Wait until every running broker has applied metadata `version` (or stopped), up to
    /// `timeout`. Returns whether they all did.
    pub async fn wait_for_propagation(&self, version: u64, timeout: Duration) -> bool {
        // An isolated broker (or one holding its metadata) does not hear the controller:
        // nothing to wait for there.
        let receivers: Vec<watch::Receiver<u64>> = self
            .applied
            .lock()
            .expect("applied lock")
            .iter()
            .filter(|(id, _)| self.faults.applies_metadata(**id))
            .map(|(_, rx)| rx.clone())
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
    /// Set to stop the broker's tasks (listener, connections, fetchers, timers).
    stop: watch::Sender<bool>,
    /// Running replica fetcher tasks, by leader broker id.
    fetchers: Mutex<HashMap<i32, tokio::task::JoinHandle<()>>>,
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
            stop: watch::channel(false).0,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    /// The version of the last metadata image this broker applied.
    pub fn applied_version(&self) -> u64 {
        *self.applied_version.borrow()
    }

    /// Flush every replica log (what a later crash keeps).
    pub fn flush_logs(&self) {
        for replica in self.replicas() {
            if let Err(e) = replica.lock().log.flush() {
                tracing::warn!(broker = self.id, tp = %replica.tp, error = %e, "flush failed");
            }
        }
    }

    /// A crash: every replica log loses what was appended since its last flush, and the broker
    /// forgets its roles (it restarts as a follower of whoever leads).
    pub fn lose_unflushed_data(&self) {
        let now = now_ms();
        for replica in self.replicas() {
            let mut s = replica.lock();
            let flushed = s.log.flushed_offset();
            if flushed < s.log.log_end_offset() {
                tracing::info!(broker = self.id, tp = %replica.tp, from = s.log.log_end_offset(), to = flushed, "crash loses unflushed records");
                if let Err(e) = s.log.truncate_to(flushed, now) {
                    tracing::error!(broker = self.id, tp = %replica.tp, error = %e, "crash truncation failed");
                }
                s.producers = ProducerStateTable::rebuild(s.log.batch_headers());
            }
        }
    }

    /// With a data directory, forget the in-memory replicas so that a restart reopens (and
    /// recovers) every log from its files, as a restarted Kafka broker does.
    pub fn drop_replicas_for_reload(&self) {
        if self.cluster.settings.data_dir.is_some() {
            self.replicas.lock().expect("replicas lock").clear();
        }
    }

    /// Forget leadership before a restart: the metadata the broker applies next decides its
    /// roles afresh, and every follower reconciles its log with the leader first.
    fn reset_roles(&self) {
        for replica in self.replicas() {
            let mut s = replica.lock();
            s.is_leader = false;
            s.leader_id = -1;
            s.leader_epoch = -1;
            s.leader_progress = None;
            s.needs_truncation = true;
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

    /// Take on the leadership and ISR an image gives a partition: become leader (new
    /// follower tracking, the new epoch recorded at the log end) or follower (reconcile with
    /// the new leader before fetching) when the leader or its epoch changed.
    fn apply_partition_state(
        &self,
        state: &mut ReplicaState,
        p: &crate::metadata::PartitionMetadata,
        now: i64,
    ) {
        let was_leader = state.is_leader;
        let epoch_changed = state.leader_epoch != p.leader_epoch;
        state.replicas = p.replicas.clone();
        state.isr = p.isr.clone();
        if epoch_changed || p.leader != self.id {
            state.pending_isr.clear();
        } else {
            state.pending_isr.retain(|id| !p.isr.contains(id));
        }
        state.leader_id = p.leader;
        state.leader_epoch = p.leader_epoch;
        state.is_leader = p.leader == self.id;
        if state.is_leader && (!was_leader || epoch_changed || state.leader_progress.is_none()) {
            let followers = p.replicas.iter().copied().filter(|&id| id != self.id);
            state.leader_progress = Some(LeaderProgress::new(followers, now));
            let leo = state.log.log_end_offset();
            state.leader_epoch_start_offset = leo;
            state.needs_truncation = false;
            if let Err(e) = state.log.assign_epoch_start_offset(p.leader_epoch, leo) {
                tracing::error!(broker = self.id, error = %e, "cannot record the leader epoch");
            }
            tracing::debug!(
                broker = self.id,
                epoch = p.leader_epoch,
                leo,
                "became leader"
            );
        } else if !state.is_leader && (was_leader || epoch_changed) {
            state.leader_progress = None;
            state.needs_truncation = true;
        }
        self.update_high_watermark(state);
    }

    /// As leader: move the high watermark to the smallest log end offset over the ISR.
    /// Returns whether it moved.
    pub fn update_high_watermark(&self, state: &mut ReplicaState) -> bool {
        let Some(progress) = &state.leader_progress else {
            return false;
        };
        let current = state.log.high_watermark();
        let new = progress.high_watermark(
            self.id,
            state.log.log_end_offset(),
            &state.isr,
            &state.pending_isr,
            current,
        );
        if new != current {
            state.log.set_high_watermark(new);
            return true;
        }
        false
    }

    /// As leader at `leader_epoch`: ask the controller to take `follower` back into the ISR.
    pub fn expand_isr(&self, topic: &str, partition: i32, leader_epoch: i32, follower: i32) {
        let change = crate::controller::IsrChange::Add(follower);
        match self
            .cluster
            .controller
            .alter_isr(topic, partition, self.id, leader_epoch, change)
        {
            Ok(p) => {
                tracing::debug!(broker = self.id, %topic, partition, follower, isr = ?p.isr, "ISR expanded")
            }
            Err(e) => {
                tracing::debug!(broker = self.id, %topic, partition, follower, error = %e, "ISR expansion refused");
                if let Some(replica) = self.replica(topic, partition) {
                    let mut state = replica.lock();
                    if state.leader_epoch == leader_epoch {
                        state.pending_isr.retain(|&id| id != follower);
                    }
                }
            }
        }
    }

    /// As leader: drop followers that have not caught up within `replica.lag.time.max.ms`.
    pub fn shrink_isrs(&self) {
        let now = now_ms();
        let lag_max = self.cluster.settings.replica_lag_time_max.as_millis() as i64;
        for replica in self.replicas() {
            let (lagging, epoch) = {
                let state = replica.lock();
                let Some(progress) = &state.leader_progress else {
                    continue;
                };
                (
                    progress.lagging(self.id, &state.isr, now, lag_max),
                    state.leader_epoch,
                )
            };
            if lagging.is_empty() {
                continue;
            }
            let change = crate::controller::IsrChange::Remove(lagging.clone());
            match self.cluster.controller.alter_isr(
                &replica.tp.topic,
                replica.tp.partition,
                self.id,
                epoch,
                change,
            ) {
                Ok(p) => {
                    tracing::info!(broker = self.id, tp = %replica.tp, removed = ?lagging, isr = ?p.isr, "ISR shrunk")
                }
                Err(e) => {
                    tracing::debug!(broker = self.id, tp = %replica.tp, error = %e, "ISR shrink refused")
                }
            }
        }
    }

    /// After a leader append: with an ISR of the leader alone, the append is committed at once.
    pub fn after_leader_append(&self, state: &mut ReplicaState) {
        self.update_high_watermark(state);
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
                    // A topic deleted and re-created between two images this broker applied
                    // keeps its name but not its id: its old replica (and files) must go.
                    if replicas.get(&tp).is_some_and(|r| r.topic_id != topic.id) {
                        replicas.remove(&tp);
                        if let Some(dir) = self.partition_dir(&tp) {
                            let _ = std::fs::remove_dir_all(dir);
                        }
                    }
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
                                topic.id,
                                ReplicaState {
                                    log,
                                    producers,
                                    leader_id: -1,
                                    leader_epoch: -1,
                                    is_leader: false,
                                    config: topic.config.clone(),
                                    replicas: Vec::new(),
                                    isr: Vec::new(),
                                    pending_isr: Vec::new(),
                                    leader_progress: None,
                                    leader_epoch_start_offset: 0,
                                    needs_truncation: true,
                                },
                            ));
                            replicas.insert(tp.clone(), replica.clone());
                            replica
                        }
                    };
                    let mut state = replica.lock();
                    state.config = topic.config.clone();
                    state.log.set_config(topic.config.log_config());
                    self.apply_partition_state(&mut state, p, now);
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

/// Work a broker repeats on a timer.
type PeriodicJob = fn(&BrokerState);

/// A running broker: its address and the tasks serving it.
#[derive(Debug)]
pub struct Broker {
    state: Arc<BrokerState>,
    addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl Broker {
    /// Start a new broker on an already bound listener.
    pub fn start(
        id: i32,
        listener: TcpListener,
        cluster: Arc<ClusterShared>,
    ) -> std::io::Result<Broker> {
        Broker::start_with_state(Arc::new(BrokerState::new(id, cluster)), listener)
    }

    /// (Re)start a broker with the state it had (its replica logs survive a restart).
    pub fn start_with_state(
        state: Arc<BrokerState>,
        listener: TcpListener,
    ) -> std::io::Result<Broker> {
        let addr = listener.local_addr()?;
        let id = state.id;
        state.stop.send_replace(false);
        state.reset_roles();
        state
            .cluster
            .applied
            .lock()
            .expect("applied lock")
            .insert(id, state.applied_version.subscribe());
        let mut tasks = JoinSet::new();

        // Apply metadata images as the controller publishes them, unless cut off from it.
        let mut images = state.cluster.controller.subscribe();
        state.apply_image(images.borrow_and_update().clone());
        fetcher::reconcile(&state);
        let applier = state.clone();
        let mut stop = state.stop.subscribe();
        let mut faults = state.cluster.faults.subscribe();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    changed = images.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    _ = faults.changed() => {}
                    _ = stop.changed() => break,
                }
                let latest = images.borrow_and_update().clone();
                if !applier.cluster.faults.applies_metadata(applier.id) {
                    continue;
                }
                if latest.version > applier.applied_version() {
                    applier.apply_image(latest);
                }
                fetcher::reconcile(&applier);
            }
        });

        // Periodic work: retention, ISR shrinking, log flushes.
        let settings = &state.cluster.settings;
        let lag_check = (settings.replica_lag_time_max / 4).max(Duration::from_millis(20));
        let jobs: [(Duration, PeriodicJob); 3] = [
            (settings.retention_check_interval, |s| {
                s.enforce_retention();
            }),
            (lag_check, BrokerState::shrink_isrs),
            (settings.flush_interval, BrokerState::flush_logs),
        ];
        for (interval, job) in jobs {
            let worker = state.clone();
            let mut stop = state.stop.subscribe();
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.tick().await;
                loop {
                    tokio::select! {
                        _ = ticks.tick() => job(&worker),
                        _ = stop.changed() => break,
                    }
                }
            });
        }

        // Accept connections.
        let acceptor = state.clone();
        let stop = state.stop.subscribe();
        tasks.spawn(connection::accept_loop(listener, acceptor, stop));
        Ok(Broker { state, addr, tasks })
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

    /// Stop accepting, close every connection, stop replicating, and wait for the broker's
    /// tasks to end. With `flush`, logs are flushed first (a clean shutdown); without, they are
    /// left as they are (for a crash).
    pub async fn shutdown(mut self, flush: bool) -> Arc<BrokerState> {
        self.signal_shutdown();
        while self.tasks.join_next().await.is_some() {}
        let fetchers: Vec<_> = self
            .state
            .fetchers
            .lock()
            .expect("fetchers lock")
            .drain()
            .map(|(_, h)| h)
            .collect();
        for handle in fetchers {
            let _ = handle.await;
        }
        if flush {
            self.state.flush_logs();
        }
        self.state
            .cluster
            .applied
            .lock()
            .expect("applied lock")
            .remove(&self.state.id);
        self.state.clone()
    }

    /// Ask the broker's tasks to stop without waiting.
    pub fn signal_shutdown(&self) {
        self.state.stop.send_replace(true);
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
