//! The client runtime over TLS against a rustls server on loopback: a test CA and
//! certificates made by rcgen, a thread with a blocking rustls server as the peer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

fn ca() -> Ca {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("pyre test CA {serial}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `names` signed by `ca` (`expired`: valid only in 2001).
fn leaf(ca: &Ca, names: &[&str], expired: bool) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 12, 31);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![cert.der().clone()], key)
}

fn trusting(ca: &Ca) -> TlsConfig {
    TlsConfig::new(&TlsSettings {
        verify: Verify::CaDer(vec![ca.der.clone()]),
        client_cert: None,
    })
    .unwrap()
}

/// A rustls server thread: accepts one connection and runs `script` on the TLS
/// stream (the handshake happens on its first read or write).
fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    script: impl FnOnce(&mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    raw_server(move |tcp| {
        let session = rustls::ServerConnection::new(config).unwrap();
        let mut stream = rustls::StreamOwned::new(session, tcp);
        script(&mut stream);
    })
}

fn raw_server(script: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        script(stream);
    });
    (addr, handle)
}

fn read_head(stream: &mut impl Read) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => head.push(byte[0]),
        }
    }
    head
}

fn until(rt: &mut ClientRuntime, mut done: impl FnMut(&mut ClientRuntime) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        rt.process().unwrap();
        while rt.pop_ready().is_some() {}
        if done(rt) {
            return;
        }
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Connects over TLS and waits for the handshake's outcome.
fn handshake(addr: SocketAddr, config: &TlsConfig, host: &str) -> (ClientRuntime, usize) {
    let mut rt = ClientRuntime::new(ClientConfig::default()).unwrap();
    let id = rt.connect_tls(addr, config, host).unwrap();
    until(&mut rt, |rt| {
        !matches!(rt.phase(id), Some(Phase::Connecting | Phase::Handshaking))
    });
    (rt, id)
}

fn get(rt: &mut ClientRuntime, id: usize) {
    let headers: [(&[u8], &[u8]); 1] = [(b"host", b"test")];
    rt.send_request(id, b"GET", b"/", headers, RequestBody::None)
        .unwrap();
}

fn body(rt: &mut ClientRuntime, id: usize) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        rt.process().unwrap();
        match rt.read_body(id, &mut out, usize::MAX)? {
            BodyRead::Done | BodyRead::Data { more: false } => return Ok(out),
            _ => {}
        }
        assert!(Instant::now() < deadline, "body not complete in time");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn keep_alive_exchanges_over_tls() {
    let ca = ca();
    let (chain, key) = leaf(&ca, &["localhost"], false);
    let (addr, handle) = tls_server(chain, key, |s| {
        for body in [&b"hello"[..], b"again"] {
            let head = read_head(s);
            assert!(head.starts_with(b"GET / HTTP/1.1\r\nhost: test\r\n"), "{head:?}");
            write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
            s.write_all(body).unwrap();
            s.flush().unwrap();
        }
        assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(s.conn.server_name(), Some("localhost"));
    });
    let (mut rt, id) = handshake(addr, &trusting(&ca), "localhost");
    assert_eq!(rt.phase(id), Some(Phase::Idle), "{:?}", rt.error(id));
    get(&mut rt, id);
    assert_eq!(body(&mut rt, id).unwrap(), b"hello");
    assert!(rt.release(id));
    get(&mut rt, id);
    assert_eq!(body(&mut rt, id).unwrap(), b"again");
    rt.close(id);
    handle.join().unwrap();
}

#[test]
fn large_download_and_file_upload_over_tls() {
    const SIZE: usize = 3 << 20;
    let ca = ca();
    let (chain, key) = leaf(&ca, &["127.0.0.1"], false);
    let (addr, handle) = tls_server(chain, key, |s| {
        let head = read_head(s);
        assert!(head.starts_with(b"PUT"), "{head:?}");
        assert_eq!(s.conn.server_name(), None, "no SNI for an IP address");
        let mut upload = vec![0u8; SIZE];
        s.read_exact(&mut upload).unwrap();
        assert!(upload.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").unwrap();
        s.write_all(&upload).unwrap();
        s.flush().unwrap();
    });
    let path = std::env::temp_dir().join(format!("pyre-tls-upload-{}", std::process::id()));
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let (mut rt, id) = handshake(addr, &trusting(&ca), "127.0.0.1");
    assert_eq!(rt.phase(id), Some(Phase::Idle), "{:?}", rt.error(id));
    let headers: [(&[u8], &[u8]); 1] = [(b"host", b"test")];
    rt.send_request(id, b"PUT", b"/", headers, RequestBody::Length(SIZE as u64))
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    rt.send_file(id, file, 0, SIZE as u64).unwrap();
    std::fs::remove_file(&path).unwrap();
    // Read slowly at first: the buffered bytes stay near the high-water mark.
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < SIZE {
        rt.process().unwrap();
        assert!(rt.buffered(id) <= DEFAULT_CLIENT_READ_HIGH_WATER + 64 * 1024);
        match rt.read_body(id, &mut out, 32 * 1024).unwrap() {
            BodyRead::Done | BodyRead::Data { more: false } => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "transfer not complete in time");
        thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(out.len(), SIZE);
    assert!(out == data);
    handle.join().unwrap();
}

fn verify_error(ca_for_client: &Ca, chain_ca: &Ca, names: &[&str], expired: bool, host: &str) -> ClientError {
    let (chain, key) = leaf(chain_ca, names, expired);
    let (addr, handle) = tls_server(chain, key, |s| {
        let _ = read_head(s);
    });
    let (rt, id) = handshake(addr, &trusting(ca_for_client), host);
    assert_eq!(rt.phase(id), Some(Phase::Failed));
    let error = rt.error(id).unwrap().clone();
    drop(rt);
    handle.join().unwrap();
    error
}

/// (client trusts, server's CA, names, expired, host, words in the message)
type VerifyCase<'a> = (&'a Ca, &'a Ca, &'a [&'a str], bool, &'a str, &'a str);

#[test]
fn certificate_failures_name_their_reason() {
    let ours = ca();
    let theirs = ca();
    let cases: [VerifyCase<'_>; 4] = [
        (
            &ours,
            &theirs,
            &["localhost"],
            false,
            "localhost",
            "unknown issuer",
        ),
        (&ours, &ours, &["localhost"], true, "localhost", "expired"),
        (
            &ours,
            &ours,
            &["example.com"],
            false,
            "localhost",
            "not valid for localhost",
        ),
        (
            &ours,
            &ours,
            &["127.0.0.2"],
            false,
            "127.0.0.1",
            "not valid for 127.0.0.1",
        ),
    ];
    for (trusted, signer, names, expired, host, words) in cases {
        let error = verify_error(trusted, signer, names, expired, host);
        assert_eq!(error.kind, ErrorKind::Certificate, "{error:?}");
        assert!(error.message.contains(words), "{words}: {}", error.message);
    }
}

#[test]
fn verification_off_accepts_any_certificate() {
    let (chain, key) = leaf(&ca(), &["elsewhere"], true);
    let (addr, handle) = tls_server(chain, key, |s| {
        read_head(s);
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        s.flush().unwrap();
    });
    let off = TlsConfig::new(&TlsSettings {
        verify: Verify::Off,
        client_cert: None,
    })
    .unwrap();
    let (mut rt, id) = handshake(addr, &off, "localhost");
    assert_eq!(rt.phase(id), Some(Phase::Idle), "{:?}", rt.error(id));
    get(&mut rt, id);
    assert_eq!(body(&mut rt, id).unwrap(), b"");
    handle.join().unwrap();
}

#[test]
fn broken_servers_give_tls_errors() {
    let config = TlsConfig::new(&TlsSettings::default()).unwrap();
    // (what the server does, words in the message)
    type Script = Box<dyn FnOnce(TcpStream) + Send>;
    let cases: Vec<(Script, &str)> = vec![
        (Box::new(drop), "closed the connection during the TLS handshake"),
        (
            Box::new(|mut s| {
                let _ = s.read(&mut [0; 512]);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }),
            "invalid TLS data",
        ),
        (
            Box::new(|mut s| {
                let _ = s.read(&mut [0; 512]);
                // A fatal handshake_failure alert.
                let _ = s.write_all(&[21, 3, 3, 0, 2, 2, 40]);
                thread::sleep(Duration::from_millis(100));
            }),
            "alert HandshakeFailure",
        ),
    ];
    for (script, words) in cases {
        let (addr, handle) = raw_server(script);
        let (rt, id) = handshake(addr, &config, "localhost");
        let error = rt.error(id).expect("the handshake failed").clone();
        assert_eq!(error.kind, ErrorKind::Tls, "{error:?}");
        assert!(error.message.contains(words), "{words}: {}", error.message);
        handle.join().unwrap();
    }
}

#[test]
fn a_record_cut_short_is_a_tls_error_and_a_clean_eof_is_not() {
    let ca = ca();
    for truncate in [true, false] {
        let (chain, key) = leaf(&ca, &["localhost"], false);
        let (addr, handle) = tls_server(chain, key, move |s| {
            read_head(s);
            s.conn
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\n\r\nclose-delimited body")
                .unwrap();
            // Encrypt the record without sending it, then send part of it.
            let mut records = Vec::new();
            s.conn.write_tls(&mut records).unwrap();
            let cut = if truncate {
                records.len() - 3
            } else {
                records.len()
            };
            s.sock.write_all(&records[..cut]).unwrap();
            s.sock.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = s.sock.read(&mut [0; 64]);
        });
        let (mut rt, id) = handshake(addr, &trusting(&ca), "localhost");
        get(&mut rt, id);
        let result = body(&mut rt, id);
        if truncate {
            let error = result.unwrap_err();
            assert_eq!(error.kind, ErrorKind::Tls, "{error:?}");
            assert!(error.message.contains("truncated record"), "{}", error.message);
        } else {
            // No close_notify, but on a record boundary: HTTP framing decides.
            assert_eq!(result.unwrap(), b"close-delimited body");
        }
        rt.close(id);
        handle.join().unwrap();
    }
}

#[test]
fn ca_file_and_bad_settings() {
    let ca = ca();
    let dir = std::env::temp_dir();
    let path = dir.join(format!("pyre-tls-ca-{}.pem", std::process::id()));
    let pem = rustls::pki_types::CertificateDer::from(ca.der.clone());
    let encoded = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64(pem.as_ref())
    );
    std::fs::write(&path, encoded).unwrap();
    let settings = TlsSettings {
        verify: Verify::CaFile(path.clone()),
        client_cert: None,
    };
    assert!(TlsConfig::new(&settings).is_ok());
    std::fs::write(&path, "not a certificate").unwrap();
    let error = TlsConfig::new(&settings).unwrap_err();
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
    std::fs::remove_file(&path).unwrap();
    let error = TlsConfig::new(&settings).unwrap_err();
    assert!(matches!(error, TlsConfigError::File { .. }), "{error}");
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
