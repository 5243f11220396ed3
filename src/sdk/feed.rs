//! The upstream connection: one origin or relay, followed over SSE with a
//! polling fallback, feeding whatever holds the state (a `Sink`).
//!
//! `run` opens `GET {url}/v1/stream` with the SDK key and, on a reconnect,
//! `Last-Event-ID` set to the version held. A `put` event hands the sink a
//! full snapshot; a `patch` whose base is the version held hands it a delta,
//! any other patch (or one the sink refuses) makes the feed fetch
//! `GET {url}/v1/snapshot` instead. When the stream is lost (end of body, an
//! error, nothing received for `read_timeout`) the feed reconnects after a
//! delay of the backoff schedule. When the stream cannot be
//! opened (no connection, any status other than 200, or a 200 that ends
//! before its first byte, as a misconfigured proxy may answer) it fetches the
//! snapshot at once and then every `poll_interval`, with `If-None-Match`, while
//! it keeps retrying the stream; 401 and 403 only lengthen the delay, nothing
//! stops the feed but its shutdown signal.
//!
//! The feed never validates snapshots itself: the sink does, and a refusal
//! leaves the sink's last good state serving. Everything the network sends is
//! bounded (event size, body size, every wait) and nothing it sends can panic.
//! The SDK [`Client`](super::Client) is one sink; a relay is another.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::backoff::Backoff;
use super::Status;
use crate::protocol::{self, ProtocolError, SseEvent, SseParser, Update};
use crate::snapshot::SnapshotError;

/// How to reach an upstream and how patient to be with it. Start from
/// [`FeedConfig::new`] and change fields (more may come).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeedConfig {
    /// The upstream's base URL (`http://127.0.0.1:8080`); the paths of
    /// SPEC §4 are appended.
    pub url: String,
    /// The SDK key, sent as the whole `Authorization` value.
    pub sdk_key: String,
    /// How often to fetch the snapshot while the stream is down (30 s).
    pub poll_interval: Duration,
    /// A stream that delivers no byte for this long is taken as lost (45 s:
    /// three missed keep-alives). Also bounds each read of a snapshot body.
    pub read_timeout: Duration,
    /// Bound on establishing a TCP connection (10 s).
    pub connect_timeout: Duration,
    /// Bound on waiting for a response's status line and headers (30 s).
    pub response_timeout: Duration,
    /// First reconnect delay (1 s); delays double up to `reconnect_max`.
    pub reconnect_base: Duration,
    /// Longest reconnect delay (30 s); also the delay after 401/403.
    pub reconnect_max: Duration,
    /// A stream up this long resets the delays to `reconnect_base` (60 s).
    pub reset_after: Duration,
    /// Largest event or snapshot body accepted, in bytes.
    pub max_event_bytes: usize,
}

impl FeedConfig {
    /// The defaults above for `url` and `sdk_key`.
    pub fn new(url: impl Into<String>, sdk_key: impl Into<String>) -> FeedConfig {
        FeedConfig {
            url: url.into(),
            sdk_key: sdk_key.into(),
            poll_interval: Duration::from_secs(30),
            read_timeout: Duration::from_secs(45),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            reconnect_base: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
            max_event_bytes: protocol::MAX_EVENT_BYTES,
        }
    }

    /// Checks what can be checked before connecting: the URL and the key.
    pub fn validate(&self) -> Result<(), FeedError> {
        let url = self.url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(url).map_err(|e| FeedError::Url {
            url: self.url.clone(),
            detail: e.to_string(),
        })?;
        match parsed.scheme() {
            "http" => {}
            "https" => {
                return Err(FeedError::Url {
                    url: self.url.clone(),
                    detail: "https needs TLS, which this build of vexil does not include; \
                             use http:// (e.g. to a local relay)"
                        .into(),
                })
            }
            other => {
                return Err(FeedError::Url {
                    url: self.url.clone(),
                    detail: format!("unsupported scheme `{other}` (expected http)"),
                })
            }
        }
        if HeaderValue::from_str(&self.sdk_key).is_err() {
            return Err(FeedError::Key);
        }
        Ok(())
    }
}

