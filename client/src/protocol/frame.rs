//! Kafka wire framing: the `int32` size prefix, request and response headers, and guarded
//! decoding of the API message bodies.
//!
//! **Owns:** turning a `kafka-protocol` message struct into a complete frame (size prefix +
//! header chosen per API and version + body) and back; splitting complete frames out of a
//! receive buffer ([`FrameDecoder`]); the broker-side view of the same (decoding a request header
//! that may carry an unknown API key, encoding a response). **Must not touch:** sockets, tokio,
//! clocks, correlation-id bookkeeping (that is `net`), record batch contents (that is `record`).
//!
//! # Headers
//!
//! | header | fields | used for |
//! |---|---|---|
//! | request v1 | api_key, api_version, correlation_id, client_id (nullable string) | non-flexible request versions |
//! | request v2 | v1 + tagged fields | flexible request versions |
//! | response v0 | correlation_id | non-flexible response versions, and **every ApiVersions response** |
//! | response v1 | v0 + tagged fields | flexible response versions |
//!
//! [`request_header_version`] and [`response_header_version`] pick the version; the latter
//! enforces v0 for ApiVersions whatever `kafka-protocol` says, because a broker answering an
//! ApiVersions request it cannot parse uses v0 so that any client can read the answer.
//!
//! # Untrusted input
//!
//! Every decoder here returns an error on malformed input; none panics and none allocates
//! from a length read off the wire without checking it against the bytes actually present.
//! The frame size is checked against a configurable maximum *before* anything is buffered for it.
//!
//! `kafka-protocol` 0.18's body decoders do not panic on truncated input (they use the `try_get_*`
//! accessors), but its array decoders call `Vec::with_capacity(n)` with the element count `n`
//! read from the wire. A 24-byte MetadataResponse claiming `i32::MAX` brokers makes that a
//! 200 GB request, and a failed allocation **aborts the process** (it is not a panic and cannot
//! be caught). Every body decode in this module therefore goes through a length guard (see
//! `guarded_decode` in the source):
//!
//! * an unsigned varint (compact array/string/bytes length, tagged-field count/size) larger than
//!   the bytes that remain after it, plus one, is refused before `kafka-protocol` sees it
//!   (values up to 4096 are let through: tagged-field tags are varints too, and are not lengths);
//! * for non-flexible versions, whose array counts are plain `int32`s indistinguishable from
//!   other `int32` fields, a first *shadow* pass decodes the body with every `int32` above that
//!   bound clamped to it. Clamping a plain field does not change how the body is walked, while a
//!   clamped count or length cannot be satisfied by the bytes left, so the shadow pass fails
//!   exactly when a count is out of bounds, with allocations bounded by the frame size. Only when
//!   it succeeds does the real pass run. This rests on two properties of the generated decoders:
//!   they branch only on the version, never on a decoded value, and every array element takes at
//!   least one byte. Flexible versions skip the shadow pass: all their counts are varints.
//!
//! As a last resort each decode call also runs under `catch_unwind`, so a panic inside
//! `kafka-protocol` (none is known) becomes [`ProtocolError::Decode`] instead of unwinding
//! through a connection task.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{Buf, BufMut, Bytes, BytesMut, TryGetError};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, Encodable, Message, Request, StrBytes};

/// The default maximum frame size: 100 MiB, Kafka's `socket.request.max.bytes` default.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Length of the `int32` size prefix in front of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// Kafka error code UNSUPPORTED_VERSION (35), as sent in a v0 ApiVersions response.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// Errors from framing, header and body encoding/decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame's size prefix is larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// The size the frame claims.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A frame's size prefix is negative.
    #[error("frame size prefix is negative ({0})")]
    NegativeSize(i32),
    /// The input ended in the middle of a header field.
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A length or count read from the wire exceeds the bytes that follow it.
    #[error("a length or count of {claimed} exceeds the {available} bytes remaining")]
    LengthOutOfBounds {
        /// The claimed length or count.
        claimed: u64,
        /// Bytes remaining in the frame.
        available: usize,
    },
    /// An API key that `kafka-protocol` does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A known API that kafkit does not implement (for [`ApiRequest::decode`]).
    #[error("{0:?} requests are not implemented")]
    UnsupportedApi(ApiKey),
    /// A version outside the range `kafka-protocol` implements for the API.
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The requested version.
        version: i16,
    },
    /// The header names a different API than the one being decoded.
    #[error("expected API key {expected}, got {actual}")]
    ApiKeyMismatch {
        /// The API key of the message type being decoded.
        expected: i16,
        /// The API key in the header.
        actual: i16,
    },
    /// A header field is malformed (for example a negative string length).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// `kafka-protocol` rejected a message body.
    #[error("decode error: {0}")]
    Decode(String),
    /// `kafka-protocol` could not encode a message (for example a field set that the chosen
    /// version does not have), or the frame would exceed `i32::MAX` bytes.
    #[error("encode error: {0}")]
    Encode(String),
}

fn api_key(raw: i16) -> Result<ApiKey, ProtocolError> {
    ApiKey::try_from(raw).map_err(|()| ProtocolError::UnknownApiKey(raw))
}

fn check_version<M: Message>(api: ApiKey, version: i16) -> Result<(), ProtocolError> {
    if version < M::VERSIONS.min || version > M::VERSIONS.max {
        return Err(ProtocolError::UnsupportedVersion { api, version });
    }
    Ok(())
}

/// The request header version (1 or 2) for `api` at `version`.
///
/// ```
/// use kafkit::messages::ApiKey;
/// use kafkit::protocol::frame::request_header_version;
/// assert_eq!(request_header_version(ApiKey::Produce, 8), 1);
/// assert_eq!(request_header_version(ApiKey::Produce, 9), 2);
/// ```
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    api.request_header_version(version)
}

/// The response header version (0 or 1) for `api` at `version`. Always 0 for ApiVersions.
///
/// ```
/// use kafkit::messages::ApiKey;
/// use kafkit::protocol::frame::response_header_version;
/// assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
/// assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
/// ```
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ApiVersions {
        0
    } else {
        api.response_header_version(version)
    }
}

/// Whether the request body of `api` at `version` uses the flexible (compact, tagged) encoding.
fn request_is_flexible(api: ApiKey, version: i16) -> bool {
    api.request_header_version(version) >= 2
}

/// Whether the response body of `api` at `version` uses the flexible encoding. ApiVersions
/// responses are flexible from v3 even though their header stays v0.
fn response_is_flexible(api: ApiKey, version: i16) -> bool {
    if api == ApiKey::ApiVersions {
        version >= 3
    } else {
        api.response_header_version(version) >= 1
    }
}

// ---------------------------------------------------------------------------------------------
// Frame splitting
// ---------------------------------------------------------------------------------------------

