//! Counters for `--metrics-port`: what the server counts on the hot path, and the
//! Prometheus text it renders from them.
//!
//! How it works: [`Metrics`] is one flat array of `u64` words with a fixed layout
//! (the `layout` constants below), owned by the single-threaded [`crate::Server`], so
//! counting is a plain integer increment at a constant index: no atomics, no
//! branches beyond the histogram's bucket search. A [`Snapshot`] is a copy of the
//! words with the gauges (requests in flight, open connections) filled in; the
//! bindings hand it to Python as bytes, and worker processes publish it to the
//! process that serves the metrics, which adds the snapshots up ([`Snapshot::add`])
//! and renders the sum ([`render`]) in the Prometheus text exposition format 0.0.4.
//! Because the layout is fixed, snapshots from different processes add word by word.
//!
//! What is counted where (see `server.rs`):
//! - responses by status class: each response completed, the application's and the
//!   server's own refusals (400, 408, 413, 503...);
//! - refusals by reason: codec errors by [`ParseError::name`], plus the header
//!   timeout (408) and the concurrency limit (503);
//! - request duration: from when the request's head was taken up (the server's clock,
//!   read once per poll batch and at the end of each response) to the response's last
//!   byte handed to the kernel, for the application's responses;
//! - bytes read from and written to client sockets (files sent by `sendfile`
//!   included), connections accepted, requests whose connection closed mid-response.

use std::fmt::Write;

use pyre_h1::ParseError;

/// Why the server answered a request itself instead of handing it to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The codec refused the request (its head, or its body while the application
    /// read it).
    Codec(ParseError),
    /// The head did not arrive within the header timeout (408).
    HeaderTimeout,
    /// More requests in flight than `--limit-concurrency` (503).
    ConcurrencyLimit,
}

impl Rejection {
    /// Every reason, in the order of the counters.
    fn all() -> impl Iterator<Item = Rejection> {
        ParseError::ALL
            .into_iter()
            .map(Rejection::Codec)
            .chain([Rejection::HeaderTimeout, Rejection::ConcurrencyLimit])
    }

    fn index(self) -> usize {
        match self {
            Rejection::Codec(error) => error.index(),
            Rejection::HeaderTimeout => ParseError::ALL.len(),
            Rejection::ConcurrencyLimit => ParseError::ALL.len() + 1,
        }
    }

    /// The `reason` label.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Codec(error) => error.name(),
            Rejection::HeaderTimeout => "header_timeout",
            Rejection::ConcurrencyLimit => "concurrency_limit",
        }
    }

    /// The status the server answers with.
    pub fn status(self) -> u16 {
        match self {
            Rejection::Codec(error) => error.status().code(),
            Rejection::HeaderTimeout => 408,
            Rejection::ConcurrencyLimit => 503,
        }
    }
}

/// The `class` label of a status: its first digit, or `other` outside 100..=599
/// (an application may send any status up to 999).
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn class_of(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100) - 1,
        _ => CLASSES.len() - 1,
    }
}

/// Upper bounds of the request duration histogram's buckets, in nanoseconds, with
/// their `le` labels in seconds. From 100 us (a small response on this design takes
/// tens of microseconds) to 10 s; slower requests fall in `+Inf` only.
const BUCKETS: [(u64, &str); 16] = [
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// Where each value lives in the words of [`Metrics`] and [`Snapshot`].
mod layout {
    use super::{BUCKETS, CLASSES};

    pub const RESPONSES: usize = 0;
    pub const IN_FLIGHT: usize = RESPONSES + CLASSES.len();
    pub const OPEN_CONNECTIONS: usize = IN_FLIGHT + 1;
    pub const ACCEPTED: usize = OPEN_CONNECTIONS + 1;
    pub const BYTES_RECEIVED: usize = ACCEPTED + 1;
    pub const BYTES_SENT: usize = BYTES_RECEIVED + 1;
    pub const ABORTED: usize = BYTES_SENT + 1;
    pub const REJECTED: usize = ABORTED + 1;
    /// Non-cumulative counts, one per bucket, then the `+Inf` overflow.
    pub const DURATION_BUCKETS: usize = REJECTED + super::REJECTION_KINDS;
    pub const DURATION_SUM_NANOS: usize = DURATION_BUCKETS + BUCKETS.len() + 1;
    /// TLS connections that failed: a bad handshake, garbage or a truncated record,
    /// or plain HTTP sent to the TLS port.
    pub const TLS_FAILED: usize = DURATION_SUM_NANOS + 1;
    pub const LEN: usize = TLS_FAILED + 1;
}

const REJECTION_KINDS: usize = ParseError::ALL.len() + 2;

/// Words in a snapshot.
pub const SNAPSHOT_WORDS: usize = layout::LEN;

/// The words that are gauges (current values, not totals): they are not kept for a
/// worker that exited.
const GAUGES: [usize; 2] = [layout::IN_FLIGHT, layout::OPEN_CONNECTIONS];

/// A server's counters. Plain integers: the server is single-threaded.
#[derive(Clone)]
pub struct Metrics {
    words: [u64; SNAPSHOT_WORDS],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            words: [0; SNAPSHOT_WORDS],
        }
    }
}

