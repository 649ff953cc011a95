//! The chunked transfer coding decoder (RFC 9112 section 7.1), incremental.
//!
//! How it works: a state machine over bytes for the framing (size line, extensions,
//! CRLFs, trailer section) and a range-returning fast path for chunk data, so data is
//! never copied by the decoder: each call returns at most one range of the input that
//! is body data, and the caller loops. Any split of the input into pieces yields the
//! same data and the same verdict (a property test checks it).
//!
//! Strictness, on purpose (these are where parsers disagree and smuggling starts):
//! - chunk-size is hex digits only: no sign, no `0x`, no whitespace, at most
//!   [`MAX_CHUNK_SIZE_DIGITS`] digits, no overflow of `u64`;
//! - chunk extensions follow the grammar exactly (`;name`, `;name=token`,
//!   `;name="quoted"`, no whitespace), are discarded, and are bounded in total;
//! - every line ends in CRLF: a bare LF or a missing CRLF after chunk data is refused;
//! - the trailer section is bounded and parsed like header fields.

use crate::error::ParseError;
use crate::fields::is_tchar;
use crate::limits::{Limits, MAX_CHUNK_SIZE_DIGITS};

/// One owned trailer field.
pub type Trailer = (Vec<u8>, Vec<u8>);

/// What one call to a body decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEvent {
    /// `input[range]` is body data.
    Data(std::ops::Range<usize>),
    /// All input given was consumed; call again with more.
    NeedMore,
    /// The body is complete; bytes after `consumed` belong to the next message.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    Size,
    /// Just read `;`: a chunk-ext-name must follow.
    ExtNameStart,
    ExtName,
    /// Just read `=`: a token or quoted-string must follow.
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtQuotedEscape,
    ExtQuotedEnd,
    /// Read the CR ending the size line; LF must follow.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailers,
    Done,
}

/// Incremental decoder for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    size_digits: usize,
    /// Bytes of the current chunk still to come.
    remaining: u64,
    body_bytes: u64,
    ext_bytes: usize,
    trailer_section: Vec<u8>,
    trailers: Vec<Trailer>,
    limits: Limits,
}

