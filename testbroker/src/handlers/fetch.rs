//! Fetch: read batches from the leader's log below the high watermark, long-polling up to
//! `max_wait_ms` until `min_bytes` are available.
//!
//! Limits: `max_bytes` for the whole response and `partition_max_bytes` per partition, except
//! that the first batch of the first partition with data is returned whole even when larger
//! (KIP-74), so a consumer never gets stuck. Leader epochs are checked (KIP-320:
//! FENCED_LEADER_EPOCH for a stale `current_leader_epoch`, UNKNOWN_LEADER_EPOCH for a newer
//! one). Fetch sessions (KIP-227) are not kept: every response has session id 0, which tells
//! clients to send full fetches. With no transactions, the last stable offset is the high
//! watermark for both isolation levels.
//!
//! A fetch with a replica id (a follower's) is how replication works: the leader learns the
//! follower's log end offset from the fetch offset, moves the high watermark, lets a caught-up
//! follower back into the ISR, and answers with records up to its log end offset (not only the
//! high watermark) plus the high watermark for the follower to adopt.

use std::time::Duration;

use bytes::Bytes;
use kafkit::messages::fetch_response::{FetchableTopicResponse, LeaderIdAndEpoch, PartitionData};
use kafkit::messages::{BrokerId, FetchRequest, FetchResponse};
use kafkit::protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;
use crate::log::LogError;

/// One partition to read, resolved from the request.
struct Wanted {
    topic_index: usize,
    partition: i32,
    topic: Option<String>,
    fetch_offset: i64,
    partition_max_bytes: usize,
    current_leader_epoch: i32,
}

/// Handle a Fetch request.
pub(crate) async fn handle(ctx: &RequestContext, request: FetchRequest) -> FetchResponse {
    let version = ctx.version();
    let image = ctx.broker.metadata();
    let mut wanted = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let name = if version >= 13 {
            image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        for p in &topic.partitions {
            wanted.push(Wanted {
                topic_index,
                partition: p.partition,
                topic: name.clone(),
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: p.current_leader_epoch,
            });
        }
    }
    let replica_id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    if replica_id >= 0 {
        register_follower_fetch(ctx, replica_id, &wanted);
    }
    let max_bytes = if request.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        request.max_bytes as usize
    };
    let min_bytes = request.min_bytes.max(0) as usize;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);

    // Subscribe before reading so an append between the read and the wait is not missed.
    let mut changes = ctx.broker.subscribe_data();
    let mut first_high_watermarks: Option<Vec<i64>> = None;
    let results = loop {
        let results: Vec<PartitionData> = read_all(ctx, &wanted, max_bytes, replica_id);
        let bytes: usize = results
            .iter()
            .map(|p| p.records.as_ref().map_or(0, Bytes::len))
            .sum();
        let any_error = results.iter().any(|p| p.error_code != 0);
        if bytes >= min_bytes.max(1) || any_error || wanted.is_empty() {
            break results;
        }
        // A follower's parked fetch also returns when a high watermark moves, so followers
        // learn what is committed at once rather than at the end of the wait: a follower that
        // becomes leader then starts from an up-to-date high watermark.
        let high_watermarks: Vec<i64> = results.iter().map(|p| p.high_watermark).collect();
        match &first_high_watermarks {
            None => first_high_watermarks = Some(high_watermarks),
            Some(first)
                if replica_id >= 0
                    && high_watermarks
                        .iter()
                        .zip(first)
                        .any(|(now, then)| now > then) =>
            {
                break results;
            }
            Some(_) => {}
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => continue,
            _ => break read_all(ctx, &wanted, max_bytes, replica_id),
        }
    };

    let mut topics: Vec<FetchableTopicResponse> = request
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
        })
        .collect();
    for (w, data) in wanted.iter().zip(results) {
        topics[w.topic_index].partitions.push(data);
    }
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
}

