//! WebSocket codec micro-benchmarks: decoding client frames (small text, 64 KiB
//! binary, compressed JSON) and encoding server frames with and without
//! permessage-deflate. Run with `cargo bench -p pyre-ws`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pyre_ws::{apply_mask, Decoder, DecoderConfig, DeflateParams, Encoder};

const DEFLATE: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

const JSON: &str = r#"{"type": "update", "id": 12345, "user": {"name": "Ada", "roles": ["admin", "dev"]}, "items": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B-7", "qty": 1, "price": 24.5}], "ok": true}"#;

/// Server frames (as `Encoder` writes them) turned into client frames.
fn masked(frames: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let (mut out, mut rest) = (Vec::new(), frames);
    while !rest.is_empty() {
        let (len, header) = match rest[1] {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        out.extend_from_slice(&rest[..header]);
        let second_byte = out.len() - header + 1;
        out[second_byte] |= 0x80; // the mask bit
        out.extend_from_slice(&key);
        let start = out.len();
        out.extend_from_slice(&rest[header..header + len]);
        apply_mask(&mut out[start..], key, 0);
        rest = &rest[header + len..];
    }
    out
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let cases: [(&str, Vec<u8>, Option<DeflateParams>); 3] = [
        (
            "text_16B",
            {
                let mut out = Vec::new();
                Encoder::new(None).text("hello, websocket", &mut out);
                masked(&out)
            },
            None,
        ),
        (
            "binary_64KiB",
            {
                let mut out = Vec::new();
                Encoder::new(None).binary(&vec![7; 64 * 1024], &mut out);
                masked(&out)
            },
            None,
        ),
        (
            "deflate_json_200B",
            {
                let mut out = Vec::new();
                Encoder::new(Some(DEFLATE)).text(JSON, &mut out);
                masked(&out)
            },
            Some(DEFLATE),
        ),
    ];
    for (name, frame, deflate) in cases {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        let mut decoder = Decoder::new(DecoderConfig {
            deflate,
            ..DecoderConfig::default()
        });
        group.bench_function(name, |b| {
            b.iter(|| {
                let (n, event) = decoder.decode(black_box(&frame)).unwrap();
                assert_eq!(n, frame.len());
                black_box(event)
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(JSON.len() as u64));
    for (name, deflate) in [("json_plain", None), ("json_deflate", Some(DEFLATE))] {
        let mut encoder = Encoder::new(deflate);
        let mut out = Vec::with_capacity(1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                encoder.text(black_box(JSON), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
