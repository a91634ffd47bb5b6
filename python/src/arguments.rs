//! Checks of the numeric arguments Python passes as plain integers, with the
//! messages (ValueError) that the Python API documents.

use mapmean::MeanOptions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The options of `finish`: `min_count` must be non-negative.
pub fn options(skip_nulls: bool, min_count: i64) -> PyResult<MeanOptions> {
    let min_count = u64::try_from(min_count)
        .map_err(|_| PyValueError::new_err(format!("min_count must be >= 0, got {min_count}")))?;
    Ok(MeanOptions {
        skip_nulls,
        min_count,
    })
}

/// A thread count: None (all cores) or at least 1.
pub fn threads(threads: Option<i64>) -> PyResult<Option<usize>> {
    threads
        .map(|t| {
            usize::try_from(t)
                .ok()
                .filter(|&t| t >= 1)
                .ok_or_else(|| PyValueError::new_err(format!("threads must be >= 1, got {t}")))
        })
        .transpose()
}