/// A follower fetched: record its progress, move high watermarks, and let caught-up followers
/// back into the ISR (through the controller, after the replica locks are released).
fn register_follower_fetch(ctx: &RequestContext, follower: i32, wanted: &[Wanted]) {
    let now = now_ms();
    let mut joins = Vec::new();
    let mut moved = false;
    for w in wanted {
        let Some(topic) = &w.topic else { continue };
        let Some(replica) = ctx.broker.replica(topic, w.partition) else {
            continue;
        };
        let mut state = replica.lock();
        if !state.is_leader || !state.replicas.contains(&follower) {
            continue;
        }
        if w.current_leader_epoch >= 0 && w.current_leader_epoch != state.leader_epoch {
            continue;
        }
        let leo = state.log.log_end_offset();
        if w.fetch_offset > leo {
            continue;
        }
        if let Some(progress) = state.leader_progress.as_mut() {
            progress.on_follower_fetch(follower, w.fetch_offset, leo, now);
        }
        tracing::trace!(
            broker = ctx.broker.id,
            follower,
            fetch_offset = w.fetch_offset,
            leo,
            "follower fetch"
        );
        moved |= ctx.broker.update_high_watermark(&mut state);
        let hw = state.log.high_watermark();
        let ready = state
            .leader_progress
            .as_ref()
            .map(|p| {
                p.ready_to_join(
                    &state.isr,
                    &state.pending_isr,
                    hw,
                    state.leader_epoch_start_offset,
                )
            })
            .unwrap_or_default();
        if ready.contains(&follower) {
            // From now on the high watermark waits for this follower too, before the
            // controller is even asked (it may make the follower leader at once).
            state.pending_isr.push(follower);
            joins.push((topic.clone(), w.partition, state.leader_epoch));
        }
    }
    if moved {
        ctx.broker.notify_data_changed();
    }
    for (topic, partition, epoch) in joins {
        ctx.broker.expand_isr(&topic, partition, epoch, follower);
    }
}

fn read_all(
    ctx: &RequestContext,
    wanted: &[Wanted],
    max_bytes: usize,
    replica_id: i32,
) -> Vec<PartitionData> {
    let mut remaining = max_bytes;
    let mut first_with_data = true;
    wanted
        .iter()
        .map(|w| {
            let data = read_one(ctx, w, remaining, first_with_data, replica_id);
            let n = data.records.as_ref().map_or(0, Bytes::len);
            if n > 0 {
                first_with_data = false;
                remaining = remaining.saturating_sub(n);
            }
            data
        })
        .collect()
}

fn read_one(
    ctx: &RequestContext,
    w: &Wanted,
    remaining: usize,
    first_with_data: bool,
    replica_id: i32,
) -> PartitionData {
    let mut data = PartitionData::default()
        .with_partition_index(w.partition)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()));
    let error = |mut d: PartitionData, code: ErrorCode| {
        d.error_code = code.code();
        d
    };
    let Some(topic) = &w.topic else {
        return error(data, ErrorCode::UnknownTopicId);
    };
    let image = ctx.broker.metadata();
    let Some(meta) = image.partition(topic, w.partition) else {
        return error(data, ErrorCode::UnknownTopicOrPartition);
    };
    let Some(replica) = ctx.broker.replica(topic, w.partition) else {
        return error(data, ErrorCode::NotLeaderOrFollower);
    };
    let state = replica.lock();
    if !state.is_leader {
        if ctx.version() >= 12 {
            data.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(meta.leader))
                .with_leader_epoch(meta.leader_epoch);
        }
        return error(data, ErrorCode::NotLeaderOrFollower);
    }
    if w.current_leader_epoch >= 0 {
        if w.current_leader_epoch < state.leader_epoch {
            return error(data, ErrorCode::FencedLeaderEpoch);
        }
        if w.current_leader_epoch > state.leader_epoch {
            return error(data, ErrorCode::UnknownLeaderEpoch);
        }
    }
    if replica_id >= 0 && !state.replicas.contains(&replica_id) {
        return error(data, ErrorCode::NotLeaderOrFollower);
    }
    let high_watermark = state.log.high_watermark();
    data.high_watermark = high_watermark;
    data.last_stable_offset = high_watermark;
    if ctx.version() >= 5 {
        data.log_start_offset = state.log.log_start_offset();
    }
    // Consumers read up to the high watermark (asking beyond it, within the log, is not out of
    // range: nothing is committed there yet); followers read up to the log end offset.
    let max_offset = if replica_id >= 0 {
        state.log.log_end_offset()
    } else {
        high_watermark
    };
    let limit = w.partition_max_bytes.min(remaining);
    if w.fetch_offset > max_offset && w.fetch_offset <= state.log.log_end_offset() {
        return data;
    }
    match state
        .log
        .read(w.fetch_offset, limit, max_offset, first_with_data)
    {
        Ok(records) => {
            data.records = Some(records);
            data
        }
        Err(LogError::OffsetOutOfRange { .. }) => error(data, ErrorCode::OffsetOutOfRange),
        Err(e) => {
            tracing::error!(%topic, partition = w.partition, error = %e, "read failed");
            error(data, ErrorCode::KafkaStorageError)
        }
    }
}
