//! `pyre._core.ClientCore`: the client runtime (pyre-net) bound to an asyncio loop;
//! `pyre.client` builds the pool, timeouts and the public API on it.
//!
//! How it works: Python registers [`ClientCore::on_ready`] with `loop.add_reader` on
//! the poll's fd. Every call that may have to wait returns an asyncio future: created
//! done when the answer is available now (awaiting it does not suspend), otherwise
//! pending and remembered as the connection's one waiter, with the runtime asked to
//! report that connection's next change. `on_ready` does the ready I/O, then retries
//! each reported waiter and resolves its future with the result or the error.
//! A waiter whose future was cancelled (a timeout) is dropped when next looked at.
//!
//! Errors are raised as the exception classes `pyre.client` passes in, one per
//! [`ErrorKind`], so the hierarchy lives in Python.
//!
//! TLS settings become a [`ClientTlsConfig`] once per client (one rustls
//! configuration, shared by all its `https` connections); `connect` takes it.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use pyre_net::client::{
    BodyRead, ClientConfig, ClientError, ClientRuntime, ErrorKind, Flow, Phase, ReceivedHead, TlsConfig,
    TlsConfigError, TlsSettings, Verify,
};
use pyre_net::h1::{Framing, RequestBody};

/// What a connection's waiter waits for.
enum Want {
    Connect,
    Drain,
    /// The response head (and, with `whole`, the body gathered in `body`).
    Response {
        whole: bool,
        head: Option<Py<PyTuple>>,
        body: Vec<u8>,
    },
    /// The next piece of body bytes (`b""` at the end).
    Piece,
}

struct Waiter {
    future: Py<PyAny>,
    want: Want,
}

/// The exception classes as Python passes them: connect, protocol, read, write,
/// invalid, TLS, certificate.
type ErrorClasses = (
    Py<PyAny>,
    Py<PyAny>,
    Py<PyAny>,
    Py<PyAny>,
    Py<PyAny>,
    Py<PyAny>,
    Py<PyAny>,
);

/// The exception classes, by [`ErrorKind`].
struct ErrorTypes {
    connect: Py<PyAny>,
    protocol: Py<PyAny>,
    read: Py<PyAny>,
    write: Py<PyAny>,
    invalid: Py<PyAny>,
    tls: Py<PyAny>,
    certificate: Py<PyAny>,
}

/// A client's TLS settings as one rustls configuration: how the server's
/// certificate is verified, and the client certificate, if any.
#[pyclass(frozen, module = "pyre._core")]
pub struct ClientTlsConfig {
    config: TlsConfig,
}

#[pymethods]
impl ClientTlsConfig {
    /// `verify`: False disables verification (dangerous); otherwise the server's
    /// certificate is checked against `ca_file` (a PEM bundle), or `ca_certs` (DER
    /// certificates), or else the Mozilla roots compiled in (webpki-roots).
    /// `cert_file`/`key_file`: a client certificate chain and its key (PEM).
    #[new]
    #[pyo3(signature = (*, verify = true, ca_file = None, ca_certs = None, cert_file = None, key_file = None))]
    fn new(
        verify: bool,
        ca_file: Option<PathBuf>,
        ca_certs: Option<Vec<Vec<u8>>>,
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
    ) -> PyResult<Self> {
        let verify = match (verify, ca_file, ca_certs) {
            (false, _, _) => Verify::Off,
            (true, Some(path), _) => Verify::CaFile(path),
            (true, None, Some(certs)) => Verify::CaDer(certs),
            (true, None, None) => Verify::WebPkiRoots,
        };
        let client_cert = match (cert_file, key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "a client certificate needs both cert_file and key_file",
                ))
            }
        };
        let config = TlsConfig::new(&TlsSettings { verify, client_cert }).map_err(|e| match &e {
            TlsConfigError::File { error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
                PyFileNotFoundError::new_err(e.to_string())
            }
            TlsConfigError::File { .. } => PyOSError::new_err(e.to_string()),
            TlsConfigError::Invalid(_) => PyValueError::new_err(e.to_string()),
        })?;
        Ok(ClientTlsConfig { config })
    }
}

// Not `unsendable`: a Client left to the garbage collector may be collected on any
// thread (a cycle through an exception's traceback, collected where the next
// allocation happens), and an unsendable object dropped there would be leaked with
// its poll and sockets. The mutexes are never contended (every call holds the GIL)
// and are held only inside one method.
#[pyclass(module = "pyre._core")]
pub struct ClientCore {
    net: Mutex<ClientRuntime>,
    waiters: Mutex<HashMap<usize, Waiter>>,
    create_future: Py<PyAny>,
    errors: ErrorTypes,
    piece_max: usize,
}

