//! Table-driven tests of the body decoders: Content-Length, chunked (RFC 9112
//! section 7.1) and close-delimited. Each row is a body's bytes and either the data
//! and trailers it must yield or the error it must raise.

use pyre_h1::{BodyDecoder, BodyEvent, Framing, Limits, ParseError, Trailer};

/// Decodes `input` whole; returns the data, the trailers and the bytes left over.
fn decode_all(
    framing: Framing,
    input: &[u8],
    limits: &Limits,
) -> Result<(Vec<u8>, Vec<Trailer>, usize), ParseError> {
    let mut decoder = BodyDecoder::new(framing, limits);
    let mut data = Vec::new();
    let mut pos = 0;
    loop {
        let start = pos;
        let (n, event) = decoder.decode(&input[start..])?;
        pos += n;
        match event {
            BodyEvent::Data(range) => data.extend_from_slice(&input[start..][range]),
            BodyEvent::End => break,
            BodyEvent::NeedMore => {
                decoder.eof()?;
                break;
            }
        }
    }
    Ok((data, decoder.take_trailers(), input.len() - pos))
}

fn chunked(input: &[u8]) -> Result<(Vec<u8>, Vec<Trailer>, usize), ParseError> {
    decode_all(Framing::Chunked, input, &Limits::default())
}

