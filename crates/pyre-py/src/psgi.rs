//! PSGI, Pyre's native interface (docs/psgi.md): `Request`, `Headers`, `Responder`,
//! `ResponseStream` and the body stream, Rust objects that speak HTTP directly.
//!
//! How it works: a `Request` keeps a copy of its head's bytes and the parsed head
//! (spans into those bytes), so its attributes are built only when read and stay
//! valid after the response (when the connection has moved on). Everything that
//! touches the connection (body reads, the response) goes through the request's
//! [`Channel`], the same object that serves ASGI, so both interfaces share one set of
//! rules for backpressure, framing and disconnects.

use std::borrow::Cow;
use std::path::PathBuf;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyre_net::h1::{decode_path, split_target, target_authority, RequestHead, Version};
use pyre_net::RequestView;

use crate::channel::Channel;
use crate::scope::method_name;
use pyre_net::proxy::Forwarded;

/// One HTTP request, as PSGI hands it to the application.
#[pyclass(unsendable, module = "pyre._core")]
pub struct Request {
    channel: Py<Channel>,
    head: RequestHead,
    buf: Vec<u8>,
    client: Option<Py<PyTuple>>,
    server: Py<PyTuple>,
    headers: Option<Py<Headers>>,
    /// What trusted proxies said (client, scheme, host), if anything.
    forwarded: Option<Forwarded>,
    /// A valid WebSocket upgrade request: the subprotocols the client offered.
    websocket: Option<Vec<String>>,
    /// The TLS session's facts (as ASGI's TLS extension), on a TLS connection.
    tls: Option<Py<PyDict>>,
}

impl Request {
    pub fn new(
        channel: Py<Channel>,
        view: &RequestView<'_>,
        client: Option<Py<PyTuple>>,
        server: Py<PyTuple>,
        forwarded: Option<Forwarded>,
    ) -> Self {
        Request {
            channel,
            head: view.head.clone(),
            buf: view.buf[..view.head.head_len].to_vec(),
            client,
            server,
            headers: None,
            forwarded,
            websocket: view.websocket.map(|h| h.subprotocols.clone()),
            tls: None,
        }
    }

    /// The request came over TLS: its session's facts.
    pub fn with_tls(mut self, tls: Option<Py<PyDict>>) -> Self {
        self.tls = tls;
        self
    }

    fn target(&self) -> (&[u8], &[u8]) {
        split_target(self.head.target_form, self.head.target.get(&self.buf))
    }
}

#[pymethods]
impl Request {
    /// The method, e.g. "GET".
    #[getter]
    fn method<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        method_name(py, self.head.method, self.head.method_span.get(&self.buf))
    }

    /// The percent-decoded path (UTF-8; invalid sequences replaced).
    #[getter]
    fn path(&self) -> String {
        decode_path(self.target().0).into_owned()
    }

    /// The path as sent, still percent-encoded.
    #[getter]
    fn raw_path<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.target().0)
    }

    /// The query string as sent, without the "?".
    #[getter]
    fn query_string<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.target().1)
    }

    /// "1.1" or "1.0".
    #[getter]
    fn http_version(&self) -> &'static str {
        match self.head.version {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
        }
    }

    /// "https" over Pyre's own TLS, else "http"; what a trusted proxy said wins
    /// (TLS ended in front of Pyre).
    #[getter]
    fn scheme(&self) -> &'static str {
        let own = if self.tls.is_some() { "https" } else { "http" };
        self.forwarded.as_ref().and_then(|f| f.scheme).unwrap_or(own)
    }

    /// On a TLS connection, its facts as ASGI's TLS extension has them
    /// (`tls_version`, `cipher_suite`, `client_cert_chain`...); None otherwise.
    #[getter]
    fn tls(&self, py: Python<'_>) -> Option<Py<PyDict>> {
        self.tls.as_ref().map(|t| t.clone_ref(py))
    }

    /// The client's (host, port): the peer, or what a trusted proxy said (port 0
    /// when it gave none); None on a Unix socket.
    #[getter]
    fn client(&self, py: Python<'_>) -> PyResult<Option<Py<PyTuple>>> {
        if let Some((host, port)) = self.forwarded.as_ref().and_then(|f| f.client.as_ref()) {
            return Ok(Some((host.as_str(), *port).into_pyobject(py)?.unbind()));
        }
        Ok(self.client.as_ref().map(|c| c.clone_ref(py)))
    }

    /// The listening address: (host, port), or (path, None) on a Unix socket.
    #[getter]
    fn server(&self, py: Python<'_>) -> Py<PyTuple> {
        self.server.clone_ref(py)
    }

    /// The header fields (a case-insensitive multi-map).
    #[getter]
    fn headers(&mut self, py: Python<'_>) -> PyResult<Py<Headers>> {
        if let Some(headers) = &self.headers {
            return Ok(headers.clone_ref(py));
        }
        let mut fields: Vec<Field> = self
            .head
            .headers
            .iter()
            .map(|f| {
                let name = f.name.get(&self.buf).to_ascii_lowercase().into_boxed_slice();
                (name, f.value.get(&self.buf).to_vec().into_boxed_slice())
            })
            .collect();
        // An absolute-form target's authority replaces the received Host (RFC 9112
        // section 3.2.2); a trusted proxy's forwarded host, below, wins over both.
        if let Some(authority) = target_authority(self.head.target_form, self.head.target.get(&self.buf)) {
            let value = authority.to_vec().into_boxed_slice();
            match fields.iter_mut().find(|(n, _)| &**n == b"host") {
                Some(field) => field.1 = value,
                None => fields.push((b"host".to_vec().into_boxed_slice(), value)),
            }
        }
        if let Some(host) = self.forwarded.as_ref().and_then(|f| f.host.as_ref()) {
            // A trusted proxy's X-Forwarded-Host (or Forwarded host=) is the Host.
            let value = host.clone().into_boxed_slice();
            match fields.iter_mut().find(|(n, _)| &**n == b"host") {
                Some(field) => field.1 = value,
                None => fields.push((b"host".to_vec().into_boxed_slice(), value)),
            }
        }
        let headers = Py::new(py, Headers { fields })?;
        self.headers = Some(headers.clone_ref(py));
        Ok(headers)
    }

    /// A valid WebSocket upgrade request: answer with
    /// `await responder.accept_websocket()` (or deny with `respond`).
    #[getter]
    fn websocket(&self) -> bool {
        self.websocket.is_some()
    }

    /// The subprotocols a WebSocket client offered, in its order (empty otherwise).
    #[getter]
    fn websocket_subprotocols(&self) -> Vec<String> {
        self.websocket.clone().unwrap_or_default()
    }

    /// `await request.body()`: the whole body as bytes.
    fn body(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.channel.bind(py).borrow_mut().body(py)
    }

    /// `async for piece in request.stream()`: the body in pieces as they arrive.
    fn stream(&self, py: Python<'_>) -> BodyStream {
        BodyStream {
            channel: self.channel.clone_ref(py),
        }
    }

    /// `await request.disconnected()`: returns when the client has gone away.
    fn disconnected(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.channel.bind(py).borrow_mut().disconnected_future(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let method = self.method(py);
        format!(
            "<Request {} {}>",
            method,
            String::from_utf8_lossy(self.head.target.get(&self.buf))
        )
    }
}

