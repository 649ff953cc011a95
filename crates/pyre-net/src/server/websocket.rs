//! The protocol switch to WebSocket and an open WebSocket's life on the runtime.
//!
//! How it works: a request whose head says `Connection: upgrade` (pyre-h1 sets
//! `head.upgrade` only then, on HTTP/1.1: the one check plain requests pay) and
//! whose `Upgrade` lists `websocket` is validated by pyre-ws. An invalid one is
//! answered here, 400 or 426, and the application never sees it; a valid one is
//! handed to the application as an ordinary request whose view carries the
//! handshake ([`crate::connection::Protocol::Upgrading`]). If the application
//! accepts, the 101 head goes out and the connection's protocol switches: read bytes
//! feed the frame decoder, whole messages queue for the application, and its
//! messages are framed by the encoder into the out-buffer (same write-through and
//! water marks as HTTP bodies). If it answers with an HTTP response instead, that is
//! a denial and the connection closes after it.
//!
//! The request stays in flight while the WebSocket is open (the keep-alive and
//! header timeouts do not apply); it ends with [`Event::WebSocketClosed`], after
//! which the connection flushes, shuts down its write side and lingers as any
//! closing connection does (the server closes TCP first, as RFC 6455 section 7.1.1
//! asks).

use std::time::Instant;

use pyre_ws::handshake::{is_websocket_request, validate, write_response_head};
use pyre_ws::{close_code, Event as Frame};

use super::{current_in, key_of, Event, Flow, RequestKey, SendError, Server, DRAIN_READS_PER_TURN};
use crate::connection::{Phase, Protocol, ResponseState};
use crate::websocket::{Closing, Outgoing, WsClosed, WsMessage, WsState};

impl Server {
    /// Validates the upgrade request just parsed on `id` (its head says
    /// `Connection: upgrade`). Returns false when it was refused (answered and
    /// closing); true when it goes to the application, as a WebSocket request or,
    /// for another protocol or with WebSockets off, as plain HTTP.
    pub(super) fn check_upgrade(&mut self, id: usize) -> bool {
        let Some(config) = &self.config.websocket else {
            return true;
        };
        let deflate = config.per_message_deflate;
        let conn = &mut self.conns[id];
        let Some(head) = conn.head.as_ref() else {
            return true;
        };
        let buf = &conn.read_buf;
        let fields = head.headers.iter().map(|f| (f.name.get(buf), f.value.get(buf)));
        if !is_websocket_request(fields.clone()) {
            return true;
        }
        let http11 = head.version == pyre_h1::Version::Http11;
        match validate(head.method_span.get(buf), http11, fields, deflate) {
            Ok(handshake) => {
                conn.protocol = Protocol::Upgrading(Box::new(handshake));
                // A denial (any HTTP response) ends the connection.
                conn.keep_alive = false;
                true
            }
            Err(error) => {
                self.in_flight -= 1;
                conn.head = None;
                let (status, reason) = (error.status(), error.reason());
                if self.config.report_protocol_errors {
                    self.queue.push_back(Event::ProtocolError {
                        peer: conn.peer,
                        status,
                        reason,
                    });
                }
                let fields: &[(&[u8], &[u8])] = if status == 426 {
                    &[(b"sec-websocket-version", b"13")]
                } else {
                    &[]
                };
                self.write_error_with(id, status, reason, fields);
                false
            }
        }
    }

