//! Reads raw request bytes from stdin and prints what the codec decides: the head's
//! framing, persistence and fields, the body, or the error with its status and
//! reason. Useful to find out why a request gets a 400.
//!
//! ```sh
//! printf 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n' \
//!     | cargo run -q -p pyre-h1 --example inspect
//! ```

use std::io::Read;

use pyre_h1::{parse_request, BodyDecoder, BodyEvent, Limits};

fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("read stdin");
    let limits = Limits::default();
    let mut offset = 0;
    while offset < input.len() {
        let buf = &input[offset..];
        let head = match parse_request(buf, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => {
                println!("incomplete head ({} bytes)", buf.len());
                return;
            }
            Err(e) => {
                println!("refused: {} {}", e.status().code(), e.reason());
                return;
            }
        };
        println!(
            "{} {} HTTP/{}",
            String::from_utf8_lossy(head.method_span.get(buf)),
            String::from_utf8_lossy(head.target.get(buf)),
            head.version.as_str()
        );
        for field in &head.headers {
            println!(
                "  {}: {}",
                String::from_utf8_lossy(field.name.get(buf)),
                String::from_utf8_lossy(field.value.get(buf))
            );
        }
        println!(
            "  => framing {:?}, keep-alive {}, expect-continue {}",
            head.framing, head.keep_alive, head.expect_continue
        );
        let mut decoder = BodyDecoder::new(head.framing, &limits);
        let mut pos = head.head_len;
        let mut body = Vec::new();
        loop {
            match decoder.decode(&buf[pos..]) {
                Ok((n, BodyEvent::Data(range))) => {
                    body.extend_from_slice(&buf[pos..][range]);
                    pos += n;
                }
                Ok((n, BodyEvent::End)) => {
                    pos += n;
                    break;
                }
                Ok((_, BodyEvent::NeedMore)) => {
                    println!("  body incomplete after {} bytes", body.len());
                    return;
                }
                Err(e) => {
                    println!("  body refused: {} {}", e.status().code(), e.reason());
                    return;
                }
            }
        }
        println!(
            "  body: {} bytes {:?}",
            body.len(),
            String::from_utf8_lossy(&body)
        );
        offset += pos;
    }
}
