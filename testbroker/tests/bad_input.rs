//! Hostile and malformed input against a running test broker, over raw TCP.
//!
//! Every scenario starts a one-broker cluster (`max_request_size` 1 MiB) holding three
//! acknowledged records, sends something bad, checks the broker's answer (an error code, or
//! closing that one connection), and then checks that the broker is still healthy: a fresh
//! connection gets a valid Metadata response, the acknowledged records are still readable, and
//! no broker thread has panicked (a panic hook counts panics on the cluster's runtime threads,
//! which are named `kafkit-testbroker`).
//!
//! Because the cluster runs inside this test process, an allocation failure or abort caused by
//! a length read off the wire (an array count of `i32::MAX`) would end the whole test binary.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, MetadataRequest, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafkit::protocol::frame::{
    FrameDecoder, decode_response, decode_response_frame, decode_response_header, encode_request,
};
use kafkit::record::{BatchBuilder, BatchIter, BatchOptions, Compression};
use kafkit_testbroker::{BlockingCluster, Cluster};

/// How long any single read may wait for the broker.
const IO_LIMIT: Duration = Duration::from_secs(10);
const MAX_REQUEST_SIZE: usize = 1 << 20;
const SMALL_TOPIC_MAX_MESSAGE_BYTES: usize = 1000;

const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;

// ---------------------------------------------------------------------------------------------
// Panic accounting
// ---------------------------------------------------------------------------------------------

static BROKER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on the cluster runtime's threads (still printing them as usual).
fn count_broker_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("kafkit-testbroker"))
            {
                BROKER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default_hook(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// A raw connection
// ---------------------------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    next_correlation_id: i32,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect to the broker");
        stream
            .set_read_timeout(Some(IO_LIMIT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(IO_LIMIT))
            .expect("write timeout");
        Conn {
            stream,
            buf: BytesMut::new(),
            next_correlation_id: 1,
        }
    }

    /// Writes raw bytes. A broker that already closed may make this fail; what matters is what
    /// the connection does next, so write errors are not fatal here.
    fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut frame = BytesMut::new();
        encode_request(
            &mut frame,
            correlation_id,
            Some("bad-input-test"),
            version,
            request,
        )
        .expect("encode request");
        self.stream.write_all(&frame).expect("send request");
        correlation_id
    }

    /// The next response frame, or `None` once the broker has closed the connection. Panics if
    /// neither happens within [`IO_LIMIT`].
    fn read_frame(&mut self) -> Option<Bytes> {
        let decoder = FrameDecoder::new(64 << 20);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(frame) = decoder
                .decode(&mut self.buf)
                .expect("a well-formed response frame")
            {
                return Some(frame);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return None;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!(
                        "the broker neither answered nor closed the connection within {IO_LIMIT:?}"
                    )
                }
                Err(e) => panic!("reading from the broker: {e}"),
            }
        }
    }

    fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let correlation_id = self.send(version, request);
        let frame = self
            .read_frame()
            .expect("the broker closed the connection instead of answering");
        let (got, response) = decode_response_frame::<R>(version, frame).expect("decode response");
        assert_eq!(got, correlation_id, "response correlation id");
        response
    }

    /// Asserts the broker closes this connection (within [`IO_LIMIT`]) without answering.
    fn expect_closed(&mut self, what: &str) {
        if let Some(frame) = self.read_frame() {
            panic!(
                "{what}: expected the connection to close, got a {}-byte response",
                frame.len()
            );
        }
    }

    /// Half-closes, then reads whatever responses are owed until the broker closes; returns
    /// how many there were.
    fn finish(&mut self) -> usize {
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut responses = 0;
        while self.read_frame().is_some() {
            responses += 1;
        }
        responses
    }
}

// ---------------------------------------------------------------------------------------------
// Records and requests
// ---------------------------------------------------------------------------------------------

/// CRC-32C (Castagnoli), bit by bit: independent of the codec under test.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Offset of the CRC field and of the first byte it covers (attributes), in a v2 batch.
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
const RECORDS_AT: usize = 61;

