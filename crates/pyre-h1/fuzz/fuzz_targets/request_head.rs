//! `parse_request` on arbitrary bytes with the default limits.
//!
//! Invariants: no panic; a complete head lies within the input and every span in
//! it lies within the head; the verdict does not depend on bytes after the head;
//! and a proper prefix of a complete head is never itself a complete head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyre_h1::{parse_request, Limits, Span};

fn check_span(span: Span, head_len: usize, what: &str) {
    assert!(
        span.start <= span.end && span.end as usize <= head_len,
        "{what} span {span:?} outside head of {head_len} bytes"
    );
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(Some(head)) = parse_request(data, &limits) else {
        return;
    };
    let n = head.head_len;
    assert!(n > 0 && n <= data.len(), "head_len {n} vs input {}", data.len());
    check_span(head.method_span, n, "method");
    check_span(head.target, n, "target");
    for h in &head.headers {
        check_span(h.name, n, "header name");
        check_span(h.value, n, "header value");
        assert!(!h.name.is_empty(), "empty header name");
    }
    if let Some(s) = head.host {
        check_span(s, n, "host");
    }
    if let Some(s) = head.upgrade {
        check_span(s, n, "upgrade");
    }
    // The head alone parses to the same head: nothing after it was looked at.
    let alone = parse_request(&data[..n], &limits);
    assert_eq!(alone, Ok(Some(head.clone())), "head depends on bytes after it");
    // A complete head cannot appear before its end.
    let prefix = parse_request(&data[..n - 1], &limits);
    assert!(
        !matches!(prefix, Ok(Some(_))),
        "prefix of {} bytes is complete: {prefix:?}",
        n - 1
    );
});
