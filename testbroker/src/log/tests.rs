use super::*;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression};

const NOW: i64 = 1_700_000_000_000;

/// A client-built batch of `n` records with timestamps `ts0, ts0+1, ...`.
fn batch(n: usize, ts0: i64, value_len: usize) -> RecordBatch {
    let mut b = BatchBuilder::new(BatchOptions::default());
    let value = vec![b'v'; value_len];
    for i in 0..n {
        b.append(ts0 + i as i64, Some(b"k"), Some(&value), &[])
            .unwrap();
    }
    RecordBatch::parse(&b.finish().unwrap()).unwrap()
}

fn offsets_in(data: Bytes) -> Vec<i64> {
    let mut out = Vec::new();
    for b in BatchIter::new(data) {
        for r in b.unwrap().records().unwrap() {
            out.push(r.unwrap().offset);
        }
    }
    out
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

#[test]
fn leader_append_assigns_offsets_and_epoch() {
    let mut log = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    let a = log
        .append_as_leader(&batch(3, NOW, 10), 7, false, NOW)
        .unwrap();
    let b = log
        .append_as_leader(&batch(2, NOW, 10), 7, false, NOW)
        .unwrap();
    assert_eq!(
        (a.base_offset, a.last_offset, a.log_append_time_ms),
        (0, 2, -1)
    );
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let data = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    let batches: Vec<_> = BatchIter::new(data.clone()).map(Result::unwrap).collect();
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.partition_leader_epoch() == 7));
    assert_eq!(offsets_in(data), vec![0, 1, 2, 3, 4]);
}

#[test]
fn log_append_time_stamps_batches() {
    let mut log = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    let info = log
        .append_as_leader(&batch(2, 5, 1), 0, true, NOW + 42)
        .unwrap();
    assert_eq!(info.log_append_time_ms, NOW + 42);
    let data = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    let b = RecordBatch::parse(&data).unwrap();
    assert_eq!(b.max_timestamp(), NOW + 42);
    for r in b.records().unwrap() {
        assert_eq!(r.unwrap().timestamp, NOW + 42);
    }
}