/// Recomputes a batch's CRC after it was edited.
fn reseal(batch: &mut [u8]) {
    let crc = crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_be_bytes());
}

fn batch(compression: Compression, values: &[&[u8]]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchOptions {
        compression,
        ..BatchOptions::default()
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for (i, value) in values.iter().enumerate() {
        let key = format!("key-{i}");
        builder
            .append(now, Some(key.as_bytes()), Some(value), &[])
            .expect("append record");
    }
    let bytes = builder.finish().expect("finish batch").to_vec();
    // The independent CRC agrees with the codec's, so `reseal` really reseals.
    assert_eq!(
        crc32c(&bytes[CRC_FROM..]).to_be_bytes(),
        bytes[CRC_AT..CRC_FROM]
    );
    bytes
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn produce_request(topic: &str, records: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(records))),
                ]),
        ])
}

/// Produces `records` to partition 0 of `topic` on `conn`; returns (error code, base offset).
fn produce(conn: &mut Conn, topic: &str, records: Vec<u8>) -> (i16, i64) {
    let response: ProduceResponse = conn.call(9, &produce_request(topic, records));
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

/// The values stored in partition 0 of `topic`, from offset 0.
fn fetch_values(conn: &mut Conn, topic: &str) -> Vec<Vec<u8>> {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(i32::MAX)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(i32::MAX),
                ]),
        ]);
    let response = conn.call(12, &request);
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, NONE, "fetch {topic}");
    let mut values = Vec::new();
    for batch in BatchIter::new(data.records.clone().unwrap_or_default()) {
        for record in batch
            .expect("stored batch")
            .records()
            .expect("stored records")
        {
            let record = record.expect("stored record");
            assert_eq!(record.offset, values.len() as i64, "offsets are contiguous");
            values.push(record.value.expect("non-null value").to_vec());
        }
    }
    values
}

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

struct Fixture {
    /// Kept running for the test's lifetime.
    cluster: BlockingCluster,
    addr: SocketAddr,
    /// Values acknowledged on `acked`-0 so far, in offset order.
    acked: Vec<Vec<u8>>,
}

impl Fixture {
    /// A one-broker cluster with topics `acked` (holding three acknowledged records) and
    /// `small` (`max.message.bytes` = 1000).
    fn start() -> Fixture {
        count_broker_panics();
        let cluster = Cluster::builder()
            .brokers(1)
            .max_request_size(MAX_REQUEST_SIZE)
            .auto_create_topics(false)
            .topic("acked", 1, 1)
            .topic("small", 1, 1)
            .topic_config(
                "small",
                "max.message.bytes",
                &SMALL_TOPIC_MAX_MESSAGE_BYTES.to_string(),
            )
            .build_blocking()
            .expect("cluster starts");
        let addr = cluster.broker_addr(1).expect("broker 1 runs");
        let mut fixture = Fixture {
            cluster,
            addr,
            acked: Vec::new(),
        };
        let values: [&[u8]; 3] = [b"first", b"second \x00\xff binary", b"third"];
        let mut conn = fixture.conn();
        assert_eq!(
            produce(&mut conn, "acked", batch(Compression::Lz4, &values)),
            (NONE, 0)
        );
        fixture.acked.extend(values.iter().map(|v| v.to_vec()));
        fixture.assert_healthy("after setup");
        fixture
    }

