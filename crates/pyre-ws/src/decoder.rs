//! Client bytes in, events out.
//!
//! How it works: a two-state machine per frame, [`State::Header`] (collecting the
//! 2 to 14 header bytes) then [`State::Payload`] (unmasking the payload as it
//! arrives, 8 bytes at a time, straight into the message being assembled). A
//! header is checked against RFC 6455 the moment it is complete: masking, RSV
//! bits, opcode, control frame rules, fragmentation order and the size limit, so
//! a bad or oversized frame fails before any of its payload is read.
//!
//! Data frames append to one [`Message`] (its final `Vec`/`String`, so an
//! unfragmented message costs one allocation and one copy); with
//! permessage-deflate their payload is inflated into it instead, bounded by the
//! limit. Control frames, which may come between the fragments of a message, go
//! to their own small buffer. Text is checked as UTF-8 once complete, and while
//! incomplete each time a fragment ends or the input runs out, so invalid text
//! fails as soon as its bytes prove it.
//!
//! Close codes: 1002 protocol error, 1007 invalid text or close reason or
//! compressed data, 1009 message too big.

use crate::close_code;
use crate::frame::{self, apply_mask, FrameHeader, HeaderError, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::inflate::{InflateError, Inflater};
use crate::DeflateParams;

/// The default [`DecoderConfig::max_message`]: 16 MiB, as uvicorn and websockets.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Compressed payloads are unmasked through a stack buffer of this size on their
/// way to the decompressor, so they need no heap copy.
const UNMASK_CHUNK: usize = 4096;

/// What the decoder enforces.
#[derive(Debug, Clone, Copy)]
pub struct DecoderConfig {
    /// The largest message (after decompression), in bytes; beyond it the decoder
    /// fails with 1009. Also bounds a control frame to 125 bytes regardless.
    pub max_message: usize,
    /// Negotiated permessage-deflate, if any.
    pub deflate: Option<DeflateParams>,
}

impl Default for DecoderConfig {
    /// [`DEFAULT_MAX_MESSAGE`], no deflate.
    fn default() -> Self {
        DecoderConfig {
            max_message: DEFAULT_MAX_MESSAGE,
            deflate: None,
        }
    }
}

/// One thing the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text message (all fragments, decompressed, valid UTF-8).
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping with its payload (0 to 125 bytes), to be answered with a pong
    /// carrying the same payload.
    Ping(Vec<u8>),
    /// A pong with its payload (0 to 125 bytes).
    Pong(Vec<u8>),
    /// The client's close frame: `None` when it carried no code (1005 to report).
    Close(Option<(u16, String)>),
}

/// The client broke the protocol: close with `code` (1002, 1007 or 1009) and
/// `reason`, then drop the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to send: 1002, 1007 or 1009.
    pub code: u16,
    /// A short description, fit for the close frame's reason and the debug log.
    pub reason: &'static str,
}

