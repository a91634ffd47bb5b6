//! Python bindings of mapmean: thin wrappers that convert arguments, release
//! the GIL around the engine, and map [`mapmean::Error`] to the exceptions
//! Python users expect. No Rust panic crosses into Python: every entry point
//! runs under [`catch_panic`].
//!
//! The public Python API (`mapmean.mean`, `mapmean.write_ipc`) lives in
//! `python/mapmean/__init__.py`, which dispatches on the kind of source and
//! calls the private functions here.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float32Array, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType};
use mapmean::engine::{self, Part};
use mapmean::error::catch_panic;
use mapmean::ipc::{write::write_batches, IpcFormat};
use mapmean::kernel::blocks::BLOCK;
use mapmean::results::{self, ResultRow};
use mapmean::source::{SharedSegment, Source};
use mapmean::{Error, Float32Column, MeanOptions, MeanState};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyKeyError, PyOSError,
    PyOverflowError, PyPermissionError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::{AnyArray, AnyRecordBatch};
use pyo3_arrow::{PyRecordBatch, PyTable};

/// Maps a library error to the Python exception users expect.
fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::NotFound { .. } => PyFileNotFoundError::new_err(message),
        Error::AlreadyExists { .. } => PyFileExistsError::new_err(message),
        Error::Truncated { .. } => PyOSError::new_err(message),
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        Error::ColumnNotFound { .. } => PyKeyError::new_err(message),
        Error::WrongType { .. } => PyTypeError::new_err(message),
        Error::Corrupt { .. }
        | Error::AmbiguousColumn { .. }
        | Error::InvalidArgument(_)
        | Error::InvalidState { .. } => PyValueError::new_err(message),
        Error::StateOverflow { .. } => PyOverflowError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

fn options(skip_nulls: bool, min_count: i64) -> PyResult<MeanOptions> {
    let min_count = u64::try_from(min_count)
        .map_err(|_| PyValueError::new_err(format!("min_count must be >= 0, got {min_count}")))?;
    Ok(MeanOptions {
        skip_nulls,
        min_count,
    })
}

fn threads(threads: Option<i64>) -> PyResult<Option<usize>> {
    threads
        .map(|t| {
            usize::try_from(t)
                .ok()
                .filter(|&t| t >= 1)
                .ok_or_else(|| PyValueError::new_err(format!("threads must be >= 1, got {t}")))
        })
        .transpose()
}

/// Runs `f` without the GIL and with panics turned into errors.
fn compute<T: Send>(py: Python<'_>, f: impl FnOnce() -> mapmean::Result<T> + Send) -> PyResult<T> {
    py.detach(|| catch_panic(f)).map_err(to_py)
}

/// State of a column of the Arrow IPC file or stream at `path` (or
/// `shm://NAME`).
#[pyfunction]
#[pyo3(signature = (path, column, threads))]
fn _state_path(
    py: Python<'_>,
    path: PathBuf,
    column: Option<String>,
    threads: Option<i64>,
) -> PyResult<PyMeanState> {
    let threads = self::threads(threads)?;
    let state = compute(py, || {
        engine::state_of_file(&path, column.as_deref(), threads)
    })?;
    Ok(PyMeanState { inner: state })
}

/// State of a column of any object with the Arrow PyCapsule interface.
#[pyfunction]
#[pyo3(signature = (source, column, threads))]
fn _state_arrow(
    py: Python<'_>,
    source: AnyArray,
    column: Option<String>,
    threads: Option<i64>,
) -> PyResult<PyMeanState> {
    let threads = self::threads(threads)?;
    let reader = source.into_reader()?;
    let field = reader.field();
    let arrays = reader
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(format!("reading the Arrow stream: {e}")))?;
    let state = compute(py, || {
        let column = column_of_arrays(&arrays, field.data_type(), field.name(), column.as_deref())?;
        engine::state_of_arrays(column.chunks(), threads)
    })?;
    Ok(PyMeanState { inner: state })
}

