//! The decoder against RFC 6455 and RFC 7692, rule by rule: tables of client
//! bytes and the events or close code they must produce.

mod common;

use common::*;
use pyre_ws::{close_code, Decoder, DecoderConfig, DeflateParams, Event, ProtocolError};

const DEFLATE: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

fn decoder() -> Decoder {
    Decoder::new(DecoderConfig::default())
}

fn deflate_decoder(client_no_context_takeover: bool) -> Decoder {
    Decoder::new(DecoderConfig {
        max_message: 1 << 20,
        deflate: Some(DeflateParams {
            client_no_context_takeover,
            ..DEFLATE
        }),
    })
}

fn events(input: &[u8]) -> Vec<Event> {
    let (events, error) = decode_all(&mut decoder(), input);
    assert_eq!(error, None, "unexpected error after {events:?}");
    events
}

/// The close code `input` fails with (and the events before it).
fn fails(decoder: &mut Decoder, input: &[u8]) -> (u16, Vec<Event>) {
    let (events, error) = decode_all(decoder, input);
    let error = error.unwrap_or_else(|| panic!("no error; events {events:?}"));
    (error.code, events)
}

fn code(input: &[u8]) -> u16 {
    fails(&mut decoder(), input).0
}

fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

fn text(s: &str) -> Event {
    Event::Text(s.into())
}

#[test]
fn rfc6455_section_5_7_examples() {
    // A single-frame masked text message.
    assert_eq!(
        events(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]),
        [text("Hello")]
    );
    // The same unmasked, as a server would send it: refused from a client.
    assert_eq!(
        code(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
        close_code::PROTOCOL_ERROR
    );
    // A fragmented text message "Hel" + "lo", masked here.
    assert_eq!(
        events(&cat(&[
            frame(false, false, TEXT, b"Hel"),
            frame(true, false, CONT, b"lo")
        ])),
        [text("Hello")]
    );
    // A masked ping with "Hello", and its pong.
    assert_eq!(events(&fin(PING, b"Hello")), [Event::Ping(b"Hello".to_vec())]);
    assert_eq!(events(&fin(PONG, b"Hello")), [Event::Pong(b"Hello".to_vec())]);
    // 256 bytes (16-bit length) and 64 KiB (64-bit length) binary messages.
    for len in [256, 65536] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        assert_eq!(events(&fin(BINARY, &data)), [Event::Binary(data)]);
    }
}

#[test]
fn empty_messages_and_frames() {
    assert_eq!(events(&fin(TEXT, b"")), [text("")]);
    assert_eq!(events(&fin(BINARY, b"")), [Event::Binary(vec![])]);
    assert_eq!(
        events(&cat(&[
            frame(false, false, BINARY, b""),
            frame(false, false, CONT, b""),
            fin(CONT, b"x")
        ])),
        [Event::Binary(b"x".to_vec())]
    );
    assert_eq!(events(&fin(PING, b"")), [Event::Ping(vec![])]);
}

#[test]
fn non_minimal_lengths_are_accepted() {
    // "abc" with a 16-bit and a 64-bit length.
    let mut frame16 = vec![0x82, 0x80 | 126, 0, 3];
    frame16.extend_from_slice(&[0, 0, 0, 0]);
    frame16.extend_from_slice(b"abc");
    assert_eq!(events(&frame16), [Event::Binary(b"abc".to_vec())]);
    let mut frame64 = vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0];
    frame64.extend_from_slice(b"abc");
    assert_eq!(events(&frame64), [Event::Binary(b"abc".to_vec())]);
}

#[test]
fn length_with_the_high_bit_is_1002() {
    let header = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(code(&header), close_code::PROTOCOL_ERROR);
}

#[test]
fn client_frames_must_be_masked() {
    for opcode in [TEXT, BINARY, PING, PONG, CLOSE] {
        assert_eq!(
            code(&raw_frame(0x80 | opcode, b"", None)),
            close_code::PROTOCOL_ERROR
        );
    }
    // Also a continuation frame inside a masked message.
    let input = cat(&[frame(false, false, TEXT, b"a"), raw_frame(0x80, b"b", None)]);
    assert_eq!(code(&input), close_code::PROTOCOL_ERROR);
}

