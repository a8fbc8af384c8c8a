//! An in-process fake broker for the `net` tests, built on the broker-side frame functions.
//! It listens on 127.0.0.1:0 and follows a scripted behaviour per accepted connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, HeartbeatResponse, MetadataResponse, ProduceResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::protocol::frame::{
    ApiRequest, DecodedRequestHeader, FrameDecoder, UNSUPPORTED_VERSION, decode_request_header,
    encode_response,
};
use crate::protocol::versions::ApiVersionTable;

/// What a connection does with requests after the ApiVersions handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Behavior {
    /// Answer every request (Metadata echoes the requested topic names).
    Echo,
    /// Read requests, never answer.
    NeverAnswer,
    /// Answer the first `n - 1` requests, then close the socket on receiving the `n`th.
    CloseAfter(usize),
    /// Answer requests in pairs, the second one first.
    Reorder,
    /// Answer with the correlation id plus 1000.
    WrongCorrelationId,
    /// Answer with bytes that are not a Kafka frame.
    Garbage,
}

pub(crate) struct Script {
    /// The highest ApiVersions version understood; a higher one gets the v0 UNSUPPORTED_VERSION
    /// answer.
    pub api_versions_max: i16,
    /// The ranges advertised, as (api key, min, max).
    pub api_keys: Vec<(i16, i16, i16)>,
    /// Behaviour of the n-th accepted connection (the last entry repeats).
    pub behaviors: Vec<Behavior>,
}

impl Script {
    /// A broker advertising every version kafkit implements, ApiVersions up to `api_versions_max`.
    pub fn modern(behaviors: Vec<Behavior>) -> Self {
        let mut api_keys: Vec<(i16, i16, i16)> = ApiVersionTable::default()
            .iter()
            .filter(|(api, _)| *api != ApiKey::ApiVersions)
            .map(|(api, r)| (api as i16, r.min, r.max))
            .collect();
        api_keys.push((ApiKey::ApiVersions as i16, 0, 4));
        Self {
            api_versions_max: 4,
            api_keys,
            behaviors,
        }
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    pub accepted: AtomicUsize,
    pub requests: AtomicUsize,
    pub produce_acks0: AtomicUsize,
    pub api_versions_requests: Mutex<Vec<(i16, Option<String>)>>,
}

pub(crate) struct FakeBroker {
    pub addr: String,
    pub stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBroker {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stats = Arc::new(Stats::default());
        let script = Arc::new(script);
        let task = tokio::spawn({
            let stats = stats.clone();
            async move {
                let mut connections = Vec::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let n = stats.accepted.fetch_add(1, Ordering::SeqCst);
                    let behavior = *script
                        .behaviors
                        .get(n)
                        .or(script.behaviors.last())
                        .unwrap_or(&Behavior::Echo);
                    connections.push(AbortOnDrop(tokio::spawn(serve(
                        stream,
                        script.clone(),
                        behavior,
                        stats.clone(),
                    ))));
                }
            }
        });
        Self { addr, stats, task }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Script>, behavior: Behavior, stats: Arc<Stats>) {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut held = Vec::new();
    let mut served = 0;
    loop {
        let mut out = BytesMut::new();
        while let Some(mut frame) = decoder.decode(&mut buf).unwrap() {
            let header = decode_request_header(&mut frame).unwrap();
            if header.api_key == ApiKey::ApiVersions as i16 {
                answer_api_versions(&mut out, &header, &mut frame, &script, &stats);
                continue;
            }
            let request = ApiRequest::decode(&header, &mut frame).unwrap();
            stats.requests.fetch_add(1, Ordering::SeqCst);
            served += 1;
            match behavior {
                Behavior::Echo => answer(&mut out, &header, &request, 0, &stats),
                Behavior::NeverAnswer => {}
                Behavior::CloseAfter(n) => {
                    if served >= n {
                        return;
                    }
                    answer(&mut out, &header, &request, 0, &stats);
                }
                Behavior::Reorder => {
                    held.push((header, request));
                    if held.len() == 2 {
                        for (header, request) in held.drain(..).rev() {
                            answer(&mut out, &header, &request, 0, &stats);
                        }
                    }
                }
                Behavior::WrongCorrelationId => answer(&mut out, &header, &request, 1000, &stats),
                Behavior::Garbage => out.put_slice(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn answer_api_versions(
    out: &mut BytesMut,
    header: &DecodedRequestHeader,
    body: &mut bytes::Bytes,
    script: &Script,
    stats: &Stats,
) {
    let api_keys: Vec<ApiVersion> = script
        .api_keys
        .iter()
        .map(|&(k, min, max)| {
            let max = if k == ApiKey::ApiVersions as i16 {
                script.api_versions_max
            } else {
                max
            };
            ApiVersion::default()
                .with_api_key(k)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    if header.api_version > script.api_versions_max {
        // Like Kafka: the body is not parsed; the answer is v0 with error 35 and the ranges.
        stats
            .api_versions_requests
            .lock()
            .unwrap()
            .push((header.api_version, None));
        let resp = ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(api_keys);
        encode_response(out, header.correlation_id, ApiKey::ApiVersions, 0, &resp).unwrap();
        return;
    }
    let ApiRequest::ApiVersions(req) = ApiRequest::decode(header, body).unwrap() else {
        unreachable!()
    };
    let software = (header.api_version >= 3).then(|| {
        format!(
            "{}/{}",
            req.client_software_name, req.client_software_version
        )
    });
    stats
        .api_versions_requests
        .lock()
        .unwrap()
        .push((header.api_version, software));
    let resp = ApiVersionsResponse::default().with_api_keys(api_keys);
    encode_response(
        out,
        header.correlation_id,
        ApiKey::ApiVersions,
        header.api_version,
        &resp,
    )
    .unwrap();
}

fn answer(
    out: &mut BytesMut,
    header: &DecodedRequestHeader,
    request: &ApiRequest,
    correlation_offset: i32,
    stats: &Stats,
) {
    let id = header.correlation_id + correlation_offset;
    let version = header.api_version;
    match request {
        ApiRequest::Metadata(req) => {
            let topics = req
                .topics
                .iter()
                .flatten()
                .map(|t| MetadataResponseTopic::default().with_name(t.name.clone()))
                .collect();
            let resp = MetadataResponse::default().with_topics(topics);
            encode_response(out, id, ApiKey::Metadata, version, &resp).unwrap();
        }
        ApiRequest::Produce(req) if req.acks == 0 => {
            stats.produce_acks0.fetch_add(1, Ordering::SeqCst);
        }
        ApiRequest::Produce(_) => {
            encode_response(
                out,
                id,
                ApiKey::Produce,
                version,
                &ProduceResponse::default(),
            )
            .unwrap();
        }
        ApiRequest::Heartbeat(_) => {
            encode_response(
                out,
                id,
                ApiKey::Heartbeat,
                version,
                &HeartbeatResponse::default(),
            )
            .unwrap();
        }
        other => panic!("fake broker cannot answer {:?}", other.api_key()),
    }
}
