//! `pyre._core`: the PyO3 extension module.
//!
//! Python code reaches Rust only through this module. It exposes the package version
//! (the single source of truth is the workspace's Cargo.toml, which maturin also uses
//! for the distribution's version) and the codec's default limits; the server, ASGI
//! and PSGI objects arrive with their issues.

use pyo3::prelude::*;

/// The module initialiser: `import pyre._core` runs this.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let limits = pyre_net::h1::Limits::default();
    m.add("DEFAULT_MAX_HEAD_BYTES", limits.max_head_bytes)?;
    m.add("DEFAULT_MAX_TARGET_BYTES", limits.max_target_bytes)?;
    m.add("DEFAULT_MAX_HEADERS", limits.max_headers)?;
    Ok(())
}
