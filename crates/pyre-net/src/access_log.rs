//! The access log: one line per completed response, formatted in Rust and written
//! in batches.
//!
//! How it works: `--access-log-format` is compiled once ([`AccessFormat::compile`])
//! into literal and field pieces. When a response completes, the runtime fills an
//! [`AccessEntry`] from what it already holds (peer or proxied client, the request
//! head's spans, the status, the body bytes sent, the time since the head was
//! parsed) and [`AccessLog::record`] renders it into a batch: text lines or JSON
//! objects appended to one buffer, or, when the host's logging is configured by the
//! user, owned [`AccessRecord`]s it turns into log records. The host takes the batch
//! ([`AccessLog::take_lines`], [`AccessLog::take_records`]) once per event-loop
//! batch, on its tick and at shutdown, so a busy server pays one write for many
//! lines, and no line is held longer than a tick.
//!
//! Escaping: the decoded path and the other request-derived fields may hold any
//! byte a client sent (`%0A` decodes to a newline). Text lines write control bytes,
//! `"` and `\` as `\xHH` (as nginx does), so a client cannot forge a line or break
//! the quoting; JSON strings escape as JSON requires.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Today's uvicorn-like line: `127.0.0.1:50312 - "GET /path HTTP/1.1" 200`.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = "{client} - \"{method} {path} HTTP/{http_version}\" {status}";

/// The named fields a format may use, each a `{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `host:port` of the client (after trusted proxy headers), `-` for a Unix socket.
    Client,
    Method,
    /// The percent-decoded path, without the query.
    Path,
    /// The raw query string, without the `?` (empty when there is none).
    Query,
    /// `1.0` or `1.1`.
    HttpVersion,
    /// The request line as sent: `GET /path?query HTTP/1.1`.
    Request,
    Status,
    /// Response body bytes sent (0 for HEAD, 204 and 304; framing not counted).
    Bytes,
    /// Seconds from the request head parsed to the response complete.
    Duration,
}

impl Field {
    /// Every field, in the order JSON lines and log records list them.
    pub const ALL: [Field; 9] = [
        Field::Client,
        Field::Method,
        Field::Path,
        Field::Query,
        Field::HttpVersion,
        Field::Request,
        Field::Status,
        Field::Bytes,
        Field::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Client => "client",
            Field::Method => "method",
            Field::Path => "path",
            Field::Query => "query",
            Field::HttpVersion => "http_version",
            Field::Request => "request",
            Field::Status => "status",
            Field::Bytes => "bytes",
            Field::Duration => "duration",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A piece of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// Why a format does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    UnknownField(String),
    /// A `{` without its `}`.
    Unclosed,
    /// A `}` that closes nothing (write `}}` for a literal one).
    UnmatchedClose,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::UnknownField(name) => {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                write!(f, "unknown field {{{name}}}; the fields are {}", known.join(", "))
            }
            FormatError::Unclosed => f.write_str("a '{' is not closed (write '{{' for a literal brace)"),
            FormatError::UnmatchedClose => {
                f.write_str("a '}' closes nothing (write '}}' for a literal brace)")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// A format compiled into pieces: literals copied as they are, fields rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFormat {
    pieces: Vec<Piece>,
}

impl Default for AccessFormat {
    fn default() -> Self {
        AccessFormat::compile(DEFAULT_ACCESS_LOG_FORMAT).expect("the default format compiles")
    }
}

impl AccessFormat {
    /// Compiles `{field}` placeholders and literal text; `{{` and `}}` are literal
    /// braces, as in Python's `str.format`.
    pub fn compile(spec: &str) -> Result<AccessFormat, FormatError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = spec.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(FormatError::UnmatchedClose),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(FormatError::Unclosed),
                        }
                    }
                    let field = Field::from_name(name.trim()).ok_or(FormatError::UnknownField(name))?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(AccessFormat { pieces })
    }

    /// Appends the line for `entry` (no newline), fields escaped for text.
    pub fn render(&self, entry: &AccessEntry<'_>, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Field(field) => entry.write_text(*field, out),
            }
        }
    }
}

