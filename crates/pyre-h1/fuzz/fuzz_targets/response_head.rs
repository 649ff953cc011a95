//! `parse_response` on arbitrary bytes, for a GET and for a HEAD request.
//!
//! Invariants: no panic; a complete head lies within the input and every span in
//! it lies within the head; the verdict does not depend on bytes after the head
//! nor (apart from framing) on the request method; a response to HEAD has no body;
//! a close-delimited response is never keep-alive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyre_h1::{parse_response, Framing, Limits, ResponseHead, Span};

fn check_span(span: Span, head_len: usize, what: &str) {
    assert!(
        span.start <= span.end && span.end as usize <= head_len,
        "{what} span {span:?} outside head of {head_len} bytes"
    );
}

fn check(data: &[u8], method: &[u8], limits: &Limits) -> Option<ResponseHead> {
    let head = parse_response(data, method, limits).ok()??;
    let n = head.head_len;
    assert!(n > 0 && n <= data.len(), "head_len {n} vs input {}", data.len());
    check_span(head.reason, n, "reason");
    for h in &head.headers {
        check_span(h.name, n, "header name");
        check_span(h.value, n, "header value");
        assert!(!h.name.is_empty(), "empty header name");
    }
    assert!(head.status <= 999, "status {}", head.status);
    if method == b"HEAD" || matches!(head.status, 100..=199 | 204 | 304) {
        assert_eq!(head.framing, Framing::Empty, "bodiless response with a body");
    }
    if head.framing == Framing::CloseDelimited {
        assert!(!head.keep_alive, "close-delimited yet keep-alive");
    }
    let alone = parse_response(&data[..n], method, limits);
    assert_eq!(alone, Ok(Some(head.clone())), "head depends on bytes after it");
    let prefix = parse_response(&data[..n - 1], method, limits);
    assert!(
        !matches!(prefix, Ok(Some(_))),
        "prefix of {} bytes is complete: {prefix:?}",
        n - 1
    );
    Some(head)
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let get = check(data, b"GET", &limits);
    let head = check(data, b"HEAD", &limits);
    // The method only changes framing (and so keep-alive): both parse or neither
    // does at the same length, unless GET's framing fields are what failed.
    if let (Some(g), Some(h)) = (&get, &head) {
        assert_eq!(
            (g.head_len, g.status, g.reason, &g.headers, g.version),
            (h.head_len, h.status, h.reason, &h.headers, h.version),
            "GET and HEAD disagree on the head"
        );
    }
    if get.is_some() {
        assert!(head.is_some(), "GET response parses but HEAD response does not");
    }
});