#[test]
fn reserved_bits_are_1002() {
    for (first, what) in [(0xA1, "RSV2"), (0x91, "RSV3"), (0xC1, "RSV1 without deflate")] {
        assert_eq!(
            code(&raw_frame(first, b"x", Some(KEY))),
            close_code::PROTOCOL_ERROR,
            "{what}"
        );
    }
    // With deflate: RSV1 on a continuation frame or a control frame.
    let continuation = cat(&[frame(false, true, TEXT, b""), frame(true, true, CONT, b"")]);
    assert_eq!(
        fails(&mut deflate_decoder(false), &continuation).0,
        close_code::PROTOCOL_ERROR
    );
    for opcode in [PING, PONG, CLOSE] {
        let control = frame(true, true, opcode, b"");
        assert_eq!(
            fails(&mut deflate_decoder(false), &control).0,
            close_code::PROTOCOL_ERROR
        );
    }
    // RSV2/RSV3 even with deflate.
    assert_eq!(
        fails(&mut deflate_decoder(false), &raw_frame(0xE1, b"", Some(KEY))).0,
        close_code::PROTOCOL_ERROR
    );
}

#[test]
fn reserved_opcodes_are_1002() {
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            code(&fin(opcode, b"")),
            close_code::PROTOCOL_ERROR,
            "opcode {opcode:#x}"
        );
    }
}

#[test]
fn control_frame_rules() {
    // At most 125 bytes.
    assert_eq!(events(&fin(PING, &[7; 125])), [Event::Ping(vec![7; 125])]);
    for opcode in [PING, PONG, CLOSE] {
        assert_eq!(code(&fin(opcode, &[7; 126])), close_code::PROTOCOL_ERROR);
        // Never fragmented.
        assert_eq!(
            code(&frame(false, false, opcode, b"")),
            close_code::PROTOCOL_ERROR
        );
    }
}

#[test]
fn control_frames_between_fragments() {
    let input = cat(&[
        frame(false, false, TEXT, b"He"),
        fin(PING, b"p"),
        frame(false, false, CONT, b"l"),
        fin(PONG, b"q"),
        frame(true, false, CONT, b"lo"),
    ]);
    assert_eq!(
        events(&input),
        [
            Event::Ping(b"p".to_vec()),
            Event::Pong(b"q".to_vec()),
            text("Hello")
        ]
    );
    // A close in the middle ends it all.
    let input = cat(&[
        frame(false, false, TEXT, b"He"),
        close(1000, b""),
        fin(CONT, b"llo"),
    ]);
    assert_eq!(events(&input), [Event::Close(Some((1000, String::new())))]);
}

#[test]
fn fragmentation_order_is_1002() {
    // A continuation with no message started.
    assert_eq!(code(&fin(CONT, b"x")), close_code::PROTOCOL_ERROR);
    assert_eq!(
        code(&cat(&[fin(TEXT, b"a"), fin(CONT, b"x")])),
        close_code::PROTOCOL_ERROR
    );
    // A new data frame while a fragmented message is open.
    for opcode in [TEXT, BINARY] {
        let input = cat(&[frame(false, false, TEXT, b"a"), fin(opcode, b"b")]);
        assert_eq!(code(&input), close_code::PROTOCOL_ERROR);
    }
}

#[test]
fn close_frames() {
    assert_eq!(events(&fin(CLOSE, b"")), [Event::Close(None)]);
    assert_eq!(
        events(&close(1000, b"bye")),
        [Event::Close(Some((1000, "bye".into())))]
    );
    assert_eq!(
        events(&close(4999, "é".as_bytes())),
        [Event::Close(Some((4999, "é".into())))]
    );
    // Valid codes.
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        assert_eq!(
            events(&close(code, b"")),
            [Event::Close(Some((code, String::new())))],
            "{code}"
        );
    }
    // Invalid codes: reserved for local use, unassigned, out of range.
    for bad in [
        0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(code(&close(bad, b"")), close_code::PROTOCOL_ERROR, "{bad}");
    }
    // A 1-byte payload.
    assert_eq!(code(&fin(CLOSE, &[0x03])), close_code::PROTOCOL_ERROR);
    // A reason that is not UTF-8.
    assert_eq!(code(&close(1000, &[0xff, 0xfe])), close_code::INVALID_PAYLOAD);
    assert_eq!(code(&close(1000, &[0xce])), close_code::INVALID_PAYLOAD);
}

