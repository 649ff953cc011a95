//! Codec micro-benchmarks: our validated request-head parse against a bare
//! `httparse::Request::parse` of the same bytes (the target is at most 1.5x), and
//! chunked decoding throughput. Run with `cargo bench -p pyre-h1`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pyre_h1::{parse_request, BodyDecoder, BodyEvent, Framing, Limits};

/// A typical browser navigation request, about 500 bytes.
const BROWSER_REQUEST: &[u8] = b"GET /articles/2024/pyre-http-server?utm_source=newsletter HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Priority: u=0, i\r\n\r\n";

fn request_head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("request_head");
    group.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));
    group.bench_function("httparse_bare", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut req = httparse::Request::new(&mut headers);
            let status = req.parse(black_box(BROWSER_REQUEST)).unwrap();
            black_box((status, req.path, req.headers.len()));
        })
    });
    // The same parse with uninitialised header slots, as pyre-h1 itself calls
    // httparse: the fairest baseline for the cost of our validation.
    group.bench_function("httparse_bare_uninit", |b| {
        b.iter(|| {
            let mut headers = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); 100];
            let mut req = httparse::Request::new(&mut []);
            let status = req
                .parse_with_uninit_headers(black_box(BROWSER_REQUEST), &mut headers)
                .unwrap();
            black_box((status, req.path, req.headers.len()));
        })
    });
    group.bench_function("pyre_validated", |b| {
        b.iter(|| {
            let head = parse_request(black_box(BROWSER_REQUEST), &limits)
                .unwrap()
                .unwrap();
            black_box(head);
        })
    });
    group.finish();
}

/// A 64 KiB body in 1 KiB chunks, with an extension on every tenth chunk.
fn chunked_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..64 {
        if i % 10 == 0 {
            body.extend_from_slice(b"400;name=value\r\n");
        } else {
            body.extend_from_slice(b"400\r\n");
        }
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn chunked(c: &mut Criterion) {
    let limits = Limits::default();
    let body = chunked_body();
    let mut group = c.benchmark_group("chunked_decode");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("64KiB_in_1KiB_chunks", |b| {
        b.iter(|| {
            let mut decoder = BodyDecoder::new(Framing::Chunked, &limits);
            let mut pos = 0;
            let mut data = 0usize;
            loop {
                let (n, event) = decoder.decode(black_box(&body[pos..])).unwrap();
                match event {
                    BodyEvent::Data(range) => data += range.len(),
                    BodyEvent::End => break,
                    BodyEvent::NeedMore => unreachable!("whole body given"),
                }
                pos += n;
            }
            black_box(data)
        })
    });
    group.finish();
}

criterion_group!(benches, request_head, chunked);
criterion_main!(benches);
