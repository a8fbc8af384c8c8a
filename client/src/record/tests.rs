//! Cross-cutting tests of the record codec: round trips through every codec, Kafka layout
//! details, corruption handling, property tests and a deterministic fuzz loop.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::varint::put_varint;
use super::*;

/// An owned record, for building inputs and comparing outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn build(options: BatchOptions, recs: &[Rec]) -> Bytes {
    let mut b = BatchBuilder::new(options);
    for r in recs {
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers)
            .unwrap();
    }
    b.finish().unwrap()
}

fn decode(batch: &RecordBatch) -> Vec<(i64, Rec)> {
    batch
        .records()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            let headers = r
                .headers
                .iter()
                .map(|h| {
                    let h = h.unwrap();
                    (h.key_str().to_owned(), h.value.map(|v| v.to_vec()))
                })
                .collect::<Vec<_>>();
            assert_eq!(headers.len(), r.headers.len());
            (
                r.offset,
                Rec {
                    timestamp: r.timestamp,
                    key: r.key.map(|k| k.to_vec()),
                    value: r.value.map(|v| v.to_vec()),
                    headers,
                },
            )
        })
        .collect()
}

/// Decodes through the borrowed-view API; must agree with [`decode`].
fn decode_views(batch: &RecordBatch) -> Vec<(i64, Rec)> {
    let records = batch.records().unwrap();
    records
        .views()
        .map(|r| {
            let r = r.unwrap();
            let headers = r
                .headers
                .iter()
                .map(|h| {
                    let h = h.unwrap();
                    (h.key.to_owned(), h.value.map(<[u8]>::to_vec))
                })
                .collect::<Vec<_>>();
            assert_eq!(headers.len(), r.headers.len());
            (
                r.offset,
                Rec {
                    timestamp: r.timestamp,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                    headers,
                },
            )
        })
        .collect()
}

/// Recomputes the CRC of the batch at the start of `b`, so mutated data passes the CRC check
/// and gets parsed deeper.
fn fix_crc(b: &mut [u8]) {
    if b.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    let len = i32::from_be_bytes(b[8..12].try_into().unwrap());
    let end = if len >= 49 && (12 + len as usize) <= b.len() {
        12 + len as usize
    } else {
        b.len()
    };
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..end]);
    b[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

fn rec(ts: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Rec {
    Rec {
        timestamp: ts,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: vec![],
    }
}

fn varied_records() -> Vec<Rec> {
    vec![
        rec(1_000, None, None),
        rec(999, Some(b""), Some(b"")),
        rec(1_500, Some(b"key"), Some(b"value")),
        Rec {
            timestamp: 1_200,
            key: None,
            value: Some(vec![42; 1000]),
            headers: vec![
                ("a".into(), Some(b"1".to_vec())),
                ("null".into(), None),
                ("".into(), Some(vec![])),
                ("ünïcödé".into(), Some(vec![0xff; 3])),
            ],
        },
    ]
}

#[test]
fn every_codec_round_trips_records_and_header_fields() {
    for codec in Compression::ALL {
        let options = BatchOptions {
            base_offset: 77,
            partition_leader_epoch: 4,
            compression: codec,
            producer_id: 9_000,
            producer_epoch: 3,
            base_sequence: 12,
            ..BatchOptions::default()
        };
        let recs = varied_records();
        let raw = build(options, &recs);
        let batch = RecordBatch::parse(&raw).unwrap();
        assert_eq!(batch.as_bytes(), &raw);
        assert_eq!(batch.size_in_bytes(), raw.len());
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.attributes(), codec.id());
        assert_eq!(batch.base_offset(), 77);
        assert_eq!(batch.last_offset_delta(), 3);
        assert_eq!(batch.last_offset(), 80);
        assert_eq!(batch.next_offset(), 81);
        assert_eq!(batch.partition_leader_epoch(), 4);
        assert_eq!(batch.base_timestamp(), 1_000);
        assert_eq!(batch.max_timestamp(), 1_500);
        assert_eq!(batch.producer_id(), 9_000);
        assert_eq!(batch.producer_epoch(), 3);
        assert_eq!(batch.base_sequence(), 12);
        assert_eq!(batch.last_sequence(), 15);
        assert_eq!(batch.record_count(), 4);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(!batch.is_transactional() && !batch.is_control());
        assert_eq!(batch.crc(), crc32c::crc32c(&raw[ATTRIBUTES_OFFSET..]));
        let decoded = decode(&batch);
        assert_eq!(decode_views(&batch), decoded);
        let offsets: Vec<i64> = decoded.iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, [77, 78, 79, 80]);
        let got: Vec<Rec> = decoded.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, recs, "{codec:?}");
    }
}

