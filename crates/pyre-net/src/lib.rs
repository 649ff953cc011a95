//! # pyre-net: Pyre's runtime
//!
//! One thread, Rust owns the sockets: a `mio::Poll` over the listeners and the
//! connections, whose fd the host event loop (asyncio) watches. Pure Rust and
//! independent of Python: the application drives it through [`Server`]'s methods and
//! hears from it through [`Event`]s, so it is tested without an interpreter.
//!
//! - [`listener`]: TCP (IPv4/IPv6), Unix socket and inherited-fd listeners.
//! - [`connection`]: the per-connection state machine ([`Phase`]).
//! - [`server`]: event processing, request/response calls, deadlines, shutdown.
//! - [`output`]: writing through to sockets, out-buffers, files by `sendfile`.
//! - [`transport`]: plain sockets or TLS (rustls) under a connection; [`tls`]: the
//!   TLS settings (certificates, client certificates, cipher suites).
//! - [`websocket`]: an open WebSocket's state (the protocol switch itself is in
//!   `server/websocket.rs`; frames are pyre-ws's business).
//! - [`proxy`]: proxy headers from trusted peers (who the client really is).
//! - [`buffers`]: the buffer pool and reads into spare capacity.
//! - [`access_log`]: access log formats, rendering and the batch of lines.
//! - [`metrics`]: counters for `--metrics-port` and their Prometheus text.
//! - [`client`]: the client runtime (outgoing connections, same codec, own poll).

pub mod access_log;
pub mod buffers;
pub mod client;
pub mod config;
pub mod connection;
pub mod listener;
pub mod metrics;
pub mod output;
pub mod proxy;
pub mod server;
pub mod tls;
pub mod transport;
pub mod websocket;

pub use config::{MinRate, ServerConfig, DEFAULT_MIN_RATE};
pub use connection::Phase;
pub use listener::{BindAddr, LocalAddr};
pub use metrics::Snapshot;
pub use pyre_h1 as h1;
pub use pyre_ws as ws;
pub use rustls;
pub use server::{BodyRead, Event, Flow, RequestKey, RequestView, SendError, Server};
pub use websocket::{Outgoing, WsClosed, WsMessage};
