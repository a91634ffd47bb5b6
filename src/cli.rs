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
use crate::ipc::stream::IpcStreamReader;
use crate::ipc::{write::write_batches, IpcFormat};
use crate::kernel::{is_numeric, Parts, Statistic, StatisticOptions};
use crate::results::to_record_batch;
use crate::source::pipe;
use crate::{Error, Result};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Exact, zero-copy statistics of numeric columns in Arrow IPC files.
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
    /// Print count, null_count, nan_count and the exact sum, mean, variance,
    /// standard deviation, min and max of columns.
    ///
    /// Each float result is the float64 nearest the exact value (one
    /// rounding; stddev is the rounded square root of the exact variance);
    /// an integer column's sum is its exact Int64 / UInt64 sum (null, with a
    /// warning, where it does not fit); min and max have the column's type.
    /// Null, NaN and infinity rules are those of pyarrow.compute.sum, mean,
    /// variance, stddev and min_max.
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
    /// Arrow IPC files or streams, Parquet files, directories (searched
    /// recursively for *.arrow, *.arrows, *.feather, *.ipc, *.parquet,
    /// *.parq, *.pq), glob patterns, shared-memory
    /// segments (shm://NAME), or `-`: an IPC stream on standard input,
    /// read incrementally (named pipes are read the same way).
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<OsString>,
    /// Column to compute (repeatable). Default: every numeric column
    /// (Float16/32/64, Int8-64, UInt8-64) common to all sources; the others
    /// are listed as skipped on stderr.
    #[arg(short, long = "column", value_name = "NAME")]
    columns: Vec<String>,
    /// One row per (source, column) instead of one per column.
    #[arg(long, conflicts_with = "by")]
    by_source: bool,
    /// Group by these key columns (comma-separated, or repeated): one row
    /// per distinct key, sorted by key (nulls last), the keys first, then
    /// `COLUMN_STATISTIC` for each column. Keys may be integers, strings,
    /// dictionaries, booleans, dates, timestamps. Default columns: every
    /// numeric column of the first source that is not a key.
    #[arg(long, value_name = "KEY[,KEY...]", value_delimiter = ',')]
    by: Vec<String>,
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
    let (scan, statistics, ddof) = match &cli.command {
        Command::Mean { scan } => (scan, &[Statistic::Mean][..], 0),
        Command::Stats { scan, ddof } => (scan, &STATS[..], *ddof),
    };
    let options: Vec<(Statistic, StatisticOptions)> = statistics
        .iter()
        .map(|&s| {
            (
                s,
                StatisticOptions {
                    skip_nulls: !scan.no_skip_nulls,
                    min_count: scan.min_count.unwrap_or(s.default_min_count()),
                    ddof: i64::from(ddof),
                },
            )
        })
        .collect();
    if !scan.by.is_empty() {
        return group_and_print(scan, &options);
    }
    scan_and_print(scan, &options)
}

