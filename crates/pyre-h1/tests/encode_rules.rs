//! Table-driven tests of the response encoder's framing choices (RFC 9112 section 6,
//! RFC 9110 sections 6.4.1 and 8.6), the chunk encoder, and the refusal of fields
//! that would split a response.

use pyre_h1::{
    encode_chunk, encode_chunk_header, encode_last_chunk, encode_response_head, reason_phrase, EncodeError,
    EncodedHead, Framing, ResponseContext, Version,
};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

const HTTP11: ResponseContext = ResponseContext {
    version: Version::Http11,
    is_head: false,
    keep_alive: true,
};
const HTTP10: ResponseContext = ResponseContext {
    version: Version::Http10,
    is_head: false,
    keep_alive: false,
};
const HTTP10_KEEP_ALIVE: ResponseContext = ResponseContext {
    version: Version::Http10,
    is_head: false,
    keep_alive: true,
};
const HEAD11: ResponseContext = ResponseContext {
    version: Version::Http11,
    is_head: true,
    keep_alive: true,
};

fn encode(
    ctx: ResponseContext,
    status: u16,
    headers: &[(&str, &str)],
    body_len: Option<u64>,
) -> Result<(String, EncodedHead), EncodeError> {
    let mut out = Vec::new();
    let fields = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
    let head = encode_response_head(&mut out, &ctx, status, fields, body_len, DATE)?;
    Ok((String::from_utf8(out).unwrap(), head))
}

#[test]
fn framing_table() {
    use Framing::*;
    // (name, context, status, app headers, one-shot body length, expected head, framing, keep-alive)
    type Row = (
        &'static str,
        ResponseContext,
        u16,
        &'static [(&'static str, &'static str)],
        Option<u64>,
        &'static str,
        Framing,
        bool,
    );
    let rows: &[Row] = &[
        (
            "one-shot body",
            HTTP11,
            200,
            &[("content-type", "text/plain")],
            Some(5),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ndate: D\r\n\r\n",
            Length(5),
            true,
        ),
        (
            "declared length for a stream",
            HTTP11,
            200,
            &[("Content-Length", "10")],
            None,
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\ndate: D\r\n\r\n",
            Length(10),
            true,
        ),
        (
            "unknown length on 1.1 is chunked",
            HTTP11,
            200,
            &[],
            None,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ndate: D\r\n\r\n",
            Chunked,
            true,
        ),
        (
            "unknown length on 1.0 is close-delimited",
            HTTP10_KEEP_ALIVE,
            200,
            &[],
            None,
            "HTTP/1.1 200 OK\r\nconnection: close\r\ndate: D\r\n\r\n",
            CloseDelimited,
            false,
        ),
        (
            "1.0 keep-alive with a length",
            HTTP10_KEEP_ALIVE,
            200,
            &[],
            Some(2),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\ndate: D\r\n\r\n",
            Length(2),
            true,
        ),
        (
            "1.0 without keep-alive",
            HTTP10,
            200,
            &[],
            Some(2),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\ndate: D\r\n\r\n",
            Length(2),
            false,
        ),
        (
            "204 has no framing fields (9110 8.6)",
            HTTP11,
            204,
            &[("content-length", "0")],
            Some(0),
            "HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "304 keeps the declared length",
            HTTP11,
            304,
            &[("content-length", "99")],
            Some(0),
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "304 without length",
            HTTP11,
            304,
            &[],
            None,
            "HTTP/1.1 304 Not Modified\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "HEAD gets the length but no body",
            HEAD11,
            200,
            &[],
            Some(1234),
            "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "HEAD with unknown length: no TE",
            HEAD11,
            200,
            &[],
            None,
            "HTTP/1.1 200 OK\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "100 Continue: status line only",
            HTTP11,
            100,
            &[],
            None,
            "HTTP/1.1 100 Continue\r\n\r\n",
            Empty,
            true,
        ),
        (
            "101 keeps Connection/Upgrade",
            HTTP11,
            101,
            &[("connection", "upgrade"), ("upgrade", "websocket")],
            None,
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
            Empty,
            true,
        ),
        (
            "103 drops framing fields",
            HTTP11,
            103,
            &[("link", "</a.css>"), ("content-length", "5")],
            None,
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n",
            Empty,
            true,
        ),
        (
            "app TE is replaced by ours",
            HTTP11,
            200,
            &[("transfer-encoding", "gzip")],
            None,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ndate: D\r\n\r\n",
            Chunked,
            true,
        ),
        (
            "app Connection: close is honoured",
            HTTP11,
            200,
            &[("connection", "close")],
            Some(0),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\ndate: D\r\n\r\n",
            Empty,
            false,
        ),
        (
            "app Date is kept",
            HTTP11,
            200,
            &[("date", "Mon, 01 Jan 2024 00:00:00 GMT")],
            Some(0),
            "HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\ncontent-length: 0\r\n\r\n",
            Empty,
            true,
        ),
        (
            "unknown status, empty reason",
            HTTP11,
            599,
            &[],
            Some(0),
            "HTTP/1.1 599 \r\ncontent-length: 0\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
        (
            "duplicate fields kept in order",
            HTTP11,
            200,
            &[("set-cookie", "a=1"), ("set-cookie", "b=2")],
            Some(0),
            "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 0\r\ndate: D\r\n\r\n",
            Empty,
            true,
        ),
    ];
    let date = std::str::from_utf8(DATE).unwrap();
    for (name, ctx, status, headers, body_len, expected, framing, keep_alive) in rows {
        let (text, head) =
            encode(*ctx, *status, headers, *body_len).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            text,
            expected.replace("date: D", &format!("date: {date}")),
            "{name}"
        );
        assert_eq!(
            head,
            EncodedHead {
                framing: *framing,
                keep_alive: *keep_alive
            },
            "{name}"
        );
    }
}

