//! Client bytes in, events out.

use crate::DeflateParams;

#[derive(Debug, Clone, Copy)]
pub struct DecoderConfig {
    /// The largest message (after decompression), in bytes; beyond it the decoder
    /// fails with 1009. Also bounds a control frame to 125 bytes regardless.
    pub max_message: usize,
    /// Negotiated permessage-deflate, if any.
    pub deflate: Option<DeflateParams>,
}

/// One thing the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text message (all fragments, decompressed, valid UTF-8).
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The client's close frame: `None` when it carried no code (1005 to report).
    Close(Option<(u16, String)>),
}

/// The client broke the protocol: close with `code` (1002, 1007 or 1009) and
/// `reason`, then drop the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

/// Decodes a client's frames. Keeps partial frames and partial fragmented messages
/// between calls. After a `Close` event or an error it must not be fed again.
pub struct Decoder {
    _private: (),
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Self {
        let _ = config;
        todo!()
    }

    /// Consumes a prefix of `input` and returns how many bytes it used, and the next
    /// event if one completed. Call again with the rest while it returns an event;
    /// `(n, None)` means every byte of `input` up to `n` is buffered or used and more
    /// input is needed (it may consume all of `input` into its own buffers).
    /// Invalid UTF-8 in a text message fails as soon as the bytes prove it (also in
    /// the middle of a fragmented message), not only at its end.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        let _ = input;
        todo!()
    }

    /// Bytes held in the decoder's buffers (a partial message): counted against the
    /// connection's read high-water mark.
    pub fn buffered(&self) -> usize {
        todo!()
    }
}
