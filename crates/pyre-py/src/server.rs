//! `pyre._core.Server`: the runtime (pyre-net) bound to an asyncio loop and an ASGI
//! application.
//!
//! How it works: Python registers [`Server::on_ready`] with `loop.add_reader` on the
//! poll's fd and calls [`Server::tick`] about once a second. `on_ready` lets the
//! runtime do all ready I/O, then turns its events into application calls: a new
//! request becomes a scope and a [`Channel`] (the request's `receive`/`send`), and the
//! application's coroutine `app(scope, receive, send)` is stepped from Rust by a
//! [`RequestTask`] (`stepping.rs`), its first step at once; body bytes and
//! disconnects resolve the futures a channel's `receive()` returned. When it ends, the
//! task settles the response and calls `report` (`pyre._asgi.report_asgi`) if the
//! application ended badly.
//!
//! Access log: the runtime renders a line (or a record) when a response completes
//! and keeps it in a batch; this object hands the batch to Python's `access_log`
//! sink at the end of `on_ready` and `tick`, at shutdown, and, for responses that
//! complete in a task step outside `on_ready`, from one `call_soon` per loop
//! iteration. So a busy server writes once per batch of responses, not per line.
//!
//! Borrowing: the runtime lives in a `RefCell` borrowed only for the duration of a
//! Rust call, never across a call into Python that could come back here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyre_net::access_log::{split_lines, AccessFormat, AccessLog, AccessOutput};
use pyre_net::{BindAddr, Event, LocalAddr, RequestKey, ServerConfig};

use crate::channel::websocket::websocket_scope;
use crate::channel::Channel;
use crate::psgi::{Request, Responder};
use crate::scope::{build_scope, server_tuple, ScopeConstants};
use crate::stepping::{RequestTask, Settle};
use pyre_net::proxy::{resolve_peer, Forwarded, ProxyTrust};

/// Hashes a packed request key with one multiplication (Fibonacci hashing): keys
/// are ours, not an attacker's, so SipHash's protection buys nothing on this path.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub struct Core {
    pub net: pyre_net::Server,
    /// The channel of each request in flight, by packed request key.
    pub channels: HashMap<u64, Py<Channel>, BuildHasherDefault<KeyHasher>>,
    /// Shared server tuples, one per listener address.
    servers: Vec<(LocalAddr, Py<PyTuple>)>,
    /// The `client` tuple of each connection slot, reused while the same peer holds
    /// the slot: keep-alive requests do not format the address again.
    clients: Vec<Option<(SocketAddr, Py<PyTuple>)>>,
}

#[pyclass(unsendable, module = "pyre._core")]
pub struct Server {
    pub core: RefCell<Core>,
    app: Py<PyAny>,
    /// `report(event, detail, subject)`: logs an application that ended badly
    /// (`pyre._asgi.report_asgi`, `pyre._psgi.report_psgi`).
    report: Py<PyAny>,
    /// The application speaks PSGI (`app(request, responder)`), not ASGI.
    psgi: bool,
    /// Whose proxy headers are believed (`--proxy-headers`), or None.
    proxy: Option<ProxyTrust>,
    pub loop_: Py<PyAny>,
    pub create_future: Py<PyAny>,
    call_soon: Py<PyAny>,
    protocol_error_log: Option<Py<PyAny>>,
    /// Where the access log's batches go, if it is on: `sink(text)` for text and
    /// JSON lines, `sink(records)` for records (see `_core.pyi`).
    access_sink: Option<Py<PyAny>>,
    access_records: bool,
    /// A `flush_access_log` is scheduled with `call_soon`.
    flush_scheduled: Cell<bool>,
    /// Inside `on_ready` or `tick`, which flush the batch when they end.
    dispatching: Cell<bool>,
    /// The bound `flush_access_log` method, kept for `call_soon`.
    flush_method: RefCell<Option<Py<PyAny>>>,
    constants: ScopeConstants,
    state: RefCell<Option<Py<PyDict>>>,
    /// A drain of queued events is scheduled with `call_soon`.
    drain_scheduled: Cell<bool>,
    /// The bound `on_ready` method, kept for `call_soon`.
    on_ready_method: RefCell<Option<Py<PyAny>>>,
}

fn os_error(e: std::io::Error) -> PyErr {
    PyOSError::new_err(e.to_string())
}