#[test]
fn nothing_after_close_and_errors_stick() {
    let mut decoder = decoder();
    let input = cat(&[close(1001, b""), fin(TEXT, b"later")]);
    assert_eq!(
        decoder.decode(&input).unwrap(),
        (8, Some(Event::Close(Some((1001, String::new())))))
    );
    assert_eq!(decoder.decode(&input[8..]), Ok((0, None)));

    let mut decoder = self::decoder();
    let error = decoder.decode(&fin(CONT, b"")).unwrap_err();
    assert_eq!(decoder.decode(&fin(TEXT, b"ok")), Err(error));
}

#[test]
fn invalid_utf8_is_1007() {
    for bad in [
        &b"\xff"[..],
        b"\xc0\xaf",         // overlong
        b"\xed\xa0\x80",     // surrogate
        b"\xf4\x90\x80\x80", // above U+10FFFF
        b"ok\xce",           // cut short at the message's end
        b"\x80",             // lone continuation byte
    ] {
        assert_eq!(code(&fin(TEXT, bad)), close_code::INVALID_PAYLOAD, "{bad:?}");
    }
    // Cut short at the end of the last fragment.
    let input = cat(&[frame(false, false, TEXT, b"a"), fin(CONT, b"\xe2\x82")]);
    assert_eq!(code(&input), close_code::INVALID_PAYLOAD);
    // Binary messages are not checked.
    assert_eq!(events(&fin(BINARY, b"\xff")), [Event::Binary(vec![0xff])]);
}

#[test]
fn utf8_split_across_fragments_and_reads_is_fine() {
    // "€" is e2 82 ac: split across fragments.
    let input = cat(&[
        frame(false, false, TEXT, b"\xe2"),
        frame(false, false, CONT, b"\x82"),
        fin(CONT, b"\xac!"),
    ]);
    assert_eq!(events(&input), [text("€!")]);
    // Fed one byte at a time.
    let cuts: Vec<usize> = (1..input.len()).collect();
    let (events, error) = decode_pieces(&mut decoder(), &input, &cuts);
    assert_eq!((events, error), (vec![text("€!")], None));
}

#[test]
fn invalid_utf8_fails_as_soon_as_the_bytes_prove_it() {
    // A long text frame with a surrogate early on, fed byte by byte: the error
    // comes at the byte that makes it invalid, long before the frame ends.
    let mut payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80".to_vec();
    payload.extend_from_slice(&[b'a'; 1000]);
    let input = fin(TEXT, &payload);
    let header = input.len() - payload.len();
    let invalid_at = header + 12; // the 0xa0 after 0xed
    let mut decoder = decoder();
    for (i, byte) in input.iter().enumerate() {
        match decoder.decode(std::slice::from_ref(byte)) {
            Ok((1, None)) => assert!(i < invalid_at, "byte {i} accepted"),
            Err(error) => {
                assert_eq!(error.code, close_code::INVALID_PAYLOAD);
                assert_eq!(i, invalid_at);
                break;
            }
            other => panic!("byte {i}: {other:?}"),
        }
    }
    // In the middle of a fragmented message: the first fragment is enough.
    let mut decoder = self::decoder();
    assert_eq!(
        decoder
            .decode(&frame(false, false, TEXT, b"ok\xff"))
            .map_err(|e| e.code),
        Err(close_code::INVALID_PAYLOAD)
    );
    // Also when the first fragment's bytes arrive, before the fragment ends.
    let mut decoder = self::decoder();
    let first = frame(false, false, TEXT, b"ok\xffmore");
    assert_eq!(
        decoder.decode(&first[..first.len() - 4]).map_err(|e| e.code),
        Err(close_code::INVALID_PAYLOAD)
    );
}

