//! An open WebSocket's state on a connection (RFC 6455), after the 101 answer.
//!
//! How it works: the connection's read bytes go through pyre-ws's [`Decoder`];
//! whole messages wait in the `inbox` until the application takes them (their bytes
//! count against the read high-water mark: above it reading pauses, so a client
//! cannot outrun an application that does not receive). Control frames are answered
//! here (pong to ping). The connection's `deadline` is the earliest of the next
//! ping, the awaited pong and the end of the close handshake, so the runtime's one
//! periodic tick drives all of them. The transitions live in `server/websocket.rs`.

use std::collections::VecDeque;
use std::time::Instant;

use pyre_ws::{Decoder, DecoderConfig, DeflateParams, Encoder};

use crate::config::{WebSocketConfig, WS_CLOSE_TIMEOUT};

/// A whole message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Vec<u8>),
}

impl WsMessage {
    /// Its payload size, counted against the read high-water mark.
    pub fn len(&self) -> usize {
        match self {
            WsMessage::Text(t) => t.len(),
            WsMessage::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A message from the application.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// How a WebSocket ended, for the application: the close code to report (the
/// client's, 1005 when its close frame had none, 1006 when the connection dropped
/// without one, or the server's own when it failed the connection), and the
/// messages it had not taken yet (they come before the close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsClosed {
    pub code: u16,
    pub reason: String,
    pub unread: VecDeque<WsMessage>,
}

/// Who has closed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Open,
    /// The server sent its close frame; data from the client is discarded until
    /// its close frame comes, or until `deadline`.
    ByServer {
        deadline: Instant,
    },
}

pub struct WsState {
    pub decoder: Decoder,
    pub encoder: Encoder,
    /// Messages received and not yet taken by the application.
    pub inbox: VecDeque<WsMessage>,
    /// Their payload bytes.
    pub inbox_bytes: usize,
    pub closing: Closing,
    /// The application waits for a message: report the next one.
    pub message_wanted: bool,
    /// When the next ping goes out (`None`: pings are off).
    pub ping_due: Option<Instant>,
    /// A ping is unanswered: the connection fails with 1011 at this time.
    pub pong_due: Option<Instant>,
}

impl WsState {
    pub fn new(config: &WebSocketConfig, deflate: Option<DeflateParams>, now: Instant) -> Self {
        WsState {
            decoder: Decoder::new(DecoderConfig {
                max_message: config.max_message,
                deflate,
            }),
            encoder: Encoder::new(deflate),
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            closing: Closing::Open,
            message_wanted: false,
            ping_due: config.ping_interval.map(|interval| now + interval),
            pong_due: None,
        }
    }

    /// The earliest time something is due (the connection's deadline).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.closing {
            Closing::ByServer { deadline } => Some(deadline),
            Closing::Open => match (self.ping_due, self.pong_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Starts the closing handshake from the server's side.
    pub fn close_sent(&mut self, now: Instant) {
        self.closing = Closing::ByServer {
            deadline: now + WS_CLOSE_TIMEOUT,
        };
    }

    pub fn take(&mut self) -> Option<WsMessage> {
        let message = self.inbox.pop_front()?;
        self.inbox_bytes -= message.len();
        Some(message)
    }

    pub fn push(&mut self, message: WsMessage) {
        self.inbox_bytes += message.len();
        self.inbox.push_back(message);
    }
}
