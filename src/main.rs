//! The `mapmean` command line: parse arguments, call the library, print rows.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mapmean::engine;
use mapmean::ipc::IpcData;
use mapmean::results::ResultRow;
use mapmean::source::Source;
use mapmean::{Error, MeanOptions, MeanState, Result};

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
        /// Arrow IPC files or streams, or shared-memory segments (shm://NAME).
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<std::ffi::OsString>,
        /// Column to average (repeatable). Default: every Float32 column.
        #[arg(short, long = "column", value_name = "NAME")]
        columns: Vec<String>,
        /// Output format. json is JSON Lines.
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
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Panics are caught below and reported as errors; keep their default
    // report (a "panicked at" line) off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| run(cli))
        .unwrap_or_else(|_| Err(Error::Internal("unexpected panic".into())));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let Command::Mean {
        sources,
        columns,
        format,
        threads,
        no_skip_nulls,
        min_count,
    } = cli.command;
    let options = MeanOptions {
        skip_nulls: !no_skip_nulls,
        min_count,
    };
    let threads = threads.map(|t| t as usize);
    let mut rows: Vec<ResultRow> = Vec::new();
    for spec in &sources {
        let source = Source::open(spec)?;
        let data = IpcData::open(source.buffer().clone(), source.name())?;
        if rows.is_empty() {
            let names = if columns.is_empty() {
                float32_columns(&data)?
            } else {
                columns.clone()
            };
            rows = names
                .into_iter()
                .map(|column| ResultRow {
                    column,
                    state: MeanState::default(),
                })
                .collect();
        }
        for row in &mut rows {
            let column = data.float32_column(Some(&row.column))?;
            let state = engine::state_of_arrays(column.chunks(), threads)?;
            row.state.merge(&state);
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print_rows(&mut out, &rows, &options, format)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Every Float32 column of `data`, or an error if there is none.
fn float32_columns(data: &IpcData) -> Result<Vec<String>> {
    let names: Vec<String> = data
        .schema()
        .fields()
        .iter()
        .filter(|f| *f.data_type() == arrow_schema::DataType::Float32)
        .map(|f| f.name().clone())
        .collect();
    if names.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no Float32 column; available columns: {}",
            data.source_name(),
            mapmean::column::describe_columns(data.schema())
        )));
    }
    Ok(names)
}

fn print_rows(
    out: &mut impl Write,
    rows: &[ResultRow],
    options: &MeanOptions,
    format: Format,
) -> std::io::Result<()> {
    const HEADER: [&str; 5] = ["column", "count", "null_count", "nan_count", "mean"];
    let cells = |row: &ResultRow| {
        [
            row.column.clone(),
            row.state.count.to_string(),
            row.state.null_count.to_string(),
            row.state.nan_count.to_string(),
            match row.state.finish_with(options) {
                Some(mean) => format!("{mean:?}"),
                None => "null".to_string(),
            },
        ]
    };
    match format {
        Format::Json => {
            for row in rows {
                let mean = match row.state.finish_with(options) {
                    // JSON has no NaN or infinity; nan_count tells NaN apart.
                    Some(mean) if mean.is_finite() => format!("{mean:?}"),
                    _ => "null".to_string(),
                };
                writeln!(
                    out,
                    "{{\"column\":{},\"count\":{},\"null_count\":{},\"nan_count\":{},\"mean\":{}}}",
                    json_string(&row.column),
                    row.state.count,
                    row.state.null_count,
                    row.state.nan_count,
                    mean
                )?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", HEADER.join(","))?;
            for row in rows {
                let mut cells = cells(row);
                cells[0] = csv_field(&cells[0]);
                if cells[4] == "null" {
                    cells[4].clear();
                }
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Table => {
            let body: Vec<[String; 5]> = rows.iter().map(cells).collect();
            let mut widths = HEADER.map(str::len);
            for row in &body {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 5]| {
                cells
                    .iter()
                    .zip(widths)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        if i == 0 {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", line(HEADER))?;
            for row in &body {
                writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
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