    fn conn(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// A valid produce on `conn` succeeds at the next offset (the connection is still usable).
    fn produce_ok(&mut self, conn: &mut Conn, value: &[u8]) {
        let expected_offset = self.acked.len() as i64;
        assert_eq!(
            produce(conn, "acked", batch(Compression::None, &[value])),
            (NONE, expected_offset),
            "a valid produce after the bad one"
        );
        self.acked.push(value.to_vec());
    }

    /// The broker still serves a fresh connection, the acknowledged data is intact, and no
    /// broker thread panicked.
    fn assert_healthy(&self, after: &str) {
        let mut conn = self.conn();
        let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
        assert_eq!(metadata.brokers.len(), 1, "{after}: metadata brokers");
        let mut topics: Vec<String> = metadata
            .topics
            .iter()
            .map(|t| t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default())
            .collect();
        topics.sort();
        assert_eq!(topics, ["acked", "small"], "{after}: metadata topics");
        assert!(
            metadata.topics.iter().all(|t| t.error_code == NONE),
            "{after}: topic errors"
        );
        assert_eq!(
            fetch_values(&mut conn, "acked"),
            self.acked,
            "{after}: acknowledged data"
        );
        assert_eq!(
            BROKER_PANICS.load(Ordering::SeqCst),
            0,
            "{after}: a broker thread panicked"
        );
    }
}

/// A request header (v1, or v2 with an empty tagged-field section) for hand-built frames.
fn header(api_key: i16, api_version: i16, correlation_id: i32, flexible: bool) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(api_version);
    buf.put_i32(correlation_id);
    buf.put_i16(9);
    buf.put_slice(b"bad-input");
    if flexible {
        buf.put_u8(0);
    }
    buf
}

/// `payload` with its `int32` size prefix.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 4);
    frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn negative_zero_and_oversized_frame_sizes_close_the_connection() {
    let fixture = Fixture::start();
    let sizes: [(i32, &str); 5] = [
        (-1, "size -1"),
        (i32::MIN, "size i32::MIN"),
        (0, "size 0"),
        (MAX_REQUEST_SIZE as i32 + 1, "size max_request_size + 1"),
        (i32::MAX, "size i32::MAX"),
    ];
    for (size, what) in sizes {
        let mut conn = fixture.conn();
        conn.send_bytes(&size.to_be_bytes());
        conn.send_bytes(&[0u8; 64]);
        // The broker must decide from the prefix alone: it may not wait for (or buffer) the
        // claimed bytes.
        conn.expect_closed(what);
        fixture.assert_healthy(what);
    }
}

#[test]
fn truncated_frame_then_close_is_harmless() {
    let fixture = Fixture::start();
    let mut conn = fixture.conn();
    let mut payload = header(ApiKey::Metadata as i16, 12, 1, true).to_vec();
    payload.extend_from_slice(&[0u8; 100]);
    let frame = framed(&payload);
    conn.send_bytes(&frame[..frame.len() / 2]);
    assert_eq!(conn.finish(), 0, "no response to half a frame");
    fixture.assert_healthy("truncated frame");

    // A frame cut inside its size prefix.
    let mut conn = fixture.conn();
    conn.send_bytes(&[0, 0]);
    assert_eq!(conn.finish(), 0);
    fixture.assert_healthy("truncated size prefix");
}

#[test]
fn garbage_bytes_never_hurt_the_broker() {
    let fixture = Fixture::start();

    // Someone speaking HTTP to the Kafka port: "GET " read as a size is ~1.2 GB.
    let mut conn = fixture.conn();
    conn.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.expect_closed("an HTTP request");
    fixture.assert_healthy("an HTTP request");

    // Framed random payloads: whatever they decode to, the broker answers or closes.
    let mut state = 0x0bad_1dea_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..64 {
        let len = 1 + (next() % 300) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && payload.len() >= 4 {
            // Half of them with a known API key and version, so the body decoders see garbage.
            let (api, version) =
                [(0i16, 9i16), (1, 12), (3, 12), (18, 3), (19, 7), (2, 7)][round / 2 % 6];
            payload[..2].copy_from_slice(&api.to_be_bytes());
            payload[2..4].copy_from_slice(&version.to_be_bytes());
        }
        let mut conn = fixture.conn();
        conn.send_bytes(&framed(&payload));
        conn.finish();
    }
    fixture.assert_healthy("random frames");
}

// ---------------------------------------------------------------------------------------------
// Unknown APIs and versions
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_api_key_closes_the_connection() {
    let fixture = Fixture::start();
    for api_key in [999i16, -1, i16::MAX] {
        let mut conn = fixture.conn();
        let mut payload = header(api_key, 0, 7, false);
        payload.put_slice(&[0u8; 8]);
        conn.send_bytes(&framed(&payload));
        conn.expect_closed(&format!("api key {api_key}"));
        fixture.assert_healthy(&format!("api key {api_key}"));
    }
}

