//! A WebSocket client's side, for the tests: masked frames, client compression,
//! and a driver that feeds a decoder and collects its events.
#![allow(dead_code)]

use flate2::{Compress, Compression, FlushCompress};
use pyre_ws::{apply_mask, Decoder, Event, ProtocolError};

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONT: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a client sends it: masked with `key`, minimal length encoding.
/// `first_byte` is FIN/RSV/opcode as on the wire.
pub fn raw_frame(first_byte: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut out = vec![first_byte];
    match payload.len() {
        0..=125 => out.push(mask_bit | payload.len() as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    let start = out.len();
    if let Some(key) = key {
        out.extend_from_slice(&key);
        out.extend_from_slice(payload);
        apply_mask(&mut out[start + 4..], key, 0);
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A masked frame: `fin`, `rsv1`, `opcode`.
pub fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let first = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode;
    raw_frame(first, payload, Some(KEY))
}

/// A masked, final, uncompressed frame.
pub fn fin(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, false, opcode, payload)
}

/// A close frame with a code and reason.
pub fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    fin(CLOSE, &payload)
}

/// The client's compressor (RFC 7692 section 7.2.1).
pub struct ClientDeflate {
    compress: Compress,
    no_context_takeover: bool,
}

impl ClientDeflate {
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        ClientDeflate {
            compress: Compress::new_with_window_bits(Compression::default(), false, window_bits),
            no_context_takeover,
        }
    }

    /// One message's compressed payload, sync tail stripped.
    pub fn message(&mut self, data: &[u8]) -> Vec<u8> {
        if self.no_context_takeover {
            self.compress.reset();
        }
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut input = data;
        loop {
            let before = self.compress.total_in();
            self.compress
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .unwrap();
            input = &input[(self.compress.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.len().max(64));
        }
        if out.is_empty() {
            // zlib does not repeat a sync flush with no input since the last one:
            // an empty message is then an empty stored block, 0x00 once the tail
            // is stripped (RFC 7692 section 7.2.3.6).
            return vec![0x00];
        }
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }
}

/// Everything the decoder says about `input` fed in `pieces` (cut at the given
/// offsets): the events, then the error if one ended it. Checks the decode
/// contract on the way: never more consumed than given, `(n, None)` only with all
/// input consumed.
pub fn decode_pieces(
    decoder: &mut Decoder,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Event>, Option<ProtocolError>) {
    let mut events = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    let mut start = 0;
    for end in bounds {
        let mut piece = &input[start..end];
        start = end;
        loop {
            match decoder.decode(piece) {
                Err(error) => return (events, Some(error)),
                Ok((n, event)) => {
                    assert!(n <= piece.len(), "consumed {n} of {}", piece.len());
                    piece = &piece[n..];
                    match event {
                        Some(event) => {
                            let closed = matches!(event, Event::Close(_));
                            events.push(event);
                            if closed {
                                assert_eq!(decoder.decode(b"\x81"), Ok((0, None)), "fed after close");
                                return (events, None);
                            }
                        }
                        None => {
                            assert!(piece.is_empty(), "(n, None) with {} bytes left", piece.len());
                            break;
                        }
                    }
                }
            }
        }
    }
    (events, None)
}

/// [`decode_pieces`] with the input whole.
pub fn decode_all(decoder: &mut Decoder, input: &[u8]) -> (Vec<Event>, Option<ProtocolError>) {
    decode_pieces(decoder, input, &[])
}

/// Turns a server's frames into a client's: sets the mask bit, inserts `key` and
/// masks each payload (so encoder output can go through the decoder).
pub fn mask_frames(mut input: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    while !input.is_empty() {
        assert_eq!(input[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match input[1] & 0x7F {
            126 => (u16::from_be_bytes([input[2], input[3]]) as usize, 4),
            127 => (u64::from_be_bytes(input[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        out.push(input[0]);
        out.push(input[1] | 0x80);
        out.extend_from_slice(&input[2..header]);
        out.extend_from_slice(&key);
        let start = out.len();
        out.extend_from_slice(&input[header..header + len]);
        apply_mask(&mut out[start..], key, 0);
        input = &input[header + len..];
    }
    out
}
