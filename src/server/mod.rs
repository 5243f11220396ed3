//! The servers: the origin (`vexil serve`) and the relay (`vexil relay`).
//!
//! Both serve the same read side (SPEC §4, §5) from one module: [`hub`]
//! holds one environment's state and fans its events out, [`http`] is the
//! shared HTTP face (`/v1/snapshot`, `/v1/stream`, health, readiness,
//! metrics). The [`origin`] adds durable state and the admin API; the
//! [`relay`] fills its hubs from an upstream through the SDK's feed
//! (`crate::sdk::feed`), so relays chain. This module holds what both
//! parse from their command lines and how both stop.

pub mod http;
pub mod hub;
pub mod origin;
pub mod relay;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

/// One `--env NAME=SDK_KEY` argument: an environment and one of its SDK keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvKey {
    /// The environment name.
    pub env: String,
    /// One SDK key selecting it.
    pub key: String,
}

impl std::str::FromStr for EnvKey {
    type Err = String;

    fn from_str(s: &str) -> Result<EnvKey, String> {
        let (env, key) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NAME=SDK_KEY"))?;
        if !valid_env_name(env) {
            return Err(format!(
                "`{env}`: an environment name is 1-64 characters of A-Z a-z 0-9 _ . -"
            ));
        }
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "`{s}`: the SDK key must be non-empty, without spaces"
            ));
        }
        Ok(EnvKey {
            env: env.to_string(),
            key: key.to_string(),
        })
    }
}

/// True for a name usable as an environment (and in URLs as it is).
pub(crate) fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The environment names of `keys`, each once, in first-seen order.
pub(crate) fn env_names(keys: &[EnvKey]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for k in keys {
        if !names.contains(&k.env) {
            names.push(k.env.clone());
        }
    }
    names
}

/// Binds `addr`, reporting a failure as a sentence.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub(crate) async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `app` on `listener` until `stop` resolves; then ends every
/// stream (through `shutdown`) and gives open requests up to five seconds.
pub(crate) async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: watch::Sender<bool>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (stopped_tx, mut stopped_rx) = watch::channel(false);
    let graceful = async move {
        let _ = stopped_rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful)
        .await
    });
    stop.await;
    let _ = shutdown.send(true);
    let _ = stopped_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Ok(()))) | Err(_) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("server error: {e}")),
        Ok(Err(e)) => Err(format!("server task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_parse_and_refuse_clearly() {
        let k: EnvKey = "prod=sdk-123".parse().unwrap();
        assert_eq!((k.env.as_str(), k.key.as_str()), ("prod", "sdk-123"));
        let k: EnvKey = "prod=a=b".parse().unwrap();
        assert_eq!(k.key, "a=b");
        assert!("prod"
            .parse::<EnvKey>()
            .unwrap_err()
            .contains("NAME=SDK_KEY"));
        assert!("=k".parse::<EnvKey>().is_err());
        assert!("a/b=k".parse::<EnvKey>().is_err());
        assert!("prod=".parse::<EnvKey>().is_err());
        assert!("prod=a b".parse::<EnvKey>().is_err());
        let keys: Vec<EnvKey> = ["a=1", "b=2", "a=3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(env_names(&keys), ["a", "b"]);
    }
}
