//! The transport under a client connection: plain TCP, or TLS by rustls driven
//! sans-IO in the runtime's own poll (no thread, no extra event source).
//!
//! How it works: the connection state machine (`mod.rs`, `conn.rs`) reads and writes
//! plaintext through [`Transport`] and never learns which kind it has.
//!
//! - Reading: ciphertext goes from the socket into rustls's own receive buffer
//!   (`read_tls`, one record or so at a time), `process_new_packets` decrypts it, and
//!   the plaintext is copied from `reader()` into the connection's `read_buf`, up to
//!   the limit the caller gives. Ciphertext is read only once rustls holds no
//!   plaintext, so rustls buffers at most about one record (16 KiB) beyond the
//!   caller's limit, and read backpressure works as over TCP: when `read_buf` is
//!   full, nothing is taken from the socket.
//! - Writing: plaintext from the connection's `write_buf` goes into `writer()`, which
//!   encrypts it into rustls's send buffer; `write_tls` moves that to the socket. The
//!   send buffer is capped ([`TLS_SEND_BUFFER_LIMIT`], `set_buffer_limit`): when it is
//!   full, `writer()` takes nothing, the bytes stay in `write_buf`, and the runtime's
//!   write high-water mark pushes back on the producer as over TCP. Ciphertext that
//!   the kernel refused is written on the next writable event (the socket is always
//!   registered for both readiness kinds) before any new plaintext.
//! - Files: `sendfile(2)` cannot encrypt, so a file body is read in pieces of
//!   [`TLS_FILE_PIECE`] into `write_buf` and written as above: memory stays flat.
//! - Handshake: after the TCP connect the connection stays in `Phase::Handshaking`
//!   until [`Transport::handshake`] says it is done (a plain transport is done at
//!   once), so that certificate errors fail the connect, not the first request.
//! - Close: `close_notify` is queued and written if the socket takes it at once.
//! - End of stream: a TCP EOF without `close_notify` is an ordinary EOF when it falls
//!   on a record boundary (many servers skip `close_notify`; HTTP framing then says
//!   whether the response was whole), and a typed TLS error inside a record (a
//!   truncated record). [`RecordTracker`] follows the record headers to know which.
//!
//! Buffers: `read_buf`/`write_buf` belong to the connection (`conn.rs`); rustls owns
//! its receive buffer (about one record) and send buffer (capped as above).

use std::fs::File;
use std::io::{self, ErrorKind as IoKind, Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::conn::{ClientError, ErrorKind};
use crate::buffers::{read_into, ReadResult};
use crate::output::FileJob;

/// Most ciphertext (or, before the handshake ends, plaintext) rustls buffers for
/// sending; beyond it the bytes wait in the connection's `write_buf`, where the
/// write water marks see them.
pub const TLS_SEND_BUFFER_LIMIT: usize = 64 * 1024;

/// Bytes of a file body read and encrypted at a time over TLS (no sendfile).
pub const TLS_FILE_PIECE: usize = 64 * 1024;

/// Most plaintext copied out of rustls per call: one record is at most 16 KiB, so
/// the zero-filled room rarely goes unused.
const PLAINTEXT_PIECE: usize = 16 * 1024 + 256;

/// The ALPN protocol offered (ready for `h2` when the codec speaks it).
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verify {
    /// Against the Mozilla roots compiled in (webpki-roots): the default.
    WebPkiRoots,
    /// Against the certificates of this PEM file only.
    CaFile(PathBuf),
    /// Against these DER certificates only (an `ssl.SSLContext`'s CA list).
    CaDer(Vec<Vec<u8>>),
    /// Not at all. Dangerous: anyone on the path can read and change the traffic.
    Off,
}

/// The TLS settings of a client; one [`TlsConfig`] is built per distinct value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    pub verify: Verify,
    /// A client certificate chain and its private key, both PEM files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            verify: Verify::WebPkiRoots,
            client_cert: None,
        }
    }
}

/// A rustls configuration, shared (cheaply cloned) by every connection using it.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