/// Why a feed cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The upstream URL is unusable.
    #[error("upstream URL {url:?}: {detail}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The SDK key cannot travel in a header (control characters).
    #[error("the SDK key contains characters that cannot be sent in a header")]
    Key,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Why a sink refused an update. The feed logs it and resyncs; the sink's
/// last good state keeps serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinkError(pub String);

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SinkError {}

impl From<SnapshotError> for SinkError {
    fn from(e: SnapshotError) -> SinkError {
        SinkError(e.to_string())
    }
}

/// Validates the snapshot bytes of a full update and checks they are the
/// version the event announced: the first thing every [`Sink::full`] does.
pub(crate) fn validated_full(
    version: u64,
    bytes: &[u8],
) -> Result<crate::snapshot::Snapshot, SinkError> {
    let snapshot = crate::snapshot::from_bytes(bytes)?;
    if snapshot.version() != version {
        return Err(SinkError(format!(
            "the update says version {version} but the snapshot is version {}",
            snapshot.version()
        )));
    }
    Ok(snapshot)
}

/// What holds the state a feed delivers: the SDK client's engine, a relay's
/// environment. Called from the feed's task only, one call at a time.
pub(crate) trait Sink: Send + Sync + 'static {
    /// The version held, if any: sent as `Last-Event-ID` and `If-None-Match`,
    /// and compared with a patch's base.
    fn version(&self) -> Option<u64>;

    /// Installs a full state: validates `snapshot` (a snapshot file's bytes)
    /// and checks it is version `version`. The upstream is authoritative, so
    /// a lower version than held is installed too. A refusal keeps the last
    /// good state; the feed then fetches `/v1/snapshot`.
    fn full(&self, version: u64, snapshot: &[u8]) -> Result<(), SinkError>;

    /// Applies a delta from `base` (the version held) to `version`. A
    /// refusal keeps the last good state; the feed then fetches the full
    /// snapshot.
    fn delta(&self, version: u64, base: u64, patch: &[u8]) -> Result<(), SinkError>;

    /// The connection's state changed.
    fn status(&self, status: Status);
}

/// Follows the upstream of `config` into `sink` until `shutdown` completes.
/// Returns `Err` only when the configuration is unusable (checked before any
/// connection); network failures never end it.
pub(crate) async fn run(
    config: FeedConfig,
    sink: Arc<dyn Sink>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FeedError> {
    let mut feed = Feed::new(config, sink)?;
    tokio::select! {
        () = shutdown => {}
        () = feed.follow() => {}
    }
    Ok(())
}

/// Why the stream could not be opened.
#[derive(Debug)]
enum OpenError {
    /// No response: connection refused, reset, timed out...
    Connect(String),
    /// A response other than 200.
    Status(StatusCode),
}

impl OpenError {
    fn is_auth(&self) -> bool {
        matches!(
            self,
            OpenError::Status(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        )
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Connect(e) => write!(f, "{e}"),
            OpenError::Status(s) => write!(f, "status {s}"),
        }
    }
}

/// How a stream ended.
#[derive(Debug)]
enum StreamEnd {
    Eof,
    Idle(Duration),
    Error(String),
    Protocol(ProtocolError),
}

impl fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamEnd::Eof => f.write_str("the upstream closed the stream"),
            StreamEnd::Idle(d) => write!(f, "nothing received for {d:?}"),
            StreamEnd::Error(e) => write!(f, "read error: {e}"),
            StreamEnd::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// What a snapshot fetch gave.
#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    /// A new state was installed, or the held one is current (304).
    Current,
    /// No usable answer.
    Failed,
}

struct Feed {
    config: FeedConfig,
    sink: Arc<dyn Sink>,
    http: reqwest::Client,
    auth: HeaderValue,
    stream_url: String,
    snapshot_url: String,
    backoff: Backoff,
    status: Option<Status>,
}

