//! The `mapmean` command line (`mean`, `stats`): parse arguments, call the
//! library, print rows.
//!
//! [`main_with_args`] is the whole command; the `mapmean` binary
//! (`src/main.rs`) only calls it, and so can any program that embeds the
//! library. Behind the default cargo feature `cli` (which brings clap and
//! indicatif): an embedder that needs only the library turns it off.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::dataset::{self, OnError};
use crate::ipc::{write::write_batches, IpcFormat};
use crate::kernel::Accumulate;
use crate::results::{to_record_batch, to_stats_record_batch, ResultRow};
use crate::{Error, MeanOptions, MeanState, MomentsState, Result, VarianceOptions};
use arrow_array::RecordBatch;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Exact, zero-copy means of Float32 columns in Arrow IPC files.
#[derive(Parser)]
#[command(name = "mapmean", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print count, null_count, nan_count and the exact mean of columns.
    ///
    /// Several sources are one dataset: each column's states are merged, so
    /// the mean is that of the concatenation, bit for bit.
    Mean {
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Print count, null_count, nan_count and the correctly rounded sum,
    /// mean, variance and standard deviation of columns.
    ///
    /// Each is the float64 nearest the exact value (one rounding; stddev is
    /// the rounded square root of the exact variance), with the null, NaN and
    /// infinity rules of pyarrow.compute.sum, mean, variance and stddev.
    /// Several sources are one dataset, as for `mean`.
    Stats {
        #[command(flatten)]
        scan: ScanArgs,
        /// Delta degrees of freedom of variance and stddev: the divisor is
        /// count - N (0: population; 1: sample). Null when count <= N.
        #[arg(
            long,
            default_value_t = 0,
            value_name = "N",
            allow_negative_numbers = true
        )]
        ddof: i32,
    },
}

/// The sources, columns and options that `mean` and `stats` share.
#[derive(Args)]
struct ScanArgs {
    /// Arrow IPC files or streams, directories (searched recursively for
    /// *.arrow, *.arrows, *.feather, *.ipc), glob patterns, shared-memory
    /// segments (shm://NAME), or `-`: an IPC stream on standard input,
    /// read incrementally (named pipes are read the same way).
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<OsString>,
    /// Column to compute (repeatable). Default: every Float32 column
    /// common to all sources.
    #[arg(short, long = "column", value_name = "NAME")]
    columns: Vec<String>,
    /// One row per (source, column) instead of one per column.
    #[arg(long)]
    by_source: bool,
    /// Output format: json is JSON Lines; arrow is an Arrow IPC stream.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Worker threads (default: all cores).
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Give a null result if any value is null (pyarrow's skip_nulls=False).
    #[arg(long)]
    no_skip_nulls: bool,
    /// Give a null mean (and sum) when fewer values are valid; with `stats`,
    /// also a null variance and stddev (pyarrow's min_count for those is 0,
    /// applied when this is not given).
    #[arg(long, value_name = "N")]
    min_count: Option<u64>,
    /// Finish the other sources when one fails; report every failure at
    /// the end and exit non-zero.
    #[arg(long)]
    keep_going: bool,
    /// Show a progress bar on a terminal from the start (default: once a
    /// run takes over a second).
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Never show a progress bar.
    #[arg(long, overrides_with = "progress")]
    no_progress: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
    Arrow,
}

/// Runs the `mapmean` command line with `args` (the program name first, as
/// [`std::env::args_os`] gives them) and returns the process's exit status:
/// 0 on success, 1 when the command failed (after printing `error: …` on
/// stderr), 2 for a usage error (after clap's message). `--help` and
/// `--version` print on stdout and return 0. Rows go to the process's
/// standard output, flushed before this returns.
///
/// This is the whole `mapmean` binary, callable from another program; it
/// never exits the process itself. A panic is reported as an error that
/// carries the panic's message.
///
/// # Errors
///
/// None as a `Result`: every failure is printed on stderr and gives a
/// non-zero status.
///
/// # Example
///
/// ```
/// // A missing file: `error: …` on stderr, status 1.
/// assert_eq!(mapmean::cli::main_with_args(["mapmean", "mean", "no-such-file.arrow"]), 1);
/// // A usage error: clap's message on stderr, status 2.
/// assert_eq!(mapmean::cli::main_with_args(["mapmean", "mean"]), 2);
/// ```
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // What `Cli::parse` does, without exiting the process: help and
            // version on stdout (status 0), usage errors on stderr (2).
            let _ = e.print();
            let _ = std::io::stdout().flush();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    // A panic (a bug) becomes one `error:` line carrying the panic's
    // message, for users to report; the process's panic hook is left alone
    // (the binary silences it, an embedding keeps its own).
    let outcome = crate::error::catch_panic(|| run(cli));
    match outcome {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Runs the command; `Ok(false)` when some sources failed under
/// `--keep-going` (they have been reported).
fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Mean { scan } => {
            let options = MeanOptions {
                skip_nulls: !scan.no_skip_nulls,
                min_count: scan.min_count.unwrap_or(1),
            };
            scan_and_print::<MeanState>(&scan, |rows| {
                let table = rows
                    .iter()
                    .map(|row| {
                        let s = &row.state;
                        counts(row, s.count, s.null_count, s.nan_count)
                            .chain([Cell::Float(s.finish_with(&options))])
                            .collect()
                    })
                    .collect();
                (MEAN_HEADER, table, to_record_batch(rows, &options))
            })
        }
        Command::Stats { scan, ddof } => {
            let options = MeanOptions {
                skip_nulls: !scan.no_skip_nulls,
                min_count: scan.min_count.unwrap_or(1),
            };
            let variance = VarianceOptions {
                ddof,
                skip_nulls: !scan.no_skip_nulls,
                min_count: scan.min_count.unwrap_or(0),
            };
            scan_and_print::<MomentsState>(&scan, |rows| {
                let table = rows
                    .iter()
                    .map(|row| {
                        let s = &row.state;
                        let m = &s.mean;
                        counts(row, m.count, m.null_count, m.nan_count)
                            .chain([
                                Cell::Float(s.sum_with(&options)),
                                Cell::Float(s.mean_with(&options)),
                                Cell::Float(s.variance_with(&variance)),
                                Cell::Float(s.stddev_with(&variance)),
                            ])
                            .collect()
                    })
                    .collect();
                (
                    STATS_HEADER,
                    table,
                    to_stats_record_batch(rows, &options, &variance),
                )
            })
        }
    }
}

