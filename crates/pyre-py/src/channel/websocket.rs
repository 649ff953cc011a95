//! The WebSocket side of a request's [`Channel`]: ASGI's `websocket` scope and
//! messages (ASGI WebSocket spec 2.4), and PSGI's `responder.accept_websocket()` and
//! [`WebSocket`] object (docs/psgi.md).
//!
//! How it works: a valid upgrade request gets a channel with a [`WsSide`]. Until the
//! application accepts, the request is an ordinary HTTP request as far as the
//! runtime knows, so a denial (`websocket.close` before accept: 403, or
//! `websocket.http.response.*`, or PSGI's `respond`) goes through the HTTP response
//! code of the channel. Accepting switches the runtime's connection; from then on
//! `receive` takes messages from the runtime's inbox (a done future when one is
//! queued, else a pending one that [`Event::Message`](pyre_net::Event) resolves) and
//! `send` frames messages with the same write-through and backpressure as HTTP
//! bodies. When the runtime reports the end (`WebSocketClosed`), the messages the
//! application had not taken yet come first, then the disconnect with its code.

use std::collections::VecDeque;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use pyre_net::{Flow, Outgoing, SendError, WsClosed, WsMessage};

use super::{header_pairs, live, Channel, SendState};
use crate::errors::{websocket_disconnect, ProtocolError};

/// Where the WebSocket is, from the application's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsPhase {
    /// Not accepted (and not denied with a response: that is the HTTP state).
    Handshake,
    Open,
    /// The application sent its close; the client's answer is awaited.
    Closing,
    /// The runtime reported the end.
    Closed,
}

/// What a pending receive waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsWanted {
    /// ASGI: a message dict.
    Asgi,
    /// PSGI `ws.receive()`: str or bytes, WebSocketDisconnect at the end.
    Psgi,
    /// PSGI `async for`: str or bytes, StopAsyncIteration at the end.
    Iter,
}

/// What the next receive gets.
enum Next {
    Message(WsMessage),
    Closed(u16, String),
    Pending,
}

pub struct WsSide {
    phase: WsPhase,
    /// `websocket.connect` was handed out (ASGI's first message).
    connect_delivered: bool,
    /// The subprotocols the client offered, in its order.
    subprotocols: Vec<String>,
    /// The one the application accepted.
    subprotocol: Option<String>,
    /// Messages the runtime handed over with the end of the WebSocket.
    unread: VecDeque<WsMessage>,
    /// The close code and reason to report, once the WebSocket ended.
    closed: Option<(u16, String)>,
    /// PSGI `close_code`: the application's close code, or the reported one.
    close_code: Option<u16>,
    waiter: Option<Py<PyAny>>,
    wanted: WsWanted,
}

impl Channel {
    /// Makes this request's channel a WebSocket one (`subprotocols`: the client's
    /// offer).
    pub fn make_websocket(&mut self, subprotocols: Vec<String>) {
        self.ws = Some(Box::new(WsSide {
            phase: WsPhase::Handshake,
            connect_delivered: false,
            subprotocols,
            subprotocol: None,
            unread: VecDeque::new(),
            closed: None,
            close_code: None,
            waiter: None,
            wanted: WsWanted::Asgi,
        }));
    }

    fn side(&mut self) -> PyResult<&mut WsSide> {
        self.ws
            .as_deref_mut()
            .ok_or_else(|| PyRuntimeError::new_err("not a WebSocket request"))
    }

    /// The next message or the end, if either is there now.
    fn ws_next(&mut self, py: Python<'_>) -> PyResult<Next> {
        let key = self.key;
        let denial_done = self.state == SendState::Done;
        let server = self.server.clone_ref(py);
        let ws = self.side()?;
        if let Some(message) = ws.unread.pop_front() {
            return Ok(Next::Message(message));
        }
        if let Some((code, reason)) = &ws.closed {
            return Ok(Next::Closed(*code, reason.clone()));
        }
        match ws.phase {
            WsPhase::Handshake if denial_done => {
                ws.closed = Some((pyre_net::ws::close_code::ABNORMAL, String::new()));
                Ok(Next::Closed(pyre_net::ws::close_code::ABNORMAL, String::new()))
            }
            WsPhase::Handshake | WsPhase::Closed => Ok(Next::Pending),
            WsPhase::Open | WsPhase::Closing => {
                let received = server.borrow(py).core.borrow_mut().net.ws_receive(key);
                server.borrow(py).schedule_drain(py, &server)?;
                // An error means the runtime has closed it: its report is queued.
                Ok(match received {
                    Ok(Some(message)) => Next::Message(message),
                    _ => Next::Pending,
                })
            }
        }
    }