#[test]
fn header_layout_is_byte_exact() {
    let raw = build(
        BatchOptions {
            base_offset: 0x0102_0304_0506_0708,
            partition_leader_epoch: 5,
            producer_id: 6,
            producer_epoch: 7,
            base_sequence: 8,
            ..BatchOptions::default()
        },
        &[rec(0x10, Some(b"k"), Some(b"vv"))],
    );
    // record: len 9 (zig-zag varint 0x12), attrs, ts delta 0, offset delta 0, key len 1 (0x02) "k",
    // value len 2 (0x04) "vv", 0 headers
    let record = [0x12, 0, 0, 0, 0x02, b'k', 0x04, b'v', b'v', 0];
    assert_eq!(raw.len(), 61 + record.len());
    assert_eq!(&raw[0..8], &0x0102_0304_0506_0708i64.to_be_bytes());
    assert_eq!(
        &raw[8..12],
        &((61 - 12 + record.len()) as i32).to_be_bytes()
    );
    assert_eq!(&raw[12..16], &5i32.to_be_bytes());
    assert_eq!(raw[16], 2);
    assert_eq!(&raw[21..23], &[0, 0]);
    assert_eq!(&raw[23..27], &0i32.to_be_bytes());
    assert_eq!(&raw[27..35], &0x10i64.to_be_bytes());
    assert_eq!(&raw[35..43], &0x10i64.to_be_bytes());
    assert_eq!(&raw[43..51], &6i64.to_be_bytes());
    assert_eq!(&raw[51..53], &7i16.to_be_bytes());
    assert_eq!(&raw[53..57], &8i32.to_be_bytes());
    assert_eq!(&raw[57..61], &1i32.to_be_bytes());
    assert_eq!(&raw[61..], &record);
    // CRC-32C (Castagnoli), not CRC-32 IEEE.
    assert_eq!(&raw[17..21], &crc32c::crc32c(&raw[21..]).to_be_bytes());
}

#[test]
fn compressed_sections_use_the_expected_framing() {
    let recs = varied_records();
    for (codec, magic) in [
        (Compression::Gzip, &[0x1f, 0x8b][..]),
        (
            Compression::Snappy,
            &b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"[..],
        ),
        (Compression::Lz4, &[0x04, 0x22, 0x4d, 0x18][..]),
        (Compression::Zstd, &[0x28, 0xb5, 0x2f, 0xfd][..]),
    ] {
        let raw = build(
            BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            },
            &recs,
        );
        assert_eq!(&raw[61..61 + magic.len()], magic, "{codec:?}");
    }
}

#[test]
fn raw_snappy_batches_from_other_producers_are_read() {
    let plain = build(BatchOptions::default(), &varied_records());
    let section = snap::raw::Encoder::new()
        .compress_vec(&plain[RECORD_BATCH_OVERHEAD..])
        .unwrap();
    let mut raw = plain[..RECORD_BATCH_OVERHEAD].to_vec();
    raw.extend_from_slice(&section);
    let len = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&len.to_be_bytes());
    raw[21..23].copy_from_slice(&Compression::Snappy.id().to_be_bytes());
    fix_crc(&mut raw);
    let batch = RecordBatch::parse(&raw.into()).unwrap();
    assert_eq!(batch.compression(), Compression::Snappy);
    let got: Vec<Rec> = decode(&batch).into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, varied_records());
}

#[test]
fn kafka_protocol_crate_reads_our_batches() {
    // An independent decoder (kafka-protocol, using the C lz4 library) must accept every codec
    // it supports as we write it.
    for codec in [Compression::None, Compression::Lz4] {
        let recs = varied_records();
        let mut raw = build(
            BatchOptions {
                compression: codec,
                base_offset: 5,
                ..BatchOptions::default()
            },
            &recs,
        );
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut raw).unwrap();
        assert_eq!(set.records.len(), recs.len());
        for (i, (r, expected)) in set.records.iter().zip(&recs).enumerate() {
            assert_eq!(r.offset, 5 + i as i64);
            assert_eq!(r.timestamp, expected.timestamp);
            assert_eq!(r.key.as_deref(), expected.key.as_deref());
            assert_eq!(r.value.as_deref(), expected.value.as_deref());
            assert_eq!(r.headers.len(), expected.headers.len());
        }
    }
}

#[test]
fn null_and_empty_keys_values_stay_distinct() {
    let raw = build(
        BatchOptions::default(),
        &[rec(0, None, Some(b"")), rec(0, Some(b""), None)],
    );
    let batch = RecordBatch::parse(&raw).unwrap();
    let rs: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(rs[0].key, None);
    assert_eq!(rs[0].value, Some(Bytes::new()));
    assert_eq!(rs[1].key, Some(Bytes::new()));
    assert_eq!(rs[1].value, None);
    assert!(rs[0].headers.is_empty());
}

