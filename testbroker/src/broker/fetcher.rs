//! Follower replication: one fetcher task per (follower broker, leader broker) pair, pulling
//! the partitions this broker follows from that leader with real Fetch requests over the
//! leader's client listener (through `kafkit::net`), as Kafka's `ReplicaFetcherThread` does.
//!
//! Before fetching a partition whose leadership changed, the fetcher reconciles its log with the
//! leader's: it asks OffsetsForLeaderEpoch for its latest epoch and truncates to where that
//! epoch ends on the leader, walking back through epochs the leader never saw (KIP-101,
//! KIP-279). Then it appends what the leader returns, adopts the leader's high watermark (up to
//! its own log end) and log start offset, and keeps its producer state in step.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafkit::messages::fetch_request::{
    FetchPartition, FetchTopic, ReplicaState as FetchReplicaState,
};
use kafkit::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafkit::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafkit::net::{Connection, ConnectionConfig};
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchIter, RecordBatch};
use tokio::sync::watch;

use super::replica::{Replica, ReplicaState};
use super::{BrokerState, now_ms};
use crate::producer_state::{BatchMetadata, ProducerStateTable};
use crate::replication::truncation_point;

/// Bytes a follower asks for per partition (`replica.fetch.max.bytes`).
const REPLICA_FETCH_MAX_BYTES: i32 = 1 << 20;
/// Bytes a follower asks for per fetch (`replica.fetch.response.max.bytes`).
const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10 << 20;
/// Pause between attempts when the leader cannot be reached (`replica.fetch.backoff.ms`).
const FETCH_BACKOFF: Duration = Duration::from_millis(50);
/// Bound on the KIP-279 walk back through epochs.
const MAX_TRUNCATION_ROUNDS: usize = 64;

/// The client id a follower's fetcher uses; the fault injector recognises replication traffic
/// by it.
pub fn replica_client_id(follower: i32) -> String {
    format!("kafkit-testbroker-replica-{follower}")
}

/// Start fetcher tasks for leaders this broker follows partitions from and has none for yet.
pub(super) fn reconcile(state: &Arc<BrokerState>) {
    let mut leaders: Vec<i32> = state
        .replicas()
        .iter()
        .filter_map(|r| {
            let s = r.lock();
            (!s.is_leader && s.leader_id >= 0 && s.leader_id != state.id).then_some(s.leader_id)
        })
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    let mut running = state.fetchers.lock().expect("fetchers lock");
    running.retain(|_, handle| !handle.is_finished());
    for leader in leaders {
        if running.contains_key(&leader) {
            continue;
        }
        let task_state = state.clone();
        let stop = state.stop.subscribe();
        running.insert(leader, tokio::spawn(run(task_state, leader, stop)));
    }
}

/// The partitions this broker follows from `leader`.
fn followed(state: &BrokerState, leader: i32) -> Vec<Arc<Replica>> {
    state
        .replicas()
        .into_iter()
        .filter(|r| {
            let s = r.lock();
            !s.is_leader && s.leader_id == leader
        })
        .collect()
}

async fn run(state: Arc<BrokerState>, leader: i32, mut stop: watch::Receiver<bool>) {
    let mut connection: Option<Connection> = None;
    let mut metadata = state.applied_version.subscribe();
    let mut faults = state.cluster.faults.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let partitions = followed(&state, leader);
        if partitions.is_empty() {
            return;
        }
        // Wait out isolation and paused replication without spinning.
        if !state.cluster.faults.replication_allowed(state.id, leader) {
            connection = None;
            tokio::select! {
                _ = faults.changed() => {}
                _ = metadata.changed() => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let image = state.metadata();
        let Some(addr) = image.brokers.get(&leader).map(|b| b.address()) else {
            wait_for_change(&mut metadata, &mut stop).await;
            continue;
        };
        if connection
            .as_ref()
            .is_none_or(|c| c.is_closed() || c.addr() != addr)
        {
            let config = ConnectionConfig {
                client_id: Some(replica_client_id(state.id)),
                client_software_name: "kafkit-testbroker".into(),
                request_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(2),
                ..ConnectionConfig::default()
            };
            match Connection::connect(&addr, &config).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    tracing::debug!(broker = state.id, leader, error = %e, "cannot reach the leader");
                    backoff(&mut metadata, &mut stop).await;
                    continue;
                }
            }
        }
        let conn = connection.as_ref().expect("connected");

        // Reconcile logs after leadership changes, then fetch the rest.
        let mut ready = Vec::with_capacity(partitions.len());
        for replica in partitions {
            if replica.lock().needs_truncation {
                match truncate(&state, conn, &replica).await {
                    Ok(true) => ready.push(replica),
                    Ok(false) => {}
                    Err(()) => {
                        connection = None;
                        break;
                    }
                }
            } else {
                ready.push(replica);
            }
        }
        if connection.is_none() {
            backoff(&mut metadata, &mut stop).await;
            continue;
        }
        if ready.is_empty() {
            wait_for_change(&mut metadata, &mut stop).await;
            continue;
        }
        let conn = connection.as_ref().expect("connected");
        match fetch_once(&state, conn, leader, &ready).await {
            Ok(progress) => {
                if !progress {
                    // Every partition answered with an error: wait for new metadata.
                    tokio::select! {
                        _ = metadata.changed() => {}
                        _ = tokio::time::sleep(FETCH_BACKOFF) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(()) => {
                connection = None;
                backoff(&mut metadata, &mut stop).await;
            }
        }
    }
}

async fn wait_for_change(metadata: &mut watch::Receiver<u64>, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = metadata.changed() => {}
        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        _ = stop.changed() => {}
    }
}

async fn backoff(metadata: &mut watch::Receiver<u64>, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = metadata.changed() => {}
        _ = tokio::time::sleep(FETCH_BACKOFF) => {}
        _ = stop.changed() => {}
    }
}

