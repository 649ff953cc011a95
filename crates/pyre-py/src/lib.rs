//! `pyre._core`: the PyO3 extension module.
//!
//! Python code reaches Rust only through this module: the [`Server`] (the runtime
//! bound to an asyncio loop and an application), the per-request [`Channel`] (ASGI
//! `receive`/`send`), PSGI's `Request`/`Responder` ([`psgi`]), `ClientDisconnected`
//! and `ProtocolError`, and the HTTP client's runtime ([`client::ClientCore`]). The
//! package version's single source is the workspace Cargo.toml, which maturin also uses for the distribution.

mod channel;
mod client;
mod errors;
mod psgi;
mod router;
mod scope;
mod server;

use pyo3::prelude::*;

/// The module initialiser: `import pyre._core` runs this.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let limits = pyre_net::h1::Limits::default();
    m.add("DEFAULT_MAX_HEAD_BYTES", limits.max_head_bytes)?;
    m.add("DEFAULT_MAX_TARGET_BYTES", limits.max_target_bytes)?;
    m.add("DEFAULT_MAX_HEADERS", limits.max_headers)?;
    m.add_class::<server::Server>()?;
    m.add_class::<channel::Channel>()?;
    m.add_class::<client::ClientCore>()?;
    m.add_class::<router::Router>()?;
    m.add_class::<psgi::Request>()?;
    m.add_class::<psgi::Headers>()?;
    m.add_class::<psgi::BodyStream>()?;
    m.add_class::<psgi::Responder>()?;
    m.add_class::<psgi::ResponseStream>()?;
    m.add("ProtocolError", m.py().get_type::<errors::ProtocolError>())?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<errors::ClientDisconnected>(),
    )?;
    Ok(())
}