/// Why settings could not become a configuration.
#[derive(Debug)]
pub enum TlsConfigError {
    /// A file could not be read.
    File { path: PathBuf, error: io::Error },
    /// A file or value is not what it should be (no certificate, a bad key).
    Invalid(String),
}

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsConfigError::File { path, error } => write!(f, "{}: {error}", path.display()),
            TlsConfigError::Invalid(message) => f.write_str(message),
        }
    }
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> TlsConfigError {
    match error {
        rustls::pki_types::pem::Error::Io(error) => TlsConfigError::File {
            path: path.to_path_buf(),
            error,
        },
        other => TlsConfigError::Invalid(format!("{}: {other:?}", path.display())),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsConfigError::Invalid(format!(
            "{}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

impl TlsConfig {
    pub fn new(settings: &TlsSettings) -> Result<Self, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError::Invalid(e.to_string()))?;
        let mut roots = RootCertStore::empty();
        let builder = match &settings.verify {
            Verify::Off => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
            Verify::WebPkiRoots => {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                builder.with_root_certificates(roots)
            }
            Verify::CaFile(path) => {
                for cert in certificates(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsConfigError::Invalid(format!("{}: {e}", path.display())))?;
                }
                builder.with_root_certificates(roots)
            }
            Verify::CaDer(certs) => {
                for cert in certs {
                    roots
                        .add(CertificateDer::from(cert.clone()))
                        .map_err(|e| TlsConfigError::Invalid(format!("a CA certificate: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(TlsConfigError::Invalid("no CA certificate given".into()));
                }
                builder.with_root_certificates(roots)
            }
        };
        let mut config = match &settings.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates(cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| TlsConfigError::Invalid(format!("client certificate: {e}")))?
            }
        };
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }
}

/// The verifier of `verify=False`: accepts any certificate, but still checks that
/// the handshake is signed by the key in it (as rustls's own verifier does).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Follows TLS record headers (5 bytes: type, version, length) in the received
/// ciphertext, to tell an EOF between records from one inside a record.
#[derive(Debug, Default)]
struct RecordTracker {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl RecordTracker {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == 5 {
                self.body_left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                self.header_len = 0;
            }
        }
    }

    fn inside_record(&self) -> bool {
        self.header_len > 0 || self.body_left > 0
    }
}

/// The socket as rustls reads it, with the record headers followed on the way.
struct TrackedSocket<'a> {
    stream: &'a mut TcpStream,
    records: &'a mut RecordTracker,
}

impl Read for TrackedSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.records.feed(&buf[..n]);
        Ok(n)
    }
}

/// What a read through the transport gave.
#[derive(Debug)]
pub enum Received {
    /// `read` plaintext bytes; `drained`: the socket has nothing more now.
    Bytes {
        read: usize,
        drained: bool,
    },
    WouldBlock,
    /// The server closed its sending side (after `close_notify`, or at a record
    /// boundary without it).
    Eof,
    Failed(ClientError),
}

pub struct TlsStream {
    session: ClientConnection,
    records: RecordTracker,
    /// The server name checked, for messages.
    host: String,
}

pub enum Transport {
    Plain,
    Tls(Box<TlsStream>),
}

fn tls_error(message: impl Into<String>) -> ClientError {
    ClientError::new(ErrorKind::Tls, message)
}

/// A rustls error, as the caller's typed error, naming the reason.
fn describe(error: rustls::Error, host: &str) -> ClientError {
    use rustls::CertificateError as C;
    let reason = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired".to_string(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".to_string()
            }
            C::UnknownIssuer => "unknown issuer: the server's certificate is not signed by a trusted \
                                 CA (self-signed, or its CA is not in the trust store)"
                .to_string(),
            C::NotValidForName => format!("the server's certificate is not valid for {host}"),
            C::NotValidForNameContext { presented, .. } => format!(
                "the server's certificate is not valid for {host} (it names {})",
                presented.join(", ")
            ),
            C::BadSignature => "the server's certificate has a bad signature".to_string(),
            C::Revoked => "the server's certificate was revoked".to_string(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "the server's certificate is not meant for TLS servers".to_string()
            }
            C::BadEncoding => "the server's certificate is malformed".to_string(),
            other => format!("{other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            return tls_error(format!("the server sent the TLS alert {alert:?}"));
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            return tls_error(format!(
                "the server sent invalid TLS data ({error}); does it speak TLS on this port?"
            ));
        }
        other => return tls_error(format!("TLS failed: {other}")),
    };
    ClientError::new(
        ErrorKind::Certificate,
        format!("certificate verify failed for {host}: {reason}"),
    )
}

