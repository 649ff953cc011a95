//! Property tests for the pyre-h1 codec.
//!
//! 1. Any split of valid (pipelined) requests parses exactly like the whole input,
//!    and like the model the bytes were built from.
//! 2. Any split of a chunked body, valid or corrupted, gives the same data and the
//!    same verdict as the whole body.
//! 3. What the encoders write, the parsers read back (requests and responses), with
//!    the response framing rules of `src/response.rs`.
//! 4. The encoders refuse CR, LF and NUL in header values and write nothing then.
//!
//! Generators only build valid messages; the parser trims OWS, so generated values
//! never start or end with whitespace.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestCaseError;
use pyre_h1::{
    encode_chunk, encode_last_chunk, encode_request, encode_response_head, parse_request, parse_response,
    BodyDecoder, BodyEvent, ChunkedDecoder, EncodeError, Framing, Limits, Method, ParseError, RequestBody,
    ResponseContext, Trailer, Version,
};

type Field = (Vec<u8>, Vec<u8>);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Do not write regression files next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------

const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// RFC 3986 pchar without `%` (no percent-encoding to get wrong).
const PCHAR: &[u8] = b"ABCXYZabcxyz0189-._~!$&'()*+,;=:@";
/// RFC 3986 reg-name bytes (unreserved and sub-delims).
const HOST_CHAR: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=";

/// Names whose fields decide framing or persistence; random fields avoid them.
const SPECIAL: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
];

fn is_special(name: &[u8]) -> bool {
    SPECIAL.iter().any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

fn token(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(TCHAR), len)
}

fn field_name() -> impl Strategy<Value = Vec<u8>> {
    token(1..13).prop_filter("framing field name", |n| !is_special(n))
}

/// A field value: visible ASCII with interior SP/HTAB, no leading/trailing OWS.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t')];
    prop::collection::vec(byte, 0..24).prop_map(|v| {
        let start = v.iter().position(|&b| b > b' ').unwrap_or(v.len());
        let end = v.iter().rposition(|&b| b > b' ').map_or(start, |i| i + 1);
        v[start..end].to_vec()
    })
}

fn field() -> impl Strategy<Value = Field> {
    (field_name(), field_value())
}

fn method() -> impl Strategy<Value = Vec<u8>> {
    let named = select(
        &[
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
        ][..],
    )
    .prop_map(|m| m.as_bytes().to_vec());
    prop_oneof![
        3 => named,
        1 => token(1..10).prop_filter("CONNECT needs authority-form", |m| m != b"CONNECT"),
    ]
}

fn origin_target() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop::collection::vec(select(PCHAR), 0..8);
    let query_byte = prop_oneof![9 => select(PCHAR), 1 => Just(b'/'), 1 => Just(b'?')];
    (
        prop::collection::vec(segment, 1..4),
        prop::option::of(prop::collection::vec(query_byte, 0..16)),
    )
        .prop_map(|(segments, query)| {
            let mut t = Vec::new();
            for s in segments {
                t.push(b'/');
                t.extend(s);
            }
            if let Some(q) = query {
                t.push(b'?');
                t.extend(q);
            }
            t
        })
}

fn host() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(select(HOST_CHAR), 1..20),
        prop::option::of(0u16..=65535),
    )
        .prop_map(|(mut h, port)| {
            if let Some(p) = port {
                h.extend(format!(":{p}").into_bytes());
            }
            h
        })
}

/// A name in a random letter case.
fn cased(name: &'static str) -> impl Strategy<Value = Vec<u8>> {
    select(&[0u8, 1, 2][..]).prop_map(move |c| match c {
        0 => name.to_ascii_lowercase().into_bytes(),
        1 => name.to_ascii_uppercase().into_bytes(),
        _ => name.as_bytes().to_vec(),
    })
}

/// One chunk extension: `;name`, `;name=token` or `;name="quoted"`.
fn chunk_ext_item() -> impl Strategy<Value = Vec<u8>> {
    let qdtext = prop_oneof![
        Just(b' '),
        Just(b'\t'),
        Just(0x21u8),
        0x23u8..=0x5b,
        0x5du8..=0x7e,
        0x80u8..=0xff,
    ]
    .prop_map(|b| vec![b]);
    // `"` and `\` are the bytes a quoted-pair exists for: weight them up.
    let quoted_pair = prop_oneof![
        Just(b'"'),
        Just(b'\\'),
        Just(b'\t'),
        Just(b' '),
        0x21u8..=0x7e,
        0x80u8..=0xff,
    ]
    .prop_map(|b| vec![b'\\', b]);
    let quoted = prop::collection::vec(prop_oneof![4 => qdtext, 1 => quoted_pair], 0..8).prop_map(|parts| {
        let mut q = vec![b'"'];
        q.extend(parts.concat());
        q.push(b'"');
        q
    });
    let value = prop_oneof![Just(None), token(1..8).prop_map(Some), quoted.prop_map(Some)];
    (token(1..8), value).prop_map(|(name, value)| {
        let mut e = vec![b';'];
        e.extend(name);
        if let Some(v) = value {
            e.push(b'=');
            e.extend(v);
        }
        e
    })
}