#[test]
fn unsupported_version_of_a_known_api_closes_the_connection() {
    let fixture = Fixture::start();
    // Metadata v99, Fetch v3 and Produce v2 (below Kafka 4.0's baseline) are refused.
    for (api, version, flexible) in [
        (ApiKey::Metadata, 99i16, true),
        (ApiKey::Fetch, 3, false),
        (ApiKey::Produce, 2, false),
    ] {
        let mut conn = fixture.conn();
        let mut payload = header(api as i16, version, 3, flexible);
        payload.put_slice(&[0u8; 16]);
        conn.send_bytes(&framed(&payload));
        conn.expect_closed(&format!("{api:?} v{version}"));
        fixture.assert_healthy(&format!("{api:?} v{version}"));
    }
}

#[test]
fn api_versions_at_an_unknown_version_gets_a_v0_answer_with_error_35() {
    let fixture = Fixture::start();
    let mut conn = fixture.conn();
    // ApiVersions v99 as a newer client would send it: header v2, a v3-style body.
    let mut payload = header(ApiKey::ApiVersions as i16, 99, 42, true);
    payload.put_u8(6); // compact string "kafka": length + 1
    payload.put_slice(b"kafka");
    payload.put_u8(4);
    payload.put_slice(b"9.9");
    payload.put_u8(0); // tagged fields
    conn.send_bytes(&framed(&payload));
    let mut frame = conn.read_frame().expect("an ApiVersions answer");
    assert_eq!(
        decode_response_header(ApiKey::ApiVersions, 0, &mut frame).expect("response header v0"),
        42
    );
    let response: ApiVersionsResponse =
        decode_response::<ApiVersionsRequest>(0, &mut frame).expect("a v0 body");
    assert!(
        frame.is_empty(),
        "the body is exactly the v0 layout ({} bytes left over)",
        frame.len()
    );
    assert_eq!(response.error_code, UNSUPPORTED_VERSION);
    let find = |api: ApiKey| -> &ApiVersion {
        response
            .api_keys
            .iter()
            .find(|k| k.api_key == api as i16)
            .unwrap_or_else(|| panic!("{api:?} missing from the ApiVersions answer"))
    };
    let api_versions = find(ApiKey::ApiVersions);
    assert_eq!(api_versions.min_version, 0);
    assert!(
        api_versions.max_version >= 3,
        "ApiVersions up to v3 at least"
    );
    // Produce is advertised from v0 as Kafka 4.0 does (KAFKA-18659), for librdkafka's codec checks.
    assert_eq!(find(ApiKey::Produce).min_version, 0);
    assert!(find(ApiKey::Produce).max_version >= 9);
    assert!(find(ApiKey::Fetch).max_version >= 12);
    assert!(find(ApiKey::Metadata).max_version >= 12);

    // The client retries at a version both sides know, on the same connection.
    let response = conn.call(3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, NONE);
    assert!(response.api_keys.len() >= 10);
    fixture.assert_healthy("ApiVersions v99");
}

// ---------------------------------------------------------------------------------------------
// Bad record batches
// ---------------------------------------------------------------------------------------------

#[test]
fn produce_with_a_bad_crc_gets_corrupt_message_and_the_connection_stays_usable() {
    let mut fixture = Fixture::start();
    let mut conn = fixture.conn();
    for codec in [Compression::None, Compression::Gzip] {
        let mut bad = batch(codec, &[b"one", b"two"]);
        let last = bad.len() - 1;
        bad[last] ^= 0x55; // payload changed, CRC not
        assert_eq!(
            produce(&mut conn, "acked", bad).0,
            CORRUPT_MESSAGE,
            "{codec:?} with a bad CRC"
        );
        let mut bad = batch(codec, &[b"one", b"two"]);
        bad[CRC_AT] ^= 0x01; // CRC changed, payload not
        assert_eq!(
            produce(&mut conn, "acked", bad).0,
            CORRUPT_MESSAGE,
            "{codec:?} with a bad CRC field"
        );
    }
    fixture.produce_ok(&mut conn, b"after corrupt batches");
    fixture.assert_healthy("bad CRCs");
}

