//! The `mapmean` command inside the extension: the Python package's console
//! script and `python -m mapmean` run the very code of the Rust binary
//! ([`mapmean::cli::main_with_args`]), so one wheel carries both.

use std::ffi::OsString;

use pyo3::prelude::*;

/// Runs the command line with `argv` (the program name first) and returns
/// its exit status. Output goes to the process's file descriptors 1 and 2,
/// as the binary's does; the caller flushes Python's own streams first.
#[pyfunction]
pub fn _main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    // Without the GIL: the command may run for long, on all cores; Python
    // code in other threads goes on meanwhile.
    py.detach(|| mapmean::cli::main_with_args(argv))
}
