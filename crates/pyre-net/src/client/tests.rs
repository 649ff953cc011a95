//! The client runtime against scripted servers on loopback: a thread with a
//! blocking std listener plays the server, the test drives the runtime's poll.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A server thread that accepts one connection and runs `script` on it.
fn server(script: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        script(stream);
    });
    (addr, handle)
}

/// Reads one request head (up to the blank line) from a blocking stream.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    head
}

/// Processes events until `done` holds (bounded: panics after 5 s).
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

fn connected(addr: SocketAddr) -> (ClientRuntime, usize) {
    let mut rt = ClientRuntime::new(ClientConfig::default()).unwrap();
    let id = rt.connect(addr).unwrap();
    until(&mut rt, |rt| rt.phase(id) != Some(Phase::Connecting));
    assert_eq!(rt.phase(id), Some(Phase::Idle));
    (rt, id)
}

fn get(rt: &mut ClientRuntime, id: usize) {
    let headers: [(&[u8], &[u8]); 1] = [(b"host", b"test")];
    rt.send_request(id, b"GET", b"/", headers, RequestBody::None)
        .unwrap();
}

/// The whole body, or the error that ended it.
fn body(rt: &mut ClientRuntime, id: usize) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        rt.process().unwrap();
        match rt.read_body(id, &mut out, usize::MAX)? {
            BodyRead::Done | BodyRead::Data { more: false } => return Ok(out),
            _ => {}
        }
        assert!(Instant::now() < deadline, "body not complete in 5 s");
        thread::sleep(Duration::from_millis(1));
    }
}

