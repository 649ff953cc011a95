//! The transport under a connection: the socket itself, or TLS over it. The codec,
//! the connection's state machine and the WebSocket layer only see plaintext, through
//! [`read`], [`write`] and [`flush`]; whether TLS is in use is decided here alone.
//!
//! How TLS works here (rustls is sans-IO, so it runs in the same loop, no thread):
//! - Reading: ciphertext goes from the socket into rustls (`read_tls`, at most one
//!   record buffer at a time), `process_new_packets` decrypts it (and answers the
//!   handshake), and plaintext is copied from rustls into the connection's read
//!   buffer, never more than the room the phase allows. rustls keeps what did not
//!   fit; the read that resumes a paused connection takes it first, so read
//!   backpressure holds as for plain sockets.
//! - Writing: plaintext goes into rustls (`writer()`), which encrypts it into its own
//!   buffer, bounded by [`TLS_BUFFER_LIMIT`]; `write_tls` moves it to the socket.
//!   rustls takes the place of the kernel's send buffer: what it accepts counts as
//!   written, what it refuses stays in the connection's out-buffer, so the water marks
//!   and write-through work unchanged. While rustls still holds ciphertext the socket
//!   was full: the connection keeps WRITABLE interest ([`has_output`]).
//! - Files cannot go by `sendfile(2)` (the kernel would send plaintext): they are read
//!   in pieces of [`FILE_PIECE`] bytes into a buffer and encrypted, so memory stays
//!   flat; a piece is only read when rustls has room for it.
//! - Closing sends `close_notify` before the write side is shut down.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::os::fd::RawFd;

use rustls::ServerConnection;

use crate::buffers::{read_into, ReadResult};
use crate::listener::Stream;

/// Ciphertext and plaintext rustls may hold for one connection before it refuses
/// more plaintext (the out-buffer then holds the rest): as the kernel's send buffer
/// for a plain socket, a bound on what one slow reader costs.
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// A file sent over TLS is read and encrypted this many bytes at a time.
pub const FILE_PIECE: usize = 16 * 1024;

/// A connection's TLS session (boxed on the connection: plain ones pay a pointer).
pub struct TlsSession {
    pub conn: ServerConnection,
    /// No byte has been read yet: the first one tells TLS from plain HTTP.
    pub fresh: bool,
    /// The handshake or a record failed: nothing more is read or written.
    pub failed: bool,
    /// Why it failed, for the debug log.
    pub error: Option<&'static str>,
}

impl TlsSession {
    pub fn new(config: std::sync::Arc<rustls::ServerConfig>) -> Result<TlsSession, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(TlsSession {
            conn,
            fresh: true,
            failed: false,
            error: None,
        })
    }
}

/// What the first bytes on a TLS port were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstByte {
    /// A TLS record (handshake, content type 22) or nothing yet.
    Tls,
    /// An ASCII letter: a plain-HTTP request sent to the TLS port.
    PlainHttp,
}

/// Peeks at the first byte of a new TLS connection without consuming it.
pub fn peek_first_byte(fd: RawFd) -> FirstByte {
    let mut byte = 0u8;
    // SAFETY: `byte` is valid for one byte of writes; `fd` is the connection's open
    // socket. MSG_PEEK leaves the byte in the kernel for rustls to read.
    let n = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK) };
    if n == 1 && byte.is_ascii_alphabetic() {
        FirstByte::PlainHttp
    } else {
        FirstByte::Tls
    }
}

/// Reads plaintext into `buf`, at most `room` bytes. Plain sockets read directly.
pub fn read(stream: &mut Stream, tls: Option<&mut TlsSession>, buf: &mut Vec<u8>, room: usize) -> ReadResult {
    let Some(tls) = tls else {
        return read_into(stream.raw_fd(), buf, room);
    };
    if tls.failed {
        return ReadResult::Failed;
    }
    loop {
        // Plaintext rustls already holds comes first.
        match read_plaintext(&mut tls.conn, buf, room) {
            Ok(0) => return ReadResult::Eof,
            // Not a short read in the plain sense (the socket may hold more records):
            // `offered == read` keeps the caller reading until the socket is empty.
            Ok(n) => return ReadResult::Read { read: n, offered: n },
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return ReadResult::Eof,
        }
        match tls.conn.read_tls(stream) {
            Ok(0) => {
                if tls.conn.is_handshaking() {
                    tls.failed = true;
                    tls.error = Some("TLS: connection closed during the handshake");
                    return ReadResult::Failed;
                }
                // The peer closed without close_notify (truncation) or after it.
                let _ = tls.conn.process_new_packets();
                return match read_plaintext(&mut tls.conn, buf, room) {
                    Ok(n) if n > 0 => ReadResult::Read { read: n, offered: n },
                    _ => ReadResult::Eof,
                };
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadResult::WouldBlock,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return ReadResult::Failed,
        }
        tls.fresh = false;
        if let Err(error) = tls.conn.process_new_packets() {
            // rustls queued an alert for the peer: send it, then give up.
            tls.failed = true;
            tls.error = Some(describe(&error));
            let _ = tls.conn.write_tls(stream);
            return ReadResult::Failed;
        }
        // Handshake answers (and key updates) go out as soon as they are made.
        let _ = flush_tls(stream, &mut tls.conn);
    }
}

/// A short, fixed description of a TLS failure (the debug log's reason).
fn describe(error: &rustls::Error) -> &'static str {
    use rustls::Error;
    match error {
        Error::InvalidMessage(_) => "TLS: malformed record (not TLS?)",
        Error::DecryptError => "TLS: a record failed to decrypt",
        Error::AlertReceived(_) => "TLS: the client sent an alert",
        Error::PeerIncompatible(_) => "TLS: no version, cipher suite or key exchange in common",
        Error::NoCertificatesPresented => "TLS: the client gave no certificate (required)",
        Error::InvalidCertificate(_) => "TLS: the client's certificate is not valid",
        Error::PeerMisbehaved(_) => "TLS: the client broke the protocol",
        _ => "TLS: handshake failed",
    }
}