#[pymethods]
impl Server {
    /// Creates the runtime. `app` is the ASGI application (the PSGI handler), `report`
    /// the function that logs an application that ended badly
    /// (`report(event, detail, scope_or_request)`), `loop` the asyncio loop. Listeners are added with `listen_*`.
    #[new]
    #[pyo3(signature = (
        app, report, event_loop, *, interface = "asgi", root_path = "", timeout_keep_alive = 75.0,
        timeout_header = 10.0, limit_concurrency = None, limit_request_head = 65536,
        limit_request_body = None, read_high_water = 65536, write_high_water = 65536,
        write_low_water = 16384, default_headers = Vec::new(), date_header = true,
        proxy_headers = true, forwarded_allow_ips = "127.0.0.1",
        protocol_error_log = None, access_log = None,
        access_log_format = pyre_net::access_log::DEFAULT_ACCESS_LOG_FORMAT,
        access_log_output = "text", access_log_prefix = "", ws = "auto",
        ws_max_size = pyre_net::config::DEFAULT_WS_MAX_MESSAGE, ws_ping_interval = Some(20.0),
        ws_ping_timeout = Some(20.0), ws_per_message_deflate = true, min_rate = 500,
        min_rate_grace = 20.0, tls = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        report: Py<PyAny>,
        event_loop: Py<PyAny>,
        interface: &str,
        root_path: &str,
        timeout_keep_alive: f64,
        timeout_header: f64,
        limit_concurrency: Option<usize>,
        limit_request_head: usize,
        limit_request_body: Option<u64>,
        read_high_water: usize,
        write_high_water: usize,
        write_low_water: usize,
        default_headers: Vec<(Vec<u8>, Vec<u8>)>,
        date_header: bool,
        proxy_headers: bool,
        forwarded_allow_ips: &str,
        protocol_error_log: Option<Py<PyAny>>,
        access_log: Option<Py<PyAny>>,
        access_log_format: &str,
        access_log_output: &str,
        access_log_prefix: &str,
        ws: &str,
        ws_max_size: usize,
        ws_ping_interval: Option<f64>,
        ws_ping_timeout: Option<f64>,
        ws_per_message_deflate: bool,
        min_rate: u64,
        min_rate_grace: f64,
        tls: Option<PyRef<'_, crate::tls::TlsConfig>>,
    ) -> PyResult<Self> {
        let psgi = match interface {
            "asgi" => false,
            "psgi" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "interface must be asgi or psgi, got {other:?}"
                )))
            }
        };
        if !(timeout_keep_alive > 0.0 && timeout_header > 0.0) {
            return Err(PyValueError::new_err("timeouts must be positive"));
        }
        if !(min_rate_grace.is_finite() && min_rate_grace >= 0.0) {
            return Err(PyValueError::new_err("min_rate_grace must be at least 0"));
        }
        // 0 turns the minimum-rate rule off.
        let min_rate = (min_rate > 0).then(|| pyre_net::MinRate {
            bytes_per_second: min_rate,
            grace: Duration::from_secs_f64(min_rate_grace),
        });
        if read_high_water == 0 || write_high_water == 0 || write_low_water > write_high_water {
            return Err(PyValueError::new_err(
                "water marks must be positive, and the low one at most the high one",
            ));
        }
        let output = match access_log_output {
            "text" => AccessOutput::Text {
                prefix: access_log_prefix.to_string(),
            },
            "json" => AccessOutput::Json {
                logger: "pyre.access".to_string(),
            },
            "records" => AccessOutput::Records,
            other => {
                return Err(PyValueError::new_err(format!(
                    "access_log_output must be text, json or records, got {other:?}"
                )))
            }
        };
        let format = compile_format(access_log_format)?;
        let websocket = match ws {
            "auto" => Some(pyre_net::config::WebSocketConfig {
                max_message: ws_max_size,
                per_message_deflate: ws_per_message_deflate,
                ping_interval: positive_duration(ws_ping_interval)?,
                ping_timeout: positive_duration(ws_ping_timeout)?,
            }),
            "none" => None,
            other => {
                return Err(PyValueError::new_err(format!(
                    "ws must be auto or none, got {other:?}"
                )))
            }
        };
        let mut config = ServerConfig {
            keep_alive_timeout: Duration::from_secs_f64(timeout_keep_alive),
            header_timeout: Duration::from_secs_f64(timeout_header),
            limit_concurrency,
            read_high_water,
            write_high_water,
            write_low_water,
            default_headers,
            date_header,
            report_protocol_errors: protocol_error_log.is_some(),
            websocket,
            min_rate,
            tls: tls.map(|t| t.config.clone()),
            ..ServerConfig::default()
        };
        config.limits.max_head_bytes = limit_request_head;
        config.limits.max_body_bytes = limit_request_body;
        let proxy = if proxy_headers {
            Some(ProxyTrust::parse(forwarded_allow_ips).map_err(PyValueError::new_err)?)
        } else {
            None
        };
        if access_log.is_some() {
            config.access_log = Some(AccessLog::new(format, output.clone()));
            config.proxy = proxy.clone();
        }
        let net = pyre_net::Server::new(config).map_err(os_error)?;
        let loop_ref = event_loop.bind(py);
        Ok(Server {
            core: RefCell::new(Core {
                net,
                channels: HashMap::default(),
                servers: Vec::new(),
                clients: Vec::new(),
            }),
            app,
            report,
            psgi,
            proxy,
            create_future: loop_ref.getattr("create_future")?.unbind(),
            call_soon: loop_ref.getattr("call_soon")?.unbind(),
            loop_: event_loop,
            protocol_error_log,
            access_sink: access_log,
            access_records: output == AccessOutput::Records,
            flush_scheduled: Cell::new(false),
            dispatching: Cell::new(false),
            flush_method: RefCell::new(None),
            constants: ScopeConstants::new(py, root_path)?,
            state: RefCell::new(None),
            drain_scheduled: Cell::new(false),
            on_ready_method: RefCell::new(None),
        })
    }

    /// Listens on TCP `host:port` (port 0 picks a free port); returns the bound
    /// `(host, port)`.
    fn listen_tcp(&self, py: Python<'_>, host: &str, port: u16, backlog: i32) -> PyResult<Py<PyTuple>> {
        let ip: std::net::IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| PyValueError::new_err(format!("invalid host address: {host:?}")))?;
        self.listen(py, BindAddr::Tcp(SocketAddr::new(ip, port)), backlog)
    }

    /// Listens on a Unix domain socket at `path`.
    fn listen_unix(&self, py: Python<'_>, path: PathBuf, backlog: i32) -> PyResult<Py<PyTuple>> {
        self.listen(py, BindAddr::Unix(path), backlog)
    }

    /// Serves an inherited listening socket (its ownership passes to the server).
    fn listen_fd(&self, py: Python<'_>, fd: i32, backlog: i32) -> PyResult<Py<PyTuple>> {
        self.listen(py, BindAddr::Fd(fd), backlog)
    }

    /// The poll's file descriptor, for `loop.add_reader`.
    fn fileno(&self) -> i32 {
        self.core.borrow().net.poll_fd()
    }

    /// Sets the lifespan state; each request's scope gets a shallow copy.
    fn set_state(&self, state: Option<Py<PyDict>>) {
        *self.state.borrow_mut() = state;
    }

    /// Requests whose responses are not complete.
    #[getter]
    fn in_flight(&self) -> usize {
        self.core.borrow().net.in_flight()
    }

    /// Requests whose application call has not returned yet (a response may be
    /// complete while a background task still runs in the application).
    #[getter]
    fn active_tasks(&self) -> usize {
        self.core.borrow().channels.len()
    }

    /// Requests received since the server started (refused ones not counted).
    #[getter]
    fn requests_started(&self) -> u64 {
        self.core.borrow().net.requests_started()
    }

    /// Open connections.
    #[getter]
    fn connections(&self) -> usize {
        self.core.borrow().net.connection_count()
    }

    /// The runtime's counters and gauges now, as `METRICS_SNAPSHOT_BYTES` bytes
    /// (native-endian u64 words; `render_metrics` reads them). Cheap: one copy.
    fn metrics<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.core.borrow().net.metrics().to_bytes())
    }

    /// Does all ready I/O, then hands events to the application.
    fn on_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.borrow();
        this.drain_scheduled.set(false);
        this.dispatching.set(true);
        // The runtime's borrow ends with the statement, before any call into Python.
        let processed = this.core.borrow_mut().net.process().map_err(os_error);
        let result = processed.and_then(|()| this.dispatch_events(slf));
        this.dispatching.set(false);
        // One write for every line of the batch (responses completed by eager
        // tasks inside dispatch, files finished by process).
        let flushed = this.flush(slf.py());
        result?;
        flushed?;
        // Connections left with work after their turn (a large file, a long body
        // being discarded) are served again on the loop's next iteration.
        this.schedule_drain(slf.py(), &slf.clone().unbind())
    }

    /// Sweeps deadlines (call about once a second), and writes the access log's
    /// batch.
    fn tick(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.borrow();
        this.core.borrow_mut().net.tick();
        this.dispatching.set(true);
        let result = this.dispatch_events(slf);
        this.dispatching.set(false);
        this.flush(slf.py())?;
        result
    }

    /// Hands the access log lines recorded so far to the sink (at once; the
    /// server also does this after each batch of events, on the tick, and when a
    /// response completes outside a batch). Call it last thing at shutdown.
    fn flush_access_log(&self, py: Python<'_>) -> PyResult<()> {
        self.flush_scheduled.set(false);
        self.flush(py)
    }

    /// Stops accepting (after taking the connections already queued) and closes
    /// long-idle connections; in-flight requests finish (see pyre-net).
    /// TLS for connections accepted from now on (a certificate reload: open
    /// connections keep theirs); None turns TLS off for new connections.
    #[pyo3(signature = (tls))]
    fn set_tls(&self, tls: Option<PyRef<'_, crate::tls::TlsConfig>>) {
        self.core.borrow_mut().net.set_tls(tls.map(|t| t.config.clone()));
    }

    fn begin_shutdown(&self) {
        self.core.borrow_mut().net.begin_shutdown();
    }

    /// Cancels the tasks of requests still running and returns futures that resolve
    /// when each has ended (for `asyncio.wait`); their
    /// connections stay open, so that they unwind with a clean CancelledError rather
    /// than failing on a closed socket (a send that races the cancellation).
    fn cancel_all(slf: &Bound<'_, Self>) -> PyResult<Vec<Py<PyAny>>> {
        let this = slf.borrow();
        let channels: Vec<Py<Channel>> = this
            .core
            .borrow()
            .channels
            .values()
            .map(|c| c.clone_ref(slf.py()))
            .collect();
        let py = slf.py();
        let mut waits = Vec::with_capacity(channels.len());
        for channel in channels {
            // The borrow of the channel ends before cancel() runs any Python.
            let task = channel.bind(py).borrow().task(py);
            if let Some(task) = task {
                let task = task.bind(py);
                RequestTask::cancel(task, None)?;
                waits.push(RequestTask::done_future(task)?);
            }
        }
        Ok(waits)
    }

    /// Closes every connection at once (after `cancel_all`, at the end of a
    /// shutdown) and forgets the requests' channels.
    fn close_connections(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.borrow();
        this.core.borrow_mut().net.close_all();
        this.dispatch_events(slf)?;
        this.core.borrow_mut().channels.clear();
        this.flush(slf.py())
    }
}

