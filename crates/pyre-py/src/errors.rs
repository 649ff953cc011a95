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
