//! The sans-IO half of the per-broker produce sink: Produce request and response shapes, and
//! what to do with each batch once its partition's response is known.
//!
//! Owns: building one `ProduceRequest` from the batches drained for one broker
//! ([`build_produce_request`], [`encoded_size`]), turning a `ProduceResponse` into one
//! [`PartitionOutcome`] per partition that was sent ([`interpret_produce_response`]), and the
//! retry decision of Java's `Sender.completeBatch` / `canRetry` for non-idempotent batches
//! ([`classify`]). Must not touch: sockets, connections, correlation ids, tokio, timers or
//! clocks (the caller says whether the delivery timeout has passed), the accumulator's queues,
//! metadata fetching, and idempotence bookkeeping (that is
//! [`crate::producer::idempotence::IdempotenceState`]'s). The async half (tasks, pipelining,
//! `max.in.flight.requests.per.connection`, back-off timers) drives these functions.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use kafkit::messages::{ProduceResponse, produce_response::*};
//! use kafkit::producer::accumulator::{AccumulatorConfig, RecordAccumulator, TopicPartition};
//! use kafkit::producer::sink::*;
//!
//! let mut acc = RecordAccumulator::<()>::new(AccumulatorConfig::default());
//! let tp = TopicPartition::new("events", 0);
//! let now = Instant::now();
//! acc.append(&tp, 1_700_000_000_000, None, Some(b"v"), &[], (), now)?;
//! acc.close();
//! let batches = acc.drain(1, &[tp.clone()], 1 << 20, now);
//!
//! let request = build_produce_request(&batches, -1, Duration::from_secs(30), 9, |_| None)?;
//! assert_eq!(request.topic_data.len(), 1);
//! assert!(encoded_size(&request, 9)? > batches[0].records().unwrap().len());
//!
//! // The broker's answer, interpreted per partition and classified.
//! let response = ProduceResponse::default().with_responses(vec![
//!     TopicProduceResponse::default()
//!         .with_name(request.topic_data[0].name.clone())
//!         .with_partition_responses(vec![PartitionProduceResponse::default().with_base_offset(42)]),
//! ]);
//! let sent = [tp.clone()];
//! let outcomes = interpret_produce_response(&response, 9, &sent, |_| None);
//! assert_eq!(outcomes[0].0, tp);
//! let ctx = RetryContext { record_count: 1, attempts: 0, retries: i32::MAX as u32,
//!                          delivery_timeout_passed: false, idempotent: false };
//! assert!(matches!(classify(&outcomes[0].1, ctx), BatchAction::Complete { base_offset: 42, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

use crate::producer::accumulator::{ProducerBatch, TopicPartition};
use crate::protocol::ErrorCode;

/// The lowest Produce version kafkit speaks (Kafka 4.0 removed v0-v2, KIP-896).
pub const MIN_PRODUCE_VERSION: i16 = 3;
/// The highest Produce version kafkit speaks (v13 names topics by id, KIP-516).
pub const MAX_PRODUCE_VERSION: i16 = 13;
/// The first Produce version that names topics by `topic_id` instead of `name`.
pub const TOPIC_ID_PRODUCE_VERSION: i16 = 13;

/// The message given to a partition that was sent but is absent from the response.
pub const MISSING_PARTITION_MESSAGE: &str = "partition missing from the produce response";

/// Why a Produce request could not be built.
///
/// ```
/// use kafkit::producer::sink::SinkError;
/// let e = SinkError::UnknownTopicId { topic: "t".into() };
/// assert!(e.to_string().contains("topic id"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Produce v13+ names topics by id and the metadata has none for this topic.
    #[error("no topic id known for topic {topic:?} (Produce v13+ needs one)")]
    UnknownTopicId {
        /// The topic.
        topic: String,
    },
    /// Two batches of one partition in one request (the broker accepts at most one).
    #[error("more than one batch for partition {partition} in one produce request")]
    DuplicatePartition {
        /// The partition.
        partition: TopicPartition,
    },
    /// A batch has no sealed bytes (still open, or sealing failed).
    #[error("batch for partition {partition} is not sealed")]
    BatchNotSealed {
        /// The partition.
        partition: TopicPartition,
    },
    /// The Produce version is outside what kafkit speaks.
    #[error(
        "produce version {version} is not supported (supported: {MIN_PRODUCE_VERSION}-{MAX_PRODUCE_VERSION})"
    )]
    UnsupportedVersion {
        /// The version asked for.
        version: i16,
    },
    /// The request could not be sized (a field too large for its wire type).
    #[error("produce request cannot be encoded: {0}")]
    Encode(String),
}

fn check_version(version: i16) -> Result<(), SinkError> {
    if (MIN_PRODUCE_VERSION..=MAX_PRODUCE_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(SinkError::UnsupportedVersion { version })
    }
}

