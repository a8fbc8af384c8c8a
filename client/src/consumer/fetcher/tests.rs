use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProducerId,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::cluster::MetadataSnapshot;
use crate::record::{
    BatchBuilder, BatchOptions, Compression, ControlRecordType, EndTransactionMarker, Header,
};

const T: &str = "events";

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(T, p)
}

/// A snapshot with brokers 1..=3 and topic `events` whose partition i is led by broker
/// `leaders[i]` at epoch 5; `with_id` gives the topic an id.
fn snapshot(leaders: &[i32], with_id: bool) -> MetadataSnapshot {
    topics_snapshot(&[(T, leaders, with_id)])
}

fn topics_snapshot(topics: &[(&str, &[i32], bool)]) -> MetadataSnapshot {
    topics_snapshot_at_epoch(topics, 5)
}

fn topics_snapshot_at_epoch(topics: &[(&str, &[i32], bool)], epoch: i32) -> MetadataSnapshot {
    MetadataSnapshot::default().merged(
        &MetadataResponse::default()
            .with_brokers(
                (1..=3)
                    .map(|id| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(id))
                            .with_host(StrBytes::from_static_str("127.0.0.1"))
                            .with_port(9000 + id)
                    })
                    .collect(),
            )
            .with_topics(
                topics
                    .iter()
                    .map(|(name, leaders, with_id)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
                            .with_topic_id(if *with_id {
                                Uuid::from_u128(0xabc + name.len() as u128)
                            } else {
                                Uuid::nil()
                            })
                            .with_partitions(
                                leaders
                                    .iter()
                                    .enumerate()
                                    .map(|(i, &leader)| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(i as i32)
                                            .with_leader_id(BrokerId(leader))
                                            .with_leader_epoch(epoch)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        true,
    )
}

/// One batch with `count` records `v<offset>` starting at `base`.
fn batch(base: i64, count: usize, compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions {
        base_offset: base,
        partition_leader_epoch: 5,
        compression,
        ..BatchOptions::default()
    });
    for i in 0..count {
        let off = base + i as i64;
        b.append(
            1_000 + off,
            Some(format!("k{off}").as_bytes()),
            Some(format!("v{off}").as_bytes()),
            &[Header {
                key: "h",
                value: Some(b"x"),
            }],
        )
        .unwrap();
    }
    b.finish().unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

fn partition_data(partition: i32, records: Bytes, hw: i64) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_high_watermark(hw)
        .with_last_stable_offset(hw)
        .with_log_start_offset(0)
        .with_records(Some(records))
}

fn response(
    meta: &FetchRequestMeta,
    request: &FetchRequest,
    parts: Vec<PartitionData>,
) -> FetchResponse {
    let topic = &request.topics[0];
    let mut t = FetchableTopicResponse::default().with_partitions(parts);
    if meta.version() >= TOPIC_ID_FETCH_VERSION {
        t.topic_id = topic.topic_id;
    } else {
        t.topic = topic.topic.clone();
    }
    FetchResponse::default().with_responses(vec![t])
}

fn error_data(partition: i32, code: ErrorCode) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_records(None)
}

/// A fetcher with partitions `0..n` of `events` assigned at position `at`.
fn fetcher_at(n: i32, at: i64, settings: FetchSettings) -> Fetcher {
    let mut f = Fetcher::new(settings);
    f.assign((0..n).map(tp));
    for p in 0..n {
        f.seek(&tp(p), at).unwrap();
    }
    f
}

/// Builds the single request, answers partition 0 with `records`, returns the outcome.
fn fetch_once(f: &mut Fetcher, records: Bytes, hw: i64) -> FetchOutcome {
    let now = Instant::now();
    let mut reqs = f.build_fetch_requests(&snapshot(&[1], false), 12, now);
    assert_eq!(reqs.len(), 1);
    let (_, request, meta) = reqs.remove(0);
    let resp = response(&meta, &request, vec![partition_data(0, records, hw)]);
    f.handle_fetch_response(&meta, &resp, now)
}

