//! The `vexil` command line: `check`, `compile`, `eval`, the tools `explain`,
//! `inspect`, `fmt` and `lint` (`vexil::tools`), and the platform: `serve`,
//! `relay` (`vexil::server`) and `watch` (`vexil::sdk`), over the library.
//!
//! A thin layer in the ripgrep manner: argument parsing (clap) and printing;
//! every decision is made by the library. Errors are one line naming the file
//! and the problem (or compiler diagnostics), never a panic.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use vexil::check::{self, Limits, Source};
use vexil::compile::{self, Ruleset};
use vexil::context::Context;
use vexil::snapshot::{self, SnapshotMeta};
use vexil::tools::{explain, fmt, inspect, lint};

#[derive(Parser)]
#[command(
    name = "vexil",
    version,
    about = "Feature flags: check, compile and evaluate rule files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check rule files; print every error. Exit 0 when clean, 1 on errors.
    Check {
        /// The `.flags` files (one shared namespace).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        caps: Caps,
        /// How to print diagnostics: `text`, or `json` (one object per line, on stdout).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Compile rule files into a snapshot file (written atomically).
    Compile {
        /// The `.flags` files (one shared namespace).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the snapshot.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
        /// The snapshot version recorded in the header.
        #[arg(
            long = "snapshot-version",
            default_value_t = 1,
            env = "VEXIL_SNAPSHOT_VERSION"
        )]
        snapshot_version: u64,
        /// The environment name recorded in the header.
        #[arg(
            long = "environment",
            default_value = "default",
            env = "VEXIL_ENVIRONMENT"
        )]
        environment: String,
        #[command(flatten)]
        caps: Caps,
        /// How to print diagnostics: `text`, or `json` (one object per line, on stdout).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Evaluate flags for contexts; print one JSON line per context and flag.
    Eval(EvalArgs),
    /// Explain why a flag serves what it serves to one context, step by step.
    Explain(ExplainArgs),
    /// Warn about rules, rollouts, segments and conditions that can never matter.
    Lint {
        /// The `.flags` files (one shared namespace).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Exit 1 when there is any warning.
        #[arg(long)]
        deny: bool,
        /// How to print diagnostics: `text`, or `json` (one object per line, on stdout).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        caps: Caps,
    },
    /// Rewrite rule files in the canonical layout (comments kept).
    Fmt {
        /// The `.flags` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; list the files that would change and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Show what a snapshot file holds: header, counts, flags and variations.
    Inspect {
        /// The snapshot file.
        snapshot: PathBuf,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run the origin: rule sources, versions, audit log, admin API, streaming.
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// Run a relay: follow one upstream (origin or relay) and fan it out to SDKs and relays.
    #[cfg(feature = "server")]
    Relay(RelayArgs),
    /// Run the SDK client against an origin or relay; print flag answers as they change.
    #[cfg(feature = "sdk")]
    Watch(WatchArgs),
}

#[derive(Args)]
struct ExplainArgs {
    /// Rule files (repeatable; several per flag allowed): the full trace.
    #[arg(long = "rules", num_args = 1.., action = clap::ArgAction::Append, required_unless_present = "snapshot", conflicts_with = "snapshot")]
    rules: Vec<PathBuf>,
    /// A compiled snapshot: the trace from its tables (no failing atoms).
    #[arg(long = "snapshot")]
    snapshot: Option<PathBuf>,
    /// The flag to explain (repeatable: one explanation each, in order).
    #[arg(long = "flag", required = true, action = clap::ArgAction::Append)]
    flags: Vec<String>,
    /// The context, as a JSON object.
    #[arg(long = "context")]
    context: String,
    /// Print the explanation as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `vexil relay` options; each also reads a `VEXIL_...` environment variable.
#[cfg(feature = "server")]
#[derive(Args)]
struct RelayArgs {
    /// Address to listen on.
    #[arg(long, env = "VEXIL_LISTEN", default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
    /// The origin or relay to follow (`http://host:port`).
    #[arg(long, env = "VEXIL_UPSTREAM", value_name = "URL")]
    upstream: String,
    /// An environment and one of its SDK keys: NAME=SDK_KEY. Repeatable; the
    /// first key of each environment is the one presented upstream.
    #[arg(
        long = "env",
        env = "VEXIL_ENV",
        value_delimiter = ',',
        required = true
    )]
    envs: Vec<vexil::server::EnvKey>,
    /// Close each stream after this many seconds (± 10 % jitter) so clients rebalance.
    #[arg(
        long = "max-stream-age",
        env = "VEXIL_MAX_STREAM_AGE",
        value_name = "SECS"
    )]
    max_stream_age: Option<u64>,
    /// Seconds between snapshot polls while the upstream stream is down.
    #[arg(
        long = "poll-interval",
        env = "VEXIL_POLL_INTERVAL",
        default_value_t = 30
    )]
    poll_interval: u64,
    #[command(flatten)]
    streams: StreamArgs,
    /// First reconnect delay towards the upstream, in milliseconds (for tests).
    #[arg(
        long = "reconnect-base-ms",
        env = "VEXIL_RECONNECT_BASE_MS",
        default_value_t = 1000,
        hide = true
    )]
    reconnect_base_ms: u64,
}

