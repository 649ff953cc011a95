//! Exceptions raised to applications.

use pyo3::create_exception;
use pyo3::exceptions::PyOSError;

create_exception!(
    pyre._core,
    ClientDisconnected,
    PyOSError,
    "The client closed the connection; the response cannot be sent."
);