impl ProtocolError {
    const fn protocol(reason: &'static str) -> ProtocolError {
        ProtocolError {
            code: close_code::PROTOCOL_ERROR,
            reason,
        }
    }
    const fn invalid(reason: &'static str) -> ProtocolError {
        ProtocolError {
            code: close_code::INVALID_PAYLOAD,
            reason,
        }
    }
    const TOO_BIG: ProtocolError = ProtocolError {
        code: close_code::MESSAGE_TOO_BIG,
        reason: "message too big",
    };
    const INVALID_UTF8: ProtocolError = ProtocolError::invalid("invalid UTF-8 in a text message");
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

/// A data message being assembled from its frames.
struct Message {
    kind: MessageKind,
    /// RSV1 was set on its first frame: its payload is deflate data.
    compressed: bool,
    /// The message so far (decompressed).
    data: Vec<u8>,
    /// Compressed payload bytes received so far (for the compressed size bound).
    compressed_len: u64,
    /// `data[..utf8_checked]` is known to be valid UTF-8 (text only).
    utf8_checked: usize,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct Payload {
    opcode: Opcode,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes read so far (the masking key's phase).
    read: usize,
    remaining: u64,
}

enum State {
    /// Collecting a header: `header[..header_len]` so far.
    Header,
    Payload(Payload),
    /// A Close event (`None`) or a protocol error was returned: nothing more.
    Done(Option<ProtocolError>),
}

/// Decodes a client's frames. Keeps partial frames and partial fragmented messages
/// between calls. After a `Close` event or an error it must not be fed again.
pub struct Decoder {
    config: DecoderConfig,
    state: State,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// The payload of the control frame being read.
    control: Vec<u8>,
    message: Option<Message>,
    /// Created with the first compressed message.
    inflater: Option<Inflater>,
}

impl Decoder {
    /// A decoder for one connection.
    pub fn new(config: DecoderConfig) -> Self {
        Decoder {
            config,
            state: State::Header,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            control: Vec::new(),
            message: None,
            inflater: None,
        }
    }

    /// Consumes a prefix of `input` and returns how many bytes it used, and the next
    /// event if one completed. Call again with the rest while it returns an event;
    /// `(n, None)` means every byte of `input` up to `n` is buffered or used and more
    /// input is needed (it may consume all of `input` into its own buffers).
    /// Invalid UTF-8 in a text message fails as soon as the bytes prove it (also in
    /// the middle of a fragmented message), not only at its end.
    ///
    /// In this implementation `(n, None)` always has `n == input.len()`. After a
    /// `Close` event it returns `Ok((0, None))`, after an error the same error.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        match self.step(input) {
            Ok(result) => Ok(result),
            Err(error) => {
                self.state = State::Done(Some(error));
                self.message = None;
                Err(error)
            }
        }
    }

    /// Bytes held in the decoder's buffers (a partial message): counted against the
    /// connection's read high-water mark.
    pub fn buffered(&self) -> usize {
        self.header_len + self.control.len() + self.message.as_ref().map_or(0, |m| m.data.len())
    }