/// Reconcile one partition's log with the leader's. `Ok(true)` when done, `Ok(false)` when the
/// leader refused (stale metadata: try again after the next image), `Err` on a broken
/// connection.
async fn truncate(state: &BrokerState, conn: &Connection, replica: &Replica) -> Result<bool, ()> {
    let (mut epoch, current_leader_epoch) = {
        let s = replica.lock();
        (s.log.epoch_cache().latest_epoch(), s.leader_epoch)
    };
    for _ in 0..MAX_TRUNCATION_ROUNDS {
        let Some(asked) = epoch else {
            // No epochs here at all: nothing was ever written, or only before epochs existed.
            let mut s = replica.lock();
            let hw = s.log.high_watermark();
            finish_truncation(state, replica, &mut s, hw);
            return Ok(true);
        };
        let request = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(state.id))
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(replica.tp.topic.clone())))
                    .with_partitions(vec![
                        OffsetForLeaderPartition::default()
                            .with_partition(replica.tp.partition)
                            .with_current_leader_epoch(current_leader_epoch)
                            .with_leader_epoch(asked),
                    ]),
            ]);
        let response = conn.send(request).await.map_err(|e| {
            tracing::debug!(broker = state.id, error = %e, "OffsetsForLeaderEpoch failed");
        })?;
        let Some(answer) = response.topics.first().and_then(|t| t.partitions.first()) else {
            return Ok(false);
        };
        if answer.error_code != 0 {
            tracing::debug!(broker = state.id, tp = %replica.tp, error = ?ErrorCode::from_code(answer.error_code), "OffsetsForLeaderEpoch refused");
            return Ok(false);
        }
        let mut s = replica.lock();
        if s.leader_epoch != current_leader_epoch || s.is_leader {
            return Ok(false);
        }
        let decision = truncation_point(
            answer.leader_epoch,
            answer.end_offset,
            s.log.end_offset_for_epoch(answer.leader_epoch),
            s.log.log_end_offset(),
            s.log.high_watermark(),
        );
        if decision.completed {
            finish_truncation(state, replica, &mut s, decision.truncate_to);
            return Ok(true);
        }
        if let Err(e) = s.log.truncate_to(decision.truncate_to, now_ms()) {
            tracing::error!(broker = state.id, tp = %replica.tp, error = %e, "truncation failed");
            return Ok(false);
        }
        epoch = s.log.epoch_cache().floor_epoch(answer.leader_epoch);
    }
    Ok(false)
}

fn finish_truncation(state: &BrokerState, replica: &Replica, s: &mut ReplicaState, offset: i64) {
    let before = s.log.log_end_offset();
    if let Err(e) = s.log.truncate_to(offset, now_ms()) {
        tracing::error!(broker = state.id, tp = %replica.tp, error = %e, "truncation failed");
        return;
    }
    if s.log.log_end_offset() < before {
        tracing::info!(broker = state.id, tp = %replica.tp, from = before, to = s.log.log_end_offset(), "follower truncated its log");
        s.producers = ProducerStateTable::rebuild(s.log.batch_headers());
        // Waiters on replica state (`wait_for_replicas_in_sync`) see the log shrink.
        state.notify_data_changed();
    }
    s.needs_truncation = false;
}