#[test]
fn chunked_accepts() {
    let rows: &[(&str, &[u8], &[u8], usize)] = &[
        ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (
            "two chunks, uppercase hex",
            b"5\r\nhello\r\nB\r\n, world!!!!\r\n0\r\n\r\n",
            b"hello, world!!!!",
            0,
        ),
        ("zero-prefixed sizes", b"005\r\nhello\r\n000\r\n\r\n", b"hello", 0),
        ("extension name", b"5;ext\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (
            "extension with token value",
            b"5;a=b;c\r\nhello\r\n0;last\r\n\r\n",
            b"hello",
            0,
        ),
        (
            "quoted extension with escapes",
            b"5;a=\"x \\\"y\\\"; z\"\r\nhello\r\n0\r\n\r\n",
            b"hello",
            0,
        ),
        ("empty body", b"0\r\n\r\n", b"", 0),
        ("next request stays unconsumed", b"0\r\n\r\nGET /", b"", 5),
        (
            "binary data with CRLF inside",
            b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
            b"\r\n\r\n",
            0,
        ),
    ];
    for (name, input, data, left) in rows {
        let (got, trailers, rest) = chunked(input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!((&got[..], rest), (*data, *left), "{name}");
        assert!(trailers.is_empty(), "{name}");
    }
}

#[test]
fn chunked_trailers() {
    let (data, trailers, rest) = chunked(b"3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other:  v \r\n\r\nNEXT").unwrap();
    assert_eq!(data, b"abc");
    assert_eq!(rest, 4);
    assert_eq!(
        trailers,
        vec![
            (b"X-Sum".to_vec(), b"42".to_vec()),
            (b"X-Other".to_vec(), b"v".to_vec())
        ]
    );
}

#[test]
fn chunked_refusals() {
    use ParseError::*;
    let rows: &[(&str, &[u8], ParseError)] = &[
        ("empty size", b"\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("signed size", b"+5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("negative size", b"-5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("space after size", b"5 \r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("space before size", b" 5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        (
            "text after size without ;",
            b"2 erfrf\r\naa\r\n0\r\n\r\n",
            InvalidChunkSize,
        ),
        ("non-hex digit", b"5g\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        ("overflowing size", b"10000000000000000\r\n", ChunkSizeOverflow),
        (
            "too many digits",
            b"000000000000000000000000000000001\r\n",
            ChunkSizeOverflow,
        ),
        (
            "LF-only size line",
            b"5\nhello\r\n0\r\n\r\n",
            InvalidChunkLineEnding,
        ),
        (
            "CR without LF after size",
            b"5\rhello\r\n0\r\n\r\n",
            InvalidChunkLineEnding,
        ),
        (
            "LF-only after data",
            b"5\r\nhello\n0\r\n\r\n",
            InvalidChunkDataEnding,
        ),
        (
            "data longer than size",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            InvalidChunkDataEnding,
        ),
        (
            "data shorter than size",
            b"5\r\nhell\r\n0\r\n\r\n",
            InvalidChunkDataEnding,
        ),
        (
            "empty extension name",
            b"5;\r\nhello\r\n0\r\n\r\n",
            InvalidChunkExtension,
        ),
        (
            "space before extension",
            b"5 ;a\r\nhello\r\n0\r\n\r\n",
            InvalidChunkSize,
        ),
        (
            "space inside extension",
            b"5;a =b\r\nhello\r\n0\r\n\r\n",
            InvalidChunkExtension,
        ),
        (
            "unbalanced quote",
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",
            InvalidChunkExtension,
        ),
        (
            "NUL in extension",
            b"5;a\0\r\nhello\r\n0\r\n\r\n",
            InvalidChunkExtension,
        ),
        (
            "bare LF in extension",
            b"5;a\nhello\r\n0\r\n\r\n",
            InvalidChunkExtension,
        ),
        ("LF-only trailer line", b"0\r\nX: y\n\r\n", InvalidLineEnding),
        ("LF-only last line", b"0\r\n\n", InvalidLineEnding),
        ("trailer without colon", b"0\r\nNoColon\r\n\r\n", InvalidTrailer),
        ("obs-fold in trailer", b"0\r\nX: a\r\n b\r\n\r\n", InvalidTrailer),
        ("truncated at EOF", b"5\r\nhel", TruncatedBody),
        ("truncated before last chunk", b"5\r\nhello\r\n", TruncatedBody),
    ];
    let mut failures = Vec::new();
    for (name, input, expected) in rows {
        match chunked(input) {
            Err(e) if e == *expected => {}
            other => failures.push(format!("{name}: expected {expected:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn chunked_limits() {
    let limits = Limits {
        max_chunk_ext_bytes: 8,
        max_trailer_bytes: 16,
        max_body_bytes: Some(6),
        ..Limits::default()
    };
    let run = |input: &[u8]| decode_all(Framing::Chunked, input, &limits).map(|(d, _, _)| d);
    assert_eq!(run(b"1;abcdefg\r\na\r\n0\r\n\r\n"), Ok(b"a".to_vec()));
    assert_eq!(
        run(b"1;abcdefgh\r\na\r\n0\r\n\r\n"),
        Err(ParseError::ChunkExtensionsTooLong)
    );
    // The extension bound is for the whole body, not per chunk.
    assert_eq!(
        run(b"1;abcd\r\na\r\n1;abcd\r\nb\r\n0\r\n\r\n"),
        Err(ParseError::ChunkExtensionsTooLong)
    );
    assert_eq!(
        run(b"0\r\nX: 0123456789\r\n\r\n"),
        Err(ParseError::TrailersTooLarge)
    );
    assert_eq!(run(b"0\r\nX: 01234567\r\n\r\n"), Ok(Vec::new()));
    assert_eq!(run(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), Ok(b"abcdef".to_vec()));
    assert_eq!(
        run(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
        Err(ParseError::BodyTooLarge)
    );
}

#[test]
fn content_length_and_close_delimited() {
    let limits = Limits::default();
    assert_eq!(
        decode_all(Framing::Length(3), b"abcGET", &limits),
        Ok((b"abc".to_vec(), vec![], 3))
    );
    assert_eq!(
        decode_all(Framing::Length(5), b"abc", &limits),
        Err(ParseError::TruncatedBody)
    );
    assert_eq!(
        decode_all(Framing::Empty, b"GET", &limits),
        Ok((vec![], vec![], 3))
    );
    assert_eq!(
        decode_all(Framing::CloseDelimited, b"all of it", &limits),
        Ok((b"all of it".to_vec(), vec![], 0))
    );

    // Data is handed out as it arrives, in pieces.
    let mut decoder = BodyDecoder::new(Framing::Length(6), &limits);
    assert_eq!(decoder.decode(b"abc"), Ok((3, BodyEvent::Data(0..3))));
    assert!(!decoder.is_done());
    assert_eq!(decoder.decode(b""), Ok((0, BodyEvent::NeedMore)));
    assert_eq!(decoder.decode(b"defghi"), Ok((3, BodyEvent::Data(0..3))));
    assert!(decoder.is_done());
    assert_eq!(decoder.decode(b"ghi"), Ok((0, BodyEvent::End)));
}

#[test]
fn chunked_data_is_returned_in_place_as_it_arrives() {
    let limits = Limits::default();
    let mut decoder = BodyDecoder::new(Framing::Chunked, &limits);
    assert_eq!(decoder.decode(b"a\r\n0123"), Ok((7, BodyEvent::Data(3..7))));
    assert_eq!(decoder.decode(b"456789\r"), Ok((6, BodyEvent::Data(0..6))));
    assert_eq!(decoder.decode(b"\r"), Ok((1, BodyEvent::NeedMore)));
    assert_eq!(decoder.decode(b"\n0\r\n"), Ok((4, BodyEvent::NeedMore)));
    assert!(!decoder.is_done());
    assert_eq!(decoder.decode(b"\r\nrest"), Ok((2, BodyEvent::End)));
    assert!(decoder.is_done());
}
