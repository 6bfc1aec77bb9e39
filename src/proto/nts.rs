//! NTS for NTPv4 (RFC 8915, section 5), free of I/O: the extension fields
//! of a request (unique identifier, one cookie, placeholders, the
//! authenticator) and the checks of a reply (its unique identifier, its
//! authenticator under the server-to-client key, the cookies it carries
//! encrypted), from keys and cookies a key exchange gave.

use std::collections::VecDeque;

use aes_siv::siv::Aes128Siv;
use aes_siv::KeyInit;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::nts_ke::{KEY_LEN, MAX_COOKIES};
use super::packet::HEADER_LEN;

/// Extension field types (RFC 8915, section 5.3-5.6).
const EF_UNIQUE_ID: u16 = 0x0104;
const EF_COOKIE: u16 = 0x0204;
const EF_COOKIE_PLACEHOLDER: u16 = 0x0304;
const EF_AUTHENTICATOR: u16 = 0x0404;
/// Bytes of a unique identifier and of an AES-SIV nonce.
const UID_LEN: usize = 32;
const NONCE_LEN: usize = 16;
/// The SIV tag that leads an AES-SIV ciphertext.
const TAG_LEN: usize = 16;

/// Why a reply failed NTS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtsError {
    /// No (or not this request's) unique identifier, or no authenticator.
    Missing,
    /// The authenticator does not verify, or the fields are malformed.
    Bad,
}

/// What the client holds after a key exchange: the two keys, its cookies
/// (oldest first) and a generator for unique identifiers and nonces.
pub struct NtsSession {
    c2s: Zeroizing<[u8; KEY_LEN]>,
    s2c: Zeroizing<[u8; KEY_LEN]>,
    cookies: VecDeque<Vec<u8>>,
    seed: Zeroizing<[u8; 32]>,
    counter: u64,
    /// The unique identifier of the request in flight.
    pending: Option<[u8; UID_LEN]>,
}

impl std::fmt::Debug for NtsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NtsSession {{ cookies: {}, .. }}", self.cookies.len())
    }
}

/// AEAD_AES_SIV_CMAC_256 (RFC 5297) as RFC 5116 frames it: the associated
/// data, then the nonce, as the SIV's headers. A cipher of its own for each
/// call, wiped when dropped (the session keeps only the keys, wiped too).
fn seal(key: &[u8; KEY_LEN], aad: &[u8], nonce: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    Aes128Siv::new(key.into()).encrypt([aad, nonce], msg).ok()
}

fn open(key: &[u8; KEY_LEN], aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    Aes128Siv::new(key.into()).decrypt([aad, nonce], sealed).ok()
}

/// Appends extension field `kind` with `body`, zero-padded to a multiple of 4.
fn push_field(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&((4 + padded) as u16).to_be_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
}

/// The extension fields of `data` from `at` on: (type, start of the field,
/// body). `None` if one is malformed (shorter than its header, not a
/// multiple of 4, or running past the end).
fn fields(data: &[u8], at: usize) -> Option<Vec<(u16, usize, &[u8])>> {
    let mut out = Vec::new();
    let mut i = at;
    while i < data.len() {
        let head = data.get(i..i + 4)?;
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        if len < 4 || len % 4 != 0 {
            return None;
        }
        out.push((kind, i, data.get(i + 4..i + len)?));
        i += len;
    }
    Some(out)
}

impl NtsSession {
    /// From a key exchange: the keys exported from its TLS session, its
    /// cookies, and 32 random bytes for the identifiers.
    pub fn new(c2s: &[u8; KEY_LEN], s2c: &[u8; KEY_LEN], cookies: Vec<Vec<u8>>, seed: [u8; 32]) -> NtsSession {
        NtsSession {
            c2s: Zeroizing::new(*c2s),
            s2c: Zeroizing::new(*s2c),
            cookies: cookies.into(),
            seed: Zeroizing::new(seed),
            counter: 0,
            pending: None,
        }
    }

    /// Cookies held.
    pub fn cookies(&self) -> usize {
        self.cookies.len()
    }

    /// 32 bytes nobody can guess without the seed: SHA-256 of the seed, a
    /// counter and a label.
    fn fresh(&mut self, label: &[u8]) -> [u8; 32] {
        self.counter += 1;
        Sha256::new()
            .chain_update(*self.seed)
            .chain_update(self.counter.to_be_bytes())
            .chain_update(label)
            .finalize()
            .into()
    }