impl TlsStream {
    /// A session to `host` (a DNS name for SNI and the certificate check, or an IP
    /// address: no SNI, the certificate must name the address).
    pub fn new(config: &TlsConfig, host: &str) -> Result<Self, ClientError> {
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::from(ip),
            Err(_) => ServerName::try_from(host.to_string()).map_err(|_| {
                ClientError::new(
                    ErrorKind::Invalid,
                    format!("not a valid TLS server name: {host:?}"),
                )
            })?,
        };
        let mut session = ClientConnection::new(config.0.clone(), name)
            .map_err(|e| tls_error(format!("TLS failed: {e}")))?;
        session.set_buffer_limit(Some(TLS_SEND_BUFFER_LIMIT));
        Ok(TlsStream {
            session,
            records: RecordTracker::default(),
            host: host.to_string(),
        })
    }

    /// Writes pending ciphertext; `Ok(true)` once none is left.
    fn flush(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(stream) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) if e.kind() == IoKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Decrypts what was received; on failure writes our alert if it can.
    fn process(&mut self, stream: &mut TcpStream) -> Result<(), ClientError> {
        match self.session.process_new_packets() {
            Ok(_) => {
                // Replies rustls owes (key updates, alerts) go out now or on the next
                // writable event.
                let _ = self.flush(stream);
                Ok(())
            }
            Err(e) => {
                let _ = self.flush(stream);
                Err(describe(e, &self.host))
            }
        }
    }

    fn handshake(&mut self, stream: &mut TcpStream) -> Result<bool, ClientError> {
        loop {
            if let Err(e) = self.flush(stream) {
                return Err(tls_error(format!(
                    "the connection failed during the TLS handshake: {e}"
                )));
            }
            if !self.session.is_handshaking() {
                return Ok(true);
            }
            let mut socket = TrackedSocket {
                stream,
                records: &mut self.records,
            };
            match self.session.read_tls(&mut socket) {
                Ok(0) => {
                    return Err(tls_error(
                        "the server closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => self.process(stream)?,
                Err(e) if e.kind() == IoKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) if matches!(e.kind(), IoKind::ConnectionReset | IoKind::BrokenPipe) => {
                    return Err(tls_error(format!(
                        "the server closed the connection during the TLS handshake ({e})"
                    )))
                }
                Err(e) => {
                    return Err(tls_error(format!(
                        "the connection failed during the TLS handshake: {e}"
                    )))
                }
            }
        }
    }

    fn read(&mut self, stream: &mut TcpStream, buf: &mut Vec<u8>, max: usize) -> Received {
        let mut got = 0;
        let mut seen_eof = false;
        loop {
            // Plaintext rustls already holds comes first: ciphertext is read only
            // when it holds none (its plaintext buffer stays about one record).
            while got < max {
                let start = buf.len();
                buf.resize(start + (max - got).min(PLAINTEXT_PIECE), 0);
                let result = self.session.reader().read(&mut buf[start..]);
                let n = *result.as_ref().unwrap_or(&0);
                buf.truncate(start + n);
                match result {
                    Ok(0) => {
                        // close_notify received: a clean end.
                        return if got > 0 {
                            Received::Bytes {
                                read: got,
                                drained: false,
                            }
                        } else {
                            Received::Eof
                        };
                    }
                    Ok(n) => got += n,
                    Err(e) if e.kind() == IoKind::WouldBlock => break,
                    Err(e) if e.kind() == IoKind::UnexpectedEof => {
                        if got > 0 {
                            return Received::Bytes {
                                read: got,
                                drained: false,
                            };
                        }
                        if self.records.inside_record() {
                            return Received::Failed(tls_error(
                                "the server closed the connection in the middle of a TLS record \
                                 (truncated record)",
                            ));
                        }
                        return Received::Eof;
                    }
                    Err(e) => return Received::Failed(tls_error(format!("TLS failed: {e}"))),
                }
            }
            if got >= max {
                return Received::Bytes {
                    read: got,
                    drained: false,
                };
            }
            if seen_eof {
                // rustls has seen the EOF and still answers WouldBlock: cannot
                // happen, but never spin on it.
                return if got > 0 {
                    Received::Bytes {
                        read: got,
                        drained: true,
                    }
                } else {
                    Received::Eof
                };
            }
            let mut socket = TrackedSocket {
                stream,
                records: &mut self.records,
            };
            match self.session.read_tls(&mut socket) {
                Ok(n) => {
                    seen_eof = n == 0;
                    if let Err(e) = self.process(stream) {
                        return Received::Failed(e);
                    }
                }
                Err(e) if e.kind() == IoKind::WouldBlock => {
                    return if got > 0 {
                        Received::Bytes {
                            read: got,
                            drained: true,
                        }
                    } else {
                        Received::WouldBlock
                    };
                }
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => {
                    return Received::Failed(ClientError::new(
                        ErrorKind::Read,
                        format!("connection failed while reading the response: {e}"),
                    ))
                }
            }
        }
    }

    fn write(&mut self, stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
        // Twice at most: a full send buffer that the socket then takes whole makes
        // room for the second try.
        for _ in 0..2 {
            let taken = self.session.writer().write(data)?;
            let all_out = self.flush(stream)?;
            if taken > 0 || data.is_empty() {
                return Ok(taken);
            }
            if !all_out {
                return Err(IoKind::WouldBlock.into());
            }
        }
        Ok(0)
    }
}

impl Transport {
    pub fn tls(config: &TlsConfig, host: &str) -> Result<Self, ClientError> {
        Ok(Transport::Tls(Box::new(TlsStream::new(config, host)?)))
    }

    /// Whether file bodies may go by `sendfile(2)` (the kernel cannot encrypt).
    pub fn can_sendfile(&self) -> bool {
        matches!(self, Transport::Plain)
    }

    /// Moves the handshake on; `Ok(true)` once the transport carries plaintext.
    pub fn handshake(&mut self, stream: &mut TcpStream) -> Result<bool, ClientError> {
        match self {
            Transport::Plain => Ok(true),
            Transport::Tls(tls) => tls.handshake(stream),
        }
    }

    /// Reads plaintext into `buf`, at most `max` bytes.
    pub fn read(&mut self, stream: &mut TcpStream, buf: &mut Vec<u8>, max: usize) -> Received {
        match self {
            Transport::Plain => match read_into(stream.as_raw_fd(), buf, max) {
                ReadResult::Read { read, offered } => Received::Bytes {
                    read,
                    drained: read < offered,
                },
                ReadResult::WouldBlock => Received::WouldBlock,
                ReadResult::Eof => Received::Eof,
                ReadResult::Failed => Received::Failed(ClientError::new(
                    ErrorKind::Read,
                    format!(
                        "connection failed while reading the response: {}",
                        io::Error::last_os_error()
                    ),
                )),
            },
            Transport::Tls(tls) => tls.read(stream, buf, max),
        }
    }

    /// Writes plaintext; `WouldBlock` when nothing could be taken.
    pub fn write(&mut self, stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => stream.write(data),
            Transport::Tls(tls) => tls.write(stream, data),
        }
    }

    /// Writes what the transport itself still holds; `Ok(true)` once nothing is left.
    pub fn flush(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        match self {
            Transport::Plain => Ok(true),
            Transport::Tls(tls) => tls.flush(stream),
        }
    }

    /// Says goodbye (`close_notify`) if the socket takes it now; the caller then
    /// drops the socket.
    pub fn close(&mut self, stream: &mut TcpStream) {
        if let Transport::Tls(tls) = self {
            tls.session.send_close_notify();
            let _ = tls.flush(stream);
        }
    }
}

