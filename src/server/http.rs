//! The HTTP face origin and relay share: `/v1/snapshot`, `/v1/stream`,
//! `/healthz`, `/readyz`, `/metrics`, and JSON errors (SPEC §4, §5).
//!
//! Takes the environments and their `Hub`s; hands on an axum `Router`
//! that the origin extends with its admin API. The stream endpoint does not
//! use axum's `Sse` response: that type encodes each event per connection,
//! while a hub's events are encoded once and shared as `Bytes` by every
//! subscriber, so the body here is those bytes as they are, with the SSE
//! content type, keep-alive comments and an optional maximum age.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::hub::Hub;
use crate::protocol::{self, KEEPALIVE};

/// One served environment.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// Its name (`production`, ...).
    pub name: String,
    /// Its state.
    pub hub: Arc<Hub>,
}

/// Stream settings.
///
/// New knobs may be added: start from `StreamConfig::default()` and use the
/// `with_*` setters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StreamConfig {
    /// Interval of keep-alive comments (SPEC: at most 15 s).
    pub keepalive: Duration,
    /// Close each stream after this long (± 10 % jitter), so clients
    /// rebalance across relays after a rolling restart. `None`: never.
    pub max_age: Option<Duration>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            keepalive: Duration::from_secs(15),
            max_age: None,
        }
    }
}

impl StreamConfig {
    /// These settings with `keepalive` set.
    pub fn with_keepalive(mut self, keepalive: Duration) -> StreamConfig {
        self.keepalive = keepalive;
        self
    }

    /// These settings with `max_age` set.
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> StreamConfig {
        self.max_age = max_age;
        self
    }
}

/// What the shared endpoints need.
#[derive(Debug)]
pub(crate) struct Served {
    envs: Vec<Env>,
    keys: HashMap<String, usize>,
    stream: StreamConfig,
    shutdown: watch::Receiver<bool>,
}

impl Served {
    /// Serves `envs`, each selected by its SDK keys (`keys`: key → env name).
    /// Fails on a key naming no environment.
    pub fn new(
        envs: Vec<Env>,
        keys: &[(String, String)],
        stream: StreamConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Served, String> {
        // Install the recorder before anything is counted.
        metrics_handle();
        let mut map = HashMap::new();
        for (env, key) in keys {
            let at = envs
                .iter()
                .position(|e| &e.name == env)
                .ok_or_else(|| format!("SDK key for unknown environment `{env}`"))?;
            map.insert(key.clone(), at);
        }
        Ok(Served {
            envs,
            keys: map,
            stream,
            shutdown,
        })
    }

    /// All environments.
    pub fn envs(&self) -> &[Env] {
        &self.envs
    }

    /// The environment an `Authorization` header selects; `None` for a
    /// missing or unknown key (answered 401, revealing nothing — a known
    /// key whose environment has no state yet is answered 503 instead).
    fn authorize(&self, headers: &HeaderMap) -> Option<&Env> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(protocol::sdk_key)
            .unwrap_or("");
        self.keys.get(key).and_then(|&at| self.envs.get(at))
    }
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn not_loaded(env: &str) -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("environment `{env}` is not loaded yet; retry shortly"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The router of the shared endpoints.
pub(crate) fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route(protocol::SNAPSHOT_PATH, get(snapshot))
        .route(protocol::STREAM_PATH, get(stream))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(served)
}

async fn snapshot(State(served): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let Some(env) = served.authorize(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "missing or invalid SDK key");
    };
    let Some(current) = env.hub.current() else {
        return not_loaded(&env.name);
    };
    metrics::counter!("vexil_snapshot_requests_total").increment(1);
    let etag = protocol::etag(current.version());
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| protocol::if_none_match(v, current.version()));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Body::from(current.bytes.clone()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

struct StreamState {
    backlog: VecDeque<Bytes>,
    live: broadcast::Receiver<Bytes>,
    keepalive: tokio::time::Interval,
    deadline: Option<Instant>,
    shutdown: watch::Receiver<bool>,
    _gauge: ConnectionGauge,
}

/// Counts open streams in the `vexil_streams` gauge for as long as it lives.
struct ConnectionGauge;

impl ConnectionGauge {
    fn open() -> ConnectionGauge {
        metrics::gauge!("vexil_streams").increment(1.0);
        ConnectionGauge
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!("vexil_streams").decrement(1.0);
    }
}

async fn stream(State(served): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let Some(env) = served.authorize(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "missing or invalid SDK key");
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(sub) = env.hub.subscribe(last_event_id) else {
        return not_loaded(&env.name);
    };
    let config = served.stream;
    let mut backlog: VecDeque<Bytes> = sub.backlog.into();
    // A first comment so the client sees the stream open even when it is
    // already current and nothing else is due.
    backlog.push_front(Bytes::from_static(b": connected\n\n"));
    let deadline = config.max_age.map(|age| {
        let jitter = age.mul_f64(fastrand::f64() * 0.2);
        Instant::now() + age.mul_f64(0.9) + jitter
    });
    let state = StreamState {
        backlog,
        live: sub.live,
        keepalive: tokio::time::interval_at(Instant::now() + config.keepalive, config.keepalive),
        deadline,
        shutdown: served.shutdown.clone(),
        _gauge: ConnectionGauge::open(),
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(b) = st.backlog.pop_front() {
            return Some((Ok::<Bytes, Infallible>(b), st));
        }
        if *st.shutdown.borrow() {
            return None;
        }
        let deadline = st.deadline;
        tokio::select! {
            received = st.live.recv() => match received {
                Ok(event) => Some((Ok(event), st)),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too far behind: end the stream; the client resumes
                    // with Last-Event-ID and gets what it missed.
                    metrics::counter!("vexil_stream_lagged_total").increment(1);
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = st.keepalive.tick() => Some((Ok(Bytes::from_static(KEEPALIVE)), st)),
            _ = sleep_until_opt(deadline) => None,
            _ = st.shutdown.changed() => None,
        }
    });
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    crate::values::date::format_epoch_millis(ms)
}

async fn readyz(State(served): State<Arc<Served>>) -> Response {
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    let mut envs = serde_json::Map::new();
    for env in served.envs() {
        let entry = match env.hub.version() {
            None => {
                missing.push(env.name.clone());
                serde_json::json!({ "state": "missing" })
            }
            Some(version) => match env.hub.stale_since() {
                Some(since) => {
                    stale.push(env.name.clone());
                    serde_json::json!({ "state": "stale", "version": version, "stale_since": rfc3339(since) })
                }
                None => serde_json::json!({ "state": "ok", "version": version }),
            },
        };
        envs.insert(env.name.clone(), entry);
    }
    let ready = missing.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "missing": missing,
        "stale": stale,
        "environments": envs,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// The process-wide Prometheus recorder (installed on first use).
pub(crate) fn metrics_handle() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (a host application's): ours
            // then renders nothing rather than failing the endpoint.
            Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new()
                .build_recorder()
                .handle(),
        }
    })
}

async fn metrics_text() -> Response {
    let text = metrics_handle().render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}
