//! The runtime: a `mio::Poll` over the listeners and connections, driven by whoever
//! owns the loop (Pyre's Python layer watches [`Server::poll_fd`] from asyncio).
//!
//! How it works: [`Server::process`] drains readiness events in batches with a zero
//! timeout: it accepts, reads, parses heads, flushes out-buffers and closes, and
//! queues an [`Event`] for each thing the application must hear about (a request, body
//! bytes it waits for, a disconnect). The application answers through
//! [`Server::read_body`], [`Server::start_response`] and [`Server::send_body`], which
//! act at once (write-through: bytes go to the socket in the same call and only what
//! the kernel refuses is buffered). Completing a response may parse the next
//! pipelined request and queue its event; [`Server::has_events`] tells the caller to
//! drain again. Deadlines are swept by [`Server::tick`], called about once a second.
//!
//! Readiness is edge-triggered: after `WouldBlock` we wait for the next event, and
//! whenever we stop reading ourselves (a full buffer) we resume by reading at once.
//! Work is shared out in turns: a connection that could go on (a file still being
//! sent after 4 MiB, a long unread body being discarded) is put on a list served at
//! the start of the next `process`, which [`Server::has_events`] asks for, so one
//! fast client never holds the loop while the others wait.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token};
use pyre_h1::{
    encode_chunk_header, encode_last_chunk, encode_response_head, parse_request, BodyDecoder, BodyEvent,
    DateCache, Framing, ParseError, RequestHead, ResponseContext, CHUNK_END,
};
use slab::Slab;

use crate::access_log::{AccessEntry, AccessLog, ClientAddr};
use crate::buffers::{BufferPool, ReadResult};
use crate::config::{ServerConfig, EVENTS_PER_POLL, LINGER_TIMEOUT};
use crate::connection::{Connection, Phase, Protocol, ResponseState};
use crate::listener::{BindAddr, Listener, LocalAddr};
use crate::metrics::{Metrics, Rejection, Snapshot};
use crate::output::{self, FileJob, Written};
use crate::proxy::resolve_peer;
use crate::websocket::WsClosed;

mod websocket;

/// Names one request: the connection's slab index and the request's sequence
/// number (server-wide, so a later connection in the same slot gets other keys).
/// Packed into a `u64` for the bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub index: u32,
    pub seq: u32,
}

impl RequestKey {
    pub fn to_u64(self) -> u64 {
        (u64::from(self.seq) << 32) | u64::from(self.index)
    }
    pub fn from_u64(v: u64) -> Self {
        RequestKey {
            index: v as u32,
            seq: (v >> 32) as u32,
        }
    }
}

/// What the application must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request head arrived; read it with [`Server::request`].
    Request(RequestKey),
    /// Body bytes (or the body's end) arrived for a request whose application waits.
    BodyReady(RequestKey),
    /// The client went away (or closed its side) while the request was in flight,
    /// or the connection failed while the application waited for it to drain.
    Disconnect(RequestKey),
    /// The output of a request whose application waits ([`Flow::Wait`]) drained
    /// below the low-water mark, or its file is out.
    Drained(RequestKey),
    /// A message (from an open WebSocket) is queued for an application that waits
    /// for one: take it with [`Server::ws_receive`].
    Message(RequestKey),
    /// The WebSocket ended (the closing handshake, a protocol error, the
    /// connection dropped): the request is over.
    WebSocketClosed(RequestKey, Box<WsClosed>),
    /// A request was refused by the codec, or a TLS connection failed (status 0;
    /// only when `report_protocol_errors`).
    ProtocolError {
        peer: Option<SocketAddr>,
        status: u16,
        reason: &'static str,
    },
}

/// The result of [`Server::read_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead {
    /// Bytes were appended to the output; `more` says whether body remains.
    Data { more: bool },
    /// Nothing yet; a [`Event::BodyReady`] will follow.
    Pending,
    /// The body had already ended.
    Done,
}

/// What a call that sends response bytes asks of the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Send more when ready.
    Ready,
    /// The out-buffer is above the high-water mark (or a file is being sent): wait
    /// for [`Event::Drained`] (or [`Event::Disconnect`]) before sending more.
    Wait,
}

/// Why a call on a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is gone (or this request is no longer the current one).
    Disconnected,
    /// The application broke HTTP framing; the connection was closed.
    Protocol(&'static str),
    /// The response head is invalid (a header with CR/LF, a bad status); nothing was
    /// written and the request can still be answered.
    InvalidHead(&'static str),
}

/// A view of a request in flight.
pub struct RequestView<'a> {
    pub head: &'a RequestHead,
    pub buf: &'a [u8],
    pub peer: Option<SocketAddr>,
    pub local: &'a LocalAddr,
    /// The TLS session the request came over (scheme `https`, the ASGI TLS
    /// extension); `None` on a plain connection.
    pub tls: Option<&'a rustls::ServerConnection>,
    /// A valid WebSocket upgrade request the application has not answered yet.
    pub websocket: Option<&'a pyre_ws::Handshake>,
}

const LISTENER_TOKEN_BASE: usize = usize::MAX / 2;

/// What one readiness event reported.
#[derive(Clone, Copy)]
struct Readiness {
    token: Token,
    readable: bool,
    writable: bool,
    error: bool,
    /// The peer closed (or the socket failed): read to EOF, no short-read shortcut.
    read_closed: bool,
}

pub struct Server {
    poll: Poll,
    events: Events,
    /// Listeners, by index; `None` once closed at shutdown (the address stays for
    /// the connections accepted from it).
    listeners: Vec<(Option<Listener>, LocalAddr)>,
    conns: Slab<Connection>,
    pool: BufferPool,
    config: ServerConfig,
    date: DateCache,
    now: Instant,
    queue: VecDeque<Event>,
    ready: Vec<Readiness>,
    in_flight: usize,
    requests_started: u64,
    /// The last request sequence number given out (see [`RequestKey`]): server-wide,
    /// so a connection that reuses a slab slot never repeats the key of a request
    /// of the slot's previous connection whose application may still be finishing.
    request_seq: u32,
    /// When [`Server::tick`] last ran (the minimum-rate rule counts waiting time
    /// from tick to tick).
    last_tick: Instant,
    shutting_down: bool,
    /// Connections with work left after their turn (a yielded file, a body being
    /// discarded) whose readiness edge was already consumed: served again at the
    /// start of the next [`Server::process`].
    again: Vec<usize>,
    /// The lines of completed responses not yet taken by the host (`--access-log`).
    access_log: Option<AccessLog>,
    /// Counters for `--metrics-port` (see `metrics.rs`).
    metrics: Metrics,
}