/// The request body as an async iterator of bytes.
#[pyclass(unsendable, module = "pyre._core")]
pub struct BodyStream {
    channel: Py<Channel>,
}

#[pymethods]
impl BodyStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.channel.bind(py).borrow_mut().next_piece(py)
    }
}

/// One header field: lowercased name, value as sent.
type Field = (Box<[u8]>, Box<[u8]>);

/// Header fields: names lowercased, order and duplicates kept; values are str
/// (latin-1, as sent) and `raw` gives the bytes.
#[pyclass(unsendable, module = "pyre._core")]
pub struct Headers {
    fields: Vec<Field>,
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn lowercase_key(name: &str) -> Vec<u8> {
    name.as_bytes().to_ascii_lowercase()
}

#[pymethods]
impl Headers {
    /// The first value of `name` (any case), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> Py<PyAny> {
        let key = lowercase_key(name);
        match self.fields.iter().find(|(n, _)| **n == *key) {
            Some((_, v)) => PyString::new(py, &latin1(v)).into_any().unbind(),
            None => default.unwrap_or_else(|| py.None()),
        }
    }

    /// Every value of `name`, in order.
    fn get_all(&self, name: &str) -> Vec<String> {
        let key = lowercase_key(name);
        self.fields
            .iter()
            .filter(|(n, _)| **n == *key)
            .map(|(_, v)| latin1(v))
            .collect()
    }

    /// (name, value) pairs, in order.
    fn items(&self) -> Vec<(String, String)> {
        self.fields.iter().map(|(n, v)| (latin1(n), latin1(v))).collect()
    }

    /// The names, in order (repeated names repeat).
    fn keys(&self) -> Vec<String> {
        self.fields.iter().map(|(n, _)| latin1(n)).collect()
    }

    /// (name, value) pairs as bytes, exactly as received (names lowercased).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self
            .fields
            .iter()
            .map(|(n, v)| (PyBytes::new(py, n), PyBytes::new(py, v)));
        PyList::new(py, pairs)
    }

    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let key = lowercase_key(name);
        match self.fields.iter().find(|(n, _)| **n == *key) {
            Some((_, v)) => Ok(PyString::new(py, &latin1(v)).into_any().unbind()),
            None => Err(PyKeyError::new_err(name.to_string())),
        }
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        let Ok(name) = name.extract::<&str>() else {
            return false;
        };
        let key = lowercase_key(name);
        self.fields.iter().any(|(n, _)| **n == *key)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let names = PyList::new(py, self.keys())?;
        Ok(names.try_iter()?.into_any().unbind())
    }

    fn __len__(&self) -> usize {
        self.fields.len()
    }

    fn __repr__(&self) -> String {
        format!("Headers({:?})", self.items())
    }
}