    /// Accepts the WebSocket request `key`: writes the 101 head (with the chosen
    /// `subprotocol` and the application's `fields`) and switches the connection.
    pub fn accept_websocket(
        &mut self,
        key: RequestKey,
        subprotocol: Option<&str>,
        fields: &[(&[u8], &[u8])],
    ) -> Result<(), SendError> {
        let id = key.index as usize;
        let now = Instant::now();
        let config = self.config.websocket.clone().unwrap_or_default();
        let conn = current_in(&mut self.conns, key)?;
        if conn.response != ResponseState::NotStarted {
            return Err(SendError::Protocol("the response has already started"));
        }
        let Protocol::Upgrading(handshake) = &conn.protocol else {
            return Err(SendError::Protocol("not a WebSocket request"));
        };
        if let Some(name) = subprotocol {
            if !pyre_h1::is_token(name.as_bytes()) {
                return Err(SendError::InvalidHead("the subprotocol must be a token"));
            }
        }
        for (name, value) in fields {
            pyre_h1::check_field(name, value).map_err(|e| SendError::InvalidHead(e.reason()))?;
        }
        if conn.write_buf.capacity() == 0 {
            conn.write_buf = self.pool.take();
        }
        write_response_head(&mut conn.write_buf, handshake, subprotocol, fields);
        let deflate = handshake.deflate;
        let ws = WsState::new(&config, deflate, now);
        conn.deadline = ws.next_deadline();
        conn.protocol = Protocol::WebSocket(Box::new(ws));
        conn.status = 101;
        conn.response = ResponseState::Complete;
        // Bytes after the head are frames (a GET's body, if any, is not read).
        conn.body = None;
        self.now = now;
        self.metrics.response(101);
        self.log_response(id);
        if !self.flush(id) {
            return Err(SendError::Disconnected);
        }
        // Frames may have come with the head.
        self.ws_resume(id);
        Ok(())
    }

    /// The next message the client sent, if one is queued; otherwise `None`, and an
    /// [`Event::Message`] follows when one arrives (or [`Event::WebSocketClosed`]).
    pub fn ws_receive(&mut self, key: RequestKey) -> Result<Option<WsMessage>, SendError> {
        let id = key.index as usize;
        let high_water = self.config.read_high_water;
        let conn = current_in(&mut self.conns, key)?;
        let Protocol::WebSocket(ws) = &mut conn.protocol else {
            return Err(SendError::Protocol("the WebSocket is not open"));
        };
        let Some(message) = ws.take() else {
            ws.message_wanted = true;
            return Ok(None);
        };
        // The application caught up: read again if the inbox had paused reading.
        if conn.read_paused && ws.inbox_bytes <= high_water {
            self.ws_resume(id);
        }
        Ok(Some(message))
    }

    /// Sends a message. Returns [`Flow::Wait`] when the application should wait for
    /// the output to drain.
    pub fn ws_send(&mut self, key: RequestKey, message: Outgoing<'_>) -> Result<Flow, SendError> {
        let id = key.index as usize;
        let high_water = self.config.write_high_water;
        let conn = current_in(&mut self.conns, key)?;
        let Protocol::WebSocket(ws) = &mut conn.protocol else {
            return Err(SendError::Protocol("the WebSocket is not open"));
        };
        if ws.closing != Closing::Open {
            return Err(SendError::Disconnected);
        }
        // Unsent bytes first move to the buffer's start (a long stream must not grow
        // it with bytes already written).
        let out = out_buf(&mut conn.write_buf, &mut conn.write_pos);
        match message {
            Outgoing::Text(text) => ws.encoder.text(text, out),
            Outgoing::Binary(data) => ws.encoder.binary(data, out),
        }
        if !conn.write_interest && !self.flush(id) {
            return Err(SendError::Disconnected);
        }
        match self.conns.get_mut(id) {
            Some(conn) if conn.pending_write() > high_water => {
                conn.drain_wanted = true;
                Ok(Flow::Wait)
            }
            Some(_) => Ok(Flow::Ready),
            None => Err(SendError::Disconnected),
        }
    }

    /// The application closes the WebSocket with `code` and `reason`; the request
    /// ends when the client answers (or after a short timeout).
    pub fn ws_close(&mut self, key: RequestKey, code: u16, reason: &str) -> Result<(), SendError> {
        let conn = current_in(&mut self.conns, key)?;
        match &conn.protocol {
            Protocol::WebSocket(ws) if ws.closing == Closing::Open => {}
            Protocol::WebSocket(_) => return Err(SendError::Disconnected),
            _ => return Err(SendError::Protocol("the WebSocket is not open")),
        }
        self.ws_start_close(key.index as usize, code, reason);
        Ok(())
    }

