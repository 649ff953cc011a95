//! The WebSocket `Decoder` fed the same client bytes whole and split in two.
//!
//! Input layout: byte 0 selects the configuration (bit 0: permessage-deflate,
//! bit 1: client_no_context_takeover, bit 2: a 64-byte message limit so 1009 is
//! reachable), bytes 1..3 are the split point (little-endian, modulo the stream
//! length + 1), the rest is the stream.
//!
//! Invariants: no panic; consumed never exceeds the input; `(n, None)` means all
//! input was consumed; the decoder's buffers stay within the message limit plus a
//! header and a control frame; nothing is decoded after a Close, and an error
//! sticks; both feedings give the same events and the same error (1007 and 1009
//! counted as one: a compressed text message that is both invalid and too big
//! fails with whichever the bytes at hand prove first); and every message decoded
//! goes through an `Encoder` (with the same deflate parameters) and back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyre_ws::{apply_mask, Decoder, DecoderConfig, DeflateParams, Encoder, Event};

type Outcome = (Vec<Event>, Option<u16>);

fn run(pieces: &[&[u8]], config: DecoderConfig) -> Outcome {
    let mut decoder = Decoder::new(config);
    let bound = config.max_message + 14 + 125;
    let mut events = Vec::new();
    for piece in pieces {
        let mut input = *piece;
        loop {
            let result = decoder.decode(input);
            assert!(
                decoder.buffered() <= bound,
                "buffered {} > {bound}",
                decoder.buffered()
            );
            match result {
                Err(error) => {
                    assert_eq!(decoder.decode(b"\x81\x80"), Err(error), "error did not stick");
                    let code = if error.code == 1009 { 1007 } else { error.code };
                    return (events, Some(code));
                }
                Ok((n, None)) => {
                    assert_eq!(n, input.len(), "(n, None) with input left");
                    break;
                }
                Ok((n, Some(event))) => {
                    assert!(n <= input.len(), "consumed {n} of {}", input.len());
                    input = &input[n..];
                    let close = matches!(event, Event::Close(_));
                    events.push(event);
                    if close {
                        assert_eq!(decoder.decode(b"\x81\x80"), Ok((0, None)), "fed after close");
                        return (events, None);
                    }
                }
            }
        }
    }
    (events, None)
}

/// Encodes the messages among `events`, masks the frames as a client would, and
/// checks they decode to the same messages.
fn round_trip(events: &[Event], deflate: Option<DeflateParams>) {
    let mut encoder = Encoder::new(deflate);
    let mut frames = Vec::new();
    let messages: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Text(_) | Event::Binary(_)))
        .collect();
    for message in &messages {
        match message {
            Event::Text(text) => encoder.text(text, &mut frames),
            Event::Binary(data) => encoder.binary(data, &mut frames),
            _ => unreachable!(),
        }
    }
    // Mask in place: insert the key after each header.
    let (mut masked, mut rest) = (Vec::new(), &frames[..]);
    while !rest.is_empty() {
        let (len, header) = match rest[1] {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        masked.extend_from_slice(&rest[..header]);
        let second_byte = masked.len() - header + 1;
        masked[second_byte] |= 0x80; // the mask bit
        masked.extend_from_slice(&[1, 2, 3, 4]);
        let start = masked.len();
        masked.extend_from_slice(&rest[header..header + len]);
        apply_mask(&mut masked[start..], [1, 2, 3, 4], 0);
        rest = &rest[header + len..];
    }
    // The server's side of the parameters is the decoder's client side here.
    let deflate = deflate.map(|d| DeflateParams {
        client_no_context_takeover: d.server_no_context_takeover,
        ..d
    });
    let config = DecoderConfig {
        max_message: usize::MAX / 2,
        deflate,
    };
    let (back, error) = run(&[&masked], config);
    assert_eq!(error, None, "encoder output refused");
    assert!(
        back.iter().eq(messages.into_iter()),
        "round trip changed a message"
    );
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let flags = input[0];
    let deflate = (flags & 1 != 0).then_some(DeflateParams {
        server_no_context_takeover: flags & 2 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 9 + (flags >> 4) % 7,
        client_max_window_bits: 15,
    });
    let max_message = if flags & 4 != 0 { 64 } else { 1 << 20 };
    let config = DecoderConfig { max_message, deflate };
    let stream = &input[3..];
    let at = usize::from(u16::from_le_bytes([input[1], input[2]])) % (stream.len() + 1);

    let whole = run(&[stream], config);
    let split = run(&[&stream[..at], &stream[at..]], config);
    assert_eq!(whole, split, "whole and split at {at} disagree");
    round_trip(&whole.0, deflate);
});