/// Builds one Produce request from the batches drained for one broker.
///
/// Batches of one topic are grouped into one `TopicProduceData`, topics in the order their first
/// batch appears, partitions in batch order. `records` is a zero-copy clone of each sealed batch.
/// The topic `name` is always set; for `version >= 13` `topic_id` is set too (from `topic_ids`,
/// else [`SinkError::UnknownTopicId`]); the encoder writes only the field its version has.
/// `acks` is `0`, `1` or `-1` (the caller expects no response at all for `0`); `timeout` is
/// `request.timeout.ms`, saturated to `i32::MAX` milliseconds. The request is not
/// transactional.
///
/// Fails with [`SinkError::DuplicatePartition`] when two batches share a partition and with
/// [`SinkError::BatchNotSealed`] when a batch has no bytes (see
/// [`ProducerBatch::error`]).
///
/// ```
/// use std::time::{Duration, Instant};
/// use kafkit::producer::accumulator::{AccumulatorConfig, RecordAccumulator, TopicPartition};
/// use kafkit::producer::sink::{build_produce_request, SinkError};
/// use uuid::Uuid;
///
/// let mut acc = RecordAccumulator::<()>::new(AccumulatorConfig::default());
/// let now = Instant::now();
/// for p in [1, 0] {
///     acc.append(&TopicPartition::new("t", p), 0, None, Some(b"v"), &[], (), now)?;
/// }
/// acc.close();
/// let tps = [TopicPartition::new("t", 1), TopicPartition::new("t", 0)];
/// let batches = acc.drain(1, &tps, 1 << 20, now);
///
/// let id = Uuid::from_u128(7);
/// let req = build_produce_request(&batches, 1, Duration::from_millis(1500), 13, |_| Some(id))?;
/// assert_eq!((req.acks, req.timeout_ms), (1, 1500));
/// assert_eq!(req.topic_data[0].topic_id, id);
/// assert_eq!(req.topic_data[0].partition_data.len(), 2);
/// assert_eq!(
///     build_produce_request(&batches, 1, Duration::ZERO, 13, |_| None),
///     Err(SinkError::UnknownTopicId { topic: "t".into() })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build_produce_request<C>(
    batches: &[ProducerBatch<C>],
    acks: i16,
    timeout: Duration,
    version: i16,
    topic_ids: impl Fn(&str) -> Option<Uuid>,
) -> Result<ProduceRequest, SinkError> {
    check_version(version)?;
    let mut topic_data: Vec<TopicProduceData> = Vec::new();
    let mut topic_index: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashSet<&TopicPartition> = HashSet::with_capacity(batches.len());
    for batch in batches {
        let tp = batch.topic_partition();
        if !seen.insert(tp) {
            return Err(SinkError::DuplicatePartition {
                partition: tp.clone(),
            });
        }
        let Some(records) = batch.records() else {
            return Err(SinkError::BatchNotSealed {
                partition: tp.clone(),
            });
        };
        let index = match topic_index.get(&*tp.topic) {
            Some(&i) => i,
            None => {
                let mut topic = TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.to_string())));
                if version >= TOPIC_ID_PRODUCE_VERSION {
                    let id = topic_ids(&tp.topic).ok_or_else(|| SinkError::UnknownTopicId {
                        topic: tp.topic.to_string(),
                    })?;
                    topic.topic_id = id;
                }
                topic_data.push(topic);
                topic_index.insert(&tp.topic, topic_data.len() - 1);
                topic_data.len() - 1
            }
        };
        topic_data[index].partition_data.push(
            PartitionProduceData::default()
                .with_index(tp.partition)
                .with_records(Some(records.clone())),
        );
    }
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    Ok(ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topic_data))
}

/// The exact encoded size of a Produce request body at `version` (without the size prefix and
/// request header, which add a few dozen bytes: 4 + 10 + the client id). The caller compares
/// it with `max.request.size`.
///
/// ```
/// use kafkit::messages::ProduceRequest;
/// use kafkit::producer::sink::encoded_size;
/// // transactional_id (null, 2) + acks (2) + timeout (4) + empty array (4)
/// assert_eq!(encoded_size(&ProduceRequest::default(), 3)?, 12);
/// # Ok::<(), kafkit::producer::sink::SinkError>(())
/// ```
pub fn encoded_size(request: &ProduceRequest, version: i16) -> Result<usize, SinkError> {
    check_version(version)?;
    request
        .compute_size(version)
        .map_err(|e| SinkError::Encode(format!("{e:#}")))
}

/// What a Produce response said about one partition.
///
/// ```
/// use kafkit::producer::sink::PartitionOutcome;
/// use kafkit::protocol::ErrorCode;
/// let ok = PartitionOutcome::Success { base_offset: 5, log_append_time_ms: -1, log_start_offset: 0 };
/// assert_eq!(ok.error_code(), ErrorCode::None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionOutcome {
    /// The batch was written.
    Success {
        /// The offset of the batch's first record.
        base_offset: i64,
        /// The broker's append time when the topic uses LogAppendTime, else -1.
        log_append_time_ms: i64,
        /// The partition's log start offset (v5+; -1 if unknown).
        log_start_offset: i64,
    },
    /// The broker rejected the batch, or did not answer for the partition
    /// ([`ErrorCode::UnknownServerError`] with [`MISSING_PARTITION_MESSAGE`]).
    Error {
        /// The partition's error code.
        code: ErrorCode,
        /// The broker's message (v8+).
        message: Option<String>,
        /// Per-record errors: batch index and message (v8+, KIP-467).
        record_errors: Vec<(i32, Option<String>)>,
        /// The new leader id and epoch the broker pointed to (v10+, KIP-951); `None` when the
        /// broker sent none (-1).
        current_leader: Option<(i32, i32)>,
        /// The partition's log start offset (v5+; -1 if unknown). Idempotence needs it for
        /// `UNKNOWN_PRODUCER_ID`.
        log_start_offset: i64,
    },
}

impl PartitionOutcome {
    /// The outcome's error code ([`ErrorCode::None`] for a success).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            PartitionOutcome::Success { .. } => ErrorCode::None,
            PartitionOutcome::Error { code, .. } => *code,
        }
    }

    fn missing() -> Self {
        PartitionOutcome::Error {
            code: ErrorCode::UnknownServerError,
            message: Some(MISSING_PARTITION_MESSAGE.to_string()),
            record_errors: Vec::new(),
            current_leader: None,
            log_start_offset: -1,
        }
    }
}