/// The Float32 column `wanted` of imported arrays: the arrays themselves when
/// they are Float32, or a child when they are structs (record batches).
fn column_of_arrays(
    arrays: &[ArrayRef],
    data_type: &DataType,
    name: &str,
    wanted: Option<&str>,
) -> mapmean::Result<Float32Column> {
    const SOURCE: &str = "Arrow data";
    match data_type {
        DataType::Struct(fields) => {
            let schema = arrow_schema::Schema::new(fields.clone());
            let index = mapmean::column::resolve_column(&schema, wanted, SOURCE)?;
            let chunks = arrays
                .iter()
                .map(|array| {
                    let array = array.as_struct();
                    let child = array
                        .column(index)
                        .as_primitive::<arrow_array::types::Float32Type>();
                    // A null struct slot nulls its child too.
                    let nulls = NullBuffer::union(array.nulls(), child.nulls());
                    Float32Array::new(child.values().clone(), nulls)
                })
                .collect();
            Ok(Float32Column::new(fields[index].name().clone(), chunks))
        }
        DataType::Float32 => {
            if let Some(wanted) = wanted.filter(|w| *w != name) {
                return Err(Error::ColumnNotFound {
                    source_name: SOURCE.into(),
                    column: wanted.into(),
                    available: format!("{name}: Float32 (a single array)"),
                });
            }
            let chunks = arrays.iter().map(|a| a.as_primitive().clone()).collect();
            Ok(Float32Column::new(name.to_string(), chunks))
        }
        other => Err(Error::WrongType {
            source_name: SOURCE.into(),
            column: name.to_string(),
            data_type: other.to_string(),
        }),
    }
}

/// State of a float32 object with the buffer protocol (a numpy array of any
/// shape and strides), read in place.
#[pyfunction]
#[pyo3(signature = (source, threads))]
fn _state_buffer(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    threads: Option<i64>,
) -> PyResult<PyMeanState> {
    let threads = self::threads(threads)?;
    let buffer = PyUntypedBuffer::get(source)?;
    let format = buffer.format().to_string_lossy().into_owned();
    if buffer.item_size() != 4 || !matches!(format.as_str(), "f" | "<f" | "=f" | "@f") {
        return Err(PyTypeError::new_err(format!(
            "mapmean needs float32 values, got buffer format {format:?} of {} bytes",
            buffer.item_size()
        )));
    }
    let shape = buffer.shape().to_vec();
    let strides = buffer.strides().to_vec();
    let base = buffer.buf_ptr() as usize;
    let state = compute(py, move || strided_state(base, &shape, &strides, threads));
    drop(buffer); // only now may the exporter move or free the memory
    Ok(PyMeanState { inner: state? })
}