fn offsets(records: &[ConsumerRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn requests_group_by_leader_with_java_fields() {
    let settings = FetchSettings {
        isolation_level: IsolationLevel::ReadCommitted,
        client_rack: Some("rack-a".into()),
        max_partition_fetch_bytes: 4096,
        ..FetchSettings::default()
    };
    let mut f = fetcher_at(3, 7, settings);
    let now = Instant::now();
    let reqs = f.build_fetch_requests(&snapshot(&[1, 2, 1], true), 17, now);
    assert_eq!(reqs.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    let (_, request, meta) = &reqs[0];
    assert_eq!(meta.version(), 17);
    assert_eq!(meta.broker(), 1);
    assert_eq!(meta.partitions(), [tp(0), tp(2)]);
    assert_eq!((request.session_id, request.session_epoch), (0, -1));
    assert_eq!(request.replica_id.0, -1);
    assert_eq!(request.isolation_level, 1);
    assert_eq!(request.max_wait_ms, 500);
    assert_eq!((request.min_bytes, request.max_bytes), (1, 52_428_800));
    assert_eq!(request.rack_id.as_str(), "rack-a");
    let topic = &request.topics[0];
    assert!(!topic.topic_id.is_nil());
    assert_eq!(topic.topic.0.as_str(), "");
    let p = &topic.partitions[0];
    assert_eq!(
        (
            p.partition,
            p.fetch_offset,
            p.current_leader_epoch,
            p.partition_max_bytes
        ),
        (0, 7, 5, 4096)
    );
    assert_eq!((p.last_fetched_epoch, p.log_start_offset), (-1, -1));
    // Everything is in flight now: nothing more to send.
    assert!(
        f.build_fetch_requests(&snapshot(&[1, 2, 1], true), 17, now)
            .is_empty()
    );
}

#[test]
fn version_rule_and_every_version_encodes_and_decodes() {
    for negotiated in MIN_FETCH_VERSION..=MAX_FETCH_VERSION {
        for with_id in [false, true] {
            let settings = FetchSettings {
                client_rack: Some("r".into()),
                isolation_level: IsolationLevel::ReadCommitted,
                ..FetchSettings::default()
            };
            let mut f = fetcher_at(2, 3, settings);
            let reqs =
                f.build_fetch_requests(&snapshot(&[1, 1], with_id), negotiated, Instant::now());
            let (_, request, meta) = &reqs[0];
            let expected = if with_id {
                negotiated
            } else {
                negotiated.min(12)
            };
            assert_eq!(meta.version(), expected);
            let mut buf = BytesMut::new();
            request
                .encode(&mut buf, expected)
                .unwrap_or_else(|e| panic!("v{expected}: {e}"));
            let decoded = FetchRequest::decode(&mut buf.freeze(), expected).unwrap();
            assert_eq!(decoded.topics[0].partitions.len(), 2);
            if expected >= 13 {
                assert_eq!(decoded.topics[0].topic_id, request.topics[0].topic_id);
            } else {
                assert_eq!(decoded.topics[0].topic.0.as_str(), T);
            }
            if expected >= 11 {
                assert_eq!(decoded.rack_id.as_str(), "r");
            }
        }
    }
}

#[test]
fn list_offsets_requests_encode_at_every_version() {
    for v in MIN_LIST_OFFSETS_VERSION..=MAX_LIST_OFFSETS_VERSION {
        let r = build_list_offsets_request(
            &[
                (tp(0), OffsetSpec::Latest, 5),
                (tp(1), OffsetSpec::Timestamp(9), 5),
            ],
            v,
            IsolationLevel::ReadCommitted,
            Duration::from_secs(30),
        );
        let mut buf = BytesMut::new();
        r.encode(&mut buf, v)
            .unwrap_or_else(|e| panic!("v{v}: {e}"));
        let d = ListOffsetsRequest::decode(&mut buf.freeze(), v).unwrap();
        assert_eq!(d.replica_id.0, -1);
        assert_eq!(d.topics[0].partitions[1].timestamp, 9);
        assert_eq!(d.isolation_level, if v >= 2 { 1 } else { 0 });
    }
}

#[test]
fn all_codecs_drain_zero_copy_with_headers_and_epoch() {
    for codec in Compression::ALL {
        let mut f = fetcher_at(1, 0, FetchSettings::default());
        let records = batch(0, 5, codec);
        let outcome = fetch_once(&mut f, records.clone(), 5);
        assert_eq!(outcome.partitions_with_data, [tp(0)]);
        let got = f.poll_records(500).unwrap();
        assert_eq!(offsets(&got), [0, 1, 2, 3, 4], "{codec}");
        let r = &got[3];
        assert_eq!(r.value.as_deref(), Some(&b"v3"[..]));
        assert_eq!(r.key.as_deref(), Some(&b"k3"[..]));
        assert_eq!(r.timestamp, 1_003);
        assert_eq!(r.leader_epoch, Some(5));
        assert_eq!(r.headers().collect::<Vec<_>>(), [("h", Some(&b"x"[..]))]);
        if codec == Compression::None {
            let range = records.as_ptr_range();
            let v = r.value.as_ref().unwrap();
            assert!(
                range.contains(&v.as_ptr()),
                "value is a slice of the fetched buffer"
            );
        }
        assert_eq!(
            f.position(&tp(0)),
            Some(FetchPosition::new(5).with_epoch(Some(5)))
        );
        assert_eq!(f.lag(&tp(0)), Some(0));
        assert!(!f.has_buffered_data());
    }
}

#[test]
fn batch_starting_before_the_position_is_skipped_up_to_it() {
    let mut f = fetcher_at(1, 3, FetchSettings::default());
    fetch_once(
        &mut f,
        concat(&[
            batch(0, 5, Compression::Gzip),
            batch(5, 2, Compression::None),
        ]),
        7,
    );
    assert_eq!(offsets(&f.poll_records(500).unwrap()), [3, 4, 5, 6]);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 7);
}

#[test]
fn trailing_partial_batch_is_ignored() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let second = batch(3, 3, Compression::None);
    let blob = concat(&[
        batch(0, 3, Compression::Snappy),
        second.slice(..second.len() - 4),
    ]);
    fetch_once(&mut f, blob, 6);
    assert_eq!(offsets(&f.poll_records(500).unwrap()), [0, 1, 2]);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 3);
    // The next fetch starts at the partial batch.
    let reqs = f.build_fetch_requests(&snapshot(&[1], false), 12, Instant::now());
    assert_eq!(reqs[0].1.topics[0].partitions[0].fetch_offset, 3);
}

#[test]
fn only_a_partial_batch_is_an_error_once() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let b = batch(0, 3, Compression::None);
    fetch_once(&mut f, b.slice(..b.len() - 1), 3);
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::NoCompleteBatch { offset: 0, .. })
    ));
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(f.position(&tp(0)).unwrap().offset, 0);
}

#[test]
fn control_batch_is_skipped_and_position_moves_past_it() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let marker = EndTransactionMarker {
        control_type: ControlRecordType::Commit,
        coordinator_epoch: 1,
    }
    .build_batch(
        BatchOptions {
            base_offset: 2,
            producer_id: 9,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        0,
    )
    .unwrap();
    // Records 0..2, then a commit marker at 2 alone: position must end past the marker.
    fetch_once(
        &mut f,
        concat(&[batch(0, 2, Compression::None), marker.clone()]),
        3,
    );
    assert_eq!(offsets(&f.poll_records(500).unwrap()), [0, 1]);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 3);

    // A fetch holding only a control batch still advances the position.
    let mut f = fetcher_at(1, 2, FetchSettings::default());
    fetch_once(&mut f, marker, 3);
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(f.position(&tp(0)).unwrap().offset, 3);
}

