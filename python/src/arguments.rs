//! Checks of the numeric arguments Python passes as plain integers, with the
//! messages (ValueError) that the Python API documents.

use mapmean::kernel::StatisticOptions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The options of `finish`: `min_count` must be non-negative.
/// The options of a statistic: `min_count >= 0`, `ddof` within a 32-bit
/// int (pyarrow's), else ValueError.
pub fn options(skip_nulls: bool, min_count: i64, ddof: i64) -> PyResult<StatisticOptions> {
    let min_count = u64::try_from(min_count)
        .map_err(|_| PyValueError::new_err(format!("min_count must be >= 0, got {min_count}")))?;
    if i32::try_from(ddof).is_err() {
        return Err(PyValueError::new_err(format!(
            "ddof must fit a 32-bit int, got {ddof}"
        )));
    }
    Ok(StatisticOptions {
        skip_nulls,
        min_count,
        ddof,
    })
}

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