/// `vexil serve` options; each also reads a `VEXIL_...` environment variable.
#[cfg(feature = "server")]
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VEXIL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Directory of the durable state (rule sources, versions, audit log).
    #[arg(long, env = "VEXIL_DATA")]
    data: PathBuf,
    /// Admin credential: TOKEN (named `admin` in the audit log) or NAME:TOKEN. Repeatable.
    #[arg(
        long = "admin-token",
        env = "VEXIL_ADMIN_TOKEN",
        value_delimiter = ',',
        required = true
    )]
    admin_tokens: Vec<vexil::server::origin::AdminToken>,
    /// An environment and one of its SDK keys: NAME=SDK_KEY. Repeatable.
    #[arg(
        long = "env",
        env = "VEXIL_ENV",
        value_delimiter = ',',
        required = true
    )]
    envs: Vec<vexil::server::EnvKey>,
    /// Largest accepted request body (a rule source), bytes.
    #[arg(long, env = "VEXIL_MAX_BODY_BYTES", default_value_t = 8 << 20)]
    max_body_bytes: usize,
    /// Versions of each environment kept for rollback (0: all); older ones
    /// are removed as new ones are written. The audit log is kept whole.
    #[arg(long, env = "VEXIL_KEEP_VERSIONS", default_value_t = vexil::server::origin::DEFAULT_KEEP_VERSIONS)]
    keep_versions: u64,
    #[command(flatten)]
    streams: StreamArgs,
    #[command(flatten)]
    caps: Caps,
}

/// The stream options `vexil serve` and `vexil relay` share.
#[cfg(feature = "server")]
#[derive(Args)]
struct StreamArgs {
    /// Seconds between keep-alive comments on streams (at most 15).
    #[arg(long, env = "VEXIL_KEEPALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=15))]
    keepalive_secs: u64,
    /// Events a stream may fall behind before it is dropped (it reconnects and resumes).
    #[arg(long, env = "VEXIL_STREAM_BUFFER", default_value_t = vexil::server::hub::HubConfig::default().channel_capacity)]
    stream_buffer: usize,
}

#[cfg(feature = "server")]
impl StreamArgs {
    /// The hub's sizing these options set.
    fn hub(&self) -> vexil::server::hub::HubConfig {
        vexil::server::hub::HubConfig::default().with_channel_capacity(self.stream_buffer.max(1))
    }

    /// The stream settings these options set, streams closed after
    /// `max_age` (none when `None`).
    fn stream(&self, max_age: Option<std::time::Duration>) -> vexil::server::http::StreamConfig {
        vexil::server::http::StreamConfig::default()
            .with_keepalive(std::time::Duration::from_secs(self.keepalive_secs))
            .with_max_age(max_age)
    }
}

