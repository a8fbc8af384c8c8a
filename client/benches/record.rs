//! Record batch encode/decode throughput: kafkit's `record` module side by side with the
//! `kafka-protocol` crate's `RecordBatchEncoder`/`RecordBatchDecoder`, on the same records and
//! the same batching.
//!
//! Workload: 1,000,000 records, no key, 100-byte values, timestamps 1 ms apart, split into
//! batches the way a producer with the default `batch.size` (16 KiB) would fill them (a fixed
//! number of records per batch, computed with kafkit's `has_room_for` and used for both
//! libraries). Decoding reads one contiguous blob of batches (as in a Fetch response), validates
//! CRCs, decompresses, and touches every record's value (sums the lengths).
//!
//! `decode/*/kafkit` uses the owned API (`Records`, one `Bytes` per value, as kafka-protocol
//! does); `decode/*/kafkit-views` the borrowed `Records::views` API.
//!
//! Run: `cargo bench -p kafkit --bench record`. Criterion reports elements/s; ns/record is
//! `1e9 / (elements/s)`, or the time per iteration divided by 1,000,000.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression};

const RECORDS: usize = 1_000_000;
const VALUE_LEN: usize = 100;
const BATCH_SIZE: usize = 16 * 1024;
const BASE_TS: i64 = 1_700_000_000_000;

/// Values that look like small JSON documents, so LZ4 has realistic work. Each is its own
/// compact allocation; kafka-protocol's records share these same `Bytes`, so both libraries read
/// identical memory. `distinct` values are made and repeated up to `RECORDS`: a small pool
/// stays in cache, as a value serialized just before `send()` is; a pool of `RECORDS` is read
/// from main memory, which bounds both libraries by memory bandwidth.
fn values(distinct: usize) -> Vec<Bytes> {
    let pool: Vec<Bytes> = (0..distinct)
        .map(|i| {
            let mut v = format!(
                "{{\"id\":{i},\"user\":\"u{}\",\"event\":\"click\",\"ts\":{},\"pad\":\"",
                i % 9973,
                BASE_TS + i as i64
            )
            .into_bytes();
            while v.len() < VALUE_LEN - 2 {
                v.push(b'a' + (v.len() % 26) as u8);
            }
            v.extend_from_slice(b"\"}");
            v.truncate(VALUE_LEN);
            Bytes::copy_from_slice(&v)
        })
        .collect();
    (0..RECORDS).map(|i| pool[i % distinct].clone()).collect()
}

/// Decode `blob` until `RECORDS` records were read (a fetch-sized blob is decoded repeatedly).
fn decode_n(blob: &Bytes, decode: fn(&Bytes) -> (usize, usize)) -> (usize, usize) {
    let (mut n, mut sum) = (0, 0);
    while n < RECORDS {
        let (a, b) = decode(blob);
        n += a;
        sum += b;
    }
    (n, sum)
}

/// The first `max` bytes' worth of whole batches: what one partition returns in a fetch
/// (`max.partition.fetch.bytes` defaults to 1 MiB).
fn fetch_sized(batches: &[Bytes], max: usize) -> Bytes {
    let mut taken = 0;
    let n = batches
        .iter()
        .take_while(|b| {
            taken += b.len();
            taken <= max
        })
        .count();
    blob(&batches[..n])
}

/// Records per batch for a 16 KiB `batch.size`.
fn records_per_batch(values: &[Bytes]) -> usize {
    let mut b = BatchBuilder::new(BatchOptions::default());
    let mut n = 0;
    while b.has_room_for(BATCH_SIZE, BASE_TS + n as i64, None, Some(&values[n]), &[]) {
        b.append(BASE_TS + n as i64, None, Some(&values[n]), &[])
            .unwrap();
        n += 1;
    }
    n
}

fn kafkit_encode(values: &[Bytes], per_batch: usize, compression: Compression) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(values.len() / per_batch + 1);
    kafkit_encode_each(values, per_batch, compression, |b| out.push(b));
    out
}

fn kafkit_encode_each(
    values: &[Bytes],
    per_batch: usize,
    compression: Compression,
    mut sink: impl FnMut(Bytes),
) {
    for (c, chunk) in values.chunks(per_batch).enumerate() {
        let first = (c * per_batch) as i64;
        let mut b = BatchBuilder::with_capacity(
            BatchOptions {
                compression,
                ..BatchOptions::default()
            },
            BATCH_SIZE,
        );
        for (i, v) in chunk.iter().enumerate() {
            b.append(BASE_TS + first + i as i64, None, Some(v), &[])
                .unwrap();
        }
        sink(b.finish().unwrap());
    }
}

fn kp_records(values: &[Bytes], per_batch: usize) -> Vec<Vec<KpRecord>> {
    values
        .chunks(per_batch)
        .enumerate()
        .map(|(c, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, v)| KpRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: KpTimestampType::Creation,
                    offset: i as i64,
                    // offset - sequence constant keeps the chunk in one batch.
                    sequence: i as i32,
                    timestamp: BASE_TS + (c * per_batch + i) as i64,
                    key: None,
                    value: Some(v.clone()),
                    headers: Default::default(),
                })
                .collect()
        })
        .collect()
}

fn kp_encode(batches: &[Vec<KpRecord>], compression: KpCompression) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(batches.len());
    kp_encode_each(batches, compression, |b| out.push(b));
    out
}