/// Splits complete size-prefixed frames out of a receive buffer.
///
/// Sans-IO: the caller appends whatever bytes arrived and calls [`FrameDecoder::decode`] until it
/// returns `Ok(None)`.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use kafkit::protocol::frame::FrameDecoder;
///
/// let decoder = FrameDecoder::default();
/// let mut buf = BytesMut::new();
/// buf.put_i32(3);
/// buf.put_slice(b"ab");
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // incomplete
/// buf.put_slice(b"c");
/// assert_eq!(&decoder.decode(&mut buf).unwrap().unwrap()[..], b"abc");
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose payload exceeds `max_frame_size` bytes.
    ///
    /// ```
    /// let decoder = kafkit::protocol::frame::FrameDecoder::new(1024);
    /// assert_eq!(decoder.max_frame_size(), 1024);
    /// ```
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// The largest accepted frame payload, in bytes.
    ///
    /// ```
    /// let decoder = kafkit::protocol::frame::FrameDecoder::default();
    /// assert_eq!(decoder.max_frame_size(), 100 * 1024 * 1024);
    /// ```
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Takes one complete frame payload (without its size prefix) off the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not hold a complete frame yet (nothing is consumed),
    /// `Ok(Some(payload))` split off without copying, or an error for a negative size or a size
    /// above the maximum; the error is reported as soon as the 4 prefix bytes are present, before
    /// any of the claimed payload is buffered. After an error the stream is unusable.
    ///
    /// ```
    /// use bytes::{BufMut, BytesMut};
    /// use kafkit::protocol::frame::{FrameDecoder, ProtocolError};
    ///
    /// let mut buf = BytesMut::new();
    /// buf.put_i32(i32::MAX); // claims 2 GiB
    /// let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
    /// assert!(matches!(err, ProtocolError::FrameTooLarge { .. }));
    /// ```
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        let Some(prefix) = buf.first_chunk::<SIZE_PREFIX_LEN>() else {
            return Ok(None);
        };
        let size = i32::from_be_bytes(*prefix);
        if size < 0 {
            return Err(ProtocolError::NegativeSize(size));
        }
        let size = size as usize;
        if size > self.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        if buf.len() - SIZE_PREFIX_LEN < size {
            return Ok(None);
        }
        buf.advance(SIZE_PREFIX_LEN);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

// ---------------------------------------------------------------------------------------------
// Primitive readers for the headers (checked; never panic)
// ---------------------------------------------------------------------------------------------

fn need(buf: &Bytes, n: usize, what: &'static str) -> Result<(), ProtocolError> {
    if buf.len() < n {
        return Err(ProtocolError::Truncated {
            what,
            needed: n,
            available: buf.len(),
        });
    }
    Ok(())
}

fn read_i16(buf: &mut Bytes, what: &'static str) -> Result<i16, ProtocolError> {
    need(buf, 2, what)?;
    Ok(buf.get_i16())
}

fn read_i32(buf: &mut Bytes, what: &'static str) -> Result<i32, ProtocolError> {
    need(buf, 4, what)?;
    Ok(buf.get_i32())
}

fn read_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32, ProtocolError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let Some(&b) = buf.first() else {
            return Err(ProtocolError::Truncated {
                what,
                needed: i + 1,
                available: i,
            });
        };
        buf.advance(1);
        if i == 4 && b > 0x0f {
            return Err(ProtocolError::Malformed(
                "unsigned varint (more than 32 bits)",
            ));
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(ProtocolError::Malformed(
        "unsigned varint (more than 5 bytes)",
    ))
}

fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), ProtocolError> {
    let count = read_unsigned_varint(buf, "tagged field count")?;
    // Each tagged field takes at least two bytes (tag and size).
    if u64::from(count) * 2 > buf.len() as u64 {
        return Err(ProtocolError::LengthOutOfBounds {
            claimed: u64::from(count),
            available: buf.len(),
        });
    }
    for _ in 0..count {
        read_unsigned_varint(buf, "tagged field tag")?;
        let size = read_unsigned_varint(buf, "tagged field size")? as usize;
        need(buf, size, "tagged field")?;
        buf.advance(size);
    }
    Ok(())
}

fn read_nullable_string(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<Option<StrBytes>, ProtocolError> {
    let len = read_i16(buf, what)?;
    match len {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError::Malformed(what)),
        n => {
            let n = n as usize;
            need(buf, n, what)?;
            StrBytes::from_utf8(buf.split_to(n))
                .map(Some)
                .map_err(|_| ProtocolError::Malformed(what))
        }
    }
}

fn put_request_header(
    buf: &mut BytesMut,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    header_version: i16,
) -> Result<(), ProtocolError> {
    buf.put_i16(api_key);
    buf.put_i16(api_version);
    buf.put_i32(correlation_id);
    match client_id {
        None => buf.put_i16(-1),
        Some(id) => {
            let len = i16::try_from(id.len()).map_err(|_| {
                ProtocolError::Encode(format!("client id of {} bytes is too long", id.len()))
            })?;
            buf.put_i16(len);
            buf.put_slice(id.as_bytes());
        }
    }
    if header_version >= 2 {
        buf.put_u8(0); // no tagged fields
    }
    Ok(())
}

fn request_header_len(client_id: Option<&str>, header_version: i16) -> usize {
    2 + 2 + 4 + 2 + client_id.map_or(0, str::len) + usize::from(header_version >= 2)
}

