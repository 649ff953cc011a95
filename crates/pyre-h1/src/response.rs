//! The response head encoder (server side): status line, the application's fields,
//! and the framing fields chosen from what the application said.
//!
//! Framing rules (RFC 9112 section 6, RFC 9110 sections 6.4.1 and 8.6):
//! - 1xx, 204 and 304 have no body; neither do responses to HEAD. None of them gets
//!   Transfer-Encoding; 1xx and 204 get no Content-Length either, while 304 and HEAD
//!   keep the length the application declared (it describes the representation).
//! - A known length (declared by a `content-length` field or given as the body's
//!   size) is sent as Content-Length.
//! - An unknown length is chunked on HTTP/1.1 and close-delimited on HTTP/1.0, and a
//!   close-delimited response ends the connection.
//!
//! The application's own `transfer-encoding` field is dropped (framing is ours to
//! choose); its `connection: close` is honoured; `date` is added unless it set one.

use crate::body::Framing;
use crate::encode::{declare_length, write_field, write_length};
use crate::error::EncodeError;
use crate::request::Version;
use crate::status::write_status_line;

/// What the response encoder needs to know about the request being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseContext {
    pub version: Version,
    pub is_head: bool,
    /// Whether the request allows the connection to stay open.
    pub keep_alive: bool,
}

impl ResponseContext {
    /// The context for answering a request whose head could not be parsed: the
    /// connection closes after the response.
    pub fn for_error() -> Self {
        ResponseContext {
            version: Version::Http11,
            is_head: false,
            keep_alive: false,
        }
    }
}

/// What the encoder decided: how the body must be written, and whether the
/// connection stays open after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedHead {
    pub framing: Framing,
    pub keep_alive: bool,
}

/// Appends a response head to `out`.
///
/// `body_len` is the size of the body when the application gave it whole (one-shot);
/// `None` means a stream of unknown length unless a `content-length` field declares
/// it. `date` is the cached `Date` value; an empty one leaves the field out. On
/// error nothing is appended.
pub fn encode_response_head<I, N, V>(
    out: &mut Vec<u8>,
    ctx: &ResponseContext,
    status: u16,
    headers: I,
    body_len: Option<u64>,
    date: &[u8],
) -> Result<EncodedHead, EncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let start = out.len();
    let result = encode_into(out, ctx, status, headers, body_len, date);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_into<I, N, V>(
    out: &mut Vec<u8>,
    ctx: &ResponseContext,
    status: u16,
    headers: I,
    body_len: Option<u64>,
    date: &[u8],
) -> Result<EncodedHead, EncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    if !(100..=999).contains(&status) {
        return Err(EncodeError::InvalidStatus);
    }
    let interim = status < 200;
    write_status_line(out, status);

    let mut declared: Option<u64> = None;
    let mut app_close = false;
    let mut has_date = false;
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"date") => has_date = true,
            10 if !interim && name.eq_ignore_ascii_case(b"connection") => {
                crate::encode::check_field(name, value)?;
                app_close |= crate::fields::list_elements(value).any(|t| t.eq_ignore_ascii_case(b"close"));
                continue;
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                crate::encode::check_field(name, value)?;
                declare_length(&mut declared, value)?;
                continue;
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                crate::encode::check_field(name, value)?;
                continue;
            }
            _ => {}
        }
        write_field(out, name, value)?;
    }

    if interim {
        out.extend_from_slice(b"\r\n");
        return Ok(EncodedHead {
            framing: Framing::Empty,
            keep_alive: ctx.keep_alive,
        });
    }

    let bodyless = status == 204 || status == 304 || ctx.is_head;
    if let (Some(d), Some(b)) = (declared, body_len) {
        if d != b && !bodyless {
            return Err(EncodeError::ContentLengthMismatch);
        }
    }
    let mut keep_alive = ctx.keep_alive && !app_close;
    let framing = if status == 204 {
        Framing::Empty
    } else if status == 304 {
        if let Some(n) = declared {
            write_length(out, n);
        }
        Framing::Empty
    } else if ctx.is_head {
        if let Some(n) = declared.or(body_len) {
            write_length(out, n);
        }
        Framing::Empty
    } else if let Some(n) = declared.or(body_len) {
        write_length(out, n);
        if n == 0 {
            Framing::Empty
        } else {
            Framing::Length(n)
        }
    } else if ctx.version == Version::Http11 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::CloseDelimited
    };

    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if ctx.version == Version::Http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !has_date && !date.is_empty() {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(EncodedHead { framing, keep_alive })
}
