//! The frame layer of RFC 6455 (section 5.2): opcodes, the header and masking.
//!
//! ```text
//!  byte 0: FIN RSV1 RSV2 RSV3 opcode(4)
//!  byte 1: MASK len(7)            len 126: 16-bit length follows, 127: 64-bit
//!  then the extended length (0, 2 or 8 bytes, network order), then the 4-byte
//!  masking key when MASK is set, then the payload.
//! ```
//!
//! Header parsing only reads the fixed layout; the rules about which combinations
//! are allowed (masking, RSV bits, control frame sizes) live in the decoder.

/// The largest header: 2 fixed bytes, an 8-byte length and a 4-byte masking key.
pub(crate) const MAX_HEADER_LEN: usize = 14;

/// The largest control frame payload (RFC 6455 section 5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 section 5.2); the reserved values are refused when
/// parsing, so every value here is one the decoder can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    /// `None` for the reserved opcodes 0x3-0x7 and 0xB-0xF.
    pub(crate) fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub(crate) fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header, before the decoder's protocol checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    /// RSV2 or RSV3: no extension we support defines them.
    pub rsv23: bool,
    /// The raw 4-bit opcode (reserved values included; the decoder refuses them).
    pub opcode_bits: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// Why a header cannot be parsed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// A 64-bit length with its most significant bit set (RFC 6455 section 5.2).
    LengthHighBit,
}

/// How long a header is (2 to 14 bytes), from its second byte.
pub(crate) fn header_len(byte1: u8) -> usize {
    let extended = match byte1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if byte1 & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Parses a complete header: `bytes` holds at least `header_len` bytes.
/// Non-minimal length encodings are accepted, as RFC 6455 does not forbid them
/// for a receiver (only "the minimal number of bytes MUST be used" by a sender).
pub(crate) fn parse_header(bytes: &[u8]) -> Result<FrameHeader, HeaderError> {
    let (b0, b1) = (bytes[0], bytes[1]);
    let (payload_len, mut pos) = match b1 & 0x7F {
        126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 => {
            let mut len = [0; 8];
            len.copy_from_slice(&bytes[2..10]);
            let len = u64::from_be_bytes(len);
            if len >> 63 != 0 {
                return Err(HeaderError::LengthHighBit);
            }
            (len, 10)
        }
        short => (u64::from(short), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
        pos += 4;
        Some(key)
    } else {
        None
    };
    debug_assert_eq!(pos, header_len(b1));
    Ok(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv23: b0 & 0x30 != 0,
        opcode_bits: b0 & 0x0F,
        mask,
        payload_len,
    })
}

/// Appends an unmasked header (as a server sends) with the minimal length encoding.
pub(crate) fn write_header(out: &mut Vec<u8>, fin: bool, rsv1: bool, opcode: Opcode, len: usize) {
    let b0 = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.bits();
    match len {
        0..=125 => out.extend_from_slice(&[b0, len as u8]),
        126..=0xFFFF => {
            out.extend_from_slice(&[b0, 126]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.extend_from_slice(&[b0, 127]);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// XORs `bytes` with the masking `key` (RFC 6455 section 5.3), where `bytes[0]` is
/// the payload byte at `offset` (so a payload can be unmasked piece by piece).
/// Masking and unmasking are the same operation.
///
/// Eight bytes at a time: the key is rotated to `offset`, repeated into a `u64`, and
/// XORed into each 8-byte word (native order on both sides, so the byte positions
/// line up); the tail is done bytewise. This is several times faster than a
/// bytewise loop and needs no unsafe code.
pub fn apply_mask(bytes: &mut [u8], key: [u8; 4], offset: usize) {
    let mut rotated = [0u8; 8];
    for (i, byte) in rotated.iter_mut().enumerate() {
        *byte = key[(offset + i) % 4];
    }
    let word = u64::from_ne_bytes(rotated);
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut value = [0u8; 8];
        value.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(value) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_mask(bytes: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn mask_matches_the_bytewise_definition_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for offset in 0..8 {
            for len in 0..40 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                naive_mask(&mut slow, key, offset);
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn mask_in_pieces_equals_mask_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 section 5.7: a single-frame masked text message "Hello".
        let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let header = parse_header(&frame).unwrap();
        assert_eq!(header_len(frame[1]), 6);
        assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(header.payload_len, 5);
        let mut payload = frame[6..].to_vec();
        apply_mask(&mut payload, header.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn lengths_7_16_64_bits_and_non_minimal_forms() {
        let h = parse_header(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((h.payload_len, h.mask), (256, None));
        let h = parse_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(h.payload_len, 65536);
        // Non-minimal: 5 in 16 and 64 bits.
        assert_eq!(parse_header(&[0x82, 0x7E, 0, 5]).unwrap().payload_len, 5);
        assert_eq!(
            parse_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5])
                .unwrap()
                .payload_len,
            5
        );
        assert_eq!(
            parse_header(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(HeaderError::LengthHighBit)
        );
        assert_eq!(header_len(0xFF), 14);
        assert_eq!(header_len(0xFE), 8);
    }

    #[test]
    fn header_bits() {
        let h = parse_header(&[0x71, 0x00]).unwrap();
        assert!(!h.fin && h.rsv1 && h.rsv23);
        assert_eq!(h.opcode_bits, 1);
        let h = parse_header(&[0x89, 0x00]).unwrap();
        assert!(h.fin && !h.rsv1 && !h.rsv23);
        assert_eq!(Opcode::from_bits(h.opcode_bits), Some(Opcode::Ping));
        for reserved in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(Opcode::from_bits(reserved), None);
        }
    }

    #[test]
    fn write_header_uses_minimal_lengths() {
        let cases: [(usize, &[u8]); 5] = [
            (0, &[0x82, 0]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xFF, 0xFF]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, expected) in cases {
            let mut out = Vec::new();
            write_header(&mut out, true, false, Opcode::Binary, len);
            assert_eq!(out, expected, "len {len}");
        }
        let mut out = Vec::new();
        write_header(&mut out, true, true, Opcode::Text, 1);
        assert_eq!(out, [0xC1, 1]);
    }
}
