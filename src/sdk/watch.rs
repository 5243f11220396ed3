//! `vexil watch`: the SDK client on the command line (SPEC §3), as a
//! library function that writes to any [`Write`].
//!
//! [`watch`] starts a [`Client`] without blocking, then prints, for each
//! watched flag (every flag of the current state when none is named), one
//! line of the `eval` shape with `"version"` added: once when the first
//! state arrives (from the cache or the network), then again only when the
//! flag's `value`, `variation`, `reason` or `rule` changes — a new version
//! that changes nothing for a flag prints nothing for it. If no state has
//! arrived when the init timeout runs out, each named flag gets its
//! `PROVIDER_NOT_READY` line, once. Every line is flushed as it is written.
//! It runs until `stop` is set ([`stop_on_signals`] sets it on SIGINT and
//! SIGTERM) and then returns `Ok`: upstream failures never end it.
//!
//! All lines of one pass are evaluated on one snapshot, so they carry the
//! same version. With no `--flag`, a flag removed by a new version is no
//! longer "of the current state" and prints nothing.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Client, ClientError};
use crate::context::Context;
use crate::engine::OwnedDetail;
use crate::snapshot::Snapshot;

/// How often the loop looks at `stop` while nothing happens.
const TICK: Duration = Duration::from_millis(50);

/// What to watch and how.
/// Build it with [`WatchOptions::new`], then set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// The upstream's base URL.
    pub upstream: String,
    /// The SDK key.
    pub sdk_key: String,
    /// The flags to watch; empty: all flags of the current state.
    pub flags: Vec<String>,
    /// The context evaluated.
    pub context: Context,
    /// When to print `PROVIDER_NOT_READY` lines if no state has arrived (5 s).
    pub init_timeout: Duration,
    /// Snapshot polling interval while the stream is down (30 s).
    pub poll_interval: Duration,
    /// The on-disk cache of the last snapshot.
    pub cache: Option<PathBuf>,
    /// First reconnect delay, when not the default (tests use a short one).
    pub reconnect_base: Option<Duration>,
    /// Silence after which a stream is reconnected, when not the default.
    pub read_timeout: Option<Duration>,
}

impl WatchOptions {
    /// Options with SPEC §3's defaults.
    pub fn new(upstream: impl Into<String>, sdk_key: impl Into<String>, context: Context) -> Self {
        WatchOptions {
            upstream: upstream.into(),
            sdk_key: sdk_key.into(),
            flags: Vec::new(),
            context,
            init_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(30),
            cache: None,
            reconnect_base: None,
            read_timeout: None,
        }
    }
}

/// Why `watch` stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The client could not start (bad URL or key, no thread).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Writing a line failed (other than a closed pipe, which ends quietly).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

/// Runs the watch loop until `stop` is set; see the module docs.
pub fn watch(
    options: &WatchOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), WatchError> {
    let mut builder = Client::builder(&options.upstream, &options.sdk_key)
        .init_timeout(Duration::ZERO)
        .poll_interval(options.poll_interval);
    if let Some(path) = &options.cache {
        builder = builder.cache(path);
    }
    if let Some(base) = options.reconnect_base {
        builder = builder.reconnect_base(base);
    }
    if let Some(timeout) = options.read_timeout {
        builder = builder.read_timeout(timeout);
    }
    let client = builder.build()?;
    let changes = client.subscribe();
    let deadline = Instant::now() + options.init_timeout;
    let mut printer = Printer::new(options);
    let mut not_ready_printed = false;

    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let step = match client.engine().snapshot() {
            Some(snapshot) => printer.state(&snapshot, out),
            None if !not_ready_printed && Instant::now() >= deadline => {
                not_ready_printed = true;
                printer.not_ready(out)
            }
            None => Ok(()),
        };
        match step {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ok(()),
            Err(e) => break Err(WatchError::Output(e)),
        }
        let mut wait = TICK;
        if !not_ready_printed && !client.is_ready() {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        // Woken early by a change; the tick bounds how late `stop` is seen.
        let _ = changes.recv_timeout(wait);
    };
    client.close();
    result
}

/// What has been printed, to print only what changes.
struct Printer<'o> {
    options: &'o WatchOptions,
    flags: Vec<String>,
    last: HashMap<String, OwnedDetail>,
    seen: Option<Arc<Snapshot>>,
    line: String,
}

