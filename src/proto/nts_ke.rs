//! NTS key establishment records (RFC 8915, section 4), free of I/O: the
//! client's request, and the server's response parsed as its bytes come
//! out of TLS. The TLS session itself and the keys exported from it belong
//! to the caller.

/// Record types.
const END_OF_MESSAGE: u16 = 0;
const NEXT_PROTOCOL: u16 = 1;
const ERROR: u16 = 2;
const WARNING: u16 = 3;
const AEAD_ALGORITHM: u16 = 4;
const NEW_COOKIE: u16 = 5;
const SERVER: u16 = 6;
const PORT: u16 = 7;
const CRITICAL: u16 = 0x8000;

/// The NTS-KE port a server listens on unless told otherwise.
pub const DEFAULT_KE_PORT: u16 = 4460;
/// Next protocol NTPv4.
pub const PROTOCOL_NTPV4: u16 = 0;
/// AEAD_AES_SIV_CMAC_256 (RFC 5297), the one algorithm the client offers.
pub const AEAD_AES_SIV_CMAC_256: u16 = 15;
/// The TLS exporter label and the ALPN protocol ID.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";
pub const ALPN: &[u8] = b"ntske/1";
/// Bytes of each key exported (AES-SIV-CMAC-256 uses a 32-byte key).
pub const KEY_LEN: usize = 32;
/// The most cookies kept from one response (RFC 8915 suggests 8).
pub const MAX_COOKIES: usize = 8;
/// The longest response accepted, bytes: a server cannot make the client
/// buffer without end.
pub const MAX_RESPONSE: usize = 16 * 1024;
/// The longest cookie accepted (chronyd's are about 100 bytes).
pub const MAX_COOKIE_LEN: usize = 1024;
/// The longest server name accepted (a DNS name is at most 253).
const MAX_SERVER_LEN: usize = 255;

/// The client's request: NTPv4 as the next protocol and AES-SIV-CMAC-256,
/// both critical, then the end of the message.
pub fn request() -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for (kind, body) in [(NEXT_PROTOCOL, PROTOCOL_NTPV4), (AEAD_ALGORITHM, AEAD_AES_SIV_CMAC_256)] {
        out.extend_from_slice(&(CRITICAL | kind).to_be_bytes());
        out.extend_from_slice(&2u16.to_be_bytes());
        out.extend_from_slice(&body.to_be_bytes());
    }
    out.extend_from_slice(&(CRITICAL | END_OF_MESSAGE).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

/// The exporter contexts of the client-to-server and server-to-client keys.
pub fn exporter_context(server_to_client: bool) -> [u8; 5] {
    let [p0, p1] = PROTOCOL_NTPV4.to_be_bytes();
    let [a0, a1] = AEAD_AES_SIV_CMAC_256.to_be_bytes();
    [p0, p1, a0, a1, u8::from(server_to_client)]
}

/// What a successful key exchange gives besides the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeResponse {
    /// The cookies, in the order sent (at most [`MAX_COOKIES`]).
    pub cookies: Vec<Vec<u8>>,
    /// Where NTP goes, if the server names another host or port.
    pub server: Option<String>,
    pub port: Option<u16>,
    /// Warning codes the server sent.
    pub warnings: Vec<u16>,
}

/// Why a key exchange response was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeError {
    /// The server sent an Error record: 0 unrecognized critical record,
    /// 1 bad request, 2 internal server error.
    Server(u16),
    /// A critical record of a type the client does not know.
    UnknownCritical(u16),
    /// NTPv4 not agreed (no, another, or more than one next protocol).
    NoNtpv4,
    /// AES-SIV-CMAC-256 not agreed.
    NoAead,
    /// No cookie came.
    NoCookies,
    /// A record malformed, repeated, too long, or the response too long.
    Malformed(&'static str),
}

