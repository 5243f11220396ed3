//! A fake upstream for the SDK tests: `/v1/stream` and `/v1/snapshot` as
//! SPEC §4 describes them, served by axum on loopback (port 0), on its own
//! thread and runtime, with knobs to make it misbehave on demand.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use vexil::protocol::{self, Update};
use vexil::snapshot::{self, Snapshot};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Seen {
    pub path: &'static str,
    pub authorization: Option<String>,
    pub last_event_id: Option<String>,
    pub if_none_match: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    current: Option<Snapshot>,
    streams: Vec<UnboundedSender<Bytes>>,
    /// Answer `/v1/stream` with this status instead of a stream.
    stream_status: Option<u16>,
    /// Answer `/v1/stream` with 200 and an empty body.
    stream_empty: bool,
    /// Answer `/v1/snapshot` with this status instead of the snapshot.
    snapshot_status: Option<u16>,
    /// Serve these bytes as the snapshot body instead of the real one.
    snapshot_body: Option<Vec<u8>>,
    /// The one SDK key accepted (401 otherwise).
    key: String,
    seen: Vec<Seen>,
}

/// The fake's state, shared with its handlers.
#[derive(Clone)]
pub struct Fake {
    inner: Arc<Mutex<Inner>>,
}

#[allow(dead_code)]
impl Fake {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the current state without telling open streams.
    pub fn set_state(&self, snapshot: Snapshot) {
        self.lock().current = Some(snapshot);
    }

    /// The current version, if any.
    pub fn version(&self) -> Option<u64> {
        self.lock().current.as_ref().map(Snapshot::version)
    }

    /// Sets the state and sends it as a `put` to every open stream.
    pub fn publish_full(&self, snapshot: Snapshot) {
        let event = Update::Full {
            version: snapshot.version(),
            snapshot: snapshot.to_bytes(),
        }
        .to_sse();
        let mut inner = self.lock();
        inner.current = Some(snapshot);
        send(&mut inner, &event);
    }

    /// Sets the state and sends the delta from the previous one.
    pub fn publish_delta(&self, snapshot: Snapshot) {
        let mut inner = self.lock();
        let base = inner.current.take().expect("a delta needs a base state");
        let patch = snapshot::make_patch_from(&base, &snapshot).expect("patch");
        let event = Update::Delta {
            version: snapshot.version(),
            base: base.version(),
            patch,
        }
        .to_sse();
        inner.current = Some(snapshot);
        send(&mut inner, &event);
    }

    /// Sends raw bytes to every open stream.
    pub fn send_raw(&self, bytes: &[u8]) {
        send(&mut self.lock(), bytes);
    }

    /// Ends every open stream (after what was sent).
    pub fn cut_streams(&self) {
        self.lock().streams.clear();
    }

    /// Open streams (senders whose body is still being read).
    pub fn open_streams(&self) -> usize {
        let mut inner = self.lock();
        inner.streams.retain(|s| !s.is_closed());
        inner.streams.len()
    }

    pub fn set_stream_status(&self, status: Option<u16>) {
        self.lock().stream_status = status;
    }

    pub fn set_stream_empty(&self, empty: bool) {
        self.lock().stream_empty = empty;
    }

    pub fn set_snapshot_status(&self, status: Option<u16>) {
        self.lock().snapshot_status = status;
    }

    pub fn set_snapshot_body(&self, body: Option<Vec<u8>>) {
        self.lock().snapshot_body = body;
    }

    pub fn set_key(&self, key: &str) {
        self.lock().key = key.to_string();
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }
}

fn send(inner: &mut Inner, bytes: &[u8]) {
    let bytes = Bytes::copy_from_slice(bytes);
    inner.streams.retain(|s| s.send(bytes.clone()).is_ok());
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn record(inner: &mut Inner, path: &'static str, headers: &HeaderMap, status: u16) {
    inner.seen.push(Seen {
        path,
        authorization: header_str(headers, "authorization"),
        last_event_id: header_str(headers, "last-event-id"),
        if_none_match: header_str(headers, "if-none-match"),
        status,
    });
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    header_str(headers, "authorization").is_some_and(|v| protocol::sdk_key(&v) == inner.key)
}

fn status(code: u16) -> Response {
    StatusCode::from_u16(code)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response()
}

async fn stream(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    let mut inner = fake.lock();
    if !authorized(&inner, &headers) {
        record(&mut inner, "stream", &headers, 401);
        return status(401);
    }
    if let Some(code) = inner.stream_status {
        record(&mut inner, "stream", &headers, code);
        return status(code);
    }
    record(&mut inner, "stream", &headers, 200);
    if inner.stream_empty {
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::empty())
            .unwrap_or_else(|_| status(500));
    }
    let (tx, rx) = unbounded_channel::<Bytes>();
    let resume = header_str(&headers, "last-event-id").and_then(|v| v.parse::<u64>().ok());
    if let Some(current) = &inner.current {
        // This fake keeps no deltas: a client that is behind gets the full state.
        if resume != Some(current.version()) {
            let event = Update::Full {
                version: current.version(),
                snapshot: current.to_bytes(),
            }
            .to_sse();
            let _ = tx.send(Bytes::from(event));
        }
    }
    inner.streams.push(tx);
    drop(inner);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| status(500))
}

async fn snapshot_handler(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    let mut inner = fake.lock();
    if !authorized(&inner, &headers) {
        record(&mut inner, "snapshot", &headers, 401);
        return status(401);
    }
    if let Some(code) = inner.snapshot_status {
        record(&mut inner, "snapshot", &headers, code);
        return status(code);
    }
    let Some(current) = &inner.current else {
        record(&mut inner, "snapshot", &headers, 503);
        return status(503);
    };
    let version = current.version();
    if header_str(&headers, "if-none-match").is_some_and(|v| protocol::if_none_match(&v, version)) {
        record(&mut inner, "snapshot", &headers, 304);
        return status(304);
    }
    let body = match &inner.snapshot_body {
        Some(b) => b.clone(),
        None => current.to_bytes(),
    };
    record(&mut inner, "snapshot", &headers, 200);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ETAG, protocol::etag(version))
        .body(Body::from(body))
        .unwrap_or_else(|_| status(500))
}

/// A running fake upstream. Dropping it stops the server and cuts every
/// connection, like a crash.
pub struct Upstream {
    pub addr: SocketAddr,
    pub fake: Fake,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[allow(dead_code)]
impl Upstream {
    /// Starts on a free loopback port, accepting `key`.
    pub fn start(key: &str) -> Upstream {
        Upstream::start_on("127.0.0.1:0".parse().expect("addr"), key, Fake::new())
            .expect("the fake upstream starts")
    }

    /// Starts on `addr` with `fake` (to bring an upstream back on the same port).
    pub fn start_on(addr: SocketAddr, key: &str, fake: Fake) -> std::io::Result<Upstream> {
        fake.set_key(key);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/stream", get(stream))
            .route("/v1/snapshot", get(snapshot_handler))
            .with_state(fake.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(500));
        });
        Ok(Upstream {
            addr,
            fake,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Fake {
    /// A fake with no state yet.
    pub fn new() -> Fake {
        Fake {
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.fake.cut_streams();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