/// Interprets a Produce response: one outcome per partition in `sent`, in `sent` order.
/// `sent` lists each partition once, as the request did ([`build_produce_request`] refuses
/// duplicates).
///
/// Topics are matched by `name` before v13 and by `topic_id` (resolved with
/// `topic_names_by_id`) from v13. A partition that was sent but is missing from the response
/// (or whose topic id cannot be resolved) gets `Error { code: UNKNOWN_SERVER_ERROR, message:
/// MISSING_PARTITION_MESSAGE }`: not retriable, because the broker may or may not have written
/// it; idempotent producers hand it to `IdempotenceState::on_error`, which fails it and bumps
/// the epoch. A partition in the response that was not sent is ignored with a warning; if a
/// partition appears twice, the first answer counts. Fields the version does not carry keep the
/// decoder's defaults (`-1`, empty, `None`).
///
/// ```
/// use kafkit::messages::{ProduceResponse, produce_response::*};
/// use kafkit::producer::accumulator::TopicPartition;
/// use kafkit::producer::sink::{interpret_produce_response, PartitionOutcome};
/// use kafkit::protocol::ErrorCode;
///
/// let response = ProduceResponse::default();
/// let sent = [TopicPartition::new("t", 0)];
/// let outcomes = interpret_produce_response(&response, 9, &sent, |_| None);
/// assert_eq!(outcomes[0].1.error_code(), ErrorCode::UnknownServerError);
/// ```
pub fn interpret_produce_response(
    response: &ProduceResponse,
    version: i16,
    sent: &[TopicPartition],
    topic_names_by_id: impl Fn(Uuid) -> Option<String>,
) -> Vec<(TopicPartition, PartitionOutcome)> {
    let index: HashMap<(&str, i32), usize> = sent
        .iter()
        .enumerate()
        .map(|(i, tp)| ((&*tp.topic, tp.partition), i))
        .collect();
    let mut outcomes: Vec<Option<PartitionOutcome>> = vec![None; sent.len()];
    for topic in &response.responses {
        let name: String = if version >= TOPIC_ID_PRODUCE_VERSION {
            match topic_names_by_id(topic.topic_id) {
                Some(name) => name,
                None => {
                    tracing::warn!(topic_id = %topic.topic_id, "produce response names an unknown topic id; ignored");
                    continue;
                }
            }
        } else {
            topic.name.0.to_string()
        };
        for p in &topic.partition_responses {
            let Some(&i) = index.get(&(name.as_str(), p.index)) else {
                tracing::warn!(topic = %name, partition = p.index, "produce response for a partition that was not sent; ignored");
                continue;
            };
            let slot = &mut outcomes[i];
            if slot.is_some() {
                tracing::warn!(topic = %name, partition = p.index, "partition answered twice in one produce response; first answer kept");
                continue;
            }
            let code = ErrorCode::from_code(p.error_code);
            *slot = Some(if code.is_ok() {
                PartitionOutcome::Success {
                    base_offset: p.base_offset,
                    log_append_time_ms: p.log_append_time_ms,
                    log_start_offset: p.log_start_offset,
                }
            } else {
                let leader = &p.current_leader;
                PartitionOutcome::Error {
                    code,
                    message: p.error_message.as_ref().map(|m| m.to_string()),
                    record_errors: p
                        .record_errors
                        .iter()
                        .map(|r| {
                            (
                                r.batch_index,
                                r.batch_index_error_message.as_ref().map(|m| m.to_string()),
                            )
                        })
                        .collect(),
                    current_leader: (leader.leader_id.0 >= 0 && leader.leader_epoch >= 0)
                        .then_some((leader.leader_id.0, leader.leader_epoch)),
                    log_start_offset: p.log_start_offset,
                }
            });
        }
    }
    sent.iter()
        .zip(outcomes)
        .map(|(tp, outcome)| {
            let outcome = outcome.unwrap_or_else(|| {
                tracing::warn!(partition = %tp, "{MISSING_PARTITION_MESSAGE}");
                PartitionOutcome::missing()
            });
            (tp.clone(), outcome)
        })
        .collect()
}

/// Whether an error means the client's metadata is stale and must be refreshed before the
/// retry: exactly the codes whose Java exception extends `InvalidMetadataException`
/// (`NOT_LEADER_OR_FOLLOWER`, `UNKNOWN_TOPIC_OR_PARTITION`, `LEADER_NOT_AVAILABLE`,
/// `REPLICA_NOT_AVAILABLE`, `NETWORK_EXCEPTION`, `KAFKA_STORAGE_ERROR`, `FENCED_LEADER_EPOCH`,
/// `UNKNOWN_LEADER_EPOCH`, `LISTENER_NOT_FOUND`, `UNKNOWN_TOPIC_ID`, `INCONSISTENT_TOPIC_ID`),
/// as Java's `Sender.completeBatch` does. `NOT_ENOUGH_REPLICAS(_AFTER_APPEND)` and
/// `REQUEST_TIMED_OUT` are retriable but say nothing about leadership, so they do not.
///
/// ```
/// use kafkit::producer::sink::needs_metadata_refresh;
/// use kafkit::protocol::ErrorCode;
/// assert!(needs_metadata_refresh(ErrorCode::NotLeaderOrFollower));
/// assert!(!needs_metadata_refresh(ErrorCode::RequestTimedOut));
/// ```
pub fn needs_metadata_refresh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::NetworkException
            | ErrorCode::KafkaStorageError
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::ListenerNotFound
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
    )
}

/// What [`classify`] needs to know about the batch besides its outcome.
///
/// ```
/// use kafkit::producer::sink::RetryContext;
/// let ctx = RetryContext { record_count: 10, attempts: 2, retries: i32::MAX as u32,
///                          delivery_timeout_passed: false, idempotent: false };
/// # let _ = ctx;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryContext {
    /// Records in the batch.
    pub record_count: i32,
    /// Retries so far ([`ProducerBatch::attempts`]).
    pub attempts: u32,
    /// The `retries` setting (default `i32::MAX`).
    pub retries: u32,
    /// Whether `delivery.timeout.ms` has passed since the batch was created.
    pub delivery_timeout_passed: bool,
    /// Whether the batch carries idempotence state (see [`classify`]).
    pub idempotent: bool,
}