impl Server {
    fn listen(&self, py: Python<'_>, addr: BindAddr, backlog: i32) -> PyResult<Py<PyTuple>> {
        let mut core = self.core.borrow_mut();
        let local = core.net.listen(&addr, backlog).map_err(os_error)?;
        let tuple = server_tuple(py, &local)?.unbind();
        core.servers.push((local, tuple.clone_ref(py)));
        Ok(tuple)
    }

    /// Schedules `on_ready` soon, when a response completed inside an application
    /// call and the runtime queued events (pipelined requests) meanwhile.
    pub fn schedule_drain(&self, py: Python<'_>, slf: &Py<Server>) -> PyResult<()> {
        if self.drain_scheduled.get() || !self.core.borrow().net.has_events() {
            return Ok(());
        }
        self.drain_scheduled.set(true);
        let method = {
            let mut cached = self.on_ready_method.borrow_mut();
            match cached.as_ref() {
                Some(m) => m.clone_ref(py),
                None => {
                    let m = slf.bind(py).getattr("on_ready")?.unbind();
                    *cached = Some(m.clone_ref(py));
                    m
                }
            }
        };
        self.call_soon.call1(py, (method,))?;
        Ok(())
    }

    /// A response completed in an application call: serve queued events soon, and
    /// write its access log line at the end of this loop iteration unless a batch
    /// in progress (`on_ready`, `tick`) writes it.
    pub fn after_response(&self, py: Python<'_>, slf: &Py<Server>) -> PyResult<()> {
        self.schedule_drain(py, slf)?;
        if self.access_sink.is_none() || self.dispatching.get() || self.flush_scheduled.get() {
            return Ok(());
        }
        let pending = self
            .core
            .borrow_mut()
            .net
            .access_log()
            .is_some_and(|log| !log.is_empty());
        if !pending {
            return Ok(());
        }
        self.flush_scheduled.set(true);
        let method = {
            let mut cached = self.flush_method.borrow_mut();
            match cached.as_ref() {
                Some(m) => m.clone_ref(py),
                None => {
                    let m = slf.bind(py).getattr("flush_access_log")?.unbind();
                    *cached = Some(m.clone_ref(py));
                    m
                }
            }
        };
        self.call_soon.call1(py, (method,))?;
        Ok(())
    }

