//! The runtime driven by a small Rust application over real loopback sockets, without
//! Python: keep-alive, pipelining, bodies, refusals, concurrency limit, timeouts and
//! shutdown.
//!
//! How it works: the server runs on its own thread, waiting on the poll fd with
//! `poll(2)` and calling `process()`/`tick()`; the application answers from the
//! events. Tests talk to it with blocking std sockets.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pyre_net::{BindAddr, BodyRead, Event, LocalAddr, RequestKey, Server, ServerConfig};

struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The access log's lines, taken after each turn of the loop (when it is on).
    access: Arc<Mutex<Vec<u8>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Paths the test application knows: `/echo` echoes the body, `/stream` answers
/// chunked, `/hang` never answers, anything else answers "ok".
fn answer(server: &mut Server, key: RequestKey, path: &[u8], body: &[u8]) {
    match path {
        b"/hang" => {}
        b"/stream" => {
            server
                .start_response(key, 200, [("x-mode", "stream")], None)
                .unwrap();
            server.send_body(key, b"ab", true).unwrap();
            server.send_body(key, b"cd", false).unwrap();
        }
        b"/echo" => {
            server
                .start_response(
                    key,
                    200,
                    std::iter::empty::<(&[u8], &[u8])>(),
                    Some(body.len() as u64),
                )
                .unwrap();
            server.send_body(key, body, false).unwrap();
        }
        _ => {
            server
                .start_response(key, 200, [("content-type", "text/plain")], Some(2))
                .unwrap();
            server.send_body(key, b"ok", false).unwrap();
        }
    }
}