#[test]
fn produce_with_two_batches_or_garbage_records_gets_invalid_record() {
    let mut fixture = Fixture::start();
    let mut conn = fixture.conn();

    let mut two = batch(Compression::None, &[b"a"]);
    two.extend_from_slice(&batch(Compression::None, &[b"b"]));
    assert_eq!(
        produce(&mut conn, "acked", two).0,
        INVALID_RECORD,
        "two batches"
    );

    // Records overwritten with garbage under a valid CRC, plain and compressed.
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut garbage = batch(codec, &[b"some value", b"another value"]);
        for (i, byte) in garbage[RECORDS_AT..].iter_mut().enumerate() {
            *byte = 0xff ^ (i as u8);
        }
        reseal(&mut garbage);
        assert_eq!(
            produce(&mut conn, "acked", garbage).0,
            INVALID_RECORD,
            "{codec:?} garbage records"
        );
    }

    // A record count that does not match the records.
    let mut miscounted = batch(Compression::None, &[b"x", b"y"]);
    miscounted[RECORDS_AT - 4..RECORDS_AT].copy_from_slice(&5i32.to_be_bytes());
    reseal(&mut miscounted);
    assert_eq!(
        produce(&mut conn, "acked", miscounted).0,
        INVALID_RECORD,
        "record count 5 for 2 records"
    );

    // A batch length claiming more than the request holds, and one byte of junk after a batch.
    let mut overlong = batch(Compression::None, &[b"x"]);
    overlong[8..12].copy_from_slice(&10_000i32.to_be_bytes());
    assert_eq!(
        produce(&mut conn, "acked", overlong).0,
        INVALID_RECORD,
        "batch length past the end"
    );
    let mut trailing = batch(Compression::None, &[b"x"]);
    trailing.push(0);
    assert_eq!(
        produce(&mut conn, "acked", trailing).0,
        INVALID_RECORD,
        "a trailing byte"
    );
    assert_eq!(
        produce(&mut conn, "acked", Vec::new()).0,
        INVALID_RECORD,
        "no batch at all"
    );

    fixture.produce_ok(&mut conn, b"after invalid batches");
    fixture.assert_healthy("invalid records");
}

#[test]
fn batch_above_max_message_bytes_gets_message_too_large() {
    let mut fixture = Fixture::start();
    let mut conn = fixture.conn();
    let fits = vec![b'f'; SMALL_TOPIC_MAX_MESSAGE_BYTES - 200];
    assert_eq!(
        produce(&mut conn, "small", batch(Compression::None, &[&fits])),
        (NONE, 0)
    );
    let too_big: Vec<u8> = (0..SMALL_TOPIC_MAX_MESSAGE_BYTES * 2)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    assert_eq!(
        produce(&mut conn, "small", batch(Compression::None, &[&too_big])).0,
        MESSAGE_TOO_LARGE
    );
    // The limit applies to the batch as sent (compressed), as in Kafka.
    let compressible = vec![b'z'; SMALL_TOPIC_MAX_MESSAGE_BYTES * 20];
    assert_eq!(
        produce(
            &mut conn,
            "small",
            batch(Compression::Zstd, &[&compressible])
        ),
        (NONE, 1)
    );
    fixture.produce_ok(&mut conn, b"after a too large batch");
    assert_eq!(fetch_values(&mut conn, "small"), [fits, compressible]);
    fixture.assert_healthy("message too large");
}

// ---------------------------------------------------------------------------------------------
// Lengths and counts from the wire
// ---------------------------------------------------------------------------------------------

/// One request with a huge count or length at `at`, built by `build(field)`: `field` writes
/// either the huge value or a sane one, so the same bytes with a sane value prove the rest of
/// the request is well formed (the broker answers it).
struct HugeCase {
    what: &'static str,
    build: fn(&mut BytesMut, bool),
}

