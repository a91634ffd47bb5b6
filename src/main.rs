//! The `mapmean` command line; all of it is in the library
//! ([`mapmean::cli`]), so that the Python package can run the same command.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mapmean::cli::main_with_args(std::env::args_os()))
}