/// Why a batch failed for good.
///
/// ```
/// use kafkit::producer::sink::ProduceError;
/// use kafkit::protocol::ErrorCode;
/// let e = ProduceError::Broker { code: ErrorCode::TopicAuthorizationFailed, message: None, record_errors: vec![] };
/// assert!(e.to_string().contains("TOPIC_AUTHORIZATION_FAILED"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker rejected the batch with a non-retriable error (a single record too large
    /// gets `MESSAGE_TOO_LARGE` here). With `INVALID_RECORD`, `record_errors` names the
    /// offending records (batch index, message); the others failed only for sharing a batch.
    #[error("broker rejected the batch with {} ({}){}", code.name(), code.code(), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The error code.
        code: ErrorCode,
        /// The broker's message.
        message: Option<String>,
        /// Per-record errors (batch index, message).
        record_errors: Vec<(i32, Option<String>)>,
    },
    /// A retriable error, but `delivery.timeout.ms` has passed.
    #[error("delivery timeout expired; last error: {code}")]
    DeliveryTimeout {
        /// The last error the broker returned.
        code: ErrorCode,
    },
    /// A retriable error, but the batch was retried `retries` times already.
    #[error("retries exhausted after {attempts} attempts; last error: {code}")]
    RetriesExhausted {
        /// The last error the broker returned.
        code: ErrorCode,
        /// Retries made.
        attempts: u32,
    },
}

/// What the sender does with a batch after its partition's response.
///
/// ```
/// use kafkit::producer::sink::BatchAction;
/// let a = BatchAction::Retry { refresh_metadata: true };
/// assert!(a.refresh_metadata());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAction {
    /// The batch is done: complete every record (record `i` has offset `base_offset + i`).
    /// `base_offset` is -1 after `DUPLICATE_SEQUENCE_NUMBER`, as in Java: the broker has the
    /// batch but no longer remembers where.
    Complete {
        /// The first record's offset, or -1 when unknown.
        base_offset: i64,
        /// LogAppendTime, or -1 (then each record keeps its create time).
        log_append_time_ms: i64,
        /// The partition's log start offset, or -1.
        log_start_offset: i64,
    },
    /// Re-enqueue the batch for a retry after a back-off.
    Retry {
        /// Request a metadata update first (see [`needs_metadata_refresh`]).
        refresh_metadata: bool,
    },
    /// `MESSAGE_TOO_LARGE` on several records: split the batch and re-enqueue the parts.
    Split,
    /// Fail every record of the batch.
    Fail {
        /// Why.
        error: ProduceError,
        /// Request a metadata update anyway (the error was a stale-metadata one).
        refresh_metadata: bool,
    },
    /// An idempotent batch got an error: the caller must not use this table but ask
    /// `IdempotenceState` (see [`classify`]).
    Idempotent {
        /// Request a metadata update (see [`needs_metadata_refresh`]).
        refresh_metadata: bool,
        /// Neither the delivery timeout nor `retries` rules out another attempt.
        may_retry: bool,
    },
}

impl BatchAction {
    /// Whether the sender must request a metadata update.
    pub fn refresh_metadata(&self) -> bool {
        match self {
            BatchAction::Retry { refresh_metadata }
            | BatchAction::Fail {
                refresh_metadata, ..
            }
            | BatchAction::Idempotent {
                refresh_metadata, ..
            } => *refresh_metadata,
            BatchAction::Complete { .. } | BatchAction::Split => false,
        }
    }
}

