//! Encoder output, masked as a client would, back through the decoder; and the
//! encoder's own framing and compression rules.

mod common;

use common::*;
use pyre_ws::{close_code, Decoder, DecoderConfig, DeflateParams, Encoder, Event};

fn params(window_bits: u8, no_context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
    }
}

/// A decoder that reads what an encoder with `deflate` writes: the encoder's
/// server side is the decoder's client side.
fn mirror_decoder(deflate: Option<DeflateParams>) -> Decoder {
    Decoder::new(DecoderConfig {
        max_message: 1 << 20,
        deflate: deflate.map(|p| DeflateParams {
            client_no_context_takeover: p.server_no_context_takeover,
            ..p
        }),
    })
}

fn sample_messages() -> Vec<Event> {
    let json =
        |i: usize| format!(r#"{{"id": {i}, "name": "item {i}", "tags": ["a", "b", "c"], "ok": true}}"#);
    let mut messages = vec![
        Event::Text(String::new()),
        Event::Text("short".into()),
        Event::Binary(vec![]),
        Event::Binary((0..=255).collect()),
        Event::Text("κόσμε €𝄞 ".repeat(40)),
        Event::Binary((0..70_000u32).map(|i| (i * 31 % 256) as u8).collect()),
    ];
    for i in 0..10 {
        messages.push(Event::Text(json(i)));
    }
    messages
}

fn encode(encoder: &mut Encoder, event: &Event, out: &mut Vec<u8>) {
    match event {
        Event::Text(text) => encoder.text(text, out),
        Event::Binary(data) => encoder.binary(data, out),
        Event::Ping(data) => encoder.ping(data, out),
        Event::Pong(data) => encoder.pong(data, out),
        Event::Close(close) => match close {
            Some((code, reason)) => encoder.close(Some(*code), reason, out),
            None => encoder.close(None, "", out),
        },
    }
}

#[test]
fn round_trip_without_deflate() {
    let mut messages = sample_messages();
    messages.push(Event::Ping(b"ping".to_vec()));
    messages.push(Event::Pong(vec![]));
    messages.push(Event::Close(Some((close_code::NORMAL, "done".into()))));
    let mut encoder = Encoder::new(None);
    let mut out = Vec::new();
    for message in &messages {
        encode(&mut encoder, message, &mut out);
    }
    let (events, error) = decode_all(&mut mirror_decoder(None), &mask_frames(&out, KEY));
    assert_eq!(error, None);
    assert_eq!(events, messages);
}

#[test]
fn round_trip_with_deflate_every_window_and_takeover() {
    let messages = sample_messages();
    for window_bits in 8..=15 {
        for no_context_takeover in [false, true] {
            let deflate = Some(params(window_bits, no_context_takeover));
            let mut encoder = Encoder::new(deflate);
            let mut out = Vec::new();
            for message in &messages {
                encode(&mut encoder, message, &mut out);
            }
            let (events, error) = decode_all(&mut mirror_decoder(deflate), &mask_frames(&out, KEY));
            assert_eq!(
                error, None,
                "{window_bits} bits, no takeover {no_context_takeover}"
            );
            assert_eq!(
                events, messages,
                "{window_bits} bits, no takeover {no_context_takeover}"
            );
        }
    }
}

/// The first byte of each frame in `frames`.
fn first_bytes(mut frames: &[u8]) -> Vec<u8> {
    let mut firsts = Vec::new();
    while !frames.is_empty() {
        let (len, header) = match frames[1] & 0x7F {
            126 => (u16::from_be_bytes([frames[2], frames[3]]) as usize, 4),
            127 => (u64::from_be_bytes(frames[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        firsts.push(frames[0]);
        frames = &frames[header + len..];
    }
    firsts
}

#[test]
fn compression_sets_rsv1_on_every_data_message_and_not_on_control_frames() {
    let mut encoder = Encoder::new(Some(params(15, false)));
    let mut out = Vec::new();
    encoder.text("", &mut out);
    encoder.text("", &mut out);
    encoder.text("a", &mut out);
    encoder.binary(&[0; 1000], &mut out);
    encoder.ping(&[0; 100], &mut out);
    encoder.close(Some(1000), &"x".repeat(100), &mut out);
    assert_eq!(first_bytes(&out), [0xC1, 0xC1, 0xC1, 0xC2, 0x89, 0x88]);
    // 1000 zeros compress to a few bytes.
    assert!(out.len() < 100 + 100 + 60, "{} bytes", out.len());
    // And all of it decodes back.
    let (events, error) = decode_all(
        &mut mirror_decoder(Some(params(15, false))),
        &mask_frames(&out, KEY),
    );
    assert_eq!(error, None);
    assert_eq!(events[0], Event::Text(String::new()));
    assert_eq!(events[1], Event::Text(String::new()));
    assert_eq!(events[2], Event::Text("a".into()));
    assert_eq!(events[3], Event::Binary(vec![0; 1000]));
}

#[test]
fn window_of_8_bits_sends_uncompressed() {
    let mut encoder = Encoder::new(Some(params(8, false)));
    let mut out = Vec::new();
    encoder.binary(&[0; 1000], &mut out);
    assert_eq!(first_bytes(&out), [0x82]);
    assert_eq!(out.len(), 4 + 1000);
}

#[test]
fn context_takeover_shrinks_a_repeated_message() {
    let message = r#"{"event": "update", "payload": {"temperature": 21.5, "unit": "celsius"}}"#;
    let sizes = |no_context_takeover| {
        let mut encoder = Encoder::new(Some(params(15, no_context_takeover)));
        let (mut first, mut second) = (Vec::new(), Vec::new());
        encoder.text(message, &mut first);
        encoder.text(message, &mut second);
        (first.len(), second.len())
    };
    let (first, second) = sizes(false);
    assert!(second < first / 2, "with takeover: {first} then {second}");
    let (first, second) = sizes(true);
    assert_eq!(first, second, "without takeover every message stands alone");
}

#[test]
fn frames_are_unmasked_with_minimal_lengths() {
    let mut encoder = Encoder::new(None);
    let mut out = Vec::new();
    encoder.text("Hello", &mut out);
    assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    for (len, header) in [
        (125, &[0x82, 125][..]),
        (126, &[0x82, 126, 0, 126]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let mut out = Vec::new();
        encoder.binary(&vec![9; len], &mut out);
        assert_eq!(&out[..header.len()], header, "{len}");
        assert_eq!(out.len(), header.len() + len);
    }
}

#[test]
fn control_frames() {
    let mut encoder = Encoder::new(None);
    let mut out = Vec::new();
    encoder.ping(b"Hello", &mut out);
    assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    out.clear();
    encoder.pong(&[1; 200], &mut out);
    assert_eq!(out[..2], [0x8A, 125]);
    assert_eq!(out.len(), 127);
    out.clear();
    encoder.close(None, "ignored", &mut out);
    assert_eq!(out, [0x88, 0x00]);
    out.clear();
    encoder.close(Some(1001), "bye", &mut out);
    assert_eq!(out, [0x88, 0x05, 0x03, 0xE9, b'b', b'y', b'e']);
}

#[test]
fn close_reason_is_cut_at_a_character_boundary() {
    let mut encoder = Encoder::new(None);
    let mut out = Vec::new();
    // 2-byte characters: 123 bytes would split the 62nd, so 61 fit (122 bytes).
    encoder.close(Some(1000), &"é".repeat(100), &mut out);
    assert_eq!(out[1], 2 + 122);
    let (events, error) = decode_all(&mut mirror_decoder(None), &mask_frames(&out, KEY));
    assert_eq!(error, None);
    assert_eq!(events, [Event::Close(Some((1000, "é".repeat(61))))]);
    // ASCII: exactly 123.
    out.clear();
    encoder.close(Some(1000), &"x".repeat(200), &mut out);
    assert_eq!(out[1], 125);
}

#[test]
fn codec_state_can_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<Decoder>();
    send::<Encoder>();
    send::<pyre_ws::Handshake>();
}