fn start(config: ServerConfig) -> TestServer {
    let mut server = Server::new(config).unwrap();
    let LocalAddr::Tcp(addr) = server
        .listen(&BindAddr::Tcp("127.0.0.1:0".parse().unwrap()), 128)
        .unwrap()
    else {
        panic!("tcp listener expected")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::new(AtomicBool::new(false));
    let (stop2, shutdown2) = (stop.clone(), shutdown.clone());
    let access = Arc::new(Mutex::new(Vec::new()));
    let access2 = access.clone();
    let thread = std::thread::spawn(move || {
        let mut bodies: std::collections::HashMap<u64, (Vec<u8>, Vec<u8>)> = Default::default();
        let mut waiting: HashSet<u64> = HashSet::new();
        let mut shut = false;
        while !stop2.load(Ordering::SeqCst) {
            let mut pfd = libc::pollfd {
                fd: server.poll_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1.
            unsafe { libc::poll(&mut pfd, 1, 20) };
            server.process().unwrap();
            server.tick();
            if shutdown2.load(Ordering::SeqCst) && !shut {
                shut = true;
                server.begin_shutdown();
            }
            while let Some(event) = server.pop_event() {
                let key = match event {
                    Event::Request(key) => {
                        let view = server.request(key).unwrap();
                        let path = view.head.target.get(view.buf).to_vec();
                        bodies.insert(key.to_u64(), (path, Vec::new()));
                        key
                    }
                    Event::BodyReady(key) if waiting.remove(&key.to_u64()) => key,
                    _ => continue,
                };
                let (path, mut body) = bodies.remove(&key.to_u64()).unwrap();
                // Like an ASGI app calling receive() until the body ends: a Pending
                // read registers interest and a BodyReady event follows.
                loop {
                    match server.read_body(key, &mut body) {
                        Ok(BodyRead::Data { more: true }) => continue,
                        Ok(BodyRead::Pending) => {
                            waiting.insert(key.to_u64());
                            bodies.insert(key.to_u64(), (path, body));
                        }
                        Ok(_) => answer(&mut server, key, &path, &body),
                        Err(_) => {}
                    }
                    break;
                }
            }
            if let Some(log) = server.access_log() {
                access2.lock().unwrap().extend(log.take_lines());
            }
        }
    });
    TestServer {
        addr,
        stop,
        shutdown,
        thread: Some(thread),
        access,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until `expected` responses' worth of the marker appeared or EOF.
fn read_responses(s: &mut TcpStream, count: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&out).matches("HTTP/1.1 ").count() < count || !complete(&out) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn complete(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    text.ends_with("ok") || text.ends_with("0\r\n\r\n") || text.ends_with('\n') || text.ends_with("hello")
}

fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start(ServerConfig::default());
    let mut s = connect(server.addr);
    for _ in 0..3 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let response = read_responses(&mut s, 1);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("content-length: 2\r\n") && response.ends_with("\r\n\r\nok"),
            "{response}"
        );
        assert!(!response.contains("connection: close"));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(ServerConfig::default());
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirstGET /stream HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    while !out.ends_with("third") {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {out}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let first = out.find("first").unwrap();
    let second = out.find("2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n").unwrap();
    let third = out.find("third").unwrap();
    assert!(first < second && second < third, "{out}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3);
}

#[test]
fn body_split_across_writes_is_delivered() {
    let server = start(ServerConfig::default());
    let mut s = connect(server.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"\r\n2\r\nlo\r\n0\r\n\r\n").unwrap();
    let response = read_responses(&mut s, 1);
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
}

#[test]
fn malformed_requests_get_their_status_and_a_closed_connection() {
    let server = start(ServerConfig::default());
    let cases: [(&[u8], &str); 4] = [
        (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            "505 HTTP Version Not Supported",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: zip\r\n\r\n",
            "501 Not Implemented",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400 Bad Request",
        ),
    ];
    for (request, status) in cases {
        let mut s = connect(server.addr);
        s.write_all(request).unwrap();
        let response = read_to_close(&mut s);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{response}"
        );
        assert!(response.contains("connection: close\r\n"), "{response}");
    }
}

#[test]
fn concurrency_limit_answers_503() {
    let server = start(ServerConfig {
        limit_concurrency: Some(1),
        ..ServerConfig::default()
    });
    let mut hanging = connect(server.addr);
    hanging
        .write_all(b"GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let response = read_to_close(&mut s);
    assert!(
        response.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{response}"
    );
    assert!(response.contains("connection: close"));
}

#[test]
fn slow_heads_get_408_and_idle_connections_close() {
    let server = start(ServerConfig {
        header_timeout: Duration::from_millis(300),
        keep_alive_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut partial = connect(server.addr);
    partial.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let response = read_to_close(&mut partial);
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{response}"
    );

    let mut idle = connect(server.addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let response = read_to_close(&mut idle);
    assert!(
        response.starts_with("HTTP/1.1 200 OK") && response.ends_with("ok"),
        "{response}"
    );
}

#[test]
fn shutdown_closes_idle_connections_and_stops_accepting() {
    let server = start(ServerConfig::default());
    let mut idle = connect(server.addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(read_responses(&mut idle, 1).ends_with("ok"));
    server.shutdown.store(true, Ordering::SeqCst);
    assert_eq!(read_to_close(&mut idle), "");
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_err());
}

#[test]
fn http10_is_close_delimited_without_keep_alive() {
    let server = start(ServerConfig::default());
    let mut s = connect(server.addr);
    s.write_all(b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
    let response = read_to_close(&mut s);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(!response.contains("transfer-encoding"), "{response}");
    assert!(response.ends_with("\r\n\r\nabcd"), "{response}");
}

#[test]
fn access_log_lines_follow_the_responses_in_order() {
    use pyre_net::access_log::{AccessFormat, AccessLog, AccessOutput};
    let format = AccessFormat::compile("{method} {path} {query} {status} {bytes}").unwrap();
    let server = start(ServerConfig {
        access_log: Some(AccessLog::new(format, AccessOutput::Text { prefix: "> ".into() })),
        ..ServerConfig::default()
    });
    let mut s = connect(server.addr);
    s.write_all(
        b"GET /a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /stream HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          HEAD /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    read_to_close(&mut s);
    let expected = "> GET /a x=1 200 2\n> GET /stream  200 4\n> POST /echo  200 5\n> HEAD /b  200 0\n";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines = String::from_utf8(server.access.lock().unwrap().clone()).unwrap();
        if lines == expected || std::time::Instant::now() > deadline {
            assert_eq!(lines, expected);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