    /// The request for `header`: a fresh unique identifier, the oldest
    /// cookie (used once), placeholders to get back to eight, and the
    /// authenticator. `None` when no cookie is left (a new key exchange is
    /// needed).
    pub fn request(&mut self, header: &[u8; HEADER_LEN]) -> Option<Vec<u8>> {
        let cookie = self.cookies.pop_front()?;
        let uid = self.fresh(b"uid");
        let mut out = header.to_vec();
        push_field(&mut out, EF_UNIQUE_ID, &uid);
        push_field(&mut out, EF_COOKIE, &cookie);
        let placeholder = vec![0u8; cookie.len()];
        for _ in 0..MAX_COOKIES.saturating_sub(self.cookies.len() + 1) {
            push_field(&mut out, EF_COOKIE_PLACEHOLDER, &placeholder);
        }
        let nonce: [u8; NONCE_LEN] = self.fresh(b"nonce")[..NONCE_LEN].try_into().ok()?;
        let sealed = seal(&self.c2s, &out, &nonce, &[])?;
        let mut body = Vec::with_capacity(4 + NONCE_LEN + sealed.len());
        body.extend_from_slice(&(NONCE_LEN as u16).to_be_bytes());
        body.extend_from_slice(&(sealed.len() as u16).to_be_bytes());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        push_field(&mut out, EF_AUTHENTICATOR, &body);
        self.pending = Some(uid);
        Some(out)
    }

    /// Whether `data` carries the unique identifier of the request in
    /// flight (an NTS NAK must, and nothing more).
    pub fn echoes_request(&self, data: &[u8]) -> bool {
        let Some(uid) = self.pending else { return false };
        fields(data, HEADER_LEN).is_some_and(|f| f.iter().any(|&(kind, _, body)| kind == EF_UNIQUE_ID && body == uid))
    }

