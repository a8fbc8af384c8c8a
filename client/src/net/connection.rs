//! One pipelined TCP connection to a broker.
//!
//! Layout: the caller's task encodes a request (with its correlation id) and queues it on a
//! bounded channel; a **writer task** takes everything queued, registers each request that
//! expects a response with the reader (in write order), and writes the frames with one
//! vectored write; a **reader task** splits frames off the socket and hands each one to the
//! request at the head of the in-flight queue after checking its correlation id; the caller
//! decodes the body. Kafka answers in request order, so a response whose correlation id is not
//! the head's, or a response with nothing in flight, is a protocol error that closes the
//! connection.
//!
//! Closing (explicitly, on drop of the last handle, on EOF, I/O or protocol error, or after a
//! request timeout) raises a `watch` flag that stops both tasks and that every waiting caller
//! also watches, so every request in flight or queued fails at once with
//! [`NetError::Disconnected`], and later sends fail before queueing. No lock is held across an
//! `.await`: the tasks share only channels and the flag.

use std::io::IoSlice;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::{ConnectionConfig, NetError};
use crate::protocol::frame::{
    FrameDecoder, ProtocolError, RequestFrame, UNSUPPORTED_VERSION, decode_response,
    decode_response_header,
};
use crate::protocol::versions::{NegotiatedVersions, VersionRange, negotiate};

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// At most this many bytes are gathered into one write (a single larger frame is written alone).
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// At most this many frames are gathered into one write.
const MAX_BATCH_FRAMES: usize = 64;

/// A request that expects a response, as the reader tracks it.
struct InFlight {
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    reply: oneshot::Sender<Result<Bytes, NetError>>,
}

enum Completion {
    /// Register with the reader before writing.
    Response(InFlight),
    /// No response will come (acks=0 produce): signal once written.
    Written(oneshot::Sender<()>),
}

struct Outbound {
    frame: Bytes,
    completion: Completion,
}

/// State shared by the handle and the two tasks.
struct Shared {
    addr: String,
    closed: watch::Sender<bool>,
    reason: OnceLock<String>,
}

