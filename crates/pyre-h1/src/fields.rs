//! Header fields as offsets into the read buffer, and the shared rules for the fields
//! that decide framing and persistence (RFC 9110 section 5, RFC 9112 section 6).
//!
//! A parsed head keeps no copies: every name and value is a [`Span`] into the buffer
//! the head was parsed from. The semantic pass ([`FieldSummary`]) walks the fields
//! once, recognising the few names that matter to the codec by length first and then
//! by a case-insensitive compare, so an ordinary field costs two comparisons.

use crate::error::ParseError;

/// A byte range `start..end` in the buffer a head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The location of `part` inside `buf`. `part` must be a sub-slice of `buf` (as
    /// the slices httparse returns are), which makes the subtraction exact.
    pub(crate) fn within(buf: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        debug_assert!(start + part.len() <= buf.len());
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    /// Moves the span by `offset` bytes (used when the parsed slice began after an
    /// ignored empty line).
    pub(crate) fn shifted(self, offset: usize) -> Span {
        Span {
            start: self.start + offset as u32,
            end: self.end + offset as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    #[inline]
    pub fn get<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One header field line: name and value (without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderField {
    pub name: Span,
    pub value: Span,
}

/// RFC 9110 `tchar`: the bytes allowed in a token (methods, field names, codings).
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

#[inline]
pub fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// True when `bytes` is a non-empty RFC 9110 token.
#[inline]
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// The elements of a comma-separated list (RFC 9110 section 5.6.1), with optional
/// whitespace trimmed and empty elements skipped, as the RFC asks recipients to do.
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
pub fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Parses a Content-Length field value: `1*DIGIT`, or a list of identical such
/// values (RFC 9110 section 8.6 allows a recipient to accept `5, 5` as 5). Signs,
/// spaces inside a number, empty values and overflow are errors.
pub fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let mut result: Option<u64> = None;
    for element in value.split(|&b| b == b',') {
        let n = parse_decimal(trim_ows(element)).ok_or(ParseError::InvalidContentLength)?;
        match result {
            Some(previous) if previous != n => return Err(ParseError::ConflictingContentLength),
            _ => result = Some(n),
        }
    }
    result.ok_or(ParseError::InvalidContentLength)
}

/// `1*DIGIT` as a `u64`; `None` when empty, not all digits, or overflowing.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// What the Transfer-Encoding fields of one message say, gathered over every
/// Transfer-Encoding line (a list may be split across several lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferCodings {
    /// At least one Transfer-Encoding field was present.
    pub present: bool,
    /// Number of codings listed, over all lines.
    pub count: u32,
    /// How many of them were `chunked`.
    pub chunked: u32,
    /// The last listed coding was `chunked`.
    pub last_is_chunked: bool,
    /// A coding we do not know (not chunked, gzip, x-gzip, deflate, compress, identity).
    pub unknown: bool,
    /// An element that is not a token (quotes, non-ASCII, parameters on chunked...).
    pub malformed: bool,
}

impl TransferCodings {
    fn add_field(&mut self, value: &[u8]) {
        self.present = true;
        for element in list_elements(value) {
            self.count += 1;
            // A coding may carry parameters (`name;p=v`); chunked has none.
            let name = match memchr::memchr(b';', element) {
                Some(i) => trim_ows(&element[..i]),
                None => element,
            };
            if !is_token(name) {
                self.malformed = true;
                self.last_is_chunked = false;
                continue;
            }
            let is_chunked = name.eq_ignore_ascii_case(b"chunked");
            if is_chunked {
                self.chunked += 1;
                if name.len() != element.len() {
                    self.malformed = true;
                }
            } else if !KNOWN_CODINGS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                self.unknown = true;
            }
            self.last_is_chunked = is_chunked;
        }
    }

    /// RFC 9112 section 6.1 and 6.3 for a request: the message is chunked when the
    /// list is exactly `chunked`. Anything else is refused: 501 for codings we do not
    /// implement, 400 when the length cannot be determined.
    pub fn request_framing_error(&self) -> Option<ParseError> {
        if self.malformed || self.count == 0 || self.chunked > 1 {
            Some(ParseError::InvalidTransferEncoding)
        } else if !self.last_is_chunked {
            Some(if self.unknown {
                ParseError::UnsupportedTransferCoding
            } else {
                ParseError::TransferEncodingNotChunked
            })
        } else if self.count > 1 {
            // `gzip, chunked`: valid HTTP, but we do not decode transfer codings
            // other than chunked.
            Some(ParseError::UnsupportedTransferCoding)
        } else {
            None
        }
    }
}

/// Transfer codings registered by RFC 9112 section 7 (and their aliases).
const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"x-gzip", b"deflate", b"compress", b"identity"];