    fn step(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done(None) => return Ok((0, None)),
                State::Done(Some(error)) => return Err(error),
                State::Header => {
                    pos += self.fill_header(&input[pos..]);
                    let Some(header) = self.take_header()? else {
                        self.check_partial_text()?;
                        return Ok((pos, None));
                    };
                    self.start_frame(header, input.len() - pos)?;
                }
                State::Payload(payload) => {
                    let available = input.len() - pos;
                    let take = usize::try_from(payload.remaining).map_or(available, |r| r.min(available));
                    self.read_payload(payload, &input[pos..pos + take])?;
                    pos += take;
                    let remaining = payload.remaining - take as u64;
                    let read = payload.read + take;
                    if remaining > 0 {
                        self.state = State::Payload(Payload {
                            read,
                            remaining,
                            ..payload
                        });
                        self.check_partial_text()?;
                        return Ok((pos, None));
                    }
                    self.state = State::Header;
                    if let Some(event) = self.end_frame(payload)? {
                        return Ok((pos, Some(event)));
                    }
                }
            }
        }
    }

    /// How many header bytes the current header has: 2 until its second byte
    /// is known, then its full length.
    fn header_wanted(&self) -> usize {
        if self.header_len < 2 {
            2
        } else {
            frame::header_len(self.header[1])
        }
    }

    /// Copies header bytes from `input` until the header is complete (or `input`
    /// ends); returns how many it took.
    fn fill_header(&mut self, input: &[u8]) -> usize {
        let mut taken = 0;
        loop {
            let want = self.header_wanted();
            if self.header_len >= want || taken == input.len() {
                return taken;
            }
            let n = (want - self.header_len).min(input.len() - taken);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&input[taken..taken + n]);
            self.header_len += n;
            taken += n;
        }
    }

    /// The parsed header once all of it is in, resetting the header buffer.
    fn take_header(&mut self) -> Result<Option<FrameHeader>, ProtocolError> {
        if self.header_len < self.header_wanted() {
            return Ok(None);
        }
        self.header_len = 0;
        match frame::parse_header(&self.header) {
            Ok(header) => Ok(Some(header)),
            Err(HeaderError::LengthHighBit) => Err(ProtocolError::protocol(
                "64-bit payload length with the high bit set",
            )),
        }
    }

    /// Applies RFC 6455's rules to a new frame's header and gets ready for its
    /// payload. `available` is how much input is at hand (for sizing buffers).
    fn start_frame(&mut self, header: FrameHeader, available: usize) -> Result<(), ProtocolError> {
        if header.rsv23 {
            return Err(ProtocolError::protocol("reserved bits RSV2/RSV3 set"));
        }
        let opcode =
            Opcode::from_bits(header.opcode_bits).ok_or(ProtocolError::protocol("reserved opcode"))?;
        let mask = header
            .mask
            .ok_or(ProtocolError::protocol("client frame not masked"))?;
        let len = header.payload_len;
        if opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::protocol("fragmented control frame"));
            }
            if header.rsv1 {
                return Err(ProtocolError::protocol("RSV1 set on a control frame"));
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::protocol("control frame payload over 125 bytes"));
            }
            self.control.clear();
        } else {
            self.start_data_frame(opcode, header.rsv1, len, available)?;
        }
        let payload = Payload {
            opcode,
            fin: header.fin,
            mask,
            read: 0,
            remaining: len,
        };
        self.state = State::Payload(payload);
        Ok(())
    }

    fn start_data_frame(
        &mut self,
        opcode: Opcode,
        rsv1: bool,
        len: u64,
        available: usize,
    ) -> Result<(), ProtocolError> {
        let max = self.config.max_message as u64;
        match (&mut self.message, opcode) {
            (None, Opcode::Continuation) => Err(ProtocolError::protocol(
                "continuation frame without a message to continue",
            )),
            (Some(_), Opcode::Text | Opcode::Binary) => Err(ProtocolError::protocol(
                "new data frame before the fragmented message ended",
            )),
            (Some(message), _) => {
                if rsv1 {
                    return Err(ProtocolError::protocol("RSV1 set on a continuation frame"));
                }
                message.check_frame_size(len, max)
            }
            (None, _) => {
                if rsv1 && self.config.deflate.is_none() {
                    return Err(ProtocolError::protocol("RSV1 set without permessage-deflate"));
                }
                let kind = if opcode == Opcode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let mut message = Message {
                    kind,
                    compressed: rsv1,
                    data: Vec::new(),
                    compressed_len: 0,
                    utf8_checked: 0,
                };
                message.check_frame_size(len, max)?;
                if !rsv1 {
                    // The whole frame when it is at hand: one allocation for the
                    // common unfragmented message. Never more than has arrived, so
                    // a header announcing a large frame reserves nothing up front.
                    message.data.reserve_exact(len.min(available as u64) as usize);
                }
                self.message = Some(message);
                Ok(())
            }
        }
    }

    /// Unmasks `bytes` (the next piece of the current payload) into its destination.
    fn read_payload(&mut self, payload: Payload, bytes: &[u8]) -> Result<(), ProtocolError> {
        if payload.opcode.is_control() {
            let start = self.control.len();
            self.control.extend_from_slice(bytes);
            apply_mask(&mut self.control[start..], payload.mask, payload.read);
            return Ok(());
        }
        let message = self.message.as_mut().expect("a data frame belongs to a message");
        if !message.compressed {
            let start = message.data.len();
            message.data.extend_from_slice(bytes);
            apply_mask(&mut message.data[start..], payload.mask, payload.read);
            return Ok(());
        }
        message.compressed_len += bytes.len() as u64;
        let inflater = self.inflater.get_or_insert_with(Inflater::new);
        let mut buffer = [0u8; UNMASK_CHUNK];
        let mut offset = payload.read;
        for piece in bytes.chunks(UNMASK_CHUNK) {
            let unmasked = &mut buffer[..piece.len()];
            unmasked.copy_from_slice(piece);
            apply_mask(unmasked, payload.mask, offset);
            offset += piece.len();
            inflater
                .inflate(unmasked, &mut message.data, self.config.max_message)
                .map_err(inflate_error)?;
        }
        Ok(())
    }

    /// A frame's payload is complete: the event it finishes, if any.
    fn end_frame(&mut self, payload: Payload) -> Result<Option<Event>, ProtocolError> {
        match payload.opcode {
            Opcode::Ping => Ok(Some(Event::Ping(std::mem::take(&mut self.control)))),
            Opcode::Pong => Ok(Some(Event::Pong(std::mem::take(&mut self.control)))),
            Opcode::Close => {
                let close = parse_close(&self.control)?;
                // Nothing more is read: free the buffers.
                self.control = Vec::new();
                self.message = None;
                self.state = State::Done(None);
                Ok(Some(Event::Close(close)))
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation if !payload.fin => {
                self.check_partial_text()?;
                Ok(None)
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => self.end_message().map(Some),
        }
    }

    fn end_message(&mut self) -> Result<Event, ProtocolError> {
        let mut message = self.message.take().expect("a data frame belongs to a message");
        if message.compressed {
            let reset = self.config.deflate.is_some_and(|d| d.client_no_context_takeover);
            let inflater = self.inflater.get_or_insert_with(Inflater::new);
            inflater
                .finish_message(&mut message.data, self.config.max_message, reset)
                .map_err(inflate_error)?;
        }
        match message.kind {
            MessageKind::Binary => Ok(Event::Binary(message.data)),
            MessageKind::Text => String::from_utf8(message.data)
                .map(Event::Text)
                .map_err(|_| ProtocolError::INVALID_UTF8),
        }
    }

    /// Fails when the text assembled so far can no longer become valid UTF-8 (a
    /// sequence cut short at the end is fine: its next bytes are still to come).
    fn check_partial_text(&mut self) -> Result<(), ProtocolError> {
        let Some(message) = self.message.as_mut().filter(|m| m.kind == MessageKind::Text) else {
            return Ok(());
        };
        match std::str::from_utf8(&message.data[message.utf8_checked..]) {
            Ok(_) => message.utf8_checked = message.data.len(),
            Err(error) if error.error_len().is_none() => message.utf8_checked += error.valid_up_to(),
            Err(_) => return Err(ProtocolError::INVALID_UTF8),
        }
        Ok(())
    }
}

impl Message {
    /// Fails with 1009 when a frame of `len` bytes would take the message past
    /// `max`: at once, from the header. For a compressed message the bound is on
    /// the compressed bytes, with slack for deflate's overhead on incompressible
    /// data; the decompressed size is checked as it is produced.
    fn check_frame_size(&self, len: u64, max: u64) -> Result<(), ProtocolError> {
        let (so_far, bound) = if self.compressed {
            (
                self.compressed_len,
                max.saturating_add(max / 256).saturating_add(1024),
            )
        } else {
            (self.data.len() as u64, max)
        };
        if so_far.saturating_add(len) > bound {
            return Err(ProtocolError::TOO_BIG);
        }
        Ok(())
    }
}

fn inflate_error(error: InflateError) -> ProtocolError {
    match error {
        InflateError::TooBig => ProtocolError::TOO_BIG,
        InflateError::Corrupt => ProtocolError::invalid("invalid permessage-deflate data"),
    }
}

/// A close frame's payload: empty, or a valid code and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::protocol("close frame payload of 1 byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !close_code::is_valid(code) {
                return Err(ProtocolError::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| ProtocolError::invalid("invalid UTF-8 in the close reason"))?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}
