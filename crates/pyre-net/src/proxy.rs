//! Proxy headers: who the client really is behind a trusted reverse proxy.
//!
//! How it works: only a request whose peer address is trusted (`--forwarded-allow-ips`:
//! addresses and CIDR ranges, or `*`) is looked at. RFC 7239 `Forwarded` is used when
//! present, else `X-Forwarded-For` / `-Proto` / `-Host`. Each proxy appends the address
//! it received the request from, so the list is walked from the right, skipping the
//! proxies we trust; the first address we do not trust is the client (all trusted:
//! the leftmost). A client cannot forge its way past this: whatever it puts on the
//! left of the list is only reached when every hop to its right is trusted. Scheme
//! and host come from the chosen `Forwarded` element, or the first `X-Forwarded-Proto`
//! / `-Host` value; a scheme other than http, https, ws or wss is ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use pyre_h1::RequestHead;

/// Which peers may tell us about the client.
#[derive(Debug, Clone)]
pub struct ProxyTrust {
    all: bool,
    nets: Vec<(IpAddr, u8)>,
}

/// What the trusted proxies said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub client: Option<(String, u16)>,
    pub scheme: Option<&'static str>,
    pub host: Option<Vec<u8>>,
}

impl ProxyTrust {
    /// Parses `"127.0.0.1, 10.0.0.0/8, ::1"` or `"*"`.
    pub fn parse(spec: &str) -> Result<ProxyTrust, String> {
        let mut trust = ProxyTrust {
            all: false,
            nets: Vec::new(),
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                trust.all = true;
                continue;
            }
            let (address, prefix) = match item.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (item, None),
            };
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))?;
            let width = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= width)
                    .ok_or_else(|| format!("{item:?} has an invalid prefix length"))?,
                None => width,
            };
            trust.nets.push((address, prefix));
        }
        Ok(trust)
    }

    /// `*`: every peer is trusted.
    pub fn trusts_all(&self) -> bool {
        self.all
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.all
            || self
                .nets
                .iter()
                .any(|&(net, prefix)| in_net(ip, canonical(net), prefix))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, from a dual-stack listener) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// [`resolve`] for a connection's peer: a Unix socket peer (`None`) has no address
/// and is trusted only with `*`.
pub fn resolve_peer(
    trust: &ProxyTrust,
    peer: Option<SocketAddr>,
    head: &RequestHead,
    buf: &[u8],
) -> Option<Forwarded> {
    if peer.is_none() && !trust.trusts_all() {
        return None;
    }
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
    resolve(trust, ip, head, buf)
}

/// What trusted proxies say about a request from `peer`, if `peer` is trusted and
/// they said anything.
pub fn resolve(trust: &ProxyTrust, peer: IpAddr, head: &RequestHead, buf: &[u8]) -> Option<Forwarded> {
    // The common case, no proxy header at all, costs one pass over the names.
    let any = head.headers.iter().any(|h| {
        let name = h.name.get(buf);
        name.eq_ignore_ascii_case(b"forwarded")
            || (name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-forwarded-"))
    });
    if !any || !trust.trusts(peer) {
        return None;
    }
    let values = |name: &[u8]| -> Vec<&[u8]> {
        head.headers
            .iter()
            .filter(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
            .collect()
    };
    let forwarded = values(b"forwarded");
    let result = if !forwarded.is_empty() {
        from_forwarded(trust, &forwarded)
    } else {
        from_x_forwarded(
            trust,
            &values(b"x-forwarded-for"),
            &values(b"x-forwarded-proto"),
            &values(b"x-forwarded-host"),
        )
    };
    (result != Forwarded::default()).then_some(result)
}

/// The comma-separated elements of repeated fields, in order, trimmed.
fn elements<'a>(fields: &[&'a [u8]]) -> Vec<&'a [u8]> {
    fields
        .iter()
        .flat_map(|f| f.split(|&b| b == b','))
        .map(trim)
        .filter(|e| !e.is_empty())
        .collect()
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn scheme(value: &[u8]) -> Option<&'static str> {
    let value = trim(value);
    ["http", "https", "ws", "wss"]
        .into_iter()
        .find(|s| value.eq_ignore_ascii_case(s.as_bytes()))
}

/// Index of the client in a right-to-left walk over hop addresses.
fn pick<T>(trust: &ProxyTrust, hops: &[T], address: impl Fn(&T) -> Option<IpAddr>) -> Option<usize> {
    if hops.is_empty() {
        return None;
    }
    for (i, hop) in hops.iter().enumerate().rev() {
        match address(hop) {
            Some(ip) if trust.trusts(ip) => continue,
            _ => return Some(i),
        }
    }
    Some(0)
}

