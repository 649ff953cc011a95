//! `pyre._core.Router`: the framework's route table, a segment trie matched in Rust.
//!
//! How it works: a template such as `/users/{id:int}/files/{rest:path}` is split at
//! `/` into segments. Static segments are children looked up by their text; typed
//! segments are children keyed by their converter; a `path` parameter takes the rest
//! of the path. Matching walks the request path's segments depth first in priority
//! order (static, then typed: int, float, uuid, custom converters in registration
//! order, then string, then path) and backtracks when a branch leads nowhere, so
//! `/users/me` beats `/users/{id:int}`, which beats `/users/{name}`. Values are
//! converted while matching (an `int` segment that does not parse is no match); a
//! custom converter is a Python callable whose `ValueError` means no match.
//!
//! The table is immutable once built: the framework builds a new one when routes
//! change and swaps the reference, so requests in flight keep the table they started
//! with.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// How a typed segment is matched and converted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Converter {
    Int,
    Float,
    Uuid,
    /// A custom converter: index into `Router::custom`.
    Custom(usize),
    Str,
}

#[derive(Default)]
struct Node {
    statics: HashMap<String, Node>,
    /// Typed children, kept sorted by priority.
    typed: Vec<(Converter, Node)>,
    /// A `path` parameter: the rest of the path (slashes included).
    rest: Option<Box<Node>>,
    /// Routes ending here: (methods, endpoint id, parameter names in order).
    routes: Vec<Leaf>,
}

struct Leaf {
    methods: Vec<String>,
    endpoint: usize,
    names: Vec<String>,
}

#[pyclass(module = "pyre._core", frozen)]
pub struct Router {
    root: Node,
    /// Custom converters' callables.
    custom: Vec<Py<PyAny>>,
    uuid: Py<PyAny>,
}

/// One parsed template segment.
enum Segment {
    Static(String),
    Param(String, Converter),
    Rest(String),
}

/// What a walk found: a leaf and the converted values (in template order).
struct Found<'a, 'py> {
    leaves: &'a [Leaf],
    values: Vec<Bound<'py, PyAny>>,
}

#[pymethods]
impl Router {
    /// Builds a table. `routes`: (template, methods, endpoint id) tuples; `custom`:
    /// converter name -> callable(str) returning the value or raising ValueError.
    #[new]
    fn new(
        py: Python<'_>,
        routes: Vec<(String, Vec<String>, usize)>,
        custom: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let mut names: Vec<String> = Vec::new();
        let mut callables = Vec::new();
        for (name, callable) in custom.iter() {
            names.push(name.extract()?);
            callables.push(callable.unbind());
        }
        let mut root = Node::default();
        for (template, methods, endpoint) in routes {
            let segments = parse_template(&template, &names)?;
            let mut node = &mut root;
            let mut params = Vec::new();
            for segment in segments {
                node = match segment {
                    Segment::Static(text) => node.statics.entry(text).or_default(),
                    Segment::Param(name, converter) => {
                        params.push(name);
                        if !node.typed.iter().any(|(c, _)| *c == converter) {
                            node.typed.push((converter.clone(), Node::default()));
                            node.typed.sort_by(|a, b| a.0.cmp(&b.0));
                        }
                        let at = node.typed.iter().position(|(c, _)| *c == converter).unwrap_or(0);
                        &mut node.typed[at].1
                    }
                    Segment::Rest(name) => {
                        params.push(name);
                        node.rest.get_or_insert_with(Box::default)
                    }
                };
            }
            for leaf in &node.routes {
                if let Some(method) = leaf.methods.iter().find(|m| methods.contains(m)) {
                    return Err(PyValueError::new_err(format!(
                        "route {template} {method} is registered twice"
                    )));
                }
            }
            node.routes.push(Leaf {
                methods,
                endpoint,
                names: params,
            });
        }
        let uuid = py.import("uuid")?.getattr("UUID")?.unbind();
        Ok(Router {
            root,
            custom: callables,
            uuid,
        })
    }

    /// Matches a request. Returns `(endpoint id, params)`, or `(None, allowed
    /// methods)` when the path matches but not the method (405), or None (404).
    /// HEAD is served by a GET route when no route names HEAD.
    fn resolve<'py>(&self, py: Python<'py>, method: &str, path: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let segments: Vec<&str> = trimmed.split('/').collect();
        let Some(found) = self.walk(py, &self.root, &segments, 0, trimmed, Vec::new())? else {
            return Ok(None);
        };
        let leaves = found.leaves;
        let pick = |m: &str| leaves.iter().find(|l| l.methods.iter().any(|x| x == m));
        let leaf = pick(method).or_else(|| if method == "HEAD" { pick("GET") } else { None });
        match leaf {
            Some(leaf) => {
                let params = PyDict::new(py);
                for (name, value) in leaf.names.iter().zip(found.values) {
                    params.set_item(PyString::new(py, name), value)?;
                }
                Ok(Some((leaf.endpoint, params).into_pyobject(py)?.into_any()))
            }
            None => {
                let mut allowed: Vec<&str> = leaves
                    .iter()
                    .flat_map(|l| l.methods.iter().map(String::as_str))
                    .collect();
                if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
                    allowed.push("HEAD");
                }
                allowed.sort_unstable();
                allowed.dedup();
                let allowed = PyList::new(py, allowed)?;
                Ok(Some((py.None(), allowed).into_pyobject(py)?.into_any()))
            }
        }
    }
}

