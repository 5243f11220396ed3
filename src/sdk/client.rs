//! The SDK client: an [`Engine`] kept current by a [`feed`] that
//! runs on the client's own thread and tokio runtime.
//!
//! [`Client::builder`] takes the upstream URL and SDK key; `build` reads the
//! on-disk cache when one is configured and valid, starts the feed, then
//! blocks until a first state is serving or `init_timeout` runs out (after
//! which every answer is the caller's default, and the feed keeps trying).
//! The client is the feed's [`Sink`]: it validates every snapshot and patch
//! before swapping it in (a refused one leaves the last good state serving),
//! writes the cache atomically on every change, tracks [`Status`], and
//! queues a [`Change`] for each subscriber. Evaluation goes straight to the
//! engine: an atomic load, never a lock, never the network.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::changes::{changed_flags, Change, Changes, Queue};
use super::feed::{self, FeedConfig, FeedError, Sink, SinkError};
use super::Status;
use crate::context::Context;
use crate::engine::{Engine, OwnedDetail};
use crate::snapshot::{self, Snapshot};

/// How long [`Client::close`] waits for the feed thread to stop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The upstream URL or SDK key is unusable.
    #[error(transparent)]
    Config(#[from] FeedError),
    /// The feed's thread or runtime could not be started.
    #[error("cannot start the SDK's background thread: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Settings of a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    feed: FeedConfig,
    init_timeout: Duration,
    cache: Option<PathBuf>,
}

impl ClientBuilder {
    /// How long `build` blocks for the first state (5 s). Zero: not at all
    /// (in async code, build with zero and await readiness elsewhere rather
    /// than block a runtime worker).
    pub fn init_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.init_timeout = timeout;
        self
    }

    /// How often to fetch the snapshot while the stream is down (30 s).
    pub fn poll_interval(mut self, interval: Duration) -> ClientBuilder {
        self.feed.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// An on-disk copy of the last snapshot: read at start when valid
    /// (so a cold start with the upstream down still has rules), rewritten
    /// atomically on every change. Use one file per SDK key.
    pub fn cache(mut self, path: impl Into<PathBuf>) -> ClientBuilder {
        self.cache = Some(path.into());
        self
    }

    /// First reconnect delay (1 s); delays double up to the cap.
    pub fn reconnect_base(mut self, base: Duration) -> ClientBuilder {
        self.feed.reconnect_base = base;
        self
    }

    /// Longest reconnect delay, also used after 401/403 (30 s).
    pub fn reconnect_max(mut self, max: Duration) -> ClientBuilder {
        self.feed.reconnect_max = max;
        self
    }

    /// A stream silent for this long is reconnected (45 s).
    pub fn read_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.feed.read_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Every feed setting at once, for what has no method of its own.
    pub fn feed_config(mut self, edit: impl FnOnce(&mut FeedConfig)) -> ClientBuilder {
        edit(&mut self.feed);
        self
    }

    /// Starts the client; blocks until the first state or `init_timeout`.
    pub fn build(self) -> Result<Client, ClientError> {
        self.feed.validate()?;
        let shared = Arc::new(Shared {
            engine: Engine::new(),
            state: Mutex::new(State {
                status: Status::Initializing,
                subscribers: Vec::new(),
                closed: false,
            }),
            changed: Condvar::new(),
            cache: self.cache.clone(),
        });
        if let Some(path) = &self.cache {
            shared.load_cache(path);
        }

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let sink: Arc<dyn Sink> = shared.clone();
        let config = self.feed;
        let thread = std::thread::Builder::new()
            .name("vexil-sdk".into())
            .spawn(move || {
                let stopped = async {
                    // A dropped sender (the client dropped) stops the feed too.
                    let _ = stop_rx.await;
                };
                if let Err(e) = runtime.block_on(feed::run(config, sink, stopped)) {
                    tracing::error!("the SDK feed cannot start: {e}");
                }
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })
            .map_err(ClientError::Runtime)?;

        let client = Client {
            shared,
            worker: Mutex::new(Some(Worker {
                stop: stop_tx,
                done: done_rx,
                thread,
            })),
        };
        if !self.init_timeout.is_zero() {
            client.wait_ready(self.init_timeout);
        }
        Ok(client)
    }
}

/// The SDK client; see the module docs.
///
/// ```no_run
/// use std::time::Duration;
/// use vexil::context::Context;
/// use vexil::sdk::Client;
///
/// let client = Client::builder("http://127.0.0.1:8081", "sdk-123")
///     .init_timeout(Duration::from_secs(2))
///     .cache("/var/cache/myapp/flags.snapshot")
///     .build()?;
/// let on = client.bool_value(&Context::with_key("alice"), "new-checkout", false);
/// # let _ = on;
/// # Ok::<(), vexil::sdk::ClientError>(())
/// ```
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    worker: Mutex<Option<Worker>>,
}

#[derive(Debug)]
struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

/// What the client and its feed share.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    state: Mutex<State>,
    /// Notified on every status change, install and close.
    changed: Condvar,
    cache: Option<PathBuf>,
}