impl std::fmt::Display for KeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeError::Server(0) => write!(f, "server error: unrecognized critical record"),
            KeError::Server(1) => write!(f, "server error: bad request"),
            KeError::Server(2) => write!(f, "server error: internal server error"),
            KeError::Server(c) => write!(f, "server error {c}"),
            KeError::UnknownCritical(t) => write!(f, "unknown critical record type {t}"),
            KeError::NoNtpv4 => write!(f, "the server did not agree to NTPv4"),
            KeError::NoAead => write!(f, "the server did not agree to AEAD_AES_SIV_CMAC_256"),
            KeError::NoCookies => write!(f, "no cookie in the response"),
            KeError::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

/// Parses a response from its first byte: `Ok(None)` while the end of the
/// message has not come yet (read more), `Ok(Some)` once it has and every
/// rule holds. Bytes after the end of the message are ignored.
pub fn parse_response(data: &[u8]) -> Result<Option<KeResponse>, KeError> {
    let mut out = KeResponse::default();
    let (mut protocol, mut aead) = (None, None);
    let mut rest = data;
    loop {
        if data.len() - rest.len() > MAX_RESPONSE {
            return Err(KeError::Malformed("response too long"));
        }
        let Some(head) = rest.get(..4) else {
            return if data.len() > MAX_RESPONSE { Err(KeError::Malformed("response too long")) } else { Ok(None) };
        };
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            return if 4 + len + (data.len() - rest.len()) > MAX_RESPONSE {
                Err(KeError::Malformed("response too long"))
            } else {
                Ok(None)
            };
        };
        rest = &rest[4 + len..];
        let u16s = || -> Result<Vec<u16>, KeError> {
            if body.len() % 2 != 0 {
                return Err(KeError::Malformed("odd-length list"));
            }
            Ok(body.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
        };
        match kind & !CRITICAL {
            END_OF_MESSAGE => break,
            NEXT_PROTOCOL => {
                if protocol.is_some() {
                    return Err(KeError::Malformed("next protocol repeated"));
                }
                protocol = Some(u16s()?);
            }
            ERROR => {
                let code = u16s()?;
                return Err(KeError::Server(code.first().copied().unwrap_or(u16::MAX)));
            }
            WARNING => out.warnings.extend(u16s()?),
            AEAD_ALGORITHM => {
                if aead.is_some() {
                    return Err(KeError::Malformed("AEAD algorithm repeated"));
                }
                aead = Some(u16s()?);
            }
            NEW_COOKIE => {
                if body.is_empty() || body.len() > MAX_COOKIE_LEN {
                    return Err(KeError::Malformed("cookie empty or too long"));
                }
                if out.cookies.len() < MAX_COOKIES {
                    out.cookies.push(body.to_vec());
                }
            }
            SERVER => {
                let name = std::str::from_utf8(body).map_err(|_| KeError::Malformed("server name not ASCII"))?;
                if out.server.is_some() || name.is_empty() || name.len() > MAX_SERVER_LEN || !name.is_ascii() {
                    return Err(KeError::Malformed("server name repeated, empty or not ASCII"));
                }
                out.server = Some(name.to_string());
            }
            PORT => {
                let port = u16s()?;
                if out.port.is_some() || port.len() != 1 {
                    return Err(KeError::Malformed("port repeated or not one number"));
                }
                out.port = Some(port[0]);
            }
            other if kind & CRITICAL != 0 => return Err(KeError::UnknownCritical(other)),
            _ => {} // an unknown record that is not critical is ignored
        }
    }
    if protocol.as_deref() != Some(&[PROTOCOL_NTPV4]) {
        return Err(KeError::NoNtpv4);
    }
    if aead.as_deref() != Some(&[AEAD_AES_SIV_CMAC_256]) {
        return Err(KeError::NoAead);
    }
    if out.cookies.is_empty() {
        return Err(KeError::NoCookies);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = kind.to_be_bytes().to_vec();
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn good() -> Vec<u8> {
        [
            record(CRITICAL | NEXT_PROTOCOL, &[0, 0]),
            record(AEAD_ALGORITHM, &[0, 15]),
            record(NEW_COOKIE, &[1; 100]),
            record(NEW_COOKIE, &[2; 100]),
            record(PORT, &[0x2b, 0x67]),
            record(SERVER, b"ntp.example"),
            record(CRITICAL | END_OF_MESSAGE, &[]),
        ]
        .concat()
    }

    #[test]
    fn the_request_offers_ntpv4_and_aes_siv() {
        assert_eq!(request(), [0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0]);
        assert_eq!(exporter_context(false), [0, 0, 0, 15, 0]);
        assert_eq!(exporter_context(true), [0, 0, 0, 15, 1]);
    }

    #[test]
    fn a_good_response_arrives_in_pieces() {
        let all = good();
        for cut in 0..all.len() {
            assert_eq!(parse_response(&all[..cut]), Ok(None), "cut at {cut}");
        }
        let r = parse_response(&all).unwrap().unwrap();
        assert_eq!(r.cookies, vec![vec![1; 100], vec![2; 100]]);
        assert_eq!((r.server.as_deref(), r.port), (Some("ntp.example"), Some(11111)));
    }

    #[test]
    fn bad_responses_are_refused() {
        let eom = record(CRITICAL | END_OF_MESSAGE, &[]);
        let proto = record(CRITICAL | NEXT_PROTOCOL, &[0, 0]);
        let aead = record(AEAD_ALGORITHM, &[0, 15]);
        let cookie = record(NEW_COOKIE, &[1; 8]);
        let cases: Vec<(Vec<u8>, KeError)> = vec![
            ([record(CRITICAL | ERROR, &[0, 1]), eom.clone()].concat(), KeError::Server(1)),
            ([aead.clone(), cookie.clone(), eom.clone()].concat(), KeError::NoNtpv4),
            (
                [record(CRITICAL | NEXT_PROTOCOL, &[0, 1]), aead.clone(), cookie.clone(), eom.clone()].concat(),
                KeError::NoNtpv4,
            ),
            ([proto.clone(), cookie.clone(), eom.clone()].concat(), KeError::NoAead),
            ([proto.clone(), record(AEAD_ALGORITHM, &[0, 30]), cookie.clone(), eom.clone()].concat(), KeError::NoAead),
            ([proto.clone(), aead.clone(), eom.clone()].concat(), KeError::NoCookies),
            (
                [proto.clone(), aead.clone(), cookie.clone(), record(CRITICAL | 99, &[]), eom.clone()].concat(),
                KeError::UnknownCritical(99),
            ),
            (
                [proto.clone(), proto.clone(), aead.clone(), cookie.clone(), eom.clone()].concat(),
                KeError::Malformed("next protocol repeated"),
            ),
            (
                [proto.clone(), aead.clone(), record(NEW_COOKIE, &[]), eom.clone()].concat(),
                KeError::Malformed("cookie empty or too long"),
            ),
            (
                [proto.clone(), aead.clone(), cookie.clone(), record(PORT, &[1]), eom.clone()].concat(),
                KeError::Malformed("odd-length list"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_response(&bytes), Err(want.clone()), "{want}");
        }
        // An unknown record that is not critical is ignored.
        let ok = [proto.clone(), aead.clone(), record(99, &[7; 3]), cookie.clone(), eom.clone()].concat();
        assert!(parse_response(&ok).unwrap().is_some());
        // A server cannot make the client buffer without end.
        let mut long = proto.clone();
        while long.len() <= MAX_RESPONSE {
            long.extend(record(99, &[0; 1000]));
        }
        assert_eq!(parse_response(&long), Err(KeError::Malformed("response too long")));
        assert_eq!(parse_response(&long[..MAX_RESPONSE + 3]), Err(KeError::Malformed("response too long")));
    }

    #[test]
    fn at_most_eight_cookies_are_kept() {
        let mut r = vec![record(CRITICAL | NEXT_PROTOCOL, &[0, 0]), record(AEAD_ALGORITHM, &[0, 15])];
        r.extend((0..12u8).map(|i| record(NEW_COOKIE, &[i; 4])));
        r.push(record(CRITICAL | END_OF_MESSAGE, &[]));
        let got = parse_response(&r.concat()).unwrap().unwrap();
        assert_eq!(got.cookies.len(), MAX_COOKIES);
        assert_eq!(got.cookies[0], vec![0; 4]);
    }
}