impl Server {
    pub fn new(mut config: ServerConfig) -> io::Result<Server> {
        let access_log = config.access_log.take();
        Ok(Server {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listeners: Vec::new(),
            conns: Slab::new(),
            pool: BufferPool::default(),
            config,
            date: DateCache::new(),
            now: Instant::now(),
            queue: VecDeque::new(),
            ready: Vec::with_capacity(EVENTS_PER_POLL),
            in_flight: 0,
            requests_started: 0,
            request_seq: 0,
            last_tick: Instant::now(),
            shutting_down: false,
            again: Vec::new(),
            access_log,
            metrics: Metrics::default(),
        })
    }

    /// The access log's batch, when the access log is on: the host takes its lines
    /// once per batch of events, on its tick and at shutdown.
    pub fn access_log(&mut self) -> Option<&mut AccessLog> {
        self.access_log.as_mut()
    }

    /// Binds a listener and starts accepting on it; returns the bound address.
    pub fn listen(&mut self, addr: &BindAddr, backlog: i32) -> io::Result<LocalAddr> {
        let mut listener = Listener::bind(addr, backlog)?;
        let local = listener.local_addr()?;
        let token = Token(LISTENER_TOKEN_BASE + self.listeners.len());
        self.poll
            .registry()
            .register(&mut listener, token, Interest::READABLE)?;
        self.listeners.push((Some(listener), local.clone()));
        Ok(local)
    }

    /// TLS for connections accepted from now on (`None`: plain). Open connections
    /// keep the configuration they started with, so a certificate reload drops none.
    pub fn set_tls(&mut self, tls: Option<std::sync::Arc<rustls::ServerConfig>>) {
        self.config.tls = tls;
    }

    /// The poll's file descriptor: readable when events are ready.
    pub fn poll_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    /// Requests handed to the application whose responses are not complete.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The counters and gauges now (see [`crate::metrics`]).
    pub fn metrics(&self) -> Snapshot {
        self.metrics.snapshot(self.in_flight, self.conns.len())
    }

    /// Events are queued, or connections wait for another turn: call
    /// [`Server::process`] again soon, without waiting for the poll.
    pub fn has_events(&self) -> bool {
        !self.queue.is_empty() || !self.again.is_empty()
    }