#[test]
fn headers_with_null_values_and_lookup() {
    let r = Rec {
        timestamp: 0,
        key: None,
        value: None,
        headers: vec![
            ("k".into(), Some(b"first".to_vec())),
            ("n".into(), None),
            ("k".into(), Some(b"second".to_vec())),
        ],
    };
    let batch = RecordBatch::parse(&build(BatchOptions::default(), &[r])).unwrap();
    let record = batch.records().unwrap().next().unwrap().unwrap();
    assert_eq!(record.headers.len(), 3);
    assert_eq!(
        record.headers.last_value("k"),
        Some(Some(Bytes::from_static(b"second")))
    );
    assert_eq!(record.headers.last_value("n"), Some(None));
    assert_eq!(record.headers.last_value("missing"), None);
    let keys: Vec<String> = (&record.headers)
        .into_iter()
        .map(|h| h.unwrap().key_str().to_owned())
        .collect();
    assert_eq!(keys, ["k", "n", "k"]);
}

#[test]
fn one_mib_values_round_trip_in_every_codec() {
    let big: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for codec in Compression::ALL {
        let recs = vec![
            rec(1, Some(b"big"), Some(&big)),
            rec(2, Some(&big[..300_000]), Some(b"small")),
        ];
        let raw = build(
            BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            },
            &recs,
        );
        let batch = RecordBatch::parse(&raw).unwrap();
        let got: Vec<Rec> = decode(&batch).into_iter().map(|(_, r)| r).collect();
        assert!(got == recs, "{codec:?}");
    }
}

#[test]
fn uncompressed_records_are_zero_copy_slices_of_the_batch() {
    let raw = build(
        BatchOptions::default(),
        &[rec(0, Some(b"key"), Some(b"value"))],
    );
    let batch = RecordBatch::parse(&raw).unwrap();
    let r = batch.records().unwrap().next().unwrap().unwrap();
    let value = r.value.unwrap();
    let range = raw.as_ptr() as usize..raw.as_ptr() as usize + raw.len();
    assert!(range.contains(&(value.as_ptr() as usize)));
}

#[test]
fn control_batch_with_commit_and_abort_markers() {
    for control_type in [ControlRecordType::Commit, ControlRecordType::Abort] {
        let marker = EndTransactionMarker {
            control_type,
            coordinator_epoch: 11,
        };
        let raw = marker
            .build_batch(
                BatchOptions {
                    base_offset: 40,
                    producer_id: 5,
                    producer_epoch: 2,
                    base_sequence: 99, // forced to -1
                    ..BatchOptions::default()
                },
                123,
            )
            .unwrap();
        let batch = RecordBatch::parse(&raw).unwrap();
        assert!(batch.is_control());
        assert!(batch.is_transactional());
        assert_eq!(batch.attributes(), 0x30);
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (5, 2));
        let record = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!(record.offset, 40);
        assert_eq!(
            ControlRecordType::parse_key(record.key.as_deref().unwrap()).unwrap(),
            control_type
        );
        assert_eq!(record.value.as_deref().unwrap(), &[0, 0, 0, 0, 0, 11]);
        assert_eq!(EndTransactionMarker::from_record(&record).unwrap(), marker);
    }
    assert!(ControlRecordType::parse_key(&[0, 0, 0]).is_err());
    assert!(ControlRecordType::parse_key(&[0xff, 0xff, 0, 1]).is_err());
    assert_eq!(
        ControlRecordType::parse_key(&[0, 1, 0, 2]).unwrap(),
        ControlRecordType::Unknown(2)
    );
}

#[test]
fn transactional_and_timestamp_type_flags() {
    let raw = build(
        BatchOptions {
            is_transactional: true,
            timestamp_type: TimestampType::LogAppendTime,
            compression: Compression::Gzip,
            ..BatchOptions::default()
        },
        &[rec(10, None, None), rec(30, None, None)],
    );
    let batch = RecordBatch::parse(&raw).unwrap();
    assert!(batch.is_transactional());
    assert!(!batch.is_control());
    assert_eq!(batch.attributes(), 0x10 | 0x08 | 1);
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    // LogAppendTime: every record reports the batch's max timestamp.
    let ts: Vec<i64> = batch
        .records()
        .unwrap()
        .map(|r| r.unwrap().timestamp)
        .collect();
    assert_eq!(ts, [30, 30]);
}

#[test]
fn builder_set_producer_state_before_finish() {
    let mut b = BatchBuilder::new(BatchOptions::default());
    b.append(0, None, Some(b"v"), &[]).unwrap();
    b.set_producer_state(8, 1, 100, true);
    let batch = RecordBatch::parse(&b.finish().unwrap()).unwrap();
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (8, 1, 100)
    );
    assert!(batch.is_transactional());
}

