//! Building the ASGI HTTP scope dict (ASGI HTTP spec 2.4) from a parsed request head.
//!
//! Keys are interned strings, so each request creates only the values. Header names
//! are lowercased while they are copied into `bytes` objects, as ASGI requires.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyre_net::h1::{decode_path, split_target, target_authority, Method};
use pyre_net::{LocalAddr, RequestView};

/// The values of a scope that are the same for every request of a server.
pub struct ScopeConstants {
    pub root_path: Py<PyString>,
    pub root_path_bytes: Vec<u8>,
    /// A scope with every key in place and the constant values set. Each request's
    /// scope starts as a copy of it: CPython copies a dict's key table in one go, so
    /// no key is hashed, inserted or resized per request.
    scope_template: Py<PyDict>,
    asgi_template: Py<PyDict>,
    /// `extensions`: the ASGI extensions Pyre serves, each with its (empty) options.
    /// Copied per request (shallow), so an application may add to its own.
    extensions_template: Py<PyDict>,
}

impl ScopeConstants {
    pub fn new(py: Python<'_>, root_path: &str) -> PyResult<Self> {
        let root = PyString::new(py, root_path);
        let scope = PyDict::new(py);
        let none = py.None();
        for key in [
            "type",
            "asgi",
            "http_version",
            "method",
            "scheme",
            "path",
            "raw_path",
            "query_string",
            "root_path",
            "headers",
            "client",
            "server",
            "state",
            "extensions",
        ] {
            scope.set_item(PyString::intern(py, key), &none)?;
        }
        scope.set_item(intern!(py, "type"), intern!(py, "http"))?;
        scope.set_item(intern!(py, "scheme"), intern!(py, "http"))?;
        scope.set_item(intern!(py, "root_path"), &root)?;
        let asgi = PyDict::new(py);
        asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
        asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.4"))?;
        let extensions = PyDict::new(py);
        for name in ["http.response.trailers", "http.response.pathsend"] {
            extensions.set_item(PyString::intern(py, name), PyDict::new(py))?;
        }
        Ok(ScopeConstants {
            extensions_template: extensions.unbind(),
            root_path: root.unbind(),
            root_path_bytes: root_path.as_bytes().to_vec(),
            scope_template: scope.unbind(),
            asgi_template: asgi.unbind(),
        })
    }
}

/// The method as a str, interned for the common ones.
fn method_str<'py>(py: Python<'py>, view: &RequestView<'_>) -> Bound<'py, PyString> {
    method_name(py, view.head.method, view.head.method_span.get(view.buf))
}

/// The method as a str (`bytes`: the method as sent, for uncommon ones).
pub fn method_name<'py>(py: Python<'py>, method: Method, bytes: &[u8]) -> Bound<'py, PyString> {
    match method {
        Method::Get => intern!(py, "GET").clone(),
        Method::Head => intern!(py, "HEAD").clone(),
        Method::Post => intern!(py, "POST").clone(),
        Method::Put => intern!(py, "PUT").clone(),
        Method::Delete => intern!(py, "DELETE").clone(),
        Method::Patch => intern!(py, "PATCH").clone(),
        Method::Options => intern!(py, "OPTIONS").clone(),
        Method::Connect => intern!(py, "CONNECT").clone(),
        Method::Trace => intern!(py, "TRACE").clone(),
        Method::Other => {
            // Methods are tokens: ASCII, so the UTF-8 decode cannot fail.
            PyString::new(py, std::str::from_utf8(bytes).unwrap_or("INVALID"))
        }
    }
}

/// `(host, port)` for TCP, `(path, None)` for a Unix socket, as uvicorn reports them.
pub fn server_tuple<'py>(py: Python<'py>, local: &LocalAddr) -> PyResult<Bound<'py, PyTuple>> {
    match local {
        LocalAddr::Tcp(addr) => (addr.ip().to_string(), addr.port()).into_pyobject(py),
        LocalAddr::Unix(path) => (path.to_string_lossy().into_owned(), py.None()).into_pyobject(py),
    }
}

/// Builds the scope of one HTTP request.
pub fn build_scope<'py>(
    py: Python<'py>,
    view: &RequestView<'_>,
    constants: &ScopeConstants,
    server: &Bound<'py, PyTuple>,
    client: Option<&Bound<'py, PyTuple>>,
    state: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let head = view.head;
    let buf = view.buf;
    let scope = constants.scope_template.bind(py).copy()?;
    scope.set_item(intern!(py, "asgi"), constants.asgi_template.bind(py).copy()?)?;
    let version = match head.version {
        pyre_net::h1::Version::Http10 => intern!(py, "1.0"),
        pyre_net::h1::Version::Http11 => intern!(py, "1.1"),
    };
    scope.set_item(intern!(py, "http_version"), version)?;
    scope.set_item(intern!(py, "method"), method_str(py, view))?;

    let (raw_path, query) = split_target(head.target_form, head.target.get(buf));
    let root = constants.root_path.bind(py);
    if constants.root_path_bytes.is_empty() {
        scope.set_item(intern!(py, "path"), PyString::new(py, &decode_path(raw_path)))?;
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path))?;
    } else {
        let mut full = constants.root_path_bytes.clone();
        full.extend_from_slice(raw_path);
        let path = format!("{}{}", root.to_str()?, decode_path(raw_path));
        scope.set_item(intern!(py, "path"), path)?;
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, &full))?;
    }
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, query))?;

    // An absolute-form target's authority replaces the received Host (RFC 9112
    // section 3.2.2).
    let authority = target_authority(head.target_form, head.target.get(buf));
    let mut lower = Vec::with_capacity(64);
    let mut pairs = Vec::with_capacity(head.headers.len() + 1);
    let mut host_seen = false;
    for field in &head.headers {
        let name = field.name.get(buf);
        let is_host = name.eq_ignore_ascii_case(b"host");
        let name = if name.iter().any(u8::is_ascii_uppercase) {
            lower.clear();
            lower.extend(name.iter().map(u8::to_ascii_lowercase));
            PyBytes::new(py, &lower)
        } else {
            PyBytes::new(py, name)
        };
        let value = match authority {
            Some(authority) if is_host => authority,
            _ => field.value.get(buf),
        };
        host_seen |= is_host;
        let value = PyBytes::new(py, value);
        pairs.push(PyTuple::new(py, [name.into_any(), value.into_any()])?);
    }
    if let (Some(authority), false) = (authority, host_seen) {
        let name = PyBytes::new(py, b"host");
        let value = PyBytes::new(py, authority);
        pairs.push(PyTuple::new(py, [name.into_any(), value.into_any()])?);
    }
    let headers = PyList::new(py, pairs)?;
    scope.set_item(intern!(py, "headers"), headers)?;

    match client {
        Some(client) => scope.set_item(intern!(py, "client"), client)?,
        None => scope.set_item(intern!(py, "client"), py.None())?,
    }
    scope.set_item(intern!(py, "server"), server)?;
    match state {
        Some(state) => scope.set_item(intern!(py, "state"), state.copy()?)?,
        None => scope.del_item(intern!(py, "state"))?,
    }
    scope.set_item(
        intern!(py, "extensions"),
        constants.extensions_template.bind(py).copy()?,
    )?;
    Ok(scope)
}
