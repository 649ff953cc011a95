//! Runs llhttp's request conformance cases against the codec.
//!
//! How it works: every `*.md` file in `tests/corpora/llhttp/request` (see its README)
//! is split into cases: the nearest `##`/`###` heading names a case, an HTML comment
//! holds its JSON meta, a fenced `http` block is the input and a fenced `log` block is
//! llhttp's trace. Cases of type `request` are expected to be rejected iff the trace has
//! an `error code=` line that is not an upgrade pause (codes 22 and 23); cases of type
//! `request-finish` are expected to leave an incomplete message at end of input iff the
//! trace ends in a non-zero `finish=`. `request-lenient-*` cases test optional llhttp
//! flags, not server requirements, and are skipped.
//!
//! The driver plays a server's read loop over the whole input: parse a head, decode its
//! body, repeat for pipelined requests; stop after an upgrade (llhttp pauses there) or
//! after a request that ends the connection (RFC 9112 section 9.6). A head without a
//! Host field gets `Host: example.com` spliced in after its request line, so that the
//! verdict comes from the rule a case is about rather than from the missing Host. When
//! both accept, the number of complete messages must match too (except with llhttp's
//! `skipBody` callback, which skips a body a server has to read).
//!
//! Every disagreement with llhttp is collected and printed; the test fails unless each
//! one is listed, with its justification, in [`EXCEPTIONS`], and every exception is hit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pyre_h1::{parse_request, BodyDecoder, BodyEvent, Limits, Method, ParseError};

/// Cases where the codec deliberately disagrees with llhttp: (file, case heading, why).
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "connection.md",
        "No restart when keep-alive is off (1.0)",
        "RFC 9112 9.3/9.6: an HTTP/1.0 request without keep-alive ends the connection; \
         the server answers it and does not read further requests, so the bytes after \
         it are discarded rather than refused (llhttp errors on them instead)",
    ),
    (
        "connection.md",
        "CRLF between requests, explicit `close`",
        "RFC 9112 9.6: after `Connection: close` the server SHOULD NOT process further \
         requests; the following bytes are discarded rather than refused",
    ),
    (
        "connection.md",
        "CRLF between requests, explicit `close` followed by tab",
        "RFC 9112 9.6: after `Connection: close` the server SHOULD NOT process further \
         requests; the following bytes are discarded rather than refused",
    ),
    (
        "connection.md",
        "CRLF between requests, implicit `keep-alive`",
        "RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request \
         line; the codec ignores exactly one and refuses a second (two CRLFs here), a \
         deliberate strictness documented in request.rs",
    ),
    (
        "content-length.md",
        "Error on `Content-Length` overflow",
        "the input ends before the blank line: the codec judges fields on the complete \
         head, so no request is ever produced; completed, the head is refused \
         (see truncated_llhttp_heads_are_refused_once_complete)",
    ),
    (
        "content-length.md",
        "Error on duplicate `Content-Length`",
        "the input ends before the blank line: the codec judges fields on the complete \
         head, so no request is ever produced; completed, the head is refused \
         (see truncated_llhttp_heads_are_refused_once_complete)",
    ),
    (
        "invalid.md",
        "HTTP protocol and ANNOUNCE method",
        "RFC 9110 9.1: the method token is case-sensitive and extensible; the codec \
         accepts any token and leaves unknown methods to the application (501)",
    ),
    (
        "invalid.md",
        "Invalid method",
        "RFC 9110 9.1: the method token is case-sensitive and extensible; `MKCOLA` is a \
         valid token, the codec accepts it and leaves it to the application (501)",
    ),
    (
        "method.md",
        "M-SEARCH request",
        "RFC 9112 3.2.4: the asterisk-form is only used with OPTIONS; SSDP's \
         `M-SEARCH *` is not an HTTP request",
    ),
    (
        "method.md",
        "SOURCE request with ICE",
        "RFC 9112 2.3: HTTP-name is exactly `HTTP`; Pyre is an HTTP server and refuses \
         ICE start lines",
    ),
    (
        "method.md",
        "OPTIONS request with RTSP",
        "RFC 9112 2.3: HTTP-name is exactly `HTTP`; Pyre is an HTTP server and refuses \
         RTSP start lines",
    ),
    (
        "method.md",
        "ANNOUNCE request with RTSP",
        "RFC 9112 2.3: HTTP-name is exactly `HTTP`; Pyre is an HTTP server and refuses \
         RTSP start lines",
    ),
    (
        "method.md",
        "PRI request HTTP2",
        "RFC 9113 3.4: the HTTP/2 preface is built to be refused by HTTP/1.1 servers; \
         Pyre speaks HTTP/1.x only (and RFC 9112 3.2.4 allows `*` only with OPTIONS)",
    ),
    (
        "sample.md",
        "No HTTP version",
        "RFC 9112 3: request-line = method SP request-target SP HTTP-version; HTTP/0.9 \
         simple requests are not supported",
    ),
    (
        "transfer-encoding.md",
        "POST with `chunked` as last transfer-encoding",
        "RFC 9112 3.2: no request-target form allows a fragment, and this one has \
         `#hey` (400, before the framing is read); without it, RFC 9112 6.1: a \
         transfer coding the server does not understand (`deflate`) SHOULD get 501",
    ),
    (
        "transfer-encoding.md",
        "POST with `chunked` as last transfer-encoding (multiple headers)",
        "RFC 9112 3.2: no request-target form allows a fragment, and this one has \
         `#hey` (400, before the framing is read); without it, RFC 9112 6.1: a \
         transfer coding the server does not understand (`deflate`) SHOULD get 501",
    ),
    (
        "method.md",
        "CONNECT request",
        "Pyre does not tunnel: a valid CONNECT gets 501 from the server without \
         reaching the application (docs/server.md), where llhttp hands the \
         connection over",
    ),
    (
        "method.md",
        "CONNECT request with CAPS",
        "Pyre does not tunnel: a valid CONNECT gets 501 from the server without \
         reaching the application (docs/server.md), where llhttp hands the \
         connection over",
    ),
    (
        "method.md",
        "CONNECT with body",
        "Pyre does not tunnel: a valid CONNECT gets 501 from the server without \
         reaching the application (docs/server.md), where llhttp hands the \
         connection over",
    ),
    (
        "uri.md",
        "Underscore in hostname",
        "Pyre does not tunnel: a valid CONNECT gets 501 from the server without \
         reaching the application (docs/server.md), where llhttp hands the \
         connection over",
    ),
    (
        "uri.md",
        "Fragment in URI",
        "RFC 9112 3.2: origin-form is absolute-path [ \"?\" query ]; a fragment is \
         never sent in a request-target, so `#posts-17408` is refused with 400",
    ),
];

