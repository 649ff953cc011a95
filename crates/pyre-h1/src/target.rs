//! The parts of a request-target that applications see: path and query
//! (RFC 9112 section 3.2, RFC 3986 section 2.1 percent-encoding).

use crate::request::TargetForm;

/// Splits a request-target into (raw path, query string). An absolute-form target
/// loses its scheme and authority (`http://h/p?q` gives `/p`, `q`); `*` and an
/// authority-form target are kept whole as the path.
pub fn split_target(form: TargetForm, target: &[u8]) -> (&[u8], &[u8]) {
    let path_and_query = match form {
        TargetForm::Origin | TargetForm::Asterisk | TargetForm::Authority => target,
        TargetForm::Absolute => {
            let after_scheme = memchr::memmem::find(target, b"://").map_or(0, |i| i + 3);
            let rest = &target[after_scheme..];
            match rest.iter().position(|&b| b == b'/' || b == b'?') {
                Some(i) if rest[i] == b'/' => &rest[i..],
                _ => b"/",
            }
        }
    };
    match memchr::memchr(b'?', path_and_query) {
        Some(i) => (&path_and_query[..i], &path_and_query[i + 1..]),
        None => (path_and_query, b""),
    }
}

/// The authority of an absolute-form target (`http://h:1/p` gives `h:1`), which an
/// origin server uses instead of the received Host field (RFC 9112 section 3.2.2);
/// `None` for the other forms.
pub fn target_authority(form: TargetForm, target: &[u8]) -> Option<&[u8]> {
    if form != TargetForm::Absolute {
        return None;
    }
    let start = memchr::memmem::find(target, b"://")? + 3;
    let rest = &target[start..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Percent-decodes `raw` and decodes the bytes as UTF-8, replacing invalid
/// sequences with U+FFFD (what `urllib.parse.unquote` gives, as in uvicorn). A `%`
/// not followed by two hex digits is kept as it is.
pub fn decode_path(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(b'%', raw).is_none() {
        // The common case borrows: no allocation for a path without escapes.
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(high), Some(low)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((high << 4) | low);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode_path(b"/plain"), "/plain");
        assert_eq!(decode_path(b"/a%20b/%E2%82%AC"), "/a b/\u{20ac}");
        assert_eq!(decode_path(b"/a%2Fb"), "/a/b");
        assert_eq!(decode_path(b"/100%"), "/100%");
        assert_eq!(decode_path(b"/1%2"), "/1%2");
        assert_eq!(decode_path(b"/%zz"), "/%zz");
        assert_eq!(decode_path(b"/%ff"), "/\u{fffd}");
    }

    #[test]
    fn authority_of_an_absolute_target() {
        use TargetForm::*;
        assert_eq!(target_authority(Absolute, b"http://h:1/p?q"), Some(&b"h:1"[..]));
        assert_eq!(target_authority(Absolute, b"http://h"), Some(&b"h"[..]));
        assert_eq!(target_authority(Absolute, b"https://h?q"), Some(&b"h"[..]));
        assert_eq!(target_authority(Origin, b"/p"), None);
        assert_eq!(target_authority(Authority, b"h:443"), None);
    }

    #[test]
    fn splitting() {
        use TargetForm::*;
        assert_eq!(split_target(Origin, b"/a?b=c&d"), (&b"/a"[..], &b"b=c&d"[..]));
        assert_eq!(split_target(Origin, b"/a"), (&b"/a"[..], &b""[..]));
        assert_eq!(split_target(Origin, b"/a?"), (&b"/a"[..], &b""[..]));
        assert_eq!(split_target(Absolute, b"http://h:1/p?q"), (&b"/p"[..], &b"q"[..]));
        assert_eq!(split_target(Absolute, b"http://h"), (&b"/"[..], &b""[..]));
        assert_eq!(split_target(Absolute, b"https://h?q"), (&b"/"[..], &b""[..]));
        assert_eq!(split_target(Asterisk, b"*"), (&b"*"[..], &b""[..]));
    }
}
