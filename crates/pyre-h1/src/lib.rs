//! # pyre-h1: Pyre's sans-IO HTTP/1.1 codec
//!
//! Bytes in, heads and body events out; heads and chunks in, bytes out. No sockets,
//! no Python, no allocation per header: parsed heads hold [`Span`]s into the caller's
//! buffer.
//!
//! - Server side: [`parse_request`] gives a [`RequestHead`] that has already decided
//!   framing, persistence, `Expect: 100-continue`, upgrade and Host, and refuses
//!   request smuggling; [`BodyDecoder`] reads the body that follows;
//!   [`encode_response_head`] and the chunk encoders write the answer.
//! - Client side: [`encode_request`], [`parse_response`], and the same [`BodyDecoder`]
//!   (with close-delimited bodies).
//! - Every error knows its HTTP status ([`ParseError::status`]); every limit is in
//!   [`Limits`].
//!
//! ```
//! use pyre_h1::{parse_request, BodyDecoder, BodyEvent, Framing, Limits};
//!
//! let buf = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
//! let limits = Limits::default();
//! let head = parse_request(buf, &limits).unwrap().expect("complete head");
//! assert_eq!(head.target.get(buf), b"/upload");
//! assert_eq!(head.framing, Framing::Length(5));
//!
//! let mut body = BodyDecoder::new(head.framing, &limits);
//! let rest = &buf[head.head_len..];
//! let (consumed, event) = body.decode(rest).unwrap();
//! assert_eq!(event, BodyEvent::Data(0..5));
//! assert_eq!(consumed, 5);
//! assert!(body.is_done());
//! ```

mod body;
mod chunked;
mod client;
mod date;
mod encode;
mod error;
mod fields;
mod limits;
mod request;
mod response;
mod status;
mod target;

pub use body::{BodyDecoder, Framing};
pub use chunked::{BodyEvent, ChunkedDecoder, Trailer};
pub use client::{encode_request, parse_response, RequestBody, ResponseHead};
pub use date::{DateCache, DATE_LEN};
pub use encode::{check_field, encode_chunk, encode_chunk_header, encode_last_chunk, CHUNK_END};
pub use error::{EncodeError, ParseError, StatusHint};
pub use fields::{is_token, list_elements, parse_content_length, HeaderField, Span};
pub use limits::*;
pub use request::{parse_request, Method, RequestHead, TargetForm, Version};
pub use response::{encode_response_head, EncodedHead, ResponseContext};
pub use status::reason_phrase;
pub use target::{decode_path, split_target, target_authority};