impl Shared {
    /// Closes the connection; the first reason given is kept.
    fn close(&self, reason: impl Into<String>) {
        let reason = reason.into();
        if self.reason.set(reason.clone()).is_ok() {
            tracing::debug!(addr = %self.addr, %reason, "closing connection");
        }
        self.closed.send_replace(true);
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn disconnected(&self) -> NetError {
        let reason = self
            .reason
            .get()
            .map_or("connection closed", String::as_str);
        NetError::Disconnected(format!("{}: {reason}", self.addr))
    }
}

/// A TCP connection to one broker, with negotiated API versions, that pipelines requests.
///
/// Cheap to share behind an `Arc`; every method takes `&self`. Dropping the last handle closes
/// the connection.
///
/// ```no_run
/// use kafkit::messages::MetadataRequest;
/// use kafkit::net::{Connection, ConnectionConfig};
///
/// # async fn example() -> Result<(), kafkit::net::NetError> {
/// let conn = Connection::connect("localhost:9092", &ConnectionConfig::default()).await?;
/// let metadata = conn.send(MetadataRequest::default()).await?;
/// println!("{} brokers", metadata.brokers.len());
/// # Ok(())
/// # }
/// ```
pub struct Connection {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Outbound>,
    next_correlation_id: AtomicI32,
    client_id: Option<String>,
    request_timeout: Duration,
    versions: NegotiatedVersions,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.shared.addr)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`), sets TCP_NODELAY, and performs the ApiVersions
    /// handshake: the request goes out at the highest ApiVersions version in
    /// `config.api_versions`; a broker that answers UNSUPPORTED_VERSION is asked again at the
    /// highest version it listed for ApiVersions (or v0), as Kafka clients do. The broker's
    /// ranges are then negotiated against `config.api_versions`.
    ///
    /// ```no_run
    /// use kafkit::messages::ApiKey;
    /// use kafkit::net::{Connection, ConnectionConfig};
    ///
    /// # async fn example() -> Result<(), kafkit::net::NetError> {
    /// let conn = Connection::connect("localhost:9092", &ConnectionConfig::default()).await?;
    /// println!("Produce v{}", conn.versions().version(ApiKey::Produce)?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Self, NetError> {
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    return Err(NetError::Connect {
                        addr: addr.to_owned(),
                        source: Arc::new(e),
                    });
                }
                Err(_) => {
                    return Err(NetError::ConnectTimeout {
                        addr: addr.to_owned(),
                        timeout: config.connect_timeout,
                    });
                }
            };
        stream.set_nodelay(true).map_err(|e| NetError::Connect {
            addr: addr.to_owned(),
            source: Arc::new(e),
        })?;
        let mut conn = Self::start(addr, stream, config);
        match conn.handshake(config).await {
            Ok(versions) => {
                conn.versions = versions;
                tracing::debug!(addr, "connected");
                Ok(conn)
            }
            Err(e) => {
                conn.shared.close(format!("handshake failed: {e}"));
                Err(e)
            }
        }
    }

    /// Spawns the reader and writer tasks for an established stream.
    fn start(addr: &str, stream: TcpStream, config: &ConnectionConfig) -> Self {
        let (reader, writer) = stream.into_split();
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            closed,
            reason: OnceLock::new(),
        });
        let (requests, requests_rx) = mpsc::channel(config.max_queued_requests.max(1));
        let (in_flight_tx, in_flight_rx) = mpsc::unbounded_channel();
        // Events of the connection's tasks carry the peer and the client id.
        let span = tracing::debug_span!(
            "kafka_connection",
            addr,
            client_id = config.client_id.as_deref().unwrap_or("")
        );
        tokio::spawn(
            write_loop(writer, requests_rx, in_flight_tx, shared.clone()).instrument(span.clone()),
        );
        tokio::spawn(
            read_loop(
                reader,
                in_flight_rx,
                FrameDecoder::new(config.max_frame_size),
                shared.clone(),
            )
            .instrument(span),
        );
        Self {
            shared,
            requests,
            next_correlation_id: AtomicI32::new(0),
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
            versions: NegotiatedVersions::default(),
        }
    }

    async fn handshake(&self, config: &ConnectionConfig) -> Result<NegotiatedVersions, NetError> {
        let ours = config
            .api_versions
            .range(ApiKey::ApiVersions)
            .unwrap_or(VersionRange::new(0, 0));
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(config.client_software_name.clone()))
            .with_client_software_version(StrBytes::from_string(
                config.client_software_version.clone(),
            ));
        let mut version = ours.max;
        loop {
            let response = self.send_with_version(request.clone(), version).await?;
            if response.error_code == 0 {
                return Ok(negotiate(&config.api_versions, &response));
            }
            // UNSUPPORTED_VERSION comes in the v0 layout with the broker's ranges (Kafka 2.4+).
            // Retry at the broker's ApiVersions maximum, strictly lower than what failed.
            let retry =
                (response.error_code == UNSUPPORTED_VERSION && version > ours.min).then(|| {
                    let broker_max = response
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                        .map_or(0, |k| k.max_version);
                    broker_max.min(version - 1).max(ours.min)
                });
            match retry {
                Some(lower) => {
                    tracing::debug!(addr = %self.shared.addr, from = version, to = lower,
                        "broker does not support ApiVersions version, retrying lower");
                    version = lower;
                }
                None => {
                    return Err(NetError::Handshake {
                        addr: self.shared.addr.clone(),
                        error_code: response.error_code,
                    });
                }
            }
        }
    }

    /// The broker address this connection was opened to.
    ///
    /// ```no_run
    /// # async fn example(conn: kafkit::net::Connection) {
    /// println!("connected to {}", conn.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// The API versions negotiated with the broker.
    ///
    /// ```no_run
    /// # async fn example(conn: kafkit::net::Connection) {
    /// use kafkit::messages::ApiKey;
    /// assert!(conn.versions().supports(ApiKey::Metadata));
    /// # }
    /// ```
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    /// Sends `req` at the negotiated version and waits for its response.
    ///
    /// ```no_run
    /// use kafkit::messages::{FindCoordinatorRequest};
    /// # async fn example(conn: kafkit::net::Connection) -> Result<(), kafkit::net::NetError> {
    /// let resp = conn.send(FindCoordinatorRequest::default().with_key("my-group".into())).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send<R: Request>(&self, req: R) -> Result<R::Response, NetError> {
        let version = self.versions.version(api_key_of::<R>()?)?;
        self.send_with_version(req, version).await
    }

    /// Sends `req` at an explicit `version` and waits for its response. The version is not
    /// checked against the negotiated range (only against what `kafka-protocol` implements).
    ///
    /// ```no_run
    /// use kafkit::messages::MetadataRequest;
    /// # async fn example(conn: kafkit::net::Connection) -> Result<(), kafkit::net::NetError> {
    /// let metadata = conn.send_with_version(MetadataRequest::default(), 9).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_with_version<R: Request>(
        &self,
        req: R,
        version: i16,
    ) -> Result<R::Response, NetError> {
        let frame = self.encode(&req, version)?;
        drop(req);
        let (reply, response) = oneshot::channel();
        let in_flight = InFlight {
            correlation_id: frame.correlation_id,
            api_key: frame.api_key,
            api_version: version,
            reply,
        };
        let api = frame.api_key;
        let outbound = Outbound {
            frame: frame.bytes,
            completion: Completion::Response(in_flight),
        };
        let mut body = self
            .with_timeout(api, async {
                self.enqueue(outbound).await?;
                response.await.map_err(|_| self.shared.disconnected())?
            })
            .await?;
        Ok(decode_response::<R>(version, &mut body)?)
    }

    /// Sends a request that gets **no response** (a Produce with `acks=0`) at the negotiated
    /// version; returns once the frame has been written to the socket.
    ///
    /// Only for acks=0 produce requests: a broker answers every other request, and a response
    /// with no request waiting for it closes the connection.
    ///
    /// ```no_run
    /// use kafkit::messages::ProduceRequest;
    /// # async fn example(conn: kafkit::net::Connection) -> Result<(), kafkit::net::NetError> {
    /// conn.send_no_response(ProduceRequest::default().with_acks(0)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_no_response<R: Request>(&self, req: R) -> Result<(), NetError> {
        let api = api_key_of::<R>()?;
        let version = self.versions.version(api)?;
        let frame = self.encode(&req, version)?;
        drop(req);
        let (written, written_rx) = oneshot::channel();
        let outbound = Outbound {
            frame: frame.bytes,
            completion: Completion::Written(written),
        };
        self.with_timeout(api, async {
            self.enqueue(outbound).await?;
            written_rx.await.map_err(|_| self.shared.disconnected())
        })
        .await
    }

    /// Closes the connection. Requests in flight or queued fail with
    /// [`NetError::Disconnected`]; later sends fail at once.
    ///
    /// ```no_run
    /// # async fn example(conn: kafkit::net::Connection) {
    /// conn.close();
    /// assert!(conn.is_closed());
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.close("closed by the client");
    }

    /// Whether the connection has been closed (by either side, or after an error).
    ///
    /// ```no_run
    /// # async fn example(conn: kafkit::net::Connection) {
    /// if conn.is_closed() { /* get a new one from the pool */ }
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Waits until the connection is closed.
    ///
    /// ```no_run
    /// # async fn example(conn: kafkit::net::Connection) {
    /// conn.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        let mut closed = self.shared.closed.subscribe();
        // The sender lives in `self.shared`, so this cannot fail while `self` is borrowed.
        let _ = closed.wait_for(|closed| *closed).await;
    }

    fn encode<R: Request>(&self, req: &R, version: i16) -> Result<RequestFrame, NetError> {
        if self.is_closed() {
            return Err(self.shared.disconnected());
        }
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        Ok(RequestFrame::encode(
            correlation_id,
            self.client_id.as_deref(),
            version,
            req,
        )?)
    }

    async fn enqueue(&self, outbound: Outbound) -> Result<(), NetError> {
        self.requests
            .send(outbound)
            .await
            .map_err(|_| self.shared.disconnected())
    }

    /// Runs `fut` (queue a request, wait for its completion) until it finishes, the connection
    /// closes, or the request timeout elapses; on timeout the connection is closed, because the
    /// requests in flight on it can no longer be matched with certainty.
    ///
    /// Waiting on the close signal as well as on the completion matters: a request queued at the
    /// very moment the tasks stop can land in a channel after its receiver drained it, and its
    /// waiter would then only be dropped with the connection itself.
    async fn with_timeout<T>(
        &self,
        api: ApiKey,
        fut: impl Future<Output = Result<T, NetError>>,
    ) -> Result<T, NetError> {
        let mut closed = self.shared.closed.subscribe();
        let until_closed = async {
            tokio::select! {
                // A completion delivered before the close wins: the reader completes a request
                // before it closes the connection.
                biased;
                result = fut => result,
                _ = closed.wait_for(|closed| *closed) => Err(self.shared.disconnected()),
            }
        };
        match tokio::time::timeout(self.request_timeout, until_closed).await {
            Ok(result) => result,
            Err(_) => {
                self.shared.close(format!(
                    "{api:?} request timed out after {:?}",
                    self.request_timeout
                ));
                Err(NetError::Timeout {
                    api,
                    timeout: self.request_timeout,
                })
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close("connection handle dropped");
    }
}

fn api_key_of<R: Request>() -> Result<ApiKey, NetError> {
    ApiKey::try_from(R::KEY).map_err(|()| ProtocolError::UnknownApiKey(R::KEY).into())
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut requests: mpsc::Receiver<Outbound>,
    in_flight: mpsc::UnboundedSender<InFlight>,
    shared: Arc<Shared>,
) {
    let mut closed = shared.closed.subscribe();
    let mut frames: Vec<Bytes> = Vec::new();
    let mut written: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => break,
            next = requests.recv() => match next {
                Some(outbound) => outbound,
                // Unreachable while the handle lives (it owns a sender and closes on drop).
                None => break,
            },
        };
        let mut batch_bytes = 0;
        let mut next = Some(first);
        while let Some(outbound) = next.take() {
            batch_bytes += outbound.frame.len();
            match outbound.completion {
                // Registered before the frame is written, so the reader always finds it. If
                // the reader is gone the waiter is dropped and the caller sees Disconnected.
                Completion::Response(request) => {
                    let _ = in_flight.send(request);
                }
                Completion::Written(done) => written.push(done),
            }
            frames.push(outbound.frame);
            if batch_bytes < MAX_BATCH_BYTES && frames.len() < MAX_BATCH_FRAMES {
                next = requests.try_recv().ok();
            }
        }
        let result = tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => break,
            result = write_all_frames(&mut writer, &mut frames) => result,
        };
        if let Err(e) = result {
            shared.close(format!("write failed: {e}"));
            break;
        }
        for done in written.drain(..) {
            let _ = done.send(());
        }
    }
    // Dropping `requests` fails everything still queued; dropping `writer` shuts the socket's
    // write side.
}