    pub fn pop_event(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// Handles every ready event, polling with a zero timeout until none is left.
    pub fn process(&mut self) -> io::Result<()> {
        self.now = Instant::now();
        for id in std::mem::take(&mut self.again) {
            self.serve_again(id);
        }
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.events.is_empty() {
                return Ok(());
            }
            // Copied out of `events` (borrowed by the poll) into a reused buffer,
            // so handling an event may borrow the server mutably.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(self.events.iter().map(|e| Readiness {
                token: e.token(),
                readable: e.is_readable() || e.is_read_closed() || e.is_error(),
                writable: e.is_writable() || e.is_write_closed(),
                error: e.is_error(),
                read_closed: e.is_read_closed() || e.is_error(),
            }));
            for &Readiness {
                token,
                readable,
                writable,
                error,
                read_closed,
            } in &ready
            {
                if token.0 >= LISTENER_TOKEN_BASE {
                    self.accept(token.0 - LISTENER_TOKEN_BASE);
                    continue;
                }
                let id = token.0;
                if error && !readable {
                    self.close(id);
                    continue;
                }
                if writable && self.conns.contains(id) {
                    self.on_writable(id);
                }
                if readable && self.conns.contains(id) {
                    self.on_readable(id, !read_closed);
                }
            }
            let batch = ready.len();
            self.ready = ready;
            if batch < EVENTS_PER_POLL {
                return Ok(());
            }
        }
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let accepted = match self.listeners.get(listener) {
                Some((Some(l), _)) => l.accept(),
                _ => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let entry = self.conns.vacant_entry();
                    let id = entry.key();
                    let mut conn = Connection::new(stream, peer, listener);
                    if let Some(tls) = &self.config.tls {
                        match crate::transport::TlsSession::new(tls.clone()) {
                            Ok(session) => conn.tls = Some(Box::new(session)),
                            Err(_) => continue,
                        }
                    }
                    if self
                        .poll
                        .registry()
                        .register(&mut conn.stream, Token(id), Interest::READABLE)
                        .is_err()
                    {
                        continue;
                    }
                    conn.deadline = Some(self.now + self.config.header_timeout);
                    entry.insert(conn);
                    self.metrics.accepted();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => {}
                // Out of file descriptors or memory: stop accepting for this batch;
                // the pending connections stay in the backlog.
                Err(_) => return,
            }
        }
    }

    /// Reads what the phase allows, then advances the state machine.
    /// `short_read_drains`: see [`Server::fill_from`].
    fn on_readable(&mut self, id: usize, short_read_drains: bool) {
        if self.conns[id].tls.as_ref().is_some_and(|t| t.fresh) && !self.tls_first_bytes(id) {
            return;
        }
        let eof = self.fill_from(id, short_read_drains);
        // A TLS handshake answer the socket did not take whole waits for writability.
        if crate::transport::has_output(self.conns[id].tls.as_deref())
            && !self.conns[id].write_interest
            && !self.flush(id)
        {
            return;
        }
        let conn = &mut self.conns[id];
        match conn.phase {
            Phase::Idle | Phase::ReadingHead => {
                if !conn.read_buf.is_empty() {
                    self.parse_next(id);
                }
                if eof && self.conns.contains(id) {
                    let conn = &self.conns[id];
                    if matches!(conn.phase, Phase::Idle | Phase::ReadingHead) {
                        self.close(id);
                    }
                }
            }
            Phase::InFlight if matches!(conn.protocol, Protocol::WebSocket(_)) => {
                self.ws_readable(id, eof);
            }
            Phase::InFlight => {
                if conn.body_wanted && (conn.read_buf.len() > conn.body_pos || eof) {
                    conn.body_wanted = false;
                    let key = key_of(id, conn);
                    self.queue.push_back(Event::BodyReady(key));
                }
                if eof {
                    conn.keep_alive = false;
                    if !conn.disconnect_reported {
                        conn.disconnect_reported = true;
                        let key = key_of(id, conn);
                        self.queue.push_back(Event::Disconnect(key));
                    }
                }
            }
            Phase::Draining => {
                self.drain(id);
                if eof && self.conns.contains(id) {
                    self.close(id);
                }
            }
            Phase::Closing => {}
            Phase::Lingering => {
                conn.read_buf.clear();
                if eof {
                    self.close(id);
                }
            }
        }
    }

    /// Reads into the connection's buffer up to its phase's limit, until the kernel
    /// has no more. Returns true on EOF.
    fn fill(&mut self, id: usize) -> bool {
        self.fill_from(id, false)
    }

    /// As [`Server::fill`]. With `short_read_drains`, a read that returns less than
    /// the room offered is taken to have emptied the socket, which saves the
    /// `read(2)` that would only say `EAGAIN` (one syscall per request). That is
    /// sound for a readiness event without a hang-up: with edge-triggered epoll any
    /// byte arriving later raises a new event (nginx reads the same way).
    fn fill_from(&mut self, id: usize, short_read_drains: bool) -> bool {
        let max_head = self.config.limits.max_head_bytes;
        let high_water = self.config.read_high_water;
        let conn = &mut self.conns[id];
        if conn.read_closed {
            return true;
        }
        if conn.read_buf.capacity() == 0 {
            conn.read_buf = self.pool.take();
        }
        loop {
            let limit = conn.read_limit(max_head, high_water);
            if conn.read_buf.len() >= limit {
                conn.read_paused = conn.phase != Phase::Closing;
                return false;
            }
            let room = limit - conn.read_buf.len();
            match crate::transport::read(
                &mut conn.stream,
                conn.tls.as_deref_mut(),
                &mut conn.read_buf,
                room,
            ) {
                ReadResult::Read { read: n, offered } => {
                    self.metrics.received(n);
                    conn.moved += n as u64;
                    if conn.phase == Phase::Lingering {
                        conn.read_buf.clear();
                    }
                    if short_read_drains && n > 0 && n < offered {
                        conn.read_paused = false;
                        return false;
                    }
                }
                ReadResult::WouldBlock => {
                    conn.read_paused = false;
                    return false;
                }
                ReadResult::Eof => {
                    conn.read_paused = false;
                    conn.read_closed = true;
                    return true;
                }
                ReadResult::Failed => {
                    if let Some(tls) = conn.tls.as_ref().filter(|t| t.failed) {
                        self.metrics.tls_failed();
                        if self.config.report_protocol_errors {
                            self.queue.push_back(Event::ProtocolError {
                                peer: conn.peer,
                                status: 0,
                                reason: tls.error.unwrap_or("TLS: failed"),
                            });
                        }
                    }
                    conn.read_closed = true;
                    conn.keep_alive = false;
                    return true;
                }
            }
        }
    }

    /// The first bytes on a TLS connection: a plain-HTTP request gets a plain `400`
    /// (as nginx answers) and the connection closes. Returns whether to go on reading.
    fn tls_first_bytes(&mut self, id: usize) -> bool {
        let conn = &mut self.conns[id];
        if crate::transport::peek_first_byte(conn.stream.raw_fd()) == crate::transport::FirstByte::Tls {
            return true;
        }
        conn.tls = None;
        self.metrics.tls_failed();
        if self.config.report_protocol_errors {
            self.queue.push_back(Event::ProtocolError {
                peer: conn.peer,
                status: 400,
                reason: "plain HTTP request sent to an HTTPS port",
            });
        }
        self.write_error(id, 400, "plain HTTP request sent to an HTTPS port");
        false
    }

    /// Parses the next head from the read buffer (Idle or ReadingHead phase).
    fn parse_next(&mut self, id: usize) {
        let conn = &mut self.conns[id];
        match parse_request(&conn.read_buf, &self.config.limits) {
            Ok(None) => {
                if conn.phase == Phase::Idle {
                    conn.phase = Phase::ReadingHead;
                    conn.deadline = Some(self.now + self.config.header_timeout);
                }
            }
            Ok(Some(head)) => {
                // Never 0: that marks a connection without a request yet.
                self.request_seq = self.request_seq.wrapping_add(1).max(1);
                conn.seq = self.request_seq;
                conn.body_pos = head.head_len;
                conn.body = match head.framing {
                    Framing::Empty => None,
                    framing => Some(BodyDecoder::new(framing, &self.config.limits)),
                };
                conn.keep_alive = head.keep_alive && !self.shutting_down;
                conn.head = Some(head);
                conn.response = ResponseState::NotStarted;
                conn.continue_sent = false;
                conn.body_wanted = false;
                conn.disconnect_reported = false;
                conn.deadline = None;
                conn.phase = Phase::InFlight;
                conn.status = 0;
                conn.body_sent = 0;
                conn.moved = 0;
                conn.waited = Duration::ZERO;
                conn.started = self.now;
                self.in_flight += 1;
                if self
                    .config
                    .limit_concurrency
                    .is_some_and(|limit| self.in_flight > limit)
                {
                    self.in_flight -= 1;
                    conn.phase = Phase::Closing;
                    conn.head = None;
                    self.metrics.rejected(Rejection::ConcurrencyLimit);
                    self.write_error(id, 503, "server busy: too many requests in flight");
                    return;
                }
                if conn.head.as_ref().is_some_and(|h| h.upgrade.is_some()) && !self.check_upgrade(id) {
                    return;
                }
                self.requests_started += 1;
                let conn = &self.conns[id];
                let key = key_of(id, conn);
                self.queue.push_back(Event::Request(key));
            }
            Err(e) => self.refuse(id, e),
        }
    }

    /// Answers a request the codec refused, and closes.
    fn refuse(&mut self, id: usize, error: ParseError) {
        self.metrics.rejected(Rejection::Codec(error));
        if self.config.report_protocol_errors {
            self.queue.push_back(Event::ProtocolError {
                peer: self.conns[id].peer,
                status: error.status().code(),
                reason: error.reason(),
            });
        }
        self.write_error(id, error.status().code(), error.reason());
    }

    /// Writes a short plain-text error response with `Connection: close`, then
    /// closes the connection after the flush.
    fn write_error(&mut self, id: usize, status: u16, reason: &str) {
        self.write_error_with(id, status, reason, &[]);
    }

    /// [`Server::write_error`] with more header fields.
    fn write_error_with(&mut self, id: usize, status: u16, reason: &str, fields: &[(&[u8], &[u8])]) {
        self.metrics.response(status);
        self.date.update(SystemTime::now());
        let conn = &mut self.conns[id];
        if conn.write_buf.capacity() == 0 {
            conn.write_buf = self.pool.take();
        }
        conn.phase = Phase::Closing;
        conn.keep_alive = false;
        // An answer to HEAD has no body (RFC 9110 section 9.3.2), refused or not.
        let head_request = starts_with_head_method(&conn.read_buf);
        let body_len = reason.len() as u64 + 1;
        let headers = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..])];
        if encode_response_head(
            &mut conn.write_buf,
            &ResponseContext::for_error(),
            status,
            headers.iter().chain(fields).copied(),
            Some(body_len),
            date_field(&self.config, &self.date),
        )
        .is_ok()
            && !head_request
        {
            conn.write_buf.extend_from_slice(reason.as_bytes());
            conn.write_buf.push(b'\n');
        }
        self.flush(id);
    }

    /// Writes the out-buffer and the pending file, then [`Server::settle`]s.
    /// Returns false when the socket failed and the connection was closed.
    fn flush(&mut self, id: usize) -> bool {
        let had_file = self.conns[id].file.is_some();
        let before = *self.metrics.sent();
        let written = output::write_out(
            &mut self.conns[id],
            self.config.file_bytes_per_turn,
            self.metrics.sent(),
        );
        self.conns[id].moved += *self.metrics.sent() - before;
        self.settle(id, written, had_file)
    }

    /// Acts on what a write left behind: watch for writability while bytes wait;
    /// tell an application waiting under backpressure that the output drained;
    /// complete a response whose file is out; finish a closing connection once
    /// everything is out. Returns false when the socket failed and the connection
    /// was closed.
    fn settle(&mut self, id: usize, written: Written, had_file: bool) -> bool {
        if written == Written::Failed {
            self.close(id);
            return false;
        }
        if written == Written::Yielded {
            self.again.push(id);
        }
        let low_water = self.config.write_low_water;
        let conn = &mut self.conns[id];
        let waiting = conn.output_waiting();
        if waiting != conn.write_interest {
            conn.write_interest = waiting;
            let interest = if waiting {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(id), interest);
        }
        let file_done = had_file && conn.file.is_none();
        if conn.drain_wanted && conn.file.is_none() && (file_done || conn.pending_write() <= low_water) {
            conn.drain_wanted = false;
            self.queue.push_back(Event::Drained(key_of(id, conn)));
        }
        if file_done {
            conn.response = ResponseState::Complete;
            self.finish(id);
            if !self.conns.contains(id) {
                return true;
            }
        }
        let conn = &self.conns[id];
        if !waiting && conn.phase == Phase::Closing {
            self.linger(id);
        }
        true
    }

    /// Another turn for a connection in [`Server::again`].
    fn serve_again(&mut self, id: usize) {
        let Some(conn) = self.conns.get(id) else { return };
        if conn.phase == Phase::Draining {
            self.drain(id);
        } else if matches!(conn.protocol, Protocol::WebSocket(_)) && conn.phase == Phase::InFlight {
            self.ws_resume(id);
        } else if conn.output_waiting() {
            self.flush(id);
        }
    }

    fn on_writable(&mut self, id: usize) {
        if self.conns[id].output_waiting() {
            self.flush(id);
        }
    }

    /// Shuts down the write side and keeps reading (discarding) until EOF or
    /// [`LINGER_TIMEOUT`], so the response is not destroyed by a reset.
    fn linger(&mut self, id: usize) {
        let conn = &mut self.conns[id];
        crate::transport::shutdown_write(&mut conn.stream, conn.tls.as_deref_mut());
        conn.phase = Phase::Lingering;
        conn.read_buf.clear();
        conn.deadline = Some(self.now + LINGER_TIMEOUT);
        if conn.read_closed || self.fill(id) {
            self.close(id);
        }
    }

    /// Removes a connection; reports a disconnect if a request was in flight.
    fn close(&mut self, id: usize) {
        let Some(mut conn) = self.conns.try_remove(id) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if conn.phase == Phase::InFlight {
            self.in_flight -= 1;
            if let Protocol::WebSocket(ws) = &mut conn.protocol {
                // Gone without the closing handshake (or it timed out): 1006.
                let closed = WsClosed {
                    code: pyre_ws::close_code::ABNORMAL,
                    reason: String::new(),
                    unread: std::mem::take(&mut ws.inbox),
                };
                self.queue
                    .push_back(Event::WebSocketClosed(key_of(id, &conn), Box::new(closed)));
            } else {
                self.metrics.aborted();
                if !conn.disconnect_reported || conn.drain_wanted {
                    self.queue.push_back(Event::Disconnect(key_of(id, &conn)));
                }
            }
        }
        self.pool.give(std::mem::take(&mut conn.read_buf));
        self.pool.give(std::mem::take(&mut conn.write_buf));
    }

    /// The connection's current request, if `key` still names it.
    fn current(&mut self, key: RequestKey) -> Result<&mut Connection, SendError> {
        current_in(&mut self.conns, key)
    }

    /// The head and addresses of a request in flight.
    pub fn request(&self, key: RequestKey) -> Option<RequestView<'_>> {
        let conn = self.conns.get(key.index as usize)?;
        if conn.seq != key.seq || conn.phase != Phase::InFlight {
            return None;
        }
        Some(RequestView {
            head: conn.head.as_ref()?,
            buf: &conn.read_buf,
            peer: conn.peer,
            local: &self.listeners[conn.listener].1,
            tls: conn.tls.as_deref().map(|t| &t.conn),
            websocket: match &conn.protocol {
                Protocol::Upgrading(handshake) => Some(handshake),
                _ => None,
            },
        })
    }

    /// Whether the request in flight accepts trailer fields (`TE: trailers`).
    pub fn accepts_trailers(&self, key: RequestKey) -> bool {
        self.request(key).is_some_and(|view| view.head.te_trailers)
    }

    /// Whether `key` still names a request on an open connection.
    pub fn is_open(&self, key: RequestKey) -> bool {
        self.request(key).is_some()
    }

    /// Moves the request body bytes available now into `out`. Reads from the
    /// socket at once if reading had paused on a full buffer, and sends
    /// `100 Continue` the first time the application waits for a body the client
    /// holds back.
    pub fn read_body(&mut self, key: RequestKey, out: &mut Vec<u8>) -> Result<BodyRead, SendError> {
        let id = key.index as usize;
        let start_len = out.len();
        let high_water = self.config.read_high_water;
        loop {
            let conn = self.current(key)?;
            let Some(decoder) = conn.body.as_mut() else {
                return Ok(if out.len() > start_len {
                    BodyRead::Data { more: false }
                } else {
                    BodyRead::Done
                });
            };
            let mut ended = false;
            while conn.body_pos < conn.read_buf.len() {
                match decoder.decode(&conn.read_buf[conn.body_pos..]) {
                    Ok((n, BodyEvent::Data(range))) => {
                        out.extend_from_slice(&conn.read_buf[conn.body_pos..][range]);
                        conn.body_pos += n;
                    }
                    Ok((n, BodyEvent::NeedMore)) => {
                        conn.body_pos += n;
                        break;
                    }
                    Ok((n, BodyEvent::End)) => {
                        conn.body_pos += n;
                        ended = true;
                        break;
                    }
                    Err(e) => {
                        self.body_error(id, e);
                        return Err(SendError::Disconnected);
                    }
                }
            }
            if !ended && decoder.is_done() {
                ended = true;
            }
            if ended {
                conn.body = None;
            }
            compact(conn);
            // Resume a paused socket, but hand over at most about one high-water
            // mark of body per call, so one message stays bounded.
            let room = out.len() - start_len < high_water;
            if conn.read_paused && !ended && room {
                let eof = self.fill(id);
                let conn = &mut self.conns[id];
                if conn.read_buf.len() > conn.body_pos {
                    continue;
                }
                if eof {
                    // The client closed before the body ended.
                    return Err(SendError::Disconnected);
                }
            }
            let conn = &mut self.conns[id];
            if out.len() > start_len {
                return Ok(BodyRead::Data { more: !ended });
            }
            if ended {
                return Ok(BodyRead::Done);
            }
            if conn.read_closed {
                return Err(SendError::Disconnected);
            }
            conn.body_wanted = true;
            let expects = conn.head.as_ref().is_some_and(|h| h.expect_continue);
            if expects && !conn.continue_sent && conn.response == ResponseState::NotStarted {
                conn.continue_sent = true;
                if conn.write_buf.capacity() == 0 {
                    conn.write_buf = self.pool.take();
                }
                conn.write_buf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                self.flush(id);
            }
            return Ok(BodyRead::Pending);
        }
    }

    /// A malformed request body: answer 400 if nothing was sent yet, else close.
    fn body_error(&mut self, id: usize, error: ParseError) {
        let conn = &mut self.conns[id];
        self.in_flight -= 1;
        conn.disconnect_reported = true;
        if conn.response == ResponseState::NotStarted {
            conn.phase = Phase::Closing;
            self.refuse(id, error);
        } else {
            conn.phase = Phase::Closing;
            self.close(id);
        }
    }

    /// Writes the response head. `body_len` is the whole body's size when known.
    pub fn start_response<I, N, V>(
        &mut self,
        key: RequestKey,
        status: u16,
        headers: I,
        body_len: Option<u64>,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let shutting_down = self.shutting_down;
        self.date.update(SystemTime::now());
        let conn = current_in(&mut self.conns, key)?;
        if conn.response != ResponseState::NotStarted {
            return Err(SendError::Protocol("response already started"));
        }
        let head = conn.head.as_ref().ok_or(SendError::Disconnected)?;
        let mut ctx = head.response_context();
        ctx.keep_alive = conn.keep_alive && !shutting_down;
        if conn.write_buf.capacity() == 0 {
            conn.write_buf = self.pool.take();
        }
        let date = date_field(&self.config, &self.date);
        let encoded = if self.config.default_headers.is_empty() {
            encode_response_head(&mut conn.write_buf, &ctx, status, headers, body_len, date)
        } else {
            // The application's fields, then each default it did not set itself.
            let fields: Vec<(N, V)> = headers.into_iter().collect();
            let own = |name: &[u8]| fields.iter().any(|(n, _)| n.as_ref().eq_ignore_ascii_case(name));
            let defaults = self.config.default_headers.iter().filter(|(n, _)| !own(n));
            let all = fields
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .chain(defaults.map(|(n, v)| (n.as_slice(), v.as_slice())));
            encode_response_head(&mut conn.write_buf, &ctx, status, all, body_len, date)
        };
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(pyre_h1::EncodeError::ContentLengthMismatch) => {
                // A one-shot body that disagrees with the application's own
                // Content-Length. Nothing was written yet, so the client gets a
                // 500, and as for a stream the connection closes.
                let message = "response body does not match its Content-Length";
                self.in_flight -= 1;
                self.observe_duration(key.index as usize);
                self.conns[key.index as usize].disconnect_reported = true;
                self.write_error(key.index as usize, 500, message);
                return Err(SendError::Protocol(message));
            }
            Err(e) => return Err(SendError::InvalidHead(e.reason())),
        };
        conn.keep_alive = encoded.keep_alive;
        conn.status = status;
        conn.response = ResponseState::Streaming {
            framing: encoded.framing,
            sent: 0,
        };
        Ok(())
    }

    /// Writes body bytes; `more == false` completes the response. Returns
    /// [`Flow::Wait`] when the application should wait for the output to drain.
    pub fn send_body(&mut self, key: RequestKey, data: &[u8], more: bool) -> Result<Flow, SendError> {
        let id = key.index as usize;
        let framing = self.add_to_body(key, data.len() as u64, !more)?;
        let conn = &mut self.conns[id];
        let (data, tail): (&[u8], &[u8]) = match framing {
            Framing::Empty => (&[], &[]),
            Framing::Length(_) | Framing::CloseDelimited => (data, &[]),
            Framing::Chunked => {
                if !data.is_empty() {
                    encode_chunk_header(&mut conn.write_buf, data.len());
                }
                let tail: &[u8] = match (data.is_empty(), more) {
                    (_, true) if data.is_empty() => &[],
                    (_, true) => CHUNK_END,
                    (true, false) => LAST_CHUNK,
                    (false, false) => CHUNK_END_AND_LAST,
                };
                (data, tail)
            }
        };
        self.write_body(id, data, tail, more)
    }

    /// Completes a streamed response with trailer fields. They are sent only in a
    /// chunked body to a request that said `TE: trailers`, and dropped otherwise
    /// (RFC 9110 section 6.5.1: a recipient may discard them).
    pub fn send_trailers<I, N, V>(&mut self, key: RequestKey, trailers: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let id = key.index as usize;
        let framing = self.add_to_body(key, 0, true)?;
        let conn = &mut self.conns[id];
        if framing == Framing::Chunked {
            let wanted = conn.head.as_ref().is_some_and(|h| h.te_trailers);
            let start = conn.write_buf.len();
            let encoded = if wanted {
                encode_last_chunk(&mut conn.write_buf, trailers)
            } else {
                encode_last_chunk(&mut conn.write_buf, std::iter::empty::<(&[u8], &[u8])>())
            };
            if let Err(e) = encoded {
                conn.write_buf.truncate(start);
                self.abort_key(key);
                return Err(SendError::Protocol(e.reason()));
            }
        }
        self.write_body(id, &[], &[], false).map(|_| ())
    }

    /// Sends `len` bytes of `file` from `offset` as the rest of the response body,
    /// with `sendfile(2)`; the response completes when the file is out. Returns
    /// [`Flow::Wait`] while the file is being sent ([`Event::Drained`] follows).
    pub fn send_file(
        &mut self,
        key: RequestKey,
        file: File,
        offset: u64,
        len: u64,
    ) -> Result<Flow, SendError> {
        let id = key.index as usize;
        let framing = self.add_to_body(key, len, true)?;
        let conn = &mut self.conns[id];
        let tail: &'static [u8] = match framing {
            Framing::Chunked if len > 0 => {
                encode_chunk_header(&mut conn.write_buf, len as usize);
                CHUNK_END_AND_LAST
            }
            Framing::Chunked => LAST_CHUNK,
            _ => &[],
        };
        if framing == Framing::Empty || len == 0 {
            self.conns[id].write_buf.extend_from_slice(tail);
            return self.write_body(id, &[], &[], false);
        }
        // Still streaming until the file is out: `settle` completes the response.
        conn.file = Some(Box::new(FileJob {
            file,
            offset,
            remaining: len,
            tail,
        }));
        conn.drain_wanted = true;
        if !self.flush(id) {
            return Err(SendError::Disconnected);
        }
        let sending = self.conns.get(id).is_some_and(|c| c.file.is_some());
        Ok(if sending { Flow::Wait } else { Flow::Ready })
    }

    /// Checks that `added` more body bytes keep the response within its framing
    /// (`last`: they end it) and counts them. Returns the response's framing.
    fn add_to_body(&mut self, key: RequestKey, added: u64, last: bool) -> Result<Framing, SendError> {
        let conn = self.current(key)?;
        let ResponseState::Streaming { framing, sent } = conn.response else {
            return Err(SendError::Protocol(if conn.response == ResponseState::Complete {
                "response already complete"
            } else {
                "response not started"
            }));
        };
        if conn.file.is_some() {
            return Err(SendError::Protocol(
                "a file is being sent as the rest of the response",
            ));
        }
        let sent = sent + added;
        let violation = match framing {
            Framing::Length(n) if sent > n => Some("response body longer than its Content-Length"),
            Framing::Length(n) if last && sent < n => Some("response body shorter than its Content-Length"),
            _ => None,
        };
        if let Some(message) = violation {
            self.abort_key(key);
            return Err(SendError::Protocol(message));
        }
        conn.response = ResponseState::Streaming { framing, sent };
        if framing != Framing::Empty {
            conn.body_sent += added;
        }
        Ok(framing)
    }

    /// Writes framed body bytes through; `more == false` completes the response.
    fn write_body(&mut self, id: usize, data: &[u8], tail: &[u8], more: bool) -> Result<Flow, SendError> {
        let before = *self.metrics.sent();
        let written = output::write_through(&mut self.conns[id], data, tail, self.metrics.sent());
        self.conns[id].moved += *self.metrics.sent() - before;
        if written == Written::Failed {
            // A stream in progress learns it now; a completed response was handed to
            // the kernel as far as it would go (and is logged as complete).
            if !more {
                self.now = Instant::now();
                self.log_response(id);
            }
            self.close(id);
            return if more {
                Err(SendError::Disconnected)
            } else {
                Ok(Flow::Ready)
            };
        }
        if !more {
            self.conns[id].response = ResponseState::Complete;
            self.finish(id);
        }
        if self.conns.contains(id) {
            self.settle(id, written, false);
        }
        let high_water = self.config.write_high_water;
        match self.conns.get_mut(id) {
            Some(conn) if more && conn.pending_write() > high_water => {
                conn.drain_wanted = true;
                Ok(Flow::Wait)
            }
            _ => Ok(Flow::Ready),
        }
    }

    /// The response is complete: keep the connection for the next request, or
    /// close it after the flush.
    fn finish(&mut self, id: usize) {
        self.in_flight -= 1;
        self.metrics.response(self.conns[id].status);
        self.observe_duration(id);
        self.log_response(id);
        let conn = &mut self.conns[id];
        if conn.keep_alive && !self.shutting_down && !conn.read_closed {
            if conn.body.is_some() {
                conn.phase = Phase::Draining;
                conn.deadline = Some(self.now + self.config.keep_alive_timeout);
                self.drain(id);
            } else {
                self.next_request(id);
            }
        } else {
            conn.phase = Phase::Closing;
            conn.deadline = Some(self.now + self.config.keep_alive_timeout);
        }
    }

    /// Adds the access log line of the response just completed on `id` (its head is
    /// still in the read buffer; `self.now` is the completion time).
    fn log_response(&mut self, id: usize) {
        let Some(log) = self.access_log.as_mut() else {
            return;
        };
        let conn = &self.conns[id];
        let Some(head) = conn.head.as_ref() else { return };
        let buf = &conn.read_buf;
        let forwarded = self
            .config
            .proxy
            .as_ref()
            .and_then(|trust| resolve_peer(trust, conn.peer, head, buf));
        let client = match (forwarded.as_ref().and_then(|f| f.client.as_ref()), conn.peer) {
            (Some((host, port)), _) => ClientAddr::Forwarded(host, *port),
            (None, Some(peer)) => ClientAddr::Peer(peer),
            (None, None) => ClientAddr::Unknown,
        };
        let target = head.target.get(buf);
        let (raw_path, query) = pyre_h1::split_target(head.target_form, target);
        let entry = AccessEntry {
            client,
            method: head.method_span.get(buf),
            raw_path,
            query,
            target,
            http_version: head.version.as_str(),
            status: conn.status,
            bytes: conn.body_sent,
            duration: self.now.saturating_duration_since(conn.started),
        };
        log.record(&entry);
    }

    /// Counts the duration of the request on connection `id`, whose response is
    /// complete. Refreshes the server's clock, which deadlines set next and a
    /// pipelined request's start then use.
    fn observe_duration(&mut self, id: usize) {
        self.now = Instant::now();
        let elapsed = self.now.saturating_duration_since(self.conns[id].started);
        self.metrics.duration(elapsed.as_nanos() as u64);
    }

    /// Discards request body the application did not read; then the next request.
    /// At most [`DRAIN_READS_PER_TURN`] buffer-fulls are read before the other
    /// connections get their turn.
    fn drain(&mut self, id: usize) {
        let mut reads = 0;
        loop {
            let conn = &mut self.conns[id];
            let Some(decoder) = conn.body.as_mut() else {
                return self.next_request(id);
            };
            match decoder.decode(&conn.read_buf[conn.body_pos..]) {
                Ok((n, BodyEvent::Data(_))) => conn.body_pos += n,
                Ok((n, BodyEvent::NeedMore)) => {
                    conn.body_pos += n;
                    conn.read_buf.clear();
                    conn.body_pos = 0;
                    if !conn.read_paused {
                        return;
                    }
                    reads += 1;
                    if reads > DRAIN_READS_PER_TURN {
                        self.again.push(id);
                        return;
                    }
                    if self.fill(id) {
                        return self.close(id);
                    }
                }
                Ok((n, BodyEvent::End)) => {
                    conn.body_pos += n;
                    conn.body = None;
                    return self.next_request(id);
                }
                Err(_) => {
                    conn.phase = Phase::Closing;
                    return self.linger(id);
                }
            }
        }
    }

    /// Starts over on a keep-alive connection; parses pipelined bytes at once.
    fn next_request(&mut self, id: usize) {
        let conn = &mut self.conns[id];
        conn.head = None;
        conn.body = None;
        conn.read_buf.drain(..conn.body_pos.min(conn.read_buf.len()));
        conn.body_pos = 0;
        conn.phase = Phase::Idle;
        conn.deadline = Some(self.now + self.config.keep_alive_timeout);
        let paused = conn.read_paused;
        if paused {
            self.fill(id);
        }
        let conn = &mut self.conns[id];
        if conn.read_buf.is_empty() {
            if conn.pending_write() == 0 {
                self.pool.give(std::mem::take(&mut conn.write_buf));
                conn.write_pos = 0;
            }
            self.pool.give(std::mem::take(&mut conn.read_buf));
            if conn.read_closed {
                self.close(id);
            }
        } else {
            self.parse_next(id);
        }
    }

    /// Ends the request in flight by closing the connection (the application failed
    /// after the response started, or broke framing).
    pub fn abort(&mut self, key: RequestKey) {
        self.abort_key(key);
    }

    fn abort_key(&mut self, key: RequestKey) {
        if self.current(key).is_ok() {
            let conn = &mut self.conns[key.index as usize];
            conn.disconnect_reported = true;
            self.close(key.index as usize);
        }
    }

    /// Sweeps deadlines: idle keep-alive connections close, slow heads get 408,
    /// lingering closes end. Also retries accepting (see below).
    pub fn tick(&mut self) {
        self.now = Instant::now();
        let since_last = self.now.saturating_duration_since(self.last_tick);
        self.last_tick = self.now;
        self.date.update(SystemTime::now());
        // Accepting stops when the process runs out of file descriptors; with
        // edge-triggered readiness no new event comes for connections already
        // waiting in the backlog, so retry here once a second.
        for listener in 0..self.listeners.len() {
            self.accept(listener);
        }
        let expired: Vec<(usize, Phase)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= self.now))
            .map(|(id, c)| (id, c.phase))
            .collect();
        for (id, phase) in expired {
            match phase {
                Phase::ReadingHead => {
                    self.metrics.rejected(Rejection::HeaderTimeout);
                    self.write_error(id, 408, "request head not received in time");
                }
                Phase::InFlight => self.ws_deadline(id),
                _ => self.close(id),
            }
        }
        if let Some(rule) = self.config.min_rate {
            self.close_too_slow(rule, since_last.min(Duration::from_secs(2)));
        }
    }

    /// The minimum-rate rule (see [`crate::config::MinRate`]): `elapsed` is the
    /// time since the last tick (capped, so a stalled process does not count
    /// against its clients).
    fn close_too_slow(&mut self, rule: crate::config::MinRate, elapsed: Duration) {
        let mut slow = Vec::new();
        for (id, conn) in self.conns.iter_mut() {
            if !matches!(conn.protocol, Protocol::Http1) {
                continue;
            }
            // Waiting on the client: in Pyre (body wanted, body drained, output
            // buffered) or in the kernel (an answer handed over whole, unread).
            let in_pyre = matches!(conn.phase, Phase::InFlight | Phase::Draining | Phase::Closing)
                && conn.waits_on_client();
            if !in_pyre && !matches!(conn.phase, Phase::InFlight | Phase::Idle | Phase::Closing) {
                continue;
            }
            // Bytes the client moved: of the output, only what it acknowledged.
            let unsent = if conn.moved > 0 {
                conn.stream.unsent_bytes().unwrap_or(0)
            } else {
                0
            };
            if !in_pyre && unsent == 0 {
                continue;
            }
            let moved = conn.moved.saturating_sub(unsent);
            conn.waited += elapsed;
            let earned = Duration::from_secs_f64(moved as f64 / rule.bytes_per_second.max(1) as f64);
            if conn.waited > rule.grace + earned {
                slow.push(id);
            }
        }
        for id in slow {
            if self.config.report_protocol_errors {
                self.queue.push_back(Event::ProtocolError {
                    peer: self.conns[id].peer,
                    status: 408,
                    reason: "client too slow: below the minimum data rate",
                });
            }
            // Reset rather than close: the kernel drops what the client did not
            // read instead of trickling it out, and frees its buffers at once.
            let _ = self.conns[id].stream.reset_on_close();
            self.close(id);
        }
    }

    /// Stops accepting; requests in flight finish and their connections close after
    /// the response.
    ///
    /// How it avoids dropping requests: connections that completed the handshake
    /// and wait in the listener's accept queue are accepted first (closing the
    /// listener would reset them), and are served. A keep-alive connection that was
    /// busy within the last [`SHUTDOWN_IDLE_GRACE`] is not closed at once: its
    /// client may be sending the next request right now, and a close racing it
    /// would lose that request. It stays open until the grace ends, and a request
    /// arriving meanwhile is answered with `Connection: close`. Connections idle for
    /// longer close now; a partly received head is still read and answered.
    pub fn begin_shutdown(&mut self) {
        self.now = Instant::now();
        for listener in 0..self.listeners.len() {
            self.accept(listener);
        }
        self.shutting_down = true;
        for (listener, _) in &mut self.listeners {
            if let Some(mut listener) = listener.take() {
                let _ = self.poll.registry().deregister(&mut listener);
            }
        }
        let (now, config) = (self.now, &self.config);
        let mut close = Vec::new();
        let mut linger = Vec::new();
        let mut websockets = Vec::new();
        for (id, conn) in self.conns.iter_mut() {
            conn.keep_alive = false;
            match conn.phase {
                Phase::Idle if conn.read_buf.is_empty() => {
                    // When it went idle: its deadline minus the timeout that set it.
                    let timeout = if conn.seq == 0 {
                        config.header_timeout
                    } else {
                        config.keep_alive_timeout
                    };
                    let idle_since = conn.deadline.map(|d| d.checked_sub(timeout).unwrap_or(now));
                    match idle_since {
                        Some(since) if now.saturating_duration_since(since) < SHUTDOWN_IDLE_GRACE => {
                            conn.deadline = Some(since + SHUTDOWN_IDLE_GRACE);
                        }
                        _ => close.push(id),
                    }
                }
                Phase::Draining => linger.push(id),
                Phase::InFlight if matches!(conn.protocol, Protocol::WebSocket(_)) => websockets.push(id),
                _ => {}
            }
        }
        for id in close {
            self.close(id);
        }
        for id in websockets {
            self.ws_start_close(id, pyre_ws::close_code::GOING_AWAY, "server shutting down");
        }
        for id in linger {
            self.conns[id].phase = Phase::Closing;
            self.linger(id);
        }
    }

    /// Requests received since the server started (each head handed on counts,
    /// refused ones not).
    pub fn requests_started(&self) -> u64 {
        self.requests_started
    }

    /// Closes every connection at once (the shutdown deadline passed).
    pub fn close_all(&mut self) {
        let ids: Vec<usize> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.close(id);
        }
    }
}