/// `--by`: grouped statistics of every column asked for, one row per key.
fn group_and_print(args: &ScanArgs, statistics: &[(Statistic, StatisticOptions)]) -> Result<bool> {
    use crate::grouped::{group_batches, group_data, Aggregation, GroupSpec};
    let threads = args.threads.map(|t| t as usize);
    let sources = dataset::expand(&args.sources)?;
    let stream = sources.iter().find(|p| pipe::is_stream(p.as_os_str()));
    if stream.is_some() && sources.len() > 1 {
        return Err(Error::InvalidArgument(
            "--by reads standard input or a pipe alone, not beside other sources".into(),
        ));
    }
    // The value columns: those asked for, or every numeric non-key column of
    // the first source.
    let columns_of = |schema: &arrow_schema::Schema| -> Vec<String> {
        if !args.columns.is_empty() {
            return args.columns.clone();
        }
        schema
            .fields()
            .iter()
            .filter(|f| is_numeric(f.data_type()) && !args.by.contains(f.name()))
            .map(|f| f.name().clone())
            .collect()
    };
    let aggregations_of = |columns: Vec<String>| -> Result<Vec<Aggregation>> {
        if columns.is_empty() {
            return Err(Error::InvalidArgument(
                "no numeric column to compute besides the keys".into(),
            ));
        }
        Ok(columns
            .iter()
            .flat_map(|c| {
                statistics
                    .iter()
                    .map(move |(s, o)| Aggregation::new(c.clone(), *s).with_options(*o))
            })
            .collect())
    };
    let batch = if let Some(path) = stream {
        let (name, reader) = pipe::open_stream(path.as_os_str())?;
        let reader = IpcStreamReader::new(reader, &name)?;
        let schema = reader.schema().clone();
        let aggregations = aggregations_of(columns_of(&schema))?;
        let spec = GroupSpec::new(args.by.clone(), &aggregations)?;
        group_batches(schema, reader, &spec, &name, threads)?.finish(&aggregations)?
    } else {
        let opened = sources
            .iter()
            .map(|p| {
                let source = crate::source::Source::open(p)?;
                crate::decoded::Decoded::open(source.buffer().clone(), source.name())
            })
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = opened.first() else {
            return Err(Error::InvalidArgument("no source to read".into()));
        };
        let aggregations = aggregations_of(columns_of(first.schema()))?;
        let spec = GroupSpec::new(args.by.clone(), &aggregations)?;
        group_data(&opened, &spec, threads)?.finish(&aggregations)?
    };
    let keys = args.by.len();
    let stdout = std::io::stdout();
    if args.format == Format::Arrow && stdout.is_terminal() {
        return Err(arrow_to_terminal());
    }
    let mut out = stdout.lock();
    print_table(&mut out, &batch, args.format, keys)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(true)
}

fn arrow_to_terminal() -> Error {
    Error::InvalidArgument(
        "--format arrow writes binary Arrow IPC: redirect it to a file or a pipe \
         (mapmean ... --format arrow > out.arrows)"
            .into(),
    )
}

/// The statistics of `mapmean stats`, in column order.
const STATS: [Statistic; 6] = [
    Statistic::Sum,
    Statistic::Mean,
    Statistic::Variance,
    Statistic::Stddev,
    Statistic::Min,
    Statistic::Max,
];

/// Scans the sources for the states the statistics need, prints one row
/// per column, and reports skipped columns and failures.
fn scan_and_print(args: &ScanArgs, statistics: &[(Statistic, StatisticOptions)]) -> Result<bool> {
    let sources = dataset::expand(&args.sources)?;
    let bar = Progress::new(sources.len() as u64, args.progress, args.no_progress);
    let on_error = if args.keep_going {
        OnError::KeepGoing
    } else {
        OnError::Stop
    };
    let columns = (!args.columns.is_empty()).then_some(&args.columns[..]);
    let threads = args.threads.map(|t| t as usize);
    let parts = statistics
        .iter()
        .fold(Parts::default(), |p, (s, _)| p.union(s.needs()));
    let scanned = dataset::scan(&sources, columns, parts, threads, on_error, &|| bar.tick());
    bar.finish();
    let scanned = scanned?;
    let rows = if scanned.states.is_empty() {
        Vec::new()
    } else {
        dataset::combine(&scanned.states, args.by_source)?
    };
    if rows.is_empty() && !scanned.states.is_empty() && columns.is_none() {
        let skipped = describe_skipped(&scanned.states);
        return Err(Error::InvalidArgument(format!(
            "no numeric column to compute{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(": {skipped}")
            }
        )));
    }
    let (batch, problems) = to_record_batch(&rows, statistics)?;
    let stdout = std::io::stdout();
    if args.format == Format::Arrow && stdout.is_terminal() {
        return Err(arrow_to_terminal());
    }
    let mut out = stdout.lock();
    print_rows(&mut out, &batch, args.format)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))?;
    let skipped = describe_skipped(&scanned.states);
    if !skipped.is_empty() {
        eprintln!("note: skipped columns that are not numeric: {skipped}");
    }
    for problem in &problems {
        eprintln!("warning: {problem}");
    }
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