#[test]
fn empty_builder_yields_a_valid_empty_batch() {
    let b = BatchBuilder::new(BatchOptions {
        base_offset: 10,
        ..BatchOptions::default()
    });
    assert!(b.is_empty());
    assert_eq!(b.size_in_bytes(), RECORD_BATCH_OVERHEAD);
    let raw = b.finish().unwrap();
    assert_eq!(raw.len(), RECORD_BATCH_OVERHEAD);
    let batch = RecordBatch::parse(&raw).unwrap();
    assert_eq!(batch.record_count(), 0);
    assert_eq!(batch.last_offset_delta(), -1);
    assert_eq!(batch.next_offset(), 10);
    assert_eq!(batch.records().unwrap().count(), 0);
}

#[test]
fn batch_iter_reads_all_batches_and_ignores_a_trailing_partial_one() {
    let mut blob = BytesMut::new();
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        blob.extend_from_slice(&build(
            BatchOptions {
                base_offset: i as i64 * 10,
                compression: codec,
                ..BatchOptions::default()
            },
            &varied_records(),
        ));
    }
    let blob = blob.freeze();
    let all: Vec<i64> = BatchIter::new(blob.clone())
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(all, [0, 10, 20, 30, 40]);

    let last_start: usize = BatchIter::new(blob.clone())
        .take(4)
        .map(|b| b.unwrap().size_in_bytes())
        .sum();
    for cut in [1, 11, 12, 20, 61, blob.len() - last_start - 1] {
        let mut it = BatchIter::new(blob.slice(..blob.len() - cut));
        let got: Vec<i64> = it.by_ref().map(|b| b.unwrap().base_offset()).collect();
        assert_eq!(got, [0, 10, 20, 30], "cut {cut}");
        assert_eq!(it.remaining_bytes(), blob.len() - cut - last_start);
    }
    assert_eq!(BatchIter::new(Bytes::new()).count(), 0);
    assert_eq!(BatchIter::new(Bytes::from_static(&[0; 11])).count(), 0);
}

#[test]
fn crc_corruption_is_detected_anywhere_in_the_covered_range() {
    let raw = build(
        BatchOptions {
            compression: Compression::Lz4,
            ..BatchOptions::default()
        },
        &varied_records(),
    );
    for pos in ATTRIBUTES_OFFSET..raw.len() {
        let mut bad = raw.to_vec();
        bad[pos] ^= 0x01;
        let bad = Bytes::from(bad);
        assert!(
            matches!(
                RecordBatch::parse(&bad),
                Err(RecordError::CrcMismatch { .. })
            ),
            "flip at {pos}"
        );
        let mut it = BatchIter::new(bad);
        assert!(matches!(
            it.next(),
            Some(Err(RecordError::CrcMismatch { .. }))
        ));
        assert!(it.next().is_none(), "iteration stops after a corrupt batch");
    }
    // Flipping the CRC itself is detected too.
    let mut bad = raw.to_vec();
    bad[CRC_OFFSET] ^= 0x80;
    assert!(RecordBatch::parse(&bad.into()).is_err());
}

#[test]
fn header_level_errors() {
    let raw = build(BatchOptions::default(), &[rec(0, None, None)]);
    let mut legacy = raw.to_vec();
    legacy[MAGIC_OFFSET] = 1;
    assert!(matches!(
        RecordBatch::parse(&legacy.into()),
        Err(RecordError::InvalidMagic(1))
    ));
    let mut short_len = raw.to_vec();
    short_len[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&short_len.clone().into()),
        Err(RecordError::InvalidBatchLength(48))
    ));
    assert!(matches!(
        BatchIter::new(short_len.into()).next(),
        Some(Err(RecordError::InvalidBatchLength(48)))
    ));
    let mut bad_codec = raw.to_vec();
    bad_codec[22] = 5;
    fix_crc(&mut bad_codec);
    assert!(matches!(
        RecordBatch::parse(&bad_codec.into()),
        Err(RecordError::UnknownCompression(5))
    ));
    let mut negative_count = raw.to_vec();
    negative_count[57..61].copy_from_slice(&(-2i32).to_be_bytes());
    fix_crc(&mut negative_count);
    assert!(matches!(
        RecordBatch::parse(&negative_count.into()),
        Err(RecordError::InvalidRecordCount(-2))
    ));
}

/// A batch whose records section is `section`, declaring `count` records, with a valid CRC.
fn hand_made(count: i32, section: &[u8]) -> Bytes {
    let mut raw = build(BatchOptions::default(), &[])[..RECORD_BATCH_OVERHEAD].to_vec();
    raw.extend_from_slice(section);
    let len = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&len.to_be_bytes());
    raw[57..61].copy_from_slice(&count.to_be_bytes());
    fix_crc(&mut raw);
    raw.into()
}

fn one_record_section() -> Vec<u8> {
    let raw = build(BatchOptions::default(), &[rec(0, Some(b"k"), Some(b"v"))]);
    raw[RECORD_BATCH_OVERHEAD..].to_vec()
}