/// One Fetch to the leader for `replicas`. `Ok(true)` if at least one partition made progress
/// or is healthy, `Ok(false)` if all answered with errors, `Err` on a broken connection.
async fn fetch_once(
    state: &BrokerState,
    conn: &Connection,
    leader: i32,
    replicas: &[Arc<Replica>],
) -> Result<bool, ()> {
    let version = conn
        .versions()
        .version(kafkit::messages::ApiKey::Fetch)
        .map_err(|_| ())?;
    let image = state.metadata();
    let mut topics: Vec<FetchTopic> = Vec::new();
    for replica in replicas {
        let s = replica.lock();
        let partition = FetchPartition::default()
            .with_partition(replica.tp.partition)
            .with_current_leader_epoch(s.leader_epoch)
            .with_fetch_offset(s.log.log_end_offset())
            .with_last_fetched_epoch(if version >= 12 {
                s.log.epoch_cache().latest_epoch().unwrap_or(-1)
            } else {
                -1
            })
            .with_log_start_offset(s.log.log_start_offset())
            .with_partition_max_bytes(REPLICA_FETCH_MAX_BYTES);
        let topic_id = image
            .topic(&replica.tp.topic)
            .map(|t| t.id)
            .unwrap_or_default();
        match topics
            .iter_mut()
            .find(|t| t.topic.0.as_str() == replica.tp.topic)
        {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(replica.tp.topic.clone())))
                    .with_topic_id(topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(state.cluster.settings.replica_fetch_wait_max.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(REPLICA_FETCH_RESPONSE_MAX_BYTES)
        .with_topics(topics);
    if version >= 15 {
        request.replica_state = FetchReplicaState::default()
            .with_replica_id(BrokerId(state.id))
            .with_replica_epoch(-1);
    } else {
        request.replica_id = BrokerId(state.id);
    }
    let response = conn
        .send_with_version(request, version)
        .await
        .map_err(|e| {
            tracing::debug!(broker = state.id, error = %e, "replica fetch failed");
        })?;

    // Paused or cut off while the fetch was parked at the leader: what it brought is discarded,
    // as if the response had never arrived.
    if !state.cluster.faults.replication_allowed(state.id, leader) {
        return Ok(true);
    }
    let mut healthy = false;
    let mut changed = false;
    for topic in response.responses {
        let name = if version >= 13 {
            image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let Some(name) = name else { continue };
        for data in topic.partitions {
            let Some(replica) = replicas
                .iter()
                .find(|r| r.tp.topic == name && r.tp.partition == data.partition_index)
            else {
                continue;
            };
            let code = ErrorCode::from_code(data.error_code);
            tracing::trace!(broker = state.id, tp = %replica.tp, ?code, bytes = data.records.as_ref().map_or(0, Bytes::len), hw = data.high_watermark, "replica fetch partition");
            let mut s = replica.lock();
            if s.is_leader {
                continue;
            }
            match code {
                ErrorCode::None => {
                    healthy = true;
                    changed |=
                        append_fetched(state, replica, &mut s, data.records.unwrap_or_default());
                    let leo = s.log.log_end_offset();
                    let hw = data.high_watermark.min(leo);
                    if hw > s.log.high_watermark() {
                        s.log.set_high_watermark(hw);
                        changed = true;
                    }
                    if data.log_start_offset > s.log.log_start_offset() {
                        let target = data.log_start_offset.min(s.log.high_watermark());
                        if target > s.log.log_start_offset()
                            && s.log.delete_records_before(target).is_ok()
                        {
                            changed = true;
                        }
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    // Behind the leader's log start: start over there. Ahead of its end: reconcile.
                    let leo = s.log.log_end_offset();
                    if data.log_start_offset > leo {
                        let _ = s.log.reset_to(data.log_start_offset, now_ms());
                        s.producers = ProducerStateTable::default();
                        changed = true;
                    } else {
                        s.needs_truncation = true;
                    }
                }
                other => {
                    tracing::debug!(broker = state.id, tp = %replica.tp, error = ?other, "follower fetch refused");
                }
            }
        }
    }
    if changed {
        state.notify_data_changed();
    }
    Ok(healthy)
}

/// Append the batches of a fetch response that continue this log; returns whether anything was
/// appended.
fn append_fetched(
    state: &BrokerState,
    replica: &Replica,
    s: &mut ReplicaState,
    records: Bytes,
) -> bool {
    let mut appended = false;
    for batch in BatchIter::new(records) {
        let batch: RecordBatch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(broker = state.id, tp = %replica.tp, error = %e, "corrupt batch from the leader");
                break;
            }
        };
        let leo = s.log.log_end_offset();
        if batch.last_offset() < leo {
            continue;
        }
        if batch.base_offset() < leo {
            // A batch straddling our end cannot be appended whole; reconcile first.
            s.needs_truncation = true;
            break;
        }
        if let Err(e) = s.log.append_as_follower(&batch, now_ms()) {
            tracing::warn!(broker = state.id, tp = %replica.tp, error = %e, "follower append failed");
            s.needs_truncation = true;
            break;
        }
        if batch.producer_id() >= 0 && batch.base_sequence() >= 0 {
            s.producers.record(
                batch.producer_id(),
                batch.producer_epoch(),
                BatchMetadata {
                    first_seq: batch.base_sequence(),
                    last_seq: batch.last_sequence(),
                    first_offset: batch.base_offset(),
                    last_offset: batch.last_offset(),
                    timestamp: batch.max_timestamp(),
                },
            );
        }
        appended = true;
    }
    appended
}