#[test]
fn max_records_boundaries_resume_exactly() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    fetch_once(
        &mut f,
        concat(&[
            batch(0, 3, Compression::Lz4),
            batch(3, 4, Compression::Zstd),
            batch(7, 1, Compression::None),
        ]),
        8,
    );
    assert_eq!(offsets(&f.poll_records(2).unwrap()), [0, 1]);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 2);
    assert_eq!(offsets(&f.poll_records(1).unwrap()), [2]);
    assert_eq!(offsets(&f.poll_records(4).unwrap()), [3, 4, 5, 6]);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 7);
    assert!(f.poll_records(0).unwrap().is_empty());
    assert_eq!(offsets(&f.poll_records(1).unwrap()), [7]);
    // Exhausted on the next call; then the partition is fetchable again.
    assert!(f.poll_records(10).unwrap().is_empty());
    assert!(!f.has_buffered_data());
    let reqs = f.build_fetch_requests(&snapshot(&[1], false), 12, Instant::now());
    assert_eq!(reqs[0].1.topics[0].partitions[0].fetch_offset, 8);
}

#[test]
fn buffered_or_in_flight_partitions_are_not_fetched_again() {
    let mut f = fetcher_at(2, 0, FetchSettings::default());
    let now = Instant::now();
    let snap = snapshot(&[1, 1], false);
    let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
    assert!(
        f.build_fetch_requests(&snap, 12, now).is_empty(),
        "in flight"
    );
    let resp = response(
        &meta,
        &request,
        vec![partition_data(0, batch(0, 2, Compression::None), 2)],
    );
    f.handle_fetch_response(&meta, &resp, now);
    // Partition 0 has buffered data; partition 1 got no answer and is fetchable again.
    let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
    assert_eq!(meta.partitions(), [tp(1)]);
    f.poll_records(500).unwrap();
    // Partition 0 is free again, but broker 1 already has a Fetch in flight.
    assert!(f.build_fetch_requests(&snap, 12, now).is_empty());
    let empty = response(&meta, &request, vec![partition_data(1, Bytes::new(), 0)]);
    f.handle_fetch_response(&meta, &empty, now);
    let reqs = f.build_fetch_requests(&snap, 12, now);
    assert_eq!(reqs[0].2.partitions(), [tp(0), tp(1)]);
}

#[test]
fn stale_responses_after_seek_or_unassign_are_discarded() {
    let mut f = fetcher_at(2, 0, FetchSettings::default());
    let now = Instant::now();
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1, 1], false), 12, now)
        .remove(0);
    f.seek(&tp(0), 100).unwrap();
    f.assign([tp(0)]);
    let resp = response(
        &meta,
        &request,
        vec![
            partition_data(0, batch(0, 2, Compression::None), 2),
            partition_data(1, batch(0, 2, Compression::None), 2),
        ],
    );
    let outcome = f.handle_fetch_response(&meta, &resp, now);
    assert_eq!(outcome.discarded, [tp(0), tp(1)]);
    assert!(outcome.partitions_with_data.is_empty());
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(f.position(&tp(0)).unwrap().offset, 100);
    // A re-assigned partition (new generation) also discards the old answer.
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1, 1], false), 12, now)
        .remove(0);
    f.assign([]);
    f.assign([tp(0)]);
    f.seek(&tp(0), 100).unwrap();
    let resp = response(
        &meta,
        &request,
        vec![partition_data(0, batch(100, 1, Compression::None), 101)],
    );
    assert_eq!(
        f.handle_fetch_response(&meta, &resp, now).discarded,
        [tp(0)]
    );
}

#[test]
fn seek_drops_buffered_data() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    fetch_once(&mut f, batch(0, 5, Compression::None), 5);
    assert_eq!(offsets(&f.poll_records(2).unwrap()), [0, 1]);
    f.seek(&tp(0), 1).unwrap();
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(f.position(&tp(0)).unwrap().offset, 1);
}

#[test]
fn pause_keeps_buffered_data_and_stops_fetching() {
    let mut f = fetcher_at(2, 0, FetchSettings::default());
    let now = Instant::now();
    let snap = snapshot(&[1, 1], false);
    let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
    f.pause([&tp(0)]);
    assert!(f.is_paused(&tp(0)));
    assert_eq!(f.fetchable_partitions(), [tp(1)]);
    let resp = response(
        &meta,
        &request,
        vec![
            partition_data(0, batch(0, 2, Compression::None), 2),
            partition_data(1, batch(0, 3, Compression::None), 3),
        ],
    );
    f.handle_fetch_response(&meta, &resp, now);
    let got = f.poll_records(500).unwrap();
    assert!(got.iter().all(|r| r.partition == 1));
    assert_eq!(got.len(), 3);
    assert!(!f.has_buffered_data(), "paused data does not count");
    let reqs = f.build_fetch_requests(&snap, 12, now);
    assert_eq!(reqs[0].2.partitions(), [tp(1)]);
    f.resume([&tp(0)]);
    assert_eq!(offsets(&f.poll_records(500).unwrap()), [0, 1]);
    assert_eq!(f.paused_partitions(), Vec::<TopicPartition>::new());
}

#[test]
fn offset_out_of_range_resets_or_reports() {
    // latest: awaiting reset.
    let mut f = fetcher_at(1, 50, FetchSettings::default());
    let now = Instant::now();
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1], false), 12, now)
        .remove(0);
    let resp = response(
        &meta,
        &request,
        vec![error_data(0, ErrorCode::OffsetOutOfRange)],
    );
    let outcome = f.handle_fetch_response(&meta, &resp, now);
    assert_eq!(outcome.errors, [(tp(0), ErrorCode::OffsetOutOfRange)]);
    assert_eq!(
        f.position_state(&tp(0)),
        Some(&PositionState::AwaitingReset(OffsetSpec::Latest))
    );
    assert!(f.poll_records(500).unwrap().is_empty());

    // none: a user-visible error, once; position unchanged.
    let settings = FetchSettings {
        auto_offset_reset: OffsetResetStrategy::None,
        ..FetchSettings::default()
    };
    let mut f = fetcher_at(1, 50, settings.clone());
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1], false), 12, now)
        .remove(0);
    let resp = response(
        &meta,
        &request,
        vec![error_data(0, ErrorCode::OffsetOutOfRange)],
    );
    f.handle_fetch_response(&meta, &resp, now);
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::OffsetOutOfRange { offset: 50, .. })
    ));
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(f.position(&tp(0)).unwrap().offset, 50);

    // none, but the position moved meanwhile: nothing reported.
    let mut f = fetcher_at(1, 50, settings);
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1], false), 12, now)
        .remove(0);
    f.seek(&tp(0), 10).unwrap();
    let resp = response(
        &meta,
        &request,
        vec![error_data(0, ErrorCode::OffsetOutOfRange)],
    );
    assert_eq!(
        f.handle_fetch_response(&meta, &resp, now).discarded,
        [tp(0)]
    );
    assert!(f.poll_records(500).unwrap().is_empty());
}

