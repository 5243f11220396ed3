//! The `vexil` command line: `check`, `compile`, `eval` and `watch` over the library.
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
    },
    /// Evaluate flags for contexts; print one JSON line per context and flag.
    Eval(EvalArgs),
    /// Run the SDK client against an origin or relay; print flag answers as they change.
    #[cfg(feature = "sdk")]
    Watch(WatchArgs),
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
    /// A file of contexts, one JSON object per line (blank lines skipped).
    #[arg(long = "contexts")]
    contexts: Option<PathBuf>,
}

/// Overrides of the complexity caps.
#[derive(Args, Clone, Copy)]
struct Caps {
    /// Maximum rules per flag.
    #[arg(long, default_value_t = Limits::default().rules_per_flag)]
    max_rules: usize,
    /// Maximum atoms per condition.
    #[arg(long, default_value_t = Limits::default().atoms_per_condition)]
    max_atoms: usize,
    /// Maximum parenthesis nesting of a condition.
    #[arg(long, default_value_t = Limits::default().condition_depth)]
    max_depth: usize,
    /// Maximum values in one inline list.
    #[arg(long, default_value_t = Limits::default().list_values)]
    max_list: usize,
    /// Maximum compiled size of one regex, in bytes.
    #[arg(long, default_value_t = Limits::default().regex_size)]
    max_regex_size: usize,
    /// Maximum segment nesting and prerequisite chain depth.
    #[arg(long, default_value_t = Limits::default().reference_depth)]
    max_chain: usize,
}

impl Caps {
    fn limits(self) -> Limits {
        Limits {
            rules_per_flag: self.max_rules,
            atoms_per_condition: self.max_atoms,
            condition_depth: self.max_depth,
            list_values: self.max_list,
            regex_size: self.max_regex_size,
            reference_depth: self.max_chain,
        }
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
        Command::Check { files, caps } => run_check(&files, caps.limits()),
        Command::Compile {
            files,
            output,
            snapshot_version,
            environment,
            caps,
        } => run_compile(
            &files,
            &output,
            snapshot_version,
            environment,
            caps.limits(),
        ),
        Command::Eval(args) => run_eval(&args),
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

fn read_sources(files: &[PathBuf]) -> Result<Vec<Source>, Failure> {
    files
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).map_err(|e| {
                Failure::input(format!("vexil: cannot read {}: {e}", path.display()))
            })?;
            Ok(Source {
                name: path.display().to_string(),
                text,
            })
        })
        .collect()
}

/// Reads, checks and compiles; diagnostics become the failure message.
fn build(files: &[PathBuf], limits: Limits) -> Result<(Vec<Source>, Ruleset), Failure> {
    let sources = read_sources(files)?;
    let options = compile::CompileOptions { limits };
    match compile::compile_sources(&sources, &options) {
        Ok(ruleset) => Ok((sources, ruleset)),
        Err(diagnostics) => {
            let mut message = check::render(&diagnostics, &sources);
            let n = diagnostics.len();
            message.push_str(&format!(
                "vexil: {n} error{} found\n",
                if n == 1 { "" } else { "s" }
            ));
            Err(Failure::input(message))
        }
    }
}

fn run_check(files: &[PathBuf], limits: Limits) -> Result<(), Failure> {
    let (sources, ruleset) = build(files, limits)?;
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
) -> Result<(), Failure> {
    let (_, ruleset) = build(files, limits)?;
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

fn load_contexts(args: &EvalArgs) -> Result<Vec<Context>, Failure> {
    if let Some(text) = &args.context {
        let context = Context::from_json_str(text)
            .map_err(|e| Failure::input(format!("vexil: invalid --context: {e}")))?;
        return Ok(vec![context]);
    }
    let Some(path) = &args.contexts else {
        return Ok(Vec::new());
    };
    let text = fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("vexil: cannot read {}: {e}", path.display())))?;
    let mut contexts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let context = Context::from_json_str(line).map_err(|e| {
            Failure::input(format!(
                "vexil: {}:{}: invalid context: {e}",
                path.display(),
                i + 1
            ))
        })?;
        contexts.push(context);
    }
    Ok(contexts)
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
        None => build(&args.rules, Limits::default())?.1,
    };
    let contexts = load_contexts(args)?;
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let mut line = String::new();
    for context in &contexts {
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
    }
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
