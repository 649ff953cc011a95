//! `Sec-WebSocket-Extensions` parsing and permessage-deflate negotiation
//! (RFC 6455 section 9.1, RFC 7692 section 7.1).
//!
//! The header is a comma-separated list of offers, possibly over several fields;
//! each offer is a name and `;`-separated parameters, with or without a value, the
//! value a token or a quoted string (whose unescaped content must be a token):
//!
//! ```text
//! permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits="10"
//! ```
//!
//! The server takes the first permessage-deflate offer it can accept; an offer with
//! an unknown, repeated or invalid parameter is declined (RFC 7692 section 7.1),
//! so the next one is tried. A field that is not valid syntax makes the whole
//! header unusable: the connection then proceeds without compression.

use crate::handshake::DeflateParams;

/// The extension name (RFC 7692 section 7).
pub(crate) const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One offer: an extension name and its parameters, values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Parses one `Sec-WebSocket-Extensions` field value into `offers`; `Err` when it
/// is not valid syntax.
pub(crate) fn parse_offers(value: &[u8], offers: &mut Vec<Offer>) -> Result<(), ()> {
    let mut cursor = Cursor { bytes: value, pos: 0 };
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => return Ok(()),
            // Empty list elements are allowed (RFC 9110 section 5.6.1).
            Some(b',') => {
                cursor.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = cursor.token()?;
        let mut params = Vec::new();
        loop {
            cursor.skip_ows();
            match cursor.peek() {
                None => break,
                Some(b',') => {
                    cursor.pos += 1;
                    break;
                }
                Some(b';') => {
                    cursor.pos += 1;
                    cursor.skip_ows();
                    let param = cursor.token()?;
                    cursor.skip_ows();
                    let value = if cursor.peek() == Some(b'=') {
                        cursor.pos += 1;
                        cursor.skip_ows();
                        Some(cursor.token_or_quoted()?)
                    } else {
                        None
                    };
                    params.push((param, value));
                }
                Some(_) => return Err(()),
            }
        }
        offers.push(Offer { name, params });
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<String, ()> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(());
        }
        // tchar is ASCII, so this is valid UTF-8.
        Ok(String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned())
    }

    /// A token, or a quoted string whose unescaped content is a token.
    fn token_or_quoted(&mut self) -> Result<String, ()> {
        if self.peek() != Some(b'"') {
            return self.token();
        }
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(()),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or(())?;
                    value.push(char::from(escaped));
                    self.pos += 1;
                }
                Some(byte) => {
                    value.push(char::from(byte));
                    self.pos += 1;
                }
            }
        }
        if value.is_empty() || !value.bytes().all(is_tchar) {
            return Err(());
        }
        Ok(value)
    }
}

/// The window size parameters take "a decimal integer value without leading
/// zeroes between 8 to 15, inclusive" (RFC 7692 section 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

/// The parameters the server uses if it accepts this permessage-deflate offer,
/// `None` if the offer must be declined.
///
/// - `server_no_context_takeover` / `client_no_context_takeover`: taken as offered
///   (the server does not ask for either on its own).
/// - `server_max_window_bits=N`: the server's compressor window is at most N;
///   absent, 15.
/// - `client_max_window_bits[=N]`: the client announces support (and may announce
///   its own limit N); the server never limits the client, since its decompressor
///   always has a 15-bit window, so this is only recorded (15 when absent or
///   without a value).
pub(crate) fn accept_deflate_offer(params: &[(String, Option<String>)]) -> Option<DeflateParams> {
    let mut server_no_context_takeover = false;
    let mut client_no_context_takeover = false;
    let mut server_max_window_bits = None;
    let mut client_max_window_bits = None;
    for (name, value) in params {
        // Parameter names are tokens; RFC 7692 spells them in lower case and no
        // implementation sends them otherwise, so they are compared exactly.
        let seen = match name.as_str() {
            "server_no_context_takeover" => {
                value.is_none().then_some(())?;
                std::mem::replace(&mut server_no_context_takeover, true)
            }
            "client_no_context_takeover" => {
                value.is_none().then_some(())?;
                std::mem::replace(&mut client_no_context_takeover, true)
            }
            "server_max_window_bits" => {
                let bits = window_bits(value.as_deref()?)?;
                server_max_window_bits.replace(bits).is_some()
            }
            "client_max_window_bits" => {
                let bits = match value {
                    None => 15,
                    Some(value) => window_bits(value)?,
                };
                client_max_window_bits.replace(bits).is_some()
            }
            _ => return None,
        };
        if seen {
            return None; // a repeated parameter
        }
    }
    Some(DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: server_max_window_bits.unwrap_or(15),
        client_max_window_bits: client_max_window_bits.unwrap_or(15),
    })
}

/// The first acceptable permessage-deflate offer among all the
/// `Sec-WebSocket-Extensions` field values, `None` if there is none or the
/// header is not valid syntax.
pub(crate) fn negotiate_deflate<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Option<DeflateParams> {
    let mut offers = Vec::new();
    for value in fields {
        parse_offers(value, &mut offers).ok()?;
    }
    offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(|offer| accept_deflate_offer(&offer.params))
}