/// Moves at most `room` bytes of decrypted plaintext into `buf`.
fn read_plaintext(conn: &mut ServerConnection, buf: &mut Vec<u8>, room: usize) -> io::Result<usize> {
    if room == 0 {
        return Err(ErrorKind::WouldBlock.into());
    }
    let start = buf.len();
    let want = room.min(FILE_PIECE.max(8 * 1024));
    buf.resize(start + want, 0);
    let result = conn.reader().read(&mut buf[start..]);
    let got = *result.as_ref().unwrap_or(&0);
    buf.truncate(start + got);
    result
}

/// Writes plaintext: to the socket, or into rustls (then on to the socket). Returns
/// the bytes taken; `WouldBlock` when none could be.
pub fn write(stream: &mut Stream, tls: Option<&mut TlsSession>, data: &[u8]) -> io::Result<usize> {
    match tls {
        None => stream.write(data),
        Some(tls) => write_tls_plaintext(stream, tls, &[IoSlice::new(data)]),
    }
}

/// [`write`] for several pieces at once (one `writev(2)` on a plain socket).
pub fn write_vectored(
    stream: &mut Stream,
    tls: Option<&mut TlsSession>,
    slices: &[IoSlice<'_>],
) -> io::Result<usize> {
    match tls {
        None => stream.write_vectored(slices),
        Some(tls) => write_tls_plaintext(stream, tls, slices),
    }
}

fn write_tls_plaintext(
    stream: &mut Stream,
    tls: &mut TlsSession,
    slices: &[IoSlice<'_>],
) -> io::Result<usize> {
    if tls.failed {
        return Err(ErrorKind::BrokenPipe.into());
    }
    // Make room first: what rustls holds goes out before more is accepted.
    flush_tls(stream, &mut tls.conn)?;
    let mut taken = 0;
    for slice in slices.iter().filter(|s| !s.is_empty()) {
        let n = tls.conn.writer().write(slice)?;
        taken += n;
        if n < slice.len() {
            break;
        }
    }
    match flush_tls(stream, &mut tls.conn) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    if taken == 0 {
        Err(ErrorKind::WouldBlock.into())
    } else {
        Ok(taken)
    }
}

/// Moves ciphertext rustls holds to the socket. `Ok(())` once none is left;
/// `WouldBlock` while the socket refuses the rest.
fn flush_tls(stream: &mut Stream, conn: &mut ServerConnection) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(stream) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Pushes out what the transport itself still holds (TLS ciphertext). `Ok(true)`
/// when nothing is left, `Ok(false)` when the socket is full.
pub fn flush(stream: &mut Stream, tls: Option<&mut TlsSession>) -> io::Result<bool> {
    let Some(tls) = tls else { return Ok(true) };
    match flush_tls(stream, &mut tls.conn) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the transport holds output that waits for the socket.
pub fn has_output(tls: Option<&TlsSession>) -> bool {
    tls.is_some_and(|t| !t.failed && t.conn.wants_write())
}

/// Sends `close_notify` (TLS) before the write side is shut down.
pub fn shutdown_write(stream: &mut Stream, tls: Option<&mut TlsSession>) {
    if let Some(tls) = tls {
        if !tls.failed {
            tls.conn.send_close_notify();
            let _ = flush_tls(stream, &mut tls.conn);
        }
    }
    let _ = stream.shutdown_write();
}

/// One piece of a file over TLS: read at `offset` and encrypted, at most `most`
/// bytes. Returns the bytes taken (0: rustls is full, wait for writability).
pub fn send_file_piece(
    stream: &mut Stream,
    tls: &mut TlsSession,
    file: &std::fs::File,
    offset: u64,
    most: u64,
) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    flush_tls(stream, &mut tls.conn)?;
    let mut piece = [0u8; FILE_PIECE];
    let want = (most.min(FILE_PIECE as u64)) as usize;
    let read = file.read_at(&mut piece[..want], offset)?;
    if read == 0 {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    let n = tls.conn.writer().write(&piece[..read])?;
    match flush_tls(stream, &mut tls.conn) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    if n == 0 {
        Err(ErrorKind::WouldBlock.into())
    } else {
        Ok(n)
    }
}