impl ClientCore {
    /// The runtime, locked for the rest of the statement (or of the binding).
    fn net(&self) -> MutexGuard<'_, ClientRuntime> {
        self.net.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<usize, Waiter>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, py: Python<'_>, error: &ClientError) -> PyErr {
        let kind = match error.kind {
            ErrorKind::Connect => &self.errors.connect,
            ErrorKind::Protocol => &self.errors.protocol,
            ErrorKind::Read => &self.errors.read,
            ErrorKind::Write => &self.errors.write,
            ErrorKind::Invalid => &self.errors.invalid,
            ErrorKind::Tls => &self.errors.tls,
            ErrorKind::Certificate => &self.errors.certificate,
        };
        match kind.bind(py).call1((error.message.as_str(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    }

    fn future<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.create_future.bind(py).call0()
    }

    /// Tries what `want` waits for: `Some(value)` when done, `None` to keep waiting.
    fn attempt(&self, py: Python<'_>, id: usize, want: &mut Want) -> PyResult<Option<Py<PyAny>>> {
        let mut net = self.net();
        match want {
            Want::Connect => match net.phase(id) {
                Some(Phase::Connecting | Phase::Handshaking) => Ok(None),
                Some(Phase::Failed) => {
                    Err(self.error(py, net.error(id).expect("a failed connection has an error")))
                }
                Some(_) => Ok(Some(py.None())),
                None => Err(PyOSError::new_err("the connection is closed")),
            },
            Want::Drain => match net.drained(id) {
                Ok(true) => Ok(Some(py.None())),
                Ok(false) => Ok(None),
                Err(e) => Err(self.error(py, &e)),
            },
            Want::Piece => {
                // One decoded range (the common case: a Content-Length or
                // close-delimited body) becomes the bytes object directly; only
                // several (chunked) are gathered first.
                let mut first: Option<Bound<'_, PyBytes>> = None;
                let mut gathered = Vec::new();
                let mut sink = |data: &[u8]| {
                    if first.is_none() && gathered.is_empty() {
                        first = Some(PyBytes::new(py, data));
                    } else {
                        if let Some(bytes) = first.take() {
                            gathered.extend_from_slice(bytes.as_bytes());
                        }
                        gathered.extend_from_slice(data);
                    }
                };
                let mut read = net.read_body_with(id, self.piece_max, &mut sink);
                if let Ok(BodyRead::Pending) = read {
                    // Nothing buffered: the bytes may be in the kernel already.
                    net.try_read(id);
                    read = net.read_body_with(id, self.piece_max, &mut sink);
                }
                let piece = move || match first {
                    Some(bytes) => bytes.into_any().unbind(),
                    None => PyBytes::new(py, &gathered).into_any().unbind(),
                };
                match read {
                    Ok(BodyRead::Data { .. }) => Ok(Some(piece())),
                    Ok(BodyRead::Done) => Ok(Some(PyBytes::new(py, b"").into_any().unbind())),
                    Ok(BodyRead::Pending) => Ok(None),
                    Err(e) => Err(self.error(py, &e)),
                }
            }
            Want::Response { whole, head, body } => {
                if head.is_none() {
                    match net.head(id) {
                        Ok(Some(received)) => {
                            if let Framing::Length(n) = received.head.framing {
                                body.reserve(n.min(64 << 20) as usize);
                            }
                            *head = Some(head_tuple(py, received)?);
                        }
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(self.error(py, &e)),
                    }
                }
                if !*whole {
                    let head = head.as_ref().expect("set above").clone_ref(py);
                    return Ok(Some(head.into_any()));
                }
                loop {
                    match net.read_body(id, body, usize::MAX) {
                        Ok(BodyRead::Data { more: true }) => {}
                        Ok(BodyRead::Data { more: false } | BodyRead::Done) => break,
                        Ok(BodyRead::Pending) => return Ok(None),
                        Err(e) => return Err(self.error(py, &e)),
                    }
                }
                let head = head.as_ref().expect("set above").bind(py);
                let result = PyTuple::new(py, [head.as_any().clone(), PyBytes::new(py, body).into_any()])?;
                Ok(Some(result.into_any().unbind()))
            }
        }
    }

    /// A future for `want` on connection `id`: done at once when possible.
    fn wait(&self, py: Python<'_>, id: usize, mut want: Want) -> PyResult<Py<PyAny>> {
        let future = self.future(py)?;
        match self.attempt(py, id, &mut want) {
            Ok(Some(value)) => {
                future.call_method1(intern!(py, "set_result"), (value,))?;
            }
            Ok(None) => {
                self.net().notify(id);
                let waiter = Waiter {
                    future: future.clone().unbind(),
                    want,
                };
                self.waiters().insert(id, waiter);
            }
            Err(error) => {
                future.call_method1(intern!(py, "set_exception"), (error.into_value(py),))?;
            }
        }
        Ok(future.unbind())
    }

    /// Retries the waiter of a connection the runtime reported.
    fn settle(&self, py: Python<'_>, id: usize) -> PyResult<()> {
        let Some(mut waiter) = self.waiters().remove(&id) else {
            return Ok(());
        };
        let future = waiter.future.bind(py);
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        match self.attempt(py, id, &mut waiter.want) {
            Ok(Some(value)) => {
                future.call_method1(intern!(py, "set_result"), (value,))?;
            }
            Ok(None) => {
                self.net().notify(id);
                self.waiters().insert(id, waiter);
            }
            Err(error) => {
                future.call_method1(intern!(py, "set_exception"), (error.into_value(py),))?;
            }
        }
        Ok(())
    }

    fn flow(&self, py: Python<'_>, flow: Result<Flow, ClientError>) -> PyResult<bool> {
        match flow {
            Ok(Flow::Ready) => Ok(false),
            Ok(Flow::Wait) => Ok(true),
            Err(e) => Err(self.error(py, &e)),
        }
    }
}

/// `(status, reason, http_version, [(name, value), ...])` of a received head.
fn head_tuple(py: Python<'_>, received: &ReceivedHead) -> PyResult<Py<PyTuple>> {
    let (head, buf) = (&received.head, &received.bytes[..]);
    let headers = PyList::empty(py);
    for field in &head.headers {
        let pair = (
            PyBytes::new(py, field.name.get(buf)),
            PyBytes::new(py, field.value.get(buf)),
        );
        headers.append(pair)?;
    }
    let tuple = (
        head.status,
        PyBytes::new(py, head.reason.get(buf)),
        head.version.as_str(),
        headers,
    );
    Ok(tuple.into_pyobject(py)?.unbind())
}

#[pymethods]
impl ClientCore {
    /// `errors` are the exception classes for connect, protocol, read, write,
    /// invalid-request, TLS and certificate failures, in that order.
    #[new]
    #[pyo3(signature = (event_loop, errors, *, read_high_water = 262144, write_high_water = 65536,
                        write_low_water = 16384, max_head_bytes = 65536, max_headers = 100))]
    fn new(
        event_loop: &Bound<'_, PyAny>,
        errors: ErrorClasses,
        read_high_water: usize,
        write_high_water: usize,
        write_low_water: usize,
        max_head_bytes: usize,
        max_headers: usize,
    ) -> PyResult<Self> {
        if read_high_water == 0 || write_high_water == 0 || write_low_water > write_high_water {
            return Err(PyValueError::new_err(
                "water marks must be positive, and the low one at most the high one",
            ));
        }
        let mut config = ClientConfig {
            read_high_water,
            write_high_water,
            write_low_water,
            ..ClientConfig::default()
        };
        config.limits.max_head_bytes = max_head_bytes;
        config.limits.max_headers = max_headers;
        let net = ClientRuntime::new(config).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let (connect, protocol, read, write, invalid, tls, certificate) = errors;
        Ok(ClientCore {
            net: Mutex::new(net),
            waiters: Mutex::new(HashMap::new()),
            create_future: event_loop.getattr("create_future")?.unbind(),
            errors: ErrorTypes {
                connect,
                protocol,
                read,
                write,
                invalid,
                tls,
                certificate,
            },
            piece_max: read_high_water,
        })
    }

    /// The poll's file descriptor, for `loop.add_reader`.
    fn fileno(&self) -> i32 {
        self.net().poll_fd()
    }

    /// Open connections (idle and busy).
    #[getter]
    fn connections(&self) -> usize {
        self.net().connection_count()
    }

    /// Does all ready I/O and resolves the futures it settles. Returns True when
    /// work remains (call again soon, without waiting for the fd).
    fn on_ready(&self, py: Python<'_>) -> PyResult<bool> {
        self.net()
            .process()
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        loop {
            let id = self.net().pop_ready();
            let Some(id) = id else { break };
            self.settle(py, id)?;
        }
        Ok(self.net().has_events())
    }

    /// Starts connecting to `host` (an IP address) and `port`; returns the id.
    /// With `tls`, the connection then does a TLS handshake for `server_name` (the
    /// URL's host: SNI and the certificate check), which `connected` waits for.
    #[pyo3(signature = (host, port, tls = None, server_name = None))]
    fn connect(
        &self,
        py: Python<'_>,
        host: &str,
        port: u16,
        tls: Option<&ClientTlsConfig>,
        server_name: Option<&str>,
    ) -> PyResult<usize> {
        let ip: IpAddr = host
            .parse()
            .map_err(|_| PyValueError::new_err(format!("not an IP address: {host:?}")))?;
        let addr = SocketAddr::new(ip, port);
        let mut net = self.net();
        let result = match tls {
            None => net
                .connect(addr)
                .map_err(|e| ClientError::new(ErrorKind::Connect, e.to_string())),
            Some(tls) => net.connect_tls(addr, &tls.config, server_name.unwrap_or(host)),
        };
        result.map_err(|mut e| {
            if e.kind == ErrorKind::Connect {
                e.message = format!("cannot connect to {host} port {port}: {}", e.message);
            }
            self.error(py, &e)
        })
    }

    /// Starts TLS inside a connection made a tunnel by a proxy's answer to
    /// `CONNECT` (see `ClientRuntime::start_tls`); `connected` then waits for the
    /// handshake with `server_name`.
    fn start_tls(&self, py: Python<'_>, id: usize, tls: &ClientTlsConfig, server_name: &str) -> PyResult<()> {
        self.net()
            .start_tls(id, &tls.config, server_name)
            .map_err(|e| self.error(py, &e))
    }

    /// A future done when the connection is established (or failed).
    fn connected(&self, py: Python<'_>, id: usize) -> PyResult<Py<PyAny>> {
        self.wait(py, id, Want::Connect)
    }

    /// Writes a request head: `length` for a body of known size, `stream` for one
    /// of unknown size (chunked unless the headers declare Content-Length).
    #[pyo3(signature = (id, method, target, headers, length = None, stream = false))]
    #[allow(clippy::too_many_arguments)] // the request line, headers and framing, as Python gives them
    fn send_request(
        &self,
        py: Python<'_>,
        id: usize,
        method: &[u8],
        target: &[u8],
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        length: Option<u64>,
        stream: bool,
    ) -> PyResult<()> {
        let body = match (length, stream) {
            (Some(n), _) => RequestBody::Length(n),
            (None, true) => RequestBody::Stream,
            (None, false) => RequestBody::None,
        };
        self.net()
            .send_request(id, method, target, headers, body)
            .map_err(|e| self.error(py, &e))
    }

    /// Sends request body bytes; True when the caller must await `drained` first.
    #[pyo3(signature = (id, data, end = false))]
    fn send_body(&self, py: Python<'_>, id: usize, data: &[u8], end: bool) -> PyResult<bool> {
        let flow = self.net().send_body(id, data, end);
        self.flow(py, flow)
    }

    /// Sends `count` bytes of the file at `path` from `offset` as the whole body
    /// (sendfile); True when the caller must await `drained` for it to be out.
    fn send_file(&self, py: Python<'_>, id: usize, path: PathBuf, offset: u64, count: u64) -> PyResult<bool> {
        let file = File::open(&path).map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))?;
        let flow = self.net().send_file(id, file, offset, count);
        self.flow(py, flow)
    }

    /// A future done when the request output drained (or the connection failed).
    fn drained(&self, py: Python<'_>, id: usize) -> PyResult<Py<PyAny>> {
        self.wait(py, id, Want::Drain)
    }

    /// A future for the response: `(status, reason, version, headers)`, or with
    /// `whole`, `((status, reason, version, headers), body)` once the body ended.
    #[pyo3(signature = (id, whole = false))]
    fn response(&self, py: Python<'_>, id: usize, whole: bool) -> PyResult<Py<PyAny>> {
        let want = Want::Response {
            whole,
            head: None,
            body: Vec::new(),
        };
        self.wait(py, id, want)
    }

    /// A future for the next piece of the response body (`b""` at its end).
    fn read(&self, py: Python<'_>, id: usize) -> PyResult<Py<PyAny>> {
        self.wait(py, id, Want::Piece)
    }

    /// Ends the exchange: True when the connection is kept idle for reuse, False
    /// when it was closed (see pyre-net's `release`).
    fn release(&self, id: usize) -> bool {
        self.waiters().remove(&id);
        self.net().release(id)
    }

    /// Bytes read and written on the connection so far (timeouts re-arm while this
    /// moves).
    fn progress(&self, id: usize) -> u64 {
        self.net().progress(id)
    }

    /// Whether an idle connection may carry a new request.
    fn is_reusable(&self, id: usize) -> bool {
        self.net().is_reusable(id)
    }

    /// Closes a connection and forgets its waiter.
    fn close(&self, id: usize) {
        self.waiters().remove(&id);
        self.net().close(id);
    }

    /// Closes every connection.
    fn close_all(&self) {
        self.waiters().clear();
        self.net().close_all();
    }
}