fn huge_cases() -> Vec<HugeCase> {
    /// Unsigned varint 2^31 (a compact count or length of 2^31 - 1), or the sane `small`.
    fn compact(p: &mut BytesMut, huge: bool, small: u8) {
        if huge {
            p.put_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
        } else {
            p.put_u8(small);
        }
    }
    vec![
        HugeCase {
            what: "Metadata v4 topics count i32::MAX",
            build: |p, huge| {
                p.put(header(ApiKey::Metadata as i16, 4, 1, false));
                p.put_i32(if huge { i32::MAX } else { 0 });
                p.put_u8(1); // allow_auto_topic_creation
            },
        },
        HugeCase {
            what: "Metadata v12 compact topics count 2^31-1",
            build: |p, huge| {
                p.put(header(ApiKey::Metadata as i16, 12, 2, true));
                compact(p, huge, 1); // 0 topics
                p.put_slice(&[1, 0, 0]); // allow_auto_topic_creation, include_topic_authorized_operations, tags
            },
        },
        HugeCase {
            what: "Produce v3 topic count i32::MAX",
            build: |p, huge| {
                p.put(header(ApiKey::Produce as i16, 3, 3, false));
                p.put_i16(-1); // transactional id
                p.put_i16(-1); // acks
                p.put_i32(1000);
                p.put_i32(if huge { i32::MAX } else { 0 });
            },
        },
        HugeCase {
            what: "Produce v3 partition count i32::MAX",
            build: |p, huge| {
                p.put(header(ApiKey::Produce as i16, 3, 4, false));
                p.put_i16(-1);
                p.put_i16(-1);
                p.put_i32(1000);
                p.put_i32(1);
                p.put_i16(5);
                p.put_slice(b"acked");
                p.put_i32(if huge { i32::MAX } else { 0 });
            },
        },
        HugeCase {
            what: "Produce v3 records length i32::MAX",
            build: |p, huge| {
                p.put(header(ApiKey::Produce as i16, 3, 5, false));
                p.put_i16(-1);
                p.put_i16(-1);
                p.put_i32(1000);
                p.put_i32(1);
                p.put_i16(5);
                p.put_slice(b"acked");
                p.put_i32(1);
                p.put_i32(0); // partition
                if huge {
                    p.put_i32(i32::MAX);
                    p.put_slice(&[0u8; 32]);
                } else {
                    p.put_i32(-1); // null records: refused with an error code, not a closed connection
                }
            },
        },
        HugeCase {
            what: "Produce v9 compact topic count 2^31-1",
            build: |p, huge| {
                p.put(header(ApiKey::Produce as i16, 9, 6, true));
                p.put_u8(0); // null transactional id
                p.put_i16(-1);
                p.put_i32(1000);
                compact(p, huge, 1);
                p.put_u8(0); // tags
            },
        },
        HugeCase {
            what: "Fetch v4 topics count i32::MAX",
            build: |p, huge| {
                p.put(header(ApiKey::Fetch as i16, 4, 7, false));
                p.put_i32(-1); // replica id
                p.put_i32(0); // max wait
                p.put_i32(1); // min bytes
                p.put_i32(1 << 20); // max bytes
                p.put_i8(0); // isolation level
                p.put_i32(if huge { i32::MAX } else { 0 });
            },
        },
        HugeCase {
            what: "CreateTopics v7 topic name length 2^31-2",
            build: |p, huge| {
                p.put(header(ApiKey::CreateTopics as i16, 7, 8, true));
                if huge {
                    p.put_u8(2); // one topic...
                    p.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]); // ...whose name is 2^31 - 2 bytes
                } else {
                    p.put_u8(1); // no topics
                    p.put_i32(1000); // timeout
                    p.put_u8(0); // validate_only
                    p.put_u8(0); // tags
                }
            },
        },
        HugeCase {
            what: "request header client id length i16::MAX",
            build: |p, huge| {
                p.put_i16(ApiKey::Metadata as i16);
                p.put_i16(4);
                p.put_i32(9);
                p.put_i16(if huge { i16::MAX } else { 5 });
                p.put_slice(b"short");
                p.put_i32(0); // Metadata v4: no topics
                p.put_u8(1);
            },
        },
    ]
}