fn chunk_ext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::collection::vec(chunk_ext_item(), 1..4).prop_map(|v| v.concat()),
    ]
}

#[derive(Debug, Clone)]
struct Chunk {
    data: Vec<u8>,
    leading_zeros: usize,
    upper: bool,
    ext: Vec<u8>,
}

/// A chunked body as sent on the wire, with everything RFC 9112 section 7.1 allows.
#[derive(Debug, Clone)]
struct ChunkedBody {
    chunks: Vec<Chunk>,
    last_zeros: usize,
    last_ext: Vec<u8>,
    trailers: Vec<Field>,
}

impl ChunkedBody {
    fn data(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.data.clone()).collect()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for c in &self.chunks {
            out.extend(std::iter::repeat(b'0').take(c.leading_zeros));
            let size = if c.upper {
                format!("{:X}", c.data.len())
            } else {
                format!("{:x}", c.data.len())
            };
            out.extend(size.into_bytes());
            out.extend(&c.ext);
            out.extend(b"\r\n");
            out.extend(&c.data);
            out.extend(b"\r\n");
        }
        out.extend(std::iter::repeat(b'0').take(self.last_zeros + 1));
        out.extend(&self.last_ext);
        out.extend(b"\r\n");
        for (n, v) in &self.trailers {
            out.extend(n);
            out.extend(b": ");
            out.extend(v);
            out.extend(b"\r\n");
        }
        out.extend(b"\r\n");
    }
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..48),
        1 => prop::collection::vec(any::<u8>(), 0..600),
    ]
}

fn chunk() -> impl Strategy<Value = Chunk> {
    let data = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 1..32),
        1 => prop::collection::vec(any::<u8>(), 1..600),
    ];
    (data, 0usize..3, any::<bool>(), chunk_ext()).prop_map(|(data, leading_zeros, upper, ext)| Chunk {
        data,
        leading_zeros,
        upper,
        ext,
    })
}

fn trailer() -> impl Strategy<Value = Field> {
    (token(1..13), field_value())
}

fn chunked_body() -> impl Strategy<Value = ChunkedBody> {
    (
        prop::collection::vec(chunk(), 0..6),
        0usize..3,
        chunk_ext(),
        prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(trailer(), 1..4)],
    )
        .prop_map(|(chunks, last_zeros, last_ext, trailers)| ChunkedBody {
            chunks,
            last_zeros,
            last_ext,
            trailers,
        })
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked(ChunkedBody),
}

/// A valid request as a model; `headers` is every field line, in wire order.
#[derive(Debug, Clone)]
struct Request {
    leading_crlf: bool,
    method: Vec<u8>,
    target: Vec<u8>,
    version: Version,
    headers: Vec<Field>,
    body: Body,
}

/// What a server makes of one request: the head's fields (owned), body, trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    method: Method,
    method_bytes: Vec<u8>,
    target: Vec<u8>,
    version: Version,
    headers: Vec<Field>,
    framing: Framing,
    keep_alive: bool,
    head_len: usize,
    body: Vec<u8>,
    trailers: Vec<Trailer>,
}