    /// ASGI `receive` on a WebSocket request.
    pub(super) fn ws_receive_asgi<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ws = self.side()?;
        if live(py, &mut ws.waiter)?.is_some() {
            return Err(PyRuntimeError::new_err(
                "receive() called again before the previous call completed",
            ));
        }
        if !ws.connect_delivered {
            ws.connect_delivered = true;
            let message = PyDict::new(py);
            message.set_item(intern!(py, "type"), intern!(py, "websocket.connect"))?;
            return self.ready(py, message.into_any());
        }
        self.ws_receive(py, WsWanted::Asgi)
    }

    /// A done future when a message (or the end) is there, else a pending one.
    fn ws_receive<'py>(&mut self, py: Python<'py>, wanted: WsWanted) -> PyResult<Bound<'py, PyAny>> {
        match self.ws_next(py)? {
            Next::Pending => {
                let fut = self.server.borrow(py).create_future.bind(py).call0()?;
                let ws = self.side()?;
                ws.waiter = Some(fut.clone().unbind());
                ws.wanted = wanted;
                Ok(fut)
            }
            next => {
                let fut = self.server.borrow(py).create_future.bind(py).call0()?;
                settle(py, &fut, wanted, next)?;
                Ok(fut)
            }
        }
    }

    /// Resolves a pending receive if a message or the end is there now.
    fn ws_settle(&mut self, py: Python<'_>) -> PyResult<()> {
        let ws = self.side()?;
        let Some(fut) = live(py, &mut ws.waiter)? else {
            return Ok(());
        };
        let wanted = ws.wanted;
        match self.ws_next(py)? {
            Next::Pending => Ok(()),
            next => {
                self.side()?.waiter = None;
                settle(py, fut.bind(py), wanted, next)
            }
        }
    }

    /// The runtime queued a message for a waiting receive.
    pub fn ws_on_message(&mut self, py: Python<'_>) -> PyResult<()> {
        self.ws_settle(py)
    }

    /// The runtime reports the end of the WebSocket.
    pub fn ws_on_closed(&mut self, py: Python<'_>, closed: WsClosed) -> PyResult<()> {
        self.disconnected = true;
        let ws = self.side()?;
        ws.unread.extend(closed.unread);
        ws.close_code.get_or_insert(closed.code);
        ws.phase = WsPhase::Closed;
        let (code, reason) = (closed.code, closed.reason);
        ws.closed = Some((code, reason.clone()));
        self.ws_settle(py)?;
        if let Some(fut) = live(py, &mut self.drain_waiter)? {
            self.drain_waiter = None;
            let error = websocket_disconnect(py, code, &reason);
            fut.bind(py)
                .call_method1(intern!(py, "set_exception"), (error.into_value(py),))?;
        }
        Ok(())
    }

    /// The connection dropped before the application accepted.
    pub(super) fn ws_on_disconnect(&mut self, py: Python<'_>) -> PyResult<()> {
        let ws = self.side()?;
        if ws.phase == WsPhase::Handshake && ws.closed.is_none() {
            ws.closed = Some((pyre_net::ws::close_code::ABNORMAL, String::new()));
            self.ws_settle(py)?;
        }
        Ok(())
    }

    /// ASGI `send` on a WebSocket request.
    pub(super) fn ws_send_asgi<'py>(
        &mut self,
        py: Python<'py>,
        kind: &str,
        message: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let phase = self.side()?.phase;
        let answered = self.state != SendState::Start;
        match (kind, phase) {
            ("websocket.http.response.start", WsPhase::Handshake) => {
                self.send_http(py, "http.response.start", message)
            }
            ("websocket.http.response.body", WsPhase::Handshake) => {
                self.send_http(py, "http.response.body", message)
            }
            ("websocket.http.response.start" | "websocket.http.response.body", _) => Err(
                PyRuntimeError::new_err(format!("unexpected '{kind}': the WebSocket was already accepted")),
            ),
            ("websocket.accept", WsPhase::Handshake) if !answered => {
                let subprotocol = optional_str(message, intern!(py, "subprotocol"), "subprotocol")?;
                let mut fields = Vec::new();
                if let Some(headers) = message.get_item(intern!(py, "headers"))? {
                    for (name, value) in header_pairs(&headers)? {
                        fields.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
                    }
                }
                self.ws_accept(py, subprotocol, &fields)?;
                self.done_future(py)
            }
            ("websocket.accept", _) => Err(PyRuntimeError::new_err(
                "unexpected 'websocket.accept': the WebSocket was already accepted, closed or answered",
            )),
            ("websocket.close", WsPhase::Handshake) if !answered => {
                // A close before accepting is a denial: 403 (ASGI spec). Its code
                // and reason never reach the wire, so they are taken as they come,
                // as uvicorn does (FastAPI's validation failures send a list as the
                // reason).
                let code = message
                    .get_item(intern!(py, "code"))?
                    .and_then(|c| c.extract::<u16>().ok())
                    .unwrap_or(pyre_net::ws::close_code::NORMAL);
                let reason = message
                    .get_item(intern!(py, "reason"))?
                    .and_then(|r| r.extract::<String>().ok())
                    .unwrap_or_default();
                self.side()?.closed = Some((code, reason));
                self.respond_plain(py, 403, "")?;
                self.done_future(py)
            }
            ("websocket.close", WsPhase::Open) => {
                let (code, reason) = close_args(py, message)?;
                self.ws_close(py, code, &reason)?;
                self.done_future(py)
            }
            // Closing what is already closed does nothing.
            ("websocket.close", WsPhase::Closing | WsPhase::Closed) => self.done_future(py),
            ("websocket.send", WsPhase::Open) => {
                let bytes = message.get_item(intern!(py, "bytes"))?.filter(|b| !b.is_none());
                let text = message.get_item(intern!(py, "text"))?.filter(|t| !t.is_none());
                let flow = match (bytes, text) {
                    (Some(bytes), None) => {
                        let bytes = bytes
                            .cast_into::<PyBytes>()
                            .map_err(|_| PyTypeError::new_err("websocket.send 'bytes' must be bytes"))?;
                        self.ws_send(py, Outgoing::Binary(bytes.as_bytes()))?
                    }
                    (None, Some(text)) => {
                        let text = text
                            .cast_into::<PyString>()
                            .map_err(|_| PyTypeError::new_err("websocket.send 'text' must be str"))?;
                        self.ws_send(py, Outgoing::Text(text.to_str()?))?
                    }
                    _ => {
                        return Err(PyValueError::new_err(
                            "websocket.send needs exactly one of 'bytes' and 'text'",
                        ))
                    }
                };
                self.flow_future(py, flow)
            }
            ("websocket.send", WsPhase::Closing | WsPhase::Closed) => Err(self.ws_closed_error(py)),
            ("websocket.send" | "websocket.close", WsPhase::Handshake) => Err(PyRuntimeError::new_err(
                format!("unexpected '{kind}': send 'websocket.accept' first"),
            )),
            _ => Err(PyValueError::new_err(format!(
                "unknown ASGI message type '{kind}' for a WebSocket"
            ))),
        }
    }

    /// The error for a send on a closed WebSocket (an OSError subclass).
    fn ws_closed_error(&mut self, py: Python<'_>) -> PyErr {
        match self.ws.as_deref().and_then(|ws| ws.closed.clone()) {
            Some((code, reason)) => websocket_disconnect(py, code, &reason),
            None => {
                let code = self.ws.as_deref().and_then(|ws| ws.close_code);
                websocket_disconnect(py, code.unwrap_or(pyre_net::ws::close_code::ABNORMAL), "")
            }
        }
    }

    fn ws_accept(
        &mut self,
        py: Python<'_>,
        subprotocol: Option<String>,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) -> PyResult<()> {
        if self.disconnected {
            return Err(self.ws_closed_error(py));
        }
        if let Some(name) = &subprotocol {
            if !self.side()?.subprotocols.contains(name) {
                return Err(PyValueError::new_err(format!(
                    "subprotocol {name:?} was not offered by the client"
                )));
            }
        }
        let pairs: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let server = self.server.clone_ref(py);
        let accepted = server.borrow(py).core.borrow_mut().net.accept_websocket(
            self.key,
            subprotocol.as_deref(),
            &pairs,
        );
        match accepted {
            Ok(()) => {
                let ws = self.side()?;
                ws.phase = WsPhase::Open;
                ws.connect_delivered = true;
                ws.subprotocol = subprotocol;
                // A receive already waiting gets frames that came with the head.
                self.ws_settle(py)?;
                // The 101's access log line, and events the switch queued.
                server.borrow(py).after_response(py, &server)
            }
            Err(SendError::InvalidHead(message)) => Err(PyValueError::new_err(format!(
                "invalid WebSocket accept: {message}"
            ))),
            Err(SendError::Protocol(message)) => Err(ProtocolError::new_err(message)),
            Err(SendError::Disconnected) => Err(self.ws_closed_error(py)),
        }
    }

    fn ws_send(&mut self, py: Python<'_>, message: Outgoing<'_>) -> PyResult<Flow> {
        let server = self.server.clone_ref(py);
        let sent = server.borrow(py).core.borrow_mut().net.ws_send(self.key, message);
        server.borrow(py).schedule_drain(py, &server)?;
        match sent {
            Ok(flow) => Ok(flow),
            Err(SendError::Protocol(message)) => Err(ProtocolError::new_err(message)),
            Err(_) => Err(self.ws_closed_error(py)),
        }
    }

    fn ws_close(&mut self, py: Python<'_>, code: u16, reason: &str) -> PyResult<()> {
        let server = self.server.clone_ref(py);
        let closed = server
            .borrow(py)
            .core
            .borrow_mut()
            .net
            .ws_close(self.key, code, reason);
        server.borrow(py).schedule_drain(py, &server)?;
        let ws = self.side()?;
        if ws.phase == WsPhase::Open {
            ws.phase = WsPhase::Closing;
            ws.close_code = Some(code);
        }
        match closed {
            Err(SendError::Protocol(message)) => Err(ProtocolError::new_err(message)),
            // Already closed by the runtime: its report is on its way.
            _ => Ok(()),
        }
    }

    /// The application ended before answering the upgrade (`self.state` is still
    /// `Start`) or after accepting it.
    pub(super) fn ws_finish(&mut self, py: Python<'_>, raised: bool) -> PyResult<Option<&'static str>> {
        let phase = self.side()?.phase;
        let problem = match phase {
            WsPhase::Handshake if self.disconnected => {
                self.server.borrow(py).core.borrow_mut().net.abort(self.key);
                None
            }
            WsPhase::Handshake if raised => {
                let _ = self.respond_plain(py, 500, "Internal Server Error\n");
                Some("the application raised before accepting the WebSocket; answered 500")
            }
            // Returning without accepting denies the upgrade (as uvicorn does).
            WsPhase::Handshake => {
                let _ = self.respond_plain(py, 403, "");
                None
            }
            WsPhase::Open => {
                let code = if raised {
                    pyre_net::ws::close_code::INTERNAL_ERROR
                } else {
                    pyre_net::ws::close_code::NORMAL
                };
                self.ws_close(py, code, "")?;
                raised.then_some("the application raised on an open WebSocket; closed it with 1011")
            }
            WsPhase::Closing | WsPhase::Closed => None,
        };
        self.state = SendState::Done;
        Ok(problem)
    }
}