#[test]
fn refusals_append_nothing() {
    type Row = (
        &'static str,
        u16,
        &'static [(&'static str, &'static str)],
        Option<u64>,
        EncodeError,
    );
    let rows: &[Row] = &[
        (
            "CRLF in value (response splitting)",
            200,
            &[("x", "a\r\nSet-Cookie: evil=1")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        (
            "LF in value",
            200,
            &[("x", "a\nb")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        (
            "CR in value",
            200,
            &[("x", "a\rb")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        (
            "NUL in value",
            200,
            &[("x", "a\0b")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        (
            "CR in name",
            200,
            &[("x\r", "a")],
            None,
            EncodeError::InvalidHeaderName,
        ),
        (
            "colon in name",
            200,
            &[("x:y", "a")],
            None,
            EncodeError::InvalidHeaderName,
        ),
        (
            "space in name",
            200,
            &[("x y", "a")],
            None,
            EncodeError::InvalidHeaderName,
        ),
        (
            "empty name",
            200,
            &[("", "a")],
            None,
            EncodeError::InvalidHeaderName,
        ),
        (
            "CRLF in content-length",
            200,
            &[("content-length", "1\r\n")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        (
            "CRLF in connection",
            200,
            &[("connection", "close\r\nx: y")],
            None,
            EncodeError::InvalidHeaderValue,
        ),
        ("status too low", 99, &[], None, EncodeError::InvalidStatus),
        ("status too high", 1000, &[], None, EncodeError::InvalidStatus),
        (
            "non-numeric content-length",
            200,
            &[("content-length", "abc")],
            None,
            EncodeError::InvalidContentLength,
        ),
        (
            "conflicting content-lengths",
            200,
            &[("content-length", "1"), ("content-length", "2")],
            None,
            EncodeError::InvalidContentLength,
        ),
        (
            "declared length differs from body",
            200,
            &[("content-length", "3")],
            Some(4),
            EncodeError::ContentLengthMismatch,
        ),
    ];
    for (name, status, headers, body_len, expected) in rows {
        let mut out = b"previous response".to_vec();
        let fields = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        let got = encode_response_head(&mut out, &HTTP11, *status, fields, *body_len, DATE);
        assert_eq!(got, Err(*expected), "{name}");
        assert_eq!(out, b"previous response", "{name}: nothing appended");
    }
}

#[test]
fn chunks_and_trailers() {
    let mut out = Vec::new();
    encode_chunk(&mut out, b"hello");
    encode_chunk(&mut out, b"");
    encode_chunk(&mut out, &[b'x'; 26]);
    encode_last_chunk(&mut out, [("x-checksum", "abc")]).unwrap();
    let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
    expected.extend_from_slice(&[b'x'; 26]);
    expected.extend_from_slice(b"\r\n0\r\nx-checksum: abc\r\n\r\n");
    assert_eq!(out, expected);

    let mut header = Vec::new();
    encode_chunk_header(&mut header, 0xfff);
    assert_eq!(header, b"fff\r\n");

    let mut out = b"kept".to_vec();
    assert_eq!(
        encode_last_chunk(&mut out, [("x", "a\nb")]),
        Err(EncodeError::InvalidHeaderValue)
    );
    assert_eq!(out, b"kept");
    let mut out = Vec::new();
    encode_last_chunk(&mut out, std::iter::empty::<(&[u8], &[u8])>()).unwrap();
    assert_eq!(out, b"0\r\n\r\n");
}

#[test]
fn reason_phrases() {
    assert_eq!(reason_phrase(200), "OK");
    assert_eq!(reason_phrase(404), "Not Found");
    assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
    assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
    assert_eq!(reason_phrase(299), "");
}
