//! One client connection: its socket, buffers, and where it is in the exchange.
//!
//! How it works: a connection is [`Phase::Connecting`] until the non-blocking connect
//! completes, [`Phase::Handshaking`] until its transport is ready (the TLS
//! handshake; a plain transport is ready at once), then [`Phase::Idle`] between exchanges and [`Phase::Busy`] during one.
//! An exchange has two sides that move on their own: the request ([`Upload`]) is
//! written as the caller supplies it, and the response ([`Download`]) is read as the
//! server sends it (a server may answer before the upload ends). Interim (1xx)
//! responses are skipped. A connection that failed keeps its error until the caller
//! closes it, so whoever waits on it next hears why.
//!
//! Buffer layout: `read_buf[read_pos..]` holds bytes received and not yet consumed
//! (a response head being parsed, or body bytes not yet decoded);
//! `write_buf[write_pos..]` the request bytes the kernel has not taken yet.

use mio::net::TcpStream;
use pyre_h1::{BodyDecoder, Framing, ParseError, ResponseHead};

use super::tls::Transport;
use crate::output::FileJob;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The non-blocking connect has not completed.
    Connecting,
    /// TCP is up; the transport's handshake (TLS) is in progress. What it sends
    /// and receives is the transport's business (`tls.rs`).
    Handshaking,
    /// Connected, no exchange in progress (new, or kept alive for reuse).
    Idle,
    /// A request was started and the exchange is not over.
    Busy,
    /// Unusable: the connect failed, the socket failed, the server broke HTTP, or
    /// an idle connection was closed by the server. `error` says why.
    Failed,
}

/// The request side of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// Head encoded; body bytes with this framing follow (`sent` so far).
    Body { framing: Framing, sent: u64 },
    /// The whole request is written or buffered for writing.
    Done,
}

/// The response side of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// Waiting for the final response head (1xx heads are skipped).
    Head,
    /// Head received; body bytes are decoded by `body`.
    Body,
    /// The body ended.
    Done,
}

/// What kind of failure a [`ClientError`] is, for the caller's exception type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection could not be established.
    Connect,
    /// The server broke HTTP/1.1: bad framing, garbage, oversized head, truncated body.
    Protocol,
    /// The socket failed while reading (reset).
    Read,
    /// The socket failed while writing the request.
    Write,
    /// The caller asked for something invalid (bad header, body longer than declared).
    Invalid,
    /// The TLS layer failed: the server closed or reset mid-handshake, sent something
    /// that is not TLS, sent an alert, or cut a record short.
    Tls,
    /// The server's certificate failed verification (expired, unknown issuer,
    /// wrong name, ...); the message names the reason.
    Certificate,
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ClientError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientError {
            kind,
            message: message.into(),
        }
    }

    /// A response that the codec refused, worded for the client side.
    pub fn protocol(error: ParseError, max_head: usize) -> Self {
        let message = match error {
            ParseError::HeadTooLarge => format!("response head larger than {max_head} bytes"),
            ParseError::TooManyHeaders => "too many header fields in the response head".to_string(),
            ParseError::InvalidVersion => "malformed status line: not an HTTP response".to_string(),
            other => format!("invalid response: {}", other.reason()),
        };
        ClientError::new(ErrorKind::Protocol, message)
    }
}

/// A received response head and the bytes its spans refer to.
pub struct ReceivedHead {
    pub head: ResponseHead,
    pub bytes: Vec<u8>,
}

pub struct ClientConn {
    pub stream: TcpStream,
    /// Plain or TLS: every byte read or written goes through it.
    pub transport: Transport,
    pub phase: Phase,
    pub upload: Upload,
    pub download: Download,
    /// The request method (the response's framing depends on it: HEAD, CONNECT).
    pub method: Vec<u8>,
    pub read_buf: Vec<u8>,
    pub read_pos: usize,
    pub write_buf: Vec<u8>,
    pub write_pos: usize,
    /// A file being sent as the request body, after the out-buffer.
    pub file: Option<Box<FileJob>>,
    pub head: Option<Box<ReceivedHead>>,
    /// The body decoder once the head is in.
    pub body: Option<BodyDecoder>,
    /// Both sides allow reusing the connection after this exchange.
    pub keep_alive: bool,
    /// The server closed its sending side (EOF seen).
    pub read_closed: bool,
    /// The poll reported the peer's close: read until EOF, never stopping at a
    /// short read (the edge is consumed; no event will say it again).
    pub hangup: bool,
    /// Reading stopped because the unconsumed bytes reached the limit (read
    /// backpressure); it resumes, with a read at once, when the caller consumes.
    pub read_paused: bool,
    /// The caller waits for news of this connection: queue it on the next change.
    pub notify: bool,
    /// Writing the request failed after the response head arrived; the rest of the
    /// request is dropped and the response still read.
    pub write_dropped: bool,
    pub error: Option<ClientError>,
    /// Bytes read from and written to the socket so far: timeouts measure time
    /// without progress, not the length of a whole transfer.
    pub progress: u64,
}

impl ClientConn {
    pub fn new(stream: TcpStream, transport: Transport) -> Self {
        ClientConn {
            stream,
            transport,
            phase: Phase::Connecting,
            upload: Upload::Done,
            download: Download::Done,
            method: Vec::new(),
            read_buf: Vec::new(),
            read_pos: 0,
            write_buf: Vec::new(),
            write_pos: 0,
            file: None,
            head: None,
            body: None,
            keep_alive: true,
            read_closed: false,
            hangup: false,
            read_paused: false,
            notify: false,
            write_dropped: false,
            error: None,
            progress: 0,
        }
    }

    /// Bytes received and not consumed.
    pub fn unconsumed(&self) -> usize {
        self.read_buf.len() - self.read_pos
    }

    /// Request bytes waiting in the out-buffer.
    pub fn pending_write(&self) -> usize {
        self.write_buf.len() - self.write_pos
    }

    /// The most unconsumed bytes the read buffer may hold now: a whole head (plus
    /// one byte, so that an oversized head is seen as such), or the body high-water
    /// mark, or a little while idle (any byte then means the server is closing).
    pub fn read_limit(&self, max_head: usize, high_water: usize) -> usize {
        match (self.phase, self.download) {
            (Phase::Busy, Download::Head) => max_head + 1,
            (Phase::Busy, Download::Body) => high_water,
            _ => 64,
        }
    }

    /// Marks the connection failed (the first error is kept).
    pub fn fail(&mut self, error: ClientError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.phase = Phase::Failed;
        self.keep_alive = false;
    }

    /// Drops consumed bytes from the front of the read buffer, cheaply when all of
    /// it was consumed.
    pub fn compact_read(&mut self) {
        if self.read_pos == self.read_buf.len() {
            self.read_buf.clear();
            self.read_pos = 0;
        } else if self.read_pos > 0 && self.read_pos >= self.read_buf.len() / 2 {
            self.read_buf.drain(..self.read_pos);
            self.read_pos = 0;
        }
    }

    /// The exchange is over in both directions and nothing forbids another one.
    pub fn reusable(&self) -> bool {
        self.phase == Phase::Busy
            && self.upload == Upload::Done
            && self.download == Download::Done
            && self.keep_alive
            && !self.read_closed
            && !self.write_dropped
            && self.pending_write() == 0
            && self.file.is_none()
            && self.unconsumed() == 0
    }
}