/// Writes every frame with vectored writes, handling partial writes.
async fn write_all_frames(
    writer: &mut OwnedWriteHalf,
    frames: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < frames.len() {
        let slices: Vec<IoSlice<'_>> = frames[first..].iter().map(|f| IoSlice::new(f)).collect();
        let mut n = writer.write_vectored(&slices).await?;
        drop(slices);
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let frame = &mut frames[first];
            if n >= frame.len() {
                n -= frame.len();
                first += 1;
            } else {
                frame.advance(n);
                n = 0;
            }
        }
    }
    frames.clear();
    Ok(())
}

async fn read_loop(
    mut reader: OwnedReadHalf,
    mut in_flight: mpsc::UnboundedReceiver<InFlight>,
    decoder: FrameDecoder,
    shared: Arc<Shared>,
) {
    let mut closed = shared.closed.subscribe();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let reason = loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => match complete(frame, &mut in_flight) {
                Ok(()) => continue,
                Err(reason) => break reason,
            },
            Ok(None) => {}
            Err(e) => break format!("protocol error: {e}"),
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => return,
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break "connection closed by the broker".to_owned(),
                Ok(_) => {}
                Err(e) => break format!("read failed: {e}"),
            },
        }
    };
    shared.close(reason);
    // Dropping `in_flight` fails every request still waiting for a response.
}

/// Hands one response frame to the request at the head of the in-flight queue.
fn complete(
    mut frame: Bytes,
    in_flight: &mut mpsc::UnboundedReceiver<InFlight>,
) -> Result<(), String> {
    let Ok(request) = in_flight.try_recv() else {
        let id = frame.first_chunk::<4>().map(|b| i32::from_be_bytes(*b));
        return Err(format!(
            "protocol error: received a response (correlation id {id:?}) with no request in flight"
        ));
    };
    let error = match decode_response_header(request.api_key, request.api_version, &mut frame) {
        Ok(id) if id == request.correlation_id => {
            let _ = request.reply.send(Ok(frame));
            return Ok(());
        }
        Ok(id) => format!(
            "protocol error: response correlation id {id} does not match the request in flight \
             ({:?} v{}, correlation id {})",
            request.api_key, request.api_version, request.correlation_id
        ),
        Err(e) => format!("protocol error: {e}"),
    };
    let _ = request
        .reply
        .send(Err(NetError::Disconnected(error.clone())));
    Err(error)
}

#[cfg(test)]
mod tests;
