//! The `mapmean` command line; all of it is in the library
//! ([`mapmean::cli`]), so that the Python package can run the same command.

use std::process::ExitCode;

fn main() -> ExitCode {
    // `main_with_args` reports a panic as `error: internal error: MESSAGE`;
    // keep the default "panicked at" report off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    ExitCode::from(mapmean::cli::main_with_args(std::env::args_os()))
}