/// How long, at shutdown, a recently busy keep-alive connection is kept open for a
/// request its client may already be sending (see [`Server::begin_shutdown`]).
pub const SHUTDOWN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// Buffer-fulls of unread request body discarded for one connection before the
/// others get their turn (16 x the 64 KiB read high-water mark: 1 MiB).
const DRAIN_READS_PER_TURN: usize = 16;

/// The end of a chunk's data followed by the last chunk (no trailers).
const CHUNK_END_AND_LAST: &[u8] = b"\r\n0\r\n\r\n";
/// The last chunk with no trailers.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The `Date` value to send: the cached one, or none (empty) with `--no-date-header`.
fn date_field<'a>(config: &ServerConfig, date: &'a DateCache) -> &'a [u8] {
    if config.date_header {
        date.value()
    } else {
        b""
    }
}

/// The connection whose current request `key` names.
fn current_in(conns: &mut Slab<Connection>, key: RequestKey) -> Result<&mut Connection, SendError> {
    match conns.get_mut(key.index as usize) {
        Some(conn) if conn.seq == key.seq && conn.phase == Phase::InFlight => Ok(conn),
        _ => Err(SendError::Disconnected),
    }
}

fn key_of(id: usize, conn: &Connection) -> RequestKey {
    RequestKey {
        index: id as u32,
        seq: conn.seq,
    }
}

/// Moves unconsumed bytes down to just after the head once a good share of the
/// buffer is consumed body, so the buffer does not grow with the body.
fn compact(conn: &mut Connection) {
    let head_len = conn.head.as_ref().map_or(0, |h| h.head_len);
    let consumed = conn.body_pos - head_len;
    if consumed > 0 && (conn.body_pos == conn.read_buf.len() || consumed >= 4096) {
        conn.read_buf.copy_within(conn.body_pos.., head_len);
        let remaining = conn.read_buf.len() - conn.body_pos;
        conn.read_buf.truncate(head_len + remaining);
        conn.body_pos = head_len;
    }
}

/// Whether the request at the start of `buf` (after the empty lines RFC 9112 section
/// 2.2 lets a server ignore) has the method HEAD: also for a request the codec
/// refused, whose answer then goes without a body.
fn starts_with_head_method(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    buf[start..].starts_with(b"HEAD ")
}