/// Fewer `request` cases than this means the corpus is no longer read properly.
const MIN_REQUEST_CASES: usize = 134;
/// Likewise for `request-finish` cases.
const MIN_FINISH_CASES: usize = 3;

struct Case {
    file: String,
    heading: String,
    kind: String,
    /// `"skipBody": true` in the meta: llhttp's callback skips the body.
    skip_body: bool,
    http: String,
    log: String,
}

/// What the driver saw by the end of the input.
#[derive(Debug)]
enum Outcome {
    /// Every message was complete when the input ended.
    Complete,
    /// The input ended inside a head or a body (llhttp: "unsafe to finish").
    Incomplete,
    /// A request asked to leave HTTP/1.1 (CONNECT or Upgrade): the rest is not ours.
    Upgraded,
    /// A request ended the connection; later bytes, if any, are never read.
    Closed,
    /// The codec refused the input.
    Rejected(ParseError),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/llhttp/request")
}

/// Splits one markdown file into cases.
fn parse_cases(file: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut heading = String::new();
    let mut kind: Option<String> = None;
    let mut skip_body = false;
    let mut http: Option<String> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("### ").or_else(|| line.strip_prefix("## ")) {
            heading = h.trim().to_string();
            kind = None;
            http = None;
        } else if let Some(meta) = line.trim().strip_prefix("<!-- meta=") {
            kind = meta_type(meta);
            skip_body = meta.contains("\"skipBody\": true");
        } else if let Some(lang) = line.strip_prefix("```") {
            let mut block = String::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                block.push_str(inner);
                block.push('\n');
            }
            match lang.trim() {
                "http" => http = Some(block),
                "log" => {
                    if let (Some(kind), Some(http)) = (kind.take(), http.take()) {
                        cases.push(Case {
                            file: file.to_string(),
                            heading: heading.clone(),
                            kind,
                            skip_body,
                            http,
                            log: block,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    cases
}

/// The `"type"` string of a case's JSON meta, read by hand (no JSON dependency).
fn meta_type(meta: &str) -> Option<String> {
    let after_key = &meta[meta.find("\"type\"")? + "\"type\"".len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = value.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

/// The bytes an `http` block stands for, as llhttp's runner builds them.
fn http_bytes(block: &str) -> Vec<u8> {
    let text = block.strip_suffix('\n').unwrap_or(block);
    let text = text.replace("\\\n", "").replace('\n', "\r\n");
    let src = text.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'\\' && i + 1 < src.len() {
            let simple = match src[i + 1] {
                b'r' => Some(b'\r'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'f' => Some(0x0c),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                i += 2;
                continue;
            }
            if src[i + 1] == b'x' && i + 3 < src.len() && src[i + 2..i + 4].iter().all(u8::is_ascii_hexdigit)
            {
                let hex = std::str::from_utf8(&src[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 4;
                continue;
            }
            if i + 3 < src.len() && src[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
                let n = src[i + 1..i + 4]
                    .iter()
                    .fold(0u32, |n, &d| n * 8 + u32::from(d - b'0'));
                out.push(n as u8);
                i += 4;
                continue;
            }
        }
        out.push(src[i]);
        i += 1;
    }
    out
}

/// Adds `Host: example.com` after the request line of the head starting at `start`,
/// unless one of its field lines (up to the first empty line) is a Host field.
fn inject_host(buf: &mut Vec<u8>, start: usize) {
    // The codec ignores one empty line before the request line.
    let mut line_start = start;
    if buf[line_start..].starts_with(b"\r\n") {
        line_start += 2;
    }
    let Some(eol) = buf[line_start..].iter().position(|&b| b == b'\n') else {
        return; // The request line is incomplete: nothing to add a field to.
    };
    let fields_start = line_start + eol + 1;
    let has_host = buf[fields_start..]
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .any(|line| line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"host:"));
    if !has_host {
        buf.splice(
            fields_start..fields_start,
            b"Host: example.com\r\n".iter().copied(),
        );
    }
}

/// A server's read loop over the whole input; also returns how many messages (head
/// and body) were complete.
fn drive(input: &[u8]) -> (Outcome, usize) {
    let limits = Limits::default();
    let mut buf = input.to_vec();
    let (mut pos, mut messages) = (0, 0);
    while pos < buf.len() {
        inject_host(&mut buf, pos);
        let head = match parse_request(&buf[pos..], &limits) {
            Err(e) => return (Outcome::Rejected(e), messages),
            Ok(None) => return (Outcome::Incomplete, messages),
            Ok(Some(head)) => head,
        };
        pos += head.head_len;
        if head.method == Method::Connect {
            // Like llhttp: the tunnel starts right after the head.
            return (Outcome::Upgraded, messages + 1);
        }
        let mut body = BodyDecoder::new(head.framing, &limits);
        loop {
            match body.decode(&buf[pos..]) {
                Err(e) => return (Outcome::Rejected(e), messages),
                Ok((n, event)) => {
                    pos += n;
                    match event {
                        BodyEvent::Data(_) => {}
                        BodyEvent::NeedMore => return (Outcome::Incomplete, messages),
                        BodyEvent::End => break,
                    }
                }
            }
        }
        messages += 1;
        if head.upgrade.is_some() {
            // Like llhttp: the new protocol starts after the request's body.
            return (Outcome::Upgraded, messages);
        }
        if !head.keep_alive {
            return (Outcome::Closed, messages);
        }
    }
    (Outcome::Complete, messages)
}

/// llhttp's error for a `request` case, if any: an error other than an upgrade pause
/// (codes 22 and 23).
fn llhttp_error(log: &str) -> Option<&str> {
    log.lines().find_map(|line| {
        let error = &line[line.find(" error code=")? + 1..];
        (!error.starts_with("error code=22 ") && !error.starts_with("error code=23 ")).then_some(error)
    })
}

/// Messages llhttp completed, up to its first error.
fn llhttp_messages(log: &str) -> usize {
    log.lines()
        .take_while(|line| !line.contains(" error code="))
        .filter(|line| line.ends_with(" message complete"))
        .count()
}

/// llhttp's verdict for a `request-finish` case: `llhttp_finish` returned an error.
fn llhttp_unsafe_finish(log: &str) -> bool {
    log.lines()
        .filter_map(|line| line.split_once("finish=").map(|(_, code)| code.trim()))
        .any(|code| code != "0")
}

fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// One line describing what the codec did.
fn describe(outcome: &Outcome, messages: usize) -> String {
    match outcome {
        Outcome::Rejected(e) => format!("reject ({e:?}: {})", e.reason()),
        Outcome::Complete => format!("accept ({messages} messages)"),
        Outcome::Incomplete => format!("accept ({messages} messages, then input ended)"),
        Outcome::Upgraded => format!("accept ({messages} messages, then upgrade)"),
        Outcome::Closed => format!("accept ({messages} messages, then connection closed)"),
    }
}

#[test]
fn llhttp_request_corpus() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("llhttp corpus missing at {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();

    let (mut run, mut finish_run, mut skipped) = (0, 0, 0);
    let (mut accepted, mut rejected) = (0, 0);
    let mut mismatches = Vec::new();
    let mut hit = vec![false; EXCEPTIONS.len()];
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("readable corpus file");
        for case in parse_cases(&name, &text) {
            let input = http_bytes(&case.http);
            let (outcome, messages) = drive(&input);
            let actual = describe(&outcome, messages);
            let expected = match case.kind.as_str() {
                "request" => {
                    run += 1;
                    let codec_rejects = matches!(outcome, Outcome::Rejected(_));
                    if codec_rejects {
                        rejected += 1;
                    } else {
                        accepted += 1;
                    }
                    match llhttp_error(&case.log) {
                        Some(_) if codec_rejects => continue,
                        Some(error) => format!("reject ({error})"),
                        None if codec_rejects => "accept".to_string(),
                        // With `skipBody` llhttp's callback skips a body a server must
                        // read, so only the verdict is compared, not the message count.
                        None if case.skip_body => continue,
                        None => {
                            let expected = llhttp_messages(&case.log);
                            if expected == messages {
                                continue;
                            }
                            format!("accept ({expected} messages)")
                        }
                    }
                }
                // `llhttp_finish` at the end of the input: safe iff no message is
                // half-read, which for the codec means not `Incomplete`.
                "request-finish" => {
                    finish_run += 1;
                    let unsafe_finish = llhttp_unsafe_finish(&case.log);
                    if unsafe_finish == matches!(outcome, Outcome::Incomplete) {
                        continue;
                    }
                    let verdict = if unsafe_finish { "unsafe" } else { "safe" };
                    format!("{verdict} to finish")
                }
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            let exception = EXCEPTIONS
                .iter()
                .position(|&(f, h, _)| f == case.file && h == case.heading);
            if let Some(i) = exception {
                hit[i] = true;
            }
            mismatches.push((
                exception.is_some(),
                format!(
                    "{} / {} [{}]\n    llhttp: {expected}\n    codec:  {actual}\n    input (before Host injection): {}",
                    case.file,
                    case.heading,
                    case.kind,
                    escape(&input),
                ),
            ));
        }
    }

    let mut report = String::new();
    writeln!(
        report,
        "llhttp corpus: {run} request cases ({accepted} accepted, {rejected} rejected), \
         {finish_run} finish cases, {skipped} lenient cases skipped"
    )
    .unwrap();
    for (excepted, line) in &mismatches {
        let tag = if *excepted { "EXCEPTION" } else { "MISMATCH" };
        writeln!(report, "{tag} {line}").unwrap();
    }
    println!("{report}");

    assert!(
        run >= MIN_REQUEST_CASES && finish_run >= MIN_FINISH_CASES,
        "too few corpus cases read: {run} request, {finish_run} finish"
    );
    let unexpected = mismatches.iter().filter(|(excepted, _)| !excepted).count();
    assert_eq!(
        unexpected, 0,
        "{unexpected} disagreements with llhttp not in EXCEPTIONS (see MISMATCH above)"
    );
    let stale: Vec<_> = EXCEPTIONS
        .iter()
        .zip(&hit)
        .filter(|(_, hit)| !**hit)
        .map(|((file, heading, _), _)| format!("{file} / {heading}"))
        .collect();
    assert!(stale.is_empty(), "exceptions never hit: {stale:?}");
}

/// Two llhttp cases stop before the blank line that ends the head, and llhttp refuses
/// them on the field alone; the codec waits for the whole head. Completed, it refuses
/// them too, which is what their entries in [`EXCEPTIONS`] rely on.
#[test]
fn truncated_llhttp_heads_are_refused_once_complete() {
    let limits = Limits::default();
    let cases: [(&[u8], ParseError); 2] = [
        (
            b"PUT /url HTTP/1.1\r\nHost: example.com\r\n\
              Content-Length: 1000000000000000000000\r\n\r\n",
            ParseError::InvalidContentLength,
        ),
        (
            b"PUT /url HTTP/1.1\r\nHost: example.com\r\n\
              Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ParseError::ConflictingContentLength,
        ),
    ];
    for (input, error) in cases {
        assert_eq!(parse_request(input, &limits), Err(error), "{}", escape(input));
    }
}