#[test]
fn leadership_errors_refresh_metadata_and_back_off() {
    for code in [
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::UnknownTopicId,
        ErrorCode::KafkaStorageError,
        ErrorCode::OffsetNotAvailable,
    ] {
        let mut f = fetcher_at(1, 0, FetchSettings::default());
        let now = Instant::now();
        let snap = snapshot(&[1], false);
        let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
        let resp = response(&meta, &request, vec![error_data(0, code)]);
        let outcome = f.handle_fetch_response(&meta, &resp, now);
        assert!(outcome.refresh_metadata, "{code}");
        assert!(f.take_metadata_refresh());
        assert!(!f.take_metadata_refresh());
        assert!(
            f.poll_records(500).unwrap().is_empty(),
            "{code} is not user-visible"
        );
        assert!(
            f.build_fetch_requests(&snap, 12, now).is_empty(),
            "backed off"
        );
        assert_eq!(f.next_retry_at(), Some(now + Duration::from_millis(100)));
        let later = now + Duration::from_millis(100);
        assert_eq!(f.build_fetch_requests(&snap, 12, later).len(), 1);
    }
}

#[test]
fn unknown_leader_epoch_and_server_errors_just_retry_later() {
    for code in [ErrorCode::UnknownLeaderEpoch, ErrorCode::UnknownServerError] {
        let mut f = fetcher_at(1, 0, FetchSettings::default());
        let now = Instant::now();
        let snap = snapshot(&[1], false);
        let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
        let resp = response(&meta, &request, vec![error_data(0, code)]);
        let outcome = f.handle_fetch_response(&meta, &resp, now);
        assert_eq!(outcome.errors, [(tp(0), code)]);
        assert!(
            !outcome.refresh_metadata && !f.take_metadata_refresh(),
            "{code}"
        );
        assert!(f.poll_records(500).unwrap().is_empty());
        assert!(
            f.build_fetch_requests(&snap, 12, now).is_empty(),
            "backed off"
        );
        let later = now + Duration::from_millis(100);
        assert_eq!(f.build_fetch_requests(&snap, 12, later).len(), 1);
    }
}

#[test]
fn authorization_and_unknown_errors_are_user_visible() {
    let mut f = fetcher_at(3, 0, FetchSettings::default());
    let now = Instant::now();
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1, 1, 1], false), 12, now)
        .remove(0);
    let resp = response(
        &meta,
        &request,
        vec![
            error_data(0, ErrorCode::TopicAuthorizationFailed),
            error_data(1, ErrorCode::Unknown(4242)),
            error_data(2, ErrorCode::CorruptMessage),
        ],
    );
    let outcome = f.handle_fetch_response(&meta, &resp, now);
    assert!(!outcome.refresh_metadata);
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::TopicAuthorizationFailed { .. })
    ));
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::Broker {
            error: ErrorCode::Unknown(4242),
            ..
        })
    ));
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::Broker {
            error: ErrorCode::CorruptMessage,
            ..
        })
    ));
    assert!(f.poll_records(500).unwrap().is_empty());
}

#[test]
fn errors_wait_behind_already_collected_records() {
    let mut f = fetcher_at(2, 0, FetchSettings::default());
    let now = Instant::now();
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1, 1], false), 12, now)
        .remove(0);
    let resp = response(
        &meta,
        &request,
        vec![
            partition_data(0, batch(0, 2, Compression::None), 2),
            error_data(1, ErrorCode::TopicAuthorizationFailed),
        ],
    );
    f.handle_fetch_response(&meta, &resp, now);
    assert_eq!(f.poll_records(500).unwrap().len(), 2);
    assert!(f.poll_records(500).is_err());
}

#[test]
fn top_level_error_and_network_failure_release_partitions() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let now = Instant::now();
    let snap = snapshot(&[1], false);
    let (_, _, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
    let resp = FetchResponse::default().with_error_code(ErrorCode::UnknownServerError.code());
    let outcome = f.handle_fetch_response(&meta, &resp, now);
    assert_eq!(outcome.top_level_error, Some(ErrorCode::UnknownServerError));
    let later = now + Duration::from_millis(100);
    let (_, _, meta) = f.build_fetch_requests(&snap, 12, later).remove(0);
    f.take_metadata_refresh();
    f.handle_fetch_failure(&meta, later);
    assert!(
        f.take_metadata_refresh(),
        "a lost connection asks for metadata"
    );
    assert!(f.build_fetch_requests(&snap, 12, later).is_empty());
    assert_eq!(
        f.build_fetch_requests(&snap, 12, later + Duration::from_millis(100))
            .len(),
        1
    );
}

#[test]
fn unknown_leader_or_topic_asks_for_metadata() {
    let mut f = Fetcher::new(FetchSettings::default());
    f.assign([tp(0), TopicPartition::new("other", 0)]);
    f.seek(&tp(0), 0).unwrap();
    f.seek(&TopicPartition::new("other", 0), 0).unwrap();
    let reqs = f.build_fetch_requests(&snapshot(&[-1], false), 12, Instant::now());
    assert!(reqs.is_empty());
    assert!(f.take_metadata_refresh());
}