/// Resolves `fut` with what a receive of kind `wanted` makes of `next`.
fn settle(py: Python<'_>, fut: &Bound<'_, PyAny>, wanted: WsWanted, next: Next) -> PyResult<()> {
    let outcome: PyResult<Bound<'_, PyAny>> = match (wanted, next) {
        (_, Next::Pending) => return Ok(()),
        (WsWanted::Asgi, next) => asgi_message(py, next),
        (_, Next::Message(WsMessage::Text(text))) => Ok(PyString::new(py, &text).into_any()),
        (_, Next::Message(WsMessage::Binary(data))) => Ok(PyBytes::new(py, &data).into_any()),
        (WsWanted::Iter, Next::Closed(..)) => Err(PyStopAsyncIteration::new_err(())),
        (WsWanted::Psgi, Next::Closed(code, reason)) => Err(websocket_disconnect(py, code, &reason)),
    };
    match outcome {
        Ok(value) => fut.call_method1(intern!(py, "set_result"), (value,))?,
        Err(error) => fut.call_method1(intern!(py, "set_exception"), (error.into_value(py),))?,
    };
    Ok(())
}

/// `websocket.receive` or `websocket.disconnect`.
fn asgi_message<'py>(py: Python<'py>, next: Next) -> PyResult<Bound<'py, PyAny>> {
    let message = PyDict::new(py);
    match next {
        Next::Message(WsMessage::Text(text)) => {
            message.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            message.set_item(intern!(py, "text"), text)?;
        }
        Next::Message(WsMessage::Binary(data)) => {
            message.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            message.set_item(intern!(py, "bytes"), PyBytes::new(py, &data))?;
        }
        Next::Closed(code, reason) => {
            message.set_item(intern!(py, "type"), intern!(py, "websocket.disconnect"))?;
            message.set_item(intern!(py, "code"), code)?;
            message.set_item(intern!(py, "reason"), reason)?;
        }
        Next::Pending => {}
    }
    Ok(message.into_any())
}