fn status(rt: &mut ClientRuntime, id: usize) -> Result<u16, ClientError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        rt.process().unwrap();
        if let Some(head) = rt.head(id)? {
            return Ok(head.head.status);
        }
        assert!(Instant::now() < deadline, "no head in 5 s");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn keep_alive_exchange_then_reuse() {
    let (addr, handle) = server(|mut s| {
        for body in [&b"hello"[..], b"again"] {
            let head = read_head(&mut s);
            assert!(head.starts_with(b"GET / HTTP/1.1\r\nhost: test\r\n"), "{head:?}");
            write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
            s.write_all(body).unwrap();
        }
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    assert_eq!(status(&mut rt, id).unwrap(), 200);
    assert_eq!(body(&mut rt, id).unwrap(), b"hello");
    assert!(rt.release(id));
    assert!(rt.is_reusable(id));
    get(&mut rt, id);
    assert_eq!(body(&mut rt, id).unwrap(), b"again");
    handle.join().unwrap();
}

#[test]
fn interim_responses_are_skipped_and_chunked_bodies_decoded() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            .unwrap();
        s.write_all(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        s.write_all(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n")
            .unwrap();
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    assert_eq!(status(&mut rt, id).unwrap(), 201);
    assert_eq!(body(&mut rt, id).unwrap(), b"abcde");
    handle.join().unwrap();
}

#[test]
fn close_delimited_body_ends_at_eof_and_is_not_reused() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end").unwrap();
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    assert_eq!(body(&mut rt, id).unwrap(), b"until the end");
    assert!(!rt.release(id));
    handle.join().unwrap();
}

#[test]
fn truncated_body_is_an_error() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            .unwrap();
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    let mut out = Vec::new();
    let error = loop {
        rt.process().unwrap();
        match rt.read_body(id, &mut out, usize::MAX) {
            Err(e) => break e,
            Ok(BodyRead::Done) => panic!("a truncated body ended cleanly"),
            Ok(_) => thread::sleep(Duration::from_millis(1)),
        }
    };
    assert_eq!(out, b"short");
    assert_eq!(error.kind, ErrorKind::Protocol);
    assert!(
        error.message.contains("before the response body ended"),
        "{error:?}"
    );
    handle.join().unwrap();
}

#[test]
fn garbage_and_silence_are_protocol_errors() {
    for (reply, expected) in [
        (&b"SSH-2.0-OpenSSH_9.2\r\n\r\n"[..], "not an HTTP response"),
        (b"", "without sending a response"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Le",
            "in the middle of the response head",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
    ] {
        let (addr, handle) = server(move |mut s| {
            read_head(&mut s);
            s.write_all(reply).unwrap();
        });
        let (mut rt, id) = connected(addr);
        get(&mut rt, id);
        let error = status(&mut rt, id).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains(expected), "{error:?}");
        handle.join().unwrap();
    }
}

#[test]
fn oversized_head_is_refused_without_reading_it_all() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        let line = format!("X-Big: {}\r\n", "a".repeat(1000));
        for _ in 0..200 {
            if s.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    let error = status(&mut rt, id).unwrap_err();
    assert!(error.message.contains("response head larger than"), "{error:?}");
    rt.close(id);
    handle.join().unwrap();
}

#[test]
fn a_consumer_that_does_not_read_stops_socket_reads() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        let total = 16 << 20;
        write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n").unwrap();
        let piece = vec![b'x'; 1 << 16];
        let mut sent = 0;
        while sent < total {
            if s.write_all(&piece).is_err() {
                return;
            }
            sent += piece.len();
        }
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    status(&mut rt, id).unwrap();
    for _ in 0..50 {
        rt.process().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    assert!(rt.buffered(id) <= DEFAULT_CLIENT_READ_HIGH_WATER);
    assert!(rt.conns[id].read_paused);
    // Reading resumes as the consumer reads, and the whole body arrives.
    let got = body(&mut rt, id).unwrap();
    assert_eq!(got.len(), 16 << 20);
    handle.join().unwrap();
}

#[test]
fn a_slow_server_makes_the_producer_wait() {
    let (addr, handle) = server(|mut s| {
        let head = read_head(&mut s);
        assert!(head.windows(26).any(|w| w == b"transfer-encoding: chunked"));
        thread::sleep(Duration::from_millis(300));
        let mut sink = vec![0u8; 1 << 16];
        while let Ok(n) = s.read(&mut sink) {
            if n == 0 || sink[..n].ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
    });
    let (mut rt, id) = connected(addr);
    let headers: [(&[u8], &[u8]); 1] = [(b"host", b"test")];
    rt.send_request(id, b"POST", b"/", headers, RequestBody::Stream)
        .unwrap();
    let piece = vec![b'y'; 1 << 16];
    let mut flow = Flow::Ready;
    let mut pieces = 0;
    while flow == Flow::Ready && pieces < 10_000 {
        flow = rt.send_body(id, &piece, false).unwrap();
        pieces += 1;
    }
    assert_eq!(flow, Flow::Wait, "the producer was never asked to wait");
    until(&mut rt, |rt| rt.drained(id).unwrap());
    rt.send_body(id, b"", true).unwrap();
    until(&mut rt, |rt| rt.drained(id).unwrap());
    assert_eq!(status(&mut rt, id).unwrap(), 204);
    handle.join().unwrap();
}

#[test]
fn a_refused_connect_is_a_connect_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut rt = ClientRuntime::new(ClientConfig::default()).unwrap();
    match rt.connect(addr) {
        Err(e) => assert_eq!(e.kind(), IoKind::ConnectionRefused),
        Ok(id) => {
            until(&mut rt, |rt| rt.phase(id) != Some(Phase::Connecting));
            assert_eq!(rt.error(id).unwrap().kind, ErrorKind::Connect);
        }
    }
}

#[test]
fn an_idle_connection_closed_by_the_server_is_not_reusable() {
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        thread::sleep(Duration::from_millis(50));
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    body(&mut rt, id).unwrap();
    assert!(rt.release(id));
    handle.join().unwrap();
    until(&mut rt, |rt| !rt.is_reusable(id));
}

#[test]
fn a_close_delimited_body_larger_than_the_buffers_reaches_eof() {
    // The hang-up is reported once, with the first bytes; reading pauses at the
    // head limit, and the resumed reads must still go on to EOF.
    let (addr, handle) = server(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        s.write_all(&vec![b'c'; 1 << 20]).unwrap();
    });
    let (mut rt, id) = connected(addr);
    get(&mut rt, id);
    handle.join().unwrap();
    assert_eq!(status(&mut rt, id).unwrap(), 200);
    assert_eq!(body(&mut rt, id).unwrap().len(), 1 << 20);
    assert!(rt.progress(id) > 1 << 20);
}