#[test]
fn topic_id_responses_map_back_to_names() {
    let mut f = Fetcher::new(FetchSettings::default());
    let other = TopicPartition::new("other-topic", 0);
    f.assign([tp(0), other.clone()]);
    f.seek(&tp(0), 0).unwrap();
    f.seek(&other, 0).unwrap();
    let snap = topics_snapshot(&[(T, &[1], true), ("other-topic", &[1], true)]);
    let now = Instant::now();
    let (_, request, meta) = f.build_fetch_requests(&snap, 16, now).remove(0);
    assert_eq!(meta.version(), 16);
    let resp = FetchResponse::default().with_responses(
        request
            .topics
            .iter()
            .map(|t| {
                FetchableTopicResponse::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(vec![partition_data(0, batch(0, 1, Compression::None), 1)])
            })
            .chain([FetchableTopicResponse::default()
                .with_topic_id(Uuid::from_u128(999))
                .with_partitions(vec![partition_data(0, batch(0, 1, Compression::None), 1)])])
            .collect(),
    );
    let outcome = f.handle_fetch_response(&meta, &resp, now);
    assert_eq!(outcome.partitions_with_data.len(), 2);
    let mut topics: Vec<String> = f
        .poll_records(500)
        .unwrap()
        .iter()
        .map(|r| r.topic.to_string())
        .collect();
    topics.sort();
    assert_eq!(topics, ["events", "other-topic"]);
}

#[test]
fn corrupt_batch_is_reported_until_seek() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let good = batch(0, 2, Compression::None);
    let mut bad = BytesMut::from(&batch(2, 2, Compression::None)[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    fetch_once(&mut f, concat(&[good, bad.freeze()]), 4);
    // Records before the corruption come first; the error on the next call, and again.
    assert_eq!(offsets(&f.poll_records(500).unwrap()), [0, 1]);
    for _ in 0..2 {
        match f.poll_records(500) {
            Err(FetchError::CorruptRecord { offset, source, .. }) => {
                assert_eq!(offset, 2);
                assert!(matches!(*source, RecordError::CrcMismatch { .. }));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        f.build_fetch_requests(&snapshot(&[1], false), 12, Instant::now())
            .is_empty()
    );
    f.seek(&tp(0), 4).unwrap();
    assert!(f.poll_records(500).unwrap().is_empty());
    assert_eq!(
        f.build_fetch_requests(&snapshot(&[1], false), 12, Instant::now())
            .len(),
        1
    );
}

fn txn_batch(base: i64, count: usize, pid: i64) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions {
        base_offset: base,
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: 0,
        is_transactional: true,
        ..BatchOptions::default()
    });
    for i in 0..count {
        b.append(
            0,
            None,
            Some(format!("p{pid}-{}", base + i as i64).as_bytes()),
            &[],
        )
        .unwrap();
    }
    b.finish().unwrap()
}

fn marker(base: i64, pid: i64, control_type: ControlRecordType) -> Bytes {
    EndTransactionMarker {
        control_type,
        coordinator_epoch: 0,
    }
    .build_batch(
        BatchOptions {
            base_offset: base,
            producer_id: pid,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        0,
    )
    .unwrap()
}

#[test]
fn read_committed_skips_aborted_transactions() {
    // pid 1 aborts (0..2, marker at 4), pid 2 commits (2..4, marker at 5), then pid 1 again
    // in a new committed transaction (6..7, marker at 8).
    let blob = concat(&[
        txn_batch(0, 2, 1),
        txn_batch(2, 2, 2),
        marker(4, 1, ControlRecordType::Abort),
        marker(5, 2, ControlRecordType::Commit),
        txn_batch(6, 2, 1),
        marker(8, 1, ControlRecordType::Commit),
    ]);
    let aborted = vec![
        AbortedTransaction::default()
            .with_producer_id(ProducerId(1))
            .with_first_offset(0),
    ];
    for (level, expected) in [
        (IsolationLevel::ReadCommitted, vec![2, 3, 6, 7]),
        (IsolationLevel::ReadUncommitted, vec![0, 1, 2, 3, 6, 7]),
    ] {
        let settings = FetchSettings {
            isolation_level: level,
            ..FetchSettings::default()
        };
        let mut f = fetcher_at(1, 0, settings);
        let now = Instant::now();
        let (_, request, meta) = f
            .build_fetch_requests(&snapshot(&[1], false), 12, now)
            .remove(0);
        let resp = response(
            &meta,
            &request,
            vec![
                partition_data(0, blob.clone(), 9).with_aborted_transactions(Some(aborted.clone())),
            ],
        );
        f.handle_fetch_response(&meta, &resp, now);
        assert_eq!(
            offsets(&f.poll_records(500).unwrap()),
            expected,
            "{level:?}"
        );
        assert_eq!(f.position(&tp(0)).unwrap().offset, 9);
    }
}

#[test]
fn list_offsets_reset_flow() {
    let mut f = Fetcher::new(FetchSettings::default());
    f.assign([tp(0), tp(1), tp(2)]);
    f.seek_to_beginning([&tp(0)]);
    f.seek_to_end([&tp(1)]);
    f.request_reset([&tp(2)], OffsetSpec::Timestamp(1_234));
    assert!(!f.has_all_positions());
    let now = Instant::now();
    let snap = snapshot(&[1, 2, 1], false);
    let reqs = f.build_list_offsets_requests(&snap, 10, now);
    assert_eq!(reqs.len(), 2);
    let (broker, request, meta) = &reqs[0];
    assert_eq!((*broker, meta.version(), meta.broker()), (1, 10, 1));
    let ts: Vec<_> = request.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.timestamp, p.current_leader_epoch))
        .collect();
    assert_eq!(ts, [(0, -2, 5), (2, 1_234, 5)]);
    assert_eq!(request.timeout_ms, 30_000);
    assert!(
        f.build_list_offsets_requests(&snap, 10, now).is_empty(),
        "in flight"
    );

    let answer = |parts: Vec<ListOffsetsPartitionResponse>| {
        ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str(T)))
                .with_partitions(parts),
        ])
    };
    let outcome = f.handle_list_offsets_response(
        meta,
        &answer(vec![
            ListOffsetsPartitionResponse::default()
                .with_partition_index(0)
                .with_offset(10)
                .with_leader_epoch(4),
            // No record at or after the timestamp: falls back to latest.
            ListOffsetsPartitionResponse::default()
                .with_partition_index(2)
                .with_offset(-1)
                .with_timestamp(-1),
        ]),
        now,
    );
    assert_eq!(
        outcome.reset,
        [(tp(0), FetchPosition::new(10).with_epoch(Some(4)))]
    );
    assert_eq!(
        f.position(&tp(0)),
        Some(FetchPosition::new(10).with_epoch(Some(4)))
    );
    assert_eq!(
        f.position_state(&tp(2)),
        Some(&PositionState::AwaitingReset(OffsetSpec::Latest))
    );

    // tp(1)'s answer arrives after a seek: discarded.
    let (_, _, meta1) = &reqs[1];
    f.seek(&tp(1), 77).unwrap();
    let outcome = f.handle_list_offsets_response(
        meta1,
        &answer(vec![
            ListOffsetsPartitionResponse::default()
                .with_partition_index(1)
                .with_offset(3),
        ]),
        now,
    );
    assert_eq!(outcome.discarded, [tp(1)]);
    assert_eq!(f.position(&tp(1)).unwrap().offset, 77);

    // tp(2): a leadership error backs off and refreshes, authorization is user-visible.
    let (_, _, meta2) = f.build_list_offsets_requests(&snap, 10, now).remove(0);
    let outcome = f.handle_list_offsets_response(
        &meta2,
        &answer(vec![
            ListOffsetsPartitionResponse::default()
                .with_partition_index(2)
                .with_error_code(ErrorCode::NotLeaderOrFollower.code()),
        ]),
        now,
    );
    assert!(outcome.refresh_metadata && f.take_metadata_refresh());
    assert!(f.build_list_offsets_requests(&snap, 10, now).is_empty());
    let later = now + Duration::from_millis(100);
    let (_, _, meta3) = f.build_list_offsets_requests(&snap, 10, later).remove(0);
    f.handle_list_offsets_response(
        &meta3,
        &answer(vec![
            ListOffsetsPartitionResponse::default()
                .with_partition_index(2)
                .with_error_code(ErrorCode::TopicAuthorizationFailed.code()),
        ]),
        later,
    );
    assert!(matches!(
        f.poll_records(500),
        Err(FetchError::TopicAuthorizationFailed { .. })
    ));
    // A network failure releases the partition after the back-off.
    let later = later + Duration::from_millis(100);
    let (_, _, meta4) = f.build_list_offsets_requests(&snap, 10, later).remove(0);
    f.handle_list_offsets_failure(&meta4, later);
    assert!(f.build_list_offsets_requests(&snap, 10, later).is_empty());
    assert_eq!(
        f.build_list_offsets_requests(&snap, 10, later + Duration::from_millis(100))
            .len(),
        1
    );
}

