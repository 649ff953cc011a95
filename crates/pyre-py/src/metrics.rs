//! The metrics functions of `pyre._core`: adding up snapshots from worker processes
//! and rendering them as Prometheus text. The counting itself and the text format
//! live in pyre-net (`pyre_net::metrics`); the shared memory the snapshots travel
//! through is Python's (`pyre.metrics`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyre_net::metrics::render;
use pyre_net::Snapshot;

fn snapshot(bytes: &[u8]) -> PyResult<Snapshot> {
    Snapshot::from_bytes(bytes).ok_or_else(|| {
        PyValueError::new_err(format!(
            "a metrics snapshot is {} bytes, got {}",
            Snapshot::BYTES,
            bytes.len()
        ))
    })
}

/// The Prometheus text (format 0.0.4) of the sum of `snapshots` (each from
/// `Server.metrics()`, or `retire_metrics`).
#[pyfunction]
pub fn render_metrics(snapshots: Vec<Vec<u8>>) -> PyResult<String> {
    let mut total = Snapshot::default();
    for bytes in &snapshots {
        total.add(&snapshot(bytes)?);
    }
    Ok(render(&total))
}

/// `retired` plus the counters (not the gauges) of `last`, the final snapshot of a
/// worker that exited: so that totals never go backwards when a worker is replaced.
#[pyfunction]
pub fn retire_metrics<'py>(py: Python<'py>, retired: &[u8], last: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut total = snapshot(retired)?;
    total.add_counters(&snapshot(last)?);
    Ok(PyBytes::new(py, &total.to_bytes()))
}