const MEAN_HEADER: &[&str] = &["column", "count", "null_count", "nan_count", "mean"];
const STATS_HEADER: &[&str] = &[
    "column",
    "count",
    "null_count",
    "nan_count",
    "sum",
    "mean",
    "variance",
    "stddev",
];

/// The source (or `None`), column and counts of a row, as cells.
fn counts<S>(
    row: &ResultRow<S>,
    count: u64,
    null_count: u64,
    nan_count: u64,
) -> impl Iterator<Item = Cell> {
    [
        Cell::Source(row.source.clone()),
        Cell::Text(row.column.clone()),
        Cell::Count(count),
        Cell::Count(null_count),
        Cell::Count(nan_count),
    ]
    .into_iter()
}

/// The header (without `source`), the cells of each row (with a leading
/// [`Cell::Source`]) and the rows as a record batch for `--format arrow`.
type Rendered = (&'static [&'static str], Vec<Vec<Cell>>, RecordBatch);

/// Scans the sources for states of type `S`, prints the rows that
/// `render` makes of them, and reports failures.
fn scan_and_print<S: Accumulate>(
    args: &ScanArgs,
    render: impl FnOnce(&[ResultRow<S>]) -> Rendered,
) -> Result<bool> {
    let sources = dataset::expand(&args.sources)?;
    let bar = Progress::new(sources.len() as u64, args.progress, args.no_progress);
    let on_error = if args.keep_going {
        OnError::KeepGoing
    } else {
        OnError::Stop
    };
    let columns = (!args.columns.is_empty()).then_some(&args.columns[..]);
    let threads = args.threads.map(|t| t as usize);
    let scanned = dataset::scan_as::<S>(&sources, columns, threads, on_error, &|| bar.tick());
    bar.finish();
    let scanned = scanned?;
    let rows = if scanned.states.is_empty() {
        Vec::new()
    } else {
        dataset::combine(&scanned.states, args.by_source)?
    };
    let (header, cells, batch) = render(&rows);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print_rows(&mut out, header, &cells, batch, args.format)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))?;
    for failure in &scanned.failures {
        eprintln!("error: {failure}");
    }
    if !scanned.failures.is_empty() {
        eprintln!(
            "error: {} of {} sources failed; the rows above cover the other {}",
            scanned.failures.len(),
            sources.len(),
            sources.len() - scanned.failures.len()
        );
    }
    Ok(scanned.failures.is_empty())
}

