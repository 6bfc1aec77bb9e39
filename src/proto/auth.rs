//! Symmetric-key authentication of NTP packets, free of I/O: a key ID and a
//! MAC after the 48-byte header. MD5 and SHA1 are RFC 5905's legacy MACs
//! (the digest of key || packet); SHA256 is the same digest as chrony
//! computes it, truncated to 20 bytes in an NTPv4 packet; AES128 and AES256
//! are RFC 8573's AES-CMAC (16 bytes).

use aes::{Aes128, Aes256};
use cmac::{Cmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::packet::HEADER_LEN;

/// The longest MAC an NTPv4 packet carries without extension fields (RFC
/// 7822): longer digests are truncated to this.
pub const MAX_V4_MAC_LEN: usize = 20;

/// The MAC algorithms a key can be for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Md5,
    Sha1,
    Sha256,
    Aes128,
    Aes256,
}

impl KeyType {
    /// From its name as chrony's key file and `prossntp_key_parms.type`
    /// spell it (case-insensitive).
    pub fn parse(name: &str) -> Option<KeyType> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MD5" => KeyType::Md5,
            "SHA1" => KeyType::Sha1,
            "SHA256" => KeyType::Sha256,
            "AES128" => KeyType::Aes128,
            "AES256" => KeyType::Aes256,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Sha256 => "SHA256",
            KeyType::Aes128 => "AES128",
            KeyType::Aes256 => "AES256",
        }
    }

    /// Bytes of MAC after the key ID.
    pub fn mac_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128 | KeyType::Aes256 => 16,
            KeyType::Sha1 | KeyType::Sha256 => MAX_V4_MAC_LEN,
        }
    }

    /// The key length the type needs, if it needs one (the ciphers), else
    /// the longest accepted.
    fn key_len(self) -> KeyLen {
        match self {
            KeyType::Aes128 => KeyLen::Exactly(16),
            KeyType::Aes256 => KeyLen::Exactly(32),
            _ => KeyLen::AtMost(MAX_HASH_KEY_LEN),
        }
    }
}

enum KeyLen {
    Exactly(usize),
    AtMost(usize),
}

/// The longest key accepted for a digest (chrony's key file lines are at
/// most 2047 characters, hex-coded).
pub const MAX_HASH_KEY_LEN: usize = 1023;

/// Why a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Key ID 0 marks a crypto-NAK (RFC 5905) and is not a key.
    ZeroId,
    UnknownType,
    /// AES128 needs 16 bytes, AES256 32; a digest key 1 to 1023.
    WrongLength {
        needed: &'static str,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::ZeroId => write!(f, "key ID 0 is not allowed (it marks a crypto-NAK)"),
            KeyError::UnknownType => write!(f, "unknown key type (MD5, SHA1, SHA256, AES128 or AES256)"),
            KeyError::WrongLength { needed } => write!(f, "wrong key length ({needed})"),
        }
    }
}

/// Why an authenticated reply was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No MAC at all (a plain 48-byte reply), or a crypto-NAK (key ID only).
    Missing,
    /// A MAC under another key ID.
    WrongKeyId,
    /// A MAC that does not verify, or a trailer of the wrong length.
    BadMac,
}

/// A symmetric key. Its bytes are wiped when it is dropped, and never
/// printed (`Debug` shows the ID and type only).
#[derive(Clone)]
pub struct SymmetricKey {
    id: u32,
    kind: KeyType,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SymmetricKey {{ id: {}, type: {}, .. }}", self.id, self.kind.name())
    }
}

