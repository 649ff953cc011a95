//! The opening handshake (RFC 6455 section 4.2), server side.
//!
//! A request asks for a WebSocket when its `Upgrade` field lists `websocket`
//! ([`is_websocket_request`]); [`validate`] then checks the rest (GET, HTTP/1.1,
//! `Connection: upgrade`, one `Sec-WebSocket-Key` of 16 bytes, version 13) and
//! answers with what the 101 needs: the accept key, the offered subprotocols and
//! the negotiated permessage-deflate parameters. [`write_response_head`] writes
//! the 101. Header names are matched case-insensitively, list-valued fields are
//! read as comma-separated tokens over every field of that name.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::extensions;

/// The GUID appended to the client's key (RFC 6455 section 1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version there is (RFC 6455 section 4.1).
pub const VERSION: &str = "13";

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
    /// The server starts every message with an empty compression window.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty compression window, so the
    /// server resets its decompressor per message.
    pub client_no_context_takeover: bool,
    /// 8..=15: the server's compression window is at most 2^N bytes. zlib cannot
    /// write raw deflate with a 256-byte window, so with 8 the server sends its
    /// messages uncompressed (always allowed) rather than risk a larger window.
    pub server_max_window_bits: u8,
    /// 8..=15: the largest window the client announced it compresses with (15
    /// when it announced none). The server's decompressor always uses a 15-bit
    /// window, which reads any smaller one.
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
    /// 426 Upgrade Required for [`HandshakeError::BadVersion`] (to be sent with
    /// `Sec-WebSocket-Version: 13`), 400 Bad Request otherwise.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::BadVersion => 426,
            HandshakeError::NotGet
            | HandshakeError::NotHttp11
            | HandshakeError::NotUpgrade
            | HandshakeError::BadKey => 400,
        }
    }

    /// A short reason for the response body and the debug log.
    pub fn reason(self) -> &'static str {
        match self {
            HandshakeError::NotGet => "WebSocket upgrade requires GET",
            HandshakeError::NotHttp11 => "WebSocket upgrade requires HTTP/1.1",
            HandshakeError::NotUpgrade => {
                "WebSocket upgrade requires Connection: Upgrade and Upgrade: websocket"
            }
            HandshakeError::BadKey => "missing, repeated or invalid Sec-WebSocket-Key",
            HandshakeError::BadVersion => "unsupported Sec-WebSocket-Version (13 is supported)",
        }
    }
}

/// The comma-separated elements of a list-valued field, trimmed of optional
/// whitespace, empty elements skipped (RFC 9110 section 5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|element| element.trim_ascii())
        .filter(|e| !e.is_empty())
}

/// The values of every field called `name` (ASCII case-insensitive).
fn fields<'a>(
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
}

/// True when some field `name` lists `token` (both compared case-insensitively).
fn lists_token<'a>(
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    name: &'static str,
    token: &str,
) -> bool {
    fields(headers, name).any(|v| list_elements(v).any(|e| e.eq_ignore_ascii_case(token.as_bytes())))
}

/// True when the request asks for a WebSocket upgrade at all (an `Upgrade` field
/// listing `websocket`, case-insensitively), valid or not: such a request is
/// validated with [`validate`], and gets 400/426 when invalid.
pub fn is_websocket_request<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    lists_token(headers, "upgrade", "websocket")
}

/// Validates an upgrade request. `headers` are (name, value) pairs as received
/// (names in any case). `deflate_enabled` false ignores deflate offers.
///
/// The checks run in this order, the first failure is the answer: GET, HTTP/1.1,
/// `Connection` lists `upgrade` and `Upgrade` lists `websocket`, exactly one
/// `Sec-WebSocket-Key` that is the base64 of 16 bytes, `Sec-WebSocket-Version`
/// exactly 13. Subprotocols are the tokens of every `Sec-WebSocket-Protocol`
/// field (elements that are not tokens are skipped); extensions are negotiated as
/// described in the crate's `extensions` module (a bad offer never fails the
/// handshake, it only goes without compression).
pub fn validate<'a>(
    method: &[u8],
    http11: bool,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    deflate_enabled: bool,
) -> Result<Handshake, HandshakeError> {
    if method != b"GET" {
        return Err(HandshakeError::NotGet);
    }
    if !http11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !lists_token(headers.clone(), "connection", "upgrade")
        || !lists_token(headers.clone(), "upgrade", "websocket")
    {
        return Err(HandshakeError::NotUpgrade);
    }
    let mut keys = fields(headers.clone(), "sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.trim_ascii(),
        _ => return Err(HandshakeError::BadKey),
    };
    if BASE64.decode(key).map_or(true, |decoded| decoded.len() != 16) {
        return Err(HandshakeError::BadKey);
    }
    let mut versions = fields(headers.clone(), "sec-websocket-version").flat_map(list_elements);
    match (versions.next(), versions.next()) {
        (Some(version), None) if version == VERSION.as_bytes() => {}
        _ => return Err(HandshakeError::BadVersion),
    }
    let subprotocols = fields(headers.clone(), "sec-websocket-protocol")
        .flat_map(list_elements)
        .filter(|e| e.iter().all(|&b| extensions::is_tchar(b)))
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    let deflate = if deflate_enabled {
        extensions::negotiate_deflate(fields(headers, "sec-websocket-extensions"))
    } else {
        None
    };
    Ok(Handshake {
        accept: accept_key(key),
        subprotocols,
        deflate,
    })
}