    /// Sends the server's close frame and waits for the client's.
    pub(super) fn ws_start_close(&mut self, id: usize, code: u16, reason: &str) {
        let now = Instant::now();
        let conn = &mut self.conns[id];
        let Protocol::WebSocket(ws) = &mut conn.protocol else {
            return;
        };
        if ws.closing != Closing::Open {
            return;
        }
        ws.encoder.close(
            Some(code),
            reason,
            out_buf(&mut conn.write_buf, &mut conn.write_pos),
        );
        ws.close_sent(now);
        conn.deadline = ws.next_deadline();
        self.flush(id);
    }

    /// Bytes arrived on an open WebSocket (`eof`: the client closed its side).
    pub(super) fn ws_readable(&mut self, id: usize, eof: bool) {
        self.ws_feed(id);
        if eof && self.is_open_websocket(id) {
            // No close frame before the end of the stream: 1006, reported by close.
            self.close(id);
        }
    }

    /// Reads and decodes again after reading paused (a full inbox, or a turn used
    /// up), or frames came with the head.
    pub(super) fn ws_resume(&mut self, id: usize) {
        let eof = self.conns[id].read_paused && self.fill(id);
        self.ws_readable(id, eof);
    }

    fn is_open_websocket(&self, id: usize) -> bool {
        self.conns
            .get(id)
            .is_some_and(|c| c.phase == Phase::InFlight && matches!(c.protocol, Protocol::WebSocket(_)))
    }

