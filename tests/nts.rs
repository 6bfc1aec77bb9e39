//! NTS (RFC 8915) against a real chronyd (scripts/testnet.sh serves NTS-KE
//! on port 4460 with a certificate from a test CA): Sync over IPv4 and IPv6
//! with chronyd counting the key exchanges and authenticated packets; a
//! wrong CA, a wrong name, a key-exchange server that is down, stalls or
//! resets, an expired certificate: no Sync and not one NTP request before a
//! key exchange succeeded; the server coming back; and a server restarted
//! with new keys: its NTS NAK, a new key exchange, Sync again.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Chronyd, Client};
use prossntp::ffi::ext::*;
use prossntp::ffi::ext_types::*;
use prossntp::ffi::types::*;

struct Nts {
    v4: SocketAddr,
    v6: SocketAddr,
    ca: String,
    other_ca: String,
    port: u16,
    socket: Option<String>,
}

fn nts() -> Option<Nts> {
    let var = |v: &str| std::env::var(v).ok();
    match (var("PROSSNTP_CHRONYD_V4"), var("PROSSNTP_CHRONYD_V6"), var("PROSSNTP_NTS_CA"), var("PROSSNTP_NTS_OTHER_CA"))
    {
        (Some(v4), Some(v6), Some(ca), Some(other_ca)) => Some(Nts {
            v4: v4.parse().unwrap(),
            v6: v6.parse().unwrap(),
            ca,
            other_ca,
            port: var("PROSSNTP_NTS_KE_PORT").and_then(|p| p.parse().ok()).unwrap_or(4460),
            socket: var("PROSSNTP_CHRONYC_SOCKET"),
        }),
        _ => {
            assert!(std::env::var_os("PROSSNTP_REQUIRE_CHRONYD").is_none(), "chronyd required but not named");
            eprintln!("skipped: no NTS chronyd named (run through scripts/testnet.sh)");
            None
        }
    }
}

/// A figure of `chronyc serverstats`, by the start of its line.
fn serverstat(n: &Nts, what: &str) -> Option<u64> {
    let out = Command::new("chronyc").args(["-h", n.socket.as_ref()?, "serverstats"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find(|l| l.starts_with(what))?.rsplit(':').next()?.trim().parse().ok()
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

fn config_nts(c: &Client, name: Option<&str>, ca: Option<&str>, port: u16) -> i32 {
    let name = name.map(|n| CString::new(n).unwrap());
    let ca = ca.map(|n| CString::new(n).unwrap());
    let p = prossntp_nts_parms {
        size: size_of::<prossntp_nts_parms>(),
        server_name: name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
        ca_file: ca.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
        ke_port: port,
    };
    unsafe { prossntp_config_nts(c.0, &p) }
}

#[test]
fn nts_reaches_sync_over_ipv4_and_ipv6() {
    let Some(n) = nts() else { return };
    let (ke0, auth0) = (serverstat(&n, "NTS-KE connections accepted"), serverstat(&n, "Authenticated NTP packets"));
    for (addr, name) in [(n.v4, "127.0.0.1"), (n.v6, "::1"), (n.v4, "localhost")] {
        let c = Client::create(addr.is_ipv6());
        assert_eq!(config_nts(&c, Some(name), Some(&n.ca), n.port), ERR_SM_OK);
        assert_eq!(c.config(addr, 1000, 64_000), 0);
        let t = c
            .wait_sync(1, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("NTS {name}: no sync: {:?}", text(&stats(&c).nts_error)));
        let s = stats(&c);
        eprintln!(
            "NTS to {addr} as {name}: sync after {t:?}; {} key exchange(s), {} cookies, {} replies",
            s.nts_key_exchanges, s.nts_cookies, s.replies
        );
        assert_eq!((s.auth, s.nts_state), (PROSSNTP_AUTH_NTS, PROSSNTP_NTS_READY));
        assert!(s.nts_key_exchanges >= 1 && s.nts_cookies >= 1);
        assert_eq!(s.rejected_total, 0);
        assert_eq!(text(&s.nts_error), "");
    }
    if let (Some(k0), Some(a0), Some(k1), Some(a1)) =
        (ke0, auth0, serverstat(&n, "NTS-KE connections accepted"), serverstat(&n, "Authenticated NTP packets"))
    {
        eprintln!("chronyd counted {} NTS-KE connections and {} authenticated NTP packets", k1 - k0, a1 - a0);
        assert!(k1 - k0 >= 3 && a1 - a0 >= 3);
    }
}

/// `c`, configured to `addr`, never syncs nor sends an NTP request in `secs` s.
fn refused(c: &Client, addr: SocketAddr, secs: u64) -> prossntp_stats {
    assert_eq!(c.config(addr, 1000, 1000), 0);
    assert!(c.wait_sync(1, Duration::from_secs(secs)).is_none(), "synced");
    let s = stats(c);
    assert_eq!((s.requests, s.replies), (0, 0), "NTP before a key exchange succeeded");
    assert_eq!(s.nts_state, PROSSNTP_NTS_FAILED);
    s
}

#[test]
fn a_wrong_ca_or_name_never_gets_as_far_as_ntp() {
    let Some(n) = nts() else { return };
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.other_ca), n.port), ERR_SM_OK);
    let s = refused(&c, n.v4, 4);
    eprintln!("wrong CA: {}", text(&s.nts_error));
    assert!(text(&s.nts_error).contains("certificate"), "{}", text(&s.nts_error));
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("ntp.example.org"), Some(&n.ca), n.port), ERR_SM_OK);
    let s = refused(&c, n.v4, 4);
    eprintln!("wrong name: {}", text(&s.nts_error));
    assert!(text(&s.nts_error).contains("certificate"), "{}", text(&s.nts_error));
}