#[test]
fn message_size_limit_is_1009() {
    let config = |max_message| DecoderConfig {
        max_message,
        deflate: None,
    };
    // Exactly the limit passes, one byte more fails.
    assert_eq!(
        decode_all(&mut Decoder::new(config(10)), &fin(BINARY, &[0; 10]))
            .0
            .len(),
        1
    );
    assert_eq!(
        fails(&mut Decoder::new(config(10)), &fin(TEXT, &[b'a'; 11])).0,
        close_code::MESSAGE_TOO_BIG
    );
    // Over several fragments.
    let input = cat(&[frame(false, false, BINARY, &[0; 6]), fin(CONT, &[0; 5])]);
    assert_eq!(
        fails(&mut Decoder::new(config(10)), &input).0,
        close_code::MESSAGE_TOO_BIG
    );
    // A header announcing 1 GiB fails at once, from the header alone.
    let mut decoder = Decoder::new(config(1 << 20));
    let header = [0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(
        decoder.decode(&header).map_err(|e| e.code),
        Err(close_code::MESSAGE_TOO_BIG)
    );
    assert_eq!(decoder.buffered(), 0);
    // The limit does not shrink control frames: 125 bytes pass with a limit of 10.
    assert_eq!(
        decode_all(&mut Decoder::new(config(10)), &fin(PING, &[1; 125]))
            .0
            .len(),
        1
    );
}

#[test]
fn buffered_counts_a_partial_message() {
    let mut decoder = decoder();
    let first = frame(false, false, BINARY, &[1; 100]);
    assert_eq!(decoder.decode(&first), Ok((first.len(), None)));
    assert_eq!(decoder.buffered(), 100);
    let second = fin(CONT, &[2; 50]);
    assert_eq!(decoder.decode(&second[..20]), Ok((20, None)));
    assert_eq!(decoder.buffered(), 100 + (20 - 6));
    let (n, event) = decoder.decode(&second[20..]).unwrap();
    assert_eq!(n, second.len() - 20);
    assert!(matches!(event, Some(Event::Binary(data)) if data.len() == 150));
    assert_eq!(decoder.buffered(), 0);
    // A partial header counts too.
    assert_eq!(decoder.decode(&[0x82]), Ok((1, None)));
    assert_eq!(decoder.buffered(), 1);
}

#[test]
fn one_event_per_call_the_rest_on_the_next() {
    let input = cat(&[fin(TEXT, b"a"), fin(BINARY, b"b")]);
    let mut decoder = decoder();
    let (n, event) = decoder.decode(&input).unwrap();
    assert_eq!((n, event), (7, Some(text("a"))));
    assert_eq!(
        decoder.decode(&input[n..]),
        Ok((7, Some(Event::Binary(b"b".to_vec()))))
    );
    assert_eq!(decoder.decode(&[]), Ok((0, None)));
}

// permessage-deflate (RFC 7692).

/// RFC 7692 section 7.2.3.1: "Hello" compressed.
const HELLO_DEFLATED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_hello_and_its_fragments() {
    let (events, error) = decode_all(
        &mut deflate_decoder(false),
        &frame(true, true, TEXT, &HELLO_DEFLATED),
    );
    assert_eq!((events, error), (vec![text("Hello")], None));
    // Section 7.2.3.1 also shows the compressed payload split over two frames.
    let input = cat(&[
        frame(false, true, TEXT, &HELLO_DEFLATED[..3]),
        frame(true, false, CONT, &HELLO_DEFLATED[3..]),
    ]);
    let (events, error) = decode_all(&mut deflate_decoder(false), &input);
    assert_eq!((events, error), (vec![text("Hello")], None));
}

#[test]
fn rfc7692_shared_window() {
    // Section 7.2.3.2: the second "Hello" refers to the first one's window.
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let input = cat(&[
        frame(true, true, TEXT, &HELLO_DEFLATED),
        frame(true, true, TEXT, &second),
    ]);
    let (events, error) = decode_all(&mut deflate_decoder(false), &input);
    assert_eq!((events, error), (vec![text("Hello"), text("Hello")], None));
}

#[test]
fn rfc7692_uncompressed_block_and_bfinal() {
    // Section 7.2.3.3: "Hello" in a stored (uncompressed) block.
    let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    // Section 7.2.3.4: "Hello" in a block with BFINAL set.
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    for payload in [&stored[..], &bfinal[..]] {
        let (events, error) = decode_all(&mut deflate_decoder(false), &frame(true, true, BINARY, payload));
        assert_eq!(
            (events, error),
            (vec![Event::Binary(b"Hello".to_vec())], None),
            "{payload:x?}"
        );
    }
}

#[test]
fn rfc7692_empty_message() {
    // Section 7.2.3.6: an empty message compresses to 0x00. Between two messages
    // sharing a window it must leave the window intact.
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    let input = cat(&[
        frame(true, true, TEXT, &HELLO_DEFLATED),
        frame(true, true, TEXT, &[0x00]),
        frame(true, true, TEXT, &second),
    ]);
    let (events, error) = decode_all(&mut deflate_decoder(false), &input);
    assert_eq!(
        (events, error),
        (vec![text("Hello"), text(""), text("Hello")], None)
    );
}

#[test]
fn uncompressed_messages_with_deflate_negotiated() {
    let input = cat(&[
        fin(TEXT, b"plain"),
        frame(true, true, TEXT, &HELLO_DEFLATED),
        fin(BINARY, b"raw"),
    ]);
    let (events, error) = decode_all(&mut deflate_decoder(false), &input);
    assert_eq!(
        (events, error),
        (
            vec![text("plain"), text("Hello"), Event::Binary(b"raw".to_vec())],
            None
        )
    );
}

#[test]
fn deflate_with_and_without_context_takeover() {
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("message {i} {}", "abc".repeat(50)).into_bytes())
        .collect();
    for no_context_takeover in [false, true] {
        let mut client = ClientDeflate::new(15, no_context_takeover);
        let input: Vec<u8> = messages
            .iter()
            .flat_map(|m| frame(true, true, BINARY, &client.message(m)))
            .collect();
        let (events, error) = decode_all(&mut deflate_decoder(no_context_takeover), &input);
        assert_eq!(error, None);
        let expected: Vec<Event> = messages.iter().cloned().map(Event::Binary).collect();
        assert_eq!(events, expected, "no_context_takeover {no_context_takeover}");
    }
    // A decoder that resets per message cannot read a client that keeps its
    // window (the second message refers to the first): that is what the
    // negotiation is for.
    let mut client = ClientDeflate::new(15, false);
    let input = cat(&[
        frame(true, true, BINARY, &client.message(&messages[0])),
        frame(true, true, BINARY, &client.message(&messages[0])),
    ]);
    let (events, error) = decode_all(&mut deflate_decoder(true), &input);
    assert_eq!(events.len(), 1);
    assert_eq!(error.map(|e| e.code), Some(close_code::INVALID_PAYLOAD));
}

