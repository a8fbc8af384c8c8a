//! A broker's accept loop and per-connection request pipeline.
//!
//! Each connection has a reader that frames and decodes requests ahead, and a writer that runs
//! their handlers one at a time, in request order, and sends each response before starting the
//! next request, as Kafka does (it handles one request per connection at a time). So requests
//! take effect in the order they were sent (pipelined produces append in order), and a slow
//! request, such as a long-poll fetch or an `acks=all` produce, delays only the requests behind
//! it on the same connection. Each handler runs in its own task, so a panicking handler closes
//! its connection, never the broker. Malformed input ends the connection cleanly after the
//! responses already owed are written.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafkit::protocol::frame::{FrameDecoder, decode_request_header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::BrokerState;
use crate::handlers::{self, Pending, Reply};

/// Requests a connection may have decoded and queued before the broker stops reading from it.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 128;

pub(super) async fn accept_loop(
    listener: TcpListener,
    broker: Arc<BrokerState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((_, peer)) if broker.cluster.faults.clients_cut_off(broker.id) => {
                    tracing::debug!(broker = broker.id, %peer, "cut off: connection refused");
                }
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(broker = broker.id, %peer, "connection accepted");
                    connections.spawn(serve(stream, broker.clone(), stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(broker = broker.id, error = %e, "accept failed");
                    tokio::task::yield_now().await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    connections.shutdown().await;
}

async fn serve(stream: TcpStream, broker: Arc<BrokerState>, mut stop: watch::Receiver<bool>) {
    let peer = stream.peer_addr().ok();
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT_PER_CONNECTION);

    let write_loop = async move {
        while let Some(request) = rx.recv().await {
            // One request at a time, in order: the next one starts after this one's response.
            match tokio::spawn(request).await {
                Ok(Reply::Frame(frame)) => {
                    if writer.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                Ok(Reply::Nothing) => {}
                Ok(Reply::Close) => break,
                Err(e) => {
                    tracing::error!(error = %e, "request handler failed; closing connection");
                    break;
                }
            }
        }
        let _ = writer.shutdown().await;
    };

    let read_broker = broker.clone();
    let read_loop = async move {
        let decoder = FrameDecoder::new(read_broker.cluster.settings.max_frame_size);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let Some(request) = prepare_request(&read_broker, frame) else {
                        // Malformed or refused: stop reading; what is owed is still written.
                        return;
                    };
                    if tx.send(request).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(broker = read_broker.id, ?peer, error = %e, "bad frame; closing connection");
                    return;
                }
            }
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };

    let mut faults = broker.cluster.faults.subscribe();
    let cut_off = async {
        loop {
            if broker.cluster.faults.clients_cut_off(broker.id) {
                return;
            }
            if faults.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        // The reader finishing drops `tx`, so the writer drains what is owed and then ends.
        _ = async { tokio::join!(read_loop, write_loop) } => {}
        _ = stop.changed() => {}
        _ = cut_off => tracing::debug!(broker = broker.id, ?peer, "cut off: connection closed"),
    }
}

/// Decode a request header and body into its handler. `None` means the connection must close.
fn prepare_request(broker: &Arc<BrokerState>, mut frame: Bytes) -> Option<Pending> {
    let header = match decode_request_header(&mut frame) {
        Ok(header) => header,
        Err(e) => {
            tracing::warn!(broker = broker.id, error = %e, "malformed request header; closing connection");
            return None;
        }
    };
    handlers::prepare(broker, header, frame)
}
