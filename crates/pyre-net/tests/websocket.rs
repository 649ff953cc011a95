//! The WebSocket switch on the runtime, driven in one thread: the test is the
//! application (calling the runtime) and the client (raw bytes on a socket).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pyre_net::{BindAddr, Event, LocalAddr, Outgoing, RequestKey, Server, ServerConfig, WsMessage};

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

struct Rig {
    server: Server,
    client: TcpStream,
    events: Vec<Event>,
}

impl Rig {
    fn new() -> Rig {
        let mut server = Server::new(ServerConfig::default()).unwrap();
        let LocalAddr::Tcp(addr) = server
            .listen(&BindAddr::Tcp("127.0.0.1:0".parse().unwrap()), 16)
            .unwrap()
        else {
            panic!("tcp listener expected")
        };
        let client = TcpStream::connect(addr).unwrap();
        client.set_nonblocking(true).unwrap();
        Rig {
            server,
            client,
            events: Vec::new(),
        }
    }

    fn until(&mut self, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.server.process().unwrap();
            while let Some(event) = self.server.pop_event() {
                self.events.push(event);
            }
            if let Some(i) = self.events.iter().position(&wanted) {
                return self.events.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no matching event; saw {:?}",
                self.events
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reads until `n` bytes arrived (or EOF); returns them.
    fn read(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while out.len() < n && Instant::now() < deadline {
            self.server.process().unwrap();
            match self.client.read(&mut buf[..(n - out.len()).min(4096)]) {
                Ok(0) => break,
                Ok(k) => out.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("client read failed: {e}"),
            }
        }
        out
    }

    fn read_head(&mut self) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = self.read(1);
            assert_eq!(
                byte.len(),
                1,
                "closed during the head: {:?}",
                String::from_utf8_lossy(&head)
            );
            head.extend_from_slice(&byte);
        }
        String::from_utf8(head).unwrap()
    }

    fn accepted(&mut self) -> RequestKey {
        self.client.write_all(UPGRADE).unwrap();
        let Event::Request(key) = self.until(|e| matches!(e, Event::Request(_))) else {
            unreachable!()
        };
        assert!(self.server.request(key).unwrap().websocket.is_some());
        self.server
            .accept_websocket(key, None, &[(b"x-app", b"1")])
            .unwrap();
        let head = self.read_head();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        // RFC 6455 section 1.3's example key and answer.
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        assert!(head.to_ascii_lowercase().contains("x-app: 1"), "{head}");
        key
    }
}

/// A masked client frame (mask 0, which leaves the payload as is).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn an_invalid_version_gets_426_and_no_request() {
    let mut rig = Rig::new();
    let request = String::from_utf8_lossy(UPGRADE).replace("Version: 13", "Version: 8");
    rig.client.write_all(request.as_bytes()).unwrap();
    let head = rig.read_head();
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("sec-websocket-version: 13"),
        "{head}"
    );
    assert!(!rig.events.iter().any(|e| matches!(e, Event::Request(_))));
}

#[test]
fn messages_both_ways_ping_and_the_clients_close() {
    let mut rig = Rig::new();
    let key = rig.accepted();
    assert_eq!(rig.server.ws_receive(key).unwrap(), None);
    rig.client.write_all(&client_frame(0x1, b"hello")).unwrap();
    rig.until(|e| *e == Event::Message(key));
    assert_eq!(
        rig.server.ws_receive(key).unwrap(),
        Some(WsMessage::Text("hello".into()))
    );

    rig.server.ws_send(key, Outgoing::Binary(b"\x01\x02")).unwrap();
    assert_eq!(rig.read(4), b"\x82\x02\x01\x02");

    rig.client.write_all(&client_frame(0x9, b"p")).unwrap();
    assert_eq!(rig.read(3), b"\x8a\x01p");

    let mut close = client_frame(0x8, b"\x0f\xa0bye");
    close.extend_from_slice(&client_frame(0x1, b"ignored"));
    rig.client.write_all(&close).unwrap();
    let Event::WebSocketClosed(closed_key, closed) = rig.until(|e| matches!(e, Event::WebSocketClosed(..)))
    else {
        unreachable!()
    };
    assert_eq!(
        (closed_key, closed.code, closed.reason.as_str()),
        (key, 4000, "bye")
    );
    // The echo of the code, then the server closes.
    assert_eq!(rig.read(4), b"\x88\x02\x0f\xa0");
    assert!(rig.read(1).is_empty());
    assert_eq!(rig.server.in_flight(), 0);
}

#[test]
fn a_protocol_error_closes_with_its_code() {
    let mut rig = Rig::new();
    let key = rig.accepted();
    // Unmasked.
    rig.client.write_all(b"\x81\x02hi").unwrap();
    let Event::WebSocketClosed(_, closed) = rig.until(|e| matches!(e, Event::WebSocketClosed(..))) else {
        unreachable!()
    };
    assert_eq!(closed.code, 1002);
    // A close frame whose code is 1002.
    let frame = rig.read(4);
    assert_eq!((frame[0], &frame[2..4]), (0x88, &[0x03, 0xea][..]));
    assert!(rig.server.ws_send(key, Outgoing::Text("late")).is_err());
}

#[test]
fn shutdown_sends_going_away() {
    let mut rig = Rig::new();
    let key = rig.accepted();
    rig.server.begin_shutdown();
    // A close frame whose code is 1001.
    let frame = rig.read(4);
    assert_eq!((frame[0], &frame[2..4]), (0x88, &[0x03, 0xe9][..]));
    rig.client.write_all(&client_frame(0x8, b"\x03\xe9")).unwrap();
    let Event::WebSocketClosed(closed_key, closed) = rig.until(|e| matches!(e, Event::WebSocketClosed(..)))
    else {
        unreachable!()
    };
    assert_eq!((closed_key, closed.code), (key, 1001));
}
