//! permessage-deflate decompression with a bounded output (RFC 7692 section 7.2.2).
//!
//! A compressed message is raw deflate (no zlib header) whose sender stripped the
//! final `00 00 ff ff` of a sync flush; the receiver inflates the frames' payloads
//! in order, then appends those four bytes. The decompressor keeps its window
//! between messages unless the client announced `client_no_context_takeover`.
//!
//! A sender may also end a message's data with a block that has BFINAL set
//! (RFC 7692 section 7.2.3.4, for deflate libraries without a sync flush): that
//! ends the deflate stream, so whatever follows (there, one more byte that
//! combines with the appended tail into an empty stored block) is read as a new
//! stream, which starts with an empty window as the sender's does.
//!
//! The output goes straight into the message's buffer, and that buffer never
//! gets more room than the size limit plus one byte: a message that would inflate
//! beyond the limit (a "zip bomb", a few KiB inflating to GiBs) fails as soon as
//! the limit is passed, having allocated at most the limit.

use flate2::{Decompress, FlushDecompress, Status};

/// The four bytes a sync flush ends with, stripped by the sender.
pub(crate) const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The least extra room given to the output at a time. The first room is a
/// guess from the compressed size (text typically inflates 3 to 10 times), then it
/// doubles with the message, so a large message costs few reallocations and a
/// small one does not hold a large buffer.
const MIN_ROOM: usize = 256;

/// The first guess of the inflated size, per compressed byte.
const EXPECTED_RATIO: usize = 4;

/// Why inflating failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The output passed the limit.
    TooBig,
    /// Not valid deflate data.
    Corrupt,
}

pub(crate) struct Inflater {
    inner: Decompress,
    /// The stream reached a block with BFINAL set: what follows starts a new one.
    ended: bool,
}

impl Inflater {
    pub(crate) fn new() -> Inflater {
        // A 15-bit window reads data compressed with any smaller window, so the
        // negotiated client_max_window_bits does not matter here.
        Inflater {
            inner: Decompress::new(false),
            ended: false,
        }
    }

    /// Inflates `input` (a piece of a message) onto `out`, which must stay at most
    /// `limit` bytes long.
    pub(crate) fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        loop {
            if input.is_empty() {
                return Ok(());
            }
            if self.ended {
                self.inner.reset(false);
                self.ended = false;
            }
            // Room for one byte beyond the limit, to tell "exactly the limit" from
            // "more"; reserve_exact keeps the capacity itself within that bound.
            let allowed = (limit + 1).saturating_sub(out.len());
            if allowed == 0 {
                return Err(InflateError::TooBig);
            }
            if out.capacity() == out.len() {
                let guess = out.len().max(input.len().saturating_mul(EXPECTED_RATIO));
                out.reserve_exact(guess.max(MIN_ROOM).min(allowed));
            }
            let room = out.capacity() - out.len();
            let (in_before, out_before) = (self.inner.total_in(), self.inner.total_out());
            let status = self
                .inner
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|_| InflateError::Corrupt)?;
            let consumed = (self.inner.total_in() - in_before) as usize;
            let produced = (self.inner.total_out() - out_before) as usize;
            input = &input[consumed..];
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match status {
                Status::StreamEnd => self.ended = true,
                // All input used and the output was not cut short: done. (With the
                // output full, the decompressor may still hold pending bytes.)
                _ if input.is_empty() && produced < room => return Ok(()),
                _ if consumed == 0 && produced == 0 => return Err(InflateError::Corrupt),
                _ => {}
            }
        }
    }

    /// Ends a message: inflates the stripped sync tail (unless the message ended
    /// its stream with a final block, where the tail has no place), then starts
    /// afresh if `reset` (no context takeover) or the stream ended.
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        reset: bool,
    ) -> Result<(), InflateError> {
        if !self.ended {
            self.inflate(&SYNC_TAIL, out, limit)?;
        }
        if reset || self.ended {
            self.inner.reset(false);
            self.ended = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut compress = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        compress
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&SYNC_TAIL));
        out.truncate(out.len() - 4);
        out
    }

    #[test]
    fn rfc7692_hello() {
        // RFC 7692 section 7.2.3.1.
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inflater.finish_message(&mut out, 100, false).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc7692_bfinal_block() {
        // RFC 7692 section 7.2.3.4: "Hello" in a block with BFINAL set; the
        // appended tail is not inflated, and the next message is a new stream.
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        inflater
            .inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inflater.finish_message(&mut out, 100, false).unwrap();
        assert_eq!(out, b"Hello");
        let mut out = Vec::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inflater.finish_message(&mut out, 100, false).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc7692_bfinal_block_with_its_extra_byte() {
        // RFC 7692 section 7.2.3.4 as given there: the final block, then 0x00 that
        // the appended tail completes into an empty stored block of a new stream.
        let mut inflater = Inflater::new();
        for _ in 0..2 {
            let mut out = Vec::new();
            inflater
                .inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], &mut out, 100)
                .unwrap();
            inflater.finish_message(&mut out, 100, false).unwrap();
            assert_eq!(out, b"Hello");
        }
        // After it, an ordinary message.
        let mut out = Vec::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inflater.finish_message(&mut out, 100, false).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn limit_is_exact() {
        let data = vec![b'a'; 1000];
        let compressed = deflate(&data);
        for (limit, ok) in [(1000, true), (999, false)] {
            let mut inflater = Inflater::new();
            let mut out = Vec::new();
            let result = inflater
                .inflate(&compressed, &mut out, limit)
                .and_then(|()| inflater.finish_message(&mut out, limit, false));
            assert_eq!(result.is_ok(), ok, "limit {limit}");
            if ok {
                assert_eq!(out, data);
            } else {
                assert_eq!(result, Err(InflateError::TooBig));
            }
        }
    }

    #[test]
    fn zip_bomb_fails_without_allocating_it() {
        // 16 MiB of zeros compress to about 16 KiB; the limit is 1 MiB.
        let compressed = deflate(&vec![0u8; 16 << 20]);
        assert!(compressed.len() < 64 << 10);
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        let limit = 1 << 20;
        assert_eq!(
            inflater.inflate(&compressed, &mut out, limit),
            Err(InflateError::TooBig)
        );
        assert!(out.capacity() <= limit + 1, "capacity {}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        // Block type 3 is reserved.
        assert_eq!(
            inflater.inflate(&[0xff, 0xff, 0xff], &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn large_output_in_one_piece() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let compressed = deflate(&data);
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        inflater.inflate(&compressed, &mut out, data.len()).unwrap();
        inflater.finish_message(&mut out, data.len(), false).unwrap();
        assert_eq!(out, data);
    }
}