impl Metrics {
    /// A response with `status` was completed.
    #[inline]
    pub fn response(&mut self, status: u16) {
        self.words[layout::RESPONSES + class_of(status)] += 1;
    }

    /// The application's response completed `nanos` after its request's head was read.
    #[inline]
    pub fn duration(&mut self, nanos: u64) {
        let bucket = BUCKETS
            .iter()
            .position(|&(bound, _)| nanos <= bound)
            .unwrap_or(BUCKETS.len());
        self.words[layout::DURATION_BUCKETS + bucket] += 1;
        self.words[layout::DURATION_SUM_NANOS] += nanos;
    }

    /// The server answered a request itself.
    pub fn rejected(&mut self, why: Rejection) {
        self.words[layout::REJECTED + why.index()] += 1;
    }

    #[inline]
    pub fn received(&mut self, bytes: usize) {
        self.words[layout::BYTES_RECEIVED] += bytes as u64;
    }

    /// The counter of bytes written to clients, for the output functions to add to.
    #[inline]
    pub fn sent(&mut self) -> &mut u64 {
        &mut self.words[layout::BYTES_SENT]
    }

    #[inline]
    pub fn accepted(&mut self) {
        self.words[layout::ACCEPTED] += 1;
    }

    /// A request in flight lost its connection before its response completed.
    pub fn aborted(&mut self) {
        self.words[layout::ABORTED] += 1;
    }

    /// A TLS connection failed (handshake, record, or plain HTTP on a TLS port).
    pub fn tls_failed(&mut self) {
        self.words[layout::TLS_FAILED] += 1;
    }

    /// The counters now, with the current gauges.
    pub fn snapshot(&self, in_flight: usize, open_connections: usize) -> Snapshot {
        let mut words = self.words;
        words[layout::IN_FLIGHT] = in_flight as u64;
        words[layout::OPEN_CONNECTIONS] = open_connections as u64;
        Snapshot { words }
    }
}

/// One or more servers' counters and gauges at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    words: [u64; SNAPSHOT_WORDS],
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            words: [0; SNAPSHOT_WORDS],
        }
    }
}

impl Snapshot {
    /// Bytes in [`Snapshot::to_bytes`].
    pub const BYTES: usize = SNAPSHOT_WORDS * 8;

    /// The words in native byte order (for shared memory within one machine).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    /// Reads [`Snapshot::to_bytes`]'s output; `None` for the wrong length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Snapshot> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let mut words = [0; SNAPSHOT_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        }
        Some(Snapshot { words })
    }

    /// Adds another server's snapshot (counters and gauges).
    pub fn add(&mut self, other: &Snapshot) {
        for (total, value) in self.words.iter_mut().zip(other.words) {
            *total = total.wrapping_add(value);
        }
    }

    /// Adds another snapshot's counters only: what a worker that exited leaves
    /// behind (its gauges no longer describe anything).
    pub fn add_counters(&mut self, other: &Snapshot) {
        let mut counters = other.clone();
        for gauge in GAUGES {
            counters.words[gauge] = 0;
        }
        self.add(&counters);
    }

    fn requests_completed(&self) -> u64 {
        let buckets = layout::DURATION_BUCKETS..layout::DURATION_SUM_NANOS;
        self.words[buckets].iter().sum()
    }
}

