//! In-place header rewrites of an encoded batch: the broker's offset assignment on append and a
//! producer's re-stamping of idempotence fields. Never touches (or recompresses) the records.

use super::*;

/// Checks that `batch` starts with a magic-2 header and returns the batch's size
/// (`12 + batchLength`), which must fit in `batch`.
fn checked_size(batch: &[u8]) -> Result<usize, RecordError> {
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return Err(RecordError::Truncated);
    }
    let magic = batch[MAGIC_OFFSET] as i8;
    if magic != MAGIC_V2 {
        return Err(RecordError::InvalidMagic(magic));
    }
    let len = i32::from_be_bytes(
        batch[LENGTH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET]
            .try_into()
            .expect("4 bytes"),
    );
    if len < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 {
        return Err(RecordError::InvalidBatchLength(len));
    }
    let size = LOG_OVERHEAD + len as usize;
    if size > batch.len() {
        return Err(RecordError::Truncated);
    }
    Ok(size)
}

fn write_crc(batch: &mut [u8], size: usize) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..size]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

/// Broker-side offset assignment on a raw batch (already validated by
/// [`RecordBatch::parse`](super::RecordBatch::parse)): rewrites `baseOffset` and
/// `partitionLeaderEpoch` in place. With `Some(t)`, also sets the LogAppendTime timestamp type and
/// `maxTimestamp = t`, as Kafka's `LogValidator` does (`baseTimestamp` is kept; readers report
/// `maxTimestamp` for every record of a LogAppendTime batch).
///
/// `baseOffset` and `partitionLeaderEpoch` are outside the CRC; the CRC is recomputed only when
/// attributes or `maxTimestamp` actually change. Never recompresses.
///
/// ```
/// use kafkit::record::{assign_offsets, BatchBuilder, BatchOptions, RecordBatch, TimestampType};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// b.append(10, None, Some(b"v"), &[])?;
/// let mut raw = b.finish()?.to_vec();
/// assign_offsets(&mut raw, 500, 3, Some(99))?;
/// let batch = RecordBatch::parse(&raw.into())?; // CRC still valid
/// assert_eq!((batch.base_offset(), batch.partition_leader_epoch()), (500, 3));
/// assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
/// assert_eq!(batch.records()?.next().unwrap()?.timestamp, 99);
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
pub fn assign_offsets(
    batch: &mut [u8],
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time: Option<i64>,
) -> Result<(), RecordError> {
    let size = checked_size(batch)?;
    batch[BASE_OFFSET_OFFSET..LENGTH_OFFSET].copy_from_slice(&base_offset.to_be_bytes());
    batch[PARTITION_LEADER_EPOCH_OFFSET..MAGIC_OFFSET]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
    if let Some(time) = log_append_time {
        let attributes =
            i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]]);
        let new_attributes = attributes | TIMESTAMP_TYPE_BIT;
        let max_ts = &mut batch[MAX_TIMESTAMP_OFFSET..PRODUCER_ID_OFFSET];
        let new_max = time.to_be_bytes();
        if new_attributes != attributes || *max_ts != new_max {
            max_ts.copy_from_slice(&new_max);
            batch[ATTRIBUTES_OFFSET..LAST_OFFSET_DELTA_OFFSET]
                .copy_from_slice(&new_attributes.to_be_bytes());
            write_crc(batch, size);
        }
    }
    Ok(())
}

