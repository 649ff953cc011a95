//! Errors the codec reports. Each parse error knows the HTTP status a server answers it
//! with and a short reason for the response body and the debug log, so a server maps
//! errors to responses in exactly one place.

use std::fmt;

/// The status a server should answer a parse error with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StatusHint {
    BadRequest = 400,
    PayloadTooLarge = 413,
    UriTooLong = 414,
    HeaderFieldsTooLarge = 431,
    NotImplemented = 501,
    VersionNotSupported = 505,
}

impl StatusHint {
    /// The numeric status code.
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// Why a message could not be parsed. After any of these the framing of the
/// connection is in doubt: the server answers and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    // Start line.
    InvalidMethod,
    MethodTooLong,
    InvalidTarget,
    InvalidVersion,
    UnsupportedVersion,
    InvalidRequestLine,
    InvalidStatusLine,
    TargetTooLong,
    // Field lines.
    InvalidHeaderName,
    InvalidHeaderValue,
    WhitespaceBeforeColon,
    ObsFold,
    InvalidLineEnding,
    HeadTooLarge,
    TooManyHeaders,
    // Semantics of the head.
    MissingHost,
    DuplicateHost,
    InvalidHost,
    ConnectNotSupported,
    InvalidContentLength,
    ConflictingContentLength,
    ContentLengthWithTransferEncoding,
    TransferEncodingOnHttp10,
    InvalidTransferEncoding,
    TransferEncodingNotChunked,
    UnsupportedTransferCoding,
    BodyTooLarge,
    // Chunked body.
    InvalidChunkSize,
    ChunkSizeOverflow,
    InvalidChunkExtension,
    ChunkExtensionsTooLong,
    InvalidChunkLineEnding,
    InvalidChunkDataEnding,
    InvalidTrailer,
    TrailersTooLarge,
    // End of input.
    TruncatedBody,
}

impl ParseError {
    /// The status a server answers this error with.
    pub fn status(self) -> StatusHint {
        use ParseError::*;
        match self {
            UnsupportedVersion => StatusHint::VersionNotSupported,
            TargetTooLong => StatusHint::UriTooLong,
            HeadTooLarge | TooManyHeaders | TrailersTooLarge => StatusHint::HeaderFieldsTooLarge,
            // RFC 9112 section 3: a method longer than any the server implements gets 501.
            UnsupportedTransferCoding | MethodTooLong | ConnectNotSupported => StatusHint::NotImplemented,
            BodyTooLarge => StatusHint::PayloadTooLarge,
            _ => StatusHint::BadRequest,
        }
    }

    /// Every parse error, in declaration order, so that `ALL[e.index()] == e`: a table
    /// for counters kept per kind (metrics).
    pub const ALL: [ParseError; 36] = {
        use ParseError::*;
        [
            InvalidMethod,
            MethodTooLong,
            InvalidTarget,
            InvalidVersion,
            UnsupportedVersion,
            InvalidRequestLine,
            InvalidStatusLine,
            TargetTooLong,
            InvalidHeaderName,
            InvalidHeaderValue,
            WhitespaceBeforeColon,
            ObsFold,
            InvalidLineEnding,
            HeadTooLarge,
            TooManyHeaders,
            MissingHost,
            DuplicateHost,
            InvalidHost,
            ConnectNotSupported,
            InvalidContentLength,
            ConflictingContentLength,
            ContentLengthWithTransferEncoding,
            TransferEncodingOnHttp10,
            InvalidTransferEncoding,
            TransferEncodingNotChunked,
            UnsupportedTransferCoding,
            BodyTooLarge,
            InvalidChunkSize,
            ChunkSizeOverflow,
            InvalidChunkExtension,
            ChunkExtensionsTooLong,
            InvalidChunkLineEnding,
            InvalidChunkDataEnding,
            InvalidTrailer,
            TrailersTooLarge,
            TruncatedBody,
        ]
    };

