//! `Channel`: one request's ASGI `receive` and `send` (ASGI HTTP spec 2.4).
//!
//! How it works: `receive()` returns a future. When body bytes are already buffered
//! (or the body ended) the future is created done, so `await` returns at once without
//! suspending; otherwise it stays pending and the server resolves it when bytes or a
//! disconnect arrive. `send()` writes through to the socket and returns one shared,
//! already-done future, unless the connection's out-buffer went above its high-water
//! mark: then it returns a pending future that the server resolves when the buffer
//! drained below the low-water mark, or fails with `ClientDisconnected` when the
//! connection closed (write backpressure). The response head is held back until the
//! first body message, so that a body sent whole gets a Content-Length instead of
//! chunked framing.
//!
//! Extensions: `http.response.pathsend` sends a file with `sendfile(2)` (its
//! Content-Length from the file's size) and its future resolves when the file is
//! out; `http.response.trailers` completes a body with trailer fields, sent only when
//! the request said `TE: trailers` (the body is then chunked).
//!
//! ASGI rules kept here: `http.response.start` once, then `http.response.body`
//! messages until one without `more_body`; anything after that raises. After the
//! response is complete, or when the client is gone, `receive()` gives
//! `http.disconnect` (pending until one of those happens, never a busy loop).

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::fs::File;
use std::path::{Path, PathBuf};

use pyre_net::{BodyRead, Flow, RequestKey, SendError};

use crate::errors::{ClientDisconnected, ProtocolError};
use crate::server::Server;
use crate::stepping::RequestTask;

pub mod websocket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    /// Waiting for `http.response.start`.
    Start,
    /// Start received, not written yet (waiting for the first body message).
    HeadHeld,
    /// Head written; more body may follow.
    Body,
    /// Body complete; waiting for `http.response.trailers` (the start said
    /// `trailers: true`).
    Trailers,
    /// Response complete.
    Done,
}

/// What a pending body read waits for, by interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// ASGI `receive()`: an `http.request` (or `http.disconnect`) message.
    Message,
    /// PSGI `request.stream()`: the next piece of bytes (StopAsyncIteration at the end).
    Piece,
    /// PSGI `request.body()`: the whole body as bytes.
    Whole,
}

/// The outcome of reading request body bytes now.
enum Read {
    Data { more: bool },
    End,
    Pending,
    Gone,
}

/// A request's exchange with the application: its body reads and its response. ASGI
/// uses it directly (`receive`/`send`); PSGI's `Request` and `Responder` call into it.
#[pyclass(unsendable, module = "pyre._core")]
pub struct Channel {
    server: Py<Server>,
    key: RequestKey,
    state: SendState,
    held_status: u16,
    held_headers: Option<Py<PyAny>>,
    body_done: bool,
    disconnected: bool,
    /// The future a pending body read returned, and what it waits for.
    waiter: Option<Py<PyAny>>,
    wanted: Wanted,
    /// PSGI `body()`: the bytes gathered so far.
    whole: Vec<u8>,
    /// PSGI `disconnected()` futures.
    disconnect_waiters: Vec<Py<PyAny>>,
    /// The future a `send()` waiting for the output to drain returned.
    drain_waiter: Option<Py<PyAny>>,
    /// The start message said `trailers: true`.
    trailers_expected: bool,
    /// Trailer fields received so far (`more_trailers: true`).
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The coroutine running the application for this request.
    task: Option<Py<RequestTask>>,
    /// The WebSocket side, when the request is a valid WebSocket upgrade (see
    /// `channel/websocket.rs`); boxed, as most requests are plain HTTP.
    ws: Option<Box<websocket::WsSide>>,
}

