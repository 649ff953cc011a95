//! Buffers for connections, and the pool they come from.
//!
//! How it works: a connection takes a read and a write buffer when it has bytes to
//! hold and gives them back when it goes idle or closes, so an idle keep-alive
//! connection holds no buffer at all. The pool keeps a bounded number of buffers of
//! the initial size; a buffer that grew past [`MAX_POOLED_CAPACITY`] for a big
//! request is freed instead, so memory shrinks back after large requests.

use std::os::fd::RawFd;

use crate::config::INITIAL_READ_BUFFER;

/// Buffers larger than this are not kept for reuse.
pub const MAX_POOLED_CAPACITY: usize = 64 * 1024;

/// Most buffers kept for reuse.
pub const MAX_POOLED_BUFFERS: usize = 256;

#[derive(Default)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    pub fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_READ_BUFFER))
    }

    pub fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0
            || buf.capacity() > MAX_POOLED_CAPACITY
            || self.free.len() >= MAX_POOLED_BUFFERS
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}

/// Outcome of one `read(2)`.
pub enum ReadResult {
    /// `read` bytes arrived; `offered` is how many the buffer had room for (fewer
    /// read than offered: the socket was emptied).
    Read {
        read: usize,
        offered: usize,
    },
    WouldBlock,
    Eof,
    Failed,
}

/// Reads at most `max` bytes from `fd` into the spare capacity of `buf`, growing it
/// as needed, without zeroing the spare capacity first.
pub fn read_into(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> ReadResult {
    if buf.capacity() - buf.len() < max.min(INITIAL_READ_BUFFER) {
        buf.reserve(max.min(INITIAL_READ_BUFFER.max(buf.capacity())));
    }
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    // SAFETY: `spare` is valid for writes of `want` bytes (want <= spare.len()); the
    // kernel writes at most `want` bytes, and we extend the length by exactly the
    // number it reports as written, so no uninitialised byte becomes readable.
    let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), want) };
    match n {
        0 => ReadResult::Eof,
        n if n > 0 => {
            // SAFETY: the kernel initialised the first `n` spare bytes (see above).
            unsafe { buf.set_len(buf.len() + n as usize) };
            ReadResult::Read {
                read: n as usize,
                offered: want,
            }
        }
        _ => match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => ReadResult::WouldBlock,
            std::io::ErrorKind::Interrupted => ReadResult::Read {
                read: 0,
                offered: want,
            },
            _ => ReadResult::Failed,
        },
    }
}
