//! Write backpressure and files, driven in one thread: the test is both the
//! application (calling the runtime) and the client (a socket it reads when it
//! chooses), so it decides exactly when the client is slow.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pyre_net::{BindAddr, Event, Flow, LocalAddr, RequestKey, Server, ServerConfig};

const HIGH: usize = 64 * 1024;
const LOW: usize = 16 * 1024;

struct Rig {
    server: Server,
    client: TcpStream,
    events: Vec<Event>,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(ServerConfig {
            write_high_water: HIGH,
            write_low_water: LOW,
            ..ServerConfig::default()
        })
    }

    fn with(config: ServerConfig) -> Rig {
        let mut server = Server::new(config).unwrap();
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

    /// Runs the runtime once and collects its events.
    fn pump(&mut self) {
        self.server.process().unwrap();
        while let Some(event) = self.server.pop_event() {
            self.events.push(event);
        }
    }

    /// Pumps until an event matches, for at most five seconds; `between` runs each
    /// round (the client's part).
    fn until(&mut self, wanted: impl Fn(&Event) -> bool, mut between: impl FnMut(&mut Self)) -> Event {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.pump();
            if let Some(i) = self.events.iter().position(&wanted) {
                return self.events.remove(i);
            }
            assert!(
                Instant::now() < deadline,
                "no matching event; saw {:?}",
                self.events
            );
            between(self);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn request(&mut self, raw: &[u8]) -> RequestKey {
        self.client.write_all(raw).unwrap();
        match self.until(|e| matches!(e, Event::Request(_)), |_| {}) {
            Event::Request(key) => key,
            _ => unreachable!(),
        }
    }

    /// Streams until the application must wait, then resets the client: the
    /// pending output can never drain. (The rig keeps a stand-in socket, on another
    /// listener, that is never used.)
    fn stall_then_reset(&mut self, key: RequestKey) {
        self.server
            .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), None)
            .unwrap();
        let piece = vec![b'y'; 64 * 1024];
        while self.server.send_body(key, &piece, true).unwrap() == Flow::Ready {}
        socket2::SockRef::from(&self.client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stand_in = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(std::mem::replace(&mut self.client, stand_in));
    }

    /// Reads what the client has received so far into `into`; returns false on EOF.
    fn read_available(&mut self, into: &mut Vec<u8>) -> bool {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match self.client.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => into.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) => panic!("client read failed: {e}"),
            }
        }
    }
}

fn body_of(response: &[u8]) -> &[u8] {
    let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &response[at + 4..]
}

#[test]
fn a_stream_waits_above_the_high_water_mark_and_resumes_below_the_low_one() {
    let mut rig = Rig::new();
    let key = rig.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    rig.server
        .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), None)
        .unwrap();
    let piece = vec![b'x'; 16 * 1024];
    let mut pieces = 0;
    // The client reads nothing: the kernel's buffers fill, then the out-buffer.
    while rig.server.send_body(key, &piece, true).unwrap() == Flow::Ready {
        pieces += 1;
        assert!(
            pieces < 4096,
            "64 MiB went out without the runtime asking to wait"
        );
    }
    for _ in 0..20 {
        rig.pump();
    }
    assert!(
        !rig.events.contains(&Event::Drained(key)),
        "drained while the client reads nothing"
    );
    // The client reads: the out-buffer drains and the application hears about it.
    let mut received = Vec::new();
    rig.until(
        |e| *e == Event::Drained(key),
        |rig| {
            rig.read_available(&mut received);
        },
    );
    rig.server.send_body(key, b"", false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !received.ends_with(b"0\r\n\r\n") {
        assert!(Instant::now() < deadline);
        rig.pump();
        rig.read_available(&mut received);
    }
    // Every byte arrived, in order, one chunk per piece.
    let expected_chunk: Vec<u8> = [b"4000\r\n".as_slice(), &piece, b"\r\n"].concat();
    let body = body_of(&received);
    assert_eq!(body.len(), (pieces + 1) * expected_chunk.len() + 5);
    assert!(body
        .chunks(expected_chunk.len())
        .take(pieces + 1)
        .all(|c| c == expected_chunk));
}

#[test]
fn a_client_gone_while_the_application_waits_is_reported() {
    let mut rig = Rig::new();
    let key = rig.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    rig.stall_then_reset(key);
    rig.until(|e| *e == Event::Disconnect(key), |_| {});
    assert_eq!(rig.server.connection_count(), 0);
    assert_eq!(rig.server.in_flight(), 0);
}