#[cfg(feature = "sdk")]
#[derive(Args)]
struct WatchArgs {
    /// The origin or relay to follow (`http://host:port`).
    #[arg(long, env = "VEXIL_UPSTREAM", value_name = "URL")]
    upstream: String,
    /// The SDK key, sent as the `Authorization` value.
    #[arg(
        long = "sdk-key",
        env = "VEXIL_SDK_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    sdk_key: String,
    /// Only these flags (repeatable; comma-separated in the env var); all flags when absent.
    #[arg(long = "flag", action = clap::ArgAction::Append, env = "VEXIL_FLAG", value_delimiter = ',', value_name = "KEY")]
    flags: Vec<String>,
    /// The context, as a JSON object.
    #[arg(long, env = "VEXIL_CONTEXT", value_name = "JSON")]
    context: String,
    /// Seconds to wait for a first state before printing PROVIDER_NOT_READY lines.
    #[arg(long = "init-timeout", env = "VEXIL_INIT_TIMEOUT", default_value = "5", value_name = "SECS", value_parser = parse_secs)]
    init_timeout: std::time::Duration,
    /// Seconds between snapshot polls while the stream is down.
    #[arg(long = "poll-interval", env = "VEXIL_POLL_INTERVAL", default_value = "30", value_name = "SECS", value_parser = parse_positive_secs)]
    poll_interval: std::time::Duration,
    /// The on-disk copy of the last snapshot: read at start when valid, written on every change.
    #[arg(long, env = "VEXIL_CACHE", value_name = "FILE")]
    cache: Option<PathBuf>,
    /// First reconnect delay in milliseconds (for tests).
    #[arg(
        long = "reconnect-base-ms",
        env = "VEXIL_RECONNECT_BASE_MS",
        hide = true
    )]
    reconnect_base_ms: Option<u64>,
    /// Stream silence, in milliseconds, after which it reconnects (for tests).
    #[arg(long = "read-timeout-ms", env = "VEXIL_READ_TIMEOUT_MS", hide = true)]
    read_timeout_ms: Option<u64>,
}

#[cfg(feature = "sdk")]
fn parse_secs(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("`{text}` is not a usable number of seconds (0 or more)"))
}

#[cfg(feature = "sdk")]
fn parse_positive_secs(text: &str) -> Result<std::time::Duration, String> {
    let d = parse_secs(text)?;
    if d.is_zero() {
        return Err("must be more than 0 seconds".into());
    }
    Ok(d)
}

#[derive(Args)]
struct EvalArgs {
    /// Rule files to compile and evaluate (repeatable; several per flag allowed).
    #[arg(long = "rules", num_args = 1.., action = clap::ArgAction::Append, required_unless_present = "snapshot", conflicts_with = "snapshot")]
    rules: Vec<PathBuf>,
    /// A compiled snapshot file to evaluate.
    #[arg(long = "snapshot")]
    snapshot: Option<PathBuf>,
    /// Only these flags (repeatable); all flags when absent.
    #[arg(long = "flag", action = clap::ArgAction::Append)]
    flags: Vec<String>,
    /// One context as a JSON object.
    #[arg(
        long = "context",
        required_unless_present = "contexts",
        conflicts_with = "contexts"
    )]
    context: Option<String>,
    /// A file of contexts, one JSON object per line (blank lines skipped);
    /// `-` reads standard input. Read and answered one line at a time.
    #[arg(long = "contexts")]
    contexts: Option<PathBuf>,
    /// Caps for `--rules` (a snapshot was checked when it was compiled).
    #[command(flatten)]
    caps: Caps,
}

/// How diagnostics are printed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// `FILE:LINE:COL: error: MESSAGE`, the line and a caret (stderr).
    Text,
    /// One JSON object per diagnostic and line (stdout).
    Json,
}

/// Overrides of the complexity caps.
#[derive(Args, Clone, Copy)]
struct Caps {
    /// Maximum rules per flag.
    #[arg(long, env = "VEXIL_MAX_RULES", default_value_t = Limits::default().rules_per_flag)]
    max_rules: usize,
    /// Maximum atoms per condition.
    #[arg(long, env = "VEXIL_MAX_ATOMS", default_value_t = Limits::default().atoms_per_condition)]
    max_atoms: usize,
    /// Maximum parenthesis nesting of a condition.
    #[arg(long, env = "VEXIL_MAX_DEPTH", default_value_t = Limits::default().condition_depth)]
    max_depth: usize,
    /// Maximum values in one inline list.
    #[arg(long, env = "VEXIL_MAX_LIST", default_value_t = Limits::default().list_values)]
    max_list: usize,
    /// Maximum compiled size of one regex, in bytes.
    #[arg(long, env = "VEXIL_MAX_REGEX_SIZE", default_value_t = Limits::default().regex_size)]
    max_regex_size: usize,
    /// Maximum segment nesting and prerequisite chain depth.
    #[arg(long, env = "VEXIL_MAX_CHAIN", default_value_t = Limits::default().reference_depth)]
    max_chain: usize,
}