/// A progress bar on stderr, only on a terminal: from the start with
/// `--progress`, once a run has taken a second otherwise, never with
/// `--no-progress`.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: AtomicBool,
    enabled: bool,
}

impl Progress {
    fn new(len: u64, always: bool, never: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} sources  {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let enabled = !never && std::io::stderr().is_terminal();
        let progress = Progress {
            bar,
            started: Instant::now(),
            shown: AtomicBool::new(false),
            enabled,
        };
        if enabled && always {
            progress.show();
        }
        progress
    }

    fn show(&self) {
        if !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn tick(&self) {
        self.bar.inc(1);
        if self.enabled && self.started.elapsed() > Duration::from_secs(1) {
            self.show();
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One printed value.
enum Cell {
    /// The row's source (only shown when some row has one).
    Source(Option<String>),
    /// A name.
    Text(String),
    /// A count.
    Count(u64),
    /// A result; `None` is null.
    Float(Option<f64>),
}

impl Cell {
    /// As text for `table` and `csv`: NaN, inf, -inf and null (csv: empty).
    fn text(&self, csv: bool) -> String {
        match self {
            Cell::Source(s) => s.clone().unwrap_or_default(),
            Cell::Text(s) => s.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Float(Some(x)) => format!("{x:?}"),
            Cell::Float(None) if csv => String::new(),
            Cell::Float(None) => "null".to_string(),
        }
    }

    /// As a JSON value: JSON has no NaN or infinity, so those are null
    /// (nan_count tells NaN apart).
    fn json(&self) -> String {
        match self {
            Cell::Source(s) => s.as_deref().map_or("null".to_string(), json_string),
            Cell::Text(s) => json_string(s),
            Cell::Count(n) => n.to_string(),
            Cell::Float(Some(x)) if x.is_finite() => format!("{x:?}"),
            Cell::Float(_) => "null".to_string(),
        }
    }
}

fn print_rows(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<Cell>],
    batch: RecordBatch,
    format: Format,
) -> std::io::Result<()> {
    if format == Format::Arrow {
        return write_batches(
            &mut *out,
            "stdout",
            &batch.schema(),
            &[batch],
            IpcFormat::Stream,
        )
        .map_err(|e| match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        });
    }
    let with_source = rows
        .iter()
        .any(|row| matches!(row.first(), Some(Cell::Source(Some(_)))));
    // The cells shown: without the source column unless some row has one.
    fn visible(row: &[Cell], with_source: bool) -> Vec<&Cell> {
        row.iter()
            .filter(|c| with_source || !matches!(c, Cell::Source(_)))
            .collect()
    }
    let header: Vec<&str> = with_source
        .then_some("source")
        .into_iter()
        .chain(header.iter().copied())
        .collect();
    match format {
        Format::Json => {
            for row in rows {
                let fields: Vec<String> = header
                    .iter()
                    .zip(visible(row, with_source))
                    .map(|(name, cell)| format!("\"{name}\":{}", cell.json()))
                    .collect();
                writeln!(out, "{{{}}}", fields.join(","))?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for row in rows {
                let cells: Vec<String> = visible(row, with_source)
                    .iter()
                    .map(|c| csv_field(&c.text(true)))
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Arrow => unreachable!("written above"),
        Format::Table => {
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    visible(row, with_source)
                        .iter()
                        .map(|c| c.text(false))
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for row in &body {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let text_columns = if with_source { 2 } else { 1 };
            let line = |cells: &[&str]| {
                cells
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (c, &w))| {
                        if i < text_columns {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", line(&header))?;
            for row in &body {
                let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                writeln!(out, "{}", line(&cells))?;
            }
        }
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