#[test]
fn a_file_goes_out_whole_and_completes_the_response() {
    let mut rig = Rig::new();
    let dir = std::env::temp_dir().join(format!("pyre-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("file.bin");
    let content: Vec<u8> = (0..(8 * 1024 * 1024 + 3)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();

    let key = rig.request(b"GET /f HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    let len = content.len() as u64;
    rig.server
        .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), Some(len))
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // 8 MiB do not fit in loopback's buffers while the client reads nothing.
    assert_eq!(rig.server.send_file(key, file, 0, len).unwrap(), Flow::Wait);
    // The pipelined request waits until the file is out.
    for _ in 0..20 {
        rig.pump();
    }
    assert!(!rig.events.iter().any(|e| matches!(e, Event::Request(_))));
    let mut received = Vec::new();
    rig.until(
        |e| *e == Event::Drained(key),
        |rig| {
            rig.read_available(&mut received);
        },
    );
    let next = match rig.until(|e| matches!(e, Event::Request(_)), |_| {}) {
        Event::Request(next) => next,
        _ => unreachable!(),
    };
    assert_ne!(next, key);
    rig.read_available(&mut received);
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
    assert!(head.contains(&format!("content-length: {len}")), "{head}");
    assert_eq!(received.len() - head_end, content.len());
    assert!(received[head_end..] == content[..], "file bytes differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_shorter_than_announced_closes_the_connection() {
    let mut rig = Rig::new();
    let dir = std::env::temp_dir().join(format!("pyre-flow-short-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("short.bin");
    std::fs::write(&path, b"only ten b").unwrap();
    let key = rig.request(b"GET /f HTTP/1.1\r\nHost: a\r\n\r\n");
    rig.server
        .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), Some(100))
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // The file is 10 bytes but 100 are sent from it: sendfile runs dry, and the
    // framing cannot be kept, so the connection closes.
    let result = rig.server.send_file(key, file, 0, 100);
    assert!(result.is_err(), "{result:?}");
    assert_eq!(rig.server.connection_count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_is_sent_in_turns() {
    // A small turn makes it deterministic: a fresh socket takes 4 KiB at once, so
    // the first turn ends on the budget, not on a full socket.
    let mut rig = Rig::with(ServerConfig {
        file_bytes_per_turn: 4096,
        ..ServerConfig::default()
    });
    let dir = std::env::temp_dir().join(format!("pyre-flow-turns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("turns.bin");
    let content: Vec<u8> = (0..(1024 * 1024 + 7)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let key = rig.request(b"GET /f HTTP/1.1\r\nHost: a\r\n\r\n");
    let len = content.len() as u64;
    rig.server
        .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), Some(len))
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(rig.server.send_file(key, file, 0, len).unwrap(), Flow::Wait);
    // The runtime stopped by itself, with the socket still writable, and asks to be
    // run again (no readiness event would come).
    assert!(
        rig.server.has_events(),
        "the first turn did not end on the budget"
    );
    let mut received = Vec::new();
    rig.until(
        |e| *e == Event::Drained(key),
        |rig| {
            rig.read_available(&mut received);
        },
    );
    rig.read_available(&mut received);
    assert_eq!(body_of(&received), &content[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The value of sample `series` (name and labels as rendered) in the metrics text.
fn metric(server: &Server, series: &str) -> u64 {
    let text = pyre_net::metrics::render(&server.metrics());
    let line = text
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line[series.len() + 1..].parse().unwrap()
}

#[test]
fn metrics_count_responses_refusals_and_every_byte_both_ways() {
    let mut rig = Rig::new();
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let key = rig.request(request);
    assert_eq!(metric(&rig.server, "pyre_requests_in_flight"), 1);
    assert_eq!(metric(&rig.server, "pyre_connections_open"), 1);
    rig.server
        .start_response(key, 200, std::iter::empty::<(&[u8], &[u8])>(), Some(5))
        .unwrap();
    rig.server.send_body(key, b"hello", false).unwrap();
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !received.ends_with(b"hello") {
        assert!(Instant::now() < deadline);
        rig.pump();
        rig.read_available(&mut received);
    }
    assert_eq!(metric(&rig.server, "pyre_requests_in_flight"), 0);
    assert_eq!(metric(&rig.server, "pyre_requests_total{class=\"2xx\"}"), 1);
    assert_eq!(metric(&rig.server, "pyre_request_duration_seconds_count"), 1);
    assert_eq!(
        metric(&rig.server, "pyre_received_bytes_total"),
        request.len() as u64
    );
    assert_eq!(
        metric(&rig.server, "pyre_sent_bytes_total"),
        received.len() as u64
    );

    // A request without Host: refused by the codec, answered 400, connection closed.
    let refused = b"GET / HTTP/1.1\r\n\r\n";
    rig.client.write_all(refused).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rig.read_available(&mut received) {
        assert!(Instant::now() < deadline);
        rig.pump();
        std::thread::sleep(Duration::from_millis(1));
    }
    rig.pump();
    let series = "pyre_rejected_requests_total{reason=\"missing_host\",status=\"400\"}";
    assert_eq!(metric(&rig.server, series), 1);
    assert_eq!(metric(&rig.server, "pyre_requests_total{class=\"4xx\"}"), 1);
    // Refusals are not the application's responses: not in the histogram.
    assert_eq!(metric(&rig.server, "pyre_request_duration_seconds_count"), 1);
    let total_in = (request.len() + refused.len()) as u64;
    assert_eq!(metric(&rig.server, "pyre_received_bytes_total"), total_in);
    assert_eq!(
        metric(&rig.server, "pyre_sent_bytes_total"),
        received.len() as u64
    );
    assert_eq!(metric(&rig.server, "pyre_connections_accepted_total"), 1);
    // The server lingers until the client closes too.
    assert_eq!(metric(&rig.server, "pyre_connections_open"), 1);
    rig.client.shutdown(std::net::Shutdown::Write).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&rig.server, "pyre_connections_open") > 0 {
        assert!(Instant::now() < deadline);
        rig.pump();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_later_connection_in_the_same_slot_gets_other_request_keys() {
    let mut rig = Rig::new();
    let first = rig.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let addr = rig.client.peer_addr().unwrap();
    // The client goes away while its application still runs: the connection
    // closes and its slot is freed.
    rig.stall_then_reset(first);
    rig.until(|e| *e == Event::Disconnect(first), |_| {});
    assert_eq!(rig.server.connection_count(), 0);
    rig.client = TcpStream::connect(addr).unwrap();
    rig.client.set_nonblocking(true).unwrap();
    let second = rig.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(second.index, first.index, "the slot is reused");
    assert_ne!(second, first, "a stale key must not name the new request");
    // The first application's late calls cannot touch the second request.
    assert!(rig
        .server
        .start_response(first, 200, std::iter::empty::<(&[u8], &[u8])>(), Some(0))
        .is_err());
    rig.server
        .start_response(second, 204, std::iter::empty::<(&[u8], &[u8])>(), Some(0))
        .unwrap();
}
