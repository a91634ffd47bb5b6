//! The `mapmean` command line: parse arguments, call the library, print rows.
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
use crate::results::{to_record_batch, ResultRow};
use crate::{Error, MeanOptions, Result};
use clap::{Parser, Subcommand, ValueEnum};
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
        /// Arrow IPC files or streams, directories (searched recursively for
        /// *.arrow, *.arrows, *.feather, *.ipc), glob patterns, shared-memory
        /// segments (shm://NAME), or `-`: an IPC stream on standard input,
        /// read incrementally (named pipes are read the same way).
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<OsString>,
        /// Column to average (repeatable). Default: every Float32 column
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
        /// Give a null mean if any value is null (pyarrow's skip_nulls=False).
        #[arg(long)]
        no_skip_nulls: bool,
        /// Give a null mean when fewer values are valid.
        #[arg(long, default_value_t = 1, value_name = "N")]
        min_count: u64,
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
    },
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
    let Command::Mean {
        sources,
        columns,
        by_source,
        format,
        threads,
        no_skip_nulls,
        min_count,
        keep_going,
        progress,
        no_progress,
    } = cli.command;
    let options = MeanOptions {
        skip_nulls: !no_skip_nulls,
        min_count,
    };
    let sources = dataset::expand(&sources)?;
    let bar = Progress::new(sources.len() as u64, progress, no_progress);
    let on_error = if keep_going {
        OnError::KeepGoing
    } else {
        OnError::Stop
    };
    let columns = (!columns.is_empty()).then_some(&columns[..]);
    let threads = threads.map(|t| t as usize);
    let scanned = dataset::scan(&sources, columns, threads, on_error, &|| bar.tick());
    bar.finish();
    let scanned = scanned?;
    let rows = if scanned.states.is_empty() {
        Vec::new()
    } else {
        dataset::combine(&scanned.states, by_source)?
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print_rows(&mut out, &rows, &options, format)
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

fn print_rows(
    out: &mut impl Write,
    rows: &[ResultRow],
    options: &MeanOptions,
    format: Format,
) -> std::io::Result<()> {
    if format == Format::Arrow {
        let batch = to_record_batch(rows, options);
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
    let with_source = rows.iter().any(|r| r.source.is_some());
    let header: Vec<&str> = with_source
        .then_some("source")
        .into_iter()
        .chain(["column", "count", "null_count", "nan_count", "mean"])
        .collect();
    let cells = |row: &ResultRow| -> Vec<String> {
        let source = row.source.clone().filter(|_| with_source);
        source
            .into_iter()
            .chain([
                row.column.clone(),
                row.state.count.to_string(),
                row.state.null_count.to_string(),
                row.state.nan_count.to_string(),
                match row.state.finish_with(options) {
                    Some(mean) => format!("{mean:?}"),
                    None => "null".to_string(),
                },
            ])
            .collect()
    };
    match format {
        Format::Json => {
            for row in rows {
                let source = match &row.source {
                    Some(source) => format!("\"source\":{},", json_string(source)),
                    None => String::new(),
                };
                let mean = match row.state.finish_with(options) {
                    // JSON has no NaN or infinity; nan_count tells NaN apart.
                    Some(mean) if mean.is_finite() => format!("{mean:?}"),
                    _ => "null".to_string(),
                };
                writeln!(
                    out,
                    "{{{source}\"column\":{},\"count\":{},\"null_count\":{},\"nan_count\":{},\"mean\":{}}}",
                    json_string(&row.column),
                    row.state.count,
                    row.state.null_count,
                    row.state.nan_count,
                    mean
                )?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for row in rows {
                let mut cells: Vec<String> = cells(row).iter().map(|c| csv_field(c)).collect();
                if let Some(mean) = cells.last_mut().filter(|m| *m == "null") {
                    mean.clear();
                }
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Arrow => unreachable!("written above"),
        Format::Table => {
            let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
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
