//! Request heads: parse with httparse, then decide everything a server needs before
//! it reads the body.
//!
//! How it works: httparse (SIMD) tokenises the start line and field lines and checks
//! their byte classes. We then make one pass over the fields ([`FieldSummary`]) and
//! apply RFC 9112's framing and persistence rules, refusing every ambiguity that could
//! let two parsers read the same bytes as different requests (request smuggling).
//! The resulting [`RequestHead`] holds offsets into the caller's buffer, not copies.
//!
//! Rules kept here, beyond httparse's own:
//! - Line endings are CRLF; a bare LF or CR anywhere in the head is refused.
//! - One empty line before the request line is ignored (RFC 9112 section 2.2), not more.
//! - HTTP/1.1 needs exactly one valid Host; no request may carry two.
//! - Content-Length and Transfer-Encoding together, conflicting Content-Lengths,
//!   Transfer-Encoding on HTTP/1.0, and a Transfer-Encoding whose only coding is not
//!   `chunked` (empty list elements aside, RFC 9110 section 5.6.1) are refused.
//! - The request-target is visible ASCII without a fragment (`#`), in a form the method
//!   allows (section 3.2). CONNECT is refused with 501 once valid: Pyre does not tunnel.
//! - A method longer than [`Limits::max_method_bytes`] gets 501 (section 3).
//! - A higher minor version (`HTTP/1.2`) is read as HTTP/1.1 (section 2.3); another
//!   major version gets 505.

use std::mem::MaybeUninit;

use crate::error::ParseError;
use crate::fields::{is_tchar, is_valid_host, FieldSummary, HeaderField, Span};
use crate::limits::{Limits, HARD_MAX_HEADERS};
use crate::Framing;

/// The two HTTP versions this codec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// `"1.0"` or `"1.1"`, as ASGI's `http_version`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
        }
    }
}

/// Methods with a meaning to the codec or common enough to be worth naming, so
/// that bindings can hand out interned strings instead of decoding the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
    /// Any other token; read the bytes from [`RequestHead::method`].
    Other,
}

impl Method {
    /// Recognises a method (methods are case-sensitive, RFC 9110 section 9.1).
    pub fn from_bytes(bytes: &[u8]) -> Method {
        match bytes {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }
}

/// The four request-target forms of RFC 9112 section 3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://authority/path?query`, sent to proxies; a server takes the authority
    /// from the target rather than from Host (section 3.2.2).
    Absolute,
    /// `host:port`, only with CONNECT.
    Authority,
    /// `*`, only with OPTIONS.
    Asterisk,
}

/// A parsed and validated request head. Spans refer to the buffer given to
/// [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub method_span: Span,
    pub target: Span,
    pub target_form: TargetForm,
    pub version: Version,
    pub headers: Vec<HeaderField>,
    /// How the body is delimited; never [`Framing::CloseDelimited`] for a request.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (ignored for HTTP/1.0, RFC 9110
    /// section 10.1.1).
    pub expect_continue: bool,
    /// The Upgrade field's value, when `Connection` also lists `upgrade` on HTTP/1.1.
    pub upgrade: Option<Span>,
    /// The Host field's value, when present.
    pub host: Option<Span>,
    /// `TE: trailers` was sent: the client accepts trailer fields in the response.
    pub te_trailers: bool,
    /// Bytes of the head, including an ignored leading empty line: the body (or the
    /// next request) starts here.
    pub head_len: usize,
}

