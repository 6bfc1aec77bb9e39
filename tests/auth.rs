//! Symmetric-key authentication against a real chronyd (scripts/testnet.sh
//! serves keyed NTP with one key of each type, IDs 1-6): each type reaches
//! Sync, chronyd counts the authenticated packets, and a wrong key, a wrong
//! key ID or a key the server lacks never does, with the reason in the stats.
mod common;

use std::ffi::CString;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Client;
use prossntp::ffi::ext::*;
use prossntp::ffi::ext_types::*;
use prossntp::ffi::types::*;

struct Chronyd {
    v4: SocketAddr,
    v6: SocketAddr,
    keys: String,
    socket: Option<String>,
}

fn chronyd() -> Option<Chronyd> {
    let var = |v: &str| std::env::var(v).ok();
    match (var("PROSSNTP_CHRONYD_V4"), var("PROSSNTP_CHRONYD_V6"), var("PROSSNTP_CHRONYD_KEYS")) {
        (Some(v4), Some(v6), Some(keys)) => Some(Chronyd {
            v4: v4.parse().unwrap(),
            v6: v6.parse().unwrap(),
            keys,
            socket: var("PROSSNTP_CHRONYC_SOCKET"),
        }),
        _ => {
            assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not named");
            eprintln!("skipped: no keyed chronyd named (run through scripts/testnet.sh)");
            None
        }
    }
}