/// The state of `shape`-shaped float32 data at address `base` with byte
/// `strides`, as a buffer-protocol exporter describes it.
fn strided_state(
    base: usize,
    shape: &[usize],
    strides: &[isize],
    threads: Option<usize>,
) -> mapmean::Result<MeanState> {
    let count: usize = shape.iter().product();
    if count == 0 {
        return Ok(MeanState::default());
    }
    let contiguous = {
        let mut expected = 4isize;
        shape.iter().zip(strides).rev().all(|(&n, &s)| {
            let ok = n == 1 || s == expected;
            expected *= n as isize;
            ok
        })
    };
    if contiguous && base.is_multiple_of(std::mem::align_of::<f32>()) {
        // SAFETY: the exporter guarantees `count` float32 items laid out
        // contiguously from `base` (checked above: C order, item size 4, and
        // aligned), and the caller holds the buffer (PyBuffer) for as long as
        // this slice is used, which pins the memory.
        let values = unsafe { std::slice::from_raw_parts(base as *const f32, count) };
        let parts: [Part<'_>; 1] = [(values, None)];
        return engine::state_of_parts(&parts, threads);
    }
    // Strided: gather one L1-sized block at a time, reading each item with an
    // unaligned load; no copy of the whole array is made.
    let mut state = MeanState::default();
    let mut block = Vec::with_capacity(BLOCK);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let offset: isize = index
            .iter()
            .zip(strides)
            .map(|(&i, &s)| i as isize * s)
            .sum();
        // SAFETY: `index` stays inside `shape`, so `base + offset` is the
        // address of an item of the exporter's buffer, which the caller holds.
        let value = unsafe { std::ptr::read_unaligned((base as isize + offset) as *const f32) };
        block.push(value);
        if block.len() == BLOCK {
            state.update_values(&block, None)?;
            block.clear();
        }
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    state.update_values(&block, None)?;
    Ok(state)
}

/// Writes record batches (any Arrow PyCapsule object with a struct schema) as
/// an IPC file or stream with 64-byte aligned buffers.
#[pyfunction]
#[pyo3(signature = (path, data, format))]
fn _write_ipc(py: Python<'_>, path: PathBuf, data: AnyRecordBatch, format: &str) -> PyResult<()> {
    let format = match format {
        "file" => IpcFormat::File,
        "stream" => IpcFormat::Stream,
        other => {
            return Err(PyValueError::new_err(format!(
                "format must be 'file' or 'stream', got {other:?}"
            )))
        }
    };
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    compute(py, || {
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        write_batches(BufWriter::new(file), &schema, &batches, format)
    })
}

/// Where the decoded buffers of a file's column lie, to check zero copy:
/// `{"map_start", "map_len", "batches": [{"values_addr", "values_len",
/// "validity_addr"}]}`.
#[pyfunction]
#[pyo3(signature = (path, column=None))]
fn _column_buffers<'py>(
    py: Python<'py>,
    path: PathBuf,
    column: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let (range, column) = compute(py, || {
        let source = Source::open(&path)?;
        let data = mapmean::ipc::IpcData::open(source.buffer().clone(), source.name())?;
        let start = source.buffer().as_ptr() as usize;
        Ok((
            start..start + source.buffer().len(),
            data.float32_column(column.as_deref())?,
        ))
    })?;
    let out = PyDict::new(py);
    out.set_item("map_start", range.start)?;
    out.set_item("map_len", range.len())?;
    let batches = column
        .chunks()
        .iter()
        .map(|chunk| {
            let batch = PyDict::new(py);
            batch.set_item("values_addr", chunk.values().as_ptr() as usize)?;
            batch.set_item("values_len", chunk.values().inner().len())?;
            batch.set_item(
                "validity_addr",
                chunk.nulls().map(|n| n.buffer().as_ptr() as usize),
            )?;
            Ok(batch)
        })
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("batches", batches)?;
    Ok(out)
}

/// The read-bandwidth ceiling for benchmarks: maps the file at `path` as
/// `mean` does and sums its bytes as `u64` words on `threads` threads.
#[pyfunction]
#[pyo3(signature = (path, threads=None))]
fn _read_ceiling(py: Python<'_>, path: PathBuf, threads: Option<i64>) -> PyResult<u64> {
    let threads = self::threads(threads)?;
    compute(py, || {
        let source = Source::open(&path)?;
        mapmean::ceiling::sum_words(source.buffer().as_slice(), threads)
    })
}

/// A shared-memory segment holding an Arrow IPC file image; see
/// `mapmean.share` and `mapmean.attach`.
#[pyclass(module = "mapmean._mapmean")]
struct SharedTable {
    name: String,
    nbytes: usize,
    owner: bool,
    unlinked: bool,
    segment: Option<SharedSegment>,
}

#[pymethods]
impl SharedTable {
    /// The segment's name (use it as ``"shm://" + name`` from other processes).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Size of the segment in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Whether this object created the segment (and unlinks it on exit).
    #[getter]
    fn owner(&self) -> bool {
        self.owner
    }