/// One pass over a head's fields: the facts the codec needs to decide framing,
/// persistence, Host, expectations and upgrades.
#[derive(Debug, Default)]
pub struct FieldSummary {
    pub host_count: u32,
    pub host: Option<Span>,
    pub content_length: Option<Result<u64, ParseError>>,
    pub transfer_codings: TransferCodings,
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    pub connection_upgrade: bool,
    pub expect_continue: bool,
    pub upgrade: Option<Span>,
    pub te_trailers: bool,
    pub date: bool,
}

impl FieldSummary {
    /// Looks at one field. `name` and `value` are its bytes, `value_span` its place.
    #[inline]
    pub fn observe(&mut self, name: &[u8], value: &[u8], value_span: Span) {
        // Dispatch on the length first: most fields match none of these lengths.
        match name.len() {
            2 if name.eq_ignore_ascii_case(b"te") => {
                self.te_trailers |= list_elements(value).any(|t| {
                    let t = t.split(|&b| b == b';').next().unwrap_or(t);
                    trim_ows(t).eq_ignore_ascii_case(b"trailers")
                });
            }
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.host_count += 1;
                self.host = Some(value_span);
            }
            4 if name.eq_ignore_ascii_case(b"date") => self.date = true,
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => self.upgrade = Some(value_span),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.connection_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.connection_keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.connection_upgrade = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let parsed = parse_content_length(value);
                self.content_length = Some(match (self.content_length, parsed) {
                    (Some(Err(e)), _) | (None | Some(Ok(_)), Err(e)) => Err(e),
                    (Some(Ok(a)), Ok(b)) if a != b => Err(ParseError::ConflictingContentLength),
                    (_, Ok(b)) => Ok(b),
                });
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.transfer_codings.add_field(value);
            }
            _ => {}
        }
    }
}

/// RFC 9112 section 3.2: the Host value is `uri-host [ ":" port ]`. We check the
/// character classes of RFC 3986: an IP-literal in brackets, or a non-empty reg-name /
/// IPv4 address made of unreserved, percent and sub-delimiter bytes; port is digits.
/// An empty host (`Host: `, `Host: :80`) is refused: RFC 9110 section 4.2.1 makes an
/// `http` URI with an empty host invalid, and Pyre serves only `http(s)` targets.
pub fn is_valid_host(value: &[u8]) -> bool {
    fn host_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    }
    let (host_ok, rest) = if let Some(inner) = value.strip_prefix(b"[") {
        match memchr::memchr(b']', inner) {
            Some(close) => (
                close > 0 && inner[..close].iter().all(|&b| b == b':' || host_byte(b)),
                &inner[close + 1..],
            ),
            None => return false,
        }
    } else {
        let end = memchr::memchr(b':', value).unwrap_or(value.len());
        (
            end > 0 && value[..end].iter().all(|&b| host_byte(b)),
            &value[end..],
        )
    };
    let port_ok = match rest {
        [] => true,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_values() {
        let cases: &[(&[u8], Result<u64, ParseError>)] = &[
            (b"0", Ok(0)),
            (b"42", Ok(42)),
            (b"007", Ok(7)),
            (b"5, 5", Ok(5)),
            (b"5,5,5", Ok(5)),
            (b"18446744073709551615", Ok(u64::MAX)),
            (b"18446744073709551616", Err(ParseError::InvalidContentLength)),
            (b"5, 6", Err(ParseError::ConflictingContentLength)),
            (b"", Err(ParseError::InvalidContentLength)),
            (b"+5", Err(ParseError::InvalidContentLength)),
            (b"-5", Err(ParseError::InvalidContentLength)),
            (b"5 5", Err(ParseError::InvalidContentLength)),
            (b"0x10", Err(ParseError::InvalidContentLength)),
            (b"5,", Err(ParseError::InvalidContentLength)),
            (b"1e3", Err(ParseError::InvalidContentLength)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_content_length(input),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn list_elements_trim_and_skip_empty() {
        let got: Vec<&[u8]> = list_elements(b" a ,, b\t,c ,").collect();
        assert_eq!(got, vec![&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn hosts() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:80",
            b"xn--bcher-kva.example",
            b"host:",
        ] {
            assert!(is_valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"exa mple.com"[..],
            b"example.com:80a",
            b"a/b",
            b"user@host",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"host:80:80",
            b"\xc3\xa9.example",
            b"",
            b":80",
            b" ",
        ] {
            assert!(!is_valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
