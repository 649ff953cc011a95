//! The client runtime: outgoing HTTP/1.1 connections in a `mio::Poll` whose fd the
//! host event loop watches, as the server's are (`pyre.client` drives it).
//!
//! How it works: [`ClientRuntime::connect`] starts a non-blocking connect and returns
//! the connection's id. The caller writes a request with [`ClientRuntime::send_request`]
//! and [`ClientRuntime::send_body`] (or [`ClientRuntime::send_file`]), which write
//! through to the socket and buffer only what the kernel refuses; above the write
//! high-water mark they answer [`Flow::Wait`] and the caller stops pulling its body
//! until the buffer drained below the low-water mark (write backpressure). Responses
//! are read as they arrive: [`ClientRuntime::process`] reads, parses heads (skipping
//! 1xx) and keeps body bytes raw in the read buffer; [`ClientRuntime::read_body`]
//! decodes them when the caller asks. Once unconsumed bytes reach the read
//! high-water mark the socket is no longer read, so TCP pushes back on the server
//! (read backpressure); consuming resumes reading at once, since readiness is
//! edge-triggered and no new event would come for bytes already queued.
//!
//! The caller hears about changes through one flag per connection: it calls
//! [`ClientRuntime::notify`] when it must wait, and the next change to that
//! connection (connected, head in, body bytes, output drained, failure) queues its
//! id for [`ClientRuntime::pop_ready`]; the caller then retries what it waited for.
//! Ids stay valid until [`ClientRuntime::close`] (or a [`ClientRuntime::release`]
//! that cannot keep the connection); failures only mark a connection failed.
//!
//! Every byte goes through the connection's transport (`tls.rs`): plain TCP, or TLS
//! (rustls, driven in this same poll) for [`ClientRuntime::connect_tls`]. The code
//! here reads and writes plaintext and does not know which it has; a TLS connection
//! only stays [`Phase::Handshaking`] longer.

mod conn;
mod tls;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, ErrorKind as IoKind};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use pyre_h1::{
    encode_chunk_header, encode_request, parse_response, BodyDecoder, BodyEvent, Framing, Limits,
    RequestBody, CHUNK_END,
};
use slab::Slab;

use crate::buffers::BufferPool;
use crate::config::{DEFAULT_FILE_BYTES_PER_TURN, EVENTS_PER_POLL};
use crate::output::{send_file_part, FileJob, FilePart};
pub use crate::server::{BodyRead, Flow};
use conn::ClientConn;
pub use conn::{ClientError, Download, ErrorKind, Phase, ReceivedHead, Upload};
use tls::{read_file_piece, Received, Transport};
pub use tls::{TlsConfig, TlsConfigError, TlsSettings, Verify, TLS_FILE_PIECE, TLS_SEND_BUFFER_LIMIT};

/// Default response body bytes kept unconsumed before reading pauses. Larger than
/// the server's 64 KiB: a download is the client's common case and bigger reads
/// cost fewer trips through Python; still a small fixed bound per connection.
pub const DEFAULT_CLIENT_READ_HIGH_WATER: usize = 256 * 1024;

/// Default request bytes buffered before the body's producer waits...
pub const DEFAULT_CLIENT_WRITE_HIGH_WATER: usize = 64 * 1024;

/// ...until the buffer drained below this.
pub const DEFAULT_CLIENT_WRITE_LOW_WATER: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Codec limits for responses (head size, header count, trailers).
    pub limits: Limits,
    /// See [`DEFAULT_CLIENT_READ_HIGH_WATER`].
    pub read_high_water: usize,
    /// See [`DEFAULT_CLIENT_WRITE_HIGH_WATER`].
    pub write_high_water: usize,
    /// See [`DEFAULT_CLIENT_WRITE_LOW_WATER`].
    pub write_low_water: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            read_high_water: DEFAULT_CLIENT_READ_HIGH_WATER,
            write_high_water: DEFAULT_CLIENT_WRITE_HIGH_WATER,
            write_low_water: DEFAULT_CLIENT_WRITE_LOW_WATER,
        }
    }
}