/// `base64(sha1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    BASE64.encode(sha1.finalize())
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
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(handshake.accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(subprotocol) = subprotocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(subprotocol.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(deflate) = &handshake.deflate {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        extensions::write_answer(out, deflate);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// The RFC 6455 section 1.3 request, plus `extra` fields.
    fn request(extra: &[(&'static str, &'static str)]) -> Vec<(&'static [u8], &'static [u8])> {
        let mut headers: Vec<(&[u8], &[u8])> = vec![
            (b"Host", b"server.example.com"),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", KEY.as_bytes()),
            (b"Sec-WebSocket-Version", b"13"),
        ];
        headers.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        headers
    }

    fn without(
        headers: &[(&'static [u8], &'static [u8])],
        name: &str,
    ) -> Vec<(&'static [u8], &'static [u8])> {
        headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()))
            .copied()
            .collect()
    }

    fn check(headers: &[(&[u8], &[u8])]) -> Result<Handshake, HandshakeError> {
        validate(b"GET", true, headers.iter().copied(), true)
    }

    #[test]
    fn rfc6455_accept_key() {
        assert_eq!(accept_key(KEY.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn valid_request() {
        let handshake = check(&request(&[])).unwrap();
        assert_eq!(
            handshake,
            Handshake {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                subprotocols: vec![],
                deflate: None
            }
        );
    }

    #[test]
    fn is_websocket_request_looks_at_upgrade_only() {
        let yes: [&[(&[u8], &[u8])]; 3] = [
            &[(b"upgrade", b"websocket")],
            &[(b"UPGRADE", b"h2c, WebSocket")],
            &[(b"Upgrade", b"foo"), (b"Upgrade", b" websocket ")],
        ];
        for headers in yes {
            assert!(is_websocket_request(headers.iter().copied()), "{headers:?}");
        }
        let no: [&[(&[u8], &[u8])]; 3] = [
            &[],
            &[(b"Upgrade", b"h2c")],
            &[(b"Connection", b"websocket"), (b"X-Upgrade", b"websocket")],
        ];
        for headers in no {
            assert!(!is_websocket_request(headers.iter().copied()), "{headers:?}");
        }
    }

    #[test]
    fn method_and_version() {
        let headers = request(&[]);
        assert_eq!(
            validate(b"POST", true, headers.iter().copied(), true),
            Err(HandshakeError::NotGet)
        );
        assert_eq!(
            validate(b"get", true, headers.iter().copied(), true),
            Err(HandshakeError::NotGet)
        );
        assert_eq!(
            validate(b"GET", false, headers.iter().copied(), true),
            Err(HandshakeError::NotHttp11)
        );
    }

    #[test]
    fn connection_and_upgrade_tokens() {
        let base = request(&[]);
        // Token-wise, case-insensitive, over several fields.
        for (connection, upgrade) in [
            ("keep-alive, Upgrade", "websocket"),
            ("UPGRADE", "WebSocket"),
            ("upgrade ,keep-alive", "websocket, h2c"),
        ] {
            let mut headers = without(&without(&base, "connection"), "upgrade");
            headers.push((b"Connection", connection.as_bytes()));
            headers.push((b"Upgrade", upgrade.as_bytes()));
            assert!(check(&headers).is_ok(), "{connection} / {upgrade}");
        }
        let mut split = without(&base, "connection");
        split.push((b"Connection", b"keep-alive"));
        split.push((b"Connection", b"upgrade"));
        assert!(check(&split).is_ok());
        // Missing, or only a substring.
        for bad_connection in [None, Some("keep-alive"), Some("upgraded"), Some("x-upgrade")] {
            let mut headers = without(&base, "connection");
            if let Some(value) = bad_connection {
                headers.push((b"Connection", value.as_bytes()));
            }
            assert_eq!(
                check(&headers),
                Err(HandshakeError::NotUpgrade),
                "{bad_connection:?}"
            );
        }
        for bad_upgrade in [None, Some("h2c"), Some("websocket2")] {
            let mut headers = without(&base, "upgrade");
            if let Some(value) = bad_upgrade {
                headers.push((b"Upgrade", value.as_bytes()));
            }
            assert_eq!(
                check(&headers),
                Err(HandshakeError::NotUpgrade),
                "{bad_upgrade:?}"
            );
        }
    }

    #[test]
    fn key_must_be_one_16_byte_base64_value() {
        let base = without(&request(&[]), "sec-websocket-key");
        assert_eq!(check(&base), Err(HandshakeError::BadKey));
        for bad in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",   // no padding
            "dGhlIHNhbXBsZSBub25jZXg=", // 17 bytes
            "dGhlIHNhbXBsZSBub25j",     // 15 bytes
            "dGhlIHNhbXBsZSBub25jZQ==x",
            "!GhlIHNhbXBsZSBub25jZQ==",
        ] {
            let mut headers = base.clone();
            headers.push((b"Sec-WebSocket-Key", bad.as_bytes()));
            assert_eq!(check(&headers), Err(HandshakeError::BadKey), "{bad:?}");
        }
        let mut twice = request(&[]);
        twice.push((b"sec-websocket-key", KEY.as_bytes()));
        assert_eq!(check(&twice), Err(HandshakeError::BadKey));
        // Surrounding whitespace is not part of the value.
        let mut padded = base.clone();
        padded.push((b"Sec-WebSocket-Key", b" dGhlIHNhbXBsZSBub25jZQ== "));
        assert_eq!(check(&padded).unwrap().accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn version_must_be_13() {
        let base = without(&request(&[]), "sec-websocket-version");
        assert_eq!(check(&base), Err(HandshakeError::BadVersion));
        for bad in ["12", "8", "", "13, 8", "130", "1 3"] {
            let mut headers = base.clone();
            headers.push((b"Sec-WebSocket-Version", bad.as_bytes()));
            assert_eq!(check(&headers), Err(HandshakeError::BadVersion), "{bad:?}");
        }
        let mut twice = request(&[]);
        twice.push((b"Sec-WebSocket-Version", b"13"));
        assert_eq!(check(&twice), Err(HandshakeError::BadVersion));
    }

    #[test]
    fn statuses_and_reasons() {
        assert_eq!(HandshakeError::BadVersion.status(), 426);
        for error in [
            HandshakeError::NotGet,
            HandshakeError::NotHttp11,
            HandshakeError::NotUpgrade,
            HandshakeError::BadKey,
        ] {
            assert_eq!(error.status(), 400, "{error:?}");
            assert!(!error.reason().is_empty());
        }
        assert!(HandshakeError::BadVersion.reason().contains("13"));
    }

    #[test]
    fn subprotocols_in_order_over_several_fields() {
        let headers = request(&[
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("sec-websocket-protocol", " v2.json ,, bad token, x"),
        ]);
        assert_eq!(
            check(&headers).unwrap().subprotocols,
            ["chat", "superchat", "v2.json", "x"]
        );
    }

    #[test]
    fn deflate_negotiation_and_switch() {
        let headers = request(&[(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
        )]);
        let deflate = check(&headers).unwrap().deflate.unwrap();
        assert_eq!(deflate.server_max_window_bits, 10);
        assert_eq!(deflate.client_max_window_bits, 15);
        assert!(!deflate.server_no_context_takeover && !deflate.client_no_context_takeover);
        // Disabled: offers are ignored.
        assert_eq!(
            validate(b"GET", true, headers.iter().copied(), false)
                .unwrap()
                .deflate,
            None
        );
        // A bad offer does not fail the handshake.
        let headers = request(&[("Sec-WebSocket-Extensions", "permessage-deflate; bogus")]);
        assert_eq!(check(&headers).unwrap().deflate, None);
    }

    #[test]
    fn response_head() {
        let mut handshake = check(&request(&[])).unwrap();
        let mut out = Vec::new();
        write_response_head(&mut out, &handshake, None, &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        handshake.deflate = Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 12,
            client_max_window_bits: 15,
        });
        let mut out = b"previous".to_vec();
        write_response_head(
            &mut out,
            &handshake,
            Some("chat"),
            &[(b"X-Extra", b"1"), (b"Set-Cookie", b"a=b")],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "previousHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=12\r\n\
             X-Extra: 1\r\nSet-Cookie: a=b\r\n\r\n"
        );
    }
}