/// One already-done future shared by every `send()`: awaiting a done future returns
/// its result immediately, any number of times.
static DONE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl Channel {
    pub fn new(server: Py<Server>, key: RequestKey) -> Self {
        Channel {
            server,
            key,
            state: SendState::Start,
            held_status: 0,
            held_headers: None,
            body_done: false,
            disconnected: false,
            waiter: None,
            wanted: Wanted::Message,
            whole: Vec::new(),
            disconnect_waiters: Vec::new(),
            drain_waiter: None,
            trailers_expected: false,
            trailers: Vec::new(),
            task: None,
            ws: None,
        }
    }

    pub fn set_task(&mut self, task: Py<RequestTask>) {
        self.task = Some(task);
    }

    /// The request's task, if it is still running.
    pub fn task(&self, py: Python<'_>) -> Option<Py<RequestTask>> {
        self.task.as_ref().map(|t| t.clone_ref(py))
    }

    fn done_future<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(done) = DONE.get(py) {
            return Ok(done.bind(py).clone());
        }
        let server = self.server.borrow(py);
        DONE.get_or_try_init(py, || {
            let fut = server.create_future.call0(py)?;
            fut.call_method1(py, intern!(py, "set_result"), (py.None(),))?;
            Ok::<_, PyErr>(fut)
        })
        .map(|f| f.bind(py).clone())
    }

    fn ready<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.server.borrow(py).create_future.bind(py).call0()?;
        fut.call_method1(intern!(py, "set_result"), (value,))?;
        Ok(fut)
    }

    fn disconnect_message<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let msg = PyDict::new(py);
        msg.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
        Ok(msg.into_any())
    }

    /// Moves the body bytes available now into `out`.
    fn read_now(&mut self, py: Python<'_>, out: &mut Vec<u8>) -> Read {
        if self.body_done {
            return Read::End;
        }
        let read = self
            .server
            .borrow(py)
            .core
            .borrow_mut()
            .net
            .read_body(self.key, out);
        match read {
            Ok(BodyRead::Data { more }) => {
                self.body_done = !more;
                Read::Data { more }
            }
            Ok(BodyRead::Done) => {
                self.body_done = true;
                Read::End
            }
            Ok(BodyRead::Pending) => Read::Pending,
            Err(_) => {
                self.disconnected = true;
                Read::Gone
            }
        }
    }

    /// The next `http.request` message if body bytes (or its end) are available.
    fn try_body<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut data = Vec::new();
        let more = match self.read_now(py, &mut data) {
            Read::Data { more } => more,
            Read::End => false,
            Read::Pending => return Ok(None),
            Read::Gone => return Ok(Some(Self::disconnect_message(py)?)),
        };
        let msg = PyDict::new(py);
        msg.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
        msg.set_item(intern!(py, "body"), PyBytes::new(py, &data))?;
        msg.set_item(intern!(py, "more_body"), more)?;
        Ok(Some(msg.into_any()))
    }

    /// What a PSGI read settles with now, if anything: `Ok(Some(value))` resolves the
    /// waiter, `Err` fails it (the end of a stream, a gone client).
    fn psgi_settle<'py>(&mut self, py: Python<'py>, wanted: Wanted) -> PyResult<Option<Bound<'py, PyAny>>> {
        match wanted {
            Wanted::Piece => {
                let mut data = Vec::new();
                match self.read_now(py, &mut data) {
                    Read::Data { .. } => Ok(Some(PyBytes::new(py, &data).into_any())),
                    Read::End => Err(PyStopAsyncIteration::new_err(())),
                    Read::Pending => Ok(None),
                    Read::Gone => Err(ClientDisconnected::new_err("client disconnected")),
                }
            }
            Wanted::Whole => loop {
                let mut whole = std::mem::take(&mut self.whole);
                let read = self.read_now(py, &mut whole);
                self.whole = whole;
                match read {
                    Read::Data { more: true } => continue,
                    Read::Data { more: false } | Read::End => {
                        let body = std::mem::take(&mut self.whole);
                        return Ok(Some(PyBytes::new(py, &body).into_any()));
                    }
                    Read::Pending => return Ok(None),
                    Read::Gone => return Err(ClientDisconnected::new_err("client disconnected")),
                }
            },
            Wanted::Message => Ok(None),
        }
    }

    /// Starts a PSGI body read: a done future when it can settle now, else a pending
    /// one the runtime's events settle.
    fn psgi_read<'py>(&mut self, py: Python<'py>, wanted: Wanted) -> PyResult<Bound<'py, PyAny>> {
        if self.live_waiter(py)?.is_some() {
            return Err(ProtocolError::new_err(
                "the request body is already being read (await the previous read first)",
            ));
        }
        if self.disconnected && !self.body_done {
            return Err(ClientDisconnected::new_err("client disconnected"));
        }
        match self.psgi_settle(py, wanted) {
            Ok(Some(value)) => self.ready(py, value),
            Ok(None) => {
                let fut = self.server.borrow(py).create_future.bind(py).call0()?;
                self.waiter = Some(fut.clone().unbind());
                self.wanted = wanted;
                Ok(fut)
            }
            Err(error) => {
                let fut = self.server.borrow(py).create_future.bind(py).call0()?;
                fut.call_method1(intern!(py, "set_exception"), (error.into_value(py),))?;
                Ok(fut)
            }
        }
    }

    /// The pending `receive()` future, if there is one that can still take a result.
    /// A future cancelled by the application (a `receive()` under a timeout or a
    /// cancelled scope, as Starlette's `is_disconnected()` does) is dropped, so the
    /// next `receive()` starts afresh and no message is lost into it.
    fn live_waiter(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        live(py, &mut self.waiter)
    }

    fn resolve_waiter(&mut self, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<()> {
        if let Some(fut) = self.live_waiter(py)? {
            self.waiter = None;
            fut.bind(py).call_method1(intern!(py, "set_result"), (value,))?;
        }
        Ok(())
    }

    /// The runtime has body bytes for a waiting `receive()`.
    pub fn on_body_ready(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.body_done || self.live_waiter(py)?.is_none() {
            return Ok(());
        }
        if self.wanted == Wanted::Message {
            if let Some(msg) = self.try_body(py)? {
                self.resolve_waiter(py, msg)?;
            }
            return Ok(());
        }
        match self.psgi_settle(py, self.wanted) {
            Ok(Some(value)) => self.resolve_waiter(py, value),
            Ok(None) => Ok(()),
            Err(error) => self.fail_waiter(py, error),
        }
    }

    fn fail_waiter(&mut self, py: Python<'_>, error: PyErr) -> PyResult<()> {
        if let Some(fut) = self.live_waiter(py)? {
            self.waiter = None;
            fut.bind(py)
                .call_method1(intern!(py, "set_exception"), (error.into_value(py),))?;
        }
        Ok(())
    }

    /// The client went away. A client that only closed its sending side still
    /// reads: a `send()` waiting for the output to drain keeps waiting until the
    /// connection really closes (the runtime reports that as a second disconnect).
    pub fn on_disconnect(&mut self, py: Python<'_>) -> PyResult<()> {
        self.disconnected = true;
        if self.ws.is_some() {
            self.ws_on_disconnect(py)?;
        }
        if self.wanted == Wanted::Message {
            self.resolve_waiter(py, Self::disconnect_message(py)?)?;
        } else if !self.body_done {
            self.fail_waiter(py, ClientDisconnected::new_err("client disconnected"))?;
        }
        for fut in std::mem::take(&mut self.disconnect_waiters) {
            let fut = fut.bind(py);
            if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
        }
        let open = self.server.borrow(py).core.borrow().net.is_open(self.key);
        if !open {
            if let Some(fut) = live(py, &mut self.drain_waiter)? {
                self.drain_waiter = None;
                let error = ClientDisconnected::new_err("client disconnected");
                fut.bind(py)
                    .call_method1(intern!(py, "set_exception"), (error,))?;
            }
        }
        Ok(())
    }

    /// The output drained: a waiting `send()` returns.
    pub fn on_drained(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(fut) = live(py, &mut self.drain_waiter)? {
            self.drain_waiter = None;
            fut.bind(py)
                .call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(())
    }

    /// What `send()` returns: the shared done future, or a pending one under
    /// backpressure.
    fn flow_future<'py>(&mut self, py: Python<'py>, flow: Flow) -> PyResult<Bound<'py, PyAny>> {
        match flow {
            Flow::Ready => self.done_future(py),
            Flow::Wait => {
                let fut = self.server.borrow(py).create_future.bind(py).call0()?;
                self.drain_waiter = Some(fut.clone().unbind());
                Ok(fut)
            }
        }
    }

    fn send_error(err: SendError) -> PyErr {
        match err {
            SendError::Disconnected => ClientDisconnected::new_err("client disconnected"),
            SendError::Protocol(message) => ProtocolError::new_err(message),
            SendError::InvalidHead(message) => {
                PyValueError::new_err(format!("invalid response head: {message}"))
            }
        }
    }

    /// Writes the held head: the body length is known when the first body message
    /// is also the last.
    fn write_head(&mut self, py: Python<'_>, body_len: Option<u64>) -> PyResult<()> {
        let headers = self
            .held_headers
            .take()
            .unwrap_or_else(|| PyList::empty(py).into_any().unbind());
        let pairs = header_pairs(headers.bind(py))?;
        let fields = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        let result = self.server.borrow(py).core.borrow_mut().net.start_response(
            self.key,
            self.held_status,
            fields,
            body_len,
        );
        result.map_err(|e| {
            if !matches!(e, SendError::InvalidHead(_)) {
                // The connection is closed or gone: nothing more can be sent.
                self.state = SendState::Done;
            }
            Self::send_error(e)
        })
    }

    fn send_body(&mut self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Flow> {
        let body = match message.get_item(intern!(py, "body"))? {
            Some(b) => Some(
                b.cast_into::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err("ASGI 'body' must be bytes"))?,
            ),
            None => None,
        };
        let more = match message.get_item(intern!(py, "more_body"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        let data: &[u8] = body.as_ref().map_or(&[], |b| b.as_bytes());
        self.write_body(py, data, more)
    }

    /// Writes body bytes, after the held head if this is the first piece; `more ==
    /// false` ends the body, and completes the response unless trailers follow.
    fn write_body(&mut self, py: Python<'_>, data: &[u8], more: bool) -> PyResult<Flow> {
        let completes = !more && !self.trailers_expected;
        if self.state == SendState::HeadHeld {
            let trailers_sent = self.trailers_expected
                && self
                    .server
                    .borrow(py)
                    .core
                    .borrow()
                    .net
                    .accepts_trailers(self.key);
            // Trailers that will be sent need a chunked body.
            let body_len = (!more && !trailers_sent).then_some(data.len() as u64);
            self.write_head(py, body_len)?;
            self.state = SendState::Body;
        }
        let flow = self.net_call(py, |net, key| net.send_body(key, data, !completes))?;
        if !more && self.trailers_expected {
            self.state = SendState::Trailers;
        }
        if completes {
            self.complete(py)?;
        }
        Ok(flow)
    }

    /// The response is complete.
    fn complete(&mut self, py: Python<'_>) -> PyResult<()> {
        self.state = SendState::Done;
        // receive() after a complete response gives http.disconnect.
        if self.wanted == Wanted::Message {
            self.resolve_waiter(py, Self::disconnect_message(py)?)?;
        }
        // The runtime recorded the access log line; it is written with its batch.
        let server = self.server.borrow(py);
        server.after_response(py, &self.server)
    }

    /// `http.response.trailers`: gathered until `more_trailers` is false, then sent.
    fn send_trailers(&mut self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<()> {
        if let Some(headers) = message.get_item(intern!(py, "headers"))? {
            for (name, value) in header_pairs(&headers)? {
                self.trailers
                    .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
            }
        }
        let more = match message.get_item(intern!(py, "more_trailers"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        if more {
            return Ok(());
        }
        let trailers = std::mem::take(&mut self.trailers);
        self.end_with_trailers(py, trailers)
    }

    /// Completes the body with trailer fields (dropped unless the request said
    /// `TE: trailers`).
    fn end_with_trailers(&mut self, py: Python<'_>, trailers: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<()> {
        self.net_call(py, |net, key| net.send_trailers(key, trailers))?;
        self.complete(py)
    }

    /// Calls the runtime for this request. An error means nothing more can be sent:
    /// the response is over, and the error becomes the Python exception.
    fn net_call<T>(
        &mut self,
        py: Python<'_>,
        call: impl FnOnce(&mut pyre_net::Server, RequestKey) -> Result<T, SendError>,
    ) -> PyResult<T> {
        let result = call(&mut self.server.borrow(py).core.borrow_mut().net, self.key);
        result.map_err(|e| {
            self.state = SendState::Done;
            Self::send_error(e)
        })
    }

    /// `http.response.pathsend`: the body is the file at `path`, sent with
    /// `sendfile(2)`; Content-Length is the file's size.
    fn send_path(&mut self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Flow> {
        let path = message
            .get_item(intern!(py, "path"))?
            .ok_or_else(|| PyValueError::new_err("http.response.pathsend needs a 'path'"))?;
        let path: PathBuf = path
            .extract()
            .map_err(|_| PyTypeError::new_err("ASGI 'path' must be a str"))?;
        let (file, len) = open_file(&path, 0, None)?;
        self.write_head(py, Some(len))?;
        self.state = SendState::Body;
        self.send_opened_file(py, file, 0, len)
    }

    /// Sends `count` bytes of an opened file from `offset` as the whole body (the
    /// head is written); the response is complete for the application.
    fn send_opened_file(&mut self, py: Python<'_>, file: File, offset: u64, count: u64) -> PyResult<Flow> {
        let flow = self.net_call(py, |net, key| net.send_file(key, file, offset, count))?;
        self.complete(py)?;
        Ok(flow)
    }

    /// Answers with a short plain-text response when nothing was written yet (500
    /// for an application error).
    fn respond_plain(&mut self, py: Python<'_>, status: u16, text: &str) -> PyResult<()> {
        let headers = PyList::empty(py);
        headers.append((
            PyBytes::new(py, b"content-type"),
            PyBytes::new(py, b"text/plain; charset=utf-8"),
        ))?;
        self.held_status = status;
        self.held_headers = Some(headers.into_any().unbind());
        self.state = SendState::HeadHeld;
        self.trailers_expected = false;
        self.write_body(py, text.as_bytes(), false).map(|_| ())
    }
}

/// Opens a regular file for sending `count` bytes from `offset` (default: to its
/// end); returns the file and the byte count. Errors name what is wrong, before
/// anything is sent.
fn open_file(path: &Path, offset: u64, count: Option<u64>) -> PyResult<(File, u64)> {
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(PyValueError::new_err(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let size = metadata.len();
    if offset > size {
        return Err(PyValueError::new_err(format!(
            "offset {offset} is past the end of the file ({size} bytes)"
        )));
    }
    let count = count.unwrap_or(size - offset);
    if count > size - offset {
        return Err(PyValueError::new_err(format!(
            "count {count} from offset {offset} is past the end of the file ({size} bytes)"
        )));
    }
    Ok((file, count))
}

/// The `(name, value)` bytes pairs of an ASGI `headers` iterable.
fn header_pairs<'py>(
    headers: &Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>> {
    let mut pairs = Vec::new();
    for item in headers.try_iter().map_err(|_| header_type_error())? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .map(|t| (t.len(), t.get_item(0), t.get_item(1)));
        let (name, value) = match pair {
            Ok((2, Ok(n), Ok(v))) => (n, v),
            _ => {
                let list = item.cast::<PyList>().map_err(|_| header_type_error())?;
                if list.len() != 2 {
                    return Err(header_type_error());
                }
                (list.get_item(0)?, list.get_item(1)?)
            }
        };
        let name = name.cast_into::<PyBytes>().map_err(|_| header_type_error())?;
        let value = value.cast_into::<PyBytes>().map_err(|_| header_type_error())?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The future in `slot` if it can still take a result. A future cancelled by the
/// application (a `receive()` under a timeout or a cancelled scope, as Starlette's
/// `is_disconnected()` does) is dropped, so no message is lost into it.
fn live(py: Python<'_>, slot: &mut Option<Py<PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    if let Some(fut) = slot {
        if fut.bind(py).call_method0(intern!(py, "done"))?.is_truthy()? {
            *slot = None;
        }
    }
    Ok(slot.as_ref().map(|f| f.clone_ref(py)))
}

/// PSGI: the calls `pyre._core.Request` and `Responder` make.
impl Channel {
    pub(crate) fn body(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.psgi_read(py, Wanted::Whole).map(Bound::unbind)
    }

    /// The next piece of the body; StopAsyncIteration at its end.
    pub(crate) fn next_piece(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.body_done && self.live_waiter(py)?.is_none() {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        self.psgi_read(py, Wanted::Piece).map(Bound::unbind)
    }

    pub(crate) fn disconnected_future(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.disconnected {
            return self.done_future(py).map(Bound::unbind);
        }
        let fut = self.server.borrow(py).create_future.bind(py).call0()?;
        self.disconnect_waiters.retain(|f| {
            !f.bind(py)
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(true)
        });
        self.disconnect_waiters.push(fut.clone().unbind());
        Ok(fut.unbind())
    }

    /// Writes a response head now; `body_len` is the length of the body to come.
    fn psgi_head(
        &mut self,
        py: Python<'_>,
        status: u16,
        fields: &[(Vec<u8>, Vec<u8>)],
        body_len: Option<u64>,
    ) -> PyResult<()> {
        if self.state != SendState::Start {
            return Err(ProtocolError::new_err(if self.state == SendState::Done {
                "the response is already complete"
            } else {
                "the response has already started"
            }));
        }
        if !(100..=999).contains(&status) {
            return Err(PyValueError::new_err(format!(
                "status must be from 100 to 999, got {status}"
            )));
        }
        if self.disconnected && !self.server.borrow(py).core.borrow().net.is_open(self.key) {
            self.state = SendState::Done;
            return Err(ClientDisconnected::new_err("client disconnected"));
        }
        self.held_status = status;
        let result = self.server.borrow(py).core.borrow_mut().net.start_response(
            self.key,
            status,
            fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
            body_len,
        );
        match result {
            Ok(()) => {
                self.state = SendState::Body;
                Ok(())
            }
            Err(e) => {
                if !matches!(e, SendError::InvalidHead(_)) {
                    self.state = SendState::Done;
                }
                Err(Self::send_error(e))
            }
        }
    }

    /// `responder.respond`: the whole response at once.
    pub(crate) fn respond(
        &mut self,
        py: Python<'_>,
        status: u16,
        fields: &[(Vec<u8>, Vec<u8>)],
        body: &[u8],
    ) -> PyResult<()> {
        self.psgi_head(py, status, fields, Some(body.len() as u64))?;
        self.write_body(py, body, false).map(|_| ())
    }

    /// `responder.start`: a streamed response; `length` None for chunked.
    pub(crate) fn start_stream(
        &mut self,
        py: Python<'_>,
        status: u16,
        fields: &[(Vec<u8>, Vec<u8>)],
        length: Option<u64>,
    ) -> PyResult<()> {
        self.psgi_head(py, status, fields, length)
    }

    /// `stream.write`: one piece; the future waits under backpressure.
    pub(crate) fn write_piece(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
        match self.state {
            SendState::Body => {}
            SendState::Done => return Err(ProtocolError::new_err("write() after the response was finished")),
            _ => return Err(ProtocolError::new_err("write() before the response started")),
        }
        if data.is_empty() {
            return self.done_future(py).map(Bound::unbind);
        }
        let flow = self.write_body(py, data, true)?;
        self.flow_future(py, flow).map(Bound::unbind)
    }

    /// `stream.finish`: completes the body, with trailer fields if given.
    pub(crate) fn finish_stream(
        &mut self,
        py: Python<'_>,
        trailers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    ) -> PyResult<Py<PyAny>> {
        match self.state {
            SendState::Body => {}
            SendState::Done => return Err(ProtocolError::new_err("finish() called twice")),
            _ => return Err(ProtocolError::new_err("finish() before the response started")),
        }
        match trailers {
            None => {
                self.write_body(py, &[], false)?;
            }
            Some(fields) => self.end_with_trailers(py, fields)?,
        }
        self.done_future(py).map(Bound::unbind)
    }

    /// `responder.respond_file`: `count` bytes of the file from `offset`, by sendfile.
    pub(crate) fn respond_file(
        &mut self,
        py: Python<'_>,
        status: u16,
        fields: &[(Vec<u8>, Vec<u8>)],
        path: PathBuf,
        offset: u64,
        count: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        if self.state != SendState::Start {
            return Err(ProtocolError::new_err("the response has already started"));
        }
        let (file, count) = open_file(&path, offset, count)?;
        self.psgi_head(py, status, fields, Some(count))?;
        let flow = self.send_opened_file(py, file, offset, count)?;
        self.flow_future(py, flow).map(Bound::unbind)
    }
}

fn header_type_error() -> PyErr {
    PyTypeError::new_err("ASGI 'headers' must be an iterable of [bytes, bytes] pairs")
}

#[pymethods]
impl Channel {
    /// ASGI `receive`.
    fn receive<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.ws.is_some() {
            return self.ws_receive_asgi(py);
        }
        if self.live_waiter(py)?.is_some() {
            return Err(PyRuntimeError::new_err(
                "receive() called again before the previous call completed",
            ));
        }
        if self.disconnected || self.state == SendState::Done {
            return self.ready(py, Self::disconnect_message(py)?);
        }
        if !self.body_done {
            if let Some(msg) = self.try_body(py)? {
                return self.ready(py, msg);
            }
        }
        let fut = self.server.borrow(py).create_future.bind(py).call0()?;
        self.waiter = Some(fut.clone().unbind());
        Ok(fut)
    }

    /// ASGI `send`.
    fn send<'py>(&mut self, py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let message = message
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("ASGI message must be a dict"))?;
        let kind = message
            .get_item(intern!(py, "type"))?
            .ok_or_else(|| PyValueError::new_err("ASGI message has no 'type'"))?;
        let kind = kind
            .extract::<&str>()
            .map_err(|_| PyTypeError::new_err("ASGI 'type' must be a str"))?;
        if self.ws.is_some() {
            return self.ws_send_asgi(py, kind, message);
        }
        self.send_http(py, kind, message)
    }

    /// The response status the application chose (0 before `http.response.start`).
    #[getter]
    fn status(&self) -> u16 {
        self.held_status
    }

    /// Called when the application returned (`error` None) or raised (by the
    /// request's `RequestTask`, stepping.rs). Returns a short description of what went
    /// wrong with the response, or None.
    #[pyo3(signature = (error = None))]
    pub fn finish(
        &mut self,
        py: Python<'_>,
        error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<&'static str>> {
        let server_ref = self.server.clone_ref(py);
        server_ref
            .borrow(py)
            .core
            .borrow_mut()
            .channels
            .remove(&self.key.to_u64());
        self.task = None;
        if self.ws.is_some() && self.state == SendState::Start {
            return self.ws_finish(py, error.is_some());
        }
        self.finish_http(py, error.is_some())
    }
}

impl Channel {
    /// ASGI `send` of an HTTP response message (`kind` is its type).
    fn send_http<'py>(
        &mut self,
        py: Python<'py>,
        kind: &str,
        message: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match (kind, self.state) {
            ("http.response.start", SendState::Start) => {
                let status = message
                    .get_item(intern!(py, "status"))?
                    .ok_or_else(|| PyValueError::new_err("http.response.start needs a 'status'"))?;
                let status: u16 = status
                    .extract::<i64>()
                    .ok()
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| (100..=999).contains(s))
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "ASGI 'status' must be an int from 100 to 999, got {}",
                            status.repr().map_or_else(|_| "?".to_string(), |r| r.to_string())
                        ))
                    })?;
                self.held_status = status;
                self.held_headers = message.get_item(intern!(py, "headers"))?.map(Bound::unbind);
                self.trailers_expected = match message.get_item(intern!(py, "trailers"))? {
                    Some(t) => t.is_truthy()?,
                    None => false,
                };
                if self.disconnected {
                    return Err(ClientDisconnected::new_err("client disconnected"));
                }
                self.state = SendState::HeadHeld;
            }
            ("http.response.body", SendState::HeadHeld | SendState::Body) => {
                let flow = self.send_body(py, message)?;
                return self.flow_future(py, flow);
            }
            ("http.response.pathsend", SendState::HeadHeld) => {
                let flow = self.send_path(py, message)?;
                return self.flow_future(py, flow);
            }
            ("http.response.trailers", SendState::Trailers) => self.send_trailers(py, message)?,
            ("http.response.trailers", SendState::Start | SendState::HeadHeld | SendState::Body) => {
                return Err(PyRuntimeError::new_err(if self.trailers_expected {
                    "unexpected 'http.response.trailers': the body is not complete"
                } else {
                    "unexpected 'http.response.trailers': 'http.response.start' did not set 'trailers'"
                }))
            }
            ("http.response.pathsend", SendState::Start) => {
                return Err(PyRuntimeError::new_err(
                    "unexpected 'http.response.pathsend': send 'http.response.start' first",
                ))
            }
            ("http.response.pathsend", SendState::Body | SendState::Trailers) => {
                return Err(PyRuntimeError::new_err(
                    "unexpected 'http.response.pathsend': the body already started",
                ))
            }
            ("http.response.start", _) => {
                return Err(PyRuntimeError::new_err(
                    "unexpected 'http.response.start': the response already started",
                ))
            }
            ("http.response.body", SendState::Trailers) => {
                return Err(PyRuntimeError::new_err(
                    "unexpected 'http.response.body': the body is complete, send 'http.response.trailers'",
                ))
            }
            ("http.response.body", SendState::Start) => {
                return Err(PyRuntimeError::new_err(
                    "unexpected 'http.response.body': send 'http.response.start' first",
                ))
            }
            (_, SendState::Done) => {
                return Err(PyRuntimeError::new_err(format!(
                    "unexpected ASGI message '{kind}' after the response completed"
                )))
            }
            _ => {
                return Err(PyValueError::new_err(format!(
                    "unknown ASGI message type '{kind}'"
                )))
            }
        }
        self.done_future(py)
    }

    /// Settles the HTTP response when the application ended (`raised`: with an
    /// exception).
    fn finish_http(&mut self, py: Python<'_>, raised: bool) -> PyResult<Option<&'static str>> {
        let server_ref = self.server.clone_ref(py);
        let server = server_ref.borrow(py);
        let problem = match (self.state, raised) {
            (SendState::Done, _) => None,
            // The client is gone: nothing can be sent; release the connection.
            (SendState::Start | SendState::HeadHeld | SendState::Body | SendState::Trailers, _)
                if self.disconnected =>
            {
                server.core.borrow_mut().net.abort(self.key);
                None
            }
            (SendState::Start | SendState::HeadHeld, raised) => {
                let _ = self.respond_plain(py, 500, "Internal Server Error\n");
                Some(if raised {
                    "the application raised before completing the response; answered 500"
                } else {
                    "the application returned without sending a response; answered 500"
                })
            }
            (SendState::Body | SendState::Trailers, raised) => {
                server.core.borrow_mut().net.abort(self.key);
                Some(if raised {
                    "the application raised after the response started; connection closed"
                } else {
                    "the application returned without completing the response; connection closed"
                })
            }
        };
        self.state = SendState::Done;
        Ok(problem)
    }
}
