//! kafkit quickstart.
//!
//! Today this walks the layer that has landed: it encodes 10,000 records into Kafka record batches
//! (magic 2) with every compression codec, reads them back, and prints sizes and a few records.
//! It grows into the full walkthrough (an in-process 3-broker cluster, a topic with replication
//! factor 3, the four send modes, a consumer group, a broker failover) as those pieces land.
//!
//! Run it with `cargo run --example quickstart`.

use bytes::Bytes;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression, Header};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records = 10_000;
    let timestamp = 1_700_000_000_000;
    println!("encoding {records} records of ~100 bytes into one batch per codec\n");
    println!("{:<8} {:>12} {:>8}", "codec", "batch bytes", "ratio");
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let options = BatchOptions {
            compression,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options);
        let mut value = Vec::with_capacity(100);
        for i in 0..records {
            value.clear();
            value.extend_from_slice(
                format!("order {i:06} for customer {:04}, ", i % 977).as_bytes(),
            );
            value.resize(100, b'.');
            let key = format!("customer-{}", i % 977);
            let headers = [Header {
                key: "source",
                value: Some(b"quickstart"),
            }];
            builder.append(
                timestamp + i64::from(i),
                Some(key.as_bytes()),
                Some(&value),
                &headers,
            )?;
        }
        let uncompressed = builder.size_in_bytes();
        let batch: Bytes = builder.finish()?;

        // Read it back the way a consumer reads a fetch response: batch by batch, record by record.
        let mut read = 0;
        let mut first = None;
        for parsed in BatchIter::new(batch.clone()) {
            let parsed = parsed?;
            for record in parsed.records()? {
                let record = record?;
                if first.is_none() {
                    first = Some(record);
                }
                read += 1;
            }
        }
        assert_eq!(read, records, "every record reads back");
        println!(
            "{:<8} {:>12} {:>7.2}x",
            compression.name(),
            batch.len(),
            uncompressed as f64 / batch.len() as f64
        );
        if compression == Compression::None {
            let first = first.expect("one record at least");
            println!(
                "         first record: offset {} key {:?} value {:?}...",
                first.offset,
                String::from_utf8_lossy(first.key.as_deref().unwrap_or_default()),
                String::from_utf8_lossy(&first.value.as_deref().unwrap_or_default()[..24]),
            );
        }
    }
    println!("\nall codecs round-tripped {records} records");
    Ok(())
}