    /// Checks a reply: this request's unique identifier, then the last
    /// field an authenticator that verifies under the server-to-client key
    /// over everything before it; the cookies it carries encrypted are kept
    /// (the newest last). Unauthenticated fields are ignored.
    pub fn verify(&mut self, data: &[u8]) -> Result<(), NtsError> {
        let Some(all) = fields(data, HEADER_LEN) else { return Err(NtsError::Bad) };
        if !self.echoes_request(data) {
            return Err(NtsError::Missing);
        }
        let Some(&(EF_AUTHENTICATOR, start, body)) = all.last() else { return Err(NtsError::Missing) };
        let (Some(n), Some(c)) = (body.get(0..2), body.get(2..4)) else { return Err(NtsError::Bad) };
        let (n, c) = (u16::from_be_bytes([n[0], n[1]]) as usize, u16::from_be_bytes([c[0], c[1]]) as usize);
        let nonce_end = 4 + n.div_ceil(4) * 4;
        let (Some(nonce), Some(sealed)) = (body.get(4..4 + n), body.get(nonce_end..nonce_end + c)) else {
            return Err(NtsError::Bad);
        };
        // A 16-byte nonce, as chronyd and ntpd-rs send (RFC 8915 asks for at least 16).
        if n != NONCE_LEN || c < TAG_LEN {
            return Err(NtsError::Bad);
        }
        let Some(plain) = open(&self.s2c, &data[..start], nonce, sealed) else { return Err(NtsError::Bad) };
        let plain = Zeroizing::new(plain);
        let Some(inner) = fields(&plain, 0) else { return Err(NtsError::Bad) };
        self.pending = None;
        for (kind, _, cookie) in inner {
            if kind == EF_COOKIE && !cookie.is_empty() && self.cookies.len() < MAX_COOKIES {
                self.cookies.push_back(cookie.to_vec());
            }
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "__internal-api"))]
/// The server's side, for tests and fuzzing: a reply to `request` with
/// `header`, the request's unique identifier echoed, and `cookies` sealed
/// under `s2c` with `nonce`. None if the request has no unique identifier.
pub fn server_reply(
    s2c: &[u8; KEY_LEN],
    request: &[u8],
    header: &[u8; HEADER_LEN],
    cookies: &[&[u8]],
    nonce: [u8; NONCE_LEN],
) -> Option<Vec<u8>> {
    let uid = fields(request, HEADER_LEN)?.into_iter().find(|f| f.0 == EF_UNIQUE_ID)?.2;
    let mut out = header.to_vec();
    push_field(&mut out, EF_UNIQUE_ID, uid);
    let mut plain = Vec::new();
    for c in cookies {
        push_field(&mut plain, EF_COOKIE, c);
    }
    let sealed = seal(s2c, &out, &nonce, &plain)?;
    let mut body = (NONCE_LEN as u16).to_be_bytes().to_vec();
    body.extend_from_slice(&(sealed.len() as u16).to_be_bytes());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    push_field(&mut out, EF_AUTHENTICATOR, &body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C2S: [u8; 32] = [1; 32];
    const S2C: [u8; 32] = [2; 32];

    fn session(cookies: usize) -> NtsSession {
        NtsSession::new(&C2S, &S2C, (0..cookies).map(|i| vec![i as u8 + 1; 100]).collect(), [9; 32])
    }

    /// A server's reply to `request`: the unique identifier echoed, and
    /// `cookies` new cookies sealed under `key`.
    fn reply(request: &[u8], cookies: usize, key: &[u8; 32]) -> Vec<u8> {
        let made: Vec<Vec<u8>> = (0..cookies).map(|i| vec![0xc0 + i as u8; 100]).collect();
        let refs: Vec<&[u8]> = made.iter().map(Vec::as_slice).collect();
        server_reply(key, request, &[0x24; HEADER_LEN], &refs, [7; 16]).unwrap()
    }

    #[test]
    fn a_request_uses_the_oldest_cookie_and_asks_for_the_rest() {
        let mut s = session(3);
        let req = s.request(&[0x23; HEADER_LEN]).unwrap();
        let f = fields(&req, HEADER_LEN).unwrap();
        let kinds: Vec<u16> = f.iter().map(|x| x.0).collect();
        // Identifier, cookie, 8 - 3 placeholders, authenticator last.
        assert_eq!(kinds, [EF_UNIQUE_ID, EF_COOKIE, 0x0304, 0x0304, 0x0304, 0x0304, 0x0304, EF_AUTHENTICATOR]);
        assert_eq!(f[1].2, vec![1; 100], "the oldest cookie");
        assert!(f[2..7].iter().all(|x| x.2.len() == 100 && x.2.iter().all(|&b| b == 0)));
        assert_eq!(s.cookies(), 2);
        // The authenticator verifies under the client-to-server key.
        let (_, start, body) = f[7];
        let sealed = &body[20..];
        assert!(open(&C2S, &req[..start], &body[4..20], sealed).is_some());
        // Each request has an identifier of its own.
        let req2 = s.request(&[0x23; HEADER_LEN]).unwrap();
        assert_ne!(fields(&req2, HEADER_LEN).unwrap()[0].2, f[0].2);
        assert!(s.request(&[0x23; HEADER_LEN]).is_some());
        assert!(s.request(&[0x23; HEADER_LEN]).is_none(), "no cookie left");
    }

    #[test]
    fn a_genuine_reply_verifies_once_and_refills_the_cookies() {
        let mut s = session(1);
        let req = s.request(&[0x23; HEADER_LEN]).unwrap();
        let good = reply(&req, 8, &S2C);
        // Forged: another key; a flipped bit anywhere; the authenticator cut.
        assert_eq!(s.verify(&reply(&req, 8, &C2S)), Err(NtsError::Bad));
        for i in [1, 40, HEADER_LEN + 6, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 4;
            assert!(s.verify(&bad).is_err(), "byte {i}");
        }
        assert!(s.verify(&good[..good.len() - 4]).is_err());
        assert_eq!(s.verify(&good[..HEADER_LEN]), Err(NtsError::Missing));
        assert_eq!(s.cookies(), 0);
        assert_eq!(s.verify(&good), Ok(()));
        assert_eq!(s.cookies(), 8);
        // A replay finds no request in flight.
        assert_eq!(s.verify(&good), Err(NtsError::Missing));
    }

    #[test]
    fn a_reply_to_another_request_is_refused() {
        let mut s = session(4);
        let first = s.request(&[0x23; HEADER_LEN]).unwrap();
        let _second = s.request(&[0x23; HEADER_LEN]).unwrap();
        assert_eq!(s.verify(&reply(&first, 1, &S2C)), Err(NtsError::Missing));
        assert!(!s.echoes_request(&reply(&first, 1, &S2C)));
    }
}
