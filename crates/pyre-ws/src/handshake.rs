//! The opening handshake (RFC 6455 section 4.2), server side.

/// What the server learned from a valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The `Sec-WebSocket-Accept` value to answer with.
    pub accept: String,
    /// Subprotocols the client offered, in its order (`Sec-WebSocket-Protocol`,
    /// comma-separated, possibly over several fields).
    pub subprotocols: Vec<String>,
    /// The permessage-deflate parameters the server will use, when the client
    /// offered an acceptable one and deflate is enabled; `None` otherwise.
    pub deflate: Option<DeflateParams>,
}

/// Negotiated permessage-deflate parameters (RFC 7692 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// 8..=15
    pub server_max_window_bits: u8,
    /// 8..=15
    pub client_max_window_bits: u8,
}

/// Why an upgrade request is refused: [`HandshakeError::status`] is 400 or 426.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a GET.
    NotGet,
    /// Not HTTP/1.1.
    NotHttp11,
    /// `Connection` does not list `upgrade` or `Upgrade` does not list `websocket`.
    NotUpgrade,
    /// `Sec-WebSocket-Key` missing, repeated, or not 16 bytes in base64.
    BadKey,
    /// `Sec-WebSocket-Version` missing or not 13 (426 with `Sec-WebSocket-Version: 13`).
    BadVersion,
}

impl HandshakeError {
    pub fn status(self) -> u16 {
        todo!()
    }
    /// A short reason for the response body and the debug log.
    pub fn reason(self) -> &'static str {
        todo!()
    }
}

/// True when the request asks for a WebSocket upgrade at all (an `Upgrade` field
/// listing `websocket`, case-insensitively), valid or not: such a request is
/// validated with [`validate`], and gets 400/426 when invalid.
pub fn is_websocket_request<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    let _ = headers;
    todo!()
}

/// Validates an upgrade request. `headers` are (name, value) pairs as received
/// (names in any case). `deflate_enabled` false ignores deflate offers.
pub fn validate<'a>(
    method: &[u8],
    http11: bool,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    deflate_enabled: bool,
) -> Result<Handshake, HandshakeError> {
    let _ = (method, http11, headers, deflate_enabled);
    todo!()
}

/// `base64(sha1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))`.
pub fn accept_key(key: &[u8]) -> String {
    let _ = key;
    todo!()
}

/// Appends the whole `101 Switching Protocols` response head to `out`: `Upgrade`,
/// `Connection`, `Sec-WebSocket-Accept`, the chosen subprotocol, the
/// `Sec-WebSocket-Extensions` answer when `deflate` is set, then `extra` headers
/// (the application's, validated by the caller), then the blank line.
pub fn write_response_head(
    out: &mut Vec<u8>,
    handshake: &Handshake,
    subprotocol: Option<&str>,
    extra: &[(&[u8], &[u8])],
) {
    let _ = (out, handshake, subprotocol, extra);
    todo!()
}
