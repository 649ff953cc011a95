//! A connection's output: its out-buffer, then the file being sent, to the socket.
//!
//! How it works: bytes are written through. A large body piece goes out with one
//! `writev(2)` together with whatever the out-buffer still holds (a response head,
//! a chunk header), and only what the kernel refuses is copied into the out-buffer,
//! so a large body is never copied when the client keeps up; a small one is copied
//! behind the head and written with it. When the out-buffer
//! holds bytes the socket is known to be full and new bytes are appended without a
//! system call; the writable event then drains it ([`write_out`]). A file goes out
//! after the out-buffer with non-blocking `sendfile(2)`, resumed on writability, so
//! file bytes never pass through user space.
//!
//! The callers in `server.rs` decide what a full buffer means (the application
//! waits above the high-water mark) and what a finished file means (the response
//! is complete).

use std::fs::File;
use std::io::{ErrorKind, IoSlice};
use std::os::fd::AsRawFd;

use crate::connection::Connection;
use crate::transport;

/// A file being sent as the end of a response body.
pub struct FileJob {
    pub file: File,
    /// Where the next byte comes from in the file.
    pub offset: u64,
    /// Bytes still to send.
    pub remaining: u64,
    /// Framing bytes written once the file is out (the chunked body's end).
    pub tail: &'static [u8],
}

/// What writing left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Everything is out (the pending file included).
    All,
    /// The kernel refused the rest: wait for writability.
    Blocked,
    /// This turn's share of file bytes is out and the socket may take more: the
    /// caller must come back without waiting for an event (edge-triggered
    /// readiness will not repeat), after other connections had their turn.
    Yielded,
    /// The socket failed (reset, broken pipe), or the file shrank under us: the
    /// connection must close.
    Failed,
}

/// Pieces at most this big are copied into the out-buffer and written with it.
const COPY_MAX: usize = 8 * 1024;

/// Writes the out-buffer's bytes, then `data` and `tail`, in one `writev`; what the
/// kernel does not take is appended to the out-buffer. With a file pending or the
/// socket known to be full, everything is appended without a system call. Adds the
/// bytes the kernel took to `sent` (here and in [`write_out`]: the metrics' count).
pub fn write_through(conn: &mut Connection, data: &[u8], tail: &[u8], sent: &mut u64) -> Written {
    if conn.file.is_some() || conn.write_interest {
        append(conn, data, tail);
        return Written::Blocked;
    }
    let pending_len = conn.pending_write();
    if data.len() + tail.len() <= COPY_MAX {
        // Small pieces: one copy and a plain write() cost less than a writev().
        append(conn, data, tail);
        return write_out(conn, u64::MAX, sent);
    }
    let written = {
        let pending = &conn.write_buf[conn.write_pos..];
        let slices = [IoSlice::new(pending), IoSlice::new(data), IoSlice::new(tail)];
        loop {
            match transport::write_vectored(&mut conn.stream, conn.tls.as_deref_mut(), &slices) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break 0,
                Err(_) => return Written::Failed,
            }
        }
    };
    *sent += written as u64;
    // Keep what was not written: the rest of the out-buffer, then of data and tail.
    if written >= pending_len {
        conn.write_buf.clear();
        conn.write_pos = 0;
        let skip = written - pending_len;
        let (data_rest, tail_rest) = if skip <= data.len() {
            (&data[skip..], tail)
        } else {
            (&data[data.len()..], &tail[(skip - data.len()).min(tail.len())..])
        };
        conn.write_buf.extend_from_slice(data_rest);
        conn.write_buf.extend_from_slice(tail_rest);
    } else {
        conn.write_pos += written;
        append(conn, data, tail);
    }
    if conn.pending_write() == 0 {
        Written::All
    } else {
        write_out(conn, u64::MAX, sent)
    }
}

/// Appends to the out-buffer, first moving unwritten bytes to its start so that a
/// long stream does not grow the buffer with bytes already sent.
pub fn append(conn: &mut Connection, data: &[u8], tail: &[u8]) {
    if conn.write_pos > 0 {
        conn.write_buf.drain(..conn.write_pos);
        conn.write_pos = 0;
    }
    conn.write_buf.extend_from_slice(data);
    conn.write_buf.extend_from_slice(tail);
}