impl RequestHead {
    /// The bytes of the field called `name` (case-insensitive), first occurrence.
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }

    /// What the response encoder needs to know about this request.
    pub fn response_context(&self) -> crate::ResponseContext {
        crate::ResponseContext {
            version: self.version,
            is_head: self.method == Method::Head,
            keep_alive: self.keep_alive,
        }
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some(head))` when the head is
/// complete (the body starts at `head.head_len`), and an error carrying its status
/// hint otherwise. Limits are checked on partial input too, so a peer cannot make the
/// caller buffer more than `limits.max_head_bytes` before it is refused.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    let skip = match leading_empty_line(buf)? {
        Some(skip) => skip,
        None => return Ok(None),
    };
    let data = &buf[skip..];
    check_method_length(data, limits)?;

    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); HARD_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(data, &mut slots[..limits.header_slots()]);
    let (version, target) = (req.version, req.path.map(str::as_bytes));
    let parsed_len = match status {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(data, target.map(<[u8]>::len), limits)?;
            return Ok(None);
        }
        Err(httparse::Error::Version) if higher_minor_version(data).is_some() => {
            return parse_as_http11(buf, skip, limits);
        }
        Err(e) => return Err(classify_httparse_error(e, data)),
    };
    let head_len = skip + parsed_len;
    let target = target.unwrap_or_default();
    if target.len() > limits.max_target_bytes {
        return Err(ParseError::TargetTooLong);
    }
    // httparse lets bytes 0x80-0xFF through; the request-target grammar (RFC 3986)
    // is ASCII, and raw UTF-8 beside its percent-encoded twin is a path-matching trap.
    // A fragment is never sent (RFC 9112 section 3.2: no form allows `#`).
    if !target.is_ascii() || memchr::memchr(b'#', target).is_some() {
        return Err(ParseError::InvalidTarget);
    }
    if head_len > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    check_line_endings(data, parsed_len, req.headers)?;

    let version = match version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let method_bytes = req.method.unwrap_or_default().as_bytes();
    let method = Method::from_bytes(method_bytes);
    let target_form = target_form(method, target)?;

    let mut summary = FieldSummary::default();
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let field = HeaderField {
            name: Span::within(data, h.name.as_bytes()).shifted(skip),
            value: Span::within(data, h.value).shifted(skip),
        };
        summary.observe(h.name.as_bytes(), h.value, field.value);
        headers.push(field);
    }

    match summary.host_count {
        0 if version == Version::Http11 => return Err(ParseError::MissingHost),
        0 | 1 => {}
        _ => return Err(ParseError::DuplicateHost),
    }
    if let Some(host) = summary.host {
        // An http(s) URI with an empty host is invalid (RFC 9110 section 4.2.1), so an
        // empty Host is refused like a missing one, whatever the target's form.
        if !is_valid_host(host.get(buf)) {
            return Err(ParseError::InvalidHost);
        }
    }

    if method == Method::Connect {
        return Err(ParseError::ConnectNotSupported);
    }

    let framing = request_framing(&summary, version, limits)?;
    let keep_alive = match version {
        Version::Http11 => !summary.connection_close,
        Version::Http10 => summary.connection_keep_alive && !summary.connection_close,
    };
    let http11 = version == Version::Http11;
    Ok(Some(RequestHead {
        method,
        method_span: Span::within(data, method_bytes).shifted(skip),
        target: Span::within(data, target).shifted(skip),
        target_form,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue: http11 && summary.expect_continue,
        upgrade: summary.upgrade.filter(|_| http11 && summary.connection_upgrade),
        host: summary.host,
        te_trailers: summary.te_trailers,
        head_len,
    }))
}

/// RFC 9112 section 6.3 for requests: Transfer-Encoding (only exactly `chunked`) or
/// Content-Length, never both; otherwise no body.
fn request_framing(summary: &FieldSummary, version: Version, limits: &Limits) -> Result<Framing, ParseError> {
    let codings = &summary.transfer_codings;
    if codings.present {
        if summary.content_length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        if version == Version::Http10 {
            return Err(ParseError::TransferEncodingOnHttp10);
        }
        if let Some(e) = codings.request_framing_error() {
            return Err(e);
        }
        return Ok(Framing::Chunked);
    }
    match summary.content_length {
        None | Some(Ok(0)) => Ok(Framing::Empty),
        Some(Ok(n)) => match limits.max_body_bytes {
            Some(max) if n > max => Err(ParseError::BodyTooLarge),
            _ => Ok(Framing::Length(n)),
        },
        Some(Err(e)) => Err(e),
    }
}

