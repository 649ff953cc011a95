//! Table-driven tests of the client side: the request encoder, and response framing
//! as RFC 9112 section 6.3 decides it for a client.

use pyre_h1::{
    encode_request, parse_response, EncodeError, Framing, Limits, ParseError, RequestBody, Version,
};

fn framing_of(method: &[u8], response: &[u8]) -> Result<(Framing, bool), ParseError> {
    let head = parse_response(response, method, &Limits::default())?.expect("complete head");
    Ok((head.framing, head.keep_alive))
}

#[test]
fn response_framing_table() {
    use Framing::*;
    use ParseError::*;
    type Row = (
        &'static str,
        &'static [u8],
        &'static [u8],
        Result<(Framing, bool), ParseError>,
    );
    let rows: &[Row] = &[
        (
            "Content-Length",
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Ok((Length(5), true)),
        ),
        (
            "chunked",
            b"GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ok((Chunked, true)),
        ),
        (
            "no framing: close-delimited",
            b"GET",
            b"HTTP/1.1 200 OK\r\n\r\n",
            Ok((CloseDelimited, false)),
        ),
        (
            "TE not chunked: close-delimited (9112 6.3)",
            b"GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Ok((CloseDelimited, false)),
        ),
        (
            "HEAD: no body whatever the fields",
            b"HEAD",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Ok((Empty, true)),
        ),
        (
            "204: no body",
            b"GET",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            Ok((Empty, true)),
        ),
        (
            "304: no body",
            b"GET",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            Ok((Empty, true)),
        ),
        (
            "1xx: no body",
            b"GET",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            Ok((Empty, true)),
        ),
        (
            "CONNECT 2xx: tunnel",
            b"CONNECT",
            b"HTTP/1.1 200 OK\r\n\r\n",
            Ok((Empty, true)),
        ),
        (
            "Connection: close",
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Ok((Empty, false)),
        ),
        (
            "1.0 default close",
            b"GET",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            Ok((Length(1), false)),
        ),
        (
            "1.0 keep-alive",
            b"GET",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
            Ok((Length(1), true)),
        ),
        (
            "CL and TE",
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(ContentLengthWithTransferEncoding),
        ),
        (
            "TE on 1.0",
            b"GET",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Err(TransferEncodingOnHttp10),
        ),
        (
            "conflicting CL",
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            Err(ConflictingContentLength),
        ),
        (
            "bad CL",
            b"GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            Err(InvalidContentLength),
        ),
        (
            "obs-fold",
            b"GET",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            Err(ObsFold),
        ),
        (
            "bare LF",
            b"GET",
            b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
            Err(InvalidLineEnding),
        ),
        (
            "HTTP/2.0 status line",
            b"GET",
            b"HTTP/2.0 200 OK\r\n\r\n",
            Err(UnsupportedVersion),
        ),
        (
            "garbage status line",
            b"GET",
            b"HTTP/1.1 abc OK\r\n\r\n",
            Err(InvalidStatusLine),
        ),
        (
            "not HTTP at all",
            b"GET",
            b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            Err(InvalidVersion),
        ),
    ];
    let mut failures = Vec::new();
    for (name, method, response, expected) in rows {
        let got = framing_of(method, response);
        if &got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn response_head_fields_and_limits() {
    let buf = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
    let head = parse_response(buf, b"GET", &Limits::default()).unwrap().unwrap();
    assert_eq!((head.version, head.status), (Version::Http11, 404));
    assert_eq!(head.reason.get(buf), b"Not Found");
    assert_eq!(&buf[head.head_len..], b"abc");
    assert_eq!(head.headers[0].name.get(buf), b"Content-Type");
    assert!(!head.is_interim());

    assert_eq!(
        parse_response(b"HTTP/1.1 200 OK\r\n", b"GET", &Limits::default()),
        Ok(None)
    );
    let limits = Limits {
        max_head_bytes: 32,
        ..Limits::default()
    };
    let long = b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_eq!(
        parse_response(long, b"GET", &limits),
        Err(ParseError::HeadTooLarge)
    );

    // Found by fuzzing: a status line without a reason phrase, or with obs-text in it.
    for (line, reason) in [
        (&b"HTTP/1.1 204\r\n\r\n"[..], &b""[..]),
        (b"HTTP/1.1 204 \r\n\r\n", b""),
        (b"HTTP/1.1 200 \x80\r\n\r\n", b"\x80"),
        (
            b"HTTP/1.1 101 Swi\x8ftching\r\nConnection: Upgrade\r\n\r\n",
            b"Swi\x8ftching",
        ),
    ] {
        let head = parse_response(line, b"GET", &Limits::default()).unwrap().unwrap();
        assert_eq!(head.reason.get(line), reason);
    }

    let interim = parse_response(b"HTTP/1.1 103 Early Hints\r\n\r\n", b"GET", &Limits::default())
        .unwrap()
        .unwrap();
    assert!(interim.is_interim());
}

#[test]
fn request_encoder() {
    let encode = |method: &[u8], target: &[u8], headers: &[(&str, &str)], body: RequestBody| {
        let mut out = Vec::new();
        let fields = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        encode_request(&mut out, method, target, fields, body).map(|f| (String::from_utf8(out).unwrap(), f))
    };
    assert_eq!(
        encode(b"GET", b"/x?y=1", &[("host", "example.com")], RequestBody::None),
        Ok((
            "GET /x?y=1 HTTP/1.1\r\nhost: example.com\r\n\r\n".into(),
            Framing::Empty
        ))
    );
    assert_eq!(
        encode(b"POST", b"/", &[("host", "a")], RequestBody::Length(3)),
        Ok((
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n".into(),
            Framing::Length(3)
        ))
    );
    assert_eq!(
        encode(
            b"PUT",
            b"/",
            &[("host", "a"), ("transfer-encoding", "gzip")],
            RequestBody::Stream
        ),
        Ok((
            "PUT / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n".into(),
            Framing::Chunked
        ))
    );
    assert_eq!(
        encode(
            b"PUT",
            b"/",
            &[("host", "a"), ("content-length", "7")],
            RequestBody::Stream
        ),
        Ok((
            "PUT / HTTP/1.1\r\nhost: a\r\ncontent-length: 7\r\n\r\n".into(),
            Framing::Length(7)
        ))
    );
    assert_eq!(
        encode(b"PUT", b"/", &[("content-length", "7")], RequestBody::Length(8)),
        Err(EncodeError::ContentLengthMismatch)
    );
    assert_eq!(
        encode(b"G T", b"/", &[], RequestBody::None),
        Err(EncodeError::InvalidRequestLine)
    );
    assert_eq!(
        encode(b"GET", b"/a b", &[], RequestBody::None),
        Err(EncodeError::InvalidRequestLine)
    );
    assert_eq!(
        encode(b"GET", b"/a\r\n", &[], RequestBody::None),
        Err(EncodeError::InvalidRequestLine)
    );
    assert_eq!(
        encode(b"GET", b"/", &[("x", "1\r\n2")], RequestBody::None),
        Err(EncodeError::InvalidHeaderValue)
    );
}
