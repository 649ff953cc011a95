//! TLS for the server, from Python: [`TlsConfig`] turns the `--ssl-*` options into the
//! rustls configuration the runtime shares among connections (built, and so checked,
//! when it is made: a bad file or key fails at start with one line), and the ASGI TLS
//! extension / PSGI `request.tls` built from a connection's session.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyre_net::tls::{ClientAuth, TlsInfo, TlsSettings};

/// A checked TLS configuration for `Server(tls=...)` and `Server.set_tls()`.
#[pyclass(module = "pyre._core", frozen)]
pub struct TlsConfig {
    pub config: Arc<pyre_net::rustls::ServerConfig>,
}

#[pymethods]
impl TlsConfig {
    /// `cert_reqs`: 0 none, 1 optional, 2 required (Python's `ssl.CERT_*` numbers,
    /// as uvicorn's `--ssl-cert-reqs`). `alpn`: protocols offered, best first.
    #[new]
    #[pyo3(signature = (certfile, keyfile = None, password = None, ca_certs = None, cert_reqs = 0, ciphers = None, alpn = vec!["http/1.1".to_string()]))]
    fn new(
        certfile: PathBuf,
        keyfile: Option<PathBuf>,
        password: Option<String>,
        ca_certs: Option<PathBuf>,
        cert_reqs: u8,
        ciphers: Option<String>,
        alpn: Vec<String>,
    ) -> PyResult<Self> {
        let client_auth = match cert_reqs {
            0 => ClientAuth::None,
            1 => ClientAuth::Optional,
            2 => ClientAuth::Required,
            other => {
                return Err(PyValueError::new_err(format!(
                    "ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required), got {other}"
                )))
            }
        };
        let settings = TlsSettings {
            certfile,
            keyfile,
            keyfile_password: password,
            ca_certs,
            client_auth,
            ciphers,
            alpn: alpn.into_iter().map(String::into_bytes).collect(),
        };
        let config = pyre_net::tls::server_config(&settings).map_err(|e| PyValueError::new_err(e.0))?;
        Ok(TlsConfig { config })
    }
}

/// `-----BEGIN CERTIFICATE-----` text of a DER certificate.
fn pem(der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The ASGI TLS extension's dict (`scope["extensions"]["tls"]`): `tls_version`
/// (0x0304 for TLS 1.3), `cipher_suite` (its IANA number), `client_cert_chain`
/// (PEM, leaf first; empty without a client certificate), `server_cert` (None:
/// not exposed), plus Pyre's `cipher_suite_name`, `server_name` (SNI) and
/// `alpn_protocol`.
pub fn tls_dict<'py>(
    py: Python<'py>,
    conn: &pyre_net::rustls::ServerConnection,
) -> PyResult<Bound<'py, PyDict>> {
    let info = TlsInfo::of(conn);
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "server_cert"), py.None())?;
    let chain: Vec<String> = info.client_certificates.iter().map(|c| pem(c)).collect();
    dict.set_item(intern!(py, "client_cert_chain"), PyList::new(py, chain)?)?;
    dict.set_item(intern!(py, "client_cert_name"), py.None())?;
    dict.set_item(intern!(py, "client_cert_error"), py.None())?;
    dict.set_item(intern!(py, "tls_version"), info.version)?;
    let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
    dict.set_item(intern!(py, "cipher_suite"), suite)?;
    dict.set_item(intern!(py, "cipher_suite_name"), info.cipher_suite)?;
    dict.set_item(intern!(py, "server_name"), info.server_name)?;
    let alpn = info.alpn.map(|a| String::from_utf8_lossy(&a).into_owned());
    dict.set_item(intern!(py, "alpn_protocol"), alpn)?;
    Ok(dict)
}

/// Marks an ASGI scope as having come over TLS: scheme `https` (`wss` once the
/// WebSocket scope is made from it).
pub fn set_https(py: Python<'_>, scope: &Bound<'_, PyDict>) -> PyResult<()> {
    scope.set_item(intern!(py, "scheme"), intern!(py, "https"))
}

/// Adds the TLS extension to an ASGI scope's `extensions`.
pub fn add_tls_extension(py: Python<'_>, scope: &Bound<'_, PyDict>, tls: &Bound<'_, PyDict>) -> PyResult<()> {
    if let Some(extensions) = scope.get_item(intern!(py, "extensions"))? {
        extensions.set_item(intern!(py, "tls"), tls)?;
    }
    Ok(())
}
