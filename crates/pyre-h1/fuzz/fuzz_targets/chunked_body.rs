//! A chunked `BodyDecoder` fed the same bytes whole and split in two.
//!
//! Input layout: byte 0 selects the limits (bit 0: tight limits, so the extension,
//! trailer and body-size limits are reachable with short inputs), bytes 1..3 are
//! the split point (little-endian, modulo the body length + 1), the rest is the body.
//!
//! Invariants: no panic; every data range lies within the slice given and within
//! the bytes reported consumed; consumed never exceeds the input; NeedMore means
//! all input was consumed; and both feedings give the same data, the same verdict
//! (end at the same offset with the same trailers / need more / the same error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyre_h1::{BodyDecoder, BodyEvent, Framing, Limits, ParseError, Trailer};

#[derive(Debug, PartialEq)]
enum Verdict {
    /// The body ended; the next message starts at this offset of the whole body.
    End(usize, Vec<Trailer>),
    NeedMore,
    Error(ParseError),
}

fn run(pieces: &[&[u8]], limits: &Limits) -> (Vec<u8>, Verdict) {
    let mut decoder = BodyDecoder::new(Framing::Chunked, limits);
    let mut data = Vec::new();
    let mut offset = 0; // of the current piece within the whole body
    for piece in pieces {
        let mut pos = 0;
        loop {
            let input = &piece[pos..];
            let (consumed, event) = match decoder.decode(input) {
                Ok(r) => r,
                Err(e) => return (data, Verdict::Error(e)),
            };
            assert!(consumed <= input.len(), "consumed {consumed} of {}", input.len());
            pos += consumed;
            match event {
                BodyEvent::Data(r) => {
                    assert!(
                        r.start < r.end && r.end <= consumed,
                        "data {r:?} outside the {consumed} bytes consumed of {}",
                        input.len()
                    );
                    data.extend_from_slice(&input[r]);
                }
                BodyEvent::NeedMore => {
                    assert_eq!(pos, piece.len(), "NeedMore with input left");
                    assert!(!decoder.is_done(), "NeedMore yet done");
                    break;
                }
                BodyEvent::End => {
                    assert!(decoder.is_done(), "End yet not done");
                    assert_eq!(decoder.decode(b"x"), Ok((0, BodyEvent::End)));
                    return (data, Verdict::End(offset + pos, decoder.take_trailers()));
                }
            }
        }
        offset += piece.len();
    }
    assert_eq!(
        decoder.eof(),
        Err(ParseError::TruncatedBody),
        "eof of an unfinished body"
    );
    (data, Verdict::NeedMore)
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let mut limits = Limits::default();
    if input[0] & 1 == 1 {
        limits.max_chunk_ext_bytes = 16;
        limits.max_trailer_bytes = 64;
        limits.max_headers = 4;
        limits.max_body_bytes = Some(256);
    }
    let body = &input[3..];
    let at = usize::from(u16::from_le_bytes([input[1], input[2]])) % (body.len() + 1);

    let whole = run(&[body], &limits);
    let split = run(&[&body[..at], &body[at..]], &limits);
    assert_eq!(whole, split, "whole and split at {at} disagree");
});