impl Feed {
    fn new(config: FeedConfig, sink: Arc<dyn Sink>) -> Result<Feed, FeedError> {
        config.validate()?;
        let mut auth = HeaderValue::from_str(&config.sdk_key).map_err(|_| FeedError::Key)?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("vexil-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FeedError::Http(e.to_string()))?;
        let base = config.url.trim_end_matches('/');
        let stream_url = format!("{base}{}", protocol::STREAM_PATH);
        let snapshot_url = format!("{base}{}", protocol::SNAPSHOT_PATH);
        let backoff = Backoff::new(
            config.reconnect_base,
            config.reconnect_max,
            config.reset_after,
        );
        Ok(Feed {
            config,
            sink,
            http,
            auth,
            stream_url,
            snapshot_url,
            backoff,
            status: None,
        })
    }

    fn set_status(&mut self, status: Status) {
        if self.status != Some(status) {
            tracing::info!(upstream = %self.config.url, ?status, "upstream status");
            self.status = Some(status);
            self.sink.status(status);
        }
    }

    /// Streams, reconnects, polls; never returns.
    async fn follow(&mut self) {
        let mut attempt = self.open_stream().await;
        loop {
            let response = match attempt {
                Ok(response) => response,
                Err(e) => self.degraded(e).await,
            };
            self.set_status(Status::Streaming);
            let opened = Instant::now();
            let (end, received) = self.read_stream(response).await;
            tracing::warn!(upstream = %self.config.url, "stream lost: {end}");
            self.backoff.connection_lasted(opened.elapsed());
            if !received {
                // Opened but never a byte (not even a keep-alive): treat it
                // as a stream that cannot be opened, so polling starts now.
                attempt = Err(OpenError::Connect(format!(
                    "the stream delivered nothing: {end}"
                )));
                continue;
            }
            sleep(self.backoff.next_delay()).await;
            attempt = self.open_stream().await;
        }
    }

    /// The stream cannot be opened: fetch the snapshot now and every poll
    /// interval, retry the stream on the backoff schedule; returns the
    /// stream once it opens.
    async fn degraded(&mut self, mut error: OpenError) -> reqwest::Response {
        let mut next_poll = Instant::now();
        loop {
            tracing::warn!(upstream = %self.config.url, "cannot open the stream: {error}");
            let delay = if error.is_auth() {
                self.backoff.long_delay()
            } else {
                self.backoff.next_delay()
            };
            let retry_at = Instant::now() + delay;
            loop {
                if Instant::now() >= next_poll {
                    let status = match self.fetch_snapshot().await {
                        Fetched::Current => Status::Polling,
                        Fetched::Failed => Status::Offline,
                    };
                    self.set_status(status);
                    next_poll = Instant::now() + self.config.poll_interval;
                }
                if Instant::now() >= retry_at {
                    break;
                }
                sleep_until(next_poll.min(retry_at)).await;
            }
            match self.open_stream().await {
                Ok(response) => return response,
                Err(e) => error = e,
            }
        }
    }

    async fn open_stream(&self) -> Result<reqwest::Response, OpenError> {
        let mut request = self
            .http
            .get(&self.stream_url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(version) = self.sink.version() {
            request = request.header("Last-Event-ID", version.to_string());
        }
        let response = match timeout(self.config.response_timeout, request.send()).await {
            Err(_) => {
                return Err(OpenError::Connect(format!(
                    "no response within {:?}",
                    self.config.response_timeout
                )))
            }
            Ok(Err(e)) => return Err(OpenError::Connect(error_chain(&e))),
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::OK {
            Ok(response)
        } else {
            Err(OpenError::Status(response.status()))
        }
    }

    /// Reads the stream until it ends; says how, and whether any byte came.
    async fn read_stream(&mut self, mut response: reqwest::Response) -> (StreamEnd, bool) {
        let mut parser = SseParser::new(self.config.max_event_bytes);
        let mut events = Vec::new();
        let mut received = false;
        loop {
            let chunk = match timeout(self.config.read_timeout, response.chunk()).await {
                Err(_) => return (StreamEnd::Idle(self.config.read_timeout), received),
                Ok(Err(e)) => return (StreamEnd::Error(error_chain(&e)), received),
                Ok(Ok(None)) => return (StreamEnd::Eof, received),
                Ok(Ok(Some(chunk))) => chunk,
            };
            received |= !chunk.is_empty();
            if let Err(e) = parser.feed(&chunk, &mut events) {
                return (StreamEnd::Protocol(e), received);
            }
            for event in std::mem::take(&mut events) {
                self.handle_event(&event).await;
            }
        }
    }

    async fn handle_event(&mut self, event: &SseEvent) {
        let update = match Update::from_event(event) {
            Ok(update) => update,
            Err(ProtocolError::UnknownEvent(name)) => {
                tracing::debug!("ignoring stream event `{name}`");
                return;
            }
            Err(e) => {
                tracing::warn!(upstream = %self.config.url, "refusing a stream event: {e}");
                self.resync().await;
                return;
            }
        };
        match update {
            Update::Full { version, snapshot } => {
                if let Err(e) = self.sink.full(version, &snapshot) {
                    tracing::warn!(upstream = %self.config.url, version, "refusing a full state: {e}");
                    self.resync().await;
                }
            }
            Update::Delta {
                version,
                base,
                patch,
            } => {
                let held = self.sink.version();
                if held == Some(base) {
                    if let Err(e) = self.sink.delta(version, base, &patch) {
                        tracing::warn!(upstream = %self.config.url, version, base, "refusing a delta: {e}");
                        self.resync().await;
                    }
                } else if held.is_some_and(|h| version <= h) {
                    tracing::debug!(version, base, "skipping a delta already covered");
                } else {
                    tracing::info!(
                        version,
                        base,
                        ?held,
                        "delta for another base; fetching the snapshot"
                    );
                    self.resync().await;
                }
            }
        }
    }

    /// A refused or unusable update: fetch the full state once.
    async fn resync(&mut self) {
        if self.fetch_snapshot().await == Fetched::Failed {
            tracing::warn!(upstream = %self.config.url, "resync failed; the last good state keeps serving");
        }
    }

    /// `GET /v1/snapshot` with `If-None-Match`; installs what it gets.
    async fn fetch_snapshot(&mut self) -> Fetched {
        let mut request = self
            .http
            .get(&self.snapshot_url)
            .header(AUTHORIZATION, self.auth.clone());
        let held = self.sink.version();
        if let Some(version) = held {
            request = request.header(IF_NONE_MATCH, protocol::etag(version));
        }
        let mut response = match timeout(self.config.response_timeout, request.send()).await {
            Err(_) => {
                tracing::warn!(upstream = %self.config.url, "snapshot: no response");
                return Fetched::Failed;
            }
            Ok(Err(e)) => {
                tracing::warn!(upstream = %self.config.url, "snapshot: {}", error_chain(&e));
                return Fetched::Failed;
            }
            Ok(Ok(response)) => response,
        };
        match response.status() {
            StatusCode::NOT_MODIFIED if held.is_some() => return Fetched::Current,
            StatusCode::OK => {}
            status => {
                tracing::warn!(upstream = %self.config.url, "snapshot: status {status}");
                return Fetched::Failed;
            }
        }
        let tagged = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(protocol::parse_etag);
        let body = match self.read_body(&mut response).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(upstream = %self.config.url, "snapshot body: {e}");
                return Fetched::Failed;
            }
        };
        // Our servers always tag the body; an untagged one names its own version.
        let version = match tagged {
            Some(v) => v,
            None => match crate::snapshot::from_bytes(&body) {
                Ok(s) => s.version(),
                Err(e) => {
                    tracing::warn!(upstream = %self.config.url, "refusing the snapshot: {e}");
                    return Fetched::Failed;
                }
            },
        };
        match self.sink.full(version, &body) {
            Ok(()) => Fetched::Current,
            Err(e) => {
                tracing::warn!(upstream = %self.config.url, version, "refusing the snapshot: {e}");
                Fetched::Failed
            }
        }
    }

    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
        let limit = self.config.max_event_bytes;
        let announced = response.content_length().unwrap_or(0);
        if announced > limit as u64 {
            return Err(format!(
                "{announced} bytes announced, over the {limit}-byte cap"
            ));
        }
        let mut body = Vec::with_capacity(announced as usize);
        loop {
            match timeout(self.config.read_timeout, response.chunk()).await {
                Err(_) => {
                    return Err(format!(
                        "nothing received for {:?}",
                        self.config.read_timeout
                    ))
                }
                Ok(Err(e)) => return Err(error_chain(&e)),
                Ok(Ok(None)) => return Ok(body),
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > limit {
                        return Err(format!("over the {limit}-byte cap"));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// An error and its sources on one line (reqwest's top-level message alone
/// rarely says what failed).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