impl Caps {
    /// The caps, refused (a usage error) when one is above its hard ceiling:
    /// `--max-regex-size` above the snapshot loader's regex limit would write
    /// snapshots that no reader loads.
    fn limits(self) -> Result<Limits, Failure> {
        let limits = Limits::default()
            .with_rules_per_flag(self.max_rules)
            .with_atoms_per_condition(self.max_atoms)
            .with_condition_depth(self.max_depth)
            .with_list_values(self.max_list)
            .with_regex_size(self.max_regex_size)
            .with_reference_depth(self.max_chain);
        limits.validate().map_err(|e| {
            let (option, why) = match e.cap {
                "regex_size" => (
                    "--max-regex-size",
                    "the regex size limit every snapshot reader compiles with",
                ),
                "condition_depth" => (
                    "--max-depth",
                    "the parser's nesting limit for one condition",
                ),
                _ => ("--max-chain", "the reference depth evaluation follows"),
            };
            Failure {
                message: format!(
                    "vexil: {option} {} is above its hard ceiling of {} ({why})",
                    e.value, e.ceiling
                ),
                status: 2,
            }
        })?;
        Ok(limits)
    }
}

/// A failure of the command: a message for stderr and the exit status.
struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    fn input(message: String) -> Failure {
        Failure { message, status: 1 }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            files,
            caps,
            format,
        } => caps.limits().and_then(|l| run_check(&files, l, format)),
        Command::Compile {
            files,
            output,
            snapshot_version,
            environment,
            caps,
            format,
        } => caps
            .limits()
            .and_then(|l| run_compile(&files, &output, snapshot_version, environment, l, format)),
        Command::Eval(args) => run_eval(&args),
        #[cfg(feature = "server")]
        Command::Serve(args) => run_serve(args),
        #[cfg(feature = "server")]
        Command::Relay(args) => run_relay(args),
        Command::Explain(args) => run_explain(&args),
        Command::Inspect { snapshot, json } => run_inspect(&snapshot, json),
        Command::Fmt { files, check } => run_fmt(&files, check),
        Command::Lint {
            files,
            deny,
            format,
            caps,
        } => caps
            .limits()
            .and_then(|l| run_lint(&files, deny, format, l)),
        #[cfg(feature = "sdk")]
        Command::Watch(args) => run_watch(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                let mut stderr = io::stderr().lock();
                let _ = write!(stderr, "{}", failure.message);
                if !failure.message.ends_with('\n') {
                    let _ = writeln!(stderr);
                }
            }
            ExitCode::from(failure.status)
        }
    }
}

/// Reads rule files as bytes: one that is not UTF-8 is an error naming the
/// file and the line of its first bad byte.
fn read_sources(files: &[PathBuf]) -> Result<Vec<Source>, Failure> {
    files
        .iter()
        .map(|path| {
            let bytes = fs::read(path).map_err(|e| {
                Failure::input(format!("vexil: cannot read {}: {e}", path.display()))
            })?;
            Source::from_bytes(path.display().to_string(), bytes)
                .map_err(|e| Failure::input(format!("{e}\nvexil: 1 error found\n")))
        })
        .collect()
}

/// Reads, checks and compiles; diagnostics become the failure message.
fn build(
    files: &[PathBuf],
    limits: Limits,
    format: Format,
) -> Result<(Vec<Source>, Ruleset), Failure> {
    let sources = read_sources(files)?;
    let options = compile::CompileOptions::new(limits);
    match compile::compile_sources(&sources, &options) {
        Ok(ruleset) => Ok((sources, ruleset)),
        Err(diagnostics) => Err(match format {
            Format::Text => diagnostics_failure(&diagnostics, &sources),
            Format::Json => json_failure(&diagnostics, &sources),
        }),
    }
}

/// Diagnostics as JSON Lines on stdout; the failure itself prints nothing.
fn json_failure(diagnostics: &[check::Diagnostic], sources: &[Source]) -> Failure {
    let mut out = io::stdout().lock();
    let _ = out.write_all(check::render_json(diagnostics, sources).as_bytes());
    let _ = out.flush();
    Failure {
        message: String::new(),
        status: 1,
    }
}