    /// Whether ``close`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.segment.is_none()
    }

    /// Unmaps the segment from this process (arrays already computed from it
    /// keep their own reference). Idempotent.
    fn close(&mut self) {
        self.segment = None;
    }

    /// Removes the segment's name: no new reader can attach; existing
    /// mappings stay valid until closed. Raises FileNotFoundError if the name
    /// is already gone.
    fn unlink(&mut self) -> PyResult<()> {
        mapmean::source::shm::unlink(&self.name).map_err(to_py)?;
        self.unlinked = true;
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes; the owner also unlinks (if not done already).
    fn __exit__(
        &mut self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close();
        if self.owner && !self.unlinked {
            self.unlink()?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "SharedTable(name={:?}, nbytes={}, owner={}, closed={})",
            self.name,
            self.nbytes,
            if self.owner { "True" } else { "False" },
            if self.segment.is_none() {
                "True"
            } else {
                "False"
            }
        )
    }

    /// State of a column of the segment (see ``mapmean.mean_state``).
    #[pyo3(signature = (column, threads))]
    fn _state(
        &self,
        py: Python<'_>,
        column: Option<String>,
        threads: Option<i64>,
    ) -> PyResult<PyMeanState> {
        let threads = self::threads(threads)?;
        let segment = self.segment.clone().ok_or_else(|| {
            PyValueError::new_err(format!("SharedTable {:?} is closed", self.name))
        })?;
        let state = compute(py, || {
            let data =
                mapmean::ipc::IpcData::open(segment.buffer().clone(), &segment.source_name())?;
            engine::state_of_arrays(data.float32_column(column.as_deref())?.chunks(), threads)
        })?;
        Ok(PyMeanState { inner: state })
    }
}

impl SharedTable {
    fn new(segment: SharedSegment, owner: bool) -> Self {
        SharedTable {
            name: segment.name().to_string(),
            nbytes: segment.buffer().len(),
            owner,
            unlinked: false,
            segment: Some(segment),
        }
    }
}

/// Creates the segment `name` (random if None) holding `data`'s batches.
#[pyfunction]
#[pyo3(signature = (name, data))]
fn _share(py: Python<'_>, name: Option<String>, data: AnyRecordBatch) -> PyResult<SharedTable> {
    let reader = data.into_reader()?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, ArrowError>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let name = name.unwrap_or_else(SharedSegment::random_name);
    let segment = compute(py, || {
        SharedSegment::create_with_batches(&name, &schema, &batches)
    })?;
    Ok(SharedTable::new(segment, true))
}

/// Maps the existing segment `name` read-only.
#[pyfunction]
fn _attach(py: Python<'_>, name: String) -> PyResult<SharedTable> {
    let segment = compute(py, || SharedSegment::open(&name))?;
    Ok(SharedTable::new(segment, false))
}

/// The exact, mergeable state of a mean (see the Python docstring in
/// `mapmean/__init__.pyi`).
#[pyclass(module = "mapmean._mapmean", name = "MeanState", eq)]
#[derive(Clone, PartialEq)]
struct PyMeanState {
    inner: MeanState,
}

#[pymethods]
impl PyMeanState {
    /// An empty state, or one restored from ``to_bytes()``.
    #[new]
    #[pyo3(signature = (state=None))]
    fn new(state: Option<&[u8]>) -> PyResult<Self> {
        let Some(bytes) = state else {
            return Ok(PyMeanState {
                inner: MeanState::default(),
            });
        };
        let inner = MeanState::from_bytes(bytes).map_err(to_py)?;
        Ok(PyMeanState { inner })
    }