impl SymmetricKey {
    pub fn new(id: u32, kind: KeyType, key: &[u8]) -> Result<SymmetricKey, KeyError> {
        if id == 0 {
            return Err(KeyError::ZeroId);
        }
        match kind.key_len() {
            KeyLen::Exactly(n) if key.len() != n => {
                return Err(KeyError::WrongLength {
                    needed: if n == 16 { "AES128 needs 16 bytes" } else { "AES256 needs 32 bytes" },
                })
            }
            KeyLen::AtMost(n) if key.is_empty() || key.len() > n => {
                return Err(KeyError::WrongLength { needed: "a digest key has 1 to 1023 bytes" })
            }
            _ => {}
        }
        Ok(SymmetricKey { id, kind, secret: Zeroizing::new(key.to_vec()) })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// The MAC of `data` (the packet before its key ID), `mac_len` bytes.
    fn mac(&self, data: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let key = self.secret.as_slice();
        match self.kind {
            KeyType::Md5 => out[..16].copy_from_slice(&Md5::new().chain_update(key).chain_update(data).finalize()),
            KeyType::Sha1 => out[..20].copy_from_slice(&Sha1::new().chain_update(key).chain_update(data).finalize()),
            KeyType::Sha256 => {
                out[..32].copy_from_slice(&Sha256::new().chain_update(key).chain_update(data).finalize());
            }
            KeyType::Aes128 | KeyType::Aes256 => out[..16].copy_from_slice(&aes_cmac(key, data)),
        }
        out
    }

    /// Appends the key ID and the MAC of `packet` to it.
    pub fn sign(&self, packet: &mut Vec<u8>) {
        let mac = self.mac(packet);
        packet.extend_from_slice(&self.id.to_be_bytes());
        packet.extend_from_slice(&mac[..self.kind.mac_len()]);
    }

    /// Checks the trailer of a reply: exactly one key ID and MAC after the
    /// header, under this key, compared in constant time.
    pub fn verify(&self, data: &[u8]) -> Result<(), AuthError> {
        let mac_len = self.kind.mac_len();
        let Some(trailer) = data.get(HEADER_LEN..) else { return Err(AuthError::Missing) };
        // Nothing after the header, or a crypto-NAK (a key ID of 0 alone).
        if trailer.is_empty() || (trailer.len() == 4 && trailer == [0; 4]) {
            return Err(AuthError::Missing);
        }
        if trailer.len() != 4 + mac_len {
            return Err(AuthError::BadMac);
        }
        if trailer[..4] != self.id.to_be_bytes() {
            return Err(AuthError::WrongKeyId);
        }
        let expected = self.mac(&data[..HEADER_LEN]);
        if bool::from(expected[..mac_len].ct_eq(&trailer[4..])) {
            Ok(())
        } else {
            Err(AuthError::BadMac)
        }
    }
}

/// RFC 8573's AES-CMAC (RFC 4493), AES128 or AES256 by the key's length.
fn aes_cmac(key: &[u8], data: &[u8]) -> [u8; 16] {
    // The key's length was checked when the key was made.
    let tag = match key.len() {
        16 => <Cmac<Aes128> as Mac>::new_from_slice(key).map(|m| m.chain_update(data).finalize().into_bytes()),
        _ => <Cmac<Aes256> as Mac>::new_from_slice(key).map(|m| m.chain_update(data).finalize().into_bytes()),
    };
    tag.map_or([0; 16], Into::into)
}

/// Parses one line of a chrony key file, `ID [TYPE] KEY`, the key as ASCII
/// (optionally `ASCII:`) or `HEX:`; TYPE defaults to MD5. `None` for a
/// blank or comment line.
pub fn parse_chrony_key_line(line: &str) -> Option<Result<SymmetricKey, KeyFileError>> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return None;
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (id, kind, key) = match fields.as_slice() {
        [id, key] => (*id, "MD5", *key),
        [id, kind, key] => (*id, *kind, *key),
        _ => return Some(Err(KeyFileError::Syntax)),
    };
    let Ok(id) = id.parse::<u32>() else { return Some(Err(KeyFileError::Syntax)) };
    let Some(kind) = KeyType::parse(kind) else { return Some(Err(KeyFileError::Key(KeyError::UnknownType))) };
    let bytes = if let Some(hex) = key.strip_prefix("HEX:") {
        match decode_hex(hex) {
            Some(b) => b,
            None => return Some(Err(KeyFileError::Syntax)),
        }
    } else {
        Zeroizing::new(key.strip_prefix("ASCII:").unwrap_or(key).as_bytes().to_vec())
    };
    Some(SymmetricKey::new(id, kind, &bytes).map_err(KeyFileError::Key))
}

