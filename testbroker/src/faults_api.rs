//! The fault injection and inspection API of [`Cluster`]: stop, crash, restart and isolate
//! brokers, pause replication, move leaders, intercept requests, and wait for replication
//! conditions with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafkit::messages::ApiKey;
use kafkit::protocol::ErrorCode;
use tokio::net::TcpListener;

use crate::broker::{Broker, BrokerState};
use crate::cluster::{Cluster, ClusterError};
use crate::faults::{FaultAction, FaultMatch, FaultRule, RequestRecord};
use crate::metadata::{MetadataImage, PartitionMetadata};

/// How one broker sees one of its partition replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// The broker hosting the replica.
    pub broker: i32,
    /// Whether the broker believes it leads the partition.
    pub is_leader: bool,
    /// The leader epoch the broker knows.
    pub leader_epoch: i32,
    /// The replica's log start offset.
    pub log_start_offset: i64,
    /// The replica's log end offset.
    pub log_end_offset: i64,
    /// The replica's high watermark.
    pub high_watermark: i64,
}

impl Cluster {
    fn running(&self, id: i32) -> Option<Arc<BrokerState>> {
        self.brokers_map().get(&id).map(|b| b.state().clone())
    }

    /// Stop broker `id` cleanly (its logs are flushed and kept for [`Cluster::start_broker`]);
    /// the controller fails its leaderships over to the ISR. Returns once every running broker
    /// knows.
    pub async fn stop_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.take_down(id, true).await
    }

    /// Crash broker `id`: like [`Cluster::stop_broker`], but each of its replica logs also
    /// loses what was appended since its last flush (see
    /// [`ClusterBuilder::flush_interval`](crate::ClusterBuilder::flush_interval)).
    pub async fn crash_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.take_down(id, false).await
    }

    async fn take_down(&self, id: i32, clean: bool) -> Result<(), ClusterError> {
        let broker = self
            .brokers_map()
            .remove(&id)
            .ok_or_else(|| ClusterError::InvalidSettings(format!("broker {id} is not running")))?;
        let addr = broker.addr();
        let state = broker.shutdown(clean).await;
        if !clean {
            state.lose_unflushed_data();
        }
        state.drop_replicas_for_reload();
        self.stopped_map().insert(id, (state, addr));
        self.shared().controller.broker_down(id);
        self.wait_for_metadata().await
    }

    /// Restart a stopped or crashed broker with the logs it kept, on its old port when free.
    /// It rejoins as a follower of every partition (leading again once preferred-leader
    /// election gives a partition back).
    pub async fn start_broker(&self, id: i32) -> Result<(), ClusterError> {
        let (state, old) = self
            .stopped_map()
            .remove(&id)
            .ok_or_else(|| ClusterError::InvalidSettings(format!("broker {id} is not stopped")))?;
        let listener = match TcpListener::bind(old).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(SocketAddr::new(old.ip(), 0))
                .await
                .map_err(|source| ClusterError::Bind {
                    broker: id,
                    addr: old.to_string(),
                    source,
                })?,
        };
        let addr = listener.local_addr().map_err(|source| ClusterError::Bind {
            broker: id,
            addr: old.to_string(),
            source,
        })?;
        let broker =
            Broker::start_with_state(state, listener).map_err(|source| ClusterError::Bind {
                broker: id,
                addr: addr.to_string(),
                source,
            })?;
        self.brokers_map().insert(id, broker);
        let mut registration = self.metadata().brokers.get(&id).cloned().ok_or_else(|| {
            ClusterError::InvalidSettings(format!("broker {id} was never registered"))
        })?;
        registration.port = addr.port();
        self.shared().controller.broker_up(registration);
        self.wait_for_metadata().await
    }

    /// Cut broker `id` off from the controller and its peers (clients can still reach it): it
    /// keeps acting on its last metadata, so as a stale leader it still accepts `acks=1` writes
    /// that the new leader never sees and that are truncated after [`Cluster::heal`]. The
    /// controller fails its leaderships over as for a stopped broker.
    pub async fn isolate(&self, id: i32) -> Result<(), ClusterError> {
        self.isolate_inner(id, false).await
    }

    /// Like [`Cluster::isolate`], and clients are cut off too (connections closed, new ones
    /// refused).
    pub async fn isolate_with_clients(&self, id: i32) -> Result<(), ClusterError> {
        self.isolate_inner(id, true).await
    }

    async fn isolate_inner(&self, id: i32, clients: bool) -> Result<(), ClusterError> {
        if self.running(id).is_none() {
            return Err(ClusterError::InvalidSettings(format!(
                "broker {id} is not running"
            )));
        }
        self.shared().faults.isolate(id, clients);
        self.shared().controller.broker_down(id);
        self.wait_for_metadata().await
    }

    /// Reconnect every isolated broker: the controller takes it back, it learns the current
    /// metadata, and as a follower truncates whatever it wrote while cut off.
    pub async fn heal(&self) -> Result<(), ClusterError> {
        let image = self.metadata();
        for id in self.shared().faults.heal() {
            if let Some(registration) = image.brokers.get(&id) {
                self.shared().controller.broker_up(registration.clone());
            }
        }
        self.wait_for_metadata().await
    }

    /// Broker `id` stops applying new metadata (a broker slow to learn of changes): it keeps
    /// serving clients and replicating on what it last knew, e.g. leading a partition the
    /// controller has already given to another broker, until [`Cluster::release_metadata`].
    /// Waits for metadata propagation skip it meanwhile.
    pub fn hold_metadata(&self, id: i32) {
        self.shared().faults.hold_metadata(id);
    }

    /// Broker `id` applies metadata again, catching up with the latest image at once.
    pub fn release_metadata(&self, id: i32) {
        self.shared().faults.release_metadata(id);
    }

    /// Stop `follower` from fetching from its leaders (it falls out of the ISR after
    /// `replica.lag.time.max.ms`).
    pub fn pause_replication(&self, follower: i32) {
        self.shared().faults.pause_replication(follower);
    }

    /// Let `follower` fetch again.
    pub fn resume_replication(&self, follower: i32) {
        self.shared().faults.resume_replication(follower);
    }

    /// Move the leadership of a partition to `broker` (a live ISR member), bumping the epoch.
    pub async fn move_leader(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<(), ClusterError> {
        self.shared()
            .controller
            .move_leader(topic, partition, broker)?;
        self.wait_for_metadata().await
    }

    /// Add a request interception rule.
    pub fn inject(&self, rule: FaultRule) {
        self.shared().faults.add_rule(rule);
    }

    /// Answer the next `count` requests of `api` (on any broker) with `code`.
    pub fn inject_error(&self, api: ApiKey, code: ErrorCode, count: u32) {
        self.inject(FaultRule {
            matcher: FaultMatch {
                api: Some(api),
                ..FaultMatch::default()
            },
            action: FaultAction::Error(code),
            remaining: Some(count),
        });
    }

    /// Hold every response to `api` for `delay` until [`Cluster::clear_faults`].
    pub fn delay_responses(&self, api: ApiKey, delay: Duration) {
        self.inject(FaultRule {
            matcher: FaultMatch {
                api: Some(api),
                ..FaultMatch::default()
            },
            action: FaultAction::Delay(delay),
            remaining: None,
        });
    }

    /// Close the connection of the next `count` requests of `api` instead of answering.
    pub fn drop_connections(&self, api: ApiKey, count: u32) {
        self.inject(FaultRule {
            matcher: FaultMatch {
                api: Some(api),
                ..FaultMatch::default()
            },
            action: FaultAction::DropConnection,
            remaining: Some(count),
        });
    }

    /// Remove every interception rule.
    pub fn clear_faults(&self) {
        self.shared().faults.clear_rules();
    }

    /// The requests the brokers received (the newest 10,000), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared().faults.request_log()
    }

    /// How each running broker that hosts it sees a partition replica.
    pub fn replica_info(&self, topic: &str, partition: i32) -> Vec<ReplicaInfo> {
        let brokers: Vec<Arc<BrokerState>> = self
            .brokers_map()
            .values()
            .map(|b| b.state().clone())
            .collect();
        brokers
            .into_iter()
            .filter_map(|b| {
                let replica = b.replica(topic, partition)?;
                let s = replica.lock();
                Some(ReplicaInfo {
                    broker: b.id,
                    is_leader: s.is_leader,
                    leader_epoch: s.leader_epoch,
                    log_start_offset: s.log.log_start_offset(),
                    log_end_offset: s.log.log_end_offset(),
                    high_watermark: s.log.high_watermark(),
                })
            })
            .collect()
    }

    /// The raw record batches of a partition replica on a running broker from `from` up to
    /// (not including) `until`, for comparing replica logs byte for byte.
    pub fn replica_records(
        &self,
        broker: i32,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
    ) -> Option<Bytes> {
        let state = self.running(broker)?;
        let replica = state.replica(topic, partition)?;
        let s = replica.lock();
        let mut out = bytes::BytesMut::new();
        let mut offset = from.max(s.log.log_start_offset());
        while offset < until {
            let chunk = s.log.read(offset, 1 << 20, until, true).ok()?;
            if chunk.is_empty() {
                break;
            }
            let mut next = offset;
            for batch in kafkit::record::BatchIter::new(chunk.clone()) {
                next = batch.ok()?.next_offset();
            }
            out.extend_from_slice(&chunk);
            offset = next;
        }
        Some(out.freeze())
    }

    /// Wait until `condition` holds for the controller's metadata, up to `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        condition: impl Fn(&MetadataImage) -> bool,
    ) -> Result<(), ClusterError> {
        let mut rx = self.shared().controller.subscribe();
        let wait = rx.wait_for(|image| condition(image));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ClusterError::Timeout(format!(
                "metadata condition not met within {timeout:?}"
            ))),
        }
    }

    /// Wait until the partition has a leader every running broker knows of; returns its id.
    pub async fn wait_for_leader(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<i32, ClusterError> {
        self.wait_until(timeout, |image| {
            image
                .partition(topic, partition)
                .is_some_and(|p| p.leader >= 0)
        })
        .await?;
        self.wait_for_metadata().await?;
        Ok(self.partition(topic, partition).map_or(-1, |p| p.leader))
    }

    /// Wait until the partition's ISR has exactly `size` members.
    pub async fn wait_for_isr(
        &self,
        topic: &str,
        partition: i32,
        size: usize,
        timeout: Duration,
    ) -> Result<Vec<i32>, ClusterError> {
        self.wait_until(timeout, |image| {
            image
                .partition(topic, partition)
                .is_some_and(|p| p.isr.len() == size)
        })
        .await?;
        self.wait_for_metadata().await?;
        Ok(self
            .partition(topic, partition)
            .map(|p| p.isr)
            .unwrap_or_default())
    }

    /// Wait until the partition's leader has a high watermark of at least `offset`.
    pub async fn wait_for_high_watermark(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.wait_for_replicas(timeout, || {
            self.replica_info(topic, partition)
                .iter()
                .any(|r| r.is_leader && r.high_watermark >= offset)
        })
        .await
    }

    /// Wait until every running replica of the partition has caught up with the leader: the
    /// same log end offset and high watermark.
    pub async fn wait_for_replicas_in_sync(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.wait_for_replicas(timeout, || {
            let infos = self.replica_info(topic, partition);
            let Some(leader) = infos.iter().find(|r| r.is_leader) else {
                return false;
            };
            infos.iter().all(|r| {
                r.log_end_offset == leader.log_end_offset
                    && r.high_watermark == leader.high_watermark
            })
        })
        .await
    }

    /// Wait (re-checking whenever any running broker's data or metadata moves) until
    /// `condition` holds.
    async fn wait_for_replicas(
        &self,
        timeout: Duration,
        condition: impl Fn() -> bool,
    ) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut watches: Vec<_> = self
                .brokers_map()
                .values()
                .map(|b| b.state().subscribe_data())
                .collect();
            if condition() {
                return Ok(());
            }
            let any = async {
                let futures: Vec<_> = watches.iter_mut().map(|w| Box::pin(w.changed())).collect();
                if futures.is_empty() {
                    std::future::pending::<()>().await;
                }
                let _ = futures_select(futures).await;
            };
            if tokio::time::timeout_at(deadline, any).await.is_err() {
                return if condition() {
                    Ok(())
                } else {
                    Err(ClusterError::Timeout(format!(
                        "replica condition not met within {timeout:?}"
                    )))
                };
            }
        }
    }

    fn partition(&self, topic: &str, partition: i32) -> Option<PartitionMetadata> {
        self.metadata().partition(topic, partition).cloned()
    }
}

/// Wait for the first of several futures (a tiny `select_all`).
async fn futures_select<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> F::Output {
    std::future::poll_fn(move |cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(out);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