fn from_x_forwarded(trust: &ProxyTrust, xff: &[&[u8]], proto: &[&[u8]], host: &[&[u8]]) -> Forwarded {
    let hops: Vec<String> = elements(xff)
        .into_iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    let client = pick(trust, &hops, |h| h.parse().ok()).map(|i| (hops[i].clone(), 0));
    Forwarded {
        client,
        scheme: elements(proto).first().and_then(|p| scheme(p)),
        host: elements(host).first().map(|h| h.to_vec()),
    }
}

/// One `Forwarded` element's `for`, `proto` and `host` parameters.
#[derive(Default)]
struct Element {
    for_: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

fn from_forwarded(trust: &ProxyTrust, fields: &[&[u8]]) -> Forwarded {
    let parsed: Vec<Element> = elements(fields).into_iter().map(parse_element).collect();
    let Some(i) = pick(trust, &parsed, |e| {
        e.for_.as_deref().and_then(|f| split_node(f).0.parse().ok())
    }) else {
        return Forwarded::default();
    };
    let element = &parsed[i];
    Forwarded {
        client: element.for_.as_deref().map(|f| {
            let (host, port) = split_node(f);
            (host.to_string(), port)
        }),
        scheme: element.proto.as_deref().and_then(|p| scheme(p.as_bytes())),
        host: element.host.as_ref().map(|h| h.as_bytes().to_vec()),
    }
}

fn parse_element(element: &[u8]) -> Element {
    let mut out = Element::default();
    for pair in element.split(|&b| b == b';') {
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = trim(&pair[..eq]);
        let mut value = trim(&pair[eq + 1..]);
        if let [b'"', inner @ .., b'"'] = value {
            value = inner;
        }
        let value = String::from_utf8_lossy(value).replace("\\\"", "\"");
        if name.eq_ignore_ascii_case(b"for") {
            out.for_ = Some(value);
        } else if name.eq_ignore_ascii_case(b"proto") {
            out.proto = Some(value);
        } else if name.eq_ignore_ascii_case(b"host") {
            out.host = Some(value);
        }
    }
    out
}

/// `"[2001:db8::1]:4711"`, `"192.0.2.1:80"`, `"192.0.2.1"`, `"unknown"` -> (host, port).
fn split_node(node: &str) -> (&str, u16) {
    if let Some(rest) = node.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(0);
            return (host, port);
        }
    }
    match node.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().unwrap_or(0)),
        _ => (node, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(spec: &str) -> ProxyTrust {
        ProxyTrust::parse(spec).unwrap()
    }

    #[test]
    fn cidr_ranges_and_mapped_addresses() {
        let t = trust("127.0.0.1, 10.0.0.0/8, fd00::/8");
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(t.trusts("fd12::1".parse().unwrap()));
        assert!(!t.trusts("11.0.0.1".parse().unwrap()));
        assert!(ProxyTrust::parse("10.0.0.0/33").is_err());
        assert!(ProxyTrust::parse("not-an-ip").is_err());
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let t = trust("127.0.0.1, 10.0.0.0/8");
        let f = from_x_forwarded(
            &t,
            &[b"6.6.6.6, 1.2.3.4, 10.0.0.5"],
            &[b"https"],
            &[b"example.com"],
        );
        assert_eq!(f.client, Some(("1.2.3.4".to_string(), 0)));
        assert_eq!(f.scheme, Some("https"));
        assert_eq!(f.host, Some(b"example.com".to_vec()));
        let all_trusted = from_x_forwarded(&t, &[b"10.0.0.1, 10.0.0.2"], &[], &[]);
        assert_eq!(all_trusted.client, Some(("10.0.0.1".to_string(), 0)));
    }

    #[test]
    fn forwarded_elements() {
        let t = trust("127.0.0.1");
        let f = from_forwarded(&t, &[b"for=\"[2001:db8::1]:4711\";proto=https;host=example.org"]);
        assert_eq!(f.client, Some(("2001:db8::1".to_string(), 4711)));
        assert_eq!(f.scheme, Some("https"));
        assert_eq!(f.host, Some(b"example.org".to_vec()));
        let bad_scheme = from_forwarded(&t, &[b"for=1.2.3.4;proto=gopher"]);
        assert_eq!(bad_scheme.scheme, None);
    }
}