/// Appends the `Sec-WebSocket-Extensions` answer for the accepted parameters.
///
/// `server_max_window_bits` is always stated: RFC 7692 section 7.1.2.1 requires it
/// in the answer when the offer had it, and allows it when the offer had not, and
/// [`DeflateParams`] does not record which was the case. `client_max_window_bits`
/// is never stated: omitting it is always allowed, and the server does not limit
/// the client's window.
pub(crate) fn write_answer(out: &mut Vec<u8>, params: &DeflateParams) {
    out.extend_from_slice(PERMESSAGE_DEFLATE.as_bytes());
    if params.server_no_context_takeover {
        out.extend_from_slice(b"; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        out.extend_from_slice(b"; client_no_context_takeover");
    }
    out.extend_from_slice(b"; server_max_window_bits=");
    out.extend_from_slice(params.server_max_window_bits.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(value: &str) -> Result<Vec<Offer>, ()> {
        let mut out = Vec::new();
        parse_offers(value.as_bytes(), &mut out).map(|()| out)
    }

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> Offer {
        Offer {
            name: name.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    fn negotiate(fields: &[&str]) -> Option<DeflateParams> {
        negotiate_deflate(fields.iter().map(|f| f.as_bytes()))
    }

    const DEFAULT: DeflateParams = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };

    #[test]
    fn parses_offers_params_values_and_quoted_values() {
        assert_eq!(
            offers("permessage-deflate; client_max_window_bits, x-foo ;a=1; b=\"two\" , ,bar").unwrap(),
            vec![
                offer("permessage-deflate", &[("client_max_window_bits", None)]),
                offer("x-foo", &[("a", Some("1")), ("b", Some("two"))]),
                offer("bar", &[]),
            ]
        );
        assert_eq!(
            offers("a; b = \"1\\0\"").unwrap(),
            vec![offer("a", &[("b", Some("10"))])]
        );
        assert_eq!(offers("").unwrap(), vec![]);
    }

    #[test]
    fn refuses_bad_syntax() {
        for bad in [
            "a;",
            "a; =1",
            "a; b=",
            "a; b=\"unterminated",
            "a; b=\"has space\"",
            "a; b=\"\"",
            "a b",
            ";a",
            "a; b=1 c",
            "a; b=\"1\"x",
            "a\u{e9}",
        ] {
            assert!(offers(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plain_offer_gets_defaults() {
        assert_eq!(negotiate(&["permessage-deflate"]), Some(DEFAULT));
        assert_eq!(negotiate(&["PerMessage-Deflate"]), Some(DEFAULT));
        assert_eq!(negotiate(&["x-webkit-deflate-frame"]), None);
        assert_eq!(negotiate(&[]), None);
    }

    #[test]
    fn honours_every_parameter() {
        assert_eq!(
            negotiate(&[
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=\"9\""
            ]),
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 10,
                client_max_window_bits: 9,
            })
        );
        assert_eq!(
            negotiate(&["permessage-deflate; client_max_window_bits"]),
            Some(DEFAULT)
        );
        assert_eq!(
            negotiate(&["permessage-deflate; server_max_window_bits=8"]).map(|p| p.server_max_window_bits),
            Some(8)
        );
    }

    #[test]
    fn declines_unknown_duplicate_and_invalid_params_then_takes_the_next_offer() {
        for declined in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
        ] {
            assert_eq!(negotiate(&[declined]), None, "{declined}");
            // The next offer, in the same field or the next one, is taken.
            let next = "permessage-deflate; client_no_context_takeover";
            let expected = Some(DeflateParams {
                client_no_context_takeover: true,
                ..DEFAULT
            });
            assert_eq!(
                negotiate(&[&format!("{declined}, {next}")]),
                expected,
                "{declined}"
            );
            assert_eq!(negotiate(&[declined, next]), expected, "{declined}");
        }
    }

    #[test]
    fn first_acceptable_offer_wins() {
        assert_eq!(
            negotiate(&["x-foo, permessage-deflate; server_max_window_bits=12, permessage-deflate"])
                .map(|p| p.server_max_window_bits),
            Some(12)
        );
    }

    #[test]
    fn malformed_field_disables_deflate() {
        assert_eq!(negotiate(&["permessage-deflate", "permessage-deflate; ="]), None);
    }

    #[test]
    fn answer() {
        let mut out = Vec::new();
        write_answer(&mut out, &DEFAULT);
        assert_eq!(out, b"permessage-deflate; server_max_window_bits=15");
        let mut out = Vec::new();
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
            client_max_window_bits: 8,
        };
        write_answer(&mut out, &params);
        assert_eq!(
            out,
            &b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
               server_max_window_bits=9"[..]
        );
        // The answer is itself a valid, acceptable offer with the same server side.
        let back = negotiate(&[std::str::from_utf8(&out).unwrap()]).unwrap();
        assert_eq!(back.server_max_window_bits, 9);
        assert!(back.server_no_context_takeover && back.client_no_context_takeover);
    }
}