impl Request {
    /// The wire bytes and the head's length.
    fn encode(&self) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        if self.leading_crlf {
            out.extend(b"\r\n");
        }
        out.extend(&self.method);
        out.push(b' ');
        out.extend(&self.target);
        out.extend(match self.version {
            Version::Http10 => &b" HTTP/1.0\r\n"[..],
            Version::Http11 => &b" HTTP/1.1\r\n"[..],
        });
        for (n, v) in &self.headers {
            out.extend(n);
            out.extend(b": ");
            out.extend(v);
            out.extend(b"\r\n");
        }
        out.extend(b"\r\n");
        let head_len = out.len();
        match &self.body {
            Body::None => {}
            Body::Length(data) => out.extend(data),
            Body::Chunked(c) => c.encode(&mut out),
        }
        (out, head_len)
    }

    fn expected(&self) -> Message {
        let mut close = false;
        let mut keep = false;
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case(b"connection") {
                for t in v.split(|&b| b == b',') {
                    let t = String::from_utf8_lossy(t).trim().to_ascii_lowercase();
                    close |= t == "close";
                    keep |= t == "keep-alive";
                }
            }
        }
        let (framing, body, trailers) = match &self.body {
            Body::None => (Framing::Empty, Vec::new(), Vec::new()),
            Body::Length(d) if d.is_empty() => (Framing::Empty, Vec::new(), Vec::new()),
            Body::Length(d) => (Framing::Length(d.len() as u64), d.clone(), Vec::new()),
            Body::Chunked(c) => (Framing::Chunked, c.data(), c.trailers.clone()),
        };
        Message {
            method: Method::from_bytes(&self.method),
            method_bytes: self.method.clone(),
            target: self.target.clone(),
            version: self.version,
            headers: self.headers.clone(),
            framing,
            keep_alive: match self.version {
                Version::Http11 => !close,
                Version::Http10 => keep && !close,
            },
            head_len: self.encode().1,
            body,
            trailers,
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    // Zero to two Connection fields: persistence depends on all of them.
    let connection = prop::collection::vec(
        (
            cased("Connection"),
            select(
                &[
                    "close",
                    "keep-alive",
                    "Keep-Alive",
                    "upgrade",
                    "keep-alive, close",
                    "x",
                ][..],
            ),
        )
            .prop_map(|(n, v)| (n, v.as_bytes().to_vec())),
        0..=2,
    );
    let body = prop_oneof![
        Just(Body::None),
        body_bytes().prop_map(Body::Length),
        chunked_body().prop_map(Body::Chunked),
    ];
    (
        prop::bool::weighted(0.1),
        method(),
        origin_target(),
        prop_oneof![Just(Version::Http10), Just(Version::Http11)],
        (cased("Host"), host()),
        prop::collection::vec(field(), 0..=15),
        connection,
        body,
        (
            cased("Content-Length"),
            cased("Transfer-Encoding"),
            cased("chunked"),
        ),
        (any::<Index>(), any::<Index>(), any::<Index>()),
    )
        .prop_map(
            |(leading_crlf, method, target, version, host, mut headers, connection, body, names, at)| {
                let (cl_name, te_name, chunked) = names;
                // HTTP/1.0 has no chunked coding: send the same data with a length.
                let body = match body {
                    Body::Chunked(c) if version == Version::Http10 => Body::Length(c.data()),
                    b => b,
                };
                headers.insert(at.0.index(headers.len() + 1), host);
                for c in connection {
                    headers.insert(at.1.index(headers.len() + 1), c);
                }
                let framing_field = match &body {
                    Body::None => None,
                    Body::Length(d) => Some((cl_name, d.len().to_string().into_bytes())),
                    Body::Chunked(_) => Some((te_name, chunked)),
                };
                if let Some(f) = framing_field {
                    headers.insert(at.2.index(headers.len() + 1), f);
                }
                Request {
                    leading_crlf,
                    method,
                    target,
                    version,
                    headers,
                    body,
                }
            },
        )
}

/// Where to cut the input: every byte, or at proptest-chosen points.
#[derive(Debug, Clone)]
enum Cuts {
    Bytewise,
    At(Vec<Index>),
}

fn cuts() -> impl Strategy<Value = Cuts> {
    prop_oneof![
        1 => Just(Cuts::Bytewise),
        4 => prop::collection::vec(any::<Index>(), 0..24).prop_map(Cuts::At),
    ]
}