/// Rendered diagnostics and their count, as a failure.
fn diagnostics_failure(diagnostics: &[check::Diagnostic], sources: &[Source]) -> Failure {
    let mut message = check::render(diagnostics, sources);
    let n = diagnostics.len();
    message.push_str(&format!(
        "vexil: {n} error{} found\n",
        if n == 1 { "" } else { "s" }
    ));
    Failure::input(message)
}

fn run_check(files: &[PathBuf], limits: Limits, format: Format) -> Result<(), Failure> {
    let (sources, ruleset) = build(files, limits, format)?;
    eprintln!(
        "vexil: {} file{} ok: {} flags",
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        ruleset.flag_count()
    );
    Ok(())
}

fn run_compile(
    files: &[PathBuf],
    output: &Path,
    version: u64,
    environment: String,
    limits: Limits,
    format: Format,
) -> Result<(), Failure> {
    refuse_output(output, files)?;
    let (_, ruleset) = build(files, limits, format)?;
    let meta = SnapshotMeta {
        version,
        environment,
    };
    snapshot::write_file(output, &ruleset, &meta)
        .map_err(|e| Failure::input(format!("vexil: cannot write the snapshot: {e}")))?;
    eprintln!(
        "vexil: wrote {} ({} flags, version {version})",
        output.display(),
        ruleset.flag_count()
    );
    Ok(())
}

fn open_snapshot(path: &Path) -> Result<snapshot::Snapshot, Failure> {
    snapshot::open(path).map_err(|e| match e {
        // I/O errors already name the file.
        snapshot::SnapshotError::Io { .. } => Failure::input(format!("vexil: {e}")),
        e => Failure::input(format!("vexil: {}: {e}", path.display())),
    })
}

fn run_explain(args: &ExplainArgs) -> Result<(), Failure> {
    let context = Context::from_json_str(&args.context)
        .map_err(|e| Failure::input(format!("vexil: invalid --context: {e}")))?;
    let explanations: Vec<explain::Explanation> = match &args.snapshot {
        Some(path) => {
            let loaded = open_snapshot(path)?;
            args.flags
                .iter()
                .map(|flag| explain::explain_compiled(loaded.ruleset(), flag, &context))
                .collect()
        }
        None => {
            let sources = read_sources(&args.rules)?;
            let program = check::check(&sources, &Limits::default())
                .map_err(|diagnostics| diagnostics_failure(&diagnostics, &sources))?;
            args.flags
                .iter()
                .map(|flag| explain::explain(&program, flag, &context))
                .collect()
        }
    };
    let mut text = String::new();
    for (n, explanation) in explanations.iter().enumerate() {
        if args.json {
            let line = serde_json::to_string(explanation).map_err(|e| {
                Failure::input(format!("vexil: cannot encode the explanation: {e}"))
            })?;
            text.push_str(&line);
            text.push('\n');
        } else {
            if n > 0 {
                text.push('\n');
            }
            text.push_str(&explanation.to_text());
        }
    }
    let mut out = io::stdout().lock();
    write_out(&mut out, &text)?;
    out.flush()
        .map_err(|e| Failure::input(format!("vexil: cannot write output: {e}")))
}