#[test]
fn huge_array_counts_and_lengths_do_not_crash_the_broker() {
    let fixture = Fixture::start();
    for case in huge_cases() {
        // The same request with a sane value is answered: the bytes around the count are right.
        let mut sane = BytesMut::new();
        (case.build)(&mut sane, false);
        let mut conn = fixture.conn();
        conn.send_bytes(&framed(&sane));
        assert!(
            conn.read_frame().is_some(),
            "{}: the sane variant was not answered",
            case.what
        );

        let mut huge = BytesMut::new();
        (case.build)(&mut huge, true);
        let mut conn = fixture.conn();
        conn.send_bytes(&framed(&huge));
        conn.expect_closed(case.what);
        fixture.assert_healthy(case.what);
    }
}

#[test]
fn bad_connections_do_not_disturb_a_concurrent_good_one() {
    let mut fixture = Fixture::start();
    let mut good = fixture.conn();
    fixture.produce_ok(&mut good, b"before");
    for _ in 0..10 {
        let mut bad = fixture.conn();
        bad.send_bytes(&(-5i32).to_be_bytes());
        let mut worse = fixture.conn();
        let mut payload = header(ApiKey::Metadata as i16, 4, 1, false);
        payload.put_i32(i32::MAX);
        worse.send_bytes(&framed(&payload));
        bad.expect_closed("negative size");
        worse.expect_closed("huge count");
    }
    fixture.produce_ok(&mut good, b"after");
    fixture.assert_healthy("concurrent bad connections");
}

// ---------------------------------------------------------------------------------------------
// Every version, errors included
// ---------------------------------------------------------------------------------------------

/// Every version of the data-path APIs is answered on one connection, for good requests and
/// for ones that get an error code (a response that cannot be encoded at some version would
/// close the connection instead).
#[test]
fn every_version_of_the_data_apis_answers_good_and_bad_requests() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{ListOffsetsRequest, MetadataResponse};
    use kafka_protocol::protocol::Message;

    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    let mut fixture = Fixture::start();
    let acked_id = fixture
        .cluster
        .metadata()
        .topic("acked")
        .expect("topic acked")
        .id;
    let mut conn = fixture.conn();

    for version in ApiVersionsRequest::VERSIONS.min..=ApiVersionsRequest::VERSIONS.max {
        let response = conn.call(version, &ApiVersionsRequest::default());
        assert_eq!(response.error_code, NONE, "ApiVersions v{version}");
    }

    for version in MetadataRequest::VERSIONS.min..=MetadataRequest::VERSIONS.max {
        let topics = ["acked", "no-such-topic"]
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
            .collect();
        let response: MetadataResponse = conn.call(
            version,
            &MetadataRequest::default().with_topics(Some(topics)),
        );
        let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            [NONE, UNKNOWN_TOPIC_OR_PARTITION],
            "Metadata v{version}"
        );
    }

    for version in ProduceRequest::VERSIONS.min..=ProduceRequest::VERSIONS.max {
        let with_topic = |mut request: ProduceRequest| {
            if version >= 13 {
                request.topic_data[0].topic_id = acked_id;
            }
            request
        };
        let value = format!("produce v{version}");
        let request = with_topic(produce_request(
            "acked",
            batch(Compression::None, &[value.as_bytes()]),
        ));
        let response: ProduceResponse = conn.call(version, &request);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (NONE, fixture.acked.len() as i64),
            "Produce v{version}"
        );
        fixture.acked.push(value.into_bytes());

        let mut bad = batch(Compression::None, &[b"bad"]);
        bad[CRC_AT] ^= 0xff;
        let response: ProduceResponse =
            conn.call(version, &with_topic(produce_request("acked", bad)));
        assert_eq!(
            response.responses[0].partition_responses[0].error_code, CORRUPT_MESSAGE,
            "Produce v{version}"
        );
    }

    for version in FetchRequest::VERSIONS.min..=FetchRequest::VERSIONS.max {
        let topic = |partition: i32| {
            let t = FetchTopic::default().with_partitions(vec![
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ]);
            if version >= 13 {
                t.with_topic_id(acked_id)
            } else {
                t.with_topic(topic_name("acked"))
            }
        };
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![topic(0), topic(7)]);
        let response = conn.call(version, &request);
        let partitions: Vec<(i32, i16)> = response
            .responses
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code))
            })
            .collect();
        assert_eq!(
            partitions,
            [(0, NONE), (7, UNKNOWN_TOPIC_OR_PARTITION)],
            "Fetch v{version}"
        );
        let records = response.responses[0].partitions[0]
            .records
            .clone()
            .unwrap_or_default();
        let stored: usize = BatchIter::new(records)
            .map(|b| b.expect("batch").record_count() as usize)
            .sum();
        assert_eq!(stored, fixture.acked.len(), "Fetch v{version} record count");
    }

    for version in ListOffsetsRequest::VERSIONS.min..=ListOffsetsRequest::VERSIONS.max {
        let partition = |index: i32| {
            ListOffsetsPartition::default()
                .with_partition_index(index)
                .with_timestamp(-1)
        };
        let request = ListOffsetsRequest::default().with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name("acked"))
                .with_partitions(vec![partition(0), partition(7)]),
        ]);
        let response = conn.call(version, &request);
        let got: Vec<(i16, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset))
            .collect();
        assert_eq!(
            got[0],
            (NONE, fixture.acked.len() as i64),
            "ListOffsets v{version} latest"
        );
        assert_eq!(
            got[1].0, UNKNOWN_TOPIC_OR_PARTITION,
            "ListOffsets v{version} unknown partition"
        );
    }
    fixture.assert_healthy("every version");
}