#[test]
fn record_count_mismatch_and_trailing_bytes_are_errors() {
    let section = one_record_section();
    let batch = RecordBatch::parse(&hand_made(2, &section)).unwrap();
    let items: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(matches!(
        items[1],
        Err(RecordError::RecordCountMismatch {
            declared: 2,
            actual: 1
        })
    ));

    let mut two = section.clone();
    two.extend_from_slice(&section);
    let batch = RecordBatch::parse(&hand_made(1, &two)).unwrap();
    let items: Vec<_> = batch.records().unwrap().collect();
    assert!(matches!(items[1], Err(RecordError::TrailingBytes(n)) if n == section.len()));
}

#[test]
fn views_report_the_same_errors_as_owned_records() {
    let section = one_record_section();
    let batch = RecordBatch::parse(&hand_made(2, &section)).unwrap();
    let records = batch.records().unwrap();
    let views: Vec<_> = records.views().collect();
    assert_eq!(views.len(), 2);
    assert!(matches!(
        views[1],
        Err(RecordError::RecordCountMismatch {
            declared: 2,
            actual: 1
        })
    ));
    // Views start at the owned iterator's position.
    let mut records = batch.records().unwrap();
    records.next().unwrap().unwrap();
    assert_eq!(records.views().count(), 1);
}

#[test]
fn record_body_must_match_its_length() {
    // Declared record length one byte longer than its fields (an extra byte after 0 headers).
    let mut section = one_record_section();
    section[0] += 2; // zig-zag: +1 byte
    section.push(0);
    let batch = RecordBatch::parse(&hand_made(1, &section)).unwrap();
    assert!(matches!(
        batch.records().unwrap().next(),
        Some(Err(RecordError::RecordSizeMismatch { .. }))
    ));
}

#[test]
fn huge_claimed_lengths_fail_fast_without_allocating() {
    // batchLength 2^31-1 over a 61-byte buffer.
    let mut raw = build(BatchOptions::default(), &[])[..].to_vec();
    raw[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let raw = Bytes::from(raw);
    assert!(matches!(
        RecordBatch::parse(&raw),
        Err(RecordError::Truncated)
    ));
    let mut it = BatchIter::new(raw);
    assert!(it.next().is_none(), "treated as a partial batch");
    assert_eq!(it.remaining_bytes(), RECORD_BATCH_OVERHEAD);

    // Record length varint i32::MAX.
    let mut section = Vec::new();
    put_varint(&mut section, i32::MAX);
    section.extend_from_slice(&[0; 8]);
    let batch = RecordBatch::parse(&hand_made(1, &section)).unwrap();
    assert!(matches!(
        batch.records().unwrap().next(),
        Some(Err(RecordError::InvalidLength {
            field: "record",
            ..
        }))
    ));

    // Key length i32::MAX inside a small record.
    let body = {
        let mut b = vec![0, 0, 0]; // attributes, ts delta, offset delta
        put_varint(&mut b, i32::MAX);
        b.extend_from_slice(&[0; 4]);
        b
    };
    let mut section = Vec::new();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let batch = RecordBatch::parse(&hand_made(1, &section)).unwrap();
    assert!(matches!(
        batch.records().unwrap().next(),
        Some(Err(RecordError::InvalidLength { field: "key", .. }))
    ));

    // Header count i32::MAX.
    let body = {
        let mut b = vec![0, 0, 0, 1, 1]; // attrs, ts, offset, null key, null value
        put_varint(&mut b, i32::MAX);
        b.extend_from_slice(&[0; 6]);
        b
    };
    let mut section = Vec::new();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let batch = RecordBatch::parse(&hand_made(1, &section)).unwrap();
    assert!(matches!(
        batch.records().unwrap().next(),
        Some(Err(RecordError::InvalidLength {
            field: "header count",
            ..
        }))
    ));

    // Record count i32::MAX with one record: no preallocation, a mismatch after the record.
    let batch = RecordBatch::parse(&hand_made(i32::MAX, &one_record_section())).unwrap();
    let mut records = batch.records().unwrap();
    assert_eq!(records.remaining(), i32::MAX as usize);
    let items: Vec<_> = records.by_ref().collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[1],
        Err(RecordError::RecordCountMismatch { .. })
    ));
    assert_eq!(records.remaining(), 0);

    // Header key length i32::MAX (found lazily).
    let body = {
        let mut b = vec![0, 0, 0, 1, 1, 2]; // ..., 1 header
        put_varint(&mut b, i32::MAX);
        b.push(1);
        b
    };
    let mut section = Vec::new();
    put_varint(&mut section, body.len() as i32);
    section.extend_from_slice(&body);
    let batch = RecordBatch::parse(&hand_made(1, &section)).unwrap();
    let record = batch.records().unwrap().next().unwrap().unwrap();
    let headers: Vec<_> = record.headers.iter().collect();
    assert!(matches!(
        headers[..],
        [Err(RecordError::InvalidLength {
            field: "header key",
            ..
        })]
    ));
}

