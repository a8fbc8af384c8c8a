//! Record batch interoperability with kafka-python, an independent implementation of the v2 format.
//!
//! Both directions, for every codec: batches built by kafka-python's `DefaultRecordBatchBuilder`
//! must decode in kafkit to exactly the records kafka-python put in, and batches built by kafkit's
//! `BatchBuilder` must decode in kafka-python (CRC validated) to exactly the records kafkit put in.
//!
//! Needs `python3` with `kafka-python`, `python-snappy`, `lz4` and `zstandard` (`.ci/run` installs
//! them). Without them the tests print why and pass, unless `KAFKIT_REQUIRE_INTEROP=1` is set (CI
//! sets it), in which case a missing peer is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression, Header};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python_batches.py")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether kafka-python and its codec packages are importable; panics if they must be.
fn peer_available() -> bool {
    let probe = Command::new(python())
        .args(["-c", "import kafka, snappy, lz4.frame, zstandard"])
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    if !ok {
        let why = match probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        if std::env::var_os("KAFKIT_REQUIRE_INTEROP").is_some() {
            panic!("KAFKIT_REQUIRE_INTEROP is set but kafka-python is not usable: {why}");
        }
        eprintln!("skipping kafka-python interop: {why}");
    }
    ok
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "kafka_python_batches.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafkit-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn enc(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_string(),
        Some(b) => {
            let mut s = String::with_capacity(1 + 2 * b.len());
            s.push('x');
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
    }
}

fn dec(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return None;
    }
    let hex = s.strip_prefix('x').expect("byte string starts with x");
    Some(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
    )
}

/// Render every batch and record in `data` with kafkit's reader, in the script's line format.
fn kafkit_read(data: Bytes) -> String {
    let mut out = String::new();
    for batch in BatchIter::new(data) {
        let batch = batch.expect("kafkit parses the batch");
        let records: Vec<_> = batch
            .records()
            .expect("kafkit decompresses the batch")
            .collect::<Result<_, _>>()
            .expect("kafkit decodes every record");
        out.push_str(&format!(
            "batch {} {} {} {} {} {} {}\n",
            batch.compression().id(),
            batch.base_offset(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
            u8::from(batch.is_transactional()),
            records.len()
        ));
        for r in records {
            let headers: Vec<_> = r
                .headers
                .iter()
                .collect::<Result<_, _>>()
                .expect("kafkit decodes every header");
            let mut line = format!(
                "record {} {} {} {} {}",
                r.offset,
                r.timestamp,
                enc(r.key.as_deref()),
                enc(r.value.as_deref()),
                headers.len()
            );
            for h in headers {
                line.push_str(&format!(
                    " {} {}",
                    enc(Some(&h.key[..])),
                    enc(h.value.as_deref())
                ));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// One fixture record parsed back from the script's line format.
struct FixtureRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn parse_fixture(lines: &str) -> Vec<FixtureRecord> {
    lines
        .lines()
        .filter(|l| l.starts_with("record "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let n: usize = f[5].parse().unwrap();
            let headers = (0..n)
                .map(|i| {
                    let k = String::from_utf8(dec(f[6 + 2 * i]).unwrap()).unwrap();
                    (k, dec(f[7 + 2 * i]))
                })
                .collect();
            FixtureRecord {
                timestamp: f[2].parse().unwrap(),
                key: dec(f[3]),
                value: dec(f[4]),
                headers,
            }
        })
        .collect()
}

fn kafkit_build(records: &[FixtureRecord], options: BatchOptions) -> Bytes {
    let mut builder = BatchBuilder::new(options);
    for r in records {
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        builder
            .append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers)
            .unwrap();
    }
    builder.finish().unwrap()
}

#[test]
fn kafka_python_batches_decode_in_kafkit() {
    if !peer_available() {
        return;
    }
    for codec in CODECS {
        let path = temp_file(&format!("py-{codec}.bin"));
        let expected = run_script(&["build", codec, path.to_str().unwrap()]);
        assert!(expected.lines().count() > 100, "fixture has records");
        let data = Bytes::from(std::fs::read(&path).unwrap());
        let got = kafkit_read(data);
        assert_eq!(
            got, expected,
            "kafkit's reading of kafka-python's {codec} batch"
        );
    }
}

#[test]
fn kafkit_batches_decode_in_kafka_python() {
    if !peer_available() {
        return;
    }
    // The fixture records come from the script, so both sides agree on the input.
    let fixture = parse_fixture(&run_script(&[
        "build",
        "none",
        temp_file("fixture.bin").to_str().unwrap(),
    ]));
    for codec in CODECS {
        let compression: Compression = codec.parse().unwrap();
        // Two batches back to back, as a log segment or a fetch response holds them.
        let (first, second) = fixture.split_at(120);
        let mut data = Vec::new();
        for (base_offset, part, seq) in [(1000, first, 5), (1120, second, 125)] {
            let options = BatchOptions {
                base_offset,
                compression,
                producer_id: 77,
                producer_epoch: 2,
                base_sequence: seq,
                ..BatchOptions::default()
            };
            data.extend_from_slice(&kafkit_build(part, options));
        }
        let path = temp_file(&format!("kafkit-{codec}.bin"));
        std::fs::write(&path, &data).unwrap();
        let python_view = run_script(&["read", path.to_str().unwrap()]);
        // kafkit's own reading of its batches must match what kafka-python saw, record by record.
        let kafkit_view = kafkit_read(Bytes::from(data));
        assert_eq!(
            python_view, kafkit_view,
            "kafka-python's reading of kafkit's {codec} batches"
        );
        let batches: Vec<&str> = python_view
            .lines()
            .filter(|l| l.starts_with("batch "))
            .collect();
        let id = compression.id();
        assert_eq!(
            batches,
            vec![
                format!("batch {id} 1000 77 2 5 0 120").as_str(),
                format!("batch {id} 1120 77 2 125 0 80").as_str()
            ]
        );
        // And the records are the fixture's, in order, with offsets assigned from each base.
        let records: Vec<&str> = python_view
            .lines()
            .filter(|l| l.starts_with("record "))
            .collect();
        assert_eq!(records.len(), fixture.len());
        for (i, (line, want)) in records.iter().zip(&fixture).enumerate() {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f[1], (1000 + i).to_string());
            assert_eq!(f[2], want.timestamp.to_string());
            assert_eq!(dec(f[3]), want.key);
            assert_eq!(dec(f[4]), want.value);
        }
    }
}