fn kp_encode_each(
    batches: &[Vec<KpRecord>],
    compression: KpCompression,
    mut sink: impl FnMut(Bytes),
) {
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    for chunk in batches {
        let mut buf = BytesMut::with_capacity(BATCH_SIZE);
        RecordBatchEncoder::encode(&mut buf, chunk.iter(), &options).unwrap();
        sink(buf.freeze());
    }
}

fn blob(batches: &[Bytes]) -> Bytes {
    let mut b = BytesMut::with_capacity(batches.iter().map(Bytes::len).sum());
    for x in batches {
        b.extend_from_slice(x);
    }
    b.freeze()
}

fn kafkit_decode(blob: &Bytes) -> (usize, usize) {
    let (mut n, mut sum) = (0, 0);
    for batch in BatchIter::new(blob.clone()) {
        for r in batch.unwrap().records().unwrap() {
            let r = r.unwrap();
            n += 1;
            sum += r.value.as_ref().map_or(0, Bytes::len);
            black_box(&r);
        }
    }
    (n, sum)
}

/// The borrowed-view API: same validation, no per-record reference counting.
fn kafkit_decode_views(blob: &Bytes) -> (usize, usize) {
    let (mut n, mut sum) = (0, 0);
    for batch in BatchIter::new(blob.clone()) {
        let records = batch.unwrap().records().unwrap();
        for r in records.views() {
            let r = r.unwrap();
            n += 1;
            sum += r.value.map_or(0, <[u8]>::len);
            black_box(&r);
        }
    }
    (n, sum)
}

fn kp_decode(blob: &Bytes) -> (usize, usize) {
    let (mut n, mut sum) = (0, 0);
    let mut buf = blob.clone();
    while !buf.is_empty() {
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in &set.records {
            n += 1;
            sum += r.value.as_ref().map_or(0, Bytes::len);
        }
        black_box(&set);
    }
    (n, sum)
}

fn bench(c: &mut Criterion) {
    // "hot": 1,024 distinct values (cache-resident, like a value serialized just before send),
    // and decoding a 1 MiB fetch-sized blob repeatedly. "cold": 1,000,000 distinct values and
    // one ~107 MB blob, read from main memory.
    for (workload, distinct) in [("hot", 1024), ("cold", RECORDS)] {
        bench_workload(c, workload, distinct);
    }
}

fn bench_workload(c: &mut Criterion, workload: &str, distinct: usize) {
    let values = values(distinct);
    let per_batch = records_per_batch(&values);
    let kp_input = kp_records(&values, per_batch);
    eprintln!(
        "{workload}: {RECORDS} records of {VALUE_LEN} bytes ({distinct} distinct), {per_batch} records per batch ({} batches)",
        RECORDS.div_ceil(per_batch)
    );

    let mut group = c.benchmark_group(format!("record-{workload}"));
    group
        .throughput(Throughput::Elements(RECORDS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    for (name, ours, theirs) in [
        ("none", Compression::None, KpCompression::None),
        ("lz4", Compression::Lz4, KpCompression::Lz4),
    ] {
        // Sanity: both encoders produce decodable batches of the same records.
        let our_batches = kafkit_encode(&values, per_batch, ours);
        let their_batches = kp_encode(&kp_input, theirs);
        let expect = (RECORDS, RECORDS * VALUE_LEN);
        assert_eq!(kafkit_decode(&blob(&their_batches)), expect);
        assert_eq!(kp_decode(&blob(&our_batches)), expect);
        eprintln!(
            "{name}: kafkit {} bytes, kafka-protocol {} bytes",
            our_batches.iter().map(Bytes::len).sum::<usize>(),
            their_batches.iter().map(Bytes::len).sum::<usize>()
        );

        // Each batch is dropped once built (as a producer sends and frees it), so the allocator
        // reuses memory instead of faulting in 100+ MB per iteration.
        group.bench_function(format!("encode/{name}/kafkit"), |b| {
            b.iter(|| {
                kafkit_encode_each(black_box(&values), per_batch, ours, |x| drop(black_box(x)))
            })
        });
        group.bench_function(format!("encode/{name}/kafka-protocol"), |b| {
            b.iter(|| kp_encode_each(black_box(&kp_input), theirs, |x| drop(black_box(x))))
        });
        // kafka-protocol's encoder only takes its own `Record` structs, so a producer using it
        // builds one per record from the user's value: the same input kafkit's builder takes.
        group.bench_function(format!("encode/{name}/kafka-protocol+records"), |b| {
            b.iter(|| {
                for chunk in black_box(&values).chunks(per_batch) {
                    let records = kp_records(chunk, per_batch);
                    kp_encode_each(&records, theirs, |x| drop(black_box(x)));
                }
            })
        });

        // Both decoders read the same bytes (kafkit-encoded): all of them once (cold), or a
        // fetch-sized 1 MiB of them over and over until a million records were read (hot).
        let input = if distinct == RECORDS {
            blob(&our_batches)
        } else {
            fetch_sized(&our_batches, 1 << 20)
        };
        group.bench_function(format!("decode/{name}/kafkit"), |b| {
            b.iter(|| black_box(decode_n(black_box(&input), kafkit_decode)))
        });
        group.bench_function(format!("decode/{name}/kafka-protocol"), |b| {
            b.iter(|| black_box(decode_n(black_box(&input), kp_decode)))
        });
        assert_eq!(
            decode_n(&input, kafkit_decode_views).0,
            decode_n(&input, kafkit_decode).0
        );
        group.bench_function(format!("decode/{name}/kafkit-views"), |b| {
            b.iter(|| black_box(decode_n(black_box(&input), kafkit_decode_views)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
