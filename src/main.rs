//! The `vexil` command line: `check`, `compile` and `eval` over the library.
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
    /// The caps, refused (a usage error) when one is above its hard ceiling:
    /// `--max-regex-size` above the snapshot loader's regex limit would write
    /// snapshots that no reader loads.
    fn limits(self) -> Result<Limits, Failure> {
        let limits = Limits {
            rules_per_flag: self.max_rules,
            atoms_per_condition: self.max_atoms,
            condition_depth: self.max_depth,
            list_values: self.max_list,
            regex_size: self.max_regex_size,
            reference_depth: self.max_chain,
        };
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
        Command::Check { files, caps } => caps.limits().and_then(|l| run_check(&files, l)),
        Command::Compile {
            files,
            output,
            snapshot_version,
            environment,
            caps,
        } => caps
            .limits()
            .and_then(|l| run_compile(&files, &output, snapshot_version, environment, l)),
        Command::Eval(args) => run_eval(&args),
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
    refuse_output(output, files)?;
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
                .ruleset
        }
        None => build(&args.rules, args.caps.limits()?)?.1,
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