/// Writes the out-buffer, then the pending file, until both are out, the kernel
/// refuses more, or `turn` file bytes went out (so that one fast download cannot
/// hold the loop while other connections wait). Adds the bytes written to `sent`.
pub fn write_out(conn: &mut Connection, turn: u64, sent: &mut u64) -> Written {
    let mut file_bytes = 0;
    loop {
        while conn.write_pos < conn.write_buf.len() {
            match transport::write(
                &mut conn.stream,
                conn.tls.as_deref_mut(),
                &conn.write_buf[conn.write_pos..],
            ) {
                Ok(0) => return Written::Failed,
                Ok(n) => {
                    conn.write_pos += n;
                    *sent += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Written::Blocked,
                Err(_) => return Written::Failed,
            }
        }
        conn.write_buf.clear();
        conn.write_pos = 0;
        let Some(job) = conn.file.as_mut() else {
            // What the transport holds (TLS ciphertext) must reach the socket too.
            return match transport::flush(&mut conn.stream, conn.tls.as_deref_mut()) {
                Ok(true) => Written::All,
                Ok(false) => Written::Blocked,
                Err(_) => Written::Failed,
            };
        };
        if file_bytes >= turn {
            return Written::Yielded;
        }
        let before = job.remaining;
        let part = match conn.tls.as_deref_mut() {
            Some(tls) => tls_file_part(&mut conn.stream, tls, job, turn - file_bytes),
            None => send_file_part(conn.stream.raw_fd(), job, turn),
        };
        match part {
            FilePart::Sent => {
                file_bytes += before - job.remaining;
                *sent += before - job.remaining;
            }
            FilePart::Blocked => return Written::Blocked,
            FilePart::Failed => return Written::Failed,
        }
        if job.remaining == 0 {
            let tail = job.tail;
            conn.file = None;
            conn.write_buf.extend_from_slice(tail);
        }
    }
}

/// A piece of the file encrypted through TLS (no `sendfile(2)`: the kernel would
/// send plaintext).
fn tls_file_part(
    stream: &mut crate::listener::Stream,
    tls: &mut transport::TlsSession,
    job: &mut FileJob,
    most: u64,
) -> FilePart {
    match transport::send_file_piece(stream, tls, &job.file, job.offset, job.remaining.min(most)) {
        Ok(n) => {
            job.offset += n as u64;
            job.remaining -= n as u64;
            FilePart::Sent
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => FilePart::Blocked,
        Err(e) if e.kind() == ErrorKind::Interrupted => FilePart::Sent,
        Err(_) => FilePart::Failed,
    }
}

pub(crate) enum FilePart {
    /// Some bytes went out (`job` advanced).
    Sent,
    Blocked,
    Failed,
}

/// One non-blocking `sendfile(2)` of the job's next bytes.
#[cfg(target_os = "linux")]
pub(crate) fn send_file_part(socket: std::os::fd::RawFd, job: &mut FileJob, most: u64) -> FilePart {
    let Ok(mut offset) = libc::off_t::try_from(job.offset) else {
        return FilePart::Failed;
    };
    let count = job.remaining.min(most) as usize;
    // SAFETY: both descriptors are open for the duration of the call (the socket is
    // owned by the connection, the file by the job); `offset` is a valid pointer.
    let n = unsafe { libc::sendfile(socket, job.file.as_raw_fd(), &mut offset, count) };
    match n {
        // The file ended before the length promised in the head: framing is broken.
        0 => FilePart::Failed,
        n if n > 0 => {
            job.offset += n as u64;
            job.remaining -= n as u64;
            FilePart::Sent
        }
        _ => match std::io::Error::last_os_error().kind() {
            ErrorKind::WouldBlock => FilePart::Blocked,
            ErrorKind::Interrupted => FilePart::Sent,
            _ => FilePart::Failed,
        },
    }
}

/// Elsewhere: read a piece of the file and write it (no `sendfile` with these
/// semantics on every platform).
#[cfg(not(target_os = "linux"))]
pub(crate) fn send_file_part(socket: std::os::fd::RawFd, job: &mut FileJob, most: u64) -> FilePart {
    use std::os::unix::fs::FileExt;
    let mut piece = vec![0u8; job.remaining.min(most).min(64 * 1024) as usize];
    let read = match job.file.read_at(&mut piece, job.offset) {
        Ok(0) | Err(_) => return FilePart::Failed,
        Ok(n) => n,
    };
    // SAFETY: `piece` is valid for reads of `read` bytes; `socket` is open.
    let n = unsafe { libc::write(socket, piece.as_ptr().cast(), read) };
    match n {
        n if n > 0 => {
            job.offset += n as u64;
            job.remaining -= n as u64;
            FilePart::Sent
        }
        _ => match std::io::Error::last_os_error().kind() {
            ErrorKind::WouldBlock => FilePart::Blocked,
            ErrorKind::Interrupted => FilePart::Sent,
            _ => FilePart::Failed,
        },
    }
}