/// RFC 9112 section 3: a method longer than any the server implements gets 501. Decided
/// on the first `max_method_bytes + 1` bytes alone (all token bytes, no space yet), so
/// every split of the input reaches the same verdict, before httparse scans the rest.
fn check_method_length(data: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let max = limits.max_method_bytes;
    if data.len() > max && data[..=max].iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::MethodTooLong);
    }
    Ok(())
}

/// Where the minor digit of an `HTTP/1.x` version with x above 1 is in `data` (the
/// request line, possibly incomplete), or `None` for any other version.
fn higher_minor_version(data: &[u8]) -> Option<usize> {
    let line_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = &data[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version_at = memchr::memrchr(b' ', line)? + 1;
    match &line[version_at..] {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            Some(version_at + 7)
        }
        _ => None,
    }
}

/// RFC 9112 section 2.3: a recipient SHOULD process a message with a higher minor
/// version as the highest it conforms to. Parses a copy with the minor digit set to 1:
/// same length, so every span of the head is also right for `buf`. Only such requests
/// pay for the copy.
fn parse_as_http11(buf: &[u8], skip: usize, limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    let mut copy = buf.to_vec();
    let minor = skip + higher_minor_version(&buf[skip..]).expect("checked by the caller");
    copy[minor] = b'1';
    parse_request(&copy, limits)
}

/// Skips one empty line (CRLF) before the request line. `Ok(None)`: need more bytes.
fn leading_empty_line(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let skip = match buf {
        [] | [b'\r'] => return Ok(None),
        [b'\r', b'\n', ..] => 2,
        [b'\r', ..] | [b'\n', ..] => return Err(ParseError::InvalidLineEnding),
        _ => 0,
    };
    match buf.get(skip) {
        None if skip > 0 => Ok(None),
        Some(b'\r' | b'\n') => Err(ParseError::InvalidRequestLine),
        _ => Ok(Some(skip)),
    }
}

/// Limits on an incomplete head: refuse as soon as the bytes received already exceed
/// what a complete head could have.
fn check_partial(data: &[u8], target_len: Option<usize>, limits: &Limits) -> Result<(), ParseError> {
    match target_len {
        Some(len) if len > limits.max_target_bytes => return Err(ParseError::TargetTooLong),
        Some(_) => {}
        None => {
            // The request line is still arriving: judge the part of the target that
            // arrived. It can only grow, so refusing it now agrees with the verdict
            // on the whole line (any split parses the same).
            let line = &data[..memchr::memchr(b'\n', data).unwrap_or(data.len())];
            if let Some(space) = memchr::memchr(b' ', line) {
                let rest = &line[space + 1..];
                let target_len = memchr::memchr(b' ', rest).unwrap_or(rest.len());
                if target_len > limits.max_target_bytes {
                    return Err(ParseError::TargetTooLong);
                }
            }
        }
    }
    if data.len() > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(())
}