/// Copies bytes one way until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_key_exchange_server_down_then_back_is_retried_with_backoff() {
    let Some(n) = nts() else { return };
    // A port nobody listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.ca), port), ERR_SM_OK);
    let s = refused(&c, n.v4, 3);
    eprintln!("down: {}", text(&s.nts_error));
    // Back: a relay to chronyd's NTS-KE port.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let ke = SocketAddr::new(n.v4.ip(), n.port);
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(ke) else { continue };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || pipe(c2, server));
            thread::spawn(move || pipe(s2, client));
        }
    });
    let start = Instant::now();
    let t = c.wait_sync(1, Duration::from_secs(40)).expect("sync once the key-exchange server is back");
    let s = stats(&c);
    eprintln!("back: sync {t:?} after the server came back; {} exchange(s)", s.nts_key_exchanges);
    assert_eq!(s.nts_state, PROSSNTP_NTS_READY);
    assert!(start.elapsed() < Duration::from_secs(40));
}

#[test]
fn a_stalled_or_reset_key_exchange_ends_in_an_error_not_a_hang() {
    let Some(n) = nts() else { return };
    // Stalls: accepts, reads, never answers.
    let stall = TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_port = stall.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = vec![];
        for s in stall.incoming().flatten() {
            held.push(s);
        }
    });
    // Resets: accepts and closes at once, mid-handshake.
    let reset = TcpListener::bind("127.0.0.1:0").unwrap();
    let reset_port = reset.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in reset.incoming().flatten() {
            let mut b = [0u8; 16];
            let _ = s.read(&mut b);
            drop(s);
        }
    });
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.ca), reset_port), ERR_SM_OK);
    let s = refused(&c, n.v4, 3);
    eprintln!("reset: {}", text(&s.nts_error));
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.ca), stall_port), ERR_SM_OK);
    assert_eq!(c.config(n.v4, 1000, 1000), 0);
    assert!(c.wait_sync(1, Duration::from_secs(12)).is_none());
    // (The exchange gives up after 10 s; on a busy machine its end may come
    // a little later than the 12 s waited.)
    let mut s = stats(&c);
    let waited = Instant::now();
    while s.nts_state != PROSSNTP_NTS_FAILED && waited.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(100));
        s = stats(&c);
    }
    eprintln!("stalled: {} ({:?} after the 12 s)", text(&s.nts_error), waited.elapsed());
    assert_eq!((s.requests, s.nts_state), (0, PROSSNTP_NTS_FAILED));
    // The client is still alive and answers at once; destroy is prompt.
    let start = Instant::now();
    drop(c);
    assert!(start.elapsed() < Duration::from_secs(2), "destroy took {:?}", start.elapsed());
}