/// An optional str item of an ASGI message (absent or None: `None`).
fn optional_str(
    message: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    name: &str,
) -> PyResult<Option<String>> {
    match message.get_item(key)? {
        Some(value) if !value.is_none() => value
            .extract::<String>()
            .map(Some)
            .map_err(|_| PyTypeError::new_err(format!("ASGI '{name}' must be a str"))),
        _ => Ok(None),
    }
}

/// `websocket.close`'s code (default 1000) and reason (default "").
fn close_args(py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<(u16, String)> {
    let code = match message.get_item(intern!(py, "code"))? {
        Some(code) if !code.is_none() => code
            .extract::<i64>()
            .map_err(|_| PyTypeError::new_err("ASGI 'code' must be an int"))?,
        _ => i64::from(pyre_net::ws::close_code::NORMAL),
    };
    let reason = optional_str(message, intern!(py, "reason"), "reason")?.unwrap_or_default();
    Ok((check_close_code(code)?, reason))
}

/// A close code the server may send: the ones pyre-ws accepts from clients too
/// (1000-1003, 1007-1011, 3000-4999; RFC 6455 section 7.4).
fn check_close_code(code: i64) -> PyResult<u16> {
    match u16::try_from(code) {
        Ok(code) if pyre_net::ws::close_code::is_valid(code) => Ok(code),
        _ => Err(PyValueError::new_err(format!(
            "{code} is not a WebSocket close code an application may send"
        ))),
    }
}

/// PSGI: the calls `Responder.accept_websocket` and [`WebSocket`] make.
impl Channel {
    /// `responder.accept_websocket()`: a done future whose result is the
    /// [`WebSocket`].
    pub(crate) fn psgi_accept(
        channel: &Bound<'_, Channel>,
        subprotocol: Option<String>,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) -> PyResult<Py<PyAny>> {
        let py = channel.py();
        let mut this = channel.borrow_mut();
        let Some(ws) = this.ws.as_deref() else {
            return Err(PyRuntimeError::new_err(
                "accept_websocket() on a request that is not a WebSocket upgrade",
            ));
        };
        if ws.phase != WsPhase::Handshake || this.state != SendState::Start {
            return Err(ProtocolError::new_err(
                "accept_websocket(): the request was already answered",
            ));
        }
        this.ws_accept(py, subprotocol, fields)?;
        let socket = Py::new(
            py,
            WebSocket {
                channel: channel.clone().unbind(),
            },
        )?;
        this.ready(py, socket.into_bound(py).into_any())
            .map(Bound::unbind)
    }
}

/// PSGI: an accepted WebSocket (docs/psgi.md, "WebSocket").
#[pyclass(unsendable, module = "pyre._core")]
pub struct WebSocket {
    channel: Py<Channel>,
}

#[pymethods]
impl WebSocket {
    /// `await ws.receive()`: the next message, str or bytes; WebSocketDisconnect
    /// when the WebSocket closed.
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.receive_as(py, WsWanted::Psgi)
    }

    /// `await ws.send_text(text)`: waits while the client lags (backpressure).
    fn send_text(&self, py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
        self.send(py, Outgoing::Text(text))
    }

    /// `await ws.send_bytes(data)`: bytes, bytearray or memoryview.
    fn send_bytes(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return self.send(py, Outgoing::Binary(bytes.as_bytes()));
        }
        let buffer = PyBuffer::<u8>::get(data)
            .map_err(|_| PyTypeError::new_err("send_bytes() takes bytes, bytearray or memoryview"))?;
        let data = buffer.to_vec(py)?;
        self.send(py, Outgoing::Binary(&data))
    }

    /// `await ws.close(code=1000, reason="")`; closing a closed WebSocket does
    /// nothing.
    #[pyo3(signature = (code = 1000, reason = ""))]
    fn close(&self, py: Python<'_>, code: i64, reason: &str) -> PyResult<Py<PyAny>> {
        let code = check_close_code(code)?;
        let mut channel = self.channel.bind(py).borrow_mut();
        if channel.side()?.phase == WsPhase::Open {
            channel.ws_close(py, code, reason)?;
        }
        channel.done_future(py).map(Bound::unbind)
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `async for message in ws`: ends when the WebSocket closes.
    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.receive_as(py, WsWanted::Iter)
    }

    /// The subprotocol accepted, or None.
    #[getter]
    fn subprotocol(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.channel.bind(py).borrow_mut().side()?.subprotocol.clone())
    }

    /// The close code: None while open; the application's when it closed first,
    /// else the client's (1005: its close had no code; 1006: the connection
    /// dropped).
    #[getter]
    fn close_code(&self, py: Python<'_>) -> PyResult<Option<u16>> {
        Ok(self.channel.bind(py).borrow_mut().side()?.close_code)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut channel = self.channel.bind(py).borrow_mut();
        let ws = channel.side()?;
        Ok(format!("<WebSocket {:?}>", ws.phase))
    }
}

