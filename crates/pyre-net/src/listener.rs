//! Listening sockets (TCP over IPv4 or IPv6, Unix domain, or an inherited fd) and
//! the streams they accept, behind one enum each so the runtime treats them alike.
//!
//! Sockets are created with socket2 so that the backlog and SO_REUSEADDR are ours to
//! set; accepted TCP streams get TCP_NODELAY (responses are written whole, so Nagle's
//! algorithm would only add latency).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::PathBuf;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use socket2::{Domain, Socket, Type};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// An already bound and listening socket inherited from a parent process.
    Fd(RawFd),
}

/// The address a listener is bound to, as reported to applications (ASGI `server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds and listens with `backlog`.
    pub fn bind(addr: &BindAddr, backlog: i32) -> io::Result<Listener> {
        match addr {
            BindAddr::Tcp(sa) => {
                let socket = Socket::new(Domain::for_address(*sa), Type::STREAM, None)?;
                socket.set_reuse_address(true)?;
                // IPv6 sockets keep the system's dual-stack default (on Linux `::`
                // also accepts IPv4 clients, as with uvicorn).
                socket.set_nonblocking(true)?;
                socket.bind(&(*sa).into())?;
                socket.listen(backlog)?;
                Ok(Listener::Tcp(TcpListener::from_std(socket.into())))
            }
            BindAddr::Unix(path) => {
                // A stale socket file from a previous run would make bind fail.
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    use std::os::unix::fs::FileTypeExt;
                    if meta.file_type().is_socket() {
                        std::fs::remove_file(path)?;
                    }
                }
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                socket.set_nonblocking(true)?;
                socket.bind(&socket2::SockAddr::unix(path)?)?;
                socket.listen(backlog)?;
                Ok(Listener::Unix(UnixListener::from_std(socket.into())))
            }
            BindAddr::Fd(fd) => {
                // SAFETY: the caller hands us ownership of an open listening socket;
                // from here on only this Listener closes it.
                let socket = unsafe { Socket::from_raw_fd(*fd) };
                socket.set_nonblocking(true)?;
                let local = socket.local_addr()?;
                if local.is_unix() {
                    Ok(Listener::Unix(UnixListener::from_std(socket.into())))
                } else {
                    Ok(Listener::Tcp(TcpListener::from_std(socket.into())))
                }
            }
        }
    }

    pub fn local_addr(&self) -> io::Result<LocalAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(LocalAddr::Tcp),
            Listener::Unix(l) => {
                let addr = l.local_addr()?;
                Ok(LocalAddr::Unix(
                    addr.as_pathname().map(PathBuf::from).unwrap_or_default(),
                ))
            }
        }
    }

    /// Accepts one connection: the stream and the peer's address (none for Unix
    /// sockets).
    pub fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), Some(peer)))
            }
            Listener::Unix(l) => {
                let (stream, _) = l.accept()?;
                Ok((Stream::Unix(stream), None))
            }
        }
    }
}

impl Source for Listener {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(registry, token, interests),
            Listener::Unix(l) => l.register(registry, token, interests),
        }
    }
    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(registry, token, interests),
            Listener::Unix(l) => l.reregister(registry, token, interests),
        }
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(registry),
            Listener::Unix(l) => l.deregister(registry),
        }
    }
}

/// An accepted connection's socket.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    /// Makes the coming close a reset (`SO_LINGER` 0): unsent bytes are dropped
    /// and the kernel's buffers freed at once, instead of trickled to the peer.
    pub fn reset_on_close(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO)),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Bytes written to the socket that the peer has not acknowledged yet
    /// (`SIOCOUTQ`); `None` where that cannot be asked.
    pub fn unsent_bytes(&self) -> Option<u64> {
        let mut unsent: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer, which
        // points to a live `c_int`; the fd is this stream's own open socket.
        let result = unsafe { libc::ioctl(self.raw_fd(), libc::TIOCOUTQ, &mut unsent) };
        (result == 0).then(|| u64::try_from(unsent).unwrap_or(0))
    }

    pub fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }
}

/// For rustls, which reads and writes ciphertext through these (`transport.rs`).
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Stream::read(self, buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Stream::write(self, buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Stream::write_vectored(self, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }
    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}
