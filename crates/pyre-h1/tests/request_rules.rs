//! Table-driven tests of the request-head rules: each row is the bytes of a head and
//! the verdict the codec must reach (framing and persistence, or the error with its
//! status). Rows cite the RFC 9112 / RFC 9110 clause they check.

use std::sync::LazyLock;

use pyre_h1::{parse_request, Framing, Limits, Method, ParseError, RequestHead, TargetForm, Version};

/// A request whose method is 100,000 bytes long (issue 16: it got 431).
static LONG_METHOD: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut bytes = vec![b'A'; 100_000];
    bytes.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
    bytes
});

#[derive(Debug, PartialEq)]
enum Verdict {
    /// Accepted with this framing and keep-alive.
    Ok(Framing, bool),
    Err(ParseError),
}
use Verdict::{Err as Bad, Ok as Good};

fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, ParseError> {
    parse_request(bytes, &Limits::default())
}

fn verdict(bytes: &[u8]) -> Verdict {
    match parse(bytes) {
        Ok(Some(head)) => Verdict::Ok(head.framing, head.keep_alive),
        Ok(None) => panic!("incomplete: {:?}", String::from_utf8_lossy(bytes)),
        Err(e) => Verdict::Err(e),
    }
}

fn check_table(rows: &[(&str, &[u8], Verdict)]) {
    let mut failures = Vec::new();
    for (name, bytes, expected) in rows {
        let got = verdict(bytes);
        if &got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn framing_and_persistence() {
    use Framing::*;
    check_table(&[
        (
            "1.1 keep-alive by default (9112 9.3)",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "1.1 Connection: close",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Good(Empty, false),
        ),
        (
            "close token among others",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n",
            Good(Empty, false),
        ),
        (
            "close on a second Connection line",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n",
            Good(Empty, false),
        ),
        (
            "1.0 closes by default (9112 9.3)",
            b"GET / HTTP/1.0\r\n\r\n",
            Good(Empty, false),
        ),
        (
            "1.0 with keep-alive",
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "1.0 keep-alive and close",
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            Good(Empty, false),
        ),
        (
            "Content-Length",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
            Good(Length(10), true),
        ),
        (
            "Content-Length: 0 is no body",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "leading zeros (1*DIGIT)",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
            Good(Length(7), true),
        ),
        (
            "identical list (9110 8.6)",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
            Good(Length(5), true),
        ),
        (
            "identical duplicate lines (9110 8.6)",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Good(Length(5), true),
        ),
        (
            "chunked",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Good(Chunked, true),
        ),
        (
            "chunked, any case",
            b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n",
            Good(Chunked, true),
        ),
        (
            "chunked with empty list elements (9110 5.6.1)",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked,\r\n\r\n",
            Good(Chunked, true),
        ),
        (
            "1.0 Content-Length",
            b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
            Good(Length(3), false),
        ),
        (
            "one empty line before the request line (9112 2.2)",
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "obs-text in a value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "tab inside a value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n",
            Good(Empty, true),
        ),
        (
            "empty value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
            Good(Empty, true),
        ),
    ]);
}

#[test]
fn smuggling_and_framing_refusals() {
    use ParseError::*;
    check_table(&[
        ("CL with TE (9112 6.3)", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(ContentLengthWithTransferEncoding)),
        ("TE with CL, other order", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Bad(ContentLengthWithTransferEncoding)),
        ("conflicting CL lines (9110 8.6)", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Bad(ConflictingContentLength)),
        ("conflicting CL list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", Bad(ConflictingContentLength)),
        ("signed CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Bad(InvalidContentLength)),
        ("negative CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Bad(InvalidContentLength)),
        ("hex CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Bad(InvalidContentLength)),
        ("space inside CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", Bad(InvalidContentLength)),
        ("empty CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Bad(InvalidContentLength)),
        ("overflowing CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Bad(InvalidContentLength)),
        ("TE not ending in chunked (9112 6.3)", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Bad(TransferEncodingNotChunked)),
        ("TE known coding only", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Bad(TransferEncodingNotChunked)),
        ("TE unknown coding (9112 6.1: 501)", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: pigeons\r\n\r\n", Bad(UnsupportedTransferCoding)),
        ("TE gzip, chunked: not implemented", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Bad(UnsupportedTransferCoding)),
        ("TE chunked twice (9112 6.1)", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE chunked on two lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE chunked then other line", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", Bad(TransferEncodingNotChunked)),
        ("TE quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE with parameter on chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE non-ASCII lookalike", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\xc4\xb1d\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", Bad(InvalidTransferEncoding)),
        ("TE vertical tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", Bad(InvalidHeaderValue)),
        ("TE form feed", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0c\r\n\r\n", Bad(InvalidHeaderValue)),
        ("TE on HTTP/1.0 (9112 6.1)", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Bad(TransferEncodingOnHttp10)),
        ("TE folded onto a continuation line", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", Bad(ObsFold)),
        ("space before colon on TE (9112 5.1)", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", Bad(WhitespaceBeforeColon)),
    ]);
}

#[test]
fn host_rules() {
    use ParseError::*;
    check_table(&[
        (
            "missing Host on 1.1 (9112 3.2)",
            b"GET / HTTP/1.1\r\n\r\n",
            Bad(MissingHost),
        ),
        (
            "two Host lines (9112 3.2)",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            Bad(DuplicateHost),
        ),
        (
            "two Host lines on 1.0",
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            Bad(DuplicateHost),
        ),
        (
            "invalid Host value",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "Host with path",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "Host with userinfo",
            b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "empty Host: an http URI with an empty host is invalid (9110 4.2.1)",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "Host of spaces only (trimmed to empty)",
            b"GET / HTTP/1.1\r\nHost:   \r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "Host with a port and no host",
            b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "empty Host on HTTP/1.0",
            b"GET / HTTP/1.0\r\nHost: \r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "empty Host with an absolute-form target",
            b"GET http://a/ HTTP/1.1\r\nHost: \r\n\r\n",
            Bad(InvalidHost),
        ),
        (
            "Host with port",
            b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
            Good(Framing::Empty, true),
        ),
        (
            "IPv6 Host",
            b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            Good(Framing::Empty, true),
        ),
        (
            "1.0 without Host",
            b"GET / HTTP/1.0\r\n\r\n",
            Good(Framing::Empty, false),
        ),
    ]);
}

#[test]
fn syntax_refusals() {
    use ParseError::*;
    check_table(&[
        (
            "obs-fold (9112 5.2)",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            Bad(ObsFold),
        ),
        (
            "obs-fold with tab",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
            Bad(ObsFold),
        ),
        (
            "space before colon (9112 5.1)",
            b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
            Bad(WhitespaceBeforeColon),
        ),
        (
            "tab before colon",
            b"GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n",
            Bad(WhitespaceBeforeColon),
        ),
        (
            "bare CR in value (9112 2.2)",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            Bad(InvalidHeaderValue),
        ),
        (
            "NUL in value (9110 5.5)",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            Bad(InvalidHeaderValue),
        ),
        (
            "bare LF line end",
            b"GET / HTTP/1.1\nHost: a\n\n",
            Bad(InvalidLineEnding),
        ),
        (
            "bare LF after a field",
            b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
            Bad(InvalidLineEnding),
        ),
        (
            "bare CR in the request line",
            b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "field without colon",
            b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            Bad(InvalidHeaderName),
        ),
        (
            "empty field name",
            b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
            Bad(InvalidHeaderName),
        ),
        (
            "non-token field name",
            b"GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n",
            Bad(InvalidHeaderName),
        ),
        (
            "non-token method",
            b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidMethod),
        ),
        (
            "space in target",
            b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidRequestLine),
        ),
        (
            "control byte in target",
            b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "DEL in target",
            b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "relative target",
            b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "asterisk with GET (9112 3.2.4)",
            b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "CONNECT with origin-form (9112 3.2.3)",
            b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "CONNECT without port",
            b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "two spaces after method",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidRequestLine),
        ),
        (
            "HTTP/2.0 (505)",
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            Bad(UnsupportedVersion),
        ),
        (
            "HTTP/1.2 is read as HTTP/1.1 (9112 2.3)",
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            Good(Framing::Empty, true),
        ),
        (
            "HTTP/1.9 is read as HTTP/1.1, also its framing (9112 2.3)",
            b"POST / HTTP/1.9\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Good(Framing::Chunked, true),
        ),
        (
            "HTTP/1.2 still needs a Host",
            b"GET / HTTP/1.2\r\n\r\n",
            Bad(MissingHost),
        ),
        (
            "HTTP/1.10 is no HTTP-version (one DIGIT each): the line goes on after HTTP/1.1",
            b"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
            Bad(InvalidLineEnding),
        ),
        (
            "HTTP/0.9 with a version (505)",
            b"GET / HTTP/0.9\r\nHost: a\r\n\r\n",
            Bad(UnsupportedVersion),
        ),
        (
            "target not UTF-8 (overlong /) is 400, not 505 (9112 3.2)",
            b"GET /\xc0\xaf HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "target with a lone continuation byte",
            b"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "target with 0xFF",
            b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "target with invalid UTF-8 inside",
            b"GET /a\xc0\xafb HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "target with valid UTF-8 (raw, not percent-encoded)",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "invalid UTF-8 target on HTTP/1.2",
            b"GET /\xc0\xaf HTTP/1.2\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "fragment in origin-form (9112 3.2)",
            b"GET /path#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "fragment after a query",
            b"GET /p?q=1#f HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "fragment in absolute-form",
            b"GET http://a/p#f HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "a lone #",
            b"GET /# HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidTarget),
        ),
        (
            "CONNECT in authority-form: Pyre does not tunnel (501)",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Bad(ConnectNotSupported),
        ),
        (
            "CONNECT on HTTP/1.0",
            b"CONNECT example.com:443 HTTP/1.0\r\n\r\n",
            Bad(ConnectNotSupported),
        ),
        (
            "a method of 100,000 bytes (9112 3: 501)",
            &LONG_METHOD,
            Bad(MethodTooLong),
        ),
        ("HTTP/0.9 style (400)", b"GET /\r\n\r\n", Bad(InvalidRequestLine)),
        (
            "lowercase protocol",
            b"GET / http/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidVersion),
        ),
        (
            "RTSP start line",
            b"GET / RTSP/1.0\r\nHost: a\r\n\r\n",
            Bad(InvalidVersion),
        ),
        (
            "two empty lines before request",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidRequestLine),
        ),
        (
            "LF-only empty line before request",
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Bad(InvalidLineEnding),
        ),
    ]);
}

#[test]
fn status_hints() {
    use pyre_h1::StatusHint;
    let cases = [
        (ParseError::MissingHost, 400),
        (ParseError::BodyTooLarge, 413),
        (ParseError::TargetTooLong, 414),
        (ParseError::HeadTooLarge, 431),
        (ParseError::TooManyHeaders, 431),
        (ParseError::TrailersTooLarge, 431),
        (ParseError::UnsupportedTransferCoding, 501),
        (ParseError::UnsupportedVersion, 505),
        (ParseError::ContentLengthWithTransferEncoding, 400),
    ];
    for (error, code) in cases {
        assert_eq!(error.status().code(), code, "{error:?}");
        assert!(!error.reason().is_empty());
    }
    assert_eq!(StatusHint::BadRequest as u16, 400);
}

#[test]
fn limits_are_enforced_and_configurable() {
    let limits = Limits::default();
    // 414: a target one byte over the limit, complete or still arriving.
    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(limits.max_target_bytes)
    );
    assert_eq!(parse(long_target.as_bytes()), Err(ParseError::TargetTooLong));
    let arriving = format!("GET /{}", "a".repeat(limits.max_target_bytes + 100));
    assert_eq!(parse(arriving.as_bytes()), Err(ParseError::TargetTooLong));
    let at_limit = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(limits.max_target_bytes - 1)
    );
    assert!(parse(at_limit.as_bytes()).unwrap().is_some());

    // A long method does not make a target at the limit look too long while the
    // request line is still arriving: every prefix asks for more.
    let long_method = format!(
        "{} /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(limits.max_method_bytes),
        "a".repeat(limits.max_target_bytes - 1)
    );
    assert!(parse(long_method.as_bytes()).unwrap().is_some());
    for end in (8000..long_method.len() - 1).step_by(7) {
        assert_eq!(
            parse(&long_method.as_bytes()[..end]),
            Ok(None),
            "prefix of {end} bytes"
        );
    }

    // 431: too many fields, and a head over the size limit (complete or partial).
    let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..limits.max_headers {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(parse(many.as_bytes()), Err(ParseError::TooManyHeaders));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(limits.max_head_bytes)
    );
    assert_eq!(parse(big.as_bytes()), Err(ParseError::HeadTooLarge));
    let big_partial = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}",
        "v".repeat(limits.max_head_bytes)
    );
    assert_eq!(parse(big_partial.as_bytes()), Err(ParseError::HeadTooLarge));

    // Tighter limits from configuration.
    let tight = Limits {
        max_headers: 2,
        max_target_bytes: 4,
        max_head_bytes: 64,
        max_body_bytes: Some(10),
        ..Limits::default()
    };
    let p = |b: &[u8]| parse_request(b, &tight);
    assert_eq!(
        p(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n").map(|h| h.is_some()),
        Ok(true)
    );
    assert_eq!(
        p(b"GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(ParseError::TargetTooLong)
    );
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"),
        Err(ParseError::TooManyHeaders)
    );
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 01234567890123456789012345678901234567\r\n\r\n"),
        Err(ParseError::HeadTooLarge)
    );
    assert_eq!(
        p(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"),
        Err(ParseError::BodyTooLarge)
    );
    assert_eq!(
        p(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
            .unwrap()
            .unwrap()
            .framing,
        Framing::Length(10)
    );
}

#[test]
fn incomplete_heads_ask_for_more() {
    let full = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for end in 0..full.len() {
        assert_eq!(parse(&full[..end]), Ok(None), "prefix of {end} bytes");
    }
    assert!(parse(full).unwrap().is_some());
    assert_eq!(parse(b"\r"), Ok(None));
    assert_eq!(parse(b"\r\n"), Ok(None));
}

#[test]
fn head_fields_are_spans_into_the_buffer() {
    let buf = b"\r\nPUT /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-One:  1 \r\nx-two: 2\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\nBODY";
    let head = parse(buf).unwrap().unwrap();
    assert_eq!(head.method, Method::Put);
    assert_eq!(head.method_span.get(buf), b"PUT");
    assert_eq!(head.target.get(buf), b"/a/b?c=d");
    assert_eq!(head.target_form, TargetForm::Origin);
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.host.unwrap().get(buf), b"example.com");
    assert_eq!(&buf[head.head_len..], b"BODY");
    let fields: Vec<(&[u8], &[u8])> = head
        .headers
        .iter()
        .map(|h| (h.name.get(buf), h.value.get(buf)))
        .collect();
    assert_eq!(
        fields,
        vec![
            (&b"Host"[..], &b"example.com"[..]),
            (b"X-One", b"1"),
            (b"x-two", b"2"),
            (b"Expect", b"100-continue"),
            (b"TE", b"trailers"),
        ]
    );
    assert_eq!(head.header(buf, b"X-TWO"), Some(&b"2"[..]));
    assert!(head.expect_continue);
    assert!(head.te_trailers);
    assert_eq!(head.upgrade, None);
}

#[test]
fn expectations_upgrades_and_target_forms() {
    let p = |b: &'static [u8]| (b, parse(b).unwrap().unwrap());
    // 100-continue is ignored on HTTP/1.0 (RFC 9110 10.1.1).
    assert!(
        !p(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .1
            .expect_continue
    );
    assert!(
        p(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .1
            .expect_continue
    );

    // Upgrade counts only when Connection lists it (RFC 9110 7.8).
    let (buf, head) =
        p(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(head.upgrade.unwrap().get(buf), b"websocket");
    assert_eq!(
        p(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")
            .1
            .upgrade,
        None
    );
    assert_eq!(
        p(b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
            .1
            .upgrade,
        None
    );

    let (_, head) = p(b"GET http://example.com/x HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(head.target_form, TargetForm::Absolute);
    // A valid CONNECT is refused for what it asks (a tunnel), a malformed one for its
    // syntax.
    assert_eq!(
        parse(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        Err(ParseError::ConnectNotSupported)
    );
    assert_eq!(
        parse(b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(ParseError::InvalidTarget)
    );
    let (_, head) = p(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(head.target_form, TargetForm::Asterisk);
    let (buf, head) = p(b"PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        (head.method, head.method_span.get(buf)),
        (Method::Other, &b"PURGE"[..])
    );
}

#[test]
fn pipelined_heads_end_where_the_next_begins() {
    let buf = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let first = parse(buf).unwrap().unwrap();
    let rest = &buf[first.head_len..];
    let second = parse(rest).unwrap().unwrap();
    assert_eq!(first.target.get(buf), b"/1");
    assert_eq!(second.target.get(rest), b"/2");
    assert_eq!(second.head_len, rest.len());
}

#[test]
fn method_length_is_bounded_on_whole_and_partial_heads() {
    let limits = Limits::default();
    let at_limit = format!(
        "{} / HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(limits.max_method_bytes)
    );
    let head = parse(at_limit.as_bytes()).unwrap().unwrap();
    assert_eq!(
        head.method_span.get(at_limit.as_bytes()).len(),
        limits.max_method_bytes
    );
    let over = format!(
        "{} / HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(limits.max_method_bytes + 1)
    );
    assert_eq!(parse(over.as_bytes()), Err(ParseError::MethodTooLong));
    assert_eq!(ParseError::MethodTooLong.status().code(), 501);
    // Still arriving: refused as soon as one byte more than the limit is in, before
    // the head limit (431) could be reached.
    let arriving = "M".repeat(limits.max_method_bytes + 1);
    assert_eq!(parse(arriving.as_bytes()), Err(ParseError::MethodTooLong));
    assert_eq!(parse(&arriving.as_bytes()[..limits.max_method_bytes]), Ok(None));
    // A bad byte within the limit is an invalid method, whatever follows.
    let bad = format!("MM(M{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(100));
    assert_eq!(parse(bad.as_bytes()), Err(ParseError::InvalidMethod));
    // Configurable.
    let tight = Limits {
        max_method_bytes: 3,
        ..Limits::default()
    };
    assert!(parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &tight)
        .unwrap()
        .is_some());
    assert_eq!(
        parse_request(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n", &tight),
        Err(ParseError::MethodTooLong)
    );
}

#[test]
fn a_higher_minor_version_is_read_as_http11() {
    let buf = b"\r\nPOST /up?x=1 HTTP/1.2\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    let head = parse(buf).unwrap().unwrap();
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.target.get(buf), b"/up?x=1");
    assert_eq!(head.method_span.get(buf), b"POST");
    assert_eq!(head.header(buf, b"content-length"), Some(&b"2"[..]));
    assert_eq!(head.framing, Framing::Length(2));
    assert_eq!(&buf[head.head_len..], b"hi");
    // Incomplete: more is needed, as for HTTP/1.1.
    for end in 1..buf.len() - 2 {
        assert_eq!(parse(&buf[..end]), Ok(None), "prefix of {end} bytes");
    }
    // Other majors are still 505.
    assert_eq!(
        parse(b"GET / HTTP/2.1\r\nHost: a\r\n\r\n"),
        Err(ParseError::UnsupportedVersion)
    );
}
