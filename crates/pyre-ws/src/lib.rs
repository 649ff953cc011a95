//! pyre-ws: the server side of the WebSocket protocol (RFC 6455) with
//! permessage-deflate (RFC 7692), sans-IO: it never touches a socket. `pyre-net`
//! feeds it the bytes it read and writes out the bytes it produces.
//!
//! - [`handshake`]: validates an upgrade request (400/426 with a reason), computes
//!   `Sec-WebSocket-Accept`, negotiates permessage-deflate and writes the 101 head.
//! - [`Decoder`]: client bytes in, [`Event`]s out (whole messages, control frames),
//!   enforcing masking, fragmentation rules, UTF-8 of text, close codes and the
//!   message size limit; a violation is a [`ProtocolError`] naming the close code.
//! - [`Encoder`]: messages and control frames out (unmasked, as a server sends).
//!
//! ```
//! use pyre_ws::{apply_mask, Decoder, DecoderConfig, Encoder, Event};
//!
//! // A client's masked text frame "Hello" (RFC 6455 section 5.7).
//! let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut decoder = Decoder::new(DecoderConfig::default());
//! assert_eq!(decoder.decode(&frame), Ok((11, Some(Event::Text("Hello".into())))));
//!
//! // The server's answer, unmasked.
//! let mut out = Vec::new();
//! Encoder::new(None).text("Hello", &mut out);
//! assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
//! # let _ = apply_mask;
//! ```

#![warn(missing_docs)]

pub mod handshake;

mod decoder;
mod encoder;
mod extensions;
mod frame;
mod inflate;

pub use decoder::{Decoder, DecoderConfig, Event, ProtocolError, DEFAULT_MAX_MESSAGE};
pub use encoder::Encoder;
pub use frame::apply_mask;
pub use handshake::{DeflateParams, Handshake, HandshakeError};

/// Close codes used by the server (RFC 6455 section 7.4.1).
pub mod close_code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutting down) or the client navigated away.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The peer sent a type of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reserved: never sent on the wire; ASGI reports it when the peer's close frame
    /// had no code.
    pub const NO_STATUS: u16 = 1005;
    /// Reserved: never sent on the wire; reported when the connection dropped without
    /// a close frame.
    pub const ABNORMAL: u16 = 1006;
    /// A message's data was inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message violated the endpoint's policy.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message was too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server met an unexpected condition (the application failed).
    pub const INTERNAL_ERROR: u16 = 1011;

    /// True for the codes a close frame may carry (RFC 6455 section 7.4): the
    /// registered ones not reserved for local use (1000-1003, 1007-1011, and
    /// 1012-1014 added to the IANA registry later: service restart, try again later,
    /// bad gateway) and the ranges for libraries and applications (3000-4999). The decoder refuses a
    /// client's close with any other code (1002); the server should only send
    /// these too.
    pub fn is_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}
