//! Python bindings of mapmean: thin wrappers that convert arguments, release
//! the GIL around the engine, and map [`mapmean::Error`] to the exceptions
//! Python users expect ([`errors`]). No Rust panic crosses into Python: every
//! entry point runs engine code through [`errors::compute`].
//!
//! One module per family, as arro3 does; this file only registers them.
//! [`cli`] runs the `mapmean` command line for the package's console script. The
//! public Python API (`mapmean.mean`, `mapmean.write_ipc`, ...) lives in
//! `python/mapmean/_api.py` (loaded by `mapmean/__init__.py` on first use, so
//! that the command starts without numpy and pyarrow), which dispatches on the
//! kind of source and calls the private functions here (typed in
//! `python/mapmean/_mapmean.pyi`). Importing this extension imports neither
//! numpy nor pyarrow: the numpy and pyo3-arrow crates import them on first use.

use pyo3::prelude::*;

/// The allocator of the extension's Rust code (Python's own allocations are
/// untouched), as in the `mapmean` binary: decoding Parquet allocates and
/// frees a buffer of about a megabyte per page on every thread, which
/// glibc's allocator maps afresh or trims back to the system each time
/// (page faults and zeroing: a third of the CPU time of a gigabyte of snappy
/// float32); mimalloc reuses them per thread. Arrow arrays exported to
/// Python are freed through their release callbacks, so by this allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod arguments;
mod cli;
mod errors;
mod grouped;
mod introspection;
mod opened;
mod scan;
mod shared_memory;
mod sources;
mod state;
mod streams;
mod strided;
mod write;

/// The compiled half of the `mapmean` package.
#[pymodule]
fn _mapmean(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Every entry point catches panics and raises them as exceptions that
    // carry the panic's message; keep the default hook from also printing
    // "thread panicked at" on the user's stderr.
    std::panic::set_hook(Box::new(|_| {}));
    m.add_function(wrap_pyfunction!(sources::_state_path, m)?)?;
    m.add_function(wrap_pyfunction!(sources::_state_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(sources::_state_ndarray, m)?)?;
    m.add_function(wrap_pyfunction!(sources::_mean_ndarray, m)?)?;
    m.add_function(wrap_pyfunction!(opened::_open, m)?)?;
    m.add_class::<opened::PyDataset>()?;
    m.add_function(wrap_pyfunction!(scan::_scan, m)?)?;
    m.add_function(wrap_pyfunction!(scan::_scan_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(scan::_expand_sources, m)?)?;
    m.add_class::<state::PyMeanState>()?;
    m.add_class::<state::PyMomentsState>()?;
    m.add_function(wrap_pyfunction!(write::_write_ipc, m)?)?;
    m.add_function(wrap_pyfunction!(introspection::_column_buffers, m)?)?;
    m.add_function(wrap_pyfunction!(introspection::_read_ceiling, m)?)?;
    m.add_function(wrap_pyfunction!(introspection::_read_ceiling_kept, m)?)?;
    m.add_function(wrap_pyfunction!(shared_memory::_share, m)?)?;
    m.add_function(wrap_pyfunction!(shared_memory::_attach, m)?)?;
    m.add_class::<shared_memory::SharedTable>()?;
    m.add_function(wrap_pyfunction!(grouped::_group_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(grouped::_merge_group_states, m)?)?;
    m.add_function(wrap_pyfunction!(cli::_main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