/// `"name (Utf8), flag (Boolean)"`: the columns skipped in any source, once
/// each.
fn describe_skipped(states: &[dataset::SourceStates]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for s in states {
        for (name, data_type) in &s.skipped {
            let entry = format!("{name} ({data_type})");
            if !seen.contains(&entry) {
                seen.push(entry);
            }
        }
    }
    seen.join(", ")
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

/// One printed value: its text, and whether JSON can show it as a number
/// (NaN and infinities it cannot).
struct Cell {
    text: Option<String>,
    number: bool,
    finite: bool,
}

/// Row `i` of a timestamp column of unit `T`, as date and time (its raw
/// value where that is out of chrono's range).
fn stamp<T: arrow_array::types::ArrowTimestampType>(array: &dyn Array, i: usize) -> String {
    use arrow_array::cast::AsArray;
    let v = array.as_primitive::<T>().value(i);
    arrow_array::temporal_conversions::as_datetime::<T>(v).map_or(v.to_string(), |t| t.to_string())
}

impl Cell {
    fn text(s: &str) -> Cell {
        Cell {
            text: Some(s.to_string()),
            number: false,
            finite: true,
        }
    }

    fn number(text: Option<String>, finite: bool) -> Cell {
        Cell {
            text,
            number: true,
            finite,
        }
    }

    /// Row `i` of a key column (or the source and column names): text,
    /// except integers and floats, which are numbers.
    fn key(array: &dyn Array, i: usize) -> Cell {
        use arrow_array::cast::AsArray;
        use arrow_array::temporal_conversions::as_date;
        use arrow_array::types::*;
        use arrow_schema::TimeUnit;
        if array.is_null(i) {
            return Cell::number(None, true);
        }
        let text = match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
            DataType::LargeUtf8 => array.as_string::<i64>().value(i).to_string(),
            DataType::Utf8View => array.as_string_view().value(i).to_string(),
            DataType::Boolean => array.as_boolean().value(i).to_string(),
            DataType::Date32 => {
                let days = array.as_primitive::<Date32Type>().value(i);
                as_date::<Date32Type>(i64::from(days)).map_or(days.to_string(), |d| d.to_string())
            }
            DataType::Date64 => {
                let ms = array.as_primitive::<Date64Type>().value(i);
                as_date::<Date64Type>(ms).map_or(ms.to_string(), |d| d.to_string())
            }
            DataType::Timestamp(unit, _) => match unit {
                TimeUnit::Second => stamp::<TimestampSecondType>(array, i),
                TimeUnit::Millisecond => stamp::<TimestampMillisecondType>(array, i),
                TimeUnit::Microsecond => stamp::<TimestampMicrosecondType>(array, i),
                TimeUnit::Nanosecond => stamp::<TimestampNanosecondType>(array, i),
            },
            t if t.is_integer() || t.is_floating() => return Cell::of(array, i),
            other => format!("<{other}>"),
        };
        Cell::text(&text)
    }

    /// Row `i` of a result column.
    fn of(array: &dyn Array, i: usize) -> Cell {
        use arrow_array::cast::AsArray;
        use arrow_array::types::*;
        if array.is_null(i) {
            return Cell::number(None, true);
        }
        fn float(x: f64, text: String) -> Cell {
            Cell::number(Some(text), x.is_finite())
        }
        match array.data_type() {
            DataType::Utf8 => {
                let s = array.as_string::<i32>().value(i);
                // Exact values of mixed types, as text: numbers all the same.
                let finite = !matches!(s, "NaN" | "inf" | "-inf");
                Cell::number(Some(s.to_string()), finite)
            }
            DataType::Float64 => {
                let x = array.as_primitive::<Float64Type>().value(i);
                float(x, format!("{x:?}"))
            }
            DataType::Float32 => {
                let x = array.as_primitive::<Float32Type>().value(i);
                float(f64::from(x), format!("{x:?}"))
            }
            DataType::Float16 => {
                let x = array.as_primitive::<Float16Type>().value(i);
                float(x.to_f64(), format!("{:?}", x.to_f32()))
            }
            DataType::Int8 => Cell::number(
                Some(array.as_primitive::<Int8Type>().value(i).to_string()),
                true,
            ),
            DataType::Int16 => Cell::number(
                Some(array.as_primitive::<Int16Type>().value(i).to_string()),
                true,
            ),
            DataType::Int32 => Cell::number(
                Some(array.as_primitive::<Int32Type>().value(i).to_string()),
                true,
            ),
            DataType::Int64 => Cell::number(
                Some(array.as_primitive::<Int64Type>().value(i).to_string()),
                true,
            ),
            DataType::UInt8 => Cell::number(
                Some(array.as_primitive::<UInt8Type>().value(i).to_string()),
                true,
            ),
            DataType::UInt16 => Cell::number(
                Some(array.as_primitive::<UInt16Type>().value(i).to_string()),
                true,
            ),
            DataType::UInt32 => Cell::number(
                Some(array.as_primitive::<UInt32Type>().value(i).to_string()),
                true,
            ),
            DataType::UInt64 => Cell::number(
                Some(array.as_primitive::<UInt64Type>().value(i).to_string()),
                true,
            ),
            other => Cell::text(&format!("<{other}>")),
        }
    }

    /// As text for `table` and `csv`: NaN, inf, -inf and null (csv: empty).
    fn shown(&self, csv: bool) -> String {
        match &self.text {
            Some(t) => t.clone(),
            None if csv => String::new(),
            None => "null".to_string(),
        }
    }

    /// As a JSON value: JSON has no NaN or infinity, so those are null
    /// (nan_count tells NaN apart).
    fn json(&self) -> String {
        match &self.text {
            Some(t) if !self.number => json_string(t),
            Some(t) if self.finite => t.clone(),
            _ => "null".to_string(),
        }
    }
}