    /// The serialised state (`MeanState::to_bytes`), for storage or transport.
    fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes().to_vec()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Vec<u8>,))> {
        Ok((slf.get_type().into_any(), (slf.borrow().to_bytes(),)))
    }

    /// Valid values (NaN and infinities included).
    #[getter]
    fn count(&self) -> u64 {
        self.inner.count
    }

    /// Null values.
    #[getter]
    fn null_count(&self) -> u64 {
        self.inner.null_count
    }

    /// Valid NaN values.
    #[getter]
    fn nan_count(&self) -> u64 {
        self.inner.nan_count
    }

    /// Valid +inf values.
    #[getter]
    fn pos_inf_count(&self) -> u64 {
        self.inner.pos_inf_count
    }

    /// Valid -inf values.
    #[getter]
    fn neg_inf_count(&self) -> u64 {
        self.inner.neg_inf_count
    }

    /// Adds another state into this one, exactly.
    fn merge(&mut self, other: &PyMeanState) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(to_py)
    }

    /// The mean under pyarrow's rules, or None where it is null.
    #[pyo3(signature = (*, skip_nulls=true, min_count=1))]
    fn finish(&self, skip_nulls: bool, min_count: i64) -> PyResult<Option<f64>> {
        Ok(self.inner.finish_with(&options(skip_nulls, min_count)?))
    }

    /// The state as a one-row ``pyarrow.RecordBatch`` (column, count,
    /// null_count, nan_count, mean).
    #[pyo3(signature = (column="values", *, skip_nulls=true, min_count=1))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        column: &str,
        skip_nulls: bool,
        min_count: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let row = ResultRow {
            source: None,
            column: column.to_string(),
            state: self.inner,
        };
        let batch = results::to_record_batch(&[row], &options(skip_nulls, min_count)?);
        PyRecordBatch::new(batch).into_pyarrow(py)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        let mean = s.finish().map_or("None".to_string(), |m| format!("{m:?}"));
        format!(
            "MeanState(count={}, null_count={}, nan_count={}, mean={mean})",
            s.count, s.null_count, s.nan_count
        )
    }
}

/// Scans many sources; returns a pyarrow Table of rows.
#[pyfunction]
#[pyo3(signature = (sources, columns, by_source, threads, progress))]
fn _scan<'py>(
    py: Python<'py>,
    sources: Vec<PathBuf>,
    columns: Option<Vec<String>>,
    by_source: bool,
    threads: Option<i64>,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let threads = self::threads(threads)?;
    let specs: Vec<std::ffi::OsString> = sources.into_iter().map(|p| p.into_os_string()).collect();
    let rows = compute(py, || {
        let sources = mapmean::dataset::expand(&specs)?;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(sources.len() as u64),
            if progress {
                indicatif::ProgressDrawTarget::stderr()
            } else {
                indicatif::ProgressDrawTarget::hidden()
            },
        );
        let scanned = mapmean::dataset::scan(
            &sources,
            columns.as_deref(),
            threads,
            mapmean::dataset::OnError::Stop,
            &|| bar.inc(1),
        );
        bar.finish_and_clear();
        let scanned = scanned?;
        if scanned.states.is_empty() {
            return Ok(Vec::new());
        }
        mapmean::dataset::combine(&scanned.states, by_source)
    })?;
    let batches = match rows.is_empty() {
        true => vec![],
        false => vec![results::to_record_batch(&rows, &MeanOptions::default())],
    };
    PyTable::try_new(batches, results::schema(by_source))?.into_pyarrow(py)
}

/// The compiled half of the `mapmean` package.
#[pymodule]
fn _mapmean(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Every entry point catches panics and raises them as exceptions that
    // carry the panic's message; keep the default hook from also printing
    // "thread panicked at" on the user's stderr.
    std::panic::set_hook(Box::new(|_| {}));
    m.add_function(wrap_pyfunction!(_state_path, m)?)?;
    m.add_function(wrap_pyfunction!(_state_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(_state_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(_scan, m)?)?;
    m.add_class::<PyMeanState>()?;
    m.add_function(wrap_pyfunction!(_write_ipc, m)?)?;
    m.add_function(wrap_pyfunction!(_column_buffers, m)?)?;
    m.add_function(wrap_pyfunction!(_read_ceiling, m)?)?;
    m.add_function(wrap_pyfunction!(_share, m)?)?;
    m.add_function(wrap_pyfunction!(_attach, m)?)?;
    m.add_class::<SharedTable>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