/// httparse accepts a bare LF as a line end (RFC 9112 section 2.2 allows it); we do
/// not, because lenient line ends are a known source of parser disagreement.
///
/// No scan is needed: httparse already refuses a CR that is not followed by LF, and
/// each field line starts right after the LF ending the line before it. So checking
/// the byte before each field name, and the last four bytes of the head, covers the
/// end of every line at a cost of one comparison per field.
pub(crate) fn check_line_endings(
    data: &[u8],
    head_len: usize,
    fields: &[httparse::Header<'_>],
) -> Result<(), ParseError> {
    let crlf_before = |at: usize| at >= 2 && data[at - 2] == b'\r' && data[at - 1] == b'\n';
    let all_fields = fields
        .iter()
        .all(|h| crlf_before(Span::within(data, h.name.as_bytes()).start as usize));
    if all_fields && crlf_before(head_len) && crlf_before(head_len - 2) {
        Ok(())
    } else {
        Err(ParseError::InvalidLineEnding)
    }
}

/// Which target forms each method may use (RFC 9112 section 3.2).
fn target_form(method: Method, target: &[u8]) -> Result<TargetForm, ParseError> {
    let form = match target {
        [b'/', ..] => TargetForm::Origin,
        b"*" => TargetForm::Asterisk,
        _ if is_absolute_http_uri(target) => TargetForm::Absolute,
        _ if method == Method::Connect => TargetForm::Authority,
        _ => return Err(ParseError::InvalidTarget),
    };
    match (method, form) {
        (Method::Connect, TargetForm::Authority) => {
            if is_valid_host(target) && memchr::memchr(b':', target).is_some() {
                Ok(form)
            } else {
                Err(ParseError::InvalidTarget)
            }
        }
        (Method::Connect, _) => Err(ParseError::InvalidTarget),
        (Method::Options, TargetForm::Asterisk) => Ok(form),
        (_, TargetForm::Asterisk) => Err(ParseError::InvalidTarget),
        _ => Ok(form),
    }
}

/// `http://` or `https://` followed by a non-empty authority.
fn is_absolute_http_uri(target: &[u8]) -> bool {
    let rest = if target.len() >= 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        &target[7..]
    } else if target.len() >= 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        &target[8..]
    } else {
        return false;
    };
    let authority_end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    authority_end > 0
}

/// Turns httparse's coarse error into the precise reason and status we report.
fn classify_httparse_error(error: httparse::Error, data: &[u8]) -> ParseError {
    let line_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let request_line = &data[..line_end];
    match error {
        httparse::Error::Token | httparse::Error::Version => classify_request_line(request_line),
        httparse::Error::HeaderName => classify_field_line_error(&data[line_end.min(data.len())..]),
        httparse::Error::HeaderValue => ParseError::InvalidHeaderValue,
        httparse::Error::NewLine => ParseError::InvalidLineEnding,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::Status => ParseError::InvalidStatusLine,
    }
}

/// Finds which part of a refused request line is wrong, in the order they come: the
/// method, then the target (visible ASCII: httparse refuses a target that is not UTF-8
/// as a token error, which must not read as a version problem), then the version. Only
/// a well-formed `HTTP/x.y` of another major version gets 505 (RFC 9110 section
/// 15.6.6); everything else is 400.
fn classify_request_line(line: &[u8]) -> ParseError {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let method = parts[0];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return ParseError::InvalidMethod;
    }
    let [_, target, version] = parts[..] else {
        return ParseError::InvalidRequestLine;
    };
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        ParseError::InvalidTarget
    } else if !looks_like_http_version(version) {
        ParseError::InvalidVersion
    } else if version[5] != b'1' {
        ParseError::UnsupportedVersion
    } else {
        // HTTP/1.x with every part well-formed, yet refused by httparse.
        ParseError::InvalidRequestLine
    }
}

/// Also used for status lines, where the version comes first.
pub(crate) fn looks_like_http_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// httparse reports every malformed field line as `HeaderName`; find out which rule
/// the line broke so the 400 says why.
pub(crate) fn classify_field_line_error(fields: &[u8]) -> ParseError {
    // `fields` starts at the LF ending the start line.
    let mut lines = fields.split(|&b| b == b'\n').skip(1);
    for line in lines.by_ref() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            return ParseError::ObsFold;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return ParseError::InvalidHeaderName;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            let trimmed = crate::fields::trim_ows(name);
            return if !trimmed.is_empty()
                && trimmed.len() < name.len()
                && trimmed.iter().all(|&b| is_tchar(b))
            {
                ParseError::WhitespaceBeforeColon
            } else {
                ParseError::InvalidHeaderName
            };
        }
    }
    ParseError::InvalidHeaderName
}