/// Re-stamps the idempotence fields of an encoded batch in place (producer id, epoch, base
/// sequence, transactional flag) and recomputes the CRC if anything changed. For producers that
/// must re-sequence an already sealed batch (e.g. after an epoch bump).
///
/// ```
/// use kafkit::record::{set_producer_state, BatchBuilder, BatchOptions, RecordBatch};
///
/// let mut b = BatchBuilder::new(BatchOptions::default());
/// b.append(0, None, Some(b"v"), &[])?;
/// let mut raw = b.finish()?.to_vec();
/// set_producer_state(&mut raw, 7, 2, 40, true)?;
/// let batch = RecordBatch::parse(&raw.into())?;
/// assert_eq!((batch.producer_id(), batch.producer_epoch(), batch.base_sequence()), (7, 2, 40));
/// assert!(batch.is_transactional());
/// # Ok::<(), kafkit::record::RecordError>(())
/// ```
pub fn set_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    is_transactional: bool,
) -> Result<(), RecordError> {
    let size = checked_size(batch)?;
    let before: [u8; RECORD_BATCH_OVERHEAD - ATTRIBUTES_OFFSET] = batch
        [ATTRIBUTES_OFFSET..RECORD_BATCH_OVERHEAD]
        .try_into()
        .expect("fixed header slice");
    let attributes = i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]]);
    let attributes = if is_transactional {
        attributes | TRANSACTIONAL_BIT
    } else {
        attributes & !TRANSACTIONAL_BIT
    };
    batch[ATTRIBUTES_OFFSET..LAST_OFFSET_DELTA_OFFSET].copy_from_slice(&attributes.to_be_bytes());
    batch[PRODUCER_ID_OFFSET..PRODUCER_EPOCH_OFFSET].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH_OFFSET..BASE_SEQUENCE_OFFSET]
        .copy_from_slice(&producer_epoch.to_be_bytes());
    batch[BASE_SEQUENCE_OFFSET..RECORD_COUNT_OFFSET].copy_from_slice(&base_sequence.to_be_bytes());
    if batch[ATTRIBUTES_OFFSET..RECORD_BATCH_OVERHEAD] != before {
        write_crc(batch, size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(compression: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::new(BatchOptions {
            compression,
            ..BatchOptions::default()
        });
        b.append(1_000, Some(b"k"), Some(b"v1"), &[]).unwrap();
        b.append(1_007, None, Some(b"v2"), &[]).unwrap();
        b.finish().unwrap().to_vec()
    }

    #[test]
    fn create_time_assignment_keeps_crc_bytes() {
        for codec in Compression::ALL {
            let mut raw = sample(codec);
            let crc_before = raw[CRC_OFFSET..ATTRIBUTES_OFFSET].to_vec();
            assign_offsets(&mut raw, 1 << 40, 9, None).unwrap();
            assert_eq!(raw[CRC_OFFSET..ATTRIBUTES_OFFSET], crc_before[..]);
            let batch = RecordBatch::parse(&raw.into()).unwrap();
            assert_eq!(batch.base_offset(), 1 << 40);
            assert_eq!(batch.partition_leader_epoch(), 9);
            let offsets: Vec<i64> = batch
                .records()
                .unwrap()
                .map(|r| r.unwrap().offset)
                .collect();
            assert_eq!(offsets, [1 << 40, (1 << 40) + 1]);
            let ts: Vec<i64> = batch
                .records()
                .unwrap()
                .map(|r| r.unwrap().timestamp)
                .collect();
            assert_eq!(ts, [1_000, 1_007]);
        }
    }

    #[test]
    fn log_append_time_sets_type_and_max_timestamp_and_fixes_crc() {
        for codec in Compression::ALL {
            let mut raw = sample(codec);
            let crc_before = raw[CRC_OFFSET..ATTRIBUTES_OFFSET].to_vec();
            assign_offsets(&mut raw, 10, 1, Some(5_000)).unwrap();
            assert_ne!(raw[CRC_OFFSET..ATTRIBUTES_OFFSET], crc_before[..]);
            let batch = RecordBatch::parse(&raw.clone().into()).unwrap();
            assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
            assert_eq!(batch.compression(), codec);
            assert_eq!(batch.max_timestamp(), 5_000);
            assert_eq!(batch.base_timestamp(), 1_000);
            for r in batch.records().unwrap() {
                assert_eq!(r.unwrap().timestamp, 5_000);
            }
            // Same time again: nothing covered by the CRC changes.
            let crc = raw[CRC_OFFSET..ATTRIBUTES_OFFSET].to_vec();
            assign_offsets(&mut raw, 20, 2, Some(5_000)).unwrap();
            assert_eq!(raw[CRC_OFFSET..ATTRIBUTES_OFFSET], crc[..]);
            RecordBatch::parse(&raw.into()).unwrap();
        }
    }

    #[test]
    fn rewrites_refuse_bad_input_without_panicking() {
        let mut short = vec![0u8; 30];
        assert!(matches!(
            assign_offsets(&mut short, 0, 0, None),
            Err(RecordError::Truncated)
        ));
        let mut raw = sample(Compression::None);
        raw[MAGIC_OFFSET] = 1;
        assert!(matches!(
            assign_offsets(&mut raw, 0, 0, None),
            Err(RecordError::InvalidMagic(1))
        ));
        let mut raw = sample(Compression::None);
        raw[LENGTH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(set_producer_state(&mut raw, 1, 1, 1, false).is_err());
        raw[LENGTH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(assign_offsets(&mut raw, 0, 0, Some(1)).is_err());
    }

    #[test]
    fn producer_state_rewrite_keeps_batch_valid() {
        let mut raw = sample(Compression::Zstd);
        set_producer_state(&mut raw, 1234, 5, i32::MAX, false).unwrap();
        let batch = RecordBatch::parse(&raw.clone().into()).unwrap();
        assert_eq!(batch.producer_id(), 1234);
        assert_eq!(batch.base_sequence(), i32::MAX);
        // Java wraps sequences past i32::MAX to 0.
        assert_eq!(batch.last_sequence(), 0);
        assert!(!batch.is_transactional());
        set_producer_state(&mut raw, 1234, 5, 3, true).unwrap();
        let batch = RecordBatch::parse(&raw.into()).unwrap();
        assert!(batch.is_transactional());
        assert_eq!(batch.last_sequence(), 4);
        assert_eq!(batch.records().unwrap().count(), 2);
    }
}