/// Why a key file line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileError {
    Syntax,
    Key(KeyError),
    /// No line has the ID asked for.
    NotFound,
}

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFileError::Syntax => write!(f, "malformed line (ID [TYPE] KEY, KEY as ASCII:, HEX: or plain text)"),
            KeyFileError::Key(e) => e.fmt(f),
            KeyFileError::NotFound => write!(f, "no key with that ID"),
        }
    }
}

/// The key with ID `id` in the text of a chrony key file (other lines are
/// not looked at beyond their ID).
pub fn find_chrony_key(text: &str, id: u32) -> Result<SymmetricKey, KeyFileError> {
    let wanted = id.to_string();
    text.lines()
        .find(|l| l.split('#').next().unwrap_or("").split_whitespace().next() == Some(wanted.as_str()))
        .and_then(parse_chrony_key_line)
        .unwrap_or(Err(KeyFileError::NotFound))
}

fn decode_hex(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len() / 2));
    for pair in b.chunks(2) {
        out.push((digit(pair[0])? << 4) | digit(pair[1])?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        decode_hex(s).map(|z| z.to_vec()).unwrap_or_default()
    }

    #[test]
    fn aes_cmac_matches_rfc_4493() {
        // RFC 4493, section 4: AES-128 key and the 16- and 40-byte examples.
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let m = hex("6bc1bee22e409f96e93d7e117393172a");
        assert_eq!(aes_cmac(&key, &m).to_vec(), hex("070a16b46b4d4144f79bdd9dd04a287c"));
        assert_eq!(aes_cmac(&key, &[]).to_vec(), hex("bb1d6929e95937287fa37d129b756746"));
    }

    #[test]
    fn aes256_cmac_matches_nist_sp800_38b() {
        // NIST SP 800-38B, D.3, example 10 (AES-256, 16-byte message).
        let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let m = hex("6bc1bee22e409f96e93d7e117393172a");
        assert_eq!(aes_cmac(&key, &m).to_vec(), hex("28a7023f452e8f82bd4bf28d8c37c35c"));
    }

    #[test]
    fn legacy_macs_are_digests_of_key_then_packet() {
        let packet = [0x23u8; HEADER_LEN];
        for kind in [KeyType::Md5, KeyType::Sha1, KeyType::Sha256] {
            let k = SymmetricKey::new(7, kind, b"crocus").unwrap();
            let mut p = packet.to_vec();
            k.sign(&mut p);
            assert_eq!(p.len(), HEADER_LEN + 4 + kind.mac_len());
            assert_eq!(&p[HEADER_LEN..HEADER_LEN + 4], &7u32.to_be_bytes());
            let mut joined = b"crocus".to_vec();
            joined.extend_from_slice(&packet);
            let digest = match kind {
                KeyType::Md5 => Md5::digest(&joined).to_vec(),
                KeyType::Sha1 => Sha1::digest(&joined).to_vec(),
                _ => Sha256::digest(&joined).to_vec(),
            };
            assert_eq!(&p[HEADER_LEN + 4..], &digest[..kind.mac_len()], "{kind:?}");
        }
    }

    #[test]
    fn verify_accepts_its_own_and_refuses_the_rest() {
        let k = SymmetricKey::new(30, KeyType::Aes128, &hex("7EA62AE64D190114D46D5A082F948EC1")).unwrap();
        let mut p = [0x24u8; HEADER_LEN].to_vec();
        k.sign(&mut p);
        assert_eq!(k.verify(&p), Ok(()));
        // No MAC, a crypto-NAK, a truncated or longer trailer.
        assert_eq!(k.verify(&p[..HEADER_LEN]), Err(AuthError::Missing));
        let mut nak = p[..HEADER_LEN].to_vec();
        nak.extend_from_slice(&[0; 4]);
        assert_eq!(k.verify(&nak), Err(AuthError::Missing));
        assert_eq!(k.verify(&p[..p.len() - 1]), Err(AuthError::BadMac));
        let mut longer = p.clone();
        longer.push(0);
        assert_eq!(k.verify(&longer), Err(AuthError::BadMac));
        // Another key ID; a flipped bit in the header or in the MAC.
        let mut other = p.clone();
        other[HEADER_LEN + 3] ^= 1;
        assert_eq!(k.verify(&other), Err(AuthError::WrongKeyId));
        for i in [0, 40, HEADER_LEN + 4, p.len() - 1] {
            let mut bad = p.clone();
            bad[i] ^= 0x80;
            assert_eq!(k.verify(&bad), Err(AuthError::BadMac), "byte {i}");
        }
        // A valid MAC under another key with the same ID.
        let k2 = SymmetricKey::new(30, KeyType::Aes128, &[1; 16]).unwrap();
        assert_eq!(k2.verify(&p), Err(AuthError::BadMac));
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert_eq!(SymmetricKey::new(0, KeyType::Md5, b"x").unwrap_err(), KeyError::ZeroId);
        assert!(SymmetricKey::new(1, KeyType::Aes128, &[0; 15]).is_err());
        assert!(SymmetricKey::new(1, KeyType::Aes256, &[0; 16]).is_err());
        assert!(SymmetricKey::new(1, KeyType::Sha1, &[]).is_err());
        assert!(SymmetricKey::new(1, KeyType::Sha1, &[1; MAX_HASH_KEY_LEN + 1]).is_err());
        let k = SymmetricKey::new(5, KeyType::Sha1, b"hyacinth").unwrap();
        assert!(!format!("{k:?}").contains("hyacinth"));
        assert_eq!(KeyType::parse("aes256"), Some(KeyType::Aes256));
        assert_eq!(KeyType::parse("SHA384"), None);
    }

    #[test]
    fn chrony_key_file_lines() {
        let k = parse_chrony_key_line("20 MD5 ASCII:crocus").unwrap().unwrap();
        assert_eq!((k.id(), k.kind(), k.secret.as_slice()), (20, KeyType::Md5, &b"crocus"[..]));
        let k = parse_chrony_key_line("10 tulip  # default type").unwrap().unwrap();
        assert_eq!((k.id(), k.kind(), k.secret.as_slice()), (10, KeyType::Md5, &b"tulip"[..]));
        let k = parse_chrony_key_line("25 SHA1 HEX:933F62BE1D604E68A81B557F18CFA200483F5B70").unwrap().unwrap();
        assert_eq!(k.secret.len(), 20);
        assert!(parse_chrony_key_line("  # comment").is_none());
        assert!(parse_chrony_key_line("").is_none());
        assert_eq!(parse_chrony_key_line("x MD5 a").unwrap().unwrap_err(), KeyFileError::Syntax);
        assert_eq!(parse_chrony_key_line("1 SHA1 HEX:abc").unwrap().unwrap_err(), KeyFileError::Syntax);
        assert_eq!(
            parse_chrony_key_line("1 TIGER abc").unwrap().unwrap_err(),
            KeyFileError::Key(KeyError::UnknownType)
        );
        let file = "# keys\n1 SHA512 HEX:00\n30 AES128 HEX:7EA62AE64D190114D46D5A082F948EC1\n300 MD5 x\n";
        assert_eq!(find_chrony_key(file, 30).unwrap().kind(), KeyType::Aes128);
        assert_eq!(find_chrony_key(file, 300).unwrap().kind(), KeyType::Md5);
        assert_eq!(find_chrony_key(file, 3).unwrap_err(), KeyFileError::NotFound);
        assert_eq!(find_chrony_key(file, 1).unwrap_err(), KeyFileError::Key(KeyError::UnknownType));
    }
}