impl WebSocket {
    fn receive_as(&self, py: Python<'_>, wanted: WsWanted) -> PyResult<Py<PyAny>> {
        let mut channel = self.channel.bind(py).borrow_mut();
        let ws = channel.side()?;
        if live(py, &mut ws.waiter)?.is_some() {
            return Err(ProtocolError::new_err(
                "receive() called again before the previous call completed",
            ));
        }
        channel.ws_receive(py, wanted).map(Bound::unbind)
    }

    fn send(&self, py: Python<'_>, message: Outgoing<'_>) -> PyResult<Py<PyAny>> {
        let mut channel = self.channel.bind(py).borrow_mut();
        if channel.side()?.phase != WsPhase::Open {
            return Err(channel.ws_closed_error(py));
        }
        let flow = channel.ws_send(py, message)?;
        channel.flow_future(py, flow).map(Bound::unbind)
    }
}

/// Turns an ASGI scope built for HTTP into the `websocket` scope (ASGI WebSocket
/// spec 2.4): no `method`, scheme `ws`/`wss`, the offered `subprotocols`, and the
/// `websocket.http.response` extension (denial responses).
pub fn websocket_scope(py: Python<'_>, scope: &Bound<'_, PyDict>, subprotocols: &[String]) -> PyResult<()> {
    scope.set_item(intern!(py, "type"), intern!(py, "websocket"))?;
    scope.del_item(intern!(py, "method"))?;
    let secure = scope
        .get_item(intern!(py, "scheme"))?
        .is_some_and(|s| s.extract::<&str>().is_ok_and(|s| s == "https"));
    scope.set_item(intern!(py, "scheme"), if secure { "wss" } else { "ws" })?;
    scope.set_item(intern!(py, "subprotocols"), PyList::new(py, subprotocols)?)?;
    let extensions = PyDict::new(py);
    extensions.set_item(intern!(py, "websocket.http.response"), PyDict::new(py))?;
    scope.set_item(intern!(py, "extensions"), extensions)?;
    Ok(())
}