/// Who sent a request, as the access log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddr<'a> {
    /// The socket's peer.
    Peer(SocketAddr),
    /// What a trusted proxy said (`X-Forwarded-For` carries no port: 0).
    Forwarded(&'a str, u16),
    /// A Unix socket peer has no address.
    Unknown,
}

/// What one completed response's line is made of, borrowed from the runtime.
#[derive(Debug, Clone)]
pub struct AccessEntry<'a> {
    pub client: ClientAddr<'a>,
    pub method: &'a [u8],
    /// The raw request-target's path and query (see `pyre_h1::split_target`).
    pub raw_path: &'a [u8],
    pub query: &'a [u8],
    /// The raw request-target, for the request line.
    pub target: &'a [u8],
    pub http_version: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
}

impl AccessEntry<'_> {
    fn path(&self) -> Cow<'_, str> {
        pyre_h1::decode_path(self.raw_path)
    }

    /// The field's value as text, unescaped (for log records).
    pub fn text(&self, field: Field) -> String {
        let mut out = Vec::new();
        self.write_raw(field, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The field's value, unescaped.
    fn write_raw(&self, field: Field, out: &mut Vec<u8>) {
        // Writes to a Vec cannot fail.
        let _ = match field {
            Field::Client => match self.client {
                ClientAddr::Peer(peer) => write!(out, "{}:{}", peer.ip(), peer.port()),
                ClientAddr::Forwarded(host, port) => write!(out, "{host}:{port}"),
                ClientAddr::Unknown => out.write_all(b"-"),
            },
            Field::Method => out.write_all(self.method),
            Field::Path => out.write_all(self.path().as_bytes()),
            Field::Query => out.write_all(self.query),
            Field::HttpVersion => out.write_all(self.http_version.as_bytes()),
            Field::Request => {
                out.extend_from_slice(self.method);
                out.push(b' ');
                out.extend_from_slice(self.target);
                write!(out, " HTTP/{}", self.http_version)
            }
            Field::Status => write!(out, "{}", self.status),
            Field::Bytes => write!(out, "{}", self.bytes),
            Field::Duration => write!(out, "{:.6}", self.duration.as_secs_f64()),
        };
    }

    /// The field's value, escaped for a text line. Numbers, the version and the
    /// client address need no escaping; the rest come from the client.
    /// Escapes straight into `out`: no allocation per field.
    fn write_text(&self, field: Field, out: &mut Vec<u8>) {
        match field {
            Field::Method => escape_text(self.method, out),
            Field::Path => escape_text(self.path().as_bytes(), out),
            Field::Query => escape_text(self.query, out),
            Field::Request => {
                escape_text(self.method, out);
                out.push(b' ');
                escape_text(self.target, out);
                let _ = write!(out, " HTTP/{}", self.http_version);
            }
            Field::Client => match self.client {
                ClientAddr::Forwarded(host, port) => {
                    escape_text(host.as_bytes(), out);
                    let _ = write!(out, ":{port}");
                }
                _ => self.write_raw(field, out),
            },
            Field::HttpVersion | Field::Status | Field::Bytes | Field::Duration => self.write_raw(field, out),
        }
    }

    fn is_number(field: Field) -> bool {
        matches!(field, Field::Status | Field::Bytes | Field::Duration)
    }
}

/// Appends `raw` with control bytes, DEL, `"` and `\` written as `\xHH`.
pub fn escape_text(raw: &[u8], out: &mut Vec<u8>) {
    for &b in raw {
        if b < 0x20 || b == 0x7f || b == b'"' || b == b'\\' {
            let _ = write!(out, "\\x{b:02x}");
        } else {
            out.push(b);
        }
    }
}

/// Appends `text` as a JSON string, quotes included (RFC 8259 section 7). Invalid
/// UTF-8 is replaced with U+FFFD, so the output is always valid JSON.
pub fn write_json_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for c in String::from_utf8_lossy(text).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `2026-11-22T21:45:31.123Z`: RFC 3339 in UTC with milliseconds, as Pyre's
/// Python JSON formatter writes it.
pub fn write_rfc3339(time: SystemTime, out: &mut Vec<u8>) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let in_day = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since.subsec_millis()
    );
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// How the batch is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessOutput {
    /// One text line each, after `prefix` (Pyre's `INFO:     `), for the host to
    /// write as it is.
    Text { prefix: String },
    /// One JSON object per line: `time`, `level`, `logger`, `message`, then every
    /// field.
    Json { logger: String },
    /// [`AccessRecord`]s for the host's logging (handlers the user configured).
    Records,
}