/// Writes the size prefix of the frame that starts at `start`, or rolls `buf` back on error.
fn finish_frame(buf: &mut BytesMut, start: usize) -> Result<(), ProtocolError> {
    let size = buf.len() - start - SIZE_PREFIX_LEN;
    let Ok(size) = i32::try_from(size) else {
        buf.truncate(start);
        return Err(ProtocolError::Encode(format!(
            "frame of {size} bytes exceeds i32::MAX"
        )));
    };
    buf[start..start + SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

fn encode_body<M: Encodable>(
    buf: &mut BytesMut,
    start: usize,
    version: i16,
    msg: &M,
) -> Result<(), ProtocolError> {
    if let Err(e) = msg.encode(buf, version) {
        buf.truncate(start);
        return Err(ProtocolError::Encode(format!("{e:#}")));
    }
    finish_frame(buf, start)
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// Appends one complete request frame (size prefix, request header, body) to `buf`.
///
/// The header version follows the API and version. On error `buf` is left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit::messages::MetadataRequest;
/// use kafkit::protocol::frame::{decode_request_header, FrameDecoder, encode_request};
///
/// let mut buf = BytesMut::new();
/// encode_request(&mut buf, 7, Some("my-app"), 12, &MetadataRequest::default()).unwrap();
/// let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
/// let header = decode_request_header(&mut frame).unwrap();
/// assert_eq!((header.api_key, header.api_version, header.correlation_id), (3, 12, 7));
/// ```
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    req: &R,
) -> Result<(), ProtocolError> {
    let api = api_key(R::KEY)?;
    check_version::<R>(api, version)?;
    let header_version = request_header_version(api, version);
    let body_len = req
        .compute_size(version)
        .map_err(|e| ProtocolError::Encode(format!("{e:#}")))?;
    let start = buf.len();
    buf.reserve(SIZE_PREFIX_LEN + request_header_len(client_id, header_version) + body_len);
    buf.put_i32(0); // size, patched by finish_frame
    if let Err(e) = put_request_header(
        buf,
        R::KEY,
        version,
        correlation_id,
        client_id,
        header_version,
    ) {
        buf.truncate(start);
        return Err(e);
    }
    encode_body(buf, start, version, req)
}

/// A complete, encoded request frame with the facts needed to read its response.
///
/// This is the type-erased form a connection queues: the correlation id is fixed at encode
/// time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    /// The API of the request.
    pub api_key: ApiKey,
    /// The version the request was encoded at (the response uses the same).
    pub api_version: i16,
    /// The correlation id in the header.
    pub correlation_id: i32,
    /// The whole frame, size prefix included.
    pub bytes: Bytes,
}

impl RequestFrame {
    /// Encodes `req` into a new frame.
    ///
    /// ```
    /// use kafkit::messages::{ApiKey, HeartbeatRequest};
    /// use kafkit::protocol::frame::RequestFrame;
    ///
    /// let frame = RequestFrame::encode(1, None, 4, &HeartbeatRequest::default()).unwrap();
    /// assert_eq!(frame.api_key, ApiKey::Heartbeat);
    /// assert_eq!(frame.bytes.len(), 4 + i32::from_be_bytes(frame.bytes[..4].try_into().unwrap()) as usize);
    /// ```
    pub fn encode<R: Request>(
        correlation_id: i32,
        client_id: Option<&str>,
        version: i16,
        req: &R,
    ) -> Result<Self, ProtocolError> {
        let mut buf = BytesMut::new();
        encode_request(&mut buf, correlation_id, client_id, version, req)?;
        Ok(Self {
            api_key: api_key(R::KEY)?,
            api_version: version,
            correlation_id,
            bytes: buf.freeze(),
        })
    }
}

/// Reads the response header off the front of a response frame payload and returns its
/// correlation id; `frame` is left at the start of the body.
///
/// `api` and `version` are those of the request the response answers (the header carries
/// neither). ApiVersions responses are read with header v0 whatever the version.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use kafkit::messages::{ApiKey, HeartbeatResponse};
/// use kafkit::protocol::frame::{decode_response_header, encode_response, FrameDecoder};
///
/// let mut buf = BytesMut::new();
/// encode_response(&mut buf, 42, ApiKey::Heartbeat, 4, &HeartbeatResponse::default()).unwrap();
/// let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
/// assert_eq!(decode_response_header(ApiKey::Heartbeat, 4, &mut frame).unwrap(), 42);
/// ```
pub fn decode_response_header(
    api: ApiKey,
    version: i16,
    frame: &mut Bytes,
) -> Result<i32, ProtocolError> {
    let correlation_id = read_i32(frame, "response header")?;
    if response_header_version(api, version) >= 1 {
        skip_tagged_fields(frame)?;
    }
    Ok(correlation_id)
}

/// Decodes a response body (the frame after its header) for request type `R` at `version`.
///
/// For ApiVersions this applies the fallback Kafka clients use: a broker that did not
/// understand the requested version answers in the v0 layout (with UNSUPPORTED_VERSION), so a
/// body whose error code is 35, or which does not parse at `version`, is read again as v0.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
/// use kafkit::protocol::frame::{decode_response, decode_response_header, encode_response, FrameDecoder};
///
/// // A broker that only knows ApiVersions v0..v2 answers a v3 request in the v0 layout.
/// let answer = ApiVersionsResponse::default().with_error_code(35);
/// let mut buf = BytesMut::new();
/// encode_response(&mut buf, 1, ApiKey::ApiVersions, 0, &answer).unwrap();
/// let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
/// decode_response_header(ApiKey::ApiVersions, 3, &mut frame).unwrap();
/// let resp = decode_response::<ApiVersionsRequest>(3, &mut frame).unwrap();
/// assert_eq!(resp.error_code, 35);
/// ```
pub fn decode_response<R: Request>(
    version: i16,
    body: &mut Bytes,
) -> Result<R::Response, ProtocolError> {
    let api = api_key(R::KEY)?;
    check_version::<R>(api, version)?;
    if api == ApiKey::ApiVersions && version > 0 {
        let unsupported = body
            .first_chunk::<2>()
            .is_some_and(|ec| i16::from_be_bytes(*ec) == UNSUPPORTED_VERSION);
        if !unsupported {
            let mut attempt = body.clone();
            if let Ok(resp) =
                guarded_decode(&mut attempt, version, response_is_flexible(api, version))
            {
                *body = attempt;
                return Ok(resp);
            }
        }
        return guarded_decode(body, 0, false);
    }
    guarded_decode(body, version, response_is_flexible(api, version))
}

/// Decodes a whole response frame payload: header, then body. Returns the correlation id and
/// the response.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
/// use kafkit::protocol::frame::{decode_response_frame, encode_response, FrameDecoder};
///
/// let mut buf = BytesMut::new();
/// let resp = FindCoordinatorResponse::default().with_node_id(3.into());
/// encode_response(&mut buf, 9, ApiKey::FindCoordinator, 2, &resp).unwrap();
/// let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
/// let (id, decoded) = decode_response_frame::<FindCoordinatorRequest>(2, frame).unwrap();
/// assert_eq!((id, decoded), (9, resp));
/// ```
pub fn decode_response_frame<R: Request>(
    version: i16,
    mut frame: Bytes,
) -> Result<(i32, R::Response), ProtocolError> {
    let api = api_key(R::KEY)?;
    let correlation_id = decode_response_header(api, version, &mut frame)?;
    let resp = decode_response::<R>(version, &mut frame)?;
    Ok((correlation_id, resp))
}

// ---------------------------------------------------------------------------------------------
// Broker side
// ---------------------------------------------------------------------------------------------

/// A decoded request header, as a broker sees it: the API key is kept raw so that a request
/// for an API `kafka-protocol` does not know can still be identified and answered or refused.
///
/// Header v1 and v2 carry the same fields; v2's tagged fields are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRequestHeader {
    /// The raw API key.
    pub api_key: i16,
    /// The requested API version.
    pub api_version: i16,
    /// The correlation id to echo in the response.
    pub correlation_id: i32,
    /// The client id, if the client sent one.
    pub client_id: Option<StrBytes>,
}

impl DecodedRequestHeader {
    /// The API key, or [`ProtocolError::UnknownApiKey`].
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// use kafkit::protocol::frame::DecodedRequestHeader;
    /// let header = DecodedRequestHeader { api_key: 18, api_version: 3, correlation_id: 1, client_id: None };
    /// assert_eq!(header.api(), Ok(ApiKey::ApiVersions));
    /// ```
    pub fn api(&self) -> Result<ApiKey, ProtocolError> {
        api_key(self.api_key)
    }
}

/// Reads a request header off the front of a request frame payload; `frame` is left at the
/// start of the body.
///
/// An unknown API key is **not** an error here: the header is returned with `frame` positioned
/// after the client id (whether tagged fields follow cannot be known), so the broker can log it
/// and close the connection as Kafka does. Use [`DecodedRequestHeader::api`] to resolve the key.
///
/// ```
/// use bytes::Bytes;
/// use kafkit::protocol::frame::decode_request_header;
///
/// // api_key 999, version 0, correlation id 5, null client id
/// let mut frame = Bytes::from_static(&[0x03, 0xe7, 0, 0, 0, 0, 0, 5, 0xff, 0xff]);
/// let header = decode_request_header(&mut frame).unwrap();
/// assert_eq!((header.api_key, header.correlation_id), (999, 5));
/// assert!(header.api().is_err());
/// ```
pub fn decode_request_header(frame: &mut Bytes) -> Result<DecodedRequestHeader, ProtocolError> {
    need(frame, 8, "request header")?;
    let api_key_raw = frame.get_i16();
    let api_version = frame.get_i16();
    let correlation_id = frame.get_i32();
    let client_id = read_nullable_string(frame, "request header client id")?;
    if let Ok(api) = ApiKey::try_from(api_key_raw)
        && request_header_version(api, api_version) >= 2
    {
        skip_tagged_fields(frame)?;
    }
    Ok(DecodedRequestHeader {
        api_key: api_key_raw,
        api_version,
        correlation_id,
        client_id,
    })
}

/// Decodes a request body of type `R` (the frame after its header).
///
/// Fails with [`ProtocolError::ApiKeyMismatch`] if the header names another API and with
/// [`ProtocolError::UnsupportedVersion`] for a version `kafka-protocol` does not implement. For
/// an ApiVersions request at an unsupported version, Kafka brokers do not parse the body but
/// answer with an ApiVersions v0 response carrying UNSUPPORTED_VERSION (35) and their ranges.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit::messages::HeartbeatRequest;
/// use kafkit::protocol::frame::{decode_request_body, decode_request_header, encode_request, FrameDecoder};
///
/// let req = HeartbeatRequest::default().with_generation_id(4);
/// let mut buf = BytesMut::new();
/// encode_request(&mut buf, 1, Some("c"), 4, &req).unwrap();
/// let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
/// let header = decode_request_header(&mut frame).unwrap();
/// assert_eq!(decode_request_body::<HeartbeatRequest>(&header, &mut frame).unwrap(), req);
/// ```
pub fn decode_request_body<R: Request>(
    header: &DecodedRequestHeader,
    body: &mut Bytes,
) -> Result<R, ProtocolError> {
    if header.api_key != R::KEY {
        return Err(ProtocolError::ApiKeyMismatch {
            expected: R::KEY,
            actual: header.api_key,
        });
    }
    let api = api_key(R::KEY)?;
    check_version::<R>(api, header.api_version)?;
    guarded_decode(
        body,
        header.api_version,
        request_is_flexible(api, header.api_version),
    )
}