fn split<'a>(input: &'a [u8], cuts: &Cuts) -> Vec<&'a [u8]> {
    match cuts {
        Cuts::Bytewise => input.chunks(1).collect(),
        Cuts::At(points) => {
            let mut at: Vec<usize> = points.iter().map(|i| i.index(input.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for p in at {
                pieces.push(&input[start..p]);
                start = p;
            }
            pieces.push(&input[start..]);
            pieces
        }
    }
}

// ---------------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------------

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn owned_fields(headers: &[pyre_h1::HeaderField], buf: &[u8]) -> Vec<Field> {
    headers
        .iter()
        .map(|h| (h.name.get(buf).to_vec(), h.value.get(buf).to_vec()))
        .collect()
}

/// A server's read loop: a growing buffer fed `pieces`, heads parsed with
/// `parse_request`, bodies with `BodyDecoder`, consumed bytes removed.
fn serve(pieces: &[&[u8]], limits: &Limits) -> Result<Vec<Message>, TestCaseError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut done = Vec::new();
    let mut current: Option<(Message, BodyDecoder)> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match current.take() {
                None => match parse_request(&buf, limits) {
                    Ok(None) => break,
                    Ok(Some(head)) => {
                        let msg = Message {
                            method: head.method,
                            method_bytes: head.method_span.get(&buf).to_vec(),
                            target: head.target.get(&buf).to_vec(),
                            version: head.version,
                            headers: owned_fields(&head.headers, &buf),
                            framing: head.framing,
                            keep_alive: head.keep_alive,
                            head_len: head.head_len,
                            body: Vec::new(),
                            trailers: Vec::new(),
                        };
                        current = Some((msg, BodyDecoder::new(head.framing, limits)));
                        buf.drain(..head.head_len);
                    }
                    Err(e) => {
                        return Err(TestCaseError::fail(format!(
                            "parse_request: {e:?} on {:?}",
                            show(&buf)
                        )))
                    }
                },
                Some((mut msg, mut decoder)) => {
                    let (consumed, event) = decoder
                        .decode(&buf)
                        .map_err(|e| TestCaseError::fail(format!("body: {e:?} on {:?}", show(&buf))))?;
                    prop_assert!(consumed <= buf.len());
                    match event {
                        BodyEvent::Data(r) => {
                            prop_assert!(!r.is_empty() && r.end <= consumed);
                            msg.body.extend_from_slice(&buf[r]);
                            buf.drain(..consumed);
                            current = Some((msg, decoder));
                        }
                        BodyEvent::NeedMore => {
                            prop_assert_eq!(consumed, buf.len());
                            buf.clear();
                            current = Some((msg, decoder));
                            break;
                        }
                        BodyEvent::End => {
                            prop_assert!(decoder.is_done());
                            msg.trailers = decoder.take_trailers();
                            buf.drain(..consumed);
                            done.push(msg);
                        }
                    }
                }
            }
        }
    }
    prop_assert!(current.is_none(), "input ended inside a message");
    prop_assert!(buf.is_empty(), "bytes left over: {:?}", show(&buf));
    Ok(done)
}

/// Every strict prefix of a head is "need more": never a head, never an error.
fn check_head_prefixes(request: &[u8], head_len: usize) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    for k in 0..head_len {
        let got = parse_request(&request[..k], &limits);
        prop_assert!(
            matches!(got, Ok(None)),
            "prefix {:?} of a head gave {:?}",
            show(&request[..k]),
            got
        );
    }
    Ok(())
}

/// The two body decoders a chunked body can be read with.
trait Decode {
    fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError>;
    fn trailers(&mut self) -> Vec<Trailer>;
}

impl Decode for ChunkedDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError> {
        ChunkedDecoder::decode(self, input)
    }
    fn trailers(&mut self) -> Vec<Trailer> {
        self.take_trailers()
    }
}

impl<D: Decode> Decode for &mut D {
    fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError> {
        (**self).decode(input)
    }
    fn trailers(&mut self) -> Vec<Trailer> {
        (**self).trailers()
    }
}

impl Decode for BodyDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<(usize, BodyEvent), ParseError> {
        BodyDecoder::decode(self, input)
    }
    fn trailers(&mut self) -> Vec<Trailer> {
        self.take_trailers()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// The body ended after `at` bytes of input.
    End {
        at: usize,
        trailers: Vec<Trailer>,
    },
    Error(ParseError),
    /// All input consumed, body not finished.
    NeedMore,
}

/// Feeds `pieces` to `decoder` through a buffer; returns the data and the verdict.
fn decode_pieces(mut decoder: impl Decode, pieces: &[&[u8]]) -> Result<(Vec<u8>, Verdict), TestCaseError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0;
    let mut data = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (consumed, event) = match decoder.decode(&buf) {
                Ok(r) => r,
                Err(e) => return Ok((data, Verdict::Error(e))),
            };
            prop_assert!(consumed <= buf.len());
            if let BodyEvent::Data(r) = &event {
                prop_assert!(!r.is_empty() && r.end <= consumed);
                data.extend_from_slice(&buf[r.clone()]);
            }
            buf.drain(..consumed);
            base += consumed;
            match event {
                BodyEvent::Data(_) => {}
                BodyEvent::NeedMore => {
                    prop_assert!(buf.is_empty());
                    break;
                }
                BodyEvent::End => {
                    let trailers = decoder.trailers();
                    return Ok((data, Verdict::End { at: base, trailers }));
                }
            }
        }
    }
    Ok((data, Verdict::NeedMore))
}

// ---------------------------------------------------------------------------------
// 1. Any split of valid requests parses the same
// ---------------------------------------------------------------------------------

