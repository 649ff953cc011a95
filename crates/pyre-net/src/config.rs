//! The runtime's settings, each with its default and the reason for it.

use std::time::Duration;

use pyre_h1::Limits;

use crate::access_log::AccessLog;
use crate::proxy::ProxyTrust;

/// Default keep-alive idle timeout: longer than the idle timeouts of common load
/// balancers (AWS ALB 60 s), so that the proxy closes an idle connection first and no
/// request races a server-side close.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);

/// Default time allowed to receive a whole request head once its first byte arrived
/// (slowloris defence); a partial head then gets 408 and the connection closes.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection keeps reading (and discarding) after its last
/// response, so that unread request bytes do not make the kernel reset the
/// connection and destroy the response before the client read it.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// Default listen backlog.
pub const DEFAULT_BACKLOG: i32 = 2048;

/// Request body bytes buffered for the application before reading from the socket
/// pauses (read backpressure).
pub const DEFAULT_READ_HIGH_WATER: usize = 64 * 1024;

/// Response bytes the out-buffer may hold before the application's `send` waits
/// (write backpressure)...
pub const DEFAULT_WRITE_HIGH_WATER: usize = 64 * 1024;

/// ...until the out-buffer has drained below this.
pub const DEFAULT_WRITE_LOW_WATER: usize = 16 * 1024;

/// Most file bytes sent for one connection before the other connections get their
/// turn of the loop (sendfile is fast enough to hold the loop for a whole large file).
pub const DEFAULT_FILE_BYTES_PER_TURN: u64 = 4 << 20;

/// Initial capacity of a connection's read buffer: enough for most request heads.
pub const INITIAL_READ_BUFFER: usize = 8 * 1024;

/// Most readiness events taken from the poll in one call.
pub const EVENTS_PER_POLL: usize = 1024;

/// Default largest WebSocket message, after decompression (uvicorn's default):
/// beyond it the connection closes with 1009.
pub const DEFAULT_WS_MAX_MESSAGE: usize = 16 << 20;

/// Default time between the server's pings on an open WebSocket (uvicorn's default).
pub const DEFAULT_WS_PING_INTERVAL: Duration = Duration::from_secs(20);

/// Default time a ping may go unanswered before the connection closes with 1011.
pub const DEFAULT_WS_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the server waits for the client's close frame after sending its own
/// before it drops the connection (swept by the once-a-second tick).
pub const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// WebSocket settings (`--ws*` options).
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// See [`DEFAULT_WS_MAX_MESSAGE`] (`--ws-max-size`).
    pub max_message: usize,
    /// Negotiate permessage-deflate when the client offers it.
    pub per_message_deflate: bool,
    /// See [`DEFAULT_WS_PING_INTERVAL`]; `None`: no pings.
    pub ping_interval: Option<Duration>,
    /// See [`DEFAULT_WS_PING_TIMEOUT`]; `None`: pongs are not awaited.
    pub ping_timeout: Option<Duration>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message: DEFAULT_WS_MAX_MESSAGE,
            per_message_deflate: true,
            ping_interval: Some(DEFAULT_WS_PING_INTERVAL),
            ping_timeout: Some(DEFAULT_WS_PING_TIMEOUT),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Codec limits (head size, target, header count, body size...).
    pub limits: Limits,
    /// See [`DEFAULT_KEEP_ALIVE_TIMEOUT`].
    pub keep_alive_timeout: Duration,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// Requests in flight beyond which new requests get 503 and the connection
    /// closes; `None` for no limit.
    pub limit_concurrency: Option<usize>,
    /// See [`DEFAULT_READ_HIGH_WATER`].
    pub read_high_water: usize,
    /// See [`DEFAULT_WRITE_HIGH_WATER`].
    pub write_high_water: usize,
    /// See [`DEFAULT_WRITE_LOW_WATER`].
    pub write_low_water: usize,
    /// See [`DEFAULT_FILE_BYTES_PER_TURN`].
    pub file_bytes_per_turn: u64,
    /// Fields added to every response whose application did not set a field of the
    /// same name (`--header`, `--server-header`).
    pub default_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Send a `Date` field (RFC 9110 section 6.6.1; `--no-date-header` turns it off).
    pub date_header: bool,
    /// Report protocol errors as events (for debug logging).
    pub report_protocol_errors: bool,
    /// Record a line for each completed response (`--access-log`); `None` for off.
    pub access_log: Option<AccessLog>,
    /// Whose proxy headers are believed when the access log names the client
    /// (`--proxy-headers`, `--forwarded-allow-ips`); `None` for nobody's.
    pub proxy: Option<ProxyTrust>,
    /// WebSocket upgrades; `None` (`--ws none`) serves upgrade requests as plain
    /// HTTP.
    pub websocket: Option<WebSocketConfig>,
    /// The slowest a client may move a request's bytes, once the server waits on
    /// it: `None` for no rule (see [`MinRate`]).
    pub min_rate: Option<MinRate>,
    /// TLS on every listener (see `tls.rs`); `None`: plain HTTP.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// The minimum data rate (`--min-rate`, `--min-rate-grace`), against slow-body
/// and slow-read clients, as Apache's mod_reqtimeout `MinRate`.
///
/// How it works: each tick, a request whose server waits on its client (the
/// application waits for body bytes, an unread body is being discarded, or
/// response bytes wait for the client to read them) adds the tick's time to the
/// request's waiting time. The request may wait `grace` plus one second per
/// `bytes_per_second` bytes its client moved (body in, response out); beyond that
/// the connection is closed (the application sees a disconnect). Time the server
/// spends on its own (an application computing, a stream producing slowly) never
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    pub bytes_per_second: u64,
    pub grace: Duration,
}

/// Default [`MinRate`]: 500 bytes/s after 20 s of waiting, as Apache's
/// mod_reqtimeout `body=20,MinRate=500`.
pub const DEFAULT_MIN_RATE: MinRate = MinRate {
    bytes_per_second: 500,
    grace: Duration::from_secs(20),
};

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            limit_concurrency: None,
            read_high_water: DEFAULT_READ_HIGH_WATER,
            write_high_water: DEFAULT_WRITE_HIGH_WATER,
            write_low_water: DEFAULT_WRITE_LOW_WATER,
            file_bytes_per_turn: DEFAULT_FILE_BYTES_PER_TURN,
            default_headers: Vec::new(),
            date_header: true,
            report_protocol_errors: false,
            min_rate: Some(DEFAULT_MIN_RATE),
            tls: None,
            access_log: None,
            proxy: None,
            websocket: Some(WebSocketConfig::default()),
        }
    }
}
