//! The client side of the codec: the request encoder and the response head parser,
//! with response framing decided as RFC 9112 section 6.3 says.
//!
//! Response framing, in order of precedence:
//! 1. a response to HEAD, any 1xx, 204 or 304: no body;
//! 2. a 2xx response to CONNECT: no body, the connection becomes a tunnel;
//! 3. Transfer-Encoding ending in `chunked`: chunked. Together with Content-Length,
//!    or on an HTTP/1.0 response, it is refused (framing is in doubt);
//!    Transfer-Encoding not ending in chunked: close-delimited;
//! 4. Content-Length: that many bytes (conflicting values are refused);
//! 5. otherwise: close-delimited.

use std::mem::MaybeUninit;

use crate::body::Framing;
use crate::encode::{declare_length, write_field, write_length};
use crate::error::{EncodeError, ParseError};
use crate::fields::{is_token, FieldSummary, HeaderField, Span};
use crate::limits::{Limits, HARD_MAX_HEADERS};
use crate::request::{check_line_endings, classify_field_line_error, looks_like_http_version, Version};

/// How a request body will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// No body and no framing field (GET, HEAD...).
    None,
    /// A body of known size, sent with Content-Length.
    Length(u64),
    /// A body of unknown size, sent chunked (unless a `content-length` field in the
    /// headers declares the size).
    Stream,
}

/// Appends `METHOD target HTTP/1.1`, the fields, and the framing field to `out`, and
/// returns the framing the body must be written with. The caller supplies Host.
/// A `transfer-encoding` field in `headers` is dropped (framing is the encoder's).
/// On error nothing is appended.
pub fn encode_request<I, N, V>(
    out: &mut Vec<u8>,
    method: &[u8],
    target: &[u8],
    headers: I,
    body: RequestBody,
) -> Result<Framing, EncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let start = out.len();
    let result = encode_request_into(out, method, target, headers, body);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_request_into<I, N, V>(
    out: &mut Vec<u8>,
    method: &[u8],
    target: &[u8],
    headers: I,
    body: RequestBody,
) -> Result<Framing, EncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    if !is_token(method) || target.is_empty() || !target.iter().all(|&b| b > 0x20 && b != 0x7f) {
        return Err(EncodeError::InvalidRequestLine);
    }
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut declared = None;
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                crate::encode::check_field(name, value)?;
                declare_length(&mut declared, value)?;
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                crate::encode::check_field(name, value)?;
            }
            _ => write_field(out, name, value)?,
        }
    }
    let framing = match (body, declared) {
        (RequestBody::Length(n), Some(d)) if n != d => return Err(EncodeError::ContentLengthMismatch),
        (RequestBody::Length(n), _) | (RequestBody::Stream | RequestBody::None, Some(n)) => {
            write_length(out, n);
            if n == 0 {
                Framing::Empty
            } else {
                Framing::Length(n)
            }
        }
        (RequestBody::Stream, None) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            Framing::Chunked
        }
        (RequestBody::None, None) => Framing::Empty,
    };
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

/// A parsed response head. Spans refer to the buffer given to [`parse_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub version: Version,
    pub status: u16,
    pub reason: Span,
    pub headers: Vec<HeaderField>,
    pub framing: Framing,
    /// Whether the connection may be reused after this response's body.
    pub keep_alive: bool,
    pub head_len: usize,
}

impl ResponseHead {
    /// A 1xx response other than 101: the final response still follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Parses a response head from the start of `buf`, for a request made with
/// `request_method`. `Ok(None)`: more bytes are needed.
pub fn parse_response(
    buf: &[u8],
    request_method: &[u8],
    limits: &Limits,
) -> Result<Option<ResponseHead>, ParseError> {
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); HARD_MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut slots[..limits.header_slots()],
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head_bytes {
                Err(ParseError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(classify_response_error(e, buf)),
    };
    if head_len > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    check_line_endings(buf, head_len, res.headers)?;
    let version = if res.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let status = res.code.unwrap_or_default();
    let mut summary = FieldSummary::default();
    let mut headers = Vec::with_capacity(res.headers.len());
    for h in res.headers.iter() {
        let field = HeaderField {
            name: Span::within(buf, h.name.as_bytes()),
            value: Span::within(buf, h.value),
        };
        summary.observe(h.name.as_bytes(), h.value, field.value);
        headers.push(field);
    }

    let codings = &summary.transfer_codings;
    let no_body = request_method == b"HEAD"
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (request_method == b"CONNECT" && (200..300).contains(&status));
    let framing = if no_body {
        Framing::Empty
    } else if codings.present {
        if summary.content_length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        if version == Version::Http10 {
            return Err(ParseError::TransferEncodingOnHttp10);
        }
        if codings.malformed || codings.chunked > 1 {
            return Err(ParseError::InvalidTransferEncoding);
        }
        if codings.last_is_chunked && codings.count == 1 {
            Framing::Chunked
        } else if codings.last_is_chunked {
            return Err(ParseError::UnsupportedTransferCoding);
        } else {
            Framing::CloseDelimited
        }
    } else {
        match summary.content_length {
            Some(Ok(0)) => Framing::Empty,
            Some(Ok(n)) => Framing::Length(n),
            Some(Err(e)) => return Err(e),
            None => Framing::CloseDelimited,
        }
    };
    let persistent = match version {
        Version::Http11 => !summary.connection_close,
        Version::Http10 => summary.connection_keep_alive && !summary.connection_close,
    };
    Ok(Some(ResponseHead {
        version,
        status,
        reason: reason_span(buf),
        headers,
        framing,
        keep_alive: persistent && framing != Framing::CloseDelimited,
        head_len,
    }))
}

/// The reason phrase's place in the status line. Not taken from httparse, which
/// returns a static empty string (not a slice of `buf`) when the reason is missing or
/// holds obs-text bytes: `HTTP/1.1 204\r\n` and `HTTP/1.1 200 \x80\r\n` are both valid.
fn reason_span(buf: &[u8]) -> Span {
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let line = &buf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `HTTP/1.1 200 ` is 13 bytes; what follows is the reason.
    let start = line.len().min(13);
    Span {
        start: start as u32,
        end: line.len() as u32,
    }
}

fn classify_response_error(error: httparse::Error, buf: &[u8]) -> ParseError {
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    match error {
        httparse::Error::Version => {
            let version = buf[..line_end].split(|&b| b == b' ').next().unwrap_or_default();
            if looks_like_http_version(version) {
                ParseError::UnsupportedVersion
            } else {
                ParseError::InvalidVersion
            }
        }
        httparse::Error::HeaderName => classify_field_line_error(&buf[line_end..]),
        httparse::Error::HeaderValue => ParseError::InvalidHeaderValue,
        httparse::Error::NewLine => ParseError::InvalidLineEnding,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::Status | httparse::Error::Token => ParseError::InvalidStatusLine,
    }
}
