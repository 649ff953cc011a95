//! The runtime over TLS without Python: a server with an rcgen certificate, a rustls
//! client over a blocking std socket. What the transport layer promises: plaintext in
//! and out unchanged (keep-alive, pipelining, a body larger than every buffer on the
//! way), a plain-HTTP request answered with a plain 400, garbage closed and counted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use pyre_net::rustls;
use pyre_net::tls::{server_config, TlsSettings};
use pyre_net::{BindAddr, Event, Flow, LocalAddr, Server, ServerConfig};

/// Bytes of the big answer: more than rustls's buffer and the out-buffer together.
const BIG: usize = 4 << 20;

struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    ca: rustls::pki_types::CertificateDer<'static>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Writes a PEM file under a name of its own: the tests run on parallel threads of one
/// process, so the pid alone would let one test's key overwrite another's.
fn write_pem(name: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("pyre-tls-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A server answering `/big` with [`BIG`] bytes (written as backpressure allows) and
/// anything else with `ok`.
fn start() -> TlsServer {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let settings = TlsSettings {
        certfile: write_pem("cert.pem", &certified.cert.pem()),
        keyfile: Some(write_pem("key.pem", &certified.signing_key.serialize_pem())),
        alpn: vec![b"http/1.1".to_vec()],
        ..TlsSettings::default()
    };
    let config = ServerConfig {
        tls: Some(server_config(&settings).unwrap()),
        ..ServerConfig::default()
    };
    let mut server = Server::new(config).unwrap();
    let LocalAddr::Tcp(addr) = server
        .listen(&BindAddr::Tcp("127.0.0.1:0".parse().unwrap()), 128)
        .unwrap()
    else {
        panic!("tcp listener expected")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        // Requests whose big answer waits for the output to drain: bytes still to send.
        let mut big: std::collections::HashMap<u64, usize> = Default::default();
        let piece = vec![b'x'; 64 * 1024];
        while !stop2.load(Ordering::SeqCst) {
            let mut pfd = libc::pollfd {
                fd: server.poll_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1.
            unsafe { libc::poll(&mut pfd, 1, 20) };
            server.process().unwrap();
            while let Some(event) = server.pop_event() {
                let (key, mut left) = match event {
                    Event::Request(key) => {
                        let view = server.request(key).unwrap();
                        if view.head.target.get(view.buf) != b"/big" {
                            server.start_response(key, 200, [("x", "y")], Some(2)).unwrap();
                            server.send_body(key, b"ok", false).unwrap();
                            continue;
                        }
                        server
                            .start_response(key, 200, [("x", "y")], Some(BIG as u64))
                            .unwrap();
                        (key, BIG)
                    }
                    Event::Drained(key) => match big.remove(&key.to_u64()) {
                        Some(left) => (key, left),
                        None => continue,
                    },
                    _ => continue,
                };
                while left > 0 {
                    let n = left.min(piece.len());
                    left -= n;
                    match server.send_body(key, &piece[..n], left > 0) {
                        Ok(Flow::Wait) if left > 0 => {
                            big.insert(key.to_u64(), left);
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
        }
    });
    TlsServer {
        addr,
        stop,
        thread: Some(thread),
        ca: certified.cert.der().clone(),
    }
}

fn client(server: &TlsServer) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Reads until `text` has arrived `count` times.
fn read_until(stream: &mut impl Read, text: &str, count: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    while String::from_utf8_lossy(&out).matches(text).count() < count {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn keep_alive_and_pipelining_over_tls() {
    let server = start();
    let mut tls = client(&server);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(read_until(&mut tls, "\r\n\r\nok", 1).starts_with("HTTP/1.1 200 OK\r\n"));
    tls.write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let two = read_until(&mut tls, "\r\n\r\nok", 2);
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn a_big_answer_goes_through_every_buffer_whole() {
    let server = start();
    let mut tls = client(&server);
    tls.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut body = got.len() - head_end;
    // Slow at first: the server must wait (backpressure), not buffer everything.
    std::thread::sleep(Duration::from_millis(300));
    while body < BIG {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {body} bytes");
        assert!(buf[..n].iter().all(|&b| b == b'x'));
        body += n;
    }
    assert_eq!(body, BIG);
    // The connection is still good afterwards.
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    read_until(&mut tls, "\r\n\r\nok", 1);
}

#[test]
fn plain_http_on_the_tls_port_gets_a_plain_400() {
    let server = start();
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = sock.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(
        out.ends_with("plain HTTP request sent to an HTTPS port\n"),
        "{out}"
    );
}

#[test]
fn garbage_is_closed_without_an_answer() {
    let server = start();
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4])
        .unwrap();
    let mut out = Vec::new();
    let _ = sock.read_to_end(&mut out);
    // At most a TLS alert record (content type 21), never HTTP.
    assert!(out.is_empty() || out[0] == 21, "{out:?}");
}