    /// Decodes the frames in the read buffer; while reading had paused on a full
    /// buffer and the inbox has room, reads more (a bounded number of times per
    /// turn, then the connection waits for its next turn in `again`).
    fn ws_feed(&mut self, id: usize) {
        let high_water = self.config.read_high_water;
        let write_high_water = self.config.write_high_water;
        let mut reads = 0;
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            let key = key_of(id, conn);
            let Protocol::WebSocket(ws) = &mut conn.protocol else {
                return;
            };
            let mut pong_or_close = false;
            let mut peer_close = None;
            while conn.body_pos < conn.read_buf.len() {
                let frame = match ws.decoder.decode(&conn.read_buf[conn.body_pos..]) {
                    Ok((n, frame)) => {
                        conn.body_pos += n;
                        frame
                    }
                    Err(error) => {
                        ws.encoder.close(
                            Some(error.code),
                            error.reason,
                            out_buf(&mut conn.write_buf, &mut conn.write_pos),
                        );
                        return self.ws_finish(id, error.code, error.reason.to_string());
                    }
                };
                let open = ws.closing == Closing::Open;
                match frame {
                    None => break,
                    Some(Frame::Text(text)) if open => ws.push(WsMessage::Text(text)),
                    Some(Frame::Binary(data)) if open => ws.push(WsMessage::Binary(data)),
                    // A client that pings without reading the pongs must not grow
                    // the out-buffer: above the high-water mark pings go unanswered
                    // (RFC 6455 section 5.5.3 allows answering only the latest).
                    Some(Frame::Ping(payload)) if open => {
                        if conn.write_buf.len() - conn.write_pos <= write_high_water {
                            let out = out_buf(&mut conn.write_buf, &mut conn.write_pos);
                            ws.encoder.pong(&payload, out);
                            pong_or_close = true;
                        }
                    }
                    Some(Frame::Pong(_)) => {
                        ws.pong_due = None;
                        conn.deadline = ws.next_deadline();
                    }
                    Some(Frame::Close(close)) => {
                        peer_close = Some(close);
                        break;
                    }
                    // Data after the server's close frame is discarded.
                    Some(_) => {}
                }
            }
            let head_len = conn.head.as_ref().map_or(0, |h| h.head_len);
            compact_read(&mut conn.read_buf, &mut conn.body_pos, head_len);
            if ws.message_wanted && !ws.inbox.is_empty() {
                ws.message_wanted = false;
                self.queue.push_back(Event::Message(key));
            }
            if let Some(close) = peer_close {
                let (code, reason) = close.unwrap_or((close_code::NO_STATUS, String::new()));
                if ws.closing == Closing::Open {
                    // Echo the client's code (1000 when it gave none).
                    let echo = if code == close_code::NO_STATUS {
                        close_code::NORMAL
                    } else {
                        code
                    };
                    ws.encoder
                        .close(Some(echo), "", out_buf(&mut conn.write_buf, &mut conn.write_pos));
                }
                return self.ws_finish(id, code, reason);
            }
            if pong_or_close && !conn.write_interest && !self.flush(id) {
                return;
            }
            let conn = &self.conns[id];
            let Protocol::WebSocket(ws) = &conn.protocol else {
                return;
            };
            if !conn.read_paused || conn.read_closed || ws.inbox_bytes > high_water {
                return;
            }
            reads += 1;
            if reads > DRAIN_READS_PER_TURN {
                self.again.push(id);
                return;
            }
            if self.fill(id) {
                self.ws_feed(id);
                if self.is_open_websocket(id) {
                    self.close(id);
                }
                return;
            }
        }
    }

    /// The WebSocket is over: report `code` to the application (with the messages
    /// it has not taken), then flush (the close frame is already in the out-buffer)
    /// and close the connection.
    fn ws_finish(&mut self, id: usize, code: u16, reason: String) {
        let conn = &mut self.conns[id];
        let protocol = std::mem::replace(&mut conn.protocol, Protocol::Http1);
        let Protocol::WebSocket(mut ws) = protocol else {
            return;
        };
        self.in_flight -= 1;
        let closed = WsClosed {
            code,
            reason,
            unread: std::mem::take(&mut ws.inbox),
        };
        self.queue
            .push_back(Event::WebSocketClosed(key_of(id, conn), Box::new(closed)));
        conn.phase = Phase::Closing;
        conn.keep_alive = false;
        conn.drain_wanted = false;
        conn.deadline = Some(self.now + crate::config::WS_CLOSE_TIMEOUT);
        self.flush(id);
    }

    /// The tick found the deadline of `id` passed (an in-flight request has one only
    /// when it is an open WebSocket): end a closing handshake that timed out, fail a
    /// connection whose ping went unanswered, or send the next ping.
    pub(super) fn ws_deadline(&mut self, id: usize) {
        let now = self.now;
        let config = self.config.websocket.clone().unwrap_or_default();
        let conn = &mut self.conns[id];
        let Protocol::WebSocket(ws) = &mut conn.protocol else {
            return;
        };
        match ws.closing {
            Closing::ByServer { deadline } if deadline <= now => return self.close(id),
            Closing::ByServer { .. } => return,
            Closing::Open => {}
        }
        if ws.pong_due.is_some_and(|due| due <= now) {
            let reason = "keepalive ping timeout";
            let out = out_buf(&mut conn.write_buf, &mut conn.write_pos);
            ws.encoder.close(Some(close_code::INTERNAL_ERROR), reason, out);
            return self.ws_finish(id, close_code::INTERNAL_ERROR, reason.to_string());
        }
        if ws.ping_due.is_some_and(|due| due <= now) {
            ws.encoder
                .ping(b"pyre", out_buf(&mut conn.write_buf, &mut conn.write_pos));
            ws.ping_due = config.ping_interval.map(|interval| now + interval);
            if ws.pong_due.is_none() {
                ws.pong_due = config.ping_timeout.map(|timeout| now + timeout);
            }
            conn.deadline = ws.next_deadline();
            if !conn.write_interest {
                self.flush(id);
            }
        }
    }
}

/// The out-buffer to append frames to, its already written bytes dropped first (a
/// long-lived WebSocket must not grow it with bytes already sent).
fn out_buf<'a>(write_buf: &'a mut Vec<u8>, write_pos: &mut usize) -> &'a mut Vec<u8> {
    if *write_pos > 0 {
        write_buf.drain(..*write_pos);
        *write_pos = 0;
    }
    write_buf
}

/// Drops the decoded bytes after the request head (kept: the request's view points
/// into it) from the read buffer.
fn compact_read(read_buf: &mut Vec<u8>, body_pos: &mut usize, head_len: usize) {
    if *body_pos > head_len {
        read_buf.drain(head_len..*body_pos);
        *body_pos = head_len;
    }
}
