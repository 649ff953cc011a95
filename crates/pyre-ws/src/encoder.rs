//! Messages and control frames out (server frames are never masked).

use crate::DeflateParams;

pub struct Encoder {
    _private: (),
}

impl Encoder {
    pub fn new(deflate: Option<DeflateParams>) -> Self {
        let _ = deflate;
        todo!()
    }

    /// Appends a text message as one frame (compressed when deflate was negotiated
    /// and it pays off).
    pub fn text(&mut self, payload: &str, out: &mut Vec<u8>) {
        let _ = (payload, out);
        todo!()
    }

    pub fn binary(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let _ = (payload, out);
        todo!()
    }

    /// `payload` is at most 125 bytes (truncated otherwise).
    pub fn ping(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let _ = (payload, out);
        todo!()
    }

    pub fn pong(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let _ = (payload, out);
        todo!()
    }

    /// A close frame with `code` and `reason` (reason truncated at a character
    /// boundary to fit 123 bytes); `None` sends a close frame with no body.
    pub fn close(&mut self, code: Option<u16>, reason: &str, out: &mut Vec<u8>) {
        let _ = (code, reason, out);
        todo!()
    }
}
