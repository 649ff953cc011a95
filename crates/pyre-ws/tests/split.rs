//! Property tests: the decoder's answer does not depend on how the input is cut.
//!
//! 1. A random conversation (text and binary messages, fragmented or not,
//!    compressed or not, pings and pongs between fragments, random masking keys)
//!    decodes to exactly the messages sent, whole and in any chunks.
//! 2. Arbitrary bytes give the same events and the same error whole as in chunks
//!    (one exception: a compressed text message that is both invalid UTF-8 and
//!    too big may fail with either 1007 or 1009, whichever the bytes at hand
//!    prove first).

mod common;

use common::*;
use proptest::prelude::*;
use pyre_ws::{Decoder, DecoderConfig, DeflateParams, Event};

#[derive(Debug, Clone)]
enum Op {
    Message {
        text: Option<String>,
        binary: Vec<u8>,
        /// Where the (compressed) payload is cut into fragments.
        cuts: Vec<usize>,
        compressed: bool,
        /// A ping after the first fragment.
        ping_inside: Option<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let control = proptest::collection::vec(any::<u8>(), 0..=125);
    prop_oneof![
        4 => (
            proptest::option::of("\\PC{0,80}"),
            proptest::collection::vec(any::<u8>(), 0..400),
            proptest::collection::vec(0usize..500, 0..4),
            any::<bool>(),
            proptest::option::of(control.clone()),
        )
            .prop_map(|(text, binary, cuts, compressed, ping_inside)| Op::Message {
                text,
                binary,
                cuts,
                compressed,
                ping_inside,
            }),
        1 => control.clone().prop_map(Op::Ping),
        1 => control.prop_map(Op::Pong),
    ]
}

fn key(seed: u32, n: usize) -> [u8; 4] {
    (seed.wrapping_mul(2_654_435_761).wrapping_add(n as u32 * 40_503)).to_be_bytes()
}

/// The client's bytes for `ops` and the events they must decode to.
fn conversation(ops: &[Op], deflate: Option<bool>, seed: u32) -> (Vec<u8>, Vec<Event>) {
    let mut client = deflate.map(|no_context_takeover| ClientDeflate::new(15, no_context_takeover));
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let mut frames = 0;
    let mut push = |bytes: &mut Vec<u8>, first: u8, payload: &[u8]| {
        frames += 1;
        bytes.extend(raw_frame(first, payload, Some(key(seed, frames))));
    };
    for op in ops {
        match op {
            Op::Ping(data) => {
                push(&mut bytes, 0x80 | PING, data);
                expected.push(Event::Ping(data.clone()));
            }
            Op::Pong(data) => {
                push(&mut bytes, 0x80 | PONG, data);
                expected.push(Event::Pong(data.clone()));
            }
            Op::Message {
                text,
                binary,
                cuts,
                compressed,
                ping_inside,
            } => {
                let (opcode, data, event) = match text {
                    Some(text) => (TEXT, text.as_bytes().to_vec(), Event::Text(text.clone())),
                    None => (BINARY, binary.clone(), Event::Binary(binary.clone())),
                };
                let compress = *compressed && client.is_some();
                let payload = match (&mut client, compress) {
                    (Some(client), true) => client.message(&data),
                    _ => data,
                };
                let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(payload.len())).collect();
                bounds.sort_unstable();
                bounds.push(payload.len());
                let mut start = 0;
                for (i, &end) in bounds.iter().enumerate() {
                    let last = i == bounds.len() - 1;
                    let opcode = if i == 0 { opcode } else { CONT };
                    let rsv1 = if i == 0 && compress { 0x40 } else { 0 };
                    let fin = if last { 0x80 } else { 0 };
                    push(&mut bytes, fin | rsv1 | opcode, &payload[start..end]);
                    start = end;
                    if i == 0 && !last {
                        if let Some(ping) = ping_inside {
                            push(&mut bytes, 0x80 | PING, ping);
                            expected.push(Event::Ping(ping.clone()));
                        }
                    }
                }
                expected.push(event);
            }
        }
    }
    (bytes, expected)
}

fn config(deflate: Option<bool>) -> DecoderConfig {
    DecoderConfig {
        max_message: 1 << 20,
        deflate: deflate.map(|client_no_context_takeover| DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn conversation_decodes_the_same_in_any_chunks(
        ops in proptest::collection::vec(op(), 1..8),
        deflate in proptest::option::of(any::<bool>()),
        seed in any::<u32>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (bytes, expected) = conversation(&ops, deflate, seed);
        let whole = decode_all(&mut Decoder::new(config(deflate)), &bytes);
        prop_assert_eq!(&whole, &(expected, None));
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        let chunked = decode_pieces(&mut Decoder::new(config(deflate)), &bytes, &cuts);
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn conversation_byte_by_byte(
        ops in proptest::collection::vec(op(), 1..4),
        deflate in proptest::option::of(any::<bool>()),
        seed in any::<u32>(),
    ) {
        let (bytes, expected) = conversation(&ops, deflate, seed);
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let chunked = decode_pieces(&mut Decoder::new(config(deflate)), &bytes, &cuts);
        prop_assert_eq!(chunked, (expected, None));
    }

    #[test]
    fn arbitrary_bytes_decode_the_same_in_any_chunks(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..300),
        mask_bits in any::<bool>(),
        deflate in proptest::option::of(any::<bool>()),
        small_limit in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        // Setting every mask bit gets past the first check more often.
        if mask_bits && bytes.len() > 1 {
            bytes[1] |= 0x80;
        }
        let mut config = config(deflate);
        if small_limit {
            config.max_message = 16;
        }
        let whole = decode_all(&mut Decoder::new(config), &bytes);
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        let chunked = decode_pieces(&mut Decoder::new(config), &bytes, &cuts);
        prop_assert_eq!(&chunked.0, &whole.0);
        prop_assert_eq!(normalize(chunked.1), normalize(whole.1));
    }
}

/// The error's code, with 1007 and 1009 as one (see the module comment).
fn normalize(error: Option<pyre_ws::ProtocolError>) -> Option<u16> {
    error.map(|e| if e.code == 1009 { 1007 } else { e.code })
}