/// chronyd's count of authenticated NTP packets (`chronyc serverstats`), if its socket is known.
fn authenticated_packets(ch: &Chronyd) -> Option<u64> {
    let socket = ch.socket.as_ref()?;
    let out = Command::new("chronyc").args(["-h", socket, "serverstats"]).output().ok()?;
    // A line "Authenticated NTP packets   : N".
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Authenticated NTP packets"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

fn stats(c: &Client) -> prossntp_stats {
    // SAFETY: all-zero is a valid prossntp_stats.
    let mut s: prossntp_stats = unsafe { std::mem::zeroed() };
    s.size = size_of::<prossntp_stats>() as u32;
    assert_eq!(unsafe { prossntp_get_stats(c.0, &mut s) }, 0);
    s
}

fn text(chars: &[std::os::raw::c_char]) -> String {
    chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect()
}

fn keyfile(c: &Client, ch: &Chronyd, id: u32) -> i32 {
    let path = CString::new(ch.keys.as_str()).unwrap();
    unsafe { prossntp_config_keyfile(c.0, path.as_ptr(), id) }
}

fn key(c: &Client, id: u32, kind: &str, bytes: &[u8]) -> i32 {
    let kind = CString::new(kind).unwrap();
    let p = prossntp_key_parms {
        size: size_of::<prossntp_key_parms>(),
        key_id: id,
        r#type: kind.as_ptr(),
        key: bytes.as_ptr(),
        key_len: bytes.len(),
    };
    unsafe { prossntp_config_key(c.0, &p) }
}

/// The bytes of key `id` in the key file (HEX: lines only).
fn key_bytes(ch: &Chronyd, id: u32) -> Vec<u8> {
    let text = std::fs::read_to_string(&ch.keys).unwrap();
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(&id.to_string())).unwrap();
    let hex = line.split_whitespace().last().unwrap().strip_prefix("HEX:").unwrap();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

const TYPES: [(u32, &str); 6] = [(1, "MD5"), (2, "SHA1"), (3, "SHA256"), (4, "AES128"), (5, "AES256"), (6, "MD5")];

#[test]
fn each_key_type_reaches_sync_with_chronyd() {
    let Some(ch) = chronyd() else { return };
    let before = authenticated_packets(&ch);
    for (id, kind) in TYPES {
        let c = Client::create(false);
        assert_eq!(keyfile(&c, &ch, id), ERR_SM_OK, "key {id}");
        assert_eq!(c.config(ch.v4, 1000, 64_000), 0);
        let t = c.wait_sync(1, Duration::from_secs(10)).unwrap_or_else(|| panic!("{kind} key {id}: no sync"));
        let s = stats(&c);
        eprintln!("{kind} key {id}: sync after {t:?}, {} replies, {} rejected", s.replies, s.rejected_total);
        assert_eq!((s.auth, s.key_id, text(&s.key_type).as_str()), (PROSSNTP_AUTH_KEY, id, kind));
        assert_eq!(s.rejected_total, 0, "{kind}");
    }
    // The same AES128 key given as bytes, over IPv6.
    let c = Client::create(true);
    assert_eq!(key(&c, 4, "aes128", &key_bytes(&ch, 4)), ERR_SM_OK);
    assert_eq!(c.config(ch.v6, 1000, 64_000), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("AES128 over IPv6");
    if let (Some(b), Some(a)) = (before, authenticated_packets(&ch)) {
        eprintln!("chronyd counted {} authenticated NTP packets", a - b);
        assert!(a - b > TYPES.len() as u64, "chronyd's count rose by {}", a - b);
    }
}

/// Runs `c` against chronyd for `secs` s: it must never sync nor use a reply.
fn never_syncs(c: &Client, ch: &Chronyd, secs: u64) -> prossntp_stats {
    assert_eq!(c.config(ch.v4, 1000, 1000), 0);
    assert!(c.wait_sync(1, Duration::from_secs(secs)).is_none(), "synced");
    let s = stats(c);
    assert_eq!(s.replies, 0);
    assert!(s.requests >= 2, "{} requests", s.requests);
    s
}

#[test]
fn a_wrong_key_an_unknown_id_or_plain_replies_are_never_used() {
    let Some(ch) = chronyd() else { return };
    // The right ID, the wrong bytes: chronyd does not answer a request it
    // cannot verify, or answers without a valid MAC.
    let c = Client::create(false);
    assert_eq!(key(&c, 4, "AES128", &[0x42; 16]), ERR_SM_OK);
    let s = never_syncs(&c, &ch, 4);
    eprintln!("wrong key: {} requests, rejected {:?}", s.requests, &s.rejected[11..14]);
    // An ID the server lacks (a crypto-NAK or no answer).
    let c = Client::create(false);
    assert_eq!(key(&c, 77, "SHA1", b"not on the server"), ERR_SM_OK);
    let s = never_syncs(&c, &ch, 4);
    eprintln!("unknown ID: {} requests, rejected {:?}", s.requests, &s.rejected[11..14]);
    // A right key, then a NULL: plain SNTP again.
    let c = Client::create(false);
    assert_eq!(keyfile(&c, &ch, 2), ERR_SM_OK);
    assert_eq!(unsafe { prossntp_config_key(c.0, std::ptr::null()) }, ERR_SM_OK);
    assert_eq!(c.config(ch.v4, 1000, 64_000), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("plain after removal");
    assert_eq!(stats(&c).auth, PROSSNTP_AUTH_NONE);
}

#[test]
fn a_key_added_to_a_running_client_takes_effect_at_once() {
    let Some(ch) = chronyd() else { return };
    let c = Client::create(false);
    assert_eq!(c.config(ch.v4, 1000, 64_000), 0);
    c.wait_sync(1, Duration::from_secs(10)).expect("plain sync");
    let plain = stats(&c).replies;
    // Taken at once: sync is lost, then regained with the key, long
    // before the 64 s poll would have sent the next request.
    let start = Instant::now();
    assert_eq!(keyfile(&c, &ch, 5), ERR_SM_OK);
    c.wait_sync(0, Duration::from_secs(5)).expect("sync dropped for the new rule");
    c.wait_sync(1, Duration::from_secs(10)).expect("keyed sync");
    let s = stats(&c);
    eprintln!("keyed again after {:?}: {} replies ({plain} plain)", start.elapsed(), s.replies);
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!((s.auth, s.key_id), (PROSSNTP_AUTH_KEY, 5));
}

#[test]
fn bad_key_parameters_are_refused() {
    let c = Client::create(false);
    let k16 = [7u8; 16];
    assert_eq!(key(&c, 0, "AES128", &k16), ERR_SM_BAD_PARAMETER, "ID 0");
    assert_eq!(key(&c, 1, "SHA384", &k16), ERR_SM_BAD_PARAMETER, "unknown type");
    assert_eq!(key(&c, 1, "AES128", &k16[..15]), ERR_SM_BAD_PARAMETER, "AES128 of 15 bytes");
    assert_eq!(key(&c, 1, "AES256", &k16), ERR_SM_BAD_PARAMETER, "AES256 of 16 bytes");
    assert_eq!(key(&c, 1, "MD5", &[]), ERR_SM_BAD_PARAMETER, "empty key");
    let kind = CString::new("MD5").unwrap();
    let mut p = prossntp_key_parms {
        size: size_of::<prossntp_key_parms>(),
        key_id: 1,
        r#type: std::ptr::null(),
        key: k16.as_ptr(),
        key_len: 16,
    };
    assert_eq!(unsafe { prossntp_config_key(c.0, &p) }, ERR_SM_BAD_PARAMETER, "NULL type");
    p.r#type = kind.as_ptr();
    p.key = std::ptr::null();
    assert_eq!(unsafe { prossntp_config_key(c.0, &p) }, ERR_SM_BAD_PARAMETER, "NULL key");
    p.key = k16.as_ptr();
    p.size = 8;
    assert_eq!(unsafe { prossntp_config_key(c.0, &p) }, ERR_SM_BAD_PARAMETER, "size too small");
    p.size = size_of::<prossntp_key_parms>();
    assert_eq!(unsafe { prossntp_config_key(c.0, &p) }, ERR_SM_OK, "the same, right");
    assert_eq!(unsafe { prossntp_config_key(std::ptr::null_mut(), &p) }, ERR_SM_BAD_PARAMETER, "NULL handle");
    let missing = CString::new("/nonexistent/chrony.keys").unwrap();
    assert_eq!(unsafe { prossntp_config_keyfile(c.0, missing.as_ptr(), 1) }, ERR_SM_BAD_PARAMETER);
    assert_eq!(unsafe { prossntp_config_keyfile(c.0, std::ptr::null(), 1) }, ERR_SM_BAD_PARAMETER);
    let dir = std::env::temp_dir().join(format!("prossntp-keys-{}", std::process::id()));
    std::fs::write(&dir, "1 SHA1 HEX:abc\n2 AES128 HEX:00\n").unwrap();
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    for id in [1, 2, 3] {
        assert_eq!(unsafe { prossntp_config_keyfile(c.0, path.as_ptr(), id) }, ERR_SM_BAD_PARAMETER, "line {id}");
    }
    std::fs::remove_file(&dir).unwrap();
    // Refused parameters left the client as it was (the worker takes the
    // key it was given a moment after the call).
    let start = Instant::now();
    while stats(&c).auth != PROSSNTP_AUTH_KEY && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!((stats(&c).auth, stats(&c).key_id), (PROSSNTP_AUTH_KEY, 1));
}