#[test]
fn invalid_utf8_header_key_is_an_error() {
    let raw = build(
        BatchOptions::default(),
        &[Rec {
            timestamp: 0,
            key: None,
            value: None,
            headers: vec![("ab".into(), None)],
        }],
    );
    let mut bad = raw.to_vec();
    let pos = bad.len() - 3; // "ab" then the null value
    assert_eq!(&bad[pos..pos + 2], b"ab");
    bad[pos] = 0xff;
    fix_crc(&mut bad);
    let batch = RecordBatch::parse(&bad.into()).unwrap();
    let record = batch.records().unwrap().next().unwrap().unwrap();
    assert!(matches!(
        record.headers.iter().next(),
        Some(Err(RecordError::InvalidUtf8Header))
    ));
}

#[test]
fn compression_names_and_ids() {
    for c in Compression::ALL {
        assert_eq!(c.name().parse::<Compression>().unwrap(), c);
        assert_eq!(Compression::from_id(c.id()).unwrap(), c);
        assert_eq!(c.to_string(), c.name());
    }
    assert_eq!("GZIP".parse::<Compression>().unwrap(), Compression::Gzip);
    assert!(matches!(
        "brotli".parse::<Compression>(),
        Err(RecordError::UnknownCompressionName(_))
    ));
    assert!(matches!(
        Compression::from_id(7),
        Err(RecordError::UnknownCompression(7))
    ));
}

#[test]
fn decompression_limit_applies_to_records() {
    let raw = build(
        BatchOptions {
            compression: Compression::Zstd,
            ..BatchOptions::default()
        },
        &[rec(0, None, Some(&vec![0u8; 2 << 20]))],
    );
    assert!(raw.len() < 10_000);
    let batch = RecordBatch::parse(&raw).unwrap();
    assert!(matches!(
        batch.records_with_limit(1 << 20),
        Err(RecordError::DecompressedTooLarge { .. })
    ));
    assert_eq!(batch.records().unwrap().count(), 1);
}