impl Router {
    /// Depth-first match of `segments[at..]` under `node`, in priority order.
    /// `rest_of` is the path after the leading slash, for `path` parameters.
    fn walk<'a, 'py>(
        &'a self,
        py: Python<'py>,
        node: &'a Node,
        segments: &[&str],
        at: usize,
        rest_of: &str,
        values: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Found<'a, 'py>>> {
        if at == segments.len() {
            return Ok((!node.routes.is_empty()).then_some(Found {
                leaves: &node.routes,
                values,
            }));
        }
        let segment = segments[at];
        if let Some(child) = node.statics.get(segment) {
            if let Some(found) = self.walk(py, child, segments, at + 1, rest_of, values.clone())? {
                return Ok(Some(found));
            }
        }
        if !segment.is_empty() {
            for (converter, child) in &node.typed {
                let Some(value) = self.convert(py, converter, segment)? else {
                    continue;
                };
                let mut with = values.clone();
                with.push(value);
                if let Some(found) = self.walk(py, child, segments, at + 1, rest_of, with)? {
                    return Ok(Some(found));
                }
            }
        }
        if let Some(child) = &node.rest {
            // The rest of the path from this segment on, slashes included.
            let offset: usize = segments[..at].iter().map(|s| s.len() + 1).sum();
            let rest = &rest_of[offset.min(rest_of.len())..];
            if !rest.is_empty() && !child.routes.is_empty() {
                let mut with = values;
                with.push(PyString::new(py, rest).into_any());
                return Ok(Some(Found {
                    leaves: &child.routes,
                    values: with,
                }));
            }
        }
        Ok(None)
    }

    /// The converted value of one segment, or None when it does not match.
    fn convert<'py>(
        &self,
        py: Python<'py>,
        converter: &Converter,
        text: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match converter {
            Converter::Str => Some(PyString::new(py, text).into_any()),
            Converter::Int => {
                let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(None);
                }
                text.parse::<i64>()
                    .ok()
                    .map(|n| n.into_pyobject(py).map(|v| v.into_any()))
                    .transpose()?
            }
            Converter::Float => {
                let body = text.strip_prefix(['-', '+']).unwrap_or(text);
                let (whole, frac) = body.split_once('.').unwrap_or((body, "0"));
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !digits(whole) || !digits(frac) {
                    return Ok(None);
                }
                text.parse::<f64>()
                    .ok()
                    .map(|n| n.into_pyobject(py).map(|v| v.into_any()))
                    .transpose()?
            }
            Converter::Uuid => {
                if !is_uuid(text) {
                    return Ok(None);
                }
                Some(self.uuid.bind(py).call1((text,))?)
            }
            Converter::Custom(index) => match self.custom[*index].bind(py).call1((text,)) {
                Ok(value) => Some(value),
                Err(e) if e.is_instance_of::<PyValueError>(py) => None,
                Err(e) => return Err(e),
            },
        })
    }
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Splits a template into segments. Parameters are `{name}` or `{name:converter}`.
fn parse_template(template: &str, custom: &[String]) -> PyResult<Vec<Segment>> {
    let Some(trimmed) = template.strip_prefix('/') else {
        return Err(PyValueError::new_err(format!(
            "route {template:?} must start with '/'"
        )));
    };
    let parts: Vec<&str> = trimmed.split('/').collect();
    let mut segments = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            if part.contains(['{', '}']) {
                return Err(PyValueError::new_err(format!(
                    "route {template:?}: a parameter must be a whole segment, got {part:?}"
                )));
            }
            segments.push(Segment::Static((*part).to_string()));
            continue;
        };
        let (name, kind) = inner.split_once(':').unwrap_or((inner, "string"));
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(PyValueError::new_err(format!(
                "route {template:?}: {name:?} is not a parameter name"
            )));
        }
        let converter = match kind {
            "string" | "str" => Converter::Str,
            "int" => Converter::Int,
            "float" => Converter::Float,
            "uuid" => Converter::Uuid,
            "path" => {
                if i != parts.len() - 1 {
                    return Err(PyValueError::new_err(format!(
                        "route {template:?}: a path parameter must be the last segment"
                    )));
                }
                segments.push(Segment::Rest(name.to_string()));
                continue;
            }
            other => match custom.iter().position(|c| c == other) {
                Some(index) => Converter::Custom(index),
                None => {
                    return Err(PyValueError::new_err(format!(
                        "route {template:?}: unknown converter {other:?}"
                    )))
                }
            },
        };
        segments.push(Segment::Param(name.to_string(), converter));
    }
    Ok(segments)
}