/// Converts PSGI response headers: an iterable of (str | bytes, str | bytes) pairs.
/// A str is encoded as latin-1 (a character above U+00FF is an error).
pub fn response_fields(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut fields = Vec::new();
    for item in headers.try_iter().map_err(|_| fields_error())? {
        let item = item?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
            item.extract().map_err(|_| fields_error())?;
        fields.push((
            field_bytes(&name)?.into_owned(),
            field_bytes(&value)?.into_owned(),
        ));
    }
    Ok(fields)
}

fn field_bytes<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Cow::Owned(bytes.as_bytes().to_vec()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str()?;
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            let b = u8::try_from(u32::from(c))
                .map_err(|_| PyValueError::new_err(format!("header text must be latin-1: {text:?}")))?;
            out.push(b);
        }
        return Ok(Cow::Owned(out));
    }
    Err(fields_error())
}

fn fields_error() -> PyErr {
    PyTypeError::new_err("headers must be an iterable of (name, value) pairs of str or bytes")
}

/// A response body: bytes (or bytearray, memoryview), or str sent as UTF-8.
fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = body.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(text) = body.cast::<PyString>() {
        return Ok(text.to_str()?.as_bytes().to_vec());
    }
    body.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("a body must be bytes or str"))
}

/// How the application answers one request.
#[pyclass(unsendable, module = "pyre._core")]
pub struct Responder {
    channel: Py<Channel>,
}

impl Responder {
    pub fn new(channel: Py<Channel>) -> Self {
        Responder { channel }
    }
}

#[pymethods]
impl Responder {
    /// The whole response at once; Content-Length is set from the body.
    #[pyo3(signature = (status, headers, body = None))]
    fn respond(
        &self,
        py: Python<'_>,
        status: u16,
        headers: &Bound<'_, PyAny>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let fields = response_fields(headers)?;
        let mut channel = self.channel.bind(py).borrow_mut();
        match body {
            None => channel.respond(py, status, &fields, b""),
            Some(body) => match body.cast::<PyBytes>() {
                // The common case, without a copy of the body.
                Ok(bytes) => channel.respond(py, status, &fields, bytes.as_bytes()),
                Err(_) => channel.respond(py, status, &fields, &body_bytes(body)?),
            },
        }
    }

    /// Accepts a WebSocket upgrade request (101); awaitable, returns the
    /// `WebSocket`. RuntimeError on a request that is not one.
    #[pyo3(signature = (subprotocol = None, headers = None))]
    fn accept_websocket(
        &self,
        py: Python<'_>,
        subprotocol: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let fields = match headers {
            Some(headers) => response_fields(headers)?,
            None => Vec::new(),
        };
        Channel::psgi_accept(self.channel.bind(py), subprotocol, &fields)
    }

    /// A file's bytes by sendfile; awaitable (returns when the file is out).
    #[pyo3(signature = (status, headers, path, offset = 0, count = None))]
    fn respond_file(
        &self,
        py: Python<'_>,
        status: u16,
        headers: &Bound<'_, PyAny>,
        path: PathBuf,
        offset: u64,
        count: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let fields = response_fields(headers)?;
        self.channel
            .bind(py)
            .borrow_mut()
            .respond_file(py, status, &fields, path, offset, count)
    }

    /// Starts a streamed response: `length` for a known-length body, None for chunked.
    #[pyo3(signature = (status, headers, length = None))]
    fn start(
        &self,
        py: Python<'_>,
        status: u16,
        headers: &Bound<'_, PyAny>,
        length: Option<u64>,
    ) -> PyResult<ResponseStream> {
        let fields = response_fields(headers)?;
        self.channel
            .bind(py)
            .borrow_mut()
            .start_stream(py, status, &fields, length)?;
        Ok(ResponseStream {
            channel: self.channel.clone_ref(py),
        })
    }
}

/// A response body being streamed.
#[pyclass(unsendable, module = "pyre._core")]
pub struct ResponseStream {
    channel: Py<Channel>,
}

#[pymethods]
impl ResponseStream {
    /// `await stream.write(data)`: waits while the client lags (backpressure).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let mut channel = self.channel.bind(py).borrow_mut();
        match data.cast::<PyBytes>() {
            Ok(bytes) => channel.write_piece(py, bytes.as_bytes()),
            Err(_) => channel.write_piece(py, &body_bytes(data)?),
        }
    }

    /// `await stream.finish(trailers=None)`: completes the body, with trailer fields
    /// (sent when the request said `TE: trailers`).
    #[pyo3(signature = (trailers = None))]
    fn finish(&self, py: Python<'_>, trailers: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let trailers = trailers.map(response_fields).transpose()?;
        self.channel.bind(py).borrow_mut().finish_stream(py, trailers)
    }
}