/// Batches written by kafka-python 3.0.12's `DefaultRecordBatchBuilder` (python-snappy xerial
/// framing, python `lz4.frame` with content size, `zstandard`), one per codec, each holding:
/// (offset 0, ts 1700000000000, null key, "value-0"), (1, +5, "key-1", "", headers h1=v1 and
/// null=null), (2, +2, "", null), (3, +9, "k3", 300 x "x"). The lz4 one is transactional with
/// producer id 1234, epoch 5, base sequence 17 (as are the other compressed ones).
const KAFKA_PYTHON_BATCHES: [&str; 5] = [
    // none (417 bytes)
    concat!(
        "0000000000000000000001950000000002d7572e200000000000030000018bcfe568000000018bcfe56809ffffffffff",
        "ffffffffffffffffff000000041a000000010e76616c75652d30002e000a020a6b65792d310004046831047631086e75",
        "6c6c010c000404000100ea04001206046b33d80478787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
        "787878787878787878787878787878787878787878787878787878787878787800",
    ),
    // gzip (140 bytes)
    concat!(
        "0000000000000000000000800000000002a6e0a5ca0001000000030000018bcfe568000000018bcfe568090000000000",
        "0004d2000500000011000000041f8b080090e7046b02ff9362606060e42b4bcc294dd53560d063e062e2ca4eadd43564",
        "6061c930642933e4c82bcdc961e401721918195eb13008b1b1641bdf60a9180544030600bc32beac64010000",
    ),
    // snappy (158 bytes)
    concat!(
        "00000000000000000000009200000000028881f7720002000000030000018bcfe568000000018bcfe568090000000000",
        "0004d20005000000110000000482534e415050590000000001000000010000004de402e01a000000010e76616c75652d",
        "30002e000a020a6b65792d310004046831047631086e756c6c010c000404000100ea04001206046b33d8047878fe0200",
        "fe0200fe0200fe0200a602000000",
    ),
    // lz4 (152 bytes)
    concat!(
        "00000000000000000000008c0000000002ddf6105d0013000000030000018bcfe568000000018bcfe568090000000000",
        "0004d20005000000110000000404224d1868406401000000000000db44000000ff291a000000010e76616c75652d3000",
        "2e000a020a6b65792d310004046831047631086e756c6c010c000404000100ea04001206046b33d804780100ff155078",
        "7878780000000000",
    ),
    // zstd (136 bytes)
    concat!(
        "00000000000000000000007c0000000002fae26a1b0004000000030000018bcfe568000000018bcfe568090000000000",
        "0004d20005000000110000000428b52ffd6064000d020094031a000000010e76616c75652d30002e000a020a6b65792d",
        "310004046831047631086e756c6c010c000404000100ea04001206046b33d8047800010088a20228",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_batches_written_by_kafka_python() {
    let expected = vec![
        rec(1_700_000_000_000, None, Some(b"value-0")),
        Rec {
            timestamp: 1_700_000_000_005,
            key: Some(b"key-1".to_vec()),
            value: Some(vec![]),
            headers: vec![("h1".into(), Some(b"v1".to_vec())), ("null".into(), None)],
        },
        rec(1_700_000_000_002, Some(b""), None),
        rec(1_700_000_000_009, Some(b"k3"), Some(&[b'x'; 300])),
    ];
    for (codec, hex) in Compression::ALL.into_iter().zip(KAFKA_PYTHON_BATCHES) {
        let raw = Bytes::from(unhex(hex));
        let batch = RecordBatch::parse(&raw).unwrap();
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.size_in_bytes(), raw.len());
        assert_eq!(batch.max_timestamp(), 1_700_000_000_009);
        assert_eq!(batch.is_transactional(), codec == Compression::Lz4);
        if codec != Compression::None {
            assert_eq!(
                (
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence()
                ),
                (1234, 5, 17)
            );
        }
        let got = decode(&batch);
        assert_eq!(
            got.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let got: Vec<Rec> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, expected, "{codec:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzz-style robustness: nothing may panic, whatever the bytes.

/// Decodes everything reachable from `buf`, touching every field. Returns (batches, records)
/// decoded successfully.
fn exercise(buf: Bytes) -> (usize, usize) {
    let (mut batches, mut records) = (0, 0);
    let _ = RecordBatch::parse(&buf);
    let mut owned = buf.to_vec();
    let _ = assign_offsets(&mut owned, 1, 1, Some(1));
    let _ = set_producer_state(&mut owned, 1, 1, 1, true);
    for batch in BatchIter::new(buf) {
        let Ok(batch) = batch else { break };
        batches += 1;
        let _ = (
            batch.last_offset(),
            batch.next_offset(),
            batch.last_sequence(),
            batch.timestamp_type(),
            batch.is_control(),
            batch.has_delete_horizon(),
        );
        let Ok(iter) = batch.records_with_limit(4 << 20) else {
            continue;
        };
        for v in iter.views() {
            let Ok(v) = v else { break };
            for h in v.headers.iter() {
                if h.is_err() {
                    break;
                }
            }
        }
        for r in iter {
            let Ok(r) = r else { break };
            records += 1;
            for h in r.headers.iter() {
                let Ok(h) = h else { break };
                let _ = h.key_str();
            }
            let _ = r.headers.last_value("a");
            if let Some(k) = r.key.as_deref() {
                let _ = ControlRecordType::parse_key(k);
            }
            let _ = EndTransactionMarker::from_record(&r);
        }
    }
    (batches, records)
}

/// Deterministic xorshift generator (no external randomness).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for codec in Compression::ALL {
        for recs in [varied_records(), vec![rec(5, Some(b"k"), Some(b"v"))]] {
            out.push(
                build(
                    BatchOptions {
                        compression: codec,
                        ..BatchOptions::default()
                    },
                    &recs,
                )
                .to_vec(),
            );
        }
    }
    let mut two = out[0].clone();
    two.extend_from_slice(&out[1]);
    out.push(two);
    out
}

#[test]
fn fuzz_mutated_batches_never_panic() {
    let corpus = corpus();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok_records, mut failures) = (0usize, 0usize);
    for _ in 0..30_000 {
        let mut data = corpus[rng.below(corpus.len())].clone();
        for _ in 0..1 + rng.below(4) {
            if data.is_empty() {
                break;
            }
            let at = rng.below(data.len());
            match rng.below(8) {
                0 => data[at] ^= 1 << rng.below(8),
                1 => data[at] = rng.next() as u8,
                2 => data.truncate(at),
                3 => {
                    // A huge or negative 4-byte length.
                    let v = [i32::MAX, i32::MIN, -1, 0x7fff_0000, 1 << 20][rng.below(5)];
                    let end = (at + 4).min(data.len());
                    data[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
                }
                4 => {
                    // An over-long or huge varint inside the records.
                    let v: &[u8] = [
                        &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
                        &[0xfe, 0xff, 0xff, 0xff, 0x07],
                        &[0x80; 6],
                        &[0x01],
                    ][rng.below(4)];
                    let end = (at + v.len()).min(data.len());
                    data[at..end].copy_from_slice(&v[..end - at]);
                }
                5 => {
                    let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                    data.splice(at..at, extra);
                }
                6 => {
                    let n = rng.below(8).min(data.len() - at);
                    data.drain(at..at + n);
                }
                _ => {
                    // Mutate only the records section.
                    if data.len() > RECORD_BATCH_OVERHEAD {
                        let p =
                            RECORD_BATCH_OVERHEAD + rng.below(data.len() - RECORD_BATCH_OVERHEAD);
                        data[p] = rng.next() as u8;
                    }
                }
            }
        }
        if rng.below(10) < 8 {
            fix_crc(&mut data);
        }
        let (_, records) = exercise(Bytes::from(data));
        if records > 0 {
            ok_records += 1;
        } else {
            failures += 1;
        }
    }
    // The loop must have reached deep decoding and also hit failures.
    assert!(ok_records > 1_000, "{ok_records}");
    assert!(failures > 1_000, "{failures}");
}

#[test]
fn fuzz_random_bytes_never_panic() {
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    for _ in 0..20_000 {
        let len = rng.below(200);
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if data.len() > RECORD_BATCH_OVERHEAD && rng.below(2) == 0 {
            // Make it look like a batch so the header checks pass.
            let l = (data.len() - 12) as i32;
            data[8..12].copy_from_slice(&l.to_be_bytes());
            data[16] = 2;
            data[21] = 0;
            data[22] &= 0x7f;
            fix_crc(&mut data);
        }
        exercise(Bytes::from(data));
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn bytes_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        3 => Just(None),
        3 => Just(Some(Vec::new())),
        10 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Some),
        2 => proptest::collection::vec(any::<u8>(), 64..4096).prop_map(Some),
        1 => (any::<u8>(), 60_000usize..70_000).prop_map(|(b, n)| Some(vec![b; n])),
    ]
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_800_000_000_000],
        bytes_strategy(),
        bytes_strategy(),
        proptest::collection::vec(
            (
                "\\PC{0,12}",
                prop_oneof![
                    Just(None),
                    proptest::collection::vec(any::<u8>(), 0..32).prop_map(Some)
                ],
            ),
            0..5,
        ),
    )
        .prop_map(|(timestamp, key, value, headers)| Rec {
            timestamp,
            key,
            value,
            headers,
        })
}