/// One line's worth, owned, for the host's logging.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord {
    /// The formatted line.
    pub message: String,
    /// When the response completed.
    pub time: SystemTime,
    pub client: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub http_version: &'static str,
    pub request: String,
    pub status: u16,
    pub bytes: u64,
    /// Seconds.
    pub duration: f64,
}

/// The compiled format, the output, and the batch not yet taken.
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: AccessFormat,
    output: AccessOutput,
    lines: Vec<u8>,
    records: Vec<AccessRecord>,
    /// Reused for each line's message (JSON, records).
    scratch: Vec<u8>,
}

impl AccessLog {
    pub fn new(format: AccessFormat, output: AccessOutput) -> Self {
        AccessLog {
            format,
            output,
            lines: Vec::new(),
            records: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn output(&self) -> &AccessOutput {
        &self.output
    }

    /// Adds the line for a completed response to the batch.
    pub fn record(&mut self, entry: &AccessEntry<'_>) {
        // Only JSON lines and records carry the time (text lines: no clock read).
        let now = match self.output {
            AccessOutput::Text { .. } => UNIX_EPOCH,
            AccessOutput::Json { .. } | AccessOutput::Records => SystemTime::now(),
        };
        self.record_at(entry, now);
    }

    /// [`AccessLog::record`] at a given time.
    pub fn record_at(&mut self, entry: &AccessEntry<'_>, now: SystemTime) {
        match &self.output {
            AccessOutput::Text { prefix } => {
                self.lines.extend_from_slice(prefix.as_bytes());
                self.format.render(entry, &mut self.lines);
                self.lines.push(b'\n');
            }
            AccessOutput::Json { logger } => {
                self.scratch.clear();
                self.format.render(entry, &mut self.scratch);
                let out = &mut self.lines;
                out.extend_from_slice(b"{\"time\":\"");
                write_rfc3339(now, out);
                out.extend_from_slice(b"\",\"level\":\"INFO\",\"logger\":");
                write_json_string(logger.as_bytes(), out);
                out.extend_from_slice(b",\"message\":");
                write_json_string(&self.scratch, out);
                let mut raw = Vec::new();
                for field in Field::ALL {
                    out.push(b',');
                    write_json_string(field.name().as_bytes(), out);
                    out.push(b':');
                    raw.clear();
                    entry.write_raw(field, &mut raw);
                    if AccessEntry::is_number(field) {
                        out.extend_from_slice(&raw);
                    } else {
                        write_json_string(&raw, out);
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            AccessOutput::Records => {
                self.scratch.clear();
                self.format.render(entry, &mut self.scratch);
                self.records.push(AccessRecord {
                    message: String::from_utf8_lossy(&self.scratch).into_owned(),
                    time: now,
                    client: entry.text(Field::Client),
                    method: entry.text(Field::Method),
                    path: entry.path().into_owned(),
                    query: entry.text(Field::Query),
                    http_version: entry.http_version,
                    request: entry.text(Field::Request),
                    status: entry.status,
                    bytes: entry.bytes,
                    duration: entry.duration.as_secs_f64(),
                });
            }
        }
    }

    /// Nothing is waiting to be taken.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.records.is_empty()
    }

    /// The text or JSON lines recorded since the last call (whole lines, each ending
    /// in a newline).
    pub fn take_lines(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.lines)
    }

    /// The records recorded since the last call.
    pub fn take_records(&mut self) -> Vec<AccessRecord> {
        std::mem::take(&mut self.records)
    }
}

/// Splits a batch of lines into pieces of at most `max` bytes, each ending at a
/// line's end (a longer line is a piece of its own). Writes of at most `PIPE_BUF`
/// bytes to a pipe are atomic, so workers sharing one stderr never interleave
/// inside a line.
pub fn split_lines(batch: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        while end < rest.len() {
            let line_end = memchr_newline(&rest[end..]).map_or(rest.len(), |i| end + i + 1);
            if end > 0 && line_end > max {
                break;
            }
            end = line_end;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn entry() -> AccessEntry<'static> {
        AccessEntry {
            client: ClientAddr::Peer(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000)),
            method: b"GET",
            raw_path: b"/caf%C3%A9",
            query: b"a=1&b=2",
            target: b"/caf%C3%A9?a=1&b=2",
            http_version: "1.1",
            status: 200,
            bytes: 12,
            duration: Duration::from_micros(1_500),
        }
    }

    fn render(spec: &str, entry: &AccessEntry<'_>) -> String {
        let mut out = Vec::new();
        AccessFormat::compile(spec).unwrap().render(entry, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_default_format_is_uvicorns_line() {
        let mut out = Vec::new();
        AccessFormat::default().render(&entry(), &mut out);
        assert_eq!(out, "127.0.0.1:5000 - \"GET /café HTTP/1.1\" 200".as_bytes());
    }

    #[test]
    fn every_field_renders() {
        let table: &[(&str, &str)] = &[
            ("{client}", "127.0.0.1:5000"),
            ("{method}", "GET"),
            ("{path}", "/café"),
            ("{query}", "a=1&b=2"),
            ("{http_version}", "1.1"),
            ("{request}", "GET /caf%C3%A9?a=1&b=2 HTTP/1.1"),
            ("{status}", "200"),
            ("{bytes}", "12"),
            ("{duration}", "0.001500"),
            ("{{literal}} {status}}}", "{literal} 200}"),
            ("{ status }", "200"),
            ("", ""),
            ("no fields", "no fields"),
        ];
        for (spec, expected) in table {
            assert_eq!(render(spec, &entry()), *expected, "{spec}");
        }
    }

    #[test]
    fn clients() {
        let mut e = entry();
        e.client = ClientAddr::Peer(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 80));
        assert_eq!(render("{client}", &e), "::1:80");
        e.client = ClientAddr::Forwarded("203.0.113.7", 0);
        assert_eq!(render("{client}", &e), "203.0.113.7:0");
        e.client = ClientAddr::Forwarded("\"x\n", 1);
        assert_eq!(render("{client}", &e), "\\x22x\\x0a:1");
        e.client = ClientAddr::Unknown;
        assert_eq!(render("{client}", &e), "-");
    }

    #[test]
    fn bad_formats_are_refused() {
        let table: &[(&str, FormatError)] = &[
            ("{nope}", FormatError::UnknownField("nope".into())),
            ("{}", FormatError::UnknownField(String::new())),
            ("{status", FormatError::Unclosed),
            ("status}", FormatError::UnmatchedClose),
            ("{status} {", FormatError::Unclosed),
        ];
        for (spec, error) in table {
            assert_eq!(AccessFormat::compile(spec).unwrap_err(), *error, "{spec}");
        }
        let message = FormatError::UnknownField("nope".into()).to_string();
        assert!(
            message.contains("{nope}") && message.contains("http_version"),
            "{message}"
        );
    }

    #[test]
    fn text_escapes_what_a_client_could_forge_a_line_with() {
        let mut e = entry();
        e.raw_path = b"/a%0AINFO:%20forged%22%5C";
        e.target = b"/a%0A";
        assert_eq!(render("{path}", &e), "/a\\x0aINFO: forged\\x22\\x5c");
        e.method = b"G\x7fT";
        assert_eq!(render("{method}", &e), "G\\x7fT");
        e.raw_path = b"/%FF";
        assert_eq!(render("{path}", &e), "/\u{fffd}");
    }

    #[test]
    fn json_strings() {
        let table: &[(&[u8], &str)] = &[
            (b"plain", "\"plain\""),
            (b"q\"b\\", "\"q\\\"b\\\\\""),
            (b"\n\r\t\x01\x7f", "\"\\n\\r\\t\\u0001\\u007f\""),
            ("é€😀".as_bytes(), "\"é€😀\""),
            (b"\xff", "\"\u{fffd}\""),
            (b"", "\"\""),
        ];
        for (raw, expected) in table {
            let mut out = Vec::new();
            write_json_string(raw, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *expected);
        }
    }

    #[test]
    fn rfc3339_times() {
        let table: &[(u64, u32, &str)] = &[
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_795_383_931, 123, "2026-11-22T21:45:31.123Z"),
            (4_107_542_399, 999, "2100-02-28T23:59:59.999Z"),
        ];
        for &(secs, millis, expected) in table {
            let time = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(u64::from(millis));
            let mut out = Vec::new();
            write_rfc3339(time, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn text_batches_prefix_each_line() {
        let mut log = AccessLog::new(
            AccessFormat::compile("{method} {status}").unwrap(),
            AccessOutput::Text {
                prefix: "INFO:     ".into(),
            },
        );
        assert!(log.is_empty());
        log.record_at(&entry(), UNIX_EPOCH);
        log.record_at(&entry(), UNIX_EPOCH);
        assert_eq!(log.take_lines(), b"INFO:     GET 200\nINFO:     GET 200\n");
        assert!(log.is_empty());
    }

    #[test]
    fn json_lines_hold_every_field() {
        let mut log = AccessLog::new(
            AccessFormat::default(),
            AccessOutput::Json {
                logger: "pyre.access".into(),
            },
        );
        let mut e = entry();
        e.raw_path = b"/q%22";
        e.target = b"/q%22?a=1&b=2";
        log.record_at(&e, UNIX_EPOCH + Duration::from_millis(1));
        let line = String::from_utf8(log.take_lines()).unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"time":"1970-01-01T00:00:00.001Z","level":"INFO","logger":"pyre.access","#,
                r#""message":"127.0.0.1:5000 - \"GET /q\\x22 HTTP/1.1\" 200","#,
                r#""client":"127.0.0.1:5000","method":"GET","path":"/q\"","query":"a=1&b=2","#,
                r#""http_version":"1.1","request":"GET /q%22?a=1&b=2 HTTP/1.1","status":200,"#,
                r#""bytes":12,"duration":0.001500}"#,
                "\n"
            )
        );
    }

    #[test]
    fn records_keep_values_unescaped() {
        let mut log = AccessLog::new(AccessFormat::default(), AccessOutput::Records);
        let mut e = entry();
        e.raw_path = b"/a%0Ab";
        log.record_at(&e, UNIX_EPOCH);
        let records = log.take_records();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.message, "127.0.0.1:5000 - \"GET /a\\x0ab HTTP/1.1\" 200");
        assert_eq!(r.path, "/a\nb");
        assert_eq!((r.status, r.bytes, r.duration), (200, 12, 0.0015));
        assert_eq!(r.request, "GET /caf%C3%A9?a=1&b=2 HTTP/1.1");
        assert!(log.is_empty());
    }

    #[test]
    fn batches_split_at_line_ends() {
        let pieces: Vec<&[u8]> = split_lines(b"aaa\nbb\ncccccc\nd\n", 7).collect();
        assert_eq!(pieces, [&b"aaa\nbb\n"[..], b"cccccc\n", b"d\n"]);
        let pieces: Vec<&[u8]> = split_lines(b"a-very-long-line\nx\n", 4).collect();
        assert_eq!(pieces, [&b"a-very-long-line\n"[..], b"x\n"]);
        assert_eq!(split_lines(b"", 4).count(), 0);
        let pieces: Vec<&[u8]> = split_lines(b"a\nb\n", 4096).collect();
        assert_eq!(pieces, [&b"a\nb\n"[..]]);
    }
}
