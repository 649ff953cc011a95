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
//! API CONTRACT (skeleton, filled in by the ws-codec work): pyre-net codes against
//! these signatures.

pub mod handshake;

mod decoder;
mod encoder;

pub use decoder::{Decoder, DecoderConfig, Event, ProtocolError};
pub use encoder::Encoder;
pub use handshake::{DeflateParams, Handshake, HandshakeError};

/// Close codes used by the server (RFC 6455 section 7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reserved: never sent on the wire; ASGI reports it when the peer's close frame
    /// had no code.
    pub const NO_STATUS: u16 = 1005;
    /// Reserved: never sent on the wire; reported when the connection dropped without
    /// a close frame.
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
}