#[test]
fn read_respects_high_watermark_max_bytes_and_kip74() {
    let mut log = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    for _ in 0..5 {
        log.append_as_leader(&batch(2, NOW, 100), 0, false, NOW)
            .unwrap();
    }
    // Only below offset 4 (two batches).
    assert_eq!(
        offsets_in(log.read(0, 1 << 20, 4, true).unwrap()),
        vec![0, 1, 2, 3]
    );
    // max_bytes smaller than one batch: the first batch still comes back whole (KIP-74)...
    assert_eq!(
        offsets_in(log.read(0, 10, i64::MAX, true).unwrap()),
        vec![0, 1]
    );
    // ...unless this partition is not the first in the response.
    assert!(log.read(0, 10, i64::MAX, false).unwrap().is_empty());
    // Reading from the middle of a batch returns the whole batch; the reader skips below.
    assert_eq!(
        offsets_in(log.read(3, 1 << 20, 6, true).unwrap()),
        vec![2, 3, 4, 5]
    );
    // At the log end: nothing; past it or before the start: out of range.
    assert!(log.read(10, 1 << 20, i64::MAX, true).unwrap().is_empty());
    assert!(matches!(
        log.read(11, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_by_size_and_time_and_reads_cross_them() {
    let mut log = PartitionLog::create(None, small_segments(), NOW).unwrap();
    for i in 0..20 {
        log.append_as_leader(&batch(1, NOW + i, 200), 0, false, NOW)
            .unwrap();
    }
    assert!(
        log.segment_count() > 3,
        "rolled into {} segments",
        log.segment_count()
    );
    let bases = log.segment_base_offsets();
    assert_eq!(bases[0], 0);
    // Every offset is readable from whichever segment holds it.
    for offset in 0..20 {
        let got = offsets_in(log.read(offset, 1, i64::MAX, true).unwrap());
        assert_eq!(got, vec![offset]);
    }
    // A read that starts in one segment stops at its end; the next read continues.
    let first = offsets_in(log.read(0, 1 << 20, i64::MAX, true).unwrap());
    assert_eq!(first.len() as i64, bases[1]);

    let mut timed = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    timed
        .append_as_leader(&batch(1, NOW, 1), 0, false, NOW)
        .unwrap();
    timed
        .append_as_leader(&batch(1, NOW, 1), 0, false, NOW + 1)
        .unwrap();
    assert_eq!(timed.segment_count(), 1);
    let week = LogConfig::default().segment_ms;
    timed
        .append_as_leader(&batch(1, NOW, 1), 0, false, NOW + week)
        .unwrap();
    assert_eq!(timed.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn sparse_offset_index_has_an_entry_per_interval() {
    let mut log = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    for _ in 0..50 {
        log.append_as_leader(&batch(1, NOW, 1000), 0, false, NOW)
            .unwrap();
    }
    let segment = log.segments.values().next().unwrap();
    let index = segment.offset_index();
    // ~1070-byte batches, an entry every 4096 bytes: one entry per ~4-5 batches.
    assert!(
        index.len() > 8 && index.len() < 20,
        "{} entries",
        index.len()
    );
    assert_eq!(index[0].relative_offset, 0);
    assert!(
        index
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset)
    );
    for offset in [0, 17, 33, 49] {
        assert_eq!(
            offsets_in(log.read(offset, 1, i64::MAX, true).unwrap()),
            vec![offset]
        );
    }
}

#[test]
fn offsets_by_timestamp() {
    let mut log = PartitionLog::create(None, small_segments(), NOW).unwrap();
    // Timestamps 1000..1010, 2000..2010, ..., out of order across batches for the max case.
    for (i, ts) in [1000, 2000, 5000, 3000, 4000].into_iter().enumerate() {
        let _ = i;
        log.append_as_leader(&batch(10, ts, 50), 0, false, NOW)
            .unwrap();
    }
    let at = |ts| log.offset_for_timestamp(ts).unwrap();
    assert_eq!(
        at(0),
        Some(TimestampOffset {
            offset: 0,
            timestamp: 1000
        })
    );
    assert_eq!(
        at(1005),
        Some(TimestampOffset {
            offset: 5,
            timestamp: 1005
        })
    );
    assert_eq!(
        at(1010),
        Some(TimestampOffset {
            offset: 10,
            timestamp: 2000
        })
    );
    assert_eq!(
        at(3500),
        Some(TimestampOffset {
            offset: 20,
            timestamp: 5000
        })
    );
    assert_eq!(
        at(5009),
        Some(TimestampOffset {
            offset: 29,
            timestamp: 5009
        })
    );
    assert_eq!(at(5010), None);
    assert_eq!(
        log.max_timestamp_offset().unwrap(),
        Some(TimestampOffset {
            offset: 29,
            timestamp: 5009
        })
    );
}

#[test]
fn truncation_removes_batches_and_lowers_high_watermark() {
    let mut log = PartitionLog::create(None, small_segments(), NOW).unwrap();
    for _ in 0..10 {
        log.append_as_leader(&batch(2, NOW, 150), 0, false, NOW)
            .unwrap();
    }
    log.set_high_watermark(20);
    assert_eq!(log.high_watermark(), 20);
    log.truncate_to(9, NOW).unwrap();
    // Offset 9 sits in the batch 8..=9, which goes whole.
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.high_watermark(), 8);
    assert_eq!(
        offsets_in(log.read(6, 1 << 20, i64::MAX, true).unwrap()),
        vec![6, 7]
    );
    // New appends continue from the truncation point.
    let info = log
        .append_as_leader(&batch(1, NOW, 1), 1, false, NOW)
        .unwrap();
    assert_eq!(info.base_offset, 8);
    // Truncating to the start empties the log.
    log.truncate_to(0, NOW).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
}

#[test]
fn follower_append_keeps_leader_offsets() {
    let mut leader = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    let mut follower = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    for _ in 0..3 {
        leader
            .append_as_leader(&batch(4, NOW, 8), 3, false, NOW)
            .unwrap();
    }
    let data = leader.read(0, 1 << 20, i64::MAX, true).unwrap();
    for b in BatchIter::new(data.clone()) {
        follower.append_as_follower(&b.unwrap(), NOW).unwrap();
    }
    assert_eq!(follower.log_end_offset(), 12);
    assert_eq!(follower.read(0, 1 << 20, i64::MAX, true).unwrap(), data);
    // Re-appending what it already has is refused.
    let first = BatchIter::new(data).next().unwrap().unwrap();
    assert!(matches!(
        follower.append_as_follower(&first, NOW),
        Err(LogError::NonMonotonicOffset { .. })
    ));
}

#[test]
fn delete_records_and_retention_move_the_log_start() {
    let mut log = PartitionLog::create(None, small_segments(), NOW).unwrap();
    for i in 0..20 {
        log.append_as_leader(&batch(1, NOW + i, 200), 0, false, NOW)
            .unwrap();
    }
    // Not past the high watermark.
    assert!(log.delete_records_before(5).is_err());
    log.set_high_watermark(20);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert!(matches!(
        log.read(4, 1, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(offsets_in(log.read(5, 1, i64::MAX, true).unwrap()), vec![5]);
    assert!(log.segment_base_offsets()[0] <= 5);

    // Size retention keeps the newest segments within retention.bytes.
    let segments_before = log.segment_count();
    let mut config = log.config().clone();
    config.retention_bytes = 1000;
    log.set_config(config);
    let deleted = log.apply_retention(NOW).unwrap();
    assert!(deleted > 0 && log.segment_count() < segments_before);
    assert!(log.size_in_bytes() <= 2000);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);

    // Time retention deletes every closed segment older than retention.ms.
    let mut config = log.config().clone();
    config.retention_bytes = -1;
    config.retention_ms = 1000;
    log.set_config(config);
    log.apply_retention(NOW + 20 + 1001).unwrap();
    assert_eq!(log.segment_count(), 1, "only the active segment stays");
    assert_eq!(log.log_end_offset(), 20);
}

#[test]
fn data_dir_layout_and_recovery() {
    let dir = std::env::temp_dir().join(format!(
        "kafkit-log-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let part = dir.join("orders-0");
    {
        let mut log = PartitionLog::create(Some(part.clone()), small_segments(), NOW).unwrap();
        for i in 0..12 {
            log.append_as_leader(&batch(1, NOW + i, 200), 2, false, NOW)
                .unwrap();
        }
        log.set_high_watermark(12);
        log.delete_records_before(1).unwrap();
        log.flush().unwrap();
    }
    let first = part.join("00000000000000000000.log");
    assert!(first.exists(), "Kafka's 20-digit segment names");
    assert!(part.join("00000000000000000000.index").exists());
    assert!(part.join("00000000000000000000.timeindex").exists());
    // A torn write at the end of the active segment is cut off on recovery.
    let log = PartitionLog::open(part.clone(), small_segments(), NOW).unwrap();
    let bases = log.segment_base_offsets();
    let active = part.join(format!("{:020}.log", bases[bases.len() - 1]));
    drop(log);
    let mut raw = std::fs::read(&active).unwrap();
    let intact = raw.len();
    raw.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 1, 0, 0]);
    std::fs::write(&active, &raw).unwrap();

    let log = PartitionLog::open(part.clone(), small_segments(), NOW).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(log.log_start_offset(), 1);
    assert_eq!(std::fs::metadata(&active).unwrap().len() as usize, intact);
    assert_eq!(offsets_in(log.read(1, 1 << 20, 12, true).unwrap())[0], 1);
    let all: Vec<i64> = (1..12)
        .flat_map(|o| offsets_in(log.read(o, 1, 12, true).unwrap()))
        .collect();
    assert_eq!(all, (1..12).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compressed_batches_are_stored_as_sent() {
    let mut log = PartitionLog::create(None, LogConfig::default(), NOW).unwrap();
    let mut b = BatchBuilder::new(BatchOptions {
        compression: Compression::Lz4,
        ..BatchOptions::default()
    });
    for i in 0..100 {
        b.append(
            NOW + i,
            None,
            Some(b"compressible compressible compressible"),
            &[],
        )
        .unwrap();
    }
    let raw = b.finish().unwrap();
    let parsed = RecordBatch::parse(&raw).unwrap();
    log.append_as_leader(&parsed, 0, false, NOW).unwrap();
    log.append_as_leader(&parsed, 0, false, NOW).unwrap();
    let data = log.read(100, 1 << 20, i64::MAX, true).unwrap();
    let stored = RecordBatch::parse(&data).unwrap();
    assert_eq!(stored.compression(), Compression::Lz4);
    assert_eq!(stored.size_in_bytes(), raw.len(), "not recompressed");
    assert_eq!(offsets_in(data), (100..200).collect::<Vec<_>>());
}

#[test]
fn epoch_cache_follows_appends_truncation_and_reload() {
    let dir = std::env::temp_dir().join(format!("kafkit-epoch-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut log = PartitionLog::create(Some(dir.clone()), LogConfig::default(), NOW).unwrap();
    log.append_as_leader(&batch(5, NOW, 1), 0, false, NOW)
        .unwrap(); // 0..=4 epoch 0
    log.append_as_leader(&batch(5, NOW, 1), 2, false, NOW)
        .unwrap(); // 5..=9 epoch 2
    log.append_as_leader(&batch(5, NOW, 1), 2, false, NOW)
        .unwrap(); // 10..=14 epoch 2
    log.append_as_leader(&batch(5, NOW, 1), 3, false, NOW)
        .unwrap(); // 15..=19 epoch 3
    assert_eq!(log.end_offset_for_epoch(3), (3, 20));
    assert_eq!(log.end_offset_for_epoch(2), (2, 15));
    assert_eq!(log.end_offset_for_epoch(1), (0, 5));
    assert_eq!(
        std::fs::read_to_string(dir.join("leader-epoch-checkpoint")).unwrap(),
        "0\n3\n0 0\n2 5\n3 15\n"
    );
    log.truncate_to(15, NOW).unwrap();
    assert_eq!(
        log.end_offset_for_epoch(3),
        (-1, -1),
        "epoch 3 is gone with its batches"
    );
    assert_eq!(log.end_offset_for_epoch(2), (2, 15));
    drop(log);
    let reopened = PartitionLog::open(dir.clone(), LogConfig::default(), NOW).unwrap();
    assert_eq!(reopened.epoch_cache().entries().len(), 2);
    assert_eq!(reopened.end_offset_for_epoch(2), (2, 15));
    std::fs::remove_dir_all(&dir).unwrap();
}