#[test]
fn bad_nts_parameters_are_refused() {
    let c = Client::create(false);
    assert_eq!(config_nts(&c, None, None, 0), ERR_SM_BAD_PARAMETER, "NULL name");
    assert_eq!(config_nts(&c, Some("bad name!"), None, 0), ERR_SM_BAD_PARAMETER, "invalid name");
    assert_eq!(config_nts(&c, Some("localhost"), Some("/nonexistent/ca.pem"), 0), ERR_SM_BAD_PARAMETER, "no CA file");
    let empty = std::env::temp_dir().join(format!("prossntp-empty-ca-{}", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    assert_eq!(config_nts(&c, Some("localhost"), empty.to_str(), 0), ERR_SM_BAD_PARAMETER, "no certificate in it");
    std::fs::remove_file(&empty).unwrap();
    assert_eq!(unsafe { prossntp_config_nts(std::ptr::null_mut(), std::ptr::null()) }, ERR_SM_BAD_PARAMETER);
    // A key and NTS on one client: refused both ways.
    let key = CString::new("AES128").unwrap();
    let bytes = [1u8; 16];
    let k = prossntp_key_parms {
        size: size_of::<prossntp_key_parms>(),
        key_id: 1,
        r#type: key.as_ptr(),
        key: bytes.as_ptr(),
        key_len: 16,
    };
    assert_eq!(unsafe { prossntp_config_key(c.0, &k) }, ERR_SM_OK);
    if let Some(n) = nts() {
        assert_eq!(config_nts(&c, Some("localhost"), Some(&n.ca), 0), ERR_SM_BAD_PARAMETER, "NTS on a keyed client");
        assert_eq!(unsafe { prossntp_config_nts(c.0, std::ptr::null()) }, ERR_SM_OK, "NULL: plain");
        assert_eq!(config_nts(&c, Some("localhost"), Some(&n.ca), 0), ERR_SM_OK);
        assert_eq!(unsafe { prossntp_config_key(c.0, &k) }, ERR_SM_BAD_PARAMETER, "a key on an NTS client");
        let start = Instant::now();
        while stats(&c).auth != PROSSNTP_AUTH_NTS && start.elapsed() < Duration::from_secs(2) {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stats(&c).auth, PROSSNTP_AUTH_NTS);
    }
}

/// A chronyd of the test's own serving NTS with `chain` (scripts/testnet.sh's
/// leaf key): NTP on `ntp`, NTS-KE on `ke`, ready once its NTS-KE port
/// accepts connections.
fn nts_chronyd(tag: &str, chain: &str, ntp: u16, ke: u16) -> Chronyd {
    let key = std::env::var("PROSSNTP_NTS_KEY").expect("PROSSNTP_NTS_KEY");
    let server = Chronyd::start(
        tag,
        &format!(
            "port {ntp}\nbindaddress 127.0.0.1\nlocal stratum 8\nallow 127.0.0.1\nntsserverkey {key}\n\
             ntsservercert {chain}\nntsport {ke}\nntsprocesses 0\n"
        ),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", ke)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "chronyd's NTS-KE port {ke} never opened");
        thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Waits up to `secs` s for `done` to hold of the client's stats.
fn stats_until(c: &Client, secs: u64, done: impl Fn(&prossntp_stats) -> bool) -> prossntp_stats {
    let start = Instant::now();
    loop {
        let s = stats(c);
        if done(&s) || start.elapsed() > Duration::from_secs(secs) {
            return s;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_expired_certificate_is_refused() {
    let Some(n) = nts() else { return };
    let chain = std::env::var("PROSSNTP_NTS_EXPIRED_CHAIN").expect("PROSSNTP_NTS_EXPIRED_CHAIN");
    let _server = nts_chronyd("nts-expired", &chain, 11132, 4472);
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.ca), 4472), ERR_SM_OK);
    let s = refused(&c, "127.0.0.1:11132".parse().unwrap(), 4);
    eprintln!("expired: {}", text(&s.nts_error));
    assert!(text(&s.nts_error).contains("certificate"), "{}", text(&s.nts_error));
}

#[test]
fn a_server_restarted_with_new_keys_naks_and_a_new_key_exchange_follows() {
    let Some(n) = nts() else { return };
    let chain = std::env::var("PROSSNTP_NTS_CHAIN").expect("PROSSNTP_NTS_CHAIN");
    let mut server = nts_chronyd("nts-restart", &chain, 11131, 4471);
    let c = Client::create(false);
    assert_eq!(config_nts(&c, Some("127.0.0.1"), Some(&n.ca), 4471), ERR_SM_OK);
    assert_eq!(c.config("127.0.0.1:11131".parse().unwrap(), 1000, 2000), 0);
    c.wait_sync(1, Duration::from_secs(15)).expect("NTS sync");
    let before = stats_until(&c, 10, |s| s.replies >= 2);
    assert_eq!(before.nts_key_exchanges, 1);
    // Restarted: new server keys (no ntsdumpdir), so the client's cookies are
    // no good; the server answers them with an NTS NAK.
    server.stop();
    let _server = nts_chronyd("nts-restart", &chain, 11131, 4471);
    let after = stats_until(&c, 30, |s| s.nts_key_exchanges >= 2 && s.replies > before.replies + 1);
    eprintln!(
        "restart: {} key exchanges, {} kisses (the NAK), replies {} -> {}, state {}, {}",
        after.nts_key_exchanges,
        after.kod_received,
        before.replies,
        after.replies,
        after.nts_state,
        text(&after.nts_error)
    );
    assert!(after.nts_key_exchanges >= 2, "no new key exchange after the restart");
    assert!(after.kod_received >= 1, "no NTS NAK taken");
    assert!(after.replies > before.replies + 1, "no authenticated replies after the new key exchange");
    assert_eq!(after.nts_state, PROSSNTP_NTS_READY);
    drop(c);
}