    /// This error's position in [`ParseError::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The error's kind as a `snake_case` identifier, stable across releases: a
    /// metrics label (`reason="missing_host"`), where [`ParseError::reason`] is prose.
    pub fn name(self) -> &'static str {
        use ParseError::*;
        match self {
            InvalidMethod => "invalid_method",
            MethodTooLong => "method_too_long",
            InvalidTarget => "invalid_target",
            InvalidVersion => "invalid_version",
            UnsupportedVersion => "unsupported_version",
            InvalidRequestLine => "invalid_request_line",
            InvalidStatusLine => "invalid_status_line",
            TargetTooLong => "target_too_long",
            InvalidHeaderName => "invalid_header_name",
            InvalidHeaderValue => "invalid_header_value",
            WhitespaceBeforeColon => "whitespace_before_colon",
            ObsFold => "obs_fold",
            InvalidLineEnding => "invalid_line_ending",
            HeadTooLarge => "head_too_large",
            TooManyHeaders => "too_many_headers",
            MissingHost => "missing_host",
            DuplicateHost => "duplicate_host",
            InvalidHost => "invalid_host",
            ConnectNotSupported => "connect_not_supported",
            InvalidContentLength => "invalid_content_length",
            ConflictingContentLength => "conflicting_content_length",
            ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            TransferEncodingOnHttp10 => "transfer_encoding_on_http10",
            InvalidTransferEncoding => "invalid_transfer_encoding",
            TransferEncodingNotChunked => "transfer_encoding_not_chunked",
            UnsupportedTransferCoding => "unsupported_transfer_coding",
            BodyTooLarge => "body_too_large",
            InvalidChunkSize => "invalid_chunk_size",
            ChunkSizeOverflow => "chunk_size_overflow",
            InvalidChunkExtension => "invalid_chunk_extension",
            ChunkExtensionsTooLong => "chunk_extensions_too_long",
            InvalidChunkLineEnding => "invalid_chunk_line_ending",
            InvalidChunkDataEnding => "invalid_chunk_data_ending",
            InvalidTrailer => "invalid_trailer",
            TrailersTooLarge => "trailers_too_large",
            TruncatedBody => "truncated_body",
        }
    }

    /// A short human-readable reason, suitable for a response body and a log line.
    pub fn reason(self) -> &'static str {
        use ParseError::*;
        match self {
            InvalidMethod => "invalid method",
            MethodTooLong => "method too long",
            InvalidTarget => "invalid request-target",
            InvalidVersion => "malformed HTTP version",
            UnsupportedVersion => "HTTP version not supported",
            InvalidRequestLine => "malformed request line",
            InvalidStatusLine => "malformed status line",
            TargetTooLong => "request-target too long",
            InvalidHeaderName => "invalid header name",
            InvalidHeaderValue => "invalid character in header value",
            WhitespaceBeforeColon => "whitespace between header name and colon",
            ObsFold => "obsolete line folding in header",
            InvalidLineEnding => "line not terminated by CRLF",
            HeadTooLarge => "request head too large",
            TooManyHeaders => "too many header fields",
            MissingHost => "missing Host header",
            DuplicateHost => "more than one Host header",
            InvalidHost => "invalid Host header",
            ConnectNotSupported => "CONNECT is not supported: this server does not tunnel",
            InvalidContentLength => "invalid Content-Length",
            ConflictingContentLength => "conflicting Content-Length values",
            ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            TransferEncodingOnHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            InvalidTransferEncoding => "invalid Transfer-Encoding",
            TransferEncodingNotChunked => "Transfer-Encoding does not end with chunked",
            UnsupportedTransferCoding => "unsupported transfer coding",
            BodyTooLarge => "body too large",
            InvalidChunkSize => "invalid chunk size",
            ChunkSizeOverflow => "chunk size too large",
            InvalidChunkExtension => "invalid chunk extension",
            ChunkExtensionsTooLong => "chunk extensions too long",
            InvalidChunkLineEnding => "chunk size line not terminated by CRLF",
            InvalidChunkDataEnding => "chunk data not terminated by CRLF",
            InvalidTrailer => "invalid trailer field",
            TrailersTooLarge => "trailer section too large",
            TruncatedBody => "connection closed before the body ended",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ParseError {}

/// Why an outgoing message could not be encoded. Nothing is written when one is
/// returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// A header name that is not an RFC 9110 token (CR, LF, NUL, space, colon...).
    InvalidHeaderName,
    /// A header value containing CR, LF, NUL or another control byte (response
    /// splitting).
    InvalidHeaderValue,
    /// A status code outside 100..=999.
    InvalidStatus,
    /// A method that is not a token, or a target with whitespace or control bytes.
    InvalidRequestLine,
    /// A Content-Length header that is not a decimal number, or several that differ.
    InvalidContentLength,
    /// The application's Content-Length disagrees with the body it gave.
    ContentLengthMismatch,
}

impl EncodeError {
    /// A short human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            EncodeError::InvalidHeaderName => "invalid header name",
            EncodeError::InvalidHeaderValue => "header value contains CR, LF, NUL or a control byte",
            EncodeError::InvalidStatus => "status code out of range",
            EncodeError::InvalidRequestLine => "invalid method or request-target",
            EncodeError::InvalidContentLength => "invalid Content-Length",
            EncodeError::ContentLengthMismatch => "Content-Length does not match the body",
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_parse_error_once_in_declaration_order() {
        for (i, error) in ParseError::ALL.iter().enumerate() {
            assert_eq!(error.index(), i, "{error:?}");
        }
        // The last declared variant closes the table, so none was left out at the end.
        assert_eq!(ParseError::TruncatedBody.index(), ParseError::ALL.len() - 1);
    }

    #[test]
    fn names_are_unique_snake_case_identifiers() {
        let mut seen = std::collections::HashSet::new();
        for error in ParseError::ALL {
            let name = error.name();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
    }
}