/// Appends one complete response frame (size prefix, response header, body) to `buf`.
///
/// The response header version follows `api` and `version`, and is v0 for ApiVersions. On error
/// `buf` is left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use kafkit::messages::{ApiKey, ApiVersionsResponse};
/// use kafkit::protocol::frame::encode_response;
///
/// let mut buf = BytesMut::new();
/// encode_response(&mut buf, 1, ApiKey::ApiVersions, 3, &ApiVersionsResponse::default()).unwrap();
/// // size, correlation id (header v0: no tagged fields), then the body starting with error_code 0
/// assert_eq!(&buf[4..10], &[0, 0, 0, 1, 0, 0]);
/// ```
pub fn encode_response<M: Message + Encodable>(
    buf: &mut BytesMut,
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    resp: &M,
) -> Result<(), ProtocolError> {
    check_version::<M>(api, version)?;
    let header_version = response_header_version(api, version);
    let body_len = resp
        .compute_size(version)
        .map_err(|e| ProtocolError::Encode(format!("{e:#}")))?;
    let start = buf.len();
    buf.reserve(SIZE_PREFIX_LEN + 5 + body_len);
    buf.put_i32(0);
    buf.put_i32(correlation_id);
    if header_version >= 1 {
        buf.put_u8(0);
    }
    encode_body(buf, start, version, resp)
}

macro_rules! api_requests {
    ($($variant:ident => $req:ident),* $(,)?) => {
        /// A decoded request body of one of the APIs kafkit implements, for brokers that
        /// dispatch on the API key.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ApiRequest {
            $(
                #[doc = concat!("A `", stringify!($req), "`.")]
                $variant(kafka_protocol::messages::$req),
            )*
        }

        impl ApiRequest {
            /// Decodes the body that follows `header`, dispatching on its API key.
            ///
            /// Fails with [`ProtocolError::UnknownApiKey`] for a key `kafka-protocol` does not
            /// know, [`ProtocolError::UnsupportedApi`] for a known API kafkit does not
            /// implement, or as [`decode_request_body`] does.
            ///
            /// ```
            /// use bytes::BytesMut;
            /// use kafkit::messages::{ApiKey, ListGroupsRequest};
            /// use kafkit::protocol::frame::{decode_request_header, encode_request, ApiRequest, FrameDecoder};
            ///
            /// let mut buf = BytesMut::new();
            /// encode_request(&mut buf, 1, None, 4, &ListGroupsRequest::default()).unwrap();
            /// let mut frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
            /// let header = decode_request_header(&mut frame).unwrap();
            /// let req = ApiRequest::decode(&header, &mut frame).unwrap();
            /// assert_eq!(req.api_key(), ApiKey::ListGroups);
            /// ```
            pub fn decode(
                header: &DecodedRequestHeader,
                body: &mut Bytes,
            ) -> Result<Self, ProtocolError> {
                match header.api()? {
                    $(ApiKey::$variant => Ok(Self::$variant(decode_request_body(header, body)?)),)*
                    other => Err(ProtocolError::UnsupportedApi(other)),
                }
            }

            /// Appends this request as a complete frame to `buf`, like [`encode_request`].
            ///
            /// ```
            /// use bytes::BytesMut;
            /// use kafkit::messages::HeartbeatRequest;
            /// use kafkit::protocol::frame::ApiRequest;
            ///
            /// let mut buf = BytesMut::new();
            /// ApiRequest::Heartbeat(HeartbeatRequest::default()).encode(&mut buf, 1, None, 4).unwrap();
            /// assert!(!buf.is_empty());
            /// ```
            pub fn encode(
                &self,
                buf: &mut BytesMut,
                correlation_id: i32,
                client_id: Option<&str>,
                version: i16,
            ) -> Result<(), ProtocolError> {
                match self {
                    $(Self::$variant(req) => encode_request(buf, correlation_id, client_id, version, req),)*
                }
            }

            #[cfg(test)]
            fn default_for(api: ApiKey) -> Option<Self> {
                match api {
                    $(ApiKey::$variant => Some(Self::$variant(Default::default())),)*
                    _ => None,
                }
            }

            /// The API key of this request.
            ///
            /// ```
            /// use kafkit::messages::{ApiKey, MetadataRequest};
            /// use kafkit::protocol::frame::ApiRequest;
            /// assert_eq!(ApiRequest::Metadata(MetadataRequest::default()).api_key(), ApiKey::Metadata);
            /// ```
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Self::$variant(_) => ApiKey::$variant,)*
                }
            }
        }
    };
}

api_requests! {
    ApiVersions => ApiVersionsRequest,
    Metadata => MetadataRequest,
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    SyncGroup => SyncGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    ListGroups => ListGroupsRequest,
    DescribeGroups => DescribeGroupsRequest,
    DeleteGroups => DeleteGroupsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    CreatePartitions => CreatePartitionsRequest,
    DescribeConfigs => DescribeConfigsRequest,
    AlterConfigs => AlterConfigsRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    DescribeCluster => DescribeClusterRequest,
    InitProducerId => InitProducerIdRequest,
    DeleteRecords => DeleteRecordsRequest,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
}

// ---------------------------------------------------------------------------------------------
// The length guard around kafka-protocol's decoders
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuardPass {
    /// Plain `int32`s above the bound are clamped to it (values discarded afterwards).
    Shadow,
    /// Values pass through unchanged.
    Real,
}

/// Unsigned varints up to this value are never refused, even beyond the bytes left: tagged-field
/// *tags* are read the same way as lengths but are not lengths, and a count this small can only
/// make `kafka-protocol` reserve a few hundred kilobytes before it runs out of input.
const VARINT_SLACK: u64 = 4096;

/// A `Bytes` reader that refuses oversized varint lengths and, in the shadow pass, clamps
/// oversized `int32`s. See the module docs.
struct GuardedBuf {
    inner: Bytes,
    pass: GuardPass,
    /// Bytes of the unsigned varint being read (0 when none), and its value so far.
    varint_len: u32,
    varint_value: u32,
    violation: Option<ProtocolError>,
}

impl GuardedBuf {
    fn new(inner: Bytes, pass: GuardPass) -> Self {
        Self {
            inner,
            pass,
            varint_len: 0,
            varint_value: 0,
            violation: None,
        }
    }

    /// The largest count/length that can be satisfied by the bytes left: `remaining + 1`
    /// (compact encodings store length + 1).
    fn bound(&self) -> u64 {
        self.inner.len() as u64 + 1
    }

    fn refuse(&mut self, claimed: u64) -> TryGetError {
        let available = self.inner.len();
        self.violation = Some(ProtocolError::LengthOutOfBounds { claimed, available });
        TryGetError {
            requested: usize::try_from(claimed).unwrap_or(usize::MAX),
            available,
        }
    }
}

impl Buf for GuardedBuf {
    fn remaining(&self) -> usize {
        self.inner.len()
    }

    fn chunk(&self) -> &[u8] {
        &self.inner
    }

    fn advance(&mut self, cnt: usize) {
        // Any read other than `try_get_u8` ends a varint run.
        self.varint_len = 0;
        self.inner.advance(cnt);
    }