    /// Hands the access log's batch to the sink: text in pieces of at most
    /// `PIPE_BUF` bytes ending at line ends (atomic writes to a shared pipe), or
    /// one list of records.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let Some(sink) = &self.access_sink else {
            return Ok(());
        };
        // Taken out before calling Python: the sink may log, and logging may come
        // back here.
        let (lines, records) = {
            let mut core = self.core.borrow_mut();
            let Some(log) = core.net.access_log() else {
                return Ok(());
            };
            if log.is_empty() {
                return Ok(());
            }
            (log.take_lines(), log.take_records())
        };
        if self.access_records {
            let batch = PyList::empty(py);
            for r in records {
                let time = r
                    .time
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                batch.append((
                    r.message,
                    time,
                    r.client,
                    r.method,
                    r.path,
                    r.query,
                    r.http_version,
                    r.request,
                    r.status,
                    r.bytes,
                    r.duration,
                ))?;
            }
            sink.call1(py, (batch,))?;
            return Ok(());
        }
        for piece in split_lines(&lines, PIPE_BUF) {
            // Lines are UTF-8: fields are escaped or decoded lossily.
            let text = PyString::new(py, &String::from_utf8_lossy(piece));
            sink.call1(py, (text,))?;
        }
        Ok(())
    }

    /// The channel of a request whose application is still running.
    fn channel(&self, py: Python<'_>, key: RequestKey) -> Option<Py<Channel>> {
        self.core
            .borrow()
            .channels
            .get(&key.to_u64())
            .map(|c| c.clone_ref(py))
    }

    fn dispatch_events(&self, slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        loop {
            let event = self.core.borrow_mut().net.pop_event();
            let Some(event) = event else { return Ok(()) };
            match event {
                Event::Request(key) => self.start_request(slf, key)?,
                Event::BodyReady(key) => {
                    if let Some(channel) = self.channel(py, key) {
                        channel.bind(py).borrow_mut().on_body_ready(py)?;
                    }
                }
                Event::Disconnect(key) => {
                    if let Some(channel) = self.channel(py, key) {
                        channel.bind(py).borrow_mut().on_disconnect(py)?;
                    }
                }
                Event::Drained(key) => {
                    if let Some(channel) = self.channel(py, key) {
                        channel.bind(py).borrow_mut().on_drained(py)?;
                    }
                }
                Event::Message(key) => {
                    if let Some(channel) = self.channel(py, key) {
                        channel.bind(py).borrow_mut().ws_on_message(py)?;
                    }
                }
                Event::WebSocketClosed(key, closed) => {
                    if let Some(channel) = self.channel(py, key) {
                        channel.bind(py).borrow_mut().ws_on_closed(py, *closed)?;
                    }
                }
                Event::ProtocolError { peer, status, reason } => {
                    if let Some(log) = &self.protocol_error_log {
                        let peer = peer.map_or_else(|| "unix socket".to_string(), |p| p.to_string());
                        // Status 0: a TLS connection that failed (no HTTP answer).
                        let message = match status {
                            0 => format!("{reason} (from {peer})"),
                            _ => format!("{status} {reason} (from {peer})"),
                        };
                        log.call1(py, (message,))?;
                    }
                }
            }
        }
    }

    /// Builds the scope and channel of a new request and starts the application.
    fn start_request(&self, slf: &Bound<'_, Self>, key: RequestKey) -> PyResult<()> {
        if self.psgi {
            return self.start_psgi_request(slf, key);
        }
        let py = slf.py();
        let mut websocket = None;
        let scope = {
            let mut core = self.core.borrow_mut();
            let core = &mut *core;
            let Some(view) = core.net.request(key) else {
                return Ok(());
            };
            let (server, client) = address_tuples(py, &core.servers, &mut core.clients, key, &view)?;
            let state = self.state.borrow();
            let scope = build_scope(
                py,
                &view,
                &self.constants,
                &server,
                client.as_ref(),
                state.as_ref().map(|s| s.bind(py)),
            )?;
            if view.tls.is_some() {
                crate::tls::set_https(py, &scope)?;
            }
            if let Some(forwarded) = self.forwarded(&view) {
                apply_to_scope(py, &scope, &forwarded)?;
            }
            if let Some(handshake) = view.websocket {
                websocket_scope(py, &scope, &handshake.subprotocols)?;
                websocket = Some(handshake.subprotocols.clone());
            }
            if let Some(session) = view.tls {
                crate::tls::add_tls_extension(py, &scope, &crate::tls::tls_dict(py, session)?)?;
            }
            scope
        };
        let mut channel = Channel::new(slf.clone().unbind(), key);
        if let Some(subprotocols) = websocket {
            channel.make_websocket(subprotocols);
        }
        let channel = Py::new(py, channel)?;
        let bound = channel.bind(py);
        let receive = bound.getattr(pyo3::intern!(py, "receive"))?;
        let send = bound.getattr(pyo3::intern!(py, "send"))?;
        let coro = self.app.bind(py).call1((&scope, receive, send));
        self.run_task(py, key, channel, coro, scope.into_any().unbind())
    }

    /// PSGI: builds the request and responder and starts the application.
    fn start_psgi_request(&self, slf: &Bound<'_, Self>, key: RequestKey) -> PyResult<()> {
        let py = slf.py();
        let mut channel = Channel::new(slf.clone().unbind(), key);
        let websocket = self
            .core
            .borrow()
            .net
            .request(key)
            .and_then(|view| view.websocket.map(|h| h.subprotocols.clone()));
        if let Some(subprotocols) = websocket {
            channel.make_websocket(subprotocols);
        }
        let channel = Py::new(py, channel)?;
        let request = {
            let mut core = self.core.borrow_mut();
            let core = &mut *core;
            let Some(view) = core.net.request(key) else {
                return Ok(());
            };
            let (server, client) = address_tuples(py, &core.servers, &mut core.clients, key, &view)?;
            let client = client.map(Bound::unbind);
            let forwarded = self.forwarded(&view);
            let tls = view
                .tls
                .map(|session| crate::tls::tls_dict(py, session))
                .transpose()?;
            Py::new(
                py,
                Request::new(channel.clone_ref(py), &view, client, server.unbind(), forwarded)
                    .with_tls(tls.map(Bound::unbind)),
            )?
        };
        let responder = Py::new(py, Responder::new(channel.clone_ref(py)))?;
        let coro = self.app.bind(py).call1((&request, responder));
        self.run_task(py, key, channel, coro, request.into_any())
    }

    /// What trusted proxies said about this request (see `proxy.rs`). A Unix socket
    /// peer has no address: it is trusted only with `--forwarded-allow-ips '*'`.
    fn forwarded(&self, view: &pyre_net::RequestView<'_>) -> Option<Forwarded> {
        resolve_peer(self.proxy.as_ref()?, view.peer, view.head, view.buf)
    }

    /// Runs the application's coroutine, its channel registered for the runtime's
    /// events: stepped from Rust by a [`RequestTask`], its first step now.
    /// `subject` (the scope, or the PSGI request) is what `report` describes the
    /// request by.
    fn run_task(
        &self,
        py: Python<'_>,
        key: RequestKey,
        channel: Py<Channel>,
        coro: PyResult<Bound<'_, PyAny>>,
        subject: Py<PyAny>,
    ) -> PyResult<()> {
        let bound = channel.bind(py);
        // Registered before the first step: the application may run to completion
        // (and `finish`) inside the call below.
        self.core
            .borrow_mut()
            .channels
            .insert(key.to_u64(), channel.clone_ref(py));
        let settle = Settle {
            channel: channel.clone_ref(py),
            subject,
            report: self.report.clone_ref(py),
        };
        let task = RequestTask::start(
            py,
            coro,
            self.loop_.clone_ref(py),
            self.call_soon.clone_ref(py),
            settle,
        )?;
        if let Some(task) = task {
            if self.core.borrow().channels.contains_key(&key.to_u64()) {
                bound.borrow_mut().set_task(task);
            }
        }
        Ok(())
    }
}