#[test]
fn missing_positions_follow_auto_offset_reset() {
    let mut f = Fetcher::new(FetchSettings {
        auto_offset_reset: OffsetResetStrategy::None,
        ..FetchSettings::default()
    });
    f.assign([tp(0), tp(1)]);
    f.seek(&tp(1), 4).unwrap();
    assert_eq!(f.initializing_partitions(), [tp(0)]);
    assert!(matches!(
        f.reset_missing_positions(),
        Err(FetchError::NoOffsetForPartition(p)) if p == tp(0)
    ));
    f.settings_mut().auto_offset_reset = OffsetResetStrategy::Earliest;
    f.reset_missing_positions().unwrap();
    assert_eq!(
        f.position_state(&tp(0)),
        Some(&PositionState::AwaitingReset(OffsetSpec::Earliest))
    );
    assert!(matches!(f.seek(&tp(9), 0), Err(FetchError::NotAssigned(_))));
    assert_eq!(f.assignment().count(), 2);
}

#[test]
fn lag_and_lead_follow_isolation_level() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    assert_eq!(f.lag(&tp(0)), None);
    let now = Instant::now();
    let (_, request, meta) = f
        .build_fetch_requests(&snapshot(&[1], false), 12, now)
        .remove(0);
    let resp = response(
        &meta,
        &request,
        vec![
            partition_data(0, batch(0, 2, Compression::None), 10)
                .with_last_stable_offset(6)
                .with_log_start_offset(1),
        ],
    );
    f.handle_fetch_response(&meta, &resp, now);
    f.poll_records(1).unwrap();
    assert_eq!(f.high_watermark(&tp(0)), Some(10));
    assert_eq!(f.last_stable_offset(&tp(0)), Some(6));
    assert_eq!(f.log_start_offset(&tp(0)), Some(1));
    assert_eq!(f.lag(&tp(0)), Some(9));
    assert_eq!(f.lead(&tp(0)), Some(0));
    f.settings_mut().isolation_level = IsolationLevel::ReadCommitted;
    assert_eq!(f.lag(&tp(0)), Some(5));
}

/// A fetcher on partition 0 that consumed `0..5` under leader epoch 5 (position 5, epoch 5).
fn consumed_under_epoch_5(settings: FetchSettings) -> Fetcher {
    let mut f = fetcher_at(1, 0, settings);
    fetch_once(&mut f, batch(0, 5, Compression::None), 5);
    assert_eq!(f.poll_records(500).unwrap().len(), 5);
    assert_eq!(
        f.position(&tp(0)),
        Some(FetchPosition::new(5).with_epoch(Some(5)))
    );
    f
}

fn epoch_answer(
    end_offset: i64,
    leader_epoch: i32,
    error: ErrorCode,
) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse::default().with_topics(vec![
        OffsetForLeaderTopicResult::default()
            .with_topic(TopicName(StrBytes::from_static_str(T)))
            .with_partitions(vec![
                EpochEndOffset::default()
                    .with_partition(0)
                    .with_error_code(error.code())
                    .with_end_offset(end_offset)
                    .with_leader_epoch(leader_epoch),
            ]),
    ])
}