/// Serves `requests` concatenated, whole and split at `cuts`; both must give the
/// model's messages.
fn check_requests(requests: &[Request], cuts: &Cuts) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let mut input = Vec::new();
    for r in requests {
        let (bytes, head_len) = r.encode();
        check_head_prefixes(&bytes, head_len)?;
        input.extend(bytes);
    }
    let whole = serve(&[&input], &limits)?;
    let expected: Vec<Message> = requests.iter().map(Request::expected).collect();
    prop_assert_eq!(&whole, &expected, "whole input: {:?}", show(&input));
    let pieces = split(&input, cuts);
    let parts = serve(&pieces, &limits)?;
    prop_assert_eq!(&parts, &whole, "pieces: {:?}", pieces);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_split_of_a_request_parses_the_same(r in request(), cuts in cuts()) {
        check_requests(&[r], &cuts)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_split_of_pipelined_requests_parses_the_same(
        rs in prop::collection::vec(request(), 2..=3),
        cuts in cuts(),
    ) {
        check_requests(&rs, &cuts)?;
    }
}

// ---------------------------------------------------------------------------------
// 2. Any split of a chunked body decodes the same, valid or not
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![select(&b"\r\n;=\" \t\\0aFg:-"[..]), any::<u8>()];
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
    ]
}

fn mutate(input: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip(ref i, x) if !input.is_empty() => {
            let at = i.index(input.len());
            input[at] ^= x;
        }
        Mutation::Insert(ref i, b) => input.insert(i.index(input.len() + 1), b),
        Mutation::Delete(ref i) if !input.is_empty() => {
            input.remove(i.index(input.len()));
        }
        _ => {}
    }
}

/// Default limits, or small ones so that the limit errors are reached too.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1usize..48, 2usize..96, prop::option::of(0u64..700)).prop_map(|(ext, trailers, body)| {
            Limits {
                max_chunk_ext_bytes: ext,
                max_trailer_bytes: trailers,
                max_body_bytes: body,
                ..Limits::default()
            }
        }),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_split_of_a_chunked_body_decodes_the_same(
        body in chunked_body(),
        next in prop::collection::vec(any::<u8>(), 0..8),
        cuts in cuts(),
    ) {
        let limits = Limits::default();
        let mut input = Vec::new();
        body.encode(&mut input);
        let end = input.len();
        input.extend(&next);
        let whole = decode_pieces(ChunkedDecoder::new(&limits), &[&input])?;
        let expected = (body.data(), Verdict::End { at: end, trailers: body.trailers.clone() });
        prop_assert_eq!(&whole, &expected, "input: {:?}", show(&input));
        let pieces = split(&input, &cuts);
        let parts = decode_pieces(ChunkedDecoder::new(&limits), &pieces)?;
        prop_assert_eq!(&parts, &whole, "pieces: {:?}", pieces);
        let parts = decode_pieces(BodyDecoder::new(Framing::Chunked, &limits), &pieces)?;
        prop_assert_eq!(&parts, &whole, "pieces: {:?}", pieces);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_split_of_a_corrupted_chunked_body_fails_the_same(
        body in chunked_body(),
        mutations in prop::collection::vec(mutation(), 0..=3),
        limits in limits(),
        cuts in cuts(),
    ) {
        let mut input = Vec::new();
        body.encode(&mut input);
        for m in &mutations {
            mutate(&mut input, m);
        }
        let whole = decode_pieces(ChunkedDecoder::new(&limits), &[&input])?;
        let pieces = split(&input, &cuts);
        let parts = decode_pieces(ChunkedDecoder::new(&limits), &pieces)?;
        prop_assert_eq!(&parts, &whole, "input: {:?}, pieces: {:?}", show(&input), pieces);
        let parts = decode_pieces(BodyDecoder::new(Framing::Chunked, &limits), &pieces)?;
        prop_assert_eq!(&parts, &whole, "input: {:?}, pieces: {:?}", show(&input), pieces);
    }
}

// ---------------------------------------------------------------------------------
// 3. Encode, then parse: the same message comes back
// ---------------------------------------------------------------------------------

fn values_of(headers: &[Field], name: &str) -> Vec<Vec<u8>> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.clone())
        .collect()
}

fn without(headers: &[Field], names: &[&str]) -> Vec<Field> {
    headers
        .iter()
        .filter(|(n, _)| !names.iter().any(|x| n.eq_ignore_ascii_case(x.as_bytes())))
        .cloned()
        .collect()
}

/// Writes `body` as chunks cut at `cuts` (empty pieces included: they write
/// nothing), then the last chunk with `trailers`.
fn write_chunked(out: &mut Vec<u8>, body: &[u8], cuts: &[Index], trailers: &[Field]) {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
    at.sort_unstable();
    let mut start = 0;
    for p in at {
        encode_chunk(out, &body[start..p]);
        start = p;
    }
    encode_chunk(out, &body[start..]);
    encode_last_chunk(out, trailers.iter().map(|(n, v)| (n, v))).expect("valid trailers");
}