/// `acks=0` gets no response at all; when such a produce fails, Kafka closes the connection so
/// that the producer notices (and refreshes its metadata) instead of losing data silently.
#[test]
fn acks_zero_produce_errors_close_the_connection() {
    let mut fixture = Fixture::start();
    let mut conn = fixture.conn();
    // A good acks=0 produce: no response; the next request's response comes first.
    let mut request = produce_request("acked", batch(Compression::None, &[b"acks=0"]));
    request.acks = 0;
    conn.send(9, &request);
    fixture.acked.push(b"acks=0".to_vec());
    fixture.produce_ok(&mut conn, b"after acks=0");

    let mut bad = batch(Compression::None, &[b"bad"]);
    bad[CRC_AT] ^= 0xff;
    let mut request = produce_request("acked", bad);
    request.acks = 0;
    conn.send(9, &request);
    conn.expect_closed("a failed acks=0 produce");
    fixture.assert_healthy("acks=0 errors");
}

/// Requests pipelined on one connection take effect in request order, as in Kafka (which
/// handles one request per connection at a time): a producer with several requests in flight
/// relies on it to keep its records in order.
#[test]
fn pipelined_produces_on_one_connection_append_in_request_order() {
    let mut fixture = Fixture::start();
    let mut conn = fixture.conn();
    let first = fixture.acked.len() as i64;
    let values: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("pipelined {i}").into_bytes())
        .collect();
    let mut ids = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut request = produce_request("acked", batch(Compression::None, &[value]));
        request.acks = if i % 2 == 0 { 1 } else { -1 };
        ids.push(conn.send(9, &request));
    }
    for (i, id) in ids.into_iter().enumerate() {
        let frame = conn.read_frame().expect("a produce response");
        let (got, response) = decode_response_frame::<ProduceRequest>(9, frame).expect("decode");
        assert_eq!(got, id, "responses come back in request order");
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (NONE, first + i as i64),
            "request {i}"
        );
    }
    fixture.acked.extend(values);
    fixture.assert_healthy("pipelined produces");
}
