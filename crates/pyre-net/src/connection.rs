//! One client connection: its socket, buffers, and where it is in the HTTP/1.1
//! exchange.
//!
//! How it works: [`Phase`] is the whole state machine. A connection waits idle,
//! reads a head, has one request in flight (reading the body as the application asks
//! for it), possibly drains a body the application did not read, and then either
//! starts over (keep-alive; pipelined bytes already buffered are parsed at once) or
//! closes: flush the last response, shut down the write side, and linger reading for
//! a moment so unread request bytes cannot make the kernel reset the connection
//! before the client has the response.
//!
//! Buffer layout while a request is in flight: `read_buf[..head_len]` is the request
//! head (the parsed head's spans point into it), `read_buf[body_pos..]` the bytes not
//! yet consumed (body, then possibly pipelined requests).

use std::net::SocketAddr;
use std::time::Instant;

use pyre_h1::{BodyDecoder, Framing, RequestHead};

use crate::listener::Stream;
use crate::output::FileJob;
use crate::transport::{self, TlsSession};
use crate::websocket::WsState;

/// The protocol a connection speaks. Boxed payloads keep an idle HTTP connection
/// small (`make bench-stream` measures the per-connection memory).
pub enum Protocol {
    /// HTTP/1.1 (and 1.0) requests and responses.
    Http1,
    /// A valid WebSocket upgrade request is in flight and the application has not
    /// answered yet: it may accept (101, then [`Protocol::WebSocket`]) or deny with
    /// an ordinary HTTP response (then the connection closes).
    Upgrading(Box<pyre_ws::Handshake>),
    /// Switched: bytes read are WebSocket frames (see `server/websocket.rs`).
    WebSocket(Box<WsState>),
}

/// Where a connection is in its life. Transitions live in `server.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Keep-alive: no byte of the next request yet (deadline: keep-alive timeout).
    Idle,
    /// Part of a head received (deadline: header timeout, then 408).
    ReadingHead,
    /// A request was handed to the application and its response is not complete.
    InFlight,
    /// The response is complete but the application left request body unread; it
    /// is read and discarded before the next request.
    Draining,
    /// Writing the last response; then the write side is shut down.
    Closing,
    /// Write side shut down; reading and discarding until EOF or a short deadline.
    Lingering,
}

/// The response side of the request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseState {
    NotStarted,
    /// Head written; body bytes written so far.
    Streaming {
        framing: Framing,
        sent: u64,
    },
    Complete,
}

pub struct Connection {
    pub stream: Stream,
    pub peer: Option<SocketAddr>,
    pub listener: usize,
    pub phase: Phase,
    /// The sequence number of the connection's latest request, from a server-wide
    /// counter (0: no request yet); with the slab index it names a request, so a
    /// stale handle from an earlier request, on this connection or on an earlier
    /// one in the same slot, cannot touch a later one.
    pub seq: u32,
    pub read_buf: Vec<u8>,
    pub body_pos: usize,
    pub head: Option<RequestHead>,
    /// The body decoder while request body remains; `None` once it ended.
    pub body: Option<BodyDecoder>,
    pub write_buf: Vec<u8>,
    pub write_pos: usize,
    /// A file being sent after the out-buffer (boxed: rare, and idle connections
    /// stay small).
    pub file: Option<Box<FileJob>>,
    pub response: ResponseState,
    /// The status of the response in flight (set when its head is written).
    pub status: u16,
    /// When the request's head was read (the start of its duration, for the metrics
    /// and the access log).
    pub started: Instant,
    /// The request allows another one after it, and nothing since said otherwise.
    pub keep_alive: bool,
    pub deadline: Option<Instant>,
    /// We stopped reading because the buffer is full (read backpressure); no event
    /// will come for bytes already in the kernel, so reading resumes explicitly.
    pub read_paused: bool,
    /// The peer closed its sending side (EOF).
    pub read_closed: bool,
    /// WRITABLE interest is registered (only while the out-buffer holds bytes).
    pub write_interest: bool,
    /// The application waits for body bytes: report new ones.
    pub body_wanted: bool,
    /// The application waits for the output to drain (write backpressure): report
    /// when it falls below the low-water mark, or when the file is out.
    pub drain_wanted: bool,
    pub continue_sent: bool,
    pub disconnect_reported: bool,
    /// Response body bytes sent (framing not counted), for the access log.
    pub body_sent: u64,
    /// Bytes the client moved for the request in flight (read from it plus written
    /// to it), and the time the server waited on it: the minimum-rate rule
    /// (`config::MinRate`).
    pub moved: u64,
    pub waited: std::time::Duration,
    pub protocol: Protocol,
    /// TLS over the socket, when the listener speaks it (see `transport.rs`).
    pub tls: Option<Box<TlsSession>>,
}

impl Connection {
    pub fn new(stream: Stream, peer: Option<SocketAddr>, listener: usize) -> Self {
        Connection {
            stream,
            peer,
            listener,
            phase: Phase::Idle,
            seq: 0,
            read_buf: Vec::new(),
            body_pos: 0,
            head: None,
            body: None,
            write_buf: Vec::new(),
            write_pos: 0,
            file: None,
            response: ResponseState::NotStarted,
            status: 0,
            started: Instant::now(),
            keep_alive: true,
            deadline: None,
            read_paused: false,
            read_closed: false,
            write_interest: false,
            body_wanted: false,
            drain_wanted: false,
            continue_sent: false,
            disconnect_reported: false,
            body_sent: 0,
            moved: 0,
            waited: std::time::Duration::ZERO,
            protocol: Protocol::Http1,
            tls: None,
        }
    }

    /// Whether the server is waiting on the client: the application waits for
    /// body bytes, an unread body is being discarded, or output waits to be read.
    pub fn waits_on_client(&self) -> bool {
        (self.body_wanted && !self.read_paused) || self.phase == Phase::Draining || self.output_waiting()
    }

    /// Output waits for the socket: in the out-buffer, a pending file, or TLS
    /// ciphertext rustls still holds.
    pub fn output_waiting(&self) -> bool {
        self.pending_write() > 0 || self.file.is_some() || transport::has_output(self.tls.as_deref())
    }

    /// Bytes waiting in the out-buffer (a pending file not included).
    pub fn pending_write(&self) -> usize {
        self.write_buf.len() - self.write_pos
    }

    /// The most bytes the read buffer may hold in the current phase.
    pub fn read_limit(&self, max_head: usize, high_water: usize) -> usize {
        match self.phase {
            Phase::Idle | Phase::ReadingHead => max_head + 1,
            Phase::InFlight => match &self.protocol {
                // Messages the application has not taken yet pause reading.
                Protocol::WebSocket(ws) if ws.inbox_bytes > high_water => 0,
                _ => self.body_pos + high_water,
            },
            Phase::Draining => self.body_pos + high_water,
            Phase::Closing => 0,
            Phase::Lingering => high_water,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ARCHITECTURE.md: an idle keep-alive connection holds a few hundred bytes, not
    /// kilobytes. Its buffers go back to the pool when it goes idle, so what remains
    /// is this struct (plus the kernel's socket).
    #[test]
    fn an_idle_connection_is_a_few_hundred_bytes() {
        let size = std::mem::size_of::<Connection>();
        assert!(size <= 512, "Connection is {size} bytes");
    }
}
