//! TLS settings for listeners: certificates and keys from PEM files, client
//! certificate rules and cipher suites, built once into a `rustls::ServerConfig` that
//! every connection of a listener shares (`Arc`). Reloading the certificate builds a
//! new one; connections already open keep the one they started with.
//!
//! The crypto provider is ring: it builds with a C compiler alone, where aws-lc-rs
//! needs cmake (see docs/tls.md). The per-connection side, where the bytes go, is in
//! `transport.rs`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};

/// Whether clients must present a certificate (uvicorn's `--ssl-cert-reqs`: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is asked for.
    #[default]
    None,
    /// Asked for and verified when given; a client without one is served.
    Optional,
    /// A client without a valid certificate fails the handshake.
    Required,
}

/// What `--ssl-*` said.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM, leaf first); it may also hold the key.
    pub certfile: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1); the certificate file when
    /// `None`.
    pub keyfile: Option<PathBuf>,
    /// The key's password. rustls reads unencrypted keys only, so an encrypted key
    /// is refused with a clear error either way (decrypt it with `openssl pkey`).
    pub keyfile_password: Option<String>,
    /// Certificate authorities that client certificates must chain to (PEM).
    pub ca_certs: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// Cipher suites by their IANA names as rustls spells them
    /// (`TLS13_AES_256_GCM_SHA384:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), or `None`
    /// for rustls's defaults. uvicorn's default `TLSv1` also means the defaults.
    pub ciphers: Option<String>,
    /// Protocols offered by ALPN, most preferred first.
    pub alpn: Vec<Vec<u8>>,
}

/// Why the TLS settings could not be used: one line, said at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn error(message: impl Into<String>) -> TlsError {
    TlsError(message.into())
}

/// Builds the configuration every TLS connection of a listener shares.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider_with_ciphers(settings.ciphers.as_deref())?);
    let chain = load_certificates(&settings.certfile, "--ssl-certfile")?;
    let key = load_key(
        settings.keyfile.as_deref().unwrap_or(&settings.certfile),
        settings.keyfile_password.as_deref(),
    )?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(format!("TLS: {e}")))?;
    let builder = match (settings.client_auth, &settings.ca_certs) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(error(
                "--ssl-cert-reqs asks for client certificates: give the CAs they must chain to with --ssl-ca-certs",
            ))
        }
        (auth, Some(ca_path)) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certificates(ca_path, "--ssl-ca-certs")? {
                roots
                    .add(cert)
                    .map_err(|e| error(format!("--ssl-ca-certs {}: {e}", ca_path.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| error(format!("--ssl-ca-certs: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        error(format!(
            "--ssl-certfile/--ssl-keyfile do not match or are unusable: {e}"
        ))
    })?;
    config.alpn_protocols = settings.alpn.clone();
    Ok(Arc::new(config))
}

/// ring's provider, its cipher suites narrowed to `ciphers` when given.
fn provider_with_ciphers(ciphers: Option<&str>) -> Result<CryptoProvider, TlsError> {
    let mut provider = ring::default_provider();
    let Some(list) = ciphers.map(str::trim).filter(|c| !c.is_empty() && *c != "TLSv1") else {
        return Ok(provider);
    };
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for name in list.split([':', ',']).map(str::trim).filter(|n| !n.is_empty()) {
        let suite = provider
            .cipher_suites
            .iter()
            .find(|s| suite_name(s).eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<String> = provider.cipher_suites.iter().map(suite_name).collect();
                error(format!(
                    "--ssl-ciphers: unknown cipher suite {name:?} (rustls offers {})",
                    known.join(", ")
                ))
            })?;
        chosen.push(*suite);
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// A cipher suite's IANA name as rustls spells it (`TLS13_AES_128_GCM_SHA256`).
pub fn suite_name(suite: &SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite())
}

fn load_certificates(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(format!("{option} {}: {}", path.display(), pem_reason(&e))))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("{option} {}: {}", path.display(), pem_reason(&e))))?;
    if certs.is_empty() {
        return Err(error(format!(
            "{option} {}: no certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|e| error(format!("--ssl-keyfile {}: {e}", path.display())))?;
    if memchr_subslice(&text, b"ENCRYPTED PRIVATE KEY") || memchr_subslice(&text, b"Proc-Type: 4,ENCRYPTED") {
        let what = if password.is_some() {
            ""
        } else {
            " and no --ssl-keyfile-password was given"
        };
        return Err(error(format!(
            "--ssl-keyfile {}: the key is encrypted{what}; Pyre reads unencrypted keys only \
             (decrypt it with `openssl pkey -in KEY -out PLAIN`)",
            path.display()
        )));
    }
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| error(format!("--ssl-keyfile {}: {}", path.display(), pem_reason(&e))))
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind in the file".into(),
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not valid PEM ({other:?})"),
    }
}

fn memchr_subslice(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the application may learn of a connection's TLS session (the ASGI TLS
/// extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `0x0303` for TLS 1.2, `0x0304` for TLS 1.3 (the ASGI extension's numbers).
    pub version: u16,
    /// The cipher suite's IANA name.
    pub cipher_suite: String,
    /// The client's certificate chain (DER, leaf first); empty when none was given.
    pub client_certificates: Vec<Vec<u8>>,
    /// The server name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The protocol chosen by ALPN.
    pub alpn: Option<Vec<u8>>,
}

impl TlsInfo {
    pub fn of(conn: &rustls::ServerConnection) -> TlsInfo {
        TlsInfo {
            version: conn.protocol_version().map(u16::from).unwrap_or(0),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| suite_name(&s))
                .unwrap_or_default(),
            client_certificates: conn
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
            server_name: conn.server_name().map(str::to_owned),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        }
    }
}