fn options_strategy() -> impl Strategy<Value = BatchOptions> {
    (
        (
            any::<i64>(),
            any::<i32>(),
            proptest::sample::select(Compression::ALL.to_vec()),
            any::<i64>(),
            any::<i16>(),
            any::<i32>(),
        ),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (
                    base_offset,
                    partition_leader_epoch,
                    compression,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                ),
                (is_transactional, is_control),
            )| BatchOptions {
                base_offset,
                partition_leader_epoch,
                compression,
                compression_level: None,
                timestamp_type: TimestampType::CreateTime,
                producer_id,
                producer_epoch,
                base_sequence,
                is_transactional,
                is_control,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn prop_decode_encode_round_trip(
        options in options_strategy(),
        recs in proptest::collection::vec(rec_strategy(), 0..12),
    ) {
        let raw = build(options.clone(), &recs);
        let batch = RecordBatch::parse(&raw).unwrap();
        prop_assert_eq!(batch.base_offset(), options.base_offset);
        prop_assert_eq!(batch.partition_leader_epoch(), options.partition_leader_epoch);
        prop_assert_eq!(batch.compression(), options.compression);
        prop_assert_eq!(batch.producer_id(), options.producer_id);
        prop_assert_eq!(batch.producer_epoch(), options.producer_epoch);
        prop_assert_eq!(batch.base_sequence(), options.base_sequence);
        prop_assert_eq!(batch.is_transactional(), options.is_transactional);
        prop_assert_eq!(batch.is_control(), options.is_control);
        prop_assert_eq!(batch.record_count() as usize, recs.len());
        if let Some(max) = recs.iter().map(|r| r.timestamp).max() {
            prop_assert_eq!(batch.max_timestamp(), max);
            prop_assert_eq!(batch.base_timestamp(), recs[0].timestamp);
        }
        let decoded = decode(&batch);
        prop_assert_eq!(&decode_views(&batch), &decoded);
        for (i, (offset, _)) in decoded.iter().enumerate() {
            prop_assert_eq!(*offset, options.base_offset.wrapping_add(i as i64));
        }
        let got: Vec<Rec> = decoded.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(got, recs);
        // BatchIter over the same bytes agrees.
        let mut it = BatchIter::new(raw.clone());
        prop_assert_eq!(it.next().unwrap().unwrap(), batch);
        prop_assert!(it.next().is_none());
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(Bytes::from(data));
    }

    #[test]
    fn prop_mutated_valid_batch_never_panics(
        recs in proptest::collection::vec(rec_strategy(), 1..4),
        codec in proptest::sample::select(Compression::ALL.to_vec()),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        fix in any::<bool>(),
    ) {
        let mut data = build(BatchOptions { compression: codec, ..BatchOptions::default() }, &recs).to_vec();
        for (at, byte) in edits {
            let at = at % data.len();
            data[at] = byte;
        }
        if fix {
            fix_crc(&mut data);
        }
        exercise(Bytes::from(data));
    }
}