#[test]
fn client_window_bits_are_all_readable() {
    for bits in 9..=15 {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * i % 253) as u8).collect();
        let mut client = ClientDeflate::new(bits, false);
        let input = cat(&[
            frame(true, true, BINARY, &client.message(&data)),
            frame(true, true, BINARY, &client.message(&data)),
        ]);
        let (events, error) = decode_all(&mut deflate_decoder(false), &input);
        assert_eq!(error, None, "{bits} bits");
        assert_eq!(
            events,
            [Event::Binary(data.clone()), Event::Binary(data)],
            "{bits} bits"
        );
    }
}

#[test]
fn zip_bomb_is_1009() {
    // 16 MiB of zeros compress to about 16 KiB; the limit is 1 MiB.
    let bomb = ClientDeflate::new(15, false).message(&vec![0; 16 << 20]);
    assert!(bomb.len() < 64 << 10);
    let mut decoder = deflate_decoder(false);
    assert_eq!(
        fails(&mut decoder, &frame(true, true, BINARY, &bomb)).0,
        close_code::MESSAGE_TOO_BIG
    );
    // Also spread over fragments.
    let (a, b) = bomb.split_at(bomb.len() / 2);
    let input = cat(&[frame(false, true, TEXT, a), frame(true, false, CONT, b)]);
    assert_eq!(
        fails(&mut deflate_decoder(false), &input).0,
        close_code::MESSAGE_TOO_BIG
    );
    // The decompressed limit is exact: 1 MiB passes.
    let exact = ClientDeflate::new(15, false).message(&vec![0; 1 << 20]);
    let (events, error) = decode_all(&mut deflate_decoder(false), &frame(true, true, BINARY, &exact));
    assert_eq!((events.len(), error), (1, None));
}

#[test]
fn compressed_frame_announcing_too_much_fails_at_once() {
    let mut decoder = deflate_decoder(false);
    let header = [0xC2, 0x80 | 127, 0, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(
        decoder.decode(&header).map_err(|e| e.code),
        Err(close_code::MESSAGE_TOO_BIG)
    );
}

#[test]
fn corrupt_compressed_data_is_1007() {
    let (_, error) = decode_all(
        &mut deflate_decoder(false),
        &frame(true, true, BINARY, &[0xff, 0xff, 0xff]),
    );
    assert_eq!(error.map(|e| e.code), Some(close_code::INVALID_PAYLOAD));
}

#[test]
fn compressed_invalid_utf8_is_1007() {
    let payload = ClientDeflate::new(15, false).message(b"abc\xffdef");
    let (_, error) = decode_all(&mut deflate_decoder(false), &frame(true, true, TEXT, &payload));
    assert_eq!(error.map(|e| e.code), Some(close_code::INVALID_PAYLOAD));
}

#[test]
fn protocol_error_displays_its_code() {
    let error = ProtocolError {
        code: 1002,
        reason: "x",
    };
    assert_eq!(error.to_string(), "x (close code 1002)");
}