pub struct ClientRuntime {
    poll: Poll,
    events: Events,
    conns: Slab<ClientConn>,
    pool: BufferPool,
    config: ClientConfig,
    ready: VecDeque<usize>,
    /// Connections with a file upload left after their turn.
    again: Vec<usize>,
}

fn gone() -> ClientError {
    ClientError::new(ErrorKind::Invalid, "the connection is closed")
}

impl ClientRuntime {
    pub fn new(config: ClientConfig) -> io::Result<Self> {
        Ok(ClientRuntime {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            conns: Slab::new(),
            pool: BufferPool::default(),
            config,
            ready: VecDeque::new(),
            again: Vec::new(),
        })
    }

    /// The poll's file descriptor: readable when events are ready.
    pub fn poll_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Starts connecting to `addr`; the connection is [`Phase::Connecting`] until
    /// an event says how it went.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<usize> {
        self.connect_with(addr, Transport::Plain)
    }

    /// [`Self::connect`], then a TLS handshake with `config` for the server named
    /// `host` (the URL's host: a DNS name, sent as SNI, or an IP address); the
    /// connection is [`Phase::Handshaking`] until it is done.
    pub fn connect_tls(
        &mut self,
        addr: SocketAddr,
        config: &TlsConfig,
        host: &str,
    ) -> Result<usize, ClientError> {
        let transport = Transport::tls(config, host)?;
        self.connect_with(addr, transport)
            .map_err(|e| ClientError::new(ErrorKind::Connect, e.to_string()))
    }

    /// Starts TLS on a plain connection whose exchange is over: a proxy's `2xx`
    /// answer to `CONNECT` made it a tunnel to `host`, and TLS now runs inside it
    /// (the same handshake as [`Self::connect_tls`], over the same socket). The
    /// connection is [`Phase::Handshaking`] until it is done. Refused when the
    /// connection is already TLS, an exchange is still in progress, or the proxy
    /// sent bytes after its answer (they could only be forged TLS records).
    pub fn start_tls(&mut self, id: usize, config: &TlsConfig, host: &str) -> Result<(), ClientError> {
        let conn = self.conns.get_mut(id).ok_or_else(gone)?;
        if let Some(error) = &conn.error {
            return Err(error.clone());
        }
        let refusal = if conn.unconsumed() > 0 {
            Some("the proxy sent bytes after its answer to CONNECT")
        } else if conn.read_closed {
            Some("the proxy closed the connection after its answer to CONNECT")
        } else {
            None
        };
        if let Some(message) = refusal {
            let error = ClientError::new(ErrorKind::Protocol, message);
            conn.fail(error.clone());
            return Err(error);
        }
        let over = conn.phase == Phase::Idle
            || (conn.phase == Phase::Busy && conn.download == Download::Done && conn.upload == Upload::Done);
        if !over || !matches!(conn.transport, Transport::Plain) {
            return Err(ClientError::new(
                ErrorKind::Invalid,
                "TLS can only start on a plain connection between exchanges",
            ));
        }
        conn.transport = Transport::tls(config, host)?;
        conn.phase = Phase::Handshaking;
        conn.download = Download::Done;
        conn.upload = Upload::Done;
        conn.keep_alive = true;
        conn.head = None;
        conn.body = None;
        conn.read_buf.clear();
        conn.read_pos = 0;
        self.handshake(id);
        Ok(())
    }

    fn connect_with(&mut self, addr: SocketAddr, transport: Transport) -> io::Result<usize> {
        let mut stream = TcpStream::connect(addr)?;
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        self.poll
            .registry()
            .register(&mut stream, Token(id), Interest::READABLE | Interest::WRITABLE)?;
        entry.insert(ClientConn::new(stream, transport));
        Ok(id)
    }

    pub fn phase(&self, id: usize) -> Option<Phase> {
        self.conns.get(id).map(|c| c.phase)
    }

    /// Bytes moved on the connection so far (read and written), for timeouts that
    /// measure time without progress.
    pub fn progress(&self, id: usize) -> u64 {
        self.conns.get(id).map_or(0, |c| c.progress)
    }

    /// Why the connection failed, if it did.
    pub fn error(&self, id: usize) -> Option<&ClientError> {
        self.conns.get(id).and_then(|c| c.error.as_ref())
    }

    /// Asks for the connection's id to be queued on its next change.
    pub fn notify(&mut self, id: usize) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.notify = true;
        }
    }

    /// Connections to look at again, or turns to serve: call [`Self::process`] soon.
    pub fn has_events(&self) -> bool {
        !self.ready.is_empty() || !self.again.is_empty()
    }

    pub fn pop_ready(&mut self) -> Option<usize> {
        self.ready.pop_front()
    }

    fn wake(&mut self, id: usize) {
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.notify {
                conn.notify = false;
                self.ready.push_back(id);
            }
        }
    }

    /// Handles every ready event, polling with a zero timeout until none is left.
    pub fn process(&mut self) -> io::Result<()> {
        for id in std::mem::take(&mut self.again) {
            self.flush(id);
        }
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == IoKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.events.is_empty() {
                return Ok(());
            }
            let full_batch = self.events.iter().count();
            let batch: Vec<(usize, bool, bool, bool)> = self
                .events
                .iter()
                .map(|e| {
                    let closed = e.is_read_closed() || e.is_error();
                    (
                        e.token().0,
                        e.is_readable() || closed,
                        e.is_writable() || e.is_write_closed() || e.is_error(),
                        closed,
                    )
                })
                .collect();
            for (id, readable, writable, closed) in batch {
                let Some(conn) = self.conns.get(id) else { continue };
                match conn.phase {
                    Phase::Connecting if writable || closed => self.finish_connect(id),
                    Phase::Handshaking => self.handshake(id),
                    _ => {}
                }
                if writable {
                    self.flush(id);
                }
                if readable {
                    self.pump(id, closed);
                }
            }
            if full_batch < EVENTS_PER_POLL {
                // The poll had no more ready events than these: polling again would
                // be a system call that finds nothing. Events that came meanwhile
                // leave the poll's fd readable, so the host loop calls again.
                return Ok(());
            }
        }
    }

    fn finish_connect(&mut self, id: usize) {
        let conn = &mut self.conns[id];
        let outcome = match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match conn.stream.peer_addr() {
                Ok(_) => Ok(()),
                // Not connected yet and no error: a spurious event.
                Err(e) if e.kind() == IoKind::NotConnected => return,
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(()) => {
                let _ = conn.stream.set_nodelay(true);
                conn.phase = Phase::Handshaking;
                self.handshake(id);
            }
            Err(e) => {
                conn.fail(ClientError::new(ErrorKind::Connect, e.to_string()));
                self.wake(id);
            }
        }
    }

    /// Moves the transport's handshake on; the connection is idle once it is done.
    fn handshake(&mut self, id: usize) {
        let conn = &mut self.conns[id];
        match conn.transport.handshake(&mut conn.stream) {
            Ok(true) => conn.phase = Phase::Idle,
            Ok(false) => return,
            Err(e) => conn.fail(e),
        }
        self.wake(id);
    }

    /// Reads what the socket has, up to the connection's limit, then parses heads.
    fn pump(&mut self, id: usize, read_to_eof: bool) {
        let (max_head, high_water) = (self.config.limits.max_head_bytes, self.config.read_high_water);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if matches!(conn.phase, Phase::Connecting | Phase::Handshaking | Phase::Failed) || conn.read_closed {
            return;
        }
        conn.hangup |= read_to_eof;
        let mut received = false;
        loop {
            let limit = conn.read_limit(max_head, high_water);
            let unconsumed = conn.unconsumed();
            if unconsumed >= limit {
                conn.read_paused = true;
                break;
            }
            conn.read_paused = false;
            if conn.read_buf.capacity() == 0 {
                conn.read_buf = self.pool.take();
            }
            conn.compact_read();
            match conn
                .transport
                .read(&mut conn.stream, &mut conn.read_buf, limit - unconsumed)
            {
                Received::Bytes { read, drained } => {
                    received |= read > 0;
                    conn.progress += read as u64;
                    if drained && !conn.hangup {
                        break;
                    }
                }
                Received::WouldBlock => break,
                Received::Eof => {
                    conn.read_closed = true;
                    received = true;
                    break;
                }
                Received::Failed(error) => {
                    conn.fail(error);
                    received = true;
                    break;
                }
            }
        }
        if !received {
            return;
        }
        if conn.phase == Phase::Idle {
            // A kept-alive connection hears nothing until it sends a request: EOF
            // means the server closed it, bytes mean it is confused. Never reuse it.
            conn.fail(ClientError::new(
                ErrorKind::Protocol,
                "the server closed the idle connection",
            ));
        } else if conn.phase == Phase::Busy && conn.download == Download::Head {
            self.parse_head(id);
        }
        self.wake(id);
    }

    /// Parses the response head, skipping interim (1xx) responses.
    fn parse_head(&mut self, id: usize) {
        let limits = self.config.limits;
        let conn = &mut self.conns[id];
        loop {
            let input = &conn.read_buf[conn.read_pos..];
            match parse_response(input, &conn.method, &limits) {
                Ok(Some(head)) if head.is_interim() => conn.read_pos += head.head_len,
                Ok(Some(head)) => {
                    let bytes = input[..head.head_len].to_vec();
                    conn.read_pos += head.head_len;
                    conn.keep_alive &= head.keep_alive && head.status != 101;
                    conn.body = Some(BodyDecoder::new(head.framing, &limits));
                    conn.head = Some(Box::new(ReceivedHead { head, bytes }));
                    conn.download = Download::Body;
                    return;
                }
                Ok(None) => {
                    if conn.read_closed {
                        let message = if input.is_empty() {
                            "the server closed the connection without sending a response"
                        } else {
                            "the server closed the connection in the middle of the response head"
                        };
                        conn.fail(ClientError::new(ErrorKind::Protocol, message));
                    }
                    return;
                }
                Err(e) => {
                    conn.fail(ClientError::protocol(e, limits.max_head_bytes));
                    return;
                }
            }
        }
    }

    /// Writes a request head for connection `id`, which must be idle. A head without
    /// a body is written at once; otherwise it waits for the first body bytes, so
    /// that a small request goes out in one write.
    pub fn send_request<I, N, V>(
        &mut self,
        id: usize,
        method: &[u8],
        target: &[u8],
        headers: I,
        body: RequestBody,
    ) -> Result<(), ClientError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let conn = self.conns.get_mut(id).ok_or_else(gone)?;
        if conn.phase != Phase::Idle {
            return Err(conn
                .error
                .clone()
                .unwrap_or_else(|| ClientError::new(ErrorKind::Invalid, "the connection is busy")));
        }
        if conn.write_buf.capacity() == 0 {
            conn.write_buf = self.pool.take();
        }
        let framing = encode_request(&mut conn.write_buf, method, target, headers, body)
            .map_err(|e| ClientError::new(ErrorKind::Invalid, e.reason()))?;
        conn.method.clear();
        conn.method.extend_from_slice(method);
        conn.phase = Phase::Busy;
        conn.download = Download::Head;
        conn.keep_alive = true;
        conn.head = None;
        conn.body = None;
        conn.upload = match framing {
            Framing::Empty => Upload::Done,
            framing => Upload::Body { framing, sent: 0 },
        };
        if conn.upload == Upload::Done {
            self.flush(id);
        }
        Ok(())
    }

    /// Sends request body bytes (`end`: they are the last). Returns whether the
    /// caller may send more now or must wait for the output to drain.
    pub fn send_body(&mut self, id: usize, data: &[u8], end: bool) -> Result<Flow, ClientError> {
        let conn = self.conns.get_mut(id).ok_or_else(gone)?;
        if let Some(error) = &conn.error {
            return Err(error.clone());
        }
        let Upload::Body { framing, sent } = conn.upload else {
            if data.is_empty() && end {
                // The end of a body whose declared length was already reached.
                return self.flow(id);
            }
            return Err(ClientError::new(
                ErrorKind::Invalid,
                "the request body is complete",
            ));
        };
        let sent = sent + data.len() as u64;
        match framing {
            Framing::Length(n) => {
                if sent > n || (end && sent < n) {
                    return Err(ClientError::new(
                        ErrorKind::Invalid,
                        format!("the request body is {sent} bytes, its Content-Length {n}"),
                    ));
                }
                if !conn.write_dropped {
                    conn.write_buf.extend_from_slice(data);
                }
                conn.upload = if sent == n {
                    Upload::Done
                } else {
                    Upload::Body { framing, sent }
                };
            }
            _ => {
                if !conn.write_dropped {
                    if !data.is_empty() {
                        encode_chunk_header(&mut conn.write_buf, data.len());
                        conn.write_buf.extend_from_slice(data);
                        conn.write_buf.extend_from_slice(CHUNK_END);
                    }
                    if end {
                        conn.write_buf.extend_from_slice(b"0\r\n\r\n");
                    }
                }
                conn.upload = if end {
                    Upload::Done
                } else {
                    Upload::Body { framing, sent }
                };
            }
        }
        self.flush(id);
        self.flow(id)
    }

    /// Sends `count` bytes of `file` from `offset` as the whole request body (its
    /// framing must be that length), by `sendfile(2)`; over TLS, read and encrypted
    /// in pieces of [`TLS_FILE_PIECE`].
    pub fn send_file(&mut self, id: usize, file: File, offset: u64, count: u64) -> Result<Flow, ClientError> {
        let conn = self.conns.get_mut(id).ok_or_else(gone)?;
        if let Some(error) = &conn.error {
            return Err(error.clone());
        }
        match conn.upload {
            Upload::Body {
                framing: Framing::Length(n),
                sent: 0,
            } if n == count => {}
            _ => {
                return Err(ClientError::new(
                    ErrorKind::Invalid,
                    "a file is sent as the whole body, with its length declared",
                ))
            }
        }
        conn.upload = Upload::Done;
        conn.file = Some(Box::new(FileJob {
            file,
            offset,
            remaining: count,
            tail: b"",
        }));
        self.flush(id);
        self.flow(id)
    }

    /// Whether the request output is below the high-water mark (after a wait: below
    /// the low-water mark), or an error if the connection failed.
    pub fn flow(&self, id: usize) -> Result<Flow, ClientError> {
        let conn = self.conns.get(id).ok_or_else(gone)?;
        if let Some(error) = &conn.error {
            return Err(error.clone());
        }
        let pending = conn.pending_write();
        if conn.file.is_some() || pending > self.config.write_high_water {
            Ok(Flow::Wait)
        } else {
            Ok(Flow::Ready)
        }
    }

    /// The output drained enough for a waiting producer to go on.
    pub fn drained(&self, id: usize) -> Result<bool, ClientError> {
        let conn = self.conns.get(id).ok_or_else(gone)?;
        if let Some(error) = &conn.error {
            return Err(error.clone());
        }
        Ok(conn.file.is_none() && conn.pending_write() <= self.config.write_low_water)
    }

    /// Writes the out-buffer, then the file, until done or the kernel refuses more.
    fn flush(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if matches!(conn.phase, Phase::Connecting | Phase::Handshaking | Phase::Failed) {
            return;
        }
        let mut file_bytes = 0;
        let failed = 'out: loop {
            // What the transport holds (TLS ciphertext) goes before new bytes.
            match conn.transport.flush(&mut conn.stream) {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break 'out Some(e),
            }
            while conn.write_pos < conn.write_buf.len() {
                match conn
                    .transport
                    .write(&mut conn.stream, &conn.write_buf[conn.write_pos..])
                {
                    Ok(0) => break,
                    Ok(n) => {
                        conn.write_pos += n;
                        conn.progress += n as u64;
                    }
                    Err(e) if e.kind() == IoKind::Interrupted => {}
                    Err(e) if e.kind() == IoKind::WouldBlock => break,
                    Err(e) => break 'out Some(e),
                }
            }
            if conn.write_pos < conn.write_buf.len() {
                break None;
            }
            conn.write_buf.clear();
            conn.write_pos = 0;
            let Some(job) = conn.file.as_mut() else { break None };
            if file_bytes >= DEFAULT_FILE_BYTES_PER_TURN {
                self.again.push(id);
                break None;
            }
            if !conn.transport.can_sendfile() {
                // The next piece goes into the out-buffer, which the loop above
                // writes through the transport.
                match read_file_piece(job, &mut conn.write_buf) {
                    Ok(n) => file_bytes += n,
                    Err(e) => break Some(e),
                }
                if job.remaining == 0 {
                    conn.file = None;
                }
                continue;
            }
            let before = job.remaining;
            match send_file_part(conn.stream.as_raw_fd(), job, DEFAULT_FILE_BYTES_PER_TURN) {
                FilePart::Sent => {
                    file_bytes += before - job.remaining;
                    conn.progress += before - job.remaining;
                }
                FilePart::Blocked => break None,
                FilePart::Failed => {
                    break Some(io::Error::new(
                        IoKind::UnexpectedEof,
                        "the file ended before its length or the socket failed",
                    ))
                }
            }
            if job.remaining == 0 {
                conn.file = None;
            }
        };
        if let Some(error) = failed {
            conn.write_buf.clear();
            conn.write_pos = 0;
            conn.file = None;
            conn.keep_alive = false;
            if conn.download == Download::Head && conn.read_closed {
                conn.fail(ClientError::new(
                    ErrorKind::Write,
                    format!("connection failed while sending the request: {error}"),
                ));
            } else {
                // The server may have answered and closed (a 413 for a large
                // upload): drop the rest of the request, keep reading, and let the
                // response (or its absence, as EOF or a reset) decide.
                conn.write_dropped = true;
            }
        }
        let conn = &self.conns[id];
        if conn.file.is_none() && conn.pending_write() <= self.config.write_low_water {
            self.wake(id);
        }
    }

    /// The response head, once it is in.
    pub fn head(&self, id: usize) -> Result<Option<&ReceivedHead>, ClientError> {
        let conn = self.conns.get(id).ok_or_else(gone)?;
        match (&conn.head, &conn.error) {
            (Some(head), _) => Ok(Some(head)),
            (None, Some(error)) => Err(error.clone()),
            (None, None) => Ok(None),
        }
    }

    /// Moves the decoded body bytes available now into `out` (at least one piece,
    /// then more while `out` is below `max`).
    pub fn read_body(&mut self, id: usize, out: &mut Vec<u8>, max: usize) -> Result<BodyRead, ClientError> {
        self.read_body_with(id, max, |data| out.extend_from_slice(data))
    }

    /// [`Self::read_body`], handing each decoded range to `sink` instead of copying
    /// it (the caller may copy it straight into its own object).
    pub fn read_body_with(
        &mut self,
        id: usize,
        max: usize,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<BodyRead, ClientError> {
        let (max_head, high_water) = (self.config.limits.max_head_bytes, self.config.read_high_water);
        let conn = self.conns.get_mut(id).ok_or_else(gone)?;
        match conn.download {
            Download::Done => return Ok(BodyRead::Done),
            Download::Head => {
                return match &conn.error {
                    Some(error) => Err(error.clone()),
                    None => Ok(BodyRead::Pending),
                }
            }
            Download::Body => {}
        }
        let Some(decoder) = conn.body.as_mut() else {
            return Ok(BodyRead::Pending);
        };
        let mut produced = 0;
        let mut ended = false;
        let mut failure = None;
        while produced < max.max(1) {
            let input = &conn.read_buf[conn.read_pos..];
            match decoder.decode(input) {
                Ok((consumed, BodyEvent::Data(range))) => {
                    produced += range.len();
                    sink(&input[range]);
                    conn.read_pos += consumed;
                }
                Ok((consumed, BodyEvent::NeedMore)) => {
                    conn.read_pos += consumed;
                    if !conn.read_closed {
                        break;
                    }
                    if let Err(e) = decoder.eof() {
                        failure = Some(match e {
                            pyre_h1::ParseError::TruncatedBody => ClientError::new(
                                ErrorKind::Protocol,
                                "the server closed the connection before the response body ended",
                            ),
                            e => ClientError::protocol(e, max_head),
                        });
                        break;
                    }
                }
                Ok((consumed, BodyEvent::End)) => {
                    conn.read_pos += consumed;
                    ended = true;
                    break;
                }
                Err(e) => {
                    failure = Some(ClientError::protocol(e, max_head));
                    break;
                }
            }
        }
        if ended {
            conn.download = Download::Done;
            conn.body = None;
            if conn.unconsumed() > 0 {
                // Bytes after the response's end: the server does not frame its
                // messages as it should; do not trust the connection again.
                conn.keep_alive = false;
            }
        }
        conn.compact_read();
        let produced = produced > 0;
        if let Some(error) = failure {
            conn.fail(error.clone());
            if !produced {
                return Err(error);
            }
        } else if conn.error.is_some() && !produced && !ended {
            return Err(conn.error.clone().unwrap_or_else(gone));
        }
        if conn.read_paused && conn.unconsumed() < conn.read_limit(max_head, high_water) {
            // Read backpressure released: read at once (no edge will come for
            // bytes already queued in the kernel).
            self.pump(id, false);
        }
        Ok(if produced {
            BodyRead::Data { more: !ended }
        } else if ended {
            BodyRead::Done
        } else {
            BodyRead::Pending
        })
    }

    /// Reads what the socket holds now, without waiting for its event: a consumer
    /// that finds nothing buffered asks the kernel directly, saving a trip through
    /// the host loop when the bytes are already there (their event, still queued in
    /// the poll, then finds nothing to do).
    pub fn try_read(&mut self, id: usize) {
        if self
            .conns
            .get(id)
            .is_some_and(|c| c.phase == Phase::Busy && !c.read_paused)
        {
            self.pump(id, false);
        }
    }

    /// Bytes received and not yet consumed by the caller (at most about the read
    /// high-water mark: the bound read backpressure keeps).
    pub fn buffered(&self, id: usize) -> usize {
        self.conns.get(id).map_or(0, |c| c.unconsumed())
    }

    /// Ends the exchange: keeps the connection idle for reuse when it may be
    /// reused (both sides complete, the server allows it), or when the rest of the
    /// response body is already buffered (it is read and dropped); otherwise closes
    /// it. Returns whether it was kept.
    pub fn release(&mut self, id: usize) -> bool {
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.phase == Phase::Busy && conn.download == Download::Body && conn.keep_alive {
                // Only what is already received: reading on here could mean reading
                // a long body nobody wants.
                conn.read_paused = false;
                let mut scratch = Vec::new();
                while let Ok(BodyRead::Data { .. }) = self.read_body(id, &mut scratch, 64 * 1024) {
                    scratch.clear();
                }
            }
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        if !conn.reusable() {
            self.close(id);
            return false;
        }
        conn.phase = Phase::Idle;
        conn.head = None;
        conn.body = None;
        conn.notify = false;
        conn.read_buf.clear();
        conn.read_pos = 0;
        self.pool.give(std::mem::take(&mut conn.read_buf));
        self.pool.give(std::mem::take(&mut conn.write_buf));
        true
    }

    /// Whether an idle connection may carry a new request.
    pub fn is_reusable(&self, id: usize) -> bool {
        self.conns
            .get(id)
            .is_some_and(|c| c.phase == Phase::Idle && !c.read_closed)
    }

    /// Closes the connection and forgets its id.
    pub fn close(&mut self, id: usize) {
        if !self.conns.contains(id) {
            return;
        }
        let mut conn = self.conns.remove(id);
        conn.transport.close(&mut conn.stream);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.pool.give(conn.read_buf);
        self.pool.give(conn.write_buf);
    }

    /// Closes every connection.
    pub fn close_all(&mut self) {
        let ids: Vec<usize> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.close(id);
        }
        self.ready.clear();
        self.again.clear();
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tls_tests;