impl ChunkedDecoder {
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            size_digits: 0,
            remaining: 0,
            body_bytes: 0,
            ext_bytes: 0,
            trailer_section: Vec::new(),
            trailers: Vec::new(),
            limits: *limits,
        }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The trailer fields received, once [`is_done`](Self::is_done).
    pub fn take_trailers(&mut self) -> Vec<Trailer> {
        std::mem::take(&mut self.trailers)
    }

    /// Decodes from `input`; returns the bytes consumed and what was found.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError> {
        let mut pos = 0;
        while pos < input.len() {
            if self.state == State::Data {
                let available = (input.len() - pos) as u64;
                let take = self.remaining.min(available) as usize;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                return Ok((pos + take, BodyEvent::Data(pos..pos + take)));
            }
            if self.state == State::Trailers {
                pos += self.trailer_bytes(&input[pos..])?;
                continue;
            }
            if self.state == State::Done {
                return Ok((pos, BodyEvent::End));
            }
            self.step(input[pos])?;
            pos += 1;
        }
        let event = if self.state == State::Done {
            BodyEvent::End
        } else {
            BodyEvent::NeedMore
        };
        Ok((pos, event))
    }

    /// One byte of framing (everything but chunk data and trailers).
    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        use State::*;
        if matches!(
            self.state,
            ExtNameStart | ExtName | ExtValueStart | ExtToken | ExtQuoted | ExtQuotedEscape | ExtQuotedEnd
        ) {
            self.ext_bytes += 1;
            if self.ext_bytes > self.limits.max_chunk_ext_bytes {
                return Err(ParseError::ChunkExtensionsTooLong);
            }
        }
        self.state = match (self.state, b) {
            (Size, _) if b.is_ascii_hexdigit() => {
                self.size_digits += 1;
                if self.size_digits > MAX_CHUNK_SIZE_DIGITS || self.size > u64::MAX >> 4 {
                    return Err(ParseError::ChunkSizeOverflow);
                }
                self.size = (self.size << 4) | u64::from(hex_value(b));
                Size
            }
            (Size, _) if self.size_digits == 0 => return Err(ParseError::InvalidChunkSize),
            (Size, b';') => ExtNameStart,
            (Size, b'\r') => SizeLf,
            (Size, b'\n') => return Err(ParseError::InvalidChunkLineEnding),
            (Size, _) => return Err(ParseError::InvalidChunkSize),

            (ExtNameStart, _) if is_tchar(b) => ExtName,
            (ExtName, _) if is_tchar(b) => ExtName,
            (ExtName, b'=') => ExtValueStart,
            (ExtName | ExtToken | ExtQuotedEnd, b';') => ExtNameStart,
            (ExtName | ExtToken | ExtQuotedEnd, b'\r') => SizeLf,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtQuoted, b'"') => ExtQuotedEnd,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
            (ExtQuotedEscape, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => ExtQuoted,
            (
                ExtNameStart | ExtName | ExtValueStart | ExtToken | ExtQuoted | ExtQuotedEscape
                | ExtQuotedEnd,
                _,
            ) => return Err(ParseError::InvalidChunkExtension),

            (SizeLf, b'\n') => self.start_chunk()?,
            (SizeLf, _) => return Err(ParseError::InvalidChunkLineEnding),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => {
                self.size = 0;
                self.size_digits = 0;
                Size
            }
            (DataCr | DataLf, _) => return Err(ParseError::InvalidChunkDataEnding),
            (Data | Trailers | Done, _) => unreachable!("handled in decode"),
        };
        Ok(())
    }

    /// The size line is complete: start the chunk's data, or the trailers after the
    /// last chunk.
    fn start_chunk(&mut self) -> Result<State, ParseError> {
        if self.size == 0 {
            return Ok(State::Trailers);
        }
        self.body_bytes = self
            .body_bytes
            .checked_add(self.size)
            .ok_or(ParseError::ChunkSizeOverflow)?;
        if let Some(max) = self.limits.max_body_bytes {
            if self.body_bytes > max {
                return Err(ParseError::BodyTooLarge);
            }
        }
        self.remaining = self.size;
        Ok(State::Data)
    }

    /// Collects the trailer section line by line until the empty line; returns the
    /// bytes consumed from `input`.
    fn trailer_bytes(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let (take, line_complete) = match memchr::memchr(b'\n', input) {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        if self.trailer_section.len() + take > self.limits.max_trailer_bytes {
            return Err(ParseError::TrailersTooLarge);
        }
        let line_start = self.trailer_section.len();
        self.trailer_section.extend_from_slice(&input[..take]);
        if !line_complete {
            return Ok(take);
        }
        let section = &self.trailer_section;
        let line_end = section.len() - 1;
        if line_end == 0 || section[line_end - 1] != b'\r' {
            return Err(ParseError::InvalidLineEnding);
        }
        // The line just completed started where the previous one ended, but the
        // previous call may have left a partial line: find its real start.
        let line_start = section[..line_start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if line_end - 1 == line_start {
            self.finish_trailers()?;
        }
        Ok(take)
    }

    fn finish_trailers(&mut self) -> Result<(), ParseError> {
        let section = std::mem::take(&mut self.trailer_section);
        if section.len() > 2 {
            let mut headers = [httparse::EMPTY_HEADER; crate::limits::HARD_MAX_HEADERS];
            let slots = self.limits.header_slots();
            match httparse::parse_headers(&section, &mut headers[..slots]) {
                Ok(httparse::Status::Complete((n, fields))) if n == section.len() => {
                    self.trailers = fields
                        .iter()
                        .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                        .collect();
                }
                Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TrailersTooLarge),
                _ => return Err(ParseError::InvalidTrailer),
            }
        }
        self.state = State::Done;
        Ok(())
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// RFC 9110 `qdtext`: HTAB, SP, and visible bytes except `"` and `\`.
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || (is_vchar_or_obs(b) && b != b'"' && b != b'\\')
}

fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}