/// A duration in seconds; None or 0 for none (a negative one is an error).
fn positive_duration(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(0.0) => Ok(None),
        Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(PyValueError::new_err(format!(
            "a duration must be positive, got {s}"
        ))),
    }
}

/// Writes of at most this many bytes to a pipe are atomic (POSIX `PIPE_BUF`, 4096
/// on Linux): workers sharing one stderr never interleave inside a line.
const PIPE_BUF: usize = 4096;

/// Compiles an access log format, a bad one as a ValueError naming the problem.
pub fn compile_format(spec: &str) -> PyResult<AccessFormat> {
    AccessFormat::compile(spec).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Sets what trusted proxies said on an ASGI scope: `client`, `scheme`, and the
/// `host` header.
fn apply_to_scope(py: Python<'_>, scope: &Bound<'_, PyDict>, forwarded: &Forwarded) -> PyResult<()> {
    if let Some((host, port)) = &forwarded.client {
        scope.set_item(pyo3::intern!(py, "client"), (host.as_str(), *port))?;
    }
    if let Some(scheme) = forwarded.scheme {
        scope.set_item(pyo3::intern!(py, "scheme"), scheme)?;
    }
    if let Some(host) = &forwarded.host {
        let headers = scope
            .get_item(pyo3::intern!(py, "headers"))?
            .ok_or_else(|| PyValueError::new_err("scope without headers"))?;
        let headers = headers.cast_into::<PyList>()?;
        let pair = (PyBytes::new(py, b"host"), PyBytes::new(py, host)).into_pyobject(py)?;
        let mut replaced = false;
        for (i, item) in headers.iter().enumerate() {
            let name = item.get_item(0)?;
            if name.cast::<PyBytes>().is_ok_and(|n| n.as_bytes() == b"host") {
                headers.set_item(i, &pair)?;
                replaced = true;
                break;
            }
        }
        if !replaced {
            headers.append(pair)?;
        }
    }
    Ok(())
}

/// The request's `server` tuple (shared per listener) and `client` tuple (cached
/// per connection slot).
fn address_tuples<'py>(
    py: Python<'py>,
    servers: &[(LocalAddr, Py<PyTuple>)],
    clients: &mut Vec<Option<(SocketAddr, Py<PyTuple>)>>,
    key: RequestKey,
    view: &pyre_net::RequestView<'_>,
) -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyTuple>>)> {
    let server = servers
        .iter()
        .find(|(addr, _)| addr == view.local)
        .map(|(_, t)| t.bind(py).clone())
        .ok_or_else(|| PyOSError::new_err("request from an unknown listener"))?;
    let client = match view.peer {
        Some(peer) => Some(client_tuple(py, clients, key.index as usize, peer)?),
        None => None,
    };
    Ok((server, client))
}

/// The cached `(host, port)` tuple of the peer in connection slot `index`.
fn client_tuple<'py>(
    py: Python<'py>,
    cache: &mut Vec<Option<(SocketAddr, Py<PyTuple>)>>,
    index: usize,
    peer: SocketAddr,
) -> PyResult<Bound<'py, PyTuple>> {
    if let Some(Some((addr, tuple))) = cache.get(index) {
        if *addr == peer {
            return Ok(tuple.bind(py).clone());
        }
    }
    let tuple = (peer.ip().to_string(), peer.port()).into_pyobject(py)?;
    if cache.len() <= index {
        cache.resize_with(index + 1, || None);
    }
    cache[index] = Some((peer, tuple.clone().unbind()));
    Ok(tuple)
}
