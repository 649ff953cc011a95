//! `pyre._core`: the PyO3 extension module.
//!
//! Python code reaches Rust only through this module: the [`Server`] (the runtime
//! bound to an asyncio loop and an application), the per-request [`Channel`] (ASGI
//! `receive`/`send`), PSGI's `Request`/`Responder` ([`psgi`]), `ClientDisconnected`
//! and `ProtocolError`, the metrics functions ([`metrics`]) and the HTTP client's
//! runtime ([`client::ClientCore`]). The package version's single source is the
//! workspace Cargo.toml, which maturin also uses for the distribution.

mod channel;
mod client;
mod errors;
mod metrics;
mod psgi;
mod router;
mod scope;
mod server;
mod stepping;
mod tls;

use pyo3::prelude::*;

/// Raises ValueError, naming the problem, if `spec` is not a valid access log
/// format (an unknown `{field}`, an unclosed brace).
#[pyfunction]
fn check_access_log_format(spec: &str) -> PyResult<()> {
    server::compile_format(spec).map(|_| ())
}

/// The names of the access log's fields, in the order records carry them.
fn access_log_fields() -> Vec<&'static str> {
    pyre_net::access_log::Field::ALL
        .iter()
        .map(|f| f.name())
        .collect()
}

/// The module initialiser: `import pyre._core` runs this.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let limits = pyre_net::h1::Limits::default();
    m.add("DEFAULT_MAX_HEAD_BYTES", limits.max_head_bytes)?;
    m.add("DEFAULT_MAX_TARGET_BYTES", limits.max_target_bytes)?;
    m.add("DEFAULT_MAX_HEADERS", limits.max_headers)?;
    m.add("METRICS_SNAPSHOT_BYTES", pyre_net::Snapshot::BYTES)?;
    m.add_function(wrap_pyfunction!(metrics::render_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::retire_metrics, m)?)?;
    m.add_class::<server::Server>()?;
    m.add_class::<tls::TlsConfig>()?;
    m.add_class::<channel::Channel>()?;
    m.add_class::<stepping::RequestTask>()?;
    m.add_class::<client::ClientCore>()?;
    m.add_class::<client::ClientTlsConfig>()?;
    m.add_class::<router::Router>()?;
    m.add_class::<psgi::Request>()?;
    m.add_class::<psgi::Headers>()?;
    m.add_class::<psgi::BodyStream>()?;
    m.add_class::<psgi::Responder>()?;
    m.add_class::<psgi::ResponseStream>()?;
    m.add_class::<channel::websocket::WebSocket>()?;
    m.add(
        "DEFAULT_ACCESS_LOG_FORMAT",
        pyre_net::access_log::DEFAULT_ACCESS_LOG_FORMAT,
    )?;
    m.add("ACCESS_LOG_FIELDS", access_log_fields())?;
    m.add_function(wrap_pyfunction!(check_access_log_format, m)?)?;
    m.add("ProtocolError", m.py().get_type::<errors::ProtocolError>())?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<errors::ClientDisconnected>(),
    )?;
    m.add(
        "WebSocketDisconnect",
        m.py().get_type::<errors::WebSocketDisconnect>(),
    )?;
    Ok(())
}
