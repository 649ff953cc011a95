//! Messages and control frames out (server frames are never masked).
//!
//! Every message goes out as one frame with the minimal length encoding. With
//! permessage-deflate, every text or binary message is compressed, however short
//! (as Python's websockets does; clients and test suites expect RSV1 on every data
//! message once deflate is negotiated) (RFC 7692 section 7.2.1): raw deflate
//! ending with a sync flush whose final `00 00 ff ff` is stripped, RSV1 set on
//! the frame. The compressor keeps its window between messages unless
//! `server_no_context_takeover` was negotiated.

use flate2::{Compress, Compression, FlushCompress};

use crate::frame::{write_header, Opcode, MAX_CONTROL_PAYLOAD};
use crate::inflate::SYNC_TAIL;
use crate::DeflateParams;

/// The compression level: zlib's default (6), a good ratio at moderate cost.
const COMPRESSION_LEVEL: u32 = 6;

/// The largest close reason: a close payload is at most 125 bytes, 2 of them the code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Encodes a server's frames.
pub struct Encoder {
    deflate: Option<Deflater>,
}

/// The compressing side of permessage-deflate.
struct Deflater {
    /// Created with the first compressed message: its state (a few hundred KiB
    /// with a 15-bit window) is only paid for by connections that use it.
    compress: Option<Compress>,
    window_bits: u8,
    /// `server_no_context_takeover`: reset before every message.
    reset_per_message: bool,
    /// The compressed payload, reused between messages.
    scratch: Vec<u8>,
}

impl Encoder {
    /// An encoder compressing with `deflate`'s parameters, if negotiated.
    ///
    /// zlib cannot produce raw deflate with a 256-byte window
    /// (`server_max_window_bits=8`): in that case messages are sent uncompressed,
    /// which permessage-deflate always allows.
    pub fn new(deflate: Option<DeflateParams>) -> Self {
        let deflate = deflate
            .filter(|p| p.server_max_window_bits >= 9)
            .map(|params| Deflater {
                compress: None,
                window_bits: params.server_max_window_bits.min(15),
                reset_per_message: params.server_no_context_takeover,
                scratch: Vec::new(),
            });
        Encoder { deflate }
    }

    /// Appends a text message as one frame (compressed when deflate was negotiated
    /// and it pays off).
    pub fn text(&mut self, payload: &str, out: &mut Vec<u8>) {
        self.message(Opcode::Text, payload.as_bytes(), out);
    }

    /// Appends a binary message as one frame (compressed as [`Encoder::text`]).
    pub fn binary(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        self.message(Opcode::Binary, payload, out);
    }

    /// `payload` is at most 125 bytes (truncated otherwise).
    pub fn ping(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        control(
            Opcode::Ping,
            &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
            out,
        );
    }

    /// A pong: `payload` is at most 125 bytes (truncated otherwise).
    pub fn pong(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        control(
            Opcode::Pong,
            &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
            out,
        );
    }

    /// A close frame with `code` and `reason` (reason truncated at a character
    /// boundary to fit 123 bytes); `None` sends a close frame with no body.
    pub fn close(&mut self, code: Option<u16>, reason: &str, out: &mut Vec<u8>) {
        let Some(code) = code else {
            control(Opcode::Close, &[], out);
            return;
        };
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = &reason.as_bytes()[..end];
        write_header(out, true, false, Opcode::Close, 2 + reason.len());
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(reason);
    }

    fn message(&mut self, opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
        match &mut self.deflate {
            Some(deflater) => {
                let compressed = deflater.compress_message(payload);
                write_header(out, true, true, opcode, compressed.len());
                out.extend_from_slice(compressed);
            }
            _ => {
                write_header(out, true, false, opcode, payload.len());
                out.extend_from_slice(payload);
            }
        }
    }
}

fn control(opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    write_header(out, true, false, opcode, payload.len());
    out.extend_from_slice(payload);
}

impl Deflater {
    /// The compressed form of one whole message (sync-flushed, tail stripped).
    fn compress_message(&mut self, mut payload: &[u8]) -> &[u8] {
        let window_bits = self.window_bits;
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(COMPRESSION_LEVEL), false, window_bits)
        });
        if self.reset_per_message {
            compress.reset();
        }
        self.scratch.clear();
        // A sync flush of incompressible data costs at most a few bytes per 16 KiB
        // block; reserving that much usually makes one call enough.
        self.scratch.reserve(payload.len() + payload.len() / 1024 + 64);
        loop {
            let before = compress.total_in();
            compress
                .compress_vec(payload, &mut self.scratch, FlushCompress::Sync)
                .expect("deflate with valid parameters does not fail");
            payload = &payload[(compress.total_in() - before) as usize..];
            // Done when all input is in and the flush did not run out of room (with
            // the output full, zlib may still hold some of the flush; called again
            // after a complete flush, it adds nothing).
            if payload.is_empty() && self.scratch.len() < self.scratch.capacity() {
                break;
            }
            self.scratch.reserve(self.scratch.len().max(1024));
        }
        if self.scratch.is_empty() {
            // zlib does not repeat a sync flush with no input since the last one
            // (an empty message right after another): it is an empty stored block,
            // 0x00 once the tail is stripped (RFC 7692 section 7.2.3.6).
            self.scratch.push(0x00);
            return &self.scratch;
        }
        debug_assert!(self.scratch.ends_with(&SYNC_TAIL));
        let len = self.scratch.len() - SYNC_TAIL.len();
        &self.scratch[..len]
    }
}