#[derive(Debug, Clone)]
enum SendBody {
    None,
    /// `RequestBody::Length`, with or without the application's own Content-Length.
    Length {
        declare: bool,
    },
    /// `RequestBody::Stream`: chunked.
    Stream {
        cuts: Vec<Index>,
        trailers: Vec<Field>,
    },
    /// `RequestBody::Stream` with a Content-Length field: sent with that length.
    StreamDeclared,
}

fn send_body() -> impl Strategy<Value = SendBody> {
    prop_oneof![
        Just(SendBody::None),
        any::<bool>().prop_map(|declare| SendBody::Length { declare }),
        (
            prop::collection::vec(any::<Index>(), 0..6),
            prop::collection::vec(trailer(), 0..4),
        )
            .prop_map(|(cuts, trailers)| SendBody::Stream { cuts, trailers }),
        Just(SendBody::StreamDeclared),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn encoded_requests_parse_back(
        method in method(),
        target in origin_target(),
        host in (cased("Host"), host()),
        mut headers in prop::collection::vec(field(), 0..10),
        stray_te in prop::option::of((cased("Transfer-Encoding"), select(&["gzip", "chunked"][..]))),
        body in body_bytes(),
        send in send_body(),
        at in (any::<Index>(), any::<Index>(), any::<Index>()),
        cuts in cuts(),
    ) {
        let body = if matches!(send, SendBody::None) { Vec::new() } else { body };
        let len = body.len() as u64;
        headers.insert(at.0.index(headers.len() + 1), host);
        if let Some((n, v)) = stray_te {
            headers.insert(at.1.index(headers.len() + 1), (n, v.as_bytes().to_vec()));
        }
        if matches!(send, SendBody::Length { declare: true } | SendBody::StreamDeclared) {
            let cl = (b"Content-Length".to_vec(), len.to_string().into_bytes());
            headers.insert(at.2.index(headers.len() + 1), cl);
        }
        let (kind, expected_framing) = match send {
            SendBody::None => (RequestBody::None, Framing::Empty),
            SendBody::Length { .. } | SendBody::StreamDeclared => {
                let kind = if matches!(send, SendBody::StreamDeclared) {
                    RequestBody::Stream
                } else {
                    RequestBody::Length(len)
                };
                (kind, if len == 0 { Framing::Empty } else { Framing::Length(len) })
            }
            SendBody::Stream { .. } => (RequestBody::Stream, Framing::Chunked),
        };

        let mut out = Vec::new();
        let framing = encode_request(&mut out, &method, &target, headers.iter().map(|(n, v)| (n, v)), kind);
        prop_assert_eq!(framing, Ok(expected_framing));
        let mut trailers = Vec::new();
        match &send {
            SendBody::Stream { cuts, trailers: t } => {
                write_chunked(&mut out, &body, cuts, t);
                trailers = t.clone();
            }
            _ => out.extend(&body),
        }

        let parsed = serve(&split(&out, &cuts), &Limits::default())?;
        prop_assert_eq!(parsed.len(), 1, "wire: {:?}", show(&out));
        let m = &parsed[0];
        prop_assert_eq!(&m.method_bytes, &method);
        prop_assert_eq!(&m.target, &target);
        prop_assert_eq!(m.version, Version::Http11);
        prop_assert!(m.keep_alive);
        prop_assert_eq!(m.framing, expected_framing);
        let framing_names = ["content-length", "transfer-encoding"];
        prop_assert_eq!(without(&m.headers, &framing_names), without(&headers, &framing_names));
        let cl = match (kind, expected_framing) {
            (RequestBody::None, _) | (_, Framing::Chunked) => vec![],
            _ => vec![len.to_string().into_bytes()],
        };
        prop_assert_eq!(values_of(&m.headers, "content-length"), cl);
        let te = if expected_framing == Framing::Chunked { vec![b"chunked".to_vec()] } else { vec![] };
        prop_assert_eq!(values_of(&m.headers, "transfer-encoding"), te);
        prop_assert_eq!(&m.body, &body);
        prop_assert_eq!(&m.trailers, &trailers);
    }
}

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => select(&[100u16, 101, 103, 200, 201, 204, 206, 304, 404, 500][..]),
        1 => 100u16..=999,
    ]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::Http10), Just(Version::Http11)]
}

#[derive(Debug, Clone)]
struct ResponseCase {
    ctx: ResponseContext,
    request_method: Vec<u8>,
    status: u16,
    user: Vec<Field>,
    app_close: bool,
    app_date: Option<Vec<u8>>,
    declare: bool,
    known: bool,
    stray_te: bool,
    body: Vec<u8>,
    cuts: Vec<Index>,
    trailers: Vec<Field>,
    at: [Index; 4],
}