fn print_rows(out: &mut impl Write, batch: &RecordBatch, format: Format) -> std::io::Result<()> {
    let text_columns = batch
        .schema()
        .fields()
        .iter()
        .take_while(|f| matches!(f.name().as_str(), "source" | "column"))
        .count();
    print_table(out, batch, format, text_columns)
}

/// Prints `batch`, whose first `key_columns` columns are keys (left-aligned;
/// text unless numbers), the rest results.
fn print_table(
    out: &mut impl Write,
    batch: &RecordBatch,
    format: Format,
    text_columns: usize,
) -> std::io::Result<()> {
    if format == Format::Arrow {
        return write_batches(
            &mut *out,
            "stdout",
            &batch.schema(),
            std::slice::from_ref(batch),
            IpcFormat::Stream,
        )
        .map_err(|e| match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        });
    }
    let schema = batch.schema();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let rows: Vec<Vec<Cell>> = (0..batch.num_rows())
        .map(|i| {
            batch
                .columns()
                .iter()
                .enumerate()
                .map(|(c, array)| {
                    if c < text_columns {
                        Cell::key(array.as_ref(), i)
                    } else {
                        Cell::of(array.as_ref(), i)
                    }
                })
                .collect()
        })
        .collect();
    match format {
        Format::Json => {
            for row in &rows {
                let fields: Vec<String> = header
                    .iter()
                    .zip(row)
                    .map(|(name, cell)| format!("\"{name}\":{}", cell.json()))
                    .collect();
                writeln!(out, "{{{}}}", fields.join(","))?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for row in &rows {
                let cells: Vec<String> = row.iter().map(|c| csv_field(&c.shown(true))).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Arrow => unreachable!("written above"),
        Format::Table => {
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|row| row.iter().map(|c| c.shown(false)).collect())
                .collect();
            let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for row in &body {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
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
