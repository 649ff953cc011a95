//! Every limit the codec enforces, in one place.
//!
//! Each limit is a named constant (its default) and a field of [`Limits`], so a server
//! can tighten or relax it from its configuration. Limits exist to bound the memory and
//! CPU one peer can make us spend before a request is even handed to the application.

/// Largest request or response head (start line, fields and the blank line), in bytes.
/// Beyond it a request is refused with 431. 64 KiB is above what browsers send with
/// large cookies (about 16 KiB in practice) and what proxies accept (nginx: 4 x 8 KiB).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest request-target, in bytes; beyond it a request is refused with 414.
/// 8 KiB matches the request-line size RFC 9112 section 3 recommends supporting.
pub const DEFAULT_MAX_TARGET_BYTES: usize = 8 * 1024;

/// Longest method, in bytes; a longer one is refused with 501 (RFC 9112 section 3: a
/// method longer than any the server implements). The longest registered method
/// (`UPDATEREDIRECTREF`, IANA's HTTP Method Registry) has 17 bytes; 32 leaves room for
/// extension methods without letting a peer fill the head limit with one token.
pub const DEFAULT_MAX_METHOD_BYTES: usize = 32;

/// Most header field lines in one head; beyond it a request is refused with 431.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Upper bound of [`Limits::max_headers`]: the parser keeps this many header slots on
/// the stack (uninitialised, so an unused slot costs nothing) instead of allocating.
pub const HARD_MAX_HEADERS: usize = 512;

/// Total bytes of chunk extensions accepted in one chunked body. Extensions are
/// validated and discarded; the bound stops a peer from making us scan extension
/// bytes forever (hyper uses the same figure).
pub const DEFAULT_MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;

/// Total bytes of the trailer section of one chunked body (field lines and the blank
/// line). Trailers are kept, so this bounds the memory they take.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Hex digits accepted in one chunk-size, leading zeros included. Sixteen digits are
/// enough for any `u64`; the bound stops an endless run of zeros.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 32;

/// The limits one parser instance enforces. `Limits::default()` gives the documented
/// defaults above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`DEFAULT_MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`DEFAULT_MAX_TARGET_BYTES`].
    pub max_target_bytes: usize,
    /// See [`DEFAULT_MAX_METHOD_BYTES`].
    pub max_method_bytes: usize,
    /// See [`DEFAULT_MAX_HEADERS`]; clamped to [`HARD_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_CHUNK_EXT_BYTES`].
    pub max_chunk_ext_bytes: usize,
    /// See [`DEFAULT_MAX_TRAILER_BYTES`].
    pub max_trailer_bytes: usize,
    /// Largest request body accepted, or `None` for no limit (the default, as in
    /// uvicorn and granian). A larger declared Content-Length, or a chunked body that
    /// grows past it, is refused with 413.
    pub max_body_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_target_bytes: DEFAULT_MAX_TARGET_BYTES,
            max_method_bytes: DEFAULT_MAX_METHOD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_chunk_ext_bytes: DEFAULT_MAX_CHUNK_EXT_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
            max_body_bytes: None,
        }
    }
}

impl Limits {
    /// `max_headers`, clamped to the stack slots the parser has.
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(HARD_MAX_HEADERS)
    }
}