#[test]
fn leader_change_validates_the_position_before_fetching_on() {
    let mut f = consumed_under_epoch_5(FetchSettings::default());
    let now = Instant::now();
    let new_leader = topics_snapshot_at_epoch(&[(T, &[2], false)], 6);
    assert!(f.build_fetch_requests(&new_leader, 12, now).is_empty());
    assert_eq!(
        f.position_state(&tp(0)),
        Some(&PositionState::AwaitingValidation(
            FetchPosition::new(5).with_epoch(Some(5))
        ))
    );
    let mut reqs = f.build_validation_requests(&new_leader, Some(4), now);
    assert!(
        f.build_validation_requests(&new_leader, Some(4), now)
            .is_empty(),
        "in flight"
    );
    let (broker, request, meta) = reqs.remove(0);
    assert_eq!((broker, meta.broker(), meta.version()), (2, 2, 4));
    assert_eq!(request.replica_id.0, -1);
    let p = &request.topics[0].partitions[0];
    assert_eq!(
        (p.partition, p.current_leader_epoch, p.leader_epoch),
        (0, 6, 5)
    );
    for v in MIN_OFFSET_FOR_LEADER_EPOCH_VERSION..=MAX_OFFSET_FOR_LEADER_EPOCH_VERSION {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, v).unwrap();
        let d = OffsetForLeaderEpochRequest::decode(&mut buf.freeze(), v).unwrap();
        assert_eq!(d.replica_id.0, -1);
    }
    // The epoch ends at 9 in the new leader's log: the position is fine.
    let outcome = f.handle_validation_response(&meta, &epoch_answer(9, 5, ErrorCode::None), now);
    assert_eq!(outcome.validated, [tp(0)]);
    let reqs = f.build_fetch_requests(&new_leader, 12, now);
    assert_eq!(reqs[0].0, 2);
    let p = &reqs[0].1.topics[0].partitions[0];
    assert_eq!((p.fetch_offset, p.current_leader_epoch), (5, 6));
}

#[test]
fn an_older_epoch_in_metadata_is_not_a_leader_change() {
    let mut f = consumed_under_epoch_5(FetchSettings::default());
    let stale = topics_snapshot_at_epoch(&[(T, &[1], false)], 4);
    let reqs = f.build_fetch_requests(&stale, 12, Instant::now());
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].1.topics[0].partitions[0].current_leader_epoch, 4);
}

#[test]
fn truncation_moves_to_the_divergent_offset_or_is_reported() {
    let now = Instant::now();
    let new_leader = topics_snapshot_at_epoch(&[(T, &[2], false)], 6);

    let mut f = consumed_under_epoch_5(FetchSettings::default());
    f.build_fetch_requests(&new_leader, 12, now);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(3), now)
        .remove(0);
    let outcome = f.handle_validation_response(&meta, &epoch_answer(3, 4, ErrorCode::None), now);
    let divergent = FetchPosition::new(3).with_epoch(Some(4));
    assert_eq!(outcome.truncated, [(tp(0), divergent)]);
    assert_eq!(f.position(&tp(0)), Some(divergent));

    // auto.offset.reset=none: reported, and the partition is not fetched until a seek.
    let settings = FetchSettings {
        auto_offset_reset: OffsetResetStrategy::None,
        ..FetchSettings::default()
    };
    let mut f = consumed_under_epoch_5(settings);
    f.build_fetch_requests(&new_leader, 12, now);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(3), now)
        .remove(0);
    f.handle_validation_response(&meta, &epoch_answer(3, 4, ErrorCode::None), now);
    match f.poll_records(500) {
        Err(FetchError::LogTruncation {
            offset: 5,
            divergent_offset: Some(d),
            ..
        }) => assert_eq!(d, divergent),
        other => panic!("{other:?}"),
    }
    assert!(f.build_fetch_requests(&new_leader, 12, now).is_empty());
    assert!(matches!(
        f.position_state(&tp(0)),
        Some(PositionState::AwaitingValidation(_))
    ));
    f.seek(&tp(0), 3).unwrap();
    assert_eq!(f.build_fetch_requests(&new_leader, 12, now).len(), 1);

    // The leader knows no such epoch: reset by auto.offset.reset.
    let mut f = consumed_under_epoch_5(FetchSettings::default());
    f.build_fetch_requests(&new_leader, 12, now);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(3), now)
        .remove(0);
    f.handle_validation_response(&meta, &epoch_answer(-1, -1, ErrorCode::None), now);
    assert_eq!(
        f.position_state(&tp(0)),
        Some(&PositionState::AwaitingReset(OffsetSpec::Latest))
    );
}

#[test]
fn validation_errors_and_stale_answers() {
    let now = Instant::now();
    let new_leader = topics_snapshot_at_epoch(&[(T, &[2], false)], 6);
    let mut f = consumed_under_epoch_5(FetchSettings::default());
    f.build_fetch_requests(&new_leader, 12, now);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(4), now)
        .remove(0);
    let outcome = f.handle_validation_response(
        &meta,
        &epoch_answer(-1, -1, ErrorCode::FencedLeaderEpoch),
        now,
    );
    assert!(outcome.refresh_metadata && f.take_metadata_refresh());
    assert!(
        f.build_validation_requests(&new_leader, Some(4), now)
            .is_empty(),
        "backed off"
    );
    let later = now + Duration::from_millis(100);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(4), later)
        .remove(0);
    f.handle_validation_failure(&meta, later);
    let later = later + Duration::from_millis(100);
    let (_, _, meta) = f
        .build_validation_requests(&new_leader, Some(4), later)
        .remove(0);
    f.seek(&tp(0), 0).unwrap();
    let outcome = f.handle_validation_response(&meta, &epoch_answer(1, 5, ErrorCode::None), later);
    assert_eq!(outcome.discarded, [tp(0)]);
    assert_eq!(f.position(&tp(0)), Some(FetchPosition::new(0)));
}

