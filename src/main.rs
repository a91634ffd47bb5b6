//! The `mapmean` command line; all of it is in the library
//! ([`mapmean::cli`]), so that the Python package can run the same command.

use std::process::ExitCode;

/// Decoding Parquet allocates and frees a buffer of about a megabyte per page
/// on every thread. glibc's allocator hands such blocks out as fresh
/// mappings (or trims them back to the system), so each page cost page
/// faults and zeroing: a third of the CPU time of a gigabyte of snappy
/// float32. mimalloc reuses them per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `main_with_args` reports a panic as `error: internal error: MESSAGE`;
    // keep the default "panicked at" report off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    ExitCode::from(mapmean::cli::main_with_args(std::env::args_os()))
}
