//! Exceptions raised to applications.

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError};

create_exception!(
    pyre._core,
    ClientDisconnected,
    PyOSError,
    "The client closed the connection; the response cannot be sent."
);

create_exception!(
    pyre._core,
    ProtocolError,
    PyRuntimeError,
    "The application broke the response protocol: responded twice, wrote after\n\
     finishing, or sent a body that does not match its declared length."
);

create_exception!(
    pyre._core,
    WebSocketDisconnect,
    ClientDisconnected,
    "The WebSocket is closed: the peer closed it (`code`, `reason`), the connection\n\
     dropped (code 1006), or the application already closed it."
);

/// A `WebSocketDisconnect` carrying `code` and `reason` as attributes.
pub fn websocket_disconnect(py: pyo3::Python<'_>, code: u16, reason: &str) -> pyo3::PyErr {
    use pyo3::prelude::*;
    let error = WebSocketDisconnect::new_err((code, reason.to_string()));
    let value = error.value(py);
    let _ = value.setattr("code", code);
    let _ = value.setattr("reason", reason);
    error
}