    /// Every unsigned varint in a message body (compact lengths and counts, tagged-field counts,
    /// tags and sizes) is read byte by byte through here, as are booleans (0 or 1, which never
    /// trip the check). When a run of bytes completes a varint the way `kafka-protocol` decodes
    /// it (high bit clear, or 5 bytes), its value is checked against the bytes that follow.
    fn try_get_u8(&mut self) -> Result<u8, TryGetError> {
        let Some(&b) = self.inner.first() else {
            return Err(TryGetError {
                requested: 1,
                available: 0,
            });
        };
        self.inner.advance(1);
        let value = self.varint_value | (u32::from(b & 0x7f) << (7 * self.varint_len));
        let len = self.varint_len + 1;
        if b >= 0x80 && len < 5 {
            self.varint_len = len;
            self.varint_value = value;
            return Ok(b);
        }
        self.varint_len = 0;
        self.varint_value = 0;
        if u64::from(value) > self.bound() && u64::from(value) > VARINT_SLACK {
            return Err(self.refuse(u64::from(value)));
        }
        Ok(b)
    }

    fn try_get_i32(&mut self) -> Result<i32, TryGetError> {
        self.varint_len = 0;
        let Some(raw) = self.inner.first_chunk::<4>() else {
            return Err(TryGetError {
                requested: 4,
                available: self.inner.len(),
            });
        };
        let value = i32::from_be_bytes(*raw);
        self.inner.advance(4);
        if self.pass == GuardPass::Shadow && i64::from(value) > self.bound() as i64 {
            return Ok(i32::try_from(self.bound()).unwrap_or(i32::MAX));
        }
        Ok(value)
    }
}

impl ByteBuf for GuardedBuf {
    fn peek_bytes(&mut self, r: std::ops::Range<usize>) -> Bytes {
        // Only reached through `try_peek_bytes`, which checks the range first.
        self.inner.slice(r)
    }

    fn get_bytes(&mut self, size: usize) -> Bytes {
        // Only reached through `try_get_bytes`, which checks the size first.
        self.varint_len = 0;
        self.inner.split_to(size)
    }
}

fn decode_pass<T: Decodable>(buf: &mut GuardedBuf, version: i16) -> Result<T, ProtocolError> {
    // Last-resort guard: no panic path is known in kafka-protocol's decoders, but a panic here
    // would otherwise unwind through a connection task (or a broker) on untrusted input.
    let result = catch_unwind(AssertUnwindSafe(|| T::decode(buf, version)));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(buf
            .violation
            .take()
            .unwrap_or_else(|| ProtocolError::Decode(format!("{e:#}")))),
        Err(_) => Err(ProtocolError::Decode(
            "kafka-protocol panicked while decoding".to_owned(),
        )),
    }
}

