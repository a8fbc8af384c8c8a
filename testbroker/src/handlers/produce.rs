//! Produce: validate each partition's record batch, append it to the leader's log, and answer
//! once the requested acknowledgement holds (`acks=0`: no response at all, and the connection
//! is closed if the produce failed, as Kafka does so that the producer notices; `acks=1`: after
//! the leader's append; `acks=all`: once the high watermark passes the batch).
//!
//! Validation follows Kafka's `LogValidator`: exactly one v2 batch per partition, a valid CRC
//! (CORRUPT_MESSAGE otherwise), records that decode (INVALID_RECORD), the topic's
//! `max.message.bytes` (MESSAGE_TOO_LARGE), `message.timestamp.{before,after}.max.ms`
//! (INVALID_TIMESTAMP), and idempotent sequences (KIP-98). Transactions are not supported:
//! transactional batches are refused with INVALID_TXN_STATE, so a client finds out at once
//! rather than hanging.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafkit::messages::produce_response::{
    LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafkit::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafkit::protocol::ErrorCode;
use kafkit::record::{BatchIter, RecordBatch};

use super::RequestContext;
use crate::broker::now_ms;
use crate::broker::replica::Replica;
use crate::producer_state::{BatchMetadata, SequenceCheck};

/// Handle a Produce request; `None` for a successful `acks=0` produce, which gets no response.
/// A failed `acks=0` produce returns its response so that the caller closes the connection.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let image = ctx.broker.metadata();
    let now = now_ms();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (topic index, partition index, replica, offset the high watermark must reach)
    let mut waits = Vec::new();
    for topic in request.topic_data {
        // v13+ names topics by id.
        let name = if ctx.version() >= 13 {
            image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let outcome = match &name {
                None => Err((ErrorCode::UnknownTopicId, None)),
                Some(name) => {
                    if request.transactional_id.is_some() {
                        Err((
                            ErrorCode::InvalidTxnState,
                            Some("the test broker does not support transactions"),
                        ))
                    } else if !matches!(acks, -1..=1) {
                        Err((ErrorCode::InvalidRequiredAcks, None))
                    } else {
                        append(
                            ctx,
                            name,
                            data.index,
                            data.records.unwrap_or_default(),
                            acks,
                            now,
                        )
                    }
                }
            };
            match outcome {
                Ok(appended) => {
                    response.base_offset = appended.base_offset;
                    response.log_append_time_ms = appended.log_append_time_ms;
                    if ctx.version() >= 5 {
                        response.log_start_offset = appended.log_start_offset;
                    }
                    if let Some(replica) = appended.wait_for {
                        waits.push((
                            responses.len(),
                            partitions.len(),
                            replica,
                            appended.last_offset + 1,
                        ));
                    }
                }
                Err((code, message)) => {
                    response.error_code = code.code();
                    if ctx.version() >= 8 {
                        response.error_message = message.map(StrBytes::from_static_str);
                    }
                    if code == ErrorCode::NotLeaderOrFollower && ctx.version() >= 10 {
                        if let Some(p) =
                            name.as_deref().and_then(|n| image.partition(n, data.index))
                        {
                            response.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(p.leader))
                                .with_leader_epoch(p.leader_epoch);
                        }
                    }
                }
            }
            partitions.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        let failed = responses.iter().any(|t| {
            t.partition_responses
                .iter()
                .any(|p| p.error_code != ErrorCode::None.code())
        });
        return failed.then(|| ProduceResponse::default().with_responses(responses));
    }
    // acks=all: wait (without holding any lock) for the high watermark to pass each batch.
    if !waits.is_empty() {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = ctx.broker.subscribe_data();
        for (t, p, replica, required) in waits {
            let code = loop {
                let reached = {
                    let state = replica.lock();
                    if !state.is_leader {
                        Some(ErrorCode::NotLeaderOrFollower)
                    } else if state.log.high_watermark() >= required {
                        // Committed; but if the ISR shrank below min.insync.replicas meanwhile,
                        // the write is not as durable as asked (Kafka's check at completion).
                        if state.isr.len() < state.config.min_insync_replicas() {
                            Some(ErrorCode::NotEnoughReplicasAfterAppend)
                        } else {
                            Some(ErrorCode::None)
                        }
                    } else {
                        None
                    }
                };
                if let Some(code) = reached {
                    break code;
                }
                match tokio::time::timeout_at(deadline, changes.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => break ErrorCode::RequestTimedOut,
                }
            };
            if code != ErrorCode::None {
                responses[t].partition_responses[p].error_code = code.code();
            }
        }
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// A successful append.
struct Appended {
    base_offset: i64,
    last_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
    /// For `acks=all`, the replica whose high watermark must pass the batch.
    wait_for: Option<std::sync::Arc<Replica>>,
}

type Refusal = (ErrorCode, Option<&'static str>);

fn append(
    ctx: &RequestContext,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
    now: i64,
) -> Result<Appended, Refusal> {
    let image = ctx.broker.metadata();
    if image.partition(topic, partition).is_none() {
        return Err((ErrorCode::UnknownTopicOrPartition, None));
    }
    let Some(replica) = ctx.broker.replica(topic, partition) else {
        return Err((ErrorCode::NotLeaderOrFollower, None));
    };
    // Exactly one well-formed v2 batch.
    let mut batches = BatchIter::new(records.clone());
    let batch: RecordBatch = match batches.next() {
        Some(Ok(batch)) => batch,
        Some(Err(kafkit::record::RecordError::CrcMismatch { .. })) => {
            return Err((ErrorCode::CorruptMessage, Some("record batch CRC mismatch")));
        }
        Some(Err(_)) | None => {
            return Err((
                ErrorCode::InvalidRecord,
                Some("expected one valid record batch (magic 2)"),
            ));
        }
    };
    if batches.next().is_some() || batch.size_in_bytes() != records.len() {
        return Err((
            ErrorCode::InvalidRecord,
            Some("a produce request must hold exactly one record batch per partition"),
        ));
    }
    if batch.is_transactional() || batch.is_control() {
        return Err((
            ErrorCode::InvalidTxnState,
            Some("the test broker does not support transactions"),
        ));
    }

    let mut state = replica.lock();
    if !state.is_leader {
        return Err((ErrorCode::NotLeaderOrFollower, None));
    }
    if batch.size_in_bytes() > state.config.max_message_bytes() {
        return Err((ErrorCode::MessageTooLarge, None));
    }
    validate_records(&batch, &state.config, now)?;
    if acks == -1 && state.isr.len() < state.config.min_insync_replicas() {
        return Err((ErrorCode::NotEnoughReplicas, None));
    }
    let log_append_time = state.config.log_append_time();

    // Idempotence: sequence checks and duplicate detection.
    let producer_id = batch.producer_id();
    let idempotent = producer_id >= 0 && batch.base_sequence() >= 0;
    if idempotent {
        let check = state.producers.check(
            producer_id,
            batch.producer_epoch(),
            batch.base_sequence(),
            batch.last_sequence(),
        );
        match check {
            Err(code) => return Err((code, None)),
            Ok(SequenceCheck::Duplicate(original)) => {
                return Ok(Appended {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: if log_append_time {
                        original.timestamp
                    } else {
                        -1
                    },
                    log_start_offset: state.log.log_start_offset(),
                    wait_for: (acks == -1).then(|| replica.clone()),
                });
            }
            Ok(SequenceCheck::Append) => {}
        }
    }

    let leader_epoch = state.leader_epoch;
    let info = match state
        .log
        .append_as_leader(&batch, leader_epoch, log_append_time, now)
    {
        Ok(info) => info,
        Err(e) => {
            tracing::error!(%topic, partition, error = %e, "append failed");
            return Err((ErrorCode::KafkaStorageError, None));
        }
    };
    if idempotent {
        let timestamp = if info.log_append_time_ms >= 0 {
            info.log_append_time_ms
        } else {
            batch.max_timestamp()
        };
        state.producers.record(
            producer_id,
            batch.producer_epoch(),
            BatchMetadata {
                first_seq: batch.base_sequence(),
                last_seq: batch.last_sequence(),
                first_offset: info.base_offset,
                last_offset: info.last_offset,
                timestamp,
            },
        );
    }
    ctx.broker.after_leader_append(&mut state);
    let log_start_offset = state.log.log_start_offset();
    drop(state);
    ctx.broker.notify_data_changed();
    Ok(Appended {
        base_offset: info.base_offset,
        last_offset: info.last_offset,
        log_append_time_ms: info.log_append_time_ms,
        log_start_offset,
        wait_for: (acks == -1).then(|| replica.clone()),
    })
}

/// Decode every record (decompressing once) to check the batch is well formed, and check
/// timestamps against the topic's limits when the topic uses CreateTime.
fn validate_records(
    batch: &RecordBatch,
    config: &crate::config::TopicConfig,
    now: i64,
) -> Result<(), Refusal> {
    let invalid = (
        ErrorCode::InvalidRecord,
        Some("a record in the batch is malformed"),
    );
    let records = batch.records().map_err(|_| invalid)?;
    let check_time = !config.log_append_time();
    let number = |name: &str| {
        config
            .get(name)
            .and_then(|(v, _)| v.parse::<i64>().ok())
            .unwrap_or(i64::MAX)
    };
    let after_max = number("message.timestamp.after.max.ms");
    let before_max = number("message.timestamp.before.max.ms");
    let mut count = 0;
    for record in records {
        let record = record.map_err(|_| invalid)?;
        for header in record.headers.iter() {
            header.map_err(|_| invalid)?;
        }
        if check_time && record.timestamp >= 0 {
            let ahead = record.timestamp.saturating_sub(now);
            let behind = now.saturating_sub(record.timestamp);
            if ahead > after_max || behind > before_max {
                return Err((
                    ErrorCode::InvalidTimestamp,
                    Some("record timestamp is out of the topic's allowed range"),
                ));
            }
        }
        count += 1;
    }
    if count != batch.record_count() || count == 0 {
        return Err(invalid);
    }
    Ok(())
}