fn response_case() -> impl Strategy<Value = ResponseCase> {
    (
        (version(), prop::bool::weighted(0.25), any::<bool>()),
        select(&["GET", "POST", "DELETE"][..]),
        status(),
        prop::collection::vec(field(), 0..8),
        (
            any::<bool>(),
            prop::option::of(field_value()),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        body_bytes(),
        prop::collection::vec(any::<Index>(), 0..6),
        prop::collection::vec(trailer(), 0..3),
        any::<[Index; 4]>(),
    )
        .prop_map(
            |((version, is_head, keep_alive), method, status, user, flags, body, cuts, trailers, at)| {
                let (app_close, app_date, declare, known, stray_te) = flags;
                ResponseCase {
                    ctx: ResponseContext {
                        version,
                        is_head,
                        keep_alive,
                    },
                    request_method: if is_head {
                        b"HEAD".to_vec()
                    } else {
                        method.as_bytes().to_vec()
                    },
                    status,
                    user,
                    app_close,
                    app_date,
                    declare,
                    known,
                    stray_te,
                    body,
                    cuts,
                    trailers,
                    at,
                }
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn encoded_responses_parse_back(c in response_case()) {
        let len = c.body.len() as u64;
        let mut fields = c.user.clone();
        let mut insert = |at: &Index, f: (&[u8], &[u8])| {
            fields.insert(at.index(fields.len() + 1), (f.0.to_vec(), f.1.to_vec()));
        };
        if c.app_close {
            insert(&c.at[0], (b"Connection", b"close"));
        }
        if c.declare {
            insert(&c.at[1], (b"content-length", len.to_string().as_bytes()));
        }
        if let Some(d) = &c.app_date {
            insert(&c.at[2], (b"Date", d));
        }
        if c.stray_te {
            insert(&c.at[3], (b"Transfer-Encoding", b"chunked"));
        }

        // The rules documented at the top of src/response.rs.
        let interim = c.status < 200;
        let bodyless = interim || c.status == 204 || c.status == 304 || c.ctx.is_head;
        let declared = c.declare.then_some(len);
        let known = declared.or(c.known.then_some(len));
        let expected_framing = if bodyless || known == Some(0) {
            Framing::Empty
        } else if let Some(n) = known {
            Framing::Length(n)
        } else if c.ctx.version == Version::Http11 {
            Framing::Chunked
        } else {
            Framing::CloseDelimited
        };
        let expected_cl = if interim || c.status == 204 {
            None
        } else if c.status == 304 {
            declared
        } else if expected_framing == Framing::Chunked || expected_framing == Framing::CloseDelimited {
            None
        } else {
            known
        };
        let keep_alive = c.ctx.keep_alive && !c.app_close && expected_framing != Framing::CloseDelimited;

        let mut out = Vec::new();
        let encoded = encode_response_head(
            &mut out,
            &c.ctx,
            c.status,
            fields.iter().map(|(n, v)| (n, v)),
            c.known.then_some(len),
            DATE,
        );
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => return Err(TestCaseError::fail(format!("encode_response_head: {e:?}"))),
        };
        prop_assert_eq!(encoded.framing, expected_framing);
        prop_assert_eq!(encoded.keep_alive, if interim { c.ctx.keep_alive } else { keep_alive });
        let head_len = out.len();
        let mut expected_body = c.body.clone();
        let mut expected_trailers = Vec::new();
        match expected_framing {
            Framing::Empty => expected_body.clear(),
            Framing::Length(_) | Framing::CloseDelimited => out.extend(&c.body),
            Framing::Chunked => {
                write_chunked(&mut out, &c.body, &c.cuts, &c.trailers);
                expected_trailers = c.trailers.clone();
            }
        }

        let limits = Limits::default();
        let head = parse_response(&out, &c.request_method, &limits);
        let head = match head {
            Ok(Some(h)) => h,
            other => return Err(TestCaseError::fail(format!("parse_response: {other:?} on {:?}", show(&out)))),
        };
        prop_assert_eq!(head.head_len, head_len);
        prop_assert_eq!(head.status, c.status);
        let wire = owned_fields(&head.headers, &out);
        let framing_names = ["content-length", "transfer-encoding", "connection", "date"];
        prop_assert_eq!(without(&wire, &framing_names), without(&fields, &framing_names), "wire: {:?}", show(&out));
        let cl: Vec<Vec<u8>> = expected_cl.map(|n| n.to_string().into_bytes()).into_iter().collect();
        prop_assert_eq!(values_of(&wire, "content-length"), cl);
        let te = if expected_framing == Framing::Chunked { vec![b"chunked".to_vec()] } else { vec![] };
        prop_assert_eq!(values_of(&wire, "transfer-encoding"), te);
        let connection: Vec<Vec<u8>> = if interim {
            if c.app_close { vec![b"close".to_vec()] } else { vec![] }
        } else if !keep_alive {
            vec![b"close".to_vec()]
        } else if c.ctx.version == Version::Http10 {
            vec![b"keep-alive".to_vec()]
        } else {
            vec![]
        };
        prop_assert_eq!(values_of(&wire, "connection"), connection);
        let date: Vec<Vec<u8>> = match &c.app_date {
            Some(d) => vec![d.clone()],
            None if interim => vec![],
            None => vec![DATE.to_vec()],
        };
        prop_assert_eq!(values_of(&wire, "date"), date);

        // A zero length is sent as `content-length: 0`, which reads back as Empty.
        let read_framing = match expected_framing {
            Framing::Length(0) => Framing::Empty,
            f => f,
        };
        prop_assert_eq!(head.framing, read_framing);
        if !interim {
            prop_assert_eq!(head.keep_alive, keep_alive);
        }
        let rest = &out[head.head_len..];
        let mut decoder = BodyDecoder::new(head.framing, &limits);
        let (data, verdict) = decode_pieces(&mut decoder, &[rest])?;
        prop_assert_eq!(data, expected_body);
        if head.framing == Framing::CloseDelimited {
            prop_assert_eq!(verdict, Verdict::NeedMore);
            prop_assert_eq!(decoder.eof(), Ok(()));
            prop_assert_eq!(decoder.decode(&[]), Ok((0, BodyEvent::End)));
        } else {
            prop_assert_eq!(verdict, Verdict::End { at: rest.len(), trailers: expected_trailers });
        }
    }
}

// ---------------------------------------------------------------------------------
// 4. No response splitting through the encoders
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct BadField {
    fields: Vec<Field>,
    /// Whether the bad byte is in the name (else in the value).
    in_name: bool,
}

/// Valid fields plus one whose value (or name) holds CR, LF or NUL (or, in a name,
/// another non-token byte) at a random place.
fn bad_field() -> impl Strategy<Value = BadField> {
    let name = prop_oneof![
        3 => field_name(),
        1 => select(&SPECIAL[..]).prop_map(|s| s.as_bytes().to_vec()),
    ];
    (
        prop::collection::vec(field(), 0..6),
        name,
        field_value(),
        prop::bool::weighted(0.2),
        select(&b"\r\n\0"[..]),
        select(&b"\r\n\0 :\t"[..]),
        any::<Index>(),
        any::<Index>(),
    )
        .prop_map(
            |(mut fields, mut name, mut value, in_name, bad, bad_in_name, pos, at)| {
                if in_name {
                    name.insert(pos.index(name.len() + 1), bad_in_name);
                } else {
                    value.insert(pos.index(value.len() + 1), bad);
                }
                fields.insert(at.index(fields.len() + 1), (name, value));
                BadField { fields, in_name }
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn encoders_refuse_response_splitting(
        bad in bad_field(),
        prefix in prop::collection::vec(any::<u8>(), 0..16),
        ctx in (version(), any::<bool>(), any::<bool>()),
        status in status(),
        body_len in prop::option::of(0u64..100),
        method in method(),
        target in origin_target(),
        kind in prop_oneof![
            Just(RequestBody::None),
            (0u64..100).prop_map(RequestBody::Length),
            Just(RequestBody::Stream),
        ],
    ) {
        let expected = Some(if bad.in_name {
            EncodeError::InvalidHeaderName
        } else {
            EncodeError::InvalidHeaderValue
        });
        let fields = || bad.fields.iter().map(|(n, v)| (n, v));
        let ctx = ResponseContext { version: ctx.0, is_head: ctx.1, keep_alive: ctx.2 };

        let mut out = prefix.clone();
        let got = encode_response_head(&mut out, &ctx, status, fields(), body_len, DATE);
        prop_assert_eq!(got.err(), expected);
        prop_assert_eq!(&out, &prefix);

        let mut out = prefix.clone();
        let got = encode_request(&mut out, &method, &target, fields(), kind);
        prop_assert_eq!(got.err(), expected);
        prop_assert_eq!(&out, &prefix);

        let mut out = prefix.clone();
        let got = encode_last_chunk(&mut out, fields());
        prop_assert_eq!(got.err(), expected);
        prop_assert_eq!(&out, &prefix);
    }
}