/// Decides what happens to a batch given its partition's outcome: Java's
/// `Sender.completeBatch` and `canRetry` for a producer without idempotence, in Java's order:
///
/// 1. Success → [`BatchAction::Complete`].
/// 2. `MESSAGE_TOO_LARGE` on more than one record → [`BatchAction::Split`] (whatever the time
///    left, as Java); on one record it fails (`Broker { code: MESSAGE_TOO_LARGE }`).
/// 3. A retriable error with attempts left (`attempts < retries`) and the delivery timeout not
///    passed → [`BatchAction::Retry`], refreshing metadata for the stale-metadata errors
///    ([`needs_metadata_refresh`]).
/// 4. `DUPLICATE_SEQUENCE_NUMBER` → `Complete { base_offset: -1, log_append_time_ms: -1 }`
///    (Java completes the batch with offset and timestamp unknown).
/// 5. Otherwise → [`BatchAction::Fail`]: [`ProduceError::DeliveryTimeout`] or
///    [`ProduceError::RetriesExhausted`] for a retriable error out of time or attempts,
///    [`ProduceError::Broker`] (with the message and record errors) for the rest. The
///    metadata refresh is still requested for stale-metadata errors, as Java.
///
/// **Idempotent batches** (`ctx.idempotent`): a success is still `Complete`; an error gives
/// [`BatchAction::Idempotent`] and the caller must decide with
/// `IdempotenceState::on_error_with_log_start_offset` (which owns splits, duplicates, epoch
/// bumps and fatal errors): when `may_retry`, follow its `Decision`; when not, a retriable
/// error leaves the outcome unknown, so fail the batch with a timeout and report it with
/// `IdempotenceState::on_unresolved`, and a non-retriable one goes to `on_error` as usual.
///
/// ```
/// use kafkit::producer::sink::*;
/// use kafkit::protocol::ErrorCode;
/// let outcome = PartitionOutcome::Error { code: ErrorCode::NotLeaderOrFollower, message: None,
///     record_errors: vec![], current_leader: Some((2, 7)), log_start_offset: -1 };
/// let ctx = RetryContext { record_count: 3, attempts: 0, retries: i32::MAX as u32,
///                          delivery_timeout_passed: false, idempotent: false };
/// assert_eq!(classify(&outcome, ctx), BatchAction::Retry { refresh_metadata: true });
/// let late = RetryContext { delivery_timeout_passed: true, ..ctx };
/// assert!(matches!(classify(&outcome, late), BatchAction::Fail { .. }));
/// ```
pub fn classify(outcome: &PartitionOutcome, ctx: RetryContext) -> BatchAction {
    let (code, message, record_errors) = match outcome {
        PartitionOutcome::Success {
            base_offset,
            log_append_time_ms,
            log_start_offset,
        } => {
            return BatchAction::Complete {
                base_offset: *base_offset,
                log_append_time_ms: *log_append_time_ms,
                log_start_offset: *log_start_offset,
            };
        }
        PartitionOutcome::Error {
            code,
            message,
            record_errors,
            ..
        } => (*code, message, record_errors),
    };
    let refresh_metadata = needs_metadata_refresh(code);
    let attempts_left = ctx.attempts < ctx.retries;
    if ctx.idempotent {
        return BatchAction::Idempotent {
            refresh_metadata,
            may_retry: attempts_left && !ctx.delivery_timeout_passed,
        };
    }
    if code == ErrorCode::MessageTooLarge && ctx.record_count > 1 {
        return BatchAction::Split;
    }
    if code.is_retriable() && attempts_left && !ctx.delivery_timeout_passed {
        return BatchAction::Retry { refresh_metadata };
    }
    if code == ErrorCode::DuplicateSequenceNumber {
        return BatchAction::Complete {
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        };
    }
    let error = if code.is_retriable() && ctx.delivery_timeout_passed {
        ProduceError::DeliveryTimeout { code }
    } else if code.is_retriable() {
        ProduceError::RetriesExhausted {
            code,
            attempts: ctx.attempts,
        }
    } else {
        ProduceError::Broker {
            code,
            message: message.clone(),
            record_errors: record_errors.clone(),
        }
    };
    BatchAction::Fail {
        error,
        refresh_metadata,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::BytesMut;
    use kafka_protocol::messages::produce_response::{
        BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId};

    use super::*;
    use crate::producer::accumulator::{AccumulatorConfig, RecordAccumulator};
    use crate::protocol::frame::{
        FrameDecoder, decode_request_body, decode_request_header, decode_response_frame,
        encode_request, encode_response,
    };
    use crate::record::BatchIter;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    /// Drains one batch per partition of `tps` (in that order) through a real accumulator, each
    /// holding `records` records.
    fn drained(tps: &[TopicPartition], records: usize) -> Vec<ProducerBatch<u32>> {
        let mut acc = RecordAccumulator::new(AccumulatorConfig::default());
        let now = Instant::now();
        let mut n = 0;
        for tp in tps {
            for _ in 0..records {
                acc.append(tp, 1_000 + i64::from(n), None, Some(b"value"), &[], n, now)
                    .unwrap();
                n += 1;
            }
        }
        acc.close();
        let batches = acc.drain(1, tps, usize::MAX, now);
        assert_eq!(batches.len(), tps.len());
        batches
    }

    fn ids(topic: &str) -> Option<Uuid> {
        match topic {
            "a" => Some(Uuid::from_u128(0xa)),
            "b" => Some(Uuid::from_u128(0xb)),
            _ => None,
        }
    }

    fn names(id: Uuid) -> Option<String> {
        match id.as_u128() {
            0xa => Some("a".into()),
            0xb => Some("b".into()),
            _ => None,
        }
    }

    /// Encodes the request as a client would and decodes it as a broker would.
    fn through_the_wire(req: &ProduceRequest, version: i16) -> ProduceRequest {
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 9, Some("kafkit"), version, req).unwrap();
        let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let header = decode_request_header(&mut frame).unwrap();
        assert_eq!((header.api_key, header.api_version), (0, version));
        let decoded = decode_request_body::<ProduceRequest>(&header, &mut frame).unwrap();
        assert!(frame.is_empty(), "trailing bytes at v{version}");
        decoded
    }

    fn check_round_trip(version: i16) {
        let tps = [tp("a", 0), tp("b", 2), tp("a", 1)];
        let batches = drained(&tps, 3);
        let req =
            build_produce_request(&batches, -1, Duration::from_secs(30), version, ids).unwrap();
        let decoded = through_the_wire(&req, version);
        assert_eq!((decoded.acks, decoded.timeout_ms), (-1, 30_000));
        assert_eq!(decoded.transactional_id, None);
        let mut expected = req.clone();
        for topic in &mut expected.topic_data {
            if version >= TOPIC_ID_PRODUCE_VERSION {
                topic.name = TopicName::default(); // v13 carries only the id
            } else {
                assert!(topic.topic_id.is_nil());
            }
        }
        assert_eq!(decoded, expected, "v{version}");
        // The broker sees the very batches the accumulator sealed.
        let p0 = decoded.topic_data[0].partition_data[0]
            .records
            .clone()
            .unwrap();
        let batch = BatchIter::new(p0).next().unwrap().unwrap();
        assert_eq!(batch.record_count(), 3);
        assert_eq!(
            encoded_size(&req, version).unwrap(),
            req.compute_size(version).unwrap()
        );
    }

    #[test]
    fn request_round_trips_v3() {
        check_round_trip(3);
    }

    #[test]
    fn request_round_trips_v9_flexible() {
        check_round_trip(9);
    }

    #[test]
    fn request_round_trips_v12() {
        check_round_trip(12);
    }

    #[test]
    fn request_round_trips_v13_topic_ids() {
        check_round_trip(13);
        let batches = drained(&[tp("a", 0), tp("b", 0)], 1);
        let req = build_produce_request(&batches, 1, Duration::ZERO, 13, ids).unwrap();
        let decoded = through_the_wire(&req, 13);
        let got: Vec<Uuid> = decoded.topic_data.iter().map(|t| t.topic_id).collect();
        assert_eq!(got, [Uuid::from_u128(0xa), Uuid::from_u128(0xb)]);
    }

    #[test]
    fn v13_needs_every_topic_id() {
        let batches = drained(&[tp("a", 0), tp("zzz", 0)], 1);
        assert_eq!(
            build_produce_request(&batches, 1, Duration::ZERO, 13, ids),
            Err(SinkError::UnknownTopicId {
                topic: "zzz".into()
            })
        );
        // Before v13 ids are not needed at all.
        assert!(build_produce_request(&batches, 1, Duration::ZERO, 12, |_| None).is_ok());
    }

    #[test]
    fn groups_by_topic_in_first_seen_order_and_shares_bytes() {
        let tps = [tp("b", 3), tp("a", 0), tp("b", 1), tp("a", 7)];
        let batches = drained(&tps, 2);
        let req = build_produce_request(&batches, 1, Duration::from_millis(5), 9, ids).unwrap();
        let shape: Vec<(String, Vec<i32>)> = req
            .topic_data
            .iter()
            .map(|t| {
                (
                    t.name.0.to_string(),
                    t.partition_data.iter().map(|p| p.index).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [("b".to_string(), vec![3, 1]), ("a".to_string(), vec![0, 7])]
        );
        // Zero-copy: the request holds the sealed batch's buffer, not a copy.
        let sealed = batches[0].records().unwrap();
        let in_request = req.topic_data[0].partition_data[0]
            .records
            .as_ref()
            .unwrap();
        assert_eq!(sealed.as_ptr(), in_request.as_ptr());
        assert_eq!(sealed.len(), in_request.len());
    }

    #[test]
    fn at_most_one_batch_per_partition() {
        let small = AccumulatorConfig {
            batch_size: 100,
            ..AccumulatorConfig::default()
        };
        let mut acc = RecordAccumulator::new(small);
        let now = Instant::now();
        let p = tp("a", 0);
        for i in 0..2 {
            acc.append(&p, 0, None, Some(&[7u8; 90]), &[], i, now)
                .unwrap();
        }
        acc.close();
        let mut batches = acc.drain(1, std::slice::from_ref(&p), usize::MAX, now);
        batches.extend(acc.drain(1, std::slice::from_ref(&p), usize::MAX, now));
        assert_eq!(batches.len(), 2, "two batches of one partition");
        assert_eq!(
            build_produce_request(&batches, 1, Duration::ZERO, 9, ids),
            Err(SinkError::DuplicatePartition { partition: p })
        );
        assert!(build_produce_request(&batches[..1], 1, Duration::ZERO, 9, ids).is_ok());
    }

    #[test]
    fn unsupported_versions_are_refused() {
        let batches = drained(&[tp("a", 0)], 1);
        for v in [2, 14] {
            assert_eq!(
                build_produce_request(&batches, 1, Duration::ZERO, v, ids),
                Err(SinkError::UnsupportedVersion { version: v })
            );
            assert!(encoded_size(&ProduceRequest::default(), v).is_err());
        }
    }

    #[test]
    fn timeout_saturates() {
        let batches = drained(&[tp("a", 0)], 1);
        let req = build_produce_request(&batches, 1, Duration::MAX, 3, ids).unwrap();
        assert_eq!(req.timeout_ms, i32::MAX);
    }

    #[test]
    fn encoded_size_grows_with_batches() {
        let one = drained(&[tp("a", 0)], 1);
        let two = drained(&[tp("a", 0), tp("a", 1)], 1);
        let r1 = build_produce_request(&one, 1, Duration::ZERO, 9, ids).unwrap();
        let r2 = build_produce_request(&two, 1, Duration::ZERO, 9, ids).unwrap();
        let (s1, s2) = (encoded_size(&r1, 9).unwrap(), encoded_size(&r2, 9).unwrap());
        assert!(s1 > one[0].records().unwrap().len());
        assert!(s2 > s1 + two[1].records().unwrap().len());
    }

    // ---- responses ----------------------------------------------------------------------

    fn partition(index: i32, code: ErrorCode) -> PartitionProduceResponse {
        PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(code.code())
    }

    fn topic(name: &str, partitions: Vec<PartitionProduceResponse>) -> TopicProduceResponse {
        TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_string(name.into())))
            .with_topic_id(ids(name).unwrap_or_default())
            .with_partition_responses(partitions)
    }

    /// Encodes the response as a broker would at `version` and decodes it as the client does.
    fn wire(response: &ProduceResponse, version: i16) -> ProduceResponse {
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 4, ApiKey::Produce, version, response).unwrap();
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let (correlation_id, decoded) =
            decode_response_frame::<ProduceRequest>(version, frame).unwrap();
        assert_eq!(correlation_id, 4);
        decoded
    }

    #[test]
    fn success_and_per_partition_errors() {
        let response = ProduceResponse::default().with_responses(vec![
            topic(
                "a",
                vec![
                    partition(0, ErrorCode::None)
                        .with_base_offset(100)
                        .with_log_append_time_ms(55)
                        .with_log_start_offset(3),
                    partition(1, ErrorCode::NotLeaderOrFollower),
                ],
            ),
            topic("b", vec![partition(4, ErrorCode::TopicAuthorizationFailed)]),
        ]);
        let sent = [tp("b", 4), tp("a", 0), tp("a", 1)];
        let got = interpret_produce_response(&wire(&response, 7), 7, &sent, names);
        let order: Vec<&TopicPartition> = got.iter().map(|(tp, _)| tp).collect();
        assert_eq!(order, sent.iter().collect::<Vec<_>>(), "sent order");
        assert_eq!(
            got[1].1,
            PartitionOutcome::Success {
                base_offset: 100,
                log_append_time_ms: 55,
                log_start_offset: 3
            }
        );
        assert_eq!(got[2].1.error_code(), ErrorCode::NotLeaderOrFollower);
        assert_eq!(
            got[0].1,
            PartitionOutcome::Error {
                code: ErrorCode::TopicAuthorizationFailed,
                message: None,
                record_errors: vec![],
                current_leader: None,
                log_start_offset: -1,
            }
        );
    }

    fn invalid_record_response() -> ProduceResponse {
        ProduceResponse::default().with_responses(vec![topic(
            "a",
            vec![
                partition(0, ErrorCode::InvalidRecord)
                    .with_error_message(Some(StrBytes::from_static_str("bad batch")))
                    .with_record_errors(vec![
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(2)
                            .with_batch_index_error_message(Some(StrBytes::from_static_str(
                                "null key on compacted topic",
                            ))),
                        BatchIndexAndErrorMessage::default().with_batch_index(5),
                    ]),
            ],
        )])
    }

    #[test]
    fn record_errors_and_message_from_v8() {
        let sent = [tp("a", 0)];
        let got = interpret_produce_response(&wire(&invalid_record_response(), 8), 8, &sent, names);
        let PartitionOutcome::Error {
            code,
            message,
            record_errors,
            ..
        } = &got[0].1
        else {
            panic!("expected an error: {got:?}");
        };
        assert_eq!(*code, ErrorCode::InvalidRecord);
        assert_eq!(message.as_deref(), Some("bad batch"));
        assert_eq!(
            record_errors,
            &[
                (2, Some("null key on compacted topic".to_string())),
                (5, None)
            ]
        );
    }

    #[test]
    fn no_record_errors_before_v8() {
        let mut response = invalid_record_response();
        // v7 has no such fields: a v7 broker cannot send them.
        let p = &mut response.responses[0].partition_responses[0];
        p.record_errors.clear();
        p.error_message = None;
        let got = interpret_produce_response(&wire(&response, 7), 7, &[tp("a", 0)], names);
        let PartitionOutcome::Error {
            message,
            record_errors,
            ..
        } = &got[0].1
        else {
            panic!("expected an error");
        };
        assert!(message.is_none() && record_errors.is_empty());
    }

    #[test]
    fn current_leader_from_v10() {
        let leader = LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(3))
            .with_leader_epoch(12);
        let response = ProduceResponse::default().with_responses(vec![topic(
            "a",
            vec![
                partition(0, ErrorCode::NotLeaderOrFollower).with_current_leader(leader),
                partition(1, ErrorCode::NotLeaderOrFollower),
            ],
        )]);
        let sent = [tp("a", 0), tp("a", 1)];
        let got = interpret_produce_response(&wire(&response, 10), 10, &sent, names);
        let leaders: Vec<Option<(i32, i32)>> = got
            .iter()
            .map(|(_, o)| match o {
                PartitionOutcome::Error { current_leader, .. } => *current_leader,
                PartitionOutcome::Success { .. } => panic!("expected errors"),
            })
            .collect();
        assert_eq!(leaders, [Some((3, 12)), None]);
        // At v9 the tagged field does not exist on the wire.
        let got = interpret_produce_response(&wire(&response, 9), 9, &sent, names);
        assert!(matches!(
            got[0].1,
            PartitionOutcome::Error {
                current_leader: None,
                ..
            }
        ));
    }

    #[test]
    fn missing_partitions_are_unknown_server_errors() {
        let response = ProduceResponse::default().with_responses(vec![topic(
            "a",
            vec![partition(0, ErrorCode::None).with_base_offset(1)],
        )]);
        let sent = [tp("a", 0), tp("a", 1), tp("b", 0)];
        let got = interpret_produce_response(&wire(&response, 9), 9, &sent, names);
        assert!(matches!(got[0].1, PartitionOutcome::Success { .. }));
        for (_, outcome) in &got[1..] {
            assert_eq!(outcome, &PartitionOutcome::missing());
            assert_eq!(outcome.error_code(), ErrorCode::UnknownServerError);
        }
    }

    #[test]
    fn unexpected_and_repeated_partitions_are_ignored() {
        let response = ProduceResponse::default().with_responses(vec![
            topic(
                "a",
                vec![
                    partition(0, ErrorCode::None).with_base_offset(7),
                    partition(0, ErrorCode::None).with_base_offset(99),
                    partition(9, ErrorCode::None),
                ],
            ),
            topic("b", vec![partition(0, ErrorCode::None)]),
        ]);
        let got = interpret_produce_response(&response, 9, &[tp("a", 0)], names);
        assert_eq!(got.len(), 1);
        assert!(matches!(
            got[0].1,
            PartitionOutcome::Success { base_offset: 7, .. }
        ));
    }

    #[test]
    fn v13_matches_topics_by_id() {
        let response = ProduceResponse::default().with_responses(vec![
            topic("b", vec![partition(0, ErrorCode::None).with_base_offset(5)]),
            topic("a", vec![partition(0, ErrorCode::NotEnoughReplicas)]),
            TopicProduceResponse::default()
                .with_topic_id(Uuid::from_u128(0xdead))
                .with_partition_responses(vec![partition(0, ErrorCode::None)]),
        ]);
        let decoded = wire(&response, 13);
        assert!(
            decoded.responses[0].name.0.is_empty(),
            "v13 carries no names"
        );
        let sent = [tp("a", 0), tp("b", 0)];
        let got = interpret_produce_response(&decoded, 13, &sent, names);
        assert_eq!(got[0].1.error_code(), ErrorCode::NotEnoughReplicas);
        assert!(matches!(
            got[1].1,
            PartitionOutcome::Success { base_offset: 5, .. }
        ));
        // Without the id mapping every partition is missing.
        let got = interpret_produce_response(&decoded, 13, &sent, |_| None);
        assert!(got.iter().all(|(_, o)| *o == PartitionOutcome::missing()));
    }

    // ---- classify ---------------------------------------------------------------------

    const CTX: RetryContext = RetryContext {
        record_count: 4,
        attempts: 0,
        retries: i32::MAX as u32,
        delivery_timeout_passed: false,
        idempotent: false,
    };

    fn error(code: ErrorCode) -> PartitionOutcome {
        PartitionOutcome::Error {
            code,
            message: None,
            record_errors: vec![],
            current_leader: None,
            log_start_offset: -1,
        }
    }

    #[test]
    fn classify_success_completes() {
        let ok = PartitionOutcome::Success {
            base_offset: 10,
            log_append_time_ms: 20,
            log_start_offset: 0,
        };
        assert_eq!(
            classify(&ok, CTX),
            BatchAction::Complete {
                base_offset: 10,
                log_append_time_ms: 20,
                log_start_offset: 0
            }
        );
        // Even out of time: the broker has it.
        let late = RetryContext {
            delivery_timeout_passed: true,
            ..CTX
        };
        assert!(matches!(classify(&ok, late), BatchAction::Complete { .. }));
    }

    #[test]
    fn classify_stale_metadata_errors_retry_with_refresh() {
        for code in [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::LeaderNotAvailable,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::KafkaStorageError,
            ErrorCode::NetworkException,
            ErrorCode::UnknownTopicId,
        ] {
            assert_eq!(
                classify(&error(code), CTX),
                BatchAction::Retry {
                    refresh_metadata: true
                },
                "{code}"
            );
        }
    }

    #[test]
    fn classify_other_retriable_errors_retry_without_refresh() {
        for code in [
            ErrorCode::RequestTimedOut,
            ErrorCode::NotEnoughReplicas,
            ErrorCode::NotEnoughReplicasAfterAppend,
            ErrorCode::CorruptMessage,
        ] {
            assert_eq!(
                classify(&error(code), CTX),
                BatchAction::Retry {
                    refresh_metadata: false
                },
                "{code}"
            );
        }
    }

    #[test]
    fn classify_retriable_error_after_delivery_timeout_fails() {
        let late = RetryContext {
            delivery_timeout_passed: true,
            ..CTX
        };
        assert_eq!(
            classify(&error(ErrorCode::NotLeaderOrFollower), late),
            BatchAction::Fail {
                error: ProduceError::DeliveryTimeout {
                    code: ErrorCode::NotLeaderOrFollower
                },
                refresh_metadata: true,
            }
        );
    }

    #[test]
    fn classify_retriable_error_without_retries_left_fails() {
        let spent = RetryContext {
            attempts: 3,
            retries: 3,
            ..CTX
        };
        assert_eq!(
            classify(&error(ErrorCode::RequestTimedOut), spent),
            BatchAction::Fail {
                error: ProduceError::RetriesExhausted {
                    code: ErrorCode::RequestTimedOut,
                    attempts: 3
                },
                refresh_metadata: false,
            }
        );
        let one_left = RetryContext {
            attempts: 2,
            ..spent
        };
        assert!(matches!(
            classify(&error(ErrorCode::RequestTimedOut), one_left),
            BatchAction::Retry { .. }
        ));
    }

    #[test]
    fn classify_message_too_large_splits_several_records() {
        assert_eq!(
            classify(&error(ErrorCode::MessageTooLarge), CTX),
            BatchAction::Split
        );
        let late = RetryContext {
            delivery_timeout_passed: true,
            ..CTX
        };
        assert_eq!(
            classify(&error(ErrorCode::MessageTooLarge), late),
            BatchAction::Split
        );
    }

    #[test]
    fn classify_message_too_large_fails_single_record() {
        let single = RetryContext {
            record_count: 1,
            ..CTX
        };
        assert!(matches!(
            classify(&error(ErrorCode::MessageTooLarge), single),
            BatchAction::Fail {
                error: ProduceError::Broker {
                    code: ErrorCode::MessageTooLarge,
                    ..
                },
                refresh_metadata: false,
            }
        ));
    }

    #[test]
    fn classify_duplicate_sequence_completes_with_unknown_offset() {
        assert_eq!(
            classify(&error(ErrorCode::DuplicateSequenceNumber), CTX),
            BatchAction::Complete {
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1
            }
        );
    }

    #[test]
    fn classify_non_retriable_error_fails_with_details() {
        let outcome = PartitionOutcome::Error {
            code: ErrorCode::InvalidRecord,
            message: Some("bad".into()),
            record_errors: vec![(1, Some("why".into()))],
            current_leader: None,
            log_start_offset: -1,
        };
        let action = classify(&outcome, CTX);
        assert_eq!(
            action,
            BatchAction::Fail {
                error: ProduceError::Broker {
                    code: ErrorCode::InvalidRecord,
                    message: Some("bad".into()),
                    record_errors: vec![(1, Some("why".into()))],
                },
                refresh_metadata: false,
            }
        );
        let BatchAction::Fail { error, .. } = action else {
            unreachable!()
        };
        assert_eq!(
            error.to_string(),
            "broker rejected the batch with INVALID_RECORD (87): bad"
        );
        // The "missing partition" outcome fails too: its fate is unknown.
        assert!(matches!(
            classify(&PartitionOutcome::missing(), CTX),
            BatchAction::Fail {
                error: ProduceError::Broker {
                    code: ErrorCode::UnknownServerError,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn classify_idempotent_errors_defer_to_idempotence_state() {
        let idem = RetryContext {
            idempotent: true,
            ..CTX
        };
        assert_eq!(
            classify(&error(ErrorCode::NotLeaderOrFollower), idem),
            BatchAction::Idempotent {
                refresh_metadata: true,
                may_retry: true
            }
        );
        assert_eq!(
            classify(&error(ErrorCode::DuplicateSequenceNumber), idem),
            BatchAction::Idempotent {
                refresh_metadata: false,
                may_retry: true
            }
        );
        let late = RetryContext {
            delivery_timeout_passed: true,
            ..idem
        };
        assert_eq!(
            classify(&error(ErrorCode::OutOfOrderSequenceNumber), late),
            BatchAction::Idempotent {
                refresh_metadata: false,
                may_retry: false
            }
        );
        let ok = PartitionOutcome::Success {
            base_offset: 1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        };
        assert!(matches!(classify(&ok, idem), BatchAction::Complete { .. }));
    }

    #[test]
    fn metadata_refresh_table_matches_java() {
        // Retriable but not InvalidMetadataException subclasses in Java.
        for code in [
            ErrorCode::RequestTimedOut,
            ErrorCode::NotEnoughReplicas,
            ErrorCode::NotEnoughReplicasAfterAppend,
            ErrorCode::CorruptMessage,
            ErrorCode::ThrottlingQuotaExceeded,
        ] {
            assert!(!needs_metadata_refresh(code), "{code}");
        }
        // Every stale-metadata error is retriable.
        for &code in ErrorCode::all() {
            if needs_metadata_refresh(code) {
                assert!(code.is_retriable(), "{code}");
            }
        }
    }
}