impl<'o> Printer<'o> {
    fn new(options: &'o WatchOptions) -> Printer<'o> {
        let mut flags: Vec<String> = Vec::new();
        for f in &options.flags {
            if !flags.contains(f) {
                flags.push(f.clone());
            }
        }
        Printer {
            options,
            flags,
            last: HashMap::new(),
            seen: None,
            line: String::new(),
        }
    }

    fn emit(&mut self, key: &str, detail: &OwnedDetail, out: &mut dyn Write) -> io::Result<()> {
        self.line.clear();
        detail.write_json_line(key, &mut self.line);
        self.line.push('\n');
        out.write_all(self.line.as_bytes())?;
        out.flush()
    }

    fn not_ready(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let detail = OwnedDetail::not_ready();
        for key in self.flags.clone() {
            self.emit(&key, &detail, out)?;
        }
        Ok(())
    }

    /// Prints what `snapshot` answers differently from what was printed.
    fn state(&mut self, snapshot: &Arc<Snapshot>, out: &mut dyn Write) -> io::Result<()> {
        if self.seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, snapshot)) {
            return Ok(());
        }
        self.seen = Some(snapshot.clone());
        let version = snapshot.version();
        let prepared = snapshot.ruleset().prepare(&self.options.context);
        let answers: Vec<(String, OwnedDetail)> = if self.flags.is_empty() {
            prepared
                .all()
                .map(|(key, d)| (key.to_string(), OwnedDetail::from_detail(&d, version)))
                .collect()
        } else {
            self.flags
                .iter()
                .map(|key| {
                    let d = prepared.detail(key);
                    (key.clone(), OwnedDetail::from_detail(&d, version))
                })
                .collect()
        };
        for (key, detail) in answers {
            if self.last.get(&key).is_some_and(|p| p.same_answer(&detail)) {
                continue;
            }
            self.emit(&key, &detail, out)?;
            self.last.insert(key, detail);
        }
        Ok(())
    }
}

/// A flag set when the process receives SIGINT or SIGTERM (Ctrl-C off
/// Unix). The handlers are installed before this returns.
pub fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let _entered = runtime.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("vexil-signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                #[cfg(unix)]
                {
                    let (mut term, mut int) = signals;
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            });
            flag.store(true, Ordering::SeqCst);
        })?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_text;
    use crate::snapshot::SnapshotMeta;

    fn snap(text: &str, version: u64) -> Arc<Snapshot> {
        let rs = compile_text(text);
        Arc::new(Snapshot::new(
            rs,
            SnapshotMeta {
                version,
                environment: "test".into(),
            },
        ))
    }

    fn lines(out: &mut Vec<u8>) -> Vec<String> {
        let text = String::from_utf8(std::mem::take(out)).expect("utf-8");
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn prints_first_state_then_only_what_changes() {
        let mut options = WatchOptions::new("http://x", "k", Context::with_key("alice"));
        options.flags = vec!["a".into(), "gone".into(), "a".into()];
        let mut printer = Printer::new(&options);
        let mut out = Vec::new();

        printer.not_ready(&mut out).expect("write");
        assert_eq!(
            lines(&mut out),
            [
                r#"{"flag":"a","value":null,"reason":"ERROR","error":"PROVIDER_NOT_READY"}"#,
                r#"{"flag":"gone","value":null,"reason":"ERROR","error":"PROVIDER_NOT_READY"}"#,
            ]
        );

        let v1 = snap("flag a { default off } flag gone { default on }", 1);
        printer.state(&v1, &mut out).expect("write");
        assert_eq!(
            lines(&mut out),
            [
                r#"{"flag":"a","value":false,"variation":"off","reason":"DEFAULT","version":1}"#,
                r#"{"flag":"gone","value":true,"variation":"on","reason":"DEFAULT","version":1}"#,
            ]
        );
        printer.state(&v1, &mut out).expect("write");
        assert!(
            lines(&mut out).is_empty(),
            "the same snapshot prints nothing"
        );

        // A new version answering the same: nothing.
        let v2 = snap(
            "flag a { default off } flag gone { default on } flag c { default on }",
            2,
        );
        printer.state(&v2, &mut out).expect("write");
        assert!(lines(&mut out).is_empty());

        // `gone` removed, `a` retargeted.
        let v3 = snap(r#"flag a { default off target on ["alice"] }"#, 3);
        printer.state(&v3, &mut out).expect("write");
        assert_eq!(
            lines(&mut out),
            [
                r#"{"flag":"a","value":true,"variation":"on","reason":"TARGETING_MATCH","rule":"target","version":3}"#,
                r#"{"flag":"gone","value":null,"reason":"ERROR","error":"FLAG_NOT_FOUND","version":3}"#,
            ]
        );
    }

    #[test]
    fn without_flags_every_flag_of_the_current_state() {
        let options = WatchOptions::new("http://x", "k", Context::with_key("alice"));
        let mut printer = Printer::new(&options);
        let mut out = Vec::new();
        printer.not_ready(&mut out).expect("write");
        assert!(lines(&mut out).is_empty(), "no state, no flags to name");

        printer
            .state(
                &snap("flag a { default off } flag b { default on }", 1),
                &mut out,
            )
            .expect("write");
        assert_eq!(lines(&mut out).len(), 2);
        // `c` added, `b` removed: only the new flag prints.
        printer
            .state(
                &snap("flag a { default off } flag c { default on }", 2),
                &mut out,
            )
            .expect("write");
        assert_eq!(
            lines(&mut out),
            [r#"{"flag":"c","value":true,"variation":"on","reason":"DEFAULT","version":2}"#]
        );
    }
}
