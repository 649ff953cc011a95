//! Writing field lines and chunks, shared by the response encoder (server side) and
//! the request encoder (client side).
//!
//! Everything that goes out is validated first: a name must be a token and a value
//! must not contain CR, LF, NUL or another control byte, so an application cannot split a response by
//! putting a line break into a header (response splitting).

use crate::error::EncodeError;
use crate::fields::{is_token, parse_content_length};

/// Writes `name: value\r\n` after validating both.
#[inline]
pub(crate) fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
    check_field(name, value)?;
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// A name is a token; a value is field-content (RFC 9110 section 5.5): HTAB, SP,
/// visible ASCII and obs-text, so no CR, LF, NUL or other control byte. The codec's
/// own parsers refuse the same bytes, as h11 does on both sides.
#[inline]
pub fn check_field(name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
    if !is_token(name) {
        return Err(EncodeError::InvalidHeaderName);
    }
    // A branch-free fold over the bytes: the compiler vectorises it.
    let clean = value
        .iter()
        .fold(true, |ok, &b| ok & ((b >= 0x20 && b != 0x7f) | (b == b'\t')));
    if !clean {
        return Err(EncodeError::InvalidHeaderValue);
    }
    Ok(())
}

/// Folds one outgoing Content-Length field into what was declared so far.
pub(crate) fn declare_length(declared: &mut Option<u64>, value: &[u8]) -> Result<(), EncodeError> {
    let n = parse_content_length(value).map_err(|_| EncodeError::InvalidContentLength)?;
    match *declared {
        Some(previous) if previous != n => Err(EncodeError::InvalidContentLength),
        _ => {
            *declared = Some(n);
            Ok(())
        }
    }
}

pub(crate) fn write_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the line that starts a chunk of `len` bytes (`len` in hex, CRLF). The data
/// and [`CHUNK_END`] follow; writing them separately lets a server send the data
/// without copying it (vectored write). `len` must not be 0: an empty chunk ends the
/// body.
pub fn encode_chunk_header(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len > 0, "a zero-length chunk is the last chunk");
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The CRLF that ends a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// Writes a whole chunk (header, data, CRLF). Empty data writes nothing, since an
/// empty chunk would end the body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    encode_chunk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(CHUNK_END);
}

/// Writes the last chunk, the trailer fields, and the empty line that ends the body.
pub fn encode_last_chunk<I, N, V>(out: &mut Vec<u8>, trailers: I) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let start = out.len();
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        if let Err(e) = write_field(out, name.as_ref(), value.as_ref()) {
            out.truncate(start);
            return Err(e);
        }
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}