/// Decodes `T` at `version` from `body` with the length guard; on success `body` is advanced
/// past what was read.
fn guarded_decode<T: Decodable>(
    body: &mut Bytes,
    version: i16,
    flexible: bool,
) -> Result<T, ProtocolError> {
    // Flexible versions encode every array, string and bytes length as an unsigned varint,
    // which the real pass checks itself; only non-flexible ones carry int32 counts.
    if !flexible {
        let mut shadow = GuardedBuf::new(body.clone(), GuardPass::Shadow);
        decode_pass::<T>(&mut shadow, version)?;
    }
    let mut real = GuardedBuf::new(body.clone(), GuardPass::Real);
    let value = decode_pass(&mut real, version)?;
    *body = real.inner;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn s(v: &'static str) -> StrBytes {
        StrBytes::from_static_str(v)
    }

    fn one_frame(buf: &mut BytesMut) -> Bytes {
        FrameDecoder::default().decode(buf).unwrap().unwrap()
    }

    // ---- frame splitting ------------------------------------------------------------------

    #[test]
    fn frame_decoder_waits_for_complete_frames() {
        let d = FrameDecoder::new(16);
        let mut buf = BytesMut::new();
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.put_slice(&[0, 0, 0]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.put_u8(5);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.put_slice(b"hell");
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 8, "nothing consumed while incomplete");
        buf.put_slice(b"o");
        buf.put_i32(0); // an empty frame follows
        buf.put_i32(2);
        buf.put_slice(b"a"); // and half of a third
        assert_eq!(
            d.decode(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"hello")
        );
        assert_eq!(d.decode(&mut buf).unwrap().unwrap(), Bytes::new());
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], &[0, 0, 0, 2, b'a']);
    }

    #[test]
    fn frame_decoder_rejects_negative_and_oversized_sizes_from_the_prefix_alone() {
        let d = FrameDecoder::new(16);
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::NegativeSize(-1)));
        let mut buf = BytesMut::from(&17i32.to_be_bytes()[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { size: 17, max: 16 })
        );
        let mut buf = BytesMut::from(&16i32.to_be_bytes()[..]);
        assert_eq!(
            d.decode(&mut buf),
            Ok(None),
            "exactly the maximum is allowed"
        );
        // A 2 GiB claim against the default maximum fails at once, with 4 bytes buffered.
        let mut buf = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(matches!(
            FrameDecoder::default().decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { size, .. }) if size == i32::MAX as usize
        ));
    }

    // ---- headers ----------------------------------------------------------------------------

    #[test]
    fn request_header_v1_and_v2_layouts() {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000);
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 0x0102_0304, Some("ab"), 8, &req).unwrap();
        // size, key 0, version 8, correlation id, client id "ab", then the body (v8: nullable
        // transactional id = -1); no tagged-field byte in header v1
        assert_eq!(&buf[4..16], &[0, 0, 0, 8, 1, 2, 3, 4, 0, 2, b'a', b'b']);
        assert_eq!(&buf[16..18], &[0xff, 0xff]);
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 1, None, 9, &req).unwrap();
        // header v2: null client id (-1 as int16, never compact), then 0 tagged fields
        assert_eq!(&buf[4..15], &[0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0]);
    }

    #[test]
    fn response_header_v0_v1_and_api_versions_always_v0() {
        let mut buf = BytesMut::new();
        encode_response(
            &mut buf,
            5,
            ApiKey::Metadata,
            8,
            &MetadataResponse::default(),
        )
        .unwrap();
        let mut v0 = one_frame(&mut buf);
        encode_response(
            &mut buf,
            5,
            ApiKey::Metadata,
            9,
            &MetadataResponse::default(),
        )
        .unwrap();
        let mut v1 = one_frame(&mut buf);
        assert_eq!(&v0[..4], &[0, 0, 0, 5]);
        assert_eq!(&v1[..5], &[0, 0, 0, 5, 0]);
        assert_eq!(decode_response_header(ApiKey::Metadata, 8, &mut v0), Ok(5));
        assert_eq!(decode_response_header(ApiKey::Metadata, 9, &mut v1), Ok(5));
        assert_eq!(
            decode_response::<MetadataRequest>(9, &mut v1).unwrap(),
            MetadataResponse::default()
        );
        for version in 0..=4 {
            assert_eq!(response_header_version(ApiKey::ApiVersions, version), 0);
            let resp = ApiVersionsResponse::default().with_api_keys(vec![
                ApiVersion::default().with_api_key(18).with_max_version(4),
            ]);
            encode_response(&mut buf, 77, ApiKey::ApiVersions, version, &resp).unwrap();
            let frame = one_frame(&mut buf);
            // header v0: the body (error code 0) follows the correlation id directly
            assert_eq!(&frame[..6], &[0, 0, 0, 77, 0, 0]);
            let (id, decoded) =
                decode_response_frame::<ApiVersionsRequest>(version, frame).unwrap();
            assert_eq!((id, decoded), (77, resp));
        }
    }

    #[test]
    fn response_header_tagged_fields_are_skipped_and_checked() {
        // correlation id 1, two tagged fields (tag 0 size 1, tag 5 size 0), then body
        let mut frame = Bytes::from_static(&[0, 0, 0, 1, 2, 0, 1, 9, 5, 0, 0xaa]);
        assert_eq!(
            decode_response_header(ApiKey::Metadata, 9, &mut frame),
            Ok(1)
        );
        assert_eq!(&frame[..], &[0xaa]);
        let mut frame = Bytes::from_static(&[0, 0, 0, 1, 1, 0, 9, 1]);
        assert!(matches!(
            decode_response_header(ApiKey::Metadata, 9, &mut frame),
            Err(ProtocolError::Truncated { .. })
        ));
        let mut frame = Bytes::from_static(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode_response_header(ApiKey::Metadata, 9, &mut frame),
            Err(ProtocolError::LengthOutOfBounds { .. })
        ));
        let mut frame = Bytes::from_static(&[0, 0, 1]);
        assert!(matches!(
            decode_response_header(ApiKey::Metadata, 0, &mut frame),
            Err(ProtocolError::Truncated { .. })
        ));
    }

    #[test]
    fn request_header_with_unknown_api_key_is_returned_raw() {
        let mut frame = Bytes::from_static(&[0x7f, 0x00, 0, 3, 0, 0, 0, 9, 0, 1, b'x', 1, 2]);
        let header = decode_request_header(&mut frame).unwrap();
        assert_eq!(header.api_key, 0x7f00);
        assert_eq!(header.api_version, 3);
        assert_eq!(header.correlation_id, 9);
        assert_eq!(header.client_id.as_deref(), Some("x"));
        assert_eq!(&frame[..], &[1, 2]);
        assert_eq!(
            ApiRequest::decode(&header, &mut frame),
            Err(ProtocolError::UnknownApiKey(0x7f00))
        );
    }

    #[test]
    fn request_header_errors() {
        for bad in [
            &[0u8, 0, 0, 3, 0, 0, 0][..],               // short fixed part
            &[0, 3, 0, 1, 0, 0, 0, 1, 0, 5, b'a'][..],  // client id truncated
            &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe][..],  // client id length -2
            &[0, 3, 0, 1, 0, 0, 0, 1, 0, 1, 0xff][..],  // client id not UTF-8
            &[0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff][..], // v2 header without tagged fields
        ] {
            let mut frame = Bytes::copy_from_slice(bad);
            assert!(decode_request_header(&mut frame).is_err(), "{bad:?}");
        }
    }

    // ---- bodies -----------------------------------------------------------------------------

    #[test]
    fn requests_round_trip_through_api_request() {
        let mut buf = BytesMut::new();
        for (version, req) in sample_requests() {
            let api = req.api_key();
            encode_any_request(&mut buf, 11, Some("kafkit"), version, &req).unwrap();
            let mut frame = one_frame(&mut buf);
            let header = decode_request_header(&mut frame).unwrap();
            assert_eq!(header.api(), Ok(api));
            assert_eq!(header.api_version, version);
            assert_eq!(header.correlation_id, 11);
            let decoded = ApiRequest::decode(&header, &mut frame).unwrap();
            assert_eq!(decoded, req, "{api:?} v{version}");
            assert!(frame.is_empty(), "{api:?} v{version}: body fully read");
        }
    }

    #[test]
    fn api_request_covers_every_client_api_at_every_version() {
        let mut buf = BytesMut::new();
        for api in CLIENT_API_KEYS {
            let req = ApiRequest::default_for(api).unwrap_or_else(|| panic!("{api:?} missing"));
            let range = crate::protocol::versions::ApiVersionTable::default()
                .range(api)
                .unwrap();
            for version in range.min..=range.max {
                req.encode(&mut buf, 1, Some("c"), version).unwrap();
                let mut frame = one_frame(&mut buf);
                let header = decode_request_header(&mut frame).unwrap();
                assert_eq!(
                    ApiRequest::decode(&header, &mut frame).as_ref(),
                    Ok(&req),
                    "{api:?} v{version}"
                );
                assert!(frame.is_empty());
            }
        }
    }

    #[test]
    fn request_body_checks_key_and_version() {
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 1, None, 4, &HeartbeatRequest::default()).unwrap();
        let mut frame = one_frame(&mut buf);
        let header = decode_request_header(&mut frame).unwrap();
        assert_eq!(
            decode_request_body::<LeaveGroupRequest>(&header, &mut frame.clone()),
            Err(ProtocolError::ApiKeyMismatch {
                expected: 13,
                actual: 12
            })
        );
        let future = DecodedRequestHeader {
            api_version: 99,
            ..header.clone()
        };
        assert_eq!(
            decode_request_body::<HeartbeatRequest>(&future, &mut frame.clone()),
            Err(ProtocolError::UnsupportedVersion {
                api: ApiKey::Heartbeat,
                version: 99
            })
        );
        let sasl = DecodedRequestHeader {
            api_key: 17,
            ..header
        };
        assert_eq!(
            ApiRequest::decode(&sasl, &mut frame),
            Err(ProtocolError::UnsupportedApi(ApiKey::SaslHandshake))
        );
    }

    #[test]
    fn encode_errors_leave_the_buffer_unchanged() {
        let mut buf = BytesMut::from(&b"xy"[..]);
        assert_eq!(
            encode_request(&mut buf, 1, None, 2, &ProduceRequest::default()),
            Err(ProtocolError::UnsupportedVersion {
                api: ApiKey::Produce,
                version: 2
            })
        );
        let long = "c".repeat(40_000);
        assert!(matches!(
            encode_request(&mut buf, 1, Some(&long), 4, &HeartbeatRequest::default()),
            Err(ProtocolError::Encode(_))
        ));
        // group_instance_id does not exist in Heartbeat v0
        let req = HeartbeatRequest::default().with_group_instance_id(Some(s("i")));
        assert!(matches!(
            encode_request(&mut buf, 1, None, 0, &req),
            Err(ProtocolError::Encode(_))
        ));
        assert!(matches!(
            encode_response(
                &mut buf,
                1,
                ApiKey::Heartbeat,
                9,
                &HeartbeatResponse::default()
            ),
            Err(ProtocolError::UnsupportedVersion { .. })
        ));
        assert_eq!(&buf[..], b"xy");
    }

    #[test]
    fn api_versions_v0_fallback() {
        // A broker that does not know ApiVersions v3 answers in the v0 layout: error 35 and
        // its ranges, under response header v0.
        let v0 = ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(vec![
                ApiVersion::default().with_api_key(18).with_max_version(2),
            ]);
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 3, ApiKey::ApiVersions, 0, &v0).unwrap();
        let frame = one_frame(&mut buf);
        for requested in [1, 2, 3, 4] {
            let (id, resp) =
                decode_response_frame::<ApiVersionsRequest>(requested, frame.clone()).unwrap();
            assert_eq!((id, resp), (3, v0.clone()), "requested v{requested}");
        }
        // A v0-layout answer without error 35 that does not parse as v3 is also read as v0.
        let plain = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default().with_api_key(0).with_max_version(9),
        ]);
        encode_response(&mut buf, 4, ApiKey::ApiVersions, 0, &plain).unwrap();
        let frame = one_frame(&mut buf);
        let (_, resp) = decode_response_frame::<ApiVersionsRequest>(3, frame).unwrap();
        assert_eq!(resp, plain);
    }

    // ---- the length guard -------------------------------------------------------------------
    //
    // Without the guard each of these makes kafka-protocol 0.18 request a multi-gigabyte
    // allocation, which aborts the test process on a machine that refuses to overcommit.

    #[test]
    fn int32_array_count_beyond_the_frame_is_refused() {
        let mut body = BytesMut::new();
        body.put_i32(0); // throttle_time_ms
        body.put_i32(i32::MAX); // brokers: 2^31 - 1 entries claimed
        body.put_slice(&[0; 16]);
        let err = decode_response::<MetadataRequest>(3, &mut body.freeze()).unwrap_err();
        assert!(matches!(err, ProtocolError::Decode(_)), "{err:?}");

        // broker side: a Produce v3 request claiming 2^31 - 1 topics
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 1, None, 3, &ProduceRequest::default()).unwrap();
        let len = buf.len();
        buf[len - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        let mut frame = one_frame(&mut buf);
        let header = decode_request_header(&mut frame).unwrap();
        assert!(ApiRequest::decode(&header, &mut frame).is_err());
    }

    #[test]
    fn varint_count_beyond_the_frame_is_refused() {
        let mut body = BytesMut::new();
        body.put_i32(0); // throttle_time_ms
        body.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // brokers: 2^32 - 2 entries claimed
        body.put_slice(&[0; 16]);
        let err = decode_response::<MetadataRequest>(12, &mut body.freeze()).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::LengthOutOfBounds {
                    claimed: 0xffff_ffff,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn high_tagged_field_tags_are_not_mistaken_for_lengths() {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_unknown_tagged_field(4000, Bytes::from_static(b"x"));
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 1, None, 4, &req).unwrap();
        let mut frame = one_frame(&mut buf);
        let header = decode_request_header(&mut frame).unwrap();
        assert_eq!(
            decode_request_body::<HeartbeatRequest>(&header, &mut frame),
            Ok(req)
        );
    }

    #[test]
    fn large_int32_fields_are_not_mistaken_for_counts() {
        // FetchRequest v4 (non-flexible): max_bytes 50 MiB and max_wait 500 ms in a tiny body.
        let req = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(52_428_800)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s("t")))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(1 << 40)
                            .with_partition_max_bytes(i32::MAX),
                    ]),
            ]);
        let mut buf = BytesMut::new();
        encode_request(&mut buf, 1, None, 4, &req).unwrap();
        let mut frame = one_frame(&mut buf);
        let header = decode_request_header(&mut frame).unwrap();
        assert_eq!(
            decode_request_body::<FetchRequest>(&header, &mut frame),
            Ok(req)
        );
    }

    // ---- property tests ---------------------------------------------------------------------

    proptest! {
        #[test]
        fn request_header_round_trip(
            api_index in 0usize..CLIENT_API_KEYS.len(),
            version_pick in any::<u16>(),
            correlation_id in any::<i32>(),
            client_id in proptest::option::of("\\PC{0,40}"),
        ) {
            let api = CLIENT_API_KEYS[api_index];
            let range = api.valid_versions();
            let version = range.min + (version_pick % (range.max - range.min + 1) as u16) as i16;
            let header_version = request_header_version(api, version);
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            put_request_header(&mut buf, api as i16, version, correlation_id, client_id.as_deref(), header_version).unwrap();
            buf.put_slice(b"body");
            finish_frame(&mut buf, 0).unwrap();
            let mut frame = one_frame(&mut buf);
            let header = decode_request_header(&mut frame).unwrap();
            prop_assert_eq!(header.api_key, api as i16);
            prop_assert_eq!(header.api_version, version);
            prop_assert_eq!(header.correlation_id, correlation_id);
            prop_assert_eq!(header.client_id.as_deref(), client_id.as_deref());
            prop_assert_eq!(&frame[..], b"body");
        }

        #[test]
        fn response_header_round_trip(
            api_index in 0usize..CLIENT_API_KEYS.len(),
            version_pick in any::<u16>(),
            correlation_id in any::<i32>(),
        ) {
            let api = CLIENT_API_KEYS[api_index];
            let range = api.valid_versions();
            let version = range.min + (version_pick % (range.max - range.min + 1) as u16) as i16;
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            buf.put_i32(correlation_id);
            if response_header_version(api, version) == 1 {
                buf.put_u8(0);
            }
            buf.put_slice(b"body");
            finish_frame(&mut buf, 0).unwrap();
            let mut frame = one_frame(&mut buf);
            prop_assert_eq!(decode_response_header(api, version, &mut frame), Ok(correlation_id));
            prop_assert_eq!(&frame[..], b"body");
        }

        #[test]
        fn frame_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..64) {
            let mut buf = BytesMut::from(&data[..]);
            let d = FrameDecoder::new(max);
            while let Ok(Some(frame)) = d.decode(&mut buf) {
                prop_assert!(frame.len() <= max);
            }
        }
    }

    // ---- fuzz-style test --------------------------------------------------------------------

    use crate::protocol::versions::CLIENT_APIS as CLIENT_API_KEYS;

    /// xorshift64*: deterministic, dependency-free.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn encode_any_request(
        buf: &mut BytesMut,
        correlation_id: i32,
        client_id: Option<&str>,
        version: i16,
        req: &ApiRequest,
    ) -> Result<(), ProtocolError> {
        req.encode(buf, correlation_id, client_id, version)
    }

    fn records() -> Bytes {
        Bytes::from_static(&[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ])
    }

    fn sample_requests() -> Vec<(i16, ApiRequest)> {
        let produce = |version: i16| {
            let topic = if version >= 13 {
                TopicProduceData::default().with_topic_id(Default::default())
            } else {
                TopicProduceData::default().with_name(TopicName(s("topic-a")))
            };
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![topic.with_partition_data(vec![
                    PartitionProduceData::default().with_index(0).with_records(Some(records())),
                    PartitionProduceData::default().with_index(3).with_records(None),
                ])])
        };
        let fetch = |version: i16| {
            let topic = if version >= 13 {
                FetchTopic::default().with_topic_id(Default::default())
            } else {
                FetchTopic::default().with_topic(TopicName(s("topic-a")))
            };
            FetchRequest::default()
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(52_428_800)
                .with_topics(vec![topic.with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(2)
                            .with_fetch_offset(123_456)
                            .with_partition_max_bytes(1 << 20),
                    ])])
        };
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s("a")))),
            MetadataRequestTopic::default().with_name(Some(TopicName(s("bb")))),
        ]));
        let join = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(45_000)
            .with_member_id(s("m-1"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"\x00\x01meta")),
            ]);
        let create = CreateTopicsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![
                kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s("new")))
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ]);
        vec![
            (0, ApiRequest::ApiVersions(ApiVersionsRequest::default())),
            (
                3,
                ApiRequest::ApiVersions(
                    ApiVersionsRequest::default()
                        .with_client_software_name(s("kafkit"))
                        .with_client_software_version(s("0.1.0")),
                ),
            ),
            (1, ApiRequest::Metadata(metadata.clone())),
            (12, ApiRequest::Metadata(metadata)),
            (3, ApiRequest::Produce(produce(3))),
            (8, ApiRequest::Produce(produce(8))),
            (9, ApiRequest::Produce(produce(9))),
            (13, ApiRequest::Produce(produce(13))),
            (4, ApiRequest::Fetch(fetch(4))),
            (12, ApiRequest::Fetch(fetch(12))),
            (13, ApiRequest::Fetch(fetch(13))),
            (5, ApiRequest::JoinGroup(join.clone())),
            (9, ApiRequest::JoinGroup(join)),
            (
                4,
                ApiRequest::Heartbeat(
                    HeartbeatRequest::default()
                        .with_group_id(GroupId(s("g")))
                        .with_generation_id(7)
                        .with_member_id(s("m")),
                ),
            ),
            (0, ApiRequest::ListGroups(ListGroupsRequest::default())),
            (2, ApiRequest::CreateTopics(create.clone())),
            (7, ApiRequest::CreateTopics(create)),
        ]
    }

    /// Response frames (api, version, frame payload).
    fn sample_responses() -> Vec<(ApiKey, i16, Bytes)> {
        let metadata = MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(s("localhost"))
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(s("h2"))
                    .with_port(9093)
                    .with_rack(Some(s("r"))),
            ])
            .with_controller_id(BrokerId(1))
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(s("t"))))
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(1))
                            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                            .with_isr_nodes(vec![BrokerId(1)]),
                    ]),
            ]);
        let produce = |version: i16| {
            let topic = if version >= 13 {
                TopicProduceResponse::default().with_topic_id(Default::default())
            } else {
                TopicProduceResponse::default().with_name(TopicName(s("t")))
            };
            ProduceResponse::default().with_responses(vec![topic.with_partition_responses(vec![
                PartitionProduceResponse::default().with_index(0).with_base_offset(42),
            ])])
        };
        let fetch = |version: i16| {
            let topic = if version >= 13 {
                FetchableTopicResponse::default().with_topic_id(Default::default())
            } else {
                FetchableTopicResponse::default().with_topic(TopicName(s("t")))
            };
            FetchResponse::default().with_responses(vec![topic.with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(100)
                        .with_records(Some(records())),
                ])])
        };
        let api_versions = ApiVersionsResponse::default().with_api_keys(
            CLIENT_API_KEYS
                .iter()
                .map(|k| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_max_version(k.valid_versions().max)
                })
                .collect(),
        );
        let mut out = Vec::new();
        let mut push =
            |api: ApiKey,
             version: i16,
             enc: &dyn Fn(&mut BytesMut) -> Result<(), ProtocolError>| {
                let mut buf = BytesMut::new();
                enc(&mut buf).unwrap();
                out.push((api, version, one_frame(&mut buf)));
            };
        for v in [0, 3] {
            push(ApiKey::ApiVersions, v, &|b| {
                encode_response(b, 1, ApiKey::ApiVersions, v, &api_versions)
            });
        }
        for v in [1, 8, 9, 12] {
            push(ApiKey::Metadata, v, &|b| {
                encode_response(b, 2, ApiKey::Metadata, v, &metadata)
            });
        }
        for v in [3, 8, 9, 13] {
            push(ApiKey::Produce, v, &|b| {
                encode_response(b, 3, ApiKey::Produce, v, &produce(v))
            });
        }
        for v in [4, 11, 12, 13] {
            push(ApiKey::Fetch, v, &|b| {
                encode_response(b, 4, ApiKey::Fetch, v, &fetch(v))
            });
        }
        push(ApiKey::FindCoordinator, 4, &|b| {
            encode_response(
                b,
                5,
                ApiKey::FindCoordinator,
                4,
                &FindCoordinatorResponse::default().with_coordinators(vec![
                    kafka_protocol::messages::find_coordinator_response::Coordinator::default()
                        .with_key(s("g"))
                        .with_host(s("h"))
                        .with_port(1),
                ]),
            )
        });
        out
    }

    /// Client-side decode of any sampled response type.
    fn decode_any_response(api: ApiKey, version: i16, frame: Bytes) -> Result<(), ProtocolError> {
        match api {
            ApiKey::ApiVersions => {
                decode_response_frame::<ApiVersionsRequest>(version, frame).map(drop)
            }
            ApiKey::Metadata => decode_response_frame::<MetadataRequest>(version, frame).map(drop),
            ApiKey::Produce => decode_response_frame::<ProduceRequest>(version, frame).map(drop),
            ApiKey::Fetch => decode_response_frame::<FetchRequest>(version, frame).map(drop),
            ApiKey::FindCoordinator => {
                decode_response_frame::<FindCoordinatorRequest>(version, frame).map(drop)
            }
            other => panic!("add {other:?} to decode_any_response"),
        }
    }

    fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
        let mut data = original.to_vec();
        let rounds = 1 + rng.below(3);
        for _ in 0..rounds {
            let len = data.len();
            match rng.below(8) {
                0 => data.truncate(rng.below(len + 1)),
                1 => {
                    if len > 0 {
                        let i = rng.below(len);
                        data[i] ^= 1 << rng.below(8);
                    }
                }
                2 => {
                    if len > 0 {
                        let i = rng.below(len);
                        data[i] = rng.next() as u8;
                    }
                }
                3 | 4 => {
                    // a count/length bomb: a huge int32 at any offset
                    let bomb: [i32; 4] = [i32::MAX, i32::MIN, -1, 0x0100_0000];
                    let v = bomb[rng.below(4)].to_be_bytes();
                    if len >= 4 {
                        let i = rng.below(len - 3);
                        data[i..i + 4].copy_from_slice(&v);
                    }
                }
                5 => {
                    // a varint bomb: 2^32 - 1
                    let i = rng.below(len + 1);
                    data.splice(i..i, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                }
                6 => {
                    let i = rng.below(len + 1);
                    let n = rng.below(8);
                    let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    data.splice(i..i, junk);
                }
                _ => {
                    if len > 1 {
                        let a = rng.below(len);
                        let b = rng.below(len);
                        data.swap(a, b);
                    }
                }
            }
        }
        data
    }

    /// Feeds `payload` through the frame decoder (with a correct size prefix, and with the raw
    /// bytes as if they were the stream) and returns the complete frames.
    fn frames_of(payload: &[u8], max: usize) -> Vec<Bytes> {
        let decoder = FrameDecoder::new(max);
        let mut frames = Vec::new();
        let mut framed = BytesMut::new();
        framed.put_i32(payload.len() as i32);
        framed.put_slice(payload);
        let mut raw = BytesMut::from(payload);
        for buf in [&mut framed, &mut raw] {
            while let Ok(Some(frame)) = decoder.decode(buf) {
                assert!(frame.len() <= max);
                frames.push(frame);
            }
        }
        frames
    }

    /// Many thousand mutated request and response frames (truncations, bit flips, int32 and
    /// varint count bombs, junk) through the frame decoder, the header decoders and the body
    /// decoders, broker side and client side. None may panic. None may allocate from a claimed
    /// count: on a machine that does not overcommit (like CI's), an unguarded `with_capacity`
    /// from a bomb asks for tens of gigabytes and aborts this test binary, which is what happens
    /// when either half of the length guard is disabled.
    #[test]
    fn fuzz_mutated_frames_never_panic_or_over_allocate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut requests = Vec::new();
        for (i, (version, req)) in sample_requests().into_iter().enumerate() {
            let mut buf = BytesMut::new();
            encode_any_request(&mut buf, i as i32, Some("fuzz"), version, &req).unwrap();
            requests.push(one_frame(&mut buf));
        }
        let responses = sample_responses();
        let (mut frames_seen, mut request_ok, mut response_ok) = (0usize, 0usize, 0usize);
        const ITERATIONS: usize = 12_000;
        for _ in 0..ITERATIONS {
            // broker side: a mutated request
            let original = &requests[rng.below(requests.len())];
            let mutated = mutate(&mut rng, original);
            for mut frame in frames_of(&mutated, 1 << 16) {
                frames_seen += 1;
                if let Ok(header) = decode_request_header(&mut frame) {
                    if ApiRequest::decode(&header, &mut frame).is_ok() {
                        request_ok += 1;
                    }
                }
            }
            // client side: a mutated response, read as the API it answers
            let (api, version, original) = &responses[rng.below(responses.len())];
            let mutated = mutate(&mut rng, original);
            for frame in frames_of(&mutated, 1 << 16) {
                frames_seen += 1;
                if decode_any_response(*api, *version, frame).is_ok() {
                    response_ok += 1;
                }
            }
            // pure junk
            let n = rng.below(48);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            for mut frame in frames_of(&junk, 1 << 16) {
                if let Ok(header) = decode_request_header(&mut frame) {
                    let _ = ApiRequest::decode(&header, &mut frame.clone());
                }
                let _ = decode_any_response(*api, *version, frame);
            }
        }
        eprintln!(
            "fuzz: {frames_seen} frames, {request_ok} requests ok, {response_ok} responses ok"
        );
        // The mutations leave some frames valid and break most: both paths were exercised.
        assert!(frames_seen > ITERATIONS, "{frames_seen}");
        assert!(
            request_ok > 100 && request_ok < frames_seen / 2,
            "{request_ok}"
        );
        assert!(
            response_ok > 100 && response_ok < frames_seen / 2,
            "{response_ok}"
        );
    }
}
