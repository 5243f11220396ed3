//! The relay (`vexil relay`): one upstream subscription per environment,
//! served again to any number of SDKs and relays.
//!
//! Each environment's `Hub` is filled by the SDK's feed
//! (`crate::sdk::feed`) through a `Sink` that validates what arrives
//! exactly as an SDK would and hands the *same* bytes on: a delta from
//! upstream is re-served as that delta, so relays chain without re-encoding
//! and every level serves byte-identical snapshots. While the upstream is
//! lost the relay keeps serving its last state and `/readyz` says since
//! when it is stale; the feed catches up by `Last-Event-ID` when the
//! upstream returns. Until an environment is loaded its valid SDK keys are
//! answered 503 (never 401), so no SDK mistakes a restarting relay for a
//! revoked key.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::http::{self, Env, Served, StreamConfig};
use super::hub::{Hub, HubConfig};
use super::EnvKey;
use crate::sdk::feed::{self, FeedConfig, Sink, SinkError};
use crate::sdk::Status;
use crate::snapshot;

/// The relay's settings.
///
/// New settings may be added: build it with [`RelayConfig::new`], then set
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelayConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The upstream origin or relay.
    pub upstream: String,
    /// Environments and their SDK keys; the first key of each environment
    /// is also the one the relay presents upstream.
    pub envs: Vec<EnvKey>,
    /// Stream settings (keep-alive, maximum age).
    pub stream: StreamConfig,
    /// Snapshot polling interval while the upstream stream is down.
    pub poll_interval: Duration,
    /// First reconnect delay towards the upstream.
    pub reconnect_base: Duration,
    /// Sizing of each environment's hub.
    pub hub: HubConfig,
}

impl RelayConfig {
    /// Listening on `listen`, following `upstream`, no environments yet, and
    /// every other setting at the default of `vexil relay` (30 s polling, a
    /// 1 s first reconnect delay, default stream and hub).
    pub fn new(listen: SocketAddr, upstream: impl Into<String>) -> RelayConfig {
        RelayConfig {
            listen,
            upstream: upstream.into(),
            envs: Vec::new(),
            stream: StreamConfig::default(),
            poll_interval: Duration::from_secs(30),
            reconnect_base: Duration::from_secs(1),
            hub: HubConfig::default(),
        }
    }
}

/// Feeds one environment's hub from the upstream.
struct HubSink {
    hub: Arc<Hub>,
}

impl Sink for HubSink {
    fn version(&self) -> Option<u64> {
        self.hub.version()
    }

    fn full(&self, version: u64, bytes: &[u8]) -> Result<(), SinkError> {
        let snap = feed::validated_full(version, bytes)?;
        self.hub
            .publish_full(Arc::new(snap), Bytes::copy_from_slice(bytes));
        Ok(())
    }

    fn delta(&self, version: u64, base: u64, patch: &[u8]) -> Result<(), SinkError> {
        let current = self
            .hub
            .current()
            .ok_or_else(|| SinkError("no state to apply a delta to".into()))?;
        if current.version() != base {
            return Err(SinkError(format!(
                "delta for version {base}, holding {}",
                current.version()
            )));
        }
        let (next, bytes) = snapshot::apply_patch_with_bytes(&current.snapshot, patch)?;
        if next.version() != version {
            return Err(SinkError(format!(
                "the event says version {version}, the delta gives {}",
                next.version()
            )));
        }
        self.hub
            .publish_delta(Arc::new(next), Bytes::from(bytes), base, patch);
        Ok(())
    }

    fn status(&self, status: Status) {
        // Streaming: changes arrive as they happen. Polling or offline: the
        // state may lag the upstream, which readiness reports.
        self.hub
            .set_stale(matches!(status, Status::Polling | Status::Offline));
    }
}

/// Builds the relay's router and starts one feed per environment on the
/// current runtime; feeds stop when `shutdown` turns true.
pub(crate) fn app(
    config: &RelayConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<axum::Router, String> {
    let mut envs = Vec::new();
    for name in super::env_names(&config.envs) {
        let key = config
            .envs
            .iter()
            .find(|k| k.env == name)
            .map(|k| k.key.clone())
            .unwrap_or_default();
        let hub = Arc::new(Hub::new(config.hub));
        let mut feed_config = FeedConfig::new(config.upstream.clone(), key);
        feed_config.poll_interval = config.poll_interval;
        feed_config.reconnect_base = config.reconnect_base;
        feed_config
            .validate()
            .map_err(|e| format!("environment `{name}`: {e}"))?;
        let sink: Arc<dyn Sink> = Arc::new(HubSink { hub: hub.clone() });
        let mut stop = shutdown.clone();
        let env_name = name.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = feed::run(feed_config, sink, stopped).await {
                tracing::error!("relay feed for `{env_name}` stopped: {e}");
            }
        });
        envs.push(Env {
            name: name.clone(),
            hub,
        });
    }
    let keys: Vec<(String, String)> = config
        .envs
        .iter()
        .map(|k| (k.env.clone(), k.key.clone()))
        .collect();
    let served = Arc::new(Served::new(envs, &keys, config.stream, shutdown)?);
    Ok(http::router(served))
}

/// Runs the relay until SIGINT or SIGTERM.
pub async fn serve(config: RelayConfig) -> Result<(), String> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = super::bind(config.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let router = app(&config, shutdown_rx)?;
    eprintln!(
        "vexil relay: listening on http://{addr}, upstream {}",
        config.upstream
    );
    super::serve_until(listener, router, shutdown_tx, super::termination()).await
}