/// Reads the next piece of a file body (at most [`TLS_FILE_PIECE`]) onto the end of
/// `out`, for a transport that cannot send files by `sendfile(2)`. Returns the
/// number of bytes read.
pub fn read_file_piece(job: &mut FileJob, out: &mut Vec<u8>) -> io::Result<u64> {
    let want = job.remaining.min(TLS_FILE_PIECE as u64) as usize;
    let start = out.len();
    out.resize(start + want, 0);
    let result = read_piece_at(&job.file, &mut out[start..], job.offset);
    let n = *result.as_ref().unwrap_or(&0);
    out.truncate(start + n);
    if result? == 0 && want > 0 {
        return Err(io::Error::new(
            IoKind::UnexpectedEof,
            "the file ended before its length",
        ));
    }
    job.offset += n as u64;
    job.remaining -= n as u64;
    Ok(n as u64)
}

fn read_piece_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == IoKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RecordTracker;

    #[test]
    fn record_boundaries() {
        // (bytes fed in pieces, inside a record afterwards)
        let cases: &[(&[&[u8]], bool)] = &[
            (&[], false),
            (&[&[23, 3, 3]], true),
            (&[&[23, 3, 3, 0, 2]], true),
            (&[&[23, 3, 3, 0, 2, 1, 2]], false),
            (&[&[23, 3], &[3, 0, 2, 1], &[2]], false),
            (&[&[23, 3, 3, 0, 0]], false),
            (&[&[23, 3, 3, 0, 1, 9, 23]], true),
        ];
        for (pieces, inside) in cases {
            let mut tracker = RecordTracker::default();
            for piece in *pieces {
                tracker.feed(piece);
            }
            assert_eq!(tracker.inside_record(), *inside, "{pieces:?}");
        }
    }
}
