//! Body framing (RFC 9112 section 6) and the decoder for each kind.
//!
//! A head decides the [`Framing`]; a [`BodyDecoder`] made from it turns the bytes that
//! follow into [`BodyEvent`]s. Like the chunked decoder, every decoder returns ranges of
//! its input rather than copies.

use crate::chunked::{BodyEvent, ChunkedDecoder, Trailer};
use crate::error::ParseError;
use crate::limits::Limits;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// No body at all (no framing fields, `Content-Length: 0`, HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only: HTTP/1.0, or no framing fields).
    CloseDelimited,
}

/// Incremental decoder for one message body.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    Length { remaining: u64 },
    Chunked(Box<ChunkedDecoder>),
    CloseDelimited { ended: bool },
}

impl BodyDecoder {
    pub fn new(framing: Framing, limits: &Limits) -> Self {
        match framing {
            Framing::Empty => BodyDecoder::Length { remaining: 0 },
            Framing::Length(n) => BodyDecoder::Length { remaining: n },
            Framing::Chunked => BodyDecoder::Chunked(Box::new(ChunkedDecoder::new(limits))),
            Framing::CloseDelimited => BodyDecoder::CloseDelimited { ended: false },
        }
    }

    /// Decodes from `input`: returns the bytes consumed and what was found. After
    /// [`BodyEvent::End`], unconsumed bytes belong to the next message.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError> {
        match self {
            BodyDecoder::Length { remaining: 0 } => Ok((0, BodyEvent::End)),
            BodyDecoder::Length { remaining } => {
                if input.is_empty() {
                    return Ok((0, BodyEvent::NeedMore));
                }
                let take = (*remaining).min(input.len() as u64) as usize;
                *remaining -= take as u64;
                Ok((take, BodyEvent::Data(0..take)))
            }
            BodyDecoder::Chunked(decoder) => decoder.decode(input),
            BodyDecoder::CloseDelimited { ended: true } => Ok((0, BodyEvent::End)),
            BodyDecoder::CloseDelimited { ended: false } => {
                if input.is_empty() {
                    Ok((0, BodyEvent::NeedMore))
                } else {
                    Ok((input.len(), BodyEvent::Data(0..input.len())))
                }
            }
        }
    }

    /// True when the body is complete (for close-delimited bodies: after [`eof`]).
    ///
    /// [`eof`]: Self::eof
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length { remaining } => *remaining == 0,
            BodyDecoder::Chunked(decoder) => decoder.is_done(),
            BodyDecoder::CloseDelimited { ended } => *ended,
        }
    }

    /// The peer closed its side. A close-delimited body ends here; any other body
    /// that is not complete was truncated.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self {
            BodyDecoder::CloseDelimited { ended } => {
                *ended = true;
                Ok(())
            }
            _ if self.is_done() => Ok(()),
            _ => Err(ParseError::TruncatedBody),
        }
    }

    /// Trailer fields of a chunked body, once done (empty for other framings).
    pub fn take_trailers(&mut self) -> Vec<Trailer> {
        match self {
            BodyDecoder::Chunked(decoder) => decoder.take_trailers(),
            _ => Vec::new(),
        }
    }
}
