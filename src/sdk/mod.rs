//! The SDK: the core's [`Engine`](crate::engine::Engine) fed over the
//! network by an origin or relay (SPEC §4).
//!
//! [`feed`] follows one upstream (SSE stream, reconnects with backoff,
//! snapshot polling while the stream is down) and hands what it receives to
//! a sink (internal). [`Client`] is the sink most users want: it owns an
//! engine, runs the feed on its own thread and runtime (no async caller
//! needed), blocks at start until the first state or a timeout, keeps an
//! optional on-disk cache, reports its [`Status`], and tells subscribers
//! which flags a new version may have changed ([`changes`]). Evaluation
//! never waits for the network: before any state it answers the caller's
//! defaults. [`watch`] is `vexil watch`, the client on the command line.

mod backoff;
pub mod changes;
mod client;
pub mod feed;
pub mod watch;

pub use changes::{changed_flags, Change, Changes};
pub use client::{Client, ClientBuilder, ClientError};

/// The state of the connection to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not yet connected: the first attempt is under way.
    Initializing,
    /// The stream is open: changes arrive as they happen.
    Streaming,
    /// The stream cannot be opened, but `/v1/snapshot` answers: changes
    /// arrive at each poll.
    Polling,
    /// Neither answers: the last known state (or the defaults) keeps serving
    /// while the feed keeps trying.
    Offline,
}

impl Status {
    /// The lower-case name (`streaming`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Initializing => "initializing",
            Status::Streaming => "streaming",
            Status::Polling => "polling",
            Status::Offline => "offline",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