#[derive(Debug)]
struct State {
    status: Status,
    subscribers: Vec<Weak<Queue>>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn load_cache(&self, path: &Path) {
        match snapshot::open(path) {
            Ok(snapshot) => {
                let version = snapshot.version();
                self.engine.force(snapshot);
                tracing::info!(path = %path.display(), version, "serving the cached snapshot");
            }
            Err(snapshot::SnapshotError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("ignoring the cache: {e}"),
        }
    }

    /// After a swap: cache, wake waiters, notify subscribers.
    fn installed(&self, old: Option<Arc<Snapshot>>, bytes: Option<&[u8]>) {
        let Some(new) = self.engine.snapshot() else {
            return;
        };
        if let Some(path) = &self.cache {
            let encoded;
            let bytes = match bytes {
                Some(b) => b,
                None => {
                    encoded = new.to_bytes();
                    &encoded
                }
            };
            if let Err(e) = snapshot::write_bytes(path, bytes) {
                tracing::warn!("cannot write the cache {}: {e}", path.display());
            }
        }
        let mut state = self.lock();
        state.subscribers.retain(|w| w.strong_count() > 0);
        let queues: Vec<Arc<Queue>> = state.subscribers.iter().filter_map(Weak::upgrade).collect();
        drop(state);
        self.changed.notify_all();
        if queues.is_empty() {
            return;
        }
        let flags = changed_flags(old.as_deref(), &new);
        if flags.is_empty() && old.is_some() {
            return;
        }
        let change = Change {
            version: new.version(),
            flags,
        };
        for queue in queues {
            queue.push(change.clone());
        }
    }
}

impl Sink for Shared {
    fn version(&self) -> Option<u64> {
        self.engine.version()
    }

    fn full(&self, version: u64, bytes: &[u8]) -> Result<(), SinkError> {
        let snapshot = super::feed::validated_full(version, bytes)?;
        let old = self.engine.snapshot();
        if old
            .as_ref()
            .is_some_and(|o| o.version() == version && o.checksum() == snapshot.checksum())
        {
            return Ok(());
        }
        self.engine.force(snapshot);
        self.installed(old, Some(bytes));
        Ok(())
    }

    fn delta(&self, version: u64, base: u64, patch: &[u8]) -> Result<(), SinkError> {
        let old = self.engine.snapshot();
        let held = old.as_ref().map(|s| s.version());
        if held != Some(base) {
            return Err(SinkError(format!(
                "a delta from version {base} cannot apply to {held:?}"
            )));
        }
        let now = self.engine.apply_patch(patch)?;
        if now != version {
            tracing::warn!(
                version,
                now,
                "the patch produced another version than announced"
            );
        }
        self.installed(old, None);
        Ok(())
    }

    fn status(&self, status: Status) {
        self.lock().status = status;
        self.changed.notify_all();
    }
}

impl Client {
    /// A builder for a client of the upstream at `url` (`http://host:port`)
    /// with `sdk_key`.
    pub fn builder(url: impl Into<String>, sdk_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            feed: FeedConfig::new(url, sdk_key),
            init_timeout: Duration::from_secs(5),
            cache: None,
        }
    }

    /// The engine the client keeps current, for what the methods below do
    /// not cover (`with_snapshot_ref`, the serving [`Snapshot`]).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// True once a state is serving (from the network or the cache).
    pub fn is_ready(&self) -> bool {
        self.shared.engine.is_ready()
    }

    /// The version serving, if any.
    pub fn version(&self) -> Option<u64> {
        self.shared.engine.version()
    }

    /// The connection's state now.
    pub fn status(&self) -> Status {
        self.shared.lock().status
    }

    /// Waits until a state is serving, at most `timeout`; true if one is.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.wait(timeout, |_| self.shared.engine.is_ready());
        self.shared.engine.is_ready()
    }

    /// Waits until the status satisfies `done`, at most `timeout`; returns
    /// the status then.
    pub fn wait_for_status(&self, timeout: Duration, done: impl Fn(Status) -> bool) -> Status {
        self.wait(timeout, |state| done(state.status));
        self.status()
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        while !done(&state) && !state.closed {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Subscribes to changes: each new state queues a [`Change`] naming its
    /// version and the flags whose answers may have changed.
    pub fn subscribe(&self) -> Changes {
        let queue = Arc::new(Queue::default());
        let mut state = self.shared.lock();
        if state.closed {
            queue.close();
        }
        state.subscribers.push(Arc::downgrade(&queue));
        Changes::new(queue)
    }

    /// The full answer for flag `key`; `PROVIDER_NOT_READY` before any state.
    pub fn detail(&self, context: &Context, key: &str) -> OwnedDetail {
        self.shared.engine.detail(context, key)
    }

    /// A boolean flag's value, or `default`.
    pub fn bool_value(&self, context: &Context, key: &str, default: bool) -> bool {
        self.shared.engine.bool_value(context, key, default)
    }

    /// A number flag's value, or `default`.
    pub fn number_value(&self, context: &Context, key: &str, default: f64) -> f64 {
        self.shared.engine.number_value(context, key, default)
    }

    /// A string flag's value, or `default`.
    pub fn string_value(&self, context: &Context, key: &str, default: &str) -> String {
        self.shared.engine.string_value(context, key, default)
    }

    /// Any flag's JSON value, or `default`.
    pub fn json_value(
        &self,
        context: &Context,
        key: &str,
        default: serde_json::Value,
    ) -> serde_json::Value {
        self.shared.engine.json_value(context, key, default)
    }

    /// Stops the feed (within a few seconds at most) and closes every
    /// subscription. The last state keeps answering. Idempotent; dropping
    /// the client does the same.
    pub fn close(&self) {
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(worker) = worker {
            let _ = worker.stop.send(());
            match worker.done.recv_timeout(CLOSE_TIMEOUT) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = worker.thread.join();
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!("the SDK thread did not stop in time; leaving it");
                }
            }
        }
        let mut state = self.shared.lock();
        state.closed = true;
        let queues: Vec<Arc<Queue>> = state
            .subscribers
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        drop(state);
        self.shared.changed.notify_all();
        for queue in queues {
            queue.close();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}