#[test]
fn leader_change_without_a_position_epoch_just_fetches() {
    let mut f = fetcher_at(1, 0, FetchSettings::default());
    let now = Instant::now();
    let (_, _, meta) = f
        .build_fetch_requests(&snapshot(&[1], false), 12, now)
        .remove(0);
    f.handle_fetch_failure(&meta, now);
    let later = now + Duration::from_millis(100);
    let moved = topics_snapshot_at_epoch(&[(T, &[2], false)], 6);
    let reqs = f.build_fetch_requests(&moved, 12, later);
    assert_eq!(reqs[0].0, 2);
    // Committed offsets with an epoch are validated first; with validation off they are not.
    f.seek_position(&tp(0), FetchPosition::new(3).with_epoch(Some(6)))
        .unwrap();
    assert!(matches!(
        f.position_state(&tp(0)),
        Some(PositionState::AwaitingValidation(_))
    ));
    f.set_position_validation(false);
    assert_eq!(f.position(&tp(0)).unwrap().offset, 3);
}

#[test]
fn partitions_that_returned_records_go_last_in_the_next_request() {
    let mut f = fetcher_at(3, 0, FetchSettings::default());
    let now = Instant::now();
    let snap = snapshot(&[1, 1, 1], false);
    let (_, request, meta) = f.build_fetch_requests(&snap, 12, now).remove(0);
    let resp = response(
        &meta,
        &request,
        vec![partition_data(0, batch(0, 1, Compression::None), 1)],
    );
    f.handle_fetch_response(&meta, &resp, now);
    f.poll_records(500).unwrap();
    f.handle_fetch_failure(&meta, now);
    let later = now + Duration::from_millis(100);
    let (_, request, _) = f.build_fetch_requests(&snap, 12, later).remove(0);
    let order: Vec<i32> = request.topics[0]
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    assert_eq!(order, [1, 2, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However the log is split into batches and codecs, wherever the position starts and
    /// however polls are sized, every offset from the position on comes out once, in order.
    #[test]
    fn drains_every_record_once_in_order(
        sizes in proptest::collection::vec((1usize..6, 0usize..5), 1..6),
        start_frac in 0.0f64..1.0,
        polls in proptest::collection::vec(1usize..7, 1..40),
        cut_tail in any::<bool>(),
    ) {
        let mut parts = Vec::new();
        let mut base = 0i64;
        for (count, codec) in &sizes {
            parts.push(batch(base, *count, Compression::ALL[*codec]));
            base += *count as i64;
        }
        let mut end = base;
        if cut_tail && parts.len() > 1 {
            let last = parts.pop().unwrap();
            end -= sizes.last().unwrap().0 as i64;
            parts.push(last.slice(..last.len() / 2));
        }
        let start = ((end as f64) * start_frac) as i64;
        let mut f = fetcher_at(1, start, FetchSettings::default());
        fetch_once(&mut f, concat(&parts), end);
        let mut seen = Vec::new();
        for n in polls.iter().copied().chain(std::iter::repeat_n(7, 100)) {
            let got = f.poll_records(n).unwrap();
            prop_assert!(got.len() <= n);
            seen.extend(offsets(&got));
            if !f.has_buffered_data() { break; }
        }
        prop_assert_eq!(seen, (start..end).collect::<Vec<_>>());
        prop_assert_eq!(f.position(&tp(0)).unwrap().offset, end);
    }

    /// Arbitrary bytes in a fetch response never panic: every poll returns records or an error,
    /// and the position never moves backwards.
    #[test]
    fn garbage_records_never_panic(
        prefix in proptest::collection::vec(any::<u8>(), 0..200),
        flip in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        level in any::<bool>(),
    ) {
        let mut blob = BytesMut::from(&batch(0, 3, Compression::Gzip)[..]);
        blob.extend_from_slice(&batch(3, 2, Compression::None));
        for (i, x) in flip {
            let at = i.index(blob.len());
            blob[at] ^= x | 1;
        }
        blob.extend_from_slice(&prefix);
        let settings = FetchSettings {
            isolation_level: if level { IsolationLevel::ReadCommitted } else { IsolationLevel::ReadUncommitted },
            ..FetchSettings::default()
        };
        let mut f = fetcher_at(1, 0, settings);
        fetch_once(&mut f, blob.freeze(), 5);
        let mut last = 0;
        for _ in 0..10 {
            let _ = f.poll_records(2);
            let now = f.position(&tp(0)).unwrap().offset;
            prop_assert!(now >= last);
            last = now;
        }
    }
}

#[test]
fn state_and_records_move_between_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Fetcher>();
    assert_send_sync::<ConsumerRecord>();
    assert_send_sync::<FetchRequestMeta>();
    assert_send_sync::<FetchError>();
}

#[test]
fn a_fetch_of_only_caught_up_partitions_waits_while_a_neighbour_drains() {
    // Partitions 0 and 1 on broker 1. Partition 0 gets 3 records and is drained slowly;
    // partition 1 is caught up (position = high watermark 0).
    let mut f = fetcher_at(2, 0, FetchSettings::default());
    let snap = snapshot(&[1, 1], false);
    let now = Instant::now();
    let mut reqs = f.build_fetch_requests(&snap, 12, now);
    assert_eq!(reqs.len(), 1);
    let (_, request, meta) = reqs.remove(0);
    let resp = response(
        &meta,
        &request,
        vec![
            partition_data(0, batch(0, 3, Compression::None), 3),
            partition_data(1, Bytes::new(), 0),
        ],
    );
    f.handle_fetch_response(&meta, &resp, now);
    // Partition 0 holds undrained records; a Fetch with only the caught-up partition 1 would
    // be parked by the broker and hold partition 0's next Fetch back: none is built.
    assert!(f.build_fetch_requests(&snap, 12, now).is_empty());
    assert_eq!(offsets(&f.poll_records(2).unwrap()), [0, 1]);
    assert!(f.build_fetch_requests(&snap, 12, now).is_empty());
    assert_eq!(offsets(&f.poll_records(2).unwrap()), [2]);
    // Drained: one Fetch for both.
    let reqs = f.build_fetch_requests(&snap, 12, now);
    assert_eq!(reqs.len(), 1);
    let fetched: usize = reqs[0].1.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(fetched, 2);
}