/// The Prometheus text exposition (format 0.0.4) of a snapshot: every metric with
/// its HELP and TYPE lines, every label value present (zeros included), so that
/// rates work from the first scrape.
pub fn render(snapshot: &Snapshot) -> String {
    let w = &snapshot.words;
    let mut out = String::with_capacity(8 * 1024);
    header(
        &mut out,
        "pyre_requests_total",
        "counter",
        "Responses completed, by status class; the server's own refusals included.",
    );
    for (i, class) in CLASSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "pyre_requests_total{{class=\"{class}\"}} {}",
            w[layout::RESPONSES + i]
        );
    }
    simple(
        &mut out,
        "pyre_requests_in_flight",
        "gauge",
        "Requests handed to the application whose responses are not complete.",
        w[layout::IN_FLIGHT],
    );
    simple(
        &mut out,
        "pyre_tls_failures_total",
        "counter",
        "TLS connections that failed: bad handshake, garbage or truncated records, plain HTTP on the TLS port.",
        w[layout::TLS_FAILED],
    );
    simple(
        &mut out,
        "pyre_requests_aborted_total",
        "counter",
        "Requests whose connection closed before their response completed.",
        w[layout::ABORTED],
    );
    header(
        &mut out,
        "pyre_rejected_requests_total",
        "counter",
        "Requests the server answered itself instead of the application, by reason.",
    );
    for why in Rejection::all() {
        let _ = writeln!(
            out,
            "pyre_rejected_requests_total{{reason=\"{}\",status=\"{}\"}} {}",
            why.name(),
            why.status(),
            w[layout::REJECTED + why.index()]
        );
    }
    simple(
        &mut out,
        "pyre_connections_open",
        "gauge",
        "Client connections open.",
        w[layout::OPEN_CONNECTIONS],
    );
    simple(
        &mut out,
        "pyre_connections_accepted_total",
        "counter",
        "Client connections accepted.",
        w[layout::ACCEPTED],
    );
    simple(
        &mut out,
        "pyre_received_bytes_total",
        "counter",
        "Bytes read from client sockets.",
        w[layout::BYTES_RECEIVED],
    );
    simple(
        &mut out,
        "pyre_sent_bytes_total",
        "counter",
        "Bytes written to client sockets, files sent by sendfile included.",
        w[layout::BYTES_SENT],
    );
    header(
        &mut out,
        "pyre_request_duration_seconds",
        "histogram",
        "Time from a request's head read to its response's last byte written, for \
         responses of the application.",
    );
    let mut cumulative = 0u64;
    for (i, (_, le)) in BUCKETS.iter().enumerate() {
        cumulative = cumulative.wrapping_add(w[layout::DURATION_BUCKETS + i]);
        let _ = writeln!(
            out,
            "pyre_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    let count = snapshot.requests_completed();
    let _ = writeln!(out, "pyre_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
    let nanos = w[layout::DURATION_SUM_NANOS];
    let _ = writeln!(
        out,
        "pyre_request_duration_seconds_sum {}.{:09}",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    );
    let _ = writeln!(out, "pyre_request_duration_seconds_count {count}");
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn simple(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `series` (name and labels exactly as rendered).
    fn sample(text: &str, series: &str) -> u64 {
        let line = text
            .lines()
            .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line[series.len() + 1..].parse().unwrap()
    }

    #[test]
    fn statuses_fall_in_their_class() {
        let table = [
            (100, "1xx"),
            (200, "2xx"),
            (204, "2xx"),
            (304, "3xx"),
            (404, "4xx"),
            (599, "5xx"),
            (600, "other"),
            (999, "other"),
            (99, "other"),
        ];
        for (status, class) in table {
            let mut metrics = Metrics::default();
            metrics.response(status);
            let text = render(&metrics.snapshot(0, 0));
            assert_eq!(
                sample(&text, &format!("pyre_requests_total{{class=\"{class}\"}}")),
                1,
                "{status}"
            );
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let mut metrics = Metrics::default();
        // On a bound counts in that bucket (`le`: less than or equal).
        for nanos in [50_000, 100_000, 100_001, 3_000_000, 20_000_000_000] {
            metrics.duration(nanos);
        }
        let text = render(&metrics.snapshot(0, 0));
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("pyre_request_duration_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.0001"), 2);
        assert_eq!(bucket("0.00025"), 3);
        assert_eq!(bucket("0.0025"), 3);
        assert_eq!(bucket("0.005"), 4);
        assert_eq!(bucket("10"), 4);
        assert_eq!(bucket("+Inf"), 5);
        assert_eq!(sample(&text, "pyre_request_duration_seconds_count"), 5);
        let mut last = 0;
        for line in text
            .lines()
            .filter(|l| l.starts_with("pyre_request_duration_seconds_bucket"))
        {
            let value: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(value >= last, "{line}");
            last = value;
        }
        assert!(
            text.contains("pyre_request_duration_seconds_sum 20.003250001\n"),
            "{text}"
        );
    }

    #[test]
    fn rejections_are_labelled_with_reason_and_status() {
        let mut metrics = Metrics::default();
        metrics.rejected(Rejection::Codec(ParseError::MissingHost));
        metrics.rejected(Rejection::Codec(ParseError::BodyTooLarge));
        metrics.rejected(Rejection::Codec(ParseError::BodyTooLarge));
        metrics.rejected(Rejection::HeaderTimeout);
        metrics.rejected(Rejection::ConcurrencyLimit);
        let text = render(&metrics.snapshot(0, 0));
        let rejected = |reason: &str, status: u16| {
            sample(
                &text,
                &format!("pyre_rejected_requests_total{{reason=\"{reason}\",status=\"{status}\"}}"),
            )
        };
        assert_eq!(rejected("missing_host", 400), 1);
        assert_eq!(rejected("body_too_large", 413), 2);
        assert_eq!(rejected("header_timeout", 408), 1);
        assert_eq!(rejected("concurrency_limit", 503), 1);
        assert_eq!(rejected("unsupported_transfer_coding", 501), 0);
        assert_eq!(rejected("target_too_long", 414), 0);
    }

    #[test]
    fn every_metric_has_help_and_type_before_its_samples() {
        let text = render(&Snapshot::default());
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                typed.push(name.to_string());
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = typed.last().expect("a TYPE line first");
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .filter(|base| base == family)
                    .unwrap_or(name);
                assert_eq!(base, family, "{line}");
                assert!(name.starts_with("pyre_"));
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn snapshots_add_up_and_an_exited_worker_leaves_counters_only() {
        let mut a = Metrics::default();
        a.response(200);
        a.received(100);
        *a.sent() += 300;
        a.duration(1_000);
        let mut b = Metrics::default();
        b.response(200);
        b.response(404);
        b.accepted();
        let mut total = a.snapshot(1, 2);
        total.add(&b.snapshot(3, 4));
        let text = render(&total);
        assert_eq!(sample(&text, "pyre_requests_total{class=\"2xx\"}"), 2);
        assert_eq!(sample(&text, "pyre_requests_total{class=\"4xx\"}"), 1);
        assert_eq!(sample(&text, "pyre_requests_in_flight"), 4);
        assert_eq!(sample(&text, "pyre_connections_open"), 6);
        assert_eq!(sample(&text, "pyre_received_bytes_total"), 100);
        assert_eq!(sample(&text, "pyre_sent_bytes_total"), 300);
        assert_eq!(sample(&text, "pyre_connections_accepted_total"), 1);

        let mut retired = Snapshot::default();
        retired.add_counters(&a.snapshot(5, 6));
        let text = render(&retired);
        assert_eq!(sample(&text, "pyre_requests_total{class=\"2xx\"}"), 1);
        assert_eq!(sample(&text, "pyre_requests_in_flight"), 0);
        assert_eq!(sample(&text, "pyre_connections_open"), 0);
        assert_eq!(sample(&text, "pyre_request_duration_seconds_count"), 1);
    }

    #[test]
    fn snapshots_round_trip_through_bytes() {
        let mut metrics = Metrics::default();
        metrics.response(500);
        metrics.duration(u64::MAX / 4);
        let snapshot = metrics.snapshot(7, 8);
        let bytes = snapshot.to_bytes();
        assert_eq!(bytes.len(), Snapshot::BYTES);
        assert_eq!(Snapshot::from_bytes(&bytes), Some(snapshot));
        assert_eq!(Snapshot::from_bytes(&bytes[1..]), None);
    }
}