fn run_lint(files: &[PathBuf], deny: bool, format: Format, limits: Limits) -> Result<(), Failure> {
    let sources = read_sources(files)?;
    let warnings = match lint::lint(&sources, &limits) {
        Ok(warnings) => warnings,
        Err(errors) => {
            return Err(match format {
                Format::Text => diagnostics_failure(&errors, &sources),
                Format::Json => json_failure(&errors, &sources),
            })
        }
    };
    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
            write_out(&mut out, &check::render_json(&warnings, &sources))?;
            let _ = out.flush();
        }
        Format::Text => {
            let mut text = check::render(&warnings, &sources);
            let n = warnings.len();
            if n > 0 {
                text.push_str(&format!(
                    "vexil: {n} warning{}\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
            let _ = io::stderr().lock().write_all(text.as_bytes());
        }
    }
    if deny && !warnings.is_empty() {
        return Err(Failure {
            message: String::new(),
            status: 1,
        });
    }
    Ok(())
}

fn run_fmt(files: &[PathBuf], check_only: bool) -> Result<(), Failure> {
    let sources = read_sources(files)?;
    let mut errors = Vec::new();
    let mut changed = Vec::new();
    for (index, (source, path)) in sources.iter().zip(files).enumerate() {
        match fmt::format(&source.text) {
            Ok(text) if text == source.text => {}
            Ok(text) => {
                if !check_only {
                    fmt::write_atomically(path, &text).map_err(|e| {
                        Failure::input(format!("vexil: cannot write {}: {e}", path.display()))
                    })?;
                }
                changed.push(source.name.clone());
            }
            Err(syntax) => errors.extend(
                syntax
                    .into_iter()
                    .map(|e| check::Diagnostic::new(index, e.span, e.message)),
            ),
        }
    }
    let mut out = io::stdout().lock();
    for name in &changed {
        write_out(&mut out, &format!("{name}\n"))?;
    }
    let _ = out.flush();
    if !errors.is_empty() {
        return Err(diagnostics_failure(&errors, &sources));
    }
    if check_only && !changed.is_empty() {
        return Err(Failure::input(format!(
            "vexil: {} file{} would be reformatted",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

fn run_inspect(path: &Path, json: bool) -> Result<(), Failure> {
    let bytes = fs::read(path)
        .map_err(|e| Failure::input(format!("vexil: cannot read {}: {e}", path.display())))?;
    let loaded = snapshot::from_bytes(&bytes)
        .map_err(|e| Failure::input(format!("vexil: {}: {e}", path.display())))?;
    let inspection = inspect::inspect(&loaded, &bytes);
    let text = if json {
        let mut line = serde_json::to_string(&inspection)
            .map_err(|e| Failure::input(format!("vexil: cannot encode the summary: {e}")))?;
        line.push('\n');
        line
    } else {
        inspection.to_text()
    };
    let mut out = io::stdout().lock();
    write_out(&mut out, &text)?;
    out.flush()
        .map_err(|e| Failure::input(format!("vexil: cannot write output: {e}")))
}

/// Refuses an output path that is not a regular file (or a symbolic link,
/// which the rename replaces) or nothing: a directory, a device, a FIFO, a
/// socket; and one that is one of the input files (same device and inode).
/// Checked before compiling, so nothing is written; `snapshot::write_file`
/// checks the kind of file again right before it renames.
fn refuse_output(output: &Path, inputs: &[PathBuf]) -> Result<(), Failure> {
    let refuse = |why: &str| {
        Err(Failure::input(format!(
            "vexil: refusing to write the snapshot to {}: {why}",
            output.display()
        )))
    };
    // Nothing there is fine; any other failure to look (no permission...)
    // surfaces when writing.
    let Ok(meta) = fs::symlink_metadata(output) else {
        return Ok(());
    };
    if let Some(kind) = snapshot::not_replaceable(&meta) {
        return refuse(&format!("it is {kind}, not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        for input in inputs {
            if let Ok(m) = fs::metadata(input) {
                if m.dev() == meta.dev() && m.ino() == meta.ino() {
                    return refuse(&format!(
                        "it is the input file {} (give another -o path)",
                        input.display()
                    ));
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = inputs;
    Ok(())
}

/// Calls `answer` for each context of `--context` or `--contexts`, in order.
/// A `--contexts` file (or `-`, standard input) is read one line at a time,
/// so memory stays bounded by the longest line; blank lines are skipped and
/// an invalid line is an error naming its file and line number.
fn for_each_context(
    args: &EvalArgs,
    mut answer: impl FnMut(&Context) -> Result<(), Failure>,
) -> Result<(), Failure> {
    use std::io::BufRead;
    if let Some(text) = &args.context {
        let context = Context::from_json_str(text)
            .map_err(|e| Failure::input(format!("vexil: invalid --context: {e}")))?;
        return answer(&context);
    }
    let Some(path) = &args.contexts else {
        return Ok(());
    };
    let name = path.display();
    let cannot_read = |e: io::Error| Failure::input(format!("vexil: cannot read {name}: {e}"));
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(
            fs::File::open(path).map_err(cannot_read)?,
        ))
    };
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(cannot_read)? == 0 {
            return Ok(());
        }
        number += 1;
        let invalid = |e: &dyn std::fmt::Display| {
            Failure::input(format!("vexil: {name}:{number}: invalid context: {e}"))
        };
        let text = std::str::from_utf8(&line).map_err(|_| invalid(&"not UTF-8"))?;
        if text.trim().is_empty() {
            continue;
        }
        let context = Context::from_json_str(text).map_err(|e| invalid(&e))?;
        answer(&context)?;
    }
}

fn run_eval(args: &EvalArgs) -> Result<(), Failure> {
    let ruleset = match &args.snapshot {
        Some(path) => {
            snapshot::open(path)
                .map_err(|e| match e {
                    // I/O errors already name the file.
                    snapshot::SnapshotError::Io { .. } => Failure::input(format!("vexil: {e}")),
                    e => Failure::input(format!("vexil: {}: {e}", path.display())),
                })?
                .into_ruleset()
        }
        None => build(&args.rules, args.caps.limits()?, Format::Text)?.1,
    };
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let mut line = String::new();
    for_each_context(args, |context| {
        let prepared = ruleset.prepare(context);
        if args.flags.is_empty() {
            for (key, detail) in prepared.all() {
                line.clear();
                detail.write_json_line(key, &mut line);
                line.push('\n');
                write_out(&mut out, &line)?;
            }
        } else {
            for key in &args.flags {
                line.clear();
                prepared.detail(key).write_json_line(key, &mut line);
                line.push('\n');
                write_out(&mut out, &line)?;
            }
        }
        Ok(())
    })?;
    out.flush()
        .map_err(|e| Failure::input(format!("vexil: cannot write output: {e}")))
}

#[cfg(feature = "sdk")]
fn run_watch(args: WatchArgs) -> Result<(), Failure> {
    use vexil::sdk::watch::{self, WatchOptions};
    let context = Context::from_json_str(&args.context)
        .map_err(|e| Failure::input(format!("vexil: invalid --context: {e}")))?;
    let mut options = WatchOptions::new(args.upstream, args.sdk_key, context);
    options.flags = args.flags;
    options.init_timeout = args.init_timeout;
    options.poll_interval = args.poll_interval;
    options.cache = args.cache;
    options.reconnect_base = args.reconnect_base_ms.map(std::time::Duration::from_millis);
    options.read_timeout = args.read_timeout_ms.map(std::time::Duration::from_millis);
    let stop = watch::stop_on_signals()
        .map_err(|e| Failure::input(format!("vexil: cannot install signal handlers: {e}")))?;
    let mut out = io::stdout().lock();
    watch::watch(&options, &mut out, &stop).map_err(|e| Failure::input(format!("vexil: {e}")))
}

fn write_out(out: &mut impl Write, line: &str) -> Result<(), Failure> {
    out.write_all(line.as_bytes()).map_err(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure {
                message: String::new(),
                status: 0,
            }
        } else {
            Failure::input(format!("vexil: cannot write output: {e}"))
        }
    })
}

/// Runs an async server entry point on a multi-threaded runtime, with
/// logs on stderr (`VEXIL_LOG` or `RUST_LOG` filter, default `info`).
#[cfg(feature = "server")]
fn run_server(
    name: &str,
    server: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), Failure> {
    let filter = std::env::var("VEXIL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::input(format!("vexil {name}: cannot start the runtime: {e}")))?;
    runtime
        .block_on(server)
        .map_err(|e| Failure::input(format!("vexil {name}: {e}")))
}

#[cfg(feature = "server")]
fn run_serve(args: ServeArgs) -> Result<(), Failure> {
    use vexil::server::origin;
    let mut config = origin::OriginConfig::new(args.listen, args.data);
    config.admin_tokens = args.admin_tokens;
    config.envs = args.envs;
    config.stream = args.streams.stream(None);
    config.max_body = args.max_body_bytes;
    config.limits = args.caps.limits()?;
    config.hub = args.streams.hub();
    config.keep_versions = args.keep_versions;
    run_server("serve", origin::serve(config))
}

#[cfg(feature = "server")]
fn run_relay(args: RelayArgs) -> Result<(), Failure> {
    use std::time::Duration;
    use vexil::server::relay;
    let mut config = relay::RelayConfig::new(args.listen, args.upstream);
    config.envs = args.envs;
    config.stream = args
        .streams
        .stream(args.max_stream_age.map(Duration::from_secs));
    config.poll_interval = Duration::from_secs(args.poll_interval.max(1));
    config.reconnect_base = Duration::from_millis(args.reconnect_base_ms.max(1));
    config.hub = args.streams.hub();
    run_server("relay", relay::serve(config))
}
